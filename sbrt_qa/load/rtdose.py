"""RT Dose: pixel data to a dose grid in Gy on patient axes.

Whatever the ImageOrientationPatient (HFS, HFP, FFS, FFP, decubitus: any signed
permutation of the patient axes) and whichever way GridFrameOffsetVector runs, the
grid is re-indexed so that array axes are (z, y, x) with coordinates increasing.
The DVH engine then sees one layout only, so every orientation gives the same DVH.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydicom

from ..errors import InputError
from . import validate
from .discovery import DicomObject

if TYPE_CHECKING:
    from .rtplan import PlanInfo

_AXIS_TOL = 1e-4
_SPACING_TOL_MM = 1e-3


@dataclass
class DoseGrid:
    """A dose grid in Gy, indexed [z, y, x] with increasing patient coordinates.

    Attributes
    ----------
    dose_gy : numpy.ndarray
        float32 array, shape (nz, ny, nx).
    x0, y0 : float
        Patient coordinate (mm) of the first voxel centre along x and y.
    dx, dy : float
        Voxel spacing (mm) along x and y.
    z : numpy.ndarray
        Patient z coordinate (mm) of each frame centre, strictly increasing; the
        spacing may vary (GridFrameOffsetVector need not be uniform).
    z_extent : tuple of float
        Lowest and highest z (mm) the grid stands for: half a frame beyond the end frames.
    sop_instance_uids : list of str
        The RT Dose objects this grid was made from (several for a BEAM sum).
    frame_of_reference_uid : str or None
    orientation : str
        ImageOrientationPatient as read, for provenance.
    notes : list of str
        What was done to the dose on the way (scaling by fractions, summation, unit conversion).
    """

    dose_gy: np.ndarray
    x0: float
    y0: float
    dx: float
    dy: float
    z: np.ndarray
    z_extent: tuple[float, float]
    sop_instance_uids: list[str]
    frame_of_reference_uid: str | None
    orientation: str
    dose_type: str
    summation_type: str
    notes: list[str] = field(default_factory=list)
    heterogeneity_correction: tuple[str, ...] = ()
    referenced_plan_uids: tuple[str, ...] = ()
    referenced_fraction_groups: tuple[int, ...] = ()
    referenced_beams: tuple[int, ...] = ()

    @cached_property
    def max_gy(self) -> float:
        """Highest dose in the grid (Gy), computed once."""
        return float(self.dose_gy.max()) if self.dose_gy.size else 0.0

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.dose_gy.shape)  # type: ignore[return-value]

    @property
    def dz(self) -> float:
        """Median frame spacing (mm); for a single frame, the frame's thickness."""
        if self.z.size > 1:
            return float(np.median(np.diff(self.z)))
        return float(self.z_extent[1] - self.z_extent[0])

    @property
    def spacing_mm(self) -> list[float]:
        return [float(self.dx), float(self.dy), self.dz]

    @property
    def voxel_cc(self) -> float:
        """Volume of one voxel (cc), with the median frame spacing."""
        return self.dx * self.dy * self.dz / 1000.0

    @property
    def x_extent(self) -> tuple[float, float]:
        nx = self.dose_gy.shape[2]
        return (self.x0 - self.dx / 2, self.x0 + (nx - 0.5) * self.dx)

    @property
    def y_extent(self) -> tuple[float, float]:
        ny = self.dose_gy.shape[1]
        return (self.y0 - self.dy / 2, self.y0 + (ny - 0.5) * self.dy)

    def same_geometry(self, other: "DoseGrid") -> bool:
        """True when both grids have the same voxel centres (to 1 um)."""
        return (
            self.dose_gy.shape == other.dose_gy.shape
            and abs(self.x0 - other.x0) < _SPACING_TOL_MM
            and abs(self.y0 - other.y0) < _SPACING_TOL_MM
            and abs(self.dx - other.dx) < _SPACING_TOL_MM
            and abs(self.dy - other.dy) < _SPACING_TOL_MM
            and np.allclose(self.z, other.z, atol=_SPACING_TOL_MM)
        )


def _signed_axis(vector: np.ndarray, what: str, path: Path) -> tuple[int, int]:
    """Return (patient axis, sign) of a unit vector that must lie along an axis."""
    axis = int(np.argmax(np.abs(vector)))
    unit = np.zeros(3)
    unit[axis] = np.sign(vector[axis])
    if np.max(np.abs(vector - unit)) > _AXIS_TOL:
        raise InputError(
            f"oblique dose grid: ImageOrientationPatient {what} direction {np.round(vector, 6).tolist()} "
            "is not along a patient axis; only axis-aligned (HFS, HFP, FFS, FFP, decubitus) grids are supported",
            path,
        )
    return axis, int(unit[axis])


