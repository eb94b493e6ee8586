"""Network shapes, parameter counts and the config registry."""

import pytest
import torch

from SuperResolution3DLib.networks import (
    InterpolationUpsampler3D,
    RRDBNet3D,
    build_network,
    network_scale,
)
from SuperResolution3DLib.networks.blocks import upsampling_stages


def count_parameters(network):
    return sum(p.numel() for p in network.parameters())


def test_paper_configuration_has_about_50_million_parameters():
    network = RRDBNet3D(num_feat=64, num_grow_ch=32, num_block=23, scale=(4, 4, 4))
    assert 49e6 < count_parameters(network) < 51e6


@pytest.mark.parametrize(
    "scale, expected_dhw",
    [((4, 4, 4), (20, 24, 28)), ((2, 2, 2), (10, 12, 14)), ((1, 1, 4), (20, 6, 7)), ((2, 3, 1), (5, 18, 14))],
)
def test_output_shape_follows_per_axis_scale(scale, expected_dhw):
    network = RRDBNet3D(num_feat=8, num_grow_ch=4, num_block=1, scale=scale)
    out = network(torch.zeros(2, 1, 5, 6, 7))
    assert out.shape == (2, 1) + expected_dhw


def test_upsampling_stages_touch_only_the_axes_that_need_it():
    assert upsampling_stages((4, 4, 4)) == [(2, 2, 2), (2, 2, 2)]
    assert upsampling_stages((1, 1, 4)) == [(2, 1, 1), (2, 1, 1)]  # (x, y, z) in, (D, H, W) out
    assert upsampling_stages((1, 1, 1)) == []
    with pytest.raises(ValueError):
        upsampling_stages((0, 1, 1))


def test_small_network_parameter_count_matches_the_formula():
    nf, gc = 8, 4
    dense = sum((nf + i * gc) * 27 * gc + gc for i in range(4)) + (nf + 4 * gc) * 27 * nf + nf
    conv = nf * 27 * nf + nf
    expected = (27 * nf + nf) + 3 * dense + conv + 2 * conv + conv + (nf * 27 + 1)
    assert count_parameters(RRDBNet3D(num_feat=nf, num_grow_ch=gc, num_block=1)) == expected


def test_registry_builds_networks_from_config_dicts():
    config = {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [1, 1, 4]}
    network = build_network(config)
    assert isinstance(network, RRDBNet3D) and network.scale == (1, 1, 4)
    assert network_scale(config) == (1, 1, 4)
    assert isinstance(build_network({"name": "interpolation", "mode": "bspline", "scale": [2, 2, 2]}), InterpolationUpsampler3D)
    with pytest.raises(ValueError, match="unknown network"):
        build_network({"name": "NoSuchNet"})
    with pytest.raises(ValueError, match="bad settings"):
        build_network({"name": "RRDBNet3D", "num_features": 8})


@pytest.mark.parametrize("mode", ["nearest", "trilinear", "bspline"])
def test_interpolation_keeps_lr_voxels_on_the_lattice(mode):
    lr = torch.rand(1, 1, 5, 6, 7)
    up = InterpolationUpsampler3D(mode, (4, 2, 1))(lr)
    assert up.shape == (1, 1, 5, 12, 28)
    torch.testing.assert_close(up[:, :, :, ::2, ::4], lr, atol=1e-5, rtol=0)


def test_trilinear_is_linear_between_lattice_points():
    ramp = torch.arange(6, dtype=torch.float32).reshape(1, 1, 1, 1, 6).expand(1, 1, 2, 2, 6).contiguous()
    up = InterpolationUpsampler3D("trilinear", (4, 1, 1))(ramp)
    expected = torch.clamp(torch.arange(24, dtype=torch.float32) / 4, max=5)
    torch.testing.assert_close(up[0, 0, 0, 0], expected)


@pytest.mark.parametrize("scale", [(4, 4, 4), (1, 1, 4), (2, 2, 1)])
def test_inference_slabs_give_the_same_output_as_one_pass(scale):
    torch.manual_seed(0)
    network = RRDBNet3D(num_feat=8, num_grow_ch=4, num_block=1, scale=scale).eval()
    x = torch.rand(1, 1, 11, 6, 7)
    with torch.no_grad():
        whole = network(x)
        slabs = network.forward_in_slabs(x, 3)
    assert slabs.shape == whole.shape
    torch.testing.assert_close(slabs, whole, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [(4, 4, 4), (1, 1, 4), (2, 3, 1)])
