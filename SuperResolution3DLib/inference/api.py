"""Super-resolution of whole volumes: sliding windows on the LR grid, Gaussian blending, geometry kept.

``super_resolve(image, model, settings)`` is the Python API the CLI and the Slicer module call:

1. the input (``SimpleITK.Image``, ``Volume`` or ``(array, spacing, origin, direction)``) is validated and
   its non-finite voxels and its padding outside a CT's field of view are replaced (and remembered);
2. an optional region of interest is cut out, with a margin of context that is cropped away afterwards;
3. intensities are normalised with the model's normalisation, fitted on the whole input volume;
4. the estimated host memory is checked against the available RAM;
5. the network runs on LR windows (the network zooms, so an output window is ``window * scale`` voxels),
   blended with a Gaussian importance map (``windows.py``: MONAI's rules, without importing MONAI);
6. the normalisation is inverted (HU stay HU), values below the input's minimum are clipped (``clamp``),
   padding outside a CT's field of view (``data.padding``, filled for the network in step 1) and NaN are put
   back where the input had them, and the
   output gets the LR origin and direction and the LR spacing divided by ``scale``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.devices import select_device
from SuperResolution3DLib.core.vocabulary import CLAMP_MODES
from SuperResolution3DLib.inference.ensemble import MIRROR_PASSES, mirror_ensemble
from SuperResolution3DLib.inference.openvino_backend import choose_backend, openvino_network
from SuperResolution3DLib.inference.memory import AUTO_WINDOW, activation_width, check_memory, resolve_window
from SuperResolution3DLib.inference.windows import (ConvWorkMeter, blend_windows, context_box, multiply_adds_per_input_voxel,
                                                    window_overlap, window_size_zyx, window_slices)
from SuperResolution3DLib.core.precision import autocast, resolve_precision
from SuperResolution3DLib.core.scale import ScaleLike, as_scale
from SuperResolution3DLib.core.errors import (CancelledError, DeviceError, GPUOutOfMemoryError, InputVolumeError,
                                             ThickSliceInputWarning)
from SuperResolution3DLib.networks import InterpolationUpsampler3D
from SuperResolution3DLib.data.normalization import fit_intensity_mapping
from SuperResolution3DLib.core.volume import Volume

ProgressCallback = Callable[[float, str], None]
CancelCheck = Union[Callable[[], bool], threading.Event]
Shape3 = Tuple[int, int, int]



def device_precision(device: torch.device, precision: str) -> str:
    """``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16``) resolved for ``device`` (``core.precision``: ``auto`` is
    bf16 where the device computes it natively); one the device cannot run is a ``DeviceError`` (fp16 needs CUDA)."""
    try:
        return resolve_precision(precision, device.type)
    except ValueError as error:
        raise DeviceError(f"{error}") from None


def autocast_context(device: torch.device, precision: str):
    """The autocast context for ``precision`` on ``device`` (``device_precision``)."""
    return autocast(device.type, device_precision(device, precision))


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
        mirror_ensemble: bool = False,
    ) -> None:
        self.network = network
        self.mirror_ensemble = bool(mirror_ensemble)
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
        self.meter = (ConvWorkMeter(network, self._report_within)
                      if progress is not None and isinstance(network, nn.Module) else None)

    def run_network(self, batch: torch.Tensor) -> torch.Tensor:
        """The network on a batch (averaged over its mirror images with ``mirror_ensemble``)."""
        if self.meter is not None:
            self.meter.start_batch(batch, MIRROR_PASSES if self.mirror_ensemble else 1)
        if self.mirror_ensemble:
            return mirror_ensemble(self._run_once, batch, self.scale_zyx)
        return self._run_once(batch)

    def _run_once(self, batch: torch.Tensor) -> torch.Tensor:
        """One pass; the full-resolution tail in slabs when the network can (bounded memory, same output)."""
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

    backend, _ = choose_network_backend(settings, device, network, array.shape)
    if backend == "openvino":
        runner = openvino_network(network, device_precision(device, settings.precision),
                                  log=(lambda message: progress(0.0, message)) if progress else None)
        amp = contextlib.nullcontext()
    else:
        runner = network_on_device(network, device)
    # the width as super_resolve's memory check counts it: feature maps in host memory on the CPU
    feature_channels = activation_width(network) if device.type == "cpu" and settings.window == AUTO_WINDOW else 0.0
    window = window_size_zyx(resolve_window(settings, array.shape, scale, feature_channels), array.shape, settings.overlap)
    windows = window_slices(array.shape, window, window_overlap(window, settings.overlap))
    predictor = WindowPredictor(runner, inputs, scale_zyx, settings.context, len(windows), device, progress, cancel,
                                settings.tail_slab, settings.mirror_ensemble)
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


def network_on_device(network: nn.Module, device: torch.device) -> nn.Module:
    try:
        return network.to(device, memory_format=torch.channels_last_3d)
    except torch.cuda.OutOfMemoryError:
        parameters = sum(p.numel() for p in network.parameters())
        raise GPUOutOfMemoryError(
            f"the GPU ran out of memory moving the network ({parameters:,} parameters) to {device}; "
            "free GPU memory (close other programs using it) or use --device cpu"
        ) from None


def job_gflop(network: nn.Module, shape_zyx: Sequence[int]) -> float:
    """Convolution GFLOP of ``network`` over an input of ``shape_zyx`` voxels (windows and context left out)."""
    return 2.0 * multiply_adds_per_input_voxel(network) * math.prod(int(n) for n in shape_zyx) / 1e9


def choose_network_backend(settings: InferenceSettings, device: torch.device, network: nn.Module,
                           shape_zyx: Sequence[int]) -> Tuple[str, str]:
    """``(torch | openvino, reason)`` for super-resolving an input of ``shape_zyx`` (``inference.openvino_backend``)."""
    return choose_backend(settings.backend, device.type, network, lambda: job_gflop(network, shape_zyx),
                          device_precision(device, settings.precision))


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


def warn_of_thick_slices(volume: Volume, scale) -> None:
    """Warn where an isotropic model gets a thick-slice input: it enlarges every axis, in-plane too."""
    from SuperResolution3DLib.core.anisotropy import find_thick_slices

    thick = find_thick_slices(volume.spacing, volume.direction)
    if thick is not None and len(set(scale)) == 1 and scale[0] > 1:
        warnings.warn(f"{thick.summary()} (ratio {thick.ratio:.2f}): the {'x'.join(map(str, scale))} model enlarges every axis; "
                      "a through-plane model makes only the slices thinner (sr3d predict without --model, "
                      "super_resolve_thick_slices in Python)", ThickSliceInputWarning, stacklevel=3)


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
    from SuperResolution3DLib.data.padding import replace_padding, restore_padding

    settings = settings or InferenceSettings()
    if settings.clamp not in CLAMP_MODES:
        raise ValueError(f"clamp must be one of {', '.join(CLAMP_MODES)}, got {settings.clamp!r}")
    model = resolve_model(model)
    measured, nonfinite = replace_nonfinite(validate_volume(to_volume(image)))
    warn_of_thick_slices(measured, model.scale)
    volume, padding = replace_padding(measured, settings.padding_below)
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
    result = volume.sub_volume(roi_start, roi_size).with_upsampled_array(output, model.scale)
    if padding is not None:
        restore_padding(result, measured, padding)
    if nonfinite is not None and nonfinite.any():
        output[nonfinite[np.ix_(*measured.nearest_voxel_indices(result))]] = np.nan
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
