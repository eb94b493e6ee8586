"""Self-supervised adaptation of a through-plane model to the thick-slice scan it is about to super-resolve.

SMORE's idea with a 3D network: the scan's in-plane axes have the resolution that its slice axis lacks, so
making an in-plane axis into thick slices gives LR/HR pairs whose HR is real data of this very scan (its
contrast, noise and anatomy). The pre-trained model is fine-tuned on such pairs for a time budget, then applied
through-plane as usual.

1. The scan (already turned so that its slices are along array axis 0, ``z``) is normalised as inference will
   normalise it.
2. ``crops + check_crops`` crops of ``patch / f`` slices x ``patch`` x ``patch`` voxels, centred on foreground,
   are super-resolved along ``z`` by the pre-trained model: isotropic context blocks (``patch``^3) whose two
   in-plane axes are real data.
3. A pair: a context block made into thick slices along one in-plane axis (``data.slice_profiles``, profile and
   thickness as ``AdaptationSettings.slice_profile`` says), turned so that this axis is the network's ``z``; the
   L1 loss against the block itself. Adam, cosine-decayed over the budget; flips as augmentation. When the scan's
   slice ratio ``r`` is not the model's factor ``f``, the model meets anatomy ``r / f`` times denser along ``z``
   than it would at ``f``; the block is first resampled along that in-plane axis by ``f / r``
   (``resample_axis_spectrally``), so that the pairs show it the same (as ``data.thick_ratios`` does in training).
4. The held-out blocks check the result: PSNR of the pre-trained and the adapted model on their pairs. The
   adapted weights are kept only when they are better there; otherwise the pre-trained model is returned as is.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from SuperResolution3DLib.core.config import AdaptationSettings
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.vocabulary import INTEGRATING_SLICE_PROFILES, SLICE_PROFILES

ProgressCallback = Callable[[float, str], None]
ESTIMATED_PROFILES = ("auto", "estimate")  # auto that no record filled in is the estimate
MIXED_THICKNESS = (0.8, 1.3)  # the bundled default's pre-training range, for cards that do not record theirs
FOREGROUND_LEVEL = 0.1  # normalised intensity above which a voxel may centre a crop


def adaptation_patch(shape_zyx, factor: int, patch: int) -> int:
    """The HR crop side that fits the scan: at most ``patch``, a multiple of ``factor``, at least ``4 * factor``."""
    side = min(patch, factor * shape_zyx[0], shape_zyx[1], shape_zyx[2])
    side -= side % factor
    if side < 4 * factor:
        raise InputVolumeError(
            f"the scan ({shape_zyx[2]} x {shape_zyx[1]} voxels in-plane, {shape_zyx[0]} slices) is too small to adapt "
            f"a {factor}x model to it: it needs at least {4 * factor} voxels in-plane and 4 slices; run without --adapt")
    return side


def crop_corners(normalised: np.ndarray, count: int, lr_side: Tuple[int, int, int], rng: np.random.Generator) -> List[Tuple[int, int, int]]:
    """``count`` crop corners ``[z, y, x]``, each centred on a foreground voxel where there is foreground."""
    shape = np.asarray(normalised.shape)
    side = np.asarray(lr_side)
    foreground = np.argwhere(normalised[:, ::4, ::4] > FOREGROUND_LEVEL) * np.array([1, 4, 4])
    corners = []
    for _ in range(count):
        centre = foreground[rng.integers(len(foreground))] if len(foreground) else rng.integers(0, shape)
        corners.append(tuple(int(c) for c in np.clip(centre - side // 2, 0, shape - side)))
    return corners


def _trained_augmentation(card) -> dict:
    return card.get("training_settings", {}).get("augmentation", {})


def trained_slice_profiles(card) -> Tuple[str, ...]:
    """The slice profiles a through-plane model trained on (its card), else the integrating ones of the bundled
    default: what ``mixed`` draws from and ``estimate`` (``auto``) chooses among."""
    trained = _trained_augmentation(card).get("slice_profiles") or ()
    return tuple(p for p in trained if p in SLICE_PROFILES) or INTEGRATING_SLICE_PROFILES


def trained_slice_thickness(card) -> Tuple[float, float]:
    """The slice thickness range (slice spacings) a through-plane model trained on, else ``MIXED_THICKNESS``."""
    return tuple(_trained_augmentation(card).get("slice_thickness") or MIXED_THICKNESS)


def _slice_profile_of(settings: AdaptationSettings, estimate, rng: np.random.Generator, profiles: Tuple[str, ...],
                      thickness: Tuple[float, float]) -> Tuple[str, float]:
    if settings.slice_profile == "mixed":
        profile = profiles[rng.integers(len(profiles))]
        return profile, settings.slice_thickness or float(rng.uniform(*thickness))
    if settings.slice_profile in ESTIMATED_PROFILES:
        return estimate.profile, settings.slice_thickness or estimate.relative_thickness
    return settings.slice_profile, settings.slice_thickness or 1.0


def estimate_spacing(shape: Sequence[int], factor: int, ratio: Optional[float]) -> int:
    """The slice spacing in in-plane voxels that the profile estimate compares the scan's slices with: the scan's
    ratio rounded (its slices are ``ratio`` in-plane voxels apart, whatever the model's factor: an estimate made at
    the factor of a 4x model calls contiguous slices of a 6x or 8x scan gaps), at most an eighth of the shorter
    in-plane axis (``data.slice_profiles`` needs eight slices' worth)."""
    wanted = factor if ratio is None else int(round(ratio))
    return max(2, min(wanted, min(int(n) for n in shape[1:]) // 8))


def ratio_matched_lengths(side: int, factor: int, ratio: float) -> Tuple[int, int]:
    """``(resampled, kept)`` voxels along a pair's thick axis for a scan of slice ratio ``ratio``: the block's
    ``side`` resampled by ``factor / ratio`` (at least ``4 * factor``), then the centre ``kept`` of them: at most
    ``side``, a multiple of ``factor``."""
    resampled = max(4 * factor, int(round(side * factor / ratio)))
    kept = min(side, resampled)
    return resampled, kept - kept % factor


def thick_slice_pair(block: np.ndarray, array_axis: int, factor: int, profile: str, relative_thickness: float,
                     ratio: Optional[float] = None):
    """``(lr, hr)``: ``block`` made into thick slices along in-plane ``array_axis`` (1 or 2), both turned so that
    this axis is axis 0 (the network's ``z``). ``ratio``: the scan's slice ratio where it is not ``factor``; the
    block is first resampled along ``array_axis`` by ``factor / ratio`` (then centre-cropped to
    ``ratio_matched_lengths``)."""
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.degradation import resample_axis_spectrally
    from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade

    if ratio is not None and not math.isclose(ratio, factor, rel_tol=1e-3):
        resampled, length = ratio_matched_lengths(block.shape[array_axis], factor, ratio)
        stretched = resample_axis_spectrally(block, array_axis, resampled)
        start = (resampled - length) // 2
        block = np.ascontiguousarray(np.take(stretched, range(start, start + length), axis=array_axis), np.float32)
    lr = thick_slice_degrade(Volume(block), 2 - array_axis, factor, profile, factor * relative_thickness).array
    order = (array_axis, 0, 3 - array_axis)
    return np.ascontiguousarray(lr.transpose(order)), np.ascontiguousarray(block.transpose(order))


def _network_psnr(network, pairs, device, precision_context) -> float:
    """Mean PSNR (data range 1 on the normalised scale) of ``network`` on ``(lr, hr)`` pairs."""
    import torch

    values = []
    with torch.no_grad(), precision_context():
        for lr, hr in pairs:
            sr = network(torch.from_numpy(lr)[None, None].to(device)).float().cpu().numpy()[0, 0]
            mse = float(np.mean((sr - hr) ** 2))
            values.append(10 * math.log10(1.0 / max(mse, 1e-12)))
    return float(np.mean(values))


def adapt_to_scan(turned_array: np.ndarray, model, settings: Optional[AdaptationSettings] = None,
                  progress: Optional[ProgressCallback] = None, cancel=None,
                  describe: Optional[Dict[str, Any]] = None, ratio: Optional[float] = None,
                  pair_axes: Sequence[int] = (1, 2)):
    """Fine-tune a through-plane ``model`` (``SRModel``, scale ``(1, 1, f)``) on a thick-slice scan.

    ``turned_array``: the scan ``[z, y, x]`` with its slices along ``z`` (``thick_slices.permute_axes``), in the
    scan's own units. Returns a new ``SRModel`` (the given one is not changed) whose card says what it was adapted
    to (``describe`` is added to it) and how it did on held-out crops; when adaptation did not help there, the
    returned model has the pre-trained weights. ``progress(fraction, message)`` as for inference; ``cancel``
    (callable or ``threading.Event``) stops with ``CancelledError``. ``ratio``: the scan's slice spacing over its
    in-plane spacing (``None``: the model's factor), which the pairs are matched to (step 3 above). ``pair_axes``:
    the in-plane array axes (1 = y, 2 = x) that pairs are made along, those at the finer in-plane spacing (both for
    square pixels).
    """
    import torch

    from SuperResolution3DLib.core.devices import select_device
    from SuperResolution3DLib.core.precision import autocast, resolve_precision
    from SuperResolution3DLib.data.normalization import fit_intensity_mapping
    from SuperResolution3DLib.data.slice_profiles import estimate_slice_profile
    from SuperResolution3DLib.inference.api import raise_if_cancelled
    from SuperResolution3DLib.models.files import SRModel

    settings = settings or AdaptationSettings()
    report = progress or (lambda fraction, message: None)
    factor = int(model.scale[2])
    started = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    normalised = fit_intensity_mapping(turned_array, model.normalization).forward(np.asarray(turned_array, np.float32))
    side = adaptation_patch(normalised.shape, factor, settings.patch)
    profiles = trained_slice_profiles(model.card)  # not sinc for the default: the estimate takes rect slices for sinc
    trained = (profiles, trained_slice_thickness(model.card))
    estimate = (estimate_slice_profile(normalised, estimate_spacing(normalised.shape, factor, ratio), profiles=profiles)
                if settings.slice_profile in ESTIMATED_PROFILES else None)
    device = select_device(settings.device)
    precision = resolve_precision(settings.precision, device.type)
    precision_context = lambda: autocast(device.type, precision)  # noqa: E731

    network = copy.deepcopy(model.network).to(device)
    network.eval()
    report(0.0, "adapting: super-resolving crops of the scan for context")
    lr_side = (side // factor, side, side)
    blocks = []
    with torch.no_grad(), precision_context():
        for z, y, x in crop_corners(normalised, settings.crops + settings.check_crops, lr_side, rng):
            raise_if_cancelled(cancel)
            crop = normalised[z:z + lr_side[0], y:y + side, x:x + side]
            blocks.append(network(torch.from_numpy(np.ascontiguousarray(crop))[None, None].to(device)).float().cpu().numpy()[0, 0])
    training_blocks, check_blocks = blocks[:settings.crops], blocks[settings.crops:]
    pair_axes = tuple(int(a) for a in pair_axes)
    if not pair_axes or not set(pair_axes) <= {1, 2}:
        raise ValueError(f"pair_axes are in-plane array axes, 1 and/or 2; got {pair_axes}")
    check_pairs = [thick_slice_pair(block, pair_axes[k % len(pair_axes)], factor, *_slice_profile_of(settings, estimate, rng, *trained), ratio=ratio)
                   for k, block in enumerate(check_blocks)]
    psnr_before = _network_psnr(network, check_pairs, device, precision_context) if check_pairs else float("nan")

    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate, betas=(0.9, 0.99))
    budget = settings.minutes * 60.0
    training_started = time.perf_counter()
    step, losses = 0, []
    network.train()
    while True:
        elapsed = time.perf_counter() - training_started
        done = elapsed / budget if settings.max_steps is None else max(elapsed / budget, step / settings.max_steps)
        if done >= 1.0:
            break
        raise_if_cancelled(cancel)
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))
        lr_batch, hr_batch = _training_batch(training_blocks, settings, estimate, factor, rng, trained, ratio, pair_axes)
        with precision_context():
            sr = network(torch.from_numpy(lr_batch).to(device))
        loss = torch.nn.functional.l1_loss(sr.float(), torch.from_numpy(hr_batch).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        step += 1
        losses.append(float(loss.detach()))
        remaining = max(0.0, budget - (time.perf_counter() - training_started))
        report(min(done, 0.999), f"adapting: step {step}, L1 {np.mean(losses[-10:]):.4f}, {remaining:.0f} s left")
    network.eval()
    psnr_after = _network_psnr(network, check_pairs, device, precision_context) if check_pairs else float("nan")
    improved = bool(check_pairs) and psnr_after > psnr_before
    record = {
        "adapted_to": describe or {},
        "parent": model.card.get("name"),
        "parent_weights_sha256": model.card.get("weights_sha256"),
        "steps": step,
        "seconds": round(time.perf_counter() - started, 1),
        "slice_profile": settings.slice_profile if estimate is None else estimate.describe(),
        "slice_thickness": settings.slice_thickness,
        "pairs_matched_to_ratio": None if ratio is None else round(float(ratio), 3),
        "learning_rate": settings.learning_rate,
        "hr_patch": side,
        "precision": precision,
        "held_out_psnr_before": round(psnr_before, 3),
        "held_out_psnr_after": round(psnr_after, 3),
        "kept": improved,
    }
    verdict = "kept" if improved else "not kept (no better on held-out crops): the pre-trained weights are used"
    report(1.0, f"adapted in {step} steps: held-out PSNR {psnr_before:.2f} -> {psnr_after:.2f} dB, {verdict}")
    card = copy.deepcopy(model.card)
    card["adaptation"] = record
    if not improved:
        return SRModel(model.network, tuple(model.scale), dict(model.normalization), card)
    card["name"] = f"{model.card.get('name', 'model')}_adapted"
    card["description"] = (f"{model.card.get('description', '')} Adapted (self-supervised, {step} steps) to "
                           f"{(describe or {}).get('input', 'one scan')}.").strip()
    for stale in ("weights_sha256", "weights_file", "created"):
        card.pop(stale, None)
    return SRModel(network.cpu().eval(), tuple(model.scale), dict(model.normalization), card)


def _training_batch(blocks, settings: AdaptationSettings, estimate, factor: int, rng: np.random.Generator, trained,
                    ratio: Optional[float] = None, pair_axes: Sequence[int] = (1, 2)):
    lrs, hrs = [], []
    for _ in range(settings.batch):
        block = blocks[rng.integers(len(blocks))]
        for axis in range(3):
            if rng.random() < 0.5:
                block = np.flip(block, axis)
        lr, hr = thick_slice_pair(np.ascontiguousarray(block), int(pair_axes[rng.integers(len(pair_axes))]), factor,
                                  *_slice_profile_of(settings, estimate, rng, *trained), ratio=ratio)
        lrs.append(lr)
        hrs.append(hr)
    return np.stack(lrs)[:, None], np.stack(hrs)[:, None]
