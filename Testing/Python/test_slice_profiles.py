"""Thick-slice degradation: slice profiles, gaps and overlaps, the LR grid relation, and `sr3d degrade --profile`."""

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.data.slice_profiles import (FWHM_TO_SIGMA, profile_function, slice_profile_kernel,
                                                      thick_slice_degrade)


def test_a_rect_profile_integrates_exactly_over_its_thickness():
    np.testing.assert_allclose(slice_profile_kernel("rect", 4.0), np.array([0.5, 1, 1, 1, 0.5]) / 4)
    np.testing.assert_allclose(slice_profile_kernel("rect", 1.0), [1.0])  # a 1-voxel slice: plain sampling


def test_gaussian_and_trapezoid_profiles_have_the_asked_fwhm():
    for thickness in (2.0, 4.0, 5.5):
        kernel = slice_profile_kernel("gaussian", thickness)
        offsets = np.arange(len(kernel)) - len(kernel) // 2
        variance = np.sum(kernel * offsets**2)
        # integrating over one voxel adds the variance of a unit box (1/12)
        assert variance == pytest.approx((thickness * FWHM_TO_SIGMA) ** 2 + 1 / 12, rel=0.02)
        trapezoid = profile_function("trapezoid", thickness)
        assert trapezoid(np.array([thickness / 2]))[0] == pytest.approx(0.5)
        assert trapezoid(np.array([0.0]))[0] == 1.0
    for profile in ("rect", "trapezoid", "gaussian"):
        assert slice_profile_kernel(profile, 3.3).sum() == pytest.approx(1.0)
        assert len(slice_profile_kernel(profile, 3.3)) % 2 == 1


def test_a_sinc_profile_keeps_the_band_of_k_space_truncation_and_removes_the_rest():
    z = np.arange(200, dtype=np.float64)
    for frequency, kept in ((0.05, True), (0.1, True), (0.15, False), (0.3, False)):  # cut-off 1 / (2 * 4) = 0.125
        wave = np.cos(2 * np.pi * frequency * z)[:, None, None].repeat(3, 1).repeat(3, 2).astype(np.float32)
        lr = thick_slice_degrade(Volume(wave), axis=2, factor=4, profile="sinc").array[10:-10, 1, 1]
        expected = np.cos(2 * np.pi * frequency * z[::4][10:-10]) if kept else np.zeros_like(lr)
        np.testing.assert_allclose(lr, expected, atol=0.06)
    assert slice_profile_kernel("sinc", 4.0).sum() == pytest.approx(1.0)
    assert len(slice_profile_kernel("sinc", 3.3)) % 2 == 1


def test_a_sinc_profile_matches_sr3d_degrade_k_space_truncation_away_from_the_ends():
    from SuperResolution3DLib.data.degradation import kspace_degrade

    noise = Volume(np.random.default_rng(1).normal(size=(129, 6, 5)).astype(np.float32))  # signed: no magnitude step
    kspace = kspace_degrade(noise, (1, 1, 4)).array
    inner = slice(8, -8)  # k-space truncation wraps around the ends, the kernel mirrors them

    def relative_error(profile):
        lr = thick_slice_degrade(noise, 2, 4, profile).array
        assert lr.shape == kspace.shape
        return np.sqrt(np.mean((kspace[inner] - lr[inner]) ** 2)) / np.std(kspace[inner])

    assert relative_error("sinc") < 0.1 < 0.3 < min(relative_error("gaussian"), relative_error("rect"))


