"""The watch folder under faults: traversal UIDs, re-exports, links and FIFOs, hostile folder names."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path

import pydicom

from conftest import TEST_DATA
from sbrt_qa.listen.watch import Watcher
from sbrt_qa.protocol import find_protocol
from test_listen import Clock, reports

CASE = "sbrt_thoracic_spine"


def _watcher(tmp_path: Path, clock: Clock | None = None) -> tuple[Watcher, Path, Path, Clock]:
    watch, out, clock = tmp_path / "export", tmp_path / "reports", clock or Clock()
    watch.mkdir(exist_ok=True)
    return Watcher(watch, out, find_protocol(None), stable_seconds=1.0, clock=clock), watch, out, clock


def _ready(watcher: Watcher, clock: Clock) -> list[str]:
    """Two rounds a stable window apart: everything unchanged is processed."""
    first = watcher.scan()
    clock.now += 5
    return first + watcher.scan()


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_a_traversal_uid_cannot_write_outside_the_reports_folder(tmp_path):
    watcher, watch, out, clock = _watcher(tmp_path)
    case = watch / "evil"
    shutil.copytree(TEST_DATA / CASE, case)
    for path in case.iterdir():
        ds = pydicom.dcmread(path)
        if ds.Modality == "RTPLAN":
            ds.SOPInstanceUID = "../escaped/pwn"
        if ds.Modality == "RTDOSE":
            ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = "../escaped/pwn"
        ds.save_as(path)
    before = _all_files(tmp_path)
    assert _ready(watcher, clock) == ["evil"]
    written = _all_files(tmp_path) - before
    outside = [p for p in written if out not in p.parents and watch not in p.parents]
    assert outside == [] and not (tmp_path / "escaped").exists()
    (report,) = reports(out)
    assert report.parent == out and report.name.startswith("escaped_pwn_")


def test_a_re_export_is_done_with_a_pointer_to_its_earlier_report(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    watcher, watch, out, clock = _watcher(tmp_path)
    shutil.copytree(TEST_DATA / CASE, watch / "first")
    assert _ready(watcher, clock) == ["first"]
    (report,) = reports(out)
    shutil.copytree(TEST_DATA / CASE, watch / "again")
    assert _ready(watcher, clock) == ["again"]
    assert reports(out) == [report]  # not checked twice
    (again,) = (watch / "done").glob("again_*")
    assert not (watch / "failed").exists()
    listing = (again / "sbrt-qa-reports.txt").read_text()
    assert "checked before" in listing and str(report) in listing
    assert "already checked" in caplog.text and report.name in caplog.text


def test_links_and_fifos_are_skipped_with_one_note_and_block_nothing(tmp_path, caplog):
    watcher, watch, out, clock = _watcher(tmp_path)
    os.symlink(tmp_path / "nowhere", watch / "dangling")
    os.mkfifo(watch / "pipe")
    case = watch / "case"
    shutil.copytree(TEST_DATA / CASE, case)
    os.mkfifo(case / "inner_pipe")  # a FIFO inside an export: opening it would block forever
    os.symlink("/etc/passwd", case / "link.dcm")
    result: list = []
    worker = threading.Thread(target=lambda: result.append([_ready(watcher, clock) for _ in range(3)]))
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the watch blocked"
    assert result[0][0] == ["case"] and result[0][1:] == [[], []]
    (report,) = reports(out)
    assert json.loads(report.read_text())["plans"][0]["status"] == "pass"
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(notes) == 4, notes  # one each, over six rounds
    assert "Traceback" not in caplog.text


def test_hostile_export_names(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    watcher, watch, out, clock = _watcher(tmp_path)
    names = ["done", "failed", ".x", "forged\nERROR fake line", "L" * 240]
    for name in names:
        shutil.copytree(TEST_DATA / CASE, watch / name)
    shutil.copytree(TEST_DATA / "imrt_head_neck", watch / "zz_later")  # after the long name: not blocked by it
    processed = []
    for _ in range(3):  # an export named like an outbox is renamed aside when the outbox is first needed
        processed += _ready(watcher, clock)
    assert len(processed) == 6 and {".x", "L" * 240, "zz_later", "forged\nERROR fake line"} <= set(processed)
    left = [p.name for p in watch.iterdir() if not p.name.startswith(".sbrt-qa") and not (p / ".sbrt-qa-outbox").exists()]
    assert left == []
    assert "export done" in caplog.text and "export failed" in caplog.text
    done = sorted(p.name for p in (watch / "done").glob("[!.]*"))
    assert len(done) == 6 and all(len(n) <= 130 for n in done)
    assert all("\n" not in r.getMessage() for r in caplog.records)
    assert "forged\\nERROR fake line" in caplog.text
    assert len(reports(out)) == 2  # one version each of two plans: the other exports point to the first report


def test_a_reports_folder_that_cannot_be_written_keeps_the_export_for_a_retry(tmp_path, monkeypatch, caplog):
    import errno

    import sbrt_qa.pipeline as pipeline

    watcher, watch, out, clock = _watcher(tmp_path)
    shutil.copytree(TEST_DATA / CASE, watch / "case")
    real = pipeline.write_atomically

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(pipeline, "write_atomically", read_only)
    assert _ready(watcher, clock) == []
    assert not (watch / "failed").exists() and not (watch / "done").exists() and not reports(out)
    assert "tried again" in caplog.text
    monkeypatch.setattr(pipeline, "write_atomically", real)  # the disk is writable again
    clock.now += 61
    watcher.scan()
    (report,) = reports(out)
    assert json.loads(report.read_text())["plans"][0]["status"] == "pass"
    assert len(list((watch / "done").glob("case_*"))) == 1


def test_an_export_left_in_the_work_folder_by_a_killed_watcher_is_checked_at_start(tmp_path):
    watch, out = tmp_path / "export", tmp_path / "reports"
    # what a watcher killed during a check leaves: the export moved to its work folder, no report
    shutil.copytree(TEST_DATA / CASE, watch / ".sbrt-qa-work" / "case_20260101T000000")
    Watcher(watch, out, find_protocol(None), clock=Clock())
    (report,) = reports(out)
    assert json.loads(report.read_text())["plans"][0]["status"] == "pass"
    assert len(list((watch / "done").glob("case_*"))) == 1 and not list((watch / ".sbrt-qa-work").iterdir())
