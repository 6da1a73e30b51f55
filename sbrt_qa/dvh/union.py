"""The DVH of a union of disjoint structures (a paired organ contoured side by side), and their overlap.

Cumulative volumes in cc add at every dose edge when the structures share no volume;
relative figures then refer to the summed volume and Dx% comes from the summed curve.
Where the structures overlap, adding would count the shared part twice: :func:`overlap_cc`
measures it on a fine lattice, and the caller must not add overlapping DVHs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..load.rtdose import DoseGrid
from ..load.rtstruct import ROI
from .cumulative import CumulativeDVH
from .engine import StructureDVH
from .masks import voxel_mask

#: Lattice step (mm) of the overlap check: finer than any dose grid, so that an overlap a
#: dose voxel's centre would miss is still seen.
OVERLAP_STEP_MM = 0.5
#: Most lattice points of the overlap check; a larger shared bounding box is sampled more coarsely.
OVERLAP_MAX_POINTS = 2 * 10**7


def disjoint_union(parts: Sequence[StructureDVH]) -> StructureDVH:
    """The DVH of the union of structures that share no volume.

    Parameters
    ----------
    parts : sequence of StructureDVH
        DVHs on one dose grid with one bin width (edges 0, w, 2w, ...). A part wholly
        outside the grid (``dvh`` None) adds its volume to ``volume_cc`` and ``outside_cc``.

    Returns
    -------
    StructureDVH
        Volumes summed at every edge; Dmin and Dmax the extremes of the parts; Dmean the
        mean weighted by each part's volume inside the grid.
    """
    if not parts:
        raise ValueError("a union needs at least one structure")
    inside = [p.dvh for p in parts if p.dvh is not None]
    volume = float(sum(p.volume_cc for p in parts))
    outside = float(sum(p.outside_cc for p in parts))
    subcells = min(p.subcells for p in parts)
    if not inside:
        return StructureDVH(volume, outside, None, subcells, ["structure lies wholly outside the dose grid"])
    widths = {float(d.edges_gy[1] - d.edges_gy[0]) for d in inside if d.edges_gy.size > 1}
    if len(widths) > 1:
        raise ValueError(f"DVHs of different bin widths cannot be added: {sorted(widths)} Gy")
    longest = max(inside, key=lambda d: d.edges_gy.size)
    n = longest.edges_gy.size
    summed = np.zeros(n)
    for d in inside:  # past a part's last edge (above its Dmax) it has no volume
        summed[: d.volume_cc.size] += d.volume_cc
    total = float(sum(d.total_cc for d in inside))
    mean = float(sum(d.dmean_gy * d.total_cc for d in inside) / total) if total > 0 else 0.0
    dvh = CumulativeDVH(longest.edges_gy.copy(), summed, total, float(min(d.dmin_gy for d in inside)),
                        float(max(d.dmax_gy for d in inside)), mean)
    return StructureDVH(volume, outside, dvh, subcells, [])


@dataclass(frozen=True)
class _Lattice:
    """A regular lattice shaped like a dose grid, so that :func:`~sbrt_qa.dvh.masks.voxel_mask` samples it."""

    shape: tuple[int, int, int]
    x0: float
    y0: float
    dx: float
    dy: float
    dz: float
    z: np.ndarray


def _bounds(roi: ROI, spacing: float | None) -> tuple[np.ndarray, np.ndarray]:
    half = (spacing or 0.0) / 2 if roi.plane_z.size < 2 else float(np.max(np.diff(roi.plane_z))) / 2
    lo = np.array([roi.xy[:, 0].min(), roi.xy[:, 1].min(), roi.plane_z.min() - half])
    hi = np.array([roi.xy[:, 0].max(), roi.xy[:, 1].max(), roi.plane_z.max() + half])
    return lo, hi


def overlap_cc(a: ROI, b: ROI, dose: DoseGrid, structure_set_spacing: float | None) -> float:
    """Volume (cc) two closed-planar ROIs share, sampled on a lattice over their common bounding box.

    The lattice step is :data:`OVERLAP_STEP_MM` (coarser only past :data:`OVERLAP_MAX_POINTS`
    points), each ROI read with the slab model of the DVH engine; 0.0 when their bounding
    boxes do not meet. ROIs that only touch (a shared face) share nothing: the masks are
    half-open.
    """
    if a.xy.size == 0 or b.xy.size == 0:
        return 0.0
    la, ha = _bounds(a, structure_set_spacing or dose.dz)
    lb, hb = _bounds(b, structure_set_spacing or dose.dz)
    lo, hi = np.maximum(la, lb), np.minimum(ha, hb)
    if np.any(hi <= lo):
        return 0.0
    extent = hi - lo
    step = max(OVERLAP_STEP_MM, float(np.prod(extent) / OVERLAP_MAX_POINTS) ** (1 / 3))
    n = [max(1, int(math.ceil(e / step))) for e in extent]
    # lattice points at the centres of n cells across the box
    centres = [lo[i] + step * (np.arange(n[i]) + 0.5) for i in range(3)]
    lattice = _Lattice((n[2], n[1], n[0]), float(centres[0][0]), float(centres[1][0]), step, step, step, centres[2])
    shared = voxel_mask(a, lattice, structure_set_spacing) & voxel_mask(b, lattice, structure_set_spacing)  # type: ignore[arg-type]
    return float(np.count_nonzero(shared)) * step**3 / 1000.0
