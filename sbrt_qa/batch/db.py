"""The results database (SQLite, standard library): schema, one transaction per plan, a writer lock.

Crash safety: WAL mode, and each plan's row with its constraint results, plan checks
and figures goes in with one ``BEGIN IMMEDIATE ... COMMIT``, so a batch killed at any
moment leaves whole plans or nothing. One batch writes at a time: a second one is
refused by an exclusive lock on ``DB.lock`` that the kernel releases when the holder dies.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    tool_version TEXT NOT NULL,
    protocol_id TEXT NOT NULL,
    protocol_version TEXT NOT NULL,
    protocol_hash TEXT NOT NULL,
    root TEXT NOT NULL,
    jobs INTEGER,
    scheduler TEXT,
    plans_found INTEGER,
    processed INTEGER,
    skipped INTEGER,
    errors INTEGER
);
CREATE TABLE IF NOT EXISTS plans (
    id INTEGER PRIMARY KEY,
    plan_set_key TEXT NOT NULL UNIQUE,
    plan_uid TEXT,
    plan_label TEXT,
    patient_id TEXT,
    case_folder TEXT NOT NULL,
    arm TEXT,
    status TEXT NOT NULL CHECK (status IN ('pass', 'minor', 'major', 'not_evaluated', 'error')),
    error TEXT,
    protocol_id TEXT NOT NULL,
    protocol_version TEXT NOT NULL,
    protocol_hash TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    input_files TEXT NOT NULL,
    report_json TEXT,
    report_html TEXT,
    run_id INTEGER REFERENCES runs(id),
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS constraint_results (
    plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    constraint_id TEXT NOT NULL,
    structure TEXT NOT NULL,
    matched_roi TEXT,
    match TEXT,
    metric TEXT NOT NULL,
    value REAL,
    unit TEXT,
    goal TEXT,
    variation TEXT,
    status TEXT NOT NULL,
    required INTEGER NOT NULL,
    verification TEXT,
    source TEXT,
    message TEXT
);
CREATE TABLE IF NOT EXISTS plan_checks (
    plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    check_id TEXT NOT NULL,
    value TEXT,
    limit_text TEXT,
    status TEXT NOT NULL,
    message TEXT
);
CREATE TABLE IF NOT EXISTS figures (
    plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    structure TEXT NOT NULL,
    roi TEXT,
    name TEXT NOT NULL,
    value REAL,
    unit TEXT
);
CREATE INDEX IF NOT EXISTS plans_status ON plans(status);
CREATE INDEX IF NOT EXISTS plans_arm_status ON plans(arm, status);
CREATE INDEX IF NOT EXISTS results_plan ON constraint_results(plan_id);
CREATE INDEX IF NOT EXISTS results_structure_status ON constraint_results(structure, status);
CREATE INDEX IF NOT EXISTS results_constraint_status ON constraint_results(constraint_id, status);
CREATE INDEX IF NOT EXISTS checks_plan ON plan_checks(plan_id);
CREATE INDEX IF NOT EXISTS checks_status ON plan_checks(check_id, status);
CREATE INDEX IF NOT EXISTS figures_plan ON figures(plan_id);
CREATE INDEX IF NOT EXISTS figures_name ON figures(structure, name);
"""


#: (table, column, declaration) added since the first schema: fingerprint decides "unchanged"; error_kind
#: "environment" marks an error the machine caused (retried on the next run); duplicate_of names the other
#: case folders holding the same plan; seen_run_id is the last run that found the plan set (cohort reads
#: only what the latest run over a root found); state is running, finished or interrupted.
_ADDED_COLUMNS = (
    ("plans", "fingerprint", "TEXT"),
    ("plans", "error_kind", "TEXT"),
    ("plans", "duplicate_of", "TEXT"),
    ("plans", "seen_run_id", "INTEGER"),
    ("runs", "state", "TEXT"),
)


def iso_utc(t: float | None = None) -> str:
    """A POSIX time (default: now) as ISO 8601 UTC to the millisecond, e.g. ``2026-11-24T09:30:00.125+00:00``."""
    moment = _dt.datetime.now(_dt.timezone.utc) if t is None else _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


