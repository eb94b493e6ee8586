"""Super-resolution of whole volumes: sliding windows on the LR grid, Gaussian blending, geometry kept.

``super_resolve(image, model, settings)`` is the Python API the CLI and the Slicer module call:

1. the input (``SimpleITK.Image``, ``Volume`` or ``(array, spacing, origin, direction)``) is validated and
   its non-finite voxels are replaced (and remembered);
2. an optional region of interest is cut out, with a margin of context that is cropped away afterwards;
3. intensities are normalised with the model's normalisation, fitted on the whole input volume;
4. the estimated host memory is checked against the available RAM;
5. the network runs on LR windows (the network zooms, so an output window is ``window * scale`` voxels),
   blended with a Gaussian importance map (``windows.py``: MONAI's rules, without importing MONAI);
6. the normalisation is inverted (HU stay HU), values below the input's minimum are clipped (``clamp``),
   NaN is put back where the input was not finite, and the
   output gets the LR origin and direction and the LR spacing divided by ``scale``.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.devices import select_device
from SuperResolution3DLib.core.vocabulary import CLAMP_MODES
from SuperResolution3DLib.inference.windows import ConvWorkMeter, blend_windows, window_slices
from SuperResolution3DLib.core.precision import autocast, resolve_precision
from SuperResolution3DLib.core.scale import ScaleLike, as_scale
from SuperResolution3DLib.core.errors import CancelledError, DeviceError, GPUOutOfMemoryError, InputVolumeError, InsufficientMemoryError
from SuperResolution3DLib.networks import InterpolationUpsampler3D
from SuperResolution3DLib.data.normalization import fit_intensity_mapping
from SuperResolution3DLib.core.volume import Volume

ProgressCallback = Callable[[float, str], None]
CancelCheck = Union[Callable[[], bool], threading.Event]
Shape3 = Tuple[int, int, int]

FLOAT32_BYTES = 4
# Host arrays of the full output size alive at the peak: MONAI's stitched output, its count map, and
# one more copy (the SimpleITK image, or the crop of a region of interest).
FULL_OUTPUT_COPIES = 3
# Input-sized arrays: the input, its finite copy, the normalised copy and its tensor.
INPUT_COPIES = 4
# Feature maps alive at once in the last (high-resolution) layers of a network, per window.
WINDOW_FEATURE_MAPS = 3
GB = 1e9


def autocast_context(device: torch.device, precision: str):
    """The autocast context for ``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16``) on ``device``
    (``core.precision``: ``auto`` is bf16 where the device computes it natively; fp16 needs CUDA)."""
    try:
        return autocast(device.type, resolve_precision(precision, device.type))
    except ValueError as error:
        raise DeviceError(f"{error}") from None


# Window geometry -----------------------------------------------------------------------------------
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


# Cancel and progress -------------------------------------------------------------------------------
def is_cancelled(cancel: Optional[CancelCheck]) -> bool:
    """``cancel`` is ``None``, a ``threading.Event`` or a callable returning ``True`` to stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def raise_if_cancelled(cancel: Optional[CancelCheck]) -> None:
    if is_cancelled(cancel):
        raise CancelledError("super-resolution cancelled")


