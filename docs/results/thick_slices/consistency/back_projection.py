"""Does making the through-plane model's output consistent with its slices help? A measurement, not a feature.

Each volume's protocol crop (96x112x96, CT as HU - min, interior 8) is made into slices 4x thicker along z with a
slice profile; the bundled through-plane model super-resolves them; then three steps of iterative back-projection
``x += D^T (lr - D x)`` (``D``: convolve along z with a profile's kernel, keep every 4th slice) make the output
reproduce the slices under an assumed profile: the true one (known only here; slices made by k-space truncation, ``sinc``, go to the k-space model), the spectral estimate that
``--adapt`` uses, and the candidate under which the model's own output best reproduces the slices. Prints the
model's PSNR and the change each assumption brings. ``inplane:PATH`` takes a thick-slice scan (pyradiomics brain2),
resamples its thick axis onto its in-plane spacing and makes its x axis the one that is cut into slices.
    PYTHONPATH=. python docs/results/thick_slices/consistency/back_projection.py VOLUME... [inplane:PATH]
"""

import os
import sys

import numpy as np

from SuperResolution3DLib.core.anisotropy import find_thick_slices
from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import resample_axis
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import convolve_along_axis, estimate_slice_profile, slice_profile_kernel
from SuperResolution3DLib.evaluation.evaluate import (EvaluationSettings, degrade_for_evaluation, pad_past_extent,
                                                      prepare_hr_volume, scoring_mask, super_resolve_for_scale)
from SuperResolution3DLib.evaluation.metrics import psnr
from SuperResolution3DLib.models.files import load_model

FACTOR = 4
ITERATIONS = 3
DATA_PROFILES = (("gaussian", 1.0), ("rect", 1.0), ("gaussian", 1.25), ("trapezoid", 0.9), ("rect", 0.7), ("sinc", 1.0))
CANDIDATES = [(p, t) for p in ("gaussian", "rect", "trapezoid") for t in (0.6, 0.8, 1.0, 1.2, 1.4, 1.6)]


def slices_of(array: np.ndarray, kernel: np.ndarray, count: int) -> np.ndarray:
    return convolve_along_axis(array, kernel, 0)[::FACTOR][:count]


def back_project(sr: np.ndarray, lr: np.ndarray, profile: str, thickness: float) -> np.ndarray:
    kernel = slice_profile_kernel(profile, FACTOR * thickness)
    x = sr.copy()
    for _ in range(ITERATIONS):
        spread = np.zeros_like(x)
        spread[::FACTOR][: lr.shape[0]] = lr - slices_of(x, kernel, lr.shape[0])
        x += FACTOR * convolve_along_axis(spread, kernel[::-1], 0)
    return x


def most_consistent(sr: np.ndarray, lr: np.ndarray):
    def mismatch(candidate):
        kernel = slice_profile_kernel(candidate[0], FACTOR * candidate[1])
        return float(np.mean((lr - slices_of(sr, kernel, lr.shape[0]))[1:-1, 8:-8, 8:-8] ** 2))
    return min(CANDIDATES, key=mismatch)


def read_scan(path: str) -> Volume:
    if not path.startswith("inplane:"):
        return read_volume(path)
    volume = read_volume(path[len("inplane:"):])
    thick = find_thick_slices(volume.spacing)
    resampled = resample_axis(volume, thick.axis, thick.in_plane).array
    return Volume(np.ascontiguousarray(np.transpose(resampled, (2, 1, 0))), (thick.in_plane,) * 3)


def main(paths) -> None:
    kspace_model = load_model("sr3d_rrdb_thick_kspace_x4_l1")
    integrating_model = load_model("sr3d_rrdb_thick_x4_l1")
    print("volume, slices: model PSNR; change with the true profile / the spectral estimate / the most consistent one")
    for path in paths:
        for profile, thickness in DATA_PROFILES:
            settings = EvaluationSettings(scale=(1, 1, FACTOR), slice_profile=profile, slice_thickness=thickness,
                                          crop=(96, 112, 96), shift_to_zero=True, interior=8, metrics=("psnr",),
                                          figure_subject=None)
            hr = prepare_hr_volume(read_scan(path), settings)
            lr = degrade_for_evaluation(hr, (1, 1, FACTOR), settings)
            model = kspace_model if profile == "sinc" else integrating_model
            sr = pad_past_extent(super_resolve_for_scale(lr, hr, model, (1, 1, FACTOR), InferenceSettings()).array,
                                 hr.array.shape, settings.interior)
            mask = scoring_mask(hr.array, settings)
            data_range = float(hr.array.max() - hr.array.min())
            score = lambda x: psnr(x, hr.array, data_range, mask)  # noqa: E731
            low, high = float(lr.array.min()), float(lr.array.max())
            estimate = estimate_slice_profile((lr.array - low) / (high - low), FACTOR, 0,
                                              profiles=("gaussian", "rect", "trapezoid"))
            assumed = {"true": (profile, thickness), "estimate": (estimate.profile, estimate.relative_thickness),
                       "consistent": most_consistent(sr, lr.array)}
            base = score(sr)
            changes = "  ".join(f"{key} {p} {t:g}: {score(back_project(sr, lr.array, p, t)) - base:+.2f}"
                                for key, (p, t) in assumed.items())
            print(f"{os.path.basename(path)[:24]:24s} {profile} {thickness:g}: {base:.2f}  {changes}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
