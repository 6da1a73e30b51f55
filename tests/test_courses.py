"""Courses: plans judged together on the course dose (MULTI_PLAN, or the parts summed on a common
grid), against the arm of the total fractions; each part alone is information, never a deviation.

Truth by hand: uniform and linear dose fields (trilinear interpolation reproduces a linear
field exactly, so a sum on an offset grid is known at every voxel centre).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sbrt_qa.cli.main import main
from sbrt_qa.load.course import course_plan, sum_on_common_grid
from sbrt_qa.load.discovery import discover
from sbrt_qa.load.planset import parts_pairing
from sbrt_qa.load.rtdose import read_dose_grid
from sbrt_qa.load.rtplan import PlanInfo, Prescription
from sbrt_qa.synthetic import dicom_factory as f

ANG = np.linspace(0, 2 * np.pi, 64, endpoint=False)


def _circle(cx, cy, r):
    return np.column_stack([cx + r * np.cos(ANG), cy + r * np.sin(ANG)])


def _grid_file(tmp_path, name, values, origin, spacing=(5.0, 5.0, 5.0)):
    patient = f.Patient(frame_of_reference_uid=f.uid("course-frame"))
    path = f.save(f.rtdose(values, origin, spacing, patient, sop_uid=f.uid(name + str(tmp_path))), tmp_path / f"{name}.dcm")
    return read_dose_grid(discover([path]).objects[0])


def test_parts_on_offset_grids_sum_exactly_at_voxel_centres(tmp_path):
    """Linear fields on grids offset by half a voxel: the sum at the first grid's centres inside
    the second grid is L1 + L2 there (a half-voxel shift would add 0.5 x 5 mm x gradient)."""
    def axes(origin, n):
        return [origin[a] + 5.0 * np.arange(n) for a in range(3)]

    def field(origin, n, fn):
        x, y, z = axes(origin, n)
        zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
        return fn(xx, yy, zz)

    l1 = lambda x, y, z: 20 + 0.1 * x + 0.2 * y + 0.3 * z  # noqa: E731
    l2 = lambda x, y, z: 12 - 0.05 * x + 0.1 * z  # noqa: E731
    a = _grid_file(tmp_path, "a", field((-25.0,) * 3, 11, l1), (-25.0,) * 3)
    b = _grid_file(tmp_path, "b", field((-22.5,) * 3, 11, l2), (-22.5,) * 3)
    total = sum_on_common_grid([a, b])
    # a's centres inside b's centres (-22.5 .. 27.5): -20 .. 25 on every axis
    assert total.x0 == pytest.approx(-20.0) and total.y0 == pytest.approx(-20.0) and total.z[0] == pytest.approx(-20.0)
    assert total.shape == (10, 10, 10)
    xs = -20.0 + 5.0 * np.arange(10)
    zz, yy, xx = np.meshgrid(xs, xs, xs, indexing="ij")
    np.testing.assert_allclose(total.dose_gy, l1(xx, yy, zz) + l2(xx, yy, zz), atol=2e-5)
    assert total.summation_type == "MULTI_PLAN" and len(total.sop_instance_uids) == 2


def _info(label, fractions, rx, roi=1):
    return PlanInfo(f"uid-{label}", label, label, rx, None, fractions, [], [], "APPROVED", "HFS", None, None,
                    prescriptions=[Prescription(rx, roi, "PTV", "VOLUME", 1, 1, fractions)], fraction_groups=[(1, fractions)])


def test_sequential_parts_add_fractions_and_prescriptions_to_one_target():
    plan = course_plan([_info("P1", 3, 15.0), _info("P2", 2, 12.0)], "PREDECESSOR")
    assert plan.fractions == 5 and plan.prescription_gy == pytest.approx(27.0)
    assert [(p.dose_gy, p.fractions) for p in plan.prescriptions] == [(27.0, 5)]


def test_concurrent_parts_share_their_sessions():
    """Brainlab: one plan per metastasis, 5 fractions each, delivered in the same 5 sessions."""
    plan = course_plan([_info("M1", 5, 40.0, roi=1), _info("M2", 5, 43.0, roi=2)], "CONCURRENT")
    assert plan.fractions == 5
    assert sorted(p.dose_gy for p in plan.prescriptions) == [40.0, 43.0]


# --- a course whose summed cord dose is over the limit while each part is under it -------

CORD_5FX_LIMIT = 25.3  # hytec-spine-cord, arm "5 fx": cord Dmax <= 25.3 Gy (3 fx: 20.3, 2 fx: 17)


def _course_folder(tmp_path: Path, *, own_doses=True, multi_plan=False, link=True) -> Path:
    """Part 1: 15 Gy in 3 fractions; part 2: 12 Gy in 2, on a grid offset by 2.5 mm. Uniform doses,
    so the cord's maximum is 15, 12, and 27 Gy for the course."""
    folder = tmp_path / "course"
    folder.mkdir()
    patient = f.Patient(study_uid=f.uid("course-study"), frame_of_reference_uid=f.uid("course-for"))
    rois = [f.RoiSpec("PTV", 1, "PTV", [(float(z), _circle(0, 0, 8)) for z in range(-6, 7, 2)]),
            f.RoiSpec("SpinalCord", 2, "ORGAN", [(float(z), _circle(0, 15, 3)) for z in range(-10, 11, 2)])]
    rs = f.rtstruct(rois, patient, sop_uid=f.uid("course-rs"))
    f.save(rs, folder / "rs.dcm")
    plans = []
    for label, fx, rx in (("P1", 3, 15.0), ("P2", 2, 12.0)):
        rp = f.rtplan(patient, label=label, fractions=fx, targets=[("PTV", rx)], beams=[f.BeamSpec("B1")],
                      structure_set_uid=rs.SOPInstanceUID, sop_uid=f.uid("course-" + label))
        plans.append(rp)
    if link:
        rel = Dataset()
        rel.ReferencedSOPClassUID = plans[0].SOPClassUID
        rel.ReferencedSOPInstanceUID = plans[0].SOPInstanceUID
        rel.RTPlanRelationship = "PREDECESSOR"
        plans[1].ReferencedRTPlanSequence = Sequence([rel])
    for rp in plans:
        f.save(rp, folder / f"rp_{rp.RTPlanLabel}.dcm")
    if own_doses:
        f.save(f.rtdose(np.full((11, 11, 11), 15.0), (-25.0,) * 3, (5.0,) * 3, patient, sop_uid=f.uid("course-rd1"),
                        referenced_plan_uid=plans[0].SOPInstanceUID), folder / "rd_p1.dcm")
        f.save(f.rtdose(np.full((12, 12, 12), 12.0), (-27.5,) * 3, (5.0,) * 3, patient, sop_uid=f.uid("course-rd2"),
                        referenced_plan_uid=plans[1].SOPInstanceUID), folder / "rd_p2.dcm")
    if multi_plan:
        md = f.rtdose(np.full((11, 11, 11), 27.0), (-25.0,) * 3, (5.0,) * 3, patient, sop_uid=f.uid("course-sum"), summation="MULTI_PLAN")
        refs = []
        for rp in plans:
            r = Dataset()
            r.ReferencedSOPClassUID = rp.SOPClassUID
            r.ReferencedSOPInstanceUID = rp.SOPInstanceUID
            refs.append(r)
        md.ReferencedRTPlanSequence = Sequence(refs)
        f.save(md, folder / "rd_sum.dcm")
    return folder


