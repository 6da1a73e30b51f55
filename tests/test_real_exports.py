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
