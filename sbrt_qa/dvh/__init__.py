"""DVH engine: structures x dose grid to cumulative DVHs and TG-263 metrics."""

from .cumulative import CumulativeDVH
from .engine import StructureDVH, compute_structure_dvh
from .metrics import DEFAULT_METRICS, Metric, MetricError, evaluate, parse_metric

__all__ = [
    "DEFAULT_METRICS",
    "CumulativeDVH",
    "Metric",
    "MetricError",
    "StructureDVH",
    "compute_structure_dvh",
    "evaluate",
    "parse_metric",
]
