"""Image-quality metrics comparing a super-resolved volume with its high-resolution reference.

* ``psnr``: ``10 * log10(data_range**2 / MSE)``, accumulated in float64.
* ``ssim``: 3D SSIM with a separable Gaussian window (sigma 1.5, truncated at 3.5 sigma, so 11
  taps per axis), ``K1 = 0.01``, ``K2 = 0.03`` and population (not sample) covariances, as in
  Wang et al. and ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
  use_sample_covariance=False)``. Local statistics use 'valid' convolution only, so the SSIM map
  covers the voxels at least 5 voxels away from every border; the score is its mean. The
  volume is processed in slabs along z so that large volumes need little memory.

``data_range`` defaults to ``hr.max() - hr.min()`` (the reference's range, as in the paper's
code). With a foreground ``mask`` (boolean, same shape as the volumes) PSNR uses the MSE inside
the mask, and SSIM averages the SSIM map over the window centres that lie inside the mask.

All arrays are ``[z, y, x]``. A super-resolved volume may have up to ``scale - 1`` extra voxels
at the far end of each axis compared with the HR volume; ``compare_volumes`` crops both to their
common extent first (``crop_to_common``).
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch

from SuperResolution3DLib.core.volume import Volume

ArrayOrVolume = Union[np.ndarray, Volume]

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5, as scipy.ndimage.gaussian_filter
SSIM_WINDOW = 2 * SSIM_RADIUS + 1  # 11 taps
SLAB_ELEMENTS = 1 << 21  # voxels per SSIM slab (per statistic); bounds the memory used


def _as_array(data: ArrayOrVolume) -> np.ndarray:
    array = data.array if isinstance(data, Volume) else np.asarray(data)
    if array.ndim != 3:
        raise ValueError(f"expected a 3D [z, y, x] array, got shape {array.shape}")
    return array


def _check_pair(sr: ArrayOrVolume, hr: ArrayOrVolume) -> Tuple[np.ndarray, np.ndarray]:
    sr_array, hr_array = _as_array(sr), _as_array(hr)
    if sr_array.shape != hr_array.shape:
        raise ValueError(
            f"shapes differ: {sr_array.shape} vs {hr_array.shape}; use crop_to_common or compare_volumes"
        )
    return sr_array, hr_array


def _check_mask(mask: Optional[np.ndarray], shape: Tuple[int, ...]) -> Optional[np.ndarray]:
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} differs from the volume shape {tuple(shape)}")
    if not mask.any():
        raise ValueError("the mask selects no voxel")
    return mask


def _resolve_data_range(hr: np.ndarray, data_range: Optional[float]) -> float:
    if data_range is None:
        data_range = float(np.max(hr)) - float(np.min(hr))
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}; pass data_range for a constant reference")
    return float(data_range)


def crop_to_common(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Views of ``a`` and ``b`` cropped to their common leading extent (index 0 aligned)."""
    if a.ndim != b.ndim:
        raise ValueError(f"cannot crop arrays of different dimensions: {a.shape} vs {b.shape}")
    common = tuple(slice(0, min(n, m)) for n, m in zip(a.shape, b.shape))
    return a[common], b[common]


def foreground_mask(hr: ArrayOrVolume, threshold_fraction: float = 0.05) -> np.ndarray:
    """Boolean mask of the voxels above ``min + threshold_fraction * (max - min)``."""
    array = _as_array(hr)
    low, high = float(np.min(array)), float(np.max(array))
    return array > low + threshold_fraction * (high - low)