def test_thick_slices_keep_geometry_and_sit_on_every_factor_th_hr_voxel():
    array = np.zeros((22, 6, 7), np.float32)
    array[8] = 100.0  # a bright axial plane at HR z = 8: LR slice 2 with factor 4
    hr = Volume(array, (0.8, 0.9, 1.1), (10.0, -5.0, 3.0), (0, 1, 0, -1, 0, 0, 0, 0, 1))
    lr = thick_slice_degrade(hr, axis=2, factor=4, profile="gaussian")
    assert lr.array.shape == (6, 6, 7)
    np.testing.assert_allclose(lr.spacing, (0.8, 0.9, 4.4))
    assert lr.origin == hr.origin and lr.direction == hr.direction
    assert int(np.argmax(lr.array[:, 3, 3])) == 2
    # a thin rect slice (thickness 1 voxel: gaps of 3) is plain sampling; contiguous slices average 4 voxels
    np.testing.assert_array_equal(thick_slice_degrade(hr, 2, 4, "rect", thickness=1.0).array, array[::4])
    assert thick_slice_degrade(hr, 2, 4, "rect").array[2, 3, 3] == pytest.approx(25.0)
    # overlapping slices (thickness 8) spread the plane over more LR slices than contiguous ones
    wide = thick_slice_degrade(hr, 2, 4, "rect", thickness=8.0).array[:, 3, 3]
    assert np.count_nonzero(wide > 1e-3) > np.count_nonzero(thick_slice_degrade(hr, 2, 4, "rect").array[:, 3, 3] > 1e-3)


def test_a_constant_volume_stays_constant_along_any_axis():
    hr = Volume(np.full((9, 10, 11), -1000.0, np.float32))
    for axis in range(3):
        lr = thick_slice_degrade(hr, axis, 3, "trapezoid", 4.5)
        np.testing.assert_allclose(lr.array, -1000.0, rtol=1e-6)
        assert lr.spacing[axis] == 3.0


def test_sr3d_degrade_makes_thick_slices_with_a_profile_and_thickness_in_mm(tmp_path, capsys):
    array = np.random.default_rng(0).random((16, 8, 9)).astype(np.float32)
    hr_path, lr_path = tmp_path / "hr.nrrd", tmp_path / "lr.nrrd"
    write_volume(Volume(array, (1.0, 1.0, 0.5)), hr_path)
    assert main(["degrade", str(hr_path), str(lr_path), "--scale", "1,1,4", "--profile", "rect", "--thickness", "0.5"]) == 0
    lr = read_volume(lr_path)
    np.testing.assert_allclose(lr.array, array[::4], rtol=1e-6)
    assert lr.spacing == (1.0, 1.0, 2.0)
    assert main(["degrade", str(hr_path), str(lr_path), "--scale", "2,1,1", "--profile", "rect", "--thickness", "1"]) == 0
    lr = read_volume(lr_path)
    np.testing.assert_allclose(lr.array, array[:, :, ::2], rtol=1e-6)
    assert lr.spacing == (2.0, 1.0, 0.5)
    assert main(["degrade", str(hr_path), str(lr_path), "--scale", "4", "--profile", "rect"]) == 2
    assert "one axis" in capsys.readouterr().err
    assert main(["degrade", str(hr_path), str(lr_path), "--scale", "1,1,4", "--thickness", "2"]) == 2
    assert "--thickness needs a slice --profile" in capsys.readouterr().err


def test_training_patches_with_random_slice_profiles_follow_the_grid_relation():
    from SuperResolution3DLib.core.config import DataConfig
    from SuperResolution3DLib.data.patches import PatchSampler, prepare_training_volume

    rng = np.random.default_rng(0)
    hr = np.cumsum(rng.random((40, 24, 24)), axis=0).astype(np.float32)  # rises along z
    volume = prepare_training_volume("x", hr, (1, 1, 4), {"kind": "minmax"}, 0.1)
    data = DataConfig(train=["x"], patch_size=16, augment_intensity=0.0, augment_flips=False,
                      augment_axis_permutations=False, degradation="slice_profile", slice_thickness=[0.8, 1.3])
    sampler = PatchSampler([volume], (1, 1, 4), data)
    for _ in range(5):
        lr, hr_patch = sampler.sample(rng)
        assert lr.shape == (4, 16, 16) and hr_patch.shape == (16, 16, 16)
        # each LR slice averages the HR slices around 4 i, not around 4 i + 2
        on = np.abs(lr - hr_patch[::4]).mean()
        off = np.abs(lr - hr_patch[2::4]).mean()
        assert on < off


