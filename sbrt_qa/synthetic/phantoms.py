"""Synthetic patients: analytic solids contoured on planes, with a dose that falls off from the targets.

Patient coordinates (HFS): x to the patient's left, y posterior, z superior, in mm.

The two bundled plans model the trial NCT06863584 (solitary plasmacytoma):

* ``sbrt_thoracic_spine``: a solitary bone plasmacytoma of a thoracic vertebral body,
  SBRT with PTV 30 Gy and PGTV 35 Gy in 5 fractions;
* ``imrt_head_neck``: an extramedullary plasmacytoma of the nasal cavity, conventional
  IMRT 50 Gy in 25 fractions, dose grid written feet-first (another orientation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import dicom_factory as f


@dataclass(frozen=True)
class Solid:
    """An ellipsoid or an elliptic cylinder (axis along z), optionally hollow.

    Attributes
    ----------
    kind : {"ellipsoid", "cylinder"}
    center : (x, y, z) mm
    semi : (a, b, c) mm: semi-axes along x, y and z (for a cylinder, c is half its length)
    wall : float
        For a shell (skin), the wall thickness in mm; 0 for a solid.
    """

    kind: str
    center: tuple[float, float, float]
    semi: tuple[float, float, float]
    wall: float = 0.0

    def radii_at(self, z: float) -> tuple[float, float] | None:
        """In-plane semi-axes of the section at z, None when the plane misses the solid."""
        a, b, c = self.semi
        t = (z - self.center[2]) / c
        if abs(t) > 1.0:
            return None
        if self.kind == "ellipsoid":
            k = np.sqrt(max(1.0 - t * t, 0.0))
            if k < 1e-3:
                return None
            return a * k, b * k
        return a, b

    def sections(self, z_planes: np.ndarray, n_points: int) -> list[tuple[float, np.ndarray]]:
        """Closed planar contours on each plane (a shell gives an outer and an inner contour)."""
        out = []
        angles = np.linspace(0.0, 2 * np.pi, n_points, endpoint=False)
        for z in z_planes:
            r = self.radii_at(float(z))
            if r is None:
                continue
            ring = np.column_stack([self.center[0] + r[0] * np.cos(angles), self.center[1] + r[1] * np.sin(angles)])
            out.append((float(z), ring))
            if self.wall > 0 and r[0] > self.wall and r[1] > self.wall:
                inner = np.column_stack(
                    [self.center[0] + (r[0] - self.wall) * np.cos(angles), self.center[1] + (r[1] - self.wall) * np.sin(angles)]
                )
                out.append((float(z), inner[::-1]))
        return out

    def distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Approximate signed distance (mm) to the surface: negative inside."""
        a, b, c = self.semi
        dx, dy, dz = x - self.center[0], y - self.center[1], z - self.center[2]
        if self.kind == "ellipsoid":
            rho = np.sqrt((dx / a) ** 2 + (dy / b) ** 2 + (dz / c) ** 2)
            return (rho - 1.0) * (a + b + c) / 3.0
        rho = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
        radial = (rho - 1.0) * (a + b) / 2.0
        axial = np.abs(dz) - c
        outside = np.sqrt(np.maximum(radial, 0) ** 2 + np.maximum(axial, 0) ** 2)
        inside = np.maximum(radial, axial)
        return np.where((radial > 0) | (axial > 0), outside, inside)


@dataclass
class Organ:
    """A named solid and how it is written in the structure set."""

    name: str
    interpreted_type: str
    solid: Solid
    color: tuple[int, int, int] = (200, 200, 0)


@dataclass
class Target:
    """A target dose level: the solid gets ``dose_gy`` with a fall-off outside it."""

    organ: Organ
    dose_gy: float
    hot: float = 1.04
    margin_mm: float = 2.0