def psnr(
    sr: ArrayOrVolume,
    hr: ArrayOrVolume,
    data_range: Optional[float] = None,
    mask: Optional[np.ndarray] = None,
) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` when the (masked) voxels are identical."""
    sr_array, hr_array = _check_pair(sr, hr)
    mask = _check_mask(mask, hr_array.shape)
    data_range = _resolve_data_range(hr_array, data_range)
    error = sr_array.astype(np.float64) - hr_array.astype(np.float64)
    squared = np.square(error[mask] if mask is not None else error)
    mse = float(np.mean(squared, dtype=np.float64))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(data_range**2 / mse)


def gaussian_taps(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """Normalised 1D Gaussian weights of length ``2 * radius + 1`` (float64)."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def _separable_valid_filter(stack: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """Gaussian-filter ``stack`` (C, z, y, x) along z, y and x, keeping 'valid' positions only.

    A weighted sum of shifted views: unlike a float64 ``conv3d`` on the CPU it needs no
    unfolded copy of the input, so the memory stays a few times the slab.
    """
    width = len(taps)
    for axis in (1, 2, 3):
        length = stack.shape[axis] - width + 1
        filtered = stack.narrow(axis, 0, length) * float(taps[0])
        for offset in range(1, width):
            filtered.add_(stack.narrow(axis, offset, length), alpha=float(taps[offset]))
        stack = filtered
    return stack


def _ssim_map(sr_slab: np.ndarray, hr_slab: np.ndarray, taps: np.ndarray, c1: float, c2: float) -> torch.Tensor:
    """SSIM at the valid window centres of a slab (float64 tensor of shape slab - 10)."""
    x = torch.from_numpy(np.asarray(sr_slab, dtype=np.float64))
    y = torch.from_numpy(np.asarray(hr_slab, dtype=np.float64))
    stack = torch.stack([x, y, x * x, y * y, x * y])
    del x, y
    mu_x, mu_y, mean_xx, mean_yy, mean_xy = _separable_valid_filter(stack, taps)
    del stack
    var_x = mean_xx - mu_x * mu_x
    var_y = mean_yy - mu_y * mu_y
    cov_xy = mean_xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return numerator / denominator


def ssim(
    sr: ArrayOrVolume,
    hr: ArrayOrVolume,
    data_range: Optional[float] = None,
    mask: Optional[np.ndarray] = None,
) -> float:
    """Mean 3D SSIM (Gaussian window, 'valid' positions; see the module docstring).

    With ``mask``, the mean runs over the valid window centres inside the mask. Each axis
    needs at least 11 voxels.
    """
    sr_array, hr_array = _check_pair(sr, hr)
    if min(hr_array.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW} voxels per axis, got shape {hr_array.shape}")
    mask = _check_mask(mask, hr_array.shape)
    data_range = _resolve_data_range(hr_array, data_range)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    taps = gaussian_taps()
    valid = tuple(slice(SSIM_RADIUS, n - SSIM_RADIUS) for n in hr_array.shape)
    centre_mask = mask[valid] if mask is not None else None
    if centre_mask is not None and not centre_mask.any():
        raise ValueError("the mask has no voxel at least 5 voxels away from the borders")
    valid_depth = hr_array.shape[0] - 2 * SSIM_RADIUS
    plane = hr_array.shape[1] * hr_array.shape[2]
    slab_depth = max(1, SLAB_ELEMENTS // plane)
    total, count = 0.0, 0
    for z0 in range(0, valid_depth, slab_depth):
        z1 = min(z0 + slab_depth, valid_depth)
        window_rows = slice(z0, z1 + 2 * SSIM_RADIUS)
        ssim_map = _ssim_map(sr_array[window_rows], hr_array[window_rows], taps, c1, c2)
        if centre_mask is not None:
            selected = torch.from_numpy(np.ascontiguousarray(centre_mask[z0:z1]))
            total += float(ssim_map[selected].sum())
            count += int(selected.sum())
        else:
            total += float(ssim_map.sum())
            count += ssim_map.numel()
    return total / count


def compare_volumes(
    sr: ArrayOrVolume,
    hr: ArrayOrVolume,
    mask: Optional[np.ndarray] = None,
    data_range: Optional[float] = None,
) -> Dict[str, float]:
    """``{"psnr": ..., "ssim": ...}`` of ``sr`` against ``hr`` on their common extent.

    ``mask`` lies on the HR grid; it is cropped like ``hr``. ``data_range`` defaults to the
    range of the cropped reference.
    """
    sr_array, hr_array = crop_to_common(_as_array(sr), _as_array(hr))
    if mask is not None:
        mask, _ = crop_to_common(np.asarray(mask, dtype=bool), hr_array)
    return {
        "psnr": psnr(sr_array, hr_array, data_range=data_range, mask=mask),
        "ssim": ssim(sr_array, hr_array, data_range=data_range, mask=mask),
    }
