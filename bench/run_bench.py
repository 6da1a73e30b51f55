"""``make bench``: speed against dicompyler-core measured in the same run, and accuracy side by side.

1. A clinical-size plan (8.04 M voxels at 1.5 mm, 28 ROIs, 256-point contours on 2 mm
   planes) is generated into bench/out/ once.
2. The whole ``sbrt-qa dvh`` process is timed with an empty numba cache (first run,
   compile included) and then warm, 5 times; dicompyler-core's default ``get_dvh`` runs on
   every ROI in its own process. Peak memory (max RSS) is read per process with wait4.
3. Accuracy: the analytical objects of tests/analytic.py and, when ../shared/data is
   present, Nelms 2015, with both engines, against closed-form or published truth.

The machine is shared and noisy: read the ratios, not the seconds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests"))

from sbrt_qa.load.discovery import discover  # noqa: E402
from sbrt_qa.load.rtstruct import read_structure_set  # noqa: E402
from sbrt_qa.synthetic.phantoms import clinical_thorax  # noqa: E402


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out_chunks = []
    assert proc.stdout is not None
    for chunk in proc.stdout:
        out_chunks.append(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err}")
    return seconds, usage.ru_maxrss / 1024.0, "".join(out_chunks)


def clinical_plan() -> Path:
    folder = OUT / "clinical_thorax"
    if not (folder / "RD.BENCH_THORAX.dcm").exists():
        print("generating the clinical-size plan ...", flush=True)
        clinical_thorax().write(folder)
    return folder


#: The steps of ``sbrt-qa dvh`` one after the other in a fresh process, each timed; the
#: structure set is also read once more with pydicom's own parse of ROIContourSequence.
_BREAKDOWN = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
import sbrt_qa.cli.dvh_command
t1 = time.perf_counter()
import scipy.linalg  # what numba's BLAS probe imports while it loads its registries
t1b = time.perf_counter()
from sbrt_qa.dvh.engine import warm_up
warm_up()
t2 = time.perf_counter()
from sbrt_qa.load import load
plan_sets, _ = load([sys.argv[1]])
t3 = time.perf_counter()
from sbrt_qa.dvh.analysis import structure_dvhs
for p in plan_sets:
    structure_dvhs(p)
t4 = time.perf_counter()
from sbrt_qa.load import rtstruct
from sbrt_qa.load.discovery import discover
rs = next(o for o in discover([Path(sys.argv[1])]).objects if o.kind == "RTSTRUCT")
s0 = time.perf_counter()
rtstruct.read_structure_set(rs)
s1 = time.perf_counter()
rtstruct.read_roi_contours = lambda *a, **k: None  # pydicom reads the sequence
rs = next(o for o in discover([Path(sys.argv[1])]).objects if o.kind == "RTSTRUCT")
s2 = time.perf_counter()
rtstruct.read_structure_set(rs)
s3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "cache_load": t2 - t1, "blas_probe": t1b - t1, "reading": t3 - t2, "kernel": t4 - t3,
                  "structure_set": s1 - s0, "structure_set_pydicom": s3 - s2, "inside": time.perf_counter() - t0}))
"""


