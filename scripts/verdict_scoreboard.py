"""How many verdicts of the case bank and the vendor conformance suite are right.

Usage::

    PYTHONPATH=$PWD .venv/bin/python scripts/verdict_scoreboard.py [--suite bank|vendor] [--case NAME]

Prints, per suite, right/total and each wrong verdict with what was expected and what
the tool gave (the commit is printed first). Same as ``python tests/case_bank.py --report``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from case_bank import _main  # noqa: E402

if __name__ == "__main__":
    if "--report" not in sys.argv and "--build" not in sys.argv:
        sys.argv.insert(1, "--report")
    sys.exit(_main())
