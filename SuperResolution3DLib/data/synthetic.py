"""Synthetic training volumes made from label maps, with domain randomisation (SynthSeg/SynthSR's idea).

A config entry ``synth:head?seed=3&size=96`` stands for one volume: a random head-like label map (scalp,
skull, CSF, folded grey and white matter, ventricles, a few lesions), then a random intensity per label
(any contrast: T1-, T2-, CT-like or none of them), texture inside each label, a smooth multiplicative bias
field, partial-volume blur and Gaussian noise. The same entry always gives the same volume, so a run can
be resumed and a card can name its data. No file, no network: tests and smoke runs need nothing installed.
"""

from __future__ import annotations

from typing import Dict, Tuple
from urllib.parse import parse_qsl

import numpy as np

from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.paths import SYNTHETIC_PREFIX
from SuperResolution3DLib.core.volume import Volume

SYNTHETIC_KINDS = ("head",)
LABELS = ("background", "scalp", "skull", "csf", "grey matter", "white matter", "ventricles", "lesion")


def is_synthetic_entry(entry: object) -> bool:
    return str(entry).startswith(SYNTHETIC_PREFIX)


def parse_synthetic_entry(entry: str) -> Tuple[str, int, int]:
    """``synth:head?seed=3&size=96`` -> ``("head", 3, 96)`` (seed 0 and size 96 when left out)."""
    kind, _, query = str(entry)[len(SYNTHETIC_PREFIX):].partition("?")
    if kind not in SYNTHETIC_KINDS:
        raise TrainingConfigError(f"{entry}: unknown synthetic volume {kind!r}; use one of {', '.join(SYNTHETIC_KINDS)}")
    options: Dict[str, str] = dict(parse_qsl(query))
    unknown = sorted(set(options) - {"seed", "size"})
    if unknown:
        raise TrainingConfigError(f"{entry}: unknown option(s) {unknown}; synthetic volumes take seed and size")
    try:
        seed, size = int(options.get("seed", 0)), int(options.get("size", 96))
    except ValueError:
        raise TrainingConfigError(f"{entry}: seed and size must be integers") from None
    if seed < 0 or not 16 <= size <= 256:
        raise TrainingConfigError(f"{entry}: need seed >= 0 and 16 <= size <= 256")
    return kind, seed, size


def smooth_noise(rng: np.random.Generator, shape: Tuple[int, ...], correlation: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ``correlation`` (voxels)."""
    field = np.fft.fftn(rng.standard_normal(shape))
    frequencies = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij")
    squared = sum(f**2 for f in frequencies)
    field = np.real(np.fft.ifftn(field * np.exp(-2 * (np.pi * correlation) ** 2 * squared)))
    return (field - field.mean()) / (field.std() + 1e-12)


def gaussian_blur(array: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return array
    frequencies = np.meshgrid(*[np.fft.fftfreq(n) for n in array.shape], indexing="ij")
    squared = sum(f**2 for f in frequencies)
    return np.real(np.fft.ifftn(np.fft.fftn(array) * np.exp(-2 * (np.pi * sigma) ** 2 * squared)))


def head_label_map(rng: np.random.Generator, size: int) -> np.ndarray:
    """Labels (see ``LABELS``) of a random head: nested, noise-perturbed ellipsoids and folded tissue."""
    shape = (size,) * 3
    axes = np.meshgrid(*[np.linspace(-1, 1, size)] * 3, indexing="ij")
    radii = rng.uniform(0.72, 0.92, 3)
    centre = rng.uniform(-0.05, 0.05, 3)
    radius = np.sqrt(sum(((a - c) / r) ** 2 for a, c, r in zip(axes, centre, radii)))
    folds = smooth_noise(rng, shape, size / rng.uniform(24, 40))
    outline = smooth_noise(rng, shape, size / 6)
    labels = np.zeros(shape, np.uint8)
    skull_inner, brain_edge = rng.uniform(0.86, 0.9), rng.uniform(0.8, 0.84)
    inside = np.ones(shape, bool)
    # each tissue lies inside the one before: scalp, skull, CSF, grey matter, white matter
    for label, mask in ((1, radius + 0.03 * outline < 1.0), (2, radius + 0.03 * outline < rng.uniform(0.92, 0.95)),
                        (3, radius + 0.03 * outline < skull_inner), (4, radius + 0.04 * folds < brain_edge),
                        (5, radius + 0.15 * folds < rng.uniform(0.66, 0.74))):
        inside &= mask
        labels[inside] = label
    for side in (-1, 1):
        ventricle = sum(((a - c) / r) ** 2 for a, c, r in zip(
            axes, centre + np.array([0.0, side * rng.uniform(0.06, 0.12), rng.uniform(-0.05, 0.1)]),
            rng.uniform([0.08, 0.04, 0.15], [0.16, 0.08, 0.3])))
        labels[(ventricle < 1.0) & (labels >= 4)] = 6
    for _ in range(rng.integers(0, 6)):
        spot = rng.uniform(-0.5, 0.5, 3)
        lesion = np.sqrt(sum((a - c) ** 2 for a, c in zip(axes, spot))) < rng.uniform(0.02, 0.08)
        labels[lesion & (labels >= 4)] = 7
    return labels


def synthetic_head(seed: int = 0, size: int = 96) -> Volume:
    """One domain-randomised head volume (1 mm, ``size`` voxels per axis, float32, values in about [0, 1])."""
    rng = np.random.default_rng(seed)
    labels = head_label_map(rng, size)
    means = rng.uniform(0.0, 1.0, len(LABELS))
    means[0] = rng.uniform(0.0, 0.1)  # air stays dark in every contrast
    image = means[labels]
    texture = smooth_noise(rng, labels.shape, rng.uniform(1.0, 3.0))
    image = image + rng.uniform(0.0, 0.05) * texture * (labels > 0)
    image = image * np.exp(rng.uniform(0.0, 0.3) * smooth_noise(rng, labels.shape, size / 4))
    image = gaussian_blur(image, rng.uniform(0.0, 0.8))
    image = image + rng.uniform(0.0, 0.03) * rng.standard_normal(labels.shape)
    return Volume(image.astype(np.float32))


def synthetic_volume(entry: str) -> Volume:
    kind, seed, size = parse_synthetic_entry(entry)
    return synthetic_head(seed, size)
