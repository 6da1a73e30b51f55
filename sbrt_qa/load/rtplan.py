"""RT Plan (photon, ion, or Varian's private class): what the DVH and protocol steps need."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from . import validate
from .discovery import DicomObject


@dataclass
class Beam:
    """One beam: number, name, type, radiation, nominal energy and meterset per fraction."""

    number: int | None
    name: str
    beam_type: str
    radiation_type: str
    energy: float | None
    meterset: float | None
    treatment_delivery_type: str


@dataclass
class DoseReference:
    """One DoseReferenceSequence item as written (doses in Gy)."""

    number: int | None
    description: str
    reference_type: str
    target_prescription_dose_gy: float | None
    structure_type: str = ""
    roi_number: int | None = None


@dataclass
class Prescription:
    """A prescription the plan records: a TARGET dose reference describing a volume or a site.

    Attributes
    ----------
    dose_gy : float
        TargetPrescriptionDose (Gy), > 0.
    roi_number : int or None
        ReferencedROINumber when the item links a ROI.
    description : str
        DoseReferenceDescription.
    structure_type : str
        ``VOLUME`` or ``SITE``.
    dose_reference_number : int or None
        DoseReferenceNumber.
    fraction_group_number, fractions : int or None
        The fraction group whose ReferencedDoseReferenceSequence names this item, and its
        NumberOfFractionsPlanned (None when no group names it).
    """

    dose_gy: float
    roi_number: int | None
    description: str
    structure_type: str
    dose_reference_number: int | None
    fraction_group_number: int | None = None
    fractions: int | None = None


@dataclass
class PointDose:
    """A dose at a point (COORDINATES or POINT dose reference): reported, never a prescription.

    Attributes
    ----------
    description : str
    reference_type : str
        ``TARGET`` or ``ORGAN_AT_RISK``.
    structure_type : str
        ``COORDINATES`` or ``POINT``.
    dose_gy : float
    attribute : str
        The attribute the dose was read from (e.g. ``TargetPrescriptionDose``).
    """

    description: str
    reference_type: str
    structure_type: str
    dose_gy: float
    attribute: str


@dataclass
class ReferencedPlan:
    """An item of the RT Plan's ReferencedRTPlanSequence: another plan and how it relates."""

    sop_instance_uid: str
    relationship: str


@dataclass(frozen=True)
class FractionScheme:
    """How a plan's fraction groups make one course of treatment sessions.

    PS3.3 (RT Fraction Scheme module) gives each fraction group its NumberOfFractionsPlanned
    ("total number of treatments prescribed for current Fraction Group") and, optionally, a
    FractionPattern of treatment days; it never says whether groups follow one another or
    are delivered side by side, so the structure of the numbers has to.

    Attributes
    ----------
    kind : str
        ``single`` (one group), ``sequential`` (groups one after the other: the sessions add
        up), ``covering`` (one group has as many fractions as all the others together and,
        where the plan records them, their dose: the course is that group's sessions),
        ``ambiguous`` (one group matches the others' fractions but contradicts their dose,
        or two groups have the same fractions: the sessions cannot be told) or ``unknown``
        (no group gives its fractions).
    sessions : int or None
        The course's treatment sessions; None when ``ambiguous`` or ``unknown``.
    covering_group : int or None
        ``covering`` / ``ambiguous``: the group whose fractions equal the others' sum (None
        for two groups of equal fractions).
    covered_groups : tuple of int
        The other groups.
    alternatives : tuple of int
        ``ambiguous``: the session counts the plan allows (the covering group's, all added).
    reason : str
        Why, in words, naming the groups, their fractions and doses.
    """

    kind: str
    sessions: int | None
    covering_group: int | None = None
    covered_groups: tuple[int | None, ...] = ()
    alternatives: tuple[int, ...] = ()
    reason: str = ""


#: Two recorded prescriptions (DS, Monaco writes 0.01 Gy) are the same dose within two roundings.
_SAME_DOSE_GY = 0.02


