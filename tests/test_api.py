"""The Python API (issue 13): PlanQA loading, DVH objects and TG-263 metrics against closed-form truth.

The truth is analytical (tests/analytic.py): a sphere in a linear dose gradient, whose
DVH under the slab volume model has a closed form that never touches the code under test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from analytic import Truth, box, sphere
from conftest import REPO, write_phantom
from sbrt_qa import DVH, MetricError, PlanQA

D0, G = 30.0, 0.5  # Gy at the origin, Gy/mm along y
ORIGIN, SPACING, SHAPE = (-40.13, -39.71, -41.37), (2.5, 2.5, 2.5), (34, 34, 34)
DOSE_TOL_REL, VOLUME_TOL_REL = 0.01, 0.001


def _sphere_case(folder: Path, names=("OBJ", "BOX")) -> tuple[Path, Truth]:
    """A sphere (r 15 mm) and a box in D = 30 Gy + 0.5 Gy/mm * y, with an RT Plan prescribing 30 Gy in 5 fractions."""
    obj = sphere(15.0, 2.0)
    other = box((5.0, 5.0), np.arange(-6.0, 6.1, 2.0), 2.0)
    folder.mkdir(parents=True, exist_ok=True)
    write_phantom(folder, {names[0]: [(float(z), obj.contour(float(z))) for z in obj.planes],
                           names[1]: [(float(z), other.contour(float(z))) for z in other.planes]},
                  lambda x, y, z: D0 + G * y, ORIGIN, SPACING, SHAPE, with_plan=True, prescription=30.0)
    return folder, Truth(obj, 1, D0, G)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return _sphere_case(tmp_path_factory.mktemp("api") / "case")


def test_dvh_by_name_matches_closed_form(case):
    folder, truth = case
    qa = PlanQA.from_folder(folder)
    d = qa.dvh("OBJ")
    assert isinstance(d, DVH) and d.roi_number == 1
    assert d.volume_cc == pytest.approx(truth.volume_cc, rel=VOLUME_TOL_REL)
    assert d.dose_at("95%") == pytest.approx(truth.dose_at_percent(95), rel=DOSE_TOL_REL)
    assert d.dose_at("0.035cc") == pytest.approx(truth.dose_at_volume_cc(0.035), rel=DOSE_TOL_REL)
    assert d.dose_at("95%", unit="%") == pytest.approx(100 * truth.dose_at_percent(95) / 30.0, rel=DOSE_TOL_REL)
    v33 = truth.v_at_least_cc(33.0)
    assert d.volume_at("33Gy") == pytest.approx(v33, rel=0.01)
    assert d.volume_at("33Gy", unit="%") == pytest.approx(100 * v33 / truth.volume_cc, rel=0.01)
    assert d.volume_at("3300cGy", unit="cc") == pytest.approx(v33, rel=0.01)
    assert d.volume_at("100%", unit="%") == pytest.approx(100 * truth.v_at_least_cc(30.0) / truth.volume_cc, rel=0.01)
    assert d.dmean_gy == pytest.approx(truth.dmean, rel=DOSE_TOL_REL)
    c = d.curve
    assert c.dose_gy[0] == 0.0 and c.volume_cc[0] == pytest.approx(truth.volume_cc, rel=VOLUME_TOL_REL)
    assert c.volume_percent[0] == pytest.approx(100.0)
    assert np.all(np.diff(c.volume_cc) <= 1e-12)
    assert "D95%[Gy]" in d.describe() and "OBJ" in d.describe()


def test_dvh_by_number_case_insensitive_and_clear_errors(case):
    folder, _ = case
    qa = PlanQA.from_folder(folder)
    assert qa.dvh(1).name == "OBJ"
    assert qa.dvh("obj").roi_number == 1
    with pytest.raises(KeyError, match=r"no ROI 'PTV'.*OBJ \(#1\), BOX \(#2\)"):
        qa.dvh("PTV")
    with pytest.raises(MetricError, match="unit"):
        qa.dvh("OBJ").dose_at("95")


def test_duplicate_names_are_ambiguous_and_resolved_by_number(tmp_path):
    folder, truth = _sphere_case(tmp_path / "dup")
    rs = folder / "rs.dcm"
    ds = pydicom.dcmread(rs)
    ds.StructureSetROISequence[1].ROIName = "OBJ"  # the box now shares the sphere's name
    ds.save_as(rs)
    qa = PlanQA.from_folder(folder)
    with pytest.raises(KeyError, match=r"ambiguous: 2 ROIs match \(#1 'OBJ', #2 'OBJ'\).*qa\.dvh\(1\)"):
        qa.dvh("OBJ")
    assert qa.dvh(1).volume_cc == pytest.approx(truth.volume_cc, rel=VOLUME_TOL_REL)
    assert qa.dvh(2).volume_cc == pytest.approx(10 * 10 * 14 / 1000.0, rel=VOLUME_TOL_REL)  # 10 x 10 mm, 7 slabs of 2 mm


def test_compare_gives_the_differences(case):
    folder, _ = case
    qa = PlanQA.from_folder(folder)
    a, b = qa.dvh("OBJ"), qa.dvh("BOX")
    diff = a.compare(b)
    assert diff["volume[cc]"]["difference"] == pytest.approx(b.volume_cc - a.volume_cc)
    assert diff["Dmax[Gy]"]["this"] == a.dmax_gy and diff["Dmax[Gy]"]["other"] == b.dmax_gy


def test_metrics_for_every_structure(case):
    folder, truth = case
    qa = PlanQA.from_folder(folder)
    table = qa.metrics(["D95%[Gy]", "V33Gy[%]"])
    assert [r["structure"] for r in table] == ["OBJ", "BOX"]
    assert table["OBJ"]["D95%[Gy]"] == pytest.approx(truth.dose_at_percent(95), rel=DOSE_TOL_REL)
    assert table["OBJ"]["V33Gy[%]"] == pytest.approx(100 * truth.v_at_least_cc(33.0) / truth.volume_cc, rel=0.01)
    # The box spans y in [-5, 5] mm: doses 27.5 to 32.5 Gy, none reaches 33 Gy.
    assert table[2]["V33Gy[%]"] == pytest.approx(0.0, abs=1e-9)
    frame = table.to_frame()
    assert list(frame["structure"]) == ["OBJ", "BOX"] and "D95%[Gy]" in frame.columns
    with pytest.raises(MetricError, match="TG-263"):
        qa.metrics(["D95"])


def test_from_datasets_in_memory_gives_the_same_figures(case):
    folder, _ = case
    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    mem = PlanQA.from_datasets(datasets)
    disk = PlanQA.from_folder(folder)
    assert mem.structures == disk.structures
    assert mem.dvh("OBJ").dose_at("95%") == disk.dvh("OBJ").dose_at("95%")
    assert mem.dvh("BOX").volume_at("30Gy", unit="%") == disk.dvh("BOX").volume_at("30Gy", unit="%")
    assert all(str(p).startswith("<memory>") for p in mem.plan_set.paths)
    assert mem.prescription_gy == pytest.approx(30.0)


def test_several_plan_sets_are_listed_in_plans(tmp_path):
    _sphere_case(tmp_path / "a")
    _sphere_case(tmp_path / "b")
    qa = PlanQA.from_folder(tmp_path)
    assert len(qa.plans) == 2
    with pytest.raises(ValueError, match=r"2 plan sets were loaded.*qa\.plans"):
        qa.dvh("OBJ")
    assert qa.plans[0].dvh("OBJ").volume_cc == pytest.approx(qa.plans[1].dvh("OBJ").volume_cc)


def test_import_is_light_and_no_library_module_sets_the_backend():
    code = "import sys, sbrt_qa; print(sorted(m for m in ('numba', 'matplotlib', 'scipy') if m in sys.modules)); print(sbrt_qa.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    assert "PlanQA" in out[1]
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "sbrt_qa").rglob("*.py") if re.search(r"matplotlib\.use\(|\bpyplot\b.*import|import matplotlib\.pyplot", p.read_text())]
    assert offenders == []


def test_plotting_leaves_the_backend_and_pyplot_alone(tmp_path, case):
    folder, _ = case
    code = f"""
