"""3D U-Net discriminator with spectral normalisation (Real-ESRGAN's U-Net discriminator in 3D).

The discriminator of the 3D RRDB-GAN gives one real/fake logit per voxel: its output has the
shape of its input, so the adversarial loss is a voxel-wise binary cross-entropy.

Layout (``F = num_feat``), LeakyReLU(0.2) after every convolution but the last:

* ``conv0``: 3x3x3, ``in -> F``, no spectral norm;
* encoder: three stride-2 4x4x4 convolutions ``F -> 2F -> 4F -> 8F`` with spectral norm, no bias;
* decoder: three times trilinear x2 upsampling (back to the size of the matching encoder level),
  a 3x3x3 SN convolution ``8F -> 4F -> 2F -> F``, plus the encoder features of that level
  (additive skip connections);
* two more 3x3x3 SN convolutions ``F -> F`` and a final 3x3x3 convolution ``F -> 1``.

With ``F = 64`` this is about 16 M parameters. Inputs of any size work (the upsampling goes to the
encoder sizes, not by a fixed factor); sizes divisible by 8 keep the grids aligned.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm


class UNetDiscriminator3D(nn.Module):
    """Voxel-wise real/fake logits: ``(N, C, D, H, W) -> (N, 1, D, H, W)``."""

    def __init__(self, num_in_ch: int = 1, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = bool(skip_connection)

        def sn(conv: nn.Conv3d) -> nn.Conv3d:
            return spectral_norm(conv)

        f = int(num_feat)
        self.conv0 = nn.Conv3d(num_in_ch, f, 3, 1, 1)
        self.conv1 = sn(nn.Conv3d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv3d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv3d(f * 4, f * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv3d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv3d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv3d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv3d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv3d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv3d(f, 1, 3, 1, 1)

    @staticmethod
    def _lrelu(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, negative_slope=0.2)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[2:], mode="trilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self._lrelu(self.conv0(x))
        x1 = self._lrelu(self.conv1(x0))
        x2 = self._lrelu(self.conv2(x1))
        x3 = self._lrelu(self.conv3(x2))

        x4 = self._lrelu(self.conv4(self._up(x3, x2)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = self._lrelu(self.conv5(self._up(x4, x1)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = self._lrelu(self.conv6(self._up(x5, x0)))
        if self.skip_connection:
            x6 = x6 + x0

        out = self._lrelu(self.conv7(x6))
        out = self._lrelu(self.conv8(out))
        return self.conv9(out)
