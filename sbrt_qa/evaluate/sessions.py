"""The course's number of treatment sessions when the plan's fraction groups cannot tell it.

The loader reads how the fraction groups make one course
(:class:`~sbrt_qa.load.rtplan.FractionScheme`). When a group has as many fractions as the
others together but contradicts their dose, the plan allows two readings (the group runs
alongside the others, or after them) and the loader leaves the sessions unknown. The tool
does not choose: the reviewer's ``--rx DOSE/FRACTIONS`` names the sessions (when it is one of
the readings), or a forced ``--arm`` does when exactly one reading lies in its fraction
range. Otherwise a review item asks for one of them; the arm is not chosen and no
fractionation deviation is raised on a number the plan does not give.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..load.rtplan import PlanInfo
from ..protocol.schema import Protocol
from ..results import ReviewItem
from .prescription import Rx

REVIEW_ID = "fractions"


@dataclass
class Sessions:
    """The sessions to judge the plan with, and what the reviewer was told or asked.

    Attributes
    ----------
    fractions : int or None
        The course's sessions: the plan's own, or the reading the reviewer chose; None
        when still unknown.
    decided_by : str
        ``plan``, ``rx`` (the reviewer's ``--rx``), ``arm`` (a forced ``--arm``) or ``none``.
    notes : list of str
    review : list of ReviewItem
    arm_reason : str
        Why no arm is chosen while the sessions are unknown (short: the review item says the rest).
    """

    fractions: int | None
    decided_by: str
    notes: list[str] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    arm_reason: str = ""


def resolve(plan: PlanInfo | None, protocol: Protocol, arm_name: str | None, rx: list[Rx]) -> Sessions:
    """The course's sessions for a plan whose fraction groups may leave them undecided.

    Parameters
    ----------
    plan : PlanInfo or None
    protocol : Protocol
    arm_name : str or None
        ``--arm``.
    rx : list of Rx
        The reviewer's ``--rx`` (parsed); one giving fractions names the sessions.
    """
    scheme = plan.fraction_scheme if plan is not None else None
    if plan is None or scheme is None or scheme.kind != "ambiguous":
        return Sessions(plan.fractions if plan is not None else None, "plan")
    readings = scheme.alternatives
    told = " or ".join(str(n) for n in readings)
    action = (f"declare the course's fractionation with --rx DOSEGy/{readings[0]} or --rx DOSEGy/{readings[-1]} "
              "(the prescription of the whole course), or choose the arm with --arm ARM")
    given = next((r for r in rx if r.fractions), None)
    if given is not None:
        if given.fractions in readings:
            return Sessions(given.fractions, "rx", [f"{scheme.reason}: the reviewer's --rx {given.text} gives {given.fractions} fractions, "
                                                    f"so the course is taken as {given.fractions} sessions"])
        return Sessions(None, "none", review=[ReviewItem(
            REVIEW_ID, f"--rx {given.text} gives {given.fractions} fractions, which the plan's fraction groups do not allow "
            f"({told} sessions): {scheme.reason}", action)])
    if arm_name:
        arm = protocol.arm(arm_name)
        if arm is not None:
            fits = [n for n in readings if arm.fractions[0] <= n <= arm.fractions[1]]
            if len(fits) == 1:
                return Sessions(fits[0], "arm", [f"{scheme.reason}: of {told} sessions only {fits[0]} lies in arm {arm.name} "
                                                 f"({arm.fractions[0]}-{arm.fractions[1]} fractions) chosen with --arm {arm.name}, "
                                                 f"so the course is taken as {fits[0]} sessions"])
            return Sessions(None, "none", review=[ReviewItem(
                REVIEW_ID, f"{scheme.reason}; arm {arm.name} ({arm.fractions[0]}-{arm.fractions[1]} fractions) "
                f"{'allows both' if fits else 'allows neither'} ({told} sessions), so the sessions are still unknown", action)])
    return Sessions(None, "none", review=[ReviewItem(REVIEW_ID, f"{scheme.reason}: the course's sessions ({told}) are not known "
                                                     "and the tool will not choose", action)],
                    arm_reason=f"the plan's fraction groups allow {told} sessions (review item {REVIEW_ID}): give --rx DOSEGy/FRACTIONS or --arm")


CONFIRM_GROUP_DOSES = "fraction_group_doses"

#: Dose types the loader assembles from per-group or per-beam doses, summed over every fraction group.
_SUMMED_OVER_GROUPS = ("FRACTION", "FRACTION_SESSION", "BEAM", "BEAM_SESSION")


def summed_group_doses_review(plan: PlanInfo | None, summation_type: str, confirm) -> list[ReviewItem]:
    """A review item when the dose is the sum of a covering plan's fraction groups.

    A FRACTION (or BEAM, or session) dose per group is summed over every group of the plan
    (PS3.3: each is the delivery of its own group or beams). When one group covers the
    others (:class:`~sbrt_qa.load.rtplan.FractionScheme`), that sum is the course only if
    the group is delivered alongside them; if it summarises them, the sum counts the course
    twice. The export does not say which, so the summed dose is not judged until the
    reviewer confirms it (``--confirm fraction_group_doses``). A PLAN dose is the planning
    system's own sum and raises no such question.
    """
    scheme = plan.fraction_scheme if plan is not None else None
    if (scheme is None or scheme.kind not in ("covering", "ambiguous") or scheme.covering_group is None
            or summation_type not in _SUMMED_OVER_GROUPS
            or CONFIRM_GROUP_DOSES in confirm):
        return []
    covered = " and ".join(str(g) for g in scheme.covered_groups)
    return [ReviewItem(
        CONFIRM_GROUP_DOSES,
        f"the dose is the sum of the {summation_type} doses of every fraction group, and group {scheme.covering_group} covers "
        f"groups {covered}: delivered alongside them the sum is the course, but if it summarises them the sum counts the course twice",
        f"--confirm {CONFIRM_GROUP_DOSES} when group {scheme.covering_group} is delivered alongside groups {covered}; "
        "otherwise export the plan's PLAN dose")]
