"""RT Structure Set: ROIs as planar polygons, packed flat for the DVH engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from ..errors import InputError
from .contour_sequence import Contour, read_roi_contours
from . import validate
from .decimal_strings import parse_ds_bytes, parse_ds_values, raw_value
from .discovery import DicomObject

#: Contours whose z differs by less than this (mm) lie on one plane.
PLANE_TOLERANCE_MM = 0.01
ROI_CONTOUR_SEQUENCE = BaseTag(0x30060039)


@dataclass
class ROI:
    """One ROI of a structure set.

    Closed planar contours are packed flat: ``xy[contour_offsets[c]:contour_offsets[c+1]]``
    are the vertices of contour c, and ``plane_offsets[p]:plane_offsets[p+1]`` are the
    contours on the plane at ``plane_z[p]`` (sorted increasing). Several contours on one
    plane combine by the even-odd rule (holes and islands).

    Attributes
    ----------
    number : int
        ROI Number.
    name : str
        ROI Name exactly as in the structure set.
    interpreted_type : str or None
        RT ROI Interpreted Type (PTV, ORGAN, EXTERNAL, ...).
    geometry : str
        ``CLOSED_PLANAR``, ``POINT``, ``EMPTY`` or ``OTHER`` (open contours only).
    errors : list of str
        Problems that stop a DVH for this ROI (a malformed contour).
    notes : list of str
        Remarks that do not (ignored open contours).
    """

    number: int
    name: str
    interpreted_type: str | None
    geometry: str
    plane_z: np.ndarray = field(repr=False)
    xy: np.ndarray = field(repr=False)
    contour_offsets: np.ndarray = field(repr=False)
    plane_offsets: np.ndarray = field(repr=False)
    points: np.ndarray = field(repr=False)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_contours(self) -> int:
        return int(self.contour_offsets.size - 1)


@dataclass
class StructureSet:
    """The ROIs of one RT Structure Set."""

    sop_instance_uid: str
    frame_of_reference_uid: str | None
    label: str
    path: Path
    rois: list[ROI]

    def contour_spacing(self) -> float | None:
        """The usual distance (mm) between contour planes: the median over all ROIs."""
        steps = [np.diff(r.plane_z) for r in self.rois if r.plane_z.size > 1]
        if not steps:
            return None
        all_steps = np.concatenate(steps)
        all_steps = all_steps[all_steps > PLANE_TOLERANCE_MM]
        return float(np.median(all_steps)) if all_steps.size else None


def _empty(number: int, name: str, interpreted: str | None, geometry: str) -> ROI:
    return ROI(
        number,
        name,
        interpreted,
        geometry,
        np.empty(0),
        np.empty((0, 2)),
        np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.empty((0, 3)),
    )


def _read_roi(number: int, name: str, interpreted: str | None, contours: list[Contour]) -> ROI:
    closed: list[tuple[float, np.ndarray]] = []
    points: list[np.ndarray] = []
    errors: list[str] = []
    open_count = 0
    raws: list[bytes] = []
    kinds: list[tuple[int, str]] = []
    for index, (geometric_type, raw) in enumerate(contours, start=1):
        if not raw or not raw.strip(b" \x00"):
            continue
        raws.append(raw)
        kinds.append((index, geometric_type))
    if raws:
        # One parse for the whole ROI: per-contour parsing costs more than the parse itself.
        try:
            flat, counts = parse_ds_values(raws)
        except ValueError:
            flat, counts = None, None
        z_spread = None
        if flat is not None:
            offsets = np.concatenate([[0], np.cumsum(counts)])
            if not np.any(counts % 3):  # then every third value is a z, and each contour's z extent is one reduceat
                starts = offsets[:-1] // 3
                z_spread = np.maximum.reduceat(flat[2::3], starts) - np.minimum.reduceat(flat[2::3], starts)
        for k, (index, geometric_type) in enumerate(kinds):
            if flat is not None:
                data = flat[offsets[k] : offsets[k + 1]]
            else:
                try:
                    data = parse_ds_bytes(raws[k])
                except ValueError as exc:
                    errors.append(f"contour {index}: ContourData is not numeric ({exc})")
                    continue
            if data.size % 3:
                errors.append(f"contour {index}: ContourData has {data.size} values, not a multiple of 3")
                continue
            xyz = data.reshape(-1, 3)
            if geometric_type == "POINT":
                points.append(xyz)
                continue
            if geometric_type != "CLOSED_PLANAR":
                open_count += 1
                continue
            if xyz.shape[0] < 3:
                errors.append(f"contour {index}: a closed planar contour needs at least 3 points, has {xyz.shape[0]}")
                continue
            spread = float(z_spread[k]) if z_spread is not None else float(np.ptp(xyz[:, 2]))
            if spread > PLANE_TOLERANCE_MM:
                errors.append(f"contour {index}: not on an axial plane (z varies by {spread:.3g} mm)")
                continue
            closed.append((float(xyz[0, 2]), xyz[:, :2]))
    notes = [f"{open_count} open contour(s) ignored"] if open_count else []
    if not closed:
        if points:
            roi = _empty(number, name, interpreted, "POINT")
            roi.points = np.concatenate(points)
        else:
            roi = _empty(number, name, interpreted, "EMPTY" if not open_count else "OTHER")
        roi.errors, roi.notes = errors, notes
        return roi
    closed.sort(key=lambda c: c[0])
    zs = np.array([c[0] for c in closed])
    # A new plane starts wherever z moves by more than the tolerance.
    new_plane = np.concatenate([[True], np.diff(zs) > PLANE_TOLERANCE_MM])
    plane_starts = np.flatnonzero(new_plane)
    counts = np.array([c[1].shape[0] for c in closed], dtype=np.int64)
    roi = ROI(
        number=number,
        name=name,
        interpreted_type=interpreted,
        geometry="CLOSED_PLANAR",
        plane_z=zs[plane_starts].copy(),
        xy=np.ascontiguousarray(np.concatenate([c[1] for c in closed]), dtype=np.float64),
        contour_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        plane_offsets=np.concatenate([plane_starts, [len(closed)]]).astype(np.int64),
        points=np.concatenate(points) if points else np.empty((0, 3)),
        errors=errors,
        notes=notes,
    )
    return roi


def _roi_contours(ds: Dataset) -> dict[int, list[Contour]]:
    """ReferencedROINumber -> (ContourGeometricType, undecoded ContourData) of each contour item."""
    element = ds.get_item(ROI_CONTOUR_SEQUENCE)
    if isinstance(element, RawDataElement) and isinstance(element.value, bytes):
        fast = read_roi_contours(element.value, element.is_implicit_VR, element.is_little_endian)
        if fast is not None:
            return fast
    contours: dict[int, list[Contour]] = {}
    for rc in ds.get("ROIContourSequence", []):
        if "ReferencedROINumber" in rc:
            contours[int(rc.ReferencedROINumber)] = [
                (str(item.get("ContourGeometricType", "")).strip().upper(), raw_value(item))
                for item in rc.get("ContourSequence", []) or []
            ]
    return contours


def read_structure_set(obj: DicomObject) -> StructureSet:
    """Read every ROI of an RT Structure Set.

    Parameters
    ----------
    obj : DicomObject
        An object of kind RTSTRUCT (its header holds the whole data set).

    Returns
    -------
    StructureSet
    """
    ds = obj.dataset
    if "StructureSetROISequence" not in ds:
        raise InputError("RT Structure Set without StructureSetROISequence", obj.path)
    numbers = validate.roi_numbers(ds, obj.path)
    interpreted: dict[int, str | None] = {}
    for obs in ds.get("RTROIObservationsSequence", []):
        if "ReferencedROINumber" in obs:
            value = obs.get("RTROIInterpretedType")
            interpreted[int(obs.ReferencedROINumber)] = validate.text(value).strip() or None if value is not None else None
    contours = _roi_contours(ds)
    rois = []
    for number, item in zip(numbers, ds.StructureSetROISequence):
        name = validate.text(item.get("ROIName")).strip() or f"ROI {number}"
        roi = _read_roi(number, name, interpreted.get(number), contours.get(number, []))
        validate.roi_coordinates(roi, obj.path)
        rois.append(roi)
    for index, problem in validate.duplicate_numbers([(r.number, r.name) for r in rois]).items():
        rois[index].errors.append(problem)
    return StructureSet(
        sop_instance_uid=obj.sop_instance_uid,
        frame_of_reference_uid=obj.frame_of_reference_uid,
        label=validate.text(ds.get("StructureSetLabel")),
        path=obj.path,
        rois=rois,
    )
