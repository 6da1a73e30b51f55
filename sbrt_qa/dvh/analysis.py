"""Load -> DVH step of the life cycle: a loaded plan set to its :class:`~sbrt_qa.results.PlanResult`."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..load.planset import LoadedPlanSet
from ..results import DoseSummary, PlanResult, PlanSummary, StructureResult
from .engine import compute_structure_dvh, point_dose_gy
from .metrics import DEFAULT_METRICS, Metric, evaluate, parse_metric


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def select_rois(plan_set: LoadedPlanSet, names: list[str] | None):
    """The ROIs to report: all, or those named (exact name, case-insensitive)."""
    rois = plan_set.structures.rois
    if not names:
        return rois
    by_name = {r.name.lower(): r for r in rois}
    missing = [n for n in names if n.lower() not in by_name]
    if missing:
        available = ", ".join(r.name for r in rois)
        raise InputError(f"no ROI named {', '.join(repr(m) for m in missing)}; the structure set has: {available}", plan_set.structures.path)
    return [by_name[n.lower()] for n in names]


def analyze(plan_set: LoadedPlanSet, metrics: list[Metric] | None = None, structures: list[str] | None = None, curve: bool = False,
            dvhs: dict | None = None) -> PlanResult:
    """Compute every selected structure's DVH figures.

    Parameters
    ----------
    plan_set : LoadedPlanSet
    metrics : list of Metric, optional
        Figures asked for beyond the defaults (:data:`DEFAULT_METRICS`).
    structures : list of str, optional
        ROI names to report; all when omitted.
    curve : bool
        Include the cumulative curve of each structure.
    dvhs : dict, optional
        DVHs already computed by :func:`structure_dvhs`, keyed by ROI number.
    """
    asked = [parse_metric(m) for m in DEFAULT_METRICS] + [m for m in (metrics or []) if m.text not in DEFAULT_METRICS]
    rois = select_rois(plan_set, structures)
    dose = plan_set.dose
    plan = plan_set.plan
    prescription = plan.prescription_gy if plan else None
    selected = {r.number for r in rois}
    if dvhs is None:
        dvhs = structure_dvhs(plan_set, selected)
    results: list[StructureResult] = []
    numbers = [r.number for r in plan_set.structures.rois]
    for roi in rois:
        base = dict(name=roi.name, roi_number=roi.number, type=roi.interpreted_type, geometry=roi.geometry)
        empty = dict(volume_cc=None, dmin_gy=None, dmax_gy=None, dmean_gy=None, outside_dose_grid_cc=None)
        units = {m.text: m.unit for m in asked}
        if roi.errors:
            results.append(StructureResult(**base, **empty, metrics={m.text: None for m in asked}, metric_units=units,
                                           warnings=list(roi.notes), error="; ".join(roi.errors)))
            continue
        if roi.geometry == "POINT":
            doses = point_dose_gy(roi.points, dose)
            results.append(StructureResult(**base, **empty, metrics={}, metric_units={},
                                           point_dose_gy=[_finite(v) for v in doses], warnings=["POINT ROI: no DVH"]))
            continue
        if roi.geometry != "CLOSED_PLANAR":
            why = "empty ROI: no contours" if roi.geometry == "EMPTY" else "no closed planar contours"
            results.append(StructureResult(**base, **{**empty, "volume_cc": 0.0}, metrics={m.text: None for m in asked},
                                           metric_units=units, warnings=[why] + list(roi.notes)))
            continue
        # A ROI Number shared by several ROIs (a broken structure set) keys one DVH only: compute each ROI's own.
        sd = dvhs[roi.number] if numbers.count(roi.number) == 1 else compute_structure_dvh(roi, dose, plan_set.structures.contour_spacing())
        warnings = list(roi.notes) + list(sd.warnings)
        values: dict[str, float | None] = {}
        if sd.dvh is None:
            values = {m.text: None for m in asked}
        else:
            for m in asked:
                v = evaluate(m, sd.dvh, prescription)
                if v is None:
                    if m.needs_prescription and not prescription:
                        warnings.append(f"{m.text}: no prescription dose (no RT Plan), not computed")
                    else:
                        warnings.append(f"{m.text}: the structure is smaller than the volume asked for")
                values[m.text] = _finite(v)
        curve_data = None
        if curve and sd.dvh is not None:
            keep = sd.dvh.edges_gy <= sd.dvh.dmax_gy + 2 * (sd.dvh.edges_gy[1] - sd.dvh.edges_gy[0])
            curve_data = {
                "dose_gy": np.round(sd.dvh.edges_gy[keep], 6).tolist(),
                "volume_cc": np.round(np.clip(sd.dvh.volume_cc[keep], 0.0, None), 6).tolist(),
            }
        results.append(
            StructureResult(
                **base,
                volume_cc=sd.volume_cc,
                dmin_gy=_finite(sd.dvh.dmin_gy) if sd.dvh else None,
                dmax_gy=_finite(sd.dvh.dmax_gy) if sd.dvh else None,
                dmean_gy=_finite(sd.dvh.dmean_gy) if sd.dvh else None,
                outside_dose_grid_cc=sd.outside_cc,
                metrics=values,
                metric_units=units,
                curve=curve_data,
                warnings=warnings,
            )
        )
    summary = PlanSummary()
    if plan:
        summary = PlanSummary(plan.label, plan.sop_instance_uid, plan.prescription_gy, plan.fractions, plan.prescription_source)
    dose_summary = DoseSummary(
        sop_instance_uid=dose.sop_instance_uids[0],
        spacing_mm=[round(v, 6) for v in dose.spacing_mm],
        shape=list(dose.shape),
        summed_from=list(dose.sop_instance_uids) if len(dose.sop_instance_uids) > 1 else [],
        summation_type=dose.summation_type,
    )
    return PlanResult(summary, dose_summary, results, plan_set.pairing, [str(p) for p in plan_set.paths], plan_set.notes + dose.notes,
                      pairing_kind=str(plan_set.pairing_kind) if plan_set.pairing_kind else None)


def structure_dvhs(plan_set: LoadedPlanSet, selected: set[int] | None = None) -> dict:
    """DVHs (:class:`~sbrt_qa.dvh.engine.StructureDVH`) of the closed-planar ROIs without errors, by ROI number.

    Each ROI's DVH is computed once per plan set and kept in ``plan_set.dvh_cache``,
    so checking the same plan set against several protocols reuses them.
    """
    structures = plan_set.structures
    cache = plan_set.dvh_cache
    wanted = [r for r in structures.rois
              if (selected is None or r.number in selected) and r.geometry == "CLOSED_PLANAR" and not r.errors]
    missing = [r for r in wanted if r.number not in cache]
    if missing:
        spacing = structures.contour_spacing()
        for r in missing:
            cache[r.number] = compute_structure_dvh(r, plan_set.dose, spacing)
    return {r.number: cache[r.number] for r in wanted}
