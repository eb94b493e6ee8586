"""3D SRResNet: the MSRResNet baseline of the paper (residual blocks without BatchNorm, 3D pixel shuffle)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from SuperResolution3DLib.networks.blocks import PixelShuffleUpsampler3D, scaled_kaiming_init
from SuperResolution3DLib.networks.interpolation import InterpolationUpsampler3D


class ResidualBlockNoBN3D(nn.Module):
    """``x + conv(ReLU(conv(x)))`` with two 3x3x3 convolutions and no normalisation (EDSR / MSRResNet block).

    Input and output: ``(N, num_feat, D, H, W)``.
    """

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv3d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        scaled_kaiming_init([self], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class SRResNet3D(nn.Module):
    """3D modified SRResNet (MSRResNet, as in BasicSR and the paper's baseline), trained with L1.

    conv_first -> LeakyReLU(0.1) -> ``num_block`` residual blocks (conv-ReLU-conv, no BatchNorm)
    -> per upsampling stage: conv (``num_feat -> num_feat * f``) -> ``PixelShuffle3D`` -> LeakyReLU(0.1)
    -> conv_hr -> LeakyReLU(0.1) -> conv_last, plus a global skip: the input upsampled with the
    project's trilinear interpolation (``InterpolationUpsampler3D``), so the network learns the
    residual over trilinear on the project's LR/HR grid (LR voxel ``i`` on output voxel ``scale * i``).

    Args:
        in_channels: channels of the input volume (the global skip needs ``in_channels == out_channels``
            when ``interpolation_skip`` is on).
        out_channels: channels of the output volume.
        num_feat: feature channels (paper: 64).
        num_block: residual blocks (paper: 16).
        scale: integer upscaling per axis ``(x, y, z)``; each prime factor is one pixel-shuffle stage.
        interpolation_skip: add the trilinear upsampling of the input to the output (MSRResNet: on).

    Input ``(N, in_channels, D, H, W)``; output ``(N, out_channels, D*sz, H*sy, W*sx)``.
    The paper configuration (64 features, 16 blocks, scale 4) has 5,425,665 parameters.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_feat: int = 64,
        num_block: int = 16,
        scale: Sequence[int] = (4, 4, 4),
        interpolation_skip: bool = True,
    ) -> None:
        super().__init__()
        self.scale = tuple(int(s) for s in scale)
        if interpolation_skip and in_channels != out_channels:
            raise ValueError("interpolation_skip needs in_channels == out_channels")
        self.conv_first = nn.Conv3d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN3D(num_feat) for _ in range(num_block)])
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        self.upsample = PixelShuffleUpsampler3D(num_feat, self.scale, activation=self.lrelu)
        self.conv_hr = nn.Conv3d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv3d(num_feat, out_channels, 3, 1, 1)
        self.base = InterpolationUpsampler3D("trilinear", self.scale) if interpolation_skip else None
        scaled_kaiming_init([self.conv_first, self.upsample, self.conv_hr, self.conv_last], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.lrelu(self.conv_first(x))
        out = self.upsample(self.body(feat))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        if self.base is not None:
            out = out + self.base(x)
        return out
