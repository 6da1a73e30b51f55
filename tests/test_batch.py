"""``sbrt-qa batch`` and ``sbrt-qa cohort``: database, idempotence, crash safety, locking, Dask."""

from __future__ import annotations

import json
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
from sbrt_qa.batch.db import ResultsDB
from sbrt_qa.batch.runner import run_batch
from sbrt_qa.cli.main import main
from sbrt_qa.protocol import find_protocol
from sbrt_qa.synthetic.phantoms import sbrt_variant

CASES = {"sbrt_thoracic_spine": "pass", "imrt_head_neck": "pass", "sbrt_cord_overdose": "major",
         "sbrt_undercovered": "major", "sbrt_missing_ptv": "not_evaluated"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The five engineered cases, one per folder, plus a broken case (a truncated structure set)."""
    root = tmp_path_factory.mktemp("batch") / "root"
    for name in CASES:
        shutil.copytree(TEST_DATA / name, root / "site_a" / name)
    broken = root / "site_b" / "broken"
    broken.mkdir(parents=True)
    rs = next((TEST_DATA / "sbrt_cord_overdose").glob("RS*"))
    (broken / "RS.cut.dcm").write_bytes(rs.read_bytes()[:4000])
    (broken / "notes.txt").write_text("exported by hand")
    return root


def rows(db: Path, sql: str, *args):
    with sqlite3.connect(db) as c:
        return c.execute(sql, args).fetchall()


def test_batch_records_every_plan_once(tree, tmp_path, capsys):
    db, out, summary = tmp_path / "r.sqlite", tmp_path / "reports", tmp_path / "summary.json"
    code = main(["batch", str(tree), "--db", str(db), "--out", str(out), "--summary-json", str(summary), "--jobs", "2"])
    err = capsys.readouterr().err
    assert code == 0, err
    s = json.loads(summary.read_text())
    assert s == {**s, "plans": 6, "pass": 2, "minor": 0, "major": 2, "not_evaluated": 1, "error": 1, "skipped": 0}
    assert s["seconds"] > 0
    by_case = dict(rows(db, "SELECT case_folder, status FROM plans"))
    for name, status in CASES.items():
        assert by_case[f"site_a/{name}"] == status
    (error,) = rows(db, "SELECT case_folder, error FROM plans WHERE status = 'error'")
    assert error[0] == "site_b/broken" and "truncated" in error[1]
    assert rows(db, "SELECT count(*), count(DISTINCT plan_set_key) FROM plans")[0] == (6, 6)
    # the reviewer's question: every plan whose cord constraint was major
    cord = rows(db, "SELECT DISTINCT p.case_folder FROM constraint_results r JOIN plans p ON p.id = r.plan_id "
                    "WHERE r.structure = 'SpinalCord' AND r.status = 'major'")
    assert cord == [("site_a/sbrt_cord_overdose",)]
    for report_json, report_html in rows(db, "SELECT report_json, report_html FROM plans WHERE status != 'error'"):
        assert json.loads(Path(report_json).read_text())["plans"][0]["status"] and Path(report_html).stat().st_size > 10_000
    files = json.loads(rows(db, "SELECT input_files FROM plans WHERE case_folder = 'site_a/sbrt_thoracic_spine'")[0][0])
    assert len(files) == 3 and all(len(f["sha256"]) == 64 for f in files)
    assert "batch: 6/6 done" in err and "plan sets found" in err


def test_unchanged_plans_are_skipped_changed_ones_rechecked(tree, tmp_path):
    db = tmp_path / "r.sqlite"
    protocol = find_protocol(None)
    first = run_batch(tree, protocol, db, jobs=2)
    assert first.skipped == 0
    again = run_batch(tree, protocol, db, jobs=2)
    assert again.skipped == 6 and sum(again.counts.values()) == 0
    forced = run_batch(tree, protocol, db, jobs=2, force=True)
    assert forced.skipped == 0 and sum(forced.counts.values()) == 6
    # a new export of one case: its file changes, only it is checked again
    copy = tmp_path / "tree"
    shutil.copytree(tree, copy)
    run_batch(copy, protocol, db, jobs=1)
    plan = next((copy / "site_a" / "sbrt_thoracic_spine").glob("RP*"))
    import pydicom

    ds = pydicom.dcmread(plan)
    ds.ApprovalStatus = "UNAPPROVED"
    ds.save_as(plan)
    changed = run_batch(copy, protocol, db, jobs=1)
    assert changed.skipped == 5 and changed.counts["minor"] == 1  # plan approval is a minor deviation
    assert rows(db, "SELECT count(*) FROM plans WHERE case_folder = 'site_a/sbrt_thoracic_spine'") == [(1,)]


def test_a_second_batch_on_the_same_database_is_refused(tree, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    with ResultsDB(db):
        code = main(["batch", str(tree), "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 2 and "another sbrt-qa batch" in err and str(os.getpid()) in err


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    """Eight distinct plan sets (own UIDs), for the crash test."""
    root = tmp_path_factory.mktemp("many")
    for i in range(8):
        sbrt_variant(f"KILL{i}", cord_y=56.0 if i % 3 == 0 else 68.0).write(root / f"case{i}")
    return root


def test_sigkill_at_any_moment_then_rerun_leaves_one_whole_row_per_plan(many, tmp_path):
    db = tmp_path / "r.sqlite"
    reference = tmp_path / "ref.sqlite"
    run_batch(many, find_protocol(None), reference, jobs=2)
    expected = dict(rows(reference, "SELECT p.plan_set_key, count(r.plan_id) FROM plans p LEFT JOIN constraint_results r ON r.plan_id = p.id GROUP BY 1"))
    cmd = [sys.executable, "-m", "sbrt_qa", "batch", str(many), "--db", str(db), "--jobs", "2"]

    def recorded() -> dict:
        if not db.exists():
            return {}
        try:
            return dict(rows(db, "SELECT p.plan_set_key, count(r.plan_id) FROM plans p LEFT JOIN constraint_results r ON r.plan_id = p.id GROUP BY 1"))
        except sqlite3.OperationalError:  # the schema may not exist yet
            return {}

    mid_run_kills = 0
    for target in (None, 2, 5):  # at start-up, then once 2 and 5 plans are committed
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if target is None:
            time.sleep(0.3)
        else:
            deadline = time.monotonic() + 120
            while proc.poll() is None and len(recorded()) < target and time.monotonic() < deadline:
                time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        got = recorded()
        mid_run_kills += 0 < len(got) < 8
        assert all(got[k] == expected[k] for k in got)  # whole plans or nothing
    assert mid_run_kills >= 1
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    got = dict(rows(db, "SELECT p.plan_set_key, count(r.plan_id) FROM plans p LEFT JOIN constraint_results r ON r.plan_id = p.id GROUP BY 1"))
    assert got == expected
    assert rows(db, "SELECT count(*) FROM plans") == [(8,)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]


def test_dask_local_cluster_gives_the_same_results(tree, tmp_path):
    distributed = pytest.importorskip("distributed")
    local_db, dask_db = tmp_path / "local.sqlite", tmp_path / "dask.sqlite"
    protocol = find_protocol(None)
    run_batch(tree, protocol, local_db, jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        summary = run_batch(tree, protocol, dask_db, scheduler=cluster.scheduler_address)
    assert summary.counts == {"pass": 2, "minor": 0, "major": 2, "not_evaluated": 1, "error": 1}
    query = ("SELECT p.case_folder, p.status, r.constraint_id, r.status, r.value FROM plans p "
             "LEFT JOIN constraint_results r ON r.plan_id = p.id ORDER BY 1, 3")
    assert rows(local_db, query) == rows(dask_db, query)  # exactly: the kernel gives the same bits on any thread count
    assert rows(dask_db, "SELECT scheduler FROM runs")[0][0].startswith("tcp://127.0.0.1:")


def test_cohort_report(tree, tmp_path, capsys):
    db, out = tmp_path / "r.sqlite", tmp_path / "reports"
    run_batch(tree, find_protocol(None), db, jobs=2, out_dir=out)
    html, csv_dir = out / "cohort.html", tmp_path / "csv"
    assert main(["cohort", "--db", str(db), "--html", str(html), "--csv", str(csv_dir)]) == 0
    text = capsys.readouterr().out
    assert "SBRT: major 2, not_evaluated 1, pass 1" in text and "IMRT: pass 1" in text
    import csv

    compliance = list(csv.DictReader((csv_dir / "compliance.csv").open()))
    hytec = next(r for r in compliance if r["constraint"] == "sbrt-cord-hytec")
    # four SBRT plans: the cord is contoured in three, and runs through the PTV in one
    assert (hytec["pass"], hytec["major"], hytec["not_evaluated"]) == ("3", "1", "0")
    deviations = list(csv.DictReader((csv_dir / "deviations.csv").open()))
    assert {d["case"] for d in deviations} == {"site_a/sbrt_cord_overdose", "site_a/sbrt_undercovered", "site_a/sbrt_missing_ptv", "site_b/broken"}
    page = html.read_text()
    assert "https://" not in page and page.count('src="data:image/png;base64,') == 6
    assert 'href="site_a/sbrt_cord_overdose/' in page


def test_cohort_renders_in_chromium(tree, tmp_path):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    db, out = tmp_path / "r.sqlite", tmp_path / "reports"
    run_batch(tree, find_protocol(None), db, jobs=2, out_dir=out)
    assert main(["cohort", "--db", str(db), "--html", str(out / "cohort.html")]) == 0
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          (out / "cohort.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0
    for heading in ("Plans by arm", "Compliance per constraint: SBRT", "Compliance per constraint: IMRT", "Key figures by arm", "Deviations"):
        assert f"<h2>{heading}</h2>" in dom.stdout


def test_batch_usage_errors(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "absent"), "--db", str(tmp_path / "r.sqlite")]) == 2
    assert main(["batch", str(tmp_path), "--jobs", "0"]) == 2
    assert main(["cohort", "--db", str(tmp_path / "none.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no such" in err


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_progress_bar_on_a_terminal_and_lines_otherwise():
    from sbrt_qa.batch.runner import Progress

    tty, pipe = _Stream(True), _Stream(False)
    for stream in (tty, pipe):
        p = Progress(4, stream=stream, interval_s=3600)
        for i in range(4):
            p.step(f"plan{i}")
    assert tty.text.count("\r[") == 4 and "4/4" in tty.text and "ETA" in tty.text and "plans/min" in tty.text
    assert pipe.text.splitlines()[0].startswith("batch: 1/4 done") and pipe.text.splitlines()[-1].startswith("batch: 4/4 done")
    assert "\r" not in pipe.text
