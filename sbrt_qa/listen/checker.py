"""Check the complete plan sets of a folder once per version, writing reports named from the plan UID and time."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from .. import __version__
from ..errors import InputError
from ..evaluate.check import check_plan
from ..files import write_atomically
from ..load.discovery import discover
from ..load.planset import AssemblyFailure, assemble, load_plan_set
from ..protocol.schema import Protocol
from ..report.check_html import render_html
from ..report.check_tables import render_json
from ..results import CheckRun

STATE = ".sbrt-qa-checked.json"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{int(time.time() * 1000) % 1000:03d}Z"


class PlanChecker:
    """Checks plan sets and remembers which versions (input hashes) it has checked."""

    def __init__(self, reports: Path, protocol: Protocol, log: logging.Logger) -> None:
        self.reports, self.protocol, self.log = reports, protocol, log
        reports.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        state = reports / STATE
        self._done: dict[str, str] = json.loads(state.read_text()) if state.is_file() else {}

    def _remember(self, key: str, digest: str) -> None:
        self._done[key] = digest
        write_atomically(self.reports / STATE, json.dumps(self._done, indent=1))

    def check_folder(self, folder: Path) -> list[dict]:
        """Check every complete plan set (plan, structure set and dose) in ``folder`` not checked in this version."""
        with self._lock:
            outcomes = []
            corrupt: list = []
            failures: list[AssemblyFailure] = []
            try:
                found = discover([folder], failures=corrupt)
            except InputError as exc:
                self.log.info("check %s: nothing to check (%s)", folder.name, exc.problem)
                return []
            plan_sets, _ = assemble(found.objects, failures=failures) if found.objects else ([], [])
            for path, problem in corrupt:
                self.log.warning("check %s: unreadable file %s: %s", folder.name, Path(path).name, problem)
            for f in failures:
                self.log.info("check %s: incomplete or unpaired: %s", folder.name, f.message)
            for ps in plan_sets:
                if ps.plan is None:
                    self.log.info("check %s: dose %s has no RT Plan yet; waiting", folder.name, ps.doses[0].sop_instance_uid)
                    continue
                paths = [*(d.path for d in ps.doses), ps.structure_set.path, ps.plan.path]
                digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(paths))).hexdigest()
                key = ps.plan.sop_instance_uid
                if self._done.get(key) == digest:
                    continue
                outcomes.append(self._check(key, ps, digest))
            return outcomes

    def _check(self, key: str, plan_set, digest: str) -> dict:
        base = f"{key}_{_stamp()}"  # a UID has dots: never use with_suffix on it
        json_path, html_path, error_path = (self.reports / f"{base}{ext}" for ext in (".json", ".html", ".error.json"))
        try:
            result = check_plan(load_plan_set(plan_set), self.protocol)
            run = CheckRun(__version__, [result])
            write_atomically(html_path, render_html(run))
            write_atomically(json_path, render_json(run))  # last: its arrival means the check is complete
            self.log.info("check plan %s: %s (arm %s) -> %s", key, result.status, result.protocol.arm, json_path.name)
            outcome = {"plan_uid": key, "status": result.status, "report": str(json_path)}
        except Exception as exc:  # a failed check is recorded, never fatal for the service
            message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
            write_atomically(error_path, json.dumps({"sbrt_qa_version": __version__, "plan_uid": key,
                                                                          "status": "error", "error": message}, indent=2) + "\n")
            self.log.error("check plan %s: error: %s", key, message)
            outcome = {"plan_uid": key, "status": "error", "error": message, "report": str(error_path)}
        self._remember(key, digest)
        return outcome
