"""Organs the arm constrains must lie inside the dose grid.

The RT Dose holds no dose outside its grid, so the dose to an organ's part outside it is
unknown: a maximum or a volume figure computed on the part inside may understate it. The
export cannot tell whether that part could receive dose (a cropped grid may end where the
beams still pass), and any margin or dose threshold that would decide it for the reviewer
would be a number without a source. So the rule is plain: an organ the arm constrains that
is not wholly inside the grid (more than a millionth of its volume outside, the DVH
engine's own tolerance) is not evaluated and blocks a PASS, until the reviewer either
extends the grid and recalculates, or confirms with ``--confirm dose_grid:ROLE`` that the
part outside receives no relevant dose; its constraints are then evaluated on the part
inside, with a note (an organ wholly outside stays not evaluated, without blocking), and
the confirmation is recorded in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.schema import Arm, Protocol
from ..results import PlanCheckResult, ReviewItem
from .assignment import constrained_roles
from .matching import Match

#: Outside volume, as a fraction of the ROI's volume, below which a ROI counts as inside (the DVH engine's warning threshold).
OUTSIDE_TOLERANCE = 1e-6


@dataclass
class GridCoverage:
    """Organs partly or wholly outside the dose grid: why each is not evaluated, the plan check, review items."""

    problems: dict[str, str] = field(default_factory=dict)  # role -> why its constraints are not evaluated
    check: PlanCheckResult | None = None
    review: list[ReviewItem] = field(default_factory=list)


def confirm_id(role: str) -> str:
    """The ``--confirm`` id (and review item id) for an organ partly outside the dose grid."""
    return f"dose_grid:{role}"


def organ_grid_coverage(protocol: Protocol, arm: Arm | None, matches: dict[str, Match], dvhs: dict[str, object],
                        confirm: tuple[str, ...] | list[str] = ()) -> GridCoverage:
    """Check that every matched organ the arm constrains lies inside the dose grid.

    Parameters
    ----------
    protocol, arm
        The protocol and the chosen arm (nothing is checked without an arm).
    matches : dict
        Role -> :class:`~sbrt_qa.evaluate.matching.Match`.
    dvhs : dict
        Role -> its :class:`~sbrt_qa.dvh.engine.StructureDVH` (or None when the ROI has none).
    confirm : sequence of str
        ``dose_grid:ROLE`` ids the reviewer confirms.
    """
    out = GridCoverage()
    if arm is None:
        return out
    outside: list[str] = []
    confirmed: list[str] = []
    for name in sorted(constrained_roles(protocol, arm)):
        role, m, sd = protocol.roles[name], matches.get(name), dvhs.get(name)
        if role.kind != "oar" or m is None or m.roi is None or sd is None:
            continue
        volume, out_cc = float(sd.volume_cc), float(sd.outside_cc)  # type: ignore[attr-defined]
        if volume <= 0 or out_cc <= OUTSIDE_TOLERANCE * volume:
            continue
        wholly = sd.dvh is None  # type: ignore[attr-defined]
        where = "wholly" if wholly else f"{out_cc:.3f} cc of {volume:.3f} cc"
        label = f"{name} ({m.message if m.parts else f'{m.roi!r}, ROI #{m.roi_number}'}): {where} outside the dose grid"
        if confirm_id(name) in confirm:
            confirmed.append(label)
            continue
        outside.append(label)
        out.problems[name] = (f"ROI {m.roi!r} lies {'wholly' if wholly else 'partly'} outside the dose grid ({where}); "
                              "the dose there is unknown, so its constraints are not evaluated")
        out.review.append(ReviewItem(
            confirm_id(name), f"{label}: the dose to that part is unknown",
            f"extend the dose grid over {name} and recalculate, or confirm with --confirm {confirm_id(name)} "
            f"that the part outside receives no relevant dose"))
    if outside:
        out.check = PlanCheckResult("organs_in_dose_grid", outside, "constrained organs wholly inside", "not_evaluated",
                                    "; ".join(outside) + (f"; confirmed by the reviewer: {'; '.join(confirmed)}" if confirmed else ""))
    elif confirmed:
        out.check = PlanCheckResult("organs_in_dose_grid", confirmed, "constrained organs wholly inside", "info",
                                    "confirmed by the reviewer (--confirm): the part outside receives no relevant dose; "
                                    "figures describe the part inside")
    else:
        out.check = PlanCheckResult("organs_in_dose_grid", None, "constrained organs wholly inside", "pass", "")
    return out
