"""Plan-level checks in the spirit of AAPM MPPG 11.a and TG-275: the things a careful
reviewer looks at before the constraints mean anything."""

from __future__ import annotations

import numpy as np

from ..load.planset import LoadedPlanSet
from ..load.rtstruct import ROI
from ..protocol.schema import Arm, Protocol
from ..results import PlanCheckResult, ReviewItem
from ..status import Status
from .matching import Match

def _check(id: str, value, limit, ok: bool, message: str = "", fail: str = "major") -> PlanCheckResult:
    return PlanCheckResult(id, value, limit, "pass" if ok else fail, message)


#: Plan checks a reviewer may confirm with ``--confirm ID`` when the export does not record them.
CONFIRMABLE = ("heterogeneity_correction",)

#: DoseSummationType values the loader turns into the whole delivery (PS3.3 C.8.8.3).
_WHOLE_DELIVERY = {
    "PLAN": "the whole plan",
    "MULTI_PLAN": "the sum of the course's plans",
    "FRACTION": "the entire delivery of the fraction group(s), summed over the plan's groups, not multiplied",
    "BEAM": "the entire delivery of the beams, summed",
    "FRACTION_SESSION": "one session, multiplied by the fractions of its group",
    "BEAM_SESSION": "one session of the beams, multiplied by the fractions of their group",
}


def dose_summation(dose) -> PlanCheckResult:
    """What the RT Dose stood for and how it became the whole delivery."""
    kind = dose.summation_type
    meaning = _WHOLE_DELIVERY.get(kind)
    if meaning is None:
        return PlanCheckResult("dose_summation", kind or None, "whole delivery", Status.NOT_EVALUATED,
                               f"DoseSummationType {kind or '(missing)'}: what the values stand for is not known")
    how = "; ".join(n for n in dose.notes if any(k in n for k in ("FRACTION", "BEAM", "SESSION", "MULTI_PLAN", "course dose")))
    return PlanCheckResult("dose_summation", kind, "whole delivery", Status.PASS, f"{kind}: {meaning}" + (f" ({how})" if how else ""))


def heterogeneity(values: tuple[str, ...] | list[str], arm: Arm | None, confirmed: bool) -> PlanCheckResult:
    """TissueHeterogeneityCorrection as PS3.3 defines it (Type 3: absent means not known).

    IMAGE (with or without ROI_OVERRIDE): corrected. WATER alone: not corrected, MAJOR
    where the arm requires correction. WATER with ROI_OVERRIDE: bulk densities, a query.
    Absent: not recorded, a query (never a deviation); ``--confirm heterogeneity_correction``
    answers a query.
    """
    found = [str(v).upper() for v in values]
    required = bool(arm and arm.require_heterogeneity_correction)
    limit = "corrected (IMAGE)" if required else "reported"
    value = "\\".join(found) or None
    if "IMAGE" in found:
        return PlanCheckResult("heterogeneity_correction", value, limit, Status.PASS,
                               "heterogeneity corrected from the image" + (" with density overrides" if "ROI_OVERRIDE" in found else ""))
    if found == ["WATER"]:
        if required:
            return PlanCheckResult("heterogeneity_correction", value, limit, Status.MAJOR,
                                   f"dose calculated in water (no heterogeneity correction); arm {arm.name} requires correction")  # type: ignore[union-attr]
        return PlanCheckResult("heterogeneity_correction", value, limit, Status.INFO, "dose calculated in water (no heterogeneity correction)")
    if not found:
        question = "TissueHeterogeneityCorrection not recorded in the export (Type 3): confirm in the planning system"
    elif set(found) == {"WATER", "ROI_OVERRIDE"}:
        question = "water with ROI density overrides (bulk density, not image-based correction): confirm it is acceptable"
    else:
        question = f"TissueHeterogeneityCorrection {value}: not a combination PS3.3 defines; confirm in the planning system"
    if confirmed:
        return PlanCheckResult("heterogeneity_correction", value, limit, Status.PASS,
                               f"{question}: confirmed by the reviewer (--confirm heterogeneity_correction)")
    if not required:
        return PlanCheckResult("heterogeneity_correction", value, limit, Status.INFO, question + " (the arm does not require correction)"
                               if arm else question)
    return PlanCheckResult("heterogeneity_correction", value, limit, Status.NOT_EVALUATED, question)


