"""DoseSummationType as PS3.3 defines it, pairing without references, case folders, and
incomplete plan sets that never stop the others.

Doses are uniform or linear fields written with the factory, so every expected value is
a hand sum: PLAN as it is; FRACTION the entire delivery of its fraction group (never
multiplied); a plan's groups summed; BEAM summed; FRACTION_SESSION and BEAM_SESSION
multiplied by the fractions of their group.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sbrt_qa.cli.main import main
from sbrt_qa.errors import InputError
from sbrt_qa.load import load
from sbrt_qa.load.course import fraction_factor_contradiction
from sbrt_qa.load.planset import AssemblyFailure
from sbrt_qa.synthetic import dicom_factory as f

RING = np.column_stack([10 * np.cos(np.linspace(0, 2 * np.pi, 64, endpoint=False)), 10 * np.sin(np.linspace(0, 2 * np.pi, 64, endpoint=False))])
SHAPE, ORIGIN, SPACING = (11, 11, 11), (-25.0, -25.0, -25.0), (5.0, 5.0, 5.0)


def _groups(plan: Dataset, groups: list[tuple[int, int, list[int]]]) -> None:
    """Replace the plan's fraction groups: (number, fractions, beam numbers)."""
    seq = []
    for number, fx, beams in groups:
        g = Dataset()
        g.FractionGroupNumber = number
        g.NumberOfFractionsPlanned = fx
        g.NumberOfBeams = len(beams)
        rbs = []
        for b in beams:
            rb = Dataset()
            rb.ReferencedBeamNumber = b
            rb.BeamMeterset = "100"
            rbs.append(rb)
        g.ReferencedBeamSequence = Sequence(rbs)
        seq.append(g)
    plan.FractionGroupSequence = Sequence(seq)


def _refs(dose: Dataset, plan_uid: str | None, group: int | None = None, beams: tuple[int, ...] = ()) -> None:
    if plan_uid is None:
        if "ReferencedRTPlanSequence" in dose:
            del dose.ReferencedRTPlanSequence
        return
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.5"
    ref.ReferencedSOPInstanceUID = plan_uid
    if group is not None:
        fg = Dataset()
        fg.ReferencedFractionGroupNumber = group
        if beams:
            items = []
            for b in beams:
                item = Dataset()
                item.ReferencedBeamNumber = b
                items.append(item)
            fg.ReferencedBeamSequence = Sequence(items)
        ref.ReferencedFractionGroupSequence = Sequence([fg])
    dose.ReferencedRTPlanSequence = Sequence([ref])


def _case(folder: Path, doses, *, rx: float | None = None, groups=((1, 5, [1, 2]),), manufacturer=None, plan=True, struct=True,
          struct_ref=True, seed: str | None = None) -> dict:
    """A plan set: PTV ring, a plan with the given groups, doses (summation, value, group, beams, references plan)."""
    seed = seed or str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    patient = f.Patient(study_uid=f.uid("st" + seed), frame_of_reference_uid=f.uid("for" + seed))
    rs = f.rtstruct([f.RoiSpec("PTV", 1, "PTV", [(float(z), RING) for z in range(-6, 7, 2)])], patient, sop_uid=f.uid("rs" + str(folder)))
    if struct:
        f.save(rs, folder / "rs.dcm")
    nbeams = max(b for _, _, beams in groups for b in beams)
    rp = f.rtplan(patient, label=folder.name, fractions=groups[0][1], targets=[("PTV", rx)] if rx else [],
                  beams=[f.BeamSpec(f"B{i + 1}") for i in range(nbeams)], structure_set_uid=rs.SOPInstanceUID if struct_ref else None,
                  sop_uid=f.uid("rp" + str(folder)))
    _groups(rp, [(n, fx, beams) for n, fx, beams in groups])
    if manufacturer:
        rp.Manufacturer = manufacturer
    if plan:
        f.save(rp, folder / "rp.dcm")
    for i, (summation, value, group, beams, referenced) in enumerate(doses):
        grid = np.full(SHAPE, float(value)) if np.isscalar(value) else value
        rd = f.rtdose(grid, ORIGIN, SPACING, patient, sop_uid=f.uid(f"rd{i}{folder}"), summation=summation)
        _refs(rd, rp.SOPInstanceUID if referenced else None, group, beams)
        if manufacturer:
            rd.Manufacturer = manufacturer
        f.save(rd, folder / f"rd{i}.dcm")
    return {"plan": rp, "struct": rs, "patient": patient}


def _dose(folder):
    (ps,), _ = load([folder])
    return ps


# --- DoseSummationType -----------------------------------------------------------------


def test_pinnacle_fraction_dose_is_the_whole_course(tmp_path):
    """Pinnacle 9.8 (ADAC): FRACTION with ReferencedFractionGroupSequence, no prescription; 61 Gy in a 10-fraction plan."""
    _case(tmp_path / "pinnacle", [("FRACTION", 61.0, 1, (), True)], groups=((1, 10, [1, 2]),), manufacturer="ADAC")
    ps = _dose(tmp_path / "pinnacle")
    assert ps.dose.max_gy == pytest.approx(61.0, rel=1e-6)  # not 610
    assert ps.plan.prescription_gy is None and ps.plan.fractions == 10


