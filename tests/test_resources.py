"""Bounded resources: a structure far beyond the grid costs nothing beyond the grid, and a memory failure is an error.

Truth is closed form (rectangles in a dose linear in x), never the engine's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sbrt_qa.cli.main import main
from sbrt_qa.dvh.engine import MAX_PLANE_SUBCELLS, compute_structure_dvh, subcells_for, window_voxels
from sbrt_qa.load.rtdose import DoseGrid
from sbrt_qa.load.rtstruct import ROI

REPO = Path(__file__).resolve().parents[1]


def linear_grid(n: int = 20, step: float = 2.0) -> DoseGrid:
    """n^3 voxels of ``step`` mm from the origin; dose x/10 Gy at each voxel centre."""
    x = np.arange(n) * step
    dose = np.broadcast_to((x / 10.0)[None, None, :], (n, n, n)).astype(np.float32).copy()
    z = np.arange(n) * step
    return DoseGrid(dose, 0.0, 0.0, step, step, z, (-step / 2, z[-1] + step / 2), ["1.2.3"], None, "1\\0\\0\\0\\1\\0",
                    "PHYSICAL", "PLAN")


def box_roi(x0: float, x1: float, y0: float, y1: float, planes: np.ndarray) -> ROI:
    square = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    xy = np.concatenate([square] * planes.size)
    return ROI(1, "box", "ORGAN", "CLOSED_PLANAR", planes.astype(np.float64), xy,
               np.arange(planes.size + 1, dtype=np.int64) * 4, np.arange(planes.size + 1, dtype=np.int64), np.empty((0, 3)))


def test_a_box_reaching_far_beyond_the_grid_keeps_exact_figures_inside():
    """Box x 10..1500 mm, y 10..20 mm, six planes 2 mm apart; the grid ends at x = 39 mm.

    Inside: 29 x 10 x 12 mm = 3.48 cc. Whole: 1490 x 10 x 12 mm = 178.8 cc. Dose x/10 Gy up to
    the last voxel centre (x = 38 mm), constant 3.8 Gy over the outer half voxel, so the mean
    inside is (integral of x/10 over 10..38 + 3.8 x 1) / 29 = 71/29 Gy.
    """
    grid = linear_grid()
    planes = np.arange(10.0, 21.0, 2.0)
    result = compute_structure_dvh(box_roi(10.0, 1500.0, 10.0, 20.0, planes), grid)
    assert result.volume_cc == pytest.approx(178.8, rel=1e-9)
    assert result.dvh.total_cc == pytest.approx(3.48, rel=1e-9)
    assert result.outside_cc == pytest.approx(178.8 - 3.48, rel=1e-9)
    assert result.dvh.dmean_gy == pytest.approx(71 / 29, rel=1e-6)
    assert result.dvh.dmax_gy == pytest.approx(3.8, rel=1e-6)


def test_a_box_wholly_beyond_the_grid_is_all_outside():
    grid = linear_grid()
    result = compute_structure_dvh(box_roi(900.0, 1900.0, -1900.0, 1900.0, np.array([10.0, 12.0])), grid)
    assert result.dvh is None and result.outside_cc == pytest.approx(1000 * 3800 * 4 / 1000, rel=1e-9)
    assert "wholly outside" in " ".join(result.warnings)


def test_a_long_sliver_gets_a_bounded_coverage_buffer():
    """A 3-point sliver 3.6 m long over the grid: the sub-cells of its clipped window stay under the ceiling."""
    grid = linear_grid(200, 2.0)
    sliver = ROI(1, "sliver", "ORGAN", "CLOSED_PLANAR", np.array([10.0]),
                 np.array([[-1800.0, -1800.0], [1800.0, 1800.0], [1800.1, 1800.0]]),
                 np.array([0, 3], dtype=np.int64), np.array([0, 1], dtype=np.int64), np.empty((0, 3)))
    areas = np.array([0.5 * 0.1 * 3600])
    window = window_voxels(sliver, grid)
    s = subcells_for(areas, grid, window)
    assert (window[0] * s) * (window[1] * s) <= MAX_PLANE_SUBCELLS
    result = compute_structure_dvh(sliver, grid)
    assert result.volume_cc == pytest.approx(180 * grid.dz / 1000, rel=1e-6)  # 180 mm^2 x slab
    assert 0 < result.outside_cc < result.volume_cc


CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from sbrt_qa.dvh import kernels
    from sbrt_qa.dvh.engine import warm_up
    warm_up()
    peak = int(open("/proc/self/status").read().split("VmPeak:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (peak + 512 * 2**20, resource.RLIM_INFINITY))
    n = 300
    dose = np.ones((2, n, n), dtype=np.float32)
    square = np.array([[0.0, 0.0], [600.0, 0.0], [600.0, 600.0], [0.0, 600.0]])
    coff = np.array([0, 4], dtype=np.int64)
    poff = np.array([0, 1], dtype=np.int64)
    areas = kernels.plane_areas(square, coff, poff)
    try:
        # 64 sub-cells a voxel over 300 x 300 voxels: a 2.9 GB coverage buffer, beyond the limit
        kernels.accumulate_structure(dose, np.array([0.0, 2.0]), -1.0, 3.0, 1.0, 1.0, 2.0, 2.0, square, coff, poff,
                                     np.array([0.0]), np.array([2.0]), areas, 64, 0.01, 200, 1)
    except MemoryError as exc:
        print("MemoryError", exc)
    else:
        print("no error")
    """
)


def test_a_kernel_allocation_failure_is_an_error_not_a_skipped_plane():
    """Under a memory limit the coverage buffer cannot be allocated inside the parallel loop.

    numba loses exceptions raised in a prange body; before, the plane was silently skipped
    (figures changed, outside volume 0). Now the kernel counts the planes done and raises.
    """
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300)
    assert "MemoryError" in done.stdout, (done.stdout, done.stderr[-2000:])


def test_memory_failure_reaches_the_user_as_an_error(monkeypatch, capsys):
    from sbrt_qa.dvh import analysis

    def exhausted(*args, **kwargs):
        raise MemoryError("the DVH kernel could not complete every contour plane (memory exhausted)")

    monkeypatch.setattr(analysis, "compute_structure_dvh", exhausted)
    code = main(["dvh", str(REPO / "test_data" / "sbrt_thoracic_spine")])
    out, err = capsys.readouterr()
    assert code == 2 and "not enough memory" in err and "internal error" not in err and out == ""
