"""What a volume node's DICOM source records about its slices (the library's ``data.acquisition`` rule)."""


def recordedSlices(volumeNode):
    """The library's ``RecordedSliceProfile`` of a volume: for one loaded by Slicer's DICOM module, its DICOM database
    entry (found by the node's ``DICOM.instanceUIDs``: the MR acquisition's slice profile and the Slice Thickness);
    for one loaded from a file that still has the node's voxels and spacing, the note ``sr3d degrade`` wrote in its
    header (which Slicer does not keep); ``None`` for any other volume."""
    import slicer

    if volumeNode is None:
        return None
    database = getattr(slicer, "dicomDatabase", None)
    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
    if database is not None and uids:
        from SuperResolution3DLib.data.acquisition import record_from_dicom

        return record_from_dicom(lambda tag: str(database.instanceValue(uids[0], tag.replace("|", ",")) or ""))
    return _recordedInStoredFile(volumeNode)


def _recordedInStoredFile(volumeNode):
    storage = volumeNode.GetStorageNode() if hasattr(volumeNode, "GetStorageNode") else None
    fileName = storage.GetFileName() if storage is not None else None
    imageData = volumeNode.GetImageData()
    if not fileName or imageData is None:
        return None
    from SuperResolution3DLib.data.acquisition import recorded_slice_profile
    from SuperResolution3DLib.data.io import read_volume_header

    header = read_volume_header(fileName)
    same = header is not None and tuple(header[0]) == tuple(imageData.GetDimensions()) and all(
        abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(header[1], volumeNode.GetSpacing()))
    return recorded_slice_profile(fileName) if same else None  # a resampled or cropped node no longer has those slices


def recordedSliceProfile(volumeNode):
    """``"sinc"`` (an MR 3D acquisition), ``"integrating"`` (MR 2D) or ``None`` (``recordedSlices``)."""
    recorded = recordedSlices(volumeNode)
    return recorded.profile if recorded is not None else None


def sliceNotes(recorded, thick, card):
    """The panel description's notes on a thick-slice input for a learned through-plane model (``card``), each after
    ``"; "`` (``""`` for none): slices recorded thicker or thinner than it trained on, and slices whose profile the file
    records exactly, which the output is made to give back (as ``sr3d predict`` does)."""
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.data.acquisition import settings_with_known_profile
    from SuperResolution3DLib.inference.thick_slices import slice_thickness_note

    _, known = settings_with_known_profile(InferenceSettings(), recorded, thick.axis, thick.thickness)
    notes = [slice_thickness_note(recorded, thick, card), known]
    return "".join(f"; {note}" for note in notes if note)
