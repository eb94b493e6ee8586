"""sr3d finetune: a model fine-tuned on one's own high-resolution scans with its own degradation, for a time budget."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.config import FineTuneSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.models.files import load_model, save_model
from SuperResolution3DLib.networks.registry import build_network
from SuperResolution3DLib.training.finetune import finetune_model
from test_adaptation import TINY_THICK, isotropic_texture

TINY_ISO = {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4],
            "upsampler": "pixel_shuffle", "global_skip": "trilinear"}


def start_model(tmp_path, network, name="start"):
    torch.manual_seed(0)
    card = {"name": name, "network": dict(network), "normalization": {"kind": "minmax"},
            "training_settings": {"hr_patch_size": 16, "augmentation": {"intensity": 0.0, "noise": 0.0}}}
    return save_model(tmp_path / f"{name}.json", build_network(dict(network)).eval(), card)


def scans(tmp_path, count=2):
    paths = []
    for seed in range(count):
        paths.append(tmp_path / f"scan{seed}.nii.gz")
        write_volume(Volume(isotropic_texture((32, 32, 32), seed=seed), (1.0, 1.0, 1.0)), paths[-1])
    return paths


QUICK = dict(minutes=5.0, batch=2, patch=16, learning_rate=3e-3, min_learning_rate=1e-4, validate_every=1000,
             validation_patches=8, device="cpu", precision="fp32")


@pytest.mark.parametrize("network", [TINY_ISO, TINY_THICK], ids=["isotropic", "through-plane"])
def test_a_fine_tune_learns_the_scans_and_writes_a_model_with_its_story(tmp_path, network):
    start = start_model(tmp_path, network)
    train, held_out = scans(tmp_path, 2)
    result = finetune_model(start, [str(train)], [str(held_out)], tmp_path / "mine.json",
                            FineTuneSettings(steps=60, **QUICK), progress=None)
    assert result.steps == 60 and result.path == tmp_path / "mine.json"
    assert result.validation_after > result.validation_before + 0.5  # the held-out scan of the same kind gains
    card = json.loads(result.path.read_text())
    assert card["training_data"]["train"] == ["scan0.nii.gz"] and card["training_data"]["validation"] == ["scan1.nii.gz"]
    assert card["training_settings"]["started_from"] == "model start.json"
    assert card["training_settings"]["exported_weights"] == "last step"
    assert card["training_settings"]["validation_history"][-1]["val_psnr"] == pytest.approx(result.validation_after)
    assert card["network"] == network and card["scale"] == network["scale"]
    assert ("thick slices" if network is TINY_THICK else "k-space") in card["training_data"]["degradation"]
    assert load_model(result.path).scale == tuple(network["scale"])
    assert (tmp_path / "mine_run" / "metrics.csv").is_file()
    assert card["training_settings"]["validation_patch_psnr_start_and_end"] == pytest.approx(
        [result.validation_before, result.validation_after])


def test_a_fine_tune_that_scores_lower_on_the_held_out_scan_says_so(tmp_path):
    start = start_model(tmp_path, TINY_THICK)
    train, held_out = scans(tmp_path, 2)
    wild = {**QUICK, "learning_rate": 1.0, "min_learning_rate": 1.0}  # a rate that wrecks the weights
    with pytest.warns(UserWarning, match="scores lower on the held-out patches than start"):
        result = finetune_model(start, [str(train)], [str(held_out)], tmp_path / "worse.json",
                                FineTuneSettings(steps=3, **wild), progress=None)
    assert result.validation_after < result.validation_before and result.path.is_file()


def test_the_budget_stops_the_run_and_the_cli_writes_a_model_predict_takes(tmp_path, capsys):
    start = start_model(tmp_path, TINY_THICK)
    train, held_out = scans(tmp_path, 2)
    result = finetune_model(start, [str(train)], [], tmp_path / "timed.json",
                            FineTuneSettings(**{**QUICK, "minutes": 0.02}), progress=None)
    assert result.steps >= 1 and result.minutes < 0.5 and result.validation_before is None
    assert "stopped by the time budget" in capsys.readouterr().out
    assert main(["finetune", str(train), "--model", str(start), "--out", str(tmp_path / "cli.json"), "--steps", "3",
                 "--patch", "16", "--device", "cpu", "--validation", str(held_out), "--progress", "lines"]) == 0
    out = capsys.readouterr().out
    assert "validation patches after 3 steps" in out and "--model " + str(tmp_path / "cli.json") in out
    fractions = [float(line.split()[1]) for line in out.splitlines() if line.startswith("PROGRESS ")]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3  # for a parent process
    assert "PROGRESS 0.3333 fine-tuning: step 1, " in out
    thick = Volume(isotropic_texture((6, 24, 24), seed=3), (1.0, 1.0, 4.0))  # [z, y, x]: 4 mm slices along z
    write_volume(thick, tmp_path / "thick.nii.gz")
    assert main(["predict", str(tmp_path / "thick.nii.gz"), str(tmp_path / "sr.nii.gz"), "--model",
                 str(tmp_path / "cli.json"), "--progress", "none", "--device", "cpu"]) == 0
    assert read_volume(tmp_path / "sr.nii.gz").size == (24, 24, 24)


def test_bad_requests_are_refused_before_any_training(tmp_path, capsys):
    start = start_model(tmp_path, TINY_THICK)
    train, held_out = scans(tmp_path, 2)
    for arguments, message in (
            ([str(train), "--out", str(tmp_path / "m.safetensors")], "a model file is a .json"),
            ([str(train), "--out", str(tmp_path / "no" / "m.json")], "does not exist"),
            ([str(train), "--out", str(tmp_path / "m.json"), "--model", "bspline"], "no weights to fine-tune"),
            ([str(train), "--out", str(start)], "refusing to overwrite the model"),
            ([str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "m.json")], "does not exist"),
            ([str(train), "--out", str(tmp_path / "m.json"), "--validation", str(train)], "both a training and a validation scan")):
        model = [] if "--model" in arguments else ["--model", str(start)]
        assert main(["finetune", *arguments, *model]) == 2, arguments
        assert message in capsys.readouterr().err
    iso = start_model(tmp_path, TINY_ISO, name="iso")
    write_volume(Volume(isotropic_texture((8, 32, 32)), (1.0, 1.0, 4.0)), tmp_path / "thick.nii.gz")
    assert main(["finetune", str(tmp_path / "thick.nii.gz"), "--out", str(tmp_path / "m.json"), "--model", str(iso)]) == 2
    assert "thick.nii.gz has thick slices (1 x 1 x 4 mm)" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse's own refusal, exit code 2
        main(["finetune", str(train), "--out", str(tmp_path / "m.json"), "--minutes", "0"])
    assert "--minutes must be >= 0.001" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "m_run").exists()
    np.testing.assert_equal(read_volume(train).size, (32, 32, 32))  # the scans are only read
