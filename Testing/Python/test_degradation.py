"""k-space degradation: band limits, band-limited round trip, LR/HR grid relation."""

import numpy as np
import pytest

from SuperResolution3DLib.core.scale import as_scale, thick_axis_of
from SuperResolution3DLib.data.degradation import (
    kspace_band_mask,
    kspace_degrade,
    kspace_lowpass,
    kspace_truncate,
)
from SuperResolution3DLib.core.volume import Volume


def oblique_direction():
    a, b = np.deg2rad(20), np.deg2rad(-35)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return tuple((rz @ rx).ravel())


def band_limited_volume(shape_zyx, scale, rng):
    """Random real volume whose spectrum lies strictly inside the kept band, plus a positive offset."""
    spectrum = np.zeros(shape_zyx, complex)
    inner = kspace_band_mask(shape_zyx, scale)
    # drop the band's edge planes so the spectrum is Hermitian-symmetric inside the band
    for axis in range(3):
        inner &= np.roll(inner, 1, axis) & np.roll(inner, -1, axis)
    spectrum[inner] = rng.normal(size=inner.sum()) + 1j * rng.normal(size=inner.sum())
    volume = np.fft.ifftn(np.fft.ifftshift(spectrum)).real
    return (volume - volume.min() + 1.0).astype(np.float64)


