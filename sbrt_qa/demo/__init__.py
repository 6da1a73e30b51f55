"""The demo plan shipped inside the package (package data, found with importlib.resources).

A compact SBRT plan of a thoracic vertebral plasmacytoma for the trial NCT06863584: PTV_3000
30 Gy and PTV_3500 35 Gy in 5 fractions, the spinal cord 5 mm behind the PTV. Written by
``scripts/generate_test_data.py``. ``python -m sbrt_qa.demo`` prints its folder, so that

    sbrt-qa check "$(python -m sbrt_qa.demo)"

checks it from any installation.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def demo_folder() -> Path:
    """The folder holding the demo plan's RT Plan, RT Structure Set and RT Dose.

    Raises
    ------
    FileNotFoundError
        When the package was installed without its data files, or zipped (no folder to read).
    """
    folder = files(__name__)
    if not isinstance(folder, Path) or not any(folder.glob("*.dcm")):
        raise FileNotFoundError(f"the demo plan is not installed in {folder}")
    return folder
