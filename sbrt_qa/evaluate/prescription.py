"""Prescription per level, and where each dose came from; every target assigned to a level or reported.

What the RT Plan records (:class:`~sbrt_qa.load.rtplan.Prescription`: TARGET dose references
of structure type VOLUME or SITE only) is compared with the arm's levels; nothing else is ever
read as a prescription (point doses and BeamDose sums are not).

**Targets to levels** (:func:`resolve`). Every target candidate
(:func:`~sbrt_qa.evaluate.targets.candidates`) goes to one level of the arm, by the first rule
that decides:

1. the reviewer's ``--structure ROLE=ROI``;
2. the reviewer's ``--rx ROI=30Gy``: the level whose dose that is;
3. a dose in its name (``PTV_35Gy``): the level whose dose that is, whatever alias it also
   matches; a name dose no level accepts leaves the target unassigned;
4. its name matches a level's role (exact, alias, pattern, normalised, synonym; the earliest step);
5. a TARGET dose reference points to it: the level accepting the recorded dose;
6. ``PTV_High`` / ``PTV_Low`` when the arm has two or more levels of different doses;
7. the arm has a single level.

Otherwise the target is *not assigned*: "target not assigned: coverage not evaluated", a
review item ``target:<ROI>`` that blocks a PASS. A composite target (the union of others) is
not evaluated; its members are.

**The dose of each target**, by the first source that gives one: the reviewer (``--rx ROI=``,
``--rx ROLE=``, or an unkeyed ``--rx 35Gy/5`` the level accepts) -> ``reviewer``; a recorded
prescription linked to the ROI -> ``recorded``; a single unlinked recorded prescription the level accepts (and the
target's name does not contradict) -> ``recorded``; the level's fixed dose in the protocol ->
``protocol``; a dose in its name, for a level with a dose range -> ``name``. A level with a dose range (40-50 Gy) and none of these has no
dose: ``none``, a review item ``prescription:<ROLE>``, and its coverage and indices are not
evaluated (never judged at a guessed dose).

**Plan checks.** ``prescription_<ROLE>``: pass when recorded, info when the plan does not
record it but its target exists and its dose was decided (a level the export does not record
is not a deviation), major only when a recorded prescription linked to the level's target
contradicts the protocol (32 Gy to the 30 Gy PTV), not evaluated when no dose could be decided
or a required level has no target. ``prescription_recorded``: major when the plan records a
prescription that no level of the arm allows and that is not linked to a target. A recorded
prescription that belongs to one fraction group of several (a part of a composite plan) is
not compared with the levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import InputError
from ..load.rtplan import PlanInfo, Prescription
from ..protocol.schema import Arm, Level, Protocol
from ..results import Declaration, LevelSource, PlanCheckResult, ReviewItem
from .matching import HOW, Match, RoiInfo, match_role
from .targets import Accounting, Candidate

SOURCES = ("recorded", "protocol", "name", "reviewer", "none")

_RX = re.compile(r"^\s*(?:(?P<target>[^=]+?)\s*=\s*)?(?P<dose>\d+(?:[.,]\d+)?)\s*(?P<unit>c?gy)"
                 r"\s*(?:/\s*(?P<fx>\d+)\s*(?:fx|fr|f)?)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Rx:
    """A prescription the reviewer declares with ``--rx``.

    Attributes
    ----------
    target : str or None
        A ROI name or a level's role (``--rx PTV_3000=30Gy``), None for the whole plan.
    dose_gy : float
    fractions : int or None
    text : str
        As given on the command line.
    """

    target: str | None
    dose_gy: float
    fractions: int | None
    text: str


def parse_rx(text: str) -> Rx:
    """Read ``35Gy/5``, ``3500cGy``, ``PTV_3000=30Gy``, ``PTV_1=24Gy/3``.

    Raises
    ------
    InputError
        When the text is not a dose with its unit (exit 2).
    """
    m = _RX.match(text or "")
    if not m:
        raise InputError(f"--rx {text!r}: write a total dose with its unit and optionally the fractions, "
                         "e.g. --rx 35Gy/5, --rx 3000cGy or --rx PTV_3000=30Gy")
    dose = float(m.group("dose").replace(",", ".")) / (100.0 if m.group("unit").lower() == "cgy" else 1.0)
    fx = int(m.group("fx")) if m.group("fx") else None
    if dose <= 0 or fx == 0:
        raise InputError(f"--rx {text!r}: the dose and the number of fractions must be greater than 0")
    return Rx(m.group("target").strip() if m.group("target") else None, dose, fx, text.strip())


@dataclass
class TargetDose:
    """One target ROI at one level, and its dose with the source.

    Attributes
    ----------
    role : str
        The level's role.
    roi, roi_number : str, int
    how : str
        How the ROI was assigned to the level (a word of :data:`~sbrt_qa.evaluate.matching.HOW`).
    dose_gy : float or None
        The dose its coverage and indices are judged at; None when none could be decided.
    source : str
        One of :data:`SOURCES`.
    message : str
    primary : bool
        The target whose results keep the constraint's own id; further targets at the same
        level have ids ``<id>@<ROI>``.
    """

    role: str
    roi: str
    roi_number: int
    how: str
    dose_gy: float | None
    source: str
    message: str = ""
    primary: bool = False

    @property
    def key(self) -> str:
        """``ROLE`` for the primary target, ``ROLE@ROI`` for the others (result ids, index table keys)."""
        return self.role if self.primary else f"{self.role}@{self.roi}"

    def match(self) -> Match:
        return Match(self.role, self.roi, self.how, roi_number=self.roi_number)


@dataclass
class Resolution:
    """Targets per level with their doses, and what the plan and the reviewer must be told."""

    targets: dict[str, list[TargetDose]] = field(default_factory=dict)
    levels: list[LevelSource] = field(default_factory=list)
    level_dose: dict[str, float | None] = field(default_factory=dict)
    checks: list[PlanCheckResult] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    unassigned: list[Candidate] = field(default_factory=list)
    composite_of: dict[int, list[int]] = field(default_factory=dict)

    def all_targets(self) -> list[TargetDose]:
        return [t for ts in self.targets.values() for t in ts]

    def role_dose(self, role: str) -> float | None:
        """The dose a role's % figures refer to: its primary target's, else its level's."""
        primary = next((t for t in self.targets.get(role, []) if t.primary), None)
        if primary is not None:
            return primary.dose_gy
        return self.level_dose.get(role)

    def primary_dose(self) -> float | None:
        """The highest level dose, the reference for % figures of organs; None while a level with targets has none."""
        doses = []
        for role, dose in self.level_dose.items():
            if dose is None and self.targets.get(role):
                return None
            if dose is not None:
                doses.append(dose)
        return max(doses) if doses else None


