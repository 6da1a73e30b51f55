"""Typed SBRT indices carry the engine's values, not the JSON report's rounded ones (issue 13).

Closed form, independent of the code under test: a PTV box 30 x 30 x 30 mm (square
contours on 15 planes 2 mm apart: 27 cc under the slab model) inside a cube of 14 x 14 x 14
dose voxels (2.5 mm) at 32 Gy, 0 Gy elsewhere; 30 Gy in 1 fraction (RTOG 0915 arm), no
BODY, so the isodose volumes are counted over the dose grid: PIV = V50% = 14^3 x 2.5^3 mm^3
= 42.875 cc. The whole PTV lies at 32 Gy (its faces are 1.25 mm inside the last 32 Gy voxel
centre), so TV_PIV = 27 cc. Hence R100% = R50% = 42.875 / 27 = 1.58796296296..., Paddick
CI = 27^2 / (27 x 42.875) = 0.62973760932..., Paddick GI = 1. Rounded to the JSON's 6
decimals R100% would be 1.587963 (3.7e-8 off): the typed value must be the exact one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write_phantom
from sbrt_qa import PlanQA
from sbrt_qa.cli.main import main

PIV_CC, PTV_CC = 14**3 * 2.5**3 / 1000.0, 27.0


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    folder = tmp_path_factory.mktemp("indices")
    square = np.array([[-15.0, -15.0], [15.0, -15.0], [15.0, 15.0], [-15.0, 15.0]])
    planes = [(float(z), square) for z in np.arange(-14.0, 14.1, 2.0)]
    inside = 14 * 2.5 / 2  # the 32 Gy voxels' outer faces; their centres reach +-16.25 mm

    def dose(x, y, z):
        return np.where((np.abs(x) < inside) & (np.abs(y) < inside) & (np.abs(z) < inside), 32.0, 0.0)

    # voxel centres at +-1.25, +-3.75 ... mm: 14 of them inside +-17.5 mm on each axis
    write_phantom(folder, {"PTV": planes}, dose, (-38.75, -38.75, -38.75), (2.5, 2.5, 2.5), (32, 32, 32),
                  with_plan=True, prescription=30.0, fractions=1)
    return folder


def test_typed_indices_are_the_engines_unrounded_values(cube, capsys):
    result = PlanQA.from_folder(cube).check(protocol="rtog0915-conformity")
    (key, typed), = result.indices.items()
    assert typed.isodose_region == "dose grid"
    assert typed.ptv_cc == pytest.approx(PTV_CC, rel=1e-12)
    assert typed.piv_cc == pytest.approx(PIV_CC, rel=1e-12)
    assert typed.tv_piv_cc == pytest.approx(PTV_CC, rel=1e-9)
    assert typed.r100 == pytest.approx(PIV_CC / PTV_CC, rel=1e-9)
    assert typed.r50 == pytest.approx(PIV_CC / PTV_CC, rel=1e-9)
    assert typed.paddick_ci == pytest.approx(PTV_CC / PIV_CC, rel=1e-9)
    assert typed.paddick_gi == pytest.approx(1.0, rel=1e-12)
    assert abs(round(PIV_CC / PTV_CC, 6) - PIV_CC / PTV_CC) > 1e-8 and typed.r100 != round(typed.r100, 6)
    # the JSON report rounds, at rendering only, and the API's results_data is still that report
    assert main(["check", str(cube), "--protocol", "rtog0915-conformity", "--format", "json"]) in (0, 1)
    reported = json.loads(capsys.readouterr().out)["plans"][0]["indices"][key]
    assert reported["r100"] == round(PIV_CC / PTV_CC, 6) == result.results_data(as_dict=True)["indices"][key]["r100"]
    r100 = next(c for c in result.constraints if c.metric.startswith("R100%"))
    assert r100.value == typed.r100  # the constraint was judged on the same unrounded value
