"""Enhanced (multi-frame) DICOM objects: the grid of their frames, from the functional groups.

Newer scanners export a series as Enhanced CT / MR / PET objects: often one file holding every slice as a frame,
with each frame's position, and the stack's orientation, pixel spacing, slice thickness and rescale, in functional
group sequences (per frame, or shared by all frames) instead of top-level attributes. ITK's reader (GDCM) stacks
the frames in file order and takes one spacing and one rescale for all of them. Measured with SimpleITK 2.5 on
Enhanced MR files (``Testing/Python/test_dicom_frames.py`` makes such files): frames stored out of position order
come back in file order with spacing 1 x 1 x 1 mm, a missing frame also gives 1 x 1 x 1 mm, two echoes (two frames
at each position) come back as one stack of twice as many slices, a gantry tilt is dropped, and per-frame rescales
are replaced by the first frame's. So ``data.dicom_volume`` reads the frames' grid here, checks it as it checks a
classic series' slices (``data.dicom_geometry.check_slice_grid``), and puts the frames in position order.

Needs pydicom (a dependency; 3D Slicer ships it): ITK's reader does not expose nested sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError

NUMBER_OF_FRAMES_TAG, POSITION_TAG = "0028|0008", "0020|0032"
# Attributes an enhanced object keeps in its functional groups, as ITK's "gggg|eeee" keys of classic files.
FUNCTIONAL_GROUP_TAGS = {"0028|0030": ("PixelMeasuresSequence", "PixelSpacing"),
                         "0018|0050": ("PixelMeasuresSequence", "SliceThickness")}
PIXEL_SPACING_TOLERANCE = 1e-3  # mm: frames of one stack share their pixel spacing


@dataclass(frozen=True)
class FrameHeaders:
    """Every frame of a series' enhanced objects, in file order then frame order (``file_index``: the file of each):
    their positions ``[n, 3]``, orientations ``[n, 6]`` (row then column cosines), the stack's pixel spacing (between
    rows, between columns; mm), slice thickness (mm, ``None`` if not recorded) and each frame's rescale ``[n, 2]``
    (slope, intercept)."""

    file_index: np.ndarray
    positions: np.ndarray
    orientations: np.ndarray
    pixel_spacing: Tuple[float, float]
    thickness: Optional[float]
    rescale: np.ndarray

    def first_rescale_of(self, file: int) -> np.ndarray:
        """The rescale of the first frame of file ``file``: the one ITK's reader applies to all its frames."""
        return self.rescale[np.flatnonzero(self.file_index == file)[0]]

    @property
    def rescale_varies(self) -> bool:
        return bool(np.ptp(self.rescale, axis=0).max() > 0)


def _pydicom():
    try:
        import pydicom
    except ImportError:
        raise InputVolumeError("this DICOM series is stored as enhanced (multi-frame) objects, whose geometry needs "
                               "pydicom: pip install pydicom") from None
    return pydicom


def _read_header(file_name: str):
    pydicom = _pydicom()
    try:
        return pydicom.dcmread(str(file_name), stop_before_pixels=True)
    except Exception as error:  # pydicom raises many types for a damaged file
        raise InputVolumeError(f"cannot read the DICOM header of {file_name}: {error}") from None


def is_enhanced(dataset) -> bool:
    """Whether a pydicom dataset keeps its geometry in functional groups (an enhanced object)."""
    return "SharedFunctionalGroupsSequence" in dataset or "PerFrameFunctionalGroupsSequence" in dataset


def _group_value(groups: Sequence, sequence: str, attribute: str):
    """``attribute`` inside the first item of ``sequence`` in the first of ``groups`` (datasets) that has it."""
    for group in groups:
        if group is not None and sequence in group and len(group[sequence].value) and attribute in group[sequence][0]:
            return group[sequence][0][attribute].value
    return None


def _frame_groups(dataset) -> List[Tuple]:
    """For each frame: where its functional groups are looked up, in order (its own, the shared ones, the top level)."""
    shared = dataset.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in dataset else None
    per_frame = list(dataset.PerFrameFunctionalGroupsSequence) if "PerFrameFunctionalGroupsSequence" in dataset else []
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    return [(per_frame[k] if k < len(per_frame) else None, shared) for k in range(frames)]


def _values(value) -> list:
    """A DICOM value as a list (pydicom gives one number, or a MultiValue of several)."""
    return [value] if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") else list(value)


def _numbers(value, count: int) -> Optional[np.ndarray]:
    if value is None:
        return None
    try:
        numbers = np.array([float(v) for v in _values(value)])
    except (TypeError, ValueError):
        return None
    return numbers if numbers.size == count and np.all(np.isfinite(numbers)) else None


