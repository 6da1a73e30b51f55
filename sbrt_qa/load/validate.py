"""Validation at the door: every number the engine uses is checked where it is read.

A file's content is never a reason for an internal error or for a figure computed
from nonsense. Each check raises :class:`~sbrt_qa.errors.InputError` naming the
file, the attribute and the value, so the user sees one clear line (exit 2).

The bounds below are engineering limits, not clinical numbers: each is far beyond
anything a planning system writes for a patient and exists so that a corrupt or
hostile value is refused instead of driving memory or time without limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..errors import InputError

#: Largest distance (mm) a contour point may lie from the dose grid along any axis. A patient
#: is shorter than 2 m and the dose grid covers part of the patient: any real contour is
#: nearer. A point further away is a corrupt coordinate (x = 1e9 mm).
CONTOUR_REACH_MM = 2000.0
#: Largest |coordinate| (mm) of a dose voxel centre: 10 m from the patient-coordinate origin,
#: beyond any scanner bore or treatment room; frames 1e300 mm apart are refused.
COORDINATE_LIMIT_MM = 10_000.0
#: Voxel spacing (mm) accepted for a dose grid: 1 um to 1 m.
SPACING_RANGE_MM = (1e-3, 1000.0)
#: Highest dose (Gy) accepted in a grid. No radiotherapy dose distribution reaches it; a grid
#: that does has a wrong DoseGridScaling or DoseUnits. It also bounds the DVH histogram
#: (one bin per 0.01 Gy).
MAX_DOSE_GY = 1000.0
#: Most voxels a dose grid may claim (2**27: 0.5 GB as float32; a 1 mm grid over 50 cm x 50 cm
#: x 50 cm has 1.25e8). Checked before the pixel data is decoded.
MAX_DOSE_VOXELS = 2**27
#: DoseType values whose figures are a dose in Gy (PS3.3 C.8.8.3): ERROR is an uncertainty.
DOSE_TYPES = ("PHYSICAL", "EFFECTIVE")


def shown(value: object, limit: int = 40) -> str:
    """A value as a message shows it: repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raw(ds: Dataset, keyword: str) -> object:
    """The element's value, or its text if pydicom cannot convert it."""
    try:
        return ds[keyword].value
    except Exception:  # noqa: BLE001 - any decoding failure is reported below with the raw bytes
        elem = ds.get_item(keyword)
        return getattr(elem, "value", None)


def numbers(ds: Dataset, keyword: str, path: str | Path | None, count: int | None = None, *, where: str = "") -> np.ndarray:
    """A numeric attribute's values as float64, each present, numeric and finite.

    Parameters
    ----------
    ds : Dataset
        The data set (or sequence item) holding the attribute.
    keyword : str
        DICOM keyword, e.g. ``ImagePositionPatient``.
    path : str or Path
        The file, for the message.
    count : int, optional
        The value multiplicity the attribute must have.
    where : str
        Where the item is (``"FractionGroupSequence item 2: "``), for the message.

    Raises
    ------
    InputError
        Absent, empty, not numeric, not finite, or the wrong count.
    """
    if keyword not in ds:
        raise InputError(f"{where}{keyword} is missing", path)
    value = _raw(ds, keyword)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        items: list = value.split("\\") if value.strip() else []
    elif value is None:
        items = []
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise InputError(f"{where}{keyword} is empty", path)
    try:
        out = np.array([float(v) for v in items], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}{keyword} {shown(_text(value))} is not numeric", path) from None
    if not np.all(np.isfinite(out)):
        raise InputError(f"{where}{keyword} {shown(_text(value))} is not a finite number", path)
    if count is not None and out.size != count:
        raise InputError(f"{where}{keyword} has {out.size} value(s) {shown(_text(value))}; {count} expected", path)
    return out


def _text(value: object) -> str:
    """A value as DICOM writes it: multiple values joined by backslashes."""
    if isinstance(value, (str, bytes)):
        return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if isinstance(value, Iterable):
        return "\\".join(str(v) for v in value)
    return str(value)