class WindowPredictor:
    """Runs the network on each batch of LR windows.

    It checks ``cancel`` before each batch, optionally runs the network on the window grown by
    ``context`` LR voxels (taken from the whole input) and crops the zoomed output back to the window,
    and reports ``progress(fraction of the work, message)``: after each batch, and inside a batch as the
    network's convolutions run (``ConvWorkMeter``), so a single large window moves the bar too.
    """

    def __init__(
        self,
        network: nn.Module,
        inputs: torch.Tensor,
        scale_zyx: Sequence[int],
        context: int,
        total: int,
        device: torch.device,
        progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelCheck] = None,
        tail_slab: int = 0,
    ) -> None:
        self.network = network
        self.tail_slab = int(tail_slab)
        self.inputs = inputs
        self.scale_zyx = tuple(scale_zyx)
        self.context = int(context)
        self.total = total
        self.device = device
        self.progress = progress
        self.cancel = cancel
        self.done = 0
        self.batch_size = 0
        self.meter = ConvWorkMeter(network, self._report_within) if progress is not None else None

    def run_network(self, batch: torch.Tensor) -> torch.Tensor:
        """The network on a batch; its full-resolution tail in slabs when it can (bounded memory, same output)."""
        if self.meter is not None:
            self.meter.start_batch(batch)
        if self.tail_slab > 0 and hasattr(self.network, "forward_in_slabs"):
            return self.network.forward_in_slabs(batch, self.tail_slab)
        return self.network(batch)

    def _report_within(self, fraction: float) -> None:
        done = self.done + fraction * self.batch_size
        self.progress(min(1.0, done / self.total), f"super-resolving: window {min(self.done + 1, self.total)}/{self.total}")

    def __call__(self, window_data: torch.Tensor, windows: List[Tuple[slice, slice, slice]]) -> torch.Tensor:
        raise_if_cancelled(self.cancel)
        self.batch_size = window_data.shape[0]
        if self.context > 0:
            output = self._predict_with_context(windows)
        else:
            output = self.run_network(to_network_layout(window_data, self.device))
        self.done += window_data.shape[0]
        if self.progress is not None:
            self.progress(min(1.0, self.done / self.total), f"super-resolving: window {self.done}/{self.total}")
        return output.float()

    def _predict_with_context(self, windows: List[Tuple[slice, slice, slice]]) -> torch.Tensor:
        grown, crops = [], []
        for window in windows:
            boxes = [context_box(s, self.context, n) for s, n in zip(window, self.inputs.shape[2:])]
            grown.append(self.inputs[(slice(None), slice(None), *(box for box, _ in boxes))])
            crops.append(
                tuple(
                    slice(offset * f, (offset + s.stop - s.start) * f)
                    for (_, offset), s, f in zip(boxes, window, self.scale_zyx)
                )
            )
        output = self.run_network(to_network_layout(torch.cat(grown), self.device))
        return torch.stack([out[(slice(None), *crop)] for out, crop in zip(output, crops)])


