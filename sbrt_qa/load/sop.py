"""SOP Class UIDs that sbrt-qa recognises (DICOM PS3.4 Annex B, plus Varian's private plan)."""

RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN = "1.2.840.10008.5.1.4.1.1.481.8"
#: Varian's private RT Plan class, written by Eclipse for some plan types; read as an RT Plan.
VARIAN_PRIVATE_RT_PLAN = "1.2.246.352.70.1.70"

RT_PLAN_CLASSES = frozenset({RT_PLAN, RT_ION_PLAN, VARIAN_PRIVATE_RT_PLAN})

IMAGE_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.2",  # CT Image
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
        "1.2.840.10008.5.1.4.1.1.4",  # MR Image
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    }
)

RTDOSE, RTSTRUCT, RTPLAN, IMAGE, OTHER = "RTDOSE", "RTSTRUCT", "RTPLAN", "IMAGE", "OTHER"


def kind_of(sop_class_uid: str) -> str:
    """Return the kind of object a SOP Class UID stands for.

    Parameters
    ----------
    sop_class_uid : str
        The object's SOP Class UID (0008,0016).

    Returns
    -------
    str
        One of ``RTDOSE``, ``RTSTRUCT``, ``RTPLAN``, ``IMAGE`` or ``OTHER``.
    """
    if sop_class_uid == RT_DOSE:
        return RTDOSE
    if sop_class_uid == RT_STRUCTURE_SET:
        return RTSTRUCT
    if sop_class_uid in RT_PLAN_CLASSES:
        return RTPLAN
    if sop_class_uid in IMAGE_CLASSES:
        return IMAGE
    return OTHER
