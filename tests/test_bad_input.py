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
