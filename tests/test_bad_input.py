"""Bad and hostile input at the door: each broken value is refused with the file, attribute and value named (exit 2).

The expected outcome of every case is written from PS3.3 and the issue, before running:
a file whose content cannot give a trustworthy figure is an input error, never a
figure, never an internal error.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.tag import Tag

from conftest import TEST_DATA
from sbrt_qa.cli.main import main

SBRT = TEST_DATA / "sbrt_thoracic_spine"


def copy_plan(tmp_path: Path) -> Path:
    dst = tmp_path / "plan"
    shutil.copytree(SBRT, dst)
    return dst


def member(folder: Path, prefix: str) -> Path:
    return next(p for p in folder.iterdir() if p.name.startswith(prefix))


def edit(folder: Path, prefix: str, change) -> Path:
    path = member(folder, prefix)
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def set_raw(ds, keyword: str, text: str) -> None:
    """Write an attribute's value bytes as they stand, bypassing pydicom's validation."""
    tag = Tag(tag_for_keyword(keyword))
    if dictionary_VR(tag) == "US":
        raw = struct.pack("<H", int(text))
        ds[tag] = RawDataElement(tag, "US", 2, raw, 0, True, True)
        return
    raw = text.encode("latin-1")
    if len(raw) % 2:
        raw += b" "
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, True, True)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, folder: Path, *words: str, command: str = "dvh") -> str:
    """Run a command; assert exit 2 with a message naming every word (and no internal error)."""
    code, out, err = run(capsys, command, folder)
    assert code == 2, (code, out[-500:], err)
    assert "internal error" not in err
    for word in words:
        assert word in err, (word, err)
    return err


# --- RT Dose -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keyword, text, words",
    [
        ("DoseGridScaling", "-0.0008", ["DoseGridScaling", "-0.0008"]),
        ("DoseGridScaling", "0", ["DoseGridScaling", "0"]),
        ("DoseGridScaling", "nan", ["DoseGridScaling", "nan", "finite"]),
        ("DoseGridScaling", "1e999", ["DoseGridScaling", "1e999", "finite"]),
        ("DoseGridScaling", "abc", ["DoseGridScaling", "abc", "not numeric"]),
        ("DoseType", "ERROR", ["DoseType", "ERROR"]),
        ("ImagePositionPatient", "0\\0", ["ImagePositionPatient", "2 value", "3 expected"]),
        ("ImagePositionPatient", "nan\\0\\0", ["ImagePositionPatient", "finite"]),
        ("ImagePositionPatient", "1e308\\0\\0", ["ImagePositionPatient", "origin"]),
        ("ImageOrientationPatient", "1\\0\\0\\0\\1", ["ImageOrientationPatient", "5 value", "6 expected"]),
        ("ImageOrientationPatient", "inf\\0\\0\\0\\1\\0", ["ImageOrientationPatient", "finite"]),
        ("PixelSpacing", "0\\2.5", ["PixelSpacing", "0 mm"]),
        ("PixelSpacing", "-2.5\\2.5", ["PixelSpacing", "-2.5"]),
        ("PixelSpacing", "1e308\\2.5", ["PixelSpacing", "1e+308"]),
        ("GridFrameOffsetVector", "", ["GridFrameOffsetVector", "empty"]),
        ("NumberOfFrames", "0", ["NumberOfFrames", "below 1"]),
        ("NumberOfFrames", "1", ["PixelData", "NumberOfFrames 1"]),
        ("NumberOfFrames", "abc", ["NumberOfFrames", "abc"]),
        ("NumberOfFrames", "1000000000", ["NumberOfFrames", "voxels"]),
        ("Rows", "0", ["Rows", "below 1"]),
    ],
)
def test_broken_dose_header_is_refused_naming_attribute_and_value(tmp_path, capsys, keyword, text, words):
    folder = copy_plan(tmp_path)
    path = edit(folder, "RD", lambda ds: set_raw(ds, keyword, text))
    refused(capsys, folder, path.name, *words)


@pytest.mark.parametrize("keyword", ["DoseGridScaling", "DoseType", "GridFrameOffsetVector"])
def test_missing_dose_attribute_is_refused(tmp_path, capsys, keyword):
    folder = copy_plan(tmp_path)
    path = edit(folder, "RD", lambda ds: delattr(ds, keyword))
    refused(capsys, folder, path.name, keyword)


def test_frames_far_apart_are_refused(tmp_path, capsys):
    def far(ds):
        offsets = [float(v) for v in ds.GridFrameOffsetVector]
        offsets[-1] = 1e300
        set_raw(ds, "GridFrameOffsetVector", "\\".join(f"{v:g}" for v in offsets))

    folder = copy_plan(tmp_path)
    path = edit(folder, "RD", far)
    refused(capsys, folder, path.name, "GridFrameOffsetVector", "1e+300")


def test_negative_stored_dose_is_refused(tmp_path, capsys):
    """Signed pixel data holding a negative value: a dose is never negative."""

    def signed(ds):
        pixels = ds.pixel_array.astype(np.int64)
        pixels.flat[0] = -5
        ds.PixelRepresentation = 1
        ds.PixelData = pixels.astype(np.int16 if ds.BitsAllocated == 16 else np.int32).tobytes()

    folder = copy_plan(tmp_path)
    path = edit(folder, "RD", signed)
    refused(capsys, folder, path.name, "negative dose")


def test_absurd_maximum_dose_is_refused(tmp_path, capsys):
    folder = copy_plan(tmp_path)
    path = edit(folder, "RD", lambda ds: set_raw(ds, "DoseGridScaling", "1000"))
    refused(capsys, folder, path.name, "DoseGridScaling", "Gy")


def test_effective_dose_is_read(tmp_path, capsys):
    folder = copy_plan(tmp_path)
    edit(folder, "RD", lambda ds: setattr(ds, "DoseType", "EFFECTIVE"))
    code, out, err = run(capsys, "dvh", folder)
    assert code == 0, err


# --- RT Structure Set --------------------------------------------------------------------


def roi_item(ds, name: str):
    return next(r for r in ds.StructureSetROISequence if r.ROIName == name)


def contour_of(ds, name: str, index: int = 0):
    number = int(roi_item(ds, name).ROINumber)
    rc = next(r for r in ds.ROIContourSequence if int(r.ReferencedROINumber) == number)
    return rc.ContourSequence[index]


def set_point(ds, name: str, value: str, coordinate: int = 0) -> None:
    """Replace one coordinate of the first point of a ROI's first contour by a raw DS text."""
    item = contour_of(ds, name)
    values = [f"{float(v):g}" for v in item.ContourData]
    values[coordinate] = value
    set_raw(item, "ContourData", "\\".join(values))


