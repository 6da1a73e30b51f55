"""The cumulative DVH and its lookups by monotone interpolation (never the nearest bin)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MM3_PER_CC = 1000.0


@dataclass
class CumulativeDVH:
    """Cumulative dose-volume histogram of the part of a structure inside the dose grid.

    Attributes
    ----------
    edges_gy : numpy.ndarray
        Dose edges, 0, w, 2w, ... Gy.
    volume_cc : numpy.ndarray
        Volume (cc) receiving at least each edge dose; non-increasing.
    total_cc : float
        Volume inside the dose grid (cc): the 100 % of relative figures.
    dmin_gy, dmax_gy, dmean_gy : float
        Extremes at the structure's true extent, and the volume-weighted mean.
    """

    edges_gy: np.ndarray
    volume_cc: np.ndarray
    total_cc: float
    dmin_gy: float
    dmax_gy: float
    dmean_gy: float

    def dose_at_volume_cc(self, volume_cc: float) -> float | None:
        """Minimum dose received by the hottest ``volume_cc`` (Gy): D_v.

        Linear interpolation between dose edges, where the cumulative curve is
        exact; on a plateau the upper end is taken (the minimum dose of the
        hottest volume). None when the structure is smaller than ``volume_cc``.
        """
        if volume_cc > self.total_cc * (1 + 1e-9) or self.total_cc <= 0:
            return None
        if volume_cc <= 0:
            return self.dmax_gy
        v = self.volume_cc
        # last edge still receiving at least volume_cc (v is non-increasing)
        i = int(np.searchsorted(-v, -volume_cc, side="right")) - 1
        if i < 0:
            return self.dmin_gy
        if i >= v.size - 1:
            return self.dmax_gy
        drop = v[i] - v[i + 1]
        frac = 0.0 if drop <= 0 else (v[i] - volume_cc) / drop
        dose = self.edges_gy[i] + frac * (self.edges_gy[i + 1] - self.edges_gy[i])
        return float(min(max(dose, self.dmin_gy), self.dmax_gy))

    def dose_at_volume_percent(self, percent: float) -> float | None:
        """D_x% (Gy) of the volume inside the grid."""
        if self.total_cc <= 0:
            return None
        if percent >= 100.0:
            return self.dmin_gy
        return self.dose_at_volume_cc(self.total_cc * percent / 100.0)

    def volume_at_dose_cc(self, dose_gy: float) -> float:
        """Volume (cc) receiving at least ``dose_gy``: V_d, interpolated linearly between edges."""
        if dose_gy <= self.dmin_gy:
            return self.total_cc
        if dose_gy > self.dmax_gy:
            return 0.0
        return float(np.interp(dose_gy, self.edges_gy, self.volume_cc))

    def volume_below_dose_cc(self, dose_gy: float) -> float:
        """Volume (cc) receiving less than ``dose_gy``: the complement volume CV_d."""
        return self.total_cc - self.volume_at_dose_cc(dose_gy)
