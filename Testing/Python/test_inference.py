"""Tests of SuperResolution3DLib.inference.api: geometry, sliding windows, ROI, progress, memory, units, NaN, devices."""

from __future__ import annotations

import threading
from typing import Sequence, Tuple

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.data.degradation import kspace_degrade
from SuperResolution3DLib.core.errors import (
    CancelledError,
    DeviceError,
    GPUOutOfMemoryError,
    InputVolumeError,
    InsufficientMemoryError,
)
from SuperResolution3DLib.inference.api import sliding_window_super_resolve, super_resolve
from SuperResolution3DLib.inference.memory import check_memory, estimate_peak_memory_bytes
from SuperResolution3DLib.inference.windows import window_overlap
from SuperResolution3DLib.core.devices import select_device
from SuperResolution3DLib.models.files import SRModel, save_model
from SuperResolution3DLib.networks import InterpolationUpsampler3D, RRDBNet3D
from SuperResolution3DLib.core.volume import Volume

SPACING = (0.9, 1.1, 1.3)
ORIGIN = (-12.5, 30.25, 7.0)


def oblique_direction() -> Tuple[float, ...]:
    """A rotation by 30 degrees about the axis (1, 2, 3): no axis-aligned shortcut can pass the tests."""
    axis = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.deg2rad(30.0)
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    return tuple(rotation.ravel())


DIRECTION = oblique_direction()
CPU = dict(device="cpu", precision="fp32")  # exact comparisons: no bf16 autocast where the CPU has it


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def trilinear_model(scale: Sequence[int] = (4, 4, 4), normalization=None) -> SRModel:
    return SRModel(InterpolationUpsampler3D("trilinear", scale), tuple(scale), normalization or {"kind": "minmax"}, {})


def tiny_rrdb(scale: Sequence[int] = (4, 4, 4), num_feat: int = 4, num_block: int = 0) -> RRDBNet3D:
    torch.manual_seed(0)
    return RRDBNet3D(num_feat=num_feat, num_grow_ch=4, num_block=num_block, scale=scale).eval()


def rrdb_model(scale: Sequence[int] = (4, 4, 4), **kwargs) -> SRModel:
    return SRModel(tiny_rrdb(scale, **kwargs), tuple(scale), {"kind": "minmax"}, {})


def random_volume(shape_zyx: Sequence[int], seed: int = 0, low: float = 0.0, high: float = 1.0) -> Volume:
    array = np.random.default_rng(seed).uniform(low, high, size=shape_zyx).astype(np.float32)
    return Volume(array, SPACING, ORIGIN, DIRECTION)


def whole_volume_forward(network: torch.nn.Module, array: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return network(torch.from_numpy(array)[None, None])[0, 0].numpy()


# Geometry ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sitk", "volume", "tuple"])
def test_output_geometry_for_every_input_kind(kind):
    volume = random_volume((6, 7, 8))
    image = {
        "sitk": volume.to_sitk,
        "volume": lambda: volume,
        "tuple": lambda: (volume.array, volume.spacing, volume.origin, volume.direction),
    }[kind]()

    result = super_resolve(image, trilinear_model(), InferenceSettings(**CPU))

    if kind == "sitk":
        assert isinstance(result, sitk.Image)
        result = Volume.from_sitk(result)
    assert isinstance(result, Volume)
    assert result.array.shape == (24, 28, 32)
    assert result.array.dtype == np.float32
    np.testing.assert_allclose(result.spacing, np.asarray(SPACING) / 4)
    np.testing.assert_allclose(result.origin, ORIGIN)
    np.testing.assert_allclose(result.direction, DIRECTION)
    # LR voxel i lies on output voxel 4 i in world space.
    np.testing.assert_allclose(result.index_to_world((12, 8, 20)), volume.index_to_world((3, 2, 5)), atol=1e-9)


def test_anisotropic_scale_with_a_network():
    volume = random_volume((6, 9, 8))
    settings = InferenceSettings(window=(4, 4, 4), context=2, **CPU)

    result = super_resolve(volume, rrdb_model((1, 1, 4)), settings)

    assert result.array.shape == (24, 9, 8)
    np.testing.assert_allclose(result.spacing, (SPACING[0], SPACING[1], SPACING[2] / 4))
    np.testing.assert_allclose(result.origin, ORIGIN)
    assert np.isfinite(result.array).all()


def gaussian_blob(size_xyz: Sequence[int], centre_xyz: Sequence[float], sigma: float) -> np.ndarray:
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in size_xyz[::-1]), indexing="ij")
    squared = (x - centre_xyz[0]) ** 2 + (y - centre_xyz[1]) ** 2 + (z - centre_xyz[2]) ** 2
    return np.exp(-squared / (2 * sigma**2)).astype(np.float32)


