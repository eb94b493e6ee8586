"""FreeSurfer's MGH volumes (``.mgh``, and ``.mgz``: the same gzip-compressed), read and written without FreeSurfer or
nibabel.

The format (FreeSurfer's ``mghformat``; all numbers big-endian): a 284-byte header, then the voxels with x fastest.
Header: version (int32, 1), width, height, depth, frames, type (int32 each), dof (int32), goodRASflag (int16), the
voxel size (3 float32), the direction cosines of the x, y and z voxel axes in RAS (9 float32, one axis after the
other) and the RAS position of the volume's centre ``c_ras`` (3 float32). The centre is voxel ``size / 2`` (not
``(size - 1) / 2``), so voxel ``0`` sits at ``c_ras - Mdc diag(voxel size) size / 2``. ITK's world is LPS: x and y
flip sign. Where goodRASflag is not positive the file has no orientation and FreeSurfer assumes a coronal one
(x: -R, y: -S, z: +A) around ``c_ras``; this reader does the same.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import RAS_TO_LPS, Volume

MGH_EXTENSIONS: Tuple[str, ...] = (".mgz", ".mgh")  # also in core.paths.VOLUME_SUFFIXES, the files read
HEADER_BYTES = 284
_TYPES = {0: ">u1", 1: ">i4", 3: ">f4", 4: ">i2"}  # MRI_UCHAR, MRI_INT, MRI_FLOAT, MRI_SHORT
_TYPE_CODES = {np.dtype(np.uint8): 0, np.dtype(np.int32): 1, np.dtype(np.int16): 4, np.dtype(np.uint16): 1,
               np.dtype(np.int8): 4}  # what an integer array is written as (int16 / uint16 widened where needed)
_HEADER = np.dtype([("version", ">i4"), ("dims", ">i4", (4,)), ("type", ">i4"), ("dof", ">i4"), ("good_ras", ">i2"),
                    ("spacing", ">f4", (3,)), ("mdc", ">f4", (3, 3)), ("c_ras", ">f4", (3,))])
CORONAL_MDC = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # rows: x, y, z axes in RAS


@dataclass(frozen=True)
class MghFile:
    """An MGH file's checked header: ``size`` ``(x, y, z)``, voxel ``dtype``, and its geometry in LPS."""

    path: Path
    size: Tuple[int, int, int]
    dtype: np.dtype
    spacing: Tuple[float, float, float]
    origin: Tuple[float, float, float]
    direction: Tuple[float, ...]

    def GetSize(self) -> Tuple[int, int, int]:  # noqa: N802 (the method name of the ITK readers it stands beside)
        return self.size

    def read(self) -> Volume:
        """The voxels as a float32 ``[z, y, x]`` volume with the header's geometry."""
        count = int(np.prod(self.size))
        try:
            with _open(self.path) as file:
                file.seek(HEADER_BYTES)
                data = np.frombuffer(file.read(count * self.dtype.itemsize), dtype=self.dtype)
        except (OSError, EOFError) as error:
            raise InputVolumeError(f"cannot read the voxels of {self.path}: the file is truncated or damaged ({error})") from None
        if data.size != count:
            raise InputVolumeError(f"cannot read the voxels of {self.path}: {data.size} of {count} voxels; the file is cut off")
        array = data.reshape(self.size[::-1]).astype(np.float32)
        return Volume(array, self.spacing, self.origin, self.direction)


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".mgz") else open(path, "rb")


def open_mgh(path: Path) -> MghFile:
    """The checked header of an MGH file; ``InputVolumeError`` for a damaged file, several frames or an unknown type."""
    try:
        with _open(path) as file:
            raw = file.read(_HEADER.itemsize)
    except (OSError, EOFError) as error:
        raise InputVolumeError(f"cannot read {path}: the file is damaged or not a valid MGH image ({error})") from None
    if len(raw) < _HEADER.itemsize:
        raise InputVolumeError(f"cannot read {path}: the file is damaged or not a valid MGH image (header cut off)")
    header = np.frombuffer(raw, dtype=_HEADER)[0]
    width, height, depth, frames = (int(n) for n in header["dims"])
    if int(header["version"]) != 1 or min(width, height, depth, frames) < 1:
        raise InputVolumeError(f"cannot read {path}: the file is damaged or not a valid MGH image")
    if frames != 1:
        raise InputVolumeError(f"the input is 4D ({width}x{height}x{depth}x{frames}); super-resolution needs a 3D scalar "
                               "volume: extract one 3D volume (time point or channel) first (mri_convert --frame N)")
    if int(header["type"]) not in _TYPES:
        raise InputVolumeError(f"{path}: MGH voxel type {int(header['type'])} is not supported (uchar, int, float or "
                               "short); convert it with mri_convert -odt float")
    spacing = np.asarray(header["spacing"], dtype=np.float64)
    mdc = np.asarray(header["mdc"], dtype=np.float64) if int(header["good_ras"]) > 0 else CORONAL_MDC
    size = np.array([width, height, depth], dtype=np.float64)
    columns = mdc.T  # the voxel axes' directions as columns
    corner_ras = np.asarray(header["c_ras"], dtype=np.float64) - columns @ (spacing * size / 2.0)
    direction = RAS_TO_LPS @ columns
    return MghFile(path, (width, height, depth), np.dtype(_TYPES[int(header["type"])]),
                   tuple(float(v) for v in spacing), tuple(float(v) for v in RAS_TO_LPS @ corner_ras),
                   tuple(float(v) for v in direction.ravel()))


def mgh_bytes(volume: Volume, compress: bool) -> bytes:
    """``volume`` as the bytes of an MGH file (gzip-compressed for ``.mgz``): integer arrays that MGH holds keep their
    values (uint16 and int8 widened), anything else float32; the geometry as FreeSurfer reads it (RAS, centre at
    voxel ``size / 2``)."""
    array = np.asarray(volume.array)
    code = _TYPE_CODES.get(array.dtype, 3)
    header = np.zeros((), dtype=_HEADER)
    header["version"] = 1
    header["dims"] = (*volume.size, 1)
    header["type"] = code
    header["good_ras"] = 1
    header["spacing"] = volume.spacing
    columns = RAS_TO_LPS @ volume.direction_matrix  # the voxel axes' directions in RAS, as columns
    header["mdc"] = columns.T
    corner_ras = RAS_TO_LPS @ np.asarray(volume.origin, dtype=np.float64)
    header["c_ras"] = corner_ras + columns @ (np.asarray(volume.spacing) * np.asarray(volume.size) / 2.0)
    data = header.tobytes() + bytes(HEADER_BYTES - _HEADER.itemsize) + array.astype(_TYPES[code]).tobytes()
    return gzip.compress(data, compresslevel=6) if compress else data
