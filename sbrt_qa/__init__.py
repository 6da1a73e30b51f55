"""sbrt-qa: quality assurance of radiotherapy dose plans in DICOM-RT.

The data flows one way: :mod:`sbrt_qa.load` (files to plan sets) ->
:mod:`sbrt_qa.dvh` (structures x dose to DVHs) -> :mod:`sbrt_qa.report`
(one result model rendered as text, JSON, CSV or a plot).
"""

__version__ = "0.1.0"
