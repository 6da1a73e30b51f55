"""The result model of a DVH run: plain data, no DICOM, shared by every renderer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .status import Status


class _Judged:
    """A result whose ``status`` is always a :class:`~sbrt_qa.status.Status` (a str-valued enum).

    Every assignment goes through here, so a status set as ``"major"`` is ``Status.MAJOR``,
    a misspelt status fails where it is set, and the JSON still writes ``"major"``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status":
            value = Status(value)
        object.__setattr__(self, name, value)


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
    pairing_kind: str | None = None  # sbrt_qa.load.pairing.Pairing value: how the plan set's objects were linked


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
            out["plans"].append(
                {
                    **_plan_and_dose(p.plan, p.dose),
                    "structures": _structure_dicts(p.structures, keep_curve=True),
                    "provenance": {
                        "pairing": p.pairing,
                        "pairing_kind": p.pairing_kind,
                        "prescription_source": p.plan.prescription_source,
                        "dose_summation": p.dose.summation_type,
                        "dose_summed_from": p.dose.summed_from,
                        "inputs": p.inputs,
                    },
                    "notes": p.notes,
                }
            )
        return out


def _plan_and_dose(plan: PlanSummary, dose: DoseSummary) -> dict[str, Any]:
    """The ``plan`` and ``dose`` blocks shared by the dvh and check contracts."""
    return {
        "plan": {k: v for k, v in asdict(plan).items() if k != "prescription_source"},
        "dose": {k: v for k, v in asdict(dose).items() if k in ("sop_instance_uid", "spacing_mm", "shape")},
    }


def _structure_dicts(structures: list[StructureResult], keep_curve: bool) -> list[dict[str, Any]]:
    """Structures as in the dvh contract: ``curve`` and POINT doses only when present."""
    out = []
    for s in structures:
        d = asdict(s)
        d.pop("metric_units")
        if d["curve"] is None or not keep_curve:
            d.pop("curve")
        if d["point_dose_gy"] is None:
            d.pop("point_dose_gy")
        d["partial_dose_coverage"] = s.partial
        out.append(d)
    return out


@dataclass
class ConstraintResult(_Judged):
    """One protocol constraint evaluated on a plan."""

    id: str
    structure: str
    matched_roi: str | None
    match: str
    metric: str
    value: float | None
    unit: str
    goal: str
    variation: str | None
    status: Status  # pass | minor | major | not_evaluated | info
    source: str
    verification: str
    message: str
    required: bool = False
    goal_limit: float | None = None
    variation_limit: float | None = None
    matched_roi_number: int | None = None  # ROI Number of matched_roi: names may repeat, numbers may not
    # The metric and its limits as data, so that no renderer parses them back out of ``metric`` or ``goal``:
    base_metric: str | None = None  # the protocol's metric: TG-263 notation (D1cc[Gy]) or an index (R100%, CI_Paddick ...)
    metric_kind: str | None = None  # "dvh" (TG-263 DVH metric) | "index" (SBRT plan-quality index)
    model: str | None = None  # "physical" | "EQD2" | "BED": the dose the value and limits are in
    alpha_beta_gy: float | None = None  # alpha/beta of the EQD2 or BED conversion
    goal_operator: str | None = None  # "<", "<=", ">", ">=", "==" or "report"
    goal_from_table: bool = False  # goal_limit interpolated in the constraint's volume table at the structure's volume
    variation_operator: str | None = None
    # match "union": a paired organ (Lungs) no ROI contours, evaluated on its two sides' summed DVH; matched_roi is
    # "<ROI L> + <ROI R>", matched_roi_number None, and these are the two ROI Numbers (evaluate/pairs.py)
    matched_roi_numbers: list[int] | None = None


@dataclass
class PlanCheckResult(_Judged):
    """One plan-level check (prescription, grid, references, structure sanity ...)."""

    id: str
    value: Any
    limit: Any
    status: Status
    message: str


@dataclass
class ReviewItem:
    """Something the reviewer must decide before the plan can pass ("needs review").

    Attributes
    ----------
    id : str
        Stable key, e.g. ``structure:SpinalCord``, ``target:PTV_3000_2``,
        ``prescription:PTV_3000``, ``heterogeneity_correction``.
    reason : str
        Why the tool cannot decide.
    action : str
        What the reviewer gives to resolve it (``--structure SpinalCord=SC`` or
        ``--absent SpinalCord``, ``--rx PTV_3000=30Gy`` ...).
    """

    id: str
    reason: str
    action: str


