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
