"""``sbrt-qa batch``: every plan set under a root, checked in parallel, recorded in SQLite."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from .. import __version__
from ..errors import InputError
from ..protocol.schema import Protocol
from ..report.safe import escape_controls
from .db import ResultsDB
from ..pipeline import Fingerprint, fingerprint
from .jobs import Job, find_jobs, run_job

STATUSES = ("pass", "minor", "major", "not_evaluated", "error")


@dataclass
class Progress:
    """A bar on a terminal (done / total, rate, ETA); plain periodic lines otherwise."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    interval_s: float = 10.0
    done: int = 0
    start: float = field(default_factory=time.monotonic)
    _last: float | None = None  # no line yet: the first plan is always reported

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        if self.stream.isatty():
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  {rate * 60:.1f} plans/min  ETA {eta:5.0f} s ")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif self._last is None or self.done == self.total or time.monotonic() - self._last >= self.interval_s:
            self._last = time.monotonic()
            self.stream.write(f"batch: {self.done}/{self.total} done, {rate * 60:.1f} plans/min, ETA {eta:.0f} s (last: {escape_controls(label)})\n")
            self.stream.flush()


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux ``PR_SET_PDEATHSIG``), so a batch killed
    with SIGKILL leaves no worker behind (each holds a plan in memory). Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _init_worker(threads: int, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # Each worker's DVH kernel gets its share of the cores: N workers x all cores oversubscribes the machine.
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _local(jobs: list[Job], protocol_path: str, out_dir: str | None, workers: int) -> Iterator[dict[str, Any]]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: workers start clean, without the parent's threads or numba state
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        futures = [pool.submit(run_job, job, protocol_path, out_dir) for job in jobs]
        for f in as_completed(futures):
            yield f.result()


def _dask(jobs: list[Job], protocol_path: str, out_dir: str | None, address: str) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise InputError("--scheduler needs the optional 'distributed' package: pip install 'sbrt-qa[cluster]'") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        futures = client.map(run_job, jobs, protocol_path=protocol_path, out_dir=out_dir, pure=False)
        for f in dask_completed(futures):
            yield f.result()


@dataclass
class BatchSummary:
    plans: int
    counts: dict[str, int]
    skipped: int
    seconds: float
    worker_peak_rss_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"plans": self.plans, **{s: self.counts.get(s, 0) for s in STATUSES}, "skipped": self.skipped, "seconds": round(self.seconds, 3),
                "worker_peak_rss_mb": self.worker_peak_rss_mb}


def run_batch(root: Path, protocol: Protocol, db_path: Path, *, jobs: int | None = None, scheduler: str | None = None,
              out_dir: Path | None = None, force: bool = False, progress_stream: TextIO | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> BatchSummary:
    """Check every plan set under ``root`` and record the results.

    Parameters
    ----------
    root : Path
        Folder scanned recursively.
    protocol : Protocol
    db_path : Path
        SQLite database (created if absent).
    jobs : int, optional
        Worker processes (default: the number of cores).
    scheduler : str, optional
        Address of a Dask distributed scheduler; the client writes the database.
    out_dir : Path, optional
        Where each plan's JSON and HTML reports are written.
    force : bool
        Recompute plan sets whose inputs and protocol are unchanged.
    """
    start = time.monotonic()
    if not root.exists():
        raise InputError("no such directory", root)
    if out_dir is not None:
        ensure_writable(out_dir, "--out")
    all_jobs = find_jobs(root, protocol)
    with ResultsDB(db_path) as db:
        todo, hashes, skipped = [], {}, 0
        for job in all_jobs:
            try:
                fp = fingerprint(job.files, protocol)
            except OSError as exc:  # vanished or unreadable since discovery: recorded as an error of the machine
                fp = Fingerprint(f"unreadable:{exc}", ())
            files = sorted(({"path": os.path.relpath(f, root), "sha256": d} for f, d in fp.files), key=lambda f: f["path"])
            combined = hashlib.sha256("\n".join(f"{f['path']} {f['sha256']}" for f in files).encode()).hexdigest()
            hashes[job.key] = (combined, files, fp.digest)
            if not force and db.unchanged(job.key, fp.digest):
                skipped += 1
                continue
            todo.append(job)
        try:
            run_id = db.start_run(seen=[(j.key, j.duplicate_of) for j in all_jobs], tool_version=__version__, protocol_id=protocol.id,
                                  protocol_version=protocol.version, protocol_hash=protocol.content_hash, root=str(root.resolve()),
                                  jobs=jobs or os.cpu_count(), scheduler=scheduler, plans_found=len(all_jobs))
        except sqlite3.OperationalError as exc:
            raise InputError(f"cannot write the results database: {exc}", db_path) from None
        counts = {s: 0 for s in STATUSES}
        peak = 0.0
        progress = Progress(len(todo), stream=progress_stream or sys.stderr)
        try:
            if todo:
                source = (_dask(todo, protocol.path, str(out_dir) if out_dir else None, scheduler) if scheduler
                          else _local(todo, protocol.path, str(out_dir) if out_dir else None, jobs or os.cpu_count() or 1))
                for outcome in source:
                    combined, files, digest = hashes[outcome["key"]]
                    outcome.update(input_hash=combined, input_files=files, fingerprint=digest, protocol_id=protocol.id,
                                   protocol_version=protocol.version, protocol_hash=protocol.content_hash)
                    db.record(outcome, run_id)
                    counts[outcome["status"]] += 1
                    peak = max(peak, float(outcome.get("worker_peak_rss_mb") or 0.0))
                    if on_record:
                        on_record(outcome)
                    progress.step(outcome["plan"].get("label") or outcome["key"])
        except BaseException as exc:
            db.finish_run(run_id, state="interrupted", processed=sum(counts.values()), skipped=skipped, errors=counts["error"])
            if _interrupted(exc) and not isinstance(exc, KeyboardInterrupt):
                # Ctrl-C or SIGTERM landing inside the worker pool's own code can leave the pool's
                # shutdown raising (a broken pool) in its place: the run was still interrupted.
                raise KeyboardInterrupt from exc
            raise
        summary = BatchSummary(len(all_jobs), counts, skipped, time.monotonic() - start, peak)
        db.finish_run(run_id, processed=len(todo), skipped=skipped, errors=counts["error"])
    return summary


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it was raised while handling is a KeyboardInterrupt."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__context__  # type: ignore[assignment]
    return False


def ensure_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and write a file in it, or raise :class:`InputError` (exit 2) naming it."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sbrt-qa-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{what} cannot be written: {exc.strerror or exc}", folder) from None


def summary_table(summary: BatchSummary) -> str:
    d = summary.to_dict()
    rows = [("plan sets found", d["plans"]), ("skipped (unchanged)", d["skipped"])] + [(s, d[s]) for s in STATUSES] + [("seconds", d["seconds"])]
    return "\n".join(f"  {k:22s} {v}" for k, v in rows)


def write_summary_json(summary: BatchSummary, path: Path) -> None:
    from ..files import write_atomically

    write_atomically(path, json.dumps(summary.to_dict(), indent=2) + "\n")
