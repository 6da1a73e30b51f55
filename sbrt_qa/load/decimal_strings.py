"""Fast parsing of DICOM decimal strings (DS) without one Python object per value.

pydicom decodes each DS value into a Python object (about 2.5 us a value), which
makes a 15 MB structure set take seconds. ContourData is read here from the raw
element bytes and parsed by a compiled ASCII parser (about 10 ns a value; NumPy's
text parser takes 40 ns). Values are exact to one unit in the last place.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

CONTOUR_DATA = BaseTag(0x30060050)


_POW10 = np.array([10.0**k for k in range(23)])  # exactly representable powers of ten


@nb.njit(cache=True, nogil=True)
def _is_separator(c):
    return c == 92 or c == 32 or c == 0 or c == 9 or c == 10 or c == 13  # backslash, space, NUL, tab, newline


@nb.njit(cache=True, nogil=True)
def _parse_ascii(buf, seg_end, out, counts, pow10):
    """Parse backslash-separated decimal numbers, each field holding exactly one.

    Spaces and NULs around a number are padding. ``buf`` may be several values
    joined by backslashes: ``seg_end[s]`` is the position just past value s, and
    ``counts[s]`` receives how many numbers it held.

    Returns the count parsed, or -(position + 1) of the first character that is not
    part of a valid number (an empty field included).
    """
    n = 0
    i = 0
    size = buf.size
    seg = 0
    expecting = True  # a field has begun and holds no number yet
    while i < size:
        c = buf[i]
        if c == 92:
            if expecting:
                return -(i + 1)
            expecting = True
            i += 1
            continue
        if _is_separator(c):
            i += 1
            continue
        if not expecting:
            return -(i + 1)  # a second number in one field
        start = i
        negative = False
        if buf[i] == 45:
            negative = True
            i += 1
        elif buf[i] == 43:
            i += 1
        mantissa = 0
        exp10 = 0
        seen = False
        while i < size and 48 <= buf[i] <= 57:
            if mantissa < 100000000000000000:
                mantissa = mantissa * 10 + (buf[i] - 48)
            else:
                exp10 += 1
            seen = True
            i += 1
        if i < size and buf[i] == 46:
            i += 1
            while i < size and 48 <= buf[i] <= 57:
                if mantissa < 100000000000000000:
                    mantissa = mantissa * 10 + (buf[i] - 48)
                    exp10 -= 1
                seen = True
                i += 1
        if not seen:
            return -(i + 1)
        if i < size and (buf[i] == 101 or buf[i] == 69):
            i += 1
            exp_negative = False
            if i < size and buf[i] == 45:
                exp_negative = True
                i += 1
            elif i < size and buf[i] == 43:
                i += 1
            e = 0
            exp_seen = False
            while i < size and 48 <= buf[i] <= 57:
                if e < 10000:
                    e = e * 10 + (buf[i] - 48)
                exp_seen = True
                i += 1
            if not exp_seen:
                return -(i + 1)
            exp10 += -e if exp_negative else e
        value = float(mantissa)
        if exp10 < 0:
            value = value / pow10[-exp10] if exp10 >= -22 else value / 10.0 ** (-exp10)
        elif exp10 > 0:
            value = value * pow10[exp10] if exp10 <= 22 else value * 10.0**exp10
        if i < size and not _is_separator(buf[i]):
            return -(i + 1)
        while start > seg_end[seg]:
            seg += 1
        counts[seg] += 1
        out[n] = -value if negative else value
        n += 1
        expecting = False
    if expecting:
        return -(size + 1)  # an empty last field
    return n


def _parse(raw: bytes, seg_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.empty(len(raw) // 2 + 1, dtype=np.float64)  # a number and its separator take two bytes at least
    counts = np.zeros(seg_end.size, dtype=np.int64)
    n = _parse_ascii(np.frombuffer(raw, dtype=np.uint8), seg_end, values, counts, _POW10)
    if n < 0:
        bad = raw[-n - 1 : -n + 15].decode("ascii", "replace")
        raise ValueError(f"not a decimal number at byte {-n - 1}: {bad!r}" if bad else "empty last value")
    return values[:n], counts


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
        When a value is not a number, or is empty.
    """
    if isinstance(raw, str):
        raw = raw.encode("ascii", "replace")
    if not raw.strip(b" \x00"):
        return np.empty(0, dtype=np.float64)
    return _parse(raw, np.array([len(raw)], dtype=np.int64))[0]


def parse_ds_values(raws: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Parse several non-empty DS values in one pass.

    Parameters
    ----------
    raws : list of bytes
        Raw values, each holding at least one number.

    Returns
    -------
    values : numpy.ndarray
        All the numbers, value after value.
    counts : numpy.ndarray
        How many numbers each value held.

    Raises
    ------
    ValueError
        When any value is malformed; parse them one by one to learn which.
    """
    lengths = np.fromiter((len(r) for r in raws), dtype=np.int64, count=len(raws))
    seg_end = np.cumsum(lengths + 1) - 1  # each value is followed by the joining backslash
    return _parse(b"\\".join(raws), seg_end)


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
