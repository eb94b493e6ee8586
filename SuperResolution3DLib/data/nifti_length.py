"""Whether a NIfTI file holds all the voxels its header announces (a cut-off copy is refused before ITK reads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

# NIfTI-1 header fields: dim (8 int16) at byte 40, bitpix (int16) at 72, vox_offset (float32) at 108.
NIFTI_HEADER_BYTES = 348


def nifti_expected_length(header: bytes) -> Optional[int]:
    """Bytes a NIfTI-1 file must hold (``vox_offset`` + voxels x bytes per voxel), or ``None`` if not NIfTI-1."""
    import struct

    if len(header) < NIFTI_HEADER_BYTES:
        return None
    for endian in "<>":
        if struct.unpack(endian + "i", header[:4])[0] == NIFTI_HEADER_BYTES:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = struct.unpack(endian + "f", header[108:112])[0]
            count = int(np.prod([max(1, d) for d in dims[1:1 + max(0, min(dims[0], 7))]], dtype=np.int64))
            return int(offset) + count * max(1, bitpix) // 8
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
                header = stream.read(NIFTI_HEADER_BYTES)
                length = len(header)
                for block in iter(lambda: stream.read(1 << 22), b""):
                    length += len(block)
        else:
            with open(path, "rb") as stream:
                header = stream.read(NIFTI_HEADER_BYTES)
            length = path.stat().st_size
    except (EOFError, OSError, zlib.error) as error:
        return f"its data ends early ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'unexpected end'})"
    expected = nifti_expected_length(header)
    if expected is not None and length < expected:
        return f"it holds {length:,} bytes of its {expected:,} (header and voxels)"
    return None
