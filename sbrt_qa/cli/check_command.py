"""``sbrt-qa check``: load -> DVH -> evaluate -> report, with an exit code that gates export hooks.

Exit codes: 0 no major and no required item not evaluated (minor allowed unless
``--fail-on minor``); 1 a major or a required item not evaluated; 2 input or usage error.
The report is written whatever the exit code.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from .. import __version__
from ..errors import InputError
from ..evaluate.prescription import parse_rx
from ..load.planset import AssemblyFailure
from ..files import write_atomically
from ..protocol import find_protocol
from ..pipeline import Declarations, render
from ..report.check_tables import render_text, verdict_line
from ..results import CheckRun
from .dvh_command import load_warm

EXTENSIONS = {"text": "txt", "json": "json", "csv": "csv", "html": "html"}


def _map_file(path: str) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such map file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path) from None


def read_map(path: str | None, pairs: list[str] | None) -> dict[str, str]:
    """Role -> ROI from a TOML file (``ROLE = "ROI"``, optionally under ``[map]``) and ``ROLE=ROI`` pairs.

    A ROI is named as in the structure set, or ``#N`` for ROI Number N (for ROIs that share a name).
    """
    mapping: dict[str, str] = {}
    if path:
        data = _map_file(path)
        table = data.get("map", {k: v for k, v in data.items() if k != "absent"})
        for role, roi in table.items():
            if not isinstance(roi, str):
                raise InputError(f"{role}: the ROI name must be a string", path)
            mapping[role] = roi
    for pair in pairs or []:
        role, sep, roi = pair.partition("=")
        if not sep or not role.strip() or not roi.strip():
            raise InputError(f"--structure {pair!r}: write ROLE=ROI, e.g. SpinalCord='Spinal Cord', or ROLE=#N by ROI number")
        mapping[role.strip()] = roi.strip()
    return mapping


def read_absent(path: str | None, roles: list[str] | None) -> list[str]:
    """Roles declared absent: ``absent = [...]`` in the map file and ``--absent ROLE`` options, in order, once each."""
    declared: list[str] = []
    if path:
        listed = _map_file(path).get("absent", [])
        if not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            raise InputError("absent: must be a list of role names, e.g. absent = [\"SpinalCord\"]", path)
        declared += listed
    declared += [r.strip() for r in roles or []]
    return list(dict.fromkeys(declared))


def reviewer_declarations(protocol, map_path: str | None, pairs: list[str] | None, absent: list[str] | None) -> tuple[dict[str, str], list[str]]:
    """The reviewer's structure mapping and absent roles, checked against the protocol's roles."""
    mapping = read_map(map_path, pairs)
    missing = read_absent(map_path, absent)
    Declarations(structure_map=mapping, absent=tuple(missing)).validate(protocol)
    return mapping, missing


def exit_code(status: str, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    if status in ("major", "not_evaluated", "error"):
        return 1
    if status == "minor" and fail_on == "minor":
        return 1
    return 0


def run_check(args: argparse.Namespace) -> int:
    protocol = find_protocol(args.protocol)
    mapping, absent = reviewer_declarations(protocol, args.map, args.structure, getattr(args, "absent", None))
    confirm = tuple(dict.fromkeys(c.strip() for c in getattr(args, "confirm", None) or []))
    rx = tuple(r.strip() for r in getattr(args, "rx", None) or [])
    for r in rx:
        parse_rx(r)  # a malformed --rx stops before any loading (exit 2)
    failures: list[AssemblyFailure] = []
    plan_sets, notes = load_warm(args.plan_dir, failures)
    # Through the Python API, whose check runs the pipeline that batch, listen and watch run too.
    from ..api import PlanQA

    qa = PlanQA(plan_sets, notes, incomplete=failures)
    results = [r.result for r in qa.check_all(protocol, args.arm, mapping, absent, rx=rx, confirm=confirm)]
    run = CheckRun(__version__, results, notes)
    if args.format == "text":
        colour = args.output is None and sys.stdout.isatty()
        text = render_text(run, colour=colour, show_all=args.all)
    else:
        text = render(run, args.format)
    if args.output:
        target = Path(args.output)
        if target.is_dir() or args.output.endswith(("/", "\\")):
            target = target / f"sbrt-qa-check.{EXTENSIONS[args.format]}"
        write_atomically(target, text)
        verdicts = "".join(verdict_line(p) + "\n" for p in run.plans)  # every plan's, not only the first
        print(f"{verdicts}report written to {target}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    worst = max((exit_code(p.status, args.fail_on) for p in results), default=0)
    return worst


def run_protocols(args: argparse.Namespace) -> int:
    from ..protocol import ProtocolError, list_protocols, load_protocol

    if args.action == "list":
        for p in list_protocols():
            arms = ", ".join(f"{a.name} ({a.fractions[0]}-{a.fractions[1]} fx)" for a in p.arms)
            print(f"{p.id:22s} v{p.version:5s} {len(p.constraints):4d} constraints  arms: {arms}\n{'':22s} {p.title}")
        return 0
    if args.action == "validate":
        if not args.target:
            raise InputError("usage: sbrt-qa protocols validate FILE")
        try:
            p = load_protocol(args.target)
        except FileNotFoundError:
            raise InputError("no such protocol file", args.target) from None
        except ProtocolError as exc:
            raise InputError(str(exc)) from None
        print(f"{args.target}: valid protocol {p.id} v{p.version}: {len(p.roles)} roles, {len(p.arms)} arms, {len(p.constraints)} constraints")
        return 0
    if not args.target:
        raise InputError("usage: sbrt-qa protocols show ID|FILE")
    p = find_protocol(args.target)
    print(f"{p.id} v{p.version}: {p.title}\n{p.description}\nfile: {p.path}\nsha256: {p.content_hash}\n\nSources:")
    for s in p.sources:
        print(f"  - {s}")
    if p.assumptions:
        print("Assumptions:")
        for a in p.assumptions:
            print(f"  - {a}")
    for a in p.arms:
        levels = ", ".join(f"{lv.role} {lv.text()}" for lv in a.levels)
        print(f"\nArm {a.name}: {a.fractions[0]}-{a.fractions[1]} fractions, {a.dose_per_fraction_gy[0]:g}-{a.dose_per_fraction_gy[1]:g} Gy/fx; {levels}")
        if a.required_roles:
            print(f"  required organs: {', '.join(a.required_roles)}")
        for c in p.constraints:
            if c.arms and a.name not in c.arms:
                continue
            var = f"; variation {c.variation.text}" if c.variation else ""
            flag = "  [UNVERIFIED]" if c.verification == "unverified" else ""
            print(f"  {c.id}: {c.structure} {c.metric} goal {c.goal.text}{var} ({c.verification}){flag}")
    return 0
