"""Courses and incomplete plan sets in the check results.

A plan that is part of a course is shown for information: the course is judged on the
course dose, and a part alone is never a deviation. A plan set that could not be
assembled or read is an entry of its own, not evaluated, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ..load.pairing import Pairing
from ..load.rtplan import PlanInfo
from ..protocol.schema import Protocol
from ..results import CheckPlanResult, DoseSummary, PlanCheckResult, PlanSummary, ProtocolSummary, ReviewItem
from ..status import Status

_DOWNGRADED = (Status.MAJOR, Status.MINOR, Status.NOT_EVALUATED)


def as_part(result: CheckPlanResult, course: str) -> CheckPlanResult:
    """A course part's result: every figure kept, none a deviation (status info)."""
    why = f"part of a course ({course}): judged on the course dose, not alone"

    def soften(status: str, message: str) -> tuple[str, str]:
        if status in _DOWNGRADED:
            return Status.INFO, f"{why}; alone it would be {status}" + (f": {message}" if message else "")
        return status, message

    results = []
    for r in result.results:
        status, message = soften(r.status, r.message)
        results.append(replace(r, status=status, message=message))
    checks = []
    for c in result.plan_checks:
        status, message = soften(c.status, c.message)
        checks.append(replace(c, status=status, message=message))
    checks.insert(0, PlanCheckResult("part_of_course", course, "judged on the course", Status.INFO, why))
    notes = list(result.notes) + [f"{why}; review item(s) of the part alone: {', '.join(i.id for i in result.needs_review)}"
                                  if result.needs_review else why]
    return replace(result, status=Status.INFO, results=results, plan_checks=checks, needs_review=[], notes=list(dict.fromkeys(notes)))


def with_parts(result: CheckPlanResult, parts: list[PlanInfo]) -> CheckPlanResult:
    """A course's result, naming its parts."""
    if not parts:
        return result
    listed = ", ".join(f"{p.label or p.sop_instance_uid} ({p.fractions} fx)" for p in parts)
    return replace(result, notes=[f"course judged on the course dose; its plans: {listed}", *result.notes])


def incomplete(path: Path | str | None, reason: str, protocol: Protocol) -> CheckPlanResult:
    """The entry of a plan set that could not be assembled or read: not evaluated, with the reason."""
    where = str(path) if path else ""
    message = f"{where}: {reason}" if where else reason
    check = PlanCheckResult("plan_set_complete", where or None, "RT Plan, RT Structure Set and RT Dose", Status.NOT_EVALUATED, message)
    return CheckPlanResult(
        plan=PlanSummary(label=f"incomplete plan set ({Path(where).name})" if where else "incomplete plan set"),
        dose=DoseSummary("", [], []),
        protocol=ProtocolSummary(protocol.id, protocol.version, protocol.title, None, "not evaluated: incomplete plan set", protocol.content_hash),
        status=Status.NOT_EVALUATED,
        results=[],
        plan_checks=[check],
        structures=[],
        inputs=[where] if where else [],
        error=f"incomplete plan set, not evaluated: {message}",
    )


#: ``--confirm`` id by which the reviewer accepts a course the export does not link.
CONFIRM_COURSE = "course"


@dataclass(frozen=True)
class InferredCourse:
    """Plans judged as one course because the protocol reveals it (see :func:`inferred_groups`).

    Attributes
    ----------
    indices : tuple of int
        The parts, as indices into the list given.
    arm : str
        The one arm their fractions make together.
    reason : str
        Why they are judged together, for the report.
    """

    indices: tuple[int, ...]
    arm: str
    reason: str


def inferred_groups(plans: list[tuple[str, PlanInfo] | None], protocol: Protocol) -> list[InferredCourse]:
    """The courses the protocol reveals: plans on one structure set whose fractions add up to
    exactly one arm while none of them alone fits an arm (a re-plan split 3 + 2 on a
    5-fraction protocol).

    Parameters
    ----------
    plans : list of (str, PlanInfo) or None
        As :func:`sbrt_qa.load.planset.course_candidates` takes them: loaded plan sets
        (``check``, the Python API, the listener) or assembled ones (the batch's job finder)
        give the same courses.
    """
    from ..load.planset import course_candidates

    def arms_for(fractions: int | None) -> list[str]:
        return [a.name for a in protocol.arms if fractions and a.fractions[0] <= fractions <= a.fractions[1]]

    out = []
    for indices in course_candidates(plans):
        infos = [plans[i][1] for i in indices]  # type: ignore[index]
        counts = [p.fractions for p in infos]
        if any(c is None for c in counts) or any(arms_for(c) for c in counts):
            continue
        total = sum(counts)  # type: ignore[arg-type]
        arms = arms_for(total)
        if len(arms) != 1:
            continue
        reason = (f"plans {', '.join(p.label for p in infos)} share a structure set and their fractions "
                  f"({' + '.join(map(str, counts))} = {total}) make arm {arms[0]}, which none fits alone: "
                  "judged as one course; no DICOM reference links them")
        out.append(InferredCourse(tuple(indices), arms[0], reason))
    return out


def resolve_candidates(loaded: list, protocol: Protocol) -> list:
    """Add the courses the protocol reveals (:func:`inferred_groups`) to loaded plan sets.
    The parts stay, marked as parts; the course is added after them.
    """
    from ..load.planset import build_course, single_plans

    out = list(loaded)
    for course in inferred_groups(single_plans(loaded), protocol):
        parts = [loaded[i] for i in course.indices]
        try:
            out.append(build_course(parts, course.reason))
        except InputError as exc:  # the summed dose refused: the plans stay plans, and say why they are not a course
            for p in parts:
                p.notes.append(f"{course.reason}; but their summed dose was refused, so each is judged alone: {exc}")
    return out


def inferred_course_review(result: CheckPlanResult, pairing: Pairing | None, confirm) -> CheckPlanResult:
    """A course the export does not link is a review item until the reviewer confirms it."""
    if pairing is not Pairing.COURSE_INFERRED or CONFIRM_COURSE in confirm:
        return result
    item = ReviewItem(CONFIRM_COURSE, "the plans are judged as one course because they share a structure set and their fractions "
                      "add up to an arm; nothing in the export links them", f"--confirm {CONFIRM_COURSE}")
    return replace(result, needs_review=[*result.needs_review, item],
                   status=Status.MAJOR if result.status == Status.MAJOR else Status.NOT_EVALUATED)
