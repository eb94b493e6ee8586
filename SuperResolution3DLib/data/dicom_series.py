"""A folder's DICOM series: which one to read (the largest) and reading it, for ``data.io``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, List

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.paths import SUPPORTED_INPUTS_TEXT

if TYPE_CHECKING:
    import SimpleITK as sitk


def read_dicom_series(folder: Path, file_names: List[str]) -> "sitk.Image":
    """The image of a DICOM series' files (``InputVolumeError`` for damaged slices)."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(file_names)
    try:
        return reader.Execute()
    except RuntimeError as error:
        raise InputVolumeError(
            f"cannot read the DICOM series in {folder}: its slices are damaged or not images"
        ) from error


def largest_dicom_series(folder: Path) -> List[str]:
    """File names of the DICOM series with the most files in ``folder`` (warns if there are several)."""
    import SimpleITK as sitk

    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's multi-line warning for a folder without DICOM
    try:
        series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    if not series_ids:
        raise InputVolumeError(
            f"the folder {folder} has no DICOM series; pass a folder of DICOM slices or an image file "
            f"({SUPPORTED_INPUTS_TEXT})"
        )
    files_by_series = {
        series_id: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id))
        for series_id in series_ids
    }
    chosen = max(series_ids, key=lambda series_id: len(files_by_series[series_id]))
    if len(series_ids) > 1:
        others = ", ".join(f"{sid} ({len(files_by_series[sid])} files)" for sid in series_ids if sid != chosen)
        warnings.warn(
            f"{folder} holds {len(series_ids)} DICOM series; using series {chosen} "
            f"({len(files_by_series[chosen])} files) and ignoring {others}",
            stacklevel=3,
        )
    return files_by_series[chosen]
