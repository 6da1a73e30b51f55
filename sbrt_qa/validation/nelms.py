"""Nelms et al. 2015 analytical DVH test: cases, truth and the paper's 3 % criterion.

Nelms B et al., "Methods, software and datasets to verify DVH calculations against
analytical values: Twenty years late(r)", Med Phys 42(8):4435-4448 (2015).
The truth table (``analytical.csv``) is the paper's; nothing here is derived from
sbrt-qa's output.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: Figures compared in the paper, with the analytical.csv column of each truth (cGy except volume).
FIGURES = ("volume", "dmin", "dmax", "dmean", "d99", "d95", "d5", "d1", "d0.03cc")
_COLUMNS = {
    "volume": "volume_cc",
    "dmin": "dmin_cgy",
    "dmax": "dmax_cgy",
    "dmean": "dmean_cgy",
    "d99": "d99_cgy",
    "d95": "d95_cgy",
    "d5": "d5_cgy",
    "d1": "d1_cgy",
    "d0.03cc": "d0.03cc_cgy",
}
TOLERANCE = 0.03


@dataclass(frozen=True)
class NelmsCase:
    """One row of the truth table: a structure file, a dose file and the analytical figures."""

    structure: str
    test: int
    dose_mm: int
    gradient: str
    truth: dict[str, float]

    def structure_path(self, root: Path) -> Path:
        return root / "structures" / f"{self.structure}.dcm"

    def dose_path(self, root: Path) -> Path:
        direction = "SupInf" if self.gradient.startswith("Y") else "AntPost"
        return root / "dose_grids" / f"Linear_{direction}_{self.dose_mm}mm_Aligned.dcm"


def read_cases(root: Path) -> list[NelmsCase]:
    """Cases of Test 1 (0.2 mm contours) and Test 2 (contour spacing = dose grid) with dose files present.

    Rows on the 0.4x0.2x0.4 mm grids are left out: those grids are not distributed.
    Truth doses are converted from cGy to Gy.
    """
    cases = []
    with (root / "analytical.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if not row["dose_voxel_mm"].isdigit():
                continue
            truth = {}
            for figure, column in _COLUMNS.items():
                value = float(row[column])
                truth[figure] = value if figure == "volume" else value / 100.0
            test = 1 if row["ct_slice_spacing"] == "0.2mm" else 2
            cases.append(NelmsCase(row["structure"], test, int(row["dose_voxel_mm"]), row["gradient"], truth))
    return cases


def relative_error(value: float | None, truth: float) -> float:
    """Error relative to the local analytical value (the paper's criterion); inf when missing."""
    if value is None:
        return float("inf")
    return abs(value - truth) / abs(truth)
