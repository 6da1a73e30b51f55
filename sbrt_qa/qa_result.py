"""The result of :meth:`sbrt_qa.PlanQA.check`: the typed result model, its provenance, and every way to publish it.

``results_data(as_dict=True)`` is exactly the plan entry of ``sbrt-qa check --format
json``, and ``publish_html`` writes the ``--format html`` report: the API and the command
line render the same :class:`~sbrt_qa.results.CheckRun` with the same renderers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import CheckPlanResult, CheckRun, ConstraintResult, PlanCheckResult
from .status import Status

if TYPE_CHECKING:
    import pandas

    from .load.pairing import Pairing
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .evaluate.indices import TargetIndices


@dataclass(frozen=True)
class Provenance:
    """Where a result came from, as pylinac's ``ResultBase`` records it.

    Attributes
    ----------
    tool_version : str
        The sbrt-qa version that computed the result.
    date_of_analysis : str
        When the check ran (ISO 8601, UTC).
    protocol_id, protocol_version, protocol_hash : str
        The protocol checked against and its file's SHA-256.
    inputs : tuple of str
        The files (or ``<memory>/...`` labels) the plan set was read from.
    warnings : tuple of str
        Python warnings raised while the plan set's files were read and while it was checked
        (e.g. by pydicom): the report's ``python_warnings``. Warnings about files in no plan set
        stay in :attr:`sbrt_qa.PlanQA.warnings`.
    pairing : Pairing or None
        How the plan set's RT Dose, RT Plan and RT Structure Set were linked (by UID reference,
        by frame of reference, as a course ...).
    """

    tool_version: str
    date_of_analysis: str
    protocol_id: str
    protocol_version: str
    protocol_hash: str
    inputs: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    pairing: "Pairing | None" = None


class QAResult:
    """One plan set checked against one protocol.

    Attributes
    ----------
    result : CheckPlanResult
        The typed result model every report renders.
    provenance : Provenance
    notes : list of str
        What loading passed over (the ``notes`` of the CLI's JSON run).
    """

    def __init__(self, result: CheckPlanResult, provenance: Provenance, notes: list[str] | None = None) -> None:
        self.result = result
        self.provenance = provenance
        self.notes = list(notes or [])

    # -- the verdict ------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        """The plan status: pass, minor, major, not_evaluated (needs review) or error."""
        return Status(self.result.status)

    @property
    def passed(self) -> bool:
        """True only for PASS (a minor variation, a needs-review item or an error is not a pass)."""
        return self.status is Status.PASS

    @property
    def warnings(self) -> list[str]:
        """The report's warnings (UNVERIFIED values used, structures outside the grid ...) and the Python warnings raised meanwhile."""
        return list(self.result.warnings) + [w for w in self.provenance.warnings if w not in self.result.warnings]

    @property
    def constraints(self) -> list[ConstraintResult]:
        return list(self.result.results)

    @property
    def plan_checks(self) -> list[PlanCheckResult]:
        """Plan-level checks (prescription, fractionation, grid, references ...), each with its Status."""
        return list(self.result.plan_checks)

    @property
    def needs_review(self) -> list:
        return list(self.result.needs_review)

    @property
    def indices(self) -> dict[str, "TargetIndices"]:
        """SBRT quality indices per target, typed (:class:`~sbrt_qa.evaluate.indices.TargetIndices`), with the engine's unrounded values
        (the JSON report rounds them to 6 decimals)."""
        from .evaluate.indices import TargetIndices

        names = {f.name for f in fields(TargetIndices)}
        return {role: TargetIndices(**{k: v for k, v in values.items() if k in names}) for role, values in self.result.indices.items()}

    # -- data ------------------------------------------------------------------------------------
    @property
    def run(self) -> CheckRun:
        """The run the command line would report for this plan set alone."""
        return CheckRun(self.provenance.tool_version, [self.result], list(self.notes))

    def results_data(self, as_dict: bool = False, as_json: bool = False) -> CheckPlanResult | dict[str, Any] | str:
        """The result as data, in the manner of pylinac's ``results_data``.

        Parameters
        ----------
        as_dict : bool
            The plan entry of ``sbrt-qa check --format json`` (``plans[0]``), as plain Python data.
        as_json : bool
            The same entry as a JSON string.

        Returns
        -------
        CheckPlanResult, dict or str
            The typed result model when neither flag is given.
        """
        if not (as_dict or as_json):
            return self.result
        from .pipeline import render

        entry = json.loads(render(self.run, "json"))["plans"][0]
        return json.dumps(entry, indent=2, allow_nan=False) if as_json else entry

    def to_frame(self) -> "pandas.DataFrame":
        """One row per constraint and per plan check (needs the ``pandas`` extra).

        Columns: ``kind`` (constraint | plan_check), ``id``, ``structure``, ``matched_roi``,
        ``matched_roi_number``, ``metric``, ``value``, ``unit``, ``goal``, ``goal_limit``,
        ``variation``, ``variation_limit``, ``status``, ``required``, ``verification``,
        ``model``, ``alpha_beta_gy``, ``message``, then the structured fields ``base_metric``,
        ``metric_kind``, ``goal_operator``, ``goal_from_table`` and ``variation_operator``.
        """
        from .api import _pandas

        pd = _pandas()
        columns = ["kind", "id", "structure", "matched_roi", "matched_roi_number", "metric", "value", "unit", "goal", "goal_limit",
                   "variation", "variation_limit", "status", "required", "verification", "model", "alpha_beta_gy", "message",
                   "base_metric", "metric_kind", "goal_operator", "goal_from_table", "variation_operator"]
        rows = []
        for r in self.result.results:
            rows.append({"kind": "constraint", **{c: getattr(r, c, None) for c in columns[1:]}})
            rows[-1]["status"] = str(r.status)
        for c in self.result.plan_checks:
            rows.append({"kind": "plan_check", "id": c.id, "value": c.value, "goal": None if c.limit is None else str(c.limit),
                         "status": str(c.status), "message": c.message})
        frame = pd.DataFrame(rows, columns=columns)
        frame["matched_roi_number"] = frame["matched_roi_number"].astype("Int64")  # ROI numbers stay integers beside missing ones
        return frame

    # -- figures and reports ---------------------------------------------------------------------
    def plot_dvh(self, ax: "Axes | None" = None) -> "Figure":
        """The report's DVH: matched structures with a marker at each DVH constraint's limit.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw here; otherwise on a new figure made outside pyplot. The backend is never changed.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .report.check_plot import check_dvh_figure, draw_check_dvh

        if ax is None:
            return check_dvh_figure(self.result)
        draw_check_dvh(self.result, ax)
        return ax.figure

    def results(self, show_all: bool = False) -> str:
        """The text report, as ``sbrt-qa check --format text`` prints it (pylinac's ``results()``).

        Parameters
        ----------
        show_all : bool
            Also list the constraints on structures absent from the plan and not required (``--all``).
        """
        from .report.check_tables import render_text

        return render_text(self.run, show_all=show_all)

    def html(self) -> str:
        """The HTML report, as ``sbrt-qa check --format html`` writes it."""
        from .pipeline import render

        return render(self.run, "html")

    def publish_html(self, path: str | Path) -> Path:
        """Write the HTML report (the ``check --format html`` report); returns the path."""
        from .files import write_atomically

        target = Path(path)
        write_atomically(target, self.html())
        return target

    def publish_pdf(self, path: str | Path) -> Path:
        """Write the report as PDF (matplotlib's PDF backend: the HTML report's sections and the DVH); returns the path."""
        from .files import write_atomically
        from .report.check_pdf import render_pdf

        target = Path(path)
        write_atomically(target, render_pdf(self.run))
        return target

    def _repr_html_(self) -> str:
        """The HTML report inline in a notebook, isolated in a frame so that its styles stay inside."""
        from html import escape

        return (f'<iframe title="sbrt-qa report" srcdoc="{escape(self.html(), quote=True)}" '
                'style="width:100%;height:720px;border:1px solid #ccc"></iframe>')

    def __repr__(self) -> str:
        p = self.result
        return (f"QAResult({self.status.value}, plan {p.plan.label or '-'!r}, protocol {p.protocol.id} v{p.protocol.version}, "
                f"arm {p.protocol.arm or '-'}, {len(p.results)} constraints, {len(p.plan_checks)} plan checks)")
