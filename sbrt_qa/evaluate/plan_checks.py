"""Plan-level checks in the spirit of AAPM MPPG 11.a and TG-275: the things a careful
reviewer looks at before the constraints mean anything."""

from __future__ import annotations

import numpy as np

from ..load.planset import LoadedPlanSet
from ..load.rtstruct import ROI
from ..protocol.schema import Arm, Protocol
from ..results import PlanCheckResult
from .matching import Match

def _check(id: str, value, limit, ok: bool, message: str = "", fail: str = "major") -> PlanCheckResult:
    return PlanCheckResult(id, value, limit, "pass" if ok else fail, message)


def missing_planes(roi: ROI) -> list[float]:
    """z of the planes missing inside a ROI's extent (gaps wider than 1.5 contour spacings)."""
    if roi.plane_z.size < 3:
        return []
    steps = np.diff(roi.plane_z)
    spacing = float(np.median(steps))
    gaps = np.flatnonzero(steps > 1.5 * spacing)
    missing = []
    for g in gaps:
        n = int(round(steps[g] / spacing)) - 1
        missing += [float(roi.plane_z[g] + spacing * (k + 1)) for k in range(n)]
    return missing


def run(plan_set: LoadedPlanSet, protocol: Protocol, arm: Arm | None, matches: dict[str, Match],
        outside_cc: dict[str, float | None], target_outside_body_cc: dict[str, float]) -> list[PlanCheckResult]:
    """Every plan check; ``outside_cc`` is each matched role's volume outside the dose grid."""
    plan, dose = plan_set.plan, plan_set.dose
    checks: list[PlanCheckResult] = []
    if plan is None:
        checks.append(PlanCheckResult("rt_plan_present", None, "RT Plan", "major", "no RT Plan: prescription, fractions and approval cannot be checked"))
    if arm is not None and plan is not None:
        rx, fx = plan.prescription_gy, plan.fractions
        levels = sorted({p.dose_gy for p in plan.prescriptions})
        for level in arm.levels:
            found = [v for v in (levels or ([rx] if rx else [])) if level.accepts(v)]
            optional = not protocol.roles[level.role].required
            checks.append(_check(f"prescription_{level.role}", levels or rx, level.text(), bool(found),
                                 f"{level.role} {level.text()} " + ("found in the plan" if found else f"not among the plan's prescription doses {levels or rx}"
                                                                    + (" (optional level)" if optional else "")),
                                 fail="info" if optional else "major"))
        checks.append(_check("fractions", fx, f"{arm.fractions[0]}-{arm.fractions[1]}", fx is not None and arm.fractions[0] <= fx <= arm.fractions[1]))
        if rx and fx:
            per = rx / fx
            lo, hi = arm.dose_per_fraction_gy
            checks.append(_check("dose_per_fraction_gy", round(per, 4), f"{lo:g}-{hi:g} Gy", lo - 1e-9 <= per <= hi + 1e-9))
    if arm is not None and arm.max_grid_spacing_mm is not None:
        spacing = max(dose.spacing_mm)
        checks.append(_check("dose_grid_spacing_mm", round(spacing, 3), f"<= {arm.max_grid_spacing_mm:g} mm", spacing <= arm.max_grid_spacing_mm + 1e-6))
    checks.append(_check("dose_type", dose.dose_type or None, "PHYSICAL", dose.dose_type.upper() == "PHYSICAL",
                         "EFFECTIVE or ERROR doses cannot be checked against physical limits" if dose.dose_type.upper() != "PHYSICAL" else ""))
    checks.append(_check("dose_units", "GY", "GY", True, "; ".join(n for n in dose.notes if "DoseUnits" in n)))
    if dose.summation_type != "PLAN":
        checks.append(PlanCheckResult("dose_summation", dose.summation_type, "PLAN", "major", "; ".join(dose.notes)))
    hetero = list(dose.heterogeneity_correction)
    required = arm.require_heterogeneity_correction if arm else False
    checks.append(PlanCheckResult("heterogeneity_correction", hetero or None, "present" if required else "reported",
                                  "pass" if hetero else ("major" if required else "info"),
                                  "" if hetero else "RT Dose has no TissueHeterogeneityCorrection"))
    if plan is not None:
        approved = plan.approval_status.upper() == "APPROVED"
        checks.append(_check("plan_approval", plan.approval_status or None, "APPROVED", approved,
                             "" if approved else "plan not approved: fine for a pre-approval review, not for treatment", fail="minor"))
    by_reference = "by reference" in plan_set.pairing
    checks.append(_check("references", plan_set.pairing, "RTDOSE -> RTPLAN -> RTSTRUCT", by_reference,
                         "" if by_reference else "paired by frame of reference only", fail="minor" if plan is not None else "major"))
    # structure sanity
    numbers = [r.number for r in plan_set.structures.rois]
    rois = {r.number: r for r in plan_set.structures.rois if numbers.count(r.number) == 1}
    for role in protocol.roles.values():
        m = matches.get(role.name)
        if m is None or m.roi_number not in rois:
            continue
        roi = rois[m.roi_number]
        if role.required and roi.geometry != "CLOSED_PLANAR":
            checks.append(PlanCheckResult(f"empty_{role.name}", roi.geometry, "contoured", "major", f"required ROI {roi.name!r} has no closed contours"))
            continue
        gaps = missing_planes(roi)
        if gaps:
            shown = ", ".join(f"{z:g}" for z in gaps[:5]) + (" ..." if len(gaps) > 5 else "")
            checks.append(PlanCheckResult(f"missing_planes_{role.name}", len(gaps), 0, "minor", f"{roi.name!r} skips planes at z = {shown} mm"))
        if role.kind == "target":
            out = outside_cc.get(role.name)
            if out is not None:
                checks.append(_check(f"target_in_dose_grid_{role.name}", round(out, 4), "0 cc outside", out <= 1e-6,
                                     "" if out <= 1e-6 else f"{out:.3f} cc of {roi.name!r} lies outside the dose grid"))
            if role.name in target_outside_body_cc:
                out_body = target_outside_body_cc[role.name]
                checks.append(_check(f"target_in_body_{role.name}", round(out_body, 4), "0 cc outside BODY", out_body <= 1e-6,
                                     "" if out_body <= 1e-6 else f"{out_body:.3f} cc of {roi.name!r} (voxel centres) lies outside BODY"))
    return checks