def test_any_axis_of_a_training_volume_can_become_the_thick_one():
    """Sagittal and coronal thick slices are as common as axial ones: with slice-profile degradation the axis
    permutation comes before the thick slices, so a volume's x axis can end up as the network's z."""
    from SuperResolution3DLib.core.config import DataConfig
    from SuperResolution3DLib.data.patches import PatchSampler, prepare_training_volume

    ramp_along_x = np.broadcast_to(np.arange(24, dtype=np.float32), (24, 24, 24)).copy()
    volume = prepare_training_volume("x", ramp_along_x, (1, 1, 4), {"kind": "minmax"}, -1.0)
    data = DataConfig(train=["x"], patch_size=16, augment_intensity=0.0, augment_flips=False, augment_noise=0.0,
                      degradation="slice_profile")
    sampler = PatchSampler([volume], (1, 1, 4), data)
    rng = np.random.default_rng(1)
    thick_axis_is_x = [np.ptp(sampler.sample(rng)[1].mean(axis=(1, 2))) > 0.1 for _ in range(30)]
    assert any(thick_axis_is_x) and not all(thick_axis_is_x)


def test_a_thick_slice_training_volume_trains_along_its_in_plane_axes_only(tmp_path):
    """A real 0.8 x 0.8 x 6.5 mm scan has no fine detail along its slices: its thick axis is resampled onto the
    in-plane spacing, and only an in-plane axis becomes the network's thick axis, in training and validation."""
    from SuperResolution3DLib.core.config import DataConfig
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.data.patches import PatchSampler, load_training_volumes

    _, y, x = np.indices((10, 40, 40))
    in_plane_only = (y + 5 * np.cos(x)).astype(np.float32)  # a ramp along y, waves along x, nothing along z
    write_volume(Volume(in_plane_only, (0.5, 0.5, 2.0)), tmp_path / "thick_along_z.nrrd")
    write_volume(Volume(in_plane_only.transpose(2, 1, 0).copy(), (2.0, 0.5, 0.5)), tmp_path / "thick_along_x.nrrd")
    for name, kept_axes in (("thick_along_z.nrrd", (1, 2)), ("thick_along_x.nrrd", (0, 1))):
        volume, = load_training_volumes([tmp_path / name], (1, 1, 4), {"kind": "minmax"}, -1.0, "slice_profile")
        assert volume.thick_axes == kept_axes
        assert min(volume.hr.shape) == 37  # (10 - 1) * 2.0 / 0.5 + 1 slices
    # non-square pixels (0.5 x 1.0 mm in-plane): the coarser in-plane axis is resampled too and never the thick one
    write_volume(Volume(in_plane_only[:, ::2].copy(), (0.5, 1.0, 2.0)), tmp_path / "non_square.nrrd")
    volume, = load_training_volumes([tmp_path / "non_square.nrrd"], (1, 1, 4), {"kind": "minmax"}, -1.0, "slice_profile")
    assert volume.thick_axes == (2,) and volume.hr.shape == (37, 39, 40)
    volume, = load_training_volumes([tmp_path / "thick_along_z.nrrd"], (1, 1, 4), {"kind": "minmax"}, -1.0, "slice_profile")
    # z (the scan's own slices, along which nothing varies) must never become axis 0; y (the ramp) must
    data = DataConfig(train=["x"], patch_size=16, augment_intensity=0.0, augment_noise=0.0, degradation="slice_profile")
    rng = np.random.default_rng(2)
    for sampler in (PatchSampler([volume], (1, 1, 4), data), PatchSampler([volume], (1, 1, 4), data.for_validation())):
        ramp_is_thick = []
        for _ in range(30):
            hr = sampler.sample(rng)[1]
            scan_z = [a for a in range(3) if np.ptp(hr, axis=a).max() < 1e-4]  # the axis along which nothing varies
            assert 0 not in scan_z
            steps = np.diff(hr.mean(axis=(1, 2)))
            ramp_is_thick.append(bool(np.all(steps > 0) or np.all(steps < 0)))  # else the waves along x
        assert any(ramp_is_thick) and (sampler.data.for_validation() == sampler.data or not all(ramp_is_thick))


