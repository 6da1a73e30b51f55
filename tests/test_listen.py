"""``sbrt-qa listen`` and ``sbrt-qa watch`` over real DICOM associations on loopback (pynetdicom as the SCU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from conftest import TEST_DATA
from sbrt_qa.listen.scp import Listener
from sbrt_qa.listen.watch import Watcher
from sbrt_qa.protocol import find_protocol


def files_of(case: str) -> list[Path]:
    return sorted((TEST_DATA / case).glob("*.dcm"))


def sender(ae_title: str = "TPS", datasets=()) -> AE:
    ae = AE(ae_title=ae_title)
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    ae.add_requested_context(Verification)
    return ae


def send(port: int, paths: list[Path], ae_title: str = "TPS") -> list[int]:
    datasets = [pydicom.dcmread(p) for p in paths]
    assoc = sender(ae_title, datasets).associate("127.0.0.1", port, ae_title="SBRTQA")
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    assoc.release()
    return statuses


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def reports(folder: Path, suffix: str = ".json") -> list[Path]:
    return sorted(p for p in folder.glob(f"*{suffix}") if not p.name.endswith(".error.json") and not p.name.startswith("."))


@pytest.fixture
def listener(tmp_path):
    lst = Listener(tmp_path / "store", tmp_path / "reports", find_protocol(None), host="127.0.0.1", port=0,
                   allow_ae=["TPS", "TPS2"], idle_seconds=2.0)
    lst.start()
    yield lst
    lst.stop(timeout=10)


def test_a_sent_plan_set_is_checked_with_the_expected_verdict(listener, tmp_path):
    assert send(listener.port, files_of("sbrt_cord_overdose")) == [0, 0, 0]
    assert listener.wait_settled(1)
    (report,) = reports(tmp_path / "reports")
    plan = json.loads(report.read_text())["plans"][0]
    assert plan["status"] == "major" and plan["protocol"]["arm"] == "SBRT"
    assert report.name.startswith(plan["plan"]["sop_instance_uid"] + "_")
    assert report.with_name(report.name[:-5] + ".html").is_file()
    # the same objects again are harmless: stored again, not checked twice
    assert send(listener.port, files_of("sbrt_cord_overdose")) == [0, 0, 0]
    assert listener.wait_settled(2)  # both associations ended and their studies examined
    assert len(reports(tmp_path / "reports")) == 1
    stored = list((tmp_path / "store").rglob("*.dcm"))
    assert len(stored) == 3 and all(pydicom.dcmread(p).SOPInstanceUID in p.name for p in stored)


def test_two_senders_at_once_each_get_their_report(listener, tmp_path):
    results = {}
    threads = [threading.Thread(target=lambda c=c, ae=ae: results.__setitem__(c, send(listener.port, files_of(c), ae)))
               for c, ae in (("sbrt_thoracic_spine", "TPS"), ("imrt_head_neck", "TPS2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {"sbrt_thoracic_spine": [0, 0, 0], "imrt_head_neck": [0, 0, 0]}
    assert listener.wait_settled(2)
    found = reports(tmp_path / "reports")
    verdicts = sorted((json.loads(r.read_text())["plans"][0]["protocol"]["arm"], json.loads(r.read_text())["plans"][0]["status"]) for r in found)
    assert verdicts == [("IMRT", "pass"), ("SBRT", "pass")]


def test_a_calling_ae_not_on_the_list_is_rejected(listener):
    assoc = sender("INTRUDER").associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert not assoc.is_established and assoc.is_rejected
    ok = sender("TPS").associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert ok.is_established and ok.send_c_echo().Status == 0
    ok.release()


def test_a_host_not_on_the_list_is_refused(tmp_path):
    lst = Listener(tmp_path / "s", tmp_path / "r", find_protocol(None), host="127.0.0.1", port=0, allow_ae=["TPS"], allow_host=["10.9.9.9"])
    lst.start()
    try:
        assoc = sender("TPS").associate("127.0.0.1", lst.port, ae_title="SBRTQA")
        assert not assoc.is_established
    finally:
        lst.stop(timeout=5)


def test_malformed_data_is_refused_and_the_next_association_works(listener, tmp_path):
    plan = pydicom.dcmread(files_of("sbrt_thoracic_spine")[1])
    plan.StudyInstanceUID = "../../../etc"  # a path traversal attempt
    other = pydicom.dcmread(files_of("sbrt_thoracic_spine")[1])
    other.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"  # claims to be a structure set in a plan context
    assoc = sender("TPS", [plan]).associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert assoc.is_established
    assert assoc.send_c_store(plan).Status == 0xC000
    assoc.release()
    assert not any("etc" in str(p) for p in (tmp_path / "store").rglob("*")) and not (tmp_path / "etc").exists()
    assert send(listener.port, files_of("sbrt_thoracic_spine")) == [0, 0, 0]
    assert listener.wait_settled(2) and reports(tmp_path / "reports")


def test_byte_cap_aborts_a_large_association(tmp_path):
    lst = Listener(tmp_path / "s", tmp_path / "r", find_protocol(None), host="127.0.0.1", port=0, allow_ae=["TPS"], max_association_bytes=100_000)
    lst.start()
    try:
        dose = pydicom.dcmread(files_of("sbrt_thoracic_spine")[0])  # 1.3 MB
        assoc = sender("TPS", [dose]).associate("127.0.0.1", lst.port, ae_title="SBRTQA")
        status = assoc.send_c_store(dose)
        assert not status  # no success: the association was aborted mid-object
        wait_for(lambda: assoc.is_aborted, timeout=10)
        assert not list((tmp_path / "s").rglob("*.dcm"))
    finally:
        lst.stop(timeout=5)


def test_a_newer_version_of_a_plan_is_checked_again(listener, tmp_path):
    send(listener.port, files_of("sbrt_thoracic_spine"))
    assert listener.wait_settled(1) and reports(tmp_path / "reports")
    plan = pydicom.dcmread(files_of("sbrt_thoracic_spine")[1])
    plan.ApprovalStatus = "UNAPPROVED"
    assoc = sender("TPS", [plan]).associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert assoc.send_c_store(plan).Status == 0
    assoc.release()
    assert listener.wait_settled(2)
    found = reports(tmp_path / "reports")
    assert sorted(json.loads(r.read_text())["plans"][0]["status"] for r in found) == ["minor", "pass"]


def _listen_process(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """``sbrt-qa listen`` on a port the OS chooses (port 0), read back from its start-up line."""
    from test_listen_faults import _start_listen

    return _start_listen(tmp_path, "1")


def test_sigkill_mid_transfer_keeps_every_acknowledged_object(tmp_path):
    proc, port = _listen_process(tmp_path)
    template = pydicom.dcmread(files_of("sbrt_thoracic_spine")[0])  # the 1.3 MB dose
    acknowledged: list[str] = []
    stop = threading.Event()

    def send_many() -> None:
        assoc = sender("TPS", [template]).associate("127.0.0.1", port, ae_title="SBRTQA")
        for _ in range(200):
            if stop.is_set() or not assoc.is_established:
                break
            ds = pydicom.dcmread(files_of("sbrt_thoracic_spine")[0])
            ds.SOPInstanceUID = generate_uid()
            try:
                status = assoc.send_c_store(ds)
            except Exception:
                break
            if status and status.Status == 0:
                acknowledged.append(ds.SOPInstanceUID)
        if assoc.is_established:
            assoc.abort()

    t = threading.Thread(target=send_many)
    t.start()
    wait_for(lambda: len(acknowledged) >= 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    t.join(60)
    proc, port = _listen_process(tmp_path)  # restarted: cleans partial files
    try:
        stored = {p.name.split(".", 1)[1][:-4]: p for p in (tmp_path / "store").rglob("RTDOSE.*.dcm")}
        assert len(acknowledged) >= 5
        for uid in acknowledged:
            assert uid in stored, uid
            assert pydicom.dcmread(stored[uid]).SOPInstanceUID == uid
        assert not list((tmp_path / "store").rglob(".incoming-*"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0 and "stopped" in proc.stderr.read()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_watch_folder_processes_a_slow_copy_exactly_once(tmp_path):
    watch, out, clock = tmp_path / "export", tmp_path / "reports", Clock()
    watch.mkdir()
    watcher = Watcher(watch, out, find_protocol(None), stable_seconds=1.5, clock=clock)
    case = watch / "SBRT_T8_export"
    case.mkdir()
    for path in files_of("sbrt_thoracic_spine"):  # file by file, each in two halves, slower than the stable window
        data = path.read_bytes()
        target = case / path.name
        target.write_bytes(data[: len(data) // 2])
        assert watcher.scan() == []
        clock.now += 1.0
        assert watcher.scan() == []
        with target.open("ab") as fh:
            fh.write(data[len(data) // 2:])
        os.utime(target, ns=(target.stat().st_mtime_ns + 1_000_000, target.stat().st_mtime_ns + 1_000_000))
        assert watcher.scan() == []  # changed since the last round: not ready
        clock.now += 1.0
    assert watcher.scan() == []  # unchanged for 1.0 s < 1.5 s
    clock.now += 1.0
    assert watcher.scan() == ["SBRT_T8_export"]
    assert watcher.scan() == []  # exactly once
    done = list((watch / "done").glob("SBRT_T8_export_*"))
    assert len(done) == 1 and not case.exists()
    (report,) = reports(out)
    assert json.loads(report.read_text())["plans"][0]["status"] == "pass"
    assert not (watch / "failed").exists()


def test_watch_folder_marker_and_broken_exports(tmp_path):
    watch, out, clock = tmp_path / "export", tmp_path / "reports", Clock()
    watch.mkdir()
    ready = watch / "with_marker"
    shutil.copytree(TEST_DATA / "imrt_head_neck", ready)
    (ready / ".complete").write_text("")
    broken = watch / "broken"
    broken.mkdir()
    rs = files_of("sbrt_thoracic_spine")[2]
    (broken / rs.name).write_bytes(rs.read_bytes()[:2000])
    watcher = Watcher(watch, out, find_protocol(None), stable_seconds=0.5, clock=clock)
    assert watcher.scan() == ["with_marker"]  # the marker makes it ready at once
    clock.now += 0.7
    assert watcher.scan() == ["broken"]
    assert len(list((watch / "done").glob("[!.]*"))) == 1 and len(list((watch / "failed").glob("[!.]*"))) == 1
    assert watcher.scan() == []


def test_listen_usage_errors(tmp_path, capsys):
    from sbrt_qa.cli.main import main

    assert main(["listen", "--port", "70000", "--store", str(tmp_path), "--reports", str(tmp_path)]) == 2
    assert main(["watch", str(tmp_path / "absent"), "--reports", str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_check_that_fails_is_recorded_and_the_service_goes_on(listener, tmp_path):
    datasets = [pydicom.dcmread(p) for p in files_of("sbrt_undercovered")]
    for ds in datasets:
        if ds.Modality == "RTDOSE":
            ds.DoseUnits = "RELATIVE"  # stored fine, but cannot be checked
    assoc = sender("TPS", datasets).associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert [assoc.send_c_store(ds).Status for ds in datasets] == [0, 0, 0]
    assoc.release()
    assert listener.wait_settled(1)
    (error,) = sorted((tmp_path / "reports").glob("*.error.json"))
    record = json.loads(error.read_text())
    assert record["status"] == "error" and "RELATIVE" in record["error"]
    assert send(listener.port, files_of("sbrt_thoracic_spine")) == [0, 0, 0]
    assert listener.wait_settled(2) and reports(tmp_path / "reports")


def test_watch_survives_files_removed_under_it(tmp_path):
    watch = tmp_path / "export"
    case = watch / "vanishing"
    shutil.copytree(TEST_DATA / "sbrt_thoracic_spine", case)
    watcher = Watcher(watch, tmp_path / "reports", find_protocol(None), interval=0.1, stable_seconds=0.3)
    assert watcher.scan() == []
    next(case.glob("RD*")).unlink()  # the planner deleted the dose before export finished
    assert watcher.scan() == []  # changed: not ready yet
    shutil.rmtree(case)
    assert watcher.scan() == []  # gone entirely: nothing to do, no crash
    assert not (watch / "done").exists() and not (watch / "failed").exists()
