"""The paper's baselines (3D SRResNet, RCAN, DCSRN): shapes, parameter counts, registry, model files."""

import numpy as np
import pytest
import torch
from torch import nn

from SuperResolution3DLib.networks import (
    DCSRN3D,
    RCAN3D,
    InterpolationUpsampler3D,
    PixelShuffle3D,
    PixelShuffleUpsampler3D,
    SRResNet3D,
    build_network,
)

TINY = {
    "SRResNet3D": {"num_feat": 8, "num_block": 1},
    "RCAN3D": {"num_feat": 16, "num_group": 1, "num_block": 1, "reduction": 4},
    "DCSRN3D": {"growth": 4, "num_units": 2},
}
PAPER_PARAMETERS = {"SRResNet3D": 5_425_665, "RCAN3D": 38_493_953, "DCSRN3D": 219_840}
CLASSES = {"SRResNet3D": SRResNet3D, "RCAN3D": RCAN3D, "DCSRN3D": DCSRN3D}


def count_parameters(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_paper_configuration_parameter_count(name):
    with torch.device("meta"):  # no memory, no initialisation cost
        network = CLASSES[name]()
    assert count_parameters(network) == PAPER_PARAMETERS[name]
    assert f"{PAPER_PARAMETERS[name]:,}" in CLASSES[name].__doc__


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize(
    "scale, expected_dhw",
    [((4, 4, 4), (20, 24, 28)), ((1, 1, 4), (20, 6, 7)), ((2, 3, 1), (5, 18, 14))],
)
def test_output_shape_follows_per_axis_scale(name, scale, expected_dhw):
    torch.manual_seed(0)
    network = build_network({"name": name, **TINY[name], "scale": list(scale)}).eval()
    with torch.no_grad():
        out = network(torch.rand(2, 1, 5, 6, 7))
    assert out.shape == (2, 1) + expected_dhw
    assert torch.isfinite(out).all()


def test_pixel_shuffle_3d_matches_torch_pixel_shuffle_in_plane():
    x = torch.arange(2 * 12 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 12, 3, 4, 5)
    ours = PixelShuffle3D((1, 2, 2))(x)  # D untouched: a 2D pixel shuffle of every z plane
    theirs = nn.PixelShuffle(2)(x.permute(0, 2, 1, 3, 4).reshape(6, 12, 4, 5))
    theirs = theirs.reshape(2, 3, 3, 8, 10).permute(0, 2, 1, 3, 4)
    assert torch.equal(ours, theirs)


def test_pixel_shuffle_3d_index_mapping():
    fd, fh, fw = 2, 3, 1
    x = torch.randn(1, 2 * fd * fh * fw, 2, 2, 2)
    out = PixelShuffle3D((fd, fh, fw))(x)
    assert out.shape == (1, 2, 4, 6, 2)
    c, d, h, w, i, j, k = 1, 1, 0, 1, 1, 2, 0
    assert out[0, c, d * fd + i, h * fh + j, w * fw + k] == x[0, ((c * fd + i) * fh + j) * fw + k, d, h, w]
    with pytest.raises(ValueError):
        PixelShuffle3D((2, 2, 2))(torch.zeros(1, 4, 2, 2, 2))


def test_pixel_shuffle_upsampler_stages():
    upsampler = PixelShuffleUpsampler3D(num_feat=4, scale=(4, 4, 4))
    convs = [m for m in upsampler if isinstance(m, nn.Conv3d)]
    assert [conv.out_channels for conv in convs] == [32, 32]
    assert [m.factor_dhw for m in upsampler if isinstance(m, PixelShuffle3D)] == [(2, 2, 2), (2, 2, 2)]
    assert [conv.out_channels for conv in PixelShuffleUpsampler3D(4, (1, 1, 3)) if isinstance(conv, nn.Conv3d)] == [12]


def test_srresnet_without_learned_residual_is_the_project_trilinear():
    network = SRResNet3D(num_feat=4, num_block=1, scale=(2, 2, 2)).eval()
    nn.init.zeros_(network.conv_last.weight)
    nn.init.zeros_(network.conv_last.bias)
    x = torch.rand(1, 1, 4, 5, 6)
    with torch.no_grad():
        assert torch.allclose(network(x), InterpolationUpsampler3D("trilinear", (2, 2, 2))(x))


def test_dcsrn_runs_on_the_trilinear_upsampled_input():
    network = DCSRN3D(growth=4, num_units=2, scale=(2, 2, 2)).eval()
    seen = []
    network.conv_first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.rand(1, 1, 4, 5, 6)
    with torch.no_grad():
        network(x)
    assert torch.allclose(seen[0], InterpolationUpsampler3D("trilinear", (2, 2, 2))(x))
    assert all(m.bias is None for m in network.modules() if isinstance(m, nn.Conv3d))


def test_rcan_channel_attention_reduction():
    network = RCAN3D(num_feat=16, num_group=1, num_block=1, reduction=4)
    squeeze = network.body[0].blocks[0].body[3].attention[1]
    assert (squeeze.in_channels, squeeze.out_channels) == (16, 4)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_baseline_model_file_round_trip_and_super_resolve(name, tmp_path):
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.inference.api import super_resolve
    from SuperResolution3DLib.models.files import load_model, save_model
    from SuperResolution3DLib.core.volume import Volume

    torch.manual_seed(0)
    config = {"name": name, **TINY[name], "scale": [2, 2, 2]}
    network = build_network(config).eval()
    path = save_model(tmp_path / f"{name}.json", network, {"network": config, "normalization": {"kind": "minmax"}})
    model = load_model(path)
    assert model.card["parameter_count"] == count_parameters(network)
    lr = Volume(np.random.default_rng(0).random((6, 7, 8)).astype(np.float32), spacing=(2.0, 2.0, 2.0))
    sr = super_resolve(lr, model, InferenceSettings(device="cpu", precision="fp32", window=4, context=1))
    assert sr.array.shape == (12, 14, 16)
    assert sr.spacing == (1.0, 1.0, 1.0)
    assert np.isfinite(sr.array).all()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_baseline_trains_with_sr3d_train_and_exports(name, tmp_path):
    import yaml

    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.models.files import load_model
    from SuperResolution3DLib.training.run import run_training
    from SuperResolution3DLib.core.volume import Volume

    rng = np.random.default_rng(0)
    for i in range(2):
        write_volume(Volume((rng.random((20, 20, 20)) * 100).astype(np.float32)), tmp_path / f"v{i}.nii.gz")
    config = {
        "name": f"tiny_{name}",
        "network": {"name": name, **TINY[name], "scale": [4, 4, 4]},
        "data": {"train": ["v0.nii.gz"], "validation": ["v1.nii.gz"], "patch_size": 12},
        "optim": {"steps": 2, "batch_size": 2, "num_threads": 1},
        "schedule": {"validate_every": 2, "checkpoint_every": 2, "log_every": 1, "validation_patches": 2},
        "output_dir": "run",
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    path = run_training(tmp_path / "tiny.yaml", progress=False, log=lambda message: None)
    model = load_model(path)
    assert model.card["network"]["name"] == name
    assert model.card["parameter_count"] == count_parameters(model.network)
