"""SBRT plan-quality indices of a target (RTOG 0813/0915, Paddick, ICRU 83 and 91).

Isodose volumes (PIV, V50%) are taken over BODY when a BODY role is matched (from its
exact DVH), otherwise over the whole dose grid (voxel count x voxel volume).
D2cm is the maximum dose in voxels whose centres lie 2 cm or more from the nearest PTV
voxel centre, by a 3-D Euclidean distance transform on the dose grid (within BODY when
known), as % of the prescription.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _grid_volume_at_least(dose: DoseGrid, level: float) -> float:
    return float(np.count_nonzero(dose.dose_gy >= level)) * dose.voxel_cc


def compute(ptv: CumulativeDVH, ptv_volume_cc: float, rx_gy: float, dose: DoseGrid, body: CumulativeDVH | None,
            ptv_mask: np.ndarray | None, body_mask: np.ndarray | None) -> TargetIndices:
    """Indices of a target from its DVH, the BODY DVH (or the grid) and voxel masks."""
    if body is not None:
        piv = body.volume_at_dose_cc(rx_gy)
        v50 = body.volume_at_dose_cc(0.5 * rx_gy)
        v105_all = body.volume_at_dose_cc(1.05 * rx_gy)
        global_max = body.dmax_gy
        region = "BODY"
    else:
        piv = _grid_volume_at_least(dose, rx_gy)
        v50 = _grid_volume_at_least(dose, 0.5 * rx_gy)
        v105_all = _grid_volume_at_least(dose, 1.05 * rx_gy)
        global_max = dose.max_gy
        region = "dose grid"
    tv_piv = ptv.volume_at_dose_cc(rx_gy)
    d2cm = None
    if ptv_mask is not None and ptv_mask.any():
        far = ndimage.distance_transform_edt(~ptv_mask, sampling=(dose.dz, dose.dy, dose.dx)) >= 20.0
        if body_mask is not None:
            far &= body_mask
        if far.any():
            d2cm = 100.0 * float(dose.dose_gy[far].max()) / rx_gy
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
        isodose_region=region,
    )


def value(indices: TargetIndices, metric: str) -> float | None:
    """The index named by a constraint metric (see ``INDEX_METRICS``)."""
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
