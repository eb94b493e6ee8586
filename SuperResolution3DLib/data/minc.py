"""MINC2 volumes (``.mnc``, the MNI's format: BrainWeb, the MNI templates, CIVET), read and written through
SimpleITK with their world coordinates put right.

ITK's MINC reader gives the file's world coordinates as they are stored, in MINC's RAS world, where every other
ITK reader gives LPS: read as is, a MINC volume lands mirrored left-right and front-back. So the origin and the
direction matrix are flipped along x and y after reading (``lps_from_minc``) and before writing (``minc_from_lps``),
which the tests check against nibabel's MINC reader. MINC1 (netCDF) files are not read by SimpleITK: they are
refused with the command that converts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import RAS_TO_LPS, Volume

MINC_EXTENSIONS: Tuple[str, ...] = (".mnc",)  # also in core.paths.VOLUME_SUFFIXES, the files read
MINC_NOTES_KEY = "history"  # the global attribute where ITK's MINC reader and writer keep a file's free text
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # MINC2 is HDF5
NETCDF_SIGNATURE = b"CDF"  # MINC1 is netCDF


def check_minc2(path: Path) -> None:
    """Refuse a ``.mnc`` file that is not MINC2 (HDF5), naming the conversion for MINC1."""
    with open(path, "rb") as stream:
        start = stream.read(len(HDF5_SIGNATURE))
    if start.startswith(NETCDF_SIGNATURE):
        raise InputVolumeError(f"{path.name} is a MINC1 (netCDF) file, which cannot be read here: convert it to MINC2 "
                               "(mincconvert -2 IN.mnc OUT.mnc, from minc-tools) or to NIfTI (mnc2nii IN.mnc OUT.nii)")
    if start != HDF5_SIGNATURE:
        raise InputVolumeError(f"{path.name} is not a MINC2 file (no HDF5 signature): the file is damaged or not MINC")


def _flipped(volume: Volume) -> Volume:
    return Volume(volume.array, volume.spacing, tuple(float(v) for v in RAS_TO_LPS @ np.asarray(volume.origin)),
                  tuple(float(v) for v in (RAS_TO_LPS @ volume.direction_matrix).ravel()))


def lps_from_minc(volume: Volume) -> Volume:
    """A volume as ITK's MINC reader gives it (geometry in RAS), with its geometry in LPS."""
    return _flipped(volume)


def minc_from_lps(volume: Volume) -> Volume:
    """A volume in LPS with its geometry in RAS, for ITK's MINC writer."""
    return _flipped(volume)
