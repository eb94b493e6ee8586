"""Tests of SuperResolution3DLib.models.files: safetensors + JSON model files, checksums, bundled names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
import torch
from safetensors.torch import save_file

from SuperResolution3DLib.core.errors import ModelFileError
from SuperResolution3DLib.models.card import (
    DEFAULT_MODEL_NAME,
    format_model_card,
    list_bundled_models,
    model_file_paths,
    models_dir,
    resolve_model_path,
    sha256_of_file,
)
from SuperResolution3DLib.models.files import SRModel, interpolation_model, load_model, save_model
from SuperResolution3DLib.networks import InterpolationUpsampler3D, RRDBNet3D, build_network

TINY_RRDB = {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]}


def tiny_card(**extra: Any) -> Dict[str, Any]:
    card = {
        "name": "tiny",
        "description": "a tiny test model",
        "network": dict(TINY_RRDB),
        "normalization": {"kind": "percentile", "lower": 0.5, "upper": 99.5},
        "training_data": "synthetic phantoms",
        "training_settings": {"epochs": 1, "loss": "l1"},
        "metrics": {"trilinear": {"psnr": 30.12345, "ssim": 0.91}, "model": {"psnr": 31.5, "ssim": 0.93}},
    }
    card.update(extra)
    return card


@pytest.fixture
def saved_tiny_model(tmp_path: Path) -> tuple:
    torch.manual_seed(0)
    network = build_network(TINY_RRDB)
    card_path = save_model(tmp_path / "tiny", network, tiny_card())
    return network, card_path


def rewrite_card(card_path: Path, **changes: Any) -> None:
    card = json.loads(card_path.read_text())
    card.update(changes)
    card_path.write_text(json.dumps(card))


# Saving and loading ------------------------------------------------------------------------------


def test_save_writes_both_files_with_a_complete_card(saved_tiny_model: tuple) -> None:
    network, card_path = saved_tiny_model
    weights_path = card_path.with_suffix(".safetensors")
    assert card_path.name == "tiny.json" and weights_path.is_file()
    card = json.loads(card_path.read_text())
    assert card["format"] == "sr3d-model" and card["format_version"] == 1
    assert card["scale"] == [4, 4, 4]
    assert card["weights_file"] == "tiny.safetensors"
    assert card["weights_sha256"] == sha256_of_file(weights_path)
    assert card["parameter_count"] == sum(p.numel() for p in network.parameters())
    assert card["package_version"] and card["created"]
    assert sorted(p.name for p in card_path.parent.iterdir()) == ["tiny.json", "tiny.safetensors"]


def test_round_trip_gives_identical_outputs(saved_tiny_model: tuple) -> None:
    network, card_path = saved_tiny_model
    model = load_model(card_path)
    assert isinstance(model, SRModel) and isinstance(model.network, RRDBNet3D)
    assert model.scale == (4, 4, 4)
    assert model.normalization == {"kind": "percentile", "lower": 0.5, "upper": 99.5}
    assert not model.network.training
    volume = torch.rand(1, 1, 3, 3, 3)
    with torch.no_grad():
        assert torch.equal(model.network(volume), network.eval()(volume))


@pytest.mark.parametrize("given", ["tiny.json", "tiny.safetensors", "tiny"])
def test_load_accepts_card_weights_or_stem(saved_tiny_model: tuple, given: str) -> None:
    _, card_path = saved_tiny_model
    assert load_model(card_path.parent / given).card["name"] == "tiny"


def test_load_never_unpickles(saved_tiny_model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, card_path = saved_tiny_model

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load must not be used")

    monkeypatch.setattr(torch, "load", refuse)
    load_model(card_path)


def test_save_accepts_numpy_metrics_and_paths(tmp_path: Path) -> None:
    import numpy as np

    card = tiny_card(metrics={"psnr": np.float32(30.5)}, training_data={"folder": tmp_path})
    card_path = save_model(tmp_path / "numpy.json", build_network(TINY_RRDB), card)
    assert json.loads(card_path.read_text())["metrics"]["psnr"] == pytest.approx(30.5)


def test_weightless_interpolation_network_round_trips(tmp_path: Path) -> None:
    config = {"name": "interpolation", "mode": "nearest", "scale": [2, 2, 4]}
    card = {"network": config, "normalization": {"kind": "minmax"}}
    card_path = save_model(tmp_path / "nearest", build_network(config), card)
    model = load_model(card_path)
    assert isinstance(model.network, InterpolationUpsampler3D)
    assert model.scale == (2, 2, 4)
    assert model.network(torch.zeros(1, 1, 2, 2, 2)).shape == (1, 1, 8, 4, 4)


# Refusals ----------------------------------------------------------------------------------------


def test_tampered_weights_are_refused_before_loading(
    saved_tiny_model: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, card_path = saved_tiny_model
    weights_path = card_path.with_suffix(".safetensors")
    data = bytearray(weights_path.read_bytes())
    data[-5] ^= 0x01
    weights_path.write_bytes(bytes(data))
    monkeypatch.setattr("SuperResolution3DLib.models.files.load_file", lambda *a, **k: pytest.fail("weights were read"))
    with pytest.raises(ModelFileError, match="model weights checksum mismatch: .*re-download or re-export"):
        load_model(card_path)


def test_unknown_network_is_refused(saved_tiny_model: tuple) -> None:
    _, card_path = saved_tiny_model
    rewrite_card(card_path, network={"name": "NoSuchNet", "scale": [4, 4, 4]})
    with pytest.raises(ModelFileError, match="unknown network 'NoSuchNet'"):
        load_model(card_path)


def test_missing_sibling_card_is_refused(saved_tiny_model: tuple) -> None:
    _, card_path = saved_tiny_model
    card_path.unlink()
    with pytest.raises(ModelFileError, match="tiny.json not found next to"):
        load_model(card_path.with_suffix(".safetensors"))


def test_missing_weights_are_refused(saved_tiny_model: tuple) -> None:
    _, card_path = saved_tiny_model
    card_path.with_suffix(".safetensors").unlink()
    with pytest.raises(ModelFileError, match="model weights not found"):
        load_model(card_path)


def test_wrong_shaped_weights_are_refused(saved_tiny_model: tuple) -> None:
    _, card_path = saved_tiny_model
    weights_path = card_path.with_suffix(".safetensors")
    narrower = build_network(dict(TINY_RRDB, num_feat=6))
    save_file({name: tensor.contiguous() for name, tensor in narrower.state_dict().items()}, str(weights_path))
    rewrite_card(card_path, weights_sha256=sha256_of_file(weights_path))
    with pytest.raises(ModelFileError, match="do not fit the card's network: wrong shape: "):
        load_model(card_path)


def test_missing_and_unexpected_keys_are_named(saved_tiny_model: tuple) -> None:
    network, card_path = saved_tiny_model
    weights_path = card_path.with_suffix(".safetensors")
    state = {name: tensor.contiguous() for name, tensor in network.state_dict().items()}
    state["extra.weight"] = state.pop("conv_first.weight")
    save_file(state, str(weights_path))
    rewrite_card(card_path, weights_sha256=sha256_of_file(weights_path))
    with pytest.raises(ModelFileError, match="missing: conv_first.weight; unexpected: extra.weight"):
        load_model(card_path)


def test_save_refuses_weights_that_do_not_match_the_card(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="do not match the card's network config"):
        save_model(tmp_path / "bad", build_network(TINY_RRDB), tiny_card(network=dict(TINY_RRDB, num_block=2)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "not valid JSON"), (json.dumps({"format": "other"}), "not a SuperResolution3D model card"),
     (json.dumps({"format": "sr3d-model", "format_version": 99}), "format version 99")],
)
def test_bad_cards_are_refused(tmp_path: Path, content: str, message: str) -> None:
    card_path = tmp_path / "bad.json"
    card_path.write_text(content)
    with pytest.raises(ModelFileError, match=message):
        load_model(card_path)


def test_pickle_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(tmp_path / "model.pth")


def test_unknown_name_lists_bundled_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR3D_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelFileError, match=r"bundled: none installed.*pass the path of a model \.json"):
        load_model("no_such_model")


# Names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["trilinear", "nearest", "bspline"])
def test_interpolation_models_load_by_name(mode: str) -> None:
    model = load_model(mode)
    assert isinstance(model.network, InterpolationUpsampler3D) and model.network.mode == mode
    assert model.scale == (4, 4, 4)
    assert model.normalization == {"kind": "minmax"}
    assert model.card["network"]["mode"] == mode


def test_interpolation_model_with_anisotropic_scale() -> None:
    model = interpolation_model("trilinear", (1, 1, 4))
    assert model.scale == (1, 1, 4)
    assert model.network(torch.zeros(1, 1, 2, 3, 3)).shape == (1, 1, 8, 3, 3)


def test_bundled_models_are_found_by_name(saved_tiny_model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, card_path = saved_tiny_model
    monkeypatch.setenv("SR3D_MODELS_DIR", str(card_path.parent))
    (card_path.parent / "notes.json").write_text(json.dumps({"something": "else"}))
    assert models_dir() == card_path.parent
    assert list_bundled_models() == ["tiny"]
    assert resolve_model_path("tiny") == card_path
    assert load_model("tiny").card["name"] == "tiny"


def test_default_name_maps_to_the_default_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR3D_MODELS_DIR", str(tmp_path))
    save_model(tmp_path / DEFAULT_MODEL_NAME, build_network(TINY_RRDB), tiny_card(name=DEFAULT_MODEL_NAME))
    assert resolve_model_path("default") == tmp_path / f"{DEFAULT_MODEL_NAME}.json"


def test_models_dir_defaults_to_repository_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SR3D_MODELS_DIR", raising=False)
    assert models_dir().parts[-2:] == ("Resources", "Models")
    assert (models_dir().parent.parent / "SuperResolution3DLib").is_dir()


def test_model_file_paths_from_any_form(tmp_path: Path) -> None:
    expected = (tmp_path / "m.json", tmp_path / "m.safetensors")
    assert model_file_paths(tmp_path / "m") == expected
    assert model_file_paths(tmp_path / "m.json") == expected
    assert model_file_paths(tmp_path / "m.safetensors") == expected


# Model card text ---------------------------------------------------------------------------------


def test_format_model_card_is_readable(saved_tiny_model: tuple) -> None:
    _, card_path = saved_tiny_model
    text = format_model_card(json.loads(card_path.read_text()))
    assert "Scale (x, y, z):  4 x 4 x 4" in text
    assert "RRDBNet3D (num_feat=8, num_grow_ch=4, num_block=1)" in text
    assert "percentile (lower=0.5, upper=99.5)" in text
    assert "synthetic phantoms" in text and "loss: l1" in text
    assert "psnr" in text and "30.12" in text
    assert "SHA-256:" in text


def test_format_model_card_of_a_baseline() -> None:
    text = format_model_card(interpolation_model("bspline").card)
    assert "interpolation (mode=bspline)" in text and "4 x 4 x 4" in text


def test_save_unwraps_data_parallel(tmp_path: Path) -> None:
    network = build_network(TINY_RRDB)
    card_path = save_model(tmp_path / "wrapped", torch.nn.DataParallel(network), tiny_card())
    assert load_model(card_path).network.state_dict().keys() == network.state_dict().keys()


# Torch-free model cards (model_card.py) ----------------------------------------------------------


def test_model_cards_are_read_without_importing_torch() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, SuperResolution3DLib, SuperResolution3DLib.models.card as cards; "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "cards.list_bundled_models(); cards.format_model_card(cards.interpolation_card('trilinear')); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_model_cards_read_without_torch_and_share_the_core_vocabulary() -> None:
    import subprocess
    import sys

    from SuperResolution3DLib.core import scale, vocabulary
    from SuperResolution3DLib.models import card as model_card
    from SuperResolution3DLib.networks import INTERPOLATION_MODES, network_scale

    code = "import sys, SuperResolution3DLib.models.card as c; c.list_bundled_models(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    assert model_card.INTERPOLATION_MODES is vocabulary.INTERPOLATION_MODES is INTERPOLATION_MODES
    assert model_card.config_scale is scale.config_scale
    expected = {0: (1, 1, 4), 1: (2, 2, 2), 2: (4, 4, 4)}
    for i, config in enumerate(({"scale": [1, 1, 4]}, {"scale": 2}, {"name": "RRDBNet3D"})):
        assert model_card.config_scale(config) == network_scale(config) == expected[i]


def test_card_scale_from_the_card_or_its_network() -> None:
    from SuperResolution3DLib.models.card import card_scale

    assert card_scale({"scale": [1, 1, 4], "network": {"scale": [2, 2, 2]}}) == (1, 1, 4)
    assert card_scale({"scale": 2}) == (2, 2, 2)
    assert card_scale({"network": {"scale": [2, 2, 4]}}) == (2, 2, 4)
    assert card_scale({"network": {"scale": 3}}) == (3, 3, 3)
    assert card_scale({}) == (4, 4, 4)


def test_interpolation_model_card_is_the_torch_free_card() -> None:
    from SuperResolution3DLib.models.card import interpolation_card

    assert interpolation_model("nearest", (1, 1, 4)).card == interpolation_card("nearest", (1, 1, 4))


def test_float16_weights_take_half_the_file_and_load_into_a_float32_network(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    torch.manual_seed(0)
    network = build_network(TINY_RRDB)
    full = save_model(tmp_path / "full", network, tiny_card())
    half = save_model(tmp_path / "half", network, tiny_card(), weights_dtype="float16")
    assert json.loads(full.read_text())["weights_dtype"] == "float32"
    assert json.loads(half.read_text())["weights_dtype"] == "float16"
    assert "parameters, stored as float16" in format_model_card(json.loads(half.read_text()))
    assert "stored as" not in format_model_card(json.loads(full.read_text()))
    stored = load_file(str(half.with_suffix(".safetensors")))
    assert {tensor.dtype for tensor in stored.values()} == {torch.float16}
    ratio = half.with_suffix(".safetensors").stat().st_size / full.with_suffix(".safetensors").stat().st_size
    assert 0.45 < ratio < 0.6
    model = load_model(half)
    assert {p.dtype for p in model.network.parameters()} == {torch.float32}
    volume = torch.rand(1, 1, 4, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(model.network(volume), network.eval()(volume), atol=2e-3, rtol=2e-3)
    again = save_model(tmp_path / "again", model.network, model.card)  # a loaded model saved again keeps its dtype
    assert json.loads(again.read_text())["weights_dtype"] == "float16"
    with pytest.raises(ModelFileError, match="weights_dtype must be one of float32, float16"):
        save_model(tmp_path / "odd", network, tiny_card(), weights_dtype="int8")
