"""Importing the Python API is light (issue 13): numba, scipy, matplotlib and pydicom load when needed.

``from sbrt_qa import PlanQA`` must not load the DVH engine's numba kernels, scipy or
matplotlib (nor pydicom): a notebook pays for them when it loads a plan and computes a DVH.
Plotting and publishing leave the caller's matplotlib backend as the caller chose it.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numba", "scipy", "matplotlib", "pydicom", "pandas")


def _run(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_importing_the_api_loads_no_heavy_library():
    out = _run(f"""
import sys
from sbrt_qa import PlanQA, QAResult, Provenance, DVH, Status, Pairing, InputError, MetricError, MetricTable, Structure
print(sorted(m for m in {HEAVY!r} if m in sys.modules) or "none")
""")
    assert out == ["none"]


def test_engine_loads_on_use_and_the_backend_stays(tmp_path):
    out = _run(f"""
import sys, matplotlib
matplotlib.use("svg")  # the caller's choice
from sbrt_qa import PlanQA
assert "numba" not in sys.modules
qa = PlanQA.from_demo()
ptv = qa.dvh("PTV_3500")
assert "numba" in sys.modules  # loaded for the plan's contours and DVH, not before
ptv.plot()
result = qa.check("nct06863584")
result.plot_dvh()
result.publish_pdf({str(tmp_path / 'r.pdf')!r})
result.publish_html({str(tmp_path / 'r.html')!r})
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
""")
    assert out == ["svg", "False"]
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