def _fmt(dose: float | None) -> str:
    return "-" if dose is None else f"{dose:g} Gy"


def _describe(p: Prescription) -> str:
    what = f"dose reference {p.dose_reference_number}" if p.dose_reference_number is not None else "a dose reference"
    return what + (f" {p.description!r}" if p.description else "")


def _best_role(c: Candidate, levels: list[Level], protocol: Protocol) -> tuple[str, str] | None | str:
    """The level role a candidate's name matches (earliest matching step); ``"tie"`` when several tie."""
    found = []
    for lv in levels:
        m = match_role(protocol.roles[lv.role], [c.roi])
        if m.roi is not None:
            found.append((HOW.index(m.how), lv.role, m.how))
    if not found:
        return None
    found.sort()
    if len(found) > 1 and found[0][0] == found[1][0]:
        return "tie"
    return found[0][1], found[0][2]


def _accepting(levels: list[Level], dose: float) -> list[Level]:
    return [lv for lv in levels if lv.accepts(dose)]


def resolve(protocol: Protocol, arm: Arm | None, plan: PlanInfo | None, accounting: Accounting, composite_of: dict[int, list[int]],
            matches: dict[str, Match], user_map: dict[str, str] | None, rx: list[Rx], needs_dose: set[str] | None = None) -> Resolution:
    """Assign every target to a level and decide each target's dose (see the module docstring).

    Parameters
    ----------
    protocol : Protocol
    arm : Arm or None
        None when no arm could be chosen: only the recorded prescriptions are reported.
    plan : PlanInfo or None
    accounting : Accounting
        The target candidates (:func:`~sbrt_qa.evaluate.targets.candidates`).
    composite_of : dict
        ROI number -> member ROI numbers of composite targets (:func:`~sbrt_qa.evaluate.targets.composites`).
    matches : dict
        Role -> :class:`Match` over the whole structure set.
    user_map : dict or None
        ``--structure`` / ``--map``.
    rx : list of Rx
        The reviewer's ``--rx``.
    needs_dose : set of str, optional
        Level roles whose dose a constraint of the arm needs (% figures, indices); an
        undecided dose of another level is reported, not a review item. All levels by default.
    """
    res = Resolution(composite_of=dict(composite_of))
    user_map = user_map or {}
    for r in rx:
        res.declarations.append(Declaration("rx", r.target or "plan", r.text))
    recorded = list(plan.prescriptions) if plan else []
    total_fx = plan.fractions if plan else None
    whole, notes = course_prescriptions(plan)
    res.notes += notes
    if not recorded:
        res.notes.append("prescription not recorded in the plan: each level's dose comes from the protocol, a dose in the target's name, "
                         "or the reviewer's --rx (see prescription levels)")
    if arm is None:
        for p in whole:
            res.levels.append(LevelSource(p.description or _describe(p), [], p.dose_gy, "recorded", "no arm chosen: not compared with the protocol"))
        return res

    levels = list(arm.levels)
    by_role = {lv.role: lv for lv in levels}
    cands = {c.roi.number: c for c in accounting.candidates}
    # a ROI a level's role matches is a target, whatever its type (a protocol may let CTV stand for PTV)
    for lv in levels:
        m = matches.get(lv.role)
        if m is not None and m.roi_number is not None and m.roi_number not in cands:
            cands[m.roi_number] = Candidate(RoiInfo(m.roi_number, m.roi or "", "", True), [f"matched role {lv.role} by {m.how}"])
    names = {c.roi.name for c in cands.values()}
    by_name_rx = {r.target: r for r in rx if r.target and r.target in names}
    by_role_rx = {r.target: r for r in rx if r.target and r.target in by_role and r.target not in names}
    plain_rx = [r for r in rx if not r.target]
    for r in rx:
        if r.target and r.target not in names and r.target not in by_role:
            res.review.append(ReviewItem(f"rx:{r.target}", f"--rx {r.text} names {r.target!r}, which is neither a target ROI nor a level of arm {arm.name} "
                                         f"({', '.join(by_role)})", "name a target ROI or a level's role"))
        if r.fractions and total_fx and r.fractions != total_fx:
            res.review.append(ReviewItem("rx", f"--rx {r.text} gives {r.fractions} fractions; the plan records {total_fx}",
                                         "check the fractionation, or give --rx without fractions"))

    # composites: not evaluated when their members are (unless the reviewer mapped the composite itself)
    mapped = {v for v in user_map.values()}
    skip: set[int] = set()
    for n, members in composite_of.items():
        if n not in cands:
            continue
        c = cands[n]
        member_names = ", ".join(cands[k].roi.name for k in members if k in cands)
        if c.roi.name in mapped or f"#{n}" in mapped:
            skip |= set(members)
            res.notes.append(f"target {c.roi.label} is mapped by the reviewer; its members ({member_names}) are not evaluated separately")
        else:
            skip.add(n)
            res.notes.append(f"{c.roi.label} is the union of targets {member_names}: they are evaluated one by one, the union is not")

    linked: dict[int, Prescription] = {}
    unlinked: list[Prescription] = []
    for p in whole:
        if p.roi_number is not None and p.roi_number in cands and p.roi_number not in skip:
            if p.roi_number in linked and linked[p.roi_number].dose_gy != p.dose_gy:
                res.notes.append(f"ROI #{p.roi_number} has several recorded prescriptions; the largest is used")
            if p.roi_number not in linked or p.dose_gy > linked[p.roi_number].dose_gy:
                linked[p.roi_number] = p
        else:
            if p.roi_number is not None:
                res.notes.append(f"{_describe(p)} links ROI #{p.roi_number}, which is not a target of this structure set")
            unlinked.append(p)

    fixed = sorted({lv.dose_gy for lv in levels if lv.dose_gy is not None})
    assigned: dict[int, tuple[str, str, str]] = {}  # ROI number -> (role, how, why)
    for n, c in sorted(cands.items()):
        if n in skip:
            continue
        name = c.roi.name
        user_role = next((role for role, roi in user_map.items() if role in by_role and (roi == name or roi.strip() == f"#{n}")), None)
        best = _best_role(c, levels, protocol)
        named_role = best if isinstance(best, tuple) else None
        if user_role:
            assigned[n] = (user_role, "user", f"--structure {user_role}={name}")
            continue
        if name in by_name_rx:
            dose = by_name_rx[name].dose_gy
            acc = _accepting(levels, dose)
            if named_role and by_role[named_role[0]] in acc:
                assigned[n] = (named_role[0], named_role[1], f"--rx {by_name_rx[name].text}")
            elif len(acc) == 1:
                assigned[n] = (acc[0].role, "user", f"--rx {by_name_rx[name].text}")
            elif named_role:
                assigned[n] = (named_role[0], named_role[1], f"--rx {by_name_rx[name].text}")
            elif len(levels) == 1:
                assigned[n] = (levels[0].role, "only_level", f"--rx {by_name_rx[name].text}")
            else:
                res.unassigned.append(c)
                res.review.append(_not_assigned(c, f"--rx gives it {dose:g} Gy, which no level of arm {arm.name} has ({_levels_text(levels)})"))
            continue
        if c.name_dose is not None:
            acc = _accepting(levels, c.name_dose.dose_gy)
            if named_role and by_role[named_role[0]] in acc:
                assigned[n] = (named_role[0], named_role[1], f"its name carries {c.name_dose.dose_gy:g} Gy")
            elif len(acc) == 1:
                assigned[n] = (acc[0].role, "dose_in_name", f"its name carries {c.name_dose.dose_gy:g} Gy ({c.name_dose.text!r})")
            else:
                res.unassigned.append(c)
                why = (f"its name carries {c.name_dose.dose_gy:g} Gy ({c.name_dose.text!r}), which no level of arm {arm.name} has "
                       f"({_levels_text(levels)})") if not acc else (f"its name carries {c.name_dose.dose_gy:g} Gy, which several levels accept")
                res.review.append(_not_assigned(c, why))
            continue
        if named_role:
            assigned[n] = (named_role[0], named_role[1], f"matches role {named_role[0]} by {named_role[1]}")
            continue
        if n in linked:
            acc = _accepting(levels, linked[n].dose_gy)
            if len(acc) == 1:
                assigned[n] = (acc[0].role, "dose_reference", f"{_describe(linked[n])} prescribes it {linked[n].dose_gy:g} Gy")
                continue
            if len(levels) == 1:
                assigned[n] = (levels[0].role, "dose_reference", f"{_describe(linked[n])} points to it")
                continue
        if c.rank and len(fixed) >= 2:
            dose = fixed[-1] if c.rank == "high" else fixed[0]
            role = next(lv.role for lv in levels if lv.dose_gy == dose)
            assigned[n] = (role, "rank_in_name", f"PTV_{c.rank.capitalize()}: the arm's {'highest' if c.rank == 'high' else 'lowest'} level")
            continue
        if len(levels) == 1:
            assigned[n] = (levels[0].role, "only_level", f"the only level of arm {arm.name}")
            continue
        res.unassigned.append(c)
        why = "the tie between levels cannot be broken by its name" if best == "tie" else \
            f"neither its name, a dose reference nor the reviewer tells which level of arm {arm.name} ({_levels_text(levels)}) it belongs to"
        res.review.append(_not_assigned(c, why))

    for n, (role, how, why) in sorted(assigned.items()):
        res.targets.setdefault(role, []).append(TargetDose(role, cands[n].roi.name, n, how, None, "none", why))
    for role, ts in res.targets.items():
        m = matches.get(role)
        primary = next((t for t in ts if m is not None and t.roi_number == m.roi_number), ts[0])
        primary.primary = True
        ts.sort(key=lambda t: (not t.primary, t.roi_number))
        if len(ts) > 1:
            res.notes.append(f"level {role}: {len(ts)} targets ({', '.join(t.roi for t in ts)}) are each evaluated; "
                             f"results of {', '.join(t.roi for t in ts[1:])} carry ids ending in @ROI")

    for lv in levels:
        _decide(lv, res, cands, linked, unlinked, by_name_rx, by_role_rx, plain_rx, levels, protocol,
                needs_dose is None or lv.role in needs_dose)
    evaluated = {t.roi_number for t in res.all_targets()}
    stray = [p for p in unlinked if not _accepting(levels, p.dose_gy)]
    stray += [p for n, p in linked.items() if n not in evaluated and not _accepting(levels, p.dose_gy)]
    if stray:
        res.checks.append(PlanCheckResult(
            "prescription_recorded", [p.dose_gy for p in stray], _levels_text(levels), "major",
            "; ".join(f"recorded prescription {p.dose_gy:g} Gy ({_describe(p)}) matches no level of arm {arm.name}" for p in stray)))
    return res


