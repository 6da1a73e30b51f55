"""A small SQLite journal for the services: folders waiting for a check, and versions already checked.

Pending folders survive a crash or a restart: a folder is written here before the sender
is told its object is stored, and removed only once its check is recorded. Checked
versions are keyed by :func:`sbrt_qa.pipeline.fingerprint`, so the same objects received
or exported again point to their earlier report instead of being checked twice.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

NAME = ".sbrt-qa-journal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (folder TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS checked (
    fingerprint TEXT PRIMARY KEY,
    plan_uid TEXT,
    status TEXT NOT NULL,
    report TEXT,
    checked_at REAL NOT NULL
);
"""


class Journal:
    """Thread-safe; each call is one short transaction on its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as c:
            c.execute("PRAGMA journal_mode = WAL")
            c.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            conn = self._connect()
            try:
                with conn:
                    return conn.execute(sql, args).fetchall()
            finally:
                conn.close()

    # --- pending folders ---------------------------------------------------------------------
    def add_pending(self, folder: Path) -> None:
        self._run("INSERT INTO pending (folder, since) VALUES (?, ?) ON CONFLICT(folder) DO UPDATE SET since = excluded.since",
                  (str(folder), time.time()))

    def remove_pending(self, folder: Path) -> None:
        self._run("DELETE FROM pending WHERE folder = ?", (str(folder),))

    def pending(self) -> list[Path]:
        return [Path(f) for (f,) in self._run("SELECT folder FROM pending ORDER BY since")]

    # --- checked versions ---------------------------------------------------------------------
    def checked(self, fingerprint: str) -> tuple[str, str | None] | None:
        """``(status, report path)`` of an earlier check of this version, or None."""
        rows = self._run("SELECT status, report FROM checked WHERE fingerprint = ?", (fingerprint,))
        return (rows[0][0], rows[0][1]) if rows else None

    def record_checked(self, fingerprint: str, plan_uid: str, status: str, report: str | None) -> None:
        self._run("INSERT OR REPLACE INTO checked (fingerprint, plan_uid, status, report, checked_at) VALUES (?, ?, ?, ?, ?)",
                  (fingerprint, plan_uid, status, report, time.time()))
