"""The Python API's check and its publishers agree with the command line (issue 13).

The API and ``sbrt-qa check`` must give the same result for the same plan: the JSON plan
entry, the HTML report (but for its time stamp) and the verdict. The expected verdicts
are the engineered plans' (test_data/README): the compliant thoracic spine plan passes,
the cord overdose plan is a major deviation.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys

import pytest
from pypdf import PdfReader

from conftest import REPO, TEST_DATA
from sbrt_qa import PlanQA, QAResult, Status
from sbrt_qa.cli.main import main
from sbrt_qa.evaluate.indices import TargetIndices

SBRT, OVERDOSE = TEST_DATA / "sbrt_thoracic_spine", TEST_DATA / "sbrt_cord_overdose"
GENERATED = re.compile(r"<tr><td>Generated</td><td>[^<]*</td></tr>")


def _cli(capsys, folder, fmt: str) -> str:
    code = main(["check", str(folder), "--format", fmt])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return out


@pytest.fixture(scope="module")
def overdose() -> QAResult:
    return PlanQA.from_folder(str(OVERDOSE)).check(protocol="nct06863584")


def test_verdicts_are_the_str_enum(overdose):
    passed = PlanQA.from_folder(str(SBRT)).check(protocol="nct06863584")
    assert passed.status is Status.PASS and passed.status == "pass" and passed.passed
    assert overdose.status is Status.MAJOR and overdose.status == "major" and not overdose.passed


def test_results_data_is_the_cli_json_plan_entry(capsys, overdose):
    cli = json.loads(_cli(capsys, OVERDOSE, "json"))
    assert overdose.results_data(as_dict=True) == cli["plans"][0]
    assert json.loads(overdose.results_data(as_json=True)) == cli["plans"][0]
    assert overdose.results_data() is overdose.result  # the typed model by default


def test_publish_html_writes_the_cli_html_report(capsys, tmp_path, overdose):
    cli = _cli(capsys, OVERDOSE, "html")
    written = overdose.publish_html(tmp_path / "report.html").read_text(encoding="utf-8")
    assert GENERATED.search(cli) and GENERATED.search(written)
    assert GENERATED.sub("", written) == GENERATED.sub("", cli)
    assert "srcdoc=" in overdose._repr_html_() and "MAJOR" in overdose._repr_html_()


def test_to_frame_has_one_row_per_constraint_and_plan_check(overdose):
    frame = overdose.to_frame()
    r = overdose.result
    assert len(frame) == len(r.results) + len(r.plan_checks)
    assert (frame["kind"] == "constraint").sum() == len(r.results)
    assert (frame["kind"] == "plan_check").sum() == len(r.plan_checks)
    assert list(frame.loc[frame["kind"] == "constraint", "id"]) == [c.id for c in r.results]
    assert list(frame.loc[frame["kind"] == "plan_check", "id"]) == [c.id for c in r.plan_checks]
    cord = frame[(frame["id"] == "sbrt-cord-hytec")].iloc[0]
    assert cord["status"] == "major" and cord["value"] >= 30.0 and cord["model"] == "physical"


def test_structured_constraint_fields(overdose):
    by_id = {c.id: c for c in overdose.constraints}
    for c in overdose.constraints:
        assert c.metric_kind in ("dvh", "index") and c.model in ("physical", "EQD2", "BED")
        assert c.goal_operator in ("<", "<=", ">", ">=", "==", "report")
        assert c.metric.startswith(c.base_metric)  # the display text is the base metric and, if any, the model
        assert (c.alpha_beta_gy is not None) == (c.model != "physical")
    assert by_id["sbrt-cord-hytec"].goal_operator in ("<", "<=") and by_id["sbrt-cord-hytec"].metric_kind == "dvh"


def test_typed_indices_and_provenance(overdose):
    assert overdose.indices and all(isinstance(i, TargetIndices) for i in overdose.indices.values())
    for role, i in overdose.indices.items():
        assert i.r100 == overdose.result.indices[role]["r100"]
    p = overdose.provenance
    from sbrt_qa import __version__

    assert p.tool_version == __version__ and p.protocol_id == "nct06863584" and len(p.protocol_hash) == 64
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", p.date_of_analysis)
    assert all(i.startswith(str(OVERDOSE)) for i in p.inputs)


def test_python_warnings_are_collected_in_provenance(monkeypatch):
    import warnings

    from sbrt_qa.evaluate import check

    real = check.check_plan

    def warning_check(*args, **kw):
        warnings.warn("a library warned during the analysis", RuntimeWarning)
        return real(*args, **kw)

    monkeypatch.setattr(check, "check_plan", warning_check)
    with pytest.warns(RuntimeWarning, match="warned during the analysis"):  # recorded, and still passed on to the caller
        result = PlanQA.from_folder(SBRT).check("nct06863584")
    assert result.provenance.warnings == ("RuntimeWarning: a library warned during the analysis",)
    assert "RuntimeWarning: a library warned during the analysis" in result.warnings
    assert result.status is Status.PASS


def test_several_protocols_reuse_the_dvhs(monkeypatch):
    from sbrt_qa.dvh import analysis

    qa = PlanQA.from_folder(SBRT)
    computed = []
    real = analysis.compute_structure_dvh
    monkeypatch.setattr(analysis, "compute_structure_dvh", lambda roi, *a: computed.append(roi.number) or real(roi, *a))
    first = qa.check("nct06863584")
    n = len(computed)
    assert n == len([s for s in qa.structures if s.geometry == "CLOSED_PLANAR"])
    second = qa.check("tg101-5fx")
    qa.dvh("PTV")
    assert len(computed) == n  # no DVH computed twice
    assert first.result.protocol.id != second.result.protocol.id


def test_check_refuses_unknown_roles():
    from sbrt_qa import InputError

    qa = PlanQA.from_folder(SBRT)
    with pytest.raises(InputError, match="unknown role"):
        qa.check("nct06863584", mapping={"Cord": "SpinalCord"})


def test_plot_dvh_returns_a_figure_and_keeps_the_backend():
    code = f"""
