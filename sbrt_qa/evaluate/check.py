"""DVH -> evaluate step: a loaded plan set and a protocol to a :class:`~sbrt_qa.results.CheckPlanResult`."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np

from ..dvh.analysis import analyze, structure_dvhs
from ..dvh.masks import voxel_mask
from ..load.planset import LoadedPlanSet
from ..dvh.metrics import parse_metric
from ..protocol.schema import INDEX_METRICS, Protocol
from ..results import CheckPlanResult, ConstraintResult, Declaration, DoseSummary, PlanSummary, ProtocolSummary, ReviewItem, UnassignedROI
from . import courses, fraction_factor, indices, pairs, plan_checks, prescription, rules, sessions, targets
from .assignment import assign, constrained_roles, structure_set_checks
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
    rx_list = [prescription.parse_rx(r) if isinstance(r, str) else r for r in (rx or [])]
    # fraction groups that leave the sessions undecided (evaluate/sessions.py): the reviewer's reading, or a review item
    course_sessions = sessions.resolve(plan_set.plan, protocol, arm_name, rx_list)
    if plan_set.plan is not None and course_sessions.fractions != plan_set.plan.fractions:
        plan_set = replace(plan_set, plan=replace(plan_set.plan, fractions=course_sessions.fractions))
    plan, dose = plan_set.plan, plan_set.dose
    plan_fractions = plan.fractions if plan and plan.fractions else next((r.fractions for r in rx_list if r.fractions), None)
    course_rx, _ = prescription.course_prescriptions(plan)
    recorded_rx = max((p.dose_gy for p in course_rx), default=None)  # the course's, not one fraction group's
    reviewer_rx = max((r.dose_gy for r in rx_list if not r.target), default=None)
    arm, arm_reason = rules.select_arm(protocol, plan_fractions, recorded_rx or reviewer_rx, arm_name, recorded=recorded_rx is not None)
    if arm is None and course_sessions.arm_reason:
        arm_reason = course_sessions.arm_reason
    fractions = plan_fractions or (arm.fractions[0] if arm else 1)
    infos = roi_infos(plan_set.structures.rois)
    # ROIs are keyed by ROI Number; ROIs sharing a number are never matched (see structure_set_checks).
    rois = {r.number: r for r, info in zip(plan_set.structures.rois, infos) if not info.duplicate_number}
    assignment = assign(protocol, infos, arm, user_map, absent)
    matches = assignment.matches
    dvhs = structure_dvhs(plan_set)
    structures = analyze(plan_set, curve=True, dvhs=dvhs).structures
    spacing = plan_set.structures.contour_spacing()
    unions = pairs.union_dvhs(matches, assignment.in_arm, rois, dvhs, dose, spacing)  # a pair evaluated on its two sides

    def dvh_of(match: Match):
        if match.parts:
            return unions[match.role].sd if match.role in unions else None
        return dvhs.get(match.roi_number) if match.roi_number in rois else None

    # every target accounted for: assigned to a level at a decided dose, or reported (evaluate/prescription.py)
    level_roles = [lv.role for lv in arm.levels] if arm else [lv.role for a in protocol.arms for lv in a.levels]
    referenced = {p.roi_number: f"{p.dose_gy:g} Gy" + (f" {p.description!r}" if p.description else "")
                  for p in (plan.prescriptions if plan else []) if p.roi_number is not None}
    accounting = targets.candidates([i for i in infos if not i.duplicate_number], level_roles, referenced)
    target_masks = {c.roi.number: voxel_mask(rois[c.roi.number], dose, spacing) for c in accounting.candidates
                    if c.roi.number in rois and rois[c.roi.number].geometry == "CLOSED_PLANAR" and not rois[c.roi.number].errors}
    resolution = prescription.resolve(protocol, arm, plan, accounting, targets.composites(target_masks), matches, user_map, rx_list,
                                      _roles_needing_dose(protocol, arm))
    # the doses now decided (protocol, name, --rx): stop if the values contradict them by the fraction count
    fraction_factor.check_levels(plan_set, resolution, target_masks, plan_fractions)
    level_targets = resolution.targets
    for role, ts in level_targets.items():
        primary = next(t for t in ts if t.primary)
        if matches[role].roi_number != primary.roi_number:
            matches[role] = primary.match()

    body_match = next((matches[r.name] for r in protocol.roles.values() if r.kind == "external" and matches[r.name].roi), None)
    body_sd = dvh_of(body_match) if body_match else None
    body_dvh = body_sd.dvh if body_sd else None
    body_mask = voxel_mask(rois[body_match.roi_number], dose, spacing) if body_match and body_dvh is not None else None

    in_arm = assignment.in_arm | set(level_targets)
    evidence: dict[str, rules.Evidence] = {}
    index_table: dict[str, dict] = {}
    outside_cc: dict[str, float | None] = {}
    outside_body: dict[str, float] = {}

    def evidence_of(m: Match) -> tuple[rules.Evidence, object]:
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
        elif m.parts:
            problem = unions[m.role].problem if m.role in unions else None
        return rules.Evidence(m, sd.dvh if sd else None, sd.volume_cc if sd else None, bool(sd and sd.outside_cc > 0), problem), sd

    for name in protocol.roles:
        evidence[name], sd = evidence_of(matches[name])
        outside_cc[name] = sd.outside_cc if sd else None  # type: ignore[attr-defined]
    extra_targets = {}  # ROLE@ROI -> Match of further targets at a level
    for t in resolution.all_targets():
        if not t.primary:
            extra_targets[t.key] = t.match()
            evidence[t.key], sd = evidence_of(t.match())
            outside_cc[t.key] = sd.outside_cc if sd else None  # type: ignore[attr-defined]
    coverage = organ_grid_coverage(protocol, arm, matches, {name: dvh_of(m) for name, m in matches.items()}, confirm)
    for name, problem in coverage.problems.items():
        evidence[name].problem = evidence[name].problem or problem
    # isodose volumes are split between targets (indices.partition): every target accounted for takes part,
    # assigned or not, so that no target's dose is counted as another's spill
    partition_masks = {t.key: target_masks.get(t.roi_number) for t in resolution.all_targets()}
    partition_masks.update({f"unassigned@{c.roi.name}": target_masks.get(c.roi.number) for c in resolution.unassigned})
    cells = indices.partition({k: m for k, m in partition_masks.items() if m is not None}, dose) if arm is not None else {}
    for t in resolution.all_targets():
        ev = evidence[t.key]
        if ev.problem is not None or ev.dvh is None or t.dose_gy is None:
            continue
        mask = target_masks.get(t.roi_number)
        if mask is None:
            mask = voxel_mask(rois[t.roi_number], dose, spacing)
        ev.target_indices = indices.compute(ev.dvh, ev.volume_cc, t.dose_gy, dose, body_dvh, mask, body_mask, cells.get(t.key))
        index_table[t.key] = asdict(ev.target_indices)  # unrounded: the JSON rounds (results.CheckRun.to_dict), the API does not
        index_table[t.key]["roi"] = t.roi
        index_table[t.key]["prescription_source"] = t.source
        if body_mask is not None:
            outside_body[t.key] = float(np.count_nonzero(mask & ~body_mask)) * dose.voxel_cc

    def rx_for(c, t=None) -> tuple[float | None, str]:
        if c.prescription_role and c.prescription_role != c.structure:
            return resolution.role_dose(c.prescription_role), f"level {c.prescription_role} has no decided dose"
        if t is not None:
            return t.dose_gy, t.message
        if protocol.roles[c.structure].kind == "target" and c.structure in resolution.level_dose:
            return resolution.role_dose(c.structure), f"level {c.structure} has no decided dose"
        return resolution.primary_dose(), "the arm's highest level has no decided dose"

    results: list[ConstraintResult] = []
    for c in protocol.constraints:
        if arm is not None and c.arms and arm.name not in c.arms:
            continue
        role = protocol.roles[c.structure]
        if arm is None:
            results.append(rules.not_evaluated(c, role.required, matches[c.structure], f"no arm: {arm_reason}"))
            continue
        ts = level_targets.get(c.structure)
        if not ts:
            dose_gy, why = rx_for(c)
            results.append(rules.evaluate(c, role.required, evidence[c.structure], arm, fractions, recorded_rx, rx_gy=dose_gy, rx_why=why))
            continue
        for t in ts:
            dose_gy, why = rx_for(c, t)
            r = rules.evaluate(c, role.required, evidence[t.key], arm, fractions, recorded_rx, rx_gy=dose_gy, rx_why=why)
            if not t.primary:
                r.id = f"{c.id}@{t.roi}"
            if t.source != "recorded" and dose_gy is not None and _needs_rx(c.metric, c.biological):
                r.message = "; ".join(x for x in (r.message, f"judged at {dose_gy:g} Gy ({t.source}: {t.message})") if x)
            results.append(r)

    checks = resolution.checks + plan_checks.run(plan_set, protocol, arm, {k: v for k, v in matches.items() if k in in_arm}, outside_cc, outside_body,
                                               confirm, prescription_gy=recorded_rx)
    for key, m in extra_targets.items():
        checks += plan_checks.target_grid_checks(key, rois[m.roi_number].name, outside_cc.get(key), outside_body.get(key))
    checks += structure_set_checks(infos)
    if coverage.check is not None:
        checks.append(coverage.check)
    deviation = rules.fractionation_deviation(protocol, plan_fractions, recorded_rx or reviewer_rx)
    if deviation and not arm_name:
        checks.insert(0, plan_checks.PlanCheckResult("fractionation", f"{plan_fractions} fractions", _arms_limit(protocol), "major", deviation))
    if arm is None and not deviation:
        checks.insert(0, plan_checks.PlanCheckResult("arm", None, ", ".join(a.name for a in protocol.arms), "not_evaluated", arm_reason))
    notes = list(plan_set.notes) + course_sessions.notes + assignment.notes + resolution.notes
    for m in matches.values():
        if m.parts and m.role in in_arm:
            notes.append(pairs.match_note(m))
        elif m.roi is not None and m.how not in ("exact",) and m.role in in_arm:
            notes.append(f"role {m.role} matched ROI {m.roi!r} by {m.how} (ROI #{m.roi_number})")
    taken = assignment.assigned_numbers | {t.roi_number for t in resolution.all_targets()}
    unassigned = [UnassignedROI(s.name, s.roi_number, s.type, s.volume_cc, s.dmax_gy, assignment.candidates.get(s.roi_number, []))
                  for s, info in zip(structures, infos) if info.contoured and (info.duplicate_number or s.roi_number not in taken)]
    # several ROIs qualifying for a target level are several targets, each evaluated: not an ambiguity
    needs_review = [r for r in assignment.review if not (r.id.startswith("structure:") and r.id.split(":", 1)[1] in level_targets)]
    needs_review += sessions.summed_group_doses_review(plan, dose.summation_type, confirm)
    needs_review += course_sessions.review + resolution.review + coverage.review + plan_checks.review_items(checks)
    needs_review += [item for role, u in unions.items() if arm is not None and role in constrained_roles(protocol, arm)
                     for item in u.review]
    needs_review += _unevaluable_structures(evidence, rois, protocol, arm, in_arm, {r.id for r in needs_review})
    declarations = list(assignment.declarations) + resolution.declarations + [Declaration("confirm", c) for c in dict.fromkeys(confirm)]
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
        prescription_levels=resolution.levels,
        pairing_kind=str(plan_set.pairing_kind) if plan_set.pairing_kind else None,
    )
    if plan_set.part_of_course:
        return courses.as_part(result, plan_set.part_of_course)
    return courses.inferred_course_review(courses.with_parts(result, plan_set.course_parts), plan_set.pairing_kind, confirm)


def _unevaluable_structures(evidence: dict[str, rules.Evidence], rois: dict, protocol: Protocol, arm, in_arm: set[str],
                            already: set[str]) -> list[ReviewItem]:
    """Review items for structures that were identified but cannot be evaluated (malformed or open contours).

    Whether the role is required or not: a PTV_3500 with an unreadable contour was found, so
    its coverage is something the plan must show, and passing over it would PASS what was
    not evaluated. Grid coverage has its own review items (``dose_grid:ROLE``).
    """
    if arm is None:
        return []
    constrained = {c.structure for c in protocol.constraints if not c.arms or arm.name in c.arms}
    items = []
    for key, ev in evidence.items():
        role = key.split("@", 1)[0]
        roi = rois.get(ev.match.roi_number)
        if (roi is None or not (roi.errors or roi.geometry != "CLOSED_PLANAR") or role not in constrained or role not in in_arm
                or f"structure:{key}" in already):
            continue
        problem = ev.problem or f"ROI {roi.name!r} cannot be evaluated"
        items.append(ReviewItem(f"structure:{key}", f"{problem}: the constraints on {key} are not evaluated",
                                f"correct ROI {ev.match.roi!r} (#{ev.match.roi_number}) in the planning system and export it again, "
                                f"or declare {role} absent with --absent {role}"))
    return items


def _needs_rx(metric: str, biological: str | None = None) -> bool:
    """Whether a figure needs the prescription dose (% doses, indices); EQD2/BED only to judge the LQ model's range."""
    return metric in INDEX_METRICS or parse_metric(metric).needs_prescription


def _roles_needing_dose(protocol: Protocol, arm) -> set[str]:
    """Level roles whose dose a constraint of the arm needs: % figures and indices of the role, or of organs (the highest level)."""
    if arm is None:
        return set()
    levels = {lv.role for lv in arm.levels}
    out: set[str] = set()
    for c in protocol.constraints:
        if (c.arms and arm.name not in c.arms) or not _needs_rx(c.metric, c.biological):
            continue
        role = c.prescription_role or c.structure
        out |= {role} if role in levels else levels
    return out


def _arms_limit(protocol: Protocol) -> str:
    return "; ".join(f"{a.name} {a.fractions[0]}-{a.fractions[1]} fx, {a.dose_per_fraction_gy[0]:g}-{a.dose_per_fraction_gy[1]:g} Gy/fx"
                     for a in protocol.arms)
