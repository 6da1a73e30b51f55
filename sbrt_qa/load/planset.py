"""Assemble plan sets (dose + structure set + optional plan) from DICOM references.

References are followed first: RTDOSE -> RTPLAN (ReferencedRTPlanSequence) and
RTPLAN -> RTSTRUCT (ReferencedStructureSetSequence). Where a reference is missing,
an object on the same FrameOfReferenceUID is used, and only when exactly one
qualifies: pairing is never a guess. That search stays inside the case: the dose's
own folder first, then the folders above it, never a folder holding another case's
RT Dose, so that the files of one case never complete another case's plan set.

Plans that are parts of one course (a MULTI_PLAN dose references them, or their
ReferencedRTPlanSequence calls them PREDECESSOR or CONCURRENT) are assembled into a
course, judged on the course dose; each part is kept and marked as a part.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, PlanSetStopped
from ..python_warnings import Collected, merged
from . import sop, validate
from .course import course_plan, sum_on_common_grid
from .discovery import DicomObject, discover
from .pairing import Pairing
from .rtdose import DoseGrid, combine_doses, dose_references, read_dose_grid
from .rtplan import PlanInfo, read_plan
from .rtstruct import StructureSet, read_structure_set

#: Which doses of a plan make its whole dose, best first (PS3.3 C.8.8.3 DoseSummationType).
_PREFERENCE = ("PLAN", "FRACTION", "BEAM", "FRACTION_SESSION", "BEAM_SESSION")
#: RTPlanRelationship values that make plans parts of one course (PS3.3 C.8.8.9).
COURSE_RELATIONSHIPS = ("PREDECESSOR", "CONCURRENT")


@dataclass
class PlanSet:
    """The objects of one plan set, before the heavy data (pixels, contours) is read.

    A course has ``parts`` (the plan sets of its plans) and either its own course
    dose in ``doses`` (MULTI_PLAN) or none (the parts' doses are summed). A part has
    ``course`` set to the course's label.
    """

    doses: list[DicomObject]
    structure_set: DicomObject
    plan: DicomObject | None
    pairing: str
    notes: list[str] = field(default_factory=list)
    parts: list["PlanSet"] = field(default_factory=list)
    course: str | None = None
    relationship: str = ""
    pairing_kind: Pairing | None = None  # the kind of ``pairing``, for decisions (the text is for people)
    linked_by_reference: bool = False  # every link (dose -> plan(s) -> structure set, a course's parts) a UID reference

    @property
    def objects(self) -> list[DicomObject]:
        """Every object the set is read from (a course's parts' too)."""
        own = [*self.doses, self.structure_set] + ([self.plan] if self.plan else [])
        return own + [o for p in self.parts for o in p.objects if o not in own]


@dataclass
class LoadedPlanSet:
    """A plan set with its dose, structures and plan read.

    ``course_parts`` lists the plans of a course (empty for a single plan);
    ``part_of_course`` names the course a plan belongs to (None otherwise).
    """

    dose: DoseGrid
    structures: StructureSet
    plan: PlanInfo | None
    pairing: str
    notes: list[str]
    paths: list[Path]
    patient_id: str | None = None
    #: DVHs computed so far, by ROI number (filled by :func:`sbrt_qa.dvh.analysis.structure_dvhs`):
    #: a second protocol checked on the same plan set reuses them.
    dvh_cache: dict = field(default_factory=dict, repr=False, compare=False)
    course_parts: list[PlanInfo] = field(default_factory=list)
    part_of_course: str | None = None
    pairing_kind: Pairing | None = None  # the kind of ``pairing``, for decisions (the text is for people)
    linked_by_reference: bool = False  # every link (dose -> plan(s) -> structure set, a course's parts) a UID reference
    #: Python warnings raised while its files were read (pydicom reading around a defect), for its reports.
    warnings: list[str] = field(default_factory=list)
    #: :func:`plan_set_key` of the plan set it was read from (a course inferred from loaded plans: its plans' UIDs).
    key: str = ""


@dataclass
class AssemblyFailure:
    """A plan set that could not be assembled or read: the file it is about and why.

    ``plan_set`` is the plan set that was assembled but could not be read (its content is
    wrong: a verdict of error for that version); None when it could not be assembled (an
    object is missing, which a listener waits for).
    """

    path: Path | None
    message: str
    plan_set: "PlanSet | None" = None


def _summation(dose: DicomObject) -> str:
    return str(dose.dataset.get("DoseSummationType", "")).upper()


def _plan_refs(dose: DicomObject) -> tuple[str, ...]:
    return dose_references(dose.dataset)["referenced_plan_uids"]


def _label(plan: DicomObject) -> str:
    return validate.text(plan.dataset.get("RTPlanLabel")) or plan.sop_instance_uid


def parts_pairing(parts: list[tuple[str, str, bool]]) -> str:
    """How a summed course's parts were paired: one text when they agree, each part's otherwise.

    The course dose is only as well identified as its least well identified part, so a
    part not linked by reference is named in the course's pairing, not hidden behind the
    first part's.

    Parameters
    ----------
    parts : list of (str, str, bool)
        Each part's plan label, pairing text and whether it was linked by reference, in course order.
    """
    pairings = list(dict.fromkeys(pairing for _, pairing, _ in parts))
    if len(pairings) == 1:
        return "parts: " + pairings[0]
    each = "; ".join(f"{label}: {pairing}" for label, pairing, _ in parts)
    weak = [label for label, _, by_reference in parts if not by_reference]
    if weak:
        return f"parts not all linked by reference (not: {', '.join(weak)}); {each}"
    return "parts: " + each


class _Scope:
    """The case-folder rule for pairing by frame of reference."""

    def __init__(self, doses: list[DicomObject]):
        self.dose_dirs = {d.path.parent.resolve() for d in doses}

    def nearest(self, anchor: DicomObject, candidates: list[DicomObject]) -> list[DicomObject]:
        """Candidates in the anchor's folder, else in the nearest folder above holding any outside other cases."""
        if not candidates:
            return []
        home = anchor.path.parent.resolve()
        chain = [home, *home.parents]
        own = set(chain)
        located = [(c, c.path.parent.resolve()) for c in candidates]
        for level in chain:
            found = []
            for c, folder in located:
                if folder != level and level not in folder.parents:
                    continue
                between = [folder, *[p for p in folder.parents if level in p.parents]]
                if any(d in self.dose_dirs and d not in own for d in between):
                    continue  # inside another case's folder
                found.append(c)
            if found:
                return found
        return []


def _structure_by_frame(frame: str | None, structs: list[DicomObject], anchor: DicomObject, scope: _Scope) -> tuple[DicomObject, str]:
    same = [s for s in structs if frame and s.frame_of_reference_uid == frame]
    near = scope.nearest(anchor, same)
    if len(near) == 1:
        where = "in the same folder" if near[0].path.parent == anchor.path.parent else "in the case's folder tree"
        return near[0], f"structure set paired by shared FrameOfReferenceUID {frame} {where}"
    if not near:
        if same:
            raise InputError(
                f"no RT Structure Set on this object's frame of reference {frame} in its case folder "
                f"(the one(s) found belong to another case: {', '.join(str(s.path) for s in same[:3])})",
                anchor.path,
            )
        if structs:
            others = "; ".join(f"{s.path.name} on {s.frame_of_reference_uid}" for s in structs[:3])
            raise InputError(
                f"no RT Structure Set on this object's frame of reference {frame} (found {others}): "
                "the structure set belongs to another frame of reference",
                anchor.path,
            )
        raise InputError("no RT Structure Set found for this object (missing structure set)", anchor.path)
    names = ", ".join(str(s.path) for s in near[:5])
    raise InputError(
        f"{len(near)} RT Structure Sets share frame of reference {frame} and nothing references one of them "
        f"({names}); give the files of one plan set explicitly",
        anchor.path,
    )


def _fraction_groups(plan: DicomObject | None) -> list[int]:
    if plan is None:
        return []
    out = []
    for g in plan.dataset.get("FractionGroupSequence", []):
        try:
            out.append(int(g.FractionGroupNumber))
        except (AttributeError, TypeError, ValueError):
            pass
    return out


def _dose_sets(doses: list[DicomObject], plan: DicomObject | None) -> tuple[list[list[DicomObject]], list[str]]:
    """The dose sets that each make the plan's whole dose, and what was passed over.

    PLAN doses stand alone (one set each); otherwise the best type present makes one
    set; FRACTION and FRACTION_SESSION doses must cover every fraction group.
    """
    by_kind: dict[str, list[DicomObject]] = {}
    for d in doses:
        # a MULTI_PLAN dose summing this one plan only is that plan's dose (assemble notes it)
        by_kind.setdefault("PLAN" if _summation(d) == "MULTI_PLAN" else _summation(d), []).append(d)
    unknown = sorted(k for k in by_kind if k not in _PREFERENCE)
    kind = next((k for k in _PREFERENCE if k in by_kind), None)
    if kind is None:
        raise InputError(f"DoseSummationType {', '.join(unknown) or '(missing)'} is not supported "
                         "(PLAN, FRACTION, BEAM, FRACTION_SESSION, BEAM_SESSION, MULTI_PLAN)", doses[0].path)
    notes = [f"{len(v)} {k} dose(s) not used: the {kind} dose is" for k, v in by_kind.items() if k != kind]
    chosen = by_kind[kind]
    if kind == "PLAN":
        return [[d] for d in chosen], notes
    if kind in ("FRACTION", "FRACTION_SESSION"):
        groups = _fraction_groups(plan)
        by_group: dict[int | None, list[DicomObject]] = {}
        for d in chosen:
            refs = dose_references(d.dataset)["referenced_fraction_groups"]
            by_group.setdefault(refs[0] if refs else None, []).append(d)
        if any(len(v) > 1 for v in by_group.values()):
            twice = [g for g, v in by_group.items() if len(v) > 1]
            raise InputError(f"several {kind} doses for fraction group {twice[0]}: which one is the group's dose cannot be told", chosen[0].path)
        if None in by_group and len(chosen) > 1:
            raise InputError(f"{kind} doses without ReferencedFractionGroupNumber: their fraction groups cannot be told", chosen[0].path)
        if len(groups) > 1:
            missing = [g for g in groups if g not in by_group]
            if missing:
                raise InputError(f"{kind} doses cover fraction group(s) {sorted(g for g in by_group if g is not None)} of the plan's "
                                 f"{groups}: the dose of group {missing[0]} is not in the input", chosen[0].path)
    return [chosen], notes


def assemble(objects: list[DicomObject], failures: list[AssemblyFailure] | None = None) -> tuple[list[PlanSet], list[str]]:
    """Group discovered objects into plan sets (and courses).

    Parameters
    ----------
    objects : list of DicomObject
        What :func:`sbrt_qa.load.discovery.discover` found.
    failures : list, optional
        When given, a plan set that cannot be assembled is appended here and the
        others go on; otherwise the first problem raises.

    Returns
    -------
    plan_sets : list of PlanSet
        Single plans, course parts and courses (courses last).
    notes : list of str
        Unused structure sets, passed-over doses and the like.

    Raises
    ------
    InputError
        A dose with no structure set, a plan with no dose, a structure set on another
        frame of reference, an ambiguous pairing (without ``failures``), or nothing at all.
    """

    def fail(exc: InputError) -> None:
        if failures is None:
            raise exc
        failures.append(AssemblyFailure(Path(exc.path) if exc.path else None, exc.problem))

    plans = {o.sop_instance_uid: o for o in objects if o.kind == sop.RTPLAN}
    structs = [o for o in objects if o.kind == sop.RTSTRUCT]
    struct_by_uid = {s.sop_instance_uid: s for s in structs}
    doses = [o for o in objects if o.kind == sop.RTDOSE]
    scope = _Scope(doses)
    notes: list[str] = []

    multi = [d for d in doses if _summation(d) == "MULTI_PLAN" and len(_plan_refs(d)) != 1]
    by_plan: dict[str | None, list[DicomObject]] = {}
    pairing_note: dict[str, str] = {}
    plan_by_frame: set[str] = set()  # doses that name no plan, paired with the only plan on their frame of reference
    for d in doses:
        if d in multi:
            continue
        refs = _plan_refs(d)
        if refs:
            key = refs[0] if refs[0] in plans else f"absent:{refs[0]}"
            if _summation(d) == "MULTI_PLAN":
                pairing_note[d.sop_instance_uid] = "MULTI_PLAN dose referencing one plan: used as that plan's dose"
        else:
            same = [p for p in plans.values() if d.frame_of_reference_uid and p.frame_of_reference_uid == d.frame_of_reference_uid]
            near = scope.nearest(d, same)
            if len(near) == 1:
                key = near[0].sop_instance_uid
                plan_by_frame.add(d.sop_instance_uid)
                pairing_note[d.sop_instance_uid] = (f"RT Dose {d.path.name} has no ReferencedRTPlanSequence: paired with plan "
                                                    f"{_label(near[0])!r}, the only plan on its frame of reference")
            elif len(near) > 1:
                fail(InputError(f"RT Dose has no ReferencedRTPlanSequence and {len(near)} plans share its frame of reference "
                                f"({', '.join(_label(p) for p in near)}): which plan it belongs to cannot be told", d.path))
                continue
            else:
                key = None
        by_plan.setdefault(key, []).append(d)

    # Plans whose dose is a course's MULTI_PLAN dose need no dose of their own.
    in_multi = {uid for m in multi for uid in _plan_refs(m)}

    def structure_for(plan: DicomObject | None, anchor: DicomObject, set_notes: list[str]) -> tuple[DicomObject, str, bool]:
        ref_struct = None
        if plan is not None:
            rss = plan.dataset.get("ReferencedStructureSetSequence", [])
            ref_struct = str(rss[0].ReferencedSOPInstanceUID) if rss and "ReferencedSOPInstanceUID" in rss[0] else None
        if ref_struct and ref_struct in struct_by_uid:
            struct, how = struct_by_uid[ref_struct], "RTDOSE -> RTPLAN -> RTSTRUCT by reference"
        else:
            if ref_struct:
                set_notes.append(f"referenced structure set {ref_struct} is not in the input")
            struct, how = _structure_by_frame(anchor.frame_of_reference_uid, structs, anchor, scope)
        if struct.frame_of_reference_uid and anchor.frame_of_reference_uid and struct.frame_of_reference_uid != anchor.frame_of_reference_uid:
            raise InputError(f"structure set {struct.path} is on frame of reference {struct.frame_of_reference_uid}, "
                             f"the dose on {anchor.frame_of_reference_uid}", anchor.path)
        return struct, how, struct is struct_by_uid.get(ref_struct or "")

    plan_sets: list[PlanSet] = []
    sets_of_plan: dict[str, list[PlanSet]] = {}
    for plan_uid, plan in plans.items():
        plan_doses = by_plan.pop(plan_uid, [])
        if not plan_doses:
            if plan_uid not in in_multi:
                fail(InputError("RT Plan has no RT Dose in the input (missing dose)", plan.path))
            continue
        try:
            groups, kind_notes = _dose_sets(plan_doses, plan)
        except InputError as exc:
            fail(exc)
            continue
        for group in groups:
            group_notes = list(kind_notes) + [pairing_note[d.sop_instance_uid] for d in group if d.sop_instance_uid in pairing_note]
            try:
                struct, how, struct_by_reference = structure_for(plan, group[0], group_notes)
            except InputError as exc:
                fail(exc)
                continue
            kind = Pairing.REFERENCE if struct_by_reference else Pairing.STRUCTURE_SET_BY_FRAME
            if any(d.sop_instance_uid in plan_by_frame for d in group):
                how, kind = "RTDOSE -> RTPLAN by frame of reference; " + how, Pairing.PLAN_BY_FRAME
            ps = PlanSet(group, struct, plan, how, group_notes, pairing_kind=kind, linked_by_reference=kind is Pairing.REFERENCE)
            plan_sets.append(ps)
            sets_of_plan.setdefault(plan_uid, []).append(ps)

    for key, orphan_doses in by_plan.items():
        if key is not None:
            try:
                groups, kind_notes = _dose_sets(orphan_doses, None)
            except InputError as exc:
                fail(exc)
                continue
        else:
            groups, kind_notes = [[d] for d in orphan_doses], []
        for group in groups:
            try:
                struct, how = _structure_by_frame(group[0].frame_of_reference_uid, structs, group[0], scope)
            except InputError as exc:
                fail(exc)
                continue
            group_notes = kind_notes + ["no RT Plan in the input: prescription and fractions unknown"]
            plan_sets.append(PlanSet(group, struct, None, how, group_notes, pairing_kind=Pairing.NO_PLAN))

    courses = _courses(multi, plans, sets_of_plan, structure_for, fail)
    plan_sets += courses

    if not plan_sets and failures is None:
        if structs:
            raise InputError("RT Structure Set found but no RT Dose (missing dose)", structs[0].path)
        raise InputError("no RT Dose found (missing dose)")
    used = {o.sop_instance_uid for p in plan_sets for o in p.objects if o.kind == sop.RTSTRUCT}
    for s in structs:
        if s.sop_instance_uid not in used:
            notes.append(f"{s.path}: structure set not used by any plan set")
    return plan_sets, notes


def _linked_components(plans: dict[str, DicomObject]) -> list[tuple[list[str], set[str], list[str]]]:
    """Plans linked by PREDECESSOR/CONCURRENT: (present plan uids, relationships, absent uids) per course."""
    links: dict[str, set[str]] = {uid: set() for uid in plans}
    kinds: dict[str, set[str]] = {uid: set() for uid in plans}
    absent: dict[str, set[str]] = {uid: set() for uid in plans}
    for uid, plan in plans.items():
        for r in plan.dataset.get("ReferencedRTPlanSequence", []):
            rel = str(r.get("RTPlanRelationship", "") or "").upper()
            other = str(r.get("ReferencedSOPInstanceUID", "") or "")
            if rel not in COURSE_RELATIONSHIPS or not other:
                continue
            kinds[uid].add(rel)
            if other in plans:
                links[uid].add(other)
                links[other].add(uid)
                kinds[other].add(rel)
            else:
                absent[uid].add(other)
    seen: set[str] = set()
    out = []
    for uid in plans:
        if uid in seen or not kinds[uid]:
            continue
        stack, component = [uid], []
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            component.append(u)
            stack.extend(links[u] - seen)
        out.append((sorted(component), set().union(*(kinds[u] for u in component)), sorted(set().union(*(absent[u] for u in component)))))
    return out


def _courses(multi, plans, sets_of_plan, structure_for, fail) -> list[PlanSet]:
    courses: list[PlanSet] = []
    covered: set[frozenset[str]] = set()
    for m in multi:
        refs = list(dict.fromkeys(_plan_refs(m)))
        if not refs:
            fail(InputError("MULTI_PLAN dose without ReferencedRTPlanSequence: the plans it sums cannot be told", m.path))
            continue
        missing = [u for u in refs if u not in plans]
        if missing:
            fail(InputError(f"MULTI_PLAN dose sums {len(refs)} plans and {len(missing)} of them are not in the input "
                            f"({', '.join(missing[:3])}): the course's prescription and fractions cannot be known", m.path))
            continue
        parts_plans = [plans[u] for u in refs]
        label = "course: " + " + ".join(_label(p) for p in parts_plans)
        set_notes = [f"course dose: MULTI_PLAN RT Dose {m.path.name}, the sum of plans {', '.join(_label(p) for p in parts_plans)}"]
        try:
            struct, how, struct_by_reference = structure_for(parts_plans[0], m, set_notes)
        except InputError as exc:
            fail(exc)
            continue
        parts = []
        for p in parts_plans:
            own = sets_of_plan.get(p.sop_instance_uid, [])
            for ps in own:
                ps.course = label
            parts.append(own[0] if own else PlanSet([], struct, p, "part of a course (no dose of its own)", [], course=label,
                                                    pairing_kind=Pairing.COURSE_PART))
        rels = {str(r.get("RTPlanRelationship", "") or "").upper() for p in parts_plans for r in p.dataset.get("ReferencedRTPlanSequence", [])}
        courses.append(PlanSet([m], struct, None, "MULTI_PLAN RTDOSE -> RTPLANs by reference; " + how, set_notes, parts, None,
                               "CONCURRENT" if rels == {"CONCURRENT"} else "MULTI_PLAN", pairing_kind=Pairing.COURSE_MULTI_PLAN,
                               linked_by_reference=struct_by_reference))
        covered.add(frozenset(refs))
    for uids, kinds, absent in _linked_components(plans):
        if frozenset(uids) in covered or any(frozenset(uids) <= c for c in covered):
            continue
        label = "course: " + " + ".join(_label(plans[u]) for u in uids)
        for u in uids:
            for ps in sets_of_plan.get(u, []):
                ps.course = label
        relation = "/".join(sorted(kinds))
        if absent:
            fail(InputError(f"{label}: the plans are linked as {relation} to plan(s) not in the input ({', '.join(absent[:3])}): "
                            "the course dose cannot be summed", plans[uids[0]].path))
            continue
        without = [u for u in uids if not sets_of_plan.get(u)]
        if without:
            fail(InputError(f"{label}: plan {_label(plans[without[0]])!r} of the course ({relation}) has no RT Dose in the input: "
                            "the course dose cannot be summed", plans[without[0]].path))
            continue
        parts = [sets_of_plan[u][0] for u in uids]
        if any(len(sets_of_plan[u]) > 1 for u in uids):
            fail(InputError(f"{label}: a part has several PLAN doses: which to sum cannot be told", plans[uids[0]].path))
            continue
        structs_used = {p.structure_set.sop_instance_uid for p in parts}
        if len(structs_used) > 1:
            fail(InputError(f"{label}: the parts use different structure sets; the course cannot be judged on one", plans[uids[0]].path))
            continue
        courses.append(PlanSet([], parts[0].structure_set, None, f"course by RTPlanRelationship {relation}; " + parts_pairing(
                                   [(_label(plans[u]), p.pairing, p.linked_by_reference) for u, p in zip(uids, parts)]),
                               [f"course of plans linked as {relation}: their doses summed on a common grid"], parts, None,
                               "CONCURRENT" if kinds == {"CONCURRENT"} else relation, pairing_kind=Pairing.COURSE_RELATIONSHIP,
                               linked_by_reference=all(p.linked_by_reference for p in parts)))
    return courses


def _fraction_factor_check(dose: DoseGrid, plan: PlanInfo, structures: StructureSet, label: str) -> None:
    """Stop when the dose values contradict the recorded prescription by the fraction count.

    See :func:`sbrt_qa.load.course.fraction_factor_contradiction` for the test.
    """
    from .course import PROCEED, fraction_factor_contradiction

    if not plan.prescriptions:
        return
    top = max(plan.prescriptions, key=lambda p: p.dose_gy)
    n = top.fractions or plan.fractions
    if not n or n < 2:
        return
    median = None
    roi = next((r for r in structures.rois if r.number == top.roi_number), None) if top.roi_number is not None else None
    if roi is not None and roi.geometry == "CLOSED_PLANAR":
        from ..dvh.masks import voxel_mask

        mask = voxel_mask(roi, dose, structures.contour_spacing())
        if mask.any():
            median = float(np.median(dose.dose_gy[mask]))
    problem = fraction_factor_contradiction(top.dose_gy, n, dose.max_gy, median)
    if problem:
        raise PlanSetStopped(f"{label}: the dose values contradict the prescription by the fraction count: {problem} "
                             f"(DoseSummationType {dose.summation_type}); the dose is either one session labelled as the whole, "
                             f"the whole labelled as one session, or grossly wrong: the tool will not choose; {PROCEED}")


def _recording_warnings(read):
    """Keep on the loaded plan set the Python warnings raised while its files were read.

    A warning of discovery is named with its file; one raised again on reading (a second
    read of the same file) is kept once. A course keeps its parts' warnings too.
    """

    @functools.wraps(read)
    def reading(plan_set: PlanSet, *args, **kwargs):
        with Collected() as caught:
            loaded = read(plan_set, *args, **kwargs)
        of_files = [f"{o.path.name}: {w}" for o in plan_set.objects for w in o.warnings]
        parts = args[0] if args else kwargs.get("loaded_parts", [])
        of_parts = [w for part in parts if part is not None for w in part.warnings]
        again = [w for w in caught.messages if not any(f.endswith(f": {w}") for f in of_files)]
        loaded.warnings = merged(of_files, of_parts, again)
        return loaded

    return reading


@_recording_warnings
def load_plan_set(plan_set: PlanSet) -> LoadedPlanSet:
    """Read the dose pixels, contours and plan of one plan set (not a course: see :func:`load_course`)."""
    if plan_set.parts and plan_set.plan is None:
        raise InputError("a course is loaded with load_course")
    plan = read_plan(plan_set.plan) if plan_set.plan is not None else None
    grids = [read_dose_grid(d) for d in plan_set.doses]
    notes = list(plan_set.notes)
    kinds = {g.summation_type for g in grids}
    if kinds & {"BEAM", "BEAM_SESSION"} and plan is not None:
        planned = {b.number for b in plan.beams if b.treatment_delivery_type == "TREATMENT" and b.number is not None}
        dosed = {b for g in grids for b in g.referenced_beams}
        if planned and dosed and not planned <= dosed:
            missing = ", ".join(str(n) for n in sorted(planned - dosed))
            raise InputError(f"BEAM doses do not cover every treatment beam of the plan (missing beam {missing})", plan_set.doses[0].path)
    dose = combine_doses(grids, plan)
    structures = read_structure_set(plan_set.structure_set)
    validate.structures_near_grid(structures.rois, dose, structures.path)
    if plan is not None:
        _fraction_factor_check(dose, plan, structures, f"plan {plan.label!r} ({plan_set.doses[0].path.name})")
    paths = [d.path for d in plan_set.doses] + [plan_set.structure_set.path] + ([plan_set.plan.path] if plan_set.plan else [])
    patient_id = str(plan_set.doses[0].dataset.get("PatientID", "")) or None
    if plan_set.course:
        notes.append(f"part of a course ({plan_set.course}): judged on the course dose, not alone")
    return LoadedPlanSet(dose, structures, plan, plan_set.pairing, notes + (plan.notes if plan else []), paths, patient_id,
                         part_of_course=plan_set.course, pairing_kind=plan_set.pairing_kind,
                         linked_by_reference=plan_set.linked_by_reference, key=plan_set_key(plan_set))


@_recording_warnings
def load_course(course: PlanSet, loaded_parts: list[LoadedPlanSet | None]) -> LoadedPlanSet:
    """Read a course: its MULTI_PLAN dose, or the sum of its parts' doses on a common grid.

    Parameters
    ----------
    course : PlanSet
        A plan set with ``parts``.
    loaded_parts : list of LoadedPlanSet or None
        Each part as loaded (None for a part without a dose of its own).
    """
    infos = [read_plan(p.plan) for p in course.parts if p.plan is not None]
    plan = course_plan(infos, course.relationship)
    notes = list(course.notes)
    if course.doses:
        dose = read_dose_grid(course.doses[0])
        dose = replace(dose, notes=dose.notes + ["MULTI_PLAN dose: the sum of the course's plans (PS3.3), used as it is"])
    else:
        if any(p is None for p in loaded_parts):
            raise InputError("a part of the course has no dose: the course dose cannot be summed", course.parts[0].plan.path if course.parts[0].plan else None)
        dose = sum_on_common_grid([p.dose for p in loaded_parts])  # type: ignore[union-attr]
    structures = read_structure_set(course.structure_set)
    validate.structures_near_grid(structures.rois, dose, structures.path)
    _fraction_factor_check(dose, plan, structures, plan.label)
    paths = list(dict.fromkeys([d.path for d in course.doses] + [course.structure_set.path] + [o.path for p in course.parts for o in p.objects]))
    anchor = course.doses[0] if course.doses else course.parts[0].doses[0]
    patient_id = str(anchor.dataset.get("PatientID", "")) or None
    return LoadedPlanSet(dose, structures, plan, course.pairing, notes + plan.notes, paths, patient_id, course_parts=infos,
                         pairing_kind=course.pairing_kind, linked_by_reference=course.linked_by_reference, key=plan_set_key(course))


def plan_set_key(ps: PlanSet) -> str:
    """A stable key of a plan set: its plan (or its course's plans) and its doses' SOP Instance UIDs."""
    doses = [d.sop_instance_uid for d in ps.doses]
    if ps.parts and ps.plan is None:
        return course_key([p.plan.sop_instance_uid for p in ps.parts if p.plan], doses)
    return "plan:" + (ps.plan.sop_instance_uid if ps.plan else "") + "|dose:" + ",".join(sorted(doses))


def course_key(plan_uids: Sequence[str], dose_uids: Sequence[str] = ()) -> str:
    """:func:`plan_set_key` of a course from its plans' and its own doses' SOP Instance UIDs
    (none for a course summed from its parts, such as one inferred from loaded plans)."""
    return "course:" + "+".join(plan_uids) + "|dose:" + ",".join(sorted(dose_uids))


def plan_set_label(ps: PlanSet) -> str:
    """A readable name of a plan set: the plan's label, the course's, or the first file's name."""
    if ps.parts and ps.plan is None:
        return "course: " + " + ".join(_label(p.plan) for p in ps.parts if p.plan)
    if ps.plan is not None:
        return validate.text(ps.plan.dataset.get("RTPlanLabel")) or ps.objects[0].path.stem
    return ps.objects[0].path.stem


def load_set(ps: PlanSet) -> LoadedPlanSet:
    """Read one plan set, a course with the parts its dose is summed from."""
    if not (ps.parts and ps.plan is None):
        return load_plan_set(ps)
    parts = [load_plan_set(p) if p.doses else None for p in ps.parts]
    return load_course(ps, parts)


def load(paths: list[str | Path], failures: list[AssemblyFailure] | None = None) -> tuple[list[LoadedPlanSet], list[str]]:
    """Discover, assemble and read every plan set under the given paths.

    Parameters
    ----------
    paths : list of str or Path
        Directories (scanned recursively) or files.
    failures : list, optional
        When given, each plan set that cannot be assembled or read is appended here
        with its reason and the others go on; nothing assembled at all still raises.
        Without it the first problem raises.

    Returns
    -------
    plan_sets : list of LoadedPlanSet
        Plans, course parts (``part_of_course``) and courses (``course_parts``).
    notes : list of str
        What discovery and assembly passed over.
    """
    found = discover([Path(p) for p in paths])
    loaded, notes = load_objects(found.objects, failures)
    return loaded, found.notes + notes


def load_objects(objects: list[DicomObject], failures: list[AssemblyFailure] | None = None) -> tuple[list[LoadedPlanSet], list[str]]:
    """Assemble and read the plan sets of discovered objects (files, or data sets held in memory).

    The step of :func:`load` after discovery; ``failures`` as there.
    """
    plan_sets, notes = assemble(objects, failures)
    loaded: list[LoadedPlanSet] = []
    by_id: dict[int, LoadedPlanSet | None] = {}
    for ps in plan_sets:
        if ps.parts and ps.plan is None:
            continue
        try:
            lp = load_plan_set(ps)
        except InputError as exc:
            if failures is None:
                raise
            failures.append(AssemblyFailure(Path(exc.path) if exc.path else ps.doses[0].path, exc.problem, ps))
            by_id[id(ps)] = None
            continue
        by_id[id(ps)] = lp
        loaded.append(lp)
    for ps in plan_sets:
        if not (ps.parts and ps.plan is None):
            continue
        try:
            lp = load_course(ps, [by_id.get(id(p)) for p in ps.parts])
        except InputError as exc:
            if failures is None:
                raise
            # A part without its dose is an object still missing, not a wrong one.
            incomplete = not ps.doses and any(by_id.get(id(p)) is None for p in ps.parts)
            failures.append(AssemblyFailure(Path(exc.path) if exc.path else ps.structure_set.path, f"{ps.relationship} course: {exc.problem}",
                                            None if incomplete else ps))
            continue
        loaded.append(lp)
    if not loaded and failures:
        first = failures[0]
        more = f" (and {len(failures) - 1} more incomplete plan set(s))" if len(failures) > 1 else ""
        raise InputError(f"no complete plan set: {first.message}{more}", first.path)
    return loaded, notes


def course_candidates(plans: list[tuple[str, PlanInfo] | None]) -> list[list[int]]:
    """Plans that may be parts of one course without any DICOM link saying so.

    Candidates are single plans (not already a course or a part) on the same structure
    set whose recorded prescriptions name a common target (or that record none). Whether
    they are one course needs the protocol (do their fractions add up to an arm?), so
    the evaluation decides; see :func:`sbrt_qa.evaluate.courses.inferred_groups`.

    Parameters
    ----------
    plans : list of (str, PlanInfo) or None
        For each plan set, its structure set's SOP Instance UID and its plan; None for a
        plan set that is not a single plan (no plan, a course, a course's part). Plan sets
        loaded (:func:`single_plans`) or only assembled (the batch's job finder) alike.

    Returns
    -------
    list of list of int
        Indices into ``plans``, one list per structure set with two plans or more.
    """
    groups: dict[str, list[int]] = {}
    for i, entry in enumerate(plans):
        if entry is not None:
            groups.setdefault(entry[0], []).append(i)
    out = []
    for indices in groups.values():
        infos = [plans[i][1] for i in indices]  # type: ignore[index]
        if len(indices) < 2 or len({p.sop_instance_uid for p in infos}) < len(indices):
            continue

        def targets(plan: PlanInfo) -> set[str]:
            return {f"roi:{p.roi_number}" if p.roi_number is not None else f"name:{p.description.strip().lower()}"
                    for p in plan.prescriptions}

        recorded = [targets(p) for p in infos]
        if all(recorded) and not set.intersection(*recorded):
            continue
        out.append(indices)
    return out


def single_plans(loaded: list[LoadedPlanSet]) -> list[tuple[str, PlanInfo] | None]:
    """:func:`course_candidates`'s entries for loaded plan sets."""
    return [None if ps.plan is None or ps.course_parts or ps.part_of_course else (ps.structures.sop_instance_uid, ps.plan)
            for ps in loaded]


def build_course(parts: list[LoadedPlanSet], reason: str) -> LoadedPlanSet:
    """A course from plans already loaded (no DICOM link): the parts' doses summed on a common grid.

    The parts are marked as parts of the course in place, once the course is accepted.

    Raises
    ------
    InputError
        The grids do not overlap, or the summed dose contradicts the course's prescription by its fraction count.
    """
    infos = [p.plan for p in parts if p.plan is not None]
    plan = course_plan(infos, "")
    dose = sum_on_common_grid([p.dose for p in parts])
    first = parts[0]
    _fraction_factor_check(dose, plan, first.structures, plan.label)  # before marking: a refused course leaves its plans as they were
    for p in parts:
        p.part_of_course = plan.label
        p.notes.append(f"part of a course ({plan.label}): judged on the course dose, not alone")
    paths = list(dict.fromkeys(path for p in parts for path in p.paths))
    return LoadedPlanSet(dose, first.structures, plan, "course inferred (shared structure set); " + parts_pairing(
                             [(p.plan.label if p.plan else str(p.paths[0].name), p.pairing, p.linked_by_reference) for p in parts]),
                         [reason, *plan.notes], paths, first.patient_id, course_parts=infos, pairing_kind=Pairing.COURSE_INFERRED,
                         linked_by_reference=all(p.linked_by_reference for p in parts), warnings=merged(*(p.warnings for p in parts)),
                         key=course_key([p.sop_instance_uid for p in infos]))
