"""DVHs a planning system stored in the RT Dose (DVHSequence), for comparison with ours.

A real-world quirk: some systems label DVHSequence doses GY while writing them in
percent of the prescription (the dicompyler-core breast example: DVHMaximumDose 104.86
"GY" on a grid whose maximum is 14.68 Gy, with a 14 Gy prescription). The unit is
therefore checked against the dose grid's own maximum, never taken on trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom

from .decimal_strings import parse_ds_bytes


@dataclass
class StoredDVH:
    """One DVHSequence item, with doses in Gy after unit detection.

    Attributes
    ----------
    roi_number : int
    mean_gy, max_gy : float or None
        DVHMeanDose / DVHMaximumDose converted to Gy.
    volume_cc : float or None
        Volume of the first cumulative bin (CM3 volumes only).
    unit_note : str or None
        Set when the labelled unit was not the unit of the numbers.
    """

    roi_number: int
    dvh_type: str
    mean_gy: float | None
    max_gy: float | None
    volume_cc: float | None
    unit_note: str | None


def _float(value: object) -> float | None:
    try:
        return None if value in (None, "") else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def read_stored_dvhs(path: str, grid_max_gy: float, prescription_gy: float | None) -> list[StoredDVH]:
    """Read the DVHSequence of an RT Dose file.

    Parameters
    ----------
    path : str
        The RT Dose file.
    grid_max_gy : float
        Maximum of the dose grid (Gy), to check the DVH dose unit against.
    prescription_gy : float or None
        The plan prescription, to convert DVHs found to be in percent of it.
    """
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    items = list(ds.get("DVHSequence", []))
    maxima = [_float(i.get("DVHMaximumDose")) for i in items]
    overall = max((m for m in maxima if m is not None), default=None)
    factor, note = 1.0, None
    if overall is not None and grid_max_gy > 0 and overall > 1.5 * grid_max_gy:
        if prescription_gy and abs(overall * prescription_gy / 100.0 - grid_max_gy) <= 0.1 * grid_max_gy:
            factor = prescription_gy / 100.0
            note = (f"DVHSequence doses labelled GY are in percent of the {prescription_gy:g} Gy prescription "
                    f"(maximum {overall:g} against a grid maximum of {grid_max_gy:.4g} Gy); converted")
        else:
            note = f"DVHSequence maximum {overall:g} does not match the grid maximum {grid_max_gy:.4g} Gy: unit unknown"
            factor = float("nan")
    out = []
    for item in items:
        scaling = _float(item.get("DVHDoseScaling")) or 1.0
        volume = None
        data = item.get_item("DVHData")
        if data is not None and str(item.get("DVHVolumeUnits", "")).upper() == "CM3":
            values = parse_ds_bytes(data.value) if isinstance(data.value, (bytes, str)) else np.asarray(data.value, dtype=float)
            if values.size >= 2:
                volume = float(values[1])
        mean = _float(item.get("DVHMeanDose"))
        top = _float(item.get("DVHMaximumDose"))
        out.append(
            StoredDVH(
                roi_number=int(item.DVHReferencedROISequence[0].ReferencedROINumber),
                dvh_type=str(item.get("DVHType", "")),
                mean_gy=None if mean is None else mean * scaling * factor,
                max_gy=None if top is None else top * scaling * factor,
                volume_cc=volume,
                unit_note=note,
            )
        )
    return out
