"""What a volume node's DICOM source records about its slices (the library's ``data.acquisition`` rule)."""

import logging


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


def withRecordedSlices(options, volumeNode):
    """The process's adaptation ``options`` (``process.adaptationOptions``) with what the volume's DICOM source
    records where they leave it open (``sr3d predict --adapt``'s rule: ``acquisition.adaptation_with_record``)."""
    from SuperResolution3DLib.core.anisotropy import find_thick_slices
    from SuperResolution3DLib.core.config import AdaptationSettings
    from SuperResolution3DLib.data.acquisition import adaptation_with_record

    recorded, thick = recordedSlices(volumeNode), find_thick_slices(volumeNode.GetSpacing())
    if recorded is None or thick is None:
        return options
    given = {"slice_profile": options.get("adapt_slice_profile"), "slice_thickness": options.get("adapt_slice_thickness")}
    settings = AdaptationSettings(minutes=options["adapt_minutes"], **{k: v for k, v in given.items() if v is not None})
    settings, taken = adaptation_with_record(settings, recorded, thick.axis, thick.thickness)
    if taken:
        logging.info(taken)
    return dict(options, adapt_slice_profile=settings.slice_profile, adapt_slice_thickness=settings.slice_thickness)
