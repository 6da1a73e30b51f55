"""Protocol files (TOML, read with tomllib): schema, validation with key path and line.

A protocol is data: every number carries its source and verification tag. See
``sbrt_qa/protocols/*.toml`` and the README ("Protocol files") for the format.
"""

from __future__ import annotations

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

    def arm(self, name: str) -> Arm | None:
        return next((a for a in self.arms if a.name.lower() == name.lower()), None)


def metric_unit(metric: str) -> str:
    """Unit of a constraint metric: a DVH metric's result unit or an index's unit."""
    if metric in INDEX_METRICS:
        return INDEX_METRICS[metric]
    return parse_metric(metric).unit


def _line_of(text: str, key_path: list[str | int]) -> int | None:
    """Best-effort line number of a key path (tomllib keeps no positions)."""
    lines = text.splitlines()
    start = 0
    for i, part in enumerate(key_path):
        if isinstance(part, int):
            table = key_path[i - 1]
            header = re.compile(rf"^\s*\[\[\s*{re.escape(str(table))}\s*\]\]")
            count = -1
            for n in range(len(lines)):
                if header.match(lines[n]):
                    count += 1
                    if count == part:
                        start = n
                        break
            else:
                return None
        elif i == len(key_path) - 1 or not isinstance(key_path[i + 1], int):
            pat = re.compile(rf"^\s*{re.escape(str(part))}\s*=|^\s*\[\s*{re.escape(str(part))}\s*\]")
            for n in range(start, len(lines)):
                if pat.match(lines[n]):
                    return n + 1
            return start + 1 if start else None
    return start + 1


class _Reader:
    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text

    def fail(self, key_path: list[str | int], problem: str) -> ProtocolError:
        key = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(key_path))
        return ProtocolError(self.path, key, problem, _line_of(self.text, key_path))

    def get(self, table: dict, key_path: list[str | int], key: str, kind: type | tuple, required: bool = True, default=None):
        if key not in table:
            if required:
                raise self.fail(key_path + [key], "missing")
            return default
        value = table[key]
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key_path + [key], f"must be {names}, not {type(value).__name__}")
        return value

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


