"""Which axis of a volume is the thick-slice one: the rule ``sr3d predict``, the Slicer panel and training share.

The thick axis is the one whose spacing is at least ``MIN_ANISOTROPY`` times the finest of the other two, which
agree within ``PLANE_TOLERANCE``; any of x, y, z, also with an oblique direction (index axes count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

MIN_ANISOTROPY = 1.5
PLANE_TOLERANCE = 0.1
AXIS_NAMES = "xyz"
# An isotropic model may train on volumes up to this ratio (a 0.7 x 0.7 x 1.25 mm CT); thicker slices are refused.
MAX_RATIO_FOR_ISOTROPIC_TRAINING = 2.0


@dataclass(frozen=True)
class ThickSlices:
    """What a thick-slice input is: its thick index axis (0, 1, 2 = x, y, z), the slice spacing and the
    in-plane spacing (mm)."""

    axis: int
    thickness: float
    in_plane: float

    @property
    def ratio(self) -> float:
        return self.thickness / self.in_plane

    def describe(self, factor: int) -> str:
        name = AXIS_NAMES[self.axis]
        text = (f"slices along {name} are {self.thickness:g} mm apart, {self.in_plane:g} mm in-plane (ratio {self.ratio:.2f}): "
                f"{factor}x along {name}")
        if not math.isclose(self.ratio, factor, rel_tol=1e-3):
            text += f", then B-spline resampling along {name}"
        return text + f"; output {self.in_plane:g} mm isotropic"


def find_thick_slices(spacing: Sequence[float]) -> Optional[ThickSlices]:
    """The thick axis of a volume with this ``(x, y, z)`` spacing, or ``None`` when it is not a thick-slice volume."""
    spacing = [float(s) for s in spacing]
    axis = int(np.argmax(spacing))
    others = [s for a, s in enumerate(spacing) if a != axis]
    if max(others) > min(others) * (1 + PLANE_TOLERANCE) or spacing[axis] < MIN_ANISOTROPY * min(others):
        return None
    return ThickSlices(axis, spacing[axis], min(others))
