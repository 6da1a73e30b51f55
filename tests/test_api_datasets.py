"""Data sets built in memory (no file behind them) through PlanQA.from_datasets (issue 13).

A script or a DICOM receiver may hold data sets without File Meta. An RT Dose whose pixel
data have no transfer syntax cannot be decoded without a guess, so it is an input error
naming the attribute and how to give it; with it, the plan checks as its files do (the
compliant thoracic spine plan passes, test_data/README).
"""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian

from conftest import TEST_DATA
from sbrt_qa import InputError, PlanQA, Status


def _in_memory() -> list[Dataset]:
    out = []
    for path in sorted((TEST_DATA / "sbrt_thoracic_spine").glob("*.dcm")):
        ds = Dataset()
        ds.update(pydicom.dcmread(path))  # the elements only, as a script builds them
        out.append(ds)
    return out


def test_dose_without_transfer_syntax_is_a_clear_input_error():
    with pytest.raises(InputError, match=r"<memory>/0_RTDOSE: RT Dose data set without file_meta TransferSyntaxUID \(0002,0010\)"):
        PlanQA.from_datasets(_in_memory())


def test_dose_with_its_transfer_syntax_checks_as_the_files_do():
    datasets = _in_memory()
    dose = next(d for d in datasets if d.Modality == "RTDOSE")
    dose.file_meta = FileMetaDataset()
    dose.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # how the test data's pixels are encoded
    assert PlanQA.from_datasets(datasets).check("nct06863584").status is Status.PASS
