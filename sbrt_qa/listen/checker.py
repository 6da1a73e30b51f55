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
from ..load.planset import AssemblyFailure, load_objects, plan_set_key
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
        """Check every complete plan set in ``folder`` (assembled from that folder alone), and
        the courses the protocol reveals among them, through :meth:`sbrt_qa.api.PlanQA.plans_for`.

        ``files``, when given, are the folder's files to read (the watch passes regular
        files only, never links or FIFOs); otherwise the folder is scanned. A plan set still
        missing an object (a dose without its plan, a plan without its dose) is waited for;
        one whose content cannot be read is an error, reported once per version.
        """
        from ..api import PlanQA

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
            loaded: list = []
            if found.objects:
                try:
                    loaded, _ = load_objects(found.objects, failures)
                except InputError:
                    loaded = []  # nothing complete: each reason is in ``failures``
            outcomes = []
            for f in failures:
                if f.plan_set is None:
                    self.log.info("check %s: incomplete or unpaired: %s", name, printable(f.message))
                else:  # assembled, but its content is wrong: an error verdict for this version
                    outcomes.append(self._unreadable(f))
            ready = []
            for ps in loaded:
                if ps.plan is None and not ps.course_parts:
                    self.log.info("check %s: dose %s has no RT Plan yet; waiting", name, printable(ps.paths[0].name))
                else:
                    ready.append(ps)
            if ready:
                for unit in PlanQA(ready, found.notes).plans_for(self.protocol):
                    outcomes.append(self._check_one(unit))
            return outcomes

    def _label(self, uid: str, course: bool) -> str:
        if course:  # a course's "UID" joins its plans' UIDs: not a UID, so named from it, bounded
            return safe_stem("course_" + uid, 64)
        try:
            return valid_uid(uid, "SOPInstanceUID")
        except StoreError:
            label = safe_stem(uid, 64)
            self.log.warning("plan SOPInstanceUID %s is not a valid UID: reports named %s", printable(uid), label)
            return label

    def _earlier(self, paths: list[Path], subject: str, label: str) -> tuple[str | None, FolderOutcome | None]:
        """The fingerprint of these inputs judged as ``subject``, and the earlier outcome when this version was checked before."""
        try:
            fp = fingerprint(paths, self.protocol, subject=subject)
        except OSError as exc:  # a file removed or unreadable under us: try again later
            return None, FolderOutcome(label, "error", None, f"cannot read the input: {exc}", environment=True)
        earlier = self.journal.checked(fp.digest)
        if earlier is None:
            return fp.digest, None
        status, report = earlier
        self.log.info("check plan %s: this version was already checked (%s): see %s", label, status, printable(report))
        return fp.digest, FolderOutcome(label, status, report, earlier=True)

    def _unreadable(self, failure: AssemblyFailure) -> FolderOutcome:
        ps = failure.plan_set
        course = bool(ps.parts and ps.plan is None)
        if course:
            uid = "+".join(p.plan.sop_instance_uid for p in ps.parts if p.plan)
        else:
            uid = ps.plan.sop_instance_uid if ps.plan is not None else ps.doses[0].sop_instance_uid
        label = self._label(uid, course)
        digest, done = self._earlier([o.path for o in ps.objects], plan_set_key(ps), label)
        if done is not None:
            return done
        outcome = check_and_report(ps, self.protocol, reports=self.reports, stem=f"{label}_{_stamp()}")
        return self._record(label, digest, outcome)

    def _check_one(self, unit) -> FolderOutcome:
        ps = unit.plan_set
        label = self._label(ps.plan.sop_instance_uid, bool(ps.course_parts))
        digest, done = self._earlier(unit.inputs, ps.key, label)
        if done is not None:
            return done
        outcome = check_and_report(unit, self.protocol, reports=self.reports, stem=f"{label}_{_stamp()}")
        return self._record(label, digest, outcome)

    def _record(self, label: str, digest: str | None, outcome) -> FolderOutcome:
        report = str(outcome.reports.get("json") or outcome.reports.get("error") or "") or None
        if outcome.error:
            self.log.error("check plan %s: error: %s", label, printable(outcome.error, 500))
        else:
            arm = outcome.result.protocol.arm if outcome.result else None
            self.log.info("check plan %s: %s (arm %s) -> %s", label, outcome.status, printable(arm), printable(Path(report).name if report else "-"))
        if not outcome.environment and digest is not None:  # a machine fault is retried; a verdict or a bad plan set is final for this version
            self.journal.record_checked(digest, label, outcome.status, report)
        return FolderOutcome(label, outcome.status, report, outcome.error, outcome.environment)
