"""The result model of a DVH run: plain data, no DICOM, shared by every renderer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PlanSummary:
    """The plan of a plan set (all None without an RT Plan)."""

    label: str | None = None
    sop_instance_uid: str | None = None
    prescription_gy: float | None = None
    fractions: int | None = None
    prescription_source: str | None = None


@dataclass
class DoseSummary:
    """The dose grid used: its SOP Instance UID(s), spacing [dx, dy, dz] mm and shape [nz, ny, nx]."""

    sop_instance_uid: str
    spacing_mm: list[float]
    shape: list[int]
    summed_from: list[str] = field(default_factory=list)
    summation_type: str = "PLAN"


@dataclass
class StructureResult:
    """DVH figures of one ROI. Doses in Gy, volumes in cc."""

    name: str
    roi_number: int
    type: str | None
    geometry: str
    volume_cc: float | None
    dmin_gy: float | None
    dmax_gy: float | None
    dmean_gy: float | None
    outside_dose_grid_cc: float | None
    metrics: dict[str, float | None]
    metric_units: dict[str, str]
    curve: dict[str, list[float]] | None = None
    point_dose_gy: list[float | None] | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def partial(self) -> bool:
        """True when part of the structure lies outside the dose grid."""
        return bool(self.outside_dose_grid_cc and self.outside_dose_grid_cc > 0)


@dataclass
class PlanResult:
    """DVH results of one plan set."""

    plan: PlanSummary
    dose: DoseSummary
    structures: list[StructureResult]
    pairing: str
    inputs: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class DVHRun:
    """Everything one ``sbrt-qa dvh`` run produced."""

    sbrt_qa_version: str
    plans: list[PlanResult]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: ``{"sbrt_qa_version", "plans": [{"plan", "dose", "structures"}]}``."""
        out: dict[str, Any] = {"sbrt_qa_version": self.sbrt_qa_version, "plans": [], "notes": list(self.notes)}
        for p in self.plans:
            structures = []
            for s in p.structures:
                d = asdict(s)
                d.pop("metric_units")
                if d["curve"] is None:
                    d.pop("curve")
                if d["point_dose_gy"] is None:
                    d.pop("point_dose_gy")
                d["partial_dose_coverage"] = s.partial
                structures.append(d)
            out["plans"].append(
                {
                    "plan": {k: v for k, v in asdict(p.plan).items() if k != "prescription_source"},
                    "dose": {k: v for k, v in asdict(p.dose).items() if k in ("sop_instance_uid", "spacing_mm", "shape")},
                    "structures": structures,
                    "provenance": {
                        "pairing": p.pairing,
                        "prescription_source": p.plan.prescription_source,
                        "dose_summation": p.dose.summation_type,
                        "dose_summed_from": p.dose.summed_from,
                        "inputs": p.inputs,
                    },
                    "notes": p.notes,
                }
            )
        return out
