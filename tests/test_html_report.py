"""The HTML report, loaded in a real headless Chromium (Debian's chromium package).

The page is self-contained: the test serves nothing, Chromium opens the file with the
network features off, and the assertions are made on the rendered DOM, a screenshot
and a PDF print.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST_DATA
from sbrt_qa.cli.main import main
from sbrt_qa.report.check_html import limit_point
from sbrt_qa.results import ConstraintResult

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions"]


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    return exe


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    assert main(["check", str(TEST_DATA / "sbrt_cord_overdose"), "--format", "html", "--output", str(out)]) == 1
    return out


def test_report_is_self_contained(report):
    html = report.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert 'src="data:image/png;base64,' in html


def test_rendered_page(chromium, report, tmp_path):
    dom = _browser(chromium, tmp_path / "profile", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert 'class="banner s-major"' in page and "MAJOR: deviation unacceptable" in page
    for section in ("Prescription", "Constraints", "SBRT quality", "Plan checks", "DVH", "Notes"):
        assert f"<h2>{section}</h2>" in page
    assert "Spinal Cord" in page and "sbrt-qa version" in page and "nct06863584 v1.0" in page
    # major items come first in the constraint table
    table = page[page.index("<h2>Constraints</h2>"):page.index("<h2>SBRT quality</h2>")]
    statuses = [s for s in ("major", "not_evaluated", "minor", "info", "pass") if f's-{s}">{s}<' in table]
    assert statuses[0] == "major"


def test_screenshot_shows_the_verdict(chromium, report, tmp_path):
    png = tmp_path / "shot.png"
    shot = _browser(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,1600", report.as_uri())
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    import matplotlib.image as mpimg

    pixels = (mpimg.imread(png)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[1] == 1280
    banner = np.all(np.abs(pixels - np.array([249, 208, 208])) <= 2, axis=2)  # the major banner's colour
    rows = np.flatnonzero(banner.any(axis=1))
    assert rows.size > 10 and rows.min() < 400  # drawn, near the top


def test_prints_to_pdf(chromium, report, tmp_path):
    pdf = tmp_path / "report.pdf"
    printed = _browser(chromium, tmp_path / "profile", f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri())
    assert printed.returncode == 0 and pdf.read_bytes()[:5] == b"%PDF-", printed.stderr[-2000:]
    assert pdf.stat().st_size > 20_000


def _result(metric: str, goal_limit: float | None) -> ConstraintResult:
    """A result with the structured fields the evaluator fills (the plot reads those, never the metric text)."""
    base, _, biological = metric.partition(" (")
    model = biological.split(",")[0] if biological else "physical"
    kind = "index" if base.startswith(("R100%", "CI", "GI", "R50%")) else "dvh"
    return ConstraintResult(id="c", structure="S", matched_roi="S", match="exact", metric=metric, value=1.0, unit="Gy", goal="-",
                            variation=None, status="pass", source="-", verification="verified", message="", goal_limit=goal_limit,
                            base_metric=base, metric_kind=kind, model=model, goal_operator="<=")


@pytest.mark.parametrize(("metric", "goal", "expected"), [
    ("D95%[Gy]", 30.0, (30.0, 95.0)),
    ("D0.035cc[Gy]", 23.0, (23.0, 0.35)),  # 0.035 cc of a 10 cc structure
    ("Dmax[Gy]", 30.0, (30.0, 0.0)),
    ("V20Gy[%]", 10.0, (20.0, 10.0)),
    ("V1500cGy[%]", 35.0, (15.0, 35.0)),  # read through the TG-263 parser, cGy to Gy
    ("D1cc[Gy] (EQD2, a/b=3 Gy)", 50.0, None),  # a biological limit is not a point of the physical DVH
    ("R100%[ratio]", 1.2, None),
    ("Dmean[Gy]", 20.0, None),
    ("V100%[%]", 95.0, None),
    ("D95%[Gy]", None, None),
])
def test_constraint_limits_on_the_dvh_plot(metric, goal, expected):
    point = limit_point(_result(metric, goal), 10.0)
    assert point == (pytest.approx(expected) if expected else None)