def _gy(values: list[float]) -> str:
    return " + ".join(f"{v:g}" for v in values)


def fraction_scheme(groups: list[tuple[int | None, int | None]], group_dose: dict[int | None, float],
                    patterns: dict[int | None, str] | None = None) -> FractionScheme:
    """How the fraction groups of a plan make one course (see :class:`FractionScheme`).

    Parameters
    ----------
    groups : list of (FractionGroupNumber, NumberOfFractionsPlanned)
    group_dose : dict
        Group number -> the largest TargetPrescriptionDose (Gy) of the TARGET VOLUME/SITE
        dose references the group names in its ReferencedDoseReferenceSequence (absent when
        it names none).
    patterns : dict, optional
        Group number -> FractionPattern, when recorded.

    Notes
    -----
    A group whose fractions equal the sum of the other groups' (two or more of them; Monaco
    composite plans: RxA 13 + RxB 12 = RxC 25 fractions) covers their whole course: it is
    either a whole-course summary of them or a prescription delivered in the same sessions.
    Either way the patient is treated in that many sessions, not in all of them added. When
    the plan records the groups' doses, the covering group's must be the sum of the others'
    (26 + 24 = 50 Gy) for that reading to be taken; a dose that contradicts it leaves two
    readings (side by side: the covering group's sessions; one after the other: all added),
    and the plan does not say which. FractionPattern gives days of the week, not which weeks,
    so it cannot tell either.
    """
    counts = [n for _, n in groups]
    known = [n for n in counts if n is not None]
    if not known:
        return FractionScheme("unknown", None, reason="no fraction group gives NumberOfFractionsPlanned")
    if len(groups) == 1:
        return FractionScheme("single", known[0])
    total = sum(known)
    listed = " + ".join(f"{n if n is not None else '?'} (group {g})" for g, n in groups)
    sequential = FractionScheme("sequential", total, reason=f"{len(groups)} fraction groups: {listed} = {total} fractions in all")
    if None in counts:
        return sequential
    if len(groups) == 2 and counts[0] == counts[1]:
        # one group cannot summarise a single other: two sites in the same sessions, or two phases one
        # after the other, whatever their doses
        (g1, n), (g2, _) = groups
        return FractionScheme("ambiguous", None, None, (), (n, total), reason=(
            f"fraction groups {g1} and {g2} have the same number of fractions ({n}): delivered side by side the course is "
            f"{n} sessions, one after the other {total}; the plan does not say which"))
    covering = [(g, n) for g, n in groups if len(groups) > 2 and n and n == total - n]
    if len(covering) != 1:
        return sequential
    g, n = covering[0]
    others = [(h, m) for h, m in groups if h != g]
    covered = tuple(h for h, _ in others)
    names = " and ".join(str(h) for h in covered)
    parts_fx = " + ".join(str(m) for _, m in others)
    pattern_note = ""
    if patterns:
        pattern_note = (f"; FractionPattern of group(s) {', '.join(str(k) for k in patterns)} gives days of the week, "
                        "not which weeks, so it cannot tell whether the groups run side by side")
    dose, part_doses = group_dose.get(g), [group_dose.get(h) for h in covered]
    if dose is not None and all(d is not None for d in part_doses):
        parts = [float(d) for d in part_doses]  # type: ignore[arg-type]
        if abs(dose - sum(parts)) <= _SAME_DOSE_GY:
            return FractionScheme("covering", n, g, covered, reason=(
                f"fraction group {g} ({n} fx, {dose:g} Gy) covers groups {names}: as many fractions ({parts_fx} = {n}) "
                f"and the same dose ({_gy(parts)} = {sum(parts):g} Gy); whether it summarises their course or is delivered "
                f"alongside them, the course is {n} sessions, not {total}" + pattern_note))
        return FractionScheme("ambiguous", None, g, covered, (n, total), reason=(
            f"fraction group {g} ({n} fx, {dose:g} Gy) has as many fractions as groups {names} together ({parts_fx} = {n}) "
            f"but not their dose ({_gy(parts)} = {sum(parts):g} Gy): delivered alongside them the course is {n} sessions, "
            f"one after the other {total}; the plan does not say which" + pattern_note))
    missing = "no dose" if dose is None and all(d is None for d in part_doses) else "no dose for every one of these groups"
    return FractionScheme("covering", n, g, covered, reason=(
        f"fraction group {g} ({n} fx) covers groups {names} in fractions ({parts_fx} = {n}); the plan records {missing} "
        f"to compare: the course is taken as {n} sessions, not {total} (one group as long as the others together "
        "summarises them or runs alongside them)" + pattern_note))


