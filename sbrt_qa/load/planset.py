"""Assemble plan sets (dose + structure set + optional plan) from DICOM references.

References are followed first: RTDOSE -> RTPLAN (ReferencedRTPlanSequence) and
RTPLAN -> RTSTRUCT (ReferencedStructureSetSequence). Where a reference is missing,
a structure set on the same FrameOfReferenceUID is used, and only when exactly one
qualifies: pairing is never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from . import sop
from .discovery import DicomObject, discover
from .rtdose import DoseGrid, combine_doses, read_dose_grid
from .rtplan import PlanInfo, read_plan
from .rtstruct import StructureSet, read_structure_set


@dataclass
class PlanSet:
    """The objects of one plan, before the heavy data (pixels, contours) is read."""

    doses: list[DicomObject]
    structure_set: DicomObject
    plan: DicomObject | None
    pairing: str
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadedPlanSet:
    """A plan set with its dose, structures and plan read."""

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


def _referenced_plan_uid(dose: DicomObject) -> str | None:
    seq = dose.dataset.get("ReferencedRTPlanSequence", [])
    if seq and "ReferencedSOPInstanceUID" in seq[0]:
        return str(seq[0].ReferencedSOPInstanceUID)
    return None


def _summation(dose: DicomObject) -> str:
    return str(dose.dataset.get("DoseSummationType", "")).upper()


def _structure_by_frame(frame: str | None, structs: list[DicomObject], anchor: DicomObject) -> tuple[DicomObject, str]:
    same = [s for s in structs if frame and s.frame_of_reference_uid == frame]
    if len(same) > 1:
        # Several cases in one tree may share a frame of reference: the dose's own folder decides, if it holds one.
        local = [s for s in same if s.path.parent == anchor.path.parent]
        if len(local) == 1:
            return local[0], f"structure set paired by shared FrameOfReferenceUID {frame} in the same folder"
    if len(same) == 1:
        return same[0], f"structure set paired by shared FrameOfReferenceUID {frame}"
    if not same:
        if structs:
            others = "; ".join(f"{s.path.name} on {s.frame_of_reference_uid}" for s in structs[:3])
            raise InputError(
                f"no RT Structure Set on this object's frame of reference {frame} (found {others}): "
                "the structure set belongs to another frame of reference",
                anchor.path,
            )
        raise InputError("no RT Structure Set found for this object (missing structure set)", anchor.path)
    names = ", ".join(str(s.path) for s in same[:5])
    raise InputError(
        f"{len(same)} RT Structure Sets share frame of reference {frame} and nothing references one of them "
        f"({names}); give the files of one plan set explicitly",
        anchor.path,
    )


def _split_doses(doses: list[DicomObject]) -> list[list[DicomObject]]:
    """Doses of one plan as the sets to evaluate: one PLAN dose each, or all BEAM doses together."""
    plan_like = [d for d in doses if _summation(d) != "BEAM"]
    beams = [d for d in doses if _summation(d) == "BEAM"]
    if plan_like:
        return [[d] for d in plan_like]
    return [beams]


@dataclass
class AssemblyFailure:
    """A plan set that could not be assembled (batch mode): the file it is about and why."""

    path: Path | None
    message: str


def assemble(objects: list[DicomObject], failures: list[AssemblyFailure] | None = None) -> tuple[list[PlanSet], list[str]]:
    """Group discovered objects into plan sets.

    Parameters
    ----------
    objects : list of DicomObject
        What :func:`sbrt_qa.load.discovery.discover` found.

    Returns
    -------
    plan_sets : list of PlanSet
    notes : list of str
        Unused structure sets, ignored BEAM doses and the like.

    failures : list, optional
        When given (batch mode), a plan set that cannot be assembled is appended here
        and the others go on; otherwise the first problem raises.

    Raises
    ------
    InputError
        A dose with no structure set, a plan with no dose, a structure set on another
        frame of reference, or an ambiguous pairing.
    """

    def fail(exc: InputError) -> None:
        if failures is None:
            raise exc
        failures.append(AssemblyFailure(Path(exc.path) if exc.path else None, exc.problem))

    plans = {o.sop_instance_uid: o for o in objects if o.kind == sop.RTPLAN}
    structs = [o for o in objects if o.kind == sop.RTSTRUCT]
    struct_by_uid = {s.sop_instance_uid: s for s in structs}
    doses = [o for o in objects if o.kind == sop.RTDOSE]
    notes: list[str] = []

    by_plan: dict[str | None, list[DicomObject]] = {}
    for d in doses:
        ref = _referenced_plan_uid(d)
        key = ref if ref in plans else None
        if ref and key is None:
            # The plan is not here; doses naming the same absent plan still belong together.
            key = f"absent:{ref}"
        by_plan.setdefault(key, []).append(d)

    plan_sets: list[PlanSet] = []
    for plan_uid, plan in plans.items():
        plan_doses = by_plan.pop(plan_uid, [])
        if not plan_doses:
            fail(InputError("RT Plan has no RT Dose in the input (missing dose)", plan.path))
            continue
        rss = plan.dataset.get("ReferencedStructureSetSequence", [])
        ref_struct = str(rss[0].ReferencedSOPInstanceUID) if rss and "ReferencedSOPInstanceUID" in rss[0] else None
        for group in _split_doses(plan_doses):
            group_notes = []
            if len(group) < len(plan_doses) and _summation(group[0]) != "BEAM":
                beams_ignored = sum(1 for d in plan_doses if _summation(d) == "BEAM")
                if beams_ignored:
                    group_notes.append(f"{beams_ignored} BEAM dose(s) ignored: the PLAN dose is used")
            try:
                if ref_struct and ref_struct in struct_by_uid:
                    struct = struct_by_uid[ref_struct]
                    how = "RTDOSE -> RTPLAN -> RTSTRUCT by reference"
                else:
                    if ref_struct:
                        group_notes.append(f"referenced structure set {ref_struct} is not in the input")
                    struct, how = _structure_by_frame(group[0].frame_of_reference_uid, structs, group[0])
                if struct.frame_of_reference_uid and group[0].frame_of_reference_uid and struct.frame_of_reference_uid != group[0].frame_of_reference_uid:
                    raise InputError(
                        f"structure set {struct.path} is on frame of reference {struct.frame_of_reference_uid}, "
                        f"the dose on {group[0].frame_of_reference_uid}",
                        group[0].path,
                    )
            except InputError as exc:
                fail(exc)
                continue
            plan_sets.append(PlanSet(group, struct, plan, how, group_notes))

    for key, orphan_doses in by_plan.items():
        groups = _split_doses(orphan_doses) if key is not None else [[d] for d in orphan_doses]
        for group in groups:
            try:
                struct, how = _structure_by_frame(group[0].frame_of_reference_uid, structs, group[0])
            except InputError as exc:
                fail(exc)
                continue
            group_notes = ["no RT Plan in the input: prescription and fractions unknown"]
            plan_sets.append(PlanSet(group, struct, None, how, group_notes))

    if not plan_sets and failures is None:
        if structs:
            raise InputError("RT Structure Set found but no RT Dose (missing dose)", structs[0].path)
        raise InputError("no RT Dose found (missing dose)")
    used = {p.structure_set.sop_instance_uid for p in plan_sets}
    for s in structs:
        if s.sop_instance_uid not in used:
            notes.append(f"{s.path}: structure set not used by any plan set")
    return plan_sets, notes


def load_plan_set(plan_set: PlanSet) -> LoadedPlanSet:
    """Read the dose pixels, contours and plan of one plan set."""
    plan = read_plan(plan_set.plan) if plan_set.plan is not None else None
    grids = [read_dose_grid(d) for d in plan_set.doses]
    kinds = {g.summation_type for g in grids}
    unsupported = kinds - {"PLAN", "BEAM", "FRACTION"}
    if unsupported:
        raise InputError(f"DoseSummationType {', '.join(sorted(unsupported))} is not supported (PLAN, BEAM or FRACTION)", plan_set.doses[0].path)
    notes = list(plan_set.notes)
    if "BEAM" in kinds and plan is not None:
        planned = {b.number for b in plan.beams if b.treatment_delivery_type == "TREATMENT" and b.number is not None}
        dosed = set()
        for d in plan_set.doses:
            for rp in d.dataset.get("ReferencedRTPlanSequence", []):
                for fg in rp.get("ReferencedFractionGroupSequence", []):
                    dosed.update(int(b.ReferencedBeamNumber) for b in fg.get("ReferencedBeamSequence", []))
        if planned and dosed and not planned <= dosed:
            missing = ", ".join(str(n) for n in sorted(planned - dosed))
            raise InputError(f"BEAM doses do not cover every treatment beam of the plan (missing beam {missing})", plan_set.doses[0].path)
    dose = combine_doses(grids, plan.fractions if plan else None)
    structures = read_structure_set(plan_set.structure_set)
    paths = [d.path for d in plan_set.doses] + [plan_set.structure_set.path] + ([plan_set.plan.path] if plan_set.plan else [])
    patient_id = str(plan_set.doses[0].dataset.get("PatientID", "")) or None
    return LoadedPlanSet(dose, structures, plan, plan_set.pairing, notes + (plan.notes if plan else []), paths, patient_id)


def load(paths: list[str | Path]) -> tuple[list[LoadedPlanSet], list[str]]:
    """Discover, assemble and read every plan set under the given paths.

    Parameters
    ----------
    paths : list of str or Path
        Directories (scanned recursively) or files.

    Returns
    -------
    plan_sets : list of LoadedPlanSet
    notes : list of str
        What discovery and assembly passed over.
    """
    found = discover([Path(p) for p in paths])
    plan_sets, notes = assemble(found.objects)
    return [load_plan_set(p) for p in plan_sets], found.notes + notes
