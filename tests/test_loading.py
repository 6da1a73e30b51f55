"""Loading: discovery by SOP class, plan-set assembly, dose summation and encodings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import TEST_DATA, write_phantom
from sbrt_qa.dvh.analysis import analyze
from sbrt_qa.errors import InputError
from sbrt_qa.load import load
from sbrt_qa.load import sop
from sbrt_qa.load.decimal_strings import parse_ds_bytes, parse_ds_values
from sbrt_qa.load.discovery import discover
from sbrt_qa.load.rtdose import read_dose_grid
from sbrt_qa.synthetic import dicom_factory as f

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _copy_plan(tmp_path: Path, name: str = "sbrt_thoracic_spine") -> Path:
    dst = tmp_path / name
    shutil.copytree(TEST_DATA / name, dst)
    return dst


def _file(folder: Path, prefix: str) -> Path:
    return next(p for p in folder.iterdir() if p.name.startswith(prefix))


# --- pydicom's encodings -------------------------------------------------------------


@pytest.mark.parametrize("name", ["rtdose_expb.dcm", "rtdose_rle.dcm"])
def test_big_endian_and_rle_doses_decode_like_the_little_endian_file(name):
    reference = read_dose_grid(discover([PYDICOM_FILES / "rtdose.dcm"]).objects[0], relative_ok=True)
    other = read_dose_grid(discover([PYDICOM_FILES / name]).objects[0], relative_ok=True)
    assert other.shape == reference.shape == (15, 10, 10)
    np.testing.assert_array_equal(other.dose_gy, reference.dose_gy)
    assert np.allclose(other.z, reference.z)


@pytest.mark.parametrize("name", ["rtdose_1frame.dcm", "rtdose_rle_1frame.dcm", "rtdose_expb_1frame.dcm"])
def test_single_frame_doses_decode(name):
    grid = read_dose_grid(discover([PYDICOM_FILES / name]).objects[0], relative_ok=True)
    assert grid.shape == (1, 10, 10)
    reference = read_dose_grid(discover([PYDICOM_FILES / "rtdose.dcm"]).objects[0], relative_ok=True)
    np.testing.assert_array_equal(grid.dose_gy[0], reference.dose_gy[0])


def test_relative_units_are_refused_naming_the_file():
    with pytest.raises(InputError, match="RELATIVE") as info:
        read_dose_grid(discover([PYDICOM_FILES / "rtdose.dcm"]).objects[0])
    assert "rtdose.dcm" in str(info.value)


def test_pydicom_structure_set_without_preamble_and_plan_are_recognised():
    found = discover([PYDICOM_FILES / "rtstruct.dcm", PYDICOM_FILES / "rtplan.dcm"])
    assert sorted(o.kind for o in found.objects) == ["RTPLAN", "RTSTRUCT"]


def test_pydicom_truncated_plan_is_an_error():
    with pytest.raises(InputError, match="truncated"):
        discover([PYDICOM_FILES / "rtplan_truncated.dcm"])


# --- discovery -------------------------------------------------------------------------


def test_objects_are_recognised_by_sop_class_not_file_name(tmp_path):
    folder = _copy_plan(tmp_path)
    for i, p in enumerate(sorted(folder.iterdir())):
        p.rename(folder / f"export_{i}.txt")
    (folder / "notes.txt").write_text("not DICOM at all")
    (folder / "nested").mkdir()
    (folder / "nested" / "readme.md").write_text("# hello")
    plan_sets, notes = load([folder])
    assert len(plan_sets) == 1 and plan_sets[0].plan.label == "SBRT_T8"
    assert any("non-DICOM" in n and "notes.txt" in n for n in notes)


def test_ct_images_are_ignored_with_a_note(tmp_path):
    folder = _copy_plan(tmp_path)
    ct = f.rtstruct([], f.Patient())  # any data set will do; make it a CT image header
    ct.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ct.file_meta.MediaStorageSOPClassUID = ct.SOPClassUID
    ct.SOPInstanceUID = f.uid("ct")
    f.save(ct, folder / "CT.1.dcm")
    _, notes = load([folder])
    assert any("ignored 1 CT/MR image" in n for n in notes)


def test_varian_private_plan_class_is_a_plan(tmp_path):
    folder = _copy_plan(tmp_path)
    path = _file(folder, "RP")
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = sop.VARIAN_PRIVATE_RT_PLAN
    ds.file_meta.MediaStorageSOPClassUID = sop.VARIAN_PRIVATE_RT_PLAN
    ds.save_as(path)
    plan_sets, _ = load([folder])
    assert plan_sets[0].plan is not None and plan_sets[0].plan.fractions == 5


def test_several_plans_in_one_directory_make_several_plan_sets(tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(TEST_DATA / "sbrt_thoracic_spine", folder)
    for p in (TEST_DATA / "imrt_head_neck").iterdir():
        shutil.copy(p, folder / p.name)
    plan_sets, _ = load([folder])
    assert sorted(p.plan.label for p in plan_sets) == ["IMRT_HN", "SBRT_T8"]
    for p in plan_sets:
        assert p.pairing == "RTDOSE -> RTPLAN -> RTSTRUCT by reference"


def test_frame_of_reference_fallback_without_plan(tmp_path):
    folder = _copy_plan(tmp_path)
    _file(folder, "RP").unlink()
    plan_sets, _ = load([folder])
    assert plan_sets[0].plan is None
    assert "FrameOfReferenceUID" in plan_sets[0].pairing


# --- prescription and plan ----------------------------------------------------------


def test_plan_fields(tmp_path):
    ps = load([TEST_DATA / "sbrt_thoracic_spine"])[0][0]
    plan = ps.plan
    assert plan.prescription_gy == 35.0 and plan.prescription_source.startswith("DoseReferenceSequence")
    assert plan.fractions == 5 and plan.approval_status == "APPROVED" and plan.patient_position == "HFS"
    assert [b.name for b in plan.beams] == ["Arc1", "Arc2"]
    assert plan.beams[0].energy == 6.0 and plan.beams[0].meterset == 600.0 and plan.beams[0].radiation_type == "PHOTON"


def test_beam_dose_is_never_a_prescription(tmp_path):
    folder = _copy_plan(tmp_path)
    path = _file(folder, "RP")
    ds = pydicom.dcmread(path)
    del ds.DoseReferenceSequence
    for i, rb in enumerate(ds.FractionGroupSequence[0].ReferencedBeamSequence):
        rb.BeamDose = ["2.5", "3.5"][i]
    ds.save_as(path)
    plan = load([folder])[0][0].plan
    assert plan.prescription_gy is None and plan.prescription_source is None and plan.prescriptions == []
    assert plan.beam_dose_per_fraction_gy == pytest.approx(2.5 + 3.5)
    assert any("prescription not recorded" in n for n in plan.notes)


# --- dose summation -------------------------------------------------------------------


def _linear_set(tmp_path, summation, beams=1, fractions=5, drop_plan=False, rx=30.0):
    folder = tmp_path / f"{summation}{beams}"
    folder.mkdir()
    patient = f.Patient(study_uid=f.uid(str(folder)), frame_of_reference_uid=f.uid("for" + str(folder)))
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ring = np.column_stack([10 * np.cos(ang), 10 * np.sin(ang)])
    struct = f.rtstruct([f.RoiSpec("PTV", 1, "PTV", [(float(z), ring) for z in range(-6, 7, 2)])], patient, sop_uid=f.uid("s" + str(folder)))
    f.save(struct, folder / "rs.dcm")
    plan = f.rtplan(patient, label="P", fractions=fractions, targets=[("PTV", rx)], beams=[f.BeamSpec(f"B{i}") for i in range(beams)],
                    structure_set_uid=struct.SOPInstanceUID, sop_uid=f.uid("p" + str(folder)))
    if not drop_plan:
        f.save(plan, folder / "rp.dcm")
    grid = np.full((11, 11, 11), 2.0)
    for i in range(beams):
        d = f.rtdose(grid * (i + 1), (-25.0, -25.0, -25.0), (5.0, 5.0, 5.0), patient, sop_uid=f.uid(f"d{i}{folder}"), summation=summation,
                     referenced_plan_uid=plan.SOPInstanceUID, referenced_beam_number=(i + 1) if summation == "BEAM" else None)
        f.save(d, folder / f"rd{i}.dcm")
    return folder


def test_beam_doses_are_summed(tmp_path):
    ps = load([_linear_set(tmp_path, "BEAM", beams=3, rx=12.0)])[0][0]
    assert np.allclose(ps.dose.dose_gy, 2.0 * (1 + 2 + 3))
    assert len(ps.dose.sop_instance_uids) == 3


def test_incomplete_beam_doses_are_an_error(tmp_path):
    folder = _linear_set(tmp_path, "BEAM", beams=3)
    (folder / "rd2.dcm").unlink()
    with pytest.raises(InputError, match="missing beam 3"):
        load([folder])


def test_fraction_dose_is_the_whole_fraction_group_not_multiplied(tmp_path):
    """PS3.3: FRACTION is the entire delivery of a fraction group (2 Gy everywhere, 2 Gy prescribed)."""
    ps = load([_linear_set(tmp_path, "FRACTION", fractions=5, rx=2.0)])[0][0]
    assert np.allclose(ps.dose.dose_gy, 2.0)
    result = analyze(ps)
    assert result.structures[0].dmean_gy == pytest.approx(2.0, abs=1e-4)
    assert any("entire delivery" in n and "not multiplied" in n for n in ps.dose.notes)


def test_fraction_dose_without_plan_is_used_as_it_is(tmp_path):
    ps = load([_linear_set(tmp_path, "FRACTION", drop_plan=True)])[0][0]
    assert np.allclose(ps.dose.dose_gy, 2.0)
    assert not any("ONE fraction" in n for n in ps.dose.notes)


# --- contours ------------------------------------------------------------------------


def test_contour_data_parsing_handles_exponents_and_spaces():
    assert parse_ds_bytes(b"1.5\\-2e3\\ 4 \\+7.25E-1").tolist() == [1.5, -2000.0, 4.0, 0.725]
    with pytest.raises(ValueError):
        parse_ds_bytes(b"1.0\\abc\\2")


def test_contour_parser_agrees_with_numpy_to_one_ulp():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(0, 300, 20000), rng.uniform(-1e-5, 1e-5, 500), rng.uniform(-1e12, 1e12, 500)])
    for fmt in ("%.4f", "%.10g", "%.6e", "%.16g", "%+.3E"):
        text = "\\".join(fmt % v for v in values).encode()
        ours = parse_ds_bytes(text)
        reference = np.array([float(t) for t in text.split(b"\\")])
        assert np.all(np.abs(ours - reference) <= np.spacing(np.abs(reference))), fmt


def test_values_parsed_together_keep_their_counts():
    values, counts = parse_ds_values([b"1\\2.5\\-3", b"4e1", b" 5 \\6 ", b"7\\8\\9\\10 "])
    assert values.tolist() == [1.0, 2.5, -3.0, 40.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert counts.tolist() == [3, 1, 2, 4]
    for bad in ([b"1\\2", b"3\\"], [b"1", b"\\2"], [b"1 2"], [b"1", b"x"]):
        with pytest.raises(ValueError):
            parse_ds_values(bad)


@pytest.mark.parametrize("bad", [b"1.0\\abc", b"1..2", b"1e", b"-", b"1.0\\\\2", b"1,5", b"1\\", b"\\1", b"1 2"])
def test_contour_parser_rejects_malformed_text(bad):
    with pytest.raises(ValueError):
        parse_ds_bytes(bad)


def test_malformed_contour_is_reported_for_its_roi_only(tmp_path):
    folder = _copy_plan(tmp_path)
    path = _file(folder, "RS")
    ds = pydicom.dcmread(path)
    cord = next(rc for rc in ds.ROIContourSequence if rc.ReferencedROINumber == 3)
    values = list(cord.ContourSequence[5].ContourData)
    cord.ContourSequence[5].ContourData = values[:-1]  # not a multiple of 3
    heart = next(rc for rc in ds.ROIContourSequence if rc.ReferencedROINumber == 7)
    heart.ContourSequence[0].ContourData = list(heart.ContourSequence[0].ContourData)[:6]  # two points
    ds.save_as(path)
    result = analyze(load([folder])[0][0])
    by_name = {s.name: s for s in result.structures}
    assert "not a multiple of 3" in by_name["SpinalCord"].error and by_name["SpinalCord"].dmax_gy is None
    assert "at least 3 points" in by_name["Heart"].error
    assert by_name["PTV"].error is None and by_name["PTV"].dmean_gy > 30


def test_holes_follow_the_even_odd_rule(tmp_path):
    """A ring (outer 20 mm, inner 10 mm, both drawn counter-clockwise) has the ring's area."""
    ang = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    outer = np.column_stack([20 * np.cos(ang), 20 * np.sin(ang)])
    inner = np.column_stack([10 * np.cos(ang), 10 * np.sin(ang)])  # same orientation as the outer on purpose
    island = np.column_stack([3 * np.cos(ang), 3 * np.sin(ang)])  # an island inside the hole
    contours = [(float(z), c) for z in (-2.0, 0.0, 2.0) for c in (outer, inner, island)]
    write_phantom(tmp_path, {"RING": contours}, lambda x, y, z: 10.0 + 0 * x, (-30.0, -30.0, -10.0), (2.0, 2.0, 2.0), (11, 31, 31))
    s = analyze(load([tmp_path])[0][0]).structures[0]
    polygon = 0.5 * 720 * np.sin(2 * np.pi / 720)
    area = polygon * (400 - 100 + 9)
    assert s.volume_cc == pytest.approx(area * 6.0 / 1000.0, rel=1e-5)  # coordinates are written to 0.1 um
    assert s.dmean_gy == pytest.approx(10.0, abs=1e-4)


def test_structure_partly_outside_the_grid_is_reported(tmp_path):
    """A 20 x 20 mm box over z = -9..9 mm; the grid stops at z = 0 (voxel edge): half lies outside."""
    sq = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    contours = [(float(z), sq) for z in np.arange(-9.0, 9.1, 2.0)]  # slabs cover z in [-10, 10]
    write_phantom(tmp_path, {"BOX": contours}, lambda x, y, z: 20.0 + 0 * x, (-29.0, -29.0, -29.0), (2.0, 2.0, 2.0), (15, 30, 30))
    s = analyze(load([tmp_path])[0][0]).structures[0]
    assert s.volume_cc == pytest.approx(8.0, rel=1e-9)
    assert s.outside_dose_grid_cc == pytest.approx(4.0, rel=1e-9)
    assert s.partial and any("outside the dose grid" in w for w in s.warnings)
    assert s.dmean_gy == pytest.approx(20.0, abs=1e-4)

