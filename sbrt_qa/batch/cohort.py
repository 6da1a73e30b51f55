"""``sbrt-qa cohort``: compliance by arm, distributions of key figures, and the deviations."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from ..report.safe import CSP_META, SafeWriter, relative_link
from .db import ResultsDB

#: Key figures shown as distributions: (label, role, figure name in the figures table).
KEY_FIGURES = (
    ("PTV D95% [Gy]", ("PTV_3000", "PTV"), "D95%[Gy]"),
    ("PGTV D95% [Gy]", ("PTV_3500",), "D95%[Gy]"),
    ("Cord D0.035cc [Gy]", ("SpinalCord",), "D0.035cc[Gy]"),
    ("R100%", ("PTV_3000", "PTV"), "R100%"),
    ("R50%", ("PTV_3000", "PTV"), "R50%"),
    ("D2cm [% of Rx]", ("PTV_3000", "PTV"), "D2cm[%]"),
)
STATUSES = ("pass", "minor", "major", "not_evaluated")


@dataclass
class Cohort:
    """What the database says about a cohort."""

    plan_counts: dict[str, dict[str, int]]  # arm -> plan status -> n
    compliance: dict[str, list[dict]]  # arm -> rows (constraint, structure, metric, counts)
    figures: dict[str, dict[str, list[float]]]  # figure label -> arm -> values
    deviations: list[dict]
    protocols: list[str] = field(default_factory=list)


def build_cohort(db_path: Path) -> Cohort:
    with ResultsDB(db_path, writer=False) as db:
        c = db.conn
        assert c is not None
        _current_state(c)
        plan_counts: dict[str, dict[str, int]] = {}
        for row in c.execute("SELECT coalesce(arm, '(no arm)') AS arm, status, count(*) AS n FROM current_plans GROUP BY 1, 2"):
            plan_counts.setdefault(row["arm"], {})[row["status"]] = row["n"]
        compliance: dict[str, list[dict]] = {}
        query = ("SELECT p.arm, r.constraint_id, r.structure, r.metric, r.goal, r.status, count(*) AS n FROM constraint_results r "
                 "JOIN current_plans p ON p.id = r.plan_id WHERE r.status != 'info' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2")
        rows: dict[tuple, dict] = {}
        for row in c.execute(query):
            key = (row["arm"], row["constraint_id"])
            entry = rows.setdefault(key, {"constraint": row["constraint_id"], "structure": row["structure"], "metric": row["metric"],
                                          "goal": row["goal"], **{s: 0 for s in STATUSES}})
            entry[row["status"]] = row["n"]
        for (arm, _), entry in rows.items():
            # constraints nobody could evaluate (absent organs) say nothing about compliance
            if entry["pass"] + entry["minor"] + entry["major"]:
                compliance.setdefault(arm, []).append(entry)
        figures: dict[str, dict[str, list[float]]] = {}
        for label, roles, name in KEY_FIGURES:
            marks = ",".join("?" * len(roles))
            for row in c.execute(f"SELECT p.arm, f.value FROM figures f JOIN current_plans p ON p.id = f.plan_id WHERE f.structure IN ({marks}) "
                                 "AND f.name = ? AND f.value IS NOT NULL AND p.status != 'error'", (*roles, name)):
                figures.setdefault(label, {}).setdefault(row["arm"] or "(no arm)", []).append(float(row["value"]))
        deviations = []
        for row in c.execute("SELECT id, case_folder, plan_label, arm, status, error, report_html, duplicate_of FROM current_plans "
                             "WHERE status IN ('major', 'not_evaluated', 'error') OR duplicate_of IS NOT NULL ORDER BY status, case_folder"):
            items = [f"{r['structure']} {r['metric']} = {r['value']:.4g} {r['unit']} (goal {r['goal']})" if r["value"] is not None
                     else f"{r['structure']} {r['metric']}: {r['message']}"
                     for r in c.execute("SELECT * FROM constraint_results WHERE plan_id = ? AND (status = 'major' OR "
                                        "(status = 'not_evaluated' AND required = 1))", (row["id"],))]
            items += [f"plan check {r['check_id']}: {r['message'] or r['status']}"
                      for r in c.execute("SELECT * FROM plan_checks WHERE plan_id = ? AND status IN ('major', 'not_evaluated')", (row["id"],))]
            if row["error"]:
                items.append(row["error"])
            if row["duplicate_of"]:
                items.append(f"the same plan is also in case folder(s) {row['duplicate_of']}: a duplicate")
            deviations.append({"case": row["case_folder"], "plan": row["plan_label"], "arm": row["arm"], "status": row["status"],
                               "items": items, "report_html": row["report_html"]})
        protocols = [f"{r['protocol_id']} v{r['protocol_version']}" for r in c.execute("SELECT DISTINCT protocol_id, protocol_version FROM current_plans")]
    return Cohort(plan_counts, compliance, figures, deviations, protocols)


def _current_state(c) -> None:
    """A temporary view ``current_plans``: each root's plan sets as its latest run found them.

    Rows of case folders that are gone (not found by the latest run over their root) and
    rows replaced since are history, not the cohort.
    """
    columns = {r[1] for r in c.execute("PRAGMA table_info(plans)")}
    seen = "coalesce(p.seen_run_id, p.run_id)" if "seen_run_id" in columns else "p.run_id"
    dup = "" if "duplicate_of" in columns else ", NULL AS duplicate_of"
    c.execute(f"CREATE TEMP VIEW current_plans AS SELECT p.*{dup} FROM plans p JOIN runs r ON r.id = {seen} "
              "WHERE r.id = (SELECT max(r2.id) FROM runs r2 WHERE r2.root = r.root)")


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.0f} %)" if total else "0"


def render_cohort_text(cohort: Cohort) -> str:
    out = io.StringIO()
    for arm, counts in sorted(cohort.plan_counts.items()):
        out.write(f"{arm}: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())) + "\n")
    out.write(f"{len(cohort.deviations)} plans with a deviation, an error or a required item not evaluated\n")
    return out.getvalue()


def _plot(figure: dict[str, list[float]], label: str) -> str:
    from ..report.figures import new_figure, png_bytes

    arms = sorted(figure)
    fig = new_figure((4.2, 3.0), dpi=100)
    ax = fig.subplots()
    ax.boxplot([figure[a] for a in arms], showfliers=False)
    ax.set_xticks(range(1, len(arms) + 1), arms)
    for i, a in enumerate(arms, start=1):
        ax.plot([i] * len(figure[a]), figure[a], "o", alpha=0.5, markersize=4)
    ax.set_title(label, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return base64.b64encode(png_bytes(fig)).decode("ascii")


def render_cohort_html(cohort: Cohort, base: Path) -> str:
    """One self-contained page; links to each plan's report are relative to ``base``."""
    h = [f"<h1>sbrt-qa cohort</h1><p>Protocols: {escape(', '.join(cohort.protocols))}</p>", "<h2>Plans by arm</h2><table><tr><th>Arm</th>"
         + "".join(f"<th>{s}</th>" for s in (*STATUSES, "error")) + "<th>total</th></tr>"]
    for arm, counts in sorted(cohort.plan_counts.items()):
        total = sum(counts.values())
        h.append(f"<tr><td>{escape(arm)}</td>" + "".join(f"<td class='num'>{_pct(counts.get(s, 0), total)}</td>" for s in (*STATUSES, "error"))
                 + f"<td class='num'>{total}</td></tr>")
    h.append("</table>")
    for arm, rows in sorted(cohort.compliance.items()):
        h.append(f"<h2>Compliance per constraint: {escape(arm)}</h2><table><tr><th>Constraint</th><th>Structure</th><th>Metric</th><th>Goal</th>"
                 + "".join(f"<th>{s}</th>" for s in STATUSES) + "</tr>")
        for r in rows:
            total = sum(r[s] for s in STATUSES)
            h.append(f"<tr><td>{escape(r['constraint'])}</td><td>{escape(r['structure'])}</td><td>{escape(r['metric'])}</td><td>{escape(r['goal'])}</td>"
                     + "".join(f"<td class='num s-{s if r[s] else ''}'>{_pct(r[s], total)}</td>" for s in STATUSES) + "</tr>")
        h.append("</table>")
    h.append("<h2>Key figures by arm</h2><div>")
    for label, _, _ in KEY_FIGURES:
        if label in cohort.figures:
            h.append(f'<img alt="{escape(label)}" src="data:image/png;base64,{_plot(cohort.figures[label], label)}">')
    h.append("</div><h2>Deviations</h2><table><tr><th>Case</th><th>Plan</th><th>Arm</th><th>Status</th><th>What</th><th>Report</th></tr>")
    for d in cohort.deviations:
        link = "-"
        if d["report_html"]:
            link = f'<a href="{escape(relative_link(d["report_html"], base))}">report</a>'
        h.append(f"<tr><td>{escape(d['case'])}</td><td>{escape(d['plan'] or '-')}</td><td>{escape(d['arm'] or '-')}</td>"
                 f"<td class='s-{d['status']}'>{escape(d['status'])}</td><td>{'<br>'.join(escape(i) for i in d['items'])}</td><td>{link}</td></tr>")
    h.append("</table>")
    css = ("body{font-family:Helvetica,Arial,sans-serif;margin:24px;font-size:13px}table{border-collapse:collapse;width:100%}"
           "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f0f0f0}td.num{text-align:right}"
           ".s-pass{background:#d8f0d8}.s-minor{background:#fff0c2}.s-major{background:#f9d0d0}.s-not_evaluated{background:#ecd8f4}"
           ".s-error{background:#f9d0d0}img{margin:4px}@media print{tr{page-break-inside:avoid}}")
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{CSP_META}<title>sbrt-qa cohort</title><style>{css}</style></head><body>\n' + "\n".join(h) + "\n</body></html>\n"


def render_cohort_csv(cohort: Cohort, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "compliance.csv").open("w", newline="") as fh:
        w = SafeWriter(fh)
        w.writerow(["arm", "constraint", "structure", "metric", "goal", *STATUSES])
        for arm, rows in sorted(cohort.compliance.items()):
            for r in rows:
                w.writerow([arm, r["constraint"], r["structure"], r["metric"], r["goal"], *(r[s] for s in STATUSES)])
    with (folder / "figures.csv").open("w", newline="") as fh:
        w = SafeWriter(fh)
        w.writerow(["figure", "arm", "value"])
        for label, by_arm in cohort.figures.items():
            for arm, values in by_arm.items():
                w.writerows([label, arm, v] for v in values)
    with (folder / "deviations.csv").open("w", newline="") as fh:
        w = SafeWriter(fh)
        w.writerow(["case", "plan", "arm", "status", "items", "report_html"])
        for d in cohort.deviations:
            w.writerow([d["case"], d["plan"], d["arm"], d["status"], " | ".join(d["items"]), d["report_html"] or ""])
