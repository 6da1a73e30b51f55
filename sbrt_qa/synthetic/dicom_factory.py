"""Synthetic DICOM-RT objects (RT Dose, RT Structure Set, RT Plan) for tests, demo data and benchmarks.

The dose is given on a canonical grid (array [z, y, x], coordinates increasing) and
written in any axis-aligned ImageOrientationPatient, with GridFrameOffsetVector
relative or absolute, increasing or decreasing, so that readers can be tested on
orientations a planning system may export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from ..load import sop

#: Row and column direction cosines for the orientations a planning system exports.
ORIENTATIONS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "HFS": ((1, 0, 0), (0, 1, 0)),
    "HFP": ((-1, 0, 0), (0, -1, 0)),
    "FFS": ((-1, 0, 0), (0, 1, 0)),
    "FFP": ((1, 0, 0), (0, -1, 0)),
    "HFDL": ((0, -1, 0), (1, 0, 0)),
    "HFDR": ((0, 1, 0), (-1, 0, 0)),
    "FFDL": ((0, 1, 0), (1, 0, 0)),
    "FFDR": ((0, -1, 0), (-1, 0, 0)),
}


def uid(seed: str) -> str:
    """A deterministic UID from a seed, so regenerated test data is identical."""
    return generate_uid(entropy_srcs=[seed])


@dataclass
class Patient:
    """Identity written into every object of a plan set."""

    patient_id: str = "SBRTQA-TEST"
    patient_name: str = "Test^Phantom"
    study_uid: str = field(default_factory=lambda: uid("study"))
    frame_of_reference_uid: str = field(default_factory=lambda: uid("frame"))


def _base(sop_class: str, sop_uid: str, modality: str, patient: Patient, series_seed: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ImplicitVRLittleEndian
    meta.ImplementationClassUID = uid("sbrt-qa-synthetic")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.PatientID = patient.patient_id
    ds.PatientName = patient.patient_name
    ds.StudyInstanceUID = patient.study_uid
    ds.SeriesInstanceUID = uid(series_seed + sop_uid)
    ds.FrameOfReferenceUID = patient.frame_of_reference_uid
    ds.Manufacturer = "sbrt-qa synthetic"
    ds.StudyDate = "20261124"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    return ds


def save(ds: Dataset, path: str | Path, transfer_syntax: str = ImplicitVRLittleEndian) -> Path:
    """Write a data set as a DICOM Part 10 file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.save_as(path, implicit_vr=transfer_syntax == ImplicitVRLittleEndian, little_endian=True, enforce_file_format=True)
    return path