def breakdown(folder: Path, env: dict[str, str]) -> dict[str, float]:
    """Where a warm ``sbrt-qa dvh`` spends its time (median of 5 fresh processes)."""
    runs = []
    for _ in range(5):
        wall, _, out = timed([sys.executable, "-c", _BREAKDOWN, str(folder)], env)
        bare, _, _ = timed([sys.executable, "-c", "pass"], env)
        parts = json.loads(out)
        parts["teardown"] = wall - parts["inside"] - bare  # interpreter exit after numba (sbrt-qa's one-shot commands skip it)
        runs.append(parts)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def speed(folder: Path) -> dict[str, float]:
    found = discover([folder])
    rs = next(o for o in found.objects if o.kind == "RTSTRUCT")
    rd = next(o for o in found.objects if o.kind == "RTDOSE")
    structures = read_structure_set(rs)
    closed = [r.number for r in structures.rois if r.geometry == "CLOSED_PLANAR"]
    grid = rd.dataset
    voxels = int(grid.Rows) * int(grid.Columns) * int(grid.NumberOfFrames)
    print(f"plan: {voxels / 1e6:.2f} M voxels at {float(grid.PixelSpacing[0]):g} mm, {len(closed)} closed ROIs, "
          f"{sum(r.xy.shape[0] for r in structures.rois) / sum(max(r.n_contours, 1) for r in structures.rois):.0f} points per contour")

    cmd = [str(BIN / "sbrt-qa"), "dvh", str(folder), "--format", "json", "--output", str(OUT / "bench_dvh.json")]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        first, first_mem, _ = timed(cmd, env)
        warm = [timed(cmd, env) for _ in range(5)]
        parts = breakdown(folder, env)
    warm_s = statistics.median(w[0] for w in warm)
    warm_mem = max(w[1] for w in warm)
    print(f"sbrt-qa dvh, whole process, first run (numba compile, empty cache): {first:.2f} s, peak {first_mem:.0f} MB")
    print(f"sbrt-qa dvh, whole process, warm (median of 5):                    {warm_s:.2f} s, peak {warm_mem:.0f} MB")
    print(f"numba compile time (first - warm):                                 {first - warm_s:.2f} s")
    print("where a warm run goes, step by step in a fresh process (median of 5):")
    for key, label in (("imports", "interpreter imports (numba, pydicom, numpy)"), ("cache_load", "numba cache load (warm_up)"),
                       ("reading", "reading the files"), ("kernel", "DVH kernel, every ROI"),
                       ("teardown", "interpreter teardown (skipped by sbrt-qa dvh)")):
        print(f"  {label:46s} {parts[key]:.3f} s")
    print(f"  (of the cache load, numba's BLAS probe importing scipy.linalg: {parts['blas_probe']:.3f} s)")
    print(f"  structure set alone: {parts['structure_set']:.3f} s; with pydicom parsing ROIContourSequence: {parts['structure_set_pydicom']:.3f} s")

    print("dicompyler-core get_dvh on every ROI (default settings) ...", flush=True)
    dpc_wall, dpc_mem, out = timed([sys.executable, str(REPO / "bench" / "dicompyler_runner.py"), str(rs.path), str(rd.path), *map(str, closed)])
    dpc_compute = json.loads(out)["seconds"]
    print(f"dicompyler-core, whole process: {dpc_wall:.2f} s (get_dvh calls {dpc_compute:.2f} s), peak {dpc_mem:.0f} MB")
    print(f"speed ratio, whole process, dicompyler-core / sbrt-qa warm:        {dpc_wall / warm_s:.1f}x")
    return {"voxels_m": voxels / 1e6, "rois": len(closed), "first": first, "warm": warm_s, "compile": first - warm_s, "parts": parts,
            "mem": warm_mem, "dpc_wall": dpc_wall, "dpc_compute": dpc_compute, "dpc_mem": dpc_mem, "ratio": dpc_wall / warm_s}


def _sbrt_figures(folder: Path) -> dict[str, float | None]:
    from sbrt_qa.dvh.engine import compute_structure_dvh
    from sbrt_qa.load import load

    ps = load([folder])[0][0]
    roi = next(r for r in ps.structures.rois if r.geometry == "CLOSED_PLANAR")
    res = compute_structure_dvh(roi, ps.dose, ps.structures.contour_spacing())
    d = res.dvh
    return {
        "volume": res.volume_cc, "dmin": d.dmin_gy, "dmax": d.dmax_gy, "dmean": d.dmean_gy,
        "d99": d.dose_at_volume_percent(99), "d98": d.dose_at_volume_percent(98), "d95": d.dose_at_volume_percent(95),
        "d50": d.dose_at_volume_percent(50), "d5": d.dose_at_volume_percent(5), "d2": d.dose_at_volume_percent(2),
        "d1": d.dose_at_volume_percent(1), "d0.03cc": d.dose_at_volume_cc(0.03), "d0.035cc": d.dose_at_volume_cc(0.035),
    }


def _dicompyler_figures(folder: Path, roi: int = 1) -> dict[str, float | None]:
    found = discover([folder])
    rs = next(o for o in found.objects if o.kind == "RTSTRUCT").path
    rd = next(o for o in found.objects if o.kind == "RTDOSE").path
    _, _, out = timed([sys.executable, str(REPO / "bench" / "dicompyler_runner.py"), str(rs), str(rd), str(roi)])
    return json.loads(out)["figures"][str(roi)]


def _error(value: float | None, truth: float) -> float:
    return float("inf") if value is None else abs(value - truth) / abs(truth)


