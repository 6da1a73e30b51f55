"""One path from a plan set to written reports, shared by ``check``, ``batch``, ``listen`` and ``watch``.

Every one of them checks through the Python API: :meth:`sbrt_qa.api.PlanQA.plans_for` lists
the plan sets and courses to judge, and :meth:`sbrt_qa.api.PlanQA.check` judges one (it calls
:func:`evaluate`, which turns a plan set into a :class:`~sbrt_qa.results.CheckPlanResult`);
:func:`write_reports` writes a run's reports whole or not at all (JSON last: its arrival
means the reports are complete); :func:`check_and_report` does both and never raises,
so the unattended services record every failure and go on. :func:`fingerprint` is the
one test of "unchanged" (input bytes, protocol hash, tool version) that the batch, the
listener and the watch folder share.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import InputError
from .files import write_atomically
from .load.planset import LoadedPlanSet, PlanSet, load_set
from .protocol.schema import Protocol
from .results import CheckPlanResult, CheckRun

if TYPE_CHECKING:
    from .api import PlanQA

#: Report formats the services write, in writing order: JSON last.
SERVICE_FORMATS = ("html", "json")
_EXTENSIONS = {"text": ".txt", "json": ".json", "csv": ".csv", "html": ".html"}
#: Longest report file stem: with a timestamp and ".error.json" a name stays far below NAME_MAX (255 bytes).
MAX_STEM = 120


@dataclass(frozen=True)
class Declarations:
    """What the reviewer declares for a check (command-line options or a map file).

    Attributes
    ----------
    arm : str, optional
        Force an arm instead of choosing it from the fractionation (``--arm``).
    structure_map : mapping of str to str
        Role -> ROI name (``--map``, ``--structure ROLE=ROI``).
    absent : tuple of str
        Roles declared absent (``--absent``).
    rx : tuple of str
        Prescriptions (``--rx 35Gy/5``, ``--rx PTV_3000=30Gy``).
    confirm : tuple of str
        Plan checks confirmed in the planning system (``--confirm``).
    """

    arm: str | None = None
    structure_map: Mapping[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    rx: tuple[str, ...] = ()
    confirm: tuple[str, ...] = ()

    def validate(self, protocol: Protocol, options: str = "--map/--structure/--absent") -> "Declarations":
        """These declarations if every role they name is one of the protocol's, and none is both mapped and absent.

        Raises
        ------
        InputError
            Naming the unknown roles (and the protocol's), or the roles both mapped and declared absent.
        """
        unknown = [r for r in list(self.structure_map) + list(self.absent) if r not in protocol.roles]
        if unknown:
            raise InputError(f"{options} names unknown role(s) {', '.join(unknown)}; {protocol.id} has {', '.join(protocol.roles)}")
        both = [r for r in self.absent if r in self.structure_map]
        if both:
            raise InputError(f"{', '.join(both)}: both mapped to a ROI and declared absent; give one or the other")
        return self


@dataclass(frozen=True)
class Fingerprint:
    """What decides whether a plan set was already checked: input bytes, protocol and tool version.

    Attributes
    ----------
    digest : str
        SHA-256 over the sorted file hashes, the protocol hash and the tool version.
    files : tuple of (str, str)
        Each input file and its SHA-256, in the order given.
    """

    digest: str
    files: tuple[tuple[str, str], ...]


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(paths: Iterable[str | Path], protocol: Protocol, tool_version: str = __version__, *, subject: str = "") -> Fingerprint:
    """The fingerprint of a plan set's files checked against ``protocol`` by this tool version.

    File names and folders do not enter it: the same objects moved, renamed or received
    again are unchanged; a new export, another protocol or an upgrade is not. ``subject``
    names what is judged when the same files decide several verdicts (a course and each of
    its parts: :attr:`sbrt_qa.api.PlanQA.inputs`), e.g. :attr:`~sbrt_qa.load.planset.LoadedPlanSet.key`.
    """
    files = tuple((str(p), sha256_file(p)) for p in paths)
    h = hashlib.sha256()
    for digest in sorted(d for _, d in files):
        h.update(digest.encode() + b"\n")
    h.update(f"protocol {protocol.content_hash}\ntool {tool_version}\n".encode())
    if subject:
        h.update(f"subject {subject}\n".encode())
    return Fingerprint(h.hexdigest(), files)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_stem(name: str, limit: int = MAX_STEM) -> str:
    """A file-name stem from any text: only ``[A-Za-z0-9._+-]``, no leading dot, at most ``limit`` characters.

    A valid UID passes unchanged; ``../escaped/pwn`` becomes ``escaped_pwn``. Long names
    keep their start and a hash of the whole, so two long names stay distinct.
    """
    stem = _UNSAFE.sub("_", name).strip("._-") or "unnamed"
    stem = re.sub(r"\.{2,}", "_", stem)
    if len(stem) > limit:
        stem = f"{stem[: limit - 11]}_{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return stem


def evaluate(plan_set: PlanSet | LoadedPlanSet, protocol: Protocol, declarations: Declarations | None = None) -> CheckPlanResult:
    """Check one plan set (read first if it is not loaded yet) against a protocol.

    Raises
    ------
    InputError
        The plan set cannot be read or checked as given.
    """
    from .evaluate.check import check_plan

    d = declarations or Declarations()
    loaded = load_set(plan_set) if isinstance(plan_set, PlanSet) else plan_set
    return check_plan(loaded, protocol, d.arm, dict(d.structure_map) or None, absent=d.absent, rx=list(d.rx) or None, confirm=d.confirm)


def render(run: CheckRun, fmt: str) -> str:
    """A run's report in one format: ``text``, ``json``, ``csv`` or ``html``."""
    from .report.check_html import render_html
    from .report.check_tables import render_csv, render_json, render_text

    renderers = {"text": render_text, "json": render_json, "csv": render_csv, "html": render_html}
    if fmt not in renderers:
        raise InputError(f"unknown report format {fmt!r}")
    return renderers[fmt](run)


def write_reports(run: CheckRun, folder: Path, stem: str, formats: tuple[str, ...] = SERVICE_FORMATS) -> dict[str, Path]:
    """Write ``folder/<stem>.<ext>`` for each format, atomically and in order; returns format -> path.

    ``stem`` is made safe with :func:`safe_stem` and the file must stay inside ``folder``.
    """
    folder = Path(folder)
    stem = safe_stem(stem)
    paths = {fmt: folder / f"{stem}{_EXTENSIONS[fmt]}" for fmt in formats}  # stems hold dots: never with_suffix
    for fmt, path in paths.items():
        write_atomically(path, render(run, fmt))
    return paths


def write_error_report(folder: Path, stem: str, record: dict) -> Path:
    """``folder/<stem>.error.json``: what could not be checked and why."""
    import json

    path = Path(folder) / f"{safe_stem(stem)}.error.json"
    write_atomically(path, json.dumps({"sbrt_qa_version": __version__, **record}, indent=2, default=str) + "\n")
    return path


@dataclass
class Outcome:
    """What :func:`check_and_report` did with one plan set.

    Attributes
    ----------
    status : str
        The plan status (:class:`~sbrt_qa.status.Status` value) or ``error``.
    result : CheckPlanResult or None
        None when the check failed.
    error : str or None
        Why the check failed.
    environment : bool
        The failure came from the machine (a full or read-only disk, a vanished file),
        not from the plan set: try again later instead of recording a verdict.
    reports : dict of str to Path
        Format -> written report (``error`` for an error record).
    """

    status: str
    result: CheckPlanResult | None = None
    error: str | None = None
    environment: bool = False
    reports: dict[str, Path] = field(default_factory=dict)


def check_and_report(plan_set: "PlanSet | LoadedPlanSet | PlanQA", protocol: Protocol, *, reports: Path | None = None, stem: str = "report",
                     declarations: Declarations | None = None, notes: Iterable[str] = (),
                     formats: tuple[str, ...] = SERVICE_FORMATS) -> Outcome:
    """Check one plan set through :meth:`sbrt_qa.api.PlanQA.check` and write its reports; never raises.

    Parameters
    ----------
    plan_set : PlanQA, PlanSet or LoadedPlanSet
        One plan set: a :class:`~sbrt_qa.api.PlanQA` of :meth:`~sbrt_qa.api.PlanQA.plans_for`
        (how the services call it), or a plan set read first if it is not loaded yet.
    protocol : Protocol
    reports : Path, optional
        Folder of the reports; None writes nothing.
    stem : str
        Report file stem (made safe with :func:`safe_stem`).
    declarations : Declarations, optional
    notes : iterable of str
        Added to the report's notes (e.g. "duplicate of ...").
    formats : tuple of str
        Report formats, written in order.
    """
    from .api import PlanQA

    d = declarations or Declarations()
    try:
        if not isinstance(plan_set, PlanQA):
            plan_set = PlanQA([load_set(plan_set) if isinstance(plan_set, PlanSet) else plan_set])
        result = plan_set.check(protocol, d.arm, dict(d.structure_map), d.absent, list(d.rx), d.confirm).result
    except InputError as exc:
        return _failed(str(exc), False, reports, stem, protocol)
    except (OSError, MemoryError) as exc:
        return _failed(f"{type(exc).__name__}: {exc}", True, reports, stem, protocol)
    except Exception as exc:  # a bug of ours on this plan set: recorded, never fatal for a service
        return _failed(f"internal error ({type(exc).__name__}: {exc})", False, reports, stem, protocol)
    outcome = Outcome(str(result.status), result)
    if reports is not None:
        try:
            outcome.reports = write_reports(CheckRun(__version__, [result], list(notes)), reports, stem, formats)
        except OSError as exc:
            outcome.status, outcome.error, outcome.environment = "error", f"cannot write the reports in {reports}: {exc}", True
    return outcome


def _failed(message: str, environment: bool, reports: Path | None, stem: str, protocol: Protocol) -> Outcome:
    outcome = Outcome("error", None, message, environment)
    if reports is not None:
        try:
            outcome.reports = {"error": write_error_report(reports, stem, {"status": "error", "error": message, "protocol": protocol.id,
                                                                           "environment": environment})}
        except OSError as exc:
            outcome.environment = True
            outcome.error = f"{message}; and the error record could not be written: {exc}"
    return outcome
