"""Sliding windows on the LR grid: where the windows go, how their zoomed outputs are blended, and how far
the work has got.

The window placement and the Gaussian blend follow MONAI's ``sliding_window_inference`` rules exactly (same
windows, same weights, same sums), without importing MONAI (whose package ``__init__`` takes seconds) and with
progress that moves inside a window: ``ConvWorkMeter`` counts the multiply-adds of the network's convolutions
as they run, so one large window reports many steps instead of 0 then 1.
"""

from __future__ import annotations

import math
import time
import weakref
from itertools import product
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

import torch
from torch import nn

Window = Tuple[slice, slice, slice]
Shape3 = Tuple[int, int, int]

# Gaussian blend: sigma = 1/8 of the output window per axis, weights clamped at 1e-3 (MONAI's values)
GAUSSIAN_SIGMA_SCALE = 0.125
MIN_BLEND_WEIGHT = 1e-3


# Window geometry ---------------------------------------------------------------------------------
def window_size_zyx(window: Union[int, Sequence[int]], shape_zyx: Sequence[int], overlap: float = 0.0) -> Shape3:
    """The LR window ``[z, y, x]``: ``settings.window`` (one int or ``(x, y, z)``) is the largest allowed.

    Along each axis the volume is covered by as few windows as the largest size allows, and the
    windows are then shrunk to share the axis evenly, so no window is mostly spent re-computing its
    neighbour (a 49-voxel axis with a 48 maximum would otherwise take two nearly identical windows).
    """
    window_xyz = (int(window),) * 3 if isinstance(window, (int, np.integer)) else tuple(int(w) for w in window)
    if len(window_xyz) != 3 or min(window_xyz) < 1:
        raise ValueError(f"window must be a positive number of voxels or three of them (x, y, z), got {window}")
    return tuple(balanced_window(int(n), w, overlap) for w, n in zip(window_xyz[::-1], shape_zyx))


def balanced_window(length: int, largest: int, overlap: float) -> int:
    if length <= largest:
        return length
    shared = int(math.floor(largest * overlap))
    count = math.ceil((length - shared) / max(1, largest - shared))
    return min(largest, math.ceil((length - shared) / count) + shared)


