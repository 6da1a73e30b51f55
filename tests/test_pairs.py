"""A paired organ (Lungs, Kidneys, Parotids) evaluated on the union of its two sides.

Truth is closed form: boxes in a linear dose field (tests/analytic.py), whose union's
cumulative volume is the sum of the two boxes' at every dose; the verdicts on whole plans
are in the case bank (tests/cases/bank/lungs_*).
"""

from __future__ import annotations

import numpy as np
import pytest

from analytic import Truth, box
from conftest import write_phantom
from sbrt_qa.dvh.analysis import structure_dvhs
from sbrt_qa.dvh.metrics import evaluate, parse_metric
from sbrt_qa.dvh.union import disjoint_union, overlap_cc
from sbrt_qa.evaluate.assignment import assign
from sbrt_qa.evaluate.check import check_plan
from sbrt_qa.evaluate.matching import roi_infos
from sbrt_qa.load import load
from sbrt_qa.protocol.registry import find_protocol

D0, G = 30.0, 0.5  # D = 30 Gy + 0.5 Gy/mm * x
PLANES = np.arange(-10.0, 10.1, 2.0)  # slabs 2 mm thick: z from -11 to 11 mm
# Lung_L: x -30..-10 (15-25 Gy), y -10..10: 8.8 cc. Lung_R: x 10..30 (35-45 Gy), y -5..5: 4.4 cc.
LEFT = box((10.0, 10.0), PLANES, 2.0, center=(-20.0, 0.0))
RIGHT = box((10.0, 5.0), PLANES, 2.0, center=(20.0, 0.0))
TARGET = box((3.0, 3.0), PLANES, 2.0, center=(0.0, 30.0))


def _contours(obj):
    return [(float(z), obj.contour(float(z))) for z in obj.planes]


def _plan_set(tmp_path, rois: dict, **kw):
    origin = (-40.13, -39.71, -41.37)
    write_phantom(tmp_path, {name: _contours(obj) for name, obj in rois.items()}, lambda x, y, z: D0 + G * x, origin,
                  (2.5, 2.5, 2.5), (33, 33, 33), **kw)
    plan_sets, _ = load([tmp_path])
    return plan_sets[0]


def test_union_dvh_of_two_disjoint_boxes_matches_the_closed_form(tmp_path):
    plan_set = _plan_set(tmp_path, {"PTV": TARGET, "Lung_L": LEFT, "Lung_R": RIGHT})
    numbers = {r.name: r.number for r in plan_set.structures.rois}
    dvhs = structure_dvhs(plan_set)
    union = disjoint_union([dvhs[numbers["Lung_L"]], dvhs[numbers["Lung_R"]]])
    left, right = Truth(LEFT, 0, D0, G), Truth(RIGHT, 0, D0, G)
    # by hand: 8.8 + 4.4 cc; V20Gy = 4.4 cc of Lung_L (x >= -20) + all 4.4 cc of Lung_R = 66.67 %;
    # Dmean = (8.8 * 20 + 4.4 * 40) / 13.2 = 26.67 Gy; D50% = hottest 6.6 cc: Lung_R's 4.4 cc and 2.2 cc of Lung_L,
    # whose V(>= d) = 8.8 (25 - d) / 10 cc, so d = 22.5 Gy
    assert left.volume_cc + right.volume_cc == pytest.approx(13.2)
    assert union.volume_cc == pytest.approx(13.2, rel=1e-3)
    assert union.dvh.total_cc == pytest.approx(13.2, rel=1e-3)
    assert evaluate(parse_metric("V20Gy[%]"), union.dvh, None) == pytest.approx(
        100 * (left.v_at_least_cc(20) + right.v_at_least_cc(20)) / 13.2, abs=0.2)
    assert evaluate(parse_metric("V20Gy[%]"), union.dvh, None) == pytest.approx(200 / 3, abs=0.2)
    assert evaluate(parse_metric("V20Gy[cc]"), union.dvh, None) == pytest.approx(8.8, rel=3e-3)
    assert union.dvh.dmean_gy == pytest.approx(80 / 3, abs=0.03)
    assert evaluate(parse_metric("D50%[Gy]"), union.dvh, None) == pytest.approx(22.5, abs=0.03)
    # extremes within the analytical suite's tolerance (1 %): the engine's Dmin/Dmax come from the sub-cells at the edges
    assert union.dvh.dmin_gy == pytest.approx(left.dmin, rel=0.01) and left.dmin == pytest.approx(15.0)
    assert union.dvh.dmax_gy == pytest.approx(right.dmax, rel=0.01) and right.dmax == pytest.approx(45.0)
    # in the gap between the sides (25-35 Gy) the curve holds Lung_R's whole volume
    assert union.dvh.volume_at_dose_cc(30.0) == pytest.approx(4.4, rel=3e-3)


