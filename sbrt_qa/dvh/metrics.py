"""TG-263 DVH metric notation: parse ``D95%[Gy]``, ``V20Gy[%]``, ``CV20Gy[cc]`` ... and evaluate.

Grammar (AAPM TG-263, section 9):

* ``D<x>%[Gy|%]``, ``D<x>cc[Gy|%]``: minimum dose to the hottest x % or x cc;
* ``Dmin|Dmax|Dmean|Dmedian[Gy|%]``;
* ``V<d>Gy|cGy|%[%|cc]``: volume receiving at least dose d;
* ``CV<d>Gy|cGy|%[%|cc]``: volume receiving less than d (critical-volume limits).

A ``%`` dose is a percentage of the prescription. Doses given in cGy are converted
to Gy on parsing; results are always in Gy, cc or %.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .cumulative import CumulativeDVH


class MetricError(ValueError):
    """A metric string that is not valid TG-263 DVH notation."""


_NUMBER = r"(?P<num>\d+(?:\.\d+)?|\.\d+)"
_DOSE_STAT = re.compile(r"^D(?P<stat>min|max|mean|median)\[(?P<out>Gy|%)\]$")
_DOSE_AT = re.compile(rf"^D{_NUMBER}(?P<vunit>%|cc)\[(?P<out>Gy|%)\]$")
_VOLUME_AT = re.compile(rf"^(?P<kind>CV|V){_NUMBER}(?P<dunit>Gy|cGy|%)\[(?P<out>%|cc)\]$")


@dataclass(frozen=True)
class Metric:
    """A parsed DVH metric.

    Attributes
    ----------
    text : str
        The metric exactly as written.
    kind : str
        ``dose_stat``, ``dose_at_volume``, ``volume_at_dose`` or ``complement_volume``.
    stat : str or None
        ``min``, ``max``, ``mean`` or ``median`` for ``dose_stat``.
    value : float or None
        The volume (``dose_at_volume``) or the dose in Gy or % (volume metrics).
    value_unit : str or None
        ``%`` or ``cc`` for a volume; ``Gy`` or ``%`` (of prescription) for a dose.
    unit : str
        Unit of the result: ``Gy``, ``%`` or ``cc``.
    """

    text: str
    kind: str
    stat: str | None
    value: float | None
    value_unit: str | None
    unit: str

    @property
    def needs_prescription(self) -> bool:
        """True when the prescription dose is needed to evaluate this metric."""
        if self.kind in ("dose_stat", "dose_at_volume"):
            return self.unit == "%"
        return self.value_unit == "%"


def parse_metric(text: str) -> Metric:
    """Parse a TG-263 DVH metric string.

    Parameters
    ----------
    text : str
        e.g. ``"D95%[Gy]"``, ``"D0.035cc[Gy]"``, ``"V20Gy[%]"``, ``"CV20Gy[cc]"``.

    Returns
    -------
    Metric

    Raises
    ------
    MetricError
        When the text is not valid notation or lacks a unit.
    """
    s = text.strip()
    m = _DOSE_STAT.match(s)
    if m:
        return Metric(text, "dose_stat", m["stat"].lower(), None, None, "%" if m["out"] == "%" else "Gy")
    m = _DOSE_AT.match(s)
    if m:
        value = float(m["num"])
        if m["vunit"] == "%" and not 0 <= value <= 100:
            raise MetricError(f"{text!r}: a volume percentage must lie between 0 and 100")
        return Metric(text, "dose_at_volume", None, value, m["vunit"], m["out"])
    m = _VOLUME_AT.match(s)
    if m:
        value = float(m["num"])
        unit = m["dunit"]
        if unit == "cGy":
            value, unit = value / 100.0, "Gy"
        kind = "complement_volume" if m["kind"] == "CV" else "volume_at_dose"
        return Metric(text, kind, None, value, unit, m["out"])
    hint = ""
    if "[" not in s:
        hint = " (the result unit is missing: add [Gy], [%] or [cc])"
    elif re.search(r"\[cGy\]$", s):
        hint = " (results are given in Gy: write [Gy])"
    raise MetricError(
        f"{text!r} is not TG-263 DVH notation{hint}; examples: D95%[Gy], D0.035cc[Gy], Dmean[Gy], V20Gy[%], V100%[%], CV20Gy[cc]"
    )


def evaluate(metric: Metric, dvh: CumulativeDVH, prescription_gy: float | None) -> float | None:
    """Evaluate a metric on a cumulative DVH.

    Parameters
    ----------
    metric : Metric
    dvh : CumulativeDVH
    prescription_gy : float or None
        Needed for % doses; without it such metrics give None.

    Returns
    -------
    float or None
        The value in ``metric.unit``; None when it cannot be computed (no
        prescription, or a volume larger than the structure).
    """
    rx = prescription_gy if prescription_gy and prescription_gy > 0 else None
    if metric.needs_prescription and rx is None:
        return None
    if metric.kind in ("dose_stat", "dose_at_volume"):
        if metric.kind == "dose_stat":
            dose = {
                "min": dvh.dmin_gy,
                "max": dvh.dmax_gy,
                "mean": dvh.dmean_gy,
                "median": dvh.dose_at_volume_percent(50.0),
            }[metric.stat or ""]
        elif metric.value_unit == "%":
            dose = dvh.dose_at_volume_percent(float(metric.value))
        else:
            dose = dvh.dose_at_volume_cc(float(metric.value))
        if dose is None:
            return None
        return dose if metric.unit == "Gy" else 100.0 * dose / rx  # type: ignore[operator]
    dose_gy = float(metric.value) if metric.value_unit == "Gy" else float(metric.value) * rx / 100.0  # type: ignore[operator]
    volume = dvh.volume_at_dose_cc(dose_gy) if metric.kind == "volume_at_dose" else dvh.volume_below_dose_cc(dose_gy)
    if metric.unit == "cc":
        return volume
    return 100.0 * volume / dvh.total_cc if dvh.total_cc > 0 else None


#: The figures every structure gets, in TG-263 notation.
DEFAULT_METRICS = ("Dmedian[Gy]", "D98%[Gy]", "D95%[Gy]", "D50%[Gy]", "D2%[Gy]", "D0.035cc[Gy]")
