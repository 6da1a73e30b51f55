"""sbrt-qa: quality assurance of radiotherapy dose plans in DICOM-RT.

The data flows one way: :mod:`sbrt_qa.load` (files to plan sets) ->
:mod:`sbrt_qa.dvh` (structures x dose to DVHs) -> :mod:`sbrt_qa.evaluate`
(protocol rules to results) -> :mod:`sbrt_qa.report` (one result model rendered
as text, JSON, CSV, HTML or PDF).

The Python API (:mod:`sbrt_qa.api`)::

    from sbrt_qa import PlanQA
    qa = PlanQA.from_folder("export/")
    result = qa.check(protocol="nct06863584")

Names are imported on first use, so ``import sbrt_qa`` stays light (no numba, no
matplotlib) until a plan is loaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it (imported on first access).
_EXPORTS = {
    "PlanQA": "sbrt_qa.api",
    "Structure": "sbrt_qa.api",
    "MetricTable": "sbrt_qa.api",
    "QAResult": "sbrt_qa.qa_result",
    "Provenance": "sbrt_qa.qa_result",
    "DVH": "sbrt_qa.dvh.curve",
    "Status": "sbrt_qa.status",
    "Pairing": "sbrt_qa.load.pairing",
    "InputError": "sbrt_qa.errors",
    "MetricError": "sbrt_qa.dvh.metrics",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .api import MetricTable, PlanQA, Structure
    from .dvh.curve import DVH
    from .qa_result import Provenance, QAResult
    from .dvh.metrics import MetricError
    from .errors import InputError
    from .load.pairing import Pairing
    from .status import Status


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sbrt_qa' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
