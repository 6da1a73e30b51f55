"""Synthetic DICOM-RT factories and phantoms (tests, bundled test data, benchmark)."""