def test_union_with_a_side_outside_the_grid_keeps_its_volume_as_outside():
    from sbrt_qa.dvh.cumulative import CumulativeDVH
    from sbrt_qa.dvh.engine import StructureDVH

    edges = np.arange(5) * 1.0
    inside = StructureDVH(2.0, 0.0, CumulativeDVH(edges, np.array([2.0, 2.0, 1.0, 0.0, 0.0]), 2.0, 1.0, 2.0, 1.5), 4)
    outside = StructureDVH(3.0, 3.0, None, 4)
    u = disjoint_union([inside, outside])
    assert (u.volume_cc, u.outside_cc, u.dvh.total_cc) == (5.0, 3.0, 2.0)
    assert disjoint_union([outside, outside]).dvh is None


def test_overlap_of_boxes():
    from sbrt_qa.load.rtdose import DoseGrid  # noqa: F401  (the lattice stands in for one)

    class _Roi:
        def __init__(self, obj):
            pts = [obj.contour(float(z)) for z in obj.planes]
            self.xy = np.concatenate(pts)
            self.contour_offsets = np.arange(0, 4 * len(pts) + 1, 4, dtype=np.int64)
            self.plane_offsets = np.arange(len(pts) + 1, dtype=np.int64)
            self.plane_z = np.asarray(obj.planes, dtype=float)

    class _Dose:
        dz = 2.5

    a = _Roi(box((10.0, 10.0), PLANES, 2.0, center=(0.0, 0.0)))
    shifted = _Roi(box((10.0, 10.0), PLANES, 2.0, center=(10.0, 0.0)))  # shares x 0..10: 10 x 20 x 22 mm = 4.4 cc
    touching = _Roi(box((10.0, 10.0), PLANES, 2.0, center=(20.0, 0.0)))  # shares only the face x = 10
    far = _Roi(box((10.0, 10.0), PLANES, 2.0, center=(50.0, 0.0)))
    thin = _Roi(box((10.0, 10.0), PLANES, 2.0, center=(19.0, 0.0)))  # shares x 9..10: 1 mm, thinner than any dose voxel
    assert overlap_cc(a, shifted, _Dose(), 2.0) == pytest.approx(4.4, rel=0.02)
    assert overlap_cc(a, touching, _Dose(), 2.0) == 0.0
    assert overlap_cc(a, far, _Dose(), 2.0) == 0.0
    assert overlap_cc(a, thin, _Dose(), 2.0) == pytest.approx(0.44, rel=0.05)


# --------------------------------------------------------------------------- matching


NCT = "nct06863584"


def _assign(names, arm="SBRT", user_map=None, absent=()):
    protocol = find_protocol(NCT)
    return assign(protocol, roi_infos(names), protocol.arm(arm), user_map, absent)


def test_both_sides_make_the_union_and_are_not_unassigned():
    a = _assign(["PTV_3000", "SpinalCord", "Lung_L", "Lung_R"])
    m = a.matches["Lungs"]
    assert (m.how, m.roi, m.roi_number, m.parts) == ("union", "Lung_L + Lung_R", None, (("Lung_L", 3), ("Lung_R", 4)))
    assert {3, 4} <= a.assigned_numbers
    assert not [r for r in a.review if "Lungs" in r.id]


def test_a_whole_lungs_roi_wins_over_its_sides_and_the_sides_are_no_candidates():
    a = _assign(["PTV_3000", "SpinalCord", "Lungs", "Lung_L", "Lung_R"])
    assert (a.matches["Lungs"].how, a.matches["Lungs"].roi) == ("exact", "Lungs")
    assert "Lungs" not in a.candidates.get(4, []) and "Lungs" not in a.candidates.get(5, [])
    assert not a.review


def test_sides_by_synonym():
    assert _assign(["PTV_3000", "SpinalCord", "Lunge li", "Lunge re"]).matches["Lungs"].roi == "Lunge li + Lunge re"
    kidneys = _assign(["PTV", "Niere li", "Re Niere", "Kidney_Hilum_L"], arm="IMRT").matches["Kidneys"]
    assert (kidneys.how, kidneys.roi) == ("union", "Niere li + Re Niere")  # a hilum is not a kidney


