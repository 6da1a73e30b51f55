"""Voxel masks of structures on the dose grid (voxel centres inside the slab model)."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..load.rtdose import DoseGrid
from ..load.rtstruct import ROI
from .engine import roi_spacing, slab_bounds


@nb.njit(cache=True, nogil=True)
def _mask(xy, coff, poff, zlo, zhi, x0, y0, dx, dy, zg, nx, ny, out):
    buf = np.empty(xy.shape[0] + 2)
    for k in range(zg.size):
        z = zg[k]
        for p in range(poff.size - 1):
            if not (zlo[p] <= z < zhi[p]):
                continue
            for j in range(ny):
                y = y0 + j * dy
                n = 0
                for c in range(poff[p], poff[p + 1]):
                    s = coff[c]
                    e = coff[c + 1]
                    for q in range(s, e):
                        r = q + 1 if q + 1 < e else s
                        y1 = xy[q, 1]
                        y2 = xy[r, 1]
                        if (y1 <= y < y2) or (y2 <= y < y1):
                            buf[n] = xy[q, 0] + (y - y1) * (xy[r, 0] - xy[q, 0]) / (y2 - y1)
                            n += 1
                buf[:n].sort()
                for m in range(0, n - 1, 2):
                    i_a = int(np.ceil((buf[m] - x0) / dx))
                    i_b = int(np.ceil((buf[m + 1] - x0) / dx))
                    for i in range(max(i_a, 0), min(i_b, nx)):
                        out[k, j, i] = True  # pairs of sorted crossings: even-odd across a plane's contours
    return out


def voxel_mask(roi: ROI, dose: DoseGrid, structure_set_spacing: float | None) -> np.ndarray:
    """Boolean mask [z, y, x] of the dose voxels whose centres lie in the structure."""
    spacing = roi_spacing(roi, structure_set_spacing, dose)
    zlo, zhi = slab_bounds(roi.plane_z, spacing)
    nz, ny, nx = dose.shape
    out = np.zeros((nz, ny, nx), dtype=np.bool_)
    if roi.plane_z.size == 0:
        return out
    return _mask(roi.xy, roi.contour_offsets, roi.plane_offsets, zlo, zhi, dose.x0, dose.y0, dose.dx, dose.dy, dose.z, nx, ny, out)
