"""Matching a protocol role to one ROI of a structure set, never by a silent fuzzy guess.

ROIs are identified by ROI Number, never by name. Order of the steps: the user's mapping
(``--structure ROLE=ROI`` or ``ROLE=#12`` by ROI number, ``--map``), then among the ROIs
that have contours and are not helper structures: the exact TG-263 name, the protocol's
aliases, the protocol's patterns, the role's name and aliases normalised (case, spaces,
underscores, hyphens and diacritics ignored), and the shipped synonym table. Several ROIs
found at one step make the role ambiguous: it is not matched, and the message says how to
choose. A ROI without contours never hides a contoured one; alone, it leaves the role
unmatched with a note.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from ..protocol.schema import Role
from .names import ORGAN_TYPES, TARGET_TYPES, helper_kinds, normalise, synonym_table

#: How a role was matched. Result files carry these words (``match``): add, never rename.
HOW = ("user", "exact", "alias", "pattern", "normalised", "synonym", "unmatched", "ambiguous", "absent",
       # targets (evaluate/prescription.py): a TARGET dose reference links the ROI, its name carries the level's dose,
       # PTV_High/PTV_Low rank it, or the arm has one level only
       "dose_reference", "dose_in_name", "rank_in_name", "only_level",
       # a paired organ (Lungs) no ROI contours, evaluated on the union of its two sides (evaluate/pairs.py)
       "union")


@dataclass(frozen=True)
class RoiInfo:
    """What matching needs of one ROI.

    Attributes
    ----------
    number : int
        ROI Number.
    name : str
        ROI Name as in the structure set.
    type : str
        RTROIInterpretedType, upper case ("" when not given).
    contoured : bool
        True when the ROI has closed planar contours (or malformed ones, reported as a
        problem of the ROI rather than hidden); False for empty and POINT-only ROIs.
    duplicate_number : bool
        Another ROI of the structure set has the same ROI Number.
    """

    number: int
    name: str
    type: str = ""
    contoured: bool = True
    duplicate_number: bool = False

    @property
    def label(self) -> str:
        return f"{self.name!r} (ROI #{self.number})"

    @cached_property
    def key(self) -> str:
        """The normalised name (:func:`~sbrt_qa.evaluate.names.normalise`), computed once."""
        return normalise(self.name)

    @cached_property
    def kinds(self) -> frozenset[str]:
        """Helper kinds of the ROI (:func:`~sbrt_qa.evaluate.names.helper_kinds`), computed once."""
        return helper_kinds(self.name, self.type)


@dataclass(frozen=True)
class Match:
    """How a role was matched: the ROI (name and ROI Number), the rule used, and remarks."""

    role: str
    roi: str | None
    how: str  # one of HOW
    message: str = ""
    roi_number: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    tied: tuple[int, ...] = ()  # ROI Numbers of the ROIs an ambiguous match could not choose between
    parts: tuple[tuple[str, int], ...] = ()  # (ROI name, ROI Number) of each side of a union match; roi_number is None then


def roi_infos(rois: Iterable) -> list[RoiInfo]:
    """:class:`RoiInfo` of structure-set ROIs (:class:`~sbrt_qa.load.rtstruct.ROI`) or of bare names (numbered 1, 2, ...)."""
    items = list(rois)
    if items and isinstance(items[0], str):
        return [RoiInfo(i + 1, n) for i, n in enumerate(items)]
    numbers = [r.number for r in items]
    return [RoiInfo(r.number, r.name, (r.interpreted_type or "").upper(), r.geometry == "CLOSED_PLANAR" or bool(r.errors),
                    numbers.count(r.number) > 1) for r in items]


def type_fits(role: Role, roi: RoiInfo) -> bool:
    """Whether a ROI's RTROIInterpretedType allows it to be the role (an organ is never a PTV or the BODY)."""
    if role.kind == "oar":
        return roi.type in ORGAN_TYPES
    if role.kind == "target":
        return roi.type != "EXTERNAL"
    return roi.type not in TARGET_TYPES