def text(value: object) -> str:
    """A string attribute as DICOM shows it: several values joined by backslashes (``PTVA\\B``), never a Python list."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)) or (isinstance(value, Iterable) and not isinstance(value, str)):
        return "\\".join(str(v) for v in value)
    return str(value)


def number(ds: Dataset, keyword: str, path: str | Path | None, *, where: str = "") -> float:
    """One finite number (see :func:`numbers`)."""
    return float(numbers(ds, keyword, path, 1, where=where)[0])


def integer(ds: Dataset, keyword: str, path: str | Path | None, *, minimum: int | None = None, where: str = "") -> int:
    """One integer (IS, US, UL ...): present, numeric, whole, and at least ``minimum``."""
    value = number(ds, keyword, path, where=where)
    if value != int(value):
        raise InputError(f"{where}{keyword} {value:g} is not a whole number", path)
    if minimum is not None and value < minimum:
        raise InputError(f"{where}{keyword} {value:g} is below {minimum}", path)
    return int(value)


def optional_integers(items: Iterable[Dataset], keywords: tuple[str, ...], path: str | Path | None, label: str,
                      empty_ok: bool = True) -> None:
    """Integers that may be absent, but when given must be whole numbers (in every item).

    With ``empty_ok=False`` an attribute present with an empty value is refused too (for
    readers that convert whatever is present).
    """
    for k, item in enumerate(items, start=1):
        for keyword in keywords:
            if keyword in item and (not empty_ok or _raw(item, keyword) not in (None, "")):
                integer(item, keyword, path, where=f"{label} item {k}: ")


def optional_numbers(items: Iterable[Dataset], keywords: tuple[str, ...], path: str | Path | None, label: str) -> None:
    """Numbers that may be absent, but when given must be numeric and finite (in every item)."""
    for k, item in enumerate(items, start=1):
        for keyword in keywords:
            if keyword in item and _raw(item, keyword) not in (None, ""):
                numbers(item, keyword, path, where=f"{label} item {k}: ")


def _sequence(ds: Dataset, keyword: str, path: str | Path | None) -> list[Dataset]:
    """A sequence's items, or an InputError if the element is not a sequence."""
    if keyword not in ds:
        return []
    value = _raw(ds, keyword)
    if value is None:
        return []
    try:
        items = list(value)
    except TypeError:
        raise InputError(f"{keyword} is not a sequence", path) from None
    if not all(isinstance(i, Dataset) for i in items):
        raise InputError(f"{keyword} is not a sequence", path)
    return items


# --------------------------------------------------------------------------- RT Dose


def dose_header(ds: Dataset, path: str | Path) -> tuple[int, int, int, float]:
    """Check an RT Dose's header before its pixel data is decoded.

    Returns
    -------
    frames, rows, columns : int
    scaling : float
        DoseGridScaling (> 0).

    Raises
    ------
    InputError
        DoseType other than PHYSICAL or EFFECTIVE; DoseGridScaling missing, not a number or
        not > 0; Rows, Columns or NumberOfFrames not a whole number >= 1; more voxels than
        :data:`MAX_DOSE_VOXELS`; a native pixel data length that does not hold the frames.
    """
    dose_type = str(_raw(ds, "DoseType") or "").strip().upper() if "DoseType" in ds else ""
    if dose_type not in DOSE_TYPES:
        raise InputError(f"DoseType {shown(dose_type) if dose_type else '(missing)'} is not PHYSICAL or EFFECTIVE: "
                         "the grid is not a dose to check", path)
    if "DoseGridScaling" not in ds:
        raise InputError("DoseGridScaling is missing: the stored values cannot be turned into Gy", path)
    scaling = number(ds, "DoseGridScaling", path)
    if not scaling > 0:
        raise InputError(f"DoseGridScaling {scaling:g} is not > 0", path)
    rows = integer(ds, "Rows", path, minimum=1)
    columns = integer(ds, "Columns", path, minimum=1)
    frames = integer(ds, "NumberOfFrames", path, minimum=1) if "NumberOfFrames" in ds else 1
    voxels = rows * columns * frames
    if voxels > MAX_DOSE_VOXELS:
        raise InputError(f"the dose grid claims {frames} x {rows} x {columns} = {voxels} voxels, more than the "
                         f"{MAX_DOSE_VOXELS} sbrt-qa reads (NumberOfFrames, Rows, Columns)", path)
    bits = integer(ds, "BitsAllocated", path, minimum=1) if "BitsAllocated" in ds else None
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    compressed = bool(syntax is not None and getattr(syntax, "is_compressed", False))
    if bits and not compressed and "PixelData" in ds:
        # Native pixel data must hold exactly the frames the header claims (one padding byte
        # allowed): a NumberOfFrames of 1 on 30 frames of data is a mismatch, not one frame.
        have = len(ds.get_item("PixelData").value or b"")
        want = voxels * bits // 8
        if have not in (want, want + 1):
            raise InputError(f"PixelData holds {have} bytes; NumberOfFrames {frames} x Rows {rows} x Columns {columns} "
                             f"at {bits} bits needs {want}", path)
    return frames, rows, columns, scaling


