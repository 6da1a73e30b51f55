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
    pytest.param(["--protocol", "rtog0915-conformity"], id="rtog0915",
                 marks=pytest.mark.xfail(strict=True, reason="targets_rx: no arm from 5 fx alone, and no 'prescription not recorded' review item")),
    pytest.param(["--protocol", "rtog0915-conformity", "--arm", "SBRT"], id="rtog0915-arm-forced",
                 marks=pytest.mark.xfail(strict=True, reason="targets_rx: no 'prescription not recorded' review item; prescription_levels not reported")),
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
