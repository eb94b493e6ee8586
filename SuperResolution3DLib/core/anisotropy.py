"""Which axis of a volume is the thick-slice one: the rule ``sr3d predict``, the Slicer panel and training share.

The thick axis is the one whose spacing is at least ``MIN_ANISOTROPY`` times the finer and ``MIN_ANISOTROPY_TO_COARSER``
times the coarser of the other two; any of x, y, z, also with an oblique direction (index axes count). Below twice
the in-plane spacing a volume counts as near-isotropic: a 0.96 x 0.96 x 1.5 mm CT, or that CT made 4x coarser on
every axis (3.8 x 3.8 x 6 mm), goes to the isotropic model. The other two need not agree: with non-square in-plane pixels
(0.9 x 1.2 x 5 mm, or a 1 x 1 x 1.2 mm scan made into 4 mm slices along x) the thick axis goes onto the finer
in-plane spacing and the other axes keep theirs, so such an output lies on the grid the scan would have had with
thin slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

MIN_ANISOTROPY = 2.0
MIN_ANISOTROPY_TO_COARSER = 1.5
RATIO_TOLERANCE = 1e-3  # 1.92 / 0.96 mm is a ratio of 2 whatever the rounding of the header
THICK_SLICE_RULE = "one axis at least 2x the finer and 1.5x the coarser of the other two spacings"
# In-plane spacings closer than this (relative) count as square pixels: the output is called isotropic.
PLANE_TOLERANCE = 0.1
AXIS_NAMES = "xyz"


@dataclass(frozen=True)
class ThickSlices:
    """What a thick-slice input is: its thick index axis (0, 1, 2 = x, y, z), the slice spacing and the finer
    in-plane spacing (mm), which the thick axis is super-resolved onto; ``coarser_in_plane``: the other in-plane
    axis's spacing where the pixels are not square (``None``: square, or not known)."""

    axis: int
    thickness: float
    in_plane: float
    coarser_in_plane: Optional[float] = None
    plane: Optional[str] = None  # "axial", "coronal", "sagittal" or "oblique" where the direction is known

    @property
    def ratio(self) -> float:
        return self.thickness / self.in_plane

    def in_plane_text(self) -> str:
        if self.coarser_in_plane is None:
            return f"{self.in_plane:g} mm in-plane"
        return f"{self.in_plane:g} x {self.coarser_in_plane:g} mm in-plane"

    def output_slice_spacing(self, requested: Optional[float] = None) -> float:
        """The output's spacing along the thick axis: ``requested`` (mm; finer than the slices) or the finer
        in-plane spacing."""
        if requested is None:
            return self.in_plane
        requested = float(requested)
        if not 0.0 < requested < self.thickness:
            raise ValueError(f"the output slice spacing must be above 0 and below the input's {self.thickness:g} mm "
                             f"between slices, got {requested:g} mm")
        return requested

    def output_length(self, count: int, factor: int, slice_spacing: Optional[float] = None) -> int:
        """Samples along the thick axis of a ``factor`` x through-plane model's output for ``count`` slices: ``factor``
        times as many, resampled onto the target spacing (``output_slice_spacing``) where that is not the slice
        spacing over ``factor``."""
        target = self.output_slice_spacing(slice_spacing)
        if math.isclose(self.thickness / target, factor, rel_tol=1e-3):
            return count * factor
        return resampled_length(count * factor, self.thickness / factor, target)

    def summary(self) -> str:
        """``axial slices along z are 4 mm apart, 1 mm in-plane``: what the slices are (their plane where known)."""
        plane = f"{self.plane} " if self.plane else ""
        return f"{plane}slices along {AXIS_NAMES[self.axis]} are {self.thickness:g} mm apart, {self.in_plane_text()}"

    def describe(self, factor: int, slice_spacing: Optional[float] = None) -> str:
        """The summary and what a ``factor`` x through-plane model makes of the slices (onto ``slice_spacing``)."""
        return f"{self.summary()} (ratio {self.ratio:.2f}): {self.processing(factor, slice_spacing)}"

    def processing(self, factor: int, slice_spacing: Optional[float] = None) -> str:
        """``4x along z, then B-spline resampling along z; output 0.5 mm isotropic``: what a ``factor`` x
        through-plane model makes of the slices (onto ``slice_spacing``)."""
        name = AXIS_NAMES[self.axis]
        target = self.output_slice_spacing(slice_spacing)
        text = f"{factor}x along {name}"
        if not math.isclose(self.thickness / target, factor, rel_tol=1e-3):
            text += f", then B-spline resampling along {name}"
        at_in_plane = math.isclose(target, self.in_plane, rel_tol=1e-3)
        if at_in_plane and self.coarser_in_plane is None:
            return text + f"; output {self.in_plane:g} mm isotropic"
        return (text + f"; output {target:g} mm along {name}{' (the finer in-plane spacing)' if at_in_plane else ''}, "
                "the other axes as they are")


def find_thick_slices(spacing: Sequence[float], direction: Optional[Sequence[float]] = None) -> Optional[ThickSlices]:
    """The thick axis of a volume with this ``(x, y, z)`` spacing, or ``None`` when it is not a thick-slice volume;
    with the volume's ``direction`` (9 numbers, row-major, LPS or RAS alike) also the plane of its slices."""
    spacing = [float(s) for s in spacing]
    axis = int(np.argmax(spacing))
    others = sorted(s for a, s in enumerate(spacing) if a != axis)
    if (spacing[axis] < MIN_ANISOTROPY * others[0] * (1 - RATIO_TOLERANCE)
            or spacing[axis] < MIN_ANISOTROPY_TO_COARSER * others[1] * (1 - RATIO_TOLERANCE)):
        return None
    square = others[1] <= others[0] * (1 + PLANE_TOLERANCE)
    plane = plane_of_normal(np.asarray(direction, dtype=float).reshape(3, 3)[:, axis]) if direction is not None else None
    return ThickSlices(axis, spacing[axis], others[0], None if square else others[1], plane)


def resampled_length(count: int, spacing: float, new_spacing: float) -> int:
    """Samples of ``count`` at ``spacing`` mm resampled onto ``new_spacing`` over the same extent (the first sample
    kept, none past the last): ``floor((count - 1) * spacing / new_spacing) + 1``."""
    return int(math.floor((count - 1) * spacing / new_spacing + 1e-6)) + 1


def plane_of_normal(normal: Optional[Sequence[float]]) -> str:
    """``axial``, ``coronal``, ``sagittal`` or ``oblique`` (``unknown`` without one): the plane of slices with this
    normal (world axes x, y, z: LPS or RAS alike), by its main axis, oblique beyond about 25 degrees from it."""
    if normal is None or not np.any(normal):
        return "unknown"
    normal = np.asarray(normal, dtype=float)
    axis = int(np.argmax(np.abs(normal)))
    return ("sagittal", "coronal", "axial")[axis] if abs(normal[axis]) > 0.9 * np.linalg.norm(normal) else "oblique"


def finest_in_plane_axes(spacing: Sequence[float], thick: ThickSlices) -> Tuple[int, ...]:
    """The ``(x, y, z)`` index axes other than the thick one whose spacing is the finer in-plane one (both, for
    square pixels): the axes whose detail shows what the thick axis lacks."""
    return tuple(a for a, s in enumerate(spacing)
                 if a != thick.axis and float(s) <= thick.in_plane * (1 + PLANE_TOLERANCE))
