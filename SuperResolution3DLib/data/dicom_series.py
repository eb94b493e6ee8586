"""A folder's DICOM series: listing them (``sr3d dicom``), which one to read (a chosen one, else the largest) and
reading it, for ``data.io``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from SuperResolution3DLib.core.anisotropy import plane_of_normal
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.paths import SUPPORTED_INPUTS_TEXT
from SuperResolution3DLib.data.dicom_frames import NUMBER_OF_FRAMES_TAG, enhanced_file_of, header_tags

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


def _series_files(folder: Path) -> Dict[str, List[str]]:
    """The file names of each DICOM series in ``folder``, by Series Instance UID (``InputVolumeError`` if none)."""
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
            f"({SUPPORTED_INPUTS_TEXT}); sr3d dicom FOLDER finds the series in an export's subfolders"
        )
    return {uid: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in series_ids}


def largest_dicom_series(folder: Path, series: Optional[str] = None) -> List[str]:
    """File names of one DICOM series in ``folder``: ``series`` (a Series Instance UID or Series Number, as
    ``sr3d dicom`` lists them), else the one with the most slices (files, or an enhanced object's frames; with a
    warning if there are several)."""
    files_by_series = _series_files(folder)
    series_ids = list(files_by_series)
    if series is not None:
        return files_by_series[_chosen_series(folder, files_by_series, str(series))]
    if len(series_ids) == 1:
        return files_by_series[series_ids[0]]
    slices = {series_id: _slice_count(files) for series_id, files in files_by_series.items()}
    chosen = max(series_ids, key=slices.get)
    others = ", ".join(f"{sid} ({_count(slices[sid], 'slice')})" for sid in series_ids if sid != chosen)
    warnings.warn(
        f"{folder} holds {len(series_ids)} DICOM series; using series {chosen} "
        f"({_count(slices[chosen], 'slice')}) and ignoring {others} (sr3d dicom FOLDER lists them; "
        "sr3d predict --series NUMBER, or series= in Python, picks one)",
        stacklevel=3,
    )
    return files_by_series[chosen]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _slice_count(files: List[str]) -> int:
    """The files of a series, times the frames of its first file (an enhanced object holds its slices as frames)."""
    frames = _first_file_tag(files, NUMBER_OF_FRAMES_TAG)
    return len(files) * (max(int(frames), 1) if frames.isdigit() else 1)


def _first_file_tag(files: List[str], tag: str) -> str:
    """One top-level attribute (``"gggg|eeee"``) of a series' first file, stripped (``""`` where absent or unreadable),
    from ITK's header read alone."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(files[0]))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return ""
    return reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else ""


def first_file_header(folder: Path, series: Optional[str] = None) -> "sitk.ImageFileReader":
    """A reader holding the header of the first file of the series ``largest_dicom_series(folder, series)`` chooses,
    without its warning about the other series (reading the series gives it); ``InputVolumeError`` where the folder
    has no such series, ``RuntimeError`` where the file's header cannot be read."""
    import SimpleITK as sitk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = largest_dicom_series(Path(str(folder)), series)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(files[0]))
    reader.ReadImageInformation()
    return reader


def _chosen_series(folder: Path, files_by_series: Dict[str, List[str]], series: str) -> str:
    if series in files_by_series:
        return series
    numbered = [uid for uid, files in files_by_series.items() if _first_file_tag(files, _TAGS["number"]) == series]
    if len(numbered) != 1:
        raise InputVolumeError(f"{folder} has {'no' if not numbered else 'more than one'} DICOM series {series!r}; "
                               f"sr3d dicom {folder} lists its series (numbers and UIDs)")
    return numbered[0]


@dataclass(frozen=True)
class SeriesSummary:
    """One DICOM series of a folder, from its first file's header: what ``sr3d dicom`` lists."""

    folder: Path  # where its files are
    uid: str
    number: str
    description: str
    modality: str
    files: int
    slices: int  # the files, or the frames of an enhanced (multi-frame) series
    columns_rows: str
    pixel_spacing: str
    slice_thickness: str
    plane: str
    pixel_type: Optional[np.dtype]  # of the voxels as stored, after the rescale (None: the first file is unreadable)


_TAGS = {"number": "0020|0011", "description": "0008|103e", "modality": "0008|0060", "rows": "0028|0010",
         "columns": "0028|0011", "pixel_spacing": "0028|0030", "slice_thickness": "0018|0050"}


def stored_pixel_type(reader: "sitk.ImageFileReader") -> np.dtype:
    """The numpy type of the voxels whose header ``reader`` read (a DICOM file's: after its rescale)."""
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(sitk.Image([1, 1, 1], reader.GetPixelID())).dtype


def _first_header(files: List[str]) -> Tuple[Dict[str, str], Optional[np.ndarray], Optional[np.dtype], int]:
    """The listed tags of a series' first file (stripped strings; missing ones empty), also from an enhanced object's
    functional groups, its slice normal as ITK reads it, its stored pixel type (``None`` where the file cannot be
    read; float32 where an enhanced object's frames are rescaled differently) and the series' number of slices."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(files[0]))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return {}, None, None, len(files)
    enhanced = enhanced_file_of(reader)
    tags = header_tags(reader, enhanced)
    header = {name: tags.get(tag, "").strip() for name, tag in _TAGS.items()}
    pixel_type = np.dtype(np.float32) if enhanced and enhanced.rescale_varies else stored_pixel_type(reader)
    slices = len(files) * (enhanced.frames if enhanced else 1)
    return header, np.asarray(reader.GetDirection(), dtype=float).reshape(3, 3)[:, 2], pixel_type, slices


def dicom_series_in(folder: Path) -> List[SeriesSummary]:
    """Every DICOM series in ``folder`` and the folders below it (an export's PATIENT/STUDY/SERIES tree), in Series
    Number order; ``InputVolumeError`` if there is none."""
    import os

    summaries = []
    for directory in sorted({Path(root) for root, _dirs, files in os.walk(folder) if files}):
        try:
            series = _series_files(directory)
        except InputVolumeError:  # a folder of other files
            continue
        summaries.extend(_summary(directory, uid, files) for uid, files in series.items())
    if not summaries:
        _series_files(folder)  # says that there is no DICOM series, and what to give instead
    return sorted(summaries, key=lambda s: (int(s.number) if s.number.isdigit() else 1 << 30, str(s.folder), s.uid))


def _summary(folder: Path, uid: str, files: List[str]) -> SeriesSummary:
    header, normal, pixel_type, slices = _first_header(files)
    return SeriesSummary(
            folder, uid, header.get("number", ""), header.get("description", ""), header.get("modality", ""), len(files),
            slices, f"{header.get('columns', '?')}x{header.get('rows', '?')}", header.get("pixel_spacing", "").replace("\\", " x "),
            header.get("slice_thickness", ""), plane_of_normal(normal), pixel_type)
