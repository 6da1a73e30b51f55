"""``sbrt-qa batch`` and ``sbrt-qa cohort``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..errors import InputError
from ..files import write_atomically
from ..protocol import find_protocol


def run_batch_command(args: argparse.Namespace) -> int:
    from ..batch.runner import run_batch, summary_table, write_summary_json

    protocol = find_protocol(args.protocol)
    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    def terminated(signum, frame):  # SIGTERM ends the batch like Ctrl-C: the run is recorded as interrupted
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    summary = run_batch(Path(args.root), protocol, Path(args.db), jobs=args.jobs, scheduler=args.scheduler,
                        out_dir=Path(args.out) if args.out else None, force=args.force)
    print(f"sbrt-qa batch: {args.root} against {protocol.id} v{protocol.version} -> {args.db}", file=sys.stderr)
    print(summary_table(summary), file=sys.stderr)
    if args.summary_json:
        write_summary_json(summary, Path(args.summary_json))
    return 0


def run_cohort_command(args: argparse.Namespace) -> int:
    from ..batch.cohort import build_cohort, render_cohort_csv, render_cohort_html, render_cohort_text

    cohort = build_cohort(Path(args.db))
    if args.html:
        write_atomically(Path(args.html), render_cohort_html(cohort, Path(args.html).parent))
    if args.csv:
        render_cohort_csv(cohort, Path(args.csv))
    sys.stdout.write(render_cohort_text(cohort))
    return 0