def set_plane(ds, name: str, z: str) -> None:
    """Move a ROI's first contour to the plane z (a raw DS text)."""
    item = contour_of(ds, name)
    values = [f"{float(v):g}" for v in item.ContourData]
    values[2::3] = [z] * (len(values) // 3)
    set_raw(item, "ContourData", "\\".join(values))


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda ds: set_point(ds, "SpinalCord", "1e9"), ["SpinalCord", "ContourData x = 1e+09", "from the dose grid"]),
        (lambda ds: set_point(ds, "SpinalCord", "1e999"), ["SpinalCord", "inf", "not a finite coordinate"]),
        (lambda ds: set_point(ds, "SpinalCord", "-1e999", 1), ["SpinalCord", "-inf", "not a finite coordinate"]),
        (lambda ds: set_plane(ds, "SpinalCord", "1e8"), ["SpinalCord", "ContourData z = 1e+08"]),
        (lambda ds: delattr(roi_item(ds, "Heart"), "ROINumber"), ["StructureSetROISequence item 7 ('Heart')", "ROINumber is missing"]),
        (lambda ds: set_raw(roi_item(ds, "Heart"), "ROINumber", "seven"), ["('Heart')", "ROINumber", "seven"]),
        (lambda ds: set_raw(ds.ROIContourSequence[2], "ReferencedROINumber", "x3"), ["ROIContourSequence item 3", "ReferencedROINumber", "x3"]),
        # found by the hypothesis test: an empty ReferencedROINumber was an internal error
        (lambda ds: set_raw(ds.ROIContourSequence[2], "ReferencedROINumber", ""), ["ROIContourSequence item 3", "ReferencedROINumber", "empty"]),
    ],
)
def test_broken_structure_set_is_refused(tmp_path, capsys, change, words):
    folder = copy_plan(tmp_path)
    path = edit(folder, "RS", change)
    refused(capsys, folder, path.name, *words)
    refused(capsys, folder, path.name, *words, command="check")