def world_centroid(volume: Volume) -> np.ndarray:
    """World position of the intensity-weighted centroid of the voxels above half the maximum."""
    weights = np.where(volume.array > volume.array.max() / 2, volume.array, 0.0)
    index_zyx = [np.sum(weights * grid) / weights.sum() for grid in np.indices(volume.array.shape)]
    return volume.index_to_world(index_zyx[::-1])


def test_blob_lands_where_it_was_in_world_space():
    hr = Volume(gaussian_blob((40, 44, 48), (17.3, 21.0, 26.6), sigma=3.0), SPACING, ORIGIN, DIRECTION)
    lr = kspace_degrade(hr, 4)

    sr = super_resolve(lr, trilinear_model(), InferenceSettings(**CPU))

    hr_centroid = world_centroid(hr)
    # The half-maximum threshold on a sampled blob biases its centroid by a few hundredths of a voxel.
    np.testing.assert_allclose(hr.world_to_index(hr_centroid), (17.3, 21.0, 26.6), atol=0.1)
    error_in_hr_voxels = hr.world_to_index(world_centroid(sr)) - hr.world_to_index(hr_centroid)
    assert np.abs(error_in_hr_voxels).max() < 0.5, error_in_hr_voxels
    # A centre-aligned output grid (origin moved back by 1.5 HR voxels) must fail the same check.
    shifted_origin = sr.index_to_world((-1.5, -1.5, -1.5))
    centre_aligned = Volume(sr.array, sr.spacing, tuple(shifted_origin), sr.direction)
    shifted_error = hr.world_to_index(world_centroid(centre_aligned)) - hr.world_to_index(hr_centroid)
    assert np.abs(shifted_error).min() > 1.0, shifted_error


# Sliding windows -----------------------------------------------------------------------------------
def test_context_makes_windows_equal_to_a_whole_volume_pass():
    # Without RRDBs the receptive field reaches 1 + 1 + 3 * 0.5 = 3.5 LR voxels at scale 2, so windows
    # with 4 voxels of context see exactly what a whole-volume pass sees: only float rounding differs.
    network = tiny_rrdb((2, 2, 2), num_block=0)
    array = np.random.default_rng(1).random((14, 13, 12), dtype=np.float32)
    settings = InferenceSettings(window=4, overlap=0.25, context=4, **CPU)

    windowed = sliding_window_super_resolve(array, network, (2, 2, 2), settings)

    whole = whole_volume_forward(network, array)
    assert windowed.shape == whole.shape == (28, 26, 24)
    assert windowed.dtype == np.float32
    np.testing.assert_allclose(windowed, whole, atol=1e-6 * np.ptp(whole))


def test_windows_converge_to_the_whole_volume_pass_as_context_grows():
    # Measured on this random 1-block net (20^3, window 12, overlap 0.25): max |windowed - whole| is
    # 2.2e-2 (a third of the output range, mean 6.5e-4) without context, because every window edge sees
    # the convolutions' zero padding; 2 voxels of context bring it to 1.5e-6, 4 voxels to 2e-8.
    network = tiny_rrdb((4, 4, 4), num_feat=8, num_block=1)
    array = np.random.default_rng(0).random((20, 20, 20), dtype=np.float32)
    whole = whole_volume_forward(network, array)
    errors = []
    for context in (0, 2):
        settings = InferenceSettings(window=12, overlap=0.25, context=context, **CPU)
        errors.append(np.abs(sliding_window_super_resolve(array, network, 4, settings) - whole))

    assert errors[0].max() < 0.5 * np.ptp(whole) and errors[0].mean() < 0.02 * np.ptp(whole)
    assert errors[1].max() < 1e-4 * np.ptp(whole)