def ideal_upsample(lr, scale_zyx):
    """Zero-pad the LR spectrum to the HR size (ideal band-limited interpolation)."""
    out_shape = tuple(n * s for n, s in zip(lr.shape, scale_zyx))
    spectrum = np.fft.fftshift(np.fft.fftn(lr))
    padded = np.zeros(out_shape, complex)
    box = tuple(slice(o // 2 - n // 2, o // 2 - n // 2 + n) for n, o in zip(lr.shape, out_shape))
    padded[box] = spectrum
    return np.fft.ifftn(np.fft.ifftshift(padded)).real * np.prod(scale_zyx)


def test_nothing_outside_the_kept_band_before_the_magnitude_step():
    rng = np.random.default_rng(0)
    hr = rng.random((24, 20, 28))
    complex_image = kspace_truncate(hr, (4, 2, 1))
    spectrum = np.fft.fftshift(np.fft.fftn(complex_image))
    mask = kspace_band_mask(hr.shape, (4, 2, 1))
    assert np.abs(spectrum[~mask]).max() < 1e-9 * np.abs(spectrum).max()
    assert mask.sum() == (24 // 1) * (20 // 2) * (28 // 4)  # z keeps all, y half, x a quarter
    assert mask[12, 10, 14]  # zero frequency kept


def test_band_limited_volume_survives_degrade_then_ideal_upsampling():
    rng = np.random.default_rng(1)
    scale = (4, 4, 4)
    hr = band_limited_volume((32, 32, 32), scale, rng)
    lr = kspace_degrade(Volume(hr), scale).array.astype(np.float64)
    assert lr.shape == (8, 8, 8)
    restored = ideal_upsample(lr, scale[::-1])
    np.testing.assert_allclose(restored, hr, atol=1e-4 * np.abs(hr).max())


def test_lowpass_is_identity_at_scale_one_and_removes_high_frequencies():
    rng = np.random.default_rng(2)
    hr = rng.random((16, 16, 16)) + 1
    np.testing.assert_allclose(kspace_lowpass(hr, 1), hr, rtol=1e-5)
    checker = (np.indices((16, 16, 16)).sum(0) % 2).astype(float) + 5.0  # Nyquist pattern + offset
    np.testing.assert_allclose(kspace_lowpass(checker, 2), 5.5, rtol=1e-5)


def test_lr_grid_is_a_sub_grid_of_the_hr_grid():
    rng = np.random.default_rng(3)
    hr = Volume(rng.random((21, 18, 23)).astype(np.float32), (0.8, 1.1, 1.7), (10.0, -20.0, 33.0), oblique_direction())
    lr = kspace_degrade(hr, (4, 2, 3))
    assert lr.size == (6, 9, 7)  # ceil(23/4), ceil(18/2), ceil(21/3)
    np.testing.assert_allclose(lr.spacing, (3.2, 2.2, 5.1))
    assert lr.origin == hr.origin and lr.direction == hr.direction
    lowpass = kspace_lowpass(hr.array, (4, 2, 3))
    np.testing.assert_allclose(lr.array, lowpass[::3, ::2, ::4])
    # LR voxel (i, j, k) lies at the world position of HR voxel (4i, 2j, 3k)
    np.testing.assert_allclose(lr.index_to_world((5, 8, 6)), hr.index_to_world((20, 16, 18)), atol=1e-9)


def test_anisotropic_scale_leaves_in_plane_axes_alone():
    rng = np.random.default_rng(4)
    in_plane = rng.random((1, 12, 12)) + 1
    hr = np.repeat(in_plane, 16, axis=0)  # constant along z: nothing to lose by filtering z
    lr = kspace_degrade(Volume(hr), (1, 1, 4))
    assert lr.array.shape == (4, 12, 12)
    np.testing.assert_allclose(lr.array, hr[::4], rtol=1e-5)


def test_scale_parsing():
    assert as_scale(4) == (4, 4, 4)
    assert as_scale("1,1,4") == (1, 1, 4)
    assert as_scale([2]) == (2, 2, 2)
    with pytest.raises(ValueError):
        as_scale((1, 0, 4))
    with pytest.raises(ValueError):
        as_scale((1, 2))


def test_the_thick_axis_is_the_one_axis_a_scale_enlarges():
    assert thick_axis_of((1, 1, 6)) == 2
    assert thick_axis_of((3, 1, 1)) == 0
    assert thick_axis_of((4, 4, 4)) is None
    assert thick_axis_of((1, 1, 1)) is None


def ct_head_phantom(n=96):
    """Air at -1000 HU, a 1000 HU skull shell, brain at 40 HU (a signed CT volume)."""
    z, y, x = np.mgrid[:n, :n, :n]
    r = np.sqrt((z - n / 2) ** 2 + (y - n / 2) ** 2 + (x - n / 2) ** 2)
    volume = np.full((n, n, n), -1000.0, np.float32)
    volume[r < 0.42 * n] = 1000.0
    volume[r < 0.375 * n] = 40.0
    return volume, r


def test_signed_ct_keeps_air_negative_instead_of_folding_it_onto_bone():
    hr, r = ct_head_phantom()
    lr = kspace_degrade(Volume(hr, (0.5, 0.5, 0.5)), 4).array
    r_lr = r[::4, ::4, ::4]
    air = lr[r_lr > 0.46 * 96]
    assert abs(float(np.median(air)) + 1000) < 50  # the magnitude would give about +1000
    assert abs(float(np.median(lr[r_lr < 0.3 * 96])) - 40) < 50
    assert lr.min() < -900


def test_non_negative_volumes_keep_the_papers_magnitude_image():
    rng = np.random.default_rng(3)
    hr = rng.random((16, 16, 16)) * 100
    assert np.allclose(kspace_lowpass(hr, 4), np.abs(kspace_truncate(hr, 4)).astype(np.float32))
    assert kspace_lowpass(hr, 4).min() >= 0


def test_fourier_resample_makes_the_volume_a_scan_with_larger_voxels_would_give():
    from SuperResolution3DLib.data.degradation import fourier_resample

    z, y, x = np.meshgrid(*(np.linspace(0, 2 * np.pi, 30, endpoint=False),) * 3, indexing="ij")
    smooth = (100 + 10 * np.cos(x) + 5 * np.sin(2 * y) - 3 * np.cos(z)).astype(np.float32)
    coarse = fourier_resample(smooth, 1.5)
    assert coarse.shape == (20, 20, 20) and coarse.dtype == np.float32
    z2, y2, x2 = np.meshgrid(*(np.linspace(0, 2 * np.pi, 20, endpoint=False),) * 3, indexing="ij")
    expected = 100 + 10 * np.cos(x2) + 5 * np.sin(2 * y2) - 3 * np.cos(z2)
    np.testing.assert_allclose(coarse, expected, atol=1e-3)  # band-limited content kept exactly, mean too
    assert fourier_resample(smooth, 1.0) is not None and np.array_equal(fourier_resample(smooth, 1.0), smooth)
    noisy = np.random.default_rng(0).normal(0, 1, (30, 30, 30)).astype(np.float32)
    assert fourier_resample(noisy, 2.0).std() < 0.6 * noisy.std()  # the fine frequencies are gone