def test_fraction_doses_of_every_group_are_summed(tmp_path):
    folder = tmp_path / "groups"
    _case(folder, [("FRACTION", 26.0, 1, (), True), ("FRACTION", 24.0, 2, (), True)], rx=50.0,
          groups=((1, 13, [1, 2]), (2, 12, [3, 4])))
    ps = _dose(folder)
    assert np.allclose(ps.dose.dose_gy, 26.0 + 24.0, rtol=1e-6) and ps.plan.fractions == 25


def test_a_missing_fraction_group_dose_is_named(tmp_path):
    folder = tmp_path / "groups"
    _case(folder, [("FRACTION", 26.0, 1, (), True)], rx=26.0, groups=((1, 13, [1, 2]), (2, 12, [3, 4])))
    with pytest.raises(InputError, match="group 2 is not in the input"):
        load([folder])


def test_fraction_session_is_multiplied_by_its_fractions(tmp_path):
    folder = tmp_path / "session"
    _case(folder, [("FRACTION_SESSION", 7.0, 1, (), True)], rx=35.0)
    ps = _dose(folder)
    assert np.allclose(ps.dose.dose_gy, 35.0, rtol=1e-6)
    assert any("one session" in n and "x 5" in n for n in ps.dose.notes)


def test_beam_session_doses_are_multiplied_by_their_groups_fractions_and_summed(tmp_path):
    folder = tmp_path / "beamsession"
    # group 1: beams 1-2, 3 fractions; group 2: beam 3, 2 fractions
    _case(folder, [("BEAM_SESSION", 4.0, 1, (1,), True), ("BEAM_SESSION", 3.0, 1, (2,), True), ("BEAM_SESSION", 5.0, 2, (3,), True)],
          rx=31.0, groups=((1, 3, [1, 2]), (2, 2, [3])))
    ps = _dose(folder)
    assert np.allclose(ps.dose.dose_gy, (4.0 + 3.0) * 3 + 5.0 * 2, rtol=1e-6)


def test_session_dose_without_plan_cannot_be_used(tmp_path):
    folder = tmp_path / "noplan"
    _case(folder, [("FRACTION_SESSION", 7.0, 1, (), True)], plan=False)
    with pytest.raises(InputError, match="one session and there is no RT Plan"):
        load([folder])


@pytest.mark.parametrize("summation,value,words", [
    ("PLAN", 7.0, "one session of 5 fractions"),  # a PLAN dose holding one session: 7 Gy against 35 Gy in 5
    ("FRACTION", 7.0, "one session of 5 fractions"),
    ("FRACTION_SESSION", 35.0, "5 times the whole course"),  # a whole course labelled as one session
])
def test_values_contradicting_the_prescription_by_the_fraction_count_stop(tmp_path, summation, value, words):
    folder = tmp_path / "contra"
    _case(folder, [(summation, value, 1, (), True)], rx=35.0)
    with pytest.raises(InputError, match="contradict the prescription by the fraction count") as info:
        load([folder])
    assert words in str(info.value) and "will not choose" in str(info.value)


def test_fraction_factor_test_by_hand():
    # 35 Gy in 5: whole-course maximum window 31.5-105 Gy; one session 6.3-21 Gy; five courses 157.5-525 Gy
    assert fraction_factor_contradiction(35.0, 5, 38.0) is None
    assert fraction_factor_contradiction(35.0, 5, 30.0) is None  # cold, but neither factor: evaluated, not stopped
    assert "one session" in fraction_factor_contradiction(35.0, 5, 9.0)
    assert "5 times" in fraction_factor_contradiction(35.0, 5, 190.0)
    # a target linked by ROI number must agree: median 36 Gy says whole course, so no stop
    assert fraction_factor_contradiction(35.0, 5, 9.0, median_gy=36.0) is None
    # 2 fractions: the windows overlap; 1.2 x fits a whole course and is never called a session
    assert fraction_factor_contradiction(20.0, 2, 24.0) is None
    assert fraction_factor_contradiction(20.0, 1, 2.0) is None  # one fraction: no factor to tell


# --- pairing without references and case folders ---------------------------------------


def test_dose_without_plan_reference_pairs_with_the_only_plan_on_its_frame(tmp_path):
    folder = tmp_path / "noref"
    _case(folder, [("PLAN", 35.0, None, (), False)], rx=35.0)
    ps = _dose(folder)
    assert ps.plan is not None and ps.plan.prescription_gy == 35.0
    assert any("no ReferencedRTPlanSequence" in n and "the only plan on its frame of reference" in n for n in ps.notes)
    assert "by frame of reference" in ps.pairing


