"""Loading: DICOM files to plan sets (dose grid, structure set, plan)."""

from .planset import LoadedPlanSet, load
from .rtdose import DoseGrid
from .rtplan import PlanInfo
from .rtstruct import ROI, StructureSet

__all__ = ["DoseGrid", "LoadedPlanSet", "PlanInfo", "ROI", "StructureSet", "load"]
