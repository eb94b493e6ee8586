"""What a volume node's DICOM source records about its slices (the library's ``data.acquisition`` rule)."""


def recordedSliceProfile(volumeNode):
    """``"sinc"`` (an MR 3D acquisition), ``"integrating"`` (MR 2D) or ``None``: from the DICOM database entry of a
    volume loaded by Slicer's DICOM module (the node's ``DICOM.instanceUIDs``); ``None`` for any other volume."""
    import slicer

    database = getattr(slicer, "dicomDatabase", None)
    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split() if volumeNode is not None else []
    if database is None or not uids:
        return None
    from SuperResolution3DLib.data.acquisition import IMAGE_TYPE, MODALITY, MR_ACQUISITION_TYPE, profile_from_dicom

    value = lambda tag: str(database.instanceValue(uids[0], tag.replace("|", ",")) or "")  # noqa: E731
    return profile_from_dicom(value(MODALITY), value(MR_ACQUISITION_TYPE), value(IMAGE_TYPE))