def load_protocol(path: str | os.PathLike | Traversable) -> Protocol:
    """Read and validate a protocol file.

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
    for key in ("id", "title", "version", "description"):
        r.get(data, [], key, str)
    sources = r.get(data, [], "sources", list)
    if not sources or not all(isinstance(s, str) and s.strip() for s in sources):
        raise r.fail(["sources"], "must list at least one citation")
    roles: dict[str, Role] = {}
    for i, item in enumerate(r.get(data, [], "roles", list)):
        kp: list[str | int] = ["roles", i]
        name = r.get(item, kp, "name", str)
        if name in roles:
            raise r.fail(kp + ["name"], f"role {name!r} defined twice")
        patterns = tuple(r.get(item, kp, "patterns", list, False, []))
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise r.fail(kp + ["patterns"], f"bad regular expression {p!r}: {exc}") from None
        kind = r.get(item, kp, "kind", str, False, "oar")
        if kind not in ("target", "oar", "external"):
            raise r.fail(kp + ["kind"], "must be target, oar or external")
        roles[name] = Role(name, tuple(r.get(item, kp, "aliases", list, False, [])), patterns, r.get(item, kp, "required", bool, False, False), kind)
    arms = []
    for i, item in enumerate(r.get(data, [], "arms", list)):
        kp = ["arms", i]
        fr = r.get(item, kp, "fractions", list)
        dpf = r.get(item, kp, "dose_per_fraction_gy", list)
        if len(fr) != 2 or len(dpf) != 2:
            raise r.fail(kp + ["fractions"], "fractions and dose_per_fraction_gy are [min, max] ranges")
        levels = []
        for j, lv in enumerate(r.get(item, kp, "levels", list)):
            lkp = kp + ["levels", j]
            role = r.get(lv, lkp, "role", str)
            if role not in roles:
                raise r.fail(lkp + ["role"], f"unknown role {role!r}")
            dose = r.get(lv, lkp, "dose_gy", (int, float), False)
            dose_range = r.get(lv, lkp, "dose_range_gy", list, False)
            if (dose is None) == (dose_range is None):
                raise r.fail(lkp + ["dose_gy"], "give dose_gy or dose_range_gy [min, max]")
            levels.append(Level(role, None if dose is None else float(dose), None if dose_range is None else (float(dose_range[0]), float(dose_range[1]))))
        if not levels:
            raise r.fail(kp + ["levels"], "an arm needs at least one prescription level")
        spacing = r.get(item, kp, "max_grid_spacing_mm", (int, float), False)
        arms.append(Arm(r.get(item, kp, "name", str), (int(fr[0]), int(fr[1])), (float(dpf[0]), float(dpf[1])), tuple(levels),
                        r.get(item, kp, "description", str, False, ""), None if spacing is None else float(spacing),
                        r.get(item, kp, "require_heterogeneity_correction", bool, False, False)))
    arm_names = {a.name for a in arms}
    constraints = []
    seen_ids: set[str] = set()
    for i, item in enumerate(r.get(data, [], "constraints", list)):
        kp = ["constraints", i]
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
        biological = r.get(item, kp, "in", str, False)
        alpha_beta = r.get(item, kp, "alpha_beta", (int, float), False)
        if biological is not None and biological not in ("EQD2", "BED"):
            raise r.fail(kp + ["in"], "must be EQD2 or BED")
        if (biological is None) != (alpha_beta is None):
            raise r.fail(kp + ["alpha_beta"], "alpha_beta and in go together")
        if biological and metric in INDEX_METRICS:
            raise r.fail(kp + ["in"], "biological dose applies to DVH metrics only")
        goal = r.comparison(r.get(item, kp, "goal", str), kp + ["goal"], unit)
        variation_text = r.get(item, kp, "variation", str, False)
        variation = r.comparison(variation_text, kp + ["variation"], unit) if variation_text else None
        table = r.get(item, kp, "volume_table", list, False, [])
        rows = []
        for j, row in enumerate(table):
            if not isinstance(row, list) or len(row) not in (2, 3) or not all(isinstance(v, (int, float)) for v in row):
                raise r.fail(kp + ["volume_table"], f"row {j + 1} must be [PTV cc, goal, variation]")
            rows.append((float(row[0]), float(row[1]), float(row[2]) if len(row) == 3 else None))
        if goal.op == REPORT and variation is not None:
            raise r.fail(kp + ["variation"], "a 'report' goal takes no variation")
        if ((goal.value is None and goal.op != REPORT) or (variation is not None and variation.value is None)) and not rows:
            raise r.fail(kp + ["volume_table"], "'table' limits need a volume_table")
        if rows and [row[0] for row in rows] != sorted(row[0] for row in rows):
            raise r.fail(kp + ["volume_table"], "rows must be sorted by PTV volume")
        verification = r.get(item, kp, "verification", str).lower()
        if verification not in VERIFICATION:
            raise r.fail(kp + ["verification"], "must be read, secondary or unverified")
        arms_of = item.get("arm", item.get("arms", []))
        arms_of = [arms_of] if isinstance(arms_of, str) else list(arms_of)
        for a in arms_of:
            if a not in arm_names:
                raise r.fail(kp + ["arm"], f"unknown arm {a!r}")
        prescription_role = r.get(item, kp, "prescription_role", str, False)
        if prescription_role and prescription_role not in roles:
            raise r.fail(kp + ["prescription_role"], f"unknown role {prescription_role!r}")
        constraints.append(
            Constraint(
                id=cid, structure=structure, metric=metric, goal=goal, variation=variation,
                source=r.get(item, kp, "source", str), verification=verification, arms=tuple(arms_of),
                note=r.get(item, kp, "note", str, False, ""), alpha_beta=None if alpha_beta is None else float(alpha_beta),
                biological=biological, report_only=r.get(item, kp, "report_only", bool, False, False),
                required=r.get(item, kp, "required", bool, False), volume_table=tuple(rows), prescription_role=prescription_role,
                lq_max_dose_per_fraction_gy=float(r.get(item, kp, "lq_max_dose_per_fraction_gy", (int, float), False, 6.0)),
                line=_line_of(text, kp),
            )
        )
    return Protocol(
        id=data["id"], title=data["title"], version=data["version"], description=data["description"], sources=list(sources),
        arms=arms, roles=roles, constraints=constraints, path=str(path),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        assumptions=list(data.get("assumptions", [])),
    )
