"""Fast parsing of DICOM decimal strings (DS) without one Python object per value.

pydicom decodes each DS value into a Python object (about 2.5 us a value), which
makes a 15 MB structure set take seconds. ContourData is read here from the raw
element bytes and parsed by NumPy's C text parser in one call.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

CONTOUR_DATA = BaseTag(0x30060050)


def parse_ds_bytes(raw: bytes | str) -> np.ndarray:
    """Parse a backslash-separated DS value into float64.

    Parameters
    ----------
    raw : bytes or str
        The raw value, e.g. ``b"1.5\\\\-2.0\\\\3"``.

    Returns
    -------
    numpy.ndarray
        The numbers; an empty array for an empty value.

    Raises
    ------
    ValueError
        When a value is not a number.
    """
    if isinstance(raw, str):
        raw = raw.encode("ascii", "replace")
    text = raw.replace(b"\\", b" ").replace(b"\x00", b" ").strip()
    if not text:
        return np.empty(0, dtype=np.float64)
    n_expected = raw.count(b"\\") + 1
    values = np.fromstring(text, dtype=np.float64, sep=" ")  # text mode: C parser, no per-value objects
    if values.size != n_expected:
        raise ValueError(f"expected {n_expected} decimal values, could parse {values.size}")
    return values


def raw_value(item: Dataset) -> bytes | None:
    """ContourData of one ContourSequence item as raw DS bytes, without decoding; None if absent."""
    if CONTOUR_DATA not in item:
        return None
    value = item.get_item(CONTOUR_DATA).value
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("ascii", "replace")
    # Already decoded (a data set built in memory): re-encode once.
    values = value if isinstance(value, (list, tuple)) or hasattr(value, "__len__") else [value]
    return "\\".join(repr(float(v)) for v in values).encode("ascii")


def raw_contour_data(item: Dataset) -> np.ndarray | None:
    """Return ContourData of one ContourSequence item as float64, read from raw bytes.

    Parameters
    ----------
    item : pydicom.dataset.Dataset
        A ContourSequence item.

    Returns
    -------
    numpy.ndarray or None
        Flat array of x, y, z values in mm, or None when ContourData is absent.
    """
    if CONTOUR_DATA not in item:
        return None
    elem = item.get_item(CONTOUR_DATA)
    value = elem.value
    if isinstance(value, (bytes, bytearray, str)):
        return parse_ds_bytes(bytes(value) if not isinstance(value, str) else value)
    if value is None:
        return np.empty(0, dtype=np.float64)
    # Already decoded (a dataset built in memory): a sequence of numbers or one number.
    try:
        return np.asarray([float(v) for v in value], dtype=np.float64)
    except TypeError:
        return np.asarray([float(value)], dtype=np.float64)