def rtdose(
    dose_gy: np.ndarray,
    origin_mm: tuple[float, float, float],
    spacing_mm: tuple[float, float, float],
    patient: Patient,
    *,
    sop_uid: str | None = None,
    orientation: str = "HFS",
    offsets: str = "relative",
    decreasing_frames: bool = False,
    bits: int = 32,
    summation: str = "PLAN",
    units: str = "GY",
    referenced_plan_uid: str | None = None,
    referenced_beam_number: int | None = None,
    frame_of_reference_uid: str | None = None,
) -> Dataset:
    """An RT Dose from a canonical dose array.

    Parameters
    ----------
    dose_gy : numpy.ndarray
        Dose [z, y, x] in Gy, coordinates increasing along each axis.
    origin_mm : tuple
        (x, y, z) of voxel [0, 0, 0].
    spacing_mm : tuple
        (dx, dy, dz).
    orientation : str
        A key of :data:`ORIENTATIONS`; the pixels are re-ordered to match it.
    offsets : {"relative", "absolute"}
        How GridFrameOffsetVector is written.
    decreasing_frames : bool
        Store the frames in the opposite order along the normal.
    """
    sop_uid = sop_uid or uid(f"dose{origin_mm}{orientation}{offsets}{decreasing_frames}{summation}{dose_gy.shape}")
    ds = _base(sop.RT_DOSE, sop_uid, "RTDOSE", patient, "dose")
    if frame_of_reference_uid:
        ds.FrameOfReferenceUID = frame_of_reference_uid
    r, c = (np.array(v) for v in ORIENTATIONS[orientation])
    n = np.cross(r, c)
    axis = {"r": int(np.argmax(np.abs(r))), "c": int(np.argmax(np.abs(c))), "n": int(np.argmax(np.abs(n)))}
    sign = {"r": int(r[axis["r"]]), "c": int(c[axis["c"]]), "n": int(n[axis["n"]])}
    if decreasing_frames:
        sign["n"] = -sign["n"]
    coords = [origin_mm[a] + spacing_mm[a] * np.arange(dose_gy.shape[2 - a]) for a in range(3)]  # x, y, z
    stored = np.transpose(dose_gy, (2 - axis["n"], 2 - axis["c"], 2 - axis["r"]))
    for k, key in enumerate(("n", "c", "r")):
        if sign[key] < 0:
            stored = np.flip(stored, axis=k)
    start = [coords[a][0] for a in range(3)]
    for key in ("r", "c", "n"):
        a = axis[key]
        start[a] = coords[a][0] if sign[key] > 0 else coords[a][-1]
    ds.ImagePositionPatient = [float(v) for v in start]
    ds.ImageOrientationPatient = [float(v) for v in np.concatenate([r, c])]
    ds.PixelSpacing = [float(spacing_mm[axis["c"]]), float(spacing_mm[axis["r"]])]
    frame_step = spacing_mm[axis["n"]]
    rel = frame_step * np.arange(stored.shape[0]) * (1 if not decreasing_frames else -1)
    if offsets == "relative":
        ds.GridFrameOffsetVector = [float(v) for v in rel]
    else:  # absolute: the frames' own coordinates along the normal axis
        ds.GridFrameOffsetVector = [float(start[axis["n"]] + sign["n"] * frame_step * f) for f in range(stored.shape[0])]
    ds.SliceThickness = float(frame_step)
    ds.NumberOfFrames, ds.Rows, ds.Columns = (int(v) for v in stored.shape)
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.DoseUnits = units
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = summation
    ds.TissueHeterogeneityCorrection = ["IMAGE"]
    top = float(stored.max()) if stored.size else 0.0
    scale = top / (2**bits - 1) if top > 0 else 1.0
    ds.DoseGridScaling = f"{scale:.10g}"
    scale = float(ds.DoseGridScaling)
    dtype = np.uint32 if bits == 32 else np.uint16
    counts = np.clip(np.round(np.clip(stored, 0, None) / scale), 0, 2**bits - 1)  # DS rounding may overshoot by one count
    ds.PixelData = np.ascontiguousarray(counts).astype(dtype).tobytes()
    if referenced_plan_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop.RT_PLAN
        ref.ReferencedSOPInstanceUID = referenced_plan_uid
        if referenced_beam_number is not None:
            fg = Dataset()
            fg.ReferencedFractionGroupNumber = 1
            beam = Dataset()
            beam.ReferencedBeamNumber = referenced_beam_number
            fg.ReferencedBeamSequence = Sequence([beam])
            ref.ReferencedFractionGroupSequence = Sequence([fg])
        ds.ReferencedRTPlanSequence = Sequence([ref])
    return ds


@dataclass
class RoiSpec:
    """One ROI: name, number, interpreted type, and contours as (z, Nx2 array) or POINT coordinates."""

    name: str
    number: int
    interpreted_type: str
    contours: list[tuple[float, np.ndarray]] = field(default_factory=list)
    points: list[tuple[float, float, float]] = field(default_factory=list)
    color: tuple[int, int, int] = (255, 0, 0)


def _ds_list(values: np.ndarray) -> list[str]:
    # 16-character DS limit: 0.01 um precision is ample for contours.
    return [f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1e9 else f"{v:.6g}" for v in values]


def rtstruct(rois: list[RoiSpec], patient: Patient, *, sop_uid: str | None = None, label: str = "SYNTH", frame_of_reference_uid: str | None = None) -> Dataset:
    """An RT Structure Set with closed planar contours and POINT ROIs."""
    sop_uid = sop_uid or uid("struct" + label + ",".join(r.name for r in rois))
    ds = _base(sop.RT_STRUCTURE_SET, sop_uid, "RTSTRUCT", patient, "struct")
    frame = frame_of_reference_uid or patient.frame_of_reference_uid
    del ds.FrameOfReferenceUID
    ds.StructureSetLabel = label
    ds.StructureSetDate = "20261124"
    rfor = Dataset()
    rfor.FrameOfReferenceUID = frame
    ds.ReferencedFrameOfReferenceSequence = Sequence([rfor])
    roi_seq, contour_seq, obs_seq = [], [], []
    for roi in rois:
        item = Dataset()
        item.ROINumber = roi.number
        item.ReferencedFrameOfReferenceUID = frame
        item.ROIName = roi.name
        item.ROIGenerationAlgorithm = "MANUAL"
        roi_seq.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = roi.number
        rc.ROIDisplayColor = list(roi.color)
        contours = []
        for z, xy in roi.contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = int(xy.shape[0])
            xyz = np.column_stack([xy, np.full(xy.shape[0], z)]).ravel()
            c.ContourData = _ds_list(xyz)
            contours.append(c)
        for point in roi.points:
            c = Dataset()
            c.ContourGeometricType = "POINT"
            c.NumberOfContourPoints = 1
            c.ContourData = _ds_list(np.asarray(point, dtype=float))
            contours.append(c)
        if contours:
            rc.ContourSequence = Sequence(contours)
        contour_seq.append(rc)
        obs = Dataset()
        obs.ObservationNumber = roi.number
        obs.ReferencedROINumber = roi.number
        obs.RTROIInterpretedType = roi.interpreted_type
        obs.ROIInterpreter = ""
        obs_seq.append(obs)
    ds.StructureSetROISequence = Sequence(roi_seq)
    ds.ROIContourSequence = Sequence(contour_seq)
    ds.RTROIObservationsSequence = Sequence(obs_seq)
    return ds


