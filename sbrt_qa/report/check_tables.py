"""Text, JSON and CSV renderings of a :class:`~sbrt_qa.results.CheckRun`."""

from __future__ import annotations

import csv
import io
import json

from ..results import CheckPlanResult, CheckRun, ConstraintResult
from .safe import SafeWriter, escape_controls, escaped

VERDICT = {
    "pass": "PASS: per protocol",
    "minor": "MINOR: variation acceptable",
    "major": "MAJOR: deviation unacceptable",
    "not_evaluated": "NEEDS REVIEW: items could not be evaluated; a reviewer must decide before this plan can pass",
    "error": "ERROR",
    "info": "PART OF A COURSE: shown for information; the course is judged on its course dose",
}
_COLOUR = {"pass": "32", "minor": "33", "major": "31", "not_evaluated": "35", "info": "36", "error": "31"}
_ORDER = {"major": 0, "not_evaluated": 1, "minor": 2, "info": 3, "pass": 4}


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{_COLOUR.get(status, '0')}m{text}\033[0m" if colour else text


def format_value(r: ConstraintResult) -> str:
    if r.value is None:
        return "-"
    if r.unit == "bool":
        return "yes" if r.value else "no"
    return f"{r.value:.3g} {r.unit}" if abs(r.value) < 1000 else f"{r.value:.0f} {r.unit}"


def render_json(run: CheckRun) -> str:
    return json.dumps(run.to_dict(), indent=2, allow_nan=False, default=str) + "\n"


def verdict_line(p: CheckPlanResult, colour: bool = False) -> str:
    """One plan's verdict, plan label, protocol and arm on one line."""
    return (_paint(f"{VERDICT.get(p.status, p.status)}", p.status, colour) + f"   plan {escape_controls(p.plan.label or '-')}"
            + escape_controls(f"   protocol {p.protocol.id} v{p.protocol.version}, arm {p.protocol.arm or '-'}"))


def render_text(run: CheckRun, colour: bool = False, show_all: bool = False) -> str:
    """Verdict line, then the constraints (problems first), then the plan checks.

    Every text field is shown with its control characters escaped (:func:`escaped`): a plan
    label holding a carriage return or an escape sequence cannot redraw the verdict.
    """
    run = escaped(run)
    out = io.StringIO()
    for p in run.plans:
        out.write(verdict_line(p, colour) + "\n")
        out.write(f"  arm: {p.protocol.arm_reason}\n")
        if p.error:
            out.write(f"  error: {p.error}\n\n")
            continue
        for item in p.needs_review:
            out.write(_paint(f"  needs review: {item.id}: {item.reason}", "not_evaluated", colour) + f"\n      -> {item.action}\n")
        for lv in p.prescription_levels:
            dose = f"{lv.dose_gy:g} Gy" if lv.dose_gy is not None else "no dose"
            out.write(f"  prescription {lv.role}: {dose} ({lv.source})" + (f" on {', '.join(lv.rois)}" if lv.rois else "")
                      + (f"  {lv.message}" if lv.message else "") + "\n")
        for d in p.declarations:
            out.write(f"  declared by the reviewer: {d.kind} {d.item}" + (f" = {d.value}" if d.value is not None else "") + "\n")
        rows = [r for r in p.results if show_all or shown(r, p)]
        hidden = len(p.results) - len(rows)
        rows.sort(key=lambda r: _ORDER.get(r.status, 9))
        header = ["Structure", "ROI", "Metric", "Goal", "Variation", "Actual", "Status"]
        table = [[r.structure, r.matched_roi or "-", r.metric, r.goal, r.variation or "-", format_value(r), r.status] for r in rows]
        widths = [max(len(str(x[i])) for x in table + [header]) for i in range(len(header))]
        out.write("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)) + "\n")
        for r, line in zip(rows, table):
            cells = "  ".join(str(c).ljust(w) for c, w in zip(line, widths))
            out.write("  " + _paint(cells, r.status, colour) + "\n")
            if r.status in ("major", "minor", "not_evaluated") and r.message:
                out.write(f"      {r.message}\n")
        if hidden:
            out.write(f"  ({hidden} constraints on structures absent from this plan and not required: not evaluated; --all lists them)\n")
        out.write("  Plan checks:\n")
        for c in sorted(p.plan_checks, key=lambda c: _ORDER.get(c.status, 9)):
            out.write("    " + _paint(f"{c.status:13s}", c.status, colour) + f" {c.id}: {c.value} (limit {c.limit})" + (f"  {c.message}" if c.message else "") + "\n")
        if p.unassigned_rois:
            out.write("  Contoured ROIs assigned to no role (highest Dmax first):\n")
            for u in unassigned_sorted(p):
                out.write(f"    {u.name} (ROI {u.roi_number}, {u.type or '-'}): {_num(u.volume_cc, 'cc')}, Dmax {_num(u.dmax_gy, 'Gy')}"
                          + (f"  could be {', '.join(u.candidate_for)}" if u.candidate_for else "") + "\n")
        for pd in p.point_doses:
            out.write(f"  point dose (not a prescription): {pd}\n")
        for w in p.warnings:
            out.write(f"  warning: {w}\n")
        for w in p.python_warnings:
            out.write(f"  python warning (reading or checking): {w}\n")
        for n in p.notes:
            out.write(f"  note: {n}\n")
        out.write("\n")
    return out.getvalue()


def _num(v: float | None, unit: str) -> str:
    return "-" if v is None else f"{v:.3g} {unit}"


def shown(r: ConstraintResult, p: CheckPlanResult) -> bool:
    """Whether a constraint row is listed without ``--all``: everything except those on structures simply
    absent from the plan (not required, not matched, and nothing for the reviewer to decide about them)."""
    return (r.status != "not_evaluated" or r.required or bool(r.matched_roi) or r.match == "ambiguous"
            or any(item.id == f"structure:{r.structure}" for item in p.needs_review))


def unassigned_sorted(p: CheckPlanResult) -> list:
    """Unassigned ROIs, highest Dmax first (the order of every report format)."""
    return sorted(p.unassigned_rois, key=lambda u: (-(u.dmax_gy if u.dmax_gy is not None else -1.0), u.name))


def render_csv(run: CheckRun) -> str:
    """One row per constraint, plan check, review item, level, unassigned ROI, declaration and Python warning (cells formula-safe)."""
    out = io.StringIO()
    w = SafeWriter(out, lineterminator="\n")
    w.writerow(["plan_sop_instance_uid", "plan_label", "protocol", "arm", "plan_status", "kind", "id", "structure", "matched_roi",
                "match", "metric", "value", "unit", "goal", "variation", "status", "verification", "message"])
    for p in run.plans:
        base = [p.plan.sop_instance_uid or "", p.plan.label or "", f"{p.protocol.id}@{p.protocol.version}", p.protocol.arm or "", p.status]
        for r in p.results:
            w.writerow(base + ["constraint", r.id, r.structure, r.matched_roi or "", r.match, r.metric,
                               "" if r.value is None else repr(float(r.value)), r.unit, r.goal, r.variation or "", r.status, r.verification, r.message])
        for c in p.plan_checks:
            w.writerow(base + ["plan_check", c.id, "", "", "", "", c.value, "", c.limit, "", c.status, "", c.message])
        for item in p.needs_review:
            w.writerow(base + ["needs_review", item.id, "", "", "", "", "", "", "", "", "not_evaluated", "", f"{item.reason}; {item.action}"])
        for lv in p.prescription_levels:
            w.writerow(base + ["prescription_level", lv.role, lv.role, ";".join(lv.rois), lv.source, "", "" if lv.dose_gy is None else repr(float(lv.dose_gy)),
                               "Gy", "", "", "info", "", lv.message])
        for u in unassigned_sorted(p):
            w.writerow(base + ["unassigned_roi", str(u.roi_number), "", u.name, "", "Dmax", "" if u.dmax_gy is None else repr(float(u.dmax_gy)), "Gy",
                               "", "", "info", "", f"type {u.type or '-'}; volume {_num(u.volume_cc, 'cc')}"
                               + (f"; could be {', '.join(u.candidate_for)}" if u.candidate_for else "")])
        for d in p.declarations:
            w.writerow(base + ["declaration", f"{d.kind}:{d.item}", "", "", "", "", d.value or "", "", "", "", "info", "", "declared by the reviewer"])
        for text in p.python_warnings:
            w.writerow(base + ["python_warning", "", "", "", "", "", "", "", "", "", "info", "", text])
    return out.getvalue()
