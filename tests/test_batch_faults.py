"""``sbrt-qa batch`` and ``cohort`` under faults: duplicate and incomplete case folders, upgrades,
unwritable outputs, a killed batch (its workers and its runs row), stale rows, a file that is no database."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TEST_DATA
from sbrt_qa.batch import jobs as jobs_module
from sbrt_qa.batch.runner import run_batch
from sbrt_qa.cli.main import main
from sbrt_qa.protocol import find_protocol


def rows(db: Path, sql: str, *args):
    with sqlite3.connect(db) as c:
        return c.execute(sql, args).fetchall()


@pytest.fixture
def twins(tmp_path) -> Path:
    """The same plan exported into two case folders, and a third folder missing its structure set."""
    root = tmp_path / "root"
    shutil.copytree(TEST_DATA / "sbrt_thoracic_spine", root / "patient_a")
    shutil.copytree(TEST_DATA / "sbrt_thoracic_spine", root / "patient_b")
    shutil.copytree(TEST_DATA / "sbrt_cord_overdose", root / "no_rs")
    next((root / "no_rs").glob("RS*")).unlink()
    # a folder holding the overdose case's structure set: the no_rs folder must not borrow it
    (root / "spare").mkdir()
    shutil.copy(next((TEST_DATA / "sbrt_cord_overdose").glob("RS*")), root / "spare")
    return root


def test_each_case_folder_on_its_own_and_duplicates_kept_and_marked(twins, tmp_path):
    db = tmp_path / "r.sqlite"
    run_batch(twins, find_protocol(None), db, jobs=1)
    got = {case: (status, dup) for case, status, dup in rows(db, "SELECT case_folder, status, duplicate_of FROM plans")}
    assert got["patient_a"] == ("pass", "patient_b") and got["patient_b"] == ("pass", "patient_a")
    assert got["no_rs"][0] == "error" and got["no_rs"][1] is None  # not completed with spare/'s structure set
    (error,) = rows(db, "SELECT error FROM plans WHERE case_folder = 'no_rs'")
    assert "structure set" in error[0].lower()


def test_an_upgrade_rechecks_every_plan(twins, tmp_path, monkeypatch):
    db = tmp_path / "r.sqlite"
    protocol = find_protocol(None)
    first = run_batch(twins, protocol, db, jobs=1)
    assert run_batch(twins, protocol, db, jobs=1).skipped == first.plans
    import sbrt_qa.pipeline as pipeline

    monkeypatch.setattr(pipeline, "__version__", "99.0-engine-fix")
    monkeypatch.setattr(pipeline.fingerprint, "__defaults__", ("99.0-engine-fix",))
    assert run_batch(twins, protocol, db, jobs=1).skipped == 0


def test_unwritable_out_and_database_are_refused_up_front(twins, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["batch", str(twins), "--db", str(tmp_path / "r.sqlite"), "--out", str(blocker / "reports")]) == 2
    assert main(["batch", str(twins), "--db", str(blocker / "r.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "--out cannot be written" in err and "results database cannot be written" in err and "Traceback" not in err
    assert not (tmp_path / "r.sqlite").exists()  # nothing was checked or recorded


def test_errors_of_the_machine_are_retried_on_the_next_run(twins, tmp_path, monkeypatch):
    import errno

    import sbrt_qa.pipeline as pipeline

    db, out = tmp_path / "r.sqlite", tmp_path / "out"

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    real = pipeline.write_atomically
    monkeypatch.setattr(pipeline, "write_atomically", full_disk)
    # workers are separate processes: run the job in this process to inject the fault
    root_jobs = jobs_module.find_jobs(twins)
    job = next(j for j in root_jobs if j.case_folder == "patient_a")
    outcome = jobs_module.run_job(job, find_protocol(None).path, str(out))
    assert outcome["status"] == "error" and outcome["error_kind"] == "environment" and "No space" in outcome["error"]
    monkeypatch.setattr(pipeline, "write_atomically", real)
    # recorded as such, a later run does not skip it
    from sbrt_qa.batch.db import ResultsDB
    from sbrt_qa.pipeline import fingerprint

    protocol = find_protocol(None)
    fp = fingerprint(job.files, protocol)
    outcome.update(input_hash="x", input_files=[], fingerprint=fp.digest, protocol_id=protocol.id, protocol_version=protocol.version,
                   protocol_hash=protocol.content_hash)
    with ResultsDB(db) as rdb:
        run_id = rdb.start_run(tool_version="t", protocol_id=protocol.id, protocol_version=protocol.version, protocol_hash=protocol.content_hash,
                               root=str(twins.resolve()))
        rdb.record(outcome, run_id)
        assert not rdb.unchanged(job.key, fp.digest)
        rdb.finish_run(run_id)
    again = run_batch(twins, protocol, db, jobs=1, out_dir=out)
    assert again.counts["pass"] >= 1
    assert rows(db, "SELECT status FROM plans WHERE case_folder = 'patient_a'") == [("pass",)]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_sigkill_of_a_batch_leaves_no_worker_and_its_run_is_marked_interrupted(tmp_path):
    from sbrt_qa.synthetic.phantoms import sbrt_variant

    root = tmp_path / "many"
    for i in range(6):
        sbrt_variant(f"ORPH{i}", cord_y=68.0).write(root / f"case{i}")
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "sbrt_qa", "batch", str(root), "--db", str(db), "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 3:  # 2 workers and the resource tracker
        workers = _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) >= 2
    descendants = workers + [c for w in workers for c in _children(w)]
    proc.kill()  # SIGKILL: no handler runs in the batch
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in descendants):
        time.sleep(0.05)
    assert not [p for p in descendants if _alive(p)]
    assert rows(db, "SELECT count(*) FROM runs WHERE finished_at IS NULL") == [(1,)]
    assert main(["batch", str(root), "--db", str(db), "--jobs", "1"]) == 0
    states = rows(db, "SELECT state FROM runs ORDER BY id")
    assert states == [("interrupted",), ("finished",)]


def test_cohort_reads_the_latest_state_of_each_case_folder(twins, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    protocol = find_protocol(None)
    run_batch(twins, protocol, db, jobs=1)
    shutil.rmtree(twins / "patient_b")  # the folder is gone
    run_batch(twins, protocol, db, jobs=1)
    assert main(["cohort", "--db", str(db), "--csv", str(tmp_path / "csv")]) == 0
    text = capsys.readouterr().out
    # patient_a passes, no_rs is an error (no arm); patient_b, gone, no longer counts (it was "SBRT: pass 2")
    assert text.splitlines()[:2] == ["(no arm): error 1", "SBRT: pass 1"], text
    import csv

    deviations = list(csv.DictReader((tmp_path / "csv" / "deviations.csv").open()))
    assert [d["case"] for d in deviations] == ["no_rs"]  # patient_a is no longer a duplicate: its twin is gone


def test_cohort_on_a_file_that_is_not_a_results_database(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    assert main(["cohort", "--db", str(text)]) == 2
    assert main(["cohort", "--db", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("not an sbrt-qa results database") == 2 and "internal error" not in err
    assert text.read_text() == "hello"


def test_sigterm_ends_a_batch_with_its_run_marked_interrupted(tmp_path):
    from sbrt_qa.synthetic.phantoms import sbrt_variant

    root = tmp_path / "many"
    for i in range(4):
        sbrt_variant(f"TERM{i}", cord_y=68.0).write(root / f"case{i}")
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "sbrt_qa", "batch", str(root), "--db", str(db), "--jobs", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _children(proc.pid):  # the run row exists before workers start
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(120)
    err = proc.stderr.read()
    assert code == 130, err  # the message says what ended it otherwise
    assert rows(db, "SELECT state FROM runs") == [("interrupted",)]
    assert "interrupted" in err


def test_an_interrupt_replaced_by_the_pool_s_shutdown_error_is_still_an_interrupt(tmp_path, monkeypatch):
    """SIGTERM raises KeyboardInterrupt wherever the main thread is; inside the process pool's own
    code the pool's shutdown may then raise in its place. The run is interrupted all the same."""
    from concurrent.futures.process import BrokenProcessPool

    from sbrt_qa.batch import runner
    from sbrt_qa.synthetic.phantoms import sbrt_variant

    sbrt_variant("INT0", cord_y=68.0).write(tmp_path / "root" / "case0")

    def pool(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise BrokenProcessPool("a child process terminated abruptly")
        yield  # a generator, as the real one

    monkeypatch.setattr(runner, "_local", pool)
    db = tmp_path / "r.sqlite"
    with pytest.raises(KeyboardInterrupt):
        runner.run_batch(tmp_path / "root", find_protocol(None), db, jobs=1)
    assert rows(db, "SELECT state FROM runs") == [("interrupted",)]
