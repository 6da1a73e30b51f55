"""``sbrt-qa watch``: process plan sets exported to a folder, each exactly once.

Each subfolder of the watch folder is one export; files dropped directly into it form
one export too. An export is processed once its files stop changing (sizes and mtimes
unchanged for ``stable_seconds``) or once it holds a ``.complete`` marker. It is then
moved to ``done/`` (its plan sets were checked, whatever their verdicts) or ``failed/``
(nothing could be checked), with the reports in the reports folder. Half-written files
and files removed during a scan only postpone an export.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from ..protocol.schema import Protocol
from .checker import PlanChecker

MARKER = ".complete"
SKIP = {"done", "failed"}


def _snapshot(paths: list[Path]) -> dict[str, tuple[int, int]] | None:
    try:
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in paths}
    except FileNotFoundError:  # a file removed under us: try again next round
        return None


class Watcher:
    """Polls a folder; ``run(stop)`` loops until the event is set; ``scan()`` does one round."""

    def __init__(self, folder: Path, reports: Path, protocol: Protocol, *, interval: float = 1.0, stable_seconds: float = 3.0,
                 log: logging.Logger | None = None) -> None:
        self.folder, self.interval, self.stable_seconds = folder, interval, stable_seconds
        self.log = log or logging.getLogger("sbrt_qa.watch")
        self.checker = PlanChecker(reports, protocol, self.log)
        self._seen: dict[str, tuple[dict, float]] = {}  # export -> (snapshot, time it was first seen unchanged)

    def _exports(self) -> dict[str, list[Path]]:
        exports: dict[str, list[Path]] = {}
        for entry in sorted(self.folder.iterdir()):
            if entry.name in SKIP or entry.name.startswith("."):
                continue
            if entry.is_dir():
                exports[entry.name] = sorted(p for p in entry.rglob("*") if p.is_file())
            elif entry.is_file():
                exports.setdefault("", []).append(entry)
        return exports

    def scan(self) -> list[str]:
        """One round: process every export that is ready; returns the exports processed."""
        processed = []
        now = time.monotonic()
        for name, files in self._exports().items():
            if not files:
                continue
            snap = _snapshot(files)
            if snap is None:
                continue
            marked = any(f.name == MARKER for f in files)
            previous = self._seen.get(name)
            if previous is None or previous[0] != snap:
                self._seen[name] = (snap, now)
                if not marked:
                    continue
            elif not marked and now - previous[1] < self.stable_seconds:
                continue
            self._process(name, files)
            self._seen.pop(name, None)
            processed.append(name)
        return processed

    def _process(self, name: str, files: list[Path]) -> None:
        label = name or "(loose files)"
        if name:
            source = self.folder / name
        else:  # loose files: gather them into one export folder first
            source = self.folder / f".loose-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
            source.mkdir()
            for f in files:
                shutil.move(str(f), source / f.name)
        outcomes = self.checker.check_folder(source)
        ok = bool(outcomes) and all(o["status"] != "error" for o in outcomes)
        target_root = self.folder / ("done" if ok else "failed")
        target_root.mkdir(exist_ok=True)
        target = target_root / (source.name.lstrip(".") + "_" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()))
        shutil.move(str(source), target)
        self.log.info("export %s: %d plan set(s) checked -> %s", label, len(outcomes), target.relative_to(self.folder))

    def run(self, stop: threading.Event) -> None:
        self.log.info("watching %s every %.1f s", self.folder, self.interval)
        while not stop.is_set():
            try:
                self.scan()
            except Exception as exc:  # keep watching whatever one export does
                self.log.exception("scan failed: %s", exc)
            stop.wait(self.interval)