def _frame_coordinates(ds: pydicom.Dataset, ipp: np.ndarray, normal_axis: int, normal_sign: int, n_frames: int, path: Path) -> np.ndarray:
    """Patient coordinate along the frame axis of each frame, from GridFrameOffsetVector."""
    if n_frames == 1 and "GridFrameOffsetVector" not in ds:
        return np.array([ipp[normal_axis]])
    offsets = validate.frame_offsets(ds, path, n_frames)
    if offsets is None:
        raise InputError("multi-frame RT Dose without GridFrameOffsetVector", path)
    if n_frames == 1 and offsets.size > 1:
        offsets = offsets[:1]  # NumberOfFrames absent or 1: only the first frame's offset applies
    if offsets.size != n_frames:
        raise InputError(f"GridFrameOffsetVector has {offsets.size} values for {n_frames} frames", path)
    if offsets[0] == 0.0:
        # Relative: offsets along the normal (row x column), starting at ImagePositionPatient.
        return ipp[normal_axis] + normal_sign * offsets
    # Absolute (PS3.3 C.8.8.3.2): the offsets are the frames' coordinates themselves.
    if abs(offsets[0] - ipp[normal_axis]) > 0.01:
        raise InputError(
            f"GridFrameOffsetVector starts at {offsets[0]:g}, neither 0 (relative) nor the "
            f"ImagePositionPatient coordinate {ipp[normal_axis]:g} (absolute)",
            path,
        )
    return offsets.copy()


def _dose_units_factor(ds: pydicom.Dataset, path: Path, relative_ok: bool = False) -> tuple[float, str | None]:
    units = str(ds.get("DoseUnits", "")).strip().upper()
    if units == "RELATIVE" and relative_ok:
        return 1.0, "DoseUnits RELATIVE: values are relative, not Gy"
    if units == "GY":
        return 1.0, None
    if units == "CGY":
        return 0.01, "DoseUnits CGY converted to Gy"
    if units == "RELATIVE":
        raise InputError("DoseUnits is RELATIVE: a relative dose cannot be checked against absolute limits in Gy", path)
    raise InputError(f"DoseUnits {units or '(missing)'} is not supported; expected GY", path)


