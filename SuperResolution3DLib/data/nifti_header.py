"""What a NIfTI header says that ITK's reader does not: whether the file holds all the voxels it announces (a
cut-off copy is refused before ITK reads it), and a sheared sform (ITK refuses it, and reads the qform instead where
there is one: nibabel writes an affine with shear as such an sform without a qform)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from SuperResolution3DLib.core.volume import RAS_TO_LPS, Volume

NIFTI_HEADER_BYTES = 348  # NIfTI-1
NIFTI2_HEADER_BYTES = 540  # NIfTI-2 (64-bit sizes), which ITK does not read
# NIfTI-1 fields: (offset, struct format) of dim, bitpix, vox_offset, qform_code and sform_code, srow_x/y/z.
_FIELDS = {"dim": (40, "8h"), "bitpix": (72, "h"), "vox_offset": (108, "f"), "codes": (252, "2h"), "srow": (280, "12f")}


def nifti_version(header: bytes) -> Optional[int]:
    """1 or 2 for a NIfTI-1 or NIfTI-2 header (its first bytes, either byte order), else ``None``."""
    import struct

    if len(header) >= 4:
        for endian in "<>":
            size = struct.unpack(endian + "i", header[:4])[0]
            if size in (NIFTI_HEADER_BYTES, NIFTI2_HEADER_BYTES) and len(header) >= size:
                return 1 if size == NIFTI_HEADER_BYTES else 2
    return None


def nifti_header_fields(header: bytes) -> Optional[dict]:
    """The fields of ``_FIELDS`` of a NIfTI-1 header (its first bytes), as tuples; ``None`` if it is none."""
    import struct

    if nifti_version(header) != 1:
        return None
    endian = "<" if struct.unpack("<i", header[:4])[0] == NIFTI_HEADER_BYTES else ">"
    return {name: struct.unpack_from(endian + code, header, offset) for name, (offset, code) in _FIELDS.items()}


def nifti_expected_length(header: bytes) -> Optional[int]:
    """Bytes a NIfTI-1 file must hold (``vox_offset`` + voxels x bytes per voxel), or ``None`` if not NIfTI-1."""
    fields = nifti_header_fields(header)
    if fields is None:
        return None
    dims = fields["dim"]
    count = int(np.prod([max(1, d) for d in dims[1:1 + max(0, min(dims[0], 7))]], dtype=np.int64))
    return int(fields["vox_offset"][0]) + count * max(1, fields["bitpix"][0]) // 8


def _first_bytes(path: Path, count: int = NIFTI2_HEADER_BYTES) -> Optional[bytes]:
    import gzip
    import zlib

    try:
        opener = gzip.open if path.name.lower().endswith(".nii.gz") else open
        with opener(path, "rb") as stream:
            return stream.read(count)
    except (EOFError, OSError, zlib.error):
        return None


def nifti_length_problem(path) -> Optional[str]:
    """What is wrong with the length of a .nii / .nii.gz file (cut off, gzip stream not ended), or ``None``.

    A .nii.gz is decompressed as a stream (constant memory), so its end is checked too.
    """
    import gzip
    import zlib

    path = Path(path)
    try:
        if path.name.lower().endswith(".nii.gz"):
            with gzip.open(path, "rb") as stream:
                header = stream.read(NIFTI2_HEADER_BYTES)
                length = len(header)
                for block in iter(lambda: stream.read(1 << 22), b""):
                    length += len(block)
        else:
            with open(path, "rb") as stream:
                header = stream.read(NIFTI2_HEADER_BYTES)
            length = path.stat().st_size
    except (EOFError, OSError, zlib.error) as error:
        return f"its data ends early ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'unexpected end'})"
    expected = nifti_expected_length(header)
    if expected is not None and length < expected:
        return f"it holds {length:,} bytes of its {expected:,} (header and voxels)"
    return None


# NIfTI-1 transform fields: qform_code and sform_code (int16) at 252 and 254, srow_x/y/z (4 float32 each) from 280.
SHEAR_TOLERANCE = 1e-4  # cosine between two axes of the sform; rounding in a header stays far below it
ITK_SFORM_PERMISSIVE = "ITK_NIFTI_SFORM_PERMISSIVE"  # ITK then reads a sheared sform, made orthogonal


@dataclass(frozen=True)
class ShearedSform:
    """A NIfTI file whose sform (voxel index to RAS mm) has axes that are not at right angles, which ITK refuses: it
    reads the qform instead where there is one (``uses_qform``), else nothing. ``sform`` is the 3 x 4 matrix."""

    sform: np.ndarray
    uses_qform: bool

    def lps_geometry(self) -> Tuple[Tuple[float, float, float], Tuple[float, float, float], Tuple[float, ...]]:
        """``(spacing, origin, direction)`` of the sform in ITK's LPS world: a sheared grid (direction columns not
        orthogonal)."""
        matrix = RAS_TO_LPS @ self.sform[:, :3]
        spacing = np.linalg.norm(matrix, axis=0)
        return (tuple(float(v) for v in spacing), tuple(float(v) for v in RAS_TO_LPS @ self.sform[:, 3]),
                tuple(float(v) for v in (matrix / spacing).ravel()))

    @contextmanager
    def itk_reading(self):
        """ITK reading the file: without its multi-line warnings about the sform, and where there is no qform
        allowed to read it at all (its own geometry then is replaced by ``lps_geometry``)."""
        import SimpleITK as sitk

        shown = sitk.ProcessObject.GetGlobalWarningDisplay()
        sitk.ProcessObject.SetGlobalWarningDisplay(False)
        permissive = os.environ.get(ITK_SFORM_PERMISSIVE)
        if not self.uses_qform:
            os.environ[ITK_SFORM_PERMISSIVE] = "1"
        try:
            yield
        finally:
            sitk.ProcessObject.SetGlobalWarningDisplay(shown)
            if not self.uses_qform:
                if permissive is None:
                    os.environ.pop(ITK_SFORM_PERMISSIVE, None)
                else:
                    os.environ[ITK_SFORM_PERMISSIVE] = permissive

    def message(self, path) -> str:
        if self.uses_qform:
            return (f"{Path(path).name}: its sform (voxel-to-world matrix) is sheared, which ITK cannot hold; it is "
                    "read with its qform, as 3D Slicer reads it, and the output keeps that placement")
        return (f"{Path(path).name}: its sform (voxel-to-world matrix) is sheared and it has no qform: the volume "
                "keeps that sheared grid, which NRRD, MetaImage and DICOM outputs hold and NIfTI outputs here cannot")


def sheared_sform(path) -> Optional[ShearedSform]:
    """``ShearedSform`` of a NIfTI-1 file whose sform is in use (code > 0) and sheared; ``None`` otherwise."""
    fields = nifti_header_fields(_first_bytes(Path(path)) or b"")
    if fields is None:
        return None
    qform_code, sform_code = fields["codes"]
    sform = np.array(fields["srow"], dtype=float).reshape(3, 4)
    columns = sform[:, :3]
    norms = np.linalg.norm(columns, axis=0)
    if sform_code <= 0 or not np.all(np.isfinite(sform)) or np.any(norms == 0):
        return None
    cosines = (columns / norms).T @ (columns / norms)
    if np.abs(cosines - np.eye(3)).max() <= SHEAR_TOLERANCE:
        return None
    return ShearedSform(sform, uses_qform=qform_code > 0)


def nifti_shear(path) -> Optional[ShearedSform]:
    """``sheared_sform`` of a ``.nii`` / ``.nii.gz`` file; ``None`` for any other file."""
    name = Path(path).name.lower()
    return sheared_sform(path) if name.endswith((".nii", ".nii.gz")) else None


def itk_reading(path):
    """The conditions ITK reads ``path`` under: a NIfTI file with a sheared sform is read at all (``ShearedSform``)."""
    from contextlib import nullcontext

    shear = nifti_shear(path)
    return shear.itk_reading() if shear else nullcontext()


def with_sform_geometry(path, volume: Volume) -> Volume:
    """A volume ITK read from ``path``, on the grid of its sheared sform where ITK could read neither that nor a
    qform (a warning says which placement the volume has)."""
    import warnings

    shear = nifti_shear(path)
    if shear is None:
        return volume
    warnings.warn(shear.message(path), stacklevel=3)
    return volume if shear.uses_qform else Volume(volume.array, *shear.lps_geometry())


def is_nifti2(path) -> bool:
    """Whether ``path`` is a NIfTI-2 file (ITK reads only NIfTI-1)."""
    return nifti_version(_first_bytes(Path(path)) or b"") == 2
