"""Real planning-system exports from ../shared/data (skipped when absent)."""

from __future__ import annotations

import math

import pytest

from conftest import shared
from sbrt_qa.dvh.analysis import analyze
from sbrt_qa.load import load
from sbrt_qa.load.stored_dvh import read_stored_dvhs


def test_breast_plan_mean_doses_agree_with_the_planning_system():
    folder = shared("dicompyler-example")
    plan_sets, notes = load([folder])
    assert len(plan_sets) == 1
    ps = plan_sets[0]
    assert ps.plan.prescription_gy == 14.0 and ps.plan.fractions == 7
    assert any("CT/MR image" in n for n in notes)
    result = analyze(ps)
    stored = {s.roi_number: s for s in read_stored_dvhs(str(folder / "rtdose.dcm"), float(ps.dose.dose_gy.max()), ps.plan.prescription_gy)}
    # The quirk is detected, not assumed: labelled GY, written in % of 14 Gy.
    assert all(s.unit_note and "percent of the 14 Gy" in s.unit_note for s in stored.values())
    compared = 0
    for s in result.structures:
        if s.volume_cc is None or s.volume_cc < 10 or s.roi_number not in stored:
            continue
        reference = stored[s.roi_number].mean_gy
        assert s.dmean_gy == pytest.approx(reference, rel=0.02), s.name
        compared += 1
    assert compared >= 5  # BODY, Breast, Heart, Lt Lung, Tumor Bed (and Block)


def test_breast_plan_every_structure_loads():
    ps = load([shared("dicompyler-example")])[0][0]
    result = analyze(ps)
    by_name = {s.name: s for s in result.structures}
    assert len(by_name) == 10
    assert by_name["Areola"].geometry == "EMPTY" and by_name["Areola"].volume_cc == 0.0
    for s in result.structures:
        assert s.error is None
        if s.geometry == "CLOSED_PLANAR":
            assert s.volume_cc > 0 and math.isfinite(s.dmean_gy)
            assert s.dmin_gy <= s.metrics["D95%[Gy]"] <= s.metrics["D50%[Gy]"] <= s.metrics["D2%[Gy]"] <= s.dmax_gy


def test_raystation_srs_plan_every_structure_loads():
    ps = load([shared("raystation-srs-imrt")])[0][0]
    assert ps.plan.fractions == 5
    result = analyze(ps)
    assert len(result.structures) == 28
    assert all(s.error is None for s in result.structures)
    ptvs = [s for s in result.structures if s.name.startswith("PTV_") and s.name[4:].isdigit()]
    assert len(ptvs) == 5
    for s in ptvs:
        assert 0.2 < s.volume_cc < 6.0
        assert s.metrics["D0.035cc[Gy]"] <= s.dmax_gy


# --------------------------------------------------------------------------- verdicts on the real exports (issue 10 section 4)
# Expected verdicts written before running the tool. A case not right yet is a strict
# xfail with what is missing; the fix that makes it right removes the mark.


def _check_json(folder, *args):
    import contextlib
    import io
    import json
    import tempfile
    from pathlib import Path

    from sbrt_qa.cli.main import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(["check", str(folder), "--format", "json", "--output", str(out), *args])
        report = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else None
    return code, report, err.getvalue()


def _mentions(items, word):
    return any(word.casefold() in " ".join(str(v) for v in item.values()).casefold() for item in items)


#: The RayStation SRS plan (5 PTVs of 0.2-6 cc, 5 fx) records no prescription; its BeamDose
#: sums (14 Gy per fraction, 10.78 for the VMAT twin) are not prescriptions: the targets
#: get about 40-50 Gy. A careful physicist: 5 fractions identify the RTOG 0915 arm, but no
#: dose is recorded, the arm's level is a range and the names PTV_1..PTV_5 carry none, so
#: conformity (R100%, R50%, D2cm) cannot be judged: needs review of the prescription
#: (exit 1), never an invented 70 Gy (14 x 5) or 53.9 Gy.
RAYSTATION_SRS_ARGS = [
    pytest.param(["--protocol", "rtog0915-conformity"], id="rtog0915"),
    pytest.param(["--protocol", "rtog0915-conformity", "--arm", "SBRT"], id="rtog0915-arm-forced"),
]


