"""A paired organ (Lungs, Kidneys, Parotids) evaluated on its two sides when no ROI contours the pair.

Many departments contour ``Lung_L`` and ``Lung_R`` and no ``Lungs``. A protocol's limits
on the pair (total-lung V20Gy[%], mean kidney dose) then match no ROI; since the pair is
rarely a required role, the plan could pass with them never evaluated. So when a role
whose TG-263 structure is a pair (synonym table ``[pairs]``) matches no ROI, the reviewer
neither mapped nor declared it absent, and each side is identified by the matching rules
of a sided organ (the protocol's own role for that side when it has one, with its aliases
and the reviewer's mapping; otherwise the TG-263 name and the synonym table), the role is
matched to the union of the two ROIs (match ``union``; ``matched_roi`` reads
``'Lung_L + Lung_R'`` with the ROIs' names). Its DVH is the sum of the two sides' DVHs
(:func:`~sbrt_qa.dvh.union.disjoint_union`) when they share no volume; when they overlap,
adding would count the overlap twice, so the role is not evaluated and the reviewer is asked.

When only one side is identified (the other missing, ambiguous or declared absent), the
limits on the pair are not judged on one side: a review item names the side that is
missing and how to decide (``--structure Lungs=ROI``, also for a patient left with one
lung, or ``--absent Lungs``). ``Lung_L`` is never a *candidate* for ``Lungs``
(evaluate/assignment.py): that logic is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dvh.union import disjoint_union, overlap_cc
from ..protocol.schema import Protocol, Role
from ..results import ReviewItem
from .matching import Match, RoiInfo, match_role
from .names import synonym_table

#: The word of :data:`~sbrt_qa.evaluate.matching.HOW` for a role matched to the union of its two sides.
UNION = "union"


def sides_of(role: str) -> tuple[str, str] | None:
    """The sided TG-263 structures a role's pair is made of (``Lungs`` -> ``Lung_L``, ``Lung_R``), or None."""
    return synonym_table().sides_of(role)


def match_sides(role: str, protocol: Protocol, rois: list[RoiInfo], matches: dict[str, Match]) -> dict[str, Match] | None:
    """Each side of a paired role matched like a sided organ; None when the role is not a pair."""
    sides = sides_of(role)
    if sides is None:
        return None
    out = {}
    for side in sides:
        if side in matches and side in protocol.roles:
            out[side] = matches[side]
            continue
        m = match_role(Role(side, kind="oar"), rois)
        if m.how == "ambiguous":  # not a role of the protocol: --structure cannot name it, so the message must not offer that
            labels = ", ".join(r.label for r in rois if r.number in m.tied) or m.message
            m = Match(side, None, "ambiguous", f"several ROIs may be {side} ({labels})", notes=m.notes, tied=m.tied)
        out[side] = m
    return out


def union_match(role: str, sides: dict[str, Match]) -> Match | None:
    """The union match of a role when both sides are identified (distinct ROIs), else None."""
    found = list(sides.values())
    if len(found) != 2 or any(m.roi is None or m.roi_number is None for m in found) or found[0].roi_number == found[1].roi_number:
        return None
    a, b = found
    return Match(role, f"{a.roi} + {b.roi}", UNION, describe(a, b), parts=((a.roi, a.roi_number), (b.roi, b.roi_number)))  # type: ignore[arg-type]


def describe(a: Match, b: Match) -> str:
    """``union of 'Lung_L' (#4) and 'Lung_R' (#5)``."""
    return f"union of {a.roi!r} (#{a.roi_number}) and {b.roi!r} (#{b.roi_number})"


def half_review(role: str, arm_name: str, sides: dict[str, Match], candidates: str = "") -> ReviewItem | None:
    """The review item of a paired role of which only one side is identified; None when neither side is."""
    found = {s: m for s, m in sides.items() if m.roi is not None}
    if not found or len(found) == len(sides):
        return None
    have = "; ".join(f"{s} is {m.roi!r} (ROI #{m.roi_number})" for s, m in found.items())
    lacking = "; ".join(f"{s}: {m.message or 'not identified'}" for s, m in sides.items() if m.roi is None)
    also = f"; contoured ROI(s) {candidates} may be {role}" if candidates else ""
    return ReviewItem(
        f"structure:{role}",
        f"{role} is constrained by arm {arm_name} but no ROI contours it, and only one side is identified ({have}; {lacking}): "
        f"limits on the pair are not judged on one side{also}",
        f"map a ROI of the whole pair with --structure {role}=ROI (or {role}=#N; for a patient with one side only, map that side), "
        f"or declare {role} absent with --absent {role}")


@dataclass
class UnionEvidence:
    """The DVH of a union role, or why it cannot be evaluated."""

    sd: object | None  # StructureDVH
    problem: str | None = None
    review: list[ReviewItem] = field(default_factory=list)


def union_dvhs(matches: dict[str, Match], roles: set[str], rois: dict, dvhs: dict, dose, spacing: float | None) -> dict[str, UnionEvidence]:
    """For each role of ``roles`` matched to a union: its summed DVH, or the problem that stops it.

    Parameters
    ----------
    matches : dict
        Role -> Match.
    roles : set of str
        The roles to compute (those the arm uses).
    rois : dict
        ROI Number -> ROI (ROIs sharing a number left out).
    dvhs : dict
        ROI Number -> StructureDVH (:func:`~sbrt_qa.dvh.analysis.structure_dvhs`).
    """
    out: dict[str, UnionEvidence] = {}
    for name, m in matches.items():
        if m.how != UNION or name not in roles:
            continue
        parts = [rois.get(number) for _, number in m.parts]
        label = " and ".join(f"{roi_name!r} (#{number})" for roi_name, number in m.parts)
        broken = [f"ROI {r.name!r} has malformed contours: {'; '.join(r.errors)}" if r.errors else f"ROI {r.name!r} has no closed contours"
                  for r in parts if r is not None and (r.errors or r.geometry != "CLOSED_PLANAR")]
        if any(r is None for r in parts) or broken:
            problem = "; ".join(broken) or f"a ROI of the {m.message} is not in the structure set"
            out[name] = UnionEvidence(None, problem, [ReviewItem(
                f"structure:{name}", f"{problem}: the constraints on {name} ({m.message}) are not evaluated",
                f"correct the ROI in the planning system and export it again, map a ROI of the whole pair with --structure {name}=ROI, "
                f"or declare {name} absent with --absent {name}")])
            continue
        shared = overlap_cc(parts[0], parts[1], dose, spacing)
        if shared > 0:
            problem = (f"{label} overlap (about {shared:.3f} cc): the DVH of their union would count the overlap twice, "
                       f"so the constraints on {name} are not evaluated")
            out[name] = UnionEvidence(None, problem, [ReviewItem(
                f"structure:{name}", problem,
                f"contour {name} as one ROI (or correct the overlapping contours) and map it with --structure {name}=ROI, "
                f"or declare {name} absent with --absent {name}")])
            continue
        sds = [dvhs.get(number) for _, number in m.parts]
        if any(sd is None for sd in sds):
            out[name] = UnionEvidence(None, f"no DVH for the {m.message}")
            continue
        sd = disjoint_union(sds)  # type: ignore[arg-type]
        out[name] = UnionEvidence(sd, None if sd.dvh is not None else f"the {m.message} lies wholly outside the dose grid")
    return out


def match_note(m: Match) -> str:
    """The note of a union match in every report."""
    return (f"role {m.role} matched the {m.message} (match {UNION}): no ROI contours {m.role} itself, "
            f"so it is evaluated on the two sides' summed DVH")
