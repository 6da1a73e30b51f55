"""One structure's DVH as a value for scripts and notebooks: look-ups in TG-263 terms, plot, describe, compare.

Every look-up is a TG-263 metric evaluated by :func:`sbrt_qa.dvh.metrics.evaluate`,
the function the reports use, so ``dvh.dose_at("95%")`` and the report's
``D95%[Gy]`` are one computation. The spirit of dicompyler-core's ``DVH`` object
(``describe``, ``compare``, ``plot``), with units always explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .cumulative import CumulativeDVH
from .metrics import MetricError, evaluate, parse_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Curve:
    """A cumulative DVH curve up to just past Dmax.

    Attributes
    ----------
    dose_gy : numpy.ndarray
        Dose edges (Gy), from 0.
    volume_cc : numpy.ndarray
        Volume receiving at least each dose (cc); non-increasing.
    """

    dose_gy: np.ndarray
    volume_cc: np.ndarray

    @property
    def volume_percent(self) -> np.ndarray:
        """Volume receiving at least each dose, in % of the volume inside the dose grid."""
        total = float(self.volume_cc[0]) if self.volume_cc.size else 0.0
        return 100.0 * self.volume_cc / total if total > 0 else np.zeros_like(self.volume_cc)


class DVH:
    """The cumulative DVH of one structure.

    Parameters
    ----------
    name : str
        ROI name.
    roi_number : int
        ROI Number (3006,0022).
    cumulative : CumulativeDVH
        The engine's DVH of the part of the structure inside the dose grid.
    volume_cc : float
        The structure's whole volume (cc), inside the dose grid or not.
    outside_dose_grid_cc : float
        Volume (cc) outside the dose grid: figures in % refer to the part inside.
    prescription_gy : float, optional
        Needed for doses in % of the prescription (``dose_at("95%", unit="%")``, ``volume_at("100%")``).
    type : str, optional
        RT ROI Interpreted Type.
    warnings : list of str
        What the engine noted (e.g. part of the structure outside the dose grid).
    """

    def __init__(self, name: str, roi_number: int, cumulative: CumulativeDVH, volume_cc: float, outside_dose_grid_cc: float = 0.0,
                 prescription_gy: float | None = None, type: str | None = None, warnings: list[str] | None = None) -> None:
        self.name = name
        self.roi_number = roi_number
        self.type = type
        self.cumulative = cumulative
        self.volume_cc = float(volume_cc)
        self.outside_dose_grid_cc = float(outside_dose_grid_cc or 0.0)
        self.prescription_gy = prescription_gy
        self.warnings = list(warnings or [])

    # -- figures ---------------------------------------------------------------------------------
    @property
    def inside_dose_grid_cc(self) -> float:
        """Volume (cc) inside the dose grid: the 100 % of relative figures."""
        return float(self.cumulative.total_cc)

    @property
    def dmin_gy(self) -> float:
        return float(self.cumulative.dmin_gy)

    @property
    def dmax_gy(self) -> float:
        return float(self.cumulative.dmax_gy)

    @property
    def dmean_gy(self) -> float:
        return float(self.cumulative.dmean_gy)

    @property
    def dmedian_gy(self) -> float | None:
        return self.metric("Dmedian[Gy]")

    def metric(self, text: str) -> float | None:
        """A TG-263 metric of this structure, e.g. ``"D0.035cc[Gy]"``, ``"V20Gy[%]"``, ``"CV20Gy[cc]"``.

        Returns
        -------
        float or None
            In the metric's unit; None when the structure is smaller than the volume asked for.

        Raises
        ------
        ValueError
            Not TG-263 notation (:class:`~sbrt_qa.dvh.metrics.MetricError`), or a dose in % without a prescription.
        """
        m = parse_metric(text)
        if m.needs_prescription and not self.prescription_gy:
            raise ValueError(f"{text}: a dose in % needs the prescription; give prescription_gy (no RT Plan prescription is recorded)")
        value = evaluate(m, self.cumulative, self.prescription_gy)
        return None if value is None else float(value)

    def dose_at(self, volume: str, unit: str = "Gy") -> float | None:
        """D_v: the minimum dose to the hottest ``volume``, e.g. ``dose_at("95%")`` (D95%[Gy]) or ``dose_at("0.035cc")``.

        Parameters
        ----------
        volume : str
            ``"<x>%"`` of the volume inside the dose grid, or ``"<x>cc"``.
        unit : {"Gy", "%"}
            ``%`` gives the dose in % of the prescription.
        """
        volume = str(volume).strip()
        if not volume.endswith(("%", "cc")):
            raise MetricError(f"dose_at({volume!r}): give the volume with its unit, e.g. '95%' or '0.035cc'")
        return self.metric(f"D{volume}[{unit}]")

    def volume_at(self, dose: str, unit: str = "cc") -> float | None:
        """V_d: the volume receiving at least ``dose``, e.g. ``volume_at("30Gy", unit="%")`` (V30Gy[%]).

        Parameters
        ----------
        dose : str
            ``"<d>Gy"``, ``"<d>cGy"`` or ``"<d>%"`` of the prescription.
        unit : {"cc", "%"}
            ``%`` of the volume inside the dose grid.
        """
        dose = str(dose).strip()
        if not dose.endswith(("Gy", "%")):
            raise MetricError(f"volume_at({dose!r}): give the dose with its unit, e.g. '30Gy', '3000cGy' or '100%'")
        return self.metric(f"V{dose}[{unit}]")

    @property
    def curve(self) -> Curve:
        """The cumulative curve from 0 Gy to two bins past Dmax."""
        d = self.cumulative
        if d.edges_gy.size < 2:
            return Curve(d.edges_gy.copy(), np.clip(d.volume_cc, 0.0, None))
        keep = d.edges_gy <= d.dmax_gy + 2 * (d.edges_gy[1] - d.edges_gy[0])
        return Curve(d.edges_gy[keep].copy(), np.clip(d.volume_cc[keep], 0.0, None))

    # -- presentation ----------------------------------------------------------------------------
    def plot(self, ax: "Axes | None" = None, relative: bool = True, **line_kw) -> "Figure":
        """Draw the curve; returns the figure. The matplotlib backend is never changed.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw here (e.g. to overlay several structures); a new figure otherwise, made
            outside pyplot: display it in a notebook or ``fig.savefig("dvh.png")``.
        relative : bool
            Volume in % (default) or in cc.
        """
        from ..report.figures import new_figure

        if ax is None:
            fig = new_figure((7, 4.5), dpi=100)
            ax = fig.subplots()
            ax.set_title(f"Cumulative DVH: {self.name}")
        c = self.curve
        ax.plot(c.dose_gy, c.volume_percent if relative else c.volume_cc, label=self.name, **line_kw)
        ax.set_xlabel("Dose [Gy]")
        ax.set_ylabel("Volume [%]" if relative else "Volume [cc]")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        return ax.figure

    def statistics(self) -> dict[str, float | None]:
        """The figures :meth:`describe` and :meth:`compare` show, with their units in the keys."""
        stats: dict[str, float | None] = {
            "volume[cc]": self.volume_cc,
            "outside_dose_grid[cc]": self.outside_dose_grid_cc,
            "Dmin[Gy]": self.dmin_gy,
            "Dmax[Gy]": self.dmax_gy,
            "Dmean[Gy]": self.dmean_gy,
        }
        for m in ("Dmedian[Gy]", "D98%[Gy]", "D95%[Gy]", "D50%[Gy]", "D2%[Gy]", "D0.035cc[Gy]"):
            stats[m] = self.metric(m)
        return stats

    def describe(self) -> str:
        """A short text summary of the structure's DVH (returned; ``print`` it)."""
        lines = [f"Structure: {self.name} (ROI {self.roi_number}{', ' + self.type if self.type else ''})"]
        if self.prescription_gy:
            lines.append(f"Prescription: {self.prescription_gy:g} Gy")
        for key, value in self.statistics().items():
            lines.append(f"  {key:22s} {'-' if value is None else f'{value:.4g}'}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def compare(self, other: "DVH") -> dict[str, dict[str, float | None]]:
        """Figure by figure: this DVH, the other, and the difference (other - this).

        Returns
        -------
        dict
            ``{"D95%[Gy]": {"this": .., "other": .., "difference": ..}, ...}``; a difference is None
            where either figure is.
        """
        a, b = self.statistics(), other.statistics()
        return {k: {"this": a[k], "other": b[k], "difference": None if a[k] is None or b[k] is None else b[k] - a[k]} for k in a}

    def __repr__(self) -> str:
        return (f"DVH({self.name!r}, roi_number={self.roi_number}, volume_cc={self.volume_cc:.4g}, "
                f"Dmean={self.dmean_gy:.4g} Gy, Dmax={self.dmax_gy:.4g} Gy)")
