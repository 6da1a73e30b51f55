"""The verdict case bank: plans whose right verdict a careful physicist wrote down first.

Each case is a folder ``tests/cases/<suite>/<case>/`` holding ``case.toml``:

* the planning system whose real header pattern the export carries (``vendor``, see
  :mod:`sbrt_qa.synthetic.vendor_patterns`), the protocol and the command-line options;
* the geometry (spheres, cylinders, boxes, ROIs without contours) and the dose
  (radial profiles around a centre, uniform boxes), both analytic: a figure the
  verdict rests on is known in closed form or integrated here by fine sampling of the
  analytic functions (:func:`truth`), never by the engine under test;
* ``[expect]``: the plan status, the exit code, and the key items (which constraint
  must be major, which ROI a role must be evaluated on, which review item must be
  present, where a level's dose must come from), each case with its ``why``.

:func:`build` writes a case as DICOM into a folder; :func:`run` passes it through the
real command line (``sbrt-qa check --format json``); :func:`compare` lists every way
the outcome differs from the expectation. ``python tests/case_bank.py --report``
prints how many verdicts are right (``scripts/verdict_scoreboard.py`` is the same).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package of this tree
    sys.path.insert(0, str(REPO))

from sbrt_qa.load import sop  # noqa: E402
from sbrt_qa.synthetic import dicom_factory as f  # noqa: E402
from sbrt_qa.synthetic import vendor_patterns as vp  # noqa: E402

CASES = Path(__file__).resolve().parent / "cases"
SUITES = ("bank", "vendor")
STATUS_RANK = {"info": 0, "pass": 0, "minor": 1, "not_evaluated": 2, "major": 3, "error": 4}  # info: a part of a course
EXIT_FOR_STATUS = {"pass": 0, "minor": 0, "not_evaluated": 1, "major": 1}

# --------------------------------------------------------------------------- scenes

#: Radial dose (Gy) of a 30 Gy / 35 Gy SBRT plan around the centre of two nested
#: spheres (PTV_3000 radius 15 mm, PTV_3500 radius 8 mm): (r mm, dose Gy), linear in
#: between. Closed form of this analytic dose: PTV_3500 >= 35.7 Gy and PTV_3000 >=
#: 30.9 Gy everywhere (V100% = 100 %); the 30 Gy isodose is the sphere r = 15.75 mm
#: (R100% = 1.158), the 15 Gy isodose r = 23 mm (R50% = 3.60); 2 cm from the PTV
#: (r >= 35 mm) at most 6 Gy = 20 % (D2cm); the cord of the ``spine`` scene (nearest
#: point r = 25 mm) gets Dmax 13.5 Gy. The exported 2.5 mm grid, interpolated
#: trilinearly (:func:`truth`), keeps every voxel-sampled PTV point >= 30.2 and
#: >= 35.4 Gy and gives R100% 1.083 and R50% 3.78 (the kinks of the profile lie
#: within a voxel of the isodoses).
PROFILE_30_35 = [[0, 36.6], [9, 35.7], [11, 32.0], [13.5, 31.6], [15, 30.9], [16, 29.7], [17, 27.5], [23, 15.0], [35, 6.0], [60, 2.0], [200, 0.5]]

#: A single 30 Gy lesion of radius 10 mm. Closed form: >= 30.9 Gy inside (V100% =
#: 100 %); the 30 Gy isodose r = 10.58 mm (R100% = 1.183), the 15 Gy isodose r = 16 mm
#: (R50% = 4.10); at 2 cm from the surface (r >= 30 mm) 4 Gy = 13 % (D2cm). On the
#: exported 2.5 mm grid (trilinear, :func:`truth`): >= 30.1 Gy inside, R100% 1.086,
#: R50% 4.50.
PROFILE_30_R10 = [[0, 32.4], [8.5, 31.6], [10, 30.9], [12.5, 27.0], [16, 15.0], [30, 4.0], [60, 1.0], [200, 0.2]]

#: An IMRT plan meant for 50 Gy whose PTV (radius 15 mm) gets 47.6-48 Gy: V50Gy = 0 %.
PROFILE_IMRT_475 = [[0, 48.0], [15.2, 47.6], [17, 44.0], [30, 25.0], [60, 8.0], [200, 1.0]]

#: Profiles a case.toml may name instead of listing the points.
PROFILES = {"PROFILE_30_35": PROFILE_30_35, "PROFILE_30_R10": PROFILE_30_R10, "PROFILE_IMRT_475": PROFILE_IMRT_475}

SPINE_GRID = {"origin": [-105.0, -85.0, -50.0], "spacing": [2.5, 2.5, 2.5], "shape": [41, 69, 85]}  # shape z, y, x

SCENES: dict[str, dict[str, Any]] = {
    # A thoracic vertebral plasmacytoma, the trial's SBRT arm: PTV 30 Gy and PGTV 35 Gy in 5 fx.
    # The cord's nearest point is 25 mm from the target centre: Dmax = D(25) = 13.5 Gy.
    "spine": {
        "grid": SPINE_GRID,
        "contour_step": 2.0,
        "rois": [
            {"name": "PTV_3000", "type": "PTV", "shape": "sphere", "center": [0, 30, 0], "radius": 15},
            {"name": "PTV_3500", "type": "PTV", "shape": "sphere", "center": [0, 30, 0], "radius": 8},
            {"name": "SpinalCord", "type": "ORGAN", "shape": "cylinder", "center": [0, 60, 0], "radius": 5, "half_length": 40},
            {"name": "Esophagus", "type": "ORGAN", "shape": "cylinder", "center": [-25, 0, 0], "radius": 7, "half_length": 40},
            {"name": "Heart", "type": "ORGAN", "shape": "sphere", "center": [30, -45, -10], "radius": 25},
            {"name": "BODY", "type": "EXTERNAL", "shape": "cylinder", "center": [0, 0, 0], "radius": [100, 80], "half_length": 45},
        ],
        "dose": [{"kind": "radial", "center": [0, 30, 0], "profile": PROFILE_30_35}],
        "levels": [["PTV_3000", 30.0], ["PTV_3500", 35.0]],
        "fractions": 5,
        "isocentre": [0, 30, 0],
    },
    # Lesions of radius 10 mm in radial 30 Gy doses, far apart (for multi-target cases the
    # case adds its own targets and doses), a cord well away.
    "lesions": {
        "grid": SPINE_GRID,
        "contour_step": 2.0,
        "rois": [
            {"name": "SpinalCord", "type": "ORGAN", "shape": "cylinder", "center": [0, 65, 0], "radius": 5, "half_length": 40},
            {"name": "BODY", "type": "EXTERNAL", "shape": "cylinder", "center": [0, 0, 0], "radius": [100, 80], "half_length": 45},
        ],
        "dose": [],
        "levels": [],
        "fractions": 5,
        "isocentre": [0, 20, 0],
    },
}


# --------------------------------------------------------------------------- geometry and dose


def _radii(roi: dict) -> tuple[float, float]:
    r = roi["radius"]
    return (float(r[0]), float(r[1])) if isinstance(r, list) else (float(r), float(r))


def inside(roi: dict, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Whether points lie inside a ROI's analytic solid."""
    cx, cy, cz = roi["center"]
    shape = roi["shape"]
    if shape == "sphere":
        return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= float(roi["radius"]) ** 2
    if shape == "cylinder":
        a, b = _radii(roi)
        return (((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0) & (np.abs(z - cz) <= float(roi["half_length"]))
    if shape == "box":
        hx, hy, hz = roi["half"]
        return (np.abs(x - cx) <= hx) & (np.abs(y - cy) <= hy) & (np.abs(z - cz) <= hz)
    if shape == "empty":
        return np.zeros(np.broadcast(x, y, z).shape, dtype=bool)
    raise ValueError(f"unknown shape {shape!r}")


def contours(roi: dict, step: float, n_points: int = 72) -> list[tuple[float, np.ndarray]]:
    """Closed planar contours of a solid on planes ``step`` apart (centred on the solid)."""
    shape = roi["shape"]
    if shape == "empty":
        return []
    cx, cy, cz = (float(v) for v in roi["center"])
    angles = np.linspace(0.0, 2 * np.pi, n_points, endpoint=False)
    if shape == "sphere":
        half = float(roi["radius"])
    elif shape == "cylinder":
        half = float(roi["half_length"])
    else:
        half = float(roi["half"][2])
    k = int(np.floor(half / step + 1e-9))
    out = []
    for i in range(-k, k + 1):
        z = cz + i * step
        if shape == "sphere":
            r2 = float(roi["radius"]) ** 2 - (z - cz) ** 2
            if r2 <= 0.25:  # a section under 0.5 mm across carries no volume
                continue
            a = b = float(np.sqrt(r2))
        elif shape == "cylinder":
            a, b = _radii(roi)
        else:
            hx, hy, _ = roi["half"]
            out.append((z, np.array([[cx - hx, cy - hy], [cx + hx, cy - hy], [cx + hx, cy + hy], [cx - hx, cy + hy]], dtype=float)))
            continue
        out.append((z, np.column_stack([cx + a * np.cos(angles), cy + b * np.sin(angles)])))
    return out


def dose_at(components: list[dict], x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The analytic dose (Gy): the largest of the components at each point."""
    total = np.zeros(np.broadcast(x, y, z).shape)
    for c in components:
        scale = float(c.get("scale", 1.0))
        if c["kind"] == "radial":
            cx, cy, cz = c["center"]
            r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2)
            prof = np.asarray(PROFILES[c["profile"]] if isinstance(c["profile"], str) else c["profile"], dtype=float)
            d = np.interp(r, prof[:, 0], prof[:, 1], right=prof[-1, 1])
        elif c["kind"] == "uniform":
            d = np.where(inside({"shape": "box", "center": c["center"], "half": c["half"]}, x, y, z), float(c["dose"]), 0.0)
        else:
            raise ValueError(f"unknown dose component {c['kind']!r}")
        total = np.maximum(total, scale * d)
    return total


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One case of the bank, as read from its ``case.toml``."""

    name: str
    suite: str
    path: Path
    data: dict[str, Any]
    rois: list[dict] = field(default_factory=list)
    dose: list[dict] = field(default_factory=list)
    grid: dict[str, Any] = field(default_factory=dict)

    @property
    def expect(self) -> dict[str, Any]:
        return self.data["expect"]

    @property
    def why(self) -> str:
        return self.data["expect"].get("why", "")

    @property
    def vendor(self) -> str:
        return self.data.get("vendor", "synthetic")


def _scene(data: dict[str, Any]) -> tuple[dict, list[dict], list[dict]]:
    scene = json.loads(json.dumps(SCENES[data.get("scene", "spine")]))  # a deep copy
    edit = data.get("scene_edit", {})
    rois = [r for r in scene["rois"] if r["name"] not in edit.get("drop", [])]
    for r in rois:
        r.update(edit.get("set", {}).get(r["name"], {}))
    for old, new in edit.get("rename", {}).items():
        for r in rois:
            if r["name"] == old:
                r["name"] = new
    rois += data.get("roi", [])
    dose = [] if data.get("dose_replace") else scene["dose"]
    dose = dose + data.get("dose", [])
    order = data.get("roi_order")
    if order:
        rois.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    number = 0
    for r in rois:
        if "number" not in r:
            number += 1
            while any(o.get("number") == number for o in rois):
                number += 1
            r["number"] = number
    return scene, rois, dose


def load_case(path: Path) -> Case:
    """Read ``case.toml`` of one case folder."""
    data = tomllib.loads((path / "case.toml").read_text(encoding="utf-8"))
    scene, rois, dose = _scene(data)
    case = Case(path.name, path.parent.name, path, data, rois, dose, {**scene["grid"], **data.get("grid", {})})
    case.data.setdefault("_scene", scene)
    return case


def all_cases(suite: str) -> list[Case]:
    """Every case of a suite, in name order."""
    folder = CASES / suite
    return [load_case(p) for p in sorted(folder.iterdir()) if (p / "case.toml").is_file()]


# --------------------------------------------------------------------------- building DICOM


def _exports(case: Case) -> list[dict[str, Any]]:
    plan = case.data.get("plan", {})
    exports = case.data.get("exports") or [{}]
    out = []
    for i, e in enumerate(exports):
        merged = {**plan, **e}
        merged.setdefault("label", f"{case.name[:10]}{i}" if len(exports) > 1 else case.name[:13])
        out.append(merged)
    return out


def _file_part(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def build(case: Case, folder: Path) -> Path:
    """Write a case's RT Structure Set, RT Plan(s) and RT Dose(s) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    scene = case.data["_scene"]
    seed = f"case-{case.suite}-{case.name}"
    patient = f.Patient(patient_id=f"CASE-{case.name[:50]}", patient_name=f"Case^{case.name[:50]}",
                        study_uid=f.uid(seed + "study"), frame_of_reference_uid=f.uid(seed + "frame"))
    step = float(scene.get("contour_step", 2.0))
    specs = [f.RoiSpec(r["name"], int(r["number"]), r["type"], contours(r, step)) for r in case.rois]
    struct = f.rtstruct(specs, patient, sop_uid=f.uid(seed + "rs"), label=case.name[:16])
    vp.style_struct(struct, case.vendor)
    exports = _exports(case)
    for sub in sorted({e.get("folder", "") for e in exports}):  # a case folder tree: the structure set in each case folder
        f.save(struct, folder / sub / "RS.dcm")

    g = case.grid
    nz, ny, nx = g["shape"]
    dx, dy, dz = g["spacing"]
    x0, y0, z0 = g["origin"]
    zs, ys, xs = z0 + dz * np.arange(nz), y0 + dy * np.arange(ny), x0 + dx * np.arange(nx)
    Z, Y, X = np.meshgrid(zs, ys, xs, indexing="ij")
    course = dose_at(case.dose, X, Y, Z)

    numbers = {r["name"]: int(r["number"]) for r in case.rois}
    plan_uids = {e["label"]: f.uid(seed + "rp" + e["label"]) for e in exports if e.get("with_plan", True)}
    for e in exports:
        vendor = e.get("vendor", case.vendor)
        label = e["label"]
        groups = e.get("fraction_groups") or [int(e.get("fractions", scene["fractions"]))]
        levels_def = e.get("levels", scene["levels"])
        levels = [vp.Level(name, numbers.get(name), float(d)) for name, d in levels_def]
        top = max((lv.dose_gy for lv in levels), default=float(e.get("beam_dose_total", 30.0)))
        fractions = sum(groups)
        beam_total = float(e.get("beam_dose_total", top * 1.1))  # BeamDose at a point: never the prescription
        if e.get("with_plan", True):
            beams = [f.BeamSpec(f"Arc{i + 1}", 6.0, 900.0, beam_dose_gy=beam_total / fractions / 2) for i in range(2 * len(groups))]
            plan = f.rtplan(patient, label=label, fractions=fractions, targets=[], beams=beams, structure_set_uid=struct.SOPInstanceUID,
                            sop_uid=plan_uids[label], approval=e.get("approval", "APPROVED"))
            intent = vp.PlanIntent(levels, groups, point_dose_gy=e.get("point_dose"), isocentre=tuple(scene.get("isocentre", (0, 0, 0))),
                                   organ_objectives=[(numbers[n], float(d)) for n, d in e.get("organ_objectives", []) if n in numbers],
                                   group_doses=[float(v) for v in e.get("group_doses", [])])
            vp.style_plan(plan, vendor, intent, seed=seed + label)
            relations = [(plan_uids[other], rel) for other, rel in e.get("relations", []) if other in plan_uids]
            vp.referenced_plans(plan, relations)
            f.save(plan, folder / e.get("folder", "") / f"RP.{_file_part(label)}.dcm")
        if not e.get("with_dose", True):
            continue
        scale = float(e.get("dose_scale", 1.0))
        values = course if "dose_component" not in e else dose_at([case.dose[int(e["dose_component"])]], X, Y, Z)
        ref_plan = e.get("dose_refs_plan", True)
        dose = f.rtdose(values * scale, (x0, y0, z0), (dx, dy, dz), patient, sop_uid=f.uid(seed + "rd" + label), bits=32,
                        summation=e.get("summation", "PLAN"), referenced_plan_uid=plan_uids.get(e.get("dose_of", label)) if ref_plan else None,
                        referenced_beam_number=e.get("beam_number"))
        vp.style_dose(dose, vendor)
        if "summation" in e:
            dose.DoseSummationType = e["summation"]
        if e.get("multi_plan_of"):
            items = []
            for other in e["multi_plan_of"]:
                r = Dataset()
                r.ReferencedSOPClassUID = sop.RT_PLAN
                r.ReferencedSOPInstanceUID = plan_uids[other]
                items.append(r)
            dose.ReferencedRTPlanSequence = Sequence(items)
            dose.DoseSummationType = "MULTI_PLAN"
        if "heterogeneity" in e:
            if e["heterogeneity"]:
                dose.TissueHeterogeneityCorrection = list(e["heterogeneity"])
            elif "TissueHeterogeneityCorrection" in dose:
                del dose.TissueHeterogeneityCorrection
        f.save(dose, folder / e.get("folder", "") / f"RD.{_file_part(label)}.dcm")
    return folder


# --------------------------------------------------------------------------- running and comparing


@dataclass
class Outcome:
    """What the command line did with a case."""

    exit_code: int
    report: dict[str, Any] | None
    stderr: str

    @property
    def plans(self) -> list[dict[str, Any]]:
        return list(self.report.get("plans", [])) if self.report else []

    @property
    def status(self) -> str:
        """The worst plan status of the run, ``input_error`` when no report was written."""
        if self.report is None:
            return "input_error"
        statuses = [("pass" if p.get("status") == "info" else p.get("status")) for p in self.plans] or ["none"]
        return max(statuses, key=lambda s: STATUS_RANK.get(s, 5))


def argv(case: Case, folder: Path, output: Path) -> list[str]:
    """The ``sbrt-qa check`` arguments of a case (a ``map_file`` table becomes a ``--map`` file beside the export)."""
    args = ["check", str(folder), "--format", "json", "--output", str(output)]
    if case.data.get("map_file"):
        lines = []
        for key, value in case.data["map_file"].items():
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        path = output.parent / "map.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args += ["--map", str(path)]
    if case.data.get("protocol"):
        args += ["--protocol", case.data["protocol"]]
    return args + [str(a) for a in case.data.get("args", [])]


def run(case: Case, workdir: Path) -> Outcome:
    """Build the case in ``workdir`` and run it through the real command line (in process)."""
    from sbrt_qa.cli.main import main

    folder = build(case, workdir / "export")
    output = workdir / "report.json"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv(case, folder, output))
    report = json.loads(output.read_text(encoding="utf-8")) if output.is_file() else None
    return Outcome(code, report, err.getvalue())


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return [" ".join(str(v) for v in item.values()).casefold() for item in items]


def compare(case: Case, outcome: Outcome) -> list[str]:
    """Every way the outcome differs from the case's expectation (empty when the verdict is right)."""
    e = case.expect
    wrong: list[str] = []
    status = e["status"]
    statuses = status if isinstance(status, list) else [status]
    exits = {2 if s == "input_error" else EXIT_FOR_STATUS.get(s) for s in statuses}
    want_exit = e.get("exit", exits.pop() if len(exits) == 1 else None)
    if outcome.status not in statuses:
        wrong.append(f"plan status {outcome.status}, expected {' or '.join(statuses)}")
    if want_exit is not None and outcome.exit_code != want_exit:
        wrong.append(f"exit {outcome.exit_code}, expected {want_exit}" + (f" ({outcome.stderr.strip()[:160]})" if outcome.exit_code == 2 else ""))
    if outcome.report is None:
        for word in e.get("error_mentions", []):
            if word.casefold() not in outcome.stderr.casefold():
                wrong.append(f"the error does not mention {word!r} ({outcome.stderr.strip()[:300]})")
        return wrong
    plans = outcome.plans
    stopped = " ".join(str(p.get("error") or "") + " " + " ".join(str(c.get("message") or "") for c in p.get("plan_checks", []))
                       for p in plans if p.get("error"))
    for word in e.get("error_mentions", []):
        if word.casefold() not in stopped.casefold():
            wrong.append(f"no plan set's error mentions {word!r} ({stopped.strip()[:300] or 'no plan set stopped'})")
    results = [r for p in plans for r in p.get("results", [])]
    checks = [c for p in plans for c in p.get("plan_checks", [])]
    reviews = [x for p in plans for x in p.get("needs_review", [])]
    def same(rid: str, cid: str) -> bool:  # a further target of a level has its results as <id>@<ROI>
        return rid == cid or rid.startswith(cid + "@")

    for cid, want in e.get("constraints", {}).items():
        got = [r["status"] for r in results if same(r["id"], cid)]
        wants = want if isinstance(want, list) else [want]
        if not got:
            wrong.append(f"constraint {cid}: absent, expected {want}")
        elif not any(g in wants for g in got):
            wrong.append(f"constraint {cid}: {'/'.join(got)}, expected {want}")
    for role, roi in e.get("matched", {}).items():
        got = {r.get("matched_roi") for r in results if r["structure"] == role}
        if roi not in got:
            wrong.append(f"role {role} evaluated on {sorted(map(str, got)) or 'nothing'}, expected ROI {roi!r}")
    for role, rois in e.get("not_matched", {}).items():
        got = {r.get("matched_roi") for r in results if r["structure"] == role}
        for roi in rois if isinstance(rois, list) else [rois]:
            if roi in got:
                wrong.append(f"role {role} evaluated on ROI {roi!r}, which must never stand in for it")
    for cid, want in e.get("checks", {}).items():
        got = [c["status"] for c in checks if c["id"] == cid]
        wants = want if isinstance(want, list) else [want]
        if not got:
            wrong.append(f"plan check {cid}: absent, expected {want}")
        elif not any(g in wants for g in got):
            wrong.append(f"plan check {cid}: {'/'.join(map(str, got))}, expected {want}")
    for fragment, want in e.get("checks_like", {}).items():
        got = [c["status"] for c in checks if fragment.casefold() in str(c["id"]).casefold()]
        wants = want if isinstance(want, list) else [want]
        if not any(g in wants for g in got):
            wrong.append(f"no plan check like {fragment!r} with status {want} (got {got or 'none'})")
    review_texts = _texts(reviews)
    for word in e.get("review", []):
        if not any(word.casefold() in t for t in review_texts):
            wrong.append(f"no review item mentions {word!r} (review: {[x.get('id') for x in reviews] or 'none'})")
    for word in e.get("no_review_of", []):
        if any(word.casefold() in t for t in review_texts):
            wrong.append(f"a review item mentions {word!r}, which the plan does not need")
    if e.get("no_review") and reviews:
        wrong.append(f"review items {[x.get('id') for x in reviews]}, expected none")
    levels = [lv for p in plans for lv in p.get("prescription_levels", [])]
    for role, source in e.get("level_sources", {}).items():
        got = [lv.get("source") for lv in levels if lv.get("role") == role]
        wants = source if isinstance(source, list) else [source]
        if not any(g in wants for g in got):
            wrong.append(f"level {role}: source {got or 'none'}, expected {source}")
    for source in e.get("no_level_source", []):
        if any(lv.get("source") == source for lv in levels):
            wrong.append(f"a level's dose has source {source!r}: {[lv for lv in levels if lv.get('source') == source]}")
    unassigned = {u.get("name") for p in plans for u in p.get("unassigned_rois", [])}
    for name in e.get("unassigned", []):
        if name not in unassigned:
            wrong.append(f"ROI {name!r} not listed among the unassigned ROIs ({sorted(map(str, unassigned))})")
    for cid, (value, rel) in e.get("values", {}).items():
        # judged figures only: a part of a course (plan status info) shows its own for information
        judged = [r for p in plans if p.get("status") != "info" for r in p.get("results", [])]
        got = [r.get("value") for r in judged if same(r["id"], cid) and r.get("value") is not None and r["status"] != "info"]
        if not got or not all(abs(g - value) <= rel * abs(value) for g in got):
            wrong.append(f"{cid}: values {got}, expected {value} within {rel:.0%} (truth independent of the engine)")
    for roi, want in e.get("roi_results", {}).items():
        got = [r["status"] for r in results if r.get("matched_roi") == roi and r["status"] != "info"]
        wants = want if isinstance(want, list) else [want]
        if want == "evaluated":
            if not got or any(g == "not_evaluated" for g in got):
                wrong.append(f"ROI {roi!r}: results {got or 'none'}, expected every one evaluated")
        elif not any(g in wants for g in got):
            wrong.append(f"ROI {roi!r}: results {got or 'none'}, expected one {want}")
    for want in e.get("any_plan_status", []):
        if not any(p.get("status") == want for p in plans):
            wrong.append(f"no plan with status {want} (plans: {[p.get('status') for p in plans]})")
    declared = [d for p in plans for d in p.get("declarations", [])]
    for item in e.get("declarations", []):
        if not any(item.casefold() in " ".join(str(v) for v in d.values()).casefold() for d in declared):
            wrong.append(f"declaration {item!r} not recorded in the report (declarations: {declared or 'none'})")
    points = [x for p in plans for x in p.get("point_doses", [])]
    if len(points) < e.get("point_doses_min", 0):
        wrong.append(f"{len(points)} point dose(s) reported, expected at least {e['point_doses_min']}")
    for level_dose in e.get("no_level_dose", []):
        bad = [lv for lv in levels if lv.get("dose_gy") is not None and abs(float(lv["dose_gy"]) - level_dose) < 0.05]
        if bad:
            wrong.append(f"a level judged at {level_dose} Gy, a dose the plan never prescribed: {bad}")
    if e.get("plans") is not None and len(plans) != e["plans"]:
        wrong.append(f"{len(plans)} plan report(s), expected {e['plans']}")
    return wrong


# --------------------------------------------------------------------------- independent truth


def grid_dose(case: Case) -> tuple[np.ndarray, tuple[float, float, float], tuple[float, float, float]]:
    """The dose written into the RT Dose of a case (before any export's scale): array [z, y, x], origin, spacing."""
    g = case.grid
    nz, ny, nx = g["shape"]
    dx, dy, dz = g["spacing"]
    x0, y0, z0 = g["origin"]
    Z, Y, X = np.meshgrid(z0 + dz * np.arange(nz), y0 + dy * np.arange(ny), x0 + dx * np.arange(nx), indexing="ij")
    return dose_at(case.dose, X, Y, Z), (x0, y0, z0), (dx, dy, dz)


def _interpolated(grid: tuple, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    values, (x0, y0, z0), (dx, dy, dz) = grid
    return map_coordinates(values, [(z - z0) / dz, (y - y0) / dy, (x - x0) / dx], order=1, mode="nearest")


def truth(case: Case, roi_name: str, metric: str, *, step: float = 0.25, rx: float | None = None,
          within: float | None = None, exported: bool = True) -> float:
    """A DVH figure of a ROI from the analytic solid, by sampling a fine lattice inside it.

    The dose is the exported one (the case's grid, interpolated trilinearly by scipy,
    not by the engine under test) or, with ``exported=False``, the analytic function.

    ``metric``: ``Dmax``, ``Dmin``, ``Dmean``, ``volume_cc``, ``D<x>cc`` (minimum dose of
    the hottest x cc), ``V<d>Gy%`` (percentage of the volume receiving at least d Gy),
    ``R<p>%`` (volume receiving p % of ``rx`` within ``within`` mm of the ROI's centre,
    over the ROI's volume: the RTOG R100% and R50% of an isolated target).
    """
    roi = next(r for r in case.rois if r["name"] == roi_name and r["shape"] != "empty")
    grid = grid_dose(case) if exported else None

    def dose(x, y, z):
        return _interpolated(grid, x, y, z) if exported else dose_at(case.dose, x, y, z)

    cx, cy, cz = (float(v) for v in roi["center"])
    if metric.startswith("R") and metric.endswith("%"):
        level = float(metric[1:-1]) / 100.0 * float(rx)  # type: ignore[arg-type]
        reach = float(within if within is not None else 20.0 + float(roi.get("radius", 10)))
        region = {"shape": "sphere", "center": roi["center"], "radius": reach}
        s = 0.5
        axis = np.arange(-reach + s / 2, reach, s)
        count = 0
        for zv in axis + cz:
            Y, X = np.meshgrid(axis + cy, axis + cx, indexing="ij")
            Zp = np.full_like(X, zv)
            m = inside(region, X, Y, Zp)
            count += int(np.count_nonzero(dose(X[m], Y[m], Zp[m]) >= level))
        return count * s**3 / 1000.0 / truth(case, roi_name, "volume_cc", step=step)
    if roi["shape"] == "sphere":
        h = (float(roi["radius"]),) * 3
    elif roi["shape"] == "cylinder":
        a, b = _radii(roi)
        h = (a, b, float(roi["half_length"]))
    else:
        h = tuple(float(v) for v in roi["half"])
    axes = [np.arange(c - hh + step / 2, c + hh, step) for c, hh in zip((cx, cy, cz), h)]
    doses = []
    for zv in axes[2]:  # plane by plane: bounded memory
        Y, X = np.meshgrid(axes[1], axes[0], indexing="ij")
        Zp = np.full_like(X, zv)
        m = inside(roi, X, Y, Zp)
        doses.append(dose(X[m], Y[m], Zp[m]))
    d = np.sort(np.concatenate(doses))[::-1]
    voxel = step**3 / 1000.0
    if metric == "Dmax":
        return float(d[0])
    if metric == "Dmin":
        return float(d[-1])
    if metric == "Dmean":
        return float(d.mean())
    if metric == "volume_cc":
        return d.size * voxel
    if metric.startswith("D") and metric.endswith("cc"):
        n = int(round(float(metric[1:-2]) / voxel))
        return float(d[min(n, d.size) - 1])
    if metric.startswith("V") and metric.endswith("Gy%"):
        return 100.0 * float(np.count_nonzero(d >= float(metric[1:-3]))) / d.size
    raise ValueError(metric)


# --------------------------------------------------------------------------- report


def score(suite: str, names: list[str] | None = None) -> list[tuple[Case, list[str]]]:
    """Run every case of a suite; (case, mismatches) each."""
    out = []
    for case in all_cases(suite):
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory(prefix=f"case-{case.name}-") as tmp:
            outcome = run(case, Path(tmp))
        out.append((case, compare(case, outcome)))
    return out


def report(suites: list[str], names: list[str] | None = None, stream=sys.stdout) -> int:
    """Print right/total per suite and each wrong verdict with what was expected and got."""
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    print(f"sbrt-qa verdict scoreboard at commit {commit or '?'} ({REPO})", file=stream)
    wrong_total = 0
    for suite in suites:
        rows = score(suite, names)
        right = sum(1 for _, w in rows if not w)
        wrong_total += len(rows) - right
        print(f"\n== {suite}: {right}/{len(rows)} verdicts right", file=stream)
        for case, wrong in rows:
            if wrong:
                print(f"  WRONG {case.name}: expected {case.expect['status']} ({case.why})", file=stream)
                for w in wrong:
                    print(f"        - {w}", file=stream)
            else:
                print(f"  right {case.name}: {case.expect['status']}", file=stream)
    return 0 if wrong_total == 0 else 1


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="run every case and print how many verdicts are right")
    parser.add_argument("--suite", choices=SUITES, action="append", help="only this suite (repeatable)")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--build", metavar="DIR", help="write the named --case as DICOM into DIR and stop")
    args = parser.parse_args()
    if args.build:
        for suite in args.suite or SUITES:
            for case in all_cases(suite):
                if not args.case or case.name in args.case:
                    build(case, Path(args.build) / case.name)
                    print(Path(args.build) / case.name)
        return 0
    report(args.suite or list(SUITES), args.case)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
