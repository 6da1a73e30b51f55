"""Find DICOM objects under a directory and recognise them by SOP Class UID."""

from __future__ import annotations

import os
import stat
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag

from ..errors import InputError
from ..python_warnings import Collected
from . import sop


@dataclass
class DicomObject:
    """One DICOM file recognised by its SOP Class UID.

    Attributes
    ----------
    path : Path
        The file.
    kind : str
        ``RTDOSE``, ``RTSTRUCT``, ``RTPLAN``, ``IMAGE`` or ``OTHER``.
    sop_class_uid, sop_instance_uid : str
        From (0008,0016) and (0008,0018).
    frame_of_reference_uid : str or None
        The object's frame of reference (for RTSTRUCT, the one its ROIs use).
    dataset : Dataset
        The header, read without pixel data.
    warnings : tuple of str
        Python warnings raised while the header was read (``"UserWarning: Expected explicit VR,
        but found implicit VR ..."``), kept for the reports of the plan sets the file is in.
    """

    path: Path
    kind: str
    sop_class_uid: str
    sop_instance_uid: str
    frame_of_reference_uid: str | None
    dataset: Dataset = field(repr=False)
    warnings: tuple[str, ...] = ()


@dataclass
class Discovery:
    """What a scan found: the RT objects, and notes about what was passed over."""

    objects: list[DicomObject]
    notes: list[str]
    images: int = 0


_PREAMBLE_MAGIC_OFFSET = 128


