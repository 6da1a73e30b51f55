"""Atomic, traversal-proof storage of received DICOM objects.

Every object is written to a temporary file in its final folder, flushed and fsynced,
then renamed into place (and the folder fsynced), before success goes back to the
sender: an acknowledged object is on disk whatever happens next. File and folder names
come only from validated UIDs, so a crafted UID cannot escape the store.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
TMP_PREFIX = ".incoming-"


class StoreError(ValueError):
    """A data set that cannot be stored (missing or invalid UIDs)."""


def valid_uid(value: object, what: str) -> str:
    uid = str(value or "").strip()
    if not uid or len(uid) > 64 or not _UID.match(uid):
        raise StoreError(f"{what} {uid[:80]!r} is not a valid UID")
    return uid


def object_path(root: Path, ds: Dataset) -> Path:
    """``root/<StudyInstanceUID>/<Modality>.<SOPInstanceUID>.dcm``, from validated UIDs only."""
    study = valid_uid(ds.get("StudyInstanceUID"), "StudyInstanceUID")
    sop = valid_uid(ds.get("SOPInstanceUID"), "SOPInstanceUID")
    valid_uid(ds.get("SOPClassUID"), "SOPClassUID")
    modality = re.sub(r"[^A-Z0-9]", "", str(ds.get("Modality", "")).upper())[:16] or "OT"
    return root / study / f"{modality}.{sop}.dcm"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store(root: Path, ds: Dataset, file_meta: FileMetaDataset) -> Path:
    """Write a received data set atomically; receiving it again replaces it harmlessly."""
    target = object_path(root, ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.file_meta = file_meta
    tmp = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        ds.save_as(tmp, enforce_file_format=True)
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def clean_partial(root: Path) -> int:
    """Remove temporary files a killed listener left behind (never acknowledged objects)."""
    removed = 0
    if root.is_dir():
        for tmp in root.rglob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