def test_pairing_by_frame_is_a_minor_references_finding(tmp_path, capsys):
    folder = tmp_path / "noref"
    _case(folder, [("PLAN", 35.0, None, (), False)], rx=35.0)
    assert main(["check", str(folder), "--format", "json"]) in (0, 1)
    (plan,) = json.loads(capsys.readouterr().out)["plans"]
    (ref,) = [c for c in plan["plan_checks"] if c["id"] == "references"]
    assert ref["status"] == "minor" and "frame of reference" in ref["message"]


def test_dose_without_plan_reference_and_two_plans_is_not_guessed(tmp_path):
    folder = tmp_path / "two"
    c = _case(folder, [("PLAN", 35.0, None, (), False)], rx=35.0)
    other = f.rtplan(c["patient"], label="OTHER", fractions=5, targets=[("PTV", 35.0)], beams=[f.BeamSpec("B1")],
                     structure_set_uid=c["struct"].SOPInstanceUID, sop_uid=f.uid("other" + str(folder)))
    f.save(other, folder / "rp_other.dcm")
    failures: list[AssemblyFailure] = []
    with pytest.raises(InputError, match="no complete plan set"):
        load([folder], failures)
    assert any("2 plans share its frame of reference" in x.message for x in failures)


def test_case_folders_are_paired_on_their_own(tmp_path):
    """Two plan versions of one patient (one frame of reference) in two case folders; the second
    lacks its structure set: it is incomplete, never completed with the first case's."""
    _case(tmp_path / "case1", [("PLAN", 35.0, None, (), True)], rx=35.0, seed="patient")
    _case(tmp_path / "case2", [("PLAN", 35.0, None, (), True)], rx=35.0, seed="patient", struct=False)
    failures: list[AssemblyFailure] = []
    loaded, _ = load([tmp_path], failures)
    assert [p.paths[0].parent.name for p in loaded] == ["case1"]
    (failure,) = failures
    assert failure.path.parent.name == "case2" and "another case" in failure.message


def test_modality_subfolders_of_one_case_pair_by_frame(tmp_path):
    case = tmp_path / "case"
    _case(case, [("PLAN", 35.0, None, (), False)], rx=35.0, struct_ref=False)
    for name, sub in (("rs.dcm", "RTSTRUCT"), ("rp.dcm", "RTPLAN"), ("rd0.dcm", "RTDOSE")):
        (case / sub).mkdir()
        (case / name).rename(case / sub / name)
    ps = _dose(tmp_path)
    assert ps.plan is not None and ps.structures.rois[0].name == "PTV"


# --- incomplete plan sets never stop the others ------------------------------------------


def _mixed_folder(tmp_path) -> Path:
    root = tmp_path / "export"
    _case(root / "complete", [("PLAN", 35.0, None, (), True)], rx=35.0)
    _case(root / "no_dose", [], rx=35.0)
    return root


def test_check_reports_the_incomplete_set_and_evaluates_the_other(tmp_path, capsys):
    root = _mixed_folder(tmp_path)
    code = main(["check", str(root), "--format", "json"])
    out, err = capsys.readouterr()
    plans = json.loads(out)["plans"]
    assert code == 1 and len(plans) == 2
    incomplete = [p for p in plans if p["error"]]
    assert len(incomplete) == 1 and incomplete[0]["status"] == "not_evaluated"
    assert "missing dose" in incomplete[0]["error"] and "no_dose" in incomplete[0]["error"]
    assert [c["id"] for c in incomplete[0]["plan_checks"]] == ["plan_set_complete"]
    evaluated = [p for p in plans if not p["error"]]
    assert evaluated[0]["plan"]["label"] == "complete" and evaluated[0]["results"]
    for fmt, needle in (("text", "missing dose"), ("csv", "plan_set_complete"), ("html", "missing dose")):
        assert main(["check", str(root), "--format", fmt]) == 1
        assert needle in capsys.readouterr().out, fmt


def test_dvh_computes_the_complete_set_and_names_the_incomplete(tmp_path, capsys):
    root = _mixed_folder(tmp_path)
    code = main(["dvh", str(root), "--format", "json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and len(doc["plans"]) == 1
    assert any("incomplete plan set" in n and "missing dose" in n for n in doc["notes"])
    assert "incomplete plan set" in err


def test_nothing_assembled_is_an_input_error(tmp_path, capsys):
    _case(tmp_path / "only", [], rx=35.0)
    assert main(["check", str(tmp_path)]) == 2
    assert "missing dose" in capsys.readouterr().err


def test_multi_plan_dose_of_a_single_plan_is_that_plans_dose(tmp_path):
    folder = tmp_path / "single"
    _case(folder, [("MULTI_PLAN", 35.0, None, (), True)], rx=35.0)
    ps = _dose(folder)
    assert np.allclose(ps.dose.dose_gy, 35.0, rtol=1e-6)
    assert any("MULTI_PLAN dose referencing one plan" in n for n in ps.notes)
