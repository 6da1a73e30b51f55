"""Check the complete plan sets of one folder, each version once, through the one pipeline.

Used by the listener (one folder per study) and the watch folder (one folder per export):
the folder's objects are assembled on their own, never with another folder's. A version
(:func:`sbrt_qa.pipeline.fingerprint`) already checked is reported as ``done`` with a
pointer to its earlier report. Report names come from the validated plan UID (or a
sanitised, bounded name) and a time stamp, inside the reports folder only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..load.discovery import discover
from ..load.planset import AssemblyFailure, assemble
from ..pipeline import check_and_report, fingerprint, safe_stem
from ..protocol.schema import Protocol
from .journal import Journal
from .store import StoreError, valid_uid


def printable(text: object, limit: int = 200) -> str:
    """Text safe for one log line: control characters escaped (a newline cannot forge a line), bounded length."""
    s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}Z"


@dataclass
class FolderOutcome:
    """One plan set of a folder: checked now (``status`` a verdict or ``error``) or ``done`` earlier."""

    plan_uid: str
    status: str
    report: str | None
    error: str | None = None
    environment: bool = False  # failed because of the machine: try again later
    earlier: bool = False  # this version was checked before; ``report`` is that report


class PlanChecker:
    """Checks the plan sets of folders, remembering checked versions in a :class:`Journal`."""

    def __init__(self, reports: Path, protocol: Protocol, log: logging.Logger, journal: Journal) -> None:
        self.reports, self.protocol, self.log, self.journal = Path(reports), protocol, log, journal
        self.reports.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def check_folder(self, folder: Path, files: list[Path] | None = None) -> list[FolderOutcome]:
        """Check every complete plan set in ``folder`` (assembled from that folder alone).

        ``files``, when given, are the folder's files to read (the watch passes regular
        files only, never links or FIFOs); otherwise the folder is scanned.
        """
        with self._lock:
            name = printable(folder.name)
            corrupt: list = []
            failures: list[AssemblyFailure] = []
            if files is not None and not files:
                self.log.info("check %s: nothing to check (no regular files)", name)
                return []
            try:
                found = discover(list(files) if files is not None else [folder], failures=corrupt)
            except InputError as exc:
                self.log.info("check %s: nothing to check (%s)", name, printable(exc.problem))
                return []
            for path, problem in corrupt:
                self.log.warning("check %s: unreadable file %s: %s", name, printable(Path(path).name), printable(problem))
            plan_sets, _ = assemble(found.objects, failures=failures) if found.objects else ([], [])
            for f in failures:
                self.log.info("check %s: incomplete or unpaired: %s", name, printable(f.message))
            outcomes = []
            for ps in plan_sets:
                if ps.plan is None and not ps.parts:
                    self.log.info("check %s: dose %s has no RT Plan yet; waiting", name, printable(ps.doses[0].sop_instance_uid))
                    continue
                outcomes.append(self._check_one(ps))
            return outcomes

    def _check_one(self, plan_set) -> FolderOutcome:
        uid = plan_set.plan.sop_instance_uid
        try:
            label = valid_uid(uid, "SOPInstanceUID")
        except StoreError:
            label = safe_stem(uid, 64)
            self.log.warning("plan SOPInstanceUID %s is not a valid UID: reports named %s", printable(uid), label)
        paths = [*(d.path for d in plan_set.doses), plan_set.structure_set.path, plan_set.plan.path]
        try:
            fp = fingerprint(paths, self.protocol)
        except OSError as exc:  # a file removed or unreadable under us: try again later
            return FolderOutcome(label, "error", None, f"cannot read the input: {exc}", environment=True)
        earlier = self.journal.checked(fp.digest)
        if earlier is not None:
            status, report = earlier
            self.log.info("check plan %s: this version was already checked (%s): see %s", label, status, printable(report))
            return FolderOutcome(label, status, report, earlier=True)
        outcome = check_and_report(plan_set, self.protocol, reports=self.reports, stem=f"{label}_{_stamp()}")
        report = str(outcome.reports.get("json") or outcome.reports.get("error") or "") or None
        if outcome.error:
            self.log.error("check plan %s: error: %s", label, printable(outcome.error, 500))
        else:
            arm = outcome.result.protocol.arm if outcome.result else None
            self.log.info("check plan %s: %s (arm %s) -> %s", label, outcome.status, printable(arm), printable(Path(report).name if report else "-"))
        if not outcome.environment:  # a machine fault is retried; a verdict or a bad plan set is final for this version
            self.journal.record_checked(fp.digest, label, outcome.status, report)
        return FolderOutcome(label, outcome.status, report, outcome.error, outcome.environment)
