"""The check report as PDF, drawn with matplotlib's PDF backend (no browser, no system libraries).

The sections and their order are the HTML report's: header, verdict, needs review,
problems, prescription, declarations, constraints, SBRT quality, plan checks, ROIs
assigned to no role, DVH, notes. Text is laid out in A4 pages by a small flowing
writer; fonts are embedded as TrueType (``pdf.fonttype`` 42, set only while
rendering) so that the PDF's text can be searched and extracted.
"""

from __future__ import annotations

import datetime as _dt
import io
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..results import CheckPlanResult, CheckRun
from .check_plot import draw_check_dvh, has_curves
from .check_tables import VERDICT, format_value, unassigned_sorted

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAGE = (8.27, 11.69)  # A4 portrait, inches
MARGIN = 0.55
FONT = 7.5
LINE = FONT * 1.45 / 72  # inches per text line
_ORDER = {"major": 0, "not_evaluated": 1, "minor": 2, "info": 3, "pass": 4}
_FILL = {"pass": "#d8f0d8", "minor": "#fff0c2", "major": "#f9d0d0", "not_evaluated": "#ecd8f4", "info": "#d9ecf7", "error": "#f9d0d0"}
_INK = {"pass": "#11501a", "minor": "#6a4a00", "major": "#7a0b0b", "not_evaluated": "#51146a", "info": "#0b4a6a", "error": "#7a0b0b"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return "-" if v is None else str(v)


@dataclass
class _Writer:
    """Flows headings, paragraphs and tables down A4 pages; a new page when the current one is full."""

    pages: list["Figure"] = field(default_factory=list)
    y: float = 0.0  # inches from the bottom of the current page

    @property
    def width(self) -> float:
        return PAGE[0] - 2 * MARGIN

    def page(self) -> "Figure":
        from .figures import new_figure

        fig = new_figure(PAGE, dpi=72)
        self.pages.append(fig)
        self.y = PAGE[1] - MARGIN
        return fig

    def room(self, height: float) -> "Figure":
        if not self.pages or self.y - height < MARGIN:
            return self.page()
        return self.pages[-1]

    def _text(self, fig: "Figure", x: float, y: float, text: str, **kw) -> None:
        fig.text(x / PAGE[0], y / PAGE[1], text, va="top", ha="left", fontsize=kw.pop("size", FONT), **kw)

    def heading(self, text: str, size: float = 10.5) -> None:
        fig = self.room(3 * LINE + 4 * LINE)  # keep a heading with what follows it
        self.y -= 0.6 * LINE
        self._text(fig, MARGIN, self.y, text, size=size, weight="bold")
        self.y -= size * 1.5 / 72
        fig.add_artist(_hline(self.y + 0.03, MARGIN, PAGE[0] - MARGIN, "#999999"))
        self.y -= 0.3 * LINE

    def paragraph(self, text: str, size: float = FONT, colour: str = "black", weight: str = "normal", indent: float = 0.0) -> None:
        chars = max(20, int((self.width - indent) * 72 / (size * 0.52)))
        for line in textwrap.wrap(text, chars) or [""]:
            fig = self.room(LINE)
            self._text(fig, MARGIN + indent, self.y, line, size=size, color=colour, weight=weight)
            self.y -= LINE * size / FONT

    def banner(self, text: str, status: str) -> None:
        lines = textwrap.wrap(text, int(self.width * 72 / (11 * 0.55))) or [""]
        height = (len(lines) * 11 * 1.4 + 10) / 72
        fig = self.room(height + LINE)
        from matplotlib.patches import Rectangle

        fig.add_artist(Rectangle((MARGIN / PAGE[0], (self.y - height) / PAGE[1]), self.width / PAGE[0], height / PAGE[1],
                                 transform=fig.transFigure, facecolor=_FILL.get(status, "#eeeeee"), edgecolor="none"))
        y = self.y - 5 / 72
        for line in lines:
            self._text(fig, MARGIN + 0.1, y, line, size=11, weight="bold", color=_INK.get(status, "black"))
            y -= 11 * 1.4 / 72
        self.y -= height + 0.5 * LINE

    def table(self, header: list[str], rows: list[list[str]], widths: list[float], status_col: int | None = None) -> None:
        """A table with wrapped cells; ``widths`` are fractions of the text width; the header repeats on each page."""
        cols = [w * self.width for w in widths]
        wrapped_header = [textwrap.wrap(h, max(4, int(c * 72 / (FONT * 0.7)))) or [""] for h, c in zip(header, cols)]

        def draw_row(cells: list[list[str]], bold: bool, fill: str | None, status: str | None) -> None:
            n = max(len(c) for c in cells)
            height = n * LINE + 0.4 * LINE
            fig = self.room(height)
            if fig is not getattr(self, "_table_page", None) and not bold:
                self._table_page = fig
                draw_row(wrapped_header, True, "#f0f0f0", None)
                fig = self.room(height)
            self._table_page = fig
            from matplotlib.patches import Rectangle

            if fill:
                fig.add_artist(Rectangle((MARGIN / PAGE[0], (self.y - height) / PAGE[1]), self.width / PAGE[0], height / PAGE[1],
                                         transform=fig.transFigure, facecolor=fill, edgecolor="none"))
            x = MARGIN
            for i, (cell, w) in enumerate(zip(cells, cols)):
                colour = _INK.get(status or "", "black") if i == status_col else "black"
                for k, line in enumerate(cell):
                    self._text(fig, x + 0.04, self.y - 0.2 * LINE - k * LINE, line, weight="bold" if bold or i == status_col else "normal",
                               color=colour)
                x += w
            self.y -= height
            fig.add_artist(_hline(self.y, MARGIN, PAGE[0] - MARGIN, "#cccccc"))

        self._table_page = None
        fig = self.room(3 * LINE)
        self._table_page = fig
        draw_row(wrapped_header, True, "#f0f0f0", None)
        for row in rows:
            cells = [textwrap.wrap(str(v), max(4, int(c * 72 / (FONT * 0.7)))) or [""] for v, c in zip(row, cols)]
            status = row[status_col] if status_col is not None else None
            draw_row(cells, False, None, status)
        self.y -= 0.5 * LINE

    def figure_block(self, draw, height: float) -> None:
        """A plot ``height`` inches tall drawn by ``draw(ax)`` across the text width."""
        fig = self.room(height)
        ax = fig.add_axes((MARGIN / PAGE[0] + 0.06, (self.y - height) / PAGE[1] + 0.04, self.width / PAGE[0] - 0.08, height / PAGE[1] - 0.06))
        draw(ax)
        self.y -= height + LINE


def _hline(y: float, x0: float, x1: float, colour: str):
    from matplotlib.lines import Line2D

    return Line2D([x0 / PAGE[0], x1 / PAGE[0]], [y / PAGE[1], y / PAGE[1]], linewidth=0.4, color=colour)


def _plan_pages(w: _Writer, p: CheckPlanResult, version: str, generated: str) -> None:
    w.page()
    w.paragraph(f"sbrt-qa plan check: {p.plan.label or '(no RT Plan)'}", size=15, weight="bold")
    w.y -= 0.3 * LINE
    meta = [("Patient / case ID", p.patient_id), ("Plan SOP Instance UID", p.plan.sop_instance_uid),
            ("Dose SOP Instance UID", ", ".join(p.dose.summed_from) or p.dose.sop_instance_uid),
            ("Structure Set SOP Instance UID", p.structure_set_uid),
            ("Protocol", f"{p.protocol.id} v{p.protocol.version}: {p.protocol.title}"), ("Protocol sha256", p.protocol.content_hash[:16] + "..."),
            ("sbrt-qa version", version), ("Generated", generated)]
    for k, v in meta:
        w.paragraph(f"{k}: {v or '-'}")
    w.y -= 0.5 * LINE
    w.heading("Verdict")
    w.banner(VERDICT.get(p.status, str(p.status)), str(p.status))
    if p.error:
        w.paragraph(p.error)
        return
    if p.needs_review:
        w.heading("Needs review")
        for item in p.needs_review:
            w.paragraph(f"{item.id}: {item.reason}", colour=_INK["not_evaluated"], weight="bold")
            w.paragraph(f"to resolve: {item.action}", indent=0.2)
    problems = [r for r in p.results if r.status in ("major", "not_evaluated") and (r.status == "major" or r.required)]
    checks = [c for c in p.plan_checks if c.status in ("major", "not_evaluated")]
    if problems or checks:
        w.heading("Problems")
        for r in problems:
            what = f"{r.structure} ({r.matched_roi or 'no ROI'}) {r.metric} = {format_value(r)}, goal {r.goal}" + (f", variation {r.variation}" if r.variation else "")
            w.paragraph(f"{r.status}: {what}" + (f": {r.message}" if r.message else ""), colour=_INK.get(r.status, "black"))
        for c in checks:
            w.paragraph(f"{c.status}: {c.id} = {_fmt(c.value)}, limit {_fmt(c.limit)}" + (f": {c.message}" if c.message else ""),
                        colour=_INK.get(c.status, "black"))
    w.heading("Prescription")
    rx = f"{p.plan.prescription_gy:g} Gy" if p.plan.prescription_gy else "-"
    per = f"{p.plan.prescription_gy / p.plan.fractions:.3g} Gy" if p.plan.prescription_gy and p.plan.fractions else "-"
    w.paragraph(f"Arm: {p.protocol.arm or '-'}")
    w.paragraph(f"Why: {p.protocol.arm_reason}")
    w.paragraph(f"Plan prescription: {rx} in {p.plan.fractions or '-'} fractions ({per} per fraction)")
    if p.prescription_levels:
        w.table(["Level", "ROI(s)", "Dose", "Where the dose came from", "Note"],
                [[lv.role, ", ".join(lv.rois) or "-", f"{lv.dose_gy:g} Gy" if lv.dose_gy is not None else "-", lv.source, lv.message]
                 for lv in p.prescription_levels], [0.16, 0.2, 0.1, 0.18, 0.36])
    if p.point_doses:
        w.paragraph("Point doses recorded in the plan (not prescriptions): "
                    + "; ".join(", ".join(f"{k} {v}" for k, v in d.items()) for d in p.point_doses))
    if p.declarations:
        w.heading("Declared by the reviewer")
        for d in p.declarations:
            w.paragraph(f"{d.kind} {d.item}" + (f" = {d.value}" if d.value is not None else ""))
    w.heading("Constraints")
    shown = [r for r in sorted(p.results, key=lambda r: _ORDER.get(r.status, 9)) if not (r.status == "not_evaluated" and not r.required and not r.matched_roi)]
    rows = []
    for r in shown:
        goal = r.goal + (f" (at this volume: {r.goal_limit:.4g})" if r.goal_from_table and r.goal_limit is not None else "")
        ver = "UNVERIFIED" if r.verification == "unverified" else r.verification
        rows.append([r.structure, f"{r.matched_roi or '-'} ({r.match})", r.metric, goal, r.variation or "-", format_value(r), str(r.status),
                     f"{ver}; {r.source[:90]}{'...' if len(r.source) > 90 else ''}" + (f"; {r.message}" if r.message else "")])
    w.table(["Structure", "ROI (match)", "Metric", "Goal", "Variation", "Actual", "Status", "Source"], rows,
            [0.1, 0.12, 0.14, 0.1, 0.08, 0.08, 0.09, 0.29], status_col=6)
    hidden = len(p.results) - len(shown)
    if hidden:
        w.paragraph(f"{hidden} constraints on structures absent from this plan (not required) were not evaluated.", colour="#555555")
    if p.indices:
        w.heading("SBRT quality")
        keys = ["prescription_gy", "ptv_cc", "r100", "paddick_ci", "paddick_gi", "r50", "d2cm_percent", "hi_icru83", "near_max_icru91_gy",
                "v105_outside_cc", "global_max_in_ptv"]
        w.table(["Target", "Rx", "PTV cc", "R100%", "Paddick CI", "Paddick GI", "R50%", "D2cm %", "HI (ICRU 83)", "Near-max (ICRU 91)",
                 "V105% outside PTV cc", "Global max in PTV"],
                [[role] + [("yes" if i.get(k) else "no") if k == "global_max_in_ptv" else _fmt(i.get(k)) for k in keys] for role, i in p.indices.items()],
                [0.1] + [0.9 / 11] * 11)
        w.paragraph(f"Isodose volumes over {next(iter(p.indices.values())).get('isodose_region', '-')}.", colour="#555555")
    w.heading("Plan checks")
    w.table(["Check", "Value", "Limit", "Status", "Message"],
            [[c.id, _fmt(c.value), _fmt(c.limit), str(c.status), c.message] for c in sorted(p.plan_checks, key=lambda c: _ORDER.get(c.status, 9))],
            [0.18, 0.2, 0.17, 0.1, 0.35], status_col=3)
    if p.unassigned_rois:
        w.heading("Contoured ROIs assigned to no role")
        w.table(["ROI", "Number", "Type", "Volume cc", "Dmax Gy", "Could be"],
                [[u.name, str(u.roi_number), u.type or "-", _fmt(u.volume_cc), _fmt(u.dmax_gy), ", ".join(u.candidate_for) or "-"]
                 for u in unassigned_sorted(p)], [0.25, 0.1, 0.12, 0.13, 0.13, 0.27])
    if has_curves(p):
        w.heading("DVH")
        w.figure_block(lambda ax: draw_check_dvh(p, ax), 4.2)
    w.heading("Notes")
    for n in p.notes:
        w.paragraph(n)
    for warning in p.warnings:
        w.paragraph(warning, colour="#8a4b00", weight="bold")
    for warning in p.python_warnings:
        w.paragraph(f"Python warning while reading or checking: {warning}", colour="#8a4b00", weight="bold")
    for path in p.inputs:
        w.paragraph(f"input: {path}", colour="#555555")


def render_pdf(run: CheckRun, generated: str | None = None) -> bytes:
    """The run's report as PDF bytes: each plan starts on a new page.

    Parameters
    ----------
    run : CheckRun
    generated : str, optional
        The report's time stamp (ISO 8601); now by default.
    """
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    stamp = generated or _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    buf = io.BytesIO()
    with rc_context({"pdf.fonttype": 42}):
        w = _Writer()
        for p in run.plans:
            _plan_pages(w, p, run.sbrt_qa_version, stamp)
        if run.notes:
            w.heading("Input notes")
            for n in run.notes:
                w.paragraph(n)
        with PdfPages(buf, metadata={"Title": "sbrt-qa check", "Creator": f"sbrt-qa {run.sbrt_qa_version}"}) as pdf:
            for fig in w.pages:
                pdf.savefig(fig)
    return buf.getvalue()
