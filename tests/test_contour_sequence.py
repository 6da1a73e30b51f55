"""The direct ROIContourSequence reader against pydicom's own parse of the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from sbrt_qa.load import rtstruct
from sbrt_qa.load.contour_sequence import read_roi_contours
from sbrt_qa.load.discovery import discover
from sbrt_qa.load.rtstruct import ROI_CONTOUR_SEQUENCE, read_structure_set
from sbrt_qa.synthetic import dicom_factory as f

from conftest import SHARED_DATA, TEST_DATA

CONTOUR_DATA = 0x30060050


def _structure_set_files() -> list[Path]:
    files = sorted(TEST_DATA.glob("*/RS*.dcm"))
    for pattern in ("dicompyler-example/rtss.dcm", "raystation-srs-imrt/RS*.dcm", "nelms2015/structures/*.dcm"):
        files += sorted(SHARED_DATA.glob(pattern))
    files.append(Path(get_testdata_file("rtstruct.dcm")))
    return files


def _pydicom_contours(ds: Dataset) -> dict[int, list[tuple[str, bytes | None]]]:
    """What pydicom itself makes of the sequence: the reference."""
    out = {}
    for rc in ds.ROIContourSequence:
        if "ReferencedROINumber" not in rc:
            continue
        contours = []
        for item in rc.get("ContourSequence", []):
            raw = item.get_item(CONTOUR_DATA).value if CONTOUR_DATA in item else None
            contours.append((str(item.get("ContourGeometricType", "")).strip().upper(), raw))
        out[int(rc.ReferencedROINumber)] = contours
    return out


def _fast(path: Path):
    element = pydicom.dcmread(path, stop_before_pixels=True, force=True).get_item(ROI_CONTOUR_SEQUENCE)
    if not isinstance(element.value, bytes):
        return None  # an undefined-length sequence, which pydicom parses as it reads the file
    return read_roi_contours(element.value, element.is_implicit_VR, element.is_little_endian)


def test_same_contours_as_pydicom() -> None:
    """Every structure set at hand whose sequence pydicom leaves encoded: test data, real exports."""
    compared = []
    for path in _structure_set_files():
        fast = _fast(path)
        if fast is None:
            continue
        assert fast == _pydicom_contours(pydicom.dcmread(path, force=True)), path
        assert sum(len(c) for c in fast.values()) > 0
        compared.append(path.name)
    assert len(compared) >= len(list(TEST_DATA.glob("*/RS*.dcm")))
    print(f"{len(compared)} structure sets read alike: {', '.join(compared)}")


def _synthetic_structure_set() -> Dataset:
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    rois = [
        f.RoiSpec("PTV", 1, "PTV", contours=[(z, square + z) for z in (0.0, 2.0, 4.0)]),
        f.RoiSpec("Marker", 2, "MARKER", points=[(1.0, 2.0, 3.0)]),
        f.RoiSpec("Empty", 3, "ORGAN"),
    ]
    return f.rtstruct(rois, f.Patient("CS1"))


def _with_nested_undefined_lengths(ds: Dataset) -> Dataset:
    """Contour items of undefined length, each with an undefined-length ContourImageSequence."""
    for rc in ds.ROIContourSequence:
        for item in rc.get("ContourSequence", []):
            image = Dataset()
            image.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            image.ReferencedSOPInstanceUID = f.uid("ct" + str(item.ContourData[2]))
            item.ContourImageSequence = Sequence([image])
            item["ContourImageSequence"].is_undefined_length = True
            item.is_undefined_length_sequence_item = True
            image.is_undefined_length_sequence_item = True
    return ds


@pytest.mark.parametrize("syntax", ["implicit", "explicit"])
@pytest.mark.parametrize("nested", [False, True], ids=["defined", "undefined-nested"])
def test_encodings(tmp_path: Path, syntax: str, nested: bool) -> None:
    ds = _synthetic_structure_set()
    if nested:
        ds = _with_nested_undefined_lengths(ds)
    path = tmp_path / "RS.dcm"
    if syntax == "explicit":
        f.save(ds, path, ExplicitVRLittleEndian)
    else:
        f.save(ds, path)
    fast = _fast(path)
    assert fast == _pydicom_contours(pydicom.dcmread(path))
    # the hand-written content, independently of either reader
    assert [kind for kind, _ in fast[1]] == ["CLOSED_PLANAR"] * 3
    assert fast[2] == [("POINT", b"1\\2\\3 ")]  # padded to an even length
    assert fast[3] == []


def test_steps_aside_for_what_it_does_not_read() -> None:
    raw = pydicom.dcmread(TEST_DATA / "sbrt_thoracic_spine" / "RS.SBRT_T8.dcm").get_item(ROI_CONTOUR_SEQUENCE).value
    assert read_roi_contours(raw, True, little_endian=False) is None
    assert read_roi_contours(raw[:-7], True) is None  # cut inside an item
    assert read_roi_contours(b"\x00\x00\x00\x00" + raw[4:], True) is None  # not an item tag
    assert read_roi_contours(raw, False) is None  # read as explicit VR, the lengths make no sense


def test_structure_set_identical_through_either_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    rs = next(o for o in discover([TEST_DATA / "sbrt_thoracic_spine"]).objects if o.kind == "RTSTRUCT")
    fast = read_structure_set(rs)
    monkeypatch.setattr(rtstruct, "read_roi_contours", lambda *a, **k: None)
    slow = read_structure_set(rs)
    assert [r.name for r in fast.rois] == [r.name for r in slow.rois]
    for a, b in zip(fast.rois, slow.rois):
        assert a.geometry == b.geometry
        np.testing.assert_array_equal(a.xy, b.xy)
        np.testing.assert_array_equal(a.plane_z, b.plane_z)
        np.testing.assert_array_equal(a.contour_offsets, b.contour_offsets)
        np.testing.assert_array_equal(a.plane_offsets, b.plane_offsets)
        assert a.errors == b.errors