PRESCRIPTION_SOURCE = "DoseReferenceSequence TargetPrescriptionDose"

#: Dose attributes of a dose reference, in the order a point dose is read from them.
_POINT_DOSE_ATTRIBUTES = (
    "TargetPrescriptionDose", "DeliveryMaximumDose", "OrganAtRiskMaximumDose", "TargetMaximumDose",
    "TargetMinimumDose", "OrganAtRiskFullVolumeDose", "OrganAtRiskLimitDose", "DeliveryWarningDose",
)


@dataclass
class PlanInfo:
    """The parts of an RT Plan the checks use.

    Attributes
    ----------
    prescriptions : list of Prescription
        Only TARGET dose references of structure type VOLUME or SITE with a
        TargetPrescriptionDose > 0: what the plan records as prescribed.
    point_doses : list of PointDose
        COORDINATES and POINT dose references with a dose: calculation or
        normalisation points, reported but never a prescription.
    prescription_gy : float or None
        The largest recorded prescription; None when the plan records none. Never
        derived from BeamDose.
    prescription_source : str or None
        ``"DoseReferenceSequence TargetPrescriptionDose"``, or None.
    fractions : int or None
        The course's treatment sessions from every fraction group
        (:attr:`fraction_scheme`): the groups' NumberOfFractionsPlanned added when they
        follow one another, a covering group's alone (Monaco composite plans: 13 + 12
        and 25 = 25), None when the groups cannot tell (or give none).
    fraction_groups : list of (int or None, int or None)
        (FractionGroupNumber, NumberOfFractionsPlanned) of each fraction group.
    beam_dose_per_fraction_gy : float or None
        Sum of the BeamDose values of every fraction group (Gy at each beam's own
        specification point, per fraction of its group): information only.
    referenced_plans : list of ReferencedPlan
        ReferencedRTPlanSequence (e.g. CONCURRENT, PREDECESSOR plans of one course).
    fraction_scheme : FractionScheme or None
        How the fraction groups make the course (None for a course built of plans).
    """

    sop_instance_uid: str
    label: str
    name: str
    prescription_gy: float | None
    prescription_source: str | None
    fractions: int | None
    beams: list[Beam]
    dose_references: list[DoseReference]
    approval_status: str
    patient_position: str
    referenced_structure_set_uid: str | None
    frame_of_reference_uid: str | None
    notes: list[str] = field(default_factory=list)
    prescriptions: list[Prescription] = field(default_factory=list)
    point_doses: list[PointDose] = field(default_factory=list)
    fraction_groups: list[tuple[int | None, int | None]] = field(default_factory=list)
    beam_dose_per_fraction_gy: float | None = None
    referenced_plans: list[ReferencedPlan] = field(default_factory=list)
    prescription_description: str = ""
    manufacturer: str = ""
    beam_groups: dict[int, int | None] = field(default_factory=dict)
    fraction_scheme: FractionScheme | None = None

    def fractions_of_group(self, group: int | None) -> int | None:
        """NumberOfFractionsPlanned of a fraction group (the only group when ``group`` is None)."""
        if group is None:
            return self.fraction_groups[0][1] if len(self.fraction_groups) == 1 else None
        return next((n for g, n in self.fraction_groups if g == group), None)


