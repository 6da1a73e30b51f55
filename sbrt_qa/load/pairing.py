"""How the objects of a plan set were found to belong together: pairing provenance as data.

Each plan set records one :class:`Pairing` beside its readable ``pairing`` text, and
whether every link was a UID reference (``linked_by_reference``), so that plan checks and
reports decide on data, never by searching the text.
"""

from __future__ import annotations

from enum import Enum


class Pairing(str, Enum):
    """The kind of link between a plan set's RT Dose, RT Plan and RT Structure Set (str-valued)."""

    #: RTDOSE -> RTPLAN -> RTSTRUCT, every link a UID reference.
    REFERENCE = "reference"
    #: The dose's plan by reference; the plan names no structure set in the input, which is the only
    #: one on the dose's frame of reference (inside the case folder).
    STRUCTURE_SET_BY_FRAME = "structure_set_by_frame_of_reference"
    #: The dose names no plan (no ReferencedRTPlanSequence): the only plan on its frame of reference.
    PLAN_BY_FRAME = "plan_by_frame_of_reference"
    #: No RT Plan in the input: the structure set by the dose's frame of reference.
    NO_PLAN = "no_plan"
    #: A course: a MULTI_PLAN dose referencing the course's plans.
    COURSE_MULTI_PLAN = "course_multi_plan"
    #: A course: plans linked by RTPlanRelationship (PREDECESSOR, CONCURRENT), their doses summed.
    COURSE_RELATIONSHIP = "course_relationship"
    #: A course no DICOM reference links: plans on one structure set whose fractions make an arm.
    COURSE_INFERRED = "course_inferred"
    #: A plan of a course without a dose of its own (never checked alone).
    COURSE_PART = "course_part_without_dose"

    def __str__(self) -> str:
        return self.value
