"""RT Plan reading: prescriptions only from TARGET VOLUME/SITE dose references, point doses,
every fraction group, BeamDose never a prescription. Plans carry the header patterns each
planning system writes (../shared/data/vendor-exports/README.md), with values set here."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sbrt_qa.load import sop
from sbrt_qa.load.discovery import DicomObject
from sbrt_qa.load.rtplan import PRESCRIPTION_SOURCE, read_plan
from sbrt_qa.synthetic import dicom_factory as f


def _plan(beam_doses=(3.5, 3.5), fractions=5, **kw) -> Dataset:
    beams = [f.BeamSpec(f"B{i}", beam_dose_gy=d) for i, d in enumerate(beam_doses)]
    return f.rtplan(f.Patient(), label="P", fractions=fractions, targets=[], beams=beams, structure_set_uid=None, **kw)


def _ref(number, ref_type, structure_type, description="", roi=None, **doses) -> Dataset:
    d = Dataset()
    d.DoseReferenceNumber = number
    d.DoseReferenceStructureType = structure_type
    d.DoseReferenceType = ref_type
    if description:
        d.DoseReferenceDescription = description
    if roi is not None:
        d.ReferencedROINumber = roi
    for keyword, value in doses.items():
        setattr(d, keyword, value)
    return d


def _read(ds: Dataset):
    return read_plan(DicomObject(Path("rp.dcm"), sop.RTPLAN, ds.SOPClassUID, ds.SOPInstanceUID, None, ds))


def test_eclipse_target_site_is_the_prescription_and_the_calculation_point_a_point_dose():
    ds = _plan()
    ds.DoseReferenceSequence = Sequence([
        _ref(1, "TARGET", "SITE", "PTV_PRIMARY", TargetPrescriptionDose="35"),
        _ref(2, "TARGET", "COORDINATES", "CALC POINT", TargetPrescriptionDose="11.31"),
        _ref(3, "ORGAN_AT_RISK", "COORDINATES", "norm", DeliveryMaximumDose="2.76", OrganAtRiskMaximumDose="2.76"),
    ])
    plan = _read(ds)
    assert [(p.dose_gy, p.description, p.structure_type, p.dose_reference_number) for p in plan.prescriptions] == [(35.0, "PTV_PRIMARY", "SITE", 1)]
    assert plan.prescription_gy == 35.0 and plan.prescription_source == PRESCRIPTION_SOURCE
    assert [(p.description, p.reference_type, p.structure_type, p.dose_gy, p.attribute) for p in plan.point_doses] == [
        ("CALC POINT", "TARGET", "COORDINATES", 11.31, "TargetPrescriptionDose"),
        ("norm", "ORGAN_AT_RISK", "COORDINATES", 2.76, "DeliveryMaximumDose"),
    ]


def test_eclipse_organ_at_risk_primary_reference_records_no_prescription():
    ds = _plan()
    ds.DoseReferenceSequence = Sequence([_ref(1, "ORGAN_AT_RISK", "COORDINATES", "CW PH/e-", DeliveryMaximumDose="50"),
                                         _ref(2, "ORGAN_AT_RISK", "SITE", "None", DeliveryMaximumDose="232")])
    plan = _read(ds)
    assert plan.prescriptions == [] and plan.prescription_gy is None and plan.prescription_source is None
    assert [p.dose_gy for p in plan.point_doses] == [50.0]


def test_raystation_without_dose_reference_has_no_prescription_and_beam_dose_is_information():
    plan = _read(_plan(beam_doses=(2.40607, 1.46693, None)))
    assert plan.prescription_gy is None and plan.prescriptions == []
    assert plan.beam_dose_per_fraction_gy == pytest.approx(2.40607 + 1.46693)
    assert any("prescription not recorded in the plan" in n for n in plan.notes)


def test_brainlab_isocentre_normalisation_is_a_point_dose():
    ds = _plan()
    ds.DoseReferenceSequence = Sequence([_ref(1, "TARGET", "COORDINATES", "PTV_4", TargetPrescriptionDose="41.91")])
    rel = []
    for n in range(2):
        r = Dataset()
        r.ReferencedSOPClassUID = sop.RT_PLAN
        r.ReferencedSOPInstanceUID = f"1.2.3.{n}"
        r.RTPlanRelationship = "CONCURRENT"
        rel.append(r)
    ds.ReferencedRTPlanSequence = Sequence(rel)
    plan = _read(ds)
    assert plan.prescription_gy is None and plan.prescriptions == []
    assert [(p.description, p.dose_gy) for p in plan.point_doses] == [("PTV_4", 41.91)]
    assert [(r.sop_instance_uid, r.relationship) for r in plan.referenced_plans] == [("1.2.3.0", "CONCURRENT"), ("1.2.3.1", "CONCURRENT")]


def test_tomotherapy_target_volume_links_its_roi_and_organ_objectives_are_not_prescriptions():
    ds = _plan(beam_doses=(10.0,))
    ds.DoseReferenceSequence = Sequence([
        _ref(1, "ORGAN_AT_RISK", "VOLUME", "Sensitive Structure", roi=1, OrganAtRiskMaximumDose="27.49"),
        _ref(7, "TARGET", "VOLUME", "Target", roi=10, TargetPrescriptionDose="50.0", TargetMinimumDose="48"),
    ])
    plan = _read(ds)
    assert [(p.dose_gy, p.roi_number, p.structure_type) for p in plan.prescriptions] == [(50.0, 10, "VOLUME")]
    assert plan.point_doses == []


def test_zero_or_missing_target_prescription_dose_is_no_prescription():
    ds = _plan()
    ds.DoseReferenceSequence = Sequence([_ref(1, "TARGET", "SITE", "PTV", TargetPrescriptionDose="0"), _ref(2, "TARGET", "VOLUME", "PTV2")])
    plan = _read(ds)
    assert plan.prescriptions == [] and plan.prescription_gy is None
    assert any("not a dose > 0" in n for n in plan.notes)


def test_monaco_composite_reads_every_fraction_group():
    """Monaco composite: one TARGET/SITE item per group, linked by ReferencedDoseReferenceSequence."""
    ds = _plan(beam_doses=())
    ds.DoseReferenceSequence = Sequence([
        _ref(1, "TARGET", "SITE", "A", TargetPrescriptionDose="26.00"),
        _ref(2, "TARGET", "SITE", "B", TargetPrescriptionDose="24.00"),
        _ref(3, "TARGET", "COORDINATES"),
        _ref(4, "TARGET", "COORDINATES"),
    ])
    groups = []
    for number, fx, beam_doses in ((1, 13, ("1.007", "0.251")), (2, 12, ("0.589", "0.396"))):
        g = Dataset()
        g.FractionGroupNumber = number
        g.NumberOfFractionsPlanned = fx
        rbs = []
        for k, bd in enumerate(beam_doses):
            rb = Dataset()
            rb.ReferencedBeamNumber = 2 * (number - 1) + k + 1
            rb.BeamDose = bd
            rb.BeamMeterset = "100"
            rbs.append(rb)
        g.ReferencedBeamSequence = Sequence(rbs)
        rd = Dataset()
        rd.ReferencedDoseReferenceNumber = number
        g.ReferencedDoseReferenceSequence = Sequence([rd])
        groups.append(g)
    ds.FractionGroupSequence = Sequence(groups)
    plan = _read(ds)
    assert plan.fractions == 13 + 12
    assert plan.fraction_groups == [(1, 13), (2, 12)]
    assert [(p.dose_gy, p.fraction_group_number, p.fractions) for p in plan.prescriptions] == [(26.0, 1, 13), (24.0, 2, 12)]
    assert plan.prescription_gy == 26.0  # the largest recorded; each level keeps its own group
    assert plan.point_doses == []  # COORDINATES items without a dose
    assert plan.beam_dose_per_fraction_gy == pytest.approx(1.007 + 0.251 + 0.589 + 0.396)
    assert any("2 fraction groups" in n and "25 fractions in all" in n for n in plan.notes)


def _groups(ds: Dataset, groups) -> None:
    """Monaco's composite pattern: one TARGET/SITE item per fraction group (dose None: no item), each group naming its own."""
    refs, fgs = [], []
    for number, (fx, dose) in enumerate(groups, start=1):
        if dose is not None:
            refs.append(_ref(number, "TARGET", "SITE", f"Rx{chr(64 + number)}", TargetPrescriptionDose=f"{dose:.2f}"))
        g = Dataset()
        g.FractionGroupNumber = number
        g.NumberOfFractionsPlanned = fx
        if dose is not None:
            rd = Dataset()
            rd.ReferencedDoseReferenceNumber = number
            g.ReferencedDoseReferenceSequence = Sequence([rd])
        fgs.append(g)
    if refs:
        ds.DoseReferenceSequence = Sequence(refs)
    ds.FractionGroupSequence = Sequence(fgs)