def _frames_of(dataset) -> Optional[List[Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[float], Tuple[float, float]]]]:
    """``(position, orientation, pixel spacing, thickness, rescale)`` of each frame of one enhanced object, or
    ``None`` where a frame lacks its position, orientation or pixel spacing."""
    frames = []
    for groups in _frame_groups(dataset):
        position = _numbers(_group_value(groups, "PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = _numbers(_group_value(groups, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        spacing = _numbers(_group_value(groups, "PixelMeasuresSequence", "PixelSpacing"), 2)
        if position is None or orientation is None or spacing is None:
            return None
        thickness = _numbers(_group_value(groups, "PixelMeasuresSequence", "SliceThickness"), 1)
        slope = _group_value(groups, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _group_value(groups, "PixelValueTransformationSequence", "RescaleIntercept")
        if slope is None:
            slope, intercept = dataset.get("RescaleSlope", 1.0), dataset.get("RescaleIntercept", 0.0)
        frames.append((position, orientation, spacing, None if thickness is None else float(thickness[0]),
                       (float(slope), float(intercept if intercept is not None else 0.0))))
    return frames


def enhanced_frame_headers(folder, file_names: List[str]) -> Optional[FrameHeaders]:
    """The frames of a series whose first file is an enhanced object (``None`` for a classic series, or an enhanced
    one whose frames lack a position, an orientation or a pixel spacing: ITK's reading is all there is then).
    ``InputVolumeError`` where the frames' pixel spacings differ or a file cannot be read."""
    first = _read_header(file_names[0])
    if not is_enhanced(first):
        return None
    file_index, every_frame = [], []
    for number, name in enumerate(file_names):
        frames = _frames_of(first if number == 0 else _read_header(name))
        if frames is None:
            return None
        file_index += [number] * len(frames)
        every_frame += frames
    positions, orientations, spacings, thicknesses, rescales = (list(part) for part in zip(*every_frame))
    spacings = np.asarray(spacings)
    if np.ptp(spacings, axis=0).max() > PIXEL_SPACING_TOLERANCE:
        raise InputVolumeError(f"the frames of the DICOM series in {folder} differ in pixel spacing "
                               f"({spacings.min():.4g} to {spacings.max():.4g} mm); export one stack of it")
    recorded = [t for t in thicknesses if t is not None and t > 0]
    return FrameHeaders(np.asarray(file_index), np.asarray(positions),
                        np.asarray(orientations), (float(spacings[0, 0]), float(spacings[0, 1])),
                        float(np.median(recorded)) if recorded else None, np.asarray(rescales, dtype=float))


@dataclass(frozen=True)
class EnhancedFile:
    """What ``sr3d dicom`` lists of an enhanced object: the attributes of ``FUNCTIONAL_GROUP_TAGS`` it keeps in its
    functional groups (the first frame's, as ITK keys and DICOM strings such as ``"0.8\\0.7"``), its number of
    frames, and whether its frames' rescales differ (its values are then no longer the stored integers)."""

    tags: dict
    frames: int
    rescale_varies: bool


def may_be_enhanced(reader) -> bool:
    """Whether a file whose header ITK's ``reader`` read may be an enhanced object (it has a number of frames, or no
    top-level slice position): only those are parsed again with pydicom."""
    return reader.HasMetaDataKey(NUMBER_OF_FRAMES_TAG) or not reader.HasMetaDataKey(POSITION_TAG)


def enhanced_file_of(reader) -> Optional[EnhancedFile]:
    """``EnhancedFile`` of the file whose header ITK's ``reader`` read; ``None`` for a classic file, or where pydicom
    cannot read it (or is missing: ITK's header is all there is then)."""
    if not may_be_enhanced(reader):
        return None
    try:
        dataset = _read_header(reader.GetFileName())
    except InputVolumeError:
        return None
    if not is_enhanced(dataset):
        return None
    groups = _frame_groups(dataset)
    tags = {key: "\\".join(f"{float(v):g}" for v in _values(value))
            for key, (sequence, attribute) in FUNCTIONAL_GROUP_TAGS.items()
            if (value := _group_value(groups[0], sequence, attribute)) is not None}
    frames = _frames_of(dataset)
    rescales = np.asarray([frame[4] for frame in frames]) if frames else np.zeros((1, 2))
    return EnhancedFile(tags, len(groups), bool(np.ptp(rescales, axis=0).max() > 0))


def header_tags(reader, enhanced: Optional[EnhancedFile]) -> dict:
    """The attributes ITK's ``reader`` read (``"gggg|eeee"`` keys, strings), with those an ``enhanced`` object keeps
    in its functional groups filled in."""
    return {**(enhanced.tags if enhanced else {}), **{key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}}
