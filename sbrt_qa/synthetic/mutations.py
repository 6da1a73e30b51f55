"""Mutated RT files for robustness tests: truncations, bit flips, deleted, repeated and absurd attributes.

A small valid plan set (:func:`small_plan`) is written, then one of its files is
changed by a :class:`Mutation`. The tool must answer every mutant with exit 0, 1 or 2
and a message, never an internal error, within bounded time and memory. Mutations that
break the file by construction (:attr:`Mutation.must_fail`) must not pass silently.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from . import dicom_factory as f

FILES = ("RD", "RS", "RP")

#: Attributes the readers use, per file: (keyword, in which sequence or None for top level).
ATTRIBUTES = {
    "RD": ("DoseGridScaling", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "GridFrameOffsetVector",
           "NumberOfFrames", "Rows", "Columns", "DoseType", "DoseUnits", "DoseSummationType", "BitsAllocated",
           "PixelRepresentation", "SliceThickness", "FrameOfReferenceUID", "SOPInstanceUID", "PixelData",
           "ReferencedRTPlanSequence"),
    "RS": ("StructureSetROISequence/ROINumber", "StructureSetROISequence/ROIName", "ROIContourSequence/ReferencedROINumber",
           "ROIContourSequence/ContourSequence/ContourData", "ROIContourSequence/ContourSequence/ContourGeometricType",
           "RTROIObservationsSequence/ReferencedROINumber", "RTROIObservationsSequence/RTROIInterpretedType",
           "StructureSetROISequence", "ROIContourSequence", "RTROIObservationsSequence", "ReferencedFrameOfReferenceSequence"),
    "RP": ("FractionGroupSequence/NumberOfFractionsPlanned", "FractionGroupSequence/FractionGroupNumber",
           "DoseReferenceSequence/TargetPrescriptionDose", "DoseReferenceSequence/DoseReferenceType",
           "DoseReferenceSequence/DoseReferenceStructureType", "BeamSequence/BeamNumber",
           "FractionGroupSequence/ReferencedBeamSequence/BeamDose", "FractionGroupSequence/ReferencedBeamSequence/ReferencedBeamNumber",
           "ReferencedStructureSetSequence", "RTPlanLabel", "BeamSequence", "FractionGroupSequence", "DoseReferenceSequence"),
}

#: Values written raw into an attribute; ``True`` marks those no reader may accept in a number it uses.
ABSURD = (("nan", True), ("inf", True), ("-inf", True), ("1e999", True), ("1e308", False), ("-1", False), ("0", False),
          ("", False), ("abc", True), ("1\\2", False), ("1e9", False), ("-0.0008", False), ("1" * 64, False),
          ("\x1b[31m=cmd|x\r", False))

#: Numeric attributes whose absurd values above must be refused (the rest may be legitimately read).
NUMERIC = frozenset({"DoseGridScaling", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "GridFrameOffsetVector",
                     "NumberOfFrames", "ContourData", "ROINumber", "ReferencedROINumber", "NumberOfFractionsPlanned",
                     "TargetPrescriptionDose", "BeamNumber", "BeamDose", "ReferencedBeamNumber", "FractionGroupNumber"})


@dataclass(frozen=True)
class Mutation:
    """One change to one file of the small plan.

    Attributes
    ----------
    file : str
        ``RD``, ``RS`` or ``RP``.
    kind : str
        ``truncate``, ``bitflip``, ``delete``, ``repeat`` or ``absurd``.
    position : float
        Where in the file (0-1) a truncation or bit flip falls.
    bit : int
        Which bit flips.
    attribute : str
        ``Sequence/Keyword`` path for delete, repeat and absurd.
    value : str
        The raw value written by ``absurd``.
    """

    file: str
    kind: str
    position: float = 0.5
    bit: int = 0
    attribute: str = ""
    value: str = ""

    @property
    def must_fail(self) -> bool:
        """True when the mutant is broken by construction and must not pass without a word.

        A truncation always loses data; an absurd value marked in :data:`ABSURD` written
        into a number the readers use can never be read as a number.
        """
        if self.kind == "truncate":
            return True
        if self.kind == "absurd":
            keyword = self.attribute.split("/")[-1]
            return keyword in NUMERIC and dict(ABSURD).get(self.value, False)
        return False

    def describe(self) -> str:
        if self.kind in ("truncate", "bitflip"):
            return f"{self.file} {self.kind} at {self.position:.4f}" + (f" bit {self.bit}" if self.kind == "bitflip" else "")
        return f"{self.file} {self.kind} {self.attribute}" + (f" = {self.value!r}" if self.kind == "absurd" else "")


def small_plan(folder: Path) -> dict[str, Path]:
    """A small valid SBRT-like plan set (RT Dose, RT Structure Set, RT Plan) written to ``folder``.

    Dose: a 2 mm grid of 40 x 40 x 32 voxels, 36 Gy up to 8.2 mm from the centre, then falling
    off as a Gaussian (sigma 1.5 mm), plus 3 Gy x a broad Gaussian (sigma 10 mm). ROIs: PTV (radius 8 mm, 30 Gy), PGTV (radius 4 mm, 35 Gy),
    SpinalCord (radius 5 mm, 22 mm away), BODY (radius 36 mm). Plan: 35 Gy in 5 fractions.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    patient = f.Patient(patient_id="MUT", patient_name="Mutation^Base")
    n, nz, step = 40, 32, 2.0
    x = (np.arange(n) - (n - 1) / 2) * step
    z = (np.arange(nz) - (nz - 1) / 2) * step
    zz, yy, xx = np.meshgrid(z, x, x, indexing="ij")
    r = np.sqrt(xx**2 + yy**2 + zz**2)
    # a low broad component keeps the dose 2 cm from the target, and the grid's edge, measurable
    dose = 36.0 * np.exp(-np.clip(r - 8.2, 0, None) ** 2 / (2 * 1.5**2)) + 3.0 * np.exp(-(r**2) / (2 * 10.0**2))
    origin = (float(x[0]), float(x[0]), float(z[0]))
    rd = f.rtdose(dose, origin, (step, step, step), patient)

    def circle(cx: float, cy: float, radius: float, k: int = 24) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, k, endpoint=False)
        return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)

    def ball(radius: float) -> list:
        return [(zp, circle(0, 0, float(np.sqrt(radius**2 - zp**2)))) for zp in np.arange(-radius + 1, radius, 2.0)]

    rois = [
        f.RoiSpec("PTV", 1, "PTV", ball(8.0)),
        f.RoiSpec("PGTV", 2, "PTV", ball(4.0)),
        f.RoiSpec("SpinalCord", 3, "ORGAN", [(float(zp), circle(0, 22, 5)) for zp in np.arange(-28.0, 28.1, 2.0)]),
        f.RoiSpec("BODY", 4, "EXTERNAL", [(float(zp), circle(0, 0, 36, 48)) for zp in np.arange(-28.0, 28.1, 2.0)]),
    ]
    rs = f.rtstruct(rois, patient, label="MUT")
    rp = f.rtplan(patient, label="MUT", fractions=5, targets=[("PTV", 30.0), ("PGTV", 35.0)], beams=[f.BeamSpec("Arc1", beam_dose_gy=7.0)],
                  structure_set_uid=rs.SOPInstanceUID)
    ref = Dataset()
    ref.ReferencedSOPClassUID = rp.SOPClassUID
    ref.ReferencedSOPInstanceUID = rp.SOPInstanceUID
    rd.ReferencedRTPlanSequence = pydicom.sequence.Sequence([ref])
    return {"RD": f.save(rd, folder / "RD.dcm"), "RS": f.save(rs, folder / "RS.dcm"), "RP": f.save(rp, folder / "RP.dcm")}


