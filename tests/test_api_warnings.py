"""Python warnings raised while a plan is read reach every report (issue 13: results carry provenance).

The input is honest: an RT Plan whose File Meta says Explicit VR Little Endian while its data
set is encoded Implicit VR (a defect some exports carry). pydicom reads around it with the
warning "Expected explicit VR, but found implicit VR - using implicit VR for reading". The
plan is read correctly, so the verdict stays the compliant plan's (PASS, test_data/README);
the warning, named with its file, is in the JSON plan entry (``python_warnings``), the API's
``results_data``, the text, CSV, HTML and PDF reports.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import warnings

import pydicom
import pytest
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian
from pypdf import PdfReader

from conftest import TEST_DATA
from sbrt_qa import PlanQA, Status
from sbrt_qa.cli.main import main

PYDICOM_SAYS = "UserWarning: Expected explicit VR, but found implicit VR - using implicit VR for reading"
EXPECTED = f"RP.SBRT_T8.dcm: {PYDICOM_SAYS}"
pytestmark = pytest.mark.filterwarnings("ignore:Expected explicit VR")  # the CLI passes it on to stderr, as it should


@pytest.fixture(scope="module")
def mislabelled(tmp_path_factory):
    """The compliant thoracic spine plan with its RT Plan's transfer syntax mislabelled."""
    folder = tmp_path_factory.mktemp("warn") / "plan"
    shutil.copytree(TEST_DATA / "sbrt_thoracic_spine", folder)
    rp = folder / "RP.SBRT_T8.dcm"
    ds = pydicom.dcmread(rp)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    with open(rp, "wb") as fh:
        fh.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(fh, ds.file_meta, enforce_standard=True)
        body = DicomFileLike(fh)
        body.is_implicit_VR, body.is_little_endian = True, True
        write_dataset(body, ds)
    return folder


def _cli(capsys, folder, fmt: str) -> str:
    code = main(["check", str(folder), "--protocol", "nct06863584", "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_reading_warning_is_in_every_report(capsys, mislabelled):
    with warnings.catch_warnings(record=True) as passed_on:
        warnings.simplefilter("always")
        result = PlanQA.from_folder(mislabelled).check("nct06863584")
    assert any(PYDICOM_SAYS.split(": ", 1)[1] in str(w.message) for w in passed_on)  # still reaches the caller's filters
    assert result.status is Status.PASS
    assert result.result.python_warnings == [EXPECTED]
    assert result.provenance.warnings == (EXPECTED,) and EXPECTED in result.warnings

    cli = json.loads(_cli(capsys, mislabelled, "json"))["plans"][0]
    assert cli["python_warnings"] == [EXPECTED]
    assert result.results_data(as_dict=True) == cli

    assert f"python warning (reading or checking): {EXPECTED}" in _cli(capsys, mislabelled, "text")
    rows = list(csv.DictReader(io.StringIO(_cli(capsys, mislabelled, "csv"))))
    assert [r["message"] for r in rows if r["kind"] == "python_warning"] == [EXPECTED]
    html = _cli(capsys, mislabelled, "html")
    assert f"Python warning while reading or checking: {EXPECTED}" in html and EXPECTED in result.html()


def test_reading_warning_in_pdf(tmp_path, mislabelled):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = PlanQA.from_folder(mislabelled).check("nct06863584")
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(result.publish_pdf(tmp_path / "r.pdf")).pages).split())
    assert "Expected explicit VR, but found implicit VR" in text and "RP.SBRT_T8.dcm" in text


def test_a_clean_plan_has_no_python_warnings(capsys):
    cli = json.loads(_cli(capsys, TEST_DATA / "sbrt_thoracic_spine", "json"))["plans"][0]
    assert cli["python_warnings"] == []


def test_a_warning_repeated_in_one_block_is_recorded_and_passed_on_once():
    from sbrt_qa.python_warnings import Collected

    with warnings.catch_warnings(record=True) as passed_on:
        warnings.simplefilter("always")
        with Collected() as caught:
            for _ in range(3):
                warnings.warn("the same defect", UserWarning)
    assert caught.messages == ["UserWarning: the same defect"]
    assert [str(w.message) for w in passed_on] == ["the same defect"]
