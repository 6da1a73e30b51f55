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
from ..load.planset import AssemblyFailure, assemble, course_key, load, plan_set_key, plan_set_label
from ..load.rtplan import read_plan
from ..protocol.schema import Protocol
from .db import iso_utc

FIGURES = ("Dmin[Gy]", "Dmax[Gy]", "Dmean[Gy]", "D98%[Gy]", "D95%[Gy]", "D50%[Gy]", "D2%[Gy]", "D0.035cc[Gy]")
INDEX_FIGURES = {"r100": "R100%", "paddick_ci": "CI_Paddick", "paddick_gi": "GI_Paddick", "r50": "R50%", "d2cm_percent": "D2cm[%]",
                 "hi_icru83": "HI_ICRU83", "ptv_cc": "volume_cc"}


@dataclass(frozen=True)
class Job:
    """One plan set to check (or an input problem to record as an error).

    ``duplicate_of`` names the other case folders that hold the same plan (same RT Plan
    SOP Instance UID, or the same doses when there is no plan): each copy is kept and
    marked, never dropped.
    """

    key: str
    case_folder: str
    files: tuple[str, ...]
    label: str
    error: str | None = None
    duplicate_of: str | None = None


def case_folders(root: Path) -> dict[str, list[Path]]:
    """Files of each case folder under ``root``: a case folder is a folder and the files directly in it.

    Each is assembled on its own: a folder missing its structure set is never completed
    with another folder's. (Exports that split one case into modality subfolders are
    then one case per subfolder, and say so by their missing pieces.)
    """
    from ..load.discovery import iter_files

    folders: dict[str, list[Path]] = {}
    for path in iter_files(root):
        rel = os.path.relpath(path.parent, root)
        folders.setdefault("." if rel == "." else rel, []).append(path)
    return folders


def _identity(key: str) -> str:
    """A job's plan set identity from :func:`~sbrt_qa.load.planset.plan_set_key` (a dose without a plan: ``dose:<UIDs>``)."""
    return "dose:" + key[len("plan:|dose:"):] if key.startswith("plan:|dose:") else key


def _inferred_courses(plan_sets: list, protocol: Protocol) -> list[tuple[list[int], str, str]]:
    """The courses the protocol reveals among a case folder's plan sets (as ``check`` finds them
    after loading), from the plans' headers: (indices of the parts, course key, course label)."""
    from ..evaluate.courses import inferred_groups

    entries = []
    for ps in plan_sets:
        single = ps.plan is not None and not ps.parts and not ps.course
        try:
            entries.append((ps.structure_set.sop_instance_uid, read_plan(ps.plan)) if single else None)
        except InputError:
            entries.append(None)  # its own job reports the problem
    out = []
    for course in inferred_groups(entries, protocol):
        infos = [entries[i][1] for i in course.indices]  # type: ignore[index]
        out.append((list(course.indices), course_key([p.sop_instance_uid for p in infos]), "course: " + " + ".join(p.label or p.sop_instance_uid for p in infos)))
    return out


def find_jobs(root: Path, protocol: Protocol | None = None) -> list[Job]:
    """Every plan set under ``root``, each case folder assembled on its own.

    Corrupt files and plan sets that cannot be assembled become error jobs, so that
    the batch records them and goes on. The same plan in several case folders gives one
    job per folder, each marked as a duplicate of the others. With the protocol, the
    courses it reveals (plans on one structure set whose fractions together make an arm,
    :func:`sbrt_qa.evaluate.courses.inferred_groups`) are jobs too, as ``sbrt-qa check``
    finds them.
    """
    jobs: list[Job] = []
    for case, paths in sorted(case_folders(root).items()):
        corrupt: list[tuple[Path, str]] = []
        try:
            found = discover(paths, failures=corrupt)
        except InputError:
            continue  # a folder without DICOM-RT objects (notes, images only)
        failures: list[AssemblyFailure] = []
        plan_sets, _ = assemble(found.objects, failures=failures) if found.objects else ([], [])
        # A course part is re-assembled with its whole course, so that its job knows it is a part.
        context = {id(part): course.objects for course in plan_sets if course.parts and course.plan is None for part in course.parts}
        inferred = _inferred_courses(plan_sets, protocol) if protocol is not None else []
        for indices, _, _ in inferred:
            objects = list({id(o): o for i in indices for o in plan_sets[i].objects}.values())
            for i in indices:
                context[id(plan_sets[i])] = objects
        for ps in plan_sets:
            objs = context.get(id(ps), ps.objects)
            jobs.append(Job(f"{case}|{_identity(plan_set_key(ps))}", case, tuple(str(o.path) for o in objs), plan_set_label(ps)))
        for indices, key, label in inferred:
            jobs.append(Job(f"{case}|{key}", case, tuple(str(o.path) for o in context[id(plan_sets[indices[0]])]), label))
        for path, problem in corrupt + [(f.path, f.message) for f in failures]:
            rel = os.path.relpath(path, root) if path else case
            jobs.append(Job(f"file:{rel}", case, (str(path),) if path else (), Path(rel).name, error=f"{rel}: {problem}"))
    holders: dict[str, list[str]] = {}
    for job in jobs:
        if not job.error:
            holders.setdefault(job.key.split("|", 1)[1], []).append(job.case_folder)
    marked = []
    for job in jobs:
        others = [c for c in holders.get(job.key.split("|", 1)[1], []) if c != job.case_folder] if not job.error else []
        marked.append(Job(job.key, job.case_folder, job.files, job.label, job.error, ", ".join(others) or None))
    return marked


