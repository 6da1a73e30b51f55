"""DVH engine: structures x dose grid to cumulative DVHs and TG-263 metrics.

Names are imported on first use: the engine's numba kernels load only when a DVH is computed,
so ``from sbrt_qa import PlanQA`` (which needs :class:`~sbrt_qa.dvh.curve.DVH`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: Public name -> submodule that defines it.
_EXPORTS = {
    "DEFAULT_METRICS": ".metrics",
    "CumulativeDVH": ".cumulative",
    "Metric": ".metrics",
    "MetricError": ".metrics",
    "StructureDVH": ".engine",
    "compute_structure_dvh": ".engine",
    "evaluate": ".metrics",
    "parse_metric": ".metrics",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .cumulative import CumulativeDVH
    from .engine import StructureDVH, compute_structure_dvh
    from .metrics import DEFAULT_METRICS, Metric, MetricError, evaluate, parse_metric


__getattr__ = lazy_exports(__name__, _EXPORTS)