def read_dose_grid(obj: DicomObject, relative_ok: bool = False) -> DoseGrid:
    """Read one RT Dose object as it stands (no summation or fraction scaling).

    Parameters
    ----------
    obj : DicomObject
        An object of kind RTDOSE.
    relative_ok : bool
        Read RELATIVE doses as they are instead of refusing them (for decoding
        tests only: a relative dose can never be checked against limits in Gy).

    Returns
    -------
    DoseGrid

    Raises
    ------
    InputError
        Unreadable pixel data, unsupported units, an oblique or irregular grid.
    """
    path = obj.path
    try:
        # A data set given in memory holds its pixels; a file's header was read without them.
        ds = obj.dataset if "PixelData" in obj.dataset else pydicom.dcmread(path)
    except Exception as exc:
        raise InputError(f"cannot read RT Dose: {exc}", path) from None
    factor, unit_note = _dose_units_factor(ds, path, relative_ok)
    for keyword in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "PixelData"):
        if keyword not in ds:
            raise InputError(f"RT Dose without {keyword}", path)
    n_frames, rows, cols, scaling = validate.dose_header(ds, path)
    iop, ipp, (row_spacing, col_spacing) = validate.dose_geometry(ds, path)
    validate.dose_references(ds, path)
    try:
        pixels = ds.pixel_array
    except MemoryError:
        raise
    except Exception as exc:
        raise InputError(f"cannot decode RT Dose pixel data (truncated or corrupt): {exc}", path) from None
    pixels = np.asarray(pixels)
    if pixels.size != n_frames * rows * cols:
        raise InputError(f"pixel data decodes to {pixels.size} values, not NumberOfFrames x Rows x Columns = "
                         f"{n_frames} x {rows} x {cols}", path)
    pixels = pixels.reshape(n_frames, rows, cols)
    # float32 keeps 7 significant digits, ample for dose; float64 would double the cost of reading
    dose = pixels.astype(np.float32)
    dose *= np.float32(scaling * factor)
    validate.dose_values(dose, path)

    row_dir, col_dir = iop[:3], iop[3:]
    r_axis, r_sign = _signed_axis(row_dir, "row", path)
    c_axis, c_sign = _signed_axis(col_dir, "column", path)
    if r_axis == c_axis:
        raise InputError("ImageOrientationPatient row and column directions are parallel", path)
    normal = np.cross(row_dir, col_dir)
    n_axis, n_sign = _signed_axis(normal, "normal", path)

    # Array axis 0 walks frames, axis 1 rows (along the column direction), axis 2 columns.
    coords = [
        _frame_coordinates(ds, ipp, n_axis, n_sign, n_frames, path),
        ipp[c_axis] + c_sign * row_spacing * np.arange(rows),
        ipp[r_axis] + r_sign * col_spacing * np.arange(cols),
    ]
    patient_axis_of = [n_axis, c_axis, r_axis]
    # Put patient z first, then y, then x, each increasing.
    order = [patient_axis_of.index(a) for a in (2, 1, 0)]
    dose = np.transpose(dose, order)
    coords = [coords[i] for i in order]
    for k in range(3):
        if coords[k].size > 1 and coords[k][1] < coords[k][0]:
            dose = np.flip(dose, axis=k)
            coords[k] = coords[k][::-1].copy()
    validate.grid_coordinates(coords, path)
    z, y, x = coords
    for name, c in (("z", z), ("y", y), ("x", x)):
        if c.size > 1:
            steps = np.diff(c)
            if np.any(steps <= 0):
                raise InputError(f"dose frames along {name} are not strictly monotonic (GridFrameOffsetVector)", path)
            if name != "z" and np.ptp(steps) > _SPACING_TOL_MM:
                raise InputError(f"non-uniform dose grid spacing along {name}", path)

    def step(c: np.ndarray, fallback: float) -> float:
        return float(c[1] - c[0]) if c.size > 1 else fallback

    dx = step(x, col_spacing if r_axis == 0 else row_spacing)
    dy = step(y, row_spacing if c_axis == 1 else col_spacing)
    notes = [unit_note] if unit_note else []
    if z.size > 1:
        z_extent = (float(z[0] - (z[1] - z[0]) / 2), float(z[-1] + (z[-1] - z[-2]) / 2))
    else:
        thickness = validate.slice_thickness(ds, path) or max(dx, dy)
        z_extent = (float(z[0] - thickness / 2), float(z[0] + thickness / 2))
        notes.append(f"single-frame dose grid: taken to stand for a slab {thickness:g} mm thick")
    return DoseGrid(
        dose_gy=np.ascontiguousarray(dose, dtype=np.float32),
        x0=float(x[0]),
        y0=float(y[0]),
        dx=dx,
        dy=dy,
        z=np.ascontiguousarray(z, dtype=np.float64),
        z_extent=z_extent,
        sop_instance_uids=[obj.sop_instance_uid],
        frame_of_reference_uid=obj.frame_of_reference_uid,
        orientation="\\".join(f"{v:g}" for v in iop),
        dose_type=str(ds.get("DoseType", "")),
        summation_type=str(ds.get("DoseSummationType", "")).upper(),
        notes=notes,
        heterogeneity_correction=tuple(str(v) for v in np.atleast_1d(ds.get("TissueHeterogeneityCorrection", []) or [])),
        **dose_references(ds),
    )


def dose_references(ds: pydicom.Dataset) -> dict[str, tuple]:
    """The plans, fraction groups and beams an RT Dose's ReferencedRTPlanSequence names."""
    plans: list[str] = []
    groups: list[int] = []
    beams: list[int] = []
    for rp in ds.get("ReferencedRTPlanSequence", []) or []:
        if rp.get("ReferencedSOPInstanceUID"):
            plans.append(str(rp.ReferencedSOPInstanceUID))
        for fg in rp.get("ReferencedFractionGroupSequence", []) or []:
            number = fg.get("ReferencedFractionGroupNumber")
            if number not in (None, ""):
                groups.append(int(number))
            for b in fg.get("ReferencedBeamSequence", []) or []:
                if b.get("ReferencedBeamNumber") not in (None, ""):
                    beams.append(int(b.ReferencedBeamNumber))
    return {"referenced_plan_uids": tuple(plans), "referenced_fraction_groups": tuple(groups), "referenced_beams": tuple(beams)}


#: DoseSummationType values a plan's dose can be made from (MULTI_PLAN is a course's, see planset).
SESSION_TYPES = ("FRACTION_SESSION", "BEAM_SESSION")
WHOLE_TYPES = ("PLAN", "FRACTION", "BEAM")


