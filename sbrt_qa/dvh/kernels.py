"""numba kernels of the DVH engine.

Volume model
------------
Each contour plane p stands for a slab ``[zlo[p], zhi[p]]`` of the structure (one
contour spacing thick, centred on the plane; the end planes thus get half-slice
caps). Within a slab the structure is the plane's polygons (even-odd rule)
extruded along z.

Sampling
--------
In-plane, the slab is divided on a sub-grid aligned with the dose voxels (``s x s``
sub-cells per voxel). Each sub-cell carries the exact area of the polygons inside it
(signed-area accumulation, even-odd rule through contour orientation), so partial
volumes are exact and the sampled volume equals the planimetric volume.

Along z no sampling is needed: trilinear interpolation is linear in z between dose
frames, so the dose along a sub-cell's column through the slab is a set of linear
pieces, each a uniform distribution of dose between its end values. The in-plane
spread of dose across a sub-cell (from the local bilinear gradient) is folded into
that uniform distribution by matching variances. Pure in-plane or pure z gradients
are therefore represented exactly.

Histogram
---------
Uniform dose distributions are accumulated exactly into a cumulative histogram on
fixed dose edges (``bin_width`` Gy apart) through two difference arrays (slope and
offset). The cumulative DVH is then exact at every edge for the z part and
piecewise linear between edges.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_TINY = 1e-12


@nb.njit(cache=True, nogil=True)
def _draw_edge(acc, ax, ay, bx, by, sign):
    """Accumulate one polygon edge's signed area into a coverage buffer (cell units).

    After a running sum along each row, ``|sum|`` is the exact fraction of each cell
    covered by the polygon (signed-area accumulation, as in font rasterisers).
    """
    if abs(ay - by) <= 1e-15:
        return
    if ay < by:
        d_dir = sign
        x_0, y_0, x_1, y_1 = ax, ay, bx, by
    else:
        d_dir = -sign
        x_0, y_0, x_1, y_1 = bx, by, ax, ay
    dxdy = (x_1 - x_0) / (y_1 - y_0)
    x = x_0
    n_rows = acc.shape[0]
    for yi in range(int(math.floor(y_0)), min(int(math.ceil(y_1)), n_rows)):
        dy = min(yi + 1.0, y_1) - max(float(yi), y_0)
        xnext = x + dxdy * dy
        d = dy * d_dir
        if x < xnext:
            xa = x
            xb = xnext
        else:
            xa = xnext
            xb = x
        xaf = math.floor(xa)
        xai = int(xaf)
        xbc = math.ceil(xb)
        xbi = int(xbc)
        if xbi <= xai + 1:
            xmf = 0.5 * (x + xnext) - xaf
            acc[yi, xai] += d - d * xmf
            acc[yi, xai + 1] += d * xmf
        else:
            inv = 1.0 / (xb - xa)
            x0f = xa - xaf
            a0 = 0.5 * inv * (1.0 - x0f) * (1.0 - x0f)
            x1f = xb - xbc + 1.0
            am = 0.5 * inv * x1f * x1f
            acc[yi, xai] += d * a0
            if xbi == xai + 2:
                acc[yi, xai + 1] += d * (1.0 - a0 - am)
            else:
                a1 = inv * (1.5 - x0f)
                acc[yi, xai + 1] += d * (a1 - a0)
                for xi in range(xai + 2, xbi - 1):
                    acc[yi, xi] += d * inv
                a2 = a1 + (xbi - xai - 3) * inv
                acc[yi, xbi - 1] += d * (1.0 - a2 - am)
            acc[yi, xbi] += d * am
        x = xnext


@nb.njit(cache=True, nogil=True)
def _contour_signs(xy, coff, c_start, c_end, signs):
    """Orientation factor per contour so that holes (odd nesting depth) subtract from islands."""
    for c in range(c_start, c_end):
        s = coff[c]
        e = coff[c + 1]
        a = 0.0
        for i in range(s, e):
            j = i + 1
            if j == e:
                j = s
            a += xy[i, 0] * xy[j, 1] - xy[j, 0] * xy[i, 1]
        depth = 0
        for c2 in range(c_start, c_end):
            if c2 != c and _point_in_polygon(xy[s, 0], xy[s, 1], xy, coff[c2], coff[c2 + 1]):
                depth += 1
        orient = 1.0 if a >= 0.0 else -1.0
        signs[c - c_start] = orient if depth % 2 == 0 else -orient


@nb.njit(cache=True, nogil=True)
def _point_in_polygon(x, y, xy, s, e):
    inside = False
    for p in range(s, e):
        q = p + 1
        if q == e:
            q = s
        y1 = xy[p, 1]
        y2 = xy[q, 1]
        if (y1 <= y < y2) or (y2 <= y < y1):
            xc = xy[p, 0] + (y - y1) * (xy[q, 0] - xy[p, 0]) / (y2 - y1)
            if x < xc:
                inside = not inside
    return inside


@nb.njit(cache=True)
def plane_areas(xy, coff, poff):
    """Area (mm^2) of each plane's polygons combined by the even-odd rule.

    A contour nested inside an odd number of the plane's other contours is a hole.
    """
    n_planes = poff.size - 1
    areas = np.zeros(n_planes)
    for p in range(n_planes):
        total = 0.0
        for c in range(poff[p], poff[p + 1]):
            s = coff[c]
            e = coff[c + 1]
            a = 0.0
            for i in range(s, e):
                j = i + 1
                if j == e:
                    j = s
                a += xy[i, 0] * xy[j, 1] - xy[j, 0] * xy[i, 1]
            a = abs(a) * 0.5
            depth = 0
            for c2 in range(poff[p], poff[p + 1]):
                if c2 != c and _point_in_polygon(xy[s, 0], xy[s, 1], xy, coff[c2], coff[c2 + 1]):
                    depth += 1
            if depth % 2 == 0:
                total += a
            else:
                total -= a
        areas[p] = max(total, 0.0)
    return areas


@nb.njit(cache=True, nogil=True)
def _cell_index(fx, fy, nx, ny):
    """Corner indices and weights of bilinear interpolation at fractional voxel index (fx, fy).

    Outside the outer voxel centres the index is clamped: the dose is constant over
    the outer half voxel.
    """
    fx = min(max(fx, 0.0), nx - 1.0)
    fy = min(max(fy, 0.0), ny - 1.0)
    i0 = int(fx)
    j0 = int(fy)
    i1 = i0 + 1 if i0 + 1 < nx else i0
    j1 = j0 + 1 if j0 + 1 < ny else j0
    return i0, i1, j0, j1, fx - i0, fy - j0


@nb.njit(cache=True, nogil=True)
def _bilinear(dose, k, fx, fy, nx, ny):
    """Bilinear dose on frame k at fractional voxel index (fx, fy)."""
    i0, i1, j0, j1, tx, ty = _cell_index(fx, fy, nx, ny)
    lo = dose[k, j0, i0] + (dose[k, j0, i1] - dose[k, j0, i0]) * tx
    hi = dose[k, j1, i0] + (dose[k, j1, i1] - dose[k, j1, i0]) * tx
    return lo + (hi - lo) * ty


@nb.njit(cache=True, nogil=True)
def _frame_index(zg, z):
    """Index k with zg[k] <= z < zg[k+1], clamped to [0, nz-2] (nz >= 2)."""
    lo = 0
    hi = zg.size - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if zg[mid] <= z:
            lo = mid
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True)
def _trilinear(dose, zg, x0, y0, dx, dy, x, y, z):
    nz, ny, nx = dose.shape
    fx = (x - x0) / dx
    fy = (y - y0) / dy
    if nz == 1 or z <= zg[0]:
        return _bilinear(dose, 0, fx, fy, nx, ny)
    if z >= zg[nz - 1]:
        return _bilinear(dose, nz - 1, fx, fy, nx, ny)
    k = _frame_index(zg, z)
    t = (z - zg[k]) / (zg[k + 1] - zg[k])
    v0 = _bilinear(dose, k, fx, fy, nx, ny)
    v1 = _bilinear(dose, k + 1, fx, fy, nx, ny)
    return v0 + (v1 - v0) * t


@nb.njit(cache=True, nogil=True)
def _slab_pieces(zg, zlo, zhi, piece_z, piece_k, piece_t):
    """Split [zlo, zhi] where the z-interpolation changes frames.

    Returns the number of pieces; piece i spans piece_z[i]..piece_z[i+1] and the dose
    at piece_z[i] (start) and at piece_z[i+1] (end) is frame piece_k[2i] / piece_k[2i+1]
    interpolated with weights piece_t (same layout).
    """
    nz = zg.size
    n = 0
    za = zlo
    while za < zhi - 1e-12 and n < piece_k.shape[0] // 2:
        if nz == 1 or za < zg[0]:
            zb = zhi if nz == 1 else min(zhi, zg[0])
            k0 = 0
            k1 = 0
            ta = 0.0
            tb = 0.0
        elif za >= zg[nz - 1]:
            zb = zhi
            k0 = nz - 1
            k1 = nz - 1
            ta = 0.0
            tb = 0.0
        else:
            k = _frame_index(zg, za)
            zb = min(zhi, zg[k + 1])
            k0 = k
            k1 = k + 1
            span = zg[k + 1] - zg[k]
            ta = (za - zg[k]) / span
            tb = (zb - zg[k]) / span
        piece_z[n] = za
        piece_z[n + 1] = zb
        piece_k[2 * n] = k0
        piece_k[2 * n + 1] = k1
        piece_t[2 * n] = ta
        piece_t[2 * n + 1] = tb
        n += 1
        za = zb
    return n


@nb.njit(cache=True, nogil=True)
def _draw_clamped_edge(acc, ax, ay, bx, by, sign, width, height):
    """Draw an edge clamped pointwise to the window [0, width] x [0, height] (cell units).

    Coverage inside the window depends on an edge only through the part of the edge
    inside it (rows) and on which side of each cell it passes (columns): the parts of an
    edge left of the window count as if on its left border, parts right of it not at all,
    parts above or below it are horizontal after clamping and add nothing. The edge is
    split where it crosses a window line, and each piece drawn between its clamped ends.
    """
    ts = np.empty(6)
    ts[0] = 0.0
    n = 1
    ddx = bx - ax
    ddy = by - ay
    if ddx != 0.0:
        for line in (0.0, float(width)):
            t = (line - ax) / ddx
            if 0.0 < t < 1.0:
                ts[n] = t
                n += 1
    if ddy != 0.0:
        for line in (0.0, float(height)):
            t = (line - ay) / ddy
            if 0.0 < t < 1.0:
                ts[n] = t
                n += 1
    ts[n] = 1.0
    n += 1
    ts[:n].sort()
    for i in range(n - 1):
        t0 = ts[i]
        t1 = ts[i + 1]
        if t1 <= t0:
            continue
        _draw_edge(
            acc,
            min(max(ax + ddx * t0, 0.0), float(width)), min(max(ay + ddy * t0, 0.0), float(height)),
            min(max(ax + ddx * t1, 0.0), float(width)), min(max(ay + ddy * t1, 0.0), float(height)),
            sign,
        )


@nb.njit(cache=True, nogil=True)
def _window_index(v, lo, hi):
    """Sub-cell index of coordinate v (in sub-cells), clamped to [lo, hi] before the integer conversion."""
    return int(min(max(v, float(lo)), float(hi)))


@nb.njit(cache=True, nogil=True)
def _slab_coverage(xy, coff, c_start, c_end, ex0, ey0, hx, hy, grid_cols, grid_rows):
    """Exact coverage of the plane's sub-cells by its polygons, before the running sum along rows.

    The buffer spans the polygons' bounding box clipped to the dose grid's sub-cells
    (``grid_cols`` x ``grid_rows``) plus one sub-cell around it, so a contour reaching far
    beyond the grid costs no more than the grid. Returns the buffer, the sub-cell index
    (ix0, iy0) of its first column and row, and whether the bounding box was clipped.
    """
    v_start = coff[c_start]
    v_end = coff[c_end]
    xmin = xy[v_start, 0]
    xmax = xmin
    ymin = xy[v_start, 1]
    ymax = ymin
    for v in range(v_start, v_end):
        xmin = min(xmin, xy[v, 0])
        xmax = max(xmax, xy[v, 0])
        ymin = min(ymin, xy[v, 1])
        ymax = max(ymax, xy[v, 1])
    bx0 = np.floor((xmin - ex0) / hx)  # floats: a far coordinate must not overflow an integer
    by0 = np.floor((ymin - ey0) / hy)
    bx1 = np.ceil((xmax - ex0) / hx)
    by1 = np.ceil((ymax - ey0) / hy)
    clipped = bx0 < -1 or by0 < -1 or bx1 > grid_cols + 1 or by1 > grid_rows + 1
    ix0 = _window_index(bx0, -1, grid_cols + 1)
    iy0 = _window_index(by0, -1, grid_rows + 1)
    n_cols = _window_index(bx1, -1, grid_cols + 1) - ix0 + 1
    n_rows = _window_index(by1, -1, grid_rows + 1) - iy0 + 1
    acc_cov = np.zeros((n_rows, n_cols + 3))
    signs = np.empty(c_end - c_start)
    _contour_signs(xy, coff, c_start, c_end, signs)
    for c in range(c_start, c_end):
        s0 = coff[c]
        e0 = coff[c + 1]
        sign = signs[c - c_start]
        for q in range(s0, e0):
            r = q + 1
            if r == e0:
                r = s0
            ax = (xy[q, 0] - ex0) / hx - ix0
            ay = (xy[q, 1] - ey0) / hy - iy0
            bx = (xy[r, 0] - ex0) / hx - ix0
            by = (xy[r, 1] - ey0) / hy - iy0
            if clipped:
                _draw_clamped_edge(acc_cov, ax, ay, bx, by, sign, n_cols, n_rows)
            else:
                _draw_edge(acc_cov, ax, ay, bx, by, sign)
    return acc_cov, ix0, iy0, clipped


@nb.njit(cache=True, nogil=True)
def _sample_slab(
    p, dose, zg, zmin, zmax, x0, y0, dx, dy, xy, coff, poff, zlo_arr, zhi_arr, area_arr, s,
    hist, inv_bw, top, st, piece_z, piece_k, piece_t,
):
    """Sample one slab and add its dose distribution to one accumulator row.

    ``hist[:, 0]`` and ``hist[:, 1]`` are the slope and offset difference arrays of the
    cumulative histogram (interleaved, so one uniform distribution touches two cache
    lines). ``st`` holds: 0 volume inside the grid, 1 volume outside, 2 sum of
    volume x dose, 3 min dose, 4 max dose.

    The per-sub-cell work is written out here: as separate functions taking a
    score of array arguments it ran 2.9 times slower, and cell by cell (rather than
    in the row passes below) 1.7 times slower.
    """
    nz, ny, nx = dose.shape
    c_start = poff[p]
    c_end = poff[p + 1]
    zlo = zlo_arr[p]
    zhi = zhi_arr[p]
    thick = zhi - zlo
    if area_arr[p] <= 0.0 or thick <= 0.0:
        return
    hx = dx / s
    hy = dy / s
    ex0 = x0 - 0.5 * dx  # sub-grid edges aligned with the dose voxels
    ey0 = y0 - 0.5 * dy
    gx_hi = x0 + (nx - 0.5) * dx
    gy_hi = y0 + (ny - 0.5) * dy

    # z: the part of the slab within the grid, split into linear pieces
    za = max(zlo, zmin)
    zb = min(zhi, zmax)
    n_pieces = 0
    if zb > za:
        n_pieces = _slab_pieces(zg, za, zb, piece_z, piece_k, piece_t)
    inside_len = max(zb - za, 0.0)
    k_first = nz
    k_last = -1
    for i in range(2 * n_pieces):
        k_first = min(k_first, piece_k[i])
        k_last = max(k_last, piece_k[i])

    acc_cov, ix0, iy0, clipped = _slab_coverage(xy, coff, c_start, c_end, ex0, ey0, hx, hy, nx * s, ny * s)
    cell_area = hx * hy
    sx = hx / dx
    sy = hy / dy
    bw = 1.0 / inv_bw
    w_sum = 0.0
    wd_sum = 0.0
    dmin = st[3]
    dmax = st[4]
    outside = 0.0
    window_mm2 = 0.0  # covered area within the coverage buffer
    # One row of sub-cells at a time, in passes: the covered cells; the dose and
    # in-plane spread on each frame; each z piece's uniform distribution. The frame
    # and piece passes have no loop-carried dependence, so LLVM vectorises them;
    # only the scatter into the histogram stays scalar.
    width = acc_cov.shape[1]
    n_frames = max(k_last - k_first + 1, 1)
    cell_mm2 = np.empty(width)
    cell_fx = np.empty(width)  # fractional voxel index along x of each cell centre
    frame_dose = np.empty((n_frames, width))
    frame_spread2 = np.empty((n_frames, width))
    lo_dose = np.empty(width)
    hi_dose = np.empty(width)
    mid_dose = np.empty(width)
    end_min = np.empty(width)
    end_max = np.empty(width)
    for j in range(acc_cov.shape[0]):
        yc = ey0 + (iy0 + j + 0.5) * hy
        row_in = ey0 <= yc <= gy_hi and n_pieces > 0
        # bilinear interpolation rows; outside the outer voxel centres the dose is
        # constant over the outer half voxel
        fy = min(max((yc - y0) / dy, 0.0), ny - 1.0)
        j0 = int(fy)
        j1 = j0 + 1 if j0 + 1 < ny else j0
        ty = fy - j0
        run = 0.0
        m = 0
        for i in range(width):
            run += acc_cov[j, i]
            cov = abs(run)
            if cov < 1e-12:
                continue
            cell = min(cov, 1.0) * cell_area
            window_mm2 += cell
            xc = ex0 + (ix0 + i + 0.5) * hx
            if not row_in or xc < ex0 or xc > gx_hi:
                outside += cell * thick
                continue
            outside += cell * (thick - inside_len)
            cell_mm2[m] = cell
            cell_fx[m] = min(max((xc - x0) / dx, 0.0), nx - 1.0)
            m += 1
        if m == 0:
            continue
        for r in range(k_last - k_first + 1):
            row0 = dose[k_first + r, j0]
            row1 = dose[k_first + r, j1]
            f_dose = frame_dose[r]
            f_spread2 = frame_spread2[r]
            for t in range(m):
                i0 = int(cell_fx[t])
                i1 = min(i0 + 1, nx - 1)
                tx = cell_fx[t] - i0
                d00 = row0[i0]
                d01 = row0[i1]
                d10 = row1[i0]
                d11 = row1[i1]
                lo = d00 + (d01 - d00) * tx
                hi = d10 + (d11 - d10) * tx
                f_dose[t] = lo + (hi - lo) * ty
                gx = ((d01 - d00) * (1.0 - ty) + (d11 - d10) * ty) * sx
                gy = (hi - lo) * sy
                # in-plane dose spread across the sub-cell (variance of a linear field over a rectangle)
                f_spread2[t] = gx * gx + gy * gy
        for q in range(n_pieces):
            length = piece_z[q + 1] - piece_z[q]
            if length <= 0.0:
                continue
            dose_a = frame_dose[piece_k[2 * q] - k_first]
            dose_b = frame_dose[piece_k[2 * q + 1] - k_first]
            spread2_a = frame_spread2[piece_k[2 * q] - k_first]
            spread2_b = frame_spread2[piece_k[2 * q + 1] - k_first]
            ta = piece_t[2 * q]
            tb = piece_t[2 * q + 1]
            for t in range(m):
                step = dose_b[t] - dose_a[t]
                da = dose_a[t] + step * ta
                db = dose_a[t] + step * tb
                mid = 0.5 * (da + db)
                half = 0.5 * math.sqrt((db - da) * (db - da) + 0.5 * (spread2_a[t] + spread2_b[t]))
                lo_dose[t] = min(max(mid - half, 0.0), top)
                hi_dose[t] = min(max(mid + half, 0.0), top)
                mid_dose[t] = mid
                end_min[t] = min(da, db)
                end_max[t] = max(da, db)
            for t in range(m):
                w = cell_mm2[t] * length
                w_sum += w
                wd_sum += w * mid_dose[t]
                dmin = min(dmin, end_min[t])
                dmax = max(dmax, end_max[t])
                # mass w spread uniformly over doses [a, b], into the difference arrays
                a = lo_dose[t]
                b = hi_dose[t]
                ja = int(a * inv_bw)
                jb = int(b * inv_bw)
                if jb == ja or b - a < 1e-9:
                    hist[ja + 1, 1] += w
                else:
                    c = w / (b - a)
                    hist[ja + 1, 0] += c
                    hist[ja + 1, 1] += c * ((ja + 1) * bw - a)
                    hist[jb + 1, 0] -= c
                    hist[jb + 1, 1] -= c * ((jb + 1) * bw - b)
    if clipped:  # the polygons' area beyond the clipped buffer lies outside the grid, through the whole slab
        outside += max(area_arr[p] - window_mm2, 0.0) * thick
    st[0] += w_sum
    st[1] += outside
    st[2] += wd_sum
    st[3] = dmin
    st[4] = dmax


@nb.njit(cache=True, nogil=True)
def _vertex_extremes(p, dose, zg, zmin, zmax, x0, y0, dx, dy, xy, coff, poff, zlo_arr, zhi_arr, row, stats):
    """Dose at the polygon vertices on the slab's end faces: Dmin/Dmax at the true extent."""
    nz, ny, nx = dose.shape
    za = max(zlo_arr[p], zmin)
    zb = min(zhi_arr[p], zmax)
    if zb < za:
        return
    gx_lo = x0 - 0.5 * dx
    gx_hi = x0 + (nx - 0.5) * dx
    gy_lo = y0 - 0.5 * dy
    gy_hi = y0 + (ny - 0.5) * dy
    for v in range(coff[poff[p]], coff[poff[p + 1]]):
        x = xy[v, 0]
        y = xy[v, 1]
        if x < gx_lo or x > gx_hi or y < gy_lo or y > gy_hi:
            continue
        for zz in (za, zb):
            d = _trilinear(dose, zg, x0, y0, dx, dy, x, y, zz)
            if d < stats[row, 3]:
                stats[row, 3] = d
            if d > stats[row, 4]:
                stats[row, 4] = d


