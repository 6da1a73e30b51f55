"""Python warnings raised while a plan is read and checked, kept as the result's provenance.

pydicom warns (rather than fails) on data it reads around: a file whose transfer syntax
says explicit VR but whose elements are implicit, a text value longer than its VR allows,
an unknown character set. The reports show these warnings beside the verdict, so the
physicist sees what was read around; they still reach the caller's warning filters.

``catch_warnings`` changes process-wide state: a warning raised meanwhile on another
thread is recorded here too (Python 3.11 has no per-thread warning context).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable


class Collected:
    """Record the Python warnings raised inside the block, then pass them on to the caller's filters.

    Attributes
    ----------
    messages : list of str
        ``"Category: message"``, each once, in order (filled when the block ends).
    """

    def __enter__(self) -> "Collected":
        self._catcher = warnings.catch_warnings(record=True)
        self._caught = self._catcher.__enter__()
        warnings.simplefilter("always")
        self.messages: list[str] = []
        return self

    def __exit__(self, *exc) -> None:
        self._catcher.__exit__(*exc)
        self.messages = messages(self._caught)
        # Each distinct warning once: the same defect met on every file would otherwise repeat on stderr.
        passed_on = {(str(w.message), w.category, w.filename, w.lineno): w for w in self._caught}
        for w in passed_on.values():
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def messages(caught: Iterable[warnings.WarningMessage]) -> list[str]:
    """Caught Python warnings as text, each once, in order."""
    return merged(f"{w.category.__name__}: {w.message}" for w in caught)


def merged(*lists: Iterable[str]) -> list[str]:
    """The messages of several lists, each once, in order."""
    return list(dict.fromkeys(m for messages_ in lists for m in messages_))
