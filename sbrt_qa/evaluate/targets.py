"""Targets as a physicist accounts for them: which ROIs are targets, and the dose their names carry.

A ROI is a *target candidate* when any of these holds (:func:`candidates`):

* its RTROIInterpretedType is PTV (CTV, GTV and ITV only when a level of the arm names that
  kind of volume as its role, e.g. a role ``GTV``; an alias such as ``CTV`` is not enough,
  since nearly every plan holds a CTV or GTV inside its PTV);
* a TARGET dose reference of the RT Plan points to it (ReferencedROINumber);
* its name reads as a target: its first word is ``PTV`` or ``PGTV`` (``PTV30``, ``PTV_3000``,
  ``ptv 4 AND 5``), or the kind a level names.

Helper structures are not targets, whatever their type: names with a ``z_``/``zz_`` prefix,
optimisation, ring or avoidance words, PRV or margin expansions, crops (``Brain-PTV``),
RTROIInterpretedType CONTROL or AVOIDANCE (:func:`~sbrt_qa.evaluate.names.helper_kinds`),
and shells around a target (``PTV3_WALL``, ``PTV_shell``). ROIs without contours are not
targets either (nothing to evaluate).

A target whose voxels are the union of two or more other targets (``PTV_ALL`` made of
``PTV_1`` ... ``PTV_5``, ``ptv 4 AND 5``) is a *composite* (:func:`composites`): its members
are evaluated, the composite is reported as such and not evaluated again.

Doses in names (:func:`dose_in_name`), read as a planner writes them:

=================  =====================================================
``PTV_30Gy``       30 Gy (a number with Gy or cGy is always a dose)
``PTV_3000cGy``    30 Gy
``PTV50Gy/25``     50 Gy in 25 fractions
``PTV_7Gyx5``      7 Gy x 5 = 35 Gy in 5 fractions
``PTV_3000``       30 Gy: a bare number of 100 or more right after the target word is cGy
``PTV30``          30 Gy: a bare number of 10 to 99 right after the target word is Gy
``PTV_1``          no dose: a single digit numbers a lesion (``PTV_1`` ... ``PTV_5``)
``PTV_3000_2``     30 Gy: only the first number after the target word is read
=================  =====================================================

TG-263's ``PTV_High`` / ``PTV_Low`` carry a rank, not a dose: :func:`rank_in_name`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .matching import RoiInfo
from .names import helper_kinds, tokens

#: Words that make a target-named ROI a shell or ring around the target, not the target.
SHELL_WORDS = frozenset({"wall", "shell", "ring", "rind", "border"})
#: First words of a name that reads as a planning target volume.
PTV_WORDS = frozenset({"ptv", "pgtv"})

_NUMBER = r"(\d+(?:[.,]\d+)?)"
_PER_FRACTION = re.compile(_NUMBER + r"\s*(c?gy)\s*[x×*]\s*(\d+)", re.IGNORECASE)
_WITH_UNIT = re.compile(_NUMBER + r"\s*(c?gy)(?:\s*(?:/|in)\s*(\d+)\s*(?:fx|fr|f|#)?)?(?![a-z])", re.IGNORECASE)
_BARE = re.compile(r"^\s*(?:z+_)?(?:p?gtv|ptv|ctv|itv)[\s_\-]*(\d+)(?![\d.,]|\s*c?gy)", re.IGNORECASE)


@dataclass(frozen=True)
class NameDose:
    """A dose read from a target's name.

    Attributes
    ----------
    dose_gy : float
        Total dose (Gy).
    fractions : int or None
        Fractions when the name gives them (``PTV50Gy/25``, ``PTV_7Gyx5``).
    text : str
        The part of the name the dose was read from.
    """

    dose_gy: float
    fractions: int | None
    text: str


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def dose_in_name(name: str) -> NameDose | None:
    """The total dose a target's name carries, or None (see the module docstring)."""
    m = _PER_FRACTION.search(name)
    if m:
        per = _number(m.group(1)) / (100.0 if m.group(2).lower() == "cgy" else 1.0)
        n = int(m.group(3))
        if per > 0 and n > 0:
            return NameDose(per * n, n, m.group(0))
    m = _WITH_UNIT.search(name)
    if m:
        dose = _number(m.group(1)) / (100.0 if m.group(2).lower() == "cgy" else 1.0)
        if dose > 0:
            return NameDose(dose, int(m.group(3)) if m.group(3) else None, m.group(0))
    m = _BARE.match(name)
    if m:
        value = int(m.group(1))
        if 10 <= value <= 99:
            return NameDose(float(value), None, m.group(0).strip())
        if 100 <= value <= 9999:
            return NameDose(value / 100.0, None, m.group(0).strip())
    return None


