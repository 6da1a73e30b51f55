"""Errors a user sees as a clear message and exit code 2 (never a traceback)."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: a file, directory or argument that cannot be used.

    Parameters
    ----------
    problem : str
        What is wrong, in words a physicist understands.
    path : str or Path, optional
        The file or directory the problem is about; it leads the message.
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class PlanSetStopped(InputError):
    """One plan set's own data contradict each other, so it is not evaluated (exit 2 when alone).

    Raised, for instance, when the dose values contradict the prescription by the fraction
    count. On a folder the other plan sets are still evaluated and this one is reported as
    not evaluated with the reason.
    """
