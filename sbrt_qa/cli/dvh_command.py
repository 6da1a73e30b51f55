"""``sbrt-qa dvh``: load -> DVH -> render."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from .. import __version__
from ..dvh.analysis import analyze
from ..dvh.engine import warm_up
from ..dvh.metrics import MetricError, parse_metric
from ..errors import InputError
from ..files import write_atomically
from ..load import load
from ..report.dvh_plot import plot_dvhs
from ..report.dvh_tables import render_csv, render_json, render_text
from ..results import DVHRun

_RENDER = {"text": render_text, "json": render_json, "csv": render_csv}


def load_warm(paths: list[str], failures: list | None = None):
    """Load plan sets while numba loads its compiled kernels on a background thread.

    With ``failures`` (a list), incomplete plan sets are appended there and the others load.
    """
    warm = threading.Thread(target=warm_up, name="numba-warm-up", daemon=True)
    warm.start()
    try:
        return load(paths, failures)
    finally:
        warm.join()


def run_dvh(args: argparse.Namespace) -> int:
    """Compute and print DVH figures; returns the exit code."""
    try:
        metrics = [parse_metric(m) for m in (args.metric or [])]
    except MetricError as exc:
        raise InputError(str(exc)) from None
    failures: list = []
    plan_sets, notes = load_warm(args.plan_dir, failures)
    results = [analyze(p, metrics, args.structure, curve=args.curve or bool(args.plot)) for p in plan_sets]
    incomplete = [f"incomplete plan set, not computed: {f.path}: {f.message}" if f.path else f"incomplete plan set, not computed: {f.message}"
                  for f in failures]
    run = DVHRun(__version__, results, notes + incomplete)
    if args.plot:
        plot_dvhs(run, args.plot)
        if not args.curve:
            for p in run.plans:
                for s in p.structures:
                    s.curve = None
    text = _RENDER[args.format](run)
    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    for line in incomplete:
        print(f"sbrt-qa: warning: {line}", file=sys.stderr)
    for p in run.plans:
        for s in p.structures:
            if s.error:
                print(f"sbrt-qa: warning: ROI {s.name!r}: {s.error}", file=sys.stderr)
    return 0