def test_a_contour_within_reach_of_the_grid_is_read(tmp_path, capsys):
    """A point 1 m beyond the grid is within the 2 m reach: read, and reported as outside the grid."""
    folder = copy_plan(tmp_path)
    edit(folder, "RS", lambda ds: set_point(ds, "Heart", "1000"))
    code, out, err = run(capsys, "dvh", folder, "--format", "json", "--structure", "Heart")
    assert code == 0, err
    assert "outside the dose grid" in out


def test_duplicate_roi_numbers_give_no_figures_and_no_pass(tmp_path, capsys):
    """The heart takes the cord's ROI Number: which contours are whose cannot be known.

    Neither ROI may get figures (before, the heart got the cord's), and the check cannot pass.
    """

    def clash(ds):
        for seq, attr in ((ds.StructureSetROISequence, "ROINumber"), (ds.ROIContourSequence, "ReferencedROINumber"),
                          (ds.RTROIObservationsSequence, "ReferencedROINumber")):
            for item in seq:
                if int(getattr(item, attr)) == 7:
                    setattr(item, attr, 3)

    folder = copy_plan(tmp_path)
    edit(folder, "RS", clash)
    code, out, err = run(capsys, "dvh", folder, "--format", "json")
    assert code == 0, err
    import json

    structures = {s["name"]: s for s in json.loads(out)["plans"][0]["structures"]}
    for name in ("SpinalCord", "Heart"):
        assert structures[name]["dmax_gy"] is None and "ROI Number 3 is shared" in structures[name]["error"]
    assert structures["PTV"]["dmax_gy"] is not None
    code, out, err = run(capsys, "check", folder, "--format", "json")
    assert code == 1 and json.loads(out)["plans"][0]["status"] != "pass"


# --- RT Plan -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda ds: set_raw(ds.FractionGroupSequence[0], "NumberOfFractionsPlanned", "five"), ["NumberOfFractionsPlanned", "five"]),
        (lambda ds: set_raw(ds.FractionGroupSequence[0], "NumberOfFractionsPlanned", "-5"), ["NumberOfFractionsPlanned", "-5"]),
        (lambda ds: set_raw(ds.BeamSequence[0], "BeamNumber", "one"), ["BeamSequence item 1", "BeamNumber", "one"]),
        (lambda ds: set_raw(ds.DoseReferenceSequence[1], "TargetPrescriptionDose", "35Gy"), ["DoseReferenceSequence item 2", "TargetPrescriptionDose", "35Gy"]),
        (lambda ds: set_raw(ds.DoseReferenceSequence[1], "TargetPrescriptionDose", "inf"), ["TargetPrescriptionDose", "finite"]),
        (lambda ds: set_raw(ds.FractionGroupSequence[0].ReferencedBeamSequence[0], "BeamDose", "nan"), ["BeamDose", "finite"]),
    ],
)
def test_broken_plan_numbers_are_refused(tmp_path, capsys, change, words):
    folder = copy_plan(tmp_path)
    path = edit(folder, "RP", change)
    refused(capsys, folder, path.name, *words, command="check")