def _figures(result) -> list[dict[str, Any]]:
    rois = {s.name: s for s in result.structures}
    by_number = {s.roi_number: s for s in result.structures}
    figures = []
    unions = {r.structure: (r.matched_roi, r.matched_roi_numbers) for r in result.results if r.matched_roi and len(r.matched_roi_numbers or []) > 1}
    for role, (roi, numbers) in unions.items():  # a paired organ judged on its two sides: what their figures give exactly
        sides = [by_number.get(n) for n in numbers]
        if any(s is None or s.error or s.volume_cc is None for s in sides):
            continue
        volume = sum(s.volume_cc for s in sides)
        values = {"volume_cc": (volume, "cc")}
        if all(s.dmin_gy is not None for s in sides):
            values["Dmin[Gy]"] = (min(s.dmin_gy for s in sides), "Gy")
        if all(s.dmax_gy is not None for s in sides):
            values["Dmax[Gy]"] = (max(s.dmax_gy for s in sides), "Gy")
        if all(s.dmean_gy is not None for s in sides) and volume > 0:
            values["Dmean[Gy]"] = (sum(s.dmean_gy * s.volume_cc for s in sides) / volume, "Gy")
        figures += [{"structure": role, "roi": roi, "name": n, "value": v, "unit": u} for n, (v, u) in values.items()]
    for role, roi in {r.structure: r.matched_roi for r in result.results if r.matched_roi and r.structure not in unions}.items():
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
    """Check one job through the pipeline; never raises: a failure becomes an outcome with status ``error``.

    Runs in a worker process (or on a Dask worker): every argument and the result are
    plain, picklable data. ``error_kind`` is ``environment`` when the machine failed
    (unwritable ``--out``, a full disk, a vanished file): such rows are retried next run.
    """
    from ..api import PlanQA
    from ..pipeline import check_and_report
    from ..protocol.schema import load_protocol

    started = time.time()
    outcome: dict[str, Any] = {"key": job.key, "case_folder": job.case_folder, "plan": {"label": job.label}, "tool_version": __version__,
                               "started_at": iso_utc(started), "worker_pid": os.getpid(), "duplicate_of": job.duplicate_of}
    try:
        protocol = load_protocol(protocol_path)
        outcome.update(protocol_id=protocol.id, protocol_version=protocol.version, protocol_hash=protocol.content_hash)
        if job.error:
            raise InputError(job.error)
        wanted = job.key.split("|", 1)[1]
        failures: list[AssemblyFailure] = []  # the other plan sets' problems are their own jobs'
        try:
            loaded, notes_found = load([Path(f) for f in job.files], failures)
        except InputError:
            if not failures:
                raise
            loaded, notes_found = [], []  # nothing readable: the job's own failure is below
        # Through the Python API, as ``check`` does: the same plan sets and courses, judged the same way.
        units: list = [u for u in PlanQA(loaded, notes_found).plans_for(protocol) if _identity(u.plan_set.key) == wanted] if loaded else []
        if not units:  # assembled but unreadable: check_and_report records the error (and its error report)
            units = [f.plan_set for f in failures if f.plan_set is not None and _identity(plan_set_key(f.plan_set)) == wanted]
        if len(units) != 1:
            raise InputError(f"{len(units)} plan sets in one job match it")
        notes = [f"the same plan is also in case folder(s) {job.duplicate_of}: a duplicate"] if job.duplicate_of else []
        stem = f"{job.label}_{hashlib.sha256(job.key.encode()).hexdigest()[:10]}"
        folder = Path(out_dir) / job.case_folder if out_dir else None
        done = check_and_report(units[0], protocol, reports=folder, stem=stem, notes=notes)
        if done.error:
            outcome.update(status="error", error=done.error, error_kind="environment" if done.environment else "input", results=[],
                           plan_checks=[], figures=[])
        else:
            result = done.result
            outcome["plan"] = {"uid": result.plan.sop_instance_uid, "label": result.plan.label or job.label, "patient_id": result.patient_id,
                               "arm": result.protocol.arm}
            outcome.update(status=str(result.status), results=[asdict(r) for r in result.results],
                           plan_checks=[asdict(c) for c in result.plan_checks], figures=_figures(result))
            if done.reports:
                outcome.update(report_json=str(done.reports["json"]), report_html=str(done.reports["html"]))
    except InputError as exc:  # one bad plan set must not stop the batch
        outcome.update(status="error", error=str(exc), error_kind="input", results=[], plan_checks=[], figures=[])
    except Exception as exc:
        environment = isinstance(exc, (OSError, MemoryError))
        outcome.update(status="error", error=f"{type(exc).__name__}: {exc}", error_kind="environment" if environment else "input",
                       results=[], plan_checks=[], figures=[])
    finished = time.time()
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # this worker process's peak so far
    outcome.update(finished_at=iso_utc(finished), seconds=round(finished - started, 3), worker_peak_rss_mb=round(peak_mb, 1))
    return outcome
