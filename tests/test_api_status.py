"""One status enum through the typed result model (issue 13).

The plan's status, every constraint's and every plan check's are :class:`sbrt_qa.Status`
members, whichever module set them; a status outside the enum is refused where it is
set; the JSON still writes the plain values. Expected verdict (test_data/README): the cord
overdose plan is a major deviation, its cord constraint major.
"""

from __future__ import annotations

import json

import pytest

from conftest import TEST_DATA
from sbrt_qa import PlanQA, Status
from sbrt_qa.results import PlanCheckResult


def test_every_status_in_the_model_is_the_enum():
    result = PlanQA.from_folder(TEST_DATA / "sbrt_cord_overdose").check("nct06863584")
    model = result.result
    assert model.status is Status.MAJOR
    assert all(type(c.status) is Status for c in model.results) and all(type(c.status) is Status for c in model.plan_checks)
    assert next(c for c in model.results if c.id == "sbrt-cord-hytec").status is Status.MAJOR
    entry = result.results_data(as_dict=True)
    assert json.loads(json.dumps(entry))["status"] == "major"
    assert {r["status"] for r in json.loads(result.results_data(as_json=True))["results"]} <= {s.value for s in Status}


def test_a_status_outside_the_enum_is_refused():
    check = PlanCheckResult("x", None, None, "pass", "")
    check.status = "minor"
    assert check.status is Status.MINOR
    with pytest.raises(ValueError, match="'passed' is not a valid Status"):
        PlanCheckResult("x", None, None, "passed", "")


def test_frame_carries_the_structured_constraint_fields():
    result = PlanQA.from_folder(TEST_DATA / "sbrt_cord_overdose").check("nct06863584")
    frame = result.to_frame()
    rows = frame[frame["kind"] == "constraint"]
    for column in ("base_metric", "metric_kind", "model", "alpha_beta_gy", "goal_operator", "goal_limit", "variation_operator"):
        assert column in frame.columns
    assert list(rows["goal_operator"]) == [c.goal_operator for c in result.constraints]
    assert list(rows["base_metric"]) == [c.base_metric for c in result.constraints]
    assert frame[frame["kind"] == "plan_check"]["goal_operator"].isna().all()


def test_results_is_the_cli_text_report(capsys):
    from sbrt_qa.cli.main import main

    folder = TEST_DATA / "sbrt_cord_overdose"
    assert main(["check", str(folder), "--protocol", "nct06863584", "--format", "text"]) == 1  # MAJOR
    cli = capsys.readouterr().out
    result = PlanQA.from_folder(folder).check("nct06863584")
    assert result.results() == cli and cli.startswith("MAJOR: deviation unacceptable")
    assert main(["check", str(folder), "--protocol", "nct06863584", "--format", "text", "--all"]) == 1
    assert result.results(show_all=True) == capsys.readouterr().out
