"""The DVH figure of a check: curves of the matched structures and a marker at each DVH constraint's limit.

Drawn on a figure made outside pyplot (:mod:`sbrt_qa.report.figures`), so the HTML
report, the PDF report and :meth:`sbrt_qa.QAResult.plot_dvh` draw the same figure and
none of them touches the caller's matplotlib backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dvh.metrics import MetricError, parse_metric
from ..results import CheckPlanResult, ConstraintResult
from .figures import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TITLE = "Cumulative DVH; markers: constraint limits (o pass, square minor, X major)"


def limit_point(r: ConstraintResult, volume_cc: float) -> tuple[float, float] | None:
    """Where a constraint's limit sits on a cumulative DVH: (dose Gy, volume %), or None if it has no place there."""
    if r.goal_limit is None or r.model != "physical" or r.metric_kind != "dvh" or not r.base_metric:
        return None  # an EQD2 or BED limit has no place on a physical DVH, nor an index (R100%, CI ...)
    try:
        metric = parse_metric(r.base_metric)
    except MetricError:
        return None
    if metric.kind == "dose_at_volume" and metric.unit == "Gy" and volume_cc > 0:
        return r.goal_limit, metric.value if metric.value_unit == "%" else 100.0 * metric.value / volume_cc
    if metric.kind == "dose_stat" and metric.stat == "max" and metric.unit == "Gy":
        return r.goal_limit, 0.0
    if metric.kind == "volume_at_dose" and metric.unit == "%" and metric.value_unit == "Gy":
        return metric.value, r.goal_limit
    return None


def has_curves(p: CheckPlanResult) -> bool:
    """True when at least one matched structure has a DVH curve to draw."""
    return bool(_curves(p))


def _curves(p: CheckPlanResult) -> list:
    matched = {r.matched_roi for r in p.results if r.matched_roi}
    return [s for s in p.structures if s.curve and s.name in matched and s.curve["volume_cc"] and s.curve["volume_cc"][0] > 0]


def draw_check_dvh(p: CheckPlanResult, ax: "Axes") -> None:
    """Draw the check's DVH curves and constraint-limit markers on ``ax`` (volume in % of each structure)."""
    colours = {}
    curves = _curves(p)
    for s in curves:
        total = s.curve["volume_cc"][0]
        (line,) = ax.plot(s.curve["dose_gy"], [100 * v / total for v in s.curve["volume_cc"]], label=s.name, linewidth=1.3)
        colours[s.name] = line.get_color()
    volumes = {s.name: s.volume_cc for s in curves}
    for r in p.results:
        if r.matched_roi not in colours or r.value is None or r.goal_limit is None:
            continue
        point = limit_point(r, volumes[r.matched_roi])
        if point is None:
            continue
        marker = "o" if r.status == "pass" else ("s" if r.status == "minor" else "X")
        ax.plot([point[0]], [point[1]], marker=marker, color=colours[r.matched_roi], markersize=8, markeredgecolor="black")
    ax.set_xlabel("Dose [Gy]")
    ax.set_ylabel("Volume [%]")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize=7, ncol=2)
    ax.set_title(TITLE, fontsize=10)


def check_dvh_figure(p: CheckPlanResult, figsize: tuple[float, float] = (9, 4.8), dpi: int = 100) -> "Figure":
    """A new figure (outside pyplot) holding :func:`draw_check_dvh`."""
    fig = new_figure(figsize, dpi)
    draw_check_dvh(p, fig.subplots())
    fig.tight_layout()
    return fig
