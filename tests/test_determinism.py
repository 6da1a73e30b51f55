"""Figures do not depend on the number of numba threads: the kernel's work partition is fixed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import TEST_DATA

SCRIPT = textwrap.dedent("""
    import hashlib, sys
    import numba
    from sbrt_qa.load import load
    from sbrt_qa.dvh.analysis import structure_dvhs
    plan_sets, _ = load(sys.argv[1:])
    for n in (1, 2, 3):
        numba.set_num_threads(n)
        h = hashlib.sha256()
        for ps in plan_sets:
            for number, d in sorted(structure_dvhs(ps).items()):
                if d.dvh is not None:
                    h.update(d.dvh.volume_cc.tobytes())
                    h.update(repr((d.dvh.dmin_gy, d.dvh.dmax_gy, d.dvh.dmean_gy, d.dvh.total_cc)).encode())
        print(n, h.hexdigest())
""")


def test_dvh_figures_are_bit_identical_on_1_2_and_3_threads():
    # 3 threads whatever the machine's core count: numba runs more threads than cores.
    env = {**os.environ, "NUMBA_NUM_THREADS": "3"}
    cases = [str(TEST_DATA / c) for c in ("sbrt_thoracic_spine", "imrt_head_neck")]
    out = subprocess.run([sys.executable, "-c", SCRIPT, *cases], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    digests = {line.split()[1] for line in out.stdout.splitlines()}
    assert len(out.stdout.splitlines()) == 3 and len(digests) == 1, out.stdout
