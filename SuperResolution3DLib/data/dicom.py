"""DICOM series output: a super-resolved volume written as a derived-image series, one file per slice.

Geometry is exact (ImagePositionPatient per slice, ImageOrientationPatient from the direction, PixelSpacing,
SpacingBetweenSlices); voxels are stored as int16 with a RescaleSlope chosen from the value range (CT keeps HU
to within half a slope step); every series gets new Series and SOP Instance UIDs; when the input was a DICOM
series, its patient and study attributes are carried over (same study, a new series). SimpleITK (GDCM) writes
the files; the folder appears complete or not at all (written beside it, then renamed).
"""

from __future__ import annotations

import locale
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import SimpleITK as sitk

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.dicom_series import first_file_header

# patient and study attributes carried from a DICOM input to the derived series
CARRIED_TAGS = (
    "0010|0010", "0010|0020", "0010|0030", "0010|0040",  # patient name, ID, birth date, sex
    "0008|0020", "0008|0030", "0008|0050", "0008|0090",  # study date, time, accession number, referring physician
    "0020|000d", "0020|0010", "0008|1030", "0008|0060",  # study instance UID, study ID, study description, modality
    "0018|0015",                                          # body part examined
)
INT16_LIMIT = 32000


@contextmanager
def locale_kept():
    """GDCM sets the process locale to "C" when it writes; put it back (Python's default text encoding follows it)."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def is_dicom_output(path) -> bool:
    """An output path that names a folder: an existing folder, or a path ending in a separator."""
    text = str(path)
    return Path(text).is_dir() or text.endswith(("/", os.sep))


def check_dicom_output(input_path, folder) -> None:
    """Refuse a DICOM output folder that is the input, holds files, or has no parent folder (before any work)."""
    folder = Path(str(folder)).expanduser()
    if Path(str(input_path)).expanduser().resolve() == folder.resolve():
        raise InputVolumeError(f"refusing to write into the input folder {folder}; choose another output folder")
    _check_new_folder(folder)


def _check_new_folder(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise InputVolumeError(f"the DICOM output folder {folder} is not empty; give a new or empty folder")
    if not folder.parent.is_dir():
        raise InputVolumeError(f"the output folder {folder.parent} does not exist; create it first")


def read_dicom_attributes(folder, series: Optional[str] = None) -> Dict[str, str]:
    """The ``CARRIED_TAGS`` of the first file of the folder's DICOM series that ``data.io.read_volume(folder, series)``
    reads (``{}`` where none can be read)."""
    try:
        reader = first_file_header(folder, series)
    except (InputVolumeError, RuntimeError):
        return {}
    return {tag: reader.GetMetaData(tag) for tag in CARRIED_TAGS if reader.HasMetaDataKey(tag)}


def rescale_slope(array: np.ndarray) -> float:
    """The RescaleSlope that spreads the largest magnitude over the int16 range (1 for an all-zero volume)."""
    largest = float(np.max(np.abs(array))) if array.size else 0.0
    return largest / INT16_LIMIT if largest > 0 else 1.0


def _decimal(value: float) -> str:
    return f"{value:.10g}"[:16]  # DICOM decimal strings hold at most 16 characters


_GDCM_PRIMED = []  # one entry once this process has read a DICOM header


def _prime_gdcm(folder: Path) -> None:
    """Until a process has read a DICOM file, GDCM writes an MR slice with a rescale slope as Enhanced MR Image
    Storage (one frame per file, the geometry only in functional groups, which many viewers cannot place); after
    its first read, as MR Image Storage. So one pixel is written, its header read and the file deleted, once per
    process (``Testing/Python/test_dicom_output.py`` checks a fresh process's first MR series)."""
    if _GDCM_PRIMED:
        return
    primer = folder / "primer.dcm"
    try:
        sitk.WriteImage(sitk.Image(1, 1, sitk.sitkInt16), str(primer))
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(primer))
        reader.ReadImageInformation()
    finally:
        primer.unlink(missing_ok=True)
    _GDCM_PRIMED.append(True)


def _write_slices(image, shared: Dict[str, str], series_uid: str, temporary: Path) -> None:
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for index in range(image.GetDepth()):
        piece = image[:, :, index]
        for tag, value in shared.items():
            piece.SetMetaData(tag, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, index))
        piece.SetMetaData("0020|0032", "\\".join(_decimal(v) for v in position))
        piece.SetMetaData("0020|0013", str(index + 1))
        piece.SetMetaData("0008|0018", f"{series_uid}.{index + 1}")
        writer.SetFileName(str(temporary / f"slice_{index + 1:05d}.dcm"))
        writer.Execute(piece)


def write_dicom_series(volume: Volume, folder, description: str = "SuperResolution3D",
                       attributes: Optional[Dict[str, str]] = None) -> Path:
    """Write ``volume`` as a DICOM series into the new folder ``folder`` (refused if it holds files)."""
    folder = Path(str(folder)).expanduser()
    _check_new_folder(folder)
    array = np.nan_to_num(np.asarray(volume.array, dtype=np.float64), nan=float(np.nanmin(volume.array)))
    slope = rescale_slope(array)
    # a float image with these tags: GDCM stores round(value / slope) as signed 16-bit integers
    image = Volume(array, volume.spacing, volume.origin, volume.direction).to_sitk()
    attributes = dict(attributes or {})
    uid_root = "1.2.826.0.1.3680043.8.498."  # the pydicom/GDCM example root, followed by random digits
    series_uid = uid_root + str(int(secrets.token_hex(12), 16))
    study_uid = attributes.pop("0020|000d", uid_root + str(int(secrets.token_hex(12), 16)))
    direction = volume.direction_matrix
    # between slice planes, along their normal: the spacing itself unless the stack is tilted (a sheared grid)
    between = abs(float(np.cross(direction[:, 0], direction[:, 1]) @ direction[:, 2])) * volume.spacing[2]
    now = time.strftime("%Y%m%d"), time.strftime("%H%M%S")
    shared = {
        **attributes,
        "0008|0008": "DERIVED\\SECONDARY",
        "0008|0021": now[0], "0008|0031": now[1],
        "0008|103e": description[:64],
        "0020|000d": study_uid,
        "0020|000e": series_uid,
        "0020|0011": attributes.pop("0020|0011", "1001"),  # the caller's series number, if it gives one
        "0020|0037": "\\".join(_decimal(v) for v in np.concatenate([direction[:, 0], direction[:, 1]])),
        "0028|0030": f"{_decimal(volume.spacing[1])}\\{_decimal(volume.spacing[0])}",
        "0018|0050": _decimal(between),
        "0018|0088": _decimal(between),
        "0028|1052": "0",
        "0028|1053": _decimal(slope),
        "0028|0100": "16", "0028|0101": "16", "0028|0102": "15", "0028|0103": "1",
    }
    shared.setdefault("0008|0060", "OT")
    temporary = folder.with_name(f".tmp-{secrets.token_hex(4)}-{folder.name}")
    temporary.mkdir()
    try:
        with locale_kept():
            _prime_gdcm(temporary)
            _write_slices(image, shared, series_uid, temporary)
        if folder.exists():
            folder.rmdir()
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return folder