def test_pixel_shuffle_tail_with_trilinear_skip_starts_from_trilinear(scale):
    from SuperResolution3DLib.networks import InterpolationUpsampler3D

    network = RRDBNet3D(num_feat=8, num_grow_ch=4, num_block=1, scale=scale, upsampler="pixel_shuffle", global_skip="trilinear")
    x = torch.rand(2, 1, 5, 6, 7)
    out = network(x)
    sx, sy, sz = scale
    assert out.shape == (2, 1, 5 * sz, 6 * sy, 7 * sx)
    with torch.no_grad():
        network.conv_up[-1].weight.zero_()
        network.conv_up[-1].bias.zero_()
    assert torch.allclose(network(x), InterpolationUpsampler3D("trilinear", scale)(x), atol=1e-6)


def test_rrdb_options_are_checked():
    with pytest.raises(ValueError, match="upsampler"):
        RRDBNet3D(num_feat=4, num_grow_ch=4, num_block=1, upsampler="deconv")
    with pytest.raises(ValueError, match="global_skip"):
        RRDBNet3D(num_feat=4, num_grow_ch=4, num_block=1, global_skip="bspline")


def test_the_torch_free_network_table_matches_the_constructors():
    import inspect

    from SuperResolution3DLib.core.vocabulary import NETWORK_SETTINGS
    from SuperResolution3DLib.networks.registry import NETWORKS

    assert set(NETWORK_SETTINGS) == set(NETWORKS)
    for name, builder in NETWORKS.items():
        assert NETWORK_SETTINGS[name] == tuple(inspect.signature(builder).parameters), name


@pytest.mark.parametrize("scale", [(4, 4, 4), (1, 1, 4)])
def test_a_deepened_rrdbnet_gives_the_trained_output_and_its_new_blocks_learn(scale):
    from SuperResolution3DLib.networks.rrdbnet3d import deepened_state_dict, rrdb_block_count

    torch.manual_seed(0)
    settings = dict(num_feat=8, num_grow_ch=4, scale=scale, upsampler="pixel_shuffle", global_skip="trilinear")
    trained = RRDBNet3D(num_block=2, **settings)
    with torch.no_grad():  # trained-looking weights: the tail is not the near-zero start of a fresh network
        for parameter in trained.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    grown_state = deepened_state_dict(trained.state_dict(), 5)
    assert rrdb_block_count(grown_state) == 5 and rrdb_block_count(trained.state_dict()) == 2
    deeper = RRDBNet3D(num_block=5, **settings)
    deeper.load_state_dict(grown_state)
    x = torch.rand(2, 1, 6, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(deeper(x), trained(x), atol=1e-5, rtol=1e-5)
    deeper(x).square().mean().backward()
    new_last_conv = deeper.body[4].rdb3.convs[4].weight
    assert float(new_last_conv.grad.abs().max()) > 0  # the zero-started convolutions are not stuck
    with pytest.raises(ValueError, match="cannot shrink"):
        deepened_state_dict(grown_state, 3)
    with pytest.raises(ValueError, match="no RRDB blocks"):
        deepened_state_dict({"conv_first.weight": torch.zeros(8, 1, 3, 3, 3)}, 3)


@pytest.mark.parametrize("scale, upsampler", [((1, 1, 4), "pixel_shuffle"), ((4, 4, 4), "pixel_shuffle"), ((2, 2, 2), "nearest_conv")])
def test_a_widened_rrdbnet_gives_the_trained_output_and_its_new_channels_learn(scale, upsampler):
    from SuperResolution3DLib.networks.rrdbnet3d import widened_state_dict

    settings = dict(num_block=2, scale=scale, upsampler=upsampler, global_skip="trilinear")
    torch.manual_seed(0)
    trained = RRDBNet3D(num_feat=8, num_grow_ch=4, **settings).eval()
    with torch.no_grad():
        for parameter in trained.parameters():  # trained biases are not zero
            parameter.add_(0.01 * torch.randn_like(parameter))
    wide = RRDBNet3D(num_feat=12, num_grow_ch=6, **settings)
    wide.load_state_dict(widened_state_dict(trained.state_dict(), dict(num_feat=12, num_grow_ch=6, **settings)))
    x = torch.rand(1, 1, 6, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(wide.eval()(x), trained(x), atol=1e-5, rtol=1e-5)
    wide(x).square().mean().backward()
    assert wide.conv_first.weight.grad[8:].abs().sum() > 0  # new trunk channels
    assert wide.body[0].rdb1.convs[0].weight.grad[4:].abs().sum() > 0  # new growth channels
    with pytest.raises(ValueError, match="cannot narrow"):
        widened_state_dict(wide.state_dict(), dict(num_feat=8, num_grow_ch=4, **settings))
