"""A DICOM series folder as a volume: the chosen series' files with their checked grid, then its voxels in slice
order with that grid.

Classic series (a file per slice) are read by ITK, a gantry tilt put back (``data.dicom_geometry``); enhanced
(multi-frame) ones frame by frame, with the grid their functional groups record (``data.dicom_frames``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.dicom_frames import FrameHeaders, enhanced_frame_headers, may_be_enhanced
from SuperResolution3DLib.data.dicom_geometry import check_slice_grid, series_stack_step, tilt_degrees
from SuperResolution3DLib.data.dicom_series import largest_dicom_series, stored_pixel_type


class DicomSeriesFiles(list):
    """A DICOM series' file names, with ``step``: the slice-to-slice step (mm, a vector) where the slices shift within
    their plane (a gantry tilt), else ``None``; and ``frames``: the frames of an enhanced series (``None`` for a
    classic one)."""

    step: Optional[np.ndarray] = None
    frames: Optional[FrameHeaders] = None


def open_dicom_series(folder: Path, series: Optional[str] = None) -> DicomSeriesFiles:
    """The files of ``folder``'s series ``series`` (as ``largest_dicom_series`` chooses), their grid checked before
    any voxel is read: uneven, missing or repeated slices, or several orientations, are refused."""
    files = DicomSeriesFiles(largest_dicom_series(folder, series))
    if _first_may_be_enhanced(files):
        files.frames = enhanced_frame_headers(folder, files)
    if files.frames is not None:
        files.step = check_slice_grid(folder, files.frames.positions, files.frames.orientations)
    else:
        files.step = series_stack_step(folder, files)
    return files


def _first_may_be_enhanced(files) -> bool:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(files[0]))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return False  # the series read says what is wrong with it
    return may_be_enhanced(reader)


def series_pixel_type(files: DicomSeriesFiles) -> np.dtype:
    """The numpy type of the series' voxels as stored, after the rescale (float32 where an enhanced series' frames
    are rescaled differently: no one integer type holds them then)."""
    import SimpleITK as sitk

    if files.frames is not None and files.frames.rescale_varies:
        return np.dtype(np.float32)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(files[0]))
    reader.ReadImageInformation()
    return stored_pixel_type(reader)


def read_enhanced_series(folder: Path, files: DicomSeriesFiles) -> Volume:
    """The frames of an enhanced series in position order, on the grid their functional groups record, each with its
    own rescale (ITK's reader applies each file's first frame's to all of its frames)."""
    frames = files.frames
    orientation = frames.orientations[0]
    normal = np.cross(orientation[:3], orientation[3:])
    order = np.argsort(frames.positions @ normal, kind="stable")  # slice k is frame order[k]
    slice_of_frame = np.empty_like(order)
    slice_of_frame[order] = np.arange(len(order))
    voxels = None
    for number, name in enumerate(files):
        stack = _file_frames(folder, name, frames, number)
        if voxels is None:
            voxels = np.empty((len(order), *stack.shape[1:]), dtype=np.float32)
        if stack.shape[1:] != voxels.shape[1:]:
            raise InputVolumeError(f"the files of the DICOM series in {folder} differ in rows and columns; export one "
                                   "stack of it")
        for frame, slice_index in zip(stack, slice_of_frame[frames.file_index == number]):
            voxels[slice_index] = frame
    along = frames.positions[order] @ normal
    step = float(np.median(np.diff(along))) if len(order) > 1 else (frames.thickness or 1.0)
    direction = np.column_stack([orientation[:3], orientation[3:], normal])
    volume = Volume(voxels, (frames.pixel_spacing[1], frames.pixel_spacing[0], step),
                    tuple(float(v) for v in frames.positions[order[0]]), tuple(float(v) for v in direction.ravel()))
    return volume if files.step is None else with_stack_step(folder, files.step, volume)


def _file_frames(folder: Path, name: str, frames: FrameHeaders, number: int) -> np.ndarray:
    """The frames of file ``number`` of the series, ``[frames, rows, columns]``, each with its own rescale."""
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(name))
    except RuntimeError as error:
        raise InputVolumeError(f"cannot read the DICOM series in {folder}: {Path(name).name} is damaged or holds no "
                               "image") from error
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise InputVolumeError(f"the DICOM series in {folder} has {image.GetNumberOfComponentsPerPixel()} components "
                               "per voxel (vector/RGB); convert it to a scalar volume first")
    voxels = sitk.GetArrayFromImage(image)
    rescale = frames.rescale[frames.file_index == number]
    voxels = voxels.reshape(-1, *voxels.shape[-2:])
    if voxels.shape[0] != len(rescale):
        raise InputVolumeError(f"{Path(name).name} in {folder} holds {voxels.shape[0]} frames where its header lists "
                               f"{len(rescale)}; export the series again")
    applied = frames.first_rescale_of(number)
    if np.any(rescale != applied):
        stored = (voxels.astype(np.float64) - applied[1]) / applied[0]
        voxels = stored * rescale[:, 0, None, None] + rescale[:, 1, None, None]
    return voxels


def with_stack_step(folder: Path, step: np.ndarray, volume: Volume) -> Volume:
    """A DICOM series whose slices shift within their plane (a gantry tilt): the true step from slice to slice as the
    volume's third direction column and spacing (the slice normal was there, and the spacing along it)."""
    direction = volume.direction_matrix.copy()
    direction[:, 2] = (step if step @ direction[:, 2] > 0 else -step) / np.linalg.norm(step)
    spacing = (volume.spacing[0], volume.spacing[1], float(np.linalg.norm(step)))
    sheared = Volume(volume.array, spacing, volume.origin, tuple(direction.ravel()))
    warnings.warn(f"the slices of {folder} are tilted by {tilt_degrees(sheared.direction):.1f} degrees (gantry "
                  "tilt): the volume keeps that sheared grid, which NRRD, MetaImage and DICOM outputs hold and NIfTI "
                  "cannot", stacklevel=3)
    return sheared