def test_one_side_only_is_a_review_item_naming_the_missing_side():
    a = _assign(["PTV_3000", "SpinalCord", "Lung_L"])
    assert a.matches["Lungs"].how == "unmatched"
    item = next(r for r in a.review if r.id == "structure:Lungs")
    assert "Lung_R" in item.reason and "'Lung_L' (ROI #3)" in item.reason
    assert "--structure Lungs=" in item.action and "--absent Lungs" in item.action
    assert "Lungs" not in a.candidates.get(3, [])  # Lung_L is still no candidate for Lungs


def test_an_ambiguous_side_is_a_review_item():
    a = _assign(["PTV_3000", "SpinalCord", "Lunge li", "Lt Lung", "Lung_R"])  # two synonyms of Lung_L
    assert a.matches["Lungs"].how == "unmatched"
    item = next(r for r in a.review if r.id == "structure:Lungs")
    assert "several ROIs" in item.reason and "Lung_L" in item.reason and "'Lung_R' (ROI #5)" in item.reason
    assert "'Lunge li' (ROI #3), 'Lt Lung' (ROI #4)" in item.reason
    assert "--structure Lung_L" not in item.reason + item.action  # Lung_L is no role of the protocol: the CLI would refuse it


def test_no_side_no_review_as_before():
    a = _assign(["PTV_3000", "SpinalCord"])
    assert a.matches["Lungs"].how == "unmatched" and not a.review


def test_the_reviewer_wins():
    mapped = _assign(["PTV_3000", "SpinalCord", "Lung_L", "Lung_R", "Lungs_old"], user_map={"Lungs": "Lungs_old"})
    assert (mapped.matches["Lungs"].how, mapped.matches["Lungs"].roi) == ("user", "Lungs_old")
    absent = _assign(["PTV_3000", "SpinalCord", "Lung_L", "Lung_R"], absent=("Lungs",))
    assert absent.matches["Lungs"].how == "absent"
    assert any("declared absent" in n and "union" in n for n in absent.notes)


def test_a_protocol_side_role_lends_its_mapping_to_the_pair():
    # nct06863584 has Parotid_L and Parotid_R roles: the reviewer's mapping of a side serves Parotids too
    a = _assign(["PTV", "Gl parotis sin", "Parotid_R"], arm="IMRT", user_map={"Parotid_L": "Gl parotis sin"})
    assert a.matches["Parotids"].roi == "Gl parotis sin + Parotid_R"


# --------------------------------------------------------------------------- whole check


def _protocol_of_pair(tmp_path):
    """A one-arm protocol limiting Lungs (V20Gy[%] < 50 %, minor < 70 %) and its mean dose (< 30 Gy): numbers of this test only."""
    text = """schema_version = 1
id = "pair-test"
title = "pair test"
version = "1"
description = "test"
sources = ["this test"]

[[roles]]
name = "PTV"
kind = "target"
required = true

[[roles]]
name = "Lungs"

[[arms]]
name = "A"
description = "test arm"
fractions = [1, 10]
dose_per_fraction_gy = [0.5, 40]
[[arms.levels]]
role = "PTV"
dose_range_gy = [1, 100]

[[constraints]]
id = "lungs-v20"
structure = "Lungs"
metric = "V20Gy[%]"
goal = "< 50 %"
variation = "< 70 %"
source = "this test"
verification = "secondary"

[[constraints]]
id = "lungs-dmean"
structure = "Lungs"
metric = "Dmean[Gy]"
goal = "< 30 Gy"
source = "this test"
verification = "secondary"
"""
    path = tmp_path / "pair.toml"
    path.write_text(text, encoding="utf-8")
    return find_protocol(str(path))