@dataclass
class BeamSpec:
    """A treatment beam: name, energy (MV), meterset (MU per fraction) and dose per fraction (Gy)."""

    name: str
    energy_mv: float = 6.0
    meterset: float = 100.0
    beam_dose_gy: float | None = None
    beam_type: str = "DYNAMIC"


def rtplan(
    patient: Patient,
    *,
    label: str,
    fractions: int,
    targets: list[tuple[str, float]],
    beams: list[BeamSpec],
    structure_set_uid: str | None,
    sop_uid: str | None = None,
    approval: str = "APPROVED",
    position: str = "HFS",
    sop_class: str = sop.RT_PLAN,
) -> Dataset:
    """An RT Plan with dose references (TargetPrescriptionDose, Gy), one fraction group and photon beams."""
    sop_uid = sop_uid or uid("plan" + label)
    ds = _base(sop_class, sop_uid, "RTPLAN", patient, "plan")
    ds.RTPlanLabel = label
    ds.RTPlanName = label
    ds.RTPlanGeometry = "PATIENT"
    ds.ApprovalStatus = approval
    refs = []
    for i, (description, dose) in enumerate(targets, start=1):
        d = Dataset()
        d.DoseReferenceNumber = i
        d.DoseReferenceStructureType = "VOLUME"
        d.DoseReferenceDescription = description
        d.DoseReferenceType = "TARGET"
        d.TargetPrescriptionDose = f"{dose:g}"
        refs.append(d)
    if refs:
        ds.DoseReferenceSequence = Sequence(refs)
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = fractions
    fg.NumberOfBeams = len(beams)
    ref_beams = []
    beam_seq = []
    for number, b in enumerate(beams, start=1):
        rb = Dataset()
        rb.ReferencedBeamNumber = number
        rb.BeamMeterset = f"{b.meterset:g}"
        if b.beam_dose_gy is not None:
            rb.BeamDose = f"{b.beam_dose_gy:g}"
        ref_beams.append(rb)
        beam = Dataset()
        beam.BeamNumber = number
        beam.BeamName = b.name
        beam.BeamType = b.beam_type
        beam.RadiationType = "PHOTON"
        beam.TreatmentDeliveryType = "TREATMENT"
        beam.TreatmentMachineName = "SYNTH"
        cp = Dataset()
        cp.ControlPointIndex = 0
        cp.NominalBeamEnergy = f"{b.energy_mv:g}"
        cp.GantryAngle = f"{(360.0 * (number - 1) / max(len(beams), 1)):g}"
        beam.ControlPointSequence = Sequence([cp])
        beam.NumberOfControlPoints = 1
        beam_seq.append(beam)
    fg.ReferencedBeamSequence = Sequence(ref_beams)
    ds.FractionGroupSequence = Sequence([fg])
    ds.BeamSequence = Sequence(beam_seq)
    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = position
    ds.PatientSetupSequence = Sequence([setup])
    if structure_set_uid:
        rss = Dataset()
        rss.ReferencedSOPClassUID = sop.RT_STRUCTURE_SET
        rss.ReferencedSOPInstanceUID = structure_set_uid
        ds.ReferencedStructureSetSequence = Sequence([rss])
    return ds


__all__ = ["ORIENTATIONS", "BeamSpec", "ExplicitVRLittleEndian", "Patient", "RoiSpec", "rtdose", "rtplan", "rtstruct", "save", "uid"]
