"""The one place where verdict statuses are named.

A str-valued enum: ``Status.PASS == "pass"``, and JSON writes ``"pass"``. Plan
statuses use PASS, MINOR, MAJOR, NOT_EVALUATED and ERROR; constraint and plan-check
statuses also use INFO (reported, never judged).
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A verdict: per protocol, variation acceptable, deviation unacceptable, needs review ..."""

    PASS = "pass"
    MINOR = "minor"
    MAJOR = "major"
    NOT_EVALUATED = "not_evaluated"  # the tool could not decide: needs review, blocks a PASS
    INFO = "info"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: Worst first, for sorting reports.
SEVERITY = {Status.MAJOR: 0, Status.NOT_EVALUATED: 1, Status.ERROR: 1, Status.MINOR: 2, Status.INFO: 3, Status.PASS: 4}
