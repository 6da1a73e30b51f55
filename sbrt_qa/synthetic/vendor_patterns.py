"""Header patterns of real planning-system exports, applied to synthetic RT objects.

Each pattern copies what one system writes, as read from the real exports in
``../shared/data/vendor-exports`` (its README tabulates them): manufacturer and
software version, how the prescription is (or is not) recorded in the
DoseReferenceSequence, fraction groups, BeamDose, DoseSummationType,
TissueHeterogeneityCorrection, ROI generation and interpreted types. Geometry and
dose stay ours, so the truth of every figure is known.

=============  ============================================================================
system         what the pattern writes (from the real files)
=============  ============================================================================
eclipse        one primary reference point: TARGET / SITE with TargetPrescriptionDose
               (the highest level, named after its target, e.g. 'PTV70' 70 Gy); no
               ReferencedDoseReferenceSequence in the fraction group; BeamDose per beam
               without a specification point; RT Dose PLAN, IMAGE (Varian, ARIA RadOnc 13.6)
eclipse_point  the other Eclipse form: ORGAN_AT_RISK / COORDINATES carrying only
               DeliveryMaximumDose and OrganAtRiskMaximumDose (no prescription recorded)
eclipse_oar_site  an ORGAN_AT_RISK / SITE item 'None' with DeliveryMaximumDose and
               OrganAtRiskMaximumDose (232 Gy in the real file), then ORGAN_AT_RISK /
               COORDINATES points, one with doses (2.76 Gy), one without ('norm')
raystation     no DoseReferenceSequence, PrescriptionDescription ''; BeamDose at a
               specification point with depth and BeamDoseType PHYSICAL; SETUP beams listed
               without dose; RT Dose PLAN without TissueHeterogeneityCorrection;
               ROIGenerationAlgorithm SEMIAUTOMATIC (RaySearch Laboratories, RayStation 6.1)
pinnacle       no DoseReferenceSequence; BeamDose at a per-beam point; RT Dose FRACTION
               with ReferencedFractionGroupSequence, values of the whole course, IMAGE
               (ADAC, Pinnacle3 9.8)
monaco         TARGET / SITE with TargetPrescriptionDose ('35.00') plus TARGET / COORDINATES
               without dose; ReferencedDoseReferenceSequence in the fraction group;
               PrescriptionDescription 'Plan: RxA'; no FrameOfReferenceUID in the RT Plan;
               composite plans: one SITE item and one fraction group per prescription
               (CMS, Inc., Monaco 5.11)
tomotherapy    TARGET / VOLUME items (ReferencedROINumber, prescription, minimum, maximum,
               under-dose fraction) and ORGAN_AT_RISK / VOLUME objectives; one helical beam;
               PrescriptionDescription '96.5% of the PTV volume receives at least 50.0 Gy'
               (TomoTherapy Incorporated, Hi-Art Tomo5.1)
brainlab       one TARGET / COORDINATES item at the isocentre normalisation point with a
               TargetPrescriptionDose that is a point dose; RTPlanLabel 'Isoc. Norm.:G';
               plans of one course referencing each other as CONCURRENT (Brainlab iPlan 4.5)
gammaplan      no DoseReferenceSequence; fraction group 0 with NumberOfBeams 1 and no
               ReferencedBeamSequence; one 'bogus name' beam; ROIs without
               RTROIInterpretedType (Elekta Instrument AB, Leksell GammaPlan 10.1)
=============  ============================================================================

The RT Dose headers of TomoTherapy, Brainlab and GammaPlan are not in the real
exports (none was exported with its dose); for them the dose keeps this package's
defaults (PLAN, IMAGE), which the patterns say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ..load import sop
from .dicom_factory import uid

#: Manufacturer, ManufacturerModelName and SoftwareVersions as each system writes them.
IDENTITY: dict[str, tuple[str, str, object]] = {
    "eclipse": ("Varian Medical Systems", "ARIA RadOnc", "13.6.32"),
    "eclipse_point": ("Varian Medical Systems", "ARIA RadOnc", "13.6.32"),
    "eclipse_oar_site": ("Varian Medical Systems", "ARIA RadOnc", "13.6.30"),
    "raystation": ("RaySearch Laboratories", "RayStation", ["6.1.1.2 (Dicom Export)", "6.1.1.2"]),
    "pinnacle": ("ADAC", "Pinnacle3", ["9.8", "9.8"]),
    "monaco": ("CMS, Inc.", "Monaco", "5.11.02"),
    "tomotherapy": ("TomoTherapy Incorporated", "Hi-Art", "Tomo5_1_1_Apps 5.1.1.17"),
    "brainlab": ("Brainlab", "iPlan RT Dose", "4.5.5"),
    "gammaplan": ("Elekta Instrument AB", "Leksell GammaPlan\u00ae", "10.1.1"),
    "synthetic": ("sbrt-qa synthetic", "", ""),
}

VENDORS = tuple(IDENTITY)


@dataclass
class Level:
    """A dose level the plan delivers: the target ROI (name, number) and its dose over the whole plan."""

    roi: str
    roi_number: int | None
    dose_gy: float


@dataclass
class PlanIntent:
    """What the planner intended, from which a pattern writes the DoseReferenceSequence.

    Attributes
    ----------
    levels : list of Level
        Every target level of the plan, highest first or not.
    fraction_groups : list of int
        NumberOfFractionsPlanned of each fraction group (Monaco composites have several).
    point_dose_gy : float, optional
        Brainlab: the dose at the isocentre normalisation point.
    isocentre : (x, y, z)
        Where point doses and BeamDose specification points lie.
    organ_objectives : list of (roi_number, max_gy)
        TomoTherapy ORGAN_AT_RISK / VOLUME objectives.
    group_doses : list of float
        Monaco composite plans: the prescription (Gy) of each fraction group.
    """

    levels: list[Level]
    fraction_groups: list[int]
    point_dose_gy: float | None = None
    isocentre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    organ_objectives: list[tuple[int, float]] = field(default_factory=list)
    group_doses: list[float] = field(default_factory=list)


def _identity(ds: Dataset, vendor: str) -> None:
    manufacturer, model, version = IDENTITY[vendor]
    ds.Manufacturer = manufacturer
    if model:
        ds.ManufacturerModelName = model
    if version:
        ds.SoftwareVersions = version


def _ds(value: float) -> str:
    return f"{value:g}"


def _item(number: int, structure_type: str, reference_type: str, *, description: str | None = None, **doses) -> Dataset:
    d = Dataset()
    d.DoseReferenceNumber = number
    d.DoseReferenceStructureType = structure_type
    if description is not None:
        d.DoseReferenceDescription = description
    d.DoseReferenceType = reference_type
    for keyword, value in doses.items():
        setattr(d, keyword, value)
    return d


def _beam_refs(fg: Dataset) -> list[Dataset]:
    return list(fg.get("ReferencedBeamSequence", []))


def style_plan(plan: Dataset, vendor: str, intent: PlanIntent, *, seed: str) -> Dataset:
    """Rewrite an RT Plan from :func:`dicom_factory.rtplan` as ``vendor`` writes it.

    The beams keep their BeamDose (Gy per fraction); the DoseReferenceSequence and the
    fraction groups are written from ``intent`` by the system's pattern.
    """
    _identity(plan, vendor)
    if plan.get("ApprovalStatus") in ("APPROVED", "REJECTED"):  # Type 2C: who reviewed it, and when
        plan.ReviewDate = "20261124"
        plan.ReviewTime = "120000"
        plan.ReviewerName = "Physicist^Reviewing"
    levels = sorted(intent.levels, key=lambda lv: -lv.dose_gy)
    iso = [float(v) for v in intent.isocentre]
    fg0 = plan.FractionGroupSequence[0]
    refs = _beam_refs(fg0)
    if "DoseReferenceSequence" in plan:
        del plan.DoseReferenceSequence
    items: list[Dataset] = []
    if vendor == "eclipse" and levels:
        top = levels[0]
        item = _item(1, "SITE", "TARGET", description=top.roi, TargetPrescriptionDose=_ds(top.dose_gy))
        item.DoseReferenceUID = uid(seed + "dr1")
        items.append(item)
        if "RTPlanName" in plan:
            del plan.RTPlanName  # Eclipse writes the label only
    elif vendor == "eclipse_point":
        top = max((lv.dose_gy for lv in levels), default=0.0)
        item = _item(1, "COORDINATES", "ORGAN_AT_RISK", description="Ref Pt", DoseReferencePointCoordinates=iso,
                     DeliveryMaximumDose=_ds(top), OrganAtRiskMaximumDose=_ds(top))
        item.DoseReferenceUID = uid(seed + "dr1")
        items.append(item)
        if "RTPlanName" in plan:
            del plan.RTPlanName
    elif vendor == "eclipse_oar_site":
        top = max((lv.dose_gy for lv in levels), default=0.0)
        site_dose = intent.point_dose_gy if intent.point_dose_gy is not None else 232.0
        items.append(_item(1, "SITE", "ORGAN_AT_RISK", description="None", DeliveryMaximumDose=_ds(site_dose), OrganAtRiskMaximumDose=_ds(site_dose)))
        items.append(_item(2, "COORDINATES", "ORGAN_AT_RISK", description="ponto", DoseReferencePointCoordinates=iso,
                           DeliveryMaximumDose=_ds(round(top / 10.9, 2)), OrganAtRiskMaximumDose=_ds(round(top / 10.9, 2))))
        items.append(_item(3, "COORDINATES", "ORGAN_AT_RISK", description="norm", DoseReferencePointCoordinates=[0.0, 0.0, 0.0]))
        for n, item in enumerate(items, start=1):
            item.DoseReferenceUID = uid(seed + f"dr{n}")
        if "RTPlanName" in plan:
            del plan.RTPlanName
    elif vendor == "monaco":
        # one SITE item per fraction group (a composite plan: one per prescription), then
        # as many TARGET / COORDINATES items without dose
        doses = list(intent.group_doses) if intent.group_doses else ([levels[0].dose_gy] if levels else [])
        for n, dose in enumerate(doses, start=1):
            items.append(_item(n, "SITE", "TARGET", TargetPrescriptionDose=f"{dose:.2f}"))
        for n in range(len(doses) + 1, 2 * len(doses) + 1):
            items.append(_item(n, "COORDINATES", "TARGET", DoseReferencePointCoordinates=iso))
        plan.PrescriptionDescription = ("Composite Plan: " + ", ".join(f"Rx{chr(65 + i)}" for i in range(len(intent.fraction_groups)))
                                        if len(intent.fraction_groups) > 1 else "Plan: RxA")
        if "FrameOfReferenceUID" in plan:
            del plan.FrameOfReferenceUID  # some Monaco RT Plans lack it
    elif vendor == "tomotherapy":
        n = 0
        for roi_number, max_gy in intent.organ_objectives:
            n += 1
            items.append(_item(n, "VOLUME", "ORGAN_AT_RISK", description="Sensitive Structure", ReferencedROINumber=roi_number,
                               OrganAtRiskMaximumDose=_ds(max_gy), OrganAtRiskFullVolumeDose=_ds(max_gy)))
        for lv in levels:
            n += 1
            items.append(_item(n, "VOLUME", "TARGET", description="Target", ReferencedROINumber=lv.roi_number,
                               TargetPrescriptionDose=f"{lv.dose_gy:.1f}", TargetMinimumDose=f"{0.95 * lv.dose_gy:.1f}",
                               TargetMaximumDose=f"{1.4 * lv.dose_gy:.1f}", TargetUnderdoseVolumeFraction="0.05"))
        if levels:
            plan.PrescriptionDescription = f"95.0% of the {levels[0].roi} volume receives at least {levels[0].dose_gy:.1f} Gy"
    elif vendor == "brainlab":
        dose = intent.point_dose_gy if intent.point_dose_gy is not None else (levels[0].dose_gy if levels else 0.0)
        item = _item(1, "COORDINATES", "TARGET", description=levels[0].roi if levels else "Isoc. Norm.",
                     DoseReferencePointCoordinates=iso, TargetPrescriptionDose=_ds(round(dose, 2)))
        item.DoseReferenceUID = uid(seed + "dr1")
        items.append(item)
        plan.RTPlanLabel = "Isoc. Norm.:G"
        plan.RTPlanName = "plano"
    elif vendor == "raystation":
        plan.PrescriptionDescription = ""
    if items:
        plan.DoseReferenceSequence = Sequence(items)

    # fraction groups
    groups = intent.fraction_groups or [int(fg0.NumberOfFractionsPlanned)]
    fgs = []
    per_group = max(len(refs) // len(groups), 1)
    for g, fractions in enumerate(groups, start=1):
        fg = Dataset()
        fg.FractionGroupNumber = g
        fg.NumberOfFractionsPlanned = fractions
        mine = refs[(g - 1) * per_group:g * per_group] if len(groups) > 1 else refs
        fg.NumberOfBeams = len(mine)
        fg.NumberOfBrachyApplicationSetups = 0
        if mine:
            fg.ReferencedBeamSequence = Sequence(mine)
        if vendor in ("monaco", "brainlab", "tomotherapy") and items:
            target_items = [i for i in items if i.DoseReferenceType == "TARGET" and i.DoseReferenceStructureType != "COORDINATES"]
            if vendor == "brainlab":
                target_items = items
            if target_items:
                chosen = target_items[min(g - 1, len(target_items) - 1)]
                rd = Dataset()
                if vendor == "tomotherapy":
                    rd.TargetPrescriptionDose = chosen.TargetPrescriptionDose
                rd.ReferencedDoseReferenceNumber = chosen.DoseReferenceNumber
                fg.ReferencedDoseReferenceSequence = Sequence([rd])
        fgs.append(fg)
    plan.FractionGroupSequence = Sequence(fgs)

    for fg in plan.FractionGroupSequence:
        for rb in fg.get("ReferencedBeamSequence", []):
            if vendor in ("raystation", "pinnacle", "monaco", "brainlab", "eclipse_point"):
                rb.BeamDoseSpecificationPoint = iso
            if vendor in ("raystation", "brainlab"):
                rb.BeamDosePointDepth = 50.0
            if vendor == "raystation":
                rb.BeamDoseType = "PHYSICAL"
    if vendor == "raystation":
        # setup beams are listed in the fraction group without dose or meterset
        setup = Dataset()
        setup.BeamNumber = 100 + len(plan.BeamSequence)
        setup.BeamName = "SETUP AP"
        setup.BeamType = "STATIC"
        setup.RadiationType = "PHOTON"
        setup.TreatmentDeliveryType = "SETUP"
        setup.TreatmentMachineName = plan.BeamSequence[0].TreatmentMachineName
        cp = Dataset()
        cp.ControlPointIndex = 0
        cp.NominalBeamEnergy = "6"
        cp.GantryAngle = "0"
        setup.ControlPointSequence = Sequence([cp])
        setup.NumberOfControlPoints = 1
        plan.BeamSequence.append(setup)
        rb = Dataset()
        rb.ReferencedBeamNumber = setup.BeamNumber
        plan.FractionGroupSequence[0].ReferencedBeamSequence.append(rb)
        plan.FractionGroupSequence[0].NumberOfBeams = len(plan.FractionGroupSequence[0].ReferencedBeamSequence)
    if vendor == "tomotherapy":
        plan.BeamSequence = Sequence(list(plan.BeamSequence)[:1])
        plan.BeamSequence[0].BeamName = "Helical TomoTherapy Beam"
        plan.BeamSequence[0].PrimaryDosimeterUnit = "MINUTE"
        fg = plan.FractionGroupSequence[0]
        fg.ReferencedBeamSequence = Sequence(list(fg.ReferencedBeamSequence)[:1])
        total = sum(lv.dose_gy for lv in levels[:1]) / max(int(fg.NumberOfFractionsPlanned), 1)
        fg.ReferencedBeamSequence[0].BeamDose = f"{total:.3f}"
        fg.NumberOfBeams = 1
    if vendor == "gammaplan":
        fg = plan.FractionGroupSequence[0]
        fg.FractionGroupNumber = 0
        if "ReferencedBeamSequence" in fg:
            del fg.ReferencedBeamSequence
        fg.NumberOfBeams = 1
        beam = plan.BeamSequence[0]
        beam.BeamName = "bogus name"
        beam.BeamDescription = "bogus beam"
        beam.BeamType = "STATIC"
        beam.TreatmentMachineName = "BOGUS NAME"
        beam.ControlPointSequence[0].NominalBeamEnergy = "0"
        plan.BeamSequence = Sequence([beam])
        if "RTPlanName" in plan:
            plan.RTPlanName = plan.RTPlanLabel
    return plan


def style_struct(struct: Dataset, vendor: str) -> Dataset:
    """Rewrite an RT Structure Set as ``vendor`` writes it."""
    _identity(struct, vendor)
    if vendor == "raystation":
        struct.StructureSetLabel = "RS: Unapproved"
        struct.ApprovalStatus = "UNAPPROVED"
        for item in struct.StructureSetROISequence:
            item.ROIGenerationAlgorithm = "SEMIAUTOMATIC"
    elif vendor.startswith("eclipse"):
        struct.ApprovalStatus = "UNAPPROVED"
    elif vendor == "gammaplan":
        struct.StructureSetLabel = "ROIs in CT"
        struct.FrameOfReferenceUID = struct.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
        for obs in struct.RTROIObservationsSequence:
            obs.RTROIInterpretedType = ""  # GammaPlan leaves the type empty
    return struct


def style_dose(dose: Dataset, vendor: str, *, fraction_group_number: int = 1) -> Dataset:
    """Rewrite an RT Dose as ``vendor`` writes it (the values are not changed)."""
    _identity(dose, vendor)
    if vendor == "raystation":
        if "TissueHeterogeneityCorrection" in dose:
            del dose.TissueHeterogeneityCorrection  # Type 3: RayStation 6 never writes it
    elif vendor == "pinnacle":
        dose.DoseSummationType = "FRACTION"  # PS3.3: the whole delivery of the fraction group
        for ref in dose.get("ReferencedRTPlanSequence", []):
            fg = Dataset()
            fg.ReferencedFractionGroupNumber = fraction_group_number
            ref.ReferencedFractionGroupSequence = Sequence([fg])
    elif vendor.startswith("eclipse"):
        dose.TissueHeterogeneityCorrection = ["IMAGE", "ROI_OVERRIDE"]
    return dose


def referenced_plans(ds: Dataset, relations: list[tuple[str, str]]) -> None:
    """Add ReferencedRTPlanSequence items (SOP Instance UID, RTPlanRelationship) to an RT Plan."""
    items = []
    for plan_uid, relationship in relations:
        r = Dataset()
        r.ReferencedSOPClassUID = sop.RT_PLAN
        r.ReferencedSOPInstanceUID = plan_uid
        r.RTPlanRelationship = relationship
        items.append(r)
    if items:
        ds.ReferencedRTPlanSequence = Sequence(items)


__all__ = ["IDENTITY", "VENDORS", "Level", "PlanIntent", "referenced_plans", "style_dose", "style_plan", "style_struct"]
