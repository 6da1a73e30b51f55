"""Plan sets under a root as jobs, and the worker that checks one (in a process or on Dask)."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import InputError
from ..load.discovery import discover
from ..load.planset import AssemblyFailure, assemble
from .db import iso_utc

FIGURES = ("Dmin[Gy]", "Dmax[Gy]", "Dmean[Gy]", "D98%[Gy]", "D95%[Gy]", "D50%[Gy]", "D2%[Gy]", "D0.035cc[Gy]")
INDEX_FIGURES = {"r100": "R100%", "paddick_ci": "CI_Paddick", "paddick_gi": "GI_Paddick", "r50": "R50%", "d2cm_percent": "D2cm[%]",
                 "hi_icru83": "HI_ICRU83", "ptv_cc": "volume_cc"}


@dataclass(frozen=True)
class Job:
    """One plan set to check (or an input problem to record as an error)."""

    key: str
    case_folder: str
    files: tuple[str, ...]
    label: str
    error: str | None = None


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_hashes(job: Job, root: Path) -> tuple[str, list[dict[str, str]]]:
    """The job's combined input hash and each file's hash (paths relative to the root)."""
    files = [{"path": os.path.relpath(f, root), "sha256": sha256_file(f)} for f in sorted(job.files)]
    combined = hashlib.sha256("\n".join(f"{f['path']} {f['sha256']}" for f in files).encode()).hexdigest()
    return combined, files


def _case_folder(paths: list[Path], root: Path) -> str:
    common = Path(os.path.commonpath([str(p.parent) for p in paths]))
    rel = os.path.relpath(common, root)
    return "." if rel == "." else rel


def find_jobs(root: Path) -> list[Job]:
    """Every plan set under ``root`` (one case per folder, nested folders or several plans in one folder).

    Corrupt files and plan sets that cannot be assembled become error jobs, so that
    the batch records them and goes on.
    """
    corrupt: list[tuple[Path, str]] = []
    found = discover([root], failures=corrupt)
    failures: list[AssemblyFailure] = []
    plan_sets, _ = assemble(found.objects, failures=failures) if found.objects else ([], [])
    jobs = []
    for ps in plan_sets:
        objs = [*ps.doses, ps.structure_set] + ([ps.plan] if ps.plan else [])
        uid = ps.plan.sop_instance_uid if ps.plan else ""
        key = "plan:" + uid + "|dose:" + ",".join(sorted(d.sop_instance_uid for d in ps.doses))
        label = str(ps.plan.dataset.get("RTPlanLabel", "")) if ps.plan else ""
        jobs.append(Job(key, _case_folder([o.path for o in objs], root), tuple(str(o.path) for o in objs), label or ps.doses[0].path.stem))
    for path, problem in corrupt + [(f.path, f.message) for f in failures]:
        rel = os.path.relpath(path, root) if path else "?"
        jobs.append(Job(f"file:{rel}", _case_folder([path], root) if path else ".", (str(path),) if path else (), Path(rel).name,
                        error=f"{rel}: {problem}"))
    return jobs


def _figures(result) -> list[dict[str, Any]]:
    rois = {s.name: s for s in result.structures}
    figures = []
    for role, roi in {r.structure: r.matched_roi for r in result.results if r.matched_roi}.items():
        s = rois.get(roi)
        if s is None or s.error:
            continue
        values = {"volume_cc": (s.volume_cc, "cc"), "Dmin[Gy]": (s.dmin_gy, "Gy"), "Dmax[Gy]": (s.dmax_gy, "Gy"), "Dmean[Gy]": (s.dmean_gy, "Gy")}
        values.update({m: (v, "Gy") for m, v in s.metrics.items() if m in FIGURES})
        figures += [{"structure": role, "roi": roi, "name": n, "value": v, "unit": u} for n, (v, u) in values.items() if v is not None]
    for role, idx in result.indices.items():
        for k, name in INDEX_FIGURES.items():
            if idx.get(k) is not None:
                figures.append({"structure": role, "roi": None, "name": name, "value": float(idx[k]), "unit": "%" if "[%]" in name else ("cc" if k == "ptv_cc" else "ratio")})
    return figures


def run_job(job: Job, protocol_path: str, out_dir: str | None) -> dict[str, Any]:
    """Check one job; never raises: a failure becomes an outcome with status ``error``.

    Runs in a worker process (or on a Dask worker): every argument and the result are
    plain, picklable data.
    """
    from ..evaluate.check import check_plan
    from ..files import write_atomically
    from ..load.planset import load_plan_set
    from ..protocol.schema import load_protocol
    from ..report.check_html import render_html
    from ..report.check_tables import render_json
    from ..results import CheckRun

    started = time.time()
    outcome: dict[str, Any] = {"key": job.key, "case_folder": job.case_folder, "plan": {"label": job.label}, "tool_version": __version__,
                               "started_at": iso_utc(started), "worker_pid": os.getpid()}
    try:
        protocol = load_protocol(protocol_path)
        outcome.update(protocol_id=protocol.id, protocol_version=protocol.version, protocol_hash=protocol.content_hash)
        if job.error:
            raise InputError(job.error)
        objects = discover([Path(f) for f in job.files]).objects
        plan_sets, _ = assemble(objects)
        if len(plan_sets) != 1:
            raise InputError(f"{len(plan_sets)} plan sets in one job")
        loaded = load_plan_set(plan_sets[0])
        result = check_plan(loaded, protocol)
        outcome["plan"] = {"uid": result.plan.sop_instance_uid, "label": result.plan.label or job.label, "patient_id": result.patient_id,
                           "arm": result.protocol.arm}
        outcome.update(status=result.status, results=[asdict(r) for r in result.results],
                       plan_checks=[asdict(c) for c in result.plan_checks], figures=_figures(result))
        if out_dir:
            run = CheckRun(__version__, [result])
            name = f"{(result.plan.label or job.label).replace('/', '_')}_{hashlib.sha256(job.key.encode()).hexdigest()[:10]}"
            folder = Path(out_dir) / job.case_folder
            json_path, html_path = folder / f"{name}.json", folder / f"{name}.html"  # labels may hold dots: no with_suffix
            write_atomically(html_path, render_html(run))
            write_atomically(json_path, render_json(run))
            outcome.update(report_json=str(json_path), report_html=str(html_path))
    except Exception as exc:  # one bad plan set must not stop the batch
        message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        outcome.update(status="error", error=message, results=[], plan_checks=[], figures=[])
    finished = time.time()
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # this worker process's peak so far
    outcome.update(finished_at=iso_utc(finished), seconds=round(finished - started, 3), worker_peak_rss_mb=round(peak_mb, 1))
    return outcome