def test_an_isotropic_model_refuses_a_thick_slice_training_volume(tmp_path):
    from SuperResolution3DLib.core.errors import TrainingConfigError
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.data.patches import load_training_volumes

    write_volume(Volume(np.ones((10, 40, 40), np.float32), (0.5, 0.5, 2.0)), tmp_path / "thick.nrrd")
    with pytest.raises(TrainingConfigError, match=r"thick\.nrrd has thick slices \(0\.5 x 0\.5 x 2 mm\).*slice_profile"):
        load_training_volumes([tmp_path / "thick.nrrd"], (4, 4, 4), {"kind": "minmax"}, 0.1)
    # slices up to twice the in-plane spacing (a 0.7 x 0.7 x 1.25 mm CT) still train an isotropic model, as they are
    write_volume(Volume(np.ones((20, 40, 40), np.float32), (0.7, 0.7, 1.25)), tmp_path / "ct.nrrd")
    volume, = load_training_volumes([tmp_path / "ct.nrrd"], (4, 4, 4), {"kind": "minmax"}, 0.1)
    assert volume.hr.shape == (20, 40, 40)


def test_spectral_axis_resampling_stretches_anatomy_and_keeps_intensities():
    from SuperResolution3DLib.data.degradation import resample_axis_spectrally

    rng = np.random.default_rng(0)
    array = rng.random((32, 5, 6)).astype(np.float32)
    assert np.allclose(resample_axis_spectrally(array, 0, 32), array, atol=1e-5)
    waves = np.broadcast_to(np.cos(2 * np.pi * np.arange(40) / 8)[None, :, None], (3, 40, 4)) + 5.0
    stretched = resample_axis_spectrally(waves, 1, 80)
    assert stretched.shape == (3, 80, 4)
    spectrum = np.abs(np.fft.rfft(stretched[1, :, 2] - stretched[1, :, 2].mean()))
    assert 80 / np.argmax(spectrum) == pytest.approx(16)  # period 8 -> 16: anatomy twice as long
    assert stretched.mean() == pytest.approx(5.0, abs=0.05)
    squeezed = resample_axis_spectrally(waves, 1, 8)  # period 1.6 samples: past Nyquist, blurred away, not aliased
    assert np.abs(squeezed[1, 1:, 2] - 5.0).max() < 0.1


def test_thick_ratio_patches_stretch_the_anatomy_along_the_thick_axis_only():
    """A 4x through-plane model run on 2x slices sees anatomy twice as long along z as in training: with
    data.thick_ratios a patch's thick axis is stretched by 4 / r (r in the range), the in-plane axes are not."""
    from SuperResolution3DLib.core.config import DataConfig
    from SuperResolution3DLib.data.patches import PatchSampler, prepare_training_volume

    zyx = np.indices((64, 64, 64))
    waves = (np.cos(2 * np.pi * zyx[0] / 8) + np.cos(2 * np.pi * zyx[2] / 8) + 3).astype(np.float32)
    volume = prepare_training_volume("w", waves, (1, 1, 4), {"kind": "minmax"}, -1.0, "slice_profile")

    def periods(data, draws=12):
        sampler, rng = PatchSampler([volume], (1, 1, 4), data), np.random.default_rng(3)
        found = []
        for _ in range(draws):
            lr, hr = sampler.sample(rng)
            assert lr.shape == (8, 32, 32) and hr.shape == (32, 32, 32)
            along_z = np.abs(np.fft.rfft(hr[:, 16, 16] - hr[:, 16, 16].mean()))
            along_x = np.abs(np.fft.rfft(hr[16, 16, :] - hr[16, 16, :].mean()))
            found.append((32 / np.argmax(along_z), 32 / np.argmax(along_x)))
        return np.array(found)

    base = dict(train=["w"], patch_size=32, augment_intensity=0.0, augment_flips=False, augment_noise=0.0,
                augment_axis_permutations=False, degradation="slice_profile")
    plain = periods(DataConfig(**base))
    assert np.allclose(plain, 8)
    stretched = periods(DataConfig(**base, thick_ratios=[2, 6], thick_ratio_probability=1.0))
    assert np.allclose(stretched[:, 1], 8)  # in-plane untouched
    assert stretched[:, 0].min() >= 8 * 4 / 6 - 0.5 and stretched[:, 0].max() <= 16 + 0.5
    assert stretched[:, 0].max() > 10 and stretched[:, 0].min() < 7  # both ways: 2x slices and 6x slices
    off = periods(DataConfig(**base, thick_ratios=[2, 6], thick_ratio_probability=0.0))
    assert np.allclose(off, 8)