def rank_in_name(name: str) -> str | None:
    """``"high"`` or ``"low"`` for TG-263 ranked target names (``PTV_High``, ``PTV_Low_2``), else None."""
    words = tokens(name)
    if len(words) >= 2 and words[0] in PTV_WORDS | {"ctv", "gtv", "itv"} and words[1] in ("high", "low"):
        return words[1]
    return None


def _kind_word(role_name: str) -> str | None:
    words = tokens(role_name)
    return words[0] if words and words[0] in ("ctv", "gtv", "itv") else None


def level_kinds(level_roles: list[str]) -> frozenset[str]:
    """CTV/GTV/ITV kinds that a level's role names (``GTV`` for a role ``GTV_Boost``)."""
    return frozenset(k for k in (_kind_word(r) for r in level_roles) if k)


def is_helper(roi: RoiInfo) -> str | None:
    """Why a ROI is a helper structure rather than a target, or None."""
    kinds = helper_kinds(roi.name, roi.type)
    if kinds:
        return "helper structure (" + ", ".join(sorted(kinds)) + ")"
    if any(w in SHELL_WORDS for w in tokens(roi.name)):
        return "a shell around a target"
    return None


@dataclass
class Candidate:
    """A ROI accounted for as a target, and why."""

    roi: RoiInfo
    reasons: list[str]
    name_dose: NameDose | None = None
    rank: str | None = None


@dataclass
class Accounting:
    """The target candidates of a structure set, and the target-like ROIs set aside with the reason."""

    candidates: list[Candidate]
    set_aside: dict[int, str] = field(default_factory=dict)  # ROI number -> why it is not a target


def candidates(rois: list[RoiInfo], level_roles: list[str], referenced: dict[int, str]) -> Accounting:
    """Every ROI that must be accounted for as a target.

    Parameters
    ----------
    rois : list of RoiInfo
    level_roles : list of str
        Roles of the arm's prescription levels (every arm's when none was chosen).
    referenced : dict
        ROI Number -> description of the TARGET dose reference pointing to it.
    """
    kinds = level_kinds(level_roles)
    target_types = {"PTV"} | {k.upper() for k in kinds}
    out, aside = [], {}
    for roi in rois:
        reasons = []
        if roi.type in target_types:
            reasons.append(f"RTROIInterpretedType {roi.type}")
        if roi.number in referenced:
            reasons.append(f"TARGET dose reference {referenced[roi.number]}")
        words = tokens(roi.name)
        first = next((w for w in words if w not in ("z", "zz", "zzz", "x", "xx")), "")
        if first in PTV_WORDS or first in kinds or re.match(r"^(?:ptv|pgtv)\d", first):
            reasons.append("name")
        if not reasons:
            continue
        if not roi.contoured:
            aside[roi.number] = "no contours"
            continue
        helper = is_helper(roi)
        if helper and roi.number not in referenced:
            aside[roi.number] = helper
            continue
        out.append(Candidate(roi, reasons, dose_in_name(roi.name), rank_in_name(roi.name)))
    return Accounting(out, aside)


def composites(masks: dict[int, np.ndarray], fraction: float = 0.9) -> dict[int, list[int]]:
    """Targets whose voxels are the union of two or more other targets: ROI number -> member ROI numbers.

    A member lies (``fraction`` of its voxels) inside the composite and is smaller than it;
    the members together fill ``fraction`` of the composite's voxels. A target nested in
    another (a PGTV inside its PTV) is one member only, so the PTV is not a composite.
    """
    counts = {n: int(np.count_nonzero(m)) for n, m in masks.items()}
    out: dict[int, list[int]] = {}
    for n, mask in masks.items():
        if counts[n] == 0:
            continue
        members = [k for k, other in masks.items()
                   if k != n and 0 < counts[k] < counts[n] and np.count_nonzero(other & mask) >= fraction * counts[k]]
        if len(members) < 2:
            continue
        union = np.zeros_like(mask)
        for k in members:
            union |= masks[k]
        if np.count_nonzero(union & mask) >= fraction * counts[n]:
            out[n] = sorted(members)
    # a member that is itself a composite (ptv 4 AND 5 inside PTV_ALL) stands for its own members
    for n, members in out.items():
        out[n] = sorted({m for k in members for m in (out.get(k) or [k])})
    return out
