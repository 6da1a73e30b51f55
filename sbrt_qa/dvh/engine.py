"""Structures x dose grid -> cumulative DVHs (see :mod:`sbrt_qa.dvh.kernels` for the model)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..load.rtdose import DoseGrid
from ..load.rtstruct import ROI
from . import kernels
from .cumulative import MM3_PER_CC, CumulativeDVH

#: Dose histogram resolution (Gy). The cumulative curve is exact at each edge.
BIN_WIDTH_GY = 0.01
#: In-plane samples aimed at on the structure's largest plane; sets the sub-cell size.
SAMPLES_PER_PLANE = 3000
#: Smallest sub-cell (mm); below it sampling costs time for no accuracy.
MIN_SUBCELL_MM = 0.05
#: A gap between planes larger than this many contour spacings is a real gap, not a slab to fill.
GAP_FACTOR = 1.5


@dataclass
class StructureDVH:
    """Result of one structure's DVH computation.

    Attributes
    ----------
    volume_cc : float
        The whole structure's volume by the slab model, inside the grid or not.
    outside_cc : float
        The part of ``volume_cc`` outside the dose grid; figures exclude it.
    dvh : CumulativeDVH or None
        None when nothing of the structure lies in the grid, or it has no volume.
    subcells : int
        In-plane sub-cells per dose voxel along x and y used for this structure.
    """

    volume_cc: float
    outside_cc: float
    dvh: CumulativeDVH | None
    subcells: int
    warnings: list[str] = field(default_factory=list)


def slab_bounds(plane_z: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Slab of each contour plane: one contour spacing thick, centred on the plane.

    Between neighbouring planes the boundary is the midpoint, so unevenly spaced
    planes still tile without gap or overlap. End planes, and planes next to a gap
    wider than ``GAP_FACTOR`` spacings, get a half-spacing cap.

    Parameters
    ----------
    plane_z : numpy.ndarray
        Plane z (mm), increasing.
    spacing : float
        The contour spacing (mm).
    """
    n = plane_z.size
    lo = plane_z - spacing / 2
    hi = plane_z + spacing / 2
    if n > 1:
        gaps = np.diff(plane_z)
        joined = gaps <= GAP_FACTOR * spacing
        mids = plane_z[:-1] + gaps / 2
        hi[:-1] = np.where(joined, mids, hi[:-1])
        lo[1:] = np.where(joined, mids, lo[1:])
    return lo, hi


def roi_spacing(roi: ROI, structure_set_spacing: float | None, dose: DoseGrid) -> float:
    """Contour spacing for a ROI: its own median plane step, else the structure set's, else the dose grid's."""
    if roi.plane_z.size > 1:
        steps = np.diff(roi.plane_z)
        return float(np.median(steps))
    if structure_set_spacing:
        return structure_set_spacing
    return dose.dz


#: Chunks of contour planes the kernel accumulates independently (in parallel). Fixed,
#: never derived from the thread count: floating-point sums depend on their grouping, so
#: the same partition on 1 or 64 threads gives bit-identical figures. 16 chunks keep 2-8
#: cores busy on the plans we see (tens to hundreds of planes) for 1 MB of histograms.
WORK_CHUNKS = 16


def work_chunks(n_planes: int) -> int:
    """Chunks of contour planes for :func:`kernels.accumulate_structure`: a function of the plane count only."""
    return max(1, min(WORK_CHUNKS, n_planes))


#: Most sub-cells one plane's coverage buffer may hold: 2**22 cells, 32 MB of float64 per
#: kernel thread. Only slivers reach it (a thin contour across the whole grid); their
#: sub-cells are then made coarser rather than the buffer larger.
MAX_PLANE_SUBCELLS = 2**22


def window_voxels(roi: ROI, dose: DoseGrid) -> tuple[float, float]:
    """Voxels spanned along x and y by the ROI's bounding box clipped to the grid (plus the kernel's margin)."""
    if roi.xy.size == 0:
        return 0.0, 0.0
    spans = []
    for column, (lo, hi), step in ((0, dose.x_extent, dose.dx), (1, dose.y_extent, dose.dy)):
        a = max(float(roi.xy[:, column].min()), lo)
        b = min(float(roi.xy[:, column].max()), hi)
        spans.append(max(b - a, 0.0) / step + 3.0)
    return spans[0], spans[1]