def test_thick_ratios_are_checked_and_validation_stays_at_the_model_factor(tmp_path):
    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.core.errors import TrainingConfigError

    path = tmp_path / "c.yaml"
    path.write_text("network: {name: RRDBNet3D, scale: [4, 4, 4]}\ndata: {train: [a.nii], patch_size: 16, thick_ratios: [2, 6]}\n")
    with pytest.raises(TrainingConfigError, match="thick_ratios needs data.degradation: slice_profile"):
        load_training_config(path)
    for bad in ("[6, 2]", "[0.5, 4]", "[4]"):
        path.write_text("network: {name: RRDBNet3D, scale: [1, 1, 4]}\n"
                        f"data: {{train: [a.nii], patch_size: 16, degradation: slice_profile, thick_ratios: {bad}}}\n")
        with pytest.raises(TrainingConfigError, match="thick_ratios must be"):
            load_training_config(path)
    path.write_text("network: {name: RRDBNet3D, scale: [1, 1, 4]}\n"
                    "data: {train: [a.nii], patch_size: 16, degradation: slice_profile, thick_ratios: [2, 6]}\n")
    config = load_training_config(path)
    assert config.data.thick_ratios == [2, 6] and config.data.for_validation().thick_ratios is None


def test_a_slice_profile_config_needs_one_thick_axis_and_known_profiles(tmp_path):
    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.core.errors import TrainingConfigError

    path = tmp_path / "c.yaml"
    path.write_text("network: {name: RRDBNet3D, scale: [4, 4, 4]}\ndata: {train: [a.nii], patch_size: 16, degradation: slice_profile}\n")
    with pytest.raises(TrainingConfigError, match="one axis only"):
        load_training_config(path)
    path.write_text("network: {name: RRDBNet3D, scale: [1, 1, 4]}\n"
                    "data: {train: [a.nii], patch_size: 16, degradation: slice_profile, slice_profiles: [lorentzian]}\n")
    with pytest.raises(TrainingConfigError, match="slice_profiles"):
        load_training_config(path)


def test_evaluate_scores_thick_slice_inputs(tmp_path, capsys):
    import csv

    hr = Volume(np.random.default_rng(2).random((24, 14, 15)).astype(np.float32) * 100, (0.9, 0.9, 1.0))
    write_volume(hr, tmp_path / "hr.nrrd")
    code = main(["evaluate", str(tmp_path / "hr.nrrd"), "--models", "trilinear", "bspline", "--scale", "1,1,4",
                 "--profile", "gaussian", "--metrics", "psnr,ssim", "--figure-subject", "-1", "--out", str(tmp_path / "out"),
                 "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "out" / "per_volume.csv")))
    assert {row["method"] for row in rows} == {"trilinear", "bspline"}
    assert all(float(row["psnr"]) > 10 for row in rows)
