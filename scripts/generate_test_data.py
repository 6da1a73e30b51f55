"""Write the bundled test plans into test_data/ and the demo plan into sbrt_qa/demo/ (both committed).

Re-run after changing sbrt_qa.synthetic.

Usage: python scripts/generate_test_data.py [OUT_DIR]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sbrt_qa.synthetic.phantoms import BUNDLED, PhantomPlan, sbrt_variant

DEMO_DIR = Path(__file__).resolve().parents[1] / "sbrt_qa" / "demo"


def demo_plan() -> PhantomPlan:
    """The plan shipped in the wheel: the compact thoracic SBRT plan, cord 5 mm behind the PTV.

    Its ROIs carry the trial protocol's own role names, so the demo shows a check, not matching.
    """
    plan = sbrt_variant("SBRT_DEMO")
    names = {"PTV": "PTV_3000", "PGTV": "PTV_3500", "Spinal Cord": "SpinalCord"}
    for organ in plan.organs:
        organ.name = names.get(organ.name, organ.name)
    return plan


def main(out: str = "test_data") -> None:
    root = Path(out)
    for name, build in BUNDLED.items():
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        paths = build().write(folder)
        size = sum(p.stat().st_size for p in paths.values())
        print(f"{folder}: {', '.join(p.name for p in paths.values())} ({size / 1e6:.2f} MB)")
    for old in DEMO_DIR.glob("*.dcm"):
        old.unlink()
    paths = demo_plan().write(DEMO_DIR)
    size = sum(p.stat().st_size for p in paths.values())
    print(f"{DEMO_DIR}: {', '.join(p.name for p in paths.values())} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