def test_zero_prescription_is_reported_not_dropped(tmp_path, capsys):
    folder = copy_plan(tmp_path)
    edit(folder, "RP", lambda ds: set_raw(ds.DoseReferenceSequence[1], "TargetPrescriptionDose", "0"))
    code, out, err = run(capsys, "check", folder)
    assert "TargetPrescriptionDose" in out and "not a dose > 0" in out


# --- truncation and deflate --------------------------------------------------------------


def top_level_starts(path: Path) -> list[tuple[int, int]]:
    """(tag, byte offset where the element starts) of each top-level element after the file meta."""
    ds = pydicom.dcmread(path)
    implicit = ds.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian
    starts = []
    for tag in ds.keys():
        elem = ds.get_item(tag)
        header = 8 if implicit else (12 if elem.VR in ("OB", "OW", "SQ", "UN", "UT", "OF", "UC", "UR") else 8)
        starts.append((int(tag), elem.value_tell - header))
    return starts


@pytest.mark.parametrize("prefix, last_required", [("RP", 0x300C0060), ("RS", 0x30060080)])
def test_a_cut_between_top_level_elements_is_truncation(tmp_path, capsys, prefix, last_required):
    """Cut exactly before each top-level element: every cut that loses a required attribute is refused."""
    folder = copy_plan(tmp_path)
    path = member(folder, prefix)
    whole = path.read_bytes()
    cuts = [(tag, start) for tag, start in top_level_starts(path) if tag >= 0x30000000 and tag <= last_required]
    assert len(cuts) >= 3
    for tag, start in cuts:
        path.write_bytes(whole[:start])
        err = refused(capsys, folder, path.name, "truncated")
        assert "the file ends" in err, (hex(tag), err)
    path.write_bytes(whole)
    assert run(capsys, "dvh", folder)[0] == 0


def test_deflated_files_are_read_like_the_originals(tmp_path, capsys):
    folder = copy_plan(tmp_path)
    code, before, err = run(capsys, "dvh", folder, "--format", "json")
    assert code == 0, err
    for prefix in ("RD", "RS", "RP"):
        path = member(folder, prefix)
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        ds.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=True)
    code, after, err = run(capsys, "dvh", folder, "--format", "json")
    assert code == 0, err
    import json

    assert json.loads(after)["plans"][0]["structures"] == json.loads(before)["plans"][0]["structures"]


def test_a_truncated_deflated_file_is_refused(tmp_path, capsys):
    folder = copy_plan(tmp_path)
    path = member(folder, "RS")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    refused(capsys, folder, path.name)


# --- special files -----------------------------------------------------------------------


def run_cli(*argv, timeout: float = 120) -> "subprocess.CompletedProcess":
    """The CLI in a child process, so that a hang fails the test instead of stopping the suite."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-m", "sbrt_qa", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_fifo_socket_and_dangling_link_are_skipped_with_notes(tmp_path):
    import os
    import socket

    folder = copy_plan(tmp_path)
    os.mkfifo(folder / "pipe.dcm")
    (folder / "gone.dcm").symlink_to(folder / "nowhere.dcm")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.path.relpath(folder / "s.sock"))  # relative: AF_UNIX paths are limited to about 100 bytes
        bound = True
    except OSError:
        bound = False
    finally:
        sock.close()
    done = run_cli("dvh", folder, "--format", "json")
    assert done.returncode == 0, done.stderr
    import json

    notes = " | ".join(json.loads(done.stdout)["notes"])
    assert "FIFO" in notes and "pipe.dcm" in notes
    assert "symbolic link that leads nowhere" in notes and "gone.dcm" in notes
    assert not bound or ("socket" in notes and "s.sock" in notes)
    done = run_cli("check", folder)
    assert done.returncode in (0, 1) and "internal error" not in done.stderr


def test_a_fifo_given_as_the_input_is_refused(tmp_path):
    import os

    fifo = tmp_path / "plan.dcm"
    os.mkfifo(fifo)
    done = run_cli("dvh", fifo)
    assert done.returncode == 2 and "FIFO" in done.stderr and "internal error" not in done.stderr
