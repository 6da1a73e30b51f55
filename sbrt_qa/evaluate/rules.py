"""Constraints to statuses: pass (per protocol), minor (variation acceptable), major
(deviation unacceptable), not_evaluated (with the reason) or info (report only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dvh.cumulative import CumulativeDVH
from ..dvh.metrics import evaluate as evaluate_metric
from ..dvh.metrics import parse_metric
from ..protocol.schema import INDEX_METRICS, Arm, Constraint, Protocol
from ..results import ConstraintResult
from ..status import Status
from . import biology, indices
from .matching import Match

STATUS_ORDER = {"pass": 0, "info": 0, "minor": 1, "not_evaluated": 2, "major": 3}


@dataclass
class Evidence:
    """What a constraint is evaluated on for one role."""

    match: Match
    dvh: CumulativeDVH | None
    volume_cc: float | None
    partial: bool
    problem: str | None  # why the structure cannot be evaluated
    target_indices: indices.TargetIndices | None = None


def _arms_text(protocol: Protocol) -> str:
    return "; ".join(f"{a.name}: {a.fractions[0]}-{a.fractions[1]} fractions of {a.dose_per_fraction_gy[0]:g}-{a.dose_per_fraction_gy[1]:g} Gy"
                     for a in protocol.arms)


def select_arm(protocol: Protocol, fractions: int | None, prescription_gy: float | None, forced: str | None,
               recorded: bool = True) -> tuple[Arm | None, str]:
    """The arm for a plan's fractionation, and why it was chosen.

    The fractions and the prescription choose it when they fit exactly one arm; otherwise the
    number of fractions alone, when only one arm allows it (the plan need not record a
    prescription for that). ``recorded`` says whether ``prescription_gy`` is the plan's own
    (else the reviewer's ``--rx``), for the wording only.
    """
    if forced:
        arm = protocol.arm(forced)
        if arm is None:
            return None, f"--arm {forced!r} names no arm of {protocol.id} ({', '.join(a.name for a in protocol.arms)})"
        return arm, f"chosen with --arm {arm.name}"
    if not fractions:
        return None, "the plan gives no number of fractions (no RT Plan?): use --arm"
    by_fractions = [a for a in protocol.arms if a.fractions[0] <= fractions <= a.fractions[1]]
    described = f"{fractions} fractions"
    if prescription_gy:
        per_fraction = prescription_gy / fractions
        described = f"{prescription_gy:g} Gy in {fractions} fractions ({per_fraction:.3g} Gy per fraction)"
        if not recorded:
            described += " (--rx)"
        fits = [a for a in by_fractions if a.dose_per_fraction_gy[0] - 1e-9 <= per_fraction <= a.dose_per_fraction_gy[1] + 1e-9]
        if len(fits) == 1:
            a = fits[0]
            return a, (f"{described} lies in arm {a.name}: {a.fractions[0]}-{a.fractions[1]} fractions, "
                       f"{a.dose_per_fraction_gy[0]:g}-{a.dose_per_fraction_gy[1]:g} Gy per fraction")
        if len(fits) > 1:
            return None, f"{described} fits several arms ({', '.join(a.name for a in fits)}); use --arm"
    if len(by_fractions) == 1:
        a = by_fractions[0]
        why = f"{fractions} fractions identify arm {a.name} ({a.fractions[0]}-{a.fractions[1]} fractions)"
        if prescription_gy:
            why += f"; {described} lies outside its {a.dose_per_fraction_gy[0]:g}-{a.dose_per_fraction_gy[1]:g} Gy per fraction"
        elif recorded:
            why += "; the plan records no prescription"
        return a, why
    if not by_fractions:
        return None, f"{described} fits no arm of {protocol.id} ({_arms_text(protocol)})"
    return None, f"{described} fit several arms ({', '.join(a.name for a in by_fractions)}): give --arm, or the prescription with --rx"


def fractionation_deviation(protocol: Protocol, fractions: int | None, prescription_gy: float | None) -> str | None:
    """Why no arm of the protocol allows a plan's fractionation, or None when one does (or it is unknown)."""
    if not fractions:
        return None
    by_fractions = [a for a in protocol.arms if a.fractions[0] <= fractions <= a.fractions[1]]
    if not by_fractions:
        what = f"{prescription_gy:g} Gy in {fractions} fractions" if prescription_gy else f"{fractions} fractions"
        return f"{what}: no arm of {protocol.id} allows {fractions} fractions ({_arms_text(protocol)})"
    if prescription_gy:
        per = prescription_gy / fractions
        if not any(a.dose_per_fraction_gy[0] - 1e-9 <= per <= a.dose_per_fraction_gy[1] + 1e-9 for a in by_fractions):
            return (f"{prescription_gy:g} Gy in {fractions} fractions ({per:.3g} Gy per fraction): no arm of {protocol.id} allows it "
                    f"({_arms_text(protocol)})")
    return None


def table_limits(constraint: Constraint, volume_cc: float) -> tuple[float, float | None] | None:
    """Goal and variation interpolated linearly at ``volume_cc``; None outside the table."""
    rows = constraint.volume_table
    vols = np.array([r[0] for r in rows])
    if volume_cc < vols[0] or volume_cc > vols[-1]:
        return None
    goal = float(np.interp(volume_cc, vols, [r[1] for r in rows]))
    variation = None
    if all(r[2] is not None for r in rows):
        variation = float(np.interp(volume_cc, vols, [r[2] for r in rows]))  # type: ignore[misc]
    return goal, variation


def prescription_for(role: str, arm: Arm, plan_prescription: float | None) -> float:
    """The dose that % figures of a role refer to: its own level, else the arm's highest."""
    for level in arm.levels:
        if level.role == role:
            return level.dose_for(plan_prescription)
    return arm.primary(plan_prescription).dose_for(plan_prescription)


def _value(constraint: Constraint, evidence: Evidence, rx: float, fractions: int) -> float | None:
    if constraint.metric in INDEX_METRICS:
        if evidence.target_indices is None:
            return None
        return indices.value(evidence.target_indices, constraint.metric)
    metric = parse_metric(constraint.metric)
    dvh = evidence.dvh
    assert dvh is not None
    if not constraint.biological:
        return evaluate_metric(metric, dvh, rx)
    ab, kind = float(constraint.alpha_beta), constraint.biological  # type: ignore[arg-type]
    if metric.kind == "dose_stat" and metric.stat == "mean":
        return biology.mean(dvh, fractions, ab, kind)
    if metric.kind in ("dose_stat", "dose_at_volume"):
        physical = evaluate_metric(metric, dvh, rx)
        return None if physical is None else biology.convert(physical, fractions, ab, kind)
    # volume metrics: the threshold is a biological dose; find the physical dose giving it
    threshold = float(metric.value) if metric.value_unit == "Gy" else float(metric.value) * rx / 100.0  # type: ignore[arg-type]
    physical = biology.physical_for(threshold, fractions, ab, kind)
    volume = dvh.volume_at_dose_cc(physical) if metric.kind == "volume_at_dose" else dvh.volume_below_dose_cc(physical)
    return volume if metric.unit == "cc" else 100.0 * volume / dvh.total_cc


def _fields(constraint: Constraint, role_required: bool, match: Match) -> dict:
    """The fields of a constraint's result that do not depend on its value."""
    return dict(
        id=constraint.id, structure=constraint.structure, matched_roi=match.roi, matched_roi_number=match.roi_number, match=match.how,
        metric=constraint.metric + (f" ({constraint.biological}, a/b={constraint.alpha_beta:g} Gy)" if constraint.biological else ""),
        unit=constraint.unit, goal=constraint.goal.text, variation=constraint.variation.text if constraint.variation else None,
        source=constraint.source, verification=constraint.verification,
        required=constraint.required if constraint.required is not None else role_required,
        base_metric=constraint.metric, metric_kind="index" if constraint.metric in INDEX_METRICS else "dvh",
        model=constraint.biological or "physical", alpha_beta_gy=constraint.alpha_beta if constraint.biological else None,
        goal_operator=constraint.goal.op, goal_from_table=bool(constraint.volume_table) and constraint.goal.value is None,
        variation_operator=constraint.variation.op if constraint.variation else None,
        matched_roi_numbers=[number for _, number in match.parts] or None,
    )


def not_evaluated(constraint: Constraint, role_required: bool, match: Match, reason: str) -> ConstraintResult:
    """A constraint that could not be evaluated, with the reason."""
    return ConstraintResult(**_fields(constraint, role_required, match), value=None, status="not_evaluated", message=reason)


def evaluate(constraint: Constraint, role_required: bool, evidence: Evidence, arm: Arm, fractions: int,
             plan_prescription: float | None = None, *, rx_gy: float | None | str = "level", rx_why: str = "") -> ConstraintResult:
    """Evaluate one constraint; limits are compared before any rounding.

    Parameters
    ----------
    rx_gy : float or None
        The dose that % figures refer to, as decided per target (evaluate/prescription.py);
        None when none could be decided: figures that need it are not evaluated. By default
        the arm's level (:func:`prescription_for`).
    rx_why : str
        Why ``rx_gy`` is None, for the message.
    """
    base = _fields(constraint, role_required, evidence.match)
    notes = [f"{constraint.structure} = {evidence.match.message}"] if evidence.match.parts else []
    if constraint.verification == "unverified":
        notes.append("UNVERIFIED value: check the primary source before relying on it")

    def unevaluable(reason: str) -> ConstraintResult:
        return ConstraintResult(**base, value=None, status="not_evaluated", message="; ".join([reason] + notes))

    if evidence.match.roi is None:
        return unevaluable(evidence.match.message)
    if evidence.problem:
        return unevaluable(evidence.problem)
    if rx_gy == "level":
        rx_gy = prescription_for(constraint.prescription_role or constraint.structure, arm, plan_prescription)
    rx = rx_gy
    needs_rx = constraint.metric in INDEX_METRICS or parse_metric(constraint.metric).needs_prescription
    # the LQ model's validity is judged on the prescription's dose per fraction: the level's, else the largest recorded
    lq_rx = rx if rx is not None else plan_prescription
    if constraint.biological and lq_rx is None:
        needs_rx = True
    if rx is None and needs_rx:
        return unevaluable(f"no prescription dose decided{': ' + rx_why if rx_why else ''}: not judged at a guessed dose")
    if constraint.metric in INDEX_METRICS and evidence.target_indices is not None and constraint.metric in evidence.target_indices.not_evaluable:
        return unevaluable(evidence.target_indices.not_evaluable[constraint.metric])
    value = _value(constraint, evidence, rx, fractions)  # type: ignore[arg-type]
    if value is None:
        return unevaluable("the figure cannot be computed for this structure (too small, or no dose inside it)")
    goal_limit, variation_limit = constraint.goal.value, constraint.variation.value if constraint.variation else None
    if constraint.volume_table:
        volume = evidence.target_indices.ptv_cc if evidence.target_indices else evidence.volume_cc
        limits = table_limits(constraint, float(volume or 0.0))
        if limits is None:
            lo, hi = constraint.volume_table[0][0], constraint.volume_table[-1][0]
            return ConstraintResult(**base, value=value, status="not_evaluated",
                                    message="; ".join([f"volume {volume:.2f} cc lies outside the table ({lo:g}-{hi:g} cc): not extrapolated"] + notes))
        if constraint.goal.value is None:
            goal_limit = limits[0]
        if constraint.variation is not None and constraint.variation.value is None:
            variation_limit = limits[1]
        notes.append(f"limits interpolated at {volume:.2f} cc: goal {goal_limit:.4g}" + (f", variation {variation_limit:.4g}" if variation_limit is not None else ""))
    if constraint.goal.op == "report":
        status = "info"
    elif constraint.goal.holds(value, goal_limit):
        status = "pass"
    elif constraint.variation is not None and constraint.variation.holds(value, variation_limit):
        status = "minor"
    else:
        status = "major"
    if evidence.partial:
        notes.append("the structure lies partly outside the dose grid: the figure describes the part inside")
    if constraint.biological and lq_rx is not None and lq_rx / fractions > constraint.lq_max_dose_per_fraction_gy:
        notes.append(f"{constraint.biological} reported only: {lq_rx / fractions:.3g} Gy per fraction exceeds "
                     f"{constraint.lq_max_dose_per_fraction_gy:g} Gy, where the LQ model is uncertain (would be {status})")
        status = "info"
    elif constraint.report_only:
        notes.append(f"report only (would be {status})")
        status = "info"
    return ConstraintResult(**base, value=value, status=status, message="; ".join(notes), goal_limit=goal_limit, variation_limit=variation_limit)


def plan_status(results: list[ConstraintResult], checks: list, needs_review: list | None = None) -> Status:
    """Worst status: major, then needs review (a required item not evaluated, a plan check not
    evaluated, or anything the reviewer must decide), then minor, else pass."""
    statuses = [r.status for r in results] + [c.status for c in checks]
    if Status.MAJOR in statuses:
        return Status.MAJOR
    if (needs_review or any(r.status == Status.NOT_EVALUATED and r.required for r in results)
            or any(c.status == Status.NOT_EVALUATED for c in checks)):
        return Status.NOT_EVALUATED
    if Status.MINOR in statuses:
        return Status.MINOR
    return Status.PASS