import sys, matplotlib
matplotlib.use("ps")
from sbrt_qa import PlanQA
r = PlanQA.from_folder({str(OVERDOSE)!r}).check()
fig = r.plot_dvh()
from matplotlib.figure import Figure
assert isinstance(fig, Figure) and fig.axes[0].lines
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["ps", "False"]


def test_pdf_keeps_the_report_sections(tmp_path, overdose):
    path = overdose.publish_pdf(tmp_path / "report.pdf")
    reader = PdfReader(path)
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2  # header, verdict and tables do not fit one A4 page
    assert "MAJOR: deviation unacceptable" in pages[0] and "sbrt-qa plan check" in pages[0]
    text = "\n".join(pages)
    positions = [text.find(h) for h in ("Verdict", "Prescription", "Constraints", "Plan checks", "DVH", "Notes")]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "Cumulative DVH; markers" in text  # the DVH plot is drawn
    cord = next(c for c in overdose.constraints if c.id == "sbrt-cord-hytec")
    assert cord.metric in text and "Spinal Cord" in text


def test_needs_review_in_pdf(tmp_path):
    from sbrt_qa.results import ReviewItem

    # No ROI for the 30 Gy PTV: its required coverage cannot be evaluated, so the plan needs review.
    result = PlanQA.from_folder(TEST_DATA / "sbrt_missing_ptv").check()
    assert result.status is Status.NOT_EVALUATED
    result.result.needs_review.append(ReviewItem("target:PTV_3000", "no ROI matches PTV_3000", "--structure PTV_3000=ROI"))
    pages = [p.extract_text() for p in PdfReader(result.publish_pdf(tmp_path / "r.pdf")).pages]
    assert "NEEDS REVIEW" in pages[0]
    text = "\n".join(pages)
    assert text.find("Needs review") < text.find("target:PTV_3000") < text.find("Prescription")
    assert "--structure PTV_3000=ROI" in text


def test_example_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(REPO / "examples" / "python_api.py"), run_name="__main__")
    assert (tmp_path / "sbrt-qa-demo.html").is_file() and (tmp_path / "sbrt-qa-demo.pdf").read_bytes()[:5] == b"%PDF-"


def test_check_all_is_the_cli_run_for_a_folder_of_plans(capsys):
    cli = json.loads(_cli(capsys, TEST_DATA, "json"))
    qa = PlanQA.from_folder(str(TEST_DATA))
    assert len(qa.plans) == len(cli["plans"]) == 5
    first = [r.results_data(as_dict=True) for r in qa.check_all("nct06863584")]
    assert first == cli["plans"]
    again = [r.results_data(as_dict=True) for r in qa.check_all("nct06863584")]
    assert again == first  # checking leaves the loaded plan sets as they were