def test_check_plan_judges_the_union_and_reports_how(tmp_path):
    protocol = _protocol_of_pair(tmp_path)
    plan_set = _plan_set(tmp_path / "plan", {"PTV": TARGET, "Lung_L": LEFT, "Lung_R": RIGHT}, with_plan=True)
    result = check_plan(plan_set, protocol)
    by_id = {r.id: r for r in result.results}
    v20, dmean = by_id["lungs-v20"], by_id["lungs-dmean"]
    # closed form: V20Gy 66.67 % (between 50 and 70: minor), Dmean 26.67 Gy (< 30: pass)
    assert v20.status == "minor" and v20.value == pytest.approx(200 / 3, abs=0.2)
    assert dmean.status == "pass" and dmean.value == pytest.approx(80 / 3, abs=0.03)
    numbers = {r.name: r.number for r in plan_set.structures.rois}
    for r in (v20, dmean):
        assert (r.matched_roi, r.match, r.matched_roi_number) == ("Lung_L + Lung_R", "union", None)
        assert r.matched_roi_numbers == [numbers["Lung_L"], numbers["Lung_R"]]
        assert "union of 'Lung_L'" in r.message
    assert any(n.startswith("role Lungs matched the union of 'Lung_L'") for n in result.notes)
    assert not {u.name for u in result.unassigned_rois} & {"Lung_L", "Lung_R"}
    assert result.status == "minor"


def test_check_plan_does_not_add_overlapping_sides(tmp_path):
    protocol = _protocol_of_pair(tmp_path)
    over = box((10.0, 5.0), PLANES, 2.0, center=(-5.0, 0.0))  # x -15..5: shares x -15..-10 with Lung_L
    plan_set = _plan_set(tmp_path / "plan", {"PTV": TARGET, "Lung_L": LEFT, "Lung_R": over}, with_plan=True)
    result = check_plan(plan_set, protocol)
    assert {r.status for r in result.results if r.structure == "Lungs"} == {"not_evaluated"}
    item = next(r for r in result.needs_review if r.id == "structure:Lungs")
    assert "overlap" in item.reason and "1.1" in item.reason  # 5 x 10 x 22 mm = 1.1 cc
    assert result.status == "not_evaluated"


def test_a_side_outside_the_dose_grid_makes_the_pair_partly_outside(tmp_path):
    protocol = _protocol_of_pair(tmp_path)
    beyond = box((10.0, 5.0), PLANES, 2.0, center=(60.0, 0.0))  # x 50..70: the grid ends at x = 39.87 mm
    plan_set = _plan_set(tmp_path / "plan", {"PTV": TARGET, "Lung_L": LEFT, "Lung_R": beyond}, with_plan=True)
    result = check_plan(plan_set, protocol)
    # the dose to Lung_R is unknown: the pair is not judged on Lung_L alone, and the reviewer is asked (dose_grid:Lungs)
    assert {r.status for r in result.results if r.structure == "Lungs"} == {"not_evaluated"}
    item = next(r for r in result.needs_review if r.id == "dose_grid:Lungs")
    assert "union of 'Lung_L'" in item.reason and "4.400 cc of 13.200 cc" in item.reason
    confirmed = check_plan(plan_set, protocol, confirm=("dose_grid:Lungs",))
    v20 = next(r for r in confirmed.results if r.id == "lungs-v20")
    assert v20.value == pytest.approx(50.0, abs=0.2)  # the part inside: Lung_L, 4.4 of 8.8 cc at >= 20 Gy


def test_batch_figures_of_a_union_are_what_its_sides_give_exactly(tmp_path):
    """The cohort database's figures for Lungs judged on Lung_L + Lung_R: volume, Dmin, Dmax and
    Dmean of the union by hand (volume-weighted mean: (8.8 x 20 + 4.4 x 40) / 13.2 Gy)."""
    from sbrt_qa.batch.jobs import find_jobs, run_job

    case = tmp_path / "case"
    case.mkdir()
    _plan_set(case, {"PTV": TARGET, "Lung_L": LEFT, "Lung_R": RIGHT})
    protocol = find_protocol("nct06863584")
    (job,) = find_jobs(tmp_path, protocol)
    outcome = run_job(job, str(protocol.path), None)
    figures = {f["name"]: f for f in outcome["figures"] if f["structure"] == "Lungs"}
    assert figures["volume_cc"]["roi"] == "Lung_L + Lung_R"
    assert figures["volume_cc"]["value"] == pytest.approx(13.2, rel=3e-3)
    assert figures["Dmean[Gy]"]["value"] == pytest.approx(80 / 3, abs=0.05)
    assert figures["Dmax[Gy]"]["value"] == pytest.approx(45.0, abs=0.6)  # Lung_R's hot edge x = 30 mm
    assert figures["Dmin[Gy]"]["value"] == pytest.approx(15.0, abs=0.6)  # Lung_L's cold edge x = -30 mm