def course_prescriptions(plan: PlanInfo | None) -> tuple[list[Prescription], list[str]]:
    """The recorded prescriptions of the whole course, and notes on how they were read.

    One fraction group's prescription is a part of the course when the plan has several
    groups. When one group covers the others (:class:`~sbrt_qa.load.rtplan.FractionScheme`,
    Monaco composite plans: RxC 50 Gy in 25 fx with RxA 26 Gy in 13 and RxB 24 Gy in 12), its
    prescription is the course's and the others are its parts: a 50 Gy level, never 26 or 24
    Gy (parts) nor 100 Gy (everything added). Whether RxC summarises RxA and RxB or treats
    another site alongside them, the course's level is 50 Gy either way: RxA + RxB = RxC.
    When the groups cannot tell the sessions (a group matching the others' fractions but not
    their dose) and the reviewer has not told them (the plan's ``fractions`` is None), no
    recorded prescription is a course prescription. Otherwise parts to the same ROI (or all
    without a ROI) whose groups together make the plan's fractions add up to one course
    prescription (21 Gy in 3 + 14 Gy in 2 = 35 Gy in 5). An item whose dose and fractions
    equal the sum of the others is itself the composite and is used alone. Other parts are
    not compared with a level.
    """
    if plan is None:
        return [], []
    total = plan.fractions
    scheme = plan.fraction_scheme
    if scheme is not None and scheme.kind == "ambiguous" and total is None:
        return [], [f"recorded prescription {p.dose_gy:g} Gy ({_describe(p)}) of fraction group {p.fraction_group_number} ({p.fractions} fx): "
                    "the plan's number of sessions is not known, so it is not compared with a level" for p in plan.prescriptions]
    if scheme is not None and scheme.kind == "covering" and total == scheme.sessions:
        own = [p for p in plan.prescriptions if p.fraction_group_number == scheme.covering_group]
        if own:
            whole = [p for p in plan.prescriptions if p.fraction_group_number in (scheme.covering_group, None)]
            parts = [p for p in plan.prescriptions if p not in whole]
            notes = [f"recorded prescription {_gy_list(own)} Gy of fraction group {scheme.covering_group} ({total} fx) is the course's"
                     + (f"; the prescriptions of groups {', '.join(str(g) for g in scheme.covered_groups)} "
                        f"({' + '.join(f'{p.dose_gy:g}' for p in parts)} Gy) are its parts, not levels" if parts else "")
                     + f": it covers their course in fractions and dose, and whether it summarises them or treats a site alongside "
                       f"them, the course's level is {_gy_list(own)} Gy in {total} fractions"]
            return whole, notes
    if len(plan.fraction_groups) < 2 or not total:
        return list(plan.prescriptions), []
    whole = [p for p in plan.prescriptions if p.fractions is None or p.fractions == total]
    parts = [p for p in plan.prescriptions if p.fractions is not None and p.fractions != total]
    notes: list[str] = []
    by_target: dict[int | None, list[Prescription]] = {}
    for p in parts:
        by_target.setdefault(p.roi_number, []).append(p)
    for roi, items in by_target.items():
        doses, groups = sum(p.dose_gy for p in items), {p.fraction_group_number for p in items}
        fx = sum(n for g, n in plan.fraction_groups if g in groups and n)
        # an item summing the others needs at least two others (one item cannot summarise a single other)
        composite = next((p for p in items if len(items) > 2 and abs(p.dose_gy * 2 - doses) <= 0.01 * doses
                          and p.fractions == sum(q.fractions or 0 for q in items if q is not p)), None)
        if composite is not None:
            notes.append(f"recorded prescription {composite.dose_gy:g} Gy ({_describe(composite)}) is the sum of the other fraction groups' "
                         f"({' + '.join(f'{q.dose_gy:g}' for q in items if q is not composite)} Gy): the course prescription")
            whole.append(Prescription(composite.dose_gy, roi, composite.description, composite.structure_type,
                                      composite.dose_reference_number, None, composite.fractions))
        elif len(groups) == len(items) and fx == total:
            text = " + ".join(f"{p.dose_gy:g} Gy ({p.fractions} fx)" for p in items)
            notes.append(f"recorded prescriptions of fraction groups {', '.join(str(g) for g in sorted(g for g in groups if g is not None))} "
                         f"added into one course prescription: {text} = {doses:g} Gy in {total} fractions")
            whole.append(Prescription(doses, roi, " + ".join(p.description for p in items if p.description), items[0].structure_type,
                                      items[0].dose_reference_number, None, total))
        else:
            for p in items:
                notes.append(f"recorded prescription {p.dose_gy:g} Gy ({_describe(p)}) belongs to fraction group "
                             f"{p.fraction_group_number} ({p.fractions} of {total} fractions): a part of the course, not compared with a level")
    return whole, notes


