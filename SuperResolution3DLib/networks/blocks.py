"""Building blocks of the 3D RRDB generator (ESRGAN's blocks with 3D convolutions)."""

from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F


def scaled_kaiming_init(modules: Iterable[nn.Module], scale: float = 0.1) -> None:
    """Kaiming-normal initialisation scaled by ``scale`` (ESRGAN's trick for stable residual learning)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight)
                m.weight.data.mul_(scale)
                if m.bias is not None:
                    m.bias.data.zero_()


RESIDUAL_SCALE = 0.2  # ESRGAN's scaling of each dense block's and each RRDB's residual


class ResidualDenseBlock3D(nn.Module):
    """Five densely connected 3x3x3 convolutions; returns ``x5 * RESIDUAL_SCALE + x``.

    Input and output: ``(N, num_feat, D, H, W)``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv3d(num_feat + i * num_grow_ch, num_grow_ch if i < 4 else num_feat, 3, 1, 1) for i in range(5)
        )
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        scaled_kaiming_init([self], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs[:4]:
            features.append(self.lrelu(conv(torch.cat(features, 1))))
        x5 = self.convs[4](torch.cat(features, 1))
        return x5 * RESIDUAL_SCALE + x


class RRDB3D(nn.Module):
    """Residual in Residual Dense Block: three dense blocks; returns ``out * RESIDUAL_SCALE + x``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock3D(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock3D(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock3D(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * RESIDUAL_SCALE + x


def upsampling_stages(scale_xyz: Sequence[int]) -> List[Tuple[int, int, int]]:
    """Split a per-axis integer scale into nearest-upsampling stages, in tensor ``(D, H, W)`` order.

    Each axis's scale is factored into primes (4 -> 2, 2; 3 -> 3; 1 -> nothing); stage ``k``
    upsamples every axis by its ``k``-th factor (or 1). ``(4, 4, 4)`` gives two isotropic x2
    stages as in ESRGAN; ``(1, 1, 4)`` gives two stages that only touch z.
    """
    factors_dhw = []
    for s in tuple(scale_xyz)[::-1]:
        s = int(s)
        if s < 1:
            raise ValueError(f"scale factors must be positive integers, got {tuple(scale_xyz)}")
        primes, p = [], 2
        while s > 1:
            while s % p == 0:
                primes.append(p)
                s //= p
            p += 1
        factors_dhw.append(primes)
    n_stages = max(len(f) for f in factors_dhw)
    return [tuple(f[k] if k < len(f) else 1 for f in factors_dhw) for k in range(n_stages)]


def nearest_upsample(x: torch.Tensor, factor_dhw: Tuple[int, int, int]) -> torch.Tensor:
    """Nearest-neighbour upsampling by integer factors per axis (output voxel ``j`` copies input ``j // f``)."""
    return F.interpolate(x, scale_factor=tuple(float(f) for f in factor_dhw), mode="nearest")


# Pixel-shuffle upsampling (the SRResNet / RCAN baselines) ------------------------------------------
class PixelShuffle3D(nn.Module):
    """Rearrange channels into space, per axis: ``(N, C*fd*fh*fw, D, H, W) -> (N, C, D*fd, H*fh, W*fw)``.

    The 3D counterpart of ``torch.nn.PixelShuffle`` with a factor per axis, given in tensor
    ``(D, H, W)`` order. Output voxel ``(d*fd + i, h*fh + j, w*fw + k)`` of channel ``c`` is input
    channel ``((c*fd + i)*fh + j)*fw + k`` at ``(d, h, w)``.
    """

    def __init__(self, factor_dhw: Sequence[int] = (2, 2, 2)) -> None:
        super().__init__()
        if isinstance(factor_dhw, int):
            factor_dhw = (factor_dhw,) * 3
        self.factor_dhw = tuple(int(f) for f in factor_dhw)
        if len(self.factor_dhw) != 3 or min(self.factor_dhw) < 1:
            raise ValueError(f"PixelShuffle3D needs three positive factors (D, H, W), got {factor_dhw}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, d, h, w = x.shape
        fd, fh, fw = self.factor_dhw
        block = fd * fh * fw
        if channels % block:
            raise ValueError(f"PixelShuffle3D{self.factor_dhw} needs channels divisible by {block}, got {channels}")
        out = x.reshape(n, channels // block, fd, fh, fw, d, h, w)
        out = out.permute(0, 1, 5, 2, 6, 3, 7, 4)
        return out.reshape(n, channels // block, d * fd, h * fh, w * fw)

    def extra_repr(self) -> str:
        return f"factor_dhw={self.factor_dhw}"


class PixelShuffleUpsampler3D(nn.Sequential):
    """Sub-pixel upsampling by an integer ``scale`` per axis ``(x, y, z)``.

    One stage per prime factor (see ``upsampling_stages``): 3x3x3 conv ``num_feat -> num_feat * f``
    (``f`` = the stage's voxels per input voxel), ``PixelShuffle3D``, then the optional activation.
    ``(4, 4, 4)`` gives two x2 stages, each with a 64 -> 512 conv at ``num_feat = 64``.
    Input ``(N, num_feat, D, H, W)``; output ``(N, num_feat, D*sz, H*sy, W*sx)``.
    """

    def __init__(self, num_feat: int = 64, scale: Sequence[int] = (4, 4, 4), activation: "nn.Module | None" = None) -> None:
        layers: List[nn.Module] = []
        for factor in upsampling_stages(scale):
            voxels = factor[0] * factor[1] * factor[2]
            layers.append(nn.Conv3d(num_feat, num_feat * voxels, 3, 1, 1))
            layers.append(PixelShuffle3D(factor))
            if activation is not None:
                layers.append(activation)
        super().__init__(*layers)
