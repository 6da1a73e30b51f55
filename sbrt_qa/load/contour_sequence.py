"""ROIContourSequence read straight from its encoded bytes.

pydicom builds a Dataset for every contour item and a data element for each of the
item's elements: about 30 us an item, 0.1 s for a 10 MB structure set of 3 000
contours. Only two elements of a contour item are needed here (ContourGeometricType
and the undecoded ContourData), so they are picked out of the encoded sequence
directly. Whatever this reader does not recognise makes it step aside (it returns
None) and pydicom reads the sequence instead, so it can only be faster, never
different.
"""

from __future__ import annotations

import struct

_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF

REFERENCED_ROI_NUMBER = 0x30060084
CONTOUR_SEQUENCE = 0x30060040
CONTOUR_GEOMETRIC_TYPE = 0x30060042
CONTOUR_DATA = 0x30060050

#: Explicit-VR value representations with a reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_TAG_LENGTH = struct.Struct("<HHI")
_TAG_VR_SHORT = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")

#: A contour: its ContourGeometricType and its ContourData as encoded (None if absent).
Contour = tuple[str, "bytes | None"]


class _Unrecognised(Exception):
    """The bytes are not what this reader handles; pydicom should read them."""


def _header(buf: bytes, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """Tag, VR (None when implicit), value length and value position of the element at ``pos``."""
    if pos + 8 > len(buf):
        raise _Unrecognised
    group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
    tag = group << 16 | element
    if implicit or group == 0xFFFE:  # items and delimiters carry no VR in either syntax
        return tag, None, length, pos + 8
    group, element, vr, length = _TAG_VR_SHORT.unpack_from(buf, pos)
    if vr in _LONG_VRS:
        if pos + 12 > len(buf):
            raise _Unrecognised
        return tag, vr, _LONG_LENGTH.unpack_from(buf, pos + 8)[0], pos + 12
    return tag, vr, length, pos + 8


def _items(buf: bytes, pos: int, length: int, implicit: bool) -> tuple[list[dict], int]:
    """The items of a sequence value at ``pos``, each as :func:`_elements` gives them, and the end position."""
    stop = None if length == _UNDEFINED else pos + length
    items = []
    while stop is None or pos < stop:
        tag, _, item_length, pos = _header(buf, pos, True)
        if tag == _SEQUENCE_END and stop is None:
            return items, pos
        if tag != _ITEM:
            raise _Unrecognised
        elements, pos = _elements(buf, pos, item_length, implicit)
        items.append(elements)
    if pos != stop:
        raise _Unrecognised
    return items, pos


def _elements(buf: bytes, pos: int, length: int, implicit: bool) -> tuple[dict, int]:
    """The elements of one item: tag -> (value position, length), or tag -> items for ContourSequence.

    Nested sequences other than ContourSequence are stepped over.
    """
    stop = None if length == _UNDEFINED else pos + length
    if stop is not None and stop > len(buf):
        raise _Unrecognised
    elements: dict = {}
    while stop is None or pos < stop:
        tag, vr, value_length, pos = _header(buf, pos, implicit)
        if tag == _ITEM_END and stop is None:
            return elements, pos
        if tag >> 16 == 0xFFFE:
            raise _Unrecognised
        if tag == CONTOUR_SEQUENCE or value_length == _UNDEFINED:
            if vr not in (None, b"SQ", b"UN"):
                raise _Unrecognised  # an undefined length on a VR that cannot have one
            elements[tag], pos = _items(buf, pos, value_length, implicit)
            continue
        if pos + value_length > len(buf):
            raise _Unrecognised
        elements[tag] = (pos, value_length)
        pos += value_length
    if pos != stop:
        raise _Unrecognised
    return elements, pos


def _value(buf: bytes, entry: tuple[int, int] | list | None) -> bytes | None:
    if entry is None:
        return None
    if not isinstance(entry, tuple):
        raise _Unrecognised
    start, length = entry
    return buf[start : start + length]


def read_roi_contours(buf: bytes, implicit: bool, little_endian: bool = True) -> dict[int, list[Contour]] | None:
    """Contours of each ROI from the encoded value of ROIContourSequence (3006,0039).

    Parameters
    ----------
    buf : bytes
        The sequence's value as encoded (defined length).
    implicit, little_endian : bool
        The transfer syntax it was encoded in.

    Returns
    -------
    dict or None
        ReferencedROINumber -> the contours of its ContourSequence, in item order.
        None when the bytes are anything but a well-formed little-endian sequence
        this reader understands; pydicom must then read them.
    """
    if not little_endian:
        return None
    try:
        items, _ = _items(buf, 0, len(buf), implicit)
        rois: dict[int, list[Contour]] = {}
        for item in items:
            number = _value(buf, item.get(REFERENCED_ROI_NUMBER))
            if number is None:
                continue
            contours = []
            for contour in item.get(CONTOUR_SEQUENCE, []):
                kind = _value(buf, contour.get(CONTOUR_GEOMETRIC_TYPE)) or b""
                contours.append((kind.decode("ascii").strip(" \x00").upper(), _value(buf, contour.get(CONTOUR_DATA))))
            rois[int(number.strip(b" \x00"))] = contours
        return rois
    except (_Unrecognised, struct.error, ValueError, UnicodeDecodeError, TypeError):
        return None
