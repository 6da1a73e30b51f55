"""Biologically effective dose (LQ model) on a cumulative DVH, sample by sample.

BED = D (1 + d / (alpha/beta)) and EQD2 = D (d + alpha/beta) / (2 + alpha/beta), with D the
total dose and d = D / n the dose per fraction (Fowler 1989; the TG-263 / QUANTEC
convention). Both are monotone in D, so a dose-at-volume figure converts directly and a
volume-at-dose threshold inverts exactly. The mean is integrated over the DVH, bin by bin
(a uniform dose within each 0.01 Gy bin), so the mean of EQD2 is not the EQD2 of the mean.
"""

from __future__ import annotations

import math

import numpy as np

from ..dvh.cumulative import CumulativeDVH


def bed(total_gy: float, fractions: int, alpha_beta: float) -> float:
    return total_gy * (1.0 + total_gy / fractions / alpha_beta)


def eqd2(total_gy: float, fractions: int, alpha_beta: float) -> float:
    return total_gy * (total_gy / fractions + alpha_beta) / (2.0 + alpha_beta)


def convert(total_gy: float, fractions: int, alpha_beta: float, kind: str) -> float:
    """Physical total dose to BED or EQD2 (Gy)."""
    return eqd2(total_gy, fractions, alpha_beta) if kind == "EQD2" else bed(total_gy, fractions, alpha_beta)


def physical_for(value_gy: float, fractions: int, alpha_beta: float, kind: str) -> float:
    """The physical total dose whose BED or EQD2 is ``value_gy`` (the positive root)."""
    n, ab = float(fractions), alpha_beta
    if kind == "EQD2":
        # D^2 / n + ab D - value (2 + ab) = 0
        return (-ab * n + math.sqrt((ab * n) ** 2 + 4.0 * n * value_gy * (2.0 + ab))) / 2.0
    # D^2 / (n ab) + D - value = 0
    return (-1.0 + math.sqrt(1.0 + 4.0 * value_gy / (n * ab))) * n * ab / 2.0


def mean(dvh: CumulativeDVH, fractions: int, alpha_beta: float, kind: str) -> float:
    """Volume-weighted mean of BED or EQD2 over the DVH."""
    edges = dvh.edges_gy
    mass = -np.diff(dvh.volume_cc)  # volume within each bin
    w = edges[1] - edges[0]
    mid = 0.5 * (edges[:-1] + edges[1:])
    square = mid * mid + w * w / 12.0  # mean of D^2 over a uniform bin
    if kind == "EQD2":
        values = (square / fractions + alpha_beta * mid) / (2.0 + alpha_beta)
    else:
        values = mid + square / (fractions * alpha_beta)
    total = mass.sum()
    return float(np.dot(mass, values) / total) if total > 0 else float("nan")