def _sum_on_first_grid(doses: list[DoseGrid], kind: str) -> np.ndarray:
    first = doses[0]
    total = np.zeros(first.dose_gy.shape, dtype=np.float64)
    for other in doses:
        if not other.same_geometry(first):
            raise InputError(
                f"{kind} doses {first.sop_instance_uids[0]} and {other.sop_instance_uids[0]} are on different grids; "
                "export the plan dose (DoseSummationType PLAN) instead"
            )
        total += other.dose_gy
    return total


def combine_doses(doses: list[DoseGrid], plan: "PlanInfo | None") -> DoseGrid:
    """Turn the RT Dose objects of one plan into the plan's whole dose, as PS3.3 defines each type.

    - PLAN: the whole plan; used as it is (one object).
    - FRACTION: the entire delivery of one fraction group (not one session): never
      multiplied; a plan with several fraction groups is the sum of its groups' doses.
    - BEAM: the entire delivery of the referenced beams: summed.
    - FRACTION_SESSION, BEAM_SESSION: a single session: each multiplied by the
      NumberOfFractionsPlanned of its fraction group, then summed.

    Parameters
    ----------
    doses : list of DoseGrid
        The RT Dose objects of one plan, all of one DoseSummationType.
    plan : PlanInfo or None
        The plan (fraction groups and the group of each beam); None when absent.

    Returns
    -------
    DoseGrid
        The plan's dose; ``summation_type`` keeps the type it was made from and
        ``notes`` say how.

    Raises
    ------
    InputError
        Mixed types, grids that differ, or a session dose whose fractions are unknown.
    """
    first = doses[0]
    kind = first.summation_type
    if any(d.summation_type != kind for d in doses):
        raise InputError(f"RT Doses of one plan mix DoseSummationTypes {sorted({d.summation_type for d in doses})}")
    uids = [u for d in doses for u in d.sop_instance_uids]
    notes = list(first.notes)
    if kind in ("PLAN", "MULTI_PLAN"):  # MULTI_PLAN here: the sum of this one plan
        if len(doses) != 1:
            raise InputError(f"{len(doses)} {kind} doses given as one plan's dose")
        return first
    if kind == "FRACTION":
        groups = sorted({g for d in doses for g in d.referenced_fraction_groups})
        what = f"fraction group{'s' if len(groups) > 1 else ''} {', '.join(map(str, groups))}" if groups else "its fraction group"
        notes.append(f"FRACTION dose{'s' if len(doses) > 1 else ''}: the entire delivery of {what} (PS3.3), "
                     + ("summed over the plan's fraction groups" if len(doses) > 1 else "used as it is, not multiplied"))
        total = _sum_on_first_grid(doses, kind)
    elif kind == "BEAM":
        notes.append(f"summed {len(doses)} BEAM doses (each the entire delivery of its beams)")
        total = _sum_on_first_grid(doses, kind)
    elif kind in SESSION_TYPES:
        scaled = []
        described = []
        for d in doses:
            if plan is None:
                raise InputError(f"{kind} dose {d.sop_instance_uids[0]} is one session and there is no RT Plan to give the "
                                 "number of fractions: the whole delivery cannot be known")
            if kind == "FRACTION_SESSION":
                groups = set(d.referenced_fraction_groups)
            else:
                groups = {plan.beam_groups.get(b) for b in d.referenced_beams} if d.referenced_beams else set(d.referenced_fraction_groups)
            group = groups.pop() if len(groups) == 1 else (None if not groups else -1)
            n = plan.fractions_of_group(group) if group != -1 else None
            if not n:
                raise InputError(f"{kind} dose {d.sop_instance_uids[0]}: the fractions of its fraction group cannot be told "
                                 f"(groups {sorted(g for g in groups if g is not None) or 'not referenced'} of plan groups {plan.fraction_groups})")
            scaled.append(replace(d, dose_gy=d.dose_gy.astype(np.float64) * n))
            described.append(f"x {n}")
        notes.append(f"{kind} dose{'s' if len(doses) > 1 else ''} (one session) multiplied by the fractions of "
                     f"{'their' if len(doses) > 1 else 'its'} fraction group ({', '.join(described)})" + (", then summed" if len(doses) > 1 else ""))
        total = _sum_on_first_grid(scaled, kind)
    else:
        raise InputError(f"DoseSummationType {kind or '(missing)'} is not supported for a plan's dose "
                         "(PLAN, FRACTION, BEAM, FRACTION_SESSION, BEAM_SESSION; MULTI_PLAN for a course)")
    return replace(first, dose_gy=total.astype(np.float32), sop_instance_uids=uids, notes=notes)
