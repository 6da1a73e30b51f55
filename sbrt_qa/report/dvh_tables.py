"""Text, JSON and CSV renderings of a :class:`~sbrt_qa.results.DVHRun`."""

from __future__ import annotations

import csv
import io
import json

from ..results import DVHRun, StructureResult
from .safe import SafeWriter, escaped

_FIXED = (("volume", "cc"), ("Dmin", "Gy"), ("Dmax", "Gy"), ("Dmean", "Gy"))


def _fixed_values(s: StructureResult) -> list[float | None]:
    return [s.volume_cc, s.dmin_gy, s.dmax_gy, s.dmean_gy]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_json(run: DVHRun) -> str:
    """The JSON contract, indented."""
    return json.dumps(run.to_dict(), indent=2, allow_nan=False) + "\n"


def render_text(run: DVHRun) -> str:
    """An aligned table per plan, with warnings and notes below it (control characters in any field escaped)."""
    run = escaped(run)
    out = io.StringIO()
    for p in run.plans:
        rx = f"{p.plan.prescription_gy:g} Gy in {p.plan.fractions} fx" if p.plan.prescription_gy and p.plan.fractions else "unknown"
        out.write(f"Plan: {p.plan.label or '(no RT Plan)'}   prescription: {rx}\n")
        out.write(f"Dose: {p.dose.sop_instance_uid}  grid {p.dose.shape[2]}x{p.dose.shape[1]}x{p.dose.shape[0]} at "
                  f"{' x '.join(f'{v:g}' for v in p.dose.spacing_mm)} mm  ({p.dose.summation_type})\n")
        metric_names: list[str] = []
        for s in p.structures:
            for m in s.metrics:
                if m not in metric_names:
                    metric_names.append(m)
        header = ["Structure", "Type"] + [f"{n}[{u}]" for n, u in _FIXED] + metric_names + ["Outside[cc]"]
        rows = []
        for s in p.structures:
            if s.error:
                rows.append([s.name, s.type or "", "ERROR: " + s.error])
                continue
            flag = " *" if s.partial else ""
            rows.append(
                [s.name + flag, s.type or s.geometry]
                + [_fmt(v, 3 if i == 0 else 2) for i, v in enumerate(_fixed_values(s))]
                + [_fmt(s.metrics.get(m), 3 if s.metric_units.get(m) == "cc" else 2) for m in metric_names]
                + [_fmt(s.outside_dose_grid_cc, 3)]
            )
        widths = [max(len(str(r[i])) for r in rows + [header] if i < len(r)) for i in range(len(header))]
        out.write("  ".join(h.ljust(widths[i]) if i < 2 else h.rjust(widths[i]) for i, h in enumerate(header)) + "\n")
        for r in rows:
            if len(r) < len(header):
                out.write("  ".join(str(c) for c in r) + "\n")
                continue
            out.write("  ".join(str(c).ljust(widths[i]) if i < 2 else str(c).rjust(widths[i]) for i, c in enumerate(r)) + "\n")
        if any(s.partial for s in p.structures):
            out.write("* partly outside the dose grid: figures describe only the part inside\n")
        warn = [(s.name, w) for s in p.structures for w in s.warnings]
        if warn:
            out.write("Warnings:\n")
            for name, w in warn:
                out.write(f"  {name}: {w}\n")
        if p.notes:
            out.write("Notes:\n")
            for n in p.notes:
                out.write(f"  {n}\n")
        out.write("\n")
    for n in run.notes:
        out.write(f"Note: {n}\n")
    return out.getvalue()


def render_csv(run: DVHRun) -> str:
    """One row per structure and figure: plan, structure, figure, value, unit, flags."""
    out = io.StringIO()
    w = SafeWriter(out, lineterminator="\n")
    w.writerow(["plan_sop_instance_uid", "plan_label", "structure", "roi_number", "figure", "value", "unit", "partial_dose_coverage", "error"])
    for p in run.plans:
        for s in p.structures:
            figures = [(f"{n}[{u}]" if n != "volume" else "volume[cc]", v, u) for (n, u), v in zip(_FIXED, _fixed_values(s))]
            figures.append(("outside_dose_grid[cc]", s.outside_dose_grid_cc, "cc"))
            figures += [(m, v, s.metric_units.get(m, "")) for m, v in s.metrics.items()]
            for name, value, unit in figures:
                w.writerow([p.plan.sop_instance_uid or "", p.plan.label or "", s.name, s.roi_number, name,
                            "" if value is None else repr(float(value)), unit, str(s.partial).lower(), s.error or ""])
    return out.getvalue()
