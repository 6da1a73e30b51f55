"""The listener under the faults a hospital's export hook meets: truncated objects, group 0002 in the
data set, classes it does not use, idle sockets, refused hosts, a kill with checks pending."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import _config

from sbrt_qa.cli.main import main
from sbrt_qa.listen.journal import NAME as JOURNAL
from sbrt_qa.listen.scp import Listener, ListenerConfigError
from sbrt_qa.listen.store import strip_group_0002
from sbrt_qa.protocol import find_protocol
from test_listen import files_of, reports, send, sender

CASE = "sbrt_thoracic_spine"


def _by_modality(case: str) -> dict[str, Path]:
    return {pydicom.dcmread(p, stop_before_pixels=True).Modality: p for p in files_of(case)}


@pytest.fixture
def listener(tmp_path):
    lst = Listener(tmp_path / "store", tmp_path / "reports", find_protocol(None), host="127.0.0.1", port=0, allow_ae=["TPS"],
                   idle_seconds=3600, connection_timeout=1.0, network_timeout=2.0, max_associations=4)
    lst.start()
    yield lst
    lst.stop(timeout=10)


def _send_file(port: int, path: Path, sop_class: str, ts: str) -> int:
    """Send a file's bytes as they are (pynetdicom's chunked mode), the way a sender streams an export."""
    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = sender("TPS")
        ae.add_requested_context(sop_class, ts)
        assoc = ae.associate("127.0.0.1", port, ae_title="SBRTQA")
        assert assoc.is_established
        status = assoc.send_c_store(path)
        assoc.release()
        return int(status.Status) if status else -1
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old


@pytest.mark.parametrize("modality", ["RTSTRUCT", "RTDOSE", "RTPLAN"])
def test_a_truncated_object_is_refused_and_never_replaces_the_good_copy(listener, tmp_path, modality):
    source = _by_modality(CASE)[modality]
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    # first the whole object: stored
    assert _send_file(listener.port, source, ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) == 0
    (stored,) = (tmp_path / "store").rglob(f"{modality}.*.dcm")
    good = stored.read_bytes()
    # then the same object cut at 30 % of its length: a failure status, the good copy untouched
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[: int(0.3 * source.stat().st_size)])
    status = _send_file(listener.port, cut, ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assert status == 0xC000
    assert stored.read_bytes() == good
    assert not list((tmp_path / "store").rglob(".incoming-*"))


def test_a_truncated_object_never_stored_if_no_good_copy(listener, tmp_path, caplog):
    source = _by_modality(CASE)["RTSTRUCT"]
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[: int(0.3 * source.stat().st_size)])
    assert _send_file(listener.port, cut, ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) == 0xC000
    assert not list((tmp_path / "store").rglob("*.dcm"))
    assert "refused incomplete object" in caplog.text


def test_group_0002_inside_the_data_set_is_stripped_as_pynetdicom_does(listener, tmp_path):
    plan = pydicom.dcmread(_by_modality(CASE)["RTPLAN"])
    plan.add_new(0x00020013, "SH", "FORGED_IN_DATASET")  # Implementation Version Name, misplaced in the data set
    assoc = sender("TPS", [plan]).associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert int(assoc.send_c_store(plan).Status) == 0
    assoc.release()
    (stored,) = (tmp_path / "store").rglob("RTPLAN.*.dcm")
    back = pydicom.dcmread(stored)
    assert back.SOPInstanceUID == plan.SOPInstanceUID
    assert not any(elem.tag.group == 2 for elem in back)  # the data set proper holds no group 0002
    assert back.file_meta.MediaStorageSOPInstanceUID == plan.SOPInstanceUID


def test_strip_group_0002_at_byte_level():
    # (0002,0013) SH "AB" then (0008,0016) UI: explicit VR little endian
    data = b"\x02\x00\x13\x00SH\x02\x00AB" + b"\x08\x00\x16\x00UI\x02\x001\x00"
    assert strip_group_0002(data, ExplicitVRLittleEndian) == b"\x08\x00\x16\x00UI\x02\x001\x00"
    implicit = b"\x02\x00\x13\x00\x02\x00\x00\x00AB" + b"\x08\x00\x16\x00\x02\x00\x00\x001\x00"
    assert strip_group_0002(implicit, "1.2.840.10008.1.2") == b"\x08\x00\x16\x00\x02\x00\x00\x001\x00"


def _registration(study_uid: str) -> Dataset:
    """A minimal Spatial Registration object, as exports that include REG hold."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.1"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "REG"
    ds.PatientID = "X"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def test_classes_it_does_not_use_are_stored_ignored_and_logged(listener, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    datasets = [pydicom.dcmread(p) for p in files_of(CASE)]
    reg = _registration(str(datasets[0].StudyInstanceUID))
    # a PET image class (not used) too: only its UIDs matter for storage
    pet = _registration(str(datasets[0].StudyInstanceUID))
    pet.SOPClassUID, pet.Modality = "1.2.840.10008.5.1.4.1.1.128", "PT"
    everything = [*datasets, reg, pet]
    assoc = sender("TPS", everything).associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert [int(assoc.send_c_store(ds).Status) for ds in everything] == [0] * 5
    assoc.release()
    assert listener.wait_settled(1)
    (report,) = reports(tmp_path / "reports")
    assert json.loads(report.read_text())["plans"][0]["status"] == "pass"
    assert len(list((tmp_path / "store").rglob("REG.*.dcm"))) == 1 and len(list((tmp_path / "store").rglob("PT.*.dcm"))) == 1
    assert "1.2.840.10008.5.1.4.1.1.66.1" in caplog.text and "not used by the check" in caplog.text


def test_a_malformed_object_gets_a_failure_that_does_not_ask_for_a_retry(listener, tmp_path):
    source = _by_modality(CASE)["RTPLAN"]
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    junk = tmp_path / "junk.dcm"
    data = bytearray(source.read_bytes())
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    data[meta_end:meta_end + 64] = b"\xff" * 64  # garbage where the data set starts
    junk.write_bytes(bytes(data))
    status = _send_file(listener.port, junk, ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assert status & 0xF000 == 0xC000  # "cannot understand", not 0xA7xx "out of resources: retry"


def test_the_listener_will_not_accept_anyone_unless_told(tmp_path, capsys):
    with pytest.raises(ListenerConfigError, match="--allow-ae"):
        Listener(tmp_path / "s", tmp_path / "r", find_protocol(None), port=0)
    assert main(["listen", "--port", "0", "--store", str(tmp_path / "s"), "--reports", str(tmp_path / "r")]) == 2
    assert "--allow-any-ae" in capsys.readouterr().err
    lst = Listener(tmp_path / "s", tmp_path / "r", find_protocol(None), host="127.0.0.1", port=0, allow_any_ae=True)
    lst.start()
    try:
        assoc = sender("ANYONE").associate("127.0.0.1", lst.port, ae_title="SBRTQA")
        assert assoc.is_established
        assoc.release()
    finally:
        lst.stop(timeout=5)


def test_a_refused_host_gets_an_association_reject(tmp_path):
    lst = Listener(tmp_path / "s", tmp_path / "r", find_protocol(None), host="127.0.0.1", port=0, allow_ae=["TPS"], allow_host=["10.9.9.9"])
    lst.start()
    try:
        assoc = sender("TPS").associate("127.0.0.1", lst.port, ae_title="SBRTQA")
        assert assoc.is_rejected and not assoc.is_established  # an A-ASSOCIATE-RJ, not a closed socket
    finally:
        lst.stop(timeout=5)


def test_idle_sockets_are_closed_and_cannot_lock_senders_out(listener):
    # more silent connections than association slots (4): each is closed after the 1 s connection timeout
    idle = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(8)]
    try:
        while_open = sender("TPS").associate("127.0.0.1", listener.port, ae_title="SBRTQA")
        assert while_open.is_established  # silent sockets do not count against the 4 association slots
        while_open.release()
        for s in idle:
            s.settimeout(60)
            assert s.recv(1) == b""  # the listener closed it (waits on the close, no sleep)
    finally:
        for s in idle:
            s.close()
    assoc = sender("TPS").associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert assoc.is_established and int(assoc.send_c_echo().Status) == 0
    # an established association that goes silent is aborted after the 2 s network timeout
    done = threading.Event()
    assoc.bind(__import__("pynetdicom").evt.EVT_ABORTED, lambda e: done.set())
    assert done.wait(60) or assoc.is_aborted
    assert not assoc.is_established


def _start_listen(tmp_path: Path, idle: str) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, "-m", "sbrt_qa", "listen", "--host", "127.0.0.1", "--port", "0", "--store", str(tmp_path / "store"),
           "--reports", str(tmp_path / "reports"), "--idle-seconds", idle, "--allow-ae", "TPS"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # the port the OS gave is in the start-up line
        lines.append(line)
        m = re.search(r"listening as \S+ on [\d.]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    raise AssertionError("listener did not start: " + "".join(lines))


def test_checks_pending_at_a_kill_are_done_after_the_restart(tmp_path):
    proc, port = _start_listen(tmp_path, "3600")  # no idle check: only a release would trigger one
    datasets = [pydicom.dcmread(p) for p in files_of("sbrt_cord_overdose")]
    assoc = sender("TPS", datasets).associate("127.0.0.1", port, ae_title="SBRTQA")
    assert [int(assoc.send_c_store(ds).Status) for ds in datasets] == [0, 0, 0]
    assoc.abort()  # no release: the study waits for its check
    with sqlite3.connect(tmp_path / "store" / JOURNAL) as c:
        assert c.execute("SELECT count(*) FROM pending").fetchone() == (1,)  # journalled before success went back
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not reports(tmp_path / "reports")
    proc, port = _start_listen(tmp_path, "3600")
    try:
        for line in proc.stderr:
            if "check plan" in line:
                break
        (report,) = reports(tmp_path / "reports")
        assert json.loads(report.read_text())["plans"][0]["status"] == "major"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    with sqlite3.connect(tmp_path / "store" / JOURNAL) as c:
        assert c.execute("SELECT count(*) FROM pending").fetchone() == (0,)


def test_the_same_version_sent_again_points_to_its_report(listener, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert send(listener.port, files_of(CASE), "TPS") == [0, 0, 0]
    assert listener.wait_settled(1)
    (first,) = reports(tmp_path / "reports")
    assert send(listener.port, files_of(CASE), "TPS") == [0, 0, 0]
    assert listener.wait_settled(2)
    assert reports(tmp_path / "reports") == [first]
    assert "already checked" in caplog.text and first.name in caplog.text


def test_associations_beyond_the_limit_get_a_transient_reject(listener):
    held = [sender("TPS").associate("127.0.0.1", listener.port, ae_title="SBRTQA") for _ in range(4)]
    try:
        assert all(a.is_established for a in held)
        extra = sender("TPS").associate("127.0.0.1", listener.port, ae_title="SBRTQA")
        assert extra.is_rejected
    finally:
        for a in held:
            a.release()
    assert listener.wait_settled(4)
    again = sender("TPS").associate("127.0.0.1", listener.port, ae_title="SBRTQA")
    assert again.is_established
    again.release()
