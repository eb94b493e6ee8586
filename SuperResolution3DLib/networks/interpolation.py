"""Interpolation baselines on the project's LR/HR grid (what a user can already do without AI)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES


class InterpolationUpsampler3D(nn.Module):
    """Upsample by an integer ``scale`` per axis with nearest, trilinear or cubic B-spline interpolation.

    Output voxel ``j`` is sampled at input index ``j / scale`` (the LR voxel ``i`` sits on output
    voxel ``scale * i``, see ``volume.py``); beyond the last input voxel the edge value is
    repeated. ``bspline`` is cubic B-spline interpolation done by SimpleITK on the CPU, exactly
    what Slicer's resampling offers.

    Args:
        mode: one of ``nearest``, ``trilinear``, ``bspline``.
        scale: integer factor per axis in ``(x, y, z)`` order.

    Input ``(N, C, D, H, W)``; output ``(N, C, D*sz, H*sy, W*sx)``. It has no weights.
    """

    def __init__(self, mode: str = "trilinear", scale: Sequence[int] = (4, 4, 4)) -> None:
        super().__init__()
        if mode not in INTERPOLATION_MODES:
            raise ValueError(f"unknown interpolation mode {mode!r}; choose one of {INTERPOLATION_MODES}")
        self.mode = mode
        self.scale = tuple(int(s) for s in scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale_dhw = self.scale[::-1]
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=tuple(float(s) for s in scale_dhw), mode="nearest")
        if self.mode == "trilinear":
            # align_corners=True on an input padded by one edge voxel maps output j to input j/scale exactly.
            padded = F.pad(x, (0, 1, 0, 1, 0, 1), mode="replicate")
            size = tuple(s * n + 1 for s, n in zip(scale_dhw, x.shape[2:]))
            up = F.interpolate(padded, size=size, mode="trilinear", align_corners=True)
            return up[:, :, : size[0] - 1, : size[1] - 1, : size[2] - 1]
        return self._bspline(x)

    def _bspline(self, x: torch.Tensor) -> torch.Tensor:
        import SimpleITK as sitk

        arrays = x.detach().float().cpu().numpy()
        out_size = [s * n for s, n in zip(self.scale, arrays.shape[2:][::-1])]
        out = np.empty(arrays.shape[:2] + tuple(out_size[::-1]), np.float32)
        for n in range(arrays.shape[0]):
            for c in range(arrays.shape[1]):
                image = sitk.GetImageFromArray(arrays[n, c])
                resampler = sitk.ResampleImageFilter()
                resampler.SetSize(out_size)
                resampler.SetOutputSpacing([1.0 / s for s in self.scale])
                resampler.SetOutputOrigin((0.0, 0.0, 0.0))
                resampler.SetInterpolator(sitk.sitkBSpline)
                resampler.SetUseNearestNeighborExtrapolator(True)
                resampler.SetOutputPixelType(sitk.sitkFloat32)
                out[n, c] = sitk.GetArrayFromImage(resampler.Execute(image))
        return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
