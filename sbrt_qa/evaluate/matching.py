"""Matching protocol roles to ROI names, never by a silent fuzzy guess.

Order: the user's explicit mapping (``--map`` / ``--structure ROLE=ROI``) when given
for the role, then the exact TG-263 name, then the protocol's aliases and patterns,
then the name normalised (case, spaces, underscores and hyphens ignored). A role that
several ROIs match at the same step is not matched: the ambiguity is reported. An
unmatched role lists the closest ROI names as suggestions.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..protocol.schema import Role


@dataclass(frozen=True)
class Match:
    """How a role was matched: the ROI name as in the structure set, and the rule used."""

    role: str
    roi: str | None
    how: str  # exact | alias | pattern | normalised | user | unmatched | ambiguous
    message: str = ""


def normalise(name: str) -> str:
    """Case-folded, with spaces, underscores and hyphens removed."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


def match_role(role: Role, roi_names: list[str], user_map: dict[str, str] | None = None) -> Match:
    """Find the ROI for a role.

    Parameters
    ----------
    role : Role
    roi_names : list of str
        ROI names of the structure set (closed-planar or not).
    user_map : dict, optional
        Role name -> ROI name given by the user.
    """
    if user_map and role.name in user_map:
        wanted = user_map[role.name]
        if wanted in roi_names:
            return Match(role.name, wanted, "user")
        return Match(role.name, None, "unmatched", f"user mapping names ROI {wanted!r}, which is not in the structure set")
    steps = [
        ("exact", [n for n in roi_names if n == role.name]),
        ("alias", [n for n in roi_names if n in role.aliases]),
        ("pattern", [n for n in roi_names if any(re.search(p, n) for p in role.patterns)]),
        ("normalised", [n for n in roi_names if normalise(n) in {normalise(a) for a in (role.name, *role.aliases)}]),
    ]
    for how, found in steps:
        unique = list(dict.fromkeys(found))
        if len(unique) == 1:
            return Match(role.name, unique[0], how)
        if len(unique) > 1:
            return Match(role.name, None, "ambiguous", f"several ROIs match by {how}: {', '.join(unique)}; map one with --structure {role.name}=ROI")
    close = difflib.get_close_matches(role.name, roi_names, n=3, cutoff=0.4)
    for alias in role.aliases:
        close += [c for c in difflib.get_close_matches(alias, roi_names, n=2, cutoff=0.5) if c not in close]
    hint = f"; closest ROI names: {', '.join(close[:3])}" if close else ""
    return Match(role.name, None, "unmatched", f"no ROI matches {role.name!r}{hint}")
