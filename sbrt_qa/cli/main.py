"""``sbrt-qa``: the command-line entry point.

Exit codes: 0 success; 1 (check) a major deviation or a required item not evaluated;
2 input or usage error (message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import InputError

EXIT_OK = 0
EXIT_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns every exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"usage: {message} (see 'sbrt-qa {self.prog.split()[-1]} --help')" if " " in self.prog else f"usage: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sbrt-qa", description="Quality assurance of radiotherapy dose plans in DICOM-RT.")
    parser.add_argument("--version", action="version", version=f"sbrt-qa {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    dvh = sub.add_parser("dvh", help="DVH figures of every structure of the plans under PLAN_DIR")
    dvh.add_argument("plan_dir", nargs="+", metavar="PLAN_DIR", help="directory scanned recursively (or DICOM files)")
    dvh.add_argument("--structure", action="append", metavar="NAME", help="report only this ROI (repeatable)")
    dvh.add_argument("--metric", action="append", metavar="M", help="extra figure in TG-263 notation, e.g. D95%%[Gy], V20Gy[%%], CV20Gy[cc]")
    dvh.add_argument("--format", choices=("text", "json", "csv"), default="text")
    dvh.add_argument("--curve", action="store_true", help="include each cumulative DVH curve (JSON)")
    dvh.add_argument("--plot", metavar="FILE.png", help="write a cumulative DVH plot")
    dvh.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of standard output")
    chk = sub.add_parser("check", help="check plans against a protocol; exit 1 on a major deviation")
    chk.add_argument("plan_dir", nargs="+", metavar="PLAN_DIR")
    chk.add_argument("--protocol", metavar="ID|FILE", help="shipped protocol id or a TOML file (default: nct06863584)")
    chk.add_argument("--arm", metavar="NAME", help="force an arm instead of choosing it from the fractionation")
    chk.add_argument("--format", choices=("text", "json", "csv", "html"), default="text")
    chk.add_argument("--output", "-o", metavar="FILE|DIR")
    chk.add_argument("--fail-on", choices=("minor", "major", "never"), default="major")
    chk.add_argument("--confirm", action="append", metavar="CHECK_ID",
                     help="confirm in the planning system what the export cannot show, e.g. dose_grid:SpinalCord or heterogeneity_correction (repeatable; recorded)")
    chk.add_argument("--map", metavar="FILE.toml", help='ROLE = "ROI" pairs, and absent = ["ROLE", ...]')
    chk.add_argument("--structure", action="append", metavar="ROLE=ROI",
                     help="map a protocol role to a ROI by name, or ROLE=#N by ROI number (repeatable)")
    chk.add_argument("--absent", action="append", metavar="ROLE",
                     help="declare that the plan has no ROI for ROLE (repeatable; recorded in the report)")
    chk.add_argument("--rx", action="append", metavar="DOSE[/FX] | TARGET=DOSE",
                     help="the prescription when the plan does not record it: 35Gy/5 for the plan, PTV_3000=30Gy for a target ROI "
                          "or a level's role (repeatable; recorded in the report)")
    chk.add_argument("--all", action="store_true", help="text: list constraints on structures absent from the plan too")
    bat = sub.add_parser("batch", help="check every plan set under ROOT into a results database")
    bat.add_argument("root", metavar="ROOT")
    bat.add_argument("--protocol", metavar="ID|FILE")
    bat.add_argument("--db", default="results.sqlite", metavar="results.sqlite")
    bat.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: the number of cores)")
    bat.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler, e.g. tcp://host:8786")
    bat.add_argument("--out", metavar="DIR", help="write each plan's JSON and HTML report here")
    bat.add_argument("--summary-json", metavar="FILE")
    bat.add_argument("--force", action="store_true", help="recompute plan sets whose inputs and protocol are unchanged")
    coh = sub.add_parser("cohort", help="compliance by arm and distributions of key figures from a results database")
    coh.add_argument("--db", required=True, metavar="results.sqlite")
    coh.add_argument("--html", metavar="cohort.html")
    coh.add_argument("--csv", metavar="DIR")
    lis = sub.add_parser("listen", help="DICOM Storage SCP: check plans as the planning system sends them")
    lis.add_argument("--port", type=int, default=11112)
    lis.add_argument("--host", default="0.0.0.0", help="address to bind (default: all)")
    lis.add_argument("--ae-title", default="SBRTQA")
    lis.add_argument("--store", required=True, metavar="DIR")
    lis.add_argument("--reports", required=True, metavar="DIR")
    lis.add_argument("--protocol", metavar="ID|FILE")
    lis.add_argument("--allow-ae", metavar="AE[,AE...]", help="calling AE titles allowed to associate (required, or --allow-any-ae)")
    lis.add_argument("--allow-any-ae", action="store_true", help="accept any calling AE title (must be asked for explicitly)")
    lis.add_argument("--allow-host", metavar="IP[,IP...]", help="hosts allowed to associate; others get an A-ASSOCIATE-RJ")
    lis.add_argument("--max-association-bytes", type=int, metavar="N")
    lis.add_argument("--idle-seconds", type=float, default=30.0, metavar="S", help="check a study this long after its last object")
    lis.add_argument("--connection-timeout", type=float, default=5.0, metavar="S",
                     help="close a connection silent this long before its association request (default 5)")
    lis.add_argument("--network-timeout", type=float, default=30.0, metavar="S",
                     help="abort an association silent this long (default 30)")
    lis.add_argument("--max-associations", type=int, default=32, metavar="N", help="concurrent associations (default 32)")
    wat = sub.add_parser("watch", help="check plan sets exported to a folder")
    wat.add_argument("dir", metavar="DIR")
    wat.add_argument("--reports", required=True, metavar="DIR")
    wat.add_argument("--protocol", metavar="ID|FILE")
    wat.add_argument("--interval", type=float, default=1.0, metavar="S")
    wat.add_argument("--stable-seconds", type=float, default=3.0, metavar="S", help="an export is ready when unchanged this long")
    prot = sub.add_parser("protocols", help="list, show or validate protocol files")
    prot.add_argument("action", choices=("list", "show", "validate"))
    prot.add_argument("target", nargs="?", metavar="ID|FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.
    """
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return EXIT_INPUT
        if args.command == "dvh":
            from .dvh_command import run_dvh

            return run_dvh(args)
        if args.command == "check":
            from .check_command import run_check

            return run_check(args)
        if args.command == "batch":
            from .batch_command import run_batch_command

            return run_batch_command(args)
        if args.command == "cohort":
            from .batch_command import run_cohort_command

            return run_cohort_command(args)
        if args.command in ("listen", "watch"):
            from .listen_command import run_listen, run_watch

            return run_listen(args) if args.command == "listen" else run_watch(args)
        if args.command == "protocols":
            from .check_command import run_protocols

            return run_protocols(args)
        raise InputError(f"unknown command {args.command}")
    except InputError as exc:
        print(f"sbrt-qa: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("sbrt-qa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _standard_output_lost()
    except MemoryError as exc:  # the machine's limit, not a bug: no figure is given from a part of the data
        print(f"sbrt-qa: error: not enough memory{': ' + str(exc) if str(exc) else ''}; nothing was reported", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # a bug of ours: say so plainly; SBRT_QA_DEBUG=1 shows the traceback
        if os.environ.get("SBRT_QA_DEBUG"):
            raise
        print(f"sbrt-qa: internal error ({type(exc).__name__}: {exc}); please report it with SBRT_QA_DEBUG=1 output", file=sys.stderr)
        return EXIT_INPUT


def _standard_output_lost() -> int:
    """The reader of standard output went away: say so, and let nothing retry the write."""
    # Python flushes standard output again at exit and would fail a second time.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    print("sbrt-qa: error: standard output was closed before the whole report was written", file=sys.stderr)
    return EXIT_INPUT


#: Commands that run once and return: no service threads, no child processes.
ONE_SHOT_COMMANDS = frozenset({"dvh", "check", "protocols", "cohort"})


def entry_point() -> None:
    """Console-script entry point."""
    argv = sys.argv[1:]
    code = main(argv)
    if not argv or argv[0] not in ONE_SHOT_COMMANDS:
        sys.exit(code)
    # Interpreter teardown after numba has loaded its kernels takes about 0.13 s
    # (LLVM modules and typing registries freed object by object), a tenth of a
    # whole `sbrt-qa dvh`. A one-shot command has already closed every file it wrote
    # (their data is then the kernel's, not the process's) and leaves no thread or
    # child behind, so once the standard streams are flushed there is nothing left
    # that teardown would save.
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _standard_output_lost()
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)
