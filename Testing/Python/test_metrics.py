"""Tests of SuperResolution3DLib.evaluation.metrics: PSNR, 3D Gaussian SSIM, masks and cropping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from SuperResolution3DLib.evaluation.metrics import (
    compare_volumes,
    crop_to_common,
    foreground_mask,
    gaussian_taps,
    psnr,
    ssim,
)
from SuperResolution3DLib.core.volume import Volume


def _smooth_random(shape, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = rng.random(shape)
    for axis in range(3):
        array = (array + np.roll(array, 1, axis=axis) + np.roll(array, -1, axis=axis)) / 3
    return array


def _naive_ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Direct loop over window centres with the 11^3 Gaussian weights, population statistics."""
    radius = 5
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / 1.5) ** 2)
    taps /= taps.sum()
    weights = taps[:, None, None] * taps[None, :, None] * taps[None, None, :]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    nz, ny, nx = x.shape
    for k in range(radius, nz - radius):
        for j in range(radius, ny - radius):
            for i in range(radius, nx - radius):
                box = (slice(k - radius, k + radius + 1), slice(j - radius, j + radius + 1), slice(i - radius, i + radius + 1))
                wx, wy = x[box], y[box]
                mx, my = (weights * wx).sum(), (weights * wy).sum()
                vx = (weights * (wx - mx) ** 2).sum()
                vy = (weights * (wy - my) ** 2).sum()
                cxy = (weights * (wx - mx) * (wy - my)).sum()
                values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_psnr_hand_computed() -> None:
    hr = np.zeros((2, 3, 4))
    hr[1, 2, 3] = 1.0
    sr = hr + 0.1
    # data_range = 1 - 0 = 1, MSE = 0.01 -> 10 * log10(1 / 0.01) = 20 dB
    assert psnr(sr, hr) == pytest.approx(20.0, abs=1e-9)
    assert psnr(sr, hr, data_range=2.0) == pytest.approx(10 * math.log10(4 / 0.01), abs=1e-9)


def test_psnr_identical_is_inf() -> None:
    hr = _smooth_random((4, 5, 6))
    assert psnr(hr.copy(), hr) == float("inf")


def test_psnr_mask_uses_masked_voxels_only() -> None:
    hr = np.zeros((2, 2, 2))
    hr[0, 0, 0] = 1.0
    mask = np.zeros(hr.shape, dtype=bool)
    mask[0] = True
    sr = hr + np.where(mask, 0.1, 0.5)
    assert psnr(sr, hr, mask=mask) == pytest.approx(20.0, abs=1e-9)
    assert psnr(sr, hr) < 20.0
    with pytest.raises(ValueError):
        psnr(sr, hr, mask=np.zeros(hr.shape, dtype=bool))


def test_psnr_rejects_shape_mismatch_and_constant_reference() -> None:
    with pytest.raises(ValueError):
        psnr(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError):
        psnr(np.ones((2, 2, 2)), np.zeros((2, 2, 2)))


def test_gaussian_taps_match_skimage_window() -> None:
    taps = gaussian_taps()
    assert taps.shape == (11,)
    assert taps.sum() == pytest.approx(1.0)
    assert np.allclose(taps, taps[::-1])


def test_ssim_identical_is_one() -> None:
    hr = _smooth_random((13, 14, 15))
    assert ssim(hr.copy(), hr) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise() -> None:
    hr = _smooth_random((14, 14, 14))
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(hr.shape)
    scores = [ssim(hr + level * noise, hr) for level in (0.0, 0.01, 0.05, 0.2)]
    assert scores[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(scores, scores[1:]))


def test_ssim_matches_naive_loop() -> None:
    hr = _smooth_random((13, 13, 13), seed=2)
    sr = hr + 0.05 * np.random.default_rng(3).standard_normal(hr.shape)
    data_range = float(hr.max() - hr.min())
    assert ssim(sr, hr) == pytest.approx(_naive_ssim(sr, hr, data_range), rel=1e-10)


def test_ssim_is_independent_of_slab_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from SuperResolution3DLib.evaluation import metrics

    hr = _smooth_random((17, 12, 13), seed=4)
    sr = hr + 0.05 * np.random.default_rng(5).standard_normal(hr.shape)
    whole = ssim(sr, hr)
    monkeypatch.setattr(metrics, "SLAB_ELEMENTS", 1)  # one z plane per slab
    assert ssim(sr, hr) == pytest.approx(whole, rel=1e-12)


def test_ssim_constant_offset_lowers_luminance_term_only() -> None:
    hr = _smooth_random((13, 13, 13)) + 1.0
    offsets = [0.0, 0.1, 0.5]
    scores = [ssim(hr + offset, hr) for offset in offsets]
    assert scores[0] == pytest.approx(1.0)
    assert all(a > b > 0.0 for a, b in zip(scores, scores[1:]))
    # contrast and structure are untouched: the score is the mean luminance term
    assert scores[1] > 0.9


def test_ssim_mask_averages_centres_inside_mask() -> None:
    hr = _smooth_random((13, 13, 13))
    sr = hr.copy()
    sr[:, :, 7:] += 0.3 * np.random.default_rng(6).standard_normal((13, 13, 6))
    mask = np.zeros(hr.shape, dtype=bool)
    mask[:, :, :6] = True  # centre x = 5 only; its window reaches x = 10 (noisy)
    masked = ssim(sr, hr, mask=mask)
    assert ssim(sr, hr) < masked < 1.0
    with pytest.raises(ValueError):
        corner = np.zeros(hr.shape, dtype=bool)
        corner[0, 0, 0] = True
        ssim(sr, hr, mask=corner)


def test_ssim_rejects_small_volumes() -> None:
    with pytest.raises(ValueError):
        ssim(np.zeros((10, 20, 20)), np.ones((10, 20, 20)))


def test_foreground_mask_threshold() -> None:
    hr = np.array([0.0, 0.04, 0.06, 1.0]).reshape(1, 1, 4)
    assert foreground_mask(hr).tolist() == [[[False, False, True, True]]]
    assert foreground_mask(hr, threshold_fraction=0.5).tolist() == [[[False, False, False, True]]]


def test_crop_to_common_aligns_index_zero() -> None:
    a = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    b = np.zeros((3, 7, 6))
    cropped_a, cropped_b = crop_to_common(a, b)
    assert cropped_a.shape == cropped_b.shape == (3, 5, 6)
    assert np.array_equal(cropped_a, a[:3, :5, :6])


def test_compare_volumes_crops_extra_sr_voxels() -> None:
    hr = _smooth_random((13, 14, 15))
    sr = np.pad(hr, ((0, 3), (0, 2), (0, 1)), constant_values=99.0)
    scores = compare_volumes(Volume(sr), Volume(hr))
    assert scores == {"psnr": float("inf"), "ssim": pytest.approx(1.0)}
    mask = foreground_mask(hr)
    masked = compare_volumes(sr, hr, mask=mask)
    assert masked["psnr"] == float("inf")
    assert masked["ssim"] == pytest.approx(1.0)
