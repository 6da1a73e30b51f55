"""``sbrt-qa watch``: process plan sets exported to a folder, each exactly once.

Each subfolder of the watch folder is one export; files dropped directly into it form
one export too. Any name is an export (``done``, ``failed``, ``.x``, a newline, 240
characters) except the watch's own folders: ``done/`` and ``failed/`` marked as ours
(``.sbrt-qa-outbox`` inside) and names starting with ``.sbrt-qa``. An export is processed
once its files stop changing (sizes and mtimes unchanged for ``stable_seconds``) or once
it holds a ``.complete`` marker: it is moved to ``.sbrt-qa-work/``, its plan sets are
checked (each version once: a version checked before is "done" with a pointer to its
earlier report), and it is moved to ``done/`` or ``failed/`` under a bounded, sanitised
name, with ``sbrt-qa-reports.txt`` listing its reports. Reports go to the reports folder
only. Symbolic links and special files (FIFOs, sockets, devices) are never opened: each
is skipped with one log line. An export that fails is logged once, not retried until it
changes, and never holds up the others.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..pipeline import safe_stem
from ..protocol.schema import Protocol
from .checker import FolderOutcome, PlanChecker, printable
from .journal import NAME as JOURNAL_NAME
from .journal import Journal

MARKER = ".complete"
OUTBOX_MARKER = ".sbrt-qa-outbox"
OWN_PREFIX = ".sbrt-qa"
WORK = ".sbrt-qa-work"
REPORT_LIST = "sbrt-qa-reports.txt"


def _kind(st: os.stat_result) -> str | None:
    """None for a regular file or folder, else what it is."""
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link"
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    if stat.S_ISFIFO(st.st_mode):
        return "FIFO"
    if stat.S_ISSOCK(st.st_mode):
        return "socket"
    return "device or special file"


class Watcher:
    """Polls a folder; ``run(stop)`` loops until the event is set; ``scan()`` does one round."""

    def __init__(self, folder: Path, reports: Path, protocol: Protocol, *, interval: float = 1.0, stable_seconds: float = 3.0,
                 log: logging.Logger | None = None, clock: Callable[[], float] = time.monotonic, retry_seconds: float = 60.0) -> None:
        self.folder, self.interval, self.stable_seconds, self.clock = Path(folder), interval, stable_seconds, clock
        self.retry_seconds = retry_seconds  # how often exports whose check the machine failed are tried again
        self.log = log or logging.getLogger("sbrt_qa.watch")
        reports = Path(reports)
        self.checker = PlanChecker(reports, protocol, self.log, Journal(reports / JOURNAL_NAME))
        self._seen: dict[str, tuple[dict, float]] = {}  # export -> (snapshot, time it was first seen unchanged)
        self._noted: set[tuple[str, str]] = set()  # (path, note) logged once
        self._failed: dict[str, dict] = {}  # export -> snapshot when it failed: not retried until it changes
        self._recover()

    # --- what is in the folder -----------------------------------------------------------------
    def _note_once(self, path: Path, note: str) -> None:
        key = (str(path), note)
        if key not in self._noted:
            self._noted.add(key)
            self.log.warning("skipped %s: %s (never opened)", printable(path.relative_to(self.folder)), note)

    def _own(self, entry: Path) -> bool:
        if entry.name.startswith(OWN_PREFIX) or entry.name == JOURNAL_NAME:
            return True
        return entry.name in ("done", "failed") and (entry / OUTBOX_MARKER).is_file()

    def _regular_files(self, root: Path, quiet: bool = False) -> list[Path]:
        """Regular files below ``root``, not following links; links and special files noted once (unless ``quiet``)."""
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in list(dirnames):
                p = Path(dirpath) / name
                if p.is_symlink():
                    if not quiet:
                        self._note_once(p, "symbolic link to a folder")
                    dirnames.remove(name)
            for name in sorted(filenames):
                p = Path(dirpath) / name
                try:
                    kind = _kind(p.lstat())
                except FileNotFoundError:
                    continue
                if kind:
                    if not quiet:
                        self._note_once(p, kind)
                else:
                    found.append(p)
        return found

    def _exports(self) -> dict[str, list[Path]]:
        exports: dict[str, list[Path]] = {}
        for entry in sorted(self.folder.iterdir()):
            if self._own(entry):
                continue
            try:
                st = entry.lstat()
            except FileNotFoundError:
                continue
            kind = _kind(st)
            if kind:
                self._note_once(entry, kind)
            elif stat.S_ISDIR(st.st_mode):
                exports[entry.name] = self._regular_files(entry)
            else:
                exports.setdefault("", []).append(entry)
        return exports

    @staticmethod
    def _snapshot(paths: list[Path]) -> dict[str, tuple[int, int]] | None:
        try:
            return {str(p): (s.st_size, s.st_mtime_ns) for p in paths for s in (p.lstat(),)}
        except FileNotFoundError:  # a file removed under us: try again next round
            return None

    # --- one round ----------------------------------------------------------------------------
    def scan(self) -> list[str]:
        """One round: process every export that is ready; returns the exports processed."""
        processed = []
        now = self.clock()
        if now - self._last_recovery >= self.retry_seconds:
            self._recover("its check could not be completed before")
        for name, files in self._exports().items():
            if not files:
                continue
            snap = self._snapshot(files)
            if snap is None:
                continue
            if self._failed.get(name) == snap:
                continue  # failed before and unchanged since: said once already
            self._failed.pop(name, None)
            marked = any(f.name == MARKER for f in files)
            previous = self._seen.get(name)
            if previous is None or previous[0] != snap:
                self._seen[name] = (snap, now)
                if not marked:
                    continue
            elif not marked and now - previous[1] < self.stable_seconds:
                continue
            self._seen.pop(name, None)
            try:
                self._process(name, files)
            except Exception as exc:  # one export must not hold up the others, nor log a traceback every round
                self._failed[name] = snap
                self.log.error("export %s: cannot be processed: %s: %s (not retried until it changes)", printable(name or "(loose files)"),
                               type(exc).__name__, printable(exc, 500))
                continue
            processed.append(name)
        return processed

    def _unique(self, parent: Path, stem: str) -> Path:
        base = f"{safe_stem(stem, 100)}_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
        target, n = parent / base, 1
        while target.exists() or target.is_symlink():
            n += 1
            target = parent / f"{base}-{n}"
        return target

    def _outbox(self, name: str) -> Path:
        box = self.folder / name
        if (box.exists() or box.is_symlink()) and not (box.is_dir() and not box.is_symlink() and (box / OUTBOX_MARKER).is_file()):
            # an export took the name: it stays an export, under another name, and is processed when ready
            aside = self._unique(self.folder, f"{name}_export")
            os.rename(box, aside)
            self.log.info("export %s renamed %s: the watch keeps its %s/ folder there", name, aside.name, name)
        box.mkdir(exist_ok=True)
        (box / OUTBOX_MARKER).touch()
        return box

    def _process(self, name: str, files: list[Path]) -> None:
        label = printable(name) if name else "(loose files)"
        if name.startswith(".") or name in ("done", "failed"):
            self.log.info("export %s: processed like any other (its name is not one of the watch's own folders)", label)
        work_root = self.folder / WORK
        work_root.mkdir(exist_ok=True)
        work = self._unique(work_root, name or "loose")
        if name:
            os.rename(self.folder / name, work)  # same file system: atomic; the exporter can no longer add to it
        else:  # loose files: gather them into one export
            work.mkdir()
            for f in files:
                os.rename(f, work / f.name)
        self._finish(label, work)

    def _finish(self, label: str, work: Path) -> None:
        outcomes = self.checker.check_folder(work, self._regular_files(work, quiet=True))  # noted when first seen
        if any(o.environment for o in outcomes):
            # the machine failed, not the export: leave it in the work folder to be checked again
            self.log.error("export %s: the check could not be completed; it stays in %s and is tried again", label, WORK)
            raise OSError("check not completed (see the error above)")
        ok = bool(outcomes) and all(o.status != "error" for o in outcomes)
        target = self._unique(self._outbox("done" if ok else "failed"), work.name.rsplit("_", 1)[0])
        self._write_list(work, outcomes)
        os.rename(work, target)
        for o in outcomes:
            if o.earlier:
                self.log.info("export %s: plan %s was already checked in this version (%s): see %s", label, o.plan_uid, o.status,
                              printable(o.report))
        self.log.info("export %s: %d plan set(s), %d checked now, %d checked before -> %s", label, len(outcomes),
                      sum(not o.earlier for o in outcomes), sum(o.earlier for o in outcomes), printable(target.relative_to(self.folder)))

    @staticmethod
    def _write_list(work: Path, outcomes: list[FolderOutcome]) -> None:
        lines = [f"{o.plan_uid}\t{o.status}\t{'checked before: ' if o.earlier else ''}{o.report or '-'}" for o in outcomes]
        (work / REPORT_LIST).write_text("\n".join(lines or ["no complete plan set (RT Plan, RT Structure Set and RT Dose) found"]) + "\n",
                                        encoding="utf-8")

    def _recover(self, why: str = "left unfinished by an earlier run") -> None:
        """Check again the exports in the work folder: left by a killed watcher, or by a check the machine failed."""
        self._last_recovery = self.clock()
        work_root = self.folder / WORK
        if not work_root.is_dir():
            return
        for work in sorted(work_root.iterdir()):
            if work.is_dir() and not work.is_symlink():
                self.log.info("export %s: %s; checking it again", printable(work.name), why)
                try:
                    self._finish(printable(work.name), work)
                except Exception as exc:
                    self.log.error("export %s: cannot be processed: %s: %s", printable(work.name), type(exc).__name__, printable(exc, 500))

    def run(self, stop: threading.Event) -> None:
        self.log.info("watching %s every %.1f s", self.folder, self.interval)
        said = None
        while not stop.is_set():
            try:
                self.scan()
                said = None
            except Exception as exc:  # the folder itself is unreadable: say so once, wait, try again
                message = f"{type(exc).__name__}: {printable(exc, 500)}"
                if message != said:
                    self.log.error("scan of %s failed: %s (trying again every %.1f s)", self.folder, message, self.interval)
                    said = message
            stop.wait(self.interval)
