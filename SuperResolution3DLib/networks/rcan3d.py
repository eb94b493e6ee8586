"""3D RCAN: Residual Channel Attention Network (Zhang et al. 2018) with 3D convolutions, a baseline of the paper."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from SuperResolution3DLib.networks.blocks import PixelShuffleUpsampler3D


class ChannelAttention3D(nn.Module):
    """Squeeze-and-excitation: global average pool -> 1x1x1 conv (``num_feat // reduction``) -> ReLU
    -> 1x1x1 conv -> sigmoid; the input is multiplied channel-wise by the result."""

    def __init__(self, num_feat: int = 64, reduction: int = 16) -> None:
        super().__init__()
        squeezed = max(1, num_feat // reduction)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool3d(1),
            nn.Conv3d(num_feat, squeezed, 1),
            nn.ReLU(inplace=True),
            nn.Conv3d(squeezed, num_feat, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class RCAB3D(nn.Module):
    """Residual channel attention block: ``x + CA(conv(ReLU(conv(x))))`` with 3x3x3 convolutions."""

    def __init__(self, num_feat: int = 64, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(num_feat, num_feat, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv3d(num_feat, num_feat, 3, 1, 1),
            ChannelAttention3D(num_feat, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup3D(nn.Module):
    """``num_block`` RCABs then a 3x3x3 conv, with a skip around the group."""

    def __init__(self, num_feat: int = 64, num_block: int = 16, reduction: int = 16) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[RCAB3D(num_feat, reduction) for _ in range(num_block)])
        self.conv = nn.Conv3d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.blocks(x))


class RCAN3D(nn.Module):
    """3D Residual Channel Attention Network, trained with L1 as the paper's strongest PSNR baseline.

    conv_first -> ``num_group`` residual groups (each ``num_block`` RCABs + conv, with a skip)
    -> conv_after_body (+ conv_first features, the long skip) -> pixel-shuffle upsampling
    (per stage: conv ``num_feat -> num_feat * f`` and ``PixelShuffle3D``) -> conv_last.
    As in BasicSR's RCAN there is no activation after the pixel shuffle and no global
    interpolation skip; the mean-shift layers of 2D RCAN are left out (inputs are normalised volumes).

    Args:
        in_channels: channels of the input volume.
        out_channels: channels of the output volume.
        num_feat: feature channels (paper: 64).
        num_group: residual groups (paper: 10).
        num_block: RCABs per group (paper: 16).
        reduction: channel-attention squeeze factor (paper: 16).
        scale: integer upscaling per axis ``(x, y, z)``; each prime factor is one pixel-shuffle stage.

    Input ``(N, in_channels, D, H, W)``; output ``(N, out_channels, D*sz, H*sy, W*sx)``.
    The paper configuration (64 features, 10 x 16 RCAB, reduction 16, scale 4) has 38,493,953 parameters.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_feat: int = 64,
        num_group: int = 10,
        num_block: int = 16,
        reduction: int = 16,
        scale: Sequence[int] = (4, 4, 4),
    ) -> None:
        super().__init__()
        self.scale = tuple(int(s) for s in scale)
        self.conv_first = nn.Conv3d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualGroup3D(num_feat, num_block, reduction) for _ in range(num_group)])
        self.conv_after_body = nn.Conv3d(num_feat, num_feat, 3, 1, 1)
        self.upsample = PixelShuffleUpsampler3D(num_feat, self.scale)
        self.conv_last = nn.Conv3d(num_feat, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_after_body(self.body(feat))
        return self.conv_last(self.upsample(feat))