def to_network_layout(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Channels-last 3D: oneDNN's CPU convolutions run about 1.6x faster on it (and CUDA's no slower)."""
    return batch.to(device).contiguous(memory_format=torch.channels_last_3d)


# Sliding window ------------------------------------------------------------------------------------
def sliding_window_super_resolve(
    array: np.ndarray,
    network: nn.Module,
    scale: ScaleLike,
    settings: Optional[InferenceSettings] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> np.ndarray:
    """Super-resolve a normalised LR array ``[z, y, x]`` by ``scale`` ``(x, y, z)`` with ``network``.

    Windows of ``settings.window`` LR voxels (clipped to the volume) are taken on the LR grid, the network
    zooms each to ``window * scale`` voxels on ``settings.device``, and they are blended with a Gaussian
    importance map computed at the output window size into a CPU output. Interpolation baselines run on the
    whole volume at once (the B-spline prefilter is global). The network is moved to the device and put in
    eval mode.

    Returns a float32 array ``[z, y, x]`` of shape ``scale * array.shape`` (still normalised).
    """
    settings = settings or InferenceSettings()
    scale_zyx = as_scale(scale)[::-1]
    device = select_device(settings.device)
    amp = autocast_context(device, settings.precision)
    if settings.batch < 1 or settings.context < 0:
        raise ValueError(f"batch must be >= 1 and context >= 0, got {settings.batch} and {settings.context}")
    raise_if_cancelled(cancel)
    inputs = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    network.eval()
    if isinstance(network, InterpolationUpsampler3D):
        return _whole_volume_interpolation(inputs, network, progress)

    try:
        network.to(device, memory_format=torch.channels_last_3d)
    except torch.cuda.OutOfMemoryError:
        parameters = sum(p.numel() for p in network.parameters())
        raise GPUOutOfMemoryError(
            f"the GPU ran out of memory moving the network ({parameters:,} parameters) to {device}; "
            "free GPU memory (close other programs using it) or use --device cpu"
        ) from None
    window = window_size_zyx(settings.window, array.shape, settings.overlap)
    windows = window_slices(array.shape, window, window_overlap(window, settings.overlap))
    predictor = WindowPredictor(network, inputs, scale_zyx, settings.context, len(windows), device, progress, cancel,
                                settings.tail_slab)
    if progress is not None:
        progress(0.0, f"super-resolving: {len(windows)} windows")
    try:
        with torch.inference_mode(), amp, (predictor.meter or contextlib.nullcontext()):
            output = blend_windows(inputs, windows, scale_zyx, settings.batch, predictor)
    except torch.cuda.OutOfMemoryError:
        raise GPUOutOfMemoryError(
            f"the GPU ran out of memory on windows of {'x'.join(map(str, window[::-1]))} input voxels "
            f"(batch {settings.batch}, context {settings.context}); use a smaller --window or --batch, "
            "or --precision bf16"
        ) from None
    return output[0, 0].numpy()


def _whole_volume_interpolation(
    inputs: torch.Tensor, network: InterpolationUpsampler3D, progress: Optional[ProgressCallback]
) -> np.ndarray:
    if progress is not None:
        progress(0.0, f"{network.mode} interpolation")
    network.to("cpu")
    with torch.inference_mode():
        output = network(inputs)[0, 0].float().contiguous().numpy()
    if progress is not None:
        progress(1.0, f"{network.mode} interpolation done")
    return output


# Memory --------------------------------------------------------------------------------------------
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
    window = np.minimum(np.asarray(window_size_zyx(settings.window, lr_shape, settings.overlap)) + 2 * settings.context, lr_shape)
    window_voxels = int(np.prod(window * scale_zyx)) * settings.batch
    return (
        FULL_OUTPUT_COPIES * FLOAT32_BYTES * output_voxels
        + INPUT_COPIES * FLOAT32_BYTES * int(np.prod(lr_shape))
        + int(FLOAT32_BYTES * window_voxels * (1 + WINDOW_FEATURE_MAPS * feature_channels))
    )


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
    limit = settings.memory_limit_bytes if settings.memory_limit_bytes is not None else available_memory_bytes()
    if limit is None:
        return
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

    low, high = 0, int(max(lr_shape_zyx))
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def activation_width(network: nn.Module, probe_size: int = 8) -> float:
    """The network's widest activation in float32 values per output voxel (0 for interpolation).

    Measured with forward hooks on a small probe input (``probe_size`` voxels per axis), so that a
    convolution with many channels on a coarse grid (a pixel-shuffle upsampler) counts for what it
    holds: 256 channels at half the output resolution count as 32 per output voxel.
    """
    convolutions = [m for m in network.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not convolutions:
        return 0.0
    parameter = next(network.parameters())
    probe = torch.zeros((1, convolutions[0].in_channels) + (probe_size,) * 3, dtype=parameter.dtype, device=parameter.device)
    widest = [0]

    def record(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            widest[0] = max(widest[0], output.numel())

    hooks = [module.register_forward_hook(record) for module in network.modules()]
    try:
        with torch.inference_mode():
            output = network(probe)
    finally:
        for hook in hooks:
            hook.remove()
    return widest[0] / max(1, output[0, 0].numel())


# Regions of interest -------------------------------------------------------------------------------
def validate_roi(
    size_xyz: Sequence[int], roi_start: Optional[Sequence[int]], roi_size: Optional[Sequence[int]]
) -> Optional[Tuple[Shape3, Shape3]]:
    """Check an index-space box ``(x, y, z)`` lies inside a volume of ``size_xyz`` voxels; ``None`` if no ROI."""
    if roi_start is None and roi_size is None:
        return None
    if roi_start is None or roi_size is None:
        raise InputVolumeError("a region of interest needs both a start and a size (x, y, z)")
    start, size = tuple(int(v) for v in roi_start), tuple(int(v) for v in roi_size)
    if len(start) != 3 or len(size) != 3:
        raise InputVolumeError(f"a region of interest needs 3 start and 3 size values (x, y, z), got {start}, {size}")
    inside = all(s >= 0 and n >= 1 and s + n <= total for s, n, total in zip(start, size, size_xyz))
    if not inside:
        stop = tuple(s + n for s, n in zip(start, size))
        raise InputVolumeError(
            f"region of interest from {start} to {stop} (x, y, z, end excluded) is not inside the volume of "
            f"{tuple(size_xyz)} voxels; the start must be >= 0, the size >= 1 and start + size <= the volume size"
        )
    return start, size


def margin_box(
    start_xyz: Sequence[int], size_xyz: Sequence[int], margin: int, volume_size_xyz: Sequence[int]
) -> Tuple[Shape3, Shape3]:
    """The ROI grown by ``margin`` voxels per side, clipped to the volume: ``(start, size)`` in ``(x, y, z)``."""
    start = [max(s - margin, 0) for s in start_xyz]
    stop = [min(s + n + margin, total) for s, n, total in zip(start_xyz, size_xyz, volume_size_xyz)]
    return tuple(start), tuple(b - a for a, b in zip(start, stop))


# Non-finite voxels ---------------------------------------------------------------------------------
def upsample_mask(mask: np.ndarray, scale: ScaleLike, start_xyz: Sequence[int], size_xyz: Sequence[int]) -> np.ndarray:
    """The output voxels whose nearest input voxel is flagged in ``mask`` (the whole input's ``[z, y, x]`` mask).

    Output voxel ``j`` lies at input index ``start + j / scale``; its nearest input voxel is
    ``floor(start + (j + scale // 2) / scale)``, clipped to the volume. Returns the mask of the output box of
    ``scale * size_xyz`` voxels that starts on input voxel ``start_xyz``.
    """
    indices = []
    for s, start, size, total in zip(as_scale(scale), start_xyz, size_xyz, mask.shape[::-1]):
        j = np.arange(s * size) + s * start
        indices.append(np.clip((j + s // 2) // s, 0, total - 1))
    return mask[np.ix_(indices[2], indices[1], indices[0])]


# Main API ------------------------------------------------------------------------------------------
ImageLike = Union["SimpleITK.Image", Volume, tuple]  # noqa: F821


def is_sitk_image(image) -> bool:
    """Whether ``image`` is a ``SimpleITK.Image`` (checked without importing SimpleITK)."""
    return type(image).__name__ == "Image" and type(image).__module__.startswith("SimpleITK")


def to_volume(image: ImageLike) -> Volume:
    """A ``Volume`` from a ``SimpleITK.Image``, a ``Volume`` or ``(array, spacing, origin, direction)``."""
    if isinstance(image, Volume):
        return image
    if isinstance(image, tuple):
        if len(image) != 4:
            raise InputVolumeError("a tuple input must be (array [z, y, x], spacing, origin, direction)")
        array, spacing, origin, direction = image
        return Volume(np.asarray(array), spacing, origin, direction)
    if is_sitk_image(image):
        return Volume.from_sitk(image)
    raise InputVolumeError(
        f"cannot super-resolve a {type(image).__name__}; pass a SimpleITK.Image, a Volume or "
        "(array [z, y, x], spacing, origin, direction)"
    )


def resolve_model(model):
    """An ``SRModel`` as is; a name or a path is loaded with ``model_file.load_model``."""
    from SuperResolution3DLib.models.files import SRModel

    if isinstance(model, SRModel):
        return model
    from SuperResolution3DLib.models.files import load_model

    return load_model(model)


def super_resolve(
    image: ImageLike,
    model,
    settings: Optional[InferenceSettings] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
):
    """Super-resolve ``image`` with ``model`` (an ``SRModel``, or a model name or path).

    ``image``: a ``SimpleITK.Image``, a ``Volume`` or ``(array [z, y, x], spacing, origin, direction)``.
    Returns the same kind (``SimpleITK.Image`` for an image, ``Volume`` otherwise): float32, in the input's
    intensity units, with ``scale`` times the voxels, the spacing divided by ``scale``, the input's origin
    (or the region of interest's corner) and direction. Voxels nearest to a non-finite input voxel are NaN.
    ``progress(fraction, message)`` is called as windows finish; ``cancel`` (callable or ``threading.Event``)
    stops the run with ``CancelledError``.
    """
    from SuperResolution3DLib.data.io import replace_nonfinite, validate_volume

    settings = settings or InferenceSettings()
    if settings.clamp not in CLAMP_MODES:
        raise ValueError(f"clamp must be one of {', '.join(CLAMP_MODES)}, got {settings.clamp!r}")
    model = resolve_model(model)
    volume, nonfinite = replace_nonfinite(validate_volume(to_volume(image)))
    roi = validate_roi(volume.size, settings.roi_start, settings.roi_size)
    roi_start, roi_size = roi if roi is not None else ((0, 0, 0), volume.size)
    box_start, box_size = margin_box(roi_start, roi_size, settings.roi_margin if roi else 0, volume.size)

    mapping = fit_intensity_mapping(volume.array, model.normalization)
    box = volume.sub_volume(box_start, box_size)
    device = select_device(settings.device)
    on_host = device.type == "cpu" and not isinstance(model.network, InterpolationUpsampler3D)
    check_memory(box.array.shape, model.scale, settings, activation_width(model.network) if on_host else 0)

    output = sliding_window_super_resolve(
        mapping.forward(box.array), model.network, model.scale, settings, progress, cancel
    )
    output = crop_to_roi(output, model.scale, np.subtract(roi_start, box_start), roi_size)
    # mapping.inverse in place: a second full-size output would raise the memory peak.
    output *= np.float32(mapping.scale)
    output += np.float32(mapping.offset)
    clamp_to_input_range(output, volume.array, settings.clamp)
    if nonfinite is not None and nonfinite.any():
        output[upsample_mask(nonfinite, model.scale, roi_start, roi_size)] = np.nan

    result = volume.sub_volume(roi_start, roi_size).with_upsampled_array(output, model.scale)
    return result.to_sitk() if is_sitk_image(image) else result


def clamp_to_input_range(output: np.ndarray, input_array: np.ndarray, mode: str) -> None:
    """Clip ``output`` in place as ``mode`` says (``core.vocabulary.CLAMP_MODES``) to the input's range."""
    if mode not in CLAMP_MODES:
        raise ValueError(f"clamp must be one of {', '.join(CLAMP_MODES)}, got {mode!r}")
    if mode == "none":
        return
    upper = float(np.max(input_array)) if mode == "range" else None
    np.clip(output, float(np.min(input_array)), upper, out=output)


def crop_to_roi(output: np.ndarray, scale: ScaleLike, offset_xyz: Sequence[int], size_xyz: Sequence[int]) -> np.ndarray:
    """Cut the ``scale * size`` output box that starts on LR voxel ``offset`` out of a super-resolved box."""
    scale_xyz = as_scale(scale)
    start = [int(o) * s for o, s in zip(offset_xyz, scale_xyz)][::-1]
    stop = [a + int(n) * s for a, n, s in zip(start, size_xyz[::-1], scale_xyz[::-1])]
    if tuple(start) == (0, 0, 0) and tuple(stop) == output.shape:
        return output
    return np.ascontiguousarray(output[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]])
