"""Host memory of a super-resolution run: the up-front estimate, the check against free RAM, and the ``auto`` window.

The estimate counts the float32 arrays of the output's size alive at the peak, the input's copies, and one batch
of windows with the network's widest feature maps when they live in host memory (``activation_width``). The
``auto`` window is the largest cube whose working set takes ``AUTO_WINDOW_MEMORY_SHARE`` of that memory.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional, Sequence, Union

import numpy as np
from torch import nn

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.errors import InsufficientMemoryError
from SuperResolution3DLib.core.scale import ScaleLike, as_scale
from SuperResolution3DLib.inference.windows import shape_probe, window_size_zyx

FLOAT32_BYTES = 4
# Host arrays of the full output size alive at the peak: MONAI's stitched output, its count map, and
# one more copy (the SimpleITK image, or the crop of a region of interest).
FULL_OUTPUT_COPIES = 3
# Input-sized arrays: the input, its finite copy, the normalised copy and its tensor.
INPUT_COPIES = 4
# Feature maps alive at once in the last (high-resolution) layers of a network, per window.
WINDOW_FEATURE_MAPS = 3
GB = 1e9

AUTO_WINDOW = "auto"
AUTO_WINDOW_FALLBACK = 64  # GPUs (their memory is not the host's) and hosts whose free RAM is unknown
AUTO_WINDOW_MEMORY_SHARE = 0.25
AUTO_WINDOW_SMALLEST = 24


def resolve_window(settings: InferenceSettings, lr_shape_zyx: Sequence[int], scale: ScaleLike,
                   feature_channels: float) -> Union[int, Sequence[int]]:
    """``settings.window``, with ``auto`` made a number (see ``InferenceSettings.window``).

    ``feature_channels`` is the network's ``activation_width`` when its feature maps live in host memory, 0 when
    they do not (a GPU) or the method has none (interpolation).
    """
    if settings.window != AUTO_WINDOW:
        return settings.window
    limit = memory_limit_bytes(settings)
    if feature_channels <= 0 or limit is None:
        return AUTO_WINDOW_FALLBACK
    budget = AUTO_WINDOW_MEMORY_SHARE * limit
    lr_shape = np.asarray(lr_shape_zyx, dtype=np.int64)

    def fits(side: int) -> bool:
        window = np.asarray(window_size_zyx(side, lr_shape, settings.overlap))
        return window_working_set_bytes(window, scale, settings, feature_channels, lr_shape) <= budget

    largest = int(lr_shape.max())
    return max(largest, 1) if largest <= AUTO_WINDOW_SMALLEST else largest_that_fits(AUTO_WINDOW_SMALLEST, largest, fits)


def largest_that_fits(low: int, high: int, fits) -> int:
    """The largest ``side`` in ``[low, high]`` with ``fits(side)`` (``fits`` true up to a point, then false); ``low``
    when none fits."""
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def memory_limit_bytes(settings: InferenceSettings) -> Optional[int]:
    """``settings.memory_limit_bytes``, or the free RAM when that is ``None`` (``None`` when that is unknown)."""
    return settings.memory_limit_bytes if settings.memory_limit_bytes is not None else available_memory_bytes()


def estimate_peak_memory_bytes(
    lr_shape_zyx: Sequence[int],
    scale: ScaleLike,
    settings: Optional[InferenceSettings] = None,
    feature_channels: float = 0,
) -> int:
    """Estimated peak host RAM (bytes) of super-resolving an LR volume of shape ``lr_shape_zyx``.

    ``3 x 4 bytes`` per output voxel (MONAI's stitched float32 output, its float32 count map, and one more
    full-size copy), ``4 x 4 bytes`` per input voxel, and the window batches: ``batch`` output windows
    (grown by ``context``) of float32, times ``1 + 3 * feature_channels`` when the network's feature maps
    live in host memory too (pass ``activation_width(network)`` when it runs on the CPU).
    In short: about three times the float32 output size.
    """
    settings = settings or InferenceSettings()
    scale_zyx = np.asarray(as_scale(scale)[::-1], dtype=np.int64)
    lr_shape = np.asarray(lr_shape_zyx, dtype=np.int64)
    output_voxels = int(np.prod(lr_shape * scale_zyx))
    window = window_size_zyx(resolve_window(settings, lr_shape, scale, feature_channels), lr_shape, settings.overlap)
    return (
        FULL_OUTPUT_COPIES * FLOAT32_BYTES * output_voxels
        + INPUT_COPIES * FLOAT32_BYTES * int(np.prod(lr_shape))
        + window_working_set_bytes(window, scale, settings, feature_channels, lr_shape)
    )


def window_working_set_bytes(window_zyx: Sequence[int], scale: ScaleLike, settings: InferenceSettings,
                             feature_channels: float, lr_shape_zyx: Sequence[int]) -> int:
    """Host bytes of one batch of output windows (grown by the context) and, on the CPU, the network's feature maps."""
    scale_zyx = np.asarray(as_scale(scale)[::-1], dtype=np.int64)
    window = np.minimum(np.asarray(window_zyx, dtype=np.int64) + 2 * settings.context, np.asarray(lr_shape_zyx))
    window_voxels = int(np.prod(window * scale_zyx)) * settings.batch
    return int(FLOAT32_BYTES * window_voxels * (1 + WINDOW_FEATURE_MAPS * feature_channels))


