"""Cumulative DVH plot (PNG) with dose in Gy and volume in %."""

from __future__ import annotations

from pathlib import Path

from ..files import write_atomically
from ..results import DVHRun
from .figures import new_figure, png_bytes


def plot_dvhs(run: DVHRun, path: str | Path) -> None:
    """Write a cumulative DVH PNG of every structure with a curve.

    Parameters
    ----------
    run : DVHRun
        Results computed with curves.
    path : str or Path
        The PNG to write (atomically: a temporary file renamed into place).
    """
    fig = new_figure((10, 6), dpi=110)
    ax = fig.subplots()
    for p in run.plans:
        prefix = f"{p.plan.label}: " if len(run.plans) > 1 and p.plan.label else ""
        for s in p.structures:
            if not s.curve or not s.curve["volume_cc"]:
                continue
            total = s.curve["volume_cc"][0]
            if total <= 0:
                continue
            rel = [100.0 * v / total for v in s.curve["volume_cc"]]
            label = f"{prefix}{s.name}" + (" (partly outside grid)" if s.partial else "")
            ax.plot(s.curve["dose_gy"], rel, label=label, linewidth=1.4)
    ax.set_xlabel("Dose [Gy]")
    ax.set_ylabel("Volume [%]")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title("Cumulative DVH")
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    write_atomically(Path(path), png_bytes(fig))
