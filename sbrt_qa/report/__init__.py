"""Rendering of the result model as text, JSON, CSV and a DVH plot. Knows nothing of DICOM."""
