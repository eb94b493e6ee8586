"""Whether a DICOM series' slices lie on a regular grid, checked from their headers before any voxel is read.

ITK (SimpleITK's series reader) builds the volume from the first slice's position and orientation and one
slice spacing. Two kinds of real series do not fit that, and ITK reads them anyway with a wrong geometry:
* a gantry tilt (common in head CT, tilted to spare the orbits): each slice is shifted within its plane, so
  the stack is sheared; ITK takes the distance between slice positions as the spacing and ignores the shear;
* slices missing from an export, or a spacing that varies: ITK spreads the slices evenly.
Both would give an output that does not overlay the scan, so such a series is refused with a message that says
how to correct it first; several slices at one position (time points or echoes in one series) are refused too.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError

POSITION_TAG, ORIENTATION_TAG = "0020|0032", "0020|0037"
# Steps may differ by 5% of the slice spacing or 0.02 mm (positions rounded in the headers); a missing slice is 100%.
SPACING_TOLERANCE, SPACING_TOLERANCE_MM = 0.05, 0.02
SHEAR_TOLERANCE = 0.01  # in-plane shift per mm along the stack (0.6 degrees of tilt)
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
    """``(positions [n, 3], orientation [6])`` of the files, or ``None`` where a header lacks or garbles them."""
    import SimpleITK as sitk

    positions, orientation = [], None
    reader = sitk.ImageFileReader()
    for name in file_names:
        reader.SetFileName(str(name))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            return None
        position = _numbers(reader, POSITION_TAG)
        if orientation is None:
            orientation = _numbers(reader, ORIENTATION_TAG)
        if position is None or position.size != 3 or orientation is None or orientation.size != 6:
            return None
        positions.append(position)
    return np.asarray(positions), orientation


def check_slice_grid(folder, positions: np.ndarray, orientation: np.ndarray) -> None:
    """Raise ``InputVolumeError`` unless the slice ``positions`` step evenly along the normal of ``orientation``
    (row and column cosines) without shifting within the slice plane."""
    if len(positions) < 2:
        return
    normal = np.cross(orientation[:3], orientation[3:])
    along = np.sort(positions @ normal)
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
    order = np.argsort(positions @ normal)
    span = positions[order[-1]] - positions[order[0]]
    shift = span - (span @ normal) * normal
    if np.linalg.norm(shift) > SHEAR_TOLERANCE * (along[-1] - along[0]):
        tilt = np.degrees(np.arctan2(np.linalg.norm(shift), along[-1] - along[0]))
        raise InputVolumeError(
            f"the slices of the DICOM series in {folder} are shifted within their plane from slice to slice (a "
            f"gantry tilt of {tilt:.1f} degrees): the stack is sheared, which a volume's grid cannot hold; "
            f"{REGULARIZE_HINT}")


def check_dicom_series_grid(folder, file_names: List[str]) -> None:
    """``check_slice_grid`` on the series' headers; a series whose headers lack positions is left to ITK."""
    headers = slice_headers(file_names)
    if headers is not None:
        check_slice_grid(folder, *headers)
