"""Shared fixtures: paths to the shared reference data, and writers of analytical phantoms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbrt_qa.synthetic import dicom_factory as f

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = REPO / "test_data"


def shared(name: str) -> Path:
    """A folder of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared reference data not available: {path} is absent")
    return path


def write_phantom(
    folder: Path,
    planes: dict[str, list[tuple[float, np.ndarray]]],
    dose_fn,
    origin: tuple[float, float, float],
    spacing: tuple[float, float, float],
    shape: tuple[int, int, int],
    *,
    orientation: str = "HFS",
    offsets: str = "relative",
    decreasing_frames: bool = False,
    with_plan: bool = False,
    prescription: float = 30.0,
    fractions: int = 5,
) -> Path:
    """Write a structure set and a dose grid computed by ``dose_fn(x, y, z)`` at the voxel centres."""
    patient = f.Patient(study_uid=f.uid(f"study{folder}"), frame_of_reference_uid=f.uid(f"for{folder}"))
    nz, ny, nx = shape
    xs = origin[0] + spacing[0] * np.arange(nx)
    ys = origin[1] + spacing[1] * np.arange(ny)
    zs = origin[2] + spacing[2] * np.arange(nz)
    z, y, x = np.meshgrid(zs, ys, xs, indexing="ij")
    rois = [f.RoiSpec(name, i + 1, "PTV" if i == 0 else "ORGAN", contours) for i, (name, contours) in enumerate(planes.items())]
    struct = f.rtstruct(rois, patient, sop_uid=f.uid(f"rs{folder}"))
    f.save(struct, folder / "rs.dcm")
    plan_uid = None
    if with_plan:
        plan = f.rtplan(patient, label="TEST", fractions=fractions, targets=[("PTV", prescription)], beams=[f.BeamSpec("B1")],
                        structure_set_uid=struct.SOPInstanceUID, sop_uid=f.uid(f"rp{folder}"))
        f.save(plan, folder / "rp.dcm")
        plan_uid = plan.SOPInstanceUID
    dose = f.rtdose(dose_fn(x, y, z), origin, spacing, patient, sop_uid=f.uid(f"rd{folder}{orientation}"), orientation=orientation,
                    offsets=offsets, decreasing_frames=decreasing_frames, referenced_plan_uid=plan_uid)
    f.save(dose, folder / "rd.dcm")
    return folder