import sys, matplotlib
matplotlib.use("svg")  # the caller's choice, which the library must keep
from sbrt_qa import PlanQA
from sbrt_qa.dvh.analysis import analyze
from sbrt_qa.report.dvh_plot import plot_dvhs
from sbrt_qa.results import DVHRun
qa = PlanQA.from_folder({str(folder)!r})
fig = qa.dvh("OBJ").plot()
ax = fig.axes[0]
qa.dvh("BOX").plot(ax=ax)
assert len(ax.lines) == 2, ax.lines
plot_dvhs(DVHRun("x", [analyze(qa.plan_set, curve=True)]), {str(tmp_path / 'dvh.png')!r})
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "False"]
    assert (tmp_path / "dvh.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_incomplete_plan_sets_are_listed_with_a_warning(tmp_path):
    from sbrt_qa.api import IncompletePlanSetWarning

    _sphere_case(tmp_path / "good")
    broken, _ = _sphere_case(tmp_path / "broken")
    (broken / "rs.dcm").unlink()  # its dose and plan lose their structure set
    with pytest.warns(IncompletePlanSetWarning, match="1 incomplete plan set"):
        qa = PlanQA.from_folder(tmp_path)
    assert len(qa.plans) == 1 and len(qa.incomplete) == 1
    assert "broken" in str(qa.incomplete[0].path) and "incomplete" in repr(qa)


@pytest.mark.parametrize(("edit", "expected", "by_reference"), [
    (None, "reference", True),
    ("plan names no structure set", "structure_set_by_frame_of_reference", False),
    ("dose names no plan", "plan_by_frame_of_reference", False),
    ("no plan", "no_plan", False),
])
def test_pairing_provenance_is_an_enum(tmp_path, edit, expected, by_reference):
    from sbrt_qa import Pairing

    folder, _ = _sphere_case(tmp_path / "p")
    if edit == "plan names no structure set":
        ds = pydicom.dcmread(folder / "rp.dcm")
        del ds.ReferencedStructureSetSequence
        ds.save_as(folder / "rp.dcm")
    elif edit == "dose names no plan":
        ds = pydicom.dcmread(folder / "rd.dcm")
        del ds.ReferencedRTPlanSequence
        ds.save_as(folder / "rd.dcm")
    elif edit == "no plan":
        (folder / "rp.dcm").unlink()
    qa = PlanQA.from_folder(folder)
    assert qa.pairing is Pairing(expected) and qa.plan_set.linked_by_reference is by_reference
    from sbrt_qa.dvh.analysis import analyze
    from sbrt_qa.results import DVHRun

    assert DVHRun("x", [analyze(qa.plan_set)]).to_dict()["plans"][0]["provenance"]["pairing_kind"] == expected
    if edit != "no plan":  # without an RT Plan the plan set is not checked alone against an arm
        references = next(c for c in qa.check("nct06863584").result.plan_checks if c.id == "references")
        assert references.status == ("pass" if by_reference else "minor")  # paired by frame of reference only: a variation
