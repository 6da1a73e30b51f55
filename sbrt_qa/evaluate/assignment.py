"""Protocol roles to the ROIs of one structure set, with everything the reviewer must decide.

:func:`assign` matches every role (:func:`~sbrt_qa.evaluate.matching.match_role`), applies
the reviewer's declarations (``--structure``, ``--absent``) and lists what blocks a PASS:

* a role of the chosen arm that several ROIs qualify for (ambiguous);
* an organ the arm constrains that was not found while an unassigned contoured ROI is a
  plausible candidate for it (:func:`candidate_roles`);
* an organ the arm requires (``Arm.required_roles``) that was neither found nor declared absent;
* a user mapping naming a ROI the structure set does not hold;
* a paired organ (``Lungs``) the arm constrains that no ROI contours, of which only one side
  (``Lung_L``) is identified (evaluate/pairs.py; with both sides it is their union).

Plausible candidates are offered, never assigned: a ROI is one when its name without helper
words and numbers is a spelling of the organ (``z_SpinalCord``, ``SC PRV``, ``HEART4``,
``LUNGS-ITV's``, ``GREAT VESSELS`` typed CONTROL), when some of its words spell the organ
(``Cord_T8``, ``Rib_L``; spellings of three letters or more), when it shares a distinctive word of five letters or more with the organ's
spellings (``OPTIC STRUCTURES`` for OpticChiasm), or when it is close to a spelling (difflib
ratio >= 0.8, names of four letters or more); but never when it spells another TG-263
structure (``Lung_L`` is not a candidate for ``Lungs``).
The RTROIInterpretedType alone is not evidence for an organ: a plan holds many ORGAN ROIs.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from ..protocol.schema import Arm, Protocol, Role
from ..results import Declaration, PlanCheckResult, ReviewItem
from . import pairs
from .matching import Match, RoiInfo, match_role
from .names import TARGET_TYPES, base_words, normalise, synonym_table, tokens

#: Names shorter than this are matched only exactly: "SC" is close to too much.
FUZZY_MIN_LENGTH = 4
FUZZY_CUTOFF = 0.8
#: Shared words that say nothing about which organ a ROI is.
_GENERIC_WORDS = frozenset({"total", "both", "whole", "wall", "structures", "structure", "region", "gland", "glands", "inner",
                            "outer", "main", "small", "large", "great", "left", "right", "links", "rechts", "gesamt", "optique"})


@dataclass
class Assignment:
    """Roles matched to ROIs, and what the reviewer must decide."""

    matches: dict[str, Match]
    in_arm: set[str]
    review: list[ReviewItem] = field(default_factory=list)
    candidates: dict[int, list[str]] = field(default_factory=dict)  # ROI number -> roles it may stand for
    notes: list[str] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    sides: dict[str, dict[str, Match]] = field(default_factory=dict)  # paired role no ROI contours -> its sides' matches

    @property
    def assigned_numbers(self) -> set[int]:
        """ROI Numbers taken by a role of the arm (both sides of a union)."""
        taken = {m.roi_number for name, m in self.matches.items() if name in self.in_arm and m.roi_number is not None}
        return taken | {n for name, m in self.matches.items() if name in self.in_arm for _, n in m.parts}


def constrained_roles(protocol: Protocol, arm: Arm | None) -> set[str]:
    """Roles with at least one constraint in the arm (every arm's when no arm was chosen)."""
    return {c.structure for c in protocol.constraints if arm is None or not c.arms or arm.name in c.arms}


def arm_roles(protocol: Protocol, arm: Arm | None) -> set[str]:
    """Roles the arm uses: its levels, its constraints' structures, and the external contour."""
    if arm is None:
        return set(protocol.roles)
    return ({lv.role for lv in arm.levels} | constrained_roles(protocol, arm)
            | {r.name for r in protocol.roles.values() if r.kind == "external"})


def _family(role: Role) -> frozenset[str]:
    return synonym_table().family(role.name) | {normalise(n) for n in (role.name, *role.aliases)}


def _comparable(base: str, spellings: list[str]) -> list[str]:
    """Spellings whose length allows a difflib ratio >= FUZZY_CUTOFF with ``base`` (ratio <= 2 min / (min + max))."""
    lo, hi = len(base) * FUZZY_CUTOFF / (2 - FUZZY_CUTOFF), len(base) * (2 - FUZZY_CUTOFF) / FUZZY_CUTOFF
    return [s for s in spellings if lo <= len(s) <= hi]


def candidate_roles(roi: RoiInfo, missing: list[Role]) -> list[str]:
    """The organ roles among ``missing`` that a ROI plausibly stands for (see the module docstring)."""
    if roi.type == "EXTERNAL" or roi.type in TARGET_TYPES or not roi.contoured:
        return []
    words = base_words(roi.name)
    base = "".join(words)
    if not base:
        return []
    table = synonym_table()
    known = table.structure_of(base) or table.structure_of(roi.name)
    out = []
    for role in missing:
        family = _family(role)
        if base in family:
            out.append(role.name)
            continue
        if known is not None and known != role.name:
            continue  # positively another structure
        near = sorted(s for s in table.core_of(role.name) | {normalise(n) for n in (role.name, *role.aliases)} if len(s) >= FUZZY_MIN_LENGTH)
        runs = {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
        shared = {w for w in words if len(w) >= 5 and w not in _GENERIC_WORDS} & (
            table.words_of(role.name) | {w for n in (role.name, *role.aliases) for w in tokens(n)})
        if runs & {s for s in family if len(s) >= 3} or shared:
            out.append(role.name)
        elif len(base) >= FUZZY_MIN_LENGTH and difflib.get_close_matches(base, _comparable(base, near), n=1, cutoff=FUZZY_CUTOFF):
            out.append(role.name)
    return out


def _action(role: str) -> str:
    return f"map it with --structure {role}=ROI (or {role}=#N by ROI number), or declare it absent with --absent {role}"


def assign(protocol: Protocol, rois: list[RoiInfo], arm: Arm | None, user_map: dict[str, str] | None = None,
           absent: tuple[str, ...] | list[str] = ()) -> Assignment:
    """Match every role of the protocol and list what blocks a PASS.

    Parameters
    ----------
    protocol : Protocol
    rois : list of RoiInfo
        The structure set's ROIs (:func:`~sbrt_qa.evaluate.matching.roi_infos`).
    arm : Arm or None
        The chosen arm; None when none could be chosen (no review items are raised then:
        the plan is not evaluated anyway).
    user_map : dict, optional
        Role -> ROI name or ``#N`` (``--structure``, ``--map``).
    absent : sequence of str
        Roles the reviewer declares absent from this plan (``--absent``).
    """
    user_map = user_map or {}
    in_arm = arm_roles(protocol, arm)
    result = Assignment({}, in_arm)
    for role, roi in user_map.items():
        result.declarations.append(Declaration("structure", role, roi))
    for role in absent:
        result.declarations.append(Declaration("absent", role))
    for name, role in protocol.roles.items():
        m = match_role(role, rois, user_map)
        if name in absent and name not in user_map:
            if m.roi is None and m.how == "unmatched":
                m = Match(name, None, "absent", f"declared absent by the reviewer (--absent {name})", notes=m.notes)
            elif m.roi is not None and name in in_arm:
                result.notes.append(f"{name} was declared absent, but ROI {m.roi!r} (#{m.roi_number}) matches it by {m.how}: it is evaluated")
        result.matches[name] = m
        if name in in_arm:
            result.notes += [n for n in m.notes]
    for name in protocol.roles:  # a pair no ROI contours: its two sides (after every role, so that a side's own role is matched)
        if result.matches[name].how not in ("unmatched", "absent") or name in user_map:
            continue
        sides = pairs.match_sides(name, protocol, rois, result.matches)
        if sides is None:
            continue
        union = pairs.union_match(name, sides)
        if result.matches[name].how == "absent":
            if union is not None and name in in_arm:
                result.notes.append(f"{name} was declared absent (--absent {name}): the {union.message} is not evaluated as {name}")
        elif union is not None:
            result.matches[name] = union
        else:
            result.sides[name] = sides
    if arm is None:
        return result
    constrained = constrained_roles(protocol, arm)
    taken = result.assigned_numbers
    missing = [protocol.roles[n] for n in sorted(constrained) if protocol.roles[n].kind == "oar" and result.matches[n].how == "unmatched"]
    for roi in rois:
        if roi.number in taken or not roi.contoured:
            continue
        roles = candidate_roles(roi, missing)
        if roles:
            result.candidates.setdefault(roi.number, []).extend(r for r in roles if r not in result.candidates.get(roi.number, []))
    for name in sorted(in_arm):  # the ROIs an ambiguous role could not choose between are its candidates too
        for number in result.matches[name].tied:
            if name not in result.candidates.setdefault(number, []):
                result.candidates[number].append(name)
    by_role: dict[str, list[RoiInfo]] = {}
    for roi in rois:
        for role in result.candidates.get(roi.number, []):
            by_role.setdefault(role, []).append(roi)
    for name in sorted(in_arm):
        m = result.matches[name]
        if m.how == "ambiguous":
            result.review.append(ReviewItem(f"structure:{name}", f"{name}: {m.message}", _action(name)))
        elif m.how == "unmatched" and name in user_map:
            result.review.append(ReviewItem(f"structure:{name}", f"{name}: {m.message}", _action(name)))
        elif m.how == "unmatched" and name in result.sides and name in constrained and pairs.half_review(name, arm.name, result.sides[name]):
            found = ", ".join(r.label for r in by_role.get(name, []))
            result.review.append(pairs.half_review(name, arm.name, result.sides[name], found))  # type: ignore[arg-type]
        elif m.how == "unmatched" and name in by_role:
            found = ", ".join(r.label for r in by_role[name])
            result.review.append(ReviewItem(
                f"structure:{name}", f"{name} is constrained by arm {arm.name} but was not identified; "
                f"contoured ROI(s) {found} may be it", _action(name)))
        elif m.how == "unmatched" and name in arm.required_roles:
            result.review.append(ReviewItem(
                f"structure:{name}", f"arm {arm.name} requires {name} to be identified: {m.message}", _action(name)))
    for name in arm.required_roles:
        if name not in in_arm and result.matches.get(name) is not None and result.matches[name].how in ("unmatched", "ambiguous"):
            result.review.append(ReviewItem(f"structure:{name}", f"arm {arm.name} requires {name} to be identified: {result.matches[name].message}",
                                            _action(name)))
    return result


def structure_set_checks(rois: list[RoiInfo]) -> list[PlanCheckResult]:
    """Duplicate ROI names and duplicate ROI Numbers in the structure set, as plan checks.

    A duplicated ROI Number breaks the structure set (PS3.3 C.8.8.5: ROI Number identifies
    the ROI): the ROIs sharing it are not evaluated, and the plan cannot pass. A duplicated
    name is legal DICOM but makes names unsafe to act on: minor, and a role that two such
    ROIs qualify for is ambiguous.
    """
    numbers = Counter(r.number for r in rois)
    twice = sorted(n for n, k in numbers.items() if k > 1)
    checks = [PlanCheckResult(
        "duplicate_roi_numbers", [f"#{n}: " + ", ".join(repr(r.name) for r in rois if r.number == n) for n in twice] or None, "unique",
        "not_evaluated" if twice else "pass",
        ("ROI Number used by several ROIs: the ROIs sharing it are not evaluated; the structure set must be corrected") if twice else "")]
    names = Counter(r.name for r in rois)
    same = sorted(n for n, k in names.items() if k > 1)
    checks.append(PlanCheckResult(
        "duplicate_roi_names", [f"{n!r}: " + ", ".join(f"#{r.number}" + ("" if r.contoured else " (no contours)") for r in rois if r.name == n)
                             for n in same] or None, "unique", "minor" if same else "pass",
        "several ROIs share a name: a role they both qualify for is not evaluated until the reviewer chooses one by ROI number"
        if same else ""))
    return checks
