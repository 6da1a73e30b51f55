"""Planning-system export hooks: a DICOM Storage SCP (``sbrt-qa listen``) and a watch folder (``sbrt-qa watch``)."""
