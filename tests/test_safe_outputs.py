"""Outputs a hostile string cannot abuse: CSV formulas, terminal control characters, links, CSP, file names.

Expected outputs follow OWASP's CSV-injection advice (a leading single quote) and the
issue: escapes shown as ``\\x1b`` and ``\\r``; links relative and percent-encoded.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pydicom
import pytest

from conftest import TEST_DATA
from sbrt_qa.batch.cohort import Cohort, render_cohort_csv, render_cohort_html
from sbrt_qa.cli.main import main
from sbrt_qa.pipeline import safe_stem
from sbrt_qa.report.safe import CSP_META, csv_cell, escape_controls, relative_link

SBRT = TEST_DATA / "sbrt_thoracic_spine"
HOSTILE_LABEL = "\r\x1b[32mPASS: per protocol\x1b[0m\n=HYPERLINK(\"http://x\")"


@pytest.mark.parametrize(
    "cell, shown",
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1.5", "-1.5"),  # a number written as text stays a number
        ("-1.5e-3", "-1.5e-3"),
        (-1.5, -1.5),
        ("PTV", "PTV"),
        ("", ""),
    ],
)
def test_csv_cells_that_would_start_a_formula_are_neutralised(cell, shown):
    assert csv_cell(cell) == shown


def test_control_characters_are_shown_escaped():
    assert escape_controls("a\x1b[31mb\rc\nd\u202ee\x00") == "a\\x1b[31mb\\rc\\nd\\u202ee\\x00"
    assert escape_controls("Poumon gauche – ÉPARGNE") == "Poumon gauche – ÉPARGNE"
    assert escape_controls(escape_controls("\x1b")) == "\\x1b"


def test_links_are_relative_and_percent_encoded(tmp_path):
    link = relative_link(tmp_path / "javascript:alert(1)" / "rep ort.html", tmp_path)
    assert link == "javascript%3Aalert%281%29/rep%20ort.html"
    assert ":" not in link
    assert relative_link(tmp_path / "a" / "r.html", tmp_path / "b") == "../a/r.html"


def test_file_names_from_labels_are_sanitised_and_bounded():
    import re

    stem = safe_stem("a\x00b/../c")
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", stem) and ".." not in stem and stem.startswith("a_b")
    long = safe_stem("P" * 10_000)
    assert len(long) <= 120 and long != safe_stem("P" * 9_999)
    assert safe_stem("1.2.840.10008.5.1.4") == "1.2.840.10008.5.1.4"


def hostile_plan(tmp_path: Path) -> Path:
    folder = tmp_path / "plan"
    shutil.copytree(SBRT, folder)
    path = next(folder.glob("RP*"))
    ds = pydicom.dcmread(path)
    ds.RTPlanLabel = HOSTILE_LABEL
    ds.save_as(path)
    path = next(folder.glob("RS*"))
    ds = pydicom.dcmread(path)
    names = {"Heart": "=cmd|'/C calc'!A0", "Esophagus": "PTVA\\B", "Lung_L": "-2+3"}
    for item in ds.StructureSetROISequence:
        if item.ROIName in names:
            item.ROIName = names[item.ROIName]
    ds.save_as(path)
    return folder


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def no_raw_controls(text: str) -> None:
    for ch in ("\x1b", "\r", "\u202e", "\x00"):
        assert ch not in text, repr(ch)


def test_text_reports_escape_control_characters(tmp_path, capsys):
    folder = hostile_plan(tmp_path)
    code, out, err = run(capsys, "check", folder)
    no_raw_controls(out)
    first = out.splitlines()[0]
    assert "\\r\\x1b[32mPASS: per protocol\\x1b[0m\\n=HYPERLINK" in first  # the label, on the verdict's own line
    code, out, err = run(capsys, "dvh", folder)
    no_raw_controls(out)
    assert out.splitlines()[0].startswith("Plan: \\r\\x1b[32mPASS")
    code, out, err = run(capsys, "check", folder, "--output", tmp_path / "report.json", "--format", "json")
    no_raw_controls(err)


def test_csv_reports_neutralise_formulas_and_keep_numbers(tmp_path, capsys):
    folder = hostile_plan(tmp_path)
    for command in ("check", "dvh"):
        code, out, err = run(capsys, command, folder, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows
        labels = {r["plan_label"] for r in rows}
        assert labels == {"'" + HOSTILE_LABEL}
        for r in rows:
            for key, value in r.items():
                assert not (value or "").startswith(("=", "+", "@", "\t", "\r")), (key, value)
                if (value or "").startswith("-"):
                    float(value)  # only numbers may start with a minus
    code, out, err = run(capsys, "dvh", folder, "--format", "csv")
    structures = {r["structure"] for r in csv.DictReader(io.StringIO(out))}
    assert {"'=cmd|'/C calc'!A0", "'-2+3", "PTVA\\B"} <= structures


def test_multi_valued_names_display_as_dicom_shows_them(tmp_path, capsys):
    folder = hostile_plan(tmp_path)
    code, out, err = run(capsys, "dvh", folder, "--format", "json")
    names = [s["name"] for s in json.loads(out)["plans"][0]["structures"]]
    assert "PTVA\\B" in names and not any(n.startswith("[") for n in names)


def test_html_pages_carry_a_strict_content_security_policy(tmp_path, capsys):
    folder = hostile_plan(tmp_path)
    code, out, err = run(capsys, "check", folder, "--format", "html")
    head = out.split("</head>")[0]
    assert CSP_META in head and "default-src 'none'" in CSP_META and "<script" not in out.lower()
    cohort = Cohort({"SBRT": {"pass": 1}}, {}, {}, [{"case": "javascript:alert(1)", "plan": "<b>x</b>", "arm": "SBRT", "status": "major",
                                                      "items": ["=1+1"], "report_html": str(tmp_path / "javascript:alert(1)" / "r.html")}])
    page = render_cohort_html(cohort, tmp_path)
    assert CSP_META in page.split("</head>")[0]
    assert 'href="javascript%3Aalert%281%29/r.html"' in page and 'href="javascript:' not in page and "<b>x</b>" not in page
    render_cohort_csv(cohort, tmp_path)
    rows = list(csv.reader((tmp_path / "deviations.csv").open()))
    assert rows[1][4] == "'=1+1"
