"""RT Plan (photon, ion, or Varian's private class): what the DVH and protocol steps need."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

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
    """One DoseReferenceSequence item (TargetPrescriptionDose in Gy)."""

    number: int | None
    description: str
    reference_type: str
    target_prescription_dose_gy: float | None


@dataclass
class PlanInfo:
    """The parts of an RT Plan the checks use.

    Attributes
    ----------
    prescription_gy : float or None
        The largest TargetPrescriptionDose of the TARGET dose references; when no
        dose reference gives one, the sum over fraction groups of BeamDose x fractions.
    prescription_source : str or None
        Which of the two rules gave ``prescription_gy``.
    fractions : int or None
        NumberOfFractionsPlanned of the first fraction group.
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
                    name=str(b.get("BeamName", "")),
                    beam_type=str(b.get("BeamType", "")),
                    radiation_type=str(b.get("RadiationType", "")),
                    energy=energy,
                    meterset=meterset.get(number) if number is not None else None,
                    treatment_delivery_type=str(b.get("TreatmentDeliveryType", "TREATMENT")),
                )
            )
    return beams


def read_plan(obj: DicomObject) -> PlanInfo:
    """Read an RT Plan header into :class:`PlanInfo`.

    Parameters
    ----------
    obj : DicomObject
        An object of kind RTPLAN.
    """
    ds = obj.dataset
    notes: list[str] = []
    groups = list(ds.get("FractionGroupSequence", []))
    fractions = None
    meterset: dict[int, float | None] = {}
    beam_dose_total = 0.0
    have_beam_dose = False
    for g_index, group in enumerate(groups):
        n = int(group.NumberOfFractionsPlanned) if group.get("NumberOfFractionsPlanned") not in (None, "") else None
        if g_index == 0:
            fractions = n
        for rb in group.get("ReferencedBeamSequence", []):
            dose = _float(rb.get("BeamDose"))
            if g_index == 0 and "ReferencedBeamNumber" in rb:
                meterset[int(rb.ReferencedBeamNumber)] = _float(rb.get("BeamMeterset"))
            if dose is not None and n:
                beam_dose_total += dose * n
                have_beam_dose = True
    if len(groups) > 1:
        notes.append(f"{len(groups)} fraction groups; fractions taken from the first")
    refs = [
        DoseReference(
            number=int(d.DoseReferenceNumber) if "DoseReferenceNumber" in d else None,
            description=str(d.get("DoseReferenceDescription", "")),
            reference_type=str(d.get("DoseReferenceType", "")),
            target_prescription_dose_gy=_float(d.get("TargetPrescriptionDose")),
        )
        for d in ds.get("DoseReferenceSequence", [])
    ]
    target_doses = [r.target_prescription_dose_gy for r in refs if r.reference_type == "TARGET" and r.target_prescription_dose_gy]
    if target_doses:
        prescription, source = max(target_doses), "DoseReferenceSequence TargetPrescriptionDose"
        if len(set(target_doses)) > 1:
            notes.append(f"several target prescription doses {sorted(set(target_doses))} Gy; the largest is the plan prescription")
    elif have_beam_dose:
        prescription, source = beam_dose_total, "sum of BeamDose x fractions"
    else:
        prescription, source = None, None
    setups = ds.get("PatientSetupSequence", [])
    position = str(setups[0].get("PatientPosition", "")) if setups else ""
    rss = ds.get("ReferencedStructureSetSequence", [])
    return PlanInfo(
        sop_instance_uid=obj.sop_instance_uid,
        label=str(ds.get("RTPlanLabel", "")),
        name=str(ds.get("RTPlanName", "")),
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
    )
