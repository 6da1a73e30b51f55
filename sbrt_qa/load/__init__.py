"""Loading: DICOM files to plan sets (dose grid, structure set, plan).

Names are imported on first use, so that importing a light submodule (``sbrt_qa.load.pairing``,
``sbrt_qa.load.sop``) does not load pydicom, scipy and the contour parser's numba kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: Public name -> submodule that defines it.
_EXPORTS = {
    "DoseGrid": ".rtdose",
    "LoadedPlanSet": ".planset",
    "PlanInfo": ".rtplan",
    "ROI": ".rtstruct",
    "StructureSet": ".rtstruct",
    "load": ".planset",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .planset import LoadedPlanSet, load
    from .rtdose import DoseGrid
    from .rtplan import PlanInfo
    from .rtstruct import ROI, StructureSet


__getattr__ = lazy_exports(__name__, _EXPORTS)
