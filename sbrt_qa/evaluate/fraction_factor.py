"""Dose values against the levels' doses: stop when they differ by the fraction count.

The loader stops a plan set whose dose values contradict its *recorded* prescription by
the fraction count (:func:`sbrt_qa.load.course.fraction_factor_contradiction`). Pinnacle
and RayStation record no prescription: each level's dose then comes from the protocol,
a dose in the target's name or the reviewer's ``--rx`` (:mod:`sbrt_qa.evaluate.prescription`),
and only here, once those doses are decided, can the same test run. A dose that is one
session labelled as the whole plan (or the course times the fractions) would otherwise
be judged as a massively under- (or over-) dosed plan; the tool stops instead, for that
plan set, with the same kind of message.
"""

from __future__ import annotations

import numpy as np

from ..errors import PlanSetStopped
from ..load.course import BOUNDS_NOTE, PROCEED, as_what, fraction_factor
from ..load.planset import LoadedPlanSet
from .prescription import Resolution

#: Level sources the loader's test has not seen (it knows only the recorded prescription).
UNCHECKED_SOURCES = ("protocol", "name", "reviewer")


def check_levels(plan_set: LoadedPlanSet, resolution: Resolution, target_masks: dict[int, np.ndarray], fractions: int | None) -> None:
    """Stop when the dose values contradict the levels' doses by the fraction count.

    The test of the recorded prescription (:func:`sbrt_qa.load.course.fraction_factor`),
    applied to the doses the evaluation decided: the grid maximum against the highest
    target's dose, and every target's median against its own dose, must all say "one
    session" (or all "the fractions times the course"). It runs only when a target's dose
    comes from the protocol, a name or the reviewer; a part of a course is skipped (the
    course is judged on the course dose, and a part alone is never a deviation).

    Parameters
    ----------
    plan_set : LoadedPlanSet
    resolution : Resolution
        Targets per level with their decided doses.
    target_masks : dict
        ROI number -> voxel mask of the target on the dose grid.
    fractions : int or None
        The plan's fractions (recorded, or the reviewer's ``--rx``); None or 1: nothing to test.

    Raises
    ------
    PlanSetStopped
        When the values contradict the levels by the fraction count (exit 2 for this plan set).
    """
    if plan_set.part_of_course or not fractions or fractions < 2:
        return
    decided = [t for t in resolution.all_targets() if t.dose_gy is not None and t.dose_gy > 0]
    if not any(t.source in UNCHECKED_SOURCES for t in decided):
        return
    dose = plan_set.dose
    top = max(decided, key=lambda t: t.dose_gy)  # type: ignore[arg-type, return-value]
    medians: list[tuple[str, float, float]] = []  # (ROI, median Gy, its dose Gy)
    for t in decided:
        mask = target_masks.get(t.roi_number)
        if mask is not None and mask.any():
            medians.append((t.roi, float(np.median(dose.dose_gy[mask])), float(t.dose_gy)))  # type: ignore[arg-type]
    kind = fraction_factor(float(top.dose_gy), fractions, dose.max_gy, [(m, rx) for _, m, rx in medians])  # type: ignore[arg-type]
    if kind is None:
        return
    summed = bool(plan_set.course_parts) and len(dose.sop_instance_uids) > 1
    path = None if summed or not plan_set.paths else plan_set.paths[0]
    label = plan_set.plan.label if plan_set.plan is not None and plan_set.plan.label else "(no label)"
    where = " (the course's summed dose)" if path is None else ""  # the path, when there is one, leads the message
    levels = ", ".join(f"{t.roi}" + ("" if t.roi == t.role else f" (level {t.role})") + f" {t.dose_gy:g} Gy ({t.source}"
                       + ("" if t.source == "protocol" or not t.message else f": {t.message}") + ")" for t in decided)
    if plan_set.plan is None or not plan_set.plan.prescriptions:
        levels += "; the plan records no prescription"
    figures = f"dose grid maximum {dose.max_gy:.4g} Gy is {dose.max_gy / top.dose_gy:.3f} x the {top.dose_gy:g} Gy of {top.roi}"  # type: ignore[operator]
    figures += "".join(f", {roi}'s median {m:.4g} Gy {m / rx:.3f} x its {rx:g} Gy" for roi, m, rx in medians)
    raise PlanSetStopped(
        f"plan {label!r}{where}: the dose values contradict the levels' doses by the fraction count ({fractions} fractions): "
        f"{figures}, as {as_what(kind, fractions)} would be (DoseSummationType {dose.summation_type}); levels judged at: {levels}. "
        "The dose is either one session labelled as the whole, the whole labelled as one session, or grossly wrong: the tool "
        f"will not choose ({BOUNDS_NOTE}); {PROCEED}, or, if a level's dose is wrong, give the prescription with --rx", path)
