"""Volumes packed for a machine without SimpleITK: one compressed ``.npz`` per volume (``array`` as float16,
``spacing`` x, y, z), and the two things such a machine needs to read them through ``data.io.read_volume``."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np


def write_packed_volume(path: Path, array: np.ndarray, spacing) -> None:
    np.savez_compressed(path, array=array.astype(np.float16), spacing=np.asarray(spacing, dtype=np.float64))


def stub_simpleitk_if_missing() -> None:
    """Modules import SimpleITK at their top; packed volumes are read without it."""
    try:
        import SimpleITK  # noqa: F401
    except ImportError:
        stub = types.ModuleType("SimpleITK")

        def placeholder(name):
            if name.startswith("_"):
                raise AttributeError(name)
            return type(name, (), {})

        stub.__getattr__ = placeholder
        sys.modules["SimpleITK"] = stub


def read_packed_volumes() -> None:
    """``data.io.read_volume`` reads ``.npz`` volumes written by ``write_packed_volume`` (other paths as before)."""
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data import io

    original = io.read_volume

    def read_volume(path):
        if str(path).endswith(".npz"):
            with np.load(path) as packed:
                return Volume(packed["array"].astype(np.float32), spacing=tuple(packed["spacing"]))
        return original(path)

    io.read_volume = read_volume