def approval(status: str) -> PlanCheckResult:
    """ApprovalStatus: APPROVED pass, UNAPPROVED minor (a pre-approval review), REJECTED major."""
    s = (status or "").upper()
    if s == "APPROVED":
        return PlanCheckResult("plan_approval", s, "APPROVED", Status.PASS, "")
    if s == "REJECTED":
        return PlanCheckResult("plan_approval", s, "APPROVED", Status.MAJOR, "the plan was REJECTED in the planning system")
    if s == "UNAPPROVED":
        return PlanCheckResult("plan_approval", s, "APPROVED", Status.MINOR, "plan not approved: fine for a pre-approval review, not for treatment")
    return PlanCheckResult("plan_approval", s or None, "APPROVED", Status.MINOR, f"ApprovalStatus {s or 'not recorded'}: approval not shown")


def review_items(checks: list[PlanCheckResult]) -> list[ReviewItem]:
    """The queries among the plan checks, as items the reviewer must answer."""
    items = []
    for c in checks:
        if c.status == Status.NOT_EVALUATED and c.id in CONFIRMABLE:
            items.append(ReviewItem(c.id, c.message, f"--confirm {c.id}"))
    return items


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
        outside_cc: dict[str, float | None], target_outside_body_cc: dict[str, float],
        confirm: tuple[str, ...] | list[str] = (), prescription_gy: float | None | str = "plan") -> list[PlanCheckResult]:
    """Every plan check; ``outside_cc`` is each matched role's volume outside the dose grid;
    ``confirm`` the checks the reviewer confirmed in the planning system (``--confirm``);
    ``prescription_gy`` the course's recorded prescription (fraction groups added,
    evaluate/prescription.py), by default the plan's largest."""
    plan, dose = plan_set.plan, plan_set.dose
    checks: list[PlanCheckResult] = []
    if plan is None:
        checks.append(PlanCheckResult("rt_plan_present", None, "RT Plan", "major", "no RT Plan: prescription, fractions and approval cannot be checked"))
    if arm is not None and plan is not None:
        # prescription_<ROLE> and prescription_recorded come from evaluate/prescription.py
        rx, fx = (plan.prescription_gy if prescription_gy == "plan" else prescription_gy), plan.fractions
        if fx is None:  # not recorded, or fraction groups that cannot tell the sessions: a question, not a deviation
            checks.append(PlanCheckResult("fractions", None, f"{arm.fractions[0]}-{arm.fractions[1]}", "not_evaluated",
                                          "the plan does not tell the course's number of treatment sessions"))
        else:
            checks.append(_check("fractions", fx, f"{arm.fractions[0]}-{arm.fractions[1]}", arm.fractions[0] <= fx <= arm.fractions[1]))
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
    checks.append(dose_summation(dose))
    checks.append(heterogeneity(dose.heterogeneity_correction, arm, "heterogeneity_correction" in confirm))
    if plan is not None:
        checks.append(approval(plan.approval_status))
    by_reference = plan_set.linked_by_reference  # decided where the plan set was assembled, not read from its text
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
            checks += target_grid_checks(role.name, roi.name, outside_cc.get(role.name), target_outside_body_cc.get(role.name))
    return checks


def target_grid_checks(key: str, roi_name: str, outside_grid_cc: float | None, outside_body_cc: float | None) -> list[PlanCheckResult]:
    """A target wholly inside the dose grid and inside BODY (``key`` is ROLE, or ROLE@ROI for further targets at a level)."""
    checks = []
    if outside_grid_cc is not None:
        out = outside_grid_cc
        checks.append(_check(f"target_in_dose_grid_{key}", round(out, 4), "0 cc outside", out <= 1e-6,
                             "" if out <= 1e-6 else f"{out:.3f} cc of {roi_name!r} lies outside the dose grid"))
    if outside_body_cc is not None:
        out_body = outside_body_cc
        checks.append(_check(f"target_in_body_{key}", round(out_body, 4), "0 cc outside BODY", out_body <= 1e-6,
                             "" if out_body <= 1e-6 else f"{out_body:.3f} cc of {roi_name!r} (voxel centres) lies outside BODY"))
    return checks
