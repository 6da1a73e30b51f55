"""The Python API: load a plan, look at its DVHs, check it against a protocol, publish the report.

In the life cycle physicists know from pylinac (load, analyze, results, publish)::

    from sbrt_qa import PlanQA

    qa = PlanQA.from_folder("export/")        # or from_files([...]), from_datasets([ds, ...]), from_demo()
    qa.structures                              # ROI names, numbers and types
    qa.dvh("PTV").dose_at("95%")               # D95%[Gy]
    qa.metrics(["D95%[Gy]", "V20Gy[%]"])        # TG-263 metrics for every structure
    result = qa.check(protocol="nct06863584")
    result.status, result.results_data(as_dict=True), result.publish_html("report.html")

A folder (or a list of files) may hold several plan sets. ``PlanQA.from_folder`` always
returns one :class:`PlanQA`; its :attr:`PlanQA.plans` lists one :class:`PlanQA` per plan
set (``[qa]`` itself when there is one). Methods that look at one plan (``structures``,
``dvh``, ``metrics``, ``check``) need exactly one plan set and otherwise raise an error
that names the plan sets: pick one from ``qa.plans``. Plan sets that cannot be assembled
(a dose without its structure set ...) are listed in :attr:`PlanQA.incomplete`, with a
warning, and never silently dropped.

The check runs the same function as ``sbrt-qa check``; its DVHs are computed once per
plan set and reused by every later ``dvh``, ``metrics`` and ``check`` call, so checking
against several protocols computes them once.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dvh.curve import DVH
from .errors import InputError, PlanSetStopped
from .python_warnings import Collected as _Collected
from .python_warnings import merged

if TYPE_CHECKING:  # the loader (pydicom, scipy, numba) is imported when a plan is loaded, not with the API
    import pandas
    from pydicom.dataset import Dataset

    from .load.planset import AssemblyFailure, LoadedPlanSet

    from .load.pairing import Pairing
    from .protocol.schema import Protocol
    from .qa_result import QAResult


@dataclass(frozen=True)
class Structure:
    """One ROI of the structure set.

    Attributes
    ----------
    name : str
        ROI Name as in the structure set.
    roi_number : int
        ROI Number (3006,0022).
    type : str or None
        RT ROI Interpreted Type (PTV, ORGAN, EXTERNAL ...).
    geometry : str
        ``CLOSED_PLANAR`` (has a DVH), ``POINT``, ``EMPTY`` or ``OTHER``.
    """

    name: str
    roi_number: int
    type: str | None
    geometry: str


class MetricTable:
    """TG-263 metrics of every structure: one row per ROI (see :meth:`PlanQA.metrics`).

    Each row is a dict with ``structure``, ``roi_number``, ``type``, ``volume_cc``, one key per
    metric asked for (value in the metric's unit, None where it cannot be computed) and
    ``warnings``. ``table["PTV"]`` or ``table[3]`` gives one row; :meth:`to_frame` a DataFrame.
    """

    def __init__(self, metrics: list[str], rows: list[dict[str, Any]]) -> None:
        self.metrics = list(metrics)
        self.rows = rows

    @property
    def columns(self) -> list[str]:
        return ["structure", "roi_number", "type", "volume_cc", *self.metrics, "warnings"]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, key: str | int) -> dict[str, Any]:
        rows = [r for r in self.rows if (r["roi_number"] == key if isinstance(key, int) else r["structure"] == key)]
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise KeyError(f"no structure {key!r}; structures: {', '.join(r['structure'] for r in self.rows)}")
        raise KeyError(f"{len(rows)} structures are named {key!r} (ROI numbers {', '.join(str(r['roi_number']) for r in rows)}): index by ROI number")

    def to_frame(self) -> "pandas.DataFrame":
        """A pandas DataFrame, one row per structure (needs the ``pandas`` extra)."""
        pd = _pandas()
        return pd.DataFrame(self.rows, columns=self.columns)

    def _repr_html_(self) -> str:
        from html import escape

        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.4g}"
            if isinstance(v, list):
                return escape("; ".join(v))
            return escape("-" if v is None else str(v))

        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{cell(r[c])}</td>" for c in self.columns) + "</tr>" for r in self.rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    def __repr__(self) -> str:
        return f"MetricTable({len(self.rows)} structures x {self.metrics})"


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_frame() needs pandas: pip install 'sbrt-qa[pandas]'") from None
    return pd


class PlanQA:
    """Quality assurance of one plan set, or a collection of plan sets (:attr:`plans`).

    Build it with :meth:`from_folder`, :meth:`from_files`, :meth:`from_datasets` or :meth:`from_demo`.

    Attributes
    ----------
    plans : list of PlanQA
        One per plan set found, in the loader's order; ``[self]`` for a single plan set.
    notes : list of str
        What loading passed over (non-DICOM files, ignored images, unused structure sets ...).
    warnings : list of str
        Every Python warning raised while loading (e.g. by pydicom), passed on as usual. Each plan
        set keeps those raised on its own files (``plan_set.warnings``); :meth:`check` reports
        them, with the check's own, as ``python_warnings`` (:attr:`QAResult.provenance`).
    incomplete : list of AssemblyFailure
        Plan sets under the given paths that could not be assembled or read (a dose without its
        structure set, a plan without its dose ...), each with its file and reason. They are not in
        :attr:`plans`; loading warns (:class:`IncompletePlanSetWarning`) when there are any, and
        ``sbrt-qa check`` reports each as not evaluated.
    """

    def __init__(self, plan_sets: Sequence[LoadedPlanSet], notes: Iterable[str] = (), warnings: Iterable[str] = (),
                 incomplete: Iterable["AssemblyFailure"] = ()) -> None:
        if not plan_sets:
            raise InputError("no plan set to check")
        self._plan_sets = list(plan_sets)
        self.notes = list(notes)
        self.warnings = list(warnings)
        self.incomplete = list(incomplete)
        self._plans: list[PlanQA] | None = [self] if len(self._plan_sets) == 1 else None
        self._inputs: list[Path] | None = None

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, path: str | Path) -> "PlanQA":
        """Every plan set under a folder (searched recursively; files recognised by SOP Class, not name).

        Returns
        -------
        PlanQA
            One object; with several plan sets, :attr:`plans` holds one :class:`PlanQA` each.

        Raises
        ------
        InputError
            No such folder, no RT Dose, a dose without its structure set, an ambiguous pairing ...
        """
        return cls.from_files([path])

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> "PlanQA":
        """The plan set(s) formed by these files (folders are searched too); see :meth:`from_folder`."""
        from .load.planset import load

        failures: list["AssemblyFailure"] = []
        with _Collected() as caught:
            plan_sets, notes = load([Path(p) for p in paths], failures)
        return cls._loaded(plan_sets, notes, caught.messages, failures)

    @classmethod
    def from_datasets(cls, datasets: Iterable["Dataset"], labels: Sequence[str] | None = None) -> "PlanQA":
        """The plan set(s) formed by pydicom data sets held in memory (nothing is written to disk).

        Parameters
        ----------
        datasets : iterable of pydicom.Dataset
            RT Plan, RT Structure Set and RT Dose, read in full (the RT Dose with its pixel data).
        labels : sequence of str, optional
            A name for each data set in messages and reports (``<memory>/<label>``).
        """
        from .load.discovery import discover_datasets
        from .load.planset import load_objects

        failures: list["AssemblyFailure"] = []
        with _Collected() as caught:
            found = discover_datasets(list(datasets), list(labels) if labels is not None else None)
            plan_sets, notes = load_objects(found.objects, failures)
        return cls._loaded(plan_sets, found.notes + notes, caught.messages, failures)

    @classmethod
    def _loaded(cls, plan_sets, notes, messages, failures) -> "PlanQA":
        if failures:
            listed = "; ".join(f"{f.path}: {f.message}" if f.path else f.message for f in failures)
            _warnings.warn(f"{len(failures)} incomplete plan set(s) not loaded (see PlanQA.incomplete): {listed}", IncompletePlanSetWarning,
                           stacklevel=3)
        return cls(plan_sets, notes, messages, failures)

    @classmethod
    def from_demo(cls) -> "PlanQA":
        """The demo plan shipped in the package: a thoracic spine SBRT plan for NCT06863584 (30 and 35 Gy in 5 fractions)."""
        from .demo import demo_folder

        return cls.from_folder(demo_folder())

    # -- the plan sets ---------------------------------------------------------------------------
    @property
    def plans(self) -> list["PlanQA"]:
        if self._plans is None:
            self._plans = [PlanQA([p], self.notes, self.warnings) for p in self._plan_sets]
        return list(self._plans)

    @property
    def plan_set(self) -> LoadedPlanSet:
        """The loaded plan set (dose grid, structure set, plan) when there is exactly one."""
        if len(self._plan_sets) != 1:
            labels = "; ".join(f"[{i}] {_label(p)}" for i, p in enumerate(self._plan_sets))
            raise ValueError(f"{len(self._plan_sets)} plan sets were loaded ({labels}): pick one from qa.plans, e.g. qa.plans[0]")
        return self._plan_sets[0]

    @property
    def label(self) -> str:
        """The plan's label (RT Plan Label), or the dose file's name without an RT Plan."""
        return _label(self.plan_set)

    @property
    def patient_id(self) -> str | None:
        return self.plan_set.patient_id

    @property
    def prescription_gy(self) -> float | None:
        """The largest prescription the RT Plan records (TARGET dose reference), or None."""
        plan = self.plan_set.plan
        return plan.prescription_gy if plan else None

    @property
    def fractions(self) -> int | None:
        plan = self.plan_set.plan
        return plan.fractions if plan else None

    @property
    def pairing(self) -> "Pairing | None":
        """How the RT Dose, RT Plan and RT Structure Set were linked (:class:`~sbrt_qa.load.pairing.Pairing`)."""
        return self.plan_set.pairing_kind

    @property
    def structures(self) -> list[Structure]:
        """Every ROI of the structure set: name, ROI number, interpreted type, geometry."""
        return [Structure(r.name, r.number, r.interpreted_type, r.geometry) for r in self.plan_set.structures.rois]

    # -- DVHs ------------------------------------------------------------------------------------
    def _roi(self, structure: str | int):
        rois = self.plan_set.structures.rois
        if isinstance(structure, int) and not isinstance(structure, bool):
            found = [r for r in rois if r.number == structure]
            what = f"ROI number {structure}"
        else:
            found = [r for r in rois if r.name == structure] or [r for r in rois if r.name.lower() == str(structure).lower()]
            what = f"ROI {structure!r}"
        if not found:
            names = ", ".join(f"{r.name} (#{r.number})" for r in rois)
            raise KeyError(f"no {what} in the structure set; it has: {names}")
        if len(found) > 1:
            numbers = ", ".join(f"#{r.number} {r.name!r}" for r in found)
            raise KeyError(f"{what} is ambiguous: {len(found)} ROIs match ({numbers}); ask by ROI number, e.g. qa.dvh({found[0].number})")
        return found[0]

    def dvh(self, structure: str | int, prescription_gy: float | None = None) -> DVH:
        """The cumulative DVH of one structure, by ROI name (exact, else case-insensitive) or ROI number.

        Parameters
        ----------
        structure : str or int
            ROI name, or ROI number when two ROIs share a name.
        prescription_gy : float, optional
            For doses in % of the prescription; the RT Plan's recorded prescription by default.

        Raises
        ------
        KeyError
            No such ROI, or the name is shared by several ROIs (the error lists their numbers).
        ValueError
            The ROI has no DVH (a POINT or empty ROI, malformed contours, or wholly outside the dose grid).
        """
        from .dvh.analysis import structure_dvhs

        roi = self._roi(structure)
        if roi.errors:
            raise ValueError(f"ROI {roi.name!r} (#{roi.number}) has no DVH: malformed contours: {'; '.join(roi.errors)}")
        if roi.geometry != "CLOSED_PLANAR":
            raise ValueError(f"ROI {roi.name!r} (#{roi.number}) has no DVH: its geometry is {roi.geometry} (no closed planar contours)")
        sd = structure_dvhs(self.plan_set, {roi.number})[roi.number]
        if sd.dvh is None:
            raise ValueError(f"ROI {roi.name!r} (#{roi.number}) has no DVH: it lies wholly outside the dose grid")
        rx = prescription_gy if prescription_gy is not None else self.prescription_gy
        return DVH(roi.name, roi.number, sd.dvh, sd.volume_cc, sd.outside_cc, rx, roi.interpreted_type, list(roi.notes) + list(sd.warnings))

    def metrics(self, metrics: Iterable[str], prescription_gy: float | None = None) -> MetricTable:
        """TG-263 metrics (``"D95%[Gy]"``, ``"V20Gy[%]"``, ``"D0.035cc[Gy]"`` ...) for every structure.

        Parameters
        ----------
        metrics : iterable of str
            TG-263 notation with the result unit in brackets.
        prescription_gy : float, optional
            For doses in % of the prescription; the RT Plan's recorded prescription by default.

        Raises
        ------
        MetricError
            A metric that is not TG-263 notation (the message gives examples).
        """
        from .dvh.analysis import analyze, structure_dvhs
        from .dvh.metrics import parse_metric

        texts = [str(m) for m in metrics]
        parsed = [parse_metric(t) for t in texts]
        plan_set = self.plan_set
        result = analyze(plan_set, parsed, dvhs=structure_dvhs(plan_set))
        rx = prescription_gy if prescription_gy is not None else self.prescription_gy
        rows = []
        for s in result.structures:
            row: dict[str, Any] = {"structure": s.name, "roi_number": s.roi_number, "type": s.type, "volume_cc": s.volume_cc}
            if prescription_gy is not None:
                row.update(self._metric_values(s.roi_number, parsed, rx))
            else:
                row.update({t: s.metrics.get(t) for t in texts})
            row["warnings"] = list(s.warnings) + ([s.error] if s.error else [])
            rows.append(row)
        return MetricTable(texts, rows)

    def _metric_values(self, roi_number: int, parsed, rx: float | None) -> dict[str, float | None]:
        from .dvh.analysis import structure_dvhs
        from .dvh.metrics import evaluate

        sd = structure_dvhs(self.plan_set, {roi_number}).get(roi_number)
        if sd is None or sd.dvh is None:
            return {m.text: None for m in parsed}
        return {m.text: evaluate(m, sd.dvh, rx) for m in parsed}

    # -- checking --------------------------------------------------------------------------------
    def check(self, protocol: "str | Path | Protocol | None" = None, arm: str | None = None, mapping: dict[str, str] | None = None,
              absent: Iterable[str] = (), rx: str | Iterable[str] | None = None, confirm: Iterable[str] = ()) -> "QAResult":
        """Check the plan against a protocol, as ``sbrt-qa check`` does (the same pipeline function).

        Parameters
        ----------
        protocol : str, Path or Protocol, optional
            A shipped protocol id (``"nct06863584"``), a protocol TOML file, or a loaded
            :class:`~sbrt_qa.protocol.Protocol`; the command line's default when None.
        arm : str, optional
            Force an arm instead of choosing it from the fractionation (``--arm``).
        mapping : dict, optional
            Role -> ROI name (or ``"#N"`` for ROI number N) (``--structure ROLE=ROI``, ``--map``).
        absent : iterable of str
            Roles the reviewer declares absent from this plan (``--absent``).
        rx : str or iterable of str, optional
            The reviewer's prescription, e.g. ``"35Gy/5"`` or ``["PTV_3000=30Gy"]`` (``--rx``).
        confirm : iterable of str
            Plan checks the reviewer confirms in the planning system, e.g. ``["heterogeneity_correction"]`` (``--confirm``).

        Returns
        -------
        QAResult
            Status, typed results, provenance (tool version, date, warnings) and the publishers.

        Raises
        ------
        InputError
            Unknown protocol or role, a role both mapped and declared absent, an unreadable plan set.
        """
        from .pipeline import Declarations, evaluate
        from .qa_result import QAResult

        chosen = _protocol(protocol)
        mapping = dict(mapping or {})
        absent = list(dict.fromkeys(absent))
        rx_list = [rx] if isinstance(rx, str) else list(rx or [])
        declarations = Declarations(arm=arm, structure_map=mapping, absent=tuple(absent), rx=tuple(rx_list),
                                    confirm=tuple(confirm)).validate(chosen, "mapping/absent")
        with _Collected() as caught:
            result = evaluate(self.plan_set, chosen, declarations)
        # The plan set's own reading warnings and the check's: every report shows them (python_warnings).
        result.python_warnings = merged(self.plan_set.warnings, caught.messages)
        provenance = self._provenance(chosen, tuple(str(p) for p in self.plan_set.paths), result.python_warnings, self.plan_set.pairing_kind)
        return QAResult(result, provenance, self.notes)

    def plans_for(self, protocol: "str | Path | Protocol | None" = None) -> list["PlanQA"]:
        """The plan sets to judge against a protocol, each a :class:`PlanQA`: those of :attr:`plans`
        and, after them, the courses the protocol reveals.

        A course the protocol reveals is plans on one structure set whose fractions together
        make an arm while none fits one alone (a re-plan split 3 + 2 on a 5-fraction protocol);
        nothing in the export links them, so checking it gives a review item until the
        reviewer confirms it (``confirm=["course"]``). Its plans are then marked as its parts.
        The plan sets of this object are not changed (copies are marked), so another protocol
        may be asked next; the DVHs computed are shared.

        Every way of checking goes through this list: :meth:`check_all`, ``sbrt-qa check``,
        ``batch``, ``listen`` and ``watch``.
        """
        from dataclasses import replace

        from .evaluate import courses

        chosen = _protocol(protocol)
        plan_sets = courses.resolve_candidates([replace(p, notes=list(p.notes)) for p in self._plan_sets], chosen)
        units = [PlanQA([p], self.notes, self.warnings) for p in plan_sets]
        course_files = [set(p.paths) for p in plan_sets if p.course_parts]
        for unit, ps in zip(units, plan_sets):
            own = list(ps.paths)
            if ps.part_of_course:  # a part's verdict depends on its course: the course's files decide it too
                for files in course_files:
                    if set(own) <= files:
                        own += sorted(files - set(own))
            unit._inputs = own
        return units

    @property
    def inputs(self) -> list[Path]:
        """The files that decide this plan set's verdict: its own and, for a part of a course, the
        course's. A service that skips unchanged inputs fingerprints these (see :func:`sbrt_qa.pipeline.fingerprint`)."""
        if self._inputs is not None:
            return list(self._inputs)
        return list(dict.fromkeys(p for ps in self._plan_sets for p in ps.paths))

    def check_all(self, protocol: "str | Path | Protocol | None" = None, arm: str | None = None, mapping: dict[str, str] | None = None,
                  absent: Iterable[str] = (), rx: str | Iterable[str] | None = None, confirm: Iterable[str] = ()) -> list["QAResult"]:
        """Check every plan set, as ``sbrt-qa check`` does for a folder; parameters as :meth:`check`.

        The list holds a result for each of :meth:`plans_for` (every plan set, then the courses
        the protocol reveals) and, last, each :attr:`incomplete` plan set as not evaluated.
        """
        from .evaluate import courses
        from .qa_result import QAResult

        chosen = _protocol(protocol)
        units = self.plans_for(chosen)
        results, stopped = [], []
        for unit in units:
            try:
                results.append(unit.check(chosen, arm, mapping, absent, rx, confirm))
            except PlanSetStopped as exc:  # that plan set only, reported as one the loader could not read
                stopped.append(exc)
                entry = courses.incomplete(exc.path, exc.problem, chosen)
                results.append(QAResult(entry, self._provenance(chosen, tuple(entry.inputs), ()), self.notes))
        if stopped and len(stopped) == len(units):  # nothing evaluated: exit 2, as when nothing could be assembled
            if len(stopped) == 1 and not self.incomplete:
                raise stopped[0]
            raise InputError(f"no plan set could be evaluated: {stopped[0]} (and {len(stopped) + len(self.incomplete) - 1} more)")
        for f in self.incomplete:
            result = courses.incomplete(f.path, f.message, chosen)
            results.append(QAResult(result, self._provenance(chosen, tuple(result.inputs), ()), self.notes))
        return results

    def _provenance(self, protocol: "Protocol", inputs: tuple[str, ...], caught: Iterable[str], pairing=None):
        import datetime as _dt

        from . import __version__
        from .qa_result import Provenance

        return Provenance(__version__, _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), protocol.id, protocol.version,
                          protocol.content_hash, inputs, tuple(caught), pairing)

    def __repr__(self) -> str:
        if len(self._plan_sets) != 1:
            return f"PlanQA({len(self._plan_sets)} plan sets: " + "; ".join(_label(p) for p in self._plan_sets) + f"{self._incomplete_text()})"
        ps = self._plan_sets[0]
        return (f"PlanQA(plan {_label(ps)!r}, {len(ps.structures.rois)} ROIs, dose grid {'x'.join(str(n) for n in ps.dose.shape)}"
                f"{self._incomplete_text()})")

    def _incomplete_text(self) -> str:
        return f"; {len(self.incomplete)} incomplete plan set(s) in .incomplete" if self.incomplete else ""


def _protocol(protocol: "str | Path | Protocol | None") -> "Protocol":
    """A loaded protocol as is; a shipped protocol's id or a TOML file's path read; the default for None."""
    from .protocol import find_protocol
    from .protocol.schema import Protocol

    return protocol if isinstance(protocol, Protocol) else find_protocol(None if protocol is None else str(protocol))


def _label(plan_set: LoadedPlanSet) -> str:
    if plan_set.plan is not None and plan_set.plan.label:
        return plan_set.plan.label
    return Path(plan_set.paths[0]).name if plan_set.paths else "(unnamed)"


class IncompletePlanSetWarning(UserWarning):
    """A plan set under the given paths could not be assembled or read; the others were loaded."""