class ResultsDB:
    """The results database of a batch; use as a context manager to hold the writer lock."""

    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        self._lock_fd: int | None = None
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> "ResultsDB":
        if self.writer:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() and not os.access(self.path, os.W_OK):
                    raise PermissionError(13, "the file is read-only")
                fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise InputError(f"the results database cannot be written: {exc.strerror or exc}", self.path) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise InputError(f"another sbrt-qa batch (pid {holder}) is writing this database; wait for it to finish", self.path) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._lock_fd = fd
        elif not self.path.is_file():
            raise InputError("no such results database", self.path)
        try:
            if self.writer:
                self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            else:  # read only: a file that is not a results database is never turned into one
                self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            if self.writer:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.executescript(SCHEMA)
                self._migrate()
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"runs", "plans", "constraint_results"} <= tables:
                self.close()
                raise InputError("not an sbrt-qa results database (no runs/plans tables); give the --db file a batch wrote", self.path)
            self.conn.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as exc:
            self.close()
            if self.writer and isinstance(exc, sqlite3.OperationalError) and ("readonly" in str(exc) or "unable to open" in str(exc)):
                raise InputError(f"the results database cannot be written: {exc}", self.path) from None
            raise InputError(f"not an sbrt-qa results database (not a usable SQLite file: {exc})", self.path) from None
        return self

    def _migrate(self) -> None:
        """Columns added after the first release, added to databases an older version wrote."""
        assert self.conn is not None
        for table, column, decl in _ADDED_COLUMNS:
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- runs -------------------------------------------------------------------------
    def start_run(self, seen: list[tuple[str, str | None]] = (), **fields: Any) -> int:
        """Record a run, close the runs a killed batch left open (we hold the writer lock: they are dead), and mark
        the plan sets this run found (``seen``: key and the case folders holding the same plan), in one transaction."""
        assert self.conn is not None
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("UPDATE runs SET state = 'interrupted' WHERE finished_at IS NULL AND coalesce(state, 'running') = 'running'")
            cols = ["started_at", "state", *fields]
            cur = c.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [iso_utc(), "running", *fields.values()])
            run_id = int(cur.lastrowid)
            c.executemany("UPDATE plans SET seen_run_id = ?, duplicate_of = ? WHERE plan_set_key = ?", [(run_id, dup, k) for k, dup in seen])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return run_id

    def finish_run(self, run_id: int, state: str = "finished", **fields: Any) -> None:
        assert self.conn is not None
        sets = ", ".join(f"{k} = ?" for k in ["finished_at", "state", *fields])
        self.conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [iso_utc(), state, *fields.values(), run_id])

    # --- plans --------------------------------------------------------------------------
    def unchanged(self, key: str, fingerprint: str) -> bool:
        """True when the plan set is recorded with the same fingerprint (inputs, protocol, tool version)
        and its record is not an error the machine caused (those are tried again)."""
        assert self.conn is not None
        row = self.conn.execute("SELECT fingerprint, error_kind FROM plans WHERE plan_set_key = ?", (key,)).fetchone()
        return row is not None and row["fingerprint"] == fingerprint and row["error_kind"] != "environment"

    def record(self, outcome: dict[str, Any], run_id: int) -> None:
        """Replace a plan set's rows with a new outcome, in one transaction."""
        assert self.conn is not None
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("DELETE FROM plans WHERE plan_set_key = ?", (outcome["key"],))
            plan = outcome["plan"]
            cur = c.execute(
                "INSERT INTO plans (plan_set_key, plan_uid, plan_label, patient_id, case_folder, arm, status, error, protocol_id, "
                "protocol_version, protocol_hash, tool_version, input_hash, input_files, report_json, report_html, run_id, "
                "started_at, finished_at, seconds, fingerprint, error_kind, duplicate_of, seen_run_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (outcome["key"], plan.get("uid"), plan.get("label"), plan.get("patient_id"), outcome["case_folder"], plan.get("arm"),
                 outcome["status"], outcome.get("error"), outcome["protocol_id"], outcome["protocol_version"], outcome["protocol_hash"],
                 outcome["tool_version"], outcome["input_hash"], json.dumps(outcome["input_files"]), outcome.get("report_json"),
                 outcome.get("report_html"), run_id, outcome["started_at"], outcome["finished_at"], outcome.get("seconds"),
                 outcome.get("fingerprint"), outcome.get("error_kind"), outcome.get("duplicate_of"), run_id),
            )
            plan_id = cur.lastrowid
            c.executemany(
                "INSERT INTO constraint_results (plan_id, constraint_id, structure, matched_roi, match, metric, value, unit, goal, "
                "variation, status, required, verification, source, message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(plan_id, r["id"], r["structure"], r["matched_roi"], r["match"], r["metric"], r["value"], r["unit"], r["goal"],
                  r["variation"], r["status"], int(bool(r["required"])), r["verification"], r["source"], r["message"]) for r in outcome.get("results", [])],
            )
            c.executemany(
                "INSERT INTO plan_checks (plan_id, check_id, value, limit_text, status, message) VALUES (?,?,?,?,?,?)",
                [(plan_id, k["id"], json.dumps(k["value"]), json.dumps(k["limit"]), k["status"], k["message"]) for k in outcome.get("plan_checks", [])],
            )
            c.executemany(
                "INSERT INTO figures (plan_id, structure, roi, name, value, unit) VALUES (?,?,?,?,?,?)",
                [(plan_id, f["structure"], f["roi"], f["name"], f["value"], f["unit"]) for f in outcome.get("figures", [])],
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