def _float(value: object) -> float | None:
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _beams(ds: Dataset, meterset: dict[int, float | None]) -> list[Beam]:
    beams = []
    for seq_name, cp_name in (("BeamSequence", "ControlPointSequence"), ("IonBeamSequence", "IonControlPointSequence")):
        for b in ds.get(seq_name, []):
            number = int(b.BeamNumber) if "BeamNumber" in b else None
            energy = None
            cps = b.get(cp_name, [])
            if cps:
                energy = _float(cps[0].get("NominalBeamEnergy"))
            beams.append(
                Beam(
                    number=number,
                    name=validate.text(b.get("BeamName")),
                    beam_type=str(b.get("BeamType", "")),
                    radiation_type=str(b.get("RadiationType", "")),
                    energy=energy,
                    meterset=meterset.get(number) if number is not None else None,
                    treatment_delivery_type=str(b.get("TreatmentDeliveryType", "TREATMENT")),
                )
            )
    return beams


def _int(value: object) -> int | None:
    try:
        return None if value is None or value == "" else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _dose_reference(d: Dataset) -> DoseReference:
    return DoseReference(
        number=_int(d.get("DoseReferenceNumber")),
        description=validate.text(d.get("DoseReferenceDescription")),
        reference_type=str(d.get("DoseReferenceType", "") or "").upper(),
        target_prescription_dose_gy=_float(d.get("TargetPrescriptionDose")),
        structure_type=str(d.get("DoseReferenceStructureType", "") or "").upper(),
        roi_number=_int(d.get("ReferencedROINumber")),
    )


def _point_dose(d: Dataset, ref: DoseReference) -> PointDose | None:
    for attribute in _POINT_DOSE_ATTRIBUTES:
        dose = _float(d.get(attribute))
        if dose is not None:
            return PointDose(ref.description, ref.reference_type, ref.structure_type, dose, attribute)
    return None


