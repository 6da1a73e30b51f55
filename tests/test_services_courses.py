"""Courses through every service: batch, the listener's checker and the watch folder judge the
same plan sets and courses as ``sbrt-qa check``, because all of them go through
:meth:`sbrt_qa.api.PlanQA.plans_for` and :meth:`sbrt_qa.api.PlanQA.check`.

The plans are those of test_courses: part 1 gives a uniform 15 Gy in 3 fractions, part 2 a
uniform 12 Gy in 2, so the cord receives 15, 12 and, as a course, 27 Gy in 5 fractions.
Expected verdicts, written before running the tool:

- linked course (PREDECESSOR, or a MULTI_PLAN dose) on hytec-spine-cord: the course is
  MAJOR (cord 27 Gy > 25.3 Gy, the 5-fraction limit); each part is info, never a deviation.
- unlinked plans on nct06863584 (3 + 2 fractions make its 5-fraction arm, neither fits an
  arm alone): a course to confirm, so review item ``course`` and no PASS; parts info.
- a part received before the rest of its course is first judged alone; when the rest
  arrives it is judged again as a part (its inputs changed: its course's files), not
  reported as "already checked".
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from sbrt_qa.batch.jobs import find_jobs, run_job
from sbrt_qa.cli.main import main
from sbrt_qa.listen.checker import PlanChecker
from sbrt_qa.listen.journal import Journal
from sbrt_qa.listen.watch import Watcher
from sbrt_qa.protocol import find_protocol
from test_courses import _course_folder
from test_listen import Clock, reports

LIMIT_5FX = 25.3  # hytec-spine-cord, 5 fractions: cord Dmax <= 25.3 Gy
COURSE_CORD_GY = 15.0 + 12.0


def _cli_plans(folder: Path, protocol: str, capsys) -> list[dict]:
    code = main(["check", str(folder), "--protocol", protocol, "--format", "json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return json.loads(out)["plans"]


def _report_plans(folder: Path) -> list[dict]:
    return [p for r in reports(folder) for p in json.loads(r.read_text())["plans"]]


def _is_course(plan: dict) -> bool:
    return plan["plan"]["label"].startswith("course:")


def _cord(plan: dict) -> dict:
    (r,) = [r for r in plan["results"] if r["structure"] == "SpinalCord" and r["value"] is not None]
    return r


def _checker(tmp_path: Path, protocol: str) -> PlanChecker:
    return PlanChecker(tmp_path / "reports", find_protocol(protocol), logging.getLogger("test"), Journal(tmp_path / "journal.sqlite"))


def _verdict_view(plan: dict) -> dict:
    """What the verdict consists of, without paths and times (the services read copies)."""
    return {"status": plan["status"], "arm": plan["protocol"]["arm"], "fractions": plan["plan"]["fractions"],
            "results": [(r["id"], r["status"], r["value"]) for r in plan["results"]],
            "plan_checks": [(c["id"], c["status"]) for c in plan["plan_checks"]],
            "needs_review": [i["id"] for i in plan["needs_review"]]}


@pytest.mark.parametrize("multi_plan", [False, True])
def test_the_listener_judges_a_linked_course_and_its_parts(tmp_path, multi_plan):
    folder = _course_folder(tmp_path, multi_plan=multi_plan)
    outcomes = _checker(tmp_path, "hytec-spine-cord").check_folder(folder)
    assert [o.error for o in outcomes] == [None] * len(outcomes)
    plans = _report_plans(tmp_path / "reports")
    (course,) = [p for p in plans if _is_course(p)]
    assert course["status"] == "major" and course["plan"]["fractions"] == 5
    assert _cord(course)["value"] == pytest.approx(COURSE_CORD_GY, abs=1e-3) and _cord(course)["value"] > LIMIT_5FX
    parts = [p for p in plans if not _is_course(p)]
    assert sorted(p["plan"]["label"] for p in parts) == ["P1", "P2"]
    assert {p["status"] for p in parts} == {"info"}


def test_every_service_finds_the_course_the_protocol_reveals_as_check_does(tmp_path, capsys):
    folder = _course_folder(tmp_path, link=False)
    cli = _cli_plans(folder, "nct06863584", capsys)
    (cli_course,) = [p for p in cli if _is_course(p)]
    assert "course" in [i["id"] for i in cli_course["needs_review"]] and cli_course["status"] != "pass"
    assert sorted(p["status"] for p in cli if not _is_course(p)) == ["info", "info"]

    # listener's checker
    _checker(tmp_path / "listen", "nct06863584").check_folder(folder)
    listened = _report_plans(tmp_path / "listen" / "reports")

    # batch
    protocol = find_protocol("nct06863584")
    jobs = find_jobs(tmp_path / "course", protocol)
    assert sorted(j.label for j in jobs) == ["P1", "P2", "course: P1 + P2"]
    outcomes = [run_job(j, str(protocol.path), str(tmp_path / "batch")) for j in jobs]
    assert [o.get("error") for o in outcomes] == [None, None, None]
    batched = [p for o in outcomes for p in json.loads(Path(o["report_json"]).read_text())["plans"]]

    # watch folder
    watch, out, clock = tmp_path / "export", tmp_path / "watch-reports", Clock()
    watch.mkdir()
    shutil.copytree(folder, watch / "case")
    watcher = Watcher(watch, out, protocol, stable_seconds=1.0, clock=clock)
    watcher.scan()
    clock.now += 5
    assert watcher.scan() == ["case"]
    watched = _report_plans(out)

    for service in (listened, batched, watched):
        assert sorted(p["plan"]["label"] for p in service) == sorted(p["plan"]["label"] for p in cli)
        for plan in service:
            (same,) = [p for p in cli if p["plan"]["label"] == plan["plan"]["label"]]
            assert _verdict_view(plan) == _verdict_view(same)


def test_a_part_checked_alone_is_judged_again_when_its_course_arrives(tmp_path):
    folder = _course_folder(tmp_path)
    later = tmp_path / "later"
    later.mkdir()
    for name in ("rp_P2.dcm", "rd_p2.dcm"):
        shutil.move(folder / name, later / name)
    checker = _checker(tmp_path, "hytec-spine-cord")
    (alone,) = checker.check_folder(folder)
    assert alone.status == "pass" and not alone.earlier  # 15 Gy in 3 fractions: cord under the 3-fraction limit
    for path in later.iterdir():
        shutil.move(path, folder / path.name)
    outcomes = checker.check_folder(folder)
    assert not any(o.earlier for o in outcomes)
    assert sorted(o.status for o in outcomes) == ["info", "info", "major"]
    assert [o.plan_uid for o in outcomes if o.status == "info"].count(alone.plan_uid) == 1
    assert all(o.earlier for o in checker.check_folder(folder))  # nothing new: each version once


def test_a_course_waiting_for_a_part_s_dose_is_not_an_error(tmp_path, caplog):
    """The listener receives objects one by one: a course whose part has no dose yet is incomplete, not wrong."""
    caplog.set_level(logging.INFO)
    folder = _course_folder(tmp_path)
    (folder / "rd_p2.dcm").unlink()
    outcomes = _checker(tmp_path, "hytec-spine-cord").check_folder(folder)
    assert all(o.status != "error" for o in outcomes)
    assert "incomplete or unpaired" in caplog.text
    assert not list((tmp_path / "reports").glob("*.error.json"))


def test_plans_whose_summed_dose_is_refused_are_judged_alone_with_the_reason(tmp_path, monkeypatch):
    """Defensive: a course the protocol reveals whose summed dose the loader refuses (grids apart,
    a fraction-count contradiction) must not stop the folder; each plan is judged alone and says why."""
    from sbrt_qa.api import PlanQA
    from sbrt_qa.errors import InputError
    from sbrt_qa.load import planset

    def refuse(dose, plan, structures, label):
        if label.startswith("course:"):
            raise InputError(f"{label}: refused for the test")

    monkeypatch.setattr(planset, "_fraction_factor_check", refuse)
    qa = PlanQA.from_folder(_course_folder(tmp_path, link=False))
    results = qa.check_all("nct06863584")
    assert sorted(r.result.plan.label for r in results) == ["P1", "P2"]
    for r in results:
        assert r.status != "info" and any("summed dose was refused" in n for n in r.result.notes)
