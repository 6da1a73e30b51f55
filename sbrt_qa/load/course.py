"""Courses (several plans judged as one) and the test that a dose's values agree with its meaning.

A course's plan is made from its parts' plans; its dose is the MULTI_PLAN dose when the
export has one, otherwise the parts' doses summed on a common grid by trilinear
interpolation at voxel centres (no half-voxel shift).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError
from .rtdose import DoseGrid
from .rtplan import PRESCRIPTION_SOURCE, PlanInfo, Prescription

#: Dose-grid maximum / prescription a whole-course dose may show: a cold but real plan
#: still reaches 0.9 x its prescription somewhere, and 3 x allows a prescription to the
#: 33 % isodose; only a factor of the fraction count falls outside. Engineering bounds of
#: this tool, chosen to separate a whole course from a session, not clinical numbers from
#: a source: every message of the test says so (:data:`BOUNDS_NOTE`).
MAX_WINDOW = (0.9, 3.0)
#: Target median dose / prescription a whole-course dose may show, for a target the
#: prescription (or level) is judged on. An engineering bound, as :data:`MAX_WINDOW`.
MEDIAN_WINDOW = (0.75, 1.6)
#: What every message of the test says about its windows.
BOUNDS_NOTE = (f"a whole-course dose is taken to show a grid maximum of {MAX_WINDOW[0]:g}-{MAX_WINDOW[1]:g} x and a target median of "
               f"{MEDIAN_WINDOW[0]:g}-{MEDIAN_WINDOW[1]:g} x its prescription: engineering bounds of this tool, not clinical limits "
               "from a source)")
#: What the reviewer can do when the test stops a plan set.
PROCEED = ("check the RT Dose's DoseSummationType and the plan's fractions in the planning system and export the whole-plan dose "
           "(DoseSummationType PLAN)")

_APPROVAL_ORDER = {"REJECTED": 0, "UNAPPROVED": 1, "": 2, "APPROVED": 3}


def _factor(value: float, rx_gy: float, fractions: int, window: tuple[float, float]) -> str | None:
    """"session" or "multiplied" when value/rx fits the window divided or multiplied by the fractions, not the window."""
    lo, hi = window
    r = value / rx_gy
    if lo <= r <= hi:
        return None
    if lo / fractions <= r <= hi / fractions:
        return "session"
    if lo * fractions <= r <= hi * fractions:
        return "multiplied"
    return None


def fraction_factor(rx_gy: float, fractions: int, max_gy: float, medians: list[tuple[float, float]] = ()) -> str | None:
    """``"session"`` or ``"multiplied"`` when the values contradict the prescription by the fraction count, else None.

    The test of :func:`fraction_factor_contradiction`, with any number of targets: the
    grid maximum against ``rx_gy`` (:data:`MAX_WINDOW`) must fall outside a whole
    course and inside that window divided (one session) or multiplied by the fractions,
    and every target's median against its own prescription (:data:`MEDIAN_WINDOW`) must
    say the same, or nothing is concluded.

    Parameters
    ----------
    rx_gy : float
        The largest prescription (Gy, whole course), the reference of the grid maximum.
    fractions : int
        The plan's fractions (< 2: nothing can be concluded).
    max_gy : float
        The dose grid's maximum.
    medians : list of (float, float)
        (median dose of a target, that target's prescription) in Gy.
    """
    if fractions < 2 or rx_gy <= 0:
        return None
    by_max = _factor(max_gy, rx_gy, fractions, MAX_WINDOW)
    if by_max is None:
        return None
    if any(_factor(m, rx, fractions, MEDIAN_WINDOW) != by_max for m, rx in medians if rx > 0):
        return None
    return by_max


def as_what(kind: str, fractions: int) -> str:
    """What values of a :func:`fraction_factor` kind look like, in words."""
    return f"one session of {fractions} fractions" if kind == "session" else f"{fractions} times the whole course"


def fraction_factor_contradiction(rx_gy: float, fractions: int, max_gy: float, median_gy: float | None = None) -> str | None:
    """Why the dose values look like one session (or fractions x the course), or None.

    The test: the ratio of the dose grid's maximum to the largest recorded
    prescription lies outside the window a whole-course dose can show
    (:data:`MAX_WINDOW`) and inside that window divided, or multiplied, by the number
    of fractions. When the prescription links its target ROI, the target's median
    (:data:`MEDIAN_WINDOW`) must say the same, or nothing is concluded. With 2
    fractions the windows overlap; only the part outside the whole-course window
    counts, so values that fit a whole course are never called a session.

    The maximum, not a target found by name, is the primary figure: a prescription
    description need not name the prescribed volume (a breast boost recorded as
    'Breast' 14 Gy treats the tumour bed; the breast's median is 0.2 x 14 Gy).

    Parameters
    ----------
    rx_gy : float
        The largest recorded prescription (Gy, whole course).
    fractions : int
        Its fractions (< 2: nothing can be concluded, None).
    max_gy : float
        The dose grid's maximum.
    median_gy : float, optional
        The median dose of the target the prescription links by ROI number.
    """
    kind = fraction_factor(rx_gy, fractions, max_gy, [] if median_gy is None else [(median_gy, rx_gy)])
    if kind is None:
        return None
    text = f"dose grid maximum {max_gy:.4g} Gy is {max_gy / rx_gy:.3f} x the {rx_gy:g} Gy prescription"
    if median_gy is not None:
        text += f", the target's median {median_gy:.4g} Gy {median_gy / rx_gy:.3f} x"
    return f"{text}, as {as_what(kind, fractions)} would be ({BOUNDS_NOTE})"


def _target_key(p: Prescription) -> str:
    return f"roi:{p.roi_number}" if p.roi_number is not None else f"name:{p.description.strip().lower()}"


def course_plan(parts: list[PlanInfo], relationship: str) -> PlanInfo:
    """The plan of a course, from its parts' plans.

    CONCURRENT parts are delivered in the same sessions: the course has as many
    fractions as its longest part, and each part's prescriptions stand as they are.
    Otherwise (PREDECESSOR, a MULTI_PLAN sum) the parts are delivered one after the
    other: fractions add up, and prescriptions to the same target (same ROI, or the
    same description) add up too.
    """
    if not parts:
        raise InputError("a course without plans")
    concurrent = relationship == "CONCURRENT"
    counts = [p.fractions for p in parts]
    known = [n for n in counts if n]
    if not known:
        fractions = None
    else:
        fractions = max(known) if concurrent else sum(known)
    notes = [f"course of {len(parts)} plans ({relationship or 'MULTI_PLAN'}): "
             + ", ".join(f"{p.label or p.sop_instance_uid} {p.fractions} fx" for p in parts)
             + (f"; delivered in the same sessions: {fractions} fractions" if concurrent else f"; {fractions} fractions in all")]
    if None in counts:
        notes.append("a part records no fractions: the course's fractions count only the others")
    prescriptions: list[Prescription] = []
    if concurrent:
        prescriptions = [p for part in parts for p in part.prescriptions]
    else:
        merged: dict[str, Prescription] = {}
        for part in parts:
            for p in part.prescriptions:
                key = _target_key(p)
                if key in merged:
                    q = merged[key]
                    merged[key] = replace(q, dose_gy=q.dose_gy + p.dose_gy,
                                          fractions=(q.fractions or 0) + (p.fractions or part.fractions or 0) or None)
                    notes.append(f"prescriptions to {p.description or p.roi_number!r} added over the parts: {merged[key].dose_gy:g} Gy")
                else:
                    merged[key] = replace(p, fractions=p.fractions or part.fractions)
        prescriptions = list(merged.values())
    approval = min((p.approval_status.upper() for p in parts), key=lambda a: _APPROVAL_ORDER.get(a, 2))
    first = parts[0]
    return PlanInfo(
        sop_instance_uid="+".join(p.sop_instance_uid for p in parts),
        label="course: " + " + ".join(p.label or p.sop_instance_uid for p in parts),
        name="course",
        prescription_gy=max((p.dose_gy for p in prescriptions), default=None),
        prescription_source=PRESCRIPTION_SOURCE if prescriptions else None,
        fractions=fractions,
        beams=[b for p in parts for b in p.beams],
        dose_references=[r for p in parts for r in p.dose_references],
        approval_status=approval,
        patient_position=first.patient_position,
        referenced_structure_set_uid=first.referenced_structure_set_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        notes=notes,
        prescriptions=prescriptions,
        point_doses=[d for p in parts for d in p.point_doses],
        fraction_groups=[g for p in parts for g in p.fraction_groups],
        beam_dose_per_fraction_gy=None,
        referenced_plans=[r for p in parts for r in p.referenced_plans],
        manufacturer=first.manufacturer,
    )


def _axis_weights(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and upper weight of linear interpolation along one axis."""
    if source.size == 1:
        zero = np.zeros(target.size, dtype=np.intp)
        return zero, zero, np.zeros(target.size)
    i0 = np.clip(np.searchsorted(source, target, side="right") - 1, 0, source.size - 2)
    w = (target - source[i0]) / (source[i0 + 1] - source[i0])
    return i0, i0 + 1, np.clip(w, 0.0, 1.0)


def resample(grid: DoseGrid, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of a grid's dose at voxel centres (x, y, z in mm), array [z, y, x].

    Voxel centres are the sample positions (the grid's x0 + i dx, no half-voxel shift);
    the points must lie within the grid's centres.
    """
    nz, ny, nx = grid.shape
    xs = grid.x0 + grid.dx * np.arange(nx)
    ys = grid.y0 + grid.dy * np.arange(ny)
    xi = _axis_weights(xs, x)
    yi = _axis_weights(ys, y)
    zi = _axis_weights(grid.z, z)
    d = grid.dose_gy.astype(np.float64)
    out = np.zeros((z.size, y.size, x.size))
    for kz, wz in ((zi[0], 1.0 - zi[2]), (zi[1], zi[2])):
        for ky, wy in ((yi[0], 1.0 - yi[2]), (yi[1], yi[2])):
            for kx, wx in ((xi[0], 1.0 - xi[2]), (xi[1], xi[2])):
                out += d[np.ix_(kz, ky, kx)] * (wz[:, None, None] * wy[None, :, None] * wx[None, None, :])
    return out


def sum_on_common_grid(grids: list[DoseGrid]) -> DoseGrid:
    """The sum of several doses: on their grid when all share it, else on the first grid's
    voxel centres that lie within every grid (trilinear interpolation).

    Outside the overlap a part's dose is unknown, so the course grid is the overlap only;
    a structure reaching beyond it is then partly outside the dose grid, never given
    a dose the export does not hold.
    """
    first = grids[0]
    uids = [u for g in grids for u in g.sop_instance_uids]
    if all(g.same_geometry(first) for g in grids):
        total = np.zeros(first.shape)
        for g in grids:
            total += g.dose_gy
        note = f"course dose: {len(grids)} plan doses summed on their common grid"
        return replace(first, dose_gy=total.astype(np.float32), sop_instance_uids=uids, summation_type="MULTI_PLAN",
                       notes=[note], heterogeneity_correction=_common_heterogeneity(grids))
    xs = first.x0 + first.dx * np.arange(first.shape[2])
    ys = first.y0 + first.dy * np.arange(first.shape[1])
    zs = first.z
    tol = 1e-6
    for g in grids[1:]:
        gx = (g.x0, g.x0 + g.dx * (g.shape[2] - 1))
        gy = (g.y0, g.y0 + g.dy * (g.shape[1] - 1))
        gz = (float(g.z[0]), float(g.z[-1]))
        xs = xs[(xs >= gx[0] - tol) & (xs <= gx[1] + tol)]
        ys = ys[(ys >= gy[0] - tol) & (ys <= gy[1] + tol)]
        zs = zs[(zs >= gz[0] - tol) & (zs <= gz[1] + tol)]
    if not (xs.size and ys.size and zs.size):
        raise InputError("the course's plan doses do not overlap: they cannot be summed")
    total = np.zeros((zs.size, ys.size, xs.size))
    for g in grids:
        total += resample(g, xs, ys, zs)
    if zs.size > 1:
        z_extent = (float(zs[0] - (zs[1] - zs[0]) / 2), float(zs[-1] + (zs[-1] - zs[-2]) / 2))
    else:
        z_extent = (float(zs[0] - first.dz / 2), float(zs[0] + first.dz / 2))
    note = (f"course dose: {len(grids)} plan doses on different grids summed by trilinear interpolation at the first grid's voxel "
            f"centres within every grid ({xs.size}x{ys.size}x{zs.size} voxels)")
    return replace(first, dose_gy=total.astype(np.float32), x0=float(xs[0]), y0=float(ys[0]), z=np.ascontiguousarray(zs, dtype=np.float64),
                   z_extent=z_extent, sop_instance_uids=uids, summation_type="MULTI_PLAN", notes=[note],
                   heterogeneity_correction=_common_heterogeneity(grids))


def _common_heterogeneity(grids: list[DoseGrid]) -> tuple[str, ...]:
    """The parts' TissueHeterogeneityCorrection when they agree; else empty (not known for the course)."""
    values = {tuple(g.heterogeneity_correction) for g in grids}
    return values.pop() if len(values) == 1 else ()