def available_memory_bytes() -> Optional[int]:
    """``MemAvailable`` from ``/proc/meminfo``, else psutil's figure, else ``None`` (unknown)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def check_memory(
    lr_shape_zyx: Sequence[int],
    scale: ScaleLike,
    settings: Optional[InferenceSettings] = None,
    feature_channels: float = 0,
) -> None:
    """Raise ``InsufficientMemoryError`` when the estimated peak exceeds ``settings.memory_limit_bytes``
    (or, when that is ``None``, the available RAM; the check is skipped when that is unknown).

    The message gives the output size and how big a region of interest would fit.
    """
    settings = settings or InferenceSettings()
    limit = memory_limit_bytes(settings)
    if limit is None:
        return
    # the free RAM read once: the auto window of every estimate below (and of the search for a fitting box) uses it
    settings = replace(settings, memory_limit_bytes=limit)
    needed = estimate_peak_memory_bytes(lr_shape_zyx, scale, settings, feature_channels)
    if needed <= limit:
        return
    scale_zyx = as_scale(scale)[::-1]
    output_shape = [n * s for n, s in zip(lr_shape_zyx, scale_zyx)]
    output_voxels = int(np.prod(output_shape, dtype=np.int64))
    side = largest_fitting_cube(lr_shape_zyx, scale, settings, feature_channels, limit)
    if side > 0:
        advice = (
            f"super-resolve a region of interest instead (--roi X,Y,Z,SX,SY,SZ, or roi_start/roi_size): "
            f"a box of about {side}x{side}x{side} input voxels would fit"
        )
    else:
        advice = "even a small region of interest would not fit; use a smaller --window or --batch"
    raise InsufficientMemoryError(
        f"the output would have {output_voxels:,} voxels ({'x'.join(map(str, output_shape[::-1]))}, "
        f"{output_voxels * FLOAT32_BYTES / GB:.1f} GB as float32) and the run needs about "
        f"{needed / GB:.1f} GB, but only {limit / GB:.1f} GB are available; {advice}"
    )


def largest_fitting_cube(
    lr_shape_zyx: Sequence[int], scale: ScaleLike, settings: InferenceSettings, feature_channels: float, limit: int
) -> int:
    """The largest side (input voxels) of a cubic region of interest, margin included, within ``limit``."""

    def fits(side: int) -> bool:
        box = (side + 2 * settings.roi_margin,) * 3
        return estimate_peak_memory_bytes(box, scale, settings, feature_channels) <= limit

    return largest_that_fits(0, int(max(lr_shape_zyx)), fits)


def activation_width(network: nn.Module, probe_size: int = 8) -> float:
    """The network's widest activation in float32 values per output voxel (0 for interpolation).

    Measured with forward hooks on a small probe input (``probe_size`` voxels per axis), so that a
    convolution with many channels on a coarse grid (a pixel-shuffle upsampler) counts for what it
    holds: 256 channels at half the output resolution count as 32 per output voxel.
    """
    if not any(isinstance(m, nn.modules.conv._ConvNd) for m in network.modules()):
        return 0.0
    shapes, output = shape_probe(network, probe_size)
    return max(math.prod(shape) for _, shape in shapes) / max(1, math.prod(output[2:]))