def analytical_accuracy() -> dict[str, tuple[int, int, float]]:
    from analytic import Truth, cone, rotated_cylinder, sphere
    from conftest import write_phantom

    cases = {"sphere r15 / 2 mm": sphere(15.0, 2.0), "cone r15 h30 / 2 mm": cone(15.0, 30.0, 2.0, -15.0),
             "rotated cylinder r12 / 2 mm": rotated_cylinder(12.0, 14.0, 2.0)}
    figures = ("volume", "dmin", "dmax", "dmean", "d98", "d95", "d50", "d2", "d0.035cc")
    tally = {"sbrt-qa": [0, 0, 0.0], "dicompyler-core": [0, 0, 0.0]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, obj in cases.items():
            for axis in (1, 2):
                truth = Truth(obj, axis, 30.0, 0.5)
                expected = {"volume": truth.volume_cc, "dmin": truth.dmin, "dmax": truth.dmax, "dmean": truth.dmean,
                            "d98": truth.dose_at_percent(98), "d95": truth.dose_at_percent(95), "d50": truth.dose_at_percent(50),
                            "d2": truth.dose_at_percent(2), "d0.035cc": truth.dose_at_volume_cc(0.035)}
                folder = Path(tmp) / f"{name.split()[0]}_{axis}"
                folder.mkdir()
                contours = [(float(z), obj.contour(float(z))) for z in obj.planes]
                write_phantom(folder, {"OBJ": contours}, lambda x, y, z, a=axis: 30.0 + 0.5 * (x, y, z)[a],
                              (-40.13, -39.71, -41.37), (2.5, 2.5, 2.5), (34, 34, 34))
                for engine, got in (("sbrt-qa", _sbrt_figures(folder)), ("dicompyler-core", _dicompyler_figures(folder))):
                    for f in figures:
                        e = _error(got[f], expected[f])
                        tally[engine][0] += e > 0.03
                        tally[engine][1] += 1
                        tally[engine][2] = max(tally[engine][2], e)
    return {k: (int(v[0]), int(v[1]), float(v[2])) for k, v in tally.items()}


def nelms_accuracy() -> dict[str, dict[int, tuple[int, int]]] | None:
    from sbrt_qa.validation.nelms import FIGURES, TOLERANCE, read_cases, relative_error

    root = REPO.parent / "shared" / "data" / "nelms2015"
    if not root.is_dir():
        print(f"Nelms 2015 data absent ({root}): skipped")
        return None
    from sbrt_qa.load import load
    from sbrt_qa.dvh.engine import compute_structure_dvh

    counts = {"sbrt-qa": {1: [0, 0], 2: [0, 0]}, "dicompyler-core": {1: [0, 0], 2: [0, 0]}}
    cases = read_cases(root)
    by_pair: dict[tuple[str, str], list] = {}
    for c in cases:
        by_pair.setdefault((str(c.structure_path(root)), str(c.dose_path(root))), []).append(c)
    sbrt_time = 0.0
    for (rs, rd), group in by_pair.items():
        t = time.perf_counter()
        ps = load([rs, rd])[0][0]
        roi = next(r for r in ps.structures.rois if r.geometry == "CLOSED_PLANAR")
        res = compute_structure_dvh(roi, ps.dose, ps.structures.contour_spacing())
        sbrt_time += time.perf_counter() - t
        d = res.dvh
        ours = {"volume": res.volume_cc, "dmin": d.dmin_gy, "dmax": d.dmax_gy, "dmean": d.dmean_gy,
                "d99": d.dose_at_volume_percent(99), "d95": d.dose_at_volume_percent(95), "d5": d.dose_at_volume_percent(5),
                "d1": d.dose_at_volume_percent(1), "d0.03cc": d.dose_at_volume_cc(0.03)}
        _, _, out = timed([sys.executable, str(REPO / "bench" / "dicompyler_runner.py"), rs, rd, str(roi.number)])
        theirs = json.loads(out)["figures"][str(roi.number)]
        for c in group:
            for f in FIGURES:
                for engine, got in (("sbrt-qa", ours), ("dicompyler-core", theirs)):
                    counts[engine][c.test][0] += relative_error(got[f], c.truth[f]) > TOLERANCE
                    counts[engine][c.test][1] += 1
    return {e: {t: (v[0], v[1]) for t, v in tests.items()} for e, tests in counts.items()}


def batch_tree(n: int = 200) -> Path:
    """200 plan sets: SBRT (some with deviations) and IMRT plans, and a few broken exports."""
    from sbrt_qa.synthetic.phantoms import imrt_head_neck, sbrt_variant

    root = OUT / f"batch{n}"
    marker = root / ".complete"
    if marker.exists():
        return root
    print(f"generating {n} plan sets ...", flush=True)
    if root.exists():
        import shutil

        shutil.rmtree(root)
    for i in range(n):
        folder = root / f"site{i % 7}" / f"case{i:03d}"
        if i % 20 == 19:  # broken: a structure set cut short
            sbrt_variant(f"B{i}").write(folder)
            rs = next(folder.glob("RS*"))
            rs.write_bytes(rs.read_bytes()[:3000])
        elif i % 3 == 2:
            imrt_head_neck(seed=f"case{i}").write(folder)
        else:
            sbrt_variant(f"S{i}", cord_y=56.0 if i % 7 == 0 else 68.0, ptv_margin_mm=-3.0 if i % 11 == 0 else 2.0,
                         drop=("PTV",) if i % 13 == 0 else ()).write(folder)
    marker.write_text("ok")
    return root


def batch_speed() -> dict[str, dict[str, float]]:
    root = batch_tree()
    out = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            summary = Path(tmp) / "summary.json"
            wall, mem, _ = timed([str(BIN / "sbrt-qa"), "batch", str(root), "--db", str(Path(tmp) / "r.sqlite"), "--jobs", str(jobs),
                                  "--summary-json", str(summary)])
            s = json.loads(summary.read_text())
        out[str(jobs)] = {"seconds": wall, "plans_per_min": 60.0 * s["plans"] / wall, "worker_mb": s["worker_peak_rss_mb"], "parent_mb": mem,
                          "counts": {k: s[k] for k in ("pass", "minor", "major", "not_evaluated", "error")}}
        print(f"batch of {s['plans']} plan sets, {jobs} worker(s): {wall:.1f} s, {60 * s['plans'] / wall:.0f} plans/min, "
              f"peak {s['worker_peak_rss_mb']:.0f} MB per worker; {out[str(jobs)]['counts']}", flush=True)
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # The test data is generated in a child that exits: on Linux a process's max RSS starts at its
    # parent's RSS at fork and survives exec, so generating in this process (GBs) would set every
    # measured process's peak memory to that size.
    subprocess.run([sys.executable, __file__, "--generate"], check=True)
    batch = batch_speed()
    s = speed(clinical_plan())
    print("\naccuracy on analytical objects (figures outside 3 % / compared, worst error) ...", flush=True)
    analytic = analytical_accuracy()
    for engine, (fails, n, worst) in analytic.items():
        print(f"  {engine:16s} {fails}/{n} outside 3 %, worst {100 * worst:.2f} %")
    print("accuracy on Nelms 2015 (figures outside 3 % / compared) ...", flush=True)
    nelms = nelms_accuracy()
    if nelms:
        for engine, tests in nelms.items():
            print(f"  {engine:16s} Test 1 {tests[1][0]}/{tests[1][1]}   Test 2 {tests[2][0]}/{tests[2][1]}")

    lines = [
        "| measure | sbrt-qa | dicompyler-core 0.5.6 |",
        "|---|---|---|",
        f"| whole process, {s['voxels_m']:.2f} M voxels, {s['rois']} ROIs (warm, median of 5) | {s['warm']:.2f} s | {s['dpc_wall']:.1f} s |",
        f"| speed ratio (dicompyler-core / sbrt-qa) | **{s['ratio']:.0f}x** | 1x |",
        f"| first run: numba compile, empty cache | {s['first']:.2f} s ({s['compile']:.2f} s compile) | - |",
        f"| peak memory (max RSS) | {s['mem']:.0f} MB | {s['dpc_mem']:.0f} MB |",
        "| warm run, step by step (median of 5 fresh processes): | | |",
        f"| - interpreter imports (numba, pydicom, numpy) | {s['parts']['imports']:.2f} s | |",
        f"| - numba cache load (of which BLAS probe {s['parts']['blas_probe']:.2f} s) | {s['parts']['cache_load']:.2f} s | |",
        f"| - reading the files (structure set {s['parts']['structure_set']:.2f} s; {s['parts']['structure_set_pydicom']:.2f} s with pydicom's parse) "
        f"| {s['parts']['reading']:.2f} s | |",
        f"| - DVH kernel, every ROI | {s['parts']['kernel']:.2f} s | |",
        f"| - interpreter teardown (sbrt-qa dvh skips it) | {s['parts']['teardown']:.2f} s | |",
        f"| analytical objects: figures outside 3 % | {analytic['sbrt-qa'][0]}/{analytic['sbrt-qa'][1]} (worst {100 * analytic['sbrt-qa'][2]:.2f} %) "
        f"| {analytic['dicompyler-core'][0]}/{analytic['dicompyler-core'][1]} (worst {100 * analytic['dicompyler-core'][2]:.0f} %) |",
    ]
    if nelms:
        for t in (1, 2):
            a, b = nelms["sbrt-qa"][t], nelms["dicompyler-core"][t]
            lines.append(f"| Nelms 2015 Test {t}: figures outside 3 % | {a[0]}/{a[1]} ({100 * a[0] / a[1]:.1f} %) | {b[0]}/{b[1]} ({100 * b[0] / b[1]:.1f} %) |")
    for jobs, b in batch.items():
        lines.append(f"| batch of 200 cases (210 plan sets), {jobs} worker(s) | {b['seconds']:.0f} s, {b['plans_per_min']:.0f} plans/min, "
                     f"{b['worker_mb']:.0f} MB per worker | - |")
    table = "\n".join(lines)
    print("\n" + table)
    (OUT / "results.md").write_text(table + "\n")
    print(f"\n(written to {OUT / 'results.md'}; numpy {np.__version__}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--generate"]:
        OUT.mkdir(parents=True, exist_ok=True)
        batch_tree()
        clinical_plan()
    else:
        main()
