"""Plan checks with DICOM's meaning: TissueHeterogeneityCorrection (Type 3) and ApprovalStatus.

The compliant SBRT test plan (IMAGE, APPROVED: PASS) is altered one attribute at a time;
each expected verdict is the one a careful physicist gives, written before the run.
"""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest

from conftest import TEST_DATA
from sbrt_qa.cli.main import main

SBRT = TEST_DATA / "sbrt_thoracic_spine"


def _variant(tmp_path, hetero=None, approval=None):
    folder = tmp_path / "plan"
    shutil.copytree(SBRT, folder)
    if hetero is not None:
        rd = next(folder.glob("RD*"))
        ds = pydicom.dcmread(rd)
        if hetero == "absent":
            del ds.TissueHeterogeneityCorrection
        else:
            ds.TissueHeterogeneityCorrection = hetero
        ds.save_as(rd)
    if approval is not None:
        rp = next(folder.glob("RP*"))
        ds = pydicom.dcmread(rp)
        ds.ApprovalStatus = approval
        ds.save_as(rp)
    return folder


def _check(capsys, folder, *extra):
    code = main(["check", str(folder), "--format", "json", *map(str, extra)])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    plan = json.loads(out)["plans"][0]
    return code, plan, {c["id"]: c for c in plan["plan_checks"]}


@pytest.mark.parametrize("hetero,check_status,plan_status,code", [
    (["IMAGE"], "pass", "pass", 0),
    (["IMAGE", "ROI_OVERRIDE"], "pass", "pass", 0),
    (["WATER"], "major", "major", 1),  # the SBRT arm requires correction: a real deviation
])
def test_heterogeneity_as_recorded(tmp_path, capsys, hetero, check_status, plan_status, code):
    got_code, plan, checks = _check(capsys, _variant(tmp_path, hetero=hetero))
    assert checks["heterogeneity_correction"]["status"] == check_status
    assert plan["status"] == plan_status and got_code == code


def test_heterogeneity_not_recorded_is_a_query_not_a_deviation(tmp_path, capsys):
    folder = _variant(tmp_path, hetero="absent")  # RayStation 6 and GammaPlan never write it (Type 3)
    code, plan, checks = _check(capsys, folder)
    c = checks["heterogeneity_correction"]
    assert c["status"] == "not_evaluated" and "not recorded in the export" in c["message"]
    assert plan["status"] == "not_evaluated" and code == 1
    (item,) = [i for i in plan["needs_review"] if i["id"] == "heterogeneity_correction"]
    assert item["action"] == "--confirm heterogeneity_correction"
    code, plan, checks = _check(capsys, folder, "--confirm", "heterogeneity_correction")
    assert checks["heterogeneity_correction"]["status"] == "pass" and "confirmed by the reviewer" in checks["heterogeneity_correction"]["message"]
    assert {"kind": "confirm", "item": "heterogeneity_correction", "value": None} in plan["declarations"]
    assert plan["status"] == "pass" and code == 0


def test_water_with_density_overrides_is_a_query(tmp_path, capsys):
    code, plan, checks = _check(capsys, _variant(tmp_path, hetero=["WATER", "ROI_OVERRIDE"]))
    assert checks["heterogeneity_correction"]["status"] == "not_evaluated" and "bulk density" in checks["heterogeneity_correction"]["message"]
    assert plan["status"] == "not_evaluated" and code == 1


@pytest.mark.parametrize("approval,check_status,plan_status,code", [
    ("APPROVED", "pass", "pass", 0),
    ("UNAPPROVED", "minor", "minor", 0),  # a pre-approval review
    ("REJECTED", "major", "major", 1),  # Eclipse writes REJECTED with a ReviewerName: never fine
])
def test_approval(tmp_path, capsys, approval, check_status, plan_status, code):
    got_code, plan, checks = _check(capsys, _variant(tmp_path, approval=approval))
    assert checks["plan_approval"]["status"] == check_status
    assert plan["status"] == plan_status and got_code == code


def test_plan_dose_summation_passes_with_its_meaning(capsys):
    _, plan, checks = _check(capsys, SBRT)
    assert checks["dose_summation"]["status"] == "pass" and "PLAN: the whole plan" in checks["dose_summation"]["message"]
