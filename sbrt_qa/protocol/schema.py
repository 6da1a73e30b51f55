"""Protocol files (TOML, read with tomllib): schema, validation with key path and line.

A protocol is data: every number carries its source and verification tag. See
``sbrt_qa/protocols/*.toml`` and the README ("Protocol files") for the format.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from ..dvh.metrics import MetricError, parse_metric

VERIFICATION = ("read", "secondary", "unverified")
#: SBRT plan-quality indices a constraint may use as its metric, with their units.
INDEX_METRICS = {
    "R100%[ratio]": "ratio",  # RTOG conformity ratio: V(prescription isodose) / V(PTV)
    "CI_Paddick[ratio]": "ratio",  # TV_PIV^2 / (TV x PIV)
    "GI_Paddick[ratio]": "ratio",  # V(50% Rx) / V(100% Rx)
    "R50%[ratio]": "ratio",  # V(50% Rx) / V(PTV)
    "D2cm[%]": "%",  # maximum dose 2 cm or more from the PTV, % of Rx
    "HI_ICRU83[ratio]": "ratio",  # (D2% - D98%) / D50%
    "NearMax_ICRU91[Gy]": "Gy",  # D2% if PTV >= 2 cc, else D0.035cc
    "V105%_outside_PTV[cc]": "cc",
    "GlobalMax_in_PTV[bool]": "bool",
}
_COMPARISON = re.compile(r"^\s*(<=|>=|<|>|==)\s*(table|[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(Gy|cGy|%|cc|ratio|bool)?\s*$")
REPORT = "report"  # a goal that is reported, never judged
#: The protocol formats this version reads; every file states its own ``schema_version``.
SCHEMA_VERSIONS = (1,)
#: Every key a protocol file may hold, per table. Any other key is an error: a misspelled
#: ``variation`` or ``required`` would otherwise be ignored and change verdicts silently.
#: A new key is added here, with its reading in ``load_protocol``.
KEYS: dict[str, tuple[str, ...]] = {
    "protocol": ("schema_version", "id", "title", "version", "description", "sources", "assumptions", "roles", "arms", "constraints"),
    "roles": ("name", "aliases", "patterns", "required", "kind"),
    "arms": ("name", "description", "fractions", "dose_per_fraction_gy", "levels", "max_grid_spacing_mm",
             "require_heterogeneity_correction", "required_roles"),
    "arms.levels": ("role", "dose_gy", "dose_range_gy"),
    "constraints": ("id", "arm", "arms", "structure", "metric", "goal", "variation", "volume_table", "source", "verification",
                    "note", "in", "alpha_beta", "report_only", "required", "prescription_role", "lq_max_dose_per_fraction_gy"),
}
TABLE_HEADERS = {"protocol": "the file's top level", "roles": "[[roles]]", "arms": "[[arms]]", "arms.levels": "[[arms.levels]]",
                 "constraints": "[[constraints]]"}


class ProtocolError(ValueError):
    """A protocol file that does not follow the schema: names the file, the key path and the line."""

    def __init__(self, path: str, key: str, problem: str, line: int | None) -> None:
        self.path, self.key, self.problem, self.line = path, key, problem, line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}")


@dataclass(frozen=True)
class Comparison:
    """A limit such as ``>= 95 %``: operator, value (None for ``table``) and unit."""

    op: str
    value: float | None
    unit: str
    text: str

    def holds(self, actual: float, limit: float | None = None) -> bool:
        """Compare ``actual`` with the limit, before any rounding."""
        if self.op == REPORT:
            return True
        bound = self.value if limit is None else limit
        assert bound is not None
        return {"<": actual < bound, "<=": actual <= bound, ">": actual > bound, ">=": actual >= bound, "==": actual == bound}[self.op]


@dataclass(frozen=True)
class Role:
    """A structure role: its TG-263 name, how ROIs are matched to it, and whether it is required."""

    name: str
    aliases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    required: bool = False
    kind: str = "oar"  # target | oar | external


@dataclass(frozen=True)
class Level:
    """A prescription level of an arm: the target role and its total dose (Gy).

    ``dose_range_gy`` instead of a fixed dose accepts any prescription in the range
    (the plan's own prescription is then the level).
    """

    role: str
    dose_gy: float | None
    dose_range_gy: tuple[float, float] | None = None

    def accepts(self, dose: float) -> bool:
        if self.dose_range_gy:
            return self.dose_range_gy[0] * 0.99 <= dose <= self.dose_range_gy[1] * 1.01
        return abs(dose - float(self.dose_gy)) <= 0.01 * float(self.dose_gy)  # type: ignore[arg-type]

    def dose_for(self, plan_prescription: float | None) -> float:
        if self.dose_gy is not None:
            return self.dose_gy
        assert self.dose_range_gy
        if plan_prescription and self.accepts(plan_prescription):
            return plan_prescription
        return self.dose_range_gy[1]

    def text(self) -> str:
        if self.dose_gy is not None:
            return f"{self.dose_gy:g} Gy"
        return f"{self.dose_range_gy[0]:g}-{self.dose_range_gy[1]:g} Gy"  # type: ignore[index]


@dataclass(frozen=True)
class Arm:
    """A treatment arm, matched by fractions and dose per fraction."""

    name: str
    fractions: tuple[int, int]
    dose_per_fraction_gy: tuple[float, float]
    levels: tuple[Level, ...]
    description: str = ""
    max_grid_spacing_mm: float | None = None
    require_heterogeneity_correction: bool = False
    #: Roles that must be identified (or declared absent by the reviewer) for a plan of this arm to pass.
    required_roles: tuple[str, ...] = ()

    def primary(self, plan_prescription: float | None = None) -> Level:
        """The highest prescription level."""
        return max(self.levels, key=lambda lv: lv.dose_for(plan_prescription))


@dataclass(frozen=True)
class Constraint:
    """One checked figure: structure role, metric, goal and optional variation, with its source."""

    id: str
    structure: str
    metric: str
    goal: Comparison
    variation: Comparison | None
    source: str
    verification: str
    arms: tuple[str, ...] = ()
    note: str = ""
    alpha_beta: float | None = None
    biological: str | None = None  # EQD2 | BED
    report_only: bool = False
    required: bool | None = None
    volume_table: tuple[tuple[float, float, float | None], ...] = ()
    prescription_role: str | None = None
    lq_max_dose_per_fraction_gy: float = 6.0
    line: int | None = None

    @property
    def unit(self) -> str:
        return metric_unit(self.metric)


@dataclass
class Protocol:
    """A parsed, validated protocol file."""

    id: str
    title: str
    version: str
    description: str
    sources: list[str]
    arms: list[Arm]
    roles: dict[str, Role]
    constraints: list[Constraint]
    path: str
    content_hash: str
    assumptions: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSIONS[-1]

    def arm(self, name: str) -> Arm | None:
        return next((a for a in self.arms if a.name.lower() == name.lower()), None)


def metric_unit(metric: str) -> str:
    """Unit of a constraint metric: a DVH metric's result unit or an index's unit."""
    if metric in INDEX_METRICS:
        return INDEX_METRICS[metric]
    return parse_metric(metric).unit


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _table_starts(text: str) -> tuple[dict[tuple, int], list[int]]:
    """The line (1-based) where each table of the file starts, keyed by its key path.

    ``[[arms]]`` elements are keyed ``("arms", 0)``, ``("arms", 1)``...; ``[[arms.levels]]``
    under the second arm ``("arms", 1, "levels", 0)``. Also every header line, sorted.
    """
    starts: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    last_element: dict[tuple, tuple] = {}  # an array's dotted name -> key path of its latest element
    headers = []
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if not m:
            continue
        headers.append(n)
        names = tuple(p.strip().strip("\"'") for p in m.group(2).split("."))
        resolved: tuple = ()
        for i, name in enumerate(names):
            resolved = last_element.get(names[: i + 1], resolved + (name,)) if i < len(names) - 1 else resolved + (name,)
        if m.group(1) == "[[":
            index = counts.get(resolved, 0)
            counts[resolved] = index + 1
            resolved = resolved + (index,)
            last_element[names] = resolved
        starts[resolved] = n
    return starts, headers


def _line_of(text: str, key_path: list[str | int]) -> int | None:
    """Line number of a key path (tomllib keeps no positions): the key's line in its table, else the table's header."""
    starts, headers = _table_starts(text)
    lines = text.splitlines()
    path = tuple(key_path)
    for cut in range(len(path), -1, -1):
        if cut and path[:cut] not in starts:
            continue
        begin = starts[path[:cut]] if cut else 0  # the header line (1-based) is the 0-based index of its first key line
        end = next((h - 1 for h in headers if h > begin), len(lines)) if cut else (headers[0] - 1 if headers else len(lines))
        rest = [p for p in path[cut:] if isinstance(p, str)]
        if rest:
            key = re.compile(rf"^\s*[\"']?{re.escape(rest[0])}[\"']?\s*=")
            for n in range(begin, end):
                if key.match(lines[n]):
                    return n + 1
        return begin or None
    return None


def _key_path_text(key_path: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(key_path))


class _Reader:
    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text

    def fail(self, key_path: list[str | int], problem: str) -> ProtocolError:
        return ProtocolError(self.path, _key_path_text(key_path), problem, _line_of(self.text, key_path))

    def table(self, value: object, key_path: list[str | int], table: str) -> dict:
        """``value`` as a table of ``table``'s kind whose every key is known (else a ProtocolError)."""
        if not isinstance(value, dict):
            raise self.fail(key_path, f"must be a table ({TABLE_HEADERS[table]}), not {type(value).__name__}")
        for key in value:
            if key not in KEYS[table]:
                raise self.fail(key_path + [key], _unknown_key(key, table))
        return value

    def get(self, table: dict, key_path: list[str | int], key: str, kind: type | tuple, required: bool = True, default=None):
        if key not in table:
            if required:
                raise self.fail(key_path + [key], "missing")
            return default
        value = table[key]
        if not _is(value, kind):
            raise self.fail(key_path + [key], f"must be {_kind_name(kind)}, not {type(value).__name__}")
        return value

    def items(self, table: dict, key_path: list[str | int], key: str, kind: type | tuple, required: bool = False,
              length: int | None = None) -> list | None:
        """A list whose every element is of ``kind`` (and, when given, of ``length`` elements)."""
        value = self.get(table, key_path, key, list, required)
        if value is None:
            return None
        for j, element in enumerate(value):
            if not _is(element, kind):
                raise self.fail(key_path + [key], f"element {j + 1} must be {_kind_name(kind)}, not {type(element).__name__} ({element!r})")
        if length is not None and len(value) != length:
            raise self.fail(key_path + [key], f"must have {length} elements, not {len(value)}")
        return value

    def range_(self, table: dict, key_path: list[str | int], key: str, kind: type | tuple, required: bool = True) -> list | None:
        """A ``[min, max]`` pair with min <= max."""
        value = self.items(table, key_path, key, kind, required, length=2)
        if value is not None and value[0] > value[1]:
            raise self.fail(key_path + [key], f"is a [min, max] range, but {value[0]:g} > {value[1]:g}")
        return value

    def positive(self, table: dict, key_path: list[str | int], key: str, default: float | None = None) -> float | None:
        value = self.get(table, key_path, key, (int, float), False)
        if value is None:
            return default
        if value <= 0:
            raise self.fail(key_path + [key], f"must be greater than 0, not {value:g}")
        return float(value)

    def comparison(self, value: str, key_path: list[str | int], unit: str) -> Comparison:
        if value.strip() == REPORT:
            return Comparison(REPORT, None, unit, REPORT)
        m = _COMPARISON.match(value)
        if not m:
            raise self.fail(key_path, f"{value!r} is not a comparison like '>= 95 %' or '< 25.3 Gy'")
        op, number, given_unit = m.groups()
        if number == "table":
            return Comparison(op, None, unit, value.strip())
        if not given_unit:
            raise self.fail(key_path, f"{value!r} has no unit; write it with the metric's unit ({unit})")
        amount = float(number)
        if given_unit == "cGy" and unit == "Gy":
            amount, given_unit = amount / 100.0, "Gy"
        if given_unit != unit:
            raise self.fail(key_path, f"{value!r} is in {given_unit}, the metric gives {unit}")
        return Comparison(op, amount, unit, value.strip())


def _is(value: object, kind: type | tuple) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # TOML's true is not a number here, and an integer is a valid float
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)


