"""Issue 10 section 2: dose values that contradict a level's dose by the fraction count stop.

Pinnacle and RayStation record no prescription, so the loader's test (recorded
prescription) never runs for them; the evaluation applies it to each level's dose once it
is decided (protocol, a dose in the target's name, the reviewer's --rx).

Expected outcomes, by hand, for the ``spine`` scene (tests/case_bank.py, PROFILE_30_35:
36.6 Gy at the centre voxel, PTV_3500 at 35.7-36.6 Gy, PTV_3000 at 30.9-36.6 Gy; 5 fx
identify the SBRT arm of nct06863584, levels PTV_3000 30 Gy and PTV_3500 35 Gy from the
protocol):

* dose x 0.2 (one session labelled PLAN): grid maximum 7.32 Gy = 0.209 x 35 Gy, outside
  0.9-3 and inside 0.18-0.6 (the window / 5); medians about 0.21 x their levels, inside
  0.15-0.32: stopped.
* dose x 5: maximum 183 Gy = 5.23 x 35 Gy, inside 4.5-15; medians about 5.2 x, inside
  3.75-8: stopped.
* dose x 1: compliant, pass, not stopped.
* dose x 0.85: maximum 31.1 Gy = 0.889 x 35 Gy, outside 0.9-3 but in neither factor
  window: a real under-dosed plan, judged (coverage MAJOR), not stopped.
"""

from __future__ import annotations

import pytest

from case_bank import CASES, build, load_case
from sbrt_qa import PlanQA
from sbrt_qa.errors import InputError, PlanSetStopped
from sbrt_qa.load.course import MAX_WINDOW, MEDIAN_WINDOW, fraction_factor
from sbrt_qa.status import Status

PROTOCOL = "nct06863584"


def _export(tmp_path, name: str, **plan) -> str:
    """A vendor case written as DICOM, with ``plan`` overriding its [plan] table."""
    case = load_case(CASES / "vendor" / name)
    case.data["plan"] = {**case.data.get("plan", {}), **plan}
    return str(build(case, tmp_path / name))


def test_the_windows_are_the_documented_engineering_bounds():
    assert MAX_WINDOW == (0.9, 3.0) and MEDIAN_WINDOW == (0.75, 1.6)


def test_fraction_factor_by_hand():
    # 35 Gy level, 5 fx: whole course 31.5-105 Gy; one session 6.3-21 Gy; five courses 157.5-525 Gy (grid maximum)
    assert fraction_factor(35.0, 5, 7.32, [(7.2, 35.0), (6.4, 30.0)]) == "session"
    assert fraction_factor(35.0, 5, 183.0, [(180.0, 35.0), (159.0, 30.0)]) == "multiplied"
    assert fraction_factor(35.0, 5, 31.1, [(29.8, 35.0)]) is None  # 0.85 x: under-dosed, not the fraction count
    assert fraction_factor(35.0, 5, 36.6, [(36.1, 35.0)]) is None
    # one target whose median says "whole course" (PTV_3000 at 30 Gy = 1.0 x): nothing concluded
    assert fraction_factor(35.0, 5, 7.32, [(7.2, 35.0), (30.0, 30.0)]) is None
    assert fraction_factor(35.0, 1, 7.0) is None  # one fraction: no factor to tell


def test_one_session_labelled_plan_without_prescription_stops(tmp_path):
    folder = _export(tmp_path, "pinnacle_compliant_fraction_dose", dose_scale=0.2, summation="PLAN", label="Session")
    qa = PlanQA.from_folder(folder)
    with pytest.raises(PlanSetStopped) as info:
        qa.check(protocol=PROTOCOL)
    text = str(info.value)
    assert info.value.path and info.value.path.endswith("RD.Session.dcm")
    for words in ("35 Gy (protocol)", "30 Gy (protocol)", "the plan records no prescription", "dose grid maximum 7.32 Gy",
                  "0.209 x", "PTV_3500's median", "one session of 5 fractions", "DoseSummationType PLAN",
                  "engineering bounds of this tool, not clinical limits", "--rx"):
        assert words in text, words
    with pytest.raises(PlanSetStopped):  # check_all on the one plan set: nothing evaluated, the same error (exit 2)
        qa.check_all(protocol=PROTOCOL)


def test_five_times_the_course_stops(tmp_path):
    folder = _export(tmp_path, "raystation_compliant_confirmed", dose_scale=5.0)
    with pytest.raises(PlanSetStopped, match="5 times the whole course"):
        PlanQA.from_folder(folder).check(protocol=PROTOCOL, confirm=["heterogeneity_correction"])


def test_the_reviewers_rx_is_tested_too(tmp_path):
    folder = _export(tmp_path, "raystation_compliant_confirmed", dose_scale=0.2)
    with pytest.raises(PlanSetStopped, match=r"35 Gy \(reviewer: --rx 35Gy/5\)"):
        PlanQA.from_folder(folder).check(protocol=PROTOCOL, rx="35Gy/5", confirm=["heterogeneity_correction"])


def test_compliant_dose_is_unaffected(tmp_path):
    folder = _export(tmp_path, "pinnacle_compliant_fraction_dose")
    assert PlanQA.from_folder(folder).check(protocol=PROTOCOL).status == Status.PASS


def test_realistically_underdosed_plan_is_judged_not_stopped(tmp_path):
    folder = _export(tmp_path, "pinnacle_underdosed_085_no_rx")
    result = PlanQA.from_folder(folder).check(protocol=PROTOCOL)
    assert result.status == Status.MAJOR
    statuses = {r.id: r.status for r in result.result.results}
    assert statuses["sbrt-PTV_3000-V100pct-pct"] == Status.MAJOR and statuses["sbrt-PTV_3500-V100pct-pct"] == Status.MAJOR


def test_a_stopped_plan_set_never_stops_the_others(tmp_path):
    folder = _export(tmp_path, "pinnacle_folder_good_plus_session_dose")
    results = PlanQA.from_folder(folder).check_all(protocol=PROTOCOL)
    by_label = {r.result.plan.label: r.result for r in results}
    assert by_label["Final"].status == Status.PASS
    stopped = next(r for label, r in by_label.items() if "RD.Session.dcm" in str(label))
    assert stopped.status == Status.NOT_EVALUATED
    assert "one session of 5 fractions" in stopped.error and "engineering bounds" in stopped.error


def test_every_plan_set_stopped_is_an_input_error(tmp_path):
    case = load_case(CASES / "vendor" / "pinnacle_folder_good_plus_session_dose")
    case.data["exports"] = [{"label": "SessionA", "dose_scale": 0.2, "summation": "PLAN"},
                            {"label": "SessionB", "dose_scale": 0.2, "summation": "PLAN"}]
    folder = build(case, tmp_path / "both")
    with pytest.raises(InputError, match="no plan set could be evaluated: .*one session of 5 fractions.*and 1 more"):
        PlanQA.from_folder(str(folder)).check_all(protocol=PROTOCOL)
