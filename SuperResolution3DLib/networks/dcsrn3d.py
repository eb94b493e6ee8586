"""3D DCSRN: Densely Connected Super-Resolution Network (Chen et al. 2018), a baseline of the paper."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from SuperResolution3DLib.networks.interpolation import InterpolationUpsampler3D


class DenseUnit3D(nn.Sequential):
    """BatchNorm -> ELU -> 3x3x3 conv (no bias) producing ``growth`` new feature channels."""

    def __init__(self, in_channels: int, growth: int = 24) -> None:
        super().__init__(
            nn.BatchNorm3d(in_channels),
            nn.ELU(inplace=True),
            nn.Conv3d(in_channels, growth, 3, 1, 1, bias=False),
        )


class DCSRN3D(nn.Module):
    """3D densely connected SR network working on the trilinear-upsampled input, trained with L1.

    The LR input is first upsampled by ``scale`` with the project's trilinear interpolation
    (``InterpolationUpsampler3D``: LR voxel ``i`` lands on output voxel ``scale * i``), then refined:
    conv_first (3x3x3, ``2 * growth`` channels) -> ``num_units`` dense units (BatchNorm -> ELU -> 3x3x3
    conv, ``growth`` channels each, every unit sees the concatenation of all earlier features) ->
    1x1x1 conv of the whole concatenation to the output. Convolutions have no bias, as in DCSRN.
    All convolutions run on the HR grid, so it costs far more per output voxel than its size suggests.

    Args:
        in_channels: channels of the input volume.
        out_channels: channels of the output volume.
        growth: channels added by each dense unit (paper: 24); the first conv has ``2 * growth``.
        num_units: dense units (paper: 4).
        scale: integer upscaling per axis ``(x, y, z)`` of the trilinear pre-upsampling.

    Input ``(N, in_channels, D, H, W)`` (LR); output ``(N, out_channels, D*sz, H*sy, W*sx)``.
    The paper configuration (growth 24, 4 units) has 219,840 parameters (any scale). In eval mode
    the BatchNorm layers use their running statistics.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        growth: int = 24,
        num_units: int = 4,
        scale: Sequence[int] = (4, 4, 4),
    ) -> None:
        super().__init__()
        self.scale = tuple(int(s) for s in scale)
        self.upsample = InterpolationUpsampler3D("trilinear", self.scale)
        self.conv_first = nn.Conv3d(in_channels, 2 * growth, 3, 1, 1, bias=False)
        channels = 2 * growth
        units = []
        for _ in range(num_units):
            units.append(DenseUnit3D(channels, growth))
            channels += growth
        self.units = nn.ModuleList(units)
        self.conv_last = nn.Conv3d(channels, out_channels, 1, 1, 0, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.conv_first(self.upsample(x))]
        for unit in self.units:
            features.append(unit(torch.cat(features, 1)))
        return self.conv_last(torch.cat(features, 1))