@dataclass
class UnassignedROI:
    """A contoured ROI that no protocol role took: listed so that ``SC`` beside a missing cord is obvious."""

    name: str
    roi_number: int
    type: str | None
    volume_cc: float | None
    dmax_gy: float | None
    candidate_for: list[str] = field(default_factory=list)  # roles it plausibly stands for


@dataclass
class LevelSource:
    """A prescription level as judged: its role, the ROI(s) it was applied to, the dose and where the dose came from.

    ``source`` is one of ``recorded`` (a TARGET dose reference of the RT Plan),
    ``protocol`` (the arm's level, the plan records none), ``name`` (a dose in the
    target's name), ``reviewer`` (``--rx``) or ``none`` (no dose could be decided).
    """

    role: str
    rois: list[str]
    dose_gy: float | None
    source: str
    message: str = ""


@dataclass
class Declaration:
    """What the reviewer declared on the command line or in the map file, recorded in every report."""

    kind: str  # structure | absent | rx | confirm
    item: str
    value: str | None = None


@dataclass
class ProtocolSummary:
    id: str
    version: str
    title: str
    arm: str | None
    arm_reason: str
    content_hash: str


@dataclass
class CheckPlanResult(_Judged):
    """Everything a physicist signs for one plan set."""

    plan: PlanSummary
    dose: DoseSummary
    protocol: ProtocolSummary
    status: Status  # pass | minor | major | not_evaluated | error
    results: list[ConstraintResult]
    plan_checks: list[PlanCheckResult]
    structures: list[StructureResult]
    indices: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patient_id: str | None = None
    structure_set_uid: str | None = None
    error: str | None = None
    needs_review: list[ReviewItem] = field(default_factory=list)
    unassigned_rois: list[UnassignedROI] = field(default_factory=list)
    prescription_levels: list[LevelSource] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    point_doses: list[dict[str, Any]] = field(default_factory=list)
    pairing_kind: str | None = None  # sbrt_qa.load.pairing.Pairing value: how the plan set's objects were linked
    #: Python warnings raised while the plan set was read and checked (pydicom reading around a defect ...),
    #: "Category: message", prefixed with the file's name when raised on reading that file's header.
    python_warnings: list[str] = field(default_factory=list)


@dataclass
class CheckRun:
    """Everything one ``sbrt-qa check`` run produced."""

    sbrt_qa_version: str
    plans: list[CheckPlanResult]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sbrt_qa_version": self.sbrt_qa_version, "plans": [], "notes": list(self.notes)}
        for p in self.plans:
            out["plans"].append(
                {
                    **_plan_and_dose(p.plan, p.dose),
                    "protocol": {k: v for k, v in asdict(p.protocol).items() if k in ("id", "version", "arm", "arm_reason", "content_hash")},
                    "status": p.status,
                    "results": [asdict(r) for r in p.results],
                    "plan_checks": [asdict(c) for c in p.plan_checks],
                    "structures": _structure_dicts(p.structures, keep_curve=False),
                    "indices": {key: _rounded(values) for key, values in p.indices.items()},
                    "provenance": {"inputs": p.inputs, "patient_id": p.patient_id, "structure_set_sop_instance_uid": p.structure_set_uid,
                                   "dose_sop_instance_uids": p.dose.summed_from or [p.dose.sop_instance_uid],
                                   "pairing_kind": p.pairing_kind},
                    "notes": p.notes,
                    "warnings": p.warnings,
                    "error": p.error,
                    "needs_review": [asdict(x) for x in p.needs_review],
                    "unassigned_rois": [asdict(x) for x in sorted(p.unassigned_rois, key=_by_dmax)],
                    "prescription_levels": [asdict(x) for x in p.prescription_levels],
                    "declarations": [asdict(x) for x in p.declarations],
                    "point_doses": list(p.point_doses),
                    "python_warnings": list(p.python_warnings),
                }
            )
        return out


#: Decimals of the SBRT indices in the JSON report (the result model keeps the engine's values).
INDEX_DECIMALS = 6


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    """A target's indices as the JSON shows them: floats rounded to :data:`INDEX_DECIMALS` decimals."""
    return {k: (round(v, INDEX_DECIMALS) if isinstance(v, float) else v) for k, v in values.items()}


def _by_dmax(r: UnassignedROI) -> tuple[float, str]:
    """Highest Dmax first, so an unassigned ROI with a high dose stands out."""
    return (-(r.dmax_gy if r.dmax_gy is not None else -1.0), r.name)