def subcells_for(areas: np.ndarray, dose: DoseGrid, window: tuple[float, float] | None = None) -> int:
    """Sub-cells per voxel so that the largest plane gets about ``SAMPLES_PER_PLANE`` samples.

    With ``window`` (voxels along x and y the coverage buffer spans, see :func:`window_voxels`)
    the buffer is kept within :data:`MAX_PLANE_SUBCELLS`.
    """
    voxel = min(dose.dx, dose.dy)
    a_max = float(areas.max()) if areas.size else 0.0
    h = max(math.sqrt(a_max / SAMPLES_PER_PLANE), MIN_SUBCELL_MM) if a_max > 0 else voxel
    s = max(1, min(int(math.ceil(voxel / h)), 64))
    if window is not None and window[0] * window[1] > 0:
        s = max(1, min(s, int(math.sqrt(MAX_PLANE_SUBCELLS / (window[0] * window[1])))))
    return s


def compute_structure_dvh(roi: ROI, dose: DoseGrid, structure_set_spacing: float | None = None, bin_width: float = BIN_WIDTH_GY) -> StructureDVH:
    """Cumulative DVH of one closed-planar ROI on a dose grid.

    Parameters
    ----------
    roi : ROI
        A ROI with geometry ``CLOSED_PLANAR``.
    dose : DoseGrid
    structure_set_spacing : float, optional
        Contour spacing of the structure set, for ROIs drawn on a single plane.
    bin_width : float
        Dose edge spacing (Gy).

    Returns
    -------
    StructureDVH
    """
    spacing = roi_spacing(roi, structure_set_spacing, dose)
    zlo, zhi = slab_bounds(roi.plane_z, spacing)
    areas = kernels.plane_areas(roi.xy, roi.contour_offsets, roi.plane_offsets)
    volume_cc = float(np.sum(areas * (zhi - zlo)) / MM3_PER_CC)
    s = subcells_for(areas, dose, window_voxels(roi, dose))
    warnings: list[str] = []
    if volume_cc <= 0:
        return StructureDVH(0.0, 0.0, None, s, ["structure has no volume"])
    top = dose.max_gy * 1.02 + 1.0
    n_edges = int(math.ceil(top / bin_width)) + 3
    n_rows = work_chunks(roi.plane_z.size)
    below, stats = kernels.accumulate_structure(
        dose.dose_gy, dose.z, dose.z_extent[0], dose.z_extent[1], dose.x0, dose.y0, dose.dx, dose.dy,
        roi.xy, roi.contour_offsets, roi.plane_offsets, zlo, zhi, areas, s, bin_width, n_edges, n_rows,
    )
    inside, outside, weighted, dmin, dmax = (float(v) for v in stats)
    outside_cc = outside / MM3_PER_CC
    if outside_cc > 1e-6 * max(volume_cc, 1e-9):
        warnings.append(
            f"{outside_cc:.3f} cc of {volume_cc:.3f} cc lies outside the dose grid: "
            "figures describe only the part inside"
        )
    if inside <= 0:
        return StructureDVH(volume_cc, outside_cc, None, s, warnings + ["structure lies wholly outside the dose grid"])
    edges = np.arange(n_edges) * bin_width
    dvh = CumulativeDVH(
        edges_gy=edges,
        volume_cc=(inside - below) / MM3_PER_CC,
        total_cc=inside / MM3_PER_CC,
        dmin_gy=dmin,
        dmax_gy=dmax,
        dmean_gy=weighted / inside,
    )
    return StructureDVH(volume_cc, outside_cc, dvh, s, warnings)


def warm_up() -> None:
    """Load the compiled kernels from numba's cache (about 0.2 s of LLVM set-up) on a tiny case.

    Run on a background thread while DICOM files are read: llvmlite releases the
    GIL in its C calls, so the set-up overlaps the reading.
    """
    dose = np.zeros((2, 2, 2), dtype=np.float32)
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    offsets = np.array([0, 4], dtype=np.int64)
    planes = np.array([0, 1], dtype=np.int64)
    areas = kernels.plane_areas(square, offsets, planes)
    kernels.accumulate_structure(dose, np.array([0.0, 1.0]), -0.5, 1.5, 0.0, 0.0, 1.0, 1.0, square, offsets, planes,
                                 np.array([0.0]), np.array([1.0]), areas, 1, BIN_WIDTH_GY, 4, 1)
    kernels.point_doses(dose, np.array([0.0, 1.0]), 0.0, 0.0, 1.0, 1.0, np.zeros((1, 3)))


def point_dose_gy(points: np.ndarray, dose: DoseGrid) -> np.ndarray:
    """Dose (Gy) at POINT ROI coordinates; NaN outside the grid."""
    pts = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    inside_z = (pts[:, 2] >= dose.z_extent[0]) & (pts[:, 2] <= dose.z_extent[1])
    values = kernels.point_doses(dose.dose_gy, dose.z, dose.x0, dose.y0, dose.dx, dose.dy, pts)
    return np.where(inside_z, values, np.nan)