@pytest.mark.parametrize("args", RAYSTATION_SRS_ARGS)
def test_raystation_srs_plan_gets_no_invented_prescription(args):
    code, report, err = _check_json(shared("raystation-srs-imrt"), *args)
    assert report is not None, err
    (plan,) = report["plans"]
    assert plan["status"] == "not_evaluated" and code == 1
    assert _mentions(plan["needs_review"], "prescription"), plan["needs_review"]
    levels = plan["prescription_levels"]
    assert levels, "each level must say where its dose came from"
    assert not any(lv["source"] == "recorded" for lv in levels)
    assert not any(lv["dose_gy"] is not None and (abs(lv["dose_gy"] - 70.0) < 0.1 or abs(lv["dose_gy"] - 53.9) < 0.1) for lv in levels)
    ratios = [r for r in plan["results"] if r["id"] in ("rtog-R100pct", "rtog-R50pct", "rtog-D2cm")]
    assert ratios and all(r["status"] == "not_evaluated" for r in ratios)


#: The breast plan (Eclipse-style header, 14 Gy in 7 fx to 'Breast', TARGET/SITE) also
#: carries a TARGET / COORDINATES 'CALC POINT' of 11.31 Gy: a point dose to report,
#: never a prescription. IMAGE\ROI_OVERRIDE is a corrected calculation.
def test_breast_plan_point_dose_is_reported_not_prescribed():
    code, report, err = _check_json(shared("dicompyler-example"), "--protocol", "quantec-conventional", "--arm", "Conventional")
    assert report is not None, err
    (plan,) = report["plans"]
    assert plan["plan"]["prescription_gy"] == 14.0
    assert any(abs(float(p.get("dose_gy", 0)) - 11.3114) < 1e-3 for p in plan["point_doses"])
    assert not any(lv.get("dose_gy") is not None and abs(lv["dose_gy"] - 11.3114) < 1e-3 for lv in plan["prescription_levels"])
    hetero = [c for c in plan["plan_checks"] if c["id"] == "heterogeneity_correction"]
    assert hetero and hetero[0]["status"] in ("pass", "info")


# --- how each planning system records prescriptions and dose (../shared/data/vendor-exports) ---

VENDOR = "vendor-exports"


def _read_plan(name):
    from sbrt_qa.load.discovery import discover
    from sbrt_qa.load.rtplan import read_plan

    return read_plan(discover([shared(VENDOR) / name]).objects[0])


def test_raystation_srs_plan_gets_no_invented_prescription():
    """RayStation 6.1 writes no DoseReferenceSequence; the BeamDose sum (14.0 Gy per fraction at
    the beams' own points) is not the dose of any of the five targets."""
    ps = load([shared("raystation-srs-imrt")])[0][0]
    assert ps.plan.prescription_gy is None and ps.plan.prescriptions == [] and ps.plan.prescription_source is None
    assert ps.plan.beam_dose_per_fraction_gy == pytest.approx(14.0, abs=0.01)
    assert ps.dose.heterogeneity_correction == ()  # Type 3, not written: unknown, not WATER


def test_breast_calculation_point_is_a_point_dose_not_the_prescription():
    ps = load([shared("dicompyler-example")])[0][0]
    assert [(p.dose_gy, p.description, p.structure_type) for p in ps.plan.prescriptions] == [(14.0, "Breast", "SITE")]
    assert [(p.description, round(p.dose_gy, 2)) for p in ps.plan.point_doses] == [("CALC POINT", 11.31)]


@pytest.mark.parametrize("rd,rp,dmax", [
    ("RD_3c4daebbf4_RTDOSE_2.16.840.1.113669.2.931128.305045163.20180315140850.870100.dcm",
     "RP_1c0d762743_RTPLAN_2.16.840.1.113669.2.931128.305045163.20180315140850.284204.dcm", 61.45),
    ("RD_bc3a5e88df_RTDOSE_2.16.840.1.113669.2.931128.305045163.20180315140349.845659.dcm",
     "RP_b1c214f66a_RTPLAN_2.16.840.1.113669.2.931128.305045163.20180315140349.133308.dcm", 59.38),
])
def test_pinnacle_fraction_dose_is_used_as_the_whole_course(rd, rp, dmax):
    """Pinnacle 9.8: FRACTION, 10-fraction plans, maxima about 60 Gy as stored (the README's 61 Gy):
    the whole delivery of the fraction group, never multiplied by 10."""
    from sbrt_qa.load.discovery import discover
    from sbrt_qa.load.rtdose import combine_doses, read_dose_grid

    grid = read_dose_grid(discover([shared(VENDOR) / rd]).objects[0])
    plan = _read_plan(rp)
    assert grid.summation_type == "FRACTION" and plan.fractions == 10 and plan.prescription_gy is None
    assert combine_doses([grid], plan).max_gy == pytest.approx(dmax, abs=0.01)