def read_plan(obj: DicomObject) -> PlanInfo:
    """Read an RT Plan header into :class:`PlanInfo`.

    Parameters
    ----------
    obj : DicomObject
        An object of kind RTPLAN.

    Notes
    -----
    A prescription is only what PS3.3 says is one: a TARGET dose reference of
    structure type VOLUME or SITE with a TargetPrescriptionDose. COORDINATES and
    POINT items are doses at a point (Brainlab's isocentre normalisation, Eclipse's
    calculation point); BeamDose is each beam's dose at its own specification point
    per fraction, whose sum is not the dose to any target.
    """
    ds = obj.dataset
    validate.plan_numbers(ds, obj.path)
    notes: list[str] = []
    groups = list(ds.get("FractionGroupSequence", []))
    fraction_groups: list[tuple[int | None, int | None]] = []
    group_of_reference: dict[int, tuple[int | None, int | None]] = {}
    meterset: dict[int, float | None] = {}
    beam_dose_total = 0.0
    have_beam_dose = False
    beam_groups: dict[int, int | None] = {}
    patterns: dict[int | None, str] = {}
    for group in groups:
        number = _int(group.get("FractionGroupNumber"))
        n = _int(group.get("NumberOfFractionsPlanned"))
        fraction_groups.append((number, n))
        if group.get("FractionPattern"):
            patterns[number] = str(group.FractionPattern)
        for ref in group.get("ReferencedDoseReferenceSequence", []):
            ref_number = _int(ref.get("ReferencedDoseReferenceNumber"))
            if ref_number is not None:
                group_of_reference.setdefault(ref_number, (number, n))
        for rb in group.get("ReferencedBeamSequence", []):
            beam_number = _int(rb.get("ReferencedBeamNumber"))
            if beam_number is not None:
                meterset.setdefault(beam_number, _float(rb.get("BeamMeterset")))
                beam_groups.setdefault(beam_number, number)
            dose = _float(rb.get("BeamDose"))
            if dose is not None:
                beam_dose_total += dose
                have_beam_dose = True
    refs: list[DoseReference] = []
    prescriptions: list[Prescription] = []
    point_doses: list[PointDose] = []
    for d in ds.get("DoseReferenceSequence", []):
        ref = _dose_reference(d)
        refs.append(ref)
        if ref.structure_type in ("COORDINATES", "POINT"):
            point = _point_dose(d, ref)
            if point is not None:
                point_doses.append(point)
            continue
        if ref.reference_type != "TARGET" or ref.structure_type not in ("VOLUME", "SITE"):
            continue
        dose = ref.target_prescription_dose_gy
        if dose is None or not dose > 0 or dose != dose or dose == float("inf"):
            if "TargetPrescriptionDose" in d:
                notes.append(f"dose reference {ref.number} ({ref.description or 'no description'}): "
                             f"TargetPrescriptionDose {d.get('TargetPrescriptionDose')!r} is not a dose > 0; not a prescription")
            continue
        group_number, group_fractions = group_of_reference.get(ref.number, (None, None)) if ref.number is not None else (None, None)
        prescriptions.append(Prescription(dose, ref.roi_number, ref.description, ref.structure_type, ref.number,
                                          group_number, group_fractions))
    group_dose: dict[int | None, float] = {}
    for p in prescriptions:
        if p.fraction_group_number is not None:
            group_dose[p.fraction_group_number] = max(p.dose_gy, group_dose.get(p.fraction_group_number, 0.0))
    scheme = fraction_scheme(fraction_groups, group_dose, patterns)
    fractions = scheme.sessions
    if scheme.kind in ("sequential", "covering", "ambiguous"):
        notes.append(scheme.reason)
        if scheme.kind == "sequential" and None in [n for _, n in fraction_groups]:
            notes.append("a fraction group gives no NumberOfFractionsPlanned: the total counts only the others")
    if prescriptions:
        prescription, source = max(p.dose_gy for p in prescriptions), PRESCRIPTION_SOURCE
        distinct = sorted({p.dose_gy for p in prescriptions})
        if len(distinct) > 1:
            notes.append(f"several target prescription doses {distinct} Gy recorded")
    else:
        prescription, source = None, None
        notes.append("prescription not recorded in the plan (no TARGET VOLUME/SITE dose reference with a TargetPrescriptionDose)")
    setups = ds.get("PatientSetupSequence", [])
    position = str(setups[0].get("PatientPosition", "")) if setups else ""
    rss = ds.get("ReferencedStructureSetSequence", [])
    referenced_plans = [
        ReferencedPlan(str(r.ReferencedSOPInstanceUID), str(r.get("RTPlanRelationship", "") or "").upper())
        for r in ds.get("ReferencedRTPlanSequence", [])
        if r.get("ReferencedSOPInstanceUID")
    ]
    return PlanInfo(
        sop_instance_uid=obj.sop_instance_uid,
        label=validate.text(ds.get("RTPlanLabel")),
        name=validate.text(ds.get("RTPlanName")),
        prescription_gy=prescription,
        prescription_source=source,
        fractions=fractions,
        beams=_beams(ds, meterset),
        dose_references=refs,
        approval_status=str(ds.get("ApprovalStatus", "")),
        patient_position=position,
        referenced_structure_set_uid=str(rss[0].ReferencedSOPInstanceUID) if rss and "ReferencedSOPInstanceUID" in rss[0] else None,
        frame_of_reference_uid=obj.frame_of_reference_uid,
        notes=notes,
        prescriptions=prescriptions,
        point_doses=point_doses,
        fraction_groups=fraction_groups,
        beam_dose_per_fraction_gy=beam_dose_total if have_beam_dose else None,
        referenced_plans=referenced_plans,
        prescription_description=str(ds.get("PrescriptionDescription", "") or ""),
        manufacturer=str(ds.get("Manufacturer", "") or ""),
        beam_groups=beam_groups,
        fraction_scheme=scheme,
    )
