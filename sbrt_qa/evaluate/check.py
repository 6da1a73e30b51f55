"""DVH -> evaluate step: a loaded plan set and a protocol to a :class:`~sbrt_qa.results.CheckPlanResult`."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..dvh.analysis import analyze, structure_dvhs
from ..dvh.masks import voxel_mask
from ..load.planset import LoadedPlanSet
from ..protocol.schema import Protocol
from ..results import CheckPlanResult, ConstraintResult, Declaration, DoseSummary, PlanSummary, ProtocolSummary, UnassignedROI
from . import courses, indices, plan_checks, rules
from .assignment import assign, structure_set_checks
from .grid_coverage import organ_grid_coverage
from .matching import Match, roi_infos


def check_plan(plan_set: LoadedPlanSet, protocol: Protocol, arm_name: str | None = None, user_map: dict[str, str] | None = None,
               *, absent: tuple[str, ...] | list[str] = (), rx: list[str] | None = None, confirm: tuple[str, ...] | list[str] = ()) -> CheckPlanResult:
    """Check one plan set against a protocol.

    Parameters
    ----------
    plan_set : LoadedPlanSet
    protocol : Protocol
    arm_name : str, optional
        Force an arm instead of choosing it from the plan's fractionation.
    user_map : dict, optional
        Role name -> ROI name, or ``#N`` for ROI Number N, from ``--map`` or ``--structure ROLE=ROI``.
    absent : sequence of str, optional
        Roles the reviewer declares absent from this plan (``--absent ROLE``).
    rx : list of str, optional
        The reviewer's prescription (``--rx 35Gy/5``, ``--rx PTV_3000=30Gy``).
    confirm : sequence of str, optional
        Plan checks the reviewer confirms in the planning system (``--confirm heterogeneity_correction``).
    """
    plan, dose = plan_set.plan, plan_set.dose
    arm, arm_reason = rules.select_arm(protocol, plan.fractions if plan else None, plan.prescription_gy if plan else None, arm_name)
    fractions = (plan.fractions if plan and plan.fractions else (arm.fractions[0] if arm else 1))
    infos = roi_infos(plan_set.structures.rois)
    # ROIs are keyed by ROI Number; ROIs sharing a number are never matched (see structure_set_checks).
    rois = {r.number: r for r, info in zip(plan_set.structures.rois, infos) if not info.duplicate_number}
    assignment = assign(protocol, infos, arm, user_map, absent)
    matches = assignment.matches
    dvhs = structure_dvhs(plan_set)
    structures = analyze(plan_set, curve=True, dvhs=dvhs).structures
    spacing = plan_set.structures.contour_spacing()

    def dvh_of(match: Match):
        return dvhs.get(match.roi_number) if match.roi_number in rois else None

    body_match = next((matches[r.name] for r in protocol.roles.values() if r.kind == "external" and matches[r.name].roi), None)
    body_sd = dvh_of(body_match) if body_match else None
    body_dvh = body_sd.dvh if body_sd else None
    body_mask = voxel_mask(rois[body_match.roi_number], dose, spacing) if body_match and body_dvh is not None else None

    in_arm = assignment.in_arm
    evidence: dict[str, rules.Evidence] = {}
    index_table: dict[str, dict] = {}
    outside_cc: dict[str, float | None] = {}
    outside_body: dict[str, float] = {}
    for name, role in protocol.roles.items():
        m = matches[name]
        problem = None
        sd = dvh_of(m)
        if m.roi_number in rois:
            roi = rois[m.roi_number]
            if roi.errors:
                problem = f"ROI {roi.name!r} has malformed contours: {'; '.join(roi.errors)}"
            elif roi.geometry != "CLOSED_PLANAR":
                problem = f"ROI {roi.name!r} has no closed contours ({roi.geometry.lower()})"
            elif sd is None or sd.dvh is None:
                problem = f"ROI {roi.name!r} lies wholly outside the dose grid"
        ev = rules.Evidence(m, sd.dvh if sd else None, sd.volume_cc if sd else None, bool(sd and sd.outside_cc > 0), problem)
        outside_cc[name] = sd.outside_cc if sd else None
        if role.kind == "target" and name in in_arm and problem is None and m.roi is not None and arm is not None:
            level = rules.prescription_for(name, arm, plan.prescription_gy if plan else None)
            mask = voxel_mask(rois[m.roi_number], dose, spacing)
            ev.target_indices = indices.compute(sd.dvh, sd.volume_cc, level, dose, body_dvh, mask, body_mask)
            index_table[name] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(ev.target_indices).items()}
            if body_mask is not None:
                outside_body[name] = float(np.count_nonzero(mask & ~body_mask)) * dose.voxel_cc
        evidence[name] = ev
    coverage = organ_grid_coverage(protocol, arm, matches, {name: dvh_of(m) for name, m in matches.items()}, confirm)
    for name, problem in coverage.problems.items():
        evidence[name].problem = evidence[name].problem or problem

    results: list[ConstraintResult] = []
    for c in protocol.constraints:
        if arm is not None and c.arms and arm.name not in c.arms:
            continue
        role = protocol.roles[c.structure]
        if arm is None:
            results.append(rules.not_evaluated(c, role.required, matches[c.structure], f"no arm: {arm_reason}"))
            continue
        results.append(rules.evaluate(c, role.required, evidence[c.structure], arm, fractions, plan.prescription_gy if plan else None))

    checks = plan_checks.run(plan_set, protocol, arm, {k: v for k, v in matches.items() if k in in_arm}, outside_cc, outside_body, confirm)
    checks += structure_set_checks(infos)
    if coverage.check is not None:
        checks.append(coverage.check)
    if arm is None:
        checks.insert(0, plan_checks.PlanCheckResult("arm", None, ", ".join(a.name for a in protocol.arms), "not_evaluated", arm_reason))
    notes = list(plan_set.notes) + assignment.notes
    for m in matches.values():
        if m.roi is not None and m.how not in ("exact",) and m.role in in_arm:
            notes.append(f"role {m.role} matched ROI {m.roi!r} by {m.how} (ROI #{m.roi_number})")
    taken = assignment.assigned_numbers
    unassigned = [UnassignedROI(s.name, s.roi_number, s.type, s.volume_cc, s.dmax_gy, assignment.candidates.get(s.roi_number, []))
                  for s, info in zip(structures, infos) if info.contoured and (info.duplicate_number or s.roi_number not in taken)]
    needs_review = list(assignment.review) + coverage.review + plan_checks.review_items(checks)
    declarations = list(assignment.declarations) + [Declaration("confirm", c) for c in dict.fromkeys(confirm)]
    warnings = [f"{r.id}: uses an UNVERIFIED value ({r.goal})" for r in results if r.verification == "unverified" and r.status != "not_evaluated"]
    warnings += [f"{s.name}: {w}" for s in structures for w in s.warnings if "outside the dose grid" in w]
    summary = PlanSummary()
    if plan:
        summary = PlanSummary(plan.label, plan.sop_instance_uid, plan.prescription_gy, plan.fractions, plan.prescription_source)
    dose_summary = DoseSummary(dose.sop_instance_uids[0], [round(v, 6) for v in dose.spacing_mm], list(dose.shape),
                               list(dose.sop_instance_uids) if len(dose.sop_instance_uids) > 1 else [], dose.summation_type)
    result = CheckPlanResult(
        plan=summary,
        dose=dose_summary,
        protocol=ProtocolSummary(protocol.id, protocol.version, protocol.title, arm.name if arm else None, arm_reason, protocol.content_hash),
        status=rules.plan_status(results, checks, needs_review),
        results=results,
        plan_checks=checks,
        structures=structures,
        indices=index_table,
        inputs=[str(p) for p in plan_set.paths],
        notes=notes,
        warnings=warnings,
        patient_id=plan_set.patient_id,
        structure_set_uid=plan_set.structures.sop_instance_uid,
        point_doses=[asdict(pd) for pd in plan.point_doses] if plan else [],
        needs_review=needs_review,
        unassigned_rois=unassigned,
        declarations=declarations,
    )
    if plan_set.part_of_course:
        return courses.as_part(result, plan_set.part_of_course)
    return courses.inferred_course_review(courses.with_parts(result, plan_set.course_parts), plan_set.pairing, confirm)