@pytest.mark.parametrize("name,rx,fractions,groups", [
    # Monaco composite: RxC (50 Gy, 25 fx) = RxA (26 Gy, 13 fx) + RxB (24 Gy, 12 fx): 25 sessions, not 50
    ("RP_9a5bfa174c_2018CompLTCWC2_t2.dcm", [26.0, 24.0, 50.0], 25, [(1, 13), (2, 12), (3, 25)]),
    ("RP_f42c126282_2018CompLTCWC2_t2.dcm", [26.0, 24.0, 50.0], 25, [(1, 13), (2, 12), (3, 25)]),
    ("RP_0d1e560f6f_2018CompLTCWC2_t2_RxC.dcm", [50.0], 25, [(3, 25)]),  # the composite's RxC alone
    ("RP_a7d7af59d2_2018CompLTCWC2_t2_RxA.dcm", [26.0], 13, [(1, 13)]),
    ("RP_0deae265ea_RTPL0238.dcm", [], 5, [(1, 5)]),  # Brainlab: TARGET/COORDINATES isocentre normalisation
    ("RP_8e17be3424_RP1.2.752.243.1.1.20180405114728127.3000.13138.dcm", [], 5, [(1, 5)]),  # RayStation
    ("RP_c258d2acda_RP.2.16.840.1.113669.2.931128.242224607.20180316093632.518071.dcm", [], 5, [(1, 5)]),  # Pinnacle
    ("RP_2216a9122c_RP.1.2.246.352.71.5.584747638204.1041179.20180402094054.dcm", [], 12, [(1, 12)]),  # Eclipse OAR point
    ("RP_7cd1b62319_RP.1.2.826.0.1.3680043.2.200.535245767.18.44281.1806.dcm", [50.0, 50.0], 5, [(1, 5)]),  # TomoTherapy
    ("RP_413875062f_RTPLAN.dcm", [], 1, [(0, 1)]),  # GammaPlan
])
def test_vendor_prescriptions_are_read_as_recorded(name, rx, fractions, groups):
    plan = _read_plan(name)
    assert [p.dose_gy for p in plan.prescriptions] == rx
    assert plan.fractions == fractions and plan.fraction_groups == groups


@pytest.mark.parametrize("name", ["RP_9a5bfa174c_2018CompLTCWC2_t2.dcm", "RP_f42c126282_2018CompLTCWC2_t2.dcm"])
def test_monaco_composite_plans_are_25_sessions_with_one_50_gy_course_level(name):
    """The real composite plans: three TARGET/SITE items 26 Gy ('ALtCW NOB'), 24 Gy ('B'), 50 Gy ('C'),
    fraction groups of 13, 12 and 25 fractions each naming its own item. Group 3 covers groups 1 and 2
    in fractions (25 = 13 + 12) and dose (50 = 26 + 24 Gy): 25 treatment sessions, course level 50 Gy."""
    from sbrt_qa.evaluate.prescription import course_prescriptions

    plan = _read_plan(name)
    assert plan.fractions == 25
    assert (plan.fraction_scheme.kind, plan.fraction_scheme.covering_group, plan.fraction_scheme.covered_groups) == ("covering", 3, (1, 2))
    whole, _ = course_prescriptions(plan)
    assert [(p.dose_gy, p.fractions) for p in whole] == [(50.0, 25)]
    assert any("fraction group 3" in n and "25 sessions" in n for n in plan.notes)


def test_brainlab_plans_reference_each_other_as_concurrent():
    plan = _read_plan("RP_0deae265ea_RTPL0238.dcm")
    assert plan.point_doses[0].dose_gy == pytest.approx(41.91)
    assert [r.relationship for r in plan.referenced_plans] == ["CONCURRENT"] * 4
