"""Atomic, verified, traversal-proof storage of received DICOM objects.

An object arrives as the bytes the sender encoded (pynetdicom's
``event.encoded_dataset()``). Any group 0002 elements inside the data set are stripped
(they belong in the file meta, as pynetdicom's own SCP does: ``ds[0x00030000:]``), the
bytes are written after the file meta to a temporary file, and that file must pass the
same completeness check as the loaders (:func:`sbrt_qa.load.discovery.read_header` and
its truncation test, and for objects with pixel data the end of the pixel data) before it
is fsynced and renamed into place. A cut object is never renamed: a good copy received
earlier stays. File and folder names come only from validated UIDs.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
from pathlib import Path

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID
from pynetdicom.dsutils import encode_file_meta

from ..errors import InputError
from ..load.discovery import read_header, truncation

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
TMP_PREFIX = ".incoming-"
#: Explicit VR codes with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_counter = iter(range(1 << 62))
_counter_lock = threading.Lock()


class StoreError(ValueError):
    """A data set that cannot be stored: invalid UIDs, or cut short / corrupt (``incomplete``)."""

    def __init__(self, message: str, incomplete: bool = False) -> None:
        super().__init__(message)
        self.incomplete = incomplete


def valid_uid(value: object, what: str) -> str:
    """``value`` as a UID string: digits and dots, at most 64 characters; else :class:`StoreError`."""
    uid = str(value or "").strip()
    if not uid or len(uid) > 64 or not _UID.match(uid):
        raise StoreError(f"{what} {uid[:80]!r} is not a valid UID")
    return uid


def object_path(root: Path, ds) -> Path:
    """``root/<StudyInstanceUID>/<Modality>.<SOPInstanceUID>.dcm``, from validated UIDs only."""
    study = valid_uid(ds.get("StudyInstanceUID"), "StudyInstanceUID")
    sop = valid_uid(ds.get("SOPInstanceUID"), "SOPInstanceUID")
    valid_uid(ds.get("SOPClassUID"), "SOPClassUID")
    modality = re.sub(r"[^A-Z0-9]", "", str(ds.get("Modality", "")).upper())[:16] or "OT"
    return root / study / f"{modality}.{sop}.dcm"


def strip_group_0002(data: bytes, transfer_syntax: str) -> bytes | None:
    """The data set's bytes without leading group 0002 elements; None when that needs decoding (deflate).

    Elements are in ascending tag order, so group 0002 can only come first.
    """
    ts = UID(transfer_syntax)
    if ts.is_deflated:
        return None
    little = ts.is_little_endian
    implicit = ts.is_implicit_VR
    end = "<" if little else ">"
    pos = 0
    while pos + 8 <= len(data):
        group = struct.unpack_from(end + "H", data, pos)[0]
        if group != 0x0002:
            break
        if implicit:
            length, header = struct.unpack_from(end + "I", data, pos + 4)[0], 8
        elif data[pos + 4: pos + 6] in _LONG_VRS:
            if pos + 12 > len(data):
                return data[len(data):]
            length, header = struct.unpack_from(end + "I", data, pos + 8)[0], 12
        else:
            length, header = struct.unpack_from(end + "H", data, pos + 6)[0], 8
        if length == 0xFFFFFFFF:
            return None
        pos += header + length
    return data[pos:]


def _without_meta_group(data: bytes, file_meta: FileMetaDataset) -> bytes:
    stripped = strip_group_0002(data, str(file_meta.TransferSyntaxUID))
    if stripped is not None:
        return stripped
    # deflated: decode, drop group 0002 as pynetdicom does, encode again
    from pynetdicom.dsutils import decode, encode

    ts = UID(str(file_meta.TransferSyntaxUID))
    ds = decode(io.BytesIO(data), ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)[0x00030000:]
    encoded = encode(ds, ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated)
    if encoded is None:
        raise StoreError("the data set cannot be encoded again after removing group 0002")
    return encoded


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_complete(path: Path):
    """The file's header if the object is whole, else :class:`StoreError` (``incomplete``).

    The loaders' check (:func:`read_header`), and for objects with pixel data (whose end
    the loaders check on decoding) the end of the last element against the file's size.
    """
    try:
        ds = read_header(path)
    except InputError as exc:
        raise StoreError(exc.problem, incomplete=True) from None
    if ds is None:
        raise StoreError("not a DICOM data set", incomplete=True)
    if "Rows" in ds and "Columns" in ds:
        try:
            full = pydicom.dcmread(path)
            cut = truncation(path, full)
        except Exception as exc:  # pydicom raises several types on corrupt data
            raise StoreError(f"cannot read the data set: {type(exc).__name__}: {exc}", incomplete=True) from None
        if cut:
            raise StoreError(f"truncated: {cut}", incomplete=True)
    return ds


def store_encoded(root: Path, file_meta: FileMetaDataset, data: bytes, sop_class: str | None = None) -> tuple[Path, object]:
    """Store one received object atomically if it is whole; returns its path and header.

    Parameters
    ----------
    root : Path
        The store.
    file_meta : FileMetaDataset
        From pynetdicom (``event.file_meta``): transfer syntax, SOP class and instance.
    data : bytes
        The data set as encoded by the sender (``event.encoded_dataset(include_meta=False)``).
    sop_class : str, optional
        The Affected SOP Class UID of the request; the data set must agree.

    Raises
    ------
    StoreError
        Invalid UIDs, a SOP class that disagrees with the request, or an incomplete object.
    OSError
        The store cannot be written.
    """
    root.mkdir(parents=True, exist_ok=True)
    body = _without_meta_group(data, file_meta)
    with _counter_lock:
        n = next(_counter)
    tmp = root / f"{TMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{n}.dcm"
    try:
        with open(tmp, "wb") as fh:
            fh.write(b"\x00" * 128 + b"DICM" + encode_file_meta(file_meta) + body)
            fh.flush()
            os.fsync(fh.fileno())
        ds = verify_complete(tmp)
        if sop_class is not None and str(ds.get("SOPClassUID", "")) != str(sop_class):
            raise StoreError("SOPClassUID does not match the C-STORE request")
        target = object_path(root, ds)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        return target, ds
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def clean_partial(root: Path) -> int:
    """Remove temporary files a killed listener left behind (never acknowledged objects)."""
    removed = 0
    if root.is_dir():
        for tmp in root.rglob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