def test_anisotropic_scale_windows_match_the_whole_volume_pass():
    # With scale 1 in x and y the six convolutions outside the RRDBs all run at LR there: 6 voxels of context.
    network = tiny_rrdb((1, 1, 4), num_block=0)
    array = np.random.default_rng(2).random((10, 20, 20), dtype=np.float32)
    settings = InferenceSettings(window=(6, 6, 4), overlap=0.25, context=6, **CPU)

    windowed = sliding_window_super_resolve(array, network, (1, 1, 4), settings)

    whole = whole_volume_forward(network, array)
    assert windowed.shape == (40, 20, 20)
    np.testing.assert_allclose(windowed, whole, atol=1e-6 * np.ptp(whole))


@pytest.mark.parametrize("window, overlap", [(12, 0.25), (10, 0.3), (7, 0.5), (32, 0.125), (5, 0.0)])
def test_overlap_is_a_whole_number_of_voxels(window, overlap):
    from SuperResolution3DLib.inference.windows import axis_starts

    adjusted = window_overlap((window,) * 3, overlap)
    starts = axis_starts(100, window, adjusted[0])
    step = starts[1] - starts[0]
    assert step == max(1, int(round(window * (1 - overlap), 6)))
    assert (window - step) * 4 == int((window - step) * 4)


def test_interpolation_runs_on_the_whole_volume():
    array = np.random.default_rng(3).random((5, 6, 7), dtype=np.float32)
    network = InterpolationUpsampler3D("bspline", (4, 4, 4))
    settings = InferenceSettings(window=2, **CPU)

    result = sliding_window_super_resolve(array, network, 4, settings)

    np.testing.assert_allclose(result, whole_volume_forward(network, array), atol=1e-6)


# Region of interest --------------------------------------------------------------------------------
@pytest.mark.parametrize("model_kind", ["trilinear", "network"])
def test_roi_equals_the_crop_of_the_full_result(model_kind):
    volume = random_volume((20, 15, 16), seed=4)
    model = trilinear_model((2, 2, 2)) if model_kind == "trilinear" else rrdb_model((2, 2, 2))
    start, size = (3, 2, 8), (6, 7, 4)
    # The margin (4 LR voxels, inside the volume on every side but two) covers the network's 3.5-voxel reach.
    settings = dict(window=6, context=4, roi_margin=4, **CPU)

    full = super_resolve(volume, model, InferenceSettings(**settings))
    roi = super_resolve(volume, model, InferenceSettings(roi_start=start, roi_size=size, **settings))

    assert roi.array.shape == (8, 14, 12)
    crop = full.array[16:24, 4:18, 6:18]
    np.testing.assert_allclose(roi.array, crop, atol=1e-5 * np.ptp(crop))
    np.testing.assert_allclose(roi.origin, volume.index_to_world(start), atol=1e-9)
    np.testing.assert_allclose(roi.origin, full.index_to_world((6, 4, 16)), atol=1e-9)
    np.testing.assert_allclose(roi.spacing, full.spacing)
    np.testing.assert_allclose(roi.direction, DIRECTION)


@pytest.mark.parametrize(
    "start, size", [((0, 0, 0), (9, 2, 2)), ((-1, 0, 0), (2, 2, 2)), ((1, 1, 1), (0, 2, 2)), ((5, 5, 5), (2, 2, 3))]
)
def test_roi_outside_the_volume_is_refused(start, size):
    volume = random_volume((7, 7, 8))
    settings = InferenceSettings(roi_start=start, roi_size=size, **CPU)

    with pytest.raises(InputVolumeError, match="region of interest .* not inside the volume"):
        super_resolve(volume, trilinear_model(), settings)