def _items(ds: Dataset, path: list[str]) -> list[tuple[Dataset, str]]:
    """Every (data set, keyword) the ``Sequence/.../Keyword`` path reaches."""
    if len(path) == 1:
        return [(ds, path[0])] if path[0] in ds else []
    out = []
    for item in ds.get(path[0], []) or []:
        out.extend(_items(item, path[1:]))
    return out


def _set_raw(ds: Dataset, keyword: str, text: str) -> None:
    tag = Tag(tag_for_keyword(keyword))
    vr = dictionary_VR(tag)
    if vr in ("US", "UL", "SS", "SL", "FL", "FD", "OB", "OW", "SQ", "AT"):
        raw = text.encode("latin-1", "replace")[:8]  # arbitrary bytes in a binary value
    else:
        raw = text.encode("latin-1", "replace")
    if len(raw) % 2:
        raw += b" "
    ds[tag] = RawDataElement(tag, vr if vr != "SQ" else "UN", len(raw), raw, 0, True, True)


def apply(mutation: Mutation, files: dict[str, Path], rng: np.random.Generator | None = None) -> bool:
    """Change one file of a plan in place; returns False when the mutation found nothing to change."""
    path = files[mutation.file]
    if mutation.kind in ("truncate", "bitflip"):
        data = bytearray(path.read_bytes())
        at = min(int(mutation.position * len(data)), len(data) - 1)
        if mutation.kind == "truncate":
            path.write_bytes(bytes(data[:at]))
        else:
            data[at] ^= 1 << (mutation.bit % 8)
            path.write_bytes(bytes(data))
        return True
    ds = pydicom.dcmread(path)
    targets = _items(ds, mutation.attribute.split("/"))
    if not targets:
        return False
    holder, keyword = targets[int(mutation.position * len(targets)) % len(targets)]
    if mutation.kind == "delete":
        del holder[keyword]
    elif mutation.kind == "repeat":
        value = holder[keyword].value
        if isinstance(value, pydicom.sequence.Sequence) and len(value):
            value.append(value[0])
        elif isinstance(value, (list, pydicom.multival.MultiValue)):
            holder[keyword].value = list(value) + list(value)
        else:
            holder[keyword].value = [value, value] if not isinstance(value, bytes) else value + value
    elif mutation.kind == "absurd":
        _set_raw(holder, keyword, mutation.value)
    ds.save_as(path)
    return True


def fresh_copy(base: Path, folder: Path) -> dict[str, Path]:
    """Copy the base plan's files into ``folder``."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(base, folder)
    return {k: folder / f"{k}.dcm" for k in FILES}
