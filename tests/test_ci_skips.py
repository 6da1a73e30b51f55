"""In CI (``CI=true``) a test that would skip for want of shared data, Chromium or an optional package fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROBE = '''
import pytest

def test_browser():
    pytest.skip("Chromium is not installed (Debian package 'chromium')")

def test_cluster():
    pytest.importorskip("no_such_module_for_sbrt_qa")

def test_unrelated_skip():
    pytest.skip("not applicable on this platform")

@pytest.mark.xfail(strict=True, reason="known")
def test_known_failure():
    assert False
'''


def _run(folder: Path, ci: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", str(folder)], env=env,
                         capture_output=True, text=True, timeout=120, cwd=folder)
    return out.stdout.splitlines()[-1]


def test_missing_dependencies_fail_in_ci_and_skip_elsewhere(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    assert _run(tmp_path, "true").startswith("2 failed, 1 skipped, 1 xfailed")
    assert _run(tmp_path, None).startswith("3 skipped, 1 xfailed")
