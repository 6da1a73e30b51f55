"""``sbrt-qa dvh``: output contract, formats and exit codes (through the testable ``main``)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import TEST_DATA
from sbrt_qa.cli.main import main

SBRT = TEST_DATA / "sbrt_thoracic_spine"
IMRT = TEST_DATA / "imrt_head_neck"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _copy(tmp_path: Path, src: Path = SBRT) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def _file(folder: Path, prefix: str) -> Path:
    return next(p for p in folder.iterdir() if p.name.startswith(prefix))


# --- output contract ----------------------------------------------------------------


def test_json_contract(capsys):
    code, out, err = run(capsys, "dvh", str(SBRT), "--format", "json", "--metric", "V30Gy[%]", "--metric", "D0.035cc[Gy]", "--curve")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["sbrt_qa_version"]
    (plan,) = doc["plans"]
    assert set(plan["plan"]) == {"label", "sop_instance_uid", "prescription_gy", "fractions"}
    assert plan["plan"]["prescription_gy"] == 35.0 and plan["plan"]["fractions"] == 5
    assert set(plan["dose"]) == {"sop_instance_uid", "spacing_mm", "shape"}
    assert plan["dose"]["spacing_mm"] == [2.5, 2.5, 2.5] and plan["dose"]["shape"] == [53, 93, 139]
    ptv = next(s for s in plan["structures"] if s["name"] == "PTV")
    for key in ("name", "roi_number", "type", "volume_cc", "dmin_gy", "dmax_gy", "dmean_gy", "outside_dose_grid_cc", "metrics", "curve"):
        assert key in ptv
    assert isinstance(ptv["metrics"]["V30Gy[%]"], float) and isinstance(ptv["metrics"]["D0.035cc[Gy]"], float)
    for default in ("Dmedian[Gy]", "D98%[Gy]", "D95%[Gy]", "D50%[Gy]", "D2%[Gy]", "D0.035cc[Gy]"):
        assert default in ptv["metrics"]
    curve = ptv["curve"]
    assert len(curve["dose_gy"]) == len(curve["volume_cc"]) > 100
    assert curve["volume_cc"][0] == pytest.approx(ptv["volume_cc"], rel=1e-6)
    assert np.all(np.diff(curve["volume_cc"]) <= 1e-9)


def test_json_without_plan_has_null_plan_fields(tmp_path, capsys):
    folder = _copy(tmp_path)
    _file(folder, "RP").unlink()
    code, out, _ = run(capsys, "dvh", str(folder), "--format", "json", "--metric", "V100%[%]")
    assert code == 0
    doc = json.loads(out)
    assert doc["plans"][0]["plan"] == {"label": None, "sop_instance_uid": None, "prescription_gy": None, "fractions": None}
    assert "curve" not in doc["plans"][0]["structures"][0]
    ptv = doc["plans"][0]["structures"][0]
    assert ptv["metrics"]["V100%[%]"] is None
    assert any("no prescription" in w for w in ptv["warnings"])


def test_metric_keys_are_kept_exactly_as_given(capsys):
    code, out, _ = run(capsys, "dvh", str(SBRT), "--format", "json", "--structure", "SpinalCord", "--metric", "V12.5Gy[cc]", "--metric", "CV2000cGy[cc]")
    assert code == 0
    s = json.loads(out)["plans"][0]["structures"][0]
    assert "V12.5Gy[cc]" in s["metrics"] and "CV2000cGy[cc]" in s["metrics"]
    # CV20Gy of a cord that never reaches 20 Gy is its whole volume
    assert s["metrics"]["CV2000cGy[cc]"] == pytest.approx(s["volume_cc"], rel=1e-9)


def test_text_table_lists_every_structure(capsys):
    code, out, _ = run(capsys, "dvh", str(IMRT))
    assert code == 0
    for name in ("PTV_5000", "Spinal Cord", "Parotid R", "External"):
        assert name in out
    assert "50 Gy in 25 fx" in out


def test_csv_one_row_per_structure_and_figure(capsys):
    code, out, _ = run(capsys, "dvh", str(SBRT), "--format", "csv", "--metric", "V20Gy[%]")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    closed = {r["structure"] for r in rows if r["figure"] == "volume[cc]" and r["value"]}
    assert {"PTV", "PGTV", "SpinalCord", "BODY"} <= closed
    v20 = [r for r in rows if r["figure"] == "V20Gy[%]" and r["structure"] == "PTV"]
    assert len(v20) == 1 and float(v20[0]["value"]) > 95 and v20[0]["unit"] == "%"


def test_plot_is_written(tmp_path, capsys):
    png = tmp_path / "dvh.png"
    code, out, _ = run(capsys, "dvh", str(SBRT), "--plot", str(png), "--format", "json")
    assert code == 0 and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "curve" not in json.loads(out)["plans"][0]["structures"][0]  # asked only for the plot


def test_output_file(tmp_path, capsys):
    target = tmp_path / "out" / "dvh.json"
    code, out, _ = run(capsys, "dvh", str(SBRT), "--format", "json", "--output", str(target))
    assert code == 0 and out == "" and json.loads(target.read_text())["plans"]


def test_console_script_runs_as_a_process():
    exe = Path(sys.executable).with_name("sbrt-qa")
    proc = subprocess.run([str(exe), "dvh", str(SBRT), "--structure", "PTV", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["plans"][0]["structures"][0]["name"] == "PTV"


def test_console_script_delivers_a_large_report_whole():
    """One-shot commands end with os._exit: the buffered report must be flushed first."""
    exe = Path(sys.executable).with_name("sbrt-qa")
    proc = subprocess.run([str(exe), "dvh", str(SBRT), "--format", "json", "--curve"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) > 100_000  # far beyond any pipe or stdio buffer
    structures = json.loads(proc.stdout)["plans"][0]["structures"]
    assert [s["name"] for s in structures][-2:] == ["BODY", "Isocenter"]
    assert all(s["curve"]["dose_gy"] for s in structures[:-1])


@pytest.mark.parametrize("report", [["--structure", "PTV"], ["--format", "json", "--curve"]], ids=["small", "large"])
def test_console_script_says_when_standard_output_is_gone(report):
    exe = Path(sys.executable).with_name("sbrt-qa")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read the report
    try:
        proc = subprocess.run([str(exe), "dvh", str(SBRT), *report], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 2
    assert proc.stderr.count("standard output was closed before the whole report was written") == 1
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


# --- errors: exit 2, the file and the problem named, no traceback ----------------------


def assert_input_error(capsys, argv, *needles):
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_truncated_dose(tmp_path, capsys):
    folder = _copy(tmp_path)
    dose = _file(folder, "RD")
    dose.write_bytes(dose.read_bytes()[: dose.stat().st_size // 2])
    assert_input_error(capsys, ["dvh", str(folder)], dose.name, "truncated")


def test_truncated_structure_set(tmp_path, capsys):
    folder = _copy(tmp_path)
    rs = _file(folder, "RS")
    rs.write_bytes(rs.read_bytes()[: rs.stat().st_size * 2 // 3])
    assert_input_error(capsys, ["dvh", str(folder)], rs.name, "truncated")


def test_non_dicom_only(tmp_path, capsys):
    (tmp_path / "plan.dcm").write_text("this is not DICOM\n")
    assert_input_error(capsys, ["dvh", str(tmp_path)], "plan.dcm", "no DICOM files found")
    assert_input_error(capsys, ["dvh", str(tmp_path / "plan.dcm")], "plan.dcm", "no DICOM files found")


def test_missing_structure_set(tmp_path, capsys):
    folder = _copy(tmp_path)
    _file(folder, "RS").unlink()
    assert_input_error(capsys, ["dvh", str(folder)], "missing structure set")


def test_missing_dose(tmp_path, capsys):
    folder = _copy(tmp_path)
    _file(folder, "RD").unlink()
    assert_input_error(capsys, ["dvh", str(folder)], "RP.SBRT_T8.dcm", "missing dose")


def test_structure_set_on_another_frame_of_reference(tmp_path, capsys):
    folder = _copy(tmp_path)
    _file(folder, "RP").unlink()
    rs = _file(folder, "RS")
    ds = pydicom.dcmread(rs)
    ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.4.5"
    for item in ds.StructureSetROISequence:
        item.ReferencedFrameOfReferenceUID = "1.2.3.4.5"
    ds.save_as(rs)
    assert_input_error(capsys, ["dvh", str(folder)], "RD.SBRT_T8.dcm", "another frame of reference")


def test_referenced_structure_set_on_another_frame_of_reference(tmp_path, capsys):
    folder = _copy(tmp_path)
    rs = _file(folder, "RS")
    ds = pydicom.dcmread(rs)
    ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.4.5"
    ds.save_as(rs)
    assert_input_error(capsys, ["dvh", str(folder)], "frame of reference 1.2.3.4.5")


def test_relative_dose_units(tmp_path, capsys):
    folder = _copy(tmp_path)
    rd = _file(folder, "RD")
    ds = pydicom.dcmread(rd)
    ds.DoseUnits = "RELATIVE"
    ds.save_as(rd)
    assert_input_error(capsys, ["dvh", str(folder)], rd.name, "RELATIVE")


def test_oblique_grid(tmp_path, capsys):
    folder = _copy(tmp_path)
    rd = _file(folder, "RD")
    ds = pydicom.dcmread(rd)
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    ds.ImageOrientationPatient = [c, s, 0.0, -s, c, 0.0]
    ds.save_as(rd)
    assert_input_error(capsys, ["dvh", str(folder)], rd.name, "oblique")


def test_empty_and_missing_directory(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_input_error(capsys, ["dvh", str(empty)], str(empty), "empty")
    assert_input_error(capsys, ["dvh", str(tmp_path / "nope")], "nope", "no such file or directory")


@pytest.mark.parametrize("metric", ["D95", "D95%", "V20Gy", "D95%[cGy]", "X20[Gy]", "D120%[Gy]", "V20Gy[Gy]"])
def test_malformed_metric(capsys, metric):
    assert_input_error(capsys, ["dvh", str(SBRT), "--metric", metric], repr(metric))


def test_unknown_structure(capsys):
    assert_input_error(capsys, ["dvh", str(SBRT), "--structure", "Liver"], "'Liver'", "SpinalCord")


def test_usage_error(capsys):
    assert_input_error(capsys, ["dvh", str(SBRT), "--format", "xml"], "usage")
    assert_input_error(capsys, [], "")


def test_malformed_contour_keeps_exit_0_and_names_the_roi(tmp_path, capsys):
    folder = _copy(tmp_path)
    rs = _file(folder, "RS")
    ds = pydicom.dcmread(rs)
    ds.ROIContourSequence[2].ContourSequence[3].ContourData = list(ds.ROIContourSequence[2].ContourSequence[3].ContourData)[:-2]
    ds.save_as(rs)
    code, out, err = run(capsys, "dvh", str(folder), "--format", "json")
    assert code == 0
    assert "SpinalCord" in err and "not a multiple of 3" in err
    cord = next(s for s in json.loads(out)["plans"][0]["structures"] if s["name"] == "SpinalCord")
    assert cord["error"] and cord["dmax_gy"] is None