def _kind_name(kind: type | tuple) -> str:
    names = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false", "list": "a list", "dict": "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)


def _unknown_key(key: str, table: str) -> str:
    """The message for a key the schema does not know: where the key belongs, or the nearest known key."""
    elsewhere = [TABLE_HEADERS[t] for t, keys in KEYS.items() if t != table and key in keys]
    close = difflib.get_close_matches(key, KEYS[table], n=1, cutoff=0.6)
    if elsewhere:
        hint = f"{key!r} is a key of {' and '.join(elsewhere)}, not of {TABLE_HEADERS[table]}"
    elif close:
        hint = f"did you mean {close[0]!r}?"
    else:
        hint = f"known keys: {', '.join(KEYS[table])}"
    return f"unknown key {key!r} ({hint}); a key the schema does not know would be ignored and could change verdicts"


def load_protocol(path: str | os.PathLike | Traversable) -> Protocol:
    """Read and validate a protocol file.

    Every key must be one the schema knows (``KEYS``), with the right type; the file states
    the ``schema_version`` it is written for.

    Raises
    ------
    ProtocolError
        With the key path and line of the first problem.
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
    # a Traversable (package data, possibly inside a zip) reads like a Path
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ProtocolError(str(path), "(file)", f"not valid TOML: {exc}", int(m.group(1)) if m else None) from None
    r = _Reader(str(path), text)
    r.table(data, [], "protocol")
    supported = ", ".join(str(v) for v in SCHEMA_VERSIONS)
    if "schema_version" not in data:
        raise r.fail(["schema_version"], f"missing; state the protocol format the file is written for: schema_version = {SCHEMA_VERSIONS[-1]} "
                                         f"(this sbrt-qa reads {supported})")
    schema_version = r.get(data, [], "schema_version", int)
    if schema_version not in SCHEMA_VERSIONS:
        raise r.fail(["schema_version"], f"schema_version {schema_version} is not supported: this sbrt-qa reads {supported}; "
                                         "use a version of sbrt-qa that reads it, or rewrite the file for a supported version")
    for key in ("id", "title", "version", "description"):
        r.get(data, [], key, str)
    sources = r.items(data, [], "sources", str, required=True)
    if not sources or not all(s.strip() for s in sources):
        raise r.fail(["sources"], "must list at least one citation")
    assumptions = r.items(data, [], "assumptions", str) or []
    roles: dict[str, Role] = {}
    for i, item in enumerate(r.items(data, [], "roles", dict, required=True)):
        kp: list[str | int] = ["roles", i]
        r.table(item, kp, "roles")
        name = r.get(item, kp, "name", str)
        if name in roles:
            raise r.fail(kp + ["name"], f"role {name!r} defined twice")
        patterns = tuple(r.items(item, kp, "patterns", str) or [])
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise r.fail(kp + ["patterns"], f"bad regular expression {p!r}: {exc}") from None
        kind = r.get(item, kp, "kind", str, False, "oar")
        if kind not in ("target", "oar", "external"):
            raise r.fail(kp + ["kind"], f"must be target, oar or external, not {kind!r}")
        roles[name] = Role(name, tuple(r.items(item, kp, "aliases", str) or []), patterns, r.get(item, kp, "required", bool, False, False), kind)
    arms = []
    for i, item in enumerate(r.items(data, [], "arms", dict, required=True)):
        kp = ["arms", i]
        r.table(item, kp, "arms")
        name = r.get(item, kp, "name", str)
        if any(a.name.lower() == name.lower() for a in arms):
            raise r.fail(kp + ["name"], f"arm {name!r} defined twice (arm names are matched without regard to case)")
        fr = r.range_(item, kp, "fractions", int)
        if fr[0] < 1:
            raise r.fail(kp + ["fractions"], "a plan has at least 1 fraction")
        dpf = r.range_(item, kp, "dose_per_fraction_gy", (int, float))
        levels = []
        for j, lv in enumerate(r.items(item, kp, "levels", dict, required=True)):
            lkp = kp + ["levels", j]
            r.table(lv, lkp, "arms.levels")
            role = r.get(lv, lkp, "role", str)
            if role not in roles:
                raise r.fail(lkp + ["role"], f"unknown role {role!r}")
            if roles[role].kind != "target":
                raise r.fail(lkp + ["role"], f"a prescription level is a target: role {role!r} has kind {roles[role].kind!r}, not 'target'")
            dose = r.get(lv, lkp, "dose_gy", (int, float), False)
            dose_range = r.range_(lv, lkp, "dose_range_gy", (int, float), False)
            if (dose is None) == (dose_range is None):
                raise r.fail(lkp + ["dose_gy"], "give dose_gy or dose_range_gy [min, max]")
            if (dose is not None and dose <= 0) or (dose_range is not None and dose_range[0] <= 0):
                raise r.fail(lkp + ["dose_gy" if dose is not None else "dose_range_gy"], "a prescription dose is greater than 0 Gy")
            levels.append(Level(role, None if dose is None else float(dose), None if dose_range is None else (float(dose_range[0]), float(dose_range[1]))))
        if not levels:
            raise r.fail(kp + ["levels"], "an arm needs at least one prescription level")
        required_roles = r.items(item, kp, "required_roles", str) or []
        for role in required_roles:
            if role not in roles:
                raise r.fail(kp + ["required_roles"], f"unknown role {role!r}; roles are {', '.join(roles)}")
        if len(set(required_roles)) != len(required_roles):
            raise r.fail(kp + ["required_roles"], "a role is listed twice")
        arms.append(Arm(name, (int(fr[0]), int(fr[1])), (float(dpf[0]), float(dpf[1])), tuple(levels),
                        r.get(item, kp, "description", str, False, ""), r.positive(item, kp, "max_grid_spacing_mm"),
                        r.get(item, kp, "require_heterogeneity_correction", bool, False, False), tuple(required_roles)))
    arm_names = {a.name for a in arms}
    constraints = []
    seen_ids: set[str] = set()
    for i, item in enumerate(r.items(data, [], "constraints", dict, required=True)):
        kp = ["constraints", i]
        r.table(item, kp, "constraints")
        cid = r.get(item, kp, "id", str)
        if cid in seen_ids:
            raise r.fail(kp + ["id"], f"constraint id {cid!r} used twice")
        seen_ids.add(cid)
        structure = r.get(item, kp, "structure", str)
        if structure not in roles:
            raise r.fail(kp + ["structure"], f"unknown role {structure!r}; roles are {', '.join(roles)}")
        metric = r.get(item, kp, "metric", str)
        try:
            unit = metric_unit(metric)
        except MetricError as exc:
            raise r.fail(kp + ["metric"], str(exc)) from None
        if metric in INDEX_METRICS and roles[structure].kind != "target":
            raise r.fail(kp + ["metric"], f"{metric} is a target index: structure {structure!r} has kind {roles[structure].kind!r}, not 'target'")
        biological = r.get(item, kp, "in", str, False)
        alpha_beta = r.positive(item, kp, "alpha_beta")
        if biological is not None and biological not in ("EQD2", "BED"):
            raise r.fail(kp + ["in"], f"must be EQD2 or BED, not {biological!r}")
        if (biological is None) != (alpha_beta is None):
            raise r.fail(kp + ["alpha_beta" if biological else "in"], "alpha_beta and in go together")
        if biological and metric in INDEX_METRICS:
            raise r.fail(kp + ["in"], "biological dose applies to DVH metrics only")
        goal = r.comparison(r.get(item, kp, "goal", str), kp + ["goal"], unit)
        variation_text = r.get(item, kp, "variation", str, False)
        variation = r.comparison(variation_text, kp + ["variation"], unit) if variation_text else None
        if goal.op == REPORT and variation is not None:
            raise r.fail(kp + ["variation"], "a 'report' goal takes no variation")
        by_table = (goal.value is None and goal.op != REPORT) or (variation is not None and variation.value is None)
        rows = []
        if "volume_table" in item:
            if roles[structure].kind != "target":
                raise r.fail(kp + ["volume_table"], f"a volume_table gives limits by PTV volume, so it belongs to a target: "
                                                    f"structure {structure!r} has kind {roles[structure].kind!r}")
            if not by_table:
                raise r.fail(kp + ["volume_table"], "a volume_table is used only by a 'table' limit (goal or variation '< table')")
            width = 3 if variation is not None and variation.value is None else 2
            for j, row in enumerate(r.items(item, kp, "volume_table", list)):
                if len(row) not in (2, 3) or not all(_is(v, (int, float)) for v in row):
                    raise r.fail(kp + ["volume_table"], f"row {j + 1} must be [PTV cc, goal] or [PTV cc, goal, variation] numbers")
                if len(row) < width:
                    raise r.fail(kp + ["volume_table"], f"row {j + 1} has no variation limit, which variation '{variation.text}' needs")  # type: ignore[union-attr]
                rows.append((float(row[0]), float(row[1]), float(row[2]) if len(row) == 3 else None))
        if by_table and not rows:
            raise r.fail(kp + ["volume_table"], "'table' limits need a volume_table")
        if rows and [row[0] for row in rows] != sorted(row[0] for row in rows):
            raise r.fail(kp + ["volume_table"], "rows must be sorted by PTV volume")
        verification = r.get(item, kp, "verification", str).lower()
        if verification not in VERIFICATION:
            raise r.fail(kp + ["verification"], f"must be read, secondary or unverified, not {verification!r}")
        if "arm" in item and "arms" in item:
            raise r.fail(kp + ["arms"], "give arm or arms, not both")
        arm_key = "arm" if "arm" in item else "arms"
        arms_of = r.get(item, kp, arm_key, (str, list), False, [])
        arms_of = [arms_of] if isinstance(arms_of, str) else (r.items(item, kp, arm_key, str) or [])
        for a in arms_of:
            if a not in arm_names:
                raise r.fail(kp + [arm_key], f"unknown arm {a!r}; arms are {', '.join(sorted(arm_names))}")
        prescription_role = r.get(item, kp, "prescription_role", str, False)
        if prescription_role and prescription_role not in roles:
            raise r.fail(kp + ["prescription_role"], f"unknown role {prescription_role!r}")
        if prescription_role and roles[prescription_role].kind != "target":
            raise r.fail(kp + ["prescription_role"], f"role {prescription_role!r} has kind {roles[prescription_role].kind!r}, not 'target'")
        constraints.append(
            Constraint(
                id=cid, structure=structure, metric=metric, goal=goal, variation=variation,
                source=r.get(item, kp, "source", str), verification=verification, arms=tuple(arms_of),
                note=r.get(item, kp, "note", str, False, ""), alpha_beta=alpha_beta,
                biological=biological, report_only=r.get(item, kp, "report_only", bool, False, False),
                required=r.get(item, kp, "required", bool, False), volume_table=tuple(rows), prescription_role=prescription_role,
                lq_max_dose_per_fraction_gy=r.positive(item, kp, "lq_max_dose_per_fraction_gy", 6.0),  # type: ignore[arg-type]
                line=_line_of(text, kp),
            )
        )
    return Protocol(
        id=data["id"], title=data["title"], version=data["version"], description=data["description"], sources=list(sources),
        arms=arms, roles=roles, constraints=constraints, path=str(path),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        assumptions=list(assumptions), schema_version=schema_version,
    )
