"""A DICOM series' slice grid, from the slices' headers before any voxel is read.

ITK (SimpleITK's series reader) builds the volume from the first slice's position and orientation and one
slice spacing, with the third axis along the slices' normal. Real series that do not fit that:
* a gantry tilt (common in head CT, tilted to spare the orbits): each slice is shifted within its plane, so the
  stack runs obliquely to the slices. ITK takes the distance between slice positions as the spacing and drops the
  shift; ``series_stack_step`` gives the true step from slice to slice, and ``data.io.read_volume`` puts it in
  the volume's direction matrix and spacing (a sheared grid: exact, and kept by NRRD, MetaImage and DICOM
  outputs; NIfTI cannot hold it, so a NIfTI output is refused for it);
* slices missing from an export, or a spacing that varies: ITK spreads the slices evenly, which no single grid can
  mend, so such a series is refused with a message that says how to correct it first;
* several slices at one position (time points or echoes in one series), or slices in different orientations (a
  localizer or several stacks in one series): refused too.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError

POSITION_TAG, ORIENTATION_TAG = "0020|0032", "0020|0037"
# Steps may differ by 5% of the slice spacing or 0.02 mm (positions rounded in the headers); a missing slice is 100%.
SPACING_TOLERANCE, SPACING_TOLERANCE_MM = 0.05, 0.02
SHEAR_TOLERANCE = 0.01  # in-plane shift per mm along the stack (0.6 degrees of tilt)
ORIENTATION_TOLERANCE = 1e-3  # direction cosines as headers round them; another stack differs by far more
REGULARIZE_HINT = ("3D Slicer's DICOM module corrects it when it loads the series (Application Settings > DICOM > "
                   "Acquisition geometry regularization: apply regularization transform, then harden it); save that "
                   "volume and give it instead")


def _numbers(reader, tag: str) -> Optional[np.ndarray]:
    if not reader.HasMetaDataKey(tag):
        return None
    try:
        return np.array([float(v) for v in reader.GetMetaData(tag).split("\\")])
    except ValueError:
        return None


def slice_headers(file_names: List[str]):
    """``(positions [n, 3], orientations [n, 6])`` of the files, or ``None`` where a header lacks or garbles them."""
    import SimpleITK as sitk

    positions, orientations = [], []
    reader = sitk.ImageFileReader()
    for name in file_names:
        reader.SetFileName(str(name))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            return None
        position, orientation = _numbers(reader, POSITION_TAG), _numbers(reader, ORIENTATION_TAG)
        if position is None or position.size != 3 or orientation is None or orientation.size != 6:
            return None
        positions.append(position)
        orientations.append(orientation)
    return np.asarray(positions), np.asarray(orientations)


def check_slice_grid(folder, positions: np.ndarray, orientations: np.ndarray) -> Optional[np.ndarray]:
    """The mean step (mm, a vector) from slice to slice where the slice ``positions`` also shift within the plane of
    their ``orientations`` (row and column cosines, one row per slice): a gantry tilt; ``None`` where they step along
    its normal. Raises ``InputVolumeError`` unless the slices share one orientation and step evenly."""
    if len(positions) < 2:
        return None
    if np.abs(orientations - orientations[0]).max() > ORIENTATION_TOLERANCE:
        raise InputVolumeError(
            f"the slices of the DICOM series in {folder} lie in different orientations (a localizer or several stacks "
            "in one series); export the one stack to super-resolve")
    orientation = orientations[0]
    normal = np.cross(orientation[:3], orientation[3:])
    positions = positions[np.argsort(positions @ normal)]
    along = positions @ normal
    steps = np.diff(along)
    if steps.min() < 1e-3:
        raise InputVolumeError(
            f"the DICOM series in {folder} has several slices at one position (time points, echoes or repeats in "
            "one series); export one 3D volume of it")
    typical = float(np.median(steps))
    if np.abs(steps - typical).max() > max(SPACING_TOLERANCE * typical, SPACING_TOLERANCE_MM):
        raise InputVolumeError(
            f"the slices of the DICOM series in {folder} are not evenly spaced ({steps.min():.3g} to {steps.max():.3g} "
            f"mm apart): a slice is missing or the spacing varies, and a volume's grid needs one spacing; "
            f"{REGULARIZE_HINT}")
    span = positions[-1] - positions[0]
    shift = span - (span @ normal) * normal
    if np.linalg.norm(shift) <= SHEAR_TOLERANCE * (along[-1] - along[0]):
        return None
    return span / (len(positions) - 1)


def series_stack_step(folder, file_names: List[str]) -> Optional[np.ndarray]:
    """``check_slice_grid`` on the series' headers; a series whose headers lack positions is left to ITK."""
    headers = slice_headers(file_names)
    return None if headers is None else check_slice_grid(folder, *headers)


def tilt_degrees(direction) -> float:
    """The angle between a direction matrix's third column and the normal of its first two (0 without shear)."""
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    normal = np.cross(matrix[:, 0], matrix[:, 1])
    cosine = abs(normal @ matrix[:, 2]) / (np.linalg.norm(normal) * np.linalg.norm(matrix[:, 2]))
    return float(np.degrees(np.arccos(min(1.0, cosine))))