def window_overlap(window_zyx: Sequence[int], overlap: float) -> Tuple[float, ...]:
    """Per-axis overlap to hand to MONAI so that each window step is a whole number of LR voxels.

    MONAI steps by ``int(window * (1 - overlap))`` voxels. The step is computed once here and the
    overlap returned makes MONAI reproduce it without floating-point surprises (``10 * (1 - 0.3)``
    is 6.999...), so ``overlap * window`` and ``overlap * window * scale`` are whole numbers.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be >= 0 and < 1, got {overlap}")
    overlaps = []
    for w in window_zyx:
        step = max(1, int(math.floor(w * (1 - overlap) + 1e-6)))
        overlaps.append((w - step - 0.5) / w if step < w else 0.0)
    return tuple(overlaps)


def context_box(window: slice, context: int, length: int) -> Tuple[slice, int]:
    """Grow a window by ``context`` voxels per side, shifted to stay inside ``[0, length)``.

    Returns the grown slice and the offset of the window inside it. All windows grow to the same size,
    so they can share a batch.
    """
    size = min(window.stop - window.start + 2 * context, length)
    start = min(max(window.start - context, 0), length - size)
    return slice(start, start + size), window.start - start


def axis_starts(length: int, window: int, overlap: float) -> List[int]:
    """Window starts along one axis: every ``int(window * (1 - overlap))`` voxels, the last one moved back
    so that it ends at the volume's edge (MONAI's ``dense_patch_slices`` rule)."""
    if window >= length:
        return [0]
    interval = max(1, int(window * (1 - overlap)))
    starts = []
    for index in range(math.ceil(length / interval)):
        start = index * interval
        if start + window >= length:
            starts.append(length - window)
            break
        starts.append(start)
    return starts


def window_slices(shape_zyx: Sequence[int], window_zyx: Sequence[int], overlap_zyx: Sequence[float]) -> List[Window]:
    """The LR windows, ``z`` slowest, each clipped to the volume."""
    window_zyx = [min(w, n) for w, n in zip(window_zyx, shape_zyx)]
    per_axis = [axis_starts(n, w, o) for n, w, o in zip(shape_zyx, window_zyx, overlap_zyx)]
    return [tuple(slice(s, s + w) for s, w in zip(starts, window_zyx)) for starts in product(*per_axis)]


def gaussian_blend_weights(shape_zyx: Sequence[int], device: Optional[torch.device] = None) -> torch.Tensor:
    """The blend weight of each voxel of an output window: a separable Gaussian, peak 1, clamped below."""
    weights = None
    for axis, n in enumerate(shape_zyx):
        sigma = n * GAUSSIAN_SIGMA_SCALE
        x = torch.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=torch.float, device=device)
        x = torch.exp(x**2 / (-2 * sigma**2))
        weights = x if axis == 0 else weights.unsqueeze(-1) * x[(None,) * axis]
    return torch.clamp_(weights, min=max(torch.min(weights).item(), MIN_BLEND_WEIGHT))


def batches(windows: Sequence[Window], size: int) -> Iterator[List[Window]]:
    for first in range(0, len(windows), size):
        yield list(windows[first : first + size])


def blend_windows(
    inputs: torch.Tensor,
    windows: Sequence[Window],
    scale_zyx: Sequence[int],
    batch: int,
    predict: Callable[[torch.Tensor, List[Window]], torch.Tensor],
) -> torch.Tensor:
    """Run ``predict(window batch, windows)`` on every window of ``inputs`` ``(1, 1, D, H, W)`` and blend the
    zoomed outputs with Gaussian weights into a CPU float32 tensor ``(1, 1, D*sz, H*sy, W*sx)``."""
    output_shape = tuple(n * s for n, s in zip(inputs.shape[2:], scale_zyx))
    output = torch.zeros((1, 1) + output_shape, dtype=torch.float32)
    count = torch.zeros((1, 1) + output_shape, dtype=torch.float32)
    window_shape = tuple((w.stop - w.start) * s for w, s in zip(windows[0], scale_zyx))
    weights = gaussian_blend_weights(window_shape)
    for group in batches(windows, batch):
        data = torch.cat([inputs[(slice(None), slice(None), *window)] for window in group])
        zoomed = predict(data, group).to("cpu", torch.float32)
        for window, window_output in zip(group, zoomed):
            target = (slice(None), slice(None)) + tuple(slice(w.start * s, w.stop * s) for w, s in zip(window, scale_zyx))
            output[target] += weights * window_output[0]
            count[target] += weights
    return output.div_(count)


def conv_multiply_adds(module: nn.Module, output: torch.Tensor) -> float:
    """Multiply-adds a convolution spent on ``output``."""
    return float(output.numel()) * module.in_channels / module.groups * math.prod(module.kernel_size)


_PROBED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def shape_probe(network: nn.Module, probe_size: int = 8) -> Tuple[List[Tuple[nn.Module, torch.Size]], torch.Size]:
    """Every module's output shape, and the network's, on a ``probe_size``^3 input of zeros (about 0.1 s for the
    default model on 2 cores; a meta-device copy would skip the arithmetic but costs a second on first use).
    Remembered per network object: shapes do not change with the weights."""
    known = _PROBED.get(network, {})
    if probe_size in known:
        return known[probe_size]
    convolutions = [m for m in network.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    channels = convolutions[0].in_channels if convolutions else 1
    parameter = next(network.parameters(), None)
    dtype, device = (parameter.dtype, parameter.device) if parameter is not None else (torch.float32, "cpu")
    shapes: List[Tuple[nn.Module, torch.Size]] = []

    def record(module, _inputs, output):
        if isinstance(output, torch.Tensor):
            shapes.append((module, output.shape))

    hooks = [module.register_forward_hook(record) for module in network.modules()]
    try:
        with torch.inference_mode():
            output = network(torch.zeros((1, channels) + (probe_size,) * 3, dtype=dtype, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    _PROBED.setdefault(network, {})[probe_size] = (shapes, output.shape)
    return shapes, output.shape


def multiply_adds_per_input_voxel(network: nn.Module, probe_size: int = 8) -> float:
    """Convolution multiply-adds of ``network`` per input voxel, counted on a ``shape_probe`` (every convolution's
    output grows in proportion to the input); 0 for a network without convolutions."""
    if not any(isinstance(m, nn.modules.conv._ConvNd) for m in network.modules()):
        return 0.0
    shapes, _ = shape_probe(network, probe_size)
    total = sum(float(math.prod(shape)) * m.in_channels / m.groups * math.prod(m.kernel_size)
                for m, shape in shapes if isinstance(m, nn.modules.conv._ConvNd))
    return total / probe_size**3


class ConvWorkMeter:
    """Counts the multiply-adds of ``network``'s convolutions while it runs and calls ``report(fraction)`` of
    the current batch's work (throttled). Work per input voxel is measured once on a small probe: every
    convolution's output grows in proportion to the input, so the work of a batch is known before it runs."""

    def __init__(self, network: nn.Module, report: Callable[[float], None], min_step: float = 0.01,
                 min_seconds: float = 0.5, probe_size: int = 8) -> None:
        self.network = network
        self.report = report
        self.min_step, self.min_seconds = min_step, min_seconds
        self.convolutions = [m for m in network.modules() if isinstance(m, nn.modules.conv._ConvNd)]
        self.expected = 0.0
        self.done = 0.0
        self._reported = (0.0, time.monotonic())
        self._hooks: List = []
        self.work_per_voxel = multiply_adds_per_input_voxel(network, probe_size)

    def __enter__(self) -> "ConvWorkMeter":
        self._hooks = [m.register_forward_hook(self._count) for m in self.convolutions]
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def start_batch(self, batch: torch.Tensor, passes: int = 1) -> None:
        """A batch begins that the network will run ``passes`` times (the mirror ensemble's 8)."""
        self.expected = self.work_per_voxel * batch.shape[0] * math.prod(batch.shape[2:]) * passes
        self.done = 0.0
        self._reported = (0.0, time.monotonic())

    def _count(self, module, _inputs, output) -> None:
        if self.expected <= 0:
            return
        self.done += conv_multiply_adds(module, output)
        fraction = min(1.0, self.done / self.expected)
        last_fraction, last_time = self._reported
        now = time.monotonic()
        if fraction - last_fraction >= self.min_step or (fraction > last_fraction and now - last_time >= self.min_seconds):
            self._reported = (fraction, now)
            self.report(fraction)