# Progress and cancel -------------------------------------------------------------------------------
@pytest.mark.parametrize("model_kind", ["trilinear", "network"])
def test_progress_is_monotonic_and_reaches_one(model_kind):
    model = trilinear_model((2, 2, 2)) if model_kind == "trilinear" else rrdb_model((2, 2, 2))
    reports = []

    super_resolve(random_volume((8, 8, 8)), model, InferenceSettings(window=4, context=1, **CPU),
                  progress=lambda fraction, message: reports.append((fraction, message)))

    fractions = [fraction for fraction, _ in reports]
    assert len(fractions) >= 2 and fractions[-1] == 1.0
    assert all(a <= b for a, b in zip(fractions, fractions[1:]))
    assert all(isinstance(message, str) and message for _, message in reports)


def test_cancel_with_an_event_or_a_callable():
    volume, model = random_volume((8, 8, 8)), rrdb_model((2, 2, 2))
    settings = InferenceSettings(window=4, context=0, **CPU)
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError, match="cancelled"):
        super_resolve(volume, model, settings, cancel=stop)

    checks, reports = [], []

    def cancel_on_third_window() -> bool:
        checks.append(1)
        return len(checks) >= 3

    with pytest.raises(CancelledError):
        super_resolve(volume, model, settings, progress=lambda f, m: reports.append(f), cancel=cancel_on_third_window)
    assert 0 < max(reports) < 1


# Memory --------------------------------------------------------------------------------------------
def test_memory_check_refuses_and_suggests_a_region_of_interest():
    settings = InferenceSettings(memory_limit_bytes=60 * 1024**2, **CPU)

    with pytest.raises(InsufficientMemoryError, match="region of interest") as raised:
        super_resolve(random_volume((20, 20, 20)), trilinear_model((8, 8, 8)), settings)

    message = str(raised.value)
    assert "--roi" in message and "voxels" in message and "GB" in message


