"""Issue 9 section 4: the case bank of verdicts a careful physicist wrote down first.

Each folder of ``tests/cases/bank`` is one plan (built at test time from analytic
geometry and dose, with a real planning system's header pattern) and the verdict it
deserves; every case runs through the real ``sbrt-qa check --format json``. A case the
tool does not get right yet is listed in :data:`KNOWN_WRONG` with what is missing and
runs as a strict xfail: the fix that makes it right must remove it from the list.
``python tests/case_bank.py --report`` prints the score.
"""

from __future__ import annotations

import operator

import pytest

from case_bank import all_cases, compare, run, truth

#: Cases whose verdict is not right yet, and why (remove an entry when its fix lands).
KNOWN_WRONG: dict[str, str] = {
}

CASES = all_cases("bank")
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_WRONG[case.name])] if case.name in KNOWN_WRONG else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_verdict(case, tmp_path):
    wrong = compare(case, run(case, tmp_path))
    assert not wrong, f"{case.name}: expected {case.expect['status']} because {case.why}\n  " + "\n  ".join(wrong)


def check_truths(case) -> None:
    """The figures a case's ``why`` rests on hold for its analytic geometry and dose (no engine involved)."""
    for t in case.data.get("truth", []):
        value = truth(case, t["roi"], t["metric"], rx=t.get("rx"), within=t.get("within"), exported=t.get("exported", True))
        if t["op"] == "~":
            assert abs(value - t["value"]) <= t.get("tol", 0.02) * abs(t["value"]), (case.name, t, value)
        else:
            assert OPS[t["op"]](value, t["value"]), (case.name, t, value)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES if c.data.get("truth")])
def test_design_figures_hold_independently_of_the_engine(case):
    check_truths(case)


def test_every_case_states_its_verdict_and_why():
    assert len(CASES) >= 15
    for case in CASES:
        assert case.data.get("title"), case.name
        assert case.expect.get("status"), case.name
        assert len(case.why) > 40, case.name


def test_known_wrong_names_real_cases():
    assert set(KNOWN_WRONG) <= {c.name for c in CASES}


# --------------------------------------------------------------------------- the harness itself


def _outcome(plans, code=None):
    from case_bank import Outcome

    worst = max((p["status"] for p in plans), key=lambda s: {"pass": 0, "info": 0, "minor": 1, "not_evaluated": 2, "major": 3}[s])
    return Outcome({"pass": 0, "minor": 0}.get(worst, 1) if code is None else code, {"plans": plans}, "")


def _case(expect):
    from case_bank import Case

    return Case("synthetic", "bank", None, {"expect": {"why": "harness test", **expect}})  # type: ignore[arg-type]


def _plan(status="pass", **fields):
    base = {"status": status, "results": [], "plan_checks": [], "needs_review": [], "prescription_levels": [],
            "unassigned_rois": [], "declarations": [], "point_doses": []}
    return {**base, **fields}


def test_compare_accepts_a_right_verdict_and_names_each_wrong_item():
    result = {"id": "c1", "structure": "SpinalCord", "matched_roi": "SC", "status": "major", "value": 33.0}
    right = _plan("major", results=[result], needs_review=[{"id": "structure:X", "reason": "r", "action": "--structure SpinalCord=SC"}],
                  prescription_levels=[{"role": "PTV_3000", "rois": ["PTV_3000"], "dose_gy": 30.0, "source": "protocol", "message": ""}])
    expect = {"status": "major", "constraints": {"c1": "major"}, "matched": {"SpinalCord": "SC"}, "review": ["spinalcord"],
              "level_sources": {"PTV_3000": ["protocol", "name"]}, "values": {"c1": [33.5, 0.05]}, "no_level_dose": [70.0]}
    assert compare(_case(expect), _outcome([right])) == []
    wrong = compare(_case({**expect, "status": "pass", "matched": {"SpinalCord": "Cord"}, "values": {"c1": [40.0, 0.05]}}), _outcome([right]))
    assert len(wrong) == 4  # status, exit, matched ROI, value
    assert any("plan status major, expected pass" in w for w in wrong) and any("exit 1, expected 0" in w for w in wrong)


def test_compare_reports_an_input_error_and_a_course():
    from case_bank import Outcome

    no_report = Outcome(2, None, "sbrt-qa: error: missing dose")
    assert compare(_case({"status": "input_error"}), no_report) == []
    assert compare(_case({"status": "pass"}), no_report) == ["plan status input_error, expected pass", "exit 2, expected 0 (sbrt-qa: error: missing dose)"]
    course = [_plan("major", results=[{"id": "c1", "structure": "SpinalCord", "matched_roi": "SpinalCord", "status": "major", "value": 33.0}]),
              _plan("info"), _plan("info")]
    assert compare(_case({"status": "major", "constraints": {"c1": "major"}}), _outcome(course)) == []
