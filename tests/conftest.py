"""Shared fixtures: paths to the shared reference data, and writers of analytical phantoms.

In CI (``CI=true``) a test that would skip because ../shared data, Chromium or an
optional package is missing fails instead: CI must exercise everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sbrt_qa.synthetic import dicom_factory as f

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = REPO / "test_data"


#: Skip reasons that mean "this machine lacks something CI must have" (see pytest_runtest_makereport).
CI_REQUIRED = ("shared reference data", "reference tables absent", "Chromium is not installed", "could not import")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci():
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if any(marker in reason for marker in CI_REQUIRED):
        report.outcome = "failed"
        report.longrepr = f"CI=true: this test may not skip ({reason}); CI must provide what it needs"


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