def test_a_group_covering_the_others_in_fractions_and_dose_makes_the_course_that_many_sessions():
    # Monaco's real composite: RxA 26 Gy/13, RxB 24 Gy/12, RxC 50 Gy/25 = RxA + RxB. Whether RxC summarises
    # the course or is delivered alongside, the patient comes 25 times, not 13 + 12 + 25 = 50.
    ds = _plan(beam_doses=())
    _groups(ds, [(13, 26.0), (12, 24.0), (25, 50.0)])
    plan = _read(ds)
    assert plan.fractions == 25
    assert plan.fraction_groups == [(1, 13), (2, 12), (3, 25)]
    scheme = plan.fraction_scheme
    assert (scheme.kind, scheme.sessions, scheme.covering_group, scheme.covered_groups) == ("covering", 25, 3, (1, 2))
    note = next(n for n in plan.notes if "fraction group 3" in n)
    assert "13 + 12" in note and "26 + 24" in note and "25 sessions" in note


def test_a_group_covering_the_others_in_fractions_when_no_dose_is_recorded():
    ds = _plan(beam_doses=())
    _groups(ds, [(13, None), (12, None), (25, None)])
    plan = _read(ds)
    assert plan.fractions == 25 and plan.fraction_scheme.kind == "covering"
    assert any("fraction group 3" in n and "no dose" in n for n in plan.notes)