def dose_geometry(ds: Dataset, path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """ImageOrientationPatient (6 values), ImagePositionPatient (3) and PixelSpacing (2 values in range)."""
    iop = numbers(ds, "ImageOrientationPatient", path, 6)
    ipp = numbers(ds, "ImagePositionPatient", path, 3)
    spacing = numbers(ds, "PixelSpacing", path, 2)
    for v in spacing:
        spacing_in_range(float(v), "PixelSpacing", path)
    if np.any(np.abs(ipp) > COORDINATE_LIMIT_MM):
        raise InputError(f"ImagePositionPatient {shown(_text(ipp.tolist()))} lies more than "
                         f"{COORDINATE_LIMIT_MM:g} mm from the patient-coordinate origin", path)
    return iop, ipp, (float(spacing[0]), float(spacing[1]))


def spacing_in_range(value: float, attribute: str, path: str | Path) -> None:
    """A voxel spacing within :data:`SPACING_RANGE_MM`."""
    lo, hi = SPACING_RANGE_MM
    if not lo <= value <= hi:
        raise InputError(f"{attribute} {value:g} mm is not a voxel spacing (must be {lo:g} to {hi:g} mm)", path)


def frame_offsets(ds: Dataset, path: str | Path, frames: int) -> np.ndarray | None:
    """GridFrameOffsetVector: finite, one value per frame (a single frame may omit it).

    A single frame with several offsets is accepted (only the first applies) as the reader
    always has; the pixel data length has already been checked to hold one frame.
    """
    if "GridFrameOffsetVector" not in ds:
        if frames > 1:
            raise InputError(f"GridFrameOffsetVector is missing for {frames} frames", path)
        return None
    offsets = numbers(ds, "GridFrameOffsetVector", path)
    if frames > 1 and offsets.size != frames:
        raise InputError(f"GridFrameOffsetVector has {offsets.size} values for NumberOfFrames {frames}", path)
    return offsets


def slice_thickness(ds: Dataset, path: str | Path) -> float | None:
    """SliceThickness (mm) of a single-frame grid when given (None when absent or empty), in range."""
    if "SliceThickness" not in ds or _raw(ds, "SliceThickness") in (None, ""):
        return None
    value = number(ds, "SliceThickness", path)
    if value == 0:
        return None
    spacing_in_range(value, "SliceThickness", path)
    return value


def grid_coordinates(coords: tuple[np.ndarray, np.ndarray, np.ndarray], path: str | Path) -> None:
    """Voxel-centre coordinates (z, y, x): finite, within the coordinate limit, spacing in range."""
    for name, c in zip(("z", "y", "x"), coords):
        if not np.all(np.isfinite(c)) or np.any(np.abs(c) > COORDINATE_LIMIT_MM):
            worst = float(c[np.argmax(np.abs(np.nan_to_num(c, nan=np.inf)))])
            attribute = "GridFrameOffsetVector" if name == "z" else "ImagePositionPatient/PixelSpacing"
            raise InputError(f"dose voxel {name} = {worst:g} mm ({attribute}) lies more than "
                             f"{COORDINATE_LIMIT_MM:g} mm from the patient-coordinate origin", path)
        if c.size > 1:
            steps = np.abs(np.diff(c))
            small = float(steps.min())
            if small < SPACING_RANGE_MM[0]:
                raise InputError(f"dose frames along {name} only {small:g} mm apart (GridFrameOffsetVector): "
                                 "frames must be distinct", path)


def dose_values(dose: np.ndarray, path: str | Path) -> float:
    """Doses in Gy: finite, non-negative, at most :data:`MAX_DOSE_GY`. Returns the maximum."""
    if dose.size == 0:
        return 0.0
    low = float(dose.min())
    high = float(dose.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError("the dose grid holds values that are not finite (PixelData x DoseGridScaling)", path)
    if low < 0:
        raise InputError(f"the dose grid holds a negative dose {low:g} Gy (PixelData x DoseGridScaling): "
                         "a dose is never negative", path)
    if high > MAX_DOSE_GY:
        raise InputError(f"the dose grid's maximum {high:g} Gy is beyond any radiotherapy dose "
                         f"(limit {MAX_DOSE_GY:g} Gy): check DoseGridScaling and DoseUnits", path)
    return high


def dose_references(ds: Dataset, path: str | Path) -> None:
    """Numbers in ReferencedRTPlanSequence (fraction group and beam numbers) are whole numbers."""
    for plan in _sequence(ds, "ReferencedRTPlanSequence", path):
        groups = _sequence(plan, "ReferencedFractionGroupSequence", path)
        optional_integers(groups, ("ReferencedFractionGroupNumber",), path, "ReferencedFractionGroupSequence")
        for group in groups:
            optional_integers(_sequence(group, "ReferencedBeamSequence", path), ("ReferencedBeamNumber",), path,
                              "ReferencedBeamSequence")


# --------------------------------------------------------------------------- RT Structure Set


def roi_numbers(ds: Dataset, path: str | Path) -> list[int]:
    """ROINumber of every StructureSetROISequence item (present and a whole number), in order.

    ReferencedROINumber in ROIContourSequence and RTROIObservationsSequence must be whole
    numbers too. A ROI Number used twice is not refused here: the ROIs sharing it cannot be
    told apart, which :func:`duplicate_numbers` reports on each of them.
    """
    out = []
    for k, item in enumerate(_sequence(ds, "StructureSetROISequence", path), start=1):
        name = text(item.get("ROIName")) if "ROIName" in item else ""
        label = f"StructureSetROISequence item {k}" + (f" ({name!r})" if name else "") + ": "
        if "ROINumber" not in item:
            raise InputError(f"{label}ROINumber is missing: the ROI cannot be linked to its contours", path)
        out.append(integer(item, "ROINumber", path, where=label))
    for keyword in ("ROIContourSequence", "RTROIObservationsSequence"):
        optional_integers(_sequence(ds, keyword, path), ("ReferencedROINumber",), path, keyword, empty_ok=False)
    return out


def duplicate_numbers(numbers_and_names: list[tuple[int, str]]) -> dict[int, str]:
    """For each index of a ROI whose number another ROI shares, the problem to report on it."""
    by_number: dict[int, list[str]] = {}
    for number, name in numbers_and_names:
        by_number.setdefault(number, []).append(name)
    problems = {}
    for index, (number, name) in enumerate(numbers_and_names):
        names = by_number[number]
        if len(names) > 1:
            others = ", ".join(repr(n) for n in names)
            problems[index] = (f"ROI Number {number} is shared by ROIs {others}: their contours cannot be told "
                               "apart (ROIContourSequence links contours by number); the structure set must be corrected")
    return problems


def roi_coordinates(roi, path: str | Path) -> None:
    """Every coordinate a ROI keeps (contour vertices, plane z, POINT coordinates) is finite."""
    for values in (roi.xy, roi.plane_z, roi.points):
        if values.size and not np.all(np.isfinite(values)):
            bad = float(values[~np.isfinite(values)].flat[0])
            raise InputError(f"ROI {roi.name!r} (ROI Number {roi.number}): ContourData holds {bad!r}, "
                             "not a finite coordinate", path)


def structures_near_grid(rois: Iterable, grid, path: str | Path) -> None:
    """Every contour and POINT coordinate within :data:`CONTOUR_REACH_MM` of the dose grid.

    Parameters
    ----------
    rois : iterable of ROI
        The structure set's ROIs (``xy``, ``plane_z``, ``points``).
    grid : DoseGrid
    path : str or Path
        The structure set file.
    """
    extents = {"x": grid.x_extent, "y": grid.y_extent, "z": grid.z_extent}
    for roi in rois:
        columns = {"x": [roi.xy[:, 0], roi.points[:, 0]], "y": [roi.xy[:, 1], roi.points[:, 1]],
                   "z": [roi.plane_z, roi.points[:, 2]]}
        for axis, arrays in columns.items():
            lo, hi = extents[axis]
            for values in arrays:
                if values.size == 0:
                    continue
                vmin, vmax = float(values.min()), float(values.max())
                for v in (vmin, vmax):
                    distance = max(lo - v, v - hi, 0.0)
                    if distance > CONTOUR_REACH_MM:
                        raise InputError(
                            f"ROI {roi.name!r}: ContourData {axis} = {v:g} mm lies {distance:g} mm from the dose grid "
                            f"({lo:g} to {hi:g} mm); no contour of the patient lies more than {CONTOUR_REACH_MM:g} mm away",
                            path,
                        )


# --------------------------------------------------------------------------- RT Plan


def plan_numbers(ds: Dataset, path: str | Path) -> None:
    """Every number the plan reader uses is numeric and finite where given.

    Fraction counts, group, beam and dose-reference numbers are whole numbers; doses and
    metersets are finite numbers. A TargetPrescriptionDose that is a number but not > 0 is
    not refused: the reader reports it and takes no prescription from it.
    """
    groups = _sequence(ds, "FractionGroupSequence", path)
    optional_integers(groups, ("FractionGroupNumber", "NumberOfFractionsPlanned"), path, "FractionGroupSequence")
    for k, group in enumerate(groups, start=1):
        if "NumberOfFractionsPlanned" in group and _raw(group, "NumberOfFractionsPlanned") not in (None, ""):
            integer(group, "NumberOfFractionsPlanned", path, minimum=0, where=f"FractionGroupSequence item {k}: ")
        refs = _sequence(group, "ReferencedDoseReferenceSequence", path)
        optional_integers(refs, ("ReferencedDoseReferenceNumber",), path, "ReferencedDoseReferenceSequence")
        beams = _sequence(group, "ReferencedBeamSequence", path)
        optional_integers(beams, ("ReferencedBeamNumber",), path, "ReferencedBeamSequence")
        optional_numbers(beams, ("BeamMeterset", "BeamDose"), path, "ReferencedBeamSequence")
    refs = _sequence(ds, "DoseReferenceSequence", path)
    optional_integers(refs, ("DoseReferenceNumber", "ReferencedROINumber"), path, "DoseReferenceSequence")
    optional_numbers(refs, ("TargetPrescriptionDose", "DeliveryMaximumDose", "OrganAtRiskMaximumDose", "TargetMaximumDose",
                            "TargetMinimumDose", "OrganAtRiskFullVolumeDose", "OrganAtRiskLimitDose", "DeliveryWarningDose"),
                     path, "DoseReferenceSequence")
    for keyword, control in (("BeamSequence", "ControlPointSequence"), ("IonBeamSequence", "IonControlPointSequence")):
        beams = _sequence(ds, keyword, path)
        optional_integers(beams, ("BeamNumber",), path, keyword)
        for beam in beams:
            points = _sequence(beam, control, path)
            optional_numbers(points[:1], ("NominalBeamEnergy",), path, control)
