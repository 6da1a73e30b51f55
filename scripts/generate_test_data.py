"""Write the bundled test plans into test_data/ (committed; re-run after changing sbrt_qa.synthetic).

Usage: python scripts/generate_test_data.py [OUT_DIR]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sbrt_qa.synthetic.phantoms import BUNDLED


def main(out: str = "test_data") -> None:
    root = Path(out)
    for name, build in BUNDLED.items():
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        paths = build().write(folder)
        size = sum(p.stat().st_size for p in paths.values())
        print(f"{folder}: {', '.join(p.name for p in paths.values())} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
