"""SBRT plan-quality indices of a target (RTOG 0813/0915, Paddick, ICRU 83 and 91).

Isodose volumes (PIV, V50%) are taken over BODY when a BODY role is matched (from its
exact DVH), otherwise over the whole dose grid (voxel count x voxel volume).
D2cm is the maximum dose in voxels whose centres lie 2 cm or more from the nearest PTV
voxel centre, by a 3-D Euclidean distance transform on the dose grid (within BODY when
known), as % of the prescription.

**Several targets** (:func:`partition`). Targets whose voxels overlap or touch form one
cluster (a PGTV inside its PTV); with two or more clusters the dose grid is split into
cells, each voxel going to the cluster whose nearest voxel centre is closest (a Voronoi
partition by Euclidean distance transforms, ties to the cluster listed first). A target's
isodose volumes (PIV, V50%, V105%), its D2cm and the global maximum are then taken inside its
cluster's cell only (within BODY when known), so that another target's prescribed dose is
never counted as this target's spill. The cell's isodose volumes integrate the trilinearly
interpolated dose (voxels crossed by the isodose sampled 4 x 4 x 4), as the DVH engine
interpolates it; TV_PIV still comes from the target's own DVH.

**Truncated isodoses.** An isodose volume that reaches the edge of the dose grid (a voxel
of the outermost layer of the grid, inside the target's cell and BODY, at or above the
isodose level) extends beyond what the grid holds: R100% and Paddick CI (100 % isodose),
R50% and GI (50 %), V105% outside the PTV (105 %) and D2cm (its own level: the maximum 2 cm
away may lie beyond the edge) are then not evaluable, never passed from the truncated volume
(:attr:`TargetIndices.not_evaluable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..dvh.cumulative import CumulativeDVH
from ..load.rtdose import DoseGrid


@dataclass
class TargetIndices:
    """Indices of one target at one prescription dose."""

    prescription_gy: float
    ptv_cc: float
    piv_cc: float
    tv_piv_cc: float
    v50_cc: float
    r100: float
    paddick_ci: float
    paddick_gi: float | None
    r50: float
    d2cm_percent: float | None
    hi_icru83: float | None
    near_max_icru91_gy: float | None
    v105_outside_cc: float
    global_max_in_ptv: bool
    isodose_region: str
    #: Index metric -> why it cannot be evaluated (an isodose volume reaching the grid edge).
    not_evaluable: dict[str, str] = field(default_factory=dict)


def _grid_volume_at_least(dose: DoseGrid, level: float) -> float:
    return float(np.count_nonzero(dose.dose_gy >= level)) * dose.voxel_cc


#: Sub-samples per voxel edge where an isodose surface crosses a voxel (partitioned isodose volumes).
SUBSAMPLES = 4


def _interpolated_volume_at_least(dose: DoseGrid, level: float, region: np.ndarray) -> float:
    """Volume (cc) of the voxels of ``region`` (cubes about their centres) where the trilinearly
    interpolated dose is at least ``level``, as the DVH engine interpolates it.

    Voxels whose 3x3x3 neighbourhood lies wholly on one side of the level count whole or not at
    all; the others are sampled at SUBSAMPLES^3 points (scipy map_coordinates, order 1).
    """
    values = dose.dose_gy
    mixed = (ndimage.maximum_filter(values, size=3, mode="nearest") >= level) & (ndimage.minimum_filter(values, size=3, mode="nearest") < level)
    mixed &= region
    whole = float(np.count_nonzero((values >= level) & region & ~mixed))
    idx = np.argwhere(mixed).astype(float)
    if idx.size == 0:
        return whole * dose.voxel_cc
    steps = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    offsets = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    part = 0.0
    for start in range(0, len(idx), 20000):  # bounded memory on clinical grids
        points = (idx[start:start + 20000, None, :] + offsets[None, :, :]).reshape(-1, 3).T
        sampled = ndimage.map_coordinates(values, points, order=1, mode="nearest")
        part += float(np.count_nonzero(sampled >= level)) / len(offsets)
    return (whole + part) * dose.voxel_cc


def _edge(shape: tuple[int, ...]) -> np.ndarray:
    """The outermost layer of voxels of a grid."""
    edge = np.zeros(shape, dtype=bool)
    for axis in range(len(shape)):
        index: list = [slice(None)] * len(shape)
        index[axis] = 0
        edge[tuple(index)] = True
        index[axis] = -1
        edge[tuple(index)] = True
    return edge


def partition(masks: dict[str, np.ndarray], dose: DoseGrid) -> dict[str, np.ndarray | None]:
    """Each target's cell of the dose grid (see the module docstring); None when one cluster holds every target.

    Parameters
    ----------
    masks : dict
        Key (e.g. ``ROLE`` or ``ROLE@ROI``) -> voxel mask [z, y, x] of the target.
    dose : DoseGrid
    """
    keys = [k for k, m in masks.items() if m is not None and m.any()]
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            k = parent[k]
        return k

    grown = {k: ndimage.binary_dilation(masks[k]) for k in keys}  # touching targets join too
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if (grown[a] & masks[b]).any():
                parent[root(b)] = root(a)
    clusters: dict[str, list[str]] = {}
    for k in keys:
        clusters.setdefault(root(k), []).append(k)
    out: dict[str, np.ndarray | None] = {k: None for k in masks}
    if len(clusters) < 2:
        return out
    sampling = (dose.dz, dose.dy, dose.dx)
    distances = []
    for members in clusters.values():
        union = np.zeros(dose.shape, dtype=bool)
        for k in members:
            union |= masks[k]
        distances.append(ndimage.distance_transform_edt(~union, sampling=sampling))
    nearest = np.argmin(np.stack(distances), axis=0)
    for i, members in enumerate(clusters.values()):
        cell = nearest == i
        for k in members:
            out[k] = cell
    return out


def compute(ptv: CumulativeDVH, ptv_volume_cc: float, rx_gy: float, dose: DoseGrid, body: CumulativeDVH | None,
            ptv_mask: np.ndarray | None, body_mask: np.ndarray | None, cell: np.ndarray | None = None) -> TargetIndices:
    """Indices of a target from its DVH, the BODY DVH (or the grid) and voxel masks.

    Parameters
    ----------
    cell : numpy.ndarray, optional
        The target's cell of the grid when several targets share it (:func:`partition`):
        isodose volumes, D2cm and the global maximum are then taken inside it.
    """
    if cell is not None:
        region = cell & body_mask if body_mask is not None else cell
        inside = dose.dose_gy[region]
        piv = _interpolated_volume_at_least(dose, rx_gy, region)
        v50 = _interpolated_volume_at_least(dose, 0.5 * rx_gy, region)
        v105_all = _interpolated_volume_at_least(dose, 1.05 * rx_gy, region)
        global_max = float(inside.max()) if inside.size else 0.0
        region_name = ("BODY" if body_mask is not None else "dose grid") + ", this target's cell of the grid"
    elif body is not None:
        piv = body.volume_at_dose_cc(rx_gy)
        v50 = body.volume_at_dose_cc(0.5 * rx_gy)
        v105_all = body.volume_at_dose_cc(1.05 * rx_gy)
        global_max = body.dmax_gy
        region_name = "BODY"
    else:
        piv = _grid_volume_at_least(dose, rx_gy)
        v50 = _grid_volume_at_least(dose, 0.5 * rx_gy)
        v105_all = _grid_volume_at_least(dose, 1.05 * rx_gy)
        global_max = dose.max_gy
        region_name = "dose grid"
    tv_piv = ptv.volume_at_dose_cc(rx_gy)
    d2cm = None
    if ptv_mask is not None and ptv_mask.any():
        far = ndimage.distance_transform_edt(~ptv_mask, sampling=(dose.dz, dose.dy, dose.dx)) >= 20.0
        if body_mask is not None:
            far &= body_mask
        if cell is not None:
            far &= cell
        if far.any():
            d2cm = 100.0 * float(dose.dose_gy[far].max()) / rx_gy
    edge = _edge(dose.shape)
    if cell is not None:
        edge &= cell
    if body_mask is not None:
        edge &= body_mask
    edge_max = float(dose.dose_gy[edge].max()) if edge.any() else 0.0
    not_evaluable: dict[str, str] = {}

    def truncated(metrics: tuple[str, ...], level_gy: float, what: str) -> None:
        if edge_max >= level_gy:
            for metric in metrics:
                not_evaluable[metric] = (f"the {what} isodose volume ({level_gy:.4g} Gy) reaches the edge of the dose grid "
                                         f"(up to {edge_max:.4g} Gy there): the grid does not hold all of it")

    truncated(("R100%[ratio]", "CI_Paddick[ratio]"), rx_gy, "100 %")
    truncated(("R50%[ratio]", "GI_Paddick[ratio]"), 0.5 * rx_gy, "50 %")
    truncated(("V105%_outside_PTV[cc]",), 1.05 * rx_gy, "105 %")
    if d2cm is not None:
        truncated(("D2cm[%]",), d2cm * rx_gy / 100.0, f"D2cm ({d2cm:.3g} %)")
    d2, d98, d50 = (ptv.dose_at_volume_percent(x) for x in (2.0, 98.0, 50.0))
    hi = (d2 - d98) / d50 if d2 is not None and d98 is not None and d50 else None
    near_max = d2 if ptv_volume_cc >= 2.0 else ptv.dose_at_volume_cc(0.035)
    return TargetIndices(
        prescription_gy=rx_gy,
        ptv_cc=ptv_volume_cc,
        piv_cc=piv,
        tv_piv_cc=tv_piv,
        v50_cc=v50,
        r100=piv / ptv_volume_cc,
        paddick_ci=tv_piv * tv_piv / (ptv_volume_cc * piv) if piv > 0 else 0.0,
        paddick_gi=v50 / piv if piv > 0 else None,
        r50=v50 / ptv_volume_cc,
        d2cm_percent=d2cm,
        hi_icru83=hi,
        near_max_icru91_gy=near_max,
        v105_outside_cc=max(v105_all - ptv.volume_at_dose_cc(1.05 * rx_gy), 0.0),
        global_max_in_ptv=bool(ptv.dmax_gy >= global_max - 1e-3),
        isodose_region=region_name,
        not_evaluable=not_evaluable,
    )


def value(indices: TargetIndices, metric: str) -> float | None:
    """The index named by a constraint metric (see ``INDEX_METRICS``); None when it is not evaluable."""
    if metric in indices.not_evaluable:
        return None
    return {
        "R100%[ratio]": indices.r100,
        "CI_Paddick[ratio]": indices.paddick_ci,
        "GI_Paddick[ratio]": indices.paddick_gi,
        "R50%[ratio]": indices.r50,
        "D2cm[%]": indices.d2cm_percent,
        "HI_ICRU83[ratio]": indices.hi_icru83,
        "NearMax_ICRU91[Gy]": indices.near_max_icru91_gy,
        "V105%_outside_PTV[cc]": indices.v105_outside_cc,
        "GlobalMax_in_PTV[bool]": 1.0 if indices.global_max_in_ptv else 0.0,
    }[metric]
