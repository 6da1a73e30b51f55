"""DVH figures of analytical objects in linear dose gradients against closed-form truth.

Objects: box, sphere, cylinder and cone (axis along z), rotated cylinder (axis along x)
and rotated cone (axis along y); gradients along x, y and z, and an oblique one for the
box. The dose grid is offset from the objects so that voxel edges cut them.
Tolerance: 1 % of the local value (or 0.02 Gy, whichever is larger) for doses, 0.1 %
for volumes; Nelms' criterion for the same figures is 3 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytic import Truth, box, cone, cylinder, rotated_cone, rotated_cylinder, sphere
from conftest import write_phantom
from sbrt_qa.dvh.analysis import analyze
from sbrt_qa.dvh.metrics import parse_metric
from sbrt_qa.load import load

D0, G = 30.0, 0.5  # Gy at the origin, Gy/mm
DOSE_TOL_REL, DOSE_TOL_ABS, VOLUME_TOL_REL = 0.01, 0.02, 0.001

OBJECTS = {
    "box": lambda: box((11.0, 7.0), np.arange(-10.0, 10.1, 2.0), 2.0, center=(0.4, -0.3)),
    "sphere": lambda: sphere(15.0, 2.0),
    "cylinder": lambda: cylinder(12.0, 12.0, 3.0),
    "cone": lambda: cone(15.0, 30.0, 2.0, -15.0),
    "rotated_cylinder": lambda: rotated_cylinder(12.0, 14.0, 2.0),
    "rotated_cone": lambda: rotated_cone(14.0, 28.0, 2.0, -14.0),
}
METRICS = ["D98%[Gy]", "D95%[Gy]", "D50%[Gy]", "D5%[Gy]", "D2%[Gy]", "D0.035cc[Gy]"]


def _dose_ok(value: float, truth: float) -> bool:
    return abs(value - truth) <= max(DOSE_TOL_REL * abs(truth), DOSE_TOL_ABS)


def _run(tmp_path, obj, axis, orientation="HFS", spacing=2.5, **kw):
    def dose_fn(x, y, z):
        return D0 + G * (x, y, z)[axis]

    contours = [(float(z), obj.contour(float(z))) for z in obj.planes]
    origin = (-40.13, -39.71, -41.37)
    n = int(np.ceil(82 / spacing)) + 1
    folder = tmp_path / f"{orientation}_{axis}"
    folder.mkdir()
    write_phantom(folder, {"OBJ": contours}, dose_fn, origin, (spacing, spacing, spacing), (n, n, n), orientation=orientation, **kw)
    plan_sets, _ = load([folder])
    return analyze(plan_sets[0], [parse_metric(m) for m in METRICS]).structures[0]


def _figures(truth: Truth) -> dict[str, float]:
    return {
        "D98%[Gy]": truth.dose_at_percent(98),
        "D95%[Gy]": truth.dose_at_percent(95),
        "D50%[Gy]": truth.dose_at_percent(50),
        "D5%[Gy]": truth.dose_at_percent(5),
        "D2%[Gy]": truth.dose_at_percent(2),
        "D0.035cc[Gy]": truth.dose_at_volume_cc(0.035),
    }


@pytest.mark.parametrize("axis", [0, 1, 2], ids=["x", "y", "z"])
@pytest.mark.parametrize("name", list(OBJECTS))
def test_object_in_linear_gradient(tmp_path, name, axis):
    obj = OBJECTS[name]()
    truth = Truth(obj, axis, D0, G)
    got = _run(tmp_path, obj, axis)
    assert got.volume_cc == pytest.approx(truth.volume_cc, rel=VOLUME_TOL_REL)
    failures = []
    for label, value, expected in [
        ("Dmin", got.dmin_gy, truth.dmin),
        ("Dmax", got.dmax_gy, truth.dmax),
        ("Dmean", got.dmean_gy, truth.dmean),
    ] + [(m, got.metrics[m], v) for m, v in _figures(truth).items()]:
        if not _dose_ok(value, expected):
            failures.append(f"{label}: {value:.4f} Gy, truth {expected:.4f} Gy")
    assert not failures, f"{name} gradient {'xyz'[axis]}: " + "; ".join(failures)


def test_volume_at_dose_and_complement(tmp_path):
    obj = OBJECTS["sphere"]()
    truth = Truth(obj, 1, D0, G)
    folder = tmp_path / "v"
    folder.mkdir()
    contours = [(float(z), obj.contour(float(z))) for z in obj.planes]
    write_phantom(folder, {"OBJ": contours}, lambda x, y, z: D0 + G * y, (-40.13, -39.71, -41.37), (2.5, 2.5, 2.5), (34, 34, 34), with_plan=True, prescription=30.0)
    plan_sets, _ = load([folder])
    metrics = [parse_metric(m) for m in ("V33Gy[cc]", "V33Gy[%]", "CV27Gy[cc]", "V100%[%]", "D95%[%]")]
    s = analyze(plan_sets[0], metrics).structures[0]
    v33 = truth.v_at_least_cc(33.0)
    assert s.metrics["V33Gy[cc]"] == pytest.approx(v33, rel=0.01)
    assert s.metrics["V33Gy[%]"] == pytest.approx(100 * v33 / truth.volume_cc, rel=0.01)
    assert s.metrics["CV27Gy[cc]"] == pytest.approx(truth.volume_cc - truth.v_at_least_cc(27.0), rel=0.01)
    assert s.metrics["V100%[%]"] == pytest.approx(100 * truth.v_at_least_cc(30.0) / truth.volume_cc, rel=0.01)
    assert s.metrics["D95%[%]"] == pytest.approx(100 * truth.dose_at_percent(95) / 30.0, rel=0.01)


def test_oblique_gradient_box(tmp_path):
    """A box in D = D0 + G (x + z): the dose is a sum of two independent uniforms (trapezoid law)."""
    hx, hy, t = 10.0, 6.0, 2.0
    planes = np.arange(-9.0, 9.1, t)  # slabs cover z in [-10, 10]
    obj = box((hx, hy), planes, t)
    folder = tmp_path / "oblique"
    folder.mkdir()
    write_phantom(folder, {"OBJ": [(float(z), obj.contour(float(z))) for z in planes]}, lambda x, y, z: D0 + G * (x + z),
                  (-30.3, -30.6, -30.9), (2.5, 2.5, 2.5), (26, 26, 26))
    s = analyze(load([folder])[0][0], [parse_metric("D95%[Gy]"), parse_metric("D50%[Gy]"), parse_metric("V35Gy[%]")]).structures[0]
    a = G * 2 * hx  # width of the x-part (Gy)
    b = G * 20.0  # width of the z-part (Gy)
    lo = D0 - a / 2 - b / 2

    def fraction_at_least(d: float) -> float:
        # sum of U(0, a) and U(0, b): survival function of the trapezoid
        u = d - lo
        if u <= 0:
            return 1.0
        if u >= a + b:
            return 0.0
        small, big = min(a, b), max(a, b)
        if u < small:
            cdf = u * u / (2 * a * b)
        elif u < big:
            cdf = (small / 2 + (u - small)) / big
        else:
            w = a + b - u
            cdf = 1 - w * w / (2 * a * b)
        return 1 - cdf

    from scipy.optimize import brentq

    d95 = brentq(lambda d: fraction_at_least(d) - 0.95, lo, lo + a + b)
    assert s.metrics["D95%[Gy]"] == pytest.approx(d95, rel=0.01)
    assert s.metrics["D50%[Gy]"] == pytest.approx(D0, rel=0.005)
    assert s.metrics["V35Gy[%]"] == pytest.approx(100 * fraction_at_least(35.0), abs=0.5)
    assert s.dmin_gy == pytest.approx(lo, abs=0.02)
    assert s.dmax_gy == pytest.approx(lo + a + b, abs=0.02)


ORIENTATION_CASES = [("HFS", "relative", False), ("HFP", "relative", True), ("FFS", "absolute", False), ("FFP", "absolute", True),
                     ("HFDL", "relative", False), ("HFDR", "relative", True), ("FFDL", "absolute", False), ("FFDR", "relative", False)]


@pytest.mark.parametrize("orientation,offsets,decreasing", ORIENTATION_CASES)
def test_every_axial_orientation_gives_the_same_truth(tmp_path, orientation, offsets, decreasing):
    """The dose grid written in each orientation (and frame order) must give the analytical figures."""
    obj = OBJECTS["cone"]()
    for axis in (0, 1, 2):
        truth = Truth(obj, axis, D0, G)
        got = _run(tmp_path, obj, axis, orientation=orientation, offsets=offsets, decreasing_frames=decreasing)
        assert _dose_ok(got.metrics["D95%[Gy]"], truth.dose_at_percent(95)), (orientation, axis)
        assert _dose_ok(got.dmax_gy, truth.dmax), (orientation, axis)
        assert _dose_ok(got.dmean_gy, truth.dmean), (orientation, axis)