@dataclass
class PhantomPlan:
    """Everything needed to write one plan set."""

    label: str
    organs: list[Organ]
    targets: list[Target]
    fractions: int
    grid_origin: tuple[float, float, float]
    grid_shape: tuple[int, int, int]  # nz, ny, nx
    grid_spacing: tuple[float, float, float]  # dx, dy, dz
    contour_spacing: float
    contour_z: tuple[float, float]
    n_points: int = 96
    falloff: tuple[float, float, float] = (0.9, 7.0, 40.0)  # weight of the steep term, its length, the bath's length
    orientation: str = "HFS"
    decreasing_frames: bool = False
    position: str = "HFS"
    points: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    seed: str = ""
    bits: int = 16

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nz, ny, nx = self.grid_shape
        dx, dy, dz = self.grid_spacing
        x0, y0, z0 = self.grid_origin
        return x0 + dx * np.arange(nx), y0 + dy * np.arange(ny), z0 + dz * np.arange(nz)

    def dose(self) -> np.ndarray:
        """Dose [z, y, x] in Gy: each level's plateau (slightly hot inside) and a two-term fall-off."""
        xs, ys, zs = self.axes()
        z, y, x = np.meshgrid(zs, ys, xs, indexing="ij")
        w, steep, bath = self.falloff
        total = np.zeros(z.shape)
        for t in self.targets:
            # the prescription isodose lies margin_mm outside the target surface, as in a planned dose
            d = t.organ.solid.distance(x, y, z) - t.margin_mm
            # inside: rises from 1.0 at the surface to `hot` 3 mm in; outside: steep + bath terms
            inside = 1.0 + (t.hot - 1.0) * np.clip(-d / 3.0, 0.0, 1.0)
            outside = w * np.exp(-np.maximum(d, 0) / steep) + (1 - w) * np.exp(-np.maximum(d, 0) / bath)
            level = t.dose_gy * np.where(d <= 0, inside, outside)
            total = np.maximum(total, level)
        return total

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write RTPLAN, RTSTRUCT and RTDOSE into ``folder``; returns the three paths."""
        folder = Path(folder)
        patient = f.Patient(
            patient_id=f"SBRTQA-{self.label.upper()}",
            patient_name=f"Phantom^{self.label}",
            study_uid=f.uid("study" + self.label + self.seed),
            frame_of_reference_uid=f.uid("frame" + self.label + self.seed),
        )
        z_planes = np.arange(self.contour_z[0], self.contour_z[1] + 1e-6, self.contour_spacing)
        rois = []
        for number, organ in enumerate(self.organs, start=1):
            rois.append(f.RoiSpec(organ.name, number, organ.interpreted_type, organ.solid.sections(z_planes, self.n_points), color=organ.color))
        for name, xyz in self.points.items():
            rois.append(f.RoiSpec(name, len(rois) + 1, "ISOCENTER" if "iso" in name.lower() else "MARKER", points=[xyz]))
        struct = f.rtstruct(rois, patient, sop_uid=f.uid("rs" + self.label + self.seed), label=self.label)
        levels = [(t.organ.name, t.dose_gy) for t in self.targets]
        top = max(d for _, d in levels)
        beams = [f.BeamSpec(f"Arc{i + 1}", 6.0, 1200.0 / len(levels), beam_dose_gy=top / self.fractions / 2) for i in range(2)]
        plan = f.rtplan(
            patient,
            label=self.label,
            fractions=self.fractions,
            targets=levels,
            beams=beams,
            structure_set_uid=struct.SOPInstanceUID,
            sop_uid=f.uid("rp" + self.label + self.seed),
            position=self.position,
        )
        dose = f.rtdose(
            self.dose(),
            self.grid_origin,
            self.grid_spacing,
            patient,
            sop_uid=f.uid("rd" + self.label + self.seed),
            orientation=self.orientation,
            decreasing_frames=self.decreasing_frames,
            bits=self.bits,
            referenced_plan_uid=plan.SOPInstanceUID,
        )
        return {
            "plan": f.save(plan, folder / f"RP.{self.label}.dcm"),
            "struct": f.save(struct, folder / f"RS.{self.label}.dcm"),
            "dose": f.save(dose, folder / f"RD.{self.label}.dcm"),
        }


def sbrt_thoracic_spine(seed: str = "") -> PhantomPlan:
    """SBRT of a solitary bone plasmacytoma of a thoracic vertebral body: PTV 30 Gy, PGTV 35 Gy, 5 fractions."""
    ptv = Organ("PTV", "PTV", Solid("cylinder", (0.0, 40.0, 0.0), (22.0, 18.0, 20.0)), (255, 0, 0))
    pgtv = Organ("PGTV", "PTV", Solid("ellipsoid", (4.0, 38.0, 0.0), (12.0, 10.0, 12.0)), (255, 128, 0))
    organs = [
        ptv,
        pgtv,
        Organ("SpinalCord", "ORGAN", Solid("cylinder", (0.0, 68.0, 0.0), (5.0, 5.0, 60.0)), (255, 255, 0)),
        Organ("Esophagus", "ORGAN", Solid("cylinder", (-12.0, 5.0, 0.0), (8.0, 7.0, 60.0)), (0, 128, 255)),
        Organ("Lung_L", "ORGAN", Solid("cylinder", (85.0, 10.0, 0.0), (60.0, 80.0, 60.0)), (0, 200, 200)),
        Organ("Lung R", "ORGAN", Solid("cylinder", (-88.0, 10.0, 0.0), (62.0, 80.0, 60.0)), (0, 160, 200)),
        Organ("Heart", "ORGAN", Solid("ellipsoid", (15.0, -45.0, -20.0), (50.0, 40.0, 40.0)), (200, 0, 100)),
        Organ("BODY", "EXTERNAL", Solid("cylinder", (0.0, 0.0, 0.0), (165.0, 108.0, 60.0)), (0, 255, 0)),
    ]
    return PhantomPlan(
        label="SBRT_T8",
        organs=organs,
        targets=[Target(ptv, 30.0), Target(pgtv, 35.0)],
        fractions=5,
        grid_origin=(-172.5, -115.0, -65.0),
        grid_shape=(53, 93, 139),
        grid_spacing=(2.5, 2.5, 2.5),
        contour_spacing=2.0,
        contour_z=(-60.0, 60.0),
        falloff=(0.9, 6.0, 40.0),
        points={"Isocenter": (0.0, 40.0, 0.0)},
        seed=seed,
    )


def imrt_head_neck(seed: str = "") -> PhantomPlan:
    """Conventional IMRT of an extramedullary plasmacytoma of the nasal cavity: 50 Gy in 25 fractions.

    The dose grid is written feet-first supine with decreasing frame offsets.
    """
    ptv = Organ("PTV_5000", "PTV", Solid("ellipsoid", (0.0, -45.0, 5.0), (24.0, 22.0, 24.0)), (255, 0, 0))
    organs = [
        ptv,
        Organ("GTV", "GTV", Solid("ellipsoid", (0.0, -48.0, 5.0), (14.0, 12.0, 14.0)), (255, 0, 128)),
        Organ("Spinal Cord", "ORGAN", Solid("cylinder", (0.0, 48.0, 0.0), (5.0, 5.0, 42.0)), (255, 255, 0)),
        Organ("Brainstem", "ORGAN", Solid("cylinder", (0.0, 30.0, 36.0), (12.0, 12.0, 8.0)), (255, 200, 0)),
        Organ("Eye_L", "ORGAN", Solid("ellipsoid", (33.0, -62.0, 30.0), (12.0, 12.0, 12.0)), (0, 128, 255)),
        Organ("Eye_R", "ORGAN", Solid("ellipsoid", (-33.0, -62.0, 30.0), (12.0, 12.0, 12.0)), (0, 100, 255)),
        Organ("Parotid_L", "ORGAN", Solid("ellipsoid", (50.0, 10.0, -15.0), (14.0, 20.0, 18.0)), (0, 200, 100)),
        Organ("Parotid R", "ORGAN", Solid("ellipsoid", (-50.0, 10.0, -15.0), (14.0, 20.0, 18.0)), (0, 180, 100)),
        Organ("External", "EXTERNAL", Solid("cylinder", (0.0, 0.0, 0.0), (75.0, 92.0, 42.0)), (0, 255, 0)),
    ]
    return PhantomPlan(
        label="IMRT_HN",
        organs=organs,
        targets=[Target(ptv, 50.0, hot=1.05)],
        fractions=25,
        grid_origin=(-81.0, -99.0, -48.0),
        grid_shape=(33, 67, 55),
        grid_spacing=(3.0, 3.0, 3.0),
        contour_spacing=3.0,
        contour_z=(-42.0, 42.0),
        falloff=(0.75, 10.0, 45.0),
        orientation="FFS",
        decreasing_frames=True,
        position="FFS",
        seed=seed,
    )


def clinical_thorax(seed: str = "") -> PhantomPlan:
    """A clinical-size thoracic SBRT plan for the benchmark (not bundled: about 35 MB).

    Dose grid 267 x 187 x 161 = 8.04 million voxels at 1.5 mm; 28 closed ROIs (BODY, a
    3 mm skin shell, a chest-wall ring, both lungs, targets and organs at risk) with
    256 points per contour on 2 mm planes, and an isocentre POINT.
    """
    ptv = Organ("PTV", "PTV", Solid("cylinder", (0.0, 40.0, 0.0), (22.0, 18.0, 20.0)))
    pgtv = Organ("PGTV", "PTV", Solid("ellipsoid", (4.0, 38.0, 0.0), (12.0, 10.0, 12.0)))
    c, e = "cylinder", "ellipsoid"
    organs = [
        Organ("BODY", "EXTERNAL", Solid(c, (0.0, 0.0, 0.0), (185.0, 125.0, 114.0))),
        Organ("Skin", "ORGAN", Solid(c, (0.0, 0.0, 0.0), (185.0, 125.0, 114.0), wall=3.0)),
        Organ("ChestWall", "ORGAN", Solid(c, (0.0, 0.0, 0.0), (178.0, 118.0, 114.0), wall=20.0)),
        Organ("Lung_L", "ORGAN", Solid(e, (85.0, 5.0, 20.0), (60.0, 85.0, 110.0))),
        Organ("Lung_R", "ORGAN", Solid(e, (-88.0, 5.0, 20.0), (65.0, 85.0, 110.0))),
        Organ("Heart", "ORGAN", Solid(e, (20.0, -40.0, -40.0), (55.0, 45.0, 50.0))),
        ptv,
        pgtv,
        Organ("GTV", "GTV", Solid(e, (4.0, 38.0, 0.0), (10.0, 8.0, 10.0))),
        Organ("CTV", "CTV", Solid(c, (0.0, 40.0, 0.0), (19.0, 15.0, 17.0))),
        Organ("SpinalCord", "ORGAN", Solid(c, (0.0, 68.0, 0.0), (5.0, 5.0, 114.0))),
        Organ("SpinalCanal", "ORGAN", Solid(c, (0.0, 68.0, 0.0), (8.0, 8.0, 114.0))),
        Organ("Esophagus", "ORGAN", Solid(c, (-12.0, 5.0, 0.0), (8.0, 7.0, 114.0))),
        Organ("Trachea", "ORGAN", Solid(c, (0.0, -5.0, 60.0), (9.0, 9.0, 54.0))),
        Organ("Bronchus_L", "ORGAN", Solid(c, (25.0, 0.0, 20.0), (6.0, 6.0, 20.0))),
        Organ("Bronchus_R", "ORGAN", Solid(c, (-25.0, 0.0, 20.0), (6.0, 6.0, 20.0))),
        Organ("Aorta", "ORGAN", Solid(c, (25.0, 40.0, 0.0), (13.0, 13.0, 100.0))),
        Organ("GreatVes", "ORGAN", Solid(e, (0.0, -20.0, 70.0), (20.0, 15.0, 25.0))),
        Organ("Bone_Vertebra", "ORGAN", Solid(c, (0.0, 40.0, 0.0), (19.0, 15.0, 114.0))),
        Organ("Sternum", "ORGAN", Solid(c, (0.0, -100.0, 10.0), (12.0, 6.0, 70.0))),
        Organ("Breast_L", "ORGAN", Solid(e, (70.0, -100.0, 0.0), (45.0, 18.0, 50.0))),
        Organ("Breast_R", "ORGAN", Solid(e, (-70.0, -100.0, 0.0), (45.0, 18.0, 50.0))),
        Organ("BrachialPlex_L", "ORGAN", Solid(c, (70.0, 10.0, 100.0), (6.0, 6.0, 14.0))),
        Organ("BrachialPlex_R", "ORGAN", Solid(c, (-70.0, 10.0, 100.0), (6.0, 6.0, 14.0))),
        Organ("Liver", "ORGAN", Solid(e, (-60.0, -20.0, -95.0), (90.0, 70.0, 40.0))),
        Organ("Stomach", "ORGAN", Solid(e, (60.0, -30.0, -95.0), (45.0, 35.0, 30.0))),
        Organ("Spleen", "ORGAN", Solid(e, (90.0, 40.0, -95.0), (25.0, 35.0, 30.0))),
        Organ("Ring_PTV", "AVOIDANCE", Solid(c, (0.0, 40.0, 0.0), (35.0, 31.0, 33.0), wall=10.0)),
    ]
    return PhantomPlan(
        label="BENCH_THORAX",
        organs=organs,
        targets=[Target(ptv, 30.0), Target(pgtv, 35.0)],
        fractions=5,
        grid_origin=(-199.5, -139.5, -120.0),
        grid_shape=(161, 187, 267),
        grid_spacing=(1.5, 1.5, 1.5),
        contour_spacing=2.0,
        contour_z=(-114.0, 114.0),
        n_points=256,
        falloff=(0.9, 6.0, 40.0),
        points={"Isocenter": (0.0, 40.0, 0.0)},
        seed=seed,
        bits=32,
    )


def sbrt_variant(label: str, cord_y: float = 68.0, ptv_margin_mm: float = 2.0, drop: tuple[str, ...] = ()) -> PhantomPlan:
    """A compact thoracic SBRT plan (PTV 30 Gy, PGTV 35 Gy, 5 fx) engineered to one outcome.

    Parameters
    ----------
    cord_y : float
        Centre of the 5 mm cord (the PTV's posterior surface is at y = 58 mm): at 56 the
        cord runs through the PTV and receives at least 30 Gy.
    ptv_margin_mm : float
        Where the prescription isodose lies relative to the PTV surface: negative puts
        it inside the PTV (under-coverage).
    drop : tuple of str
        ROIs left out of the structure set (a missing required structure).
    """
    ptv = Organ("PTV", "PTV", Solid("cylinder", (0.0, 40.0, 0.0), (22.0, 18.0, 14.0)), (255, 0, 0))
    pgtv = Organ("PGTV", "PTV", Solid("ellipsoid", (4.0, 38.0, 0.0), (12.0, 10.0, 10.0)), (255, 128, 0))
    organs = [
        ptv,
        pgtv,
        Organ("Spinal Cord", "ORGAN", Solid("cylinder", (0.0, cord_y, 0.0), (5.0, 5.0, 30.0)), (255, 255, 0)),
        Organ("Esophagus", "ORGAN", Solid("cylinder", (-12.0, 5.0, 0.0), (8.0, 7.0, 30.0)), (0, 128, 255)),
        Organ("Heart", "ORGAN", Solid("ellipsoid", (15.0, -40.0, -10.0), (35.0, 30.0, 25.0)), (200, 0, 100)),
        Organ("BODY", "EXTERNAL", Solid("cylinder", (0.0, 10.0, 0.0), (110.0, 85.0, 30.0)), (0, 255, 0)),
    ]
    organs = [o for o in organs if o.name not in drop]
    return PhantomPlan(
        label=label,
        organs=organs,
        targets=[Target(ptv, 30.0, margin_mm=ptv_margin_mm), Target(pgtv, 35.0)],
        fractions=5,
        grid_origin=(-117.5, -80.0, -35.0),
        grid_shape=(29, 73, 95),
        grid_spacing=(2.5, 2.5, 2.5),
        contour_spacing=2.0,
        contour_z=(-30.0, 30.0),
        n_points=64,
        falloff=(0.9, 6.0, 40.0),
        seed=label,
    )


BUNDLED = {
    "sbrt_thoracic_spine": sbrt_thoracic_spine,
    "imrt_head_neck": imrt_head_neck,
    "sbrt_cord_overdose": lambda: sbrt_variant("SBRT_CORD_OVER", cord_y=56.0),
    "sbrt_undercovered": lambda: sbrt_variant("SBRT_UNDERCOV", ptv_margin_mm=-3.0),
    "sbrt_missing_ptv": lambda: sbrt_variant("SBRT_NO_PTV", drop=("PTV",)),
}
