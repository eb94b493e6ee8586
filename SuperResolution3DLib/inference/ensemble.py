"""Mirror self-ensemble: the network's output averaged over the 8 mirror images of its input.

A network trained with random flips answers each mirror image of a window a little differently; the mean of
the 8 answers (each mirrored back) has less error than any one of them (EDSR's "self-ensemble", Lim et al.
2017). It costs 8 network passes per window.

Mirroring must keep the project's grid relation (LR voxel ``i`` on output voxel ``scale * i``): reversing an
axis of ``n`` LR voxels puts LR voxel ``i`` on output voxel ``scale * n - 1 - scale * i`` of the mirrored
output, ``scale - 1`` voxels off. So each mirrored axis is first padded by one edge voxel at both ends, and
the output of the original window is cut out ``2 * scale - 1`` voxels in: for a mirror-symmetric network
(trilinear interpolation, say) the mirrored pass then gives exactly the plain pass away from the window's
edges, which the sliding window's context crops away.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence, Tuple

import torch
from torch.nn import functional as F

MIRROR_PASSES = 8


def mirror_flips() -> Tuple[Tuple[bool, bool, bool], ...]:
    """The flips ``(z, y, x)`` of the 8 passes, the plain one first."""
    return tuple(tuple(bool(f) for f in flips) for flips in itertools.product((False, True), repeat=3))


def mirrored_pass(run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, scale_zyx: Sequence[int],
                  flips_zyx: Sequence[bool]) -> torch.Tensor:
    """``run`` on ``batch`` (``N, C, D, H, W``) mirrored along the flipped axes, mirrored back onto the plain grid."""
    axes = [2 + a for a, flip in enumerate(flips_zyx) if flip]
    if not axes:
        return run(batch)
    padding = []
    for a in (2, 1, 0):  # F.pad lists the last axis first
        padding += [1, 1] if flips_zyx[a] else [0, 0]
    padded = F.pad(batch, padding, mode="replicate")
    output = torch.flip(run(torch.flip(padded, axes)), axes)
    crop = [slice(None), slice(None)]
    for a in range(3):
        s, n = int(scale_zyx[a]), batch.shape[2 + a]
        crop.append(slice(2 * s - 1, 2 * s - 1 + s * n) if flips_zyx[a] else slice(None))
    return output[tuple(crop)]


def mirror_ensemble(run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor,
                    scale_zyx: Sequence[int]) -> torch.Tensor:
    """The mean of ``run``'s output over the 8 mirror images of ``batch`` (float32)."""
    total = None
    for flips in mirror_flips():
        output = mirrored_pass(run, batch, scale_zyx, flips).float()
        total = output if total is None else total.add_(output)
    return total / MIRROR_PASSES
