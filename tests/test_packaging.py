"""The built wheel carries the protocols and the demo plan, and reads them from where it is installed.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation``) from a copy of the
package, and unpacked into a folder that stands in for site-packages. ``.ci/run`` does the full
install into a clean virtual environment with the dependencies from PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

PROTOCOL_IDS = {p.stem for p in (REPO / "sbrt_qa" / "protocols").glob("*.toml")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    # a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "sbrt_qa", src / "sbrt_qa", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    (whl,) = out.glob("sbrt_qa-*.whl")
    return whl


def test_wheel_contains_protocols_and_demo(wheel):
    assert PROTOCOL_IDS >= {"nct06863584", "hytec-spine-cord", "tg101-5fx"}
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"sbrt_qa/protocols/{p}.toml" for p in PROTOCOL_IDS} <= names
    assert "sbrt_qa/protocol/synonyms.toml" in names  # organ synonyms, read with importlib.resources
    demo = {n for n in names if n.startswith("sbrt_qa/demo/") and n.endswith(".dcm")}
    assert len(demo) == 3, demo  # RT Plan, RT Structure Set, RT Dose
    # the wheel stays small: the budget is about 1 MB for the demo
    assert wheel.stat().st_size < 1_000_000


def test_installed_wheel_reads_its_own_protocols_and_checks_the_demo(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # only the unpacked wheel on the path (the checkout's package must not be what is found);
    # the dependencies come from this interpreter's environment
    env = {**os.environ, "PYTHONPATH": str(site)}
    cwd = tmp_path

    def sbrt_qa(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sbrt_qa", *argv], capture_output=True, text=True, env=env, cwd=cwd)

    where = subprocess.run([sys.executable, "-c", "import sbrt_qa; print(sbrt_qa.__file__)"], capture_output=True, text=True, env=env, cwd=cwd)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    listed = sbrt_qa("protocols", "list")
    assert listed.returncode == 0, listed.stderr
    assert all(pid in listed.stdout for pid in PROTOCOL_IDS), listed.stdout
    demo = subprocess.run([sys.executable, "-m", "sbrt_qa.demo"], capture_output=True, text=True, env=env, cwd=cwd)
    assert demo.returncode == 0 and demo.stdout.strip().startswith(str(site)), demo.stdout + demo.stderr
    # The demo is the compliant compact plan: cord 5 mm behind the PTV (cord Dmax far below
    # HyTEC's 25.3 Gy), both levels covered, 2.5 mm grid, heterogeneity corrected, approved:
    # a physicist expects PASS, exit 0.
    checked = sbrt_qa("check", demo.stdout.strip())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("PASS"), checked.stdout
