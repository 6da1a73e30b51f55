"""Analytical test objects and their closed-form DVH truth under the slab volume model.

Every object is a stack of identical-thickness slabs: the contour on plane z_k
extruded over [z_k - t/2, z_k + t/2]. In a linear dose field D = D0 + g . r the
cumulative DVH of each slab has a closed form (or a one-dimensional integral that
scipy evaluates), so the truth here never touches the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import integrate, optimize


def disk_segment_area(r: float, h: float) -> float:
    """Area of the part of a disk of radius r with coordinate >= h along an in-plane axis."""
    if h <= -r:
        return np.pi * r * r
    if h >= r:
        return 0.0
    return r * r * np.arccos(h / r) - h * np.sqrt(r * r - h * h)


@dataclass
class SlabObject:
    """An analytical object: plane positions, thickness, per-plane contour and per-plane truth.

    Attributes
    ----------
    planes : numpy.ndarray
        Contour plane z (mm).
    thickness : float
        Contour spacing t (mm); each plane's slab is t thick.
    contour : callable
        z -> (N, 2) polygon vertices for that plane.
    area : callable
        z -> exact cross-section area (mm^2).
    volume_above : callable
        (z, axis, h) -> volume of the plane's slab with coordinate >= h along axis 0 (x), 1 (y), 2 (z).
    extent : callable
        (z, axis) -> (lowest, highest) coordinate of the plane's slab along axis.
    """

    planes: np.ndarray
    thickness: float
    contour: Callable[[float], np.ndarray]
    area: Callable[[float], float]
    volume_above: Callable[[float, int, float], float]
    extent: Callable[[float, int], tuple[float, float]]

    def volume_mm3(self) -> float:
        return float(sum(self.area(z) * self.thickness for z in self.planes))

    def v_at_least(self, axis: int, h: float) -> float:
        return float(sum(self.volume_above(z, axis, h) for z in self.planes))

    def range(self, axis: int) -> tuple[float, float]:
        ext = [self.extent(z, axis) for z in self.planes]
        return min(e[0] for e in ext), max(e[1] for e in ext)


def _z_part(z: float, t: float, h: float) -> float:
    """Fraction of the slab [z - t/2, z + t/2] with z >= h, times t."""
    return float(np.clip(z + t / 2 - h, 0.0, t))


def disk_stack(radius_at: Callable[[float], float], planes: np.ndarray, t: float, n_points: int = 720, cx: float = 0.0, cy: float = 0.0) -> SlabObject:
    """Objects whose sections are disks: sphere, cylinder and cone with their axis along z."""
    ang = np.linspace(0, 2 * np.pi, n_points, endpoint=False)

    def contour(z: float) -> np.ndarray:
        r = radius_at(z)
        return np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])

    def area(z: float) -> float:
        r = radius_at(z)
        # the polygon's area, exactly: the truth is for what is contoured
        return 0.5 * n_points * r * r * np.sin(2 * np.pi / n_points)

    def volume_above(z: float, axis: int, h: float) -> float:
        r = radius_at(z)
        if axis == 2:
            return area(z) * _z_part(z, t, h)
        centre = cx if axis == 0 else cy
        return t * disk_segment_area(r, h - centre) * area(z) / (np.pi * r * r)

    def extent(z: float, axis: int) -> tuple[float, float]:
        r = radius_at(z)
        if axis == 2:
            return z - t / 2, z + t / 2
        centre = cx if axis == 0 else cy
        return centre - r, centre + r

    return SlabObject(planes, t, contour, area, volume_above, extent)


def sphere(radius: float, t: float, zc: float = 0.0) -> SlabObject:
    k = int(np.floor(radius / t - 1e-9))
    planes = zc + t * np.arange(-k, k + 1)
    return disk_stack(lambda z: np.sqrt(radius**2 - (z - zc) ** 2), planes, t)


def cylinder(radius: float, half_length: float, t: float) -> SlabObject:
    planes = np.arange(-half_length, half_length + 1e-9, t)
    return disk_stack(lambda z: radius, planes, t)


def cone(base_radius: float, height: float, t: float, z_base: float) -> SlabObject:
    """Cone on the axis z: base at z_base, apex at z_base + height (the apex plane is left out)."""
    planes = np.arange(z_base, z_base + height - 1e-9, t)
    return disk_stack(lambda z: base_radius * (1 - (z - z_base) / height), planes, t)


def rotated_cylinder(radius: float, half_length: float, t: float) -> SlabObject:
    """Cylinder with its axis along x: each axial section is a rectangle."""
    k = int(np.floor(radius / t - 1e-9))
    planes = t * np.arange(-k, k + 1)

    def w(z: float) -> float:
        return float(np.sqrt(radius**2 - z**2))

    def contour(z: float) -> np.ndarray:
        return np.array([[-half_length, -w(z)], [half_length, -w(z)], [half_length, w(z)], [-half_length, w(z)]])

    def area(z: float) -> float:
        return 2 * half_length * 2 * w(z)

    def volume_above(z: float, axis: int, h: float) -> float:
        if axis == 2:
            return area(z) * _z_part(z, t, h)
        half = half_length if axis == 0 else w(z)
        other = 2 * w(z) if axis == 0 else 2 * half_length
        return t * other * float(np.clip(half - h, 0.0, 2 * half))

    def extent(z: float, axis: int) -> tuple[float, float]:
        if axis == 2:
            return z - t / 2, z + t / 2
        half = half_length if axis == 0 else w(z)
        return -half, half

    return SlabObject(planes, t, contour, area, volume_above, extent)


def rotated_cone(base_radius: float, height: float, t: float, y_base: float, n_side: int = 600) -> SlabObject:
    """Cone with its axis along y (base at y_base, apex at y_base + height).

    An axial section at z is bounded by x = +-sqrt(r(y)^2 - z^2), r(y) = R (1 - (y - y_base) / H):
    its area and partial volumes are integrals that scipy's quad evaluates.
    """
    k = int(np.floor(base_radius / t - 1e-9))
    planes = t * np.arange(-k, k + 1)
    R, H = base_radius, height

    def r(y: float) -> float:
        return R * (1 - (y - y_base) / H)

    def y_end(z: float) -> float:
        return y_base + H * (1 - abs(z) / R)

    def half_width(y: float, z: float) -> float:
        return float(np.sqrt(max(r(y) ** 2 - z * z, 0.0)))

    def contour(z: float) -> np.ndarray:
        ys = np.linspace(y_base, y_end(z), n_side)
        xs = np.array([half_width(y, z) for y in ys])
        return np.concatenate([np.column_stack([xs, ys]), np.column_stack([-xs[::-1], ys[::-1]])])

    def polygon_area(z: float) -> float:
        p = contour(z)
        x, y = p[:, 0], p[:, 1]
        return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))

    def area(z: float) -> float:
        return polygon_area(z)

    def volume_above(z: float, axis: int, h: float) -> float:
        if axis == 2:
            return area(z) * _z_part(z, t, h)
        if axis == 1:
            lo = max(h, y_base)
            if lo >= y_end(z):
                return 0.0
            value = integrate.quad(lambda y: 2 * half_width(y, z), lo, y_end(z), limit=200)[0]
            return t * value
        # axis 0: width in y of the section at abscissa x is the set of y with r(y) >= sqrt(x^2 + z^2)
        def length_at(x: float) -> float:
            rr = np.sqrt(x * x + z * z)
            return max(0.0, H * (1 - rr / R))

        w0 = float(np.sqrt(max(R * R - z * z, 0.0)))
        lo = max(h, -w0)
        if lo >= w0:
            return 0.0
        return t * integrate.quad(length_at, lo, w0, limit=200)[0]

    def extent(z: float, axis: int) -> tuple[float, float]:
        if axis == 2:
            return z - t / 2, z + t / 2
        if axis == 1:
            return y_base, y_end(z)
        w0 = float(np.sqrt(max(R * R - z * z, 0.0)))
        return -w0, w0

    return SlabObject(planes, t, contour, area, volume_above, extent)


def box(half: tuple[float, float], z_planes: np.ndarray, t: float, center: tuple[float, float] = (0.0, 0.0)) -> SlabObject:
    """Rectangular sections (half-widths in x and y) on the given planes."""
    hx, hy = half
    cx, cy = center

    def contour(z: float) -> np.ndarray:
        return np.array([[cx - hx, cy - hy], [cx + hx, cy - hy], [cx + hx, cy + hy], [cx - hx, cy + hy]])

    def area(z: float) -> float:
        return 4 * hx * hy

    def volume_above(z: float, axis: int, h: float) -> float:
        if axis == 2:
            return area(z) * _z_part(z, t, h)
        c, half_w, other = (cx, hx, 2 * hy) if axis == 0 else (cy, hy, 2 * hx)
        return t * other * float(np.clip(c + half_w - h, 0.0, 2 * half_w))

    def extent(z: float, axis: int) -> tuple[float, float]:
        if axis == 2:
            return z - t / 2, z + t / 2
        return (cx - hx, cx + hx) if axis == 0 else (cy - hy, cy + hy)

    return SlabObject(np.asarray(z_planes, dtype=float), t, contour, area, volume_above, extent)


@dataclass
class Truth:
    """Closed-form DVH truth of an object in D = d0 + g * coordinate[axis] (g > 0)."""

    obj: SlabObject
    axis: int
    d0: float
    g: float

    @property
    def volume_cc(self) -> float:
        return self.obj.volume_mm3() / 1000.0

    def v_at_least_cc(self, dose: float) -> float:
        return self.obj.v_at_least(self.axis, (dose - self.d0) / self.g) / 1000.0

    @property
    def dmin(self) -> float:
        return self.d0 + self.g * self.obj.range(self.axis)[0]

    @property
    def dmax(self) -> float:
        return self.d0 + self.g * self.obj.range(self.axis)[1]

    def dose_at_volume_cc(self, v_cc: float) -> float:
        return optimize.brentq(lambda d: self.v_at_least_cc(d) - v_cc, self.dmin, self.dmax, xtol=1e-10)

    def dose_at_percent(self, pct: float) -> float:
        return self.dose_at_volume_cc(self.volume_cc * pct / 100.0)

    @property
    def dmean(self) -> float:
        # mean dose = Dmin + integral of V(>=D)/V over D
        integral = integrate.quad(lambda d: self.v_at_least_cc(d), self.dmin, self.dmax, limit=400)[0]
        return self.dmin + integral / self.volume_cc
