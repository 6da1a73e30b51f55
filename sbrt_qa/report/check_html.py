"""A self-contained HTML report of a check (no external assets; prints well to PDF)."""

from __future__ import annotations

import base64
import datetime as _dt
from html import escape

from ..results import CheckPlanResult, CheckRun
from .check_plot import check_dvh_figure, has_curves, limit_point  # noqa: F401  (limit_point: public here too)
from .check_tables import VERDICT, format_value, shown, unassigned_sorted
from .figures import png_bytes
from .safe import CSP_META

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#111;font-size:13px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:22px 0 6px;border-bottom:1px solid #ccc;padding-bottom:2px}
table{border-collapse:collapse;width:100%;margin:4px 0} th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0} td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{padding:10px 14px;border-radius:4px;font-size:17px;font-weight:bold;margin:10px 0}
.s-pass{background:#d8f0d8;color:#11501a} .s-minor{background:#fff0c2;color:#6a4a00} .s-major{background:#f9d0d0;color:#7a0b0b}
.s-not_evaluated{background:#ecd8f4;color:#51146a} .s-info{background:#d9ecf7;color:#0b4a6a} .s-error{background:#f9d0d0;color:#7a0b0b}
td.status{font-weight:bold;white-space:nowrap} .meta td{border:none;padding:1px 10px 1px 0} .small{color:#555;font-size:11px}
.unverified{color:#8a4b00;font-weight:bold} img{max-width:100%}
@media print{body{margin:10mm;font-size:10px} h2{page-break-after:avoid} tr{page-break-inside:avoid} .banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 td.status{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""
_ORDER = {"major": 0, "not_evaluated": 1, "minor": 2, "info": 3, "pass": 4}


def _plot(p: CheckPlanResult) -> str | None:
    """The check's DVH figure as base64 PNG, or None when no matched structure has a curve."""
    if not has_curves(p):
        return None
    return base64.b64encode(png_bytes(check_dvh_figure(p))).decode("ascii")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return escape(str(v)) if v is not None else "-"


def _plan_section(p: CheckPlanResult, version: str) -> str:
    h = []
    h.append(f"<h1>sbrt-qa plan check: {escape(p.plan.label or '(no RT Plan)')}</h1>")
    h.append('<table class="meta">')
    for k, v in [("Patient / case ID", p.patient_id), ("Plan SOP Instance UID", p.plan.sop_instance_uid), ("Dose SOP Instance UID", ", ".join(p.dose.summed_from) or p.dose.sop_instance_uid),
                 ("Structure Set SOP Instance UID", p.structure_set_uid),
                 ("Protocol", f"{p.protocol.id} v{p.protocol.version}: {p.protocol.title}"), ("Protocol sha256", p.protocol.content_hash[:16] + "..."),
                 ("sbrt-qa version", version), ("Generated", _dt.datetime.now().astimezone().isoformat(timespec="seconds"))]:
        h.append(f"<tr><td>{escape(k)}</td><td>{escape(str(v or '-'))}</td></tr>")
    h.append("</table>")
    problems = [r for r in p.results if r.status in ("major", "not_evaluated") and (r.status == "major" or r.required)]
    problems += [c for c in p.plan_checks if c.status in ("major", "not_evaluated")]
    h.append(f'<div class="banner s-{p.status}">{escape(VERDICT.get(p.status, p.status))}</div>')
    if p.error:
        h.append(f"<p>{escape(p.error)}</p>")
        return "\n".join(h)
    if p.needs_review:
        h.append('<h2>Needs review</h2><ul class="review">')
        for item in p.needs_review:
            h.append(f'<li><b class="s-not_evaluated">{escape(item.id)}</b>: {escape(item.reason)}<br><span class="small">to resolve: {escape(item.action)}</span></li>')
        h.append("</ul>")
    if problems:
        h.append("<ul>")
        for x in problems:
            if hasattr(x, "structure"):
                what = f"{x.structure} ({x.matched_roi or 'no ROI'}) {x.metric} = {format_value(x)}, goal {x.goal}"
                what += f", variation {x.variation}" if x.variation else ""
            else:
                what = f"{x.id} = {_fmt(x.value)}, limit {_fmt(x.limit)}"
            detail = f": {x.message}" if x.message else ""
            h.append(f'<li><b class="s-{x.status}">{escape(x.status)}</b> {escape(what)}{escape(detail)}</li>')
        h.append("</ul>")
    h.append("<h2>Prescription</h2><table>")
    h.append(f"<tr><th>Arm</th><td>{escape(p.protocol.arm or '-')}</td></tr><tr><th>Why</th><td>{escape(p.protocol.arm_reason)}</td></tr>")
    rx = f"{p.plan.prescription_gy:g} Gy" if p.plan.prescription_gy else "-"
    fx = p.plan.fractions or "-"
    per = f"{p.plan.prescription_gy / p.plan.fractions:.3g} Gy" if p.plan.prescription_gy and p.plan.fractions else "-"
    h.append(f"<tr><th>Plan prescription</th><td>{rx} in {fx} fractions ({per} per fraction)</td></tr></table>")
    if p.prescription_levels:
        h.append("<table><tr><th>Level</th><th>ROI(s)</th><th>Dose</th><th>Where the dose came from</th><th>Note</th></tr>")
        for lv in p.prescription_levels:
            dose = f"{lv.dose_gy:g} Gy" if lv.dose_gy is not None else "-"
            h.append(f"<tr><td>{escape(lv.role)}</td><td>{escape(', '.join(lv.rois) or '-')}</td><td class='num'>{escape(dose)}</td>"
                     f"<td>{escape(lv.source)}</td><td>{escape(lv.message)}</td></tr>")
        h.append("</table>")
    if p.point_doses:
        h.append("<p class='small'>Point doses recorded in the plan (not prescriptions): "
                 + escape("; ".join(", ".join(f"{k} {v}" for k, v in d.items()) for d in p.point_doses)) + "</p>")
    if p.declarations:
        h.append("<h2>Declared by the reviewer</h2><ul>")
        for d in p.declarations:
            h.append(f"<li>{escape(d.kind)} {escape(d.item)}{(' = ' + escape(d.value)) if d.value is not None else ''}</li>")
        h.append("</ul>")
    h.append("<h2>Constraints</h2><table><tr><th>Structure</th><th>ROI (match)</th><th>Metric</th><th>Goal</th><th>Variation</th>"
             "<th>Actual</th><th>Status</th><th>Source</th></tr>")
    for r in sorted(p.results, key=lambda r: _ORDER.get(r.status, 9)):
        if not shown(r, p):
            continue
        ver = '<span class="unverified">UNVERIFIED</span>' if r.verification == "unverified" else escape(r.verification)
        limits = f" (at this volume: {r.goal_limit:.4g})" if r.goal_from_table and r.goal_limit is not None else ""
        h.append(f"<tr><td>{escape(r.structure)}</td><td>{escape(r.matched_roi or '-')} <span class='small'>({escape(r.match)})</span></td>"
                 f"<td>{escape(r.metric)}</td><td>{escape(r.goal)}{escape(limits)}</td><td>{escape(r.variation or '-')}</td>"
                 f'<td class="num">{escape(format_value(r))}</td><td class="status s-{r.status}">{escape(r.status)}</td>'
                 f"<td class='small'>{ver}; {escape(r.source[:90])}{'...' if len(r.source) > 90 else ''}"
                 f"{('<br>' + escape(r.message)) if r.message else ''}</td></tr>")
    h.append("</table>")
    hidden = sum(1 for r in p.results if not shown(r, p))
    if hidden:
        h.append(f"<p class='small'>{hidden} constraints on structures absent from this plan (not required) were not evaluated.</p>")
    if p.indices:
        h.append("<h2>SBRT quality</h2><table><tr><th>Target</th><th>Rx</th><th>PTV cc</th><th>R100%</th><th>Paddick CI</th><th>Paddick GI</th>"
                 "<th>R50%</th><th>D2cm %</th><th>HI (ICRU 83)</th><th>Near-max (ICRU 91)</th><th>V105% outside PTV cc</th><th>Global max in PTV</th></tr>")
        for role, i in p.indices.items():
            h.append("<tr>" + "".join(f'<td class="num">{_fmt(v)}</td>' for v in (
                role, i["prescription_gy"], i["ptv_cc"], i["r100"], i["paddick_ci"], i["paddick_gi"], i["r50"], i["d2cm_percent"],
                i["hi_icru83"], i["near_max_icru91_gy"], i["v105_outside_cc"], "yes" if i["global_max_in_ptv"] else "no")) + "</tr>")
        h.append(f"</table><p class='small'>Isodose volumes over {escape(next(iter(p.indices.values()))['isodose_region'])}.</p>")
    h.append("<h2>Plan checks</h2><table><tr><th>Check</th><th>Value</th><th>Limit</th><th>Status</th><th>Message</th></tr>")
    for c in sorted(p.plan_checks, key=lambda c: _ORDER.get(c.status, 9)):
        h.append(f"<tr><td>{escape(c.id)}</td><td>{_fmt(c.value)}</td><td>{_fmt(c.limit)}</td><td class='status s-{c.status}'>{escape(c.status)}</td>"
                 f"<td>{escape(c.message)}</td></tr>")
    h.append("</table>")
    if p.unassigned_rois:
        h.append("<h2>Contoured ROIs assigned to no role</h2><table><tr><th>ROI</th><th>Number</th><th>Type</th><th>Volume cc</th>"
                 "<th>Dmax Gy</th><th>Could be</th></tr>")
        for u in unassigned_sorted(p):
            h.append(f"<tr><td>{escape(u.name)}</td><td class='num'>{u.roi_number}</td><td>{escape(u.type or '-')}</td>"
                     f"<td class='num'>{_fmt(u.volume_cc)}</td><td class='num'>{_fmt(u.dmax_gy)}</td><td>{escape(', '.join(u.candidate_for) or '-')}</td></tr>")
        h.append("</table>")
    png = _plot(p)
    if png:
        h.append(f'<h2>DVH</h2><img alt="cumulative DVH" src="data:image/png;base64,{png}">')
    h.append("<h2>Notes</h2><ul>")
    for n in p.notes:
        h.append(f"<li>{escape(n)}</li>")
    for w in p.warnings:
        h.append(f'<li class="unverified">{escape(w)}</li>')
    for w in p.python_warnings:
        h.append(f'<li class="unverified">Python warning while reading or checking: {escape(w)}</li>')
    for path in p.inputs:
        h.append(f"<li class='small'>input: {escape(path)}</li>")
    h.append("</ul>")
    return "\n".join(h)


def render_html(run: CheckRun) -> str:
    body = '\n<hr style="page-break-after:always">\n'.join(_plan_section(p, run.sbrt_qa_version) for p in run.plans)
    notes = "".join(f"<li>{escape(n)}</li>" for n in run.notes)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{CSP_META}<title>sbrt-qa check</title><style>{_CSS}</style></head>\n'
            f"<body>\n{body}\n{('<h2>Input notes</h2><ul>' + notes + '</ul>') if notes else ''}\n</body></html>\n")