def _user(role: Role, wanted: str, rois: list[RoiInfo]) -> Match:
    by_number = re.fullmatch(r"#\s*(\d+)", wanted.strip())
    if by_number:
        found = [r for r in rois if r.number == int(by_number.group(1))]
        what = f"ROI number {by_number.group(1)}"
    else:
        found = [r for r in rois if r.name == wanted]
        what = f"ROI {wanted!r}"
    if not found:
        return Match(role.name, None, "unmatched", f"the user mapping names {what}, which is not in the structure set")
    notes: tuple[str, ...] = ()
    if len(found) > 1 and not by_number:
        contoured = [r for r in found if r.contoured]
        if len(contoured) == 1:
            notes = (f"{len(found) - 1} other ROI(s) named {wanted!r} have no contours",)
            found = contoured
        else:
            numbers = ", ".join(f"#{r.number}" for r in found)
            return Match(role.name, None, "ambiguous", f"the user mapping names {wanted!r}, which several ROIs are called ({numbers}); "
                         f"choose one by ROI number, e.g. --structure {role.name}=#{found[0].number}", tied=tuple(r.number for r in found))
    if len(found) > 1 or found[0].duplicate_number:
        names = ", ".join(r.label for r in rois if r.number == found[0].number)
        return Match(role.name, None, "ambiguous", f"ROI Number {found[0].number} is used by several ROIs ({names}): "
                     "the structure set must be corrected before this ROI can be evaluated")
    return Match(role.name, found[0].name, "user", roi_number=found[0].number, notes=notes)


def _describe(rois: list[RoiInfo]) -> str:
    return ", ".join(r.label for r in rois)


def match_role(role: Role, rois: Iterable, user_map: dict[str, str] | None = None) -> Match:
    """Find the ROI for a role.

    Parameters
    ----------
    role : Role
    rois : iterable of ROI, RoiInfo or str
        The ROIs of the structure set (bare names are numbered 1, 2, ... in order).
    user_map : dict, optional
        Role name -> ROI name, or ``#N`` for ROI Number N, given by the user.
    """
    items = list(rois)
    infos = items if all(isinstance(r, RoiInfo) for r in items) else roi_infos(items)
    if user_map and role.name in user_map:
        return _user(role, user_map[role.name], infos)
    kinds = helper_kinds(role.name)
    fitting = [r for r in infos if r.kinds == kinds and type_fits(role, r)]
    own = {normalise(n) for n in (role.name, *role.aliases)}
    family = synonym_table().family(role.name)
    steps = [
        ("exact", lambda r: r.name == role.name),
        ("alias", lambda r: r.name in role.aliases),
        ("pattern", lambda r: any(re.search(p, r.name) for p in role.patterns)),
        ("normalised", lambda r: r.key in own),
        ("synonym", lambda r: r.key in family),
    ]
    empty: list[RoiInfo] = []  # ROIs that match but have no contours: they never hide a contoured one

    def empty_notes() -> tuple[str, ...]:
        if not empty:
            return ()
        verb = "has" if len(empty) == 1 else "have"
        return (f"{_describe(empty)} {verb} no contours and {'is' if len(empty) == 1 else 'are'} not used for {role.name}",)

    for how, test in steps:
        found = [r for r in fitting if test(r)]
        empty += [r for r in found if not r.contoured and r not in empty]
        found = [r for r in found if r.contoured]
        if len(found) == 1 and not found[0].duplicate_number:
            return Match(role.name, found[0].name, how, roi_number=found[0].number, notes=empty_notes())
        if found:
            if any(r.duplicate_number for r in found) and len(found) == 1:
                reason = f"ROI Number {found[0].number} is used by several ROIs: the structure set must be corrected"
            else:
                reason = f"several ROIs match by {how}: {_describe(found)}"
            return Match(role.name, None, "ambiguous",
                         f"{reason}; choose one with --structure {role.name}=ROI (or {role.name}=#N by ROI number)", notes=empty_notes(),
                         tied=tuple(r.number for r in found))
    names = [r.name for r in infos if r.contoured]
    close = difflib.get_close_matches(role.name, names, n=3, cutoff=0.4)
    for alias in role.aliases:
        close += [c for c in difflib.get_close_matches(alias, names, n=2, cutoff=0.5) if c not in close]
    hint = f"; closest ROI names: {', '.join(close[:3])}" if close else ""
    empty_note = f"; {_describe(empty)} {'matches but has' if len(empty) == 1 else 'match but have'} no contours (an empty template?)" if empty else ""
    return Match(role.name, None, "unmatched", f"no ROI matches {role.name!r}{empty_note}{hint}", notes=empty_notes())