def test_groups_that_do_not_cover_each_other_are_one_after_the_other():
    ds = _plan(beam_doses=())
    _groups(ds, [(13, 26.0), (12, 24.0)])
    plan = _read(ds)
    assert plan.fractions == 25
    assert (plan.fraction_scheme.kind, plan.fraction_scheme.sessions) == ("sequential", 25)


def test_a_group_matching_the_others_in_fractions_but_not_in_dose_is_not_decided():
    # 25 = 13 + 12 fractions, but 60 Gy is not 26 + 24 Gy: 25 sessions (group 3 alongside) or 50 (one
    # after the other); the export does not say which and the tool must not choose.
    ds = _plan(beam_doses=())
    _groups(ds, [(13, 26.0), (12, 24.0), (25, 60.0)])
    plan = _read(ds)
    assert plan.fractions is None
    scheme = plan.fraction_scheme
    assert (scheme.kind, scheme.sessions, scheme.alternatives) == ("ambiguous", None, (25, 50))
    assert "60" in scheme.reason and "26 + 24" in scheme.reason
    assert any("fraction group 3" in n for n in plan.notes)


def test_a_single_group_is_its_own_course():
    plan = _read(_plan())
    assert plan.fractions == 5 and (plan.fraction_scheme.kind, plan.fraction_scheme.sessions) == ("single", 5)

@pytest.mark.parametrize("doses", [(50.0, 50.0), (None, None), (30.0, 20.0)])
def test_two_groups_of_equal_fractions_are_not_decided(doses):
    # two groups of 25: side by side (two sites in the same 25 sessions) or one after the other (50);
    # one group cannot summarise a single other, so neither the doses nor their absence decide it
    ds = _plan(beam_doses=())
    _groups(ds, [(25, doses[0]), (25, doses[1])])
    plan = _read(ds)
    assert plan.fractions is None
    scheme = plan.fraction_scheme
    assert (scheme.kind, scheme.alternatives, scheme.covering_group) == ("ambiguous", (25, 50), None)
    assert "groups 1 and 2" in scheme.reason