@nb.njit(cache=True, parallel=True)
def accumulate_structure(dose, zg, zmin, zmax, x0, y0, dx, dy, xy, coff, poff, zlo, zhi, areas, s, bw, n_edges, n_rows):
    """Cumulative dose-volume accumulation for one structure.

    Parameters
    ----------
    dose : float32 array (nz, ny, nx)
        Dose in Gy, axes increasing in patient z, y, x.
    zg : float64 array (nz,)
        Frame z coordinates (mm), increasing.
    zmin, zmax : float
        z extent of the grid (mm).
    x0, y0, dx, dy : float
        First voxel centre and spacing (mm).
    xy, coff, poff : arrays
        Packed polygons (see :class:`sbrt_qa.load.rtstruct.ROI`).
    zlo, zhi : float64 arrays (n_planes,)
        Slab bounds of each plane (mm).
    areas : float64 array (n_planes,)
        Polygon area of each plane (mm^2).
    s : int
        Sub-cells per voxel along x and y.
    bw : float
        Dose bin width (Gy).
    n_edges : int
        Number of dose edges (0, bw, 2 bw, ...).
    n_rows : int
        Independent accumulator rows: plane p goes to row ``p % n_rows``. The caller
        fixes it from the plane count, never the thread count, and the rows are
        summed in index order, so the result is bit-identical on any number of threads.

    Returns
    -------
    below : float64 array (n_edges,)
        Volume (mm^3) receiving less than each edge dose.
    stats : float64 array (5,)
        Volume inside the grid, volume outside, sum of volume x dose, Dmin, Dmax.
    """
    n_planes = poff.size - 1
    hist = np.zeros((n_rows, n_edges + 2, 2))  # slope and offset difference arrays
    stats = np.zeros((n_rows, 5))
    top = (n_edges - 1.5) * bw  # keeps every edge index inside the arrays
    max_pieces = 8
    for r in range(n_rows):
        stats[r, 3] = np.inf
        stats[r, 4] = -np.inf
    if n_planes > 0:
        dzg = 1e30
        for k in range(zg.size - 1):
            if zg[k + 1] - zg[k] < dzg:
                dzg = zg[k + 1] - zg[k]
        thickest = 0.0
        for p in range(n_planes):
            if zhi[p] - zlo[p] > thickest:
                thickest = zhi[p] - zlo[p]
        if zg.size > 1:
            # a slab within the grid crosses at most every frame interval, whatever its thickness
            max_pieces = zg.size + 4 if thickest / dzg > zg.size else int(thickest / dzg) + 4
    done = np.zeros(n_rows, dtype=np.int64)
    for r in nb.prange(n_rows):
        piece_z = np.empty(max_pieces + 1)
        piece_k = np.empty(2 * max_pieces, dtype=np.int64)
        piece_t = np.empty(2 * max_pieces)
        for p in range(r, n_planes, n_rows):
            _sample_slab(p, dose, zg, zmin, zmax, x0, y0, dx, dy, xy, coff, poff, zlo, zhi, areas, s,
                         hist[r], 1.0 / bw, top, stats[r], piece_z, piece_k, piece_t)
            _vertex_extremes(p, dose, zg, zmin, zmax, x0, y0, dx, dy, xy, coff, poff, zlo, zhi, r, stats)
            done[r] += 1
    # An exception inside a parallel loop (an allocation that failed) ends that chunk without a
    # word: the planes it skipped would be missing from the figures. Count them and fail instead.
    if done.sum() != n_planes:
        raise MemoryError("the DVH kernel could not complete every contour plane (memory exhausted)")
    below = np.zeros(n_edges)
    g = 0.0
    slope_sum = 0.0
    for i in range(n_edges):
        run_off = 0.0
        run_slope = 0.0
        for r in range(n_rows):
            run_slope += hist[r, i, 0]
            run_off += hist[r, i, 1]
        g += slope_sum * bw + run_off
        slope_sum += run_slope
        below[i] = g
    total = np.zeros(5)
    total[3] = np.inf
    total[4] = -np.inf
    for r in range(n_rows):
        total[0] += stats[r, 0]
        total[1] += stats[r, 1]
        total[2] += stats[r, 2]
        if stats[r, 3] < total[3]:
            total[3] = stats[r, 3]
        if stats[r, 4] > total[4]:
            total[4] = stats[r, 4]
    return below, total


@nb.njit(cache=True)
def point_doses(dose, zg, x0, y0, dx, dy, pts):
    """Trilinear dose at each point (x, y, z), NaN outside the grid's voxel footprint."""
    nz, ny, nx = dose.shape
    out = np.empty(pts.shape[0])
    for i in range(pts.shape[0]):
        x = pts[i, 0]
        y = pts[i, 1]
        z = pts[i, 2]
        if x < x0 - 0.5 * dx or x > x0 + (nx - 0.5) * dx or y < y0 - 0.5 * dy or y > y0 + (ny - 0.5) * dy:
            out[i] = np.nan
        else:
            out[i] = _trilinear(dose, zg, x0, y0, dx, dy, x, y, z)
    return out
