"""A 3D scalar volume: a numpy array plus its physical geometry.

Conventions used everywhere in SuperResolution3DLib:

* ``array`` is indexed ``[z, y, x]`` (slowest to fastest), exactly as
  ``SimpleITK.GetArrayFromImage`` and ``slicer.util.arrayFromVolume`` return it.
* Every per-axis triple (``spacing``, ``origin``, ``scale``, ROI start/size) is in
  ``(x, y, z)`` order, as in ITK / SimpleITK / Slicer's IJK.
* ``direction`` is the 3x3 direction-cosine matrix, row-major, 9 numbers (ITK's
  ``GetDirection()``), in LPS like ITK. Columns are the world directions of the
  i, j, k index axes.

LR/HR grid relation (see ``degradation.py``): an LR voxel with index ``i`` sits
exactly on the HR voxel with index ``scale * i``. The LR grid therefore has the
HR origin and ``scale`` times the HR spacing, and a super-resolved output has
the LR origin, the LR spacing divided by ``scale`` and ``scale * n`` voxels per axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Tuple

import numpy as np

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])  # RAS world (FreeSurfer, MINC, Slicer) to ITK's LPS world, and back

Triple = Tuple[float, float, float]
IDENTITY_DIRECTION: Tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass
class Volume:
    """A 3D scalar image. ``array`` is ``[z, y, x]``; geometry triples are ``(x, y, z)``."""

    array: np.ndarray
    spacing: Triple = (1.0, 1.0, 1.0)
    origin: Triple = (0.0, 0.0, 0.0)
    direction: Tuple[float, ...] = field(default=IDENTITY_DIRECTION)

    def __post_init__(self) -> None:
        self.spacing = tuple(float(v) for v in self.spacing)
        self.origin = tuple(float(v) for v in self.origin)
        self.direction = tuple(float(v) for v in np.asarray(self.direction, dtype=float).ravel())
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError("Volume geometry needs 3 spacings, 3 origin values and 9 direction values")

    @property
    def size(self) -> Tuple[int, int, int]:
        """Number of voxels in ``(x, y, z)`` order."""
        return tuple(int(v) for v in self.array.shape[::-1])

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def index_to_world(self, index_xyz: Sequence[float]) -> np.ndarray:
        """World (LPS) position of a continuous index given in ``(x, y, z)`` order."""
        index_xyz = np.asarray(index_xyz, dtype=float)
        return np.asarray(self.origin) + self.direction_matrix @ (index_xyz * np.asarray(self.spacing))

    def world_to_index(self, point: Sequence[float]) -> np.ndarray:
        """Continuous ``(x, y, z)`` index of a world (LPS) position."""
        offset = np.asarray(point, dtype=float) - np.asarray(self.origin)
        return np.linalg.solve(self.direction_matrix, offset) / np.asarray(self.spacing)

    def nearest_voxel_indices(self, finer: "Volume") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each index of ``finer`` along z, y and x (a grid with this volume's direction, as fine or finer: a
        super-resolution of it or of a box of it), the index of this volume's nearest voxel; a tie goes to the later
        voxel, so output voxel ``j`` of a ``scale`` zoom maps to ``(j + scale // 2) // scale``."""
        start_xyz = self.world_to_index(finer.index_to_world((0.0, 0.0, 0.0)))
        ratio_xyz = np.asarray(finer.spacing) / np.asarray(self.spacing)
        indices = [
            np.clip(np.floor(start + np.arange(count) * ratio + 0.5 + 1e-6).astype(np.int64), 0, total - 1)
            for start, ratio, count, total in zip(start_xyz, ratio_xyz, finer.size, self.size)
        ]
        return indices[2], indices[1], indices[0]

    def with_array(self, array: np.ndarray) -> "Volume":
        """The same geometry around another array of the same shape."""
        return Volume(array, self.spacing, self.origin, self.direction)

    def with_voxels_set(self, mask: np.ndarray, value: float) -> "Volume":
        """A float32 copy whose voxels flagged in ``mask`` (shaped like ``array``) hold ``value``."""
        array = self.array.astype(np.float32, copy=True)
        array[mask] = value
        return self.with_array(array)

    def upsampled_shape(self, scale: Sequence[int]) -> Tuple[int, int, int]:
        """Array shape ``[z, y, x]`` of a ``scale`` (x, y, z) super-resolution of this volume."""
        return tuple(int(n) for n in (np.asarray(self.size) * np.asarray(scale, dtype=int))[::-1])

    def with_upsampled_array(self, array: np.ndarray, scale: Sequence[int]) -> "Volume":
        """Wrap ``array``, a ``scale`` super-resolution of this volume, in its physical geometry.

        Voxel ``scale * i`` of the output sits on voxel ``i`` of this volume, so the origin
        and direction are unchanged and the spacing is divided by ``scale``.
        """
        expected = self.upsampled_shape(scale)
        if tuple(array.shape) != expected:
            raise ValueError(f"super-resolved array has shape {array.shape}, expected {expected}")
        spacing = tuple(np.asarray(self.spacing) / np.asarray(scale, dtype=float))
        return Volume(array, spacing, self.origin, self.direction)

    def sub_volume(self, start_xyz: Sequence[int], size_xyz: Sequence[int]) -> "Volume":
        """The index-space box ``[start, start + size)`` with its own origin."""
        start = np.asarray(start_xyz, dtype=int)
        stop = start + np.asarray(size_xyz, dtype=int)
        sub = self.array[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]]
        return Volume(sub, self.spacing, tuple(self.index_to_world(start)), self.direction)

    # SimpleITK conversion -----------------------------------------------------------------
    @classmethod
    def from_sitk(cls, image) -> "Volume":
        import SimpleITK as sitk

        return cls(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection())

    def to_sitk(self):
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image