def _looks_like_dicom_without_preamble(path: Path) -> bool:
    """True when a file without the DICM preamble starts like a DICOM data set.

    Some old exports omit the 128-byte preamble and start with group 0x0008 (or
    0x0002) in little-endian order; anything else is not tried, so that text or
    images are never force-parsed into nonsense.
    """
    with path.open("rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    return group in (0x0002, 0x0008)


def _is_dicom_part10(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(_PREAMBLE_MAGIC_OFFSET)
        return fh.read(4) == b"DICM"


def _frame_of_reference(ds: Dataset, kind: str) -> str | None:
    if kind == sop.RTSTRUCT:
        frames = [str(f.FrameOfReferenceUID) for f in ds.get("ReferencedFrameOfReferenceSequence", []) if "FrameOfReferenceUID" in f]
        if not frames:
            frames = [str(r.ReferencedFrameOfReferenceUID) for r in ds.get("StructureSetROISequence", []) if "ReferencedFrameOfReferenceUID" in r]
        if frames:
            return frames[0]
    value = ds.get("FrameOfReferenceUID")
    return str(value) if value else None


_SEQUENCE_DELIMITER = {True: b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", False: b"\xff\xfe\xe0\xdd\x00\x00\x00\x00"}
_DEFLATED = "1.2.840.10008.1.2.1.99"
#: File preamble, "DICM", and the File Meta Information Group Length element (explicit VR UL).
_META_START = 132 + 12


def _stream_end(path: Path, ds: Dataset) -> tuple[int, bytes] | None:
    """Length of the byte stream pydicom parsed the data set from, and its last 8 bytes.

    That is the file itself, except for the deflate transfer syntax, where element
    positions count in the inflated data set after the file meta information. None when
    the inflated stream cannot be located (no group length): its end is then not checked.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if syntax != _DEFLATED:
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(max(size - 8, 0))
            return size, fh.read(8)
    group_length = meta.get("FileMetaInformationGroupLength")
    if group_length is None:
        return None
    with path.open("rb") as fh:
        fh.seek(_META_START + int(group_length))
        inflated = zlib.decompress(fh.read(), -zlib.MAX_WBITS)
    return len(inflated), inflated[-8:]


#: Top-level attributes an object must end with, in tag order, and when (PS3.3 IODs). A file cut
#: exactly between two top-level elements ends cleanly; what it lost is the attributes after
#: the cut, so a required attribute missing *after* the last element present means a cut.
_REQUIRED_TAIL = {
    sop.RTPLAN: (
        (0x300A000C, "RTPlanGeometry", "an RT Plan must have (Type 1)", lambda ds: True),
        (0x300A00B0, "BeamSequence", "its fraction groups name beams", lambda ds: _plan_has_beams(ds) and not _ion(ds)),
        (0x300A03A2, "IonBeamSequence", "its fraction groups name beams", lambda ds: _plan_has_beams(ds) and _ion(ds)),
        (0x300C0060, "ReferencedStructureSetSequence", "RTPlanGeometry PATIENT requires",
         lambda ds: str(ds.get("RTPlanGeometry", "")).strip().upper() == "PATIENT"),
    ),
    sop.RTSTRUCT: (
        (0x30060020, "StructureSetROISequence", "an RT Structure Set must have (Type 1)", lambda ds: True),
        (0x30060039, "ROIContourSequence", "an RT Structure Set must have (Type 1)", lambda ds: True),
        (0x30060080, "RTROIObservationsSequence", "an RT Structure Set must have (Type 1)", lambda ds: True),
    ),
}


def _ion(ds: Dataset) -> bool:
    return str(ds.get("SOPClassUID", "")) == sop.RT_ION_PLAN


def _plan_has_beams(ds: Dataset) -> bool:
    """A fraction group names beams (NumberOfBeams > 0 or a ReferencedBeamSequence item)."""
    for group in ds.get("FractionGroupSequence", []) or []:
        if group.get("ReferencedBeamSequence"):
            return True
        try:
            if int(group.get("NumberOfBeams", 0) or 0) > 0:
                return True
        except (TypeError, ValueError):
            continue
    return False


def _missing_tail(ds: Dataset, last_tag: int) -> str | None:
    """The first required attribute that would follow the last element present, if any."""
    meta = getattr(ds, "file_meta", None) or {}
    kind = sop.kind_of(str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or ""))
    for tag, keyword, why, required in _REQUIRED_TAIL.get(kind, ()):
        if tag > last_tag and tag not in ds and required(ds):
            return f"the file ends after element {BaseTag(last_tag)}, before {keyword} {BaseTag(tag)}, which {why}"
    return None


def truncation(path: Path, ds: Dataset) -> str | None:
    """Why a file without pixel data looks cut short, or None.

    pydicom stops quietly at the end of a file, so a truncated structure set would
    lose ROIs without a word. The last top-level element must end where the file
    ends; an undefined-length sequence must end with its Sequence Delimitation Item;
    and a file cut exactly between two top-level elements must not have lost an
    attribute its IOD requires (e.g. an RT Plan's ReferencedStructureSetSequence).
    """
    tags = list(ds.keys())
    if not tags:
        return "no data elements"
    elem = ds.get_item(tags[-1])
    if isinstance(elem, RawDataElement):
        end = _stream_end(path, ds)
        if end is not None:
            size, tail = end
            if elem.length == 0xFFFFFFFF:
                if tail != _SEQUENCE_DELIMITER[elem.is_little_endian]:
                    return f"the file ends inside the sequence {elem.tag}"
            elif elem.value_tell + elem.length > size:
                return f"element {elem.tag} needs {elem.value_tell + elem.length - size} more bytes than the file holds"
    public = [t for t in tags if not BaseTag(t).is_private]
    return _missing_tail(ds, int(public[-1])) if public else None


def read_header(path: Path) -> Dataset | None:
    """Read a file's header if it is DICOM, else return None.

    Parameters
    ----------
    path : Path
        The file to read.

    Returns
    -------
    Dataset or None
        The data set without pixel data; None when the file is not DICOM.

    Raises
    ------
    InputError
        When the file is DICOM but cannot be read (truncated or corrupt).
    """
    part10 = _is_dicom_part10(path)
    if not part10 and not _looks_like_dicom_without_preamble(path):
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=not part10)
        # Values stay raw (ContourData is parsed later without pydicom's per-value
        # objects); the file's end is checked here so a cut file is named now.
        cut = None if "PixelData" in ds or _has_pixels(ds) else truncation(path, ds)
    except InvalidDicomError:
        return None
    except MemoryError:
        raise  # the machine's failure, never the file's: not a corrupt file to pass over
    except Exception as exc:  # pydicom raises several types for corrupt data
        raise InputError(f"cannot read this DICOM file (truncated or corrupt): {exc}", path) from None
    if cut:
        raise InputError(f"truncated DICOM file: {cut}", path)
    if "SOPClassUID" not in ds and not part10:
        return None
    _decode_elements(ds, path)
    return ds


#: Elements left undecoded: ROIContourSequence is read from its bytes (contour_sequence), PixelData on decoding.
_LEFT_RAW = frozenset({0x30060039, 0x7FE00010})


def _decode_elements(ds: Dataset, path: Path, where: str = "") -> None:
    """Decode every element now (sequences item by item), so a corrupt value is named here.

    pydicom decodes a value when it is first used; a sequence whose bytes are corrupt
    would otherwise fail wherever a reader happens to touch it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings on invalid values: the readers' checks name them
        for tag in list(ds.keys()):
            if int(tag) in _LEFT_RAW:
                continue
            try:
                elem = ds[tag]
                items = list(elem.value) if elem.VR == "SQ" and elem.value is not None else []
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - pydicom raises several types for corrupt data
                keyword = pydicom.datadict.keyword_for_tag(tag) or str(BaseTag(tag))
                raise InputError(f"cannot read {where}{keyword} {BaseTag(tag)} (corrupt): {exc}", path) from None
            for k, item in enumerate(items, start=1):
                if isinstance(item, Dataset):
                    keyword = pydicom.datadict.keyword_for_tag(tag) or str(BaseTag(tag))
                    _decode_elements(item, path, f"{where}{keyword} item {k}: ")


def _has_pixels(ds: Dataset) -> bool:
    """True for objects whose pixel data was left unread (stop_before_pixels): their end is checked on decoding."""
    return "Rows" in ds and "Columns" in ds


def _special(mode: int) -> str | None:
    """What kind of special file a mode is (FIFO, socket, device), or None for a regular file or directory."""
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return None


def iter_files(root: Path, notes: list[str] | None = None) -> list[Path]:
    """All regular files below ``root`` (or ``root`` itself), sorted for a stable order.

    Only regular files are ever opened: reading a FIFO, socket or device blocks or never
    ends. Those, and symbolic links that lead nowhere, are passed over with a note in
    ``notes`` (when given). Symbolic links to regular files are followed.

    Raises
    ------
    InputError
        ``root`` itself is a FIFO, socket or device.
    """
    try:
        mode = root.stat().st_mode
    except OSError:
        raise InputError("no such file or directory (or a symbolic link that leads nowhere)", root) from None
    kind = _special(mode)
    if kind:
        raise InputError(f"is a {kind}, not a file or directory: only regular files are read", root)
    if stat.S_ISREG(mode):
        return [root]
    found: list[Path] = []
    passed: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                mode = path.stat().st_mode
            except OSError:  # a dangling link, or removed under us
                if path.is_symlink():
                    passed.setdefault("symbolic link that leads nowhere", []).append(path)
                continue
            if stat.S_ISREG(mode):
                found.append(path)
            else:
                passed.setdefault(_special(mode) or "special file", []).append(path)
    if notes is not None:
        for kind, paths in passed.items():
            shown = ", ".join(str(p) for p in paths[:3])
            more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            notes.append(f"skipped {len(paths)} {kind}(s), never opened: {shown}{more}")
    return found


def discover(paths: list[Path], failures: list | None = None) -> Discovery:
    """Scan files and directories recursively for DICOM-RT objects.

    Objects are recognised by SOP Class UID, never by file name. Non-DICOM files
    are skipped; CT and MR images are counted and ignored.

    Parameters
    ----------
    paths : list of Path
        Directories to scan recursively, or single files.

    Returns
    -------
    Discovery

    failures : list, optional
        When given (batch mode), corrupt files are appended as ``(path, problem)`` and
        the scan goes on; otherwise the first one raises.

    Raises
    ------
    InputError
        A path is missing, a directory holds no DICOM at all, or a DICOM file is corrupt.
    """
    objects: list[DicomObject] = []
    notes: list[str] = []
    skipped_non_dicom: list[Path] = []
    images = 0
    other: dict[str, int] = {}
    seen_uids: dict[str, Path] = {}
    for root in paths:
        if not root.exists() and not root.is_symlink():
            raise InputError("no such file or directory", root)
        files = iter_files(root, notes)
        if not files:
            raise InputError("the directory is empty", root)
        for path in files:
            try:
                with Collected() as caught:
                    ds = read_header(path)
            except InputError as exc:
                if failures is None:
                    raise
                failures.append((path, exc.problem))
                continue
            if ds is None:
                skipped_non_dicom.append(path)
                continue
            meta = getattr(ds, "file_meta", None) or {}
            sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")
            if not sop_class or ("SOPInstanceUID" not in ds and sop.kind_of(sop_class) != sop.IMAGE):
                other[sop_class or "(none: e.g. DICOMDIR)"] = other.get(sop_class or "(none: e.g. DICOMDIR)", 0) + 1
                continue
            kind = sop.kind_of(sop_class)
            if kind == sop.IMAGE:
                images += 1
                continue
            if kind == sop.OTHER:
                other[sop_class] = other.get(sop_class, 0) + 1
                continue
            uid = str(ds.SOPInstanceUID)
            if uid in seen_uids:
                notes.append(f"{path}: same SOP Instance UID as {seen_uids[uid]}; the duplicate is ignored")
                continue
            seen_uids[uid] = path
            objects.append(DicomObject(path, kind, sop_class, uid, _frame_of_reference(ds, kind), ds, tuple(caught.messages)))
    if skipped_non_dicom:
        shown = ", ".join(str(p) for p in skipped_non_dicom[:3])
        more = f" and {len(skipped_non_dicom) - 3} more" if len(skipped_non_dicom) > 3 else ""
        notes.append(f"skipped {len(skipped_non_dicom)} non-DICOM file(s): {shown}{more}")
    if images:
        notes.append(f"ignored {images} CT/MR image(s): images are not needed for DVHs")
    for sop_class, count in sorted(other.items()):
        notes.append(f"ignored {count} DICOM object(s) of SOP class {sop_class}")
    if not objects and failures is None:
        where = ", ".join(str(p) for p in paths)
        if skipped_non_dicom and not images and not other:
            raise InputError(f"no DICOM files found (not DICOM: {', '.join(str(p) for p in skipped_non_dicom[:3])})", where)
        raise InputError("no RT Dose, RT Structure Set or RT Plan objects found", where)
    return Discovery(objects, notes, images)


#: The folder part of the label given to a data set held in memory (it has no file).
IN_MEMORY = Path("<memory>")


def discover_datasets(datasets: list[Dataset], labels: list[str] | None = None) -> Discovery:
    """Recognise pydicom data sets held in memory, as :func:`discover` recognises files.

    Each object's ``path`` is a label, ``<memory>/<label>``, that names it in messages
    and reports; no file is read or written. An RT Dose keeps its pixel data in the
    data set, so it is read from there (:func:`sbrt_qa.load.rtdose.read_dose_grid`).

    Parameters
    ----------
    datasets : list of pydicom.Dataset
        RT Plan, RT Structure Set and RT Dose data sets (images and others are counted and ignored).
    labels : list of str, optional
        One label per data set; ``<index>_<Modality>`` by default.

    Returns
    -------
    Discovery

    Raises
    ------
    InputError
        A data set without SOP Class UID or SOP Instance UID, an RT Dose whose pixel data have
        no transfer syntax (``file_meta.TransferSyntaxUID``), or no RT object at all.
    """
    if labels is not None and len(labels) != len(datasets):
        raise InputError(f"{len(labels)} labels for {len(datasets)} data sets")
    objects: list[DicomObject] = []
    notes: list[str] = []
    images = 0
    seen: dict[str, Path] = {}
    for i, ds in enumerate(datasets):
        if not isinstance(ds, Dataset):
            raise InputError(f"item {i} is a {type(ds).__name__}, not a pydicom Dataset")
        label = IN_MEMORY / (labels[i] if labels else f"{i}_{ds.get('Modality', 'DICOM')}")
        meta = getattr(ds, "file_meta", None) or {}
        sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")
        kind = sop.kind_of(sop_class) if sop_class else sop.OTHER
        if kind == sop.IMAGE:
            images += 1
            continue
        if kind == sop.OTHER:
            notes.append(f"{label}: ignored: SOP class {sop_class or '(none)'} is not RT Plan, RT Structure Set or RT Dose")
            continue
        if "SOPInstanceUID" not in ds:
            raise InputError("data set without SOPInstanceUID (0008,0018)", label)
        uid = str(ds.SOPInstanceUID)
        if uid in seen:
            notes.append(f"{label}: same SOP Instance UID as {seen[uid]}; the duplicate is ignored")
            continue
        if kind == sop.RTDOSE and "PixelData" in ds and not meta.get("TransferSyntaxUID"):
            # pydicom decodes pixel data by the transfer syntax; the tool never guesses an encoding
            raise InputError("RT Dose data set without file_meta TransferSyntaxUID (0002,0010): its pixel data cannot be decoded; "
                             "say how they are encoded, e.g. ds.file_meta = FileMetaDataset(); "
                             "ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian", label)
        seen[uid] = label
        objects.append(DicomObject(label, kind, sop_class, uid, _frame_of_reference(ds, kind), ds))
    if images:
        notes.append(f"ignored {images} CT/MR image(s): images are not needed for DVHs")
    if not objects:
        raise InputError("no RT Dose, RT Structure Set or RT Plan among the data sets given")
    return Discovery(objects, notes, images)