def _run(capsys, folder):
    code = main(["check", str(folder), "--protocol", "hytec-spine-cord", "--format", "json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return code, json.loads(out)["plans"]


def _cord(plan):
    (r,) = [r for r in plan["results"] if r["structure"] == "SpinalCord" and r["value"] is not None]
    return r


@pytest.mark.parametrize("own_doses,multi_plan", [(True, False), (True, True), (False, True)])
def test_course_cord_over_the_limit_is_major_while_each_part_is_not(tmp_path, capsys, own_doses, multi_plan):
    code, plans = _run(capsys, _course_folder(tmp_path, own_doses=own_doses, multi_plan=multi_plan))
    courses = [p for p in plans if p["plan"]["label"].startswith("course:")]
    parts = [p for p in plans if not p["plan"]["label"].startswith("course:")]
    assert len(courses) == 1 and code == 1
    course = courses[0]
    assert course["plan"]["fractions"] == 5 and course["protocol"]["arm"] == "5 fx"
    cord = _cord(course)
    assert cord["value"] == pytest.approx(27.0, abs=1e-3) and cord["value"] > CORD_5FX_LIMIT and cord["status"] == "major"
    assert course["status"] == "major"
    if own_doses:
        assert sorted(p["plan"]["label"] for p in parts) == ["P1", "P2"]
        for p, dose in zip(sorted(parts, key=lambda p: p["plan"]["label"]), (15.0, 12.0)):
            assert p["status"] == "info" and any("part of a course" in n for n in p["notes"])
            assert _cord(p)["value"] == pytest.approx(dose, abs=1e-3) and _cord(p)["status"] in ("pass", "info")
            assert all(r["status"] not in ("major", "minor") for r in p["results"] + p["plan_checks"])
    else:
        assert parts == []  # the parts' dose is the course dose: no missing-dose failures


def test_unlinked_plans_are_judged_alone(tmp_path, capsys):
    """Without a link (relationship or MULTI_PLAN dose) two plans are two plans, not a course."""
    code, plans = _run(capsys, _course_folder(tmp_path, link=False))
    assert sorted(p["plan"]["label"] for p in plans) == ["P1", "P2"]
    assert all(p["status"] != "info" for p in plans)


def test_course_with_a_part_missing_its_dose_is_reported_and_the_rest_goes_on(tmp_path, capsys):
    folder = _course_folder(tmp_path)
    (folder / "rd_p2.dcm").unlink()
    code, plans = _run(capsys, folder)
    assert code == 1
    incomplete = [p for p in plans if p["error"]]
    assert incomplete and all(p["status"] == "not_evaluated" for p in incomplete)
    assert any("P2" in p["error"] and "no RT Dose" in p["error"] for p in incomplete)


def test_plans_sharing_a_structure_set_whose_fractions_make_an_arm_are_a_course_to_confirm(tmp_path, capsys):
    """No link in the export: 3 + 2 fractions on a protocol whose only short arm has 5, which
    neither fits alone. Judged as one course, and the reviewer must confirm it is one."""
    folder = _course_folder(tmp_path, link=False)

    def run(*extra):
        code = main(["check", str(folder), "--protocol", "nct06863584", "--format", "json", *extra])
        out, err = capsys.readouterr()
        assert code in (0, 1), err
        return json.loads(out)["plans"]

    plans = run()
    (course,) = [p for p in plans if p["plan"]["label"].startswith("course:")]
    assert course["plan"]["fractions"] == 5
    assert [i["id"] for i in course["needs_review"] if i["id"] == "course"] == ["course"]
    assert course["status"] in ("not_evaluated", "major")
    assert sorted(p["status"] for p in plans if p is not course) == ["info", "info"]
    (course,) = [p for p in run("--confirm", "course") if p["plan"]["label"].startswith("course:")]
    assert not [i for i in course["needs_review"] if i["id"] == "course"]


def test_batch_judges_the_course_and_reports_its_parts(tmp_path):
    """Batch re-assembles each job from its files: a part's job carries its whole course."""
    from sbrt_qa.batch.jobs import find_jobs, run_job
    from sbrt_qa.protocol import find_protocol

    _course_folder(tmp_path)
    protocol = str(find_protocol("hytec-spine-cord").path)
    outcomes = {j.label: run_job(j, protocol, None) for j in find_jobs(tmp_path)}
    (course,) = [o for label, o in outcomes.items() if label.startswith("course:")]
    assert course["status"] == "major"
    assert sorted(o["status"] for label, o in outcomes.items() if not label.startswith("course:")) == ["info", "info"]


def _references(plan):
    (check,) = [c for c in plan["plan_checks"] if c["id"] == "references"]
    return check


def test_course_pairing_is_by_reference_when_every_part_is(tmp_path, capsys):
    """Both parts RTDOSE -> RTPLAN -> RTSTRUCT by reference: so is their summed course dose."""
    _, plans = _run(capsys, _course_folder(tmp_path))
    (course,) = [p for p in plans if p["plan"]["label"].startswith("course:")]
    check = _references(course)
    assert check["status"] == "pass" and "frame of reference" not in check["value"].lower()


@pytest.mark.parametrize("weak,other", [("P1", "P2"), ("P2", "P1")])
def test_course_pairing_shows_a_part_paired_by_frame_of_reference(tmp_path, capsys, weak, other):
    """One part's plan names no structure set: its structures are found by frame of reference
    only, and the summed course dose is no better identified than that part (whichever part
    comes first)."""
    folder = _course_folder(tmp_path)
    rp = pydicom.dcmread(folder / f"rp_{weak}.dcm")
    del rp.ReferencedStructureSetSequence
    rp.save_as(folder / f"rp_{weak}.dcm")
    _, plans = _run(capsys, folder)
    (course,) = [p for p in plans if p["plan"]["label"].startswith("course:")]
    (strong,) = [p for p in plans if p["plan"]["label"] == other]
    assert _references(strong)["status"] == "pass"
    check = _references(course)
    assert check["status"] == "minor" and check["message"] == "paired by frame of reference only"
    assert f"not: {weak})" in check["value"] and f"{other}: RTDOSE -> RTPLAN -> RTSTRUCT by reference" in check["value"]


def test_parts_pairing_names_each_part_only_when_they_differ():
    ref = "RTDOSE -> RTPLAN -> RTSTRUCT by reference"
    shared = "structure set paired by shared FrameOfReferenceUID 1.2.3 in the same folder"
    assert parts_pairing([("A", ref, True), ("B", ref, True)]) == "parts: " + ref
    mixed = parts_pairing([("A", ref, True), ("B", shared, False)])
    assert mixed == f"parts not all linked by reference (not: B); A: {ref}; B: {shared}"
