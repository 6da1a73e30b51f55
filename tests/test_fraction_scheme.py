"""Several fraction groups in one plan: how many treatment sessions, and which prescriptions are the course's.

PS3.3 (RT Fraction Scheme module) gives each fraction group its NumberOfFractionsPlanned
and, optionally, a FractionPattern, but never says whether groups follow one another or run
side by side. Monaco's composite plans (../shared/data/vendor-exports) carry RxA 26 Gy in
13 fractions, RxB 24 Gy in 12 and RxC 50 Gy in 25: RxC covers the course of the other two,
so the patient comes 25 times, not 50. Expected outcomes are written from that reasoning,
before the code was run.
"""

from __future__ import annotations

import copy

import pytest

from case_bank import CASES, compare, load_case, run
from sbrt_qa.evaluate.prescription import course_prescriptions
from test_rtplan import _groups, _plan, _read


def _scheme_plan(groups):
    ds = _plan(beam_doses=())
    _groups(ds, groups)
    return _read(ds)


def test_covering_group_is_the_one_course_prescription():
    whole, notes = course_prescriptions(_scheme_plan([(13, 26.0), (12, 24.0), (25, 50.0)]))
    # 50 Gy in 25 fractions once: not 26 or 24 (parts), not 100 (all added), not 50 twice
    assert [(p.dose_gy, p.fractions) for p in whole] == [(50.0, 25)]
    assert any("fraction group 3" in n and "26 + 24" in n for n in notes)


def test_sequential_groups_add_up_to_one_course_prescription():
    whole, _ = course_prescriptions(_scheme_plan([(13, 26.0), (12, 24.0)]))
    assert [(p.dose_gy, p.fractions) for p in whole] == [(50.0, 25)]


def test_ambiguous_groups_give_no_course_prescription():
    whole, notes = course_prescriptions(_scheme_plan([(13, 26.0), (12, 24.0), (25, 60.0)]))
    assert whole == []
    assert any("not compared with a level" in n for n in notes)


def _case(name: str, args: list[str]):
    case = load_case(CASES / "vendor" / name)
    case = copy.copy(case)
    case.data = {**case.data, "args": args}
    return case


def _checks(outcome):
    return {c["id"]: c for p in outcome.plans for c in p["plan_checks"]}


def test_ambiguous_plan_resolved_by_the_reviewers_fractions(tmp_path):
    # --rx 50Gy/25: the reviewer says 25 sessions, so group 3 (60 Gy) runs alongside groups 1 and 2
    # (26 + 24 = 50 Gy): the IMRT arm (25 fx); the PTV level is 50 Gy; a recorded 60 Gy prescription
    # no IMRT level allows (40-50 Gy) is a real deviation.
    outcome = run(_case("monaco_composite_ambiguous_dose", ["--rx", "50Gy/25"]), tmp_path)
    plan = outcome.plans[0]
    assert plan["protocol"]["arm"] == "IMRT"
    assert not [r for r in plan["needs_review"] if r["id"] == "fractions"]
    assert plan["plan"]["fractions"] == 25
    checks = _checks(outcome)
    assert checks["fractions"]["status"] == "pass" and "fractionation" not in checks
    assert checks["prescription_recorded"]["status"] == "major" and "60 Gy" in checks["prescription_recorded"]["message"]
    assert any(d["kind"] == "rx" and "50Gy/25" in d["value"] for d in plan["declarations"])


def test_ambiguous_plan_resolved_by_the_arm_when_one_reading_fits_it(tmp_path):
    # --arm IMRT (20-25 fx): of the plan's two readings (25 or 50 sessions) only 25 fits: 25 sessions
    outcome = run(_case("monaco_composite_ambiguous_dose", ["--arm", "IMRT"]), tmp_path)
    plan = outcome.plans[0]
    assert not [r for r in plan["needs_review"] if r["id"] == "fractions"]
    assert plan["plan"]["fractions"] == 25
    assert _checks(outcome)["fractions"]["status"] == "pass"
    assert any("25 sessions" in n and "--arm IMRT" in n for n in plan["notes"])


def test_ambiguous_plan_with_fractions_the_plan_does_not_allow_stays_in_review(tmp_path):
    outcome = run(_case("monaco_composite_ambiguous_dose", ["--rx", "50Gy/20"]), tmp_path)
    plan = outcome.plans[0]
    assert plan["status"] == "not_evaluated" and outcome.exit_code == 1
    item = next(r for r in plan["needs_review"] if r["id"] == "fractions")
    assert "20" in item["reason"] and "25" in item["reason"] and "50" in item["reason"]


def test_ambiguous_plan_forced_arm_that_fits_no_reading_is_not_a_fractions_major(tmp_path):
    # --arm SBRT (5 fx): neither 25 nor 50 sessions; the sessions stay unknown: not evaluated, not MAJOR
    outcome = run(_case("monaco_composite_ambiguous_dose", ["--arm", "SBRT"]), tmp_path)
    plan = outcome.plans[0]
    assert any(r["id"] == "fractions" for r in plan["needs_review"])
    assert _checks(outcome)["fractions"]["status"] == "not_evaluated"
    assert plan["status"] in ("not_evaluated", "major")  # other SBRT findings may be real; the fractions are not one