def _gy_list(items: list[Prescription]) -> str:
    return " and ".join(f"{p.dose_gy:g}" for p in items)


def _levels_text(levels: list[Level]) -> str:
    return ", ".join(f"{lv.role} {lv.text()}" for lv in levels)


def _not_assigned(c: Candidate, why: str) -> ReviewItem:
    return ReviewItem(f"target:{c.roi.name}", f"target not assigned: coverage not evaluated: {c.roi.label} ({'; '.join(c.reasons)}): {why}",
                      f"give its dose with --rx {c.roi.name}=<dose>Gy, or map it with --structure ROLE={c.roi.name}")


def _decide(lv: Level, res: Resolution, cands: dict[int, Candidate], linked: dict[int, Prescription], unlinked: list[Prescription],
            by_name_rx: dict[str, Rx], by_role_rx: dict[str, Rx], plain_rx: list[Rx], levels: list[Level], protocol: Protocol,
            needed: bool = True) -> None:
    """Each target's dose at one level, the level's LevelSource entries and its prescription check."""
    role = lv.role
    targets = res.targets.get(role, [])
    in_level = [p for p in unlinked if lv.accepts(p.dose_gy)]
    in_level_doses = sorted({p.dose_gy for p in in_level})
    plain = [r for r in plain_rx if lv.accepts(r.dose_gy)] or (plain_rx if len(levels) == 1 else [])
    contradictions: list[str] = []
    for t in targets:
        c = cands[t.roi_number]
        name_dose = c.name_dose.dose_gy if c.name_dose is not None and lv.accepts(c.name_dose.dose_gy) else None
        if t.roi in by_name_rx:
            t.dose_gy, t.source, t.message = by_name_rx[t.roi].dose_gy, "reviewer", f"--rx {by_name_rx[t.roi].text}"
        elif role in by_role_rx:
            t.dose_gy, t.source, t.message = by_role_rx[role].dose_gy, "reviewer", f"--rx {by_role_rx[role].text}"
        elif plain:
            t.dose_gy, t.source, t.message = plain[0].dose_gy, "reviewer", f"--rx {plain[0].text}"
        elif t.roi_number in linked:
            p = linked[t.roi_number]
            if lv.accepts(p.dose_gy):
                t.dose_gy, t.source, t.message = p.dose_gy, "recorded", f"{_describe(p)} links ROI #{t.roi_number}"
            else:
                contradictions.append(f"recorded {p.dose_gy:g} Gy to {t.roi} ({_describe(p)}, ROI #{t.roi_number}) contradicts the protocol's {lv.text()}")
                # judged at the protocol's dose: the recorded one is the deviation
                t.dose_gy = lv.dose_gy if lv.dose_gy is not None else p.dose_gy
                t.source = "protocol" if lv.dose_gy is not None else "recorded"
                t.message = contradictions[-1]
        elif len(in_level_doses) == 1 and (name_dose is None or abs(in_level_doses[0] - name_dose) <= 0.01 * name_dose):
            t.dose_gy, t.source, t.message = in_level_doses[0], "recorded", _describe(in_level[0])
        elif lv.dose_gy is not None:
            t.dose_gy, t.source = lv.dose_gy, "protocol"
            t.message = "prescription not recorded in the plan: the protocol's dose" if not in_level_doses else "the protocol's dose"
        elif name_dose is not None:
            t.dose_gy, t.source = name_dose, "name"
            t.message = f"read from the name {t.roi!r} ({c.name_dose.text!r})"  # type: ignore[union-attr]
            if in_level_doses:
                res.notes.append(f"{t.roi}: judged at {name_dose:g} Gy from its name; the plan also records "
                                 f"{', '.join(f'{d:g}' for d in in_level_doses)} Gy without linking a ROI")
        else:
            t.dose_gy, t.source = None, "none"
            t.message = (f"several recorded prescriptions ({', '.join(f'{d:g}' for d in in_level_doses)} Gy) fit level {lv.text()}"
                         if in_level_doses else f"prescription not recorded in the plan; the protocol allows {lv.text()}")
    # the level's own dose (for a level without targets, and for % figures of organs)
    if role in by_role_rx:
        level_dose, level_source = by_role_rx[role].dose_gy, "reviewer"
    elif plain:
        level_dose, level_source = plain[0].dose_gy, "reviewer"
    elif len(in_level_doses) == 1:
        level_dose, level_source = in_level_doses[0], "recorded"
    elif lv.dose_gy is not None:
        level_dose, level_source = lv.dose_gy, "protocol"
    else:
        level_dose, level_source = None, "none"
    primary = next((t for t in targets if t.primary), None)
    res.level_dose[role] = primary.dose_gy if primary is not None else level_dose

    groups: dict[tuple[float | None, str], list[TargetDose]] = {}
    for t in targets:
        groups.setdefault((t.dose_gy, t.source), []).append(t)
    for (dose, source), ts in groups.items():
        res.levels.append(LevelSource(role, [t.roi for t in ts], dose, source, "; ".join(dict.fromkeys(t.message for t in ts if t.message))))
    if not targets:
        res.levels.append(LevelSource(role, [], level_dose, level_source, "no target ROI identified for this level"))

    required = protocol.roles[role].required
    recorded_here = [t for t in targets if t.source == "recorded"]
    undecided = [t for t in targets if t.dose_gy is None]
    value = sorted({p.dose_gy for p in in_level} | {linked[t.roi_number].dose_gy for t in targets if t.roi_number in linked}) or None
    check_id = f"prescription_{role}"
    if contradictions:
        res.checks.append(PlanCheckResult(check_id, value, lv.text(), "major", "; ".join(contradictions)))
    elif undecided and not needed:
        res.checks.append(PlanCheckResult(check_id, None, lv.text(), "info",
                                          f"{role} {lv.text()}: {undecided[0].message}; no constraint of the arm depends on its dose"))
    elif undecided:
        res.checks.append(PlanCheckResult(check_id, None, lv.text(), "not_evaluated",
                                          f"{role} {lv.text()}: {undecided[0].message}: coverage and indices of "
                                          f"{', '.join(t.roi for t in undecided)} not evaluated"))
        res.review.append(ReviewItem(f"prescription:{role}", f"{role}: {undecided[0].message}; no dose could be decided for "
                                     f"{', '.join(t.roi for t in undecided)}",
                                     f"give it with --rx {role}=<dose>Gy (or per target --rx {undecided[0].roi}=<dose>Gy)"))
    elif recorded_here:
        res.checks.append(PlanCheckResult(check_id, value, lv.text(), "pass",
                                          f"{role} {lv.text()} recorded in the plan ({recorded_here[0].message})"))
    elif targets:
        sources = sorted({t.source for t in targets})
        res.checks.append(PlanCheckResult(check_id, None, lv.text(), "info",
                                          f"{role} {lv.text()} not recorded in the plan: judged at "
                                          + ", ".join(f"{t.roi} {_fmt(t.dose_gy)} ({t.source})" for t in targets)
                                          + ("" if sources != ["protocol"] else "; a level the export does not record is not a deviation")))
    elif level_source == "recorded":
        res.checks.append(PlanCheckResult(check_id, value, lv.text(), "not_evaluated" if required else "info",
                                          f"{role} {lv.text()} recorded in the plan, but no target ROI was identified for it"))
        res.review.append(ReviewItem(f"prescription:{role}", f"the plan records {level_dose:g} Gy for level {role}, but no target ROI was identified for it",
                                     f"map its target with --structure {role}=ROI"))
    else:
        res.checks.append(PlanCheckResult(check_id, None, lv.text(), "not_evaluated" if required else "info",
                                          f"{role} {lv.text()}: no target ROI identified" + ("" if required else " (optional level)")))
