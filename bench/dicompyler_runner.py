"""Run dicompyler-core 0.5.6's default ``get_dvh`` on ROIs; print JSON figures and the compute time.

Used by ``run_bench.py`` in a separate process so that its peak memory is its own.
dicompyler-core is a reference for comparison only: its numbers are never truth.

Usage: python dicompyler_runner.py RTSTRUCT RTDOSE ROI_NUMBER [ROI_NUMBER ...]
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pydicom
import pydicom.dicomio

# dicompyler-core 0.5.6 predates pydicom 3, which removed read_file.
pydicom.dicomio.read_file = pydicom.dcmread
warnings.filterwarnings("ignore")

from dicompylercore import dvhcalc  # noqa: E402


def figures(rtss: str, rtdose: str, roi: int) -> dict[str, float | None]:
    dvh = dvhcalc.get_dvh(rtss, rtdose, roi)
    rel = dvh.relative_volume  # its statistic('D95') on an absolute DVH means 95 cc

    def stat(d, name):
        try:
            return float(d.statistic(name).value)
        except Exception:
            return None

    return {
        "volume": float(dvh.volume),
        "dmin": float(dvh.min),
        "dmax": float(dvh.max),
        "dmean": float(dvh.mean),
        "d99": stat(rel, "D99"),
        "d98": stat(rel, "D98"),
        "d95": stat(rel, "D95"),
        "d50": stat(rel, "D50"),
        "d5": stat(rel, "D5"),
        "d2": stat(rel, "D2"),
        "d1": stat(rel, "D1"),
        "d0.03cc": stat(dvh, "D0.03cc"),
        "d0.035cc": stat(dvh, "D0.035cc"),
    }


def main(argv: list[str]) -> None:
    rtss, rtdose, *rois = argv
    start = time.perf_counter()
    out = {str(r): figures(rtss, rtdose, int(r)) for r in rois}
    print(json.dumps({"seconds": time.perf_counter() - start, "figures": out}))


if __name__ == "__main__":
    main(sys.argv[1:])