@pytest.mark.parametrize("name", ["monaco_composite_13_12_25_imrt", "monaco_sequential_13_12_imrt", "monaco_composite_ambiguous_dose"])
def test_cases_hold(name, tmp_path):
    case = load_case(CASES / "vendor" / name)
    assert not compare(case, run(case, tmp_path))


def _group_dose_plan(folder):
    """Groups of 13, 12 and 25 fractions, one FRACTION dose each (26, 24 and 50 Gy uniform): no PLAN dose."""
    from test_dose_semantics import _case

    _case(folder, [("FRACTION", 26.0, 1, (), True), ("FRACTION", 24.0, 2, (), True), ("FRACTION", 50.0, 3, (), True)],
          groups=((1, 13, [1, 2]), (2, 12, [3, 4]), (3, 25, [5, 6])))
    from sbrt_qa.load import load

    (ps,), _ = load([folder])
    return ps


def test_summed_fraction_group_doses_of_a_covering_plan_need_review(tmp_path):
    # Group 3 covers groups 1 and 2. Delivered alongside them, the three FRACTION doses add up to the course
    # (100 Gy here); if it summarises them, their sum counts the course twice (50 Gy is the truth). The
    # export does not say which: the summed dose is not judged until the reviewer says so.
    from sbrt_qa.evaluate.check import check_plan
    from sbrt_qa.protocol import find_protocol as load_protocol

    ps = _group_dose_plan(tmp_path / "p")
    assert ps.plan.fractions == 25 and ps.dose.max_gy == pytest.approx(100.0, rel=1e-6)
    protocol = load_protocol("nct06863584")
    result = check_plan(ps, protocol)
    item = next(r for r in result.needs_review if r.id == "fraction_group_doses")
    assert "group 3" in item.reason and "twice" in item.reason and "--confirm fraction_group_doses" in item.action
    assert result.status != "pass"
    confirmed = check_plan(ps, protocol, confirm=["fraction_group_doses"])
    assert not [r for r in confirmed.needs_review if r.id == "fraction_group_doses"]


def test_a_plan_dose_of_a_covering_plan_needs_no_such_review(tmp_path):
    # the planning system's PLAN dose is the whole plan whatever group 3 means
    from test_dose_semantics import _case
    from sbrt_qa.evaluate.check import check_plan
    from sbrt_qa.load import load
    from sbrt_qa.protocol import find_protocol as load_protocol

    _case(tmp_path / "p", [("PLAN", 50.0, None, (), True)], groups=((1, 13, [1, 2]), (2, 12, [3, 4]), (3, 25, [5, 6])))
    (ps,), _ = load([tmp_path / "p"])
    result = check_plan(ps, load_protocol("nct06863584"))
    assert not [r for r in result.needs_review if r.id == "fraction_group_doses"]


def test_covering_group_without_its_own_dose_makes_the_parts_the_course_prescription():
    # group 3 records no prescription: its fractions alone cover groups 1 and 2 (25 sessions), and the
    # parts to the same site add up to the course level 26 + 24 = 50 Gy in 25 fractions
    plan = _scheme_plan([(13, 26.0), (12, 24.0), (25, None)])
    assert plan.fractions == 25 and plan.fraction_scheme.kind == "covering"
    whole, _ = course_prescriptions(plan)
    assert [(p.dose_gy, p.fractions) for p in whole] == [(50.0, 25)]


def test_a_fraction_pattern_does_not_decide_and_is_said_so():
    # FractionPattern (PS3.3) gives treatment days of the week, not which weeks: it cannot tell side by side
    # from one after the other, so the ambiguous plan stays ambiguous
    ds = _plan(beam_doses=())
    _groups(ds, [(13, 26.0), (12, 24.0), (25, 60.0)])
    for g in ds.FractionGroupSequence:
        g.FractionPattern = "11111000"
        g.NumberOfFractionPatternDigitsPerDay = 1
        g.RepeatFractionCycleLength = 1
    plan = _read(ds)
    assert plan.fractions is None and plan.fraction_scheme.kind == "ambiguous"
    assert "FractionPattern" in plan.fraction_scheme.reason


def test_two_equal_groups_resolved_side_by_side_keep_both_prescriptions():
    # the reviewer says 25 sessions: both 25-fraction prescriptions run in them, each its own level
    from dataclasses import replace

    plan = _scheme_plan([(25, 50.0), (25, 50.0)])
    whole, _ = course_prescriptions(replace(plan, fractions=25))
    assert [(p.dose_gy, p.fractions) for p in whole] == [(50.0, 25), (50.0, 25)]


def test_two_equal_groups_resolved_one_after_the_other_add_up():
    # the reviewer says 50 sessions: the two prescriptions to the same site follow each other (50 + 50 Gy);
    # neither is a 'composite' of the other
    from dataclasses import replace

    plan = _scheme_plan([(25, 50.0), (25, 50.0)])
    whole, _ = course_prescriptions(replace(plan, fractions=50))
    assert [(p.dose_gy, p.fractions) for p in whole] == [(100.0, 50)]


def test_summed_doses_of_two_equal_groups_raise_no_summary_question(tmp_path):
    # with two groups neither can summarise the other: their FRACTION doses add up under either reading
    from sbrt_qa.evaluate.sessions import summed_group_doses_review

    plan = _scheme_plan([(25, 50.0), (25, 50.0)])
    assert summed_group_doses_review(plan, "FRACTION", ()) == []