def test_memory_estimate_is_about_three_outputs():
    settings = InferenceSettings(window=16, context=0, **CPU)
    output_bytes = 4 * (100 * 4) ** 3

    estimate = estimate_peak_memory_bytes((100, 100, 100), 4, settings)

    assert 3 * output_bytes <= estimate <= 3.2 * output_bytes
    check_memory((10, 10, 10), 4, InferenceSettings(memory_limit_bytes=10 * estimate, **CPU))
    with pytest.raises(InsufficientMemoryError, match="a box of about"):
        check_memory((100, 100, 100), 4, InferenceSettings(memory_limit_bytes=estimate // 2, **CPU))


def test_activation_width_counts_channels_on_the_grid_they_live_on():
    from SuperResolution3DLib.inference.memory import activation_width
    from SuperResolution3DLib.networks import build_network

    # SRResNet3D: 8 features, pixel-shuffle convolutions of 64 channels at half the output resolution
    # (64 / 2^3 = 8 per output voxel) and 8 channels at the output resolution
    srresnet = build_network({"name": "SRResNet3D", "num_feat": 8, "num_block": 1, "scale": [4, 4, 4]}).eval()
    assert activation_width(srresnet) == 8
    rrdb = build_network({"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]}).eval()
    assert activation_width(rrdb) == 4
    assert activation_width(trilinear_model((8, 8, 8)).network) == 0


def raise_cuda_out_of_memory(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize("where", ["moving the network", "windows"])
def test_gpu_out_of_memory_is_an_insufficient_memory_error(where):
    network = tiny_rrdb()
    if where == "windows":
        network.forward = network.forward_in_slabs = raise_cuda_out_of_memory
    else:
        network.to = raise_cuda_out_of_memory
    array = np.random.default_rng(0).random((6, 6, 6)).astype(np.float32)

    with pytest.raises(GPUOutOfMemoryError, match=f"the GPU ran out of memory (on|moving).*--") as raised:
        sliding_window_super_resolve(array, network, 4, InferenceSettings(window=4, **CPU))

    assert isinstance(raised.value, InsufficientMemoryError)
    assert ("moving the network" in str(raised.value)) == (where == "moving the network")


# Intensities and non-finite voxels -----------------------------------------------------------------
@pytest.mark.parametrize("normalization", [{"kind": "minmax"}, {"kind": "window", "low": -1024, "high": 3000}])
def test_output_stays_in_input_units(normalization):
    volume = random_volume((6, 7, 8), seed=5, low=-1000.0, high=2000.0)

    result = super_resolve(volume, trilinear_model(normalization=normalization), InferenceSettings(**CPU))

    np.testing.assert_allclose(result.array[::4, ::4, ::4], volume.array, atol=2e-3)


def test_nan_voxel_gives_nan_around_its_output_position():
    volume = random_volume((6, 7, 8), seed=6)
    volume.array[3, 4, 5] = np.nan

    with pytest.warns(UserWarning, match="non-finite"):
        result = super_resolve(volume, trilinear_model(), InferenceSettings(**CPU))

    expected = np.zeros(result.array.shape, dtype=bool)
    expected[10:14, 14:18, 18:22] = True  # output voxels nearest to LR voxel (5, 4, 3): 4 i - 2 .. 4 i + 1
    np.testing.assert_array_equal(np.isnan(result.array), expected)


# Devices and precision -----------------------------------------------------------------------------
def test_fp16_on_the_cpu_is_refused_and_bf16_stays_close_to_fp32():
    with pytest.raises(DeviceError, match="fp16 needs a CUDA GPU"):
        super_resolve(random_volume((6, 6, 6)), rrdb_model(), InferenceSettings(**{**CPU, "precision": "fp16"}))
    volume, model = random_volume((6, 6, 6)), rrdb_model()
    full = super_resolve(volume, model, InferenceSettings(**CPU)).array
    half = super_resolve(volume, model, InferenceSettings(**{**CPU, "precision": "bf16"})).array
    assert np.abs(half - full).max() <= 0.02 * (full.max() - full.min())


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_when_unavailable_is_refused():
    assert select_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(DeviceError, match="CUDA is not available.*--device cpu"):
            select_device(name)
    with pytest.raises(DeviceError):
        super_resolve(random_volume((6, 6, 6)), rrdb_model(), InferenceSettings(device="cuda"))


def test_unknown_device_is_refused():
    with pytest.raises(DeviceError, match="unknown device|unsupported device"):
        select_device("tpu")


# Models by path ------------------------------------------------------------------------------------
def test_model_given_as_a_path(tmp_path):
    config = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 0, "scale": [2, 2, 2]}
    network = tiny_rrdb((2, 2, 2))
    card_path = save_model(tmp_path / "tiny", network, {"network": config, "normalization": {"kind": "minmax"}})
    volume = random_volume((6, 6, 6))
    settings = InferenceSettings(window=4, context=2, **CPU)

    by_path = super_resolve(volume, str(card_path), settings)

    expected = super_resolve(volume, SRModel(network, (2, 2, 2), {"kind": "minmax"}, {}), settings)
    np.testing.assert_allclose(by_path.array, expected.array, atol=1e-6)


# Windows and blending: MONAI's rules without MONAI --------------------------------------------------
@pytest.mark.parametrize("shape, window, overlap", [((20, 13, 9), (8, 6, 9), 0.25), ((7, 30, 11), (7, 8, 4), 0.5),
                                                    ((5, 5, 5), (8, 8, 8), 0.125), ((33, 17, 12), (10, 10, 10), 0.0)])
def test_windows_and_blend_equal_monai_sliding_window_inference(shape, window, overlap):
    from monai.data.utils import compute_importance_map, dense_patch_slices
    from monai.inferers import sliding_window_inference

    from SuperResolution3DLib.inference.windows import blend_windows, gaussian_blend_weights, window_slices

    scale = (2, 1, 3)
    window = tuple(min(w, n) for w, n in zip(window, shape))
    overlaps = window_overlap(window, overlap)
    intervals = tuple(w if w == n else max(1, int(w * (1 - o))) for w, n, o in zip(window, shape, overlaps))
    assert window_slices(shape, window, overlaps) == [tuple(s) for s in dense_patch_slices(shape, window, intervals)]

    out_window = tuple(w * f for w, f in zip(window, scale))
    monai_weights = compute_importance_map(out_window, mode="gaussian", sigma_scale=0.125, device="cpu")
    torch.testing.assert_close(gaussian_blend_weights(out_window), monai_weights, rtol=0, atol=0)

    inputs = torch.from_numpy(np.random.default_rng(5).random(shape, dtype=np.float32))[None, None]
    noise = torch.Generator().manual_seed(0)

    def zoom(batch):  # a position-dependent "network" whose windows disagree, so the blend matters
        up = batch.repeat_interleave(scale[0], 2).repeat_interleave(scale[1], 3).repeat_interleave(scale[2], 4)
        return up + 0.1 * torch.rand(up.shape, generator=noise)

    ours = blend_windows(inputs, window_slices(shape, window, overlaps), scale, 3, lambda data, _w: zoom(data))
    noise.manual_seed(0)
    theirs = sliding_window_inference(inputs, window, 3, zoom, overlap=overlaps, mode="gaussian", roi_weight_map=monai_weights)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_progress_moves_inside_a_single_window():
    network = tiny_rrdb((4, 4, 4), num_block=2)
    array = np.random.default_rng(6).random((12, 12, 12), dtype=np.float32)
    reports = []
    settings = InferenceSettings(window=16, **CPU)
    sliding_window_super_resolve(array, network, 4, settings, progress=lambda f, m: reports.append(f))
    inside = [f for f in reports if 0 < f < 1]
    assert len(inside) >= 10, reports
    assert reports == sorted(reports) and reports[0] == 0.0 and reports[-1] == 1.0


def test_clamp_keeps_the_output_inside_the_input_range_as_asked():
    volume = random_volume((8, 9, 10), seed=7, low=-1000.0, high=500.0)  # signed, like CT in HU
    class Overshooting(torch.nn.Module):  # nearest zoom with a contrast gain: out of the input's range on both sides
        def forward(self, x):
            return 2.0 * (torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest") - 0.5) + 0.5

    model = SRModel(Overshooting(), (2, 2, 2), {"kind": "minmax"}, {})
    raw = super_resolve(volume, model, InferenceSettings(clamp="none", context=0, **CPU)).array
    lo, hi = volume.array.min(), volume.array.max()
    assert raw.min() < lo - 100 and raw.max() > hi + 100
    floor = super_resolve(volume, model, InferenceSettings(clamp="floor", context=0, **CPU)).array
    np.testing.assert_array_equal(floor, np.maximum(raw, lo))
    both = super_resolve(volume, model, InferenceSettings(context=0, **CPU)).array  # the default
    np.testing.assert_array_equal(both, np.clip(raw, lo, hi))
    with pytest.raises(ValueError, match="clamp must be one of range, floor, none"):
        super_resolve(volume, model, InferenceSettings(clamp="yes", **CPU))


def test_auto_window_is_the_largest_that_fits_a_quarter_of_the_memory():
    from SuperResolution3DLib.inference.memory import (AUTO_WINDOW_FALLBACK, resolve_window, window_size_zyx,
                                                       window_working_set_bytes)

    shape, width = (60, 80, 70), 4.0
    roomy = InferenceSettings(memory_limit_bytes=10**13, **CPU)
    assert InferenceSettings().window == "auto"
    assert resolve_window(roomy, shape, 4, width) == 80  # the whole volume in one window
    tight = InferenceSettings(memory_limit_bytes=4 * 2**30, **CPU)
    side = resolve_window(tight, shape, 4, width)
    assert 24 <= side < 80

    def working_set(side):
        return window_working_set_bytes(window_size_zyx(side, shape, tight.overlap), 4, tight, width, shape)

    assert working_set(side) <= 2**30 < working_set(side + 1)
    assert resolve_window(tight, shape, 4, 0.0) == AUTO_WINDOW_FALLBACK  # a GPU's feature maps are not in host RAM
    assert resolve_window(InferenceSettings(window=16, **CPU), shape, 4, width) == 16


def test_auto_window_output_equals_one_whole_volume_window():
    network = tiny_rrdb(num_block=1)
    array = np.random.default_rng(1).random((9, 11, 10)).astype(np.float32)
    whole = sliding_window_super_resolve(array, network, 4, InferenceSettings(window=11, **CPU))
    auto = sliding_window_super_resolve(array, network, 4, InferenceSettings(memory_limit_bytes=10**12, **CPU))
    np.testing.assert_array_equal(auto, whole)
    tiled = sliding_window_super_resolve(array, network, 4, InferenceSettings(window=5, context=0, **CPU))
    assert not np.array_equal(tiled, whole)  # windows without context differ: auto really used one window
