"""scripts/device: training volumes packed for a machine without SimpleITK, a wall-clock-budget training run there,
and the test-volume scores added back where SimpleITK is."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.data.io import read_volume, write_packed_volume, write_volume
from SuperResolution3DLib.data.synthetic import synthetic_volume
from SuperResolution3DLib.models.files import load_model, save_model
from SuperResolution3DLib.networks import build_network

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "device"


def run_script(name, *args, block_simpleitk=False, cwd=REPO):
    prelude = "import sys, runpy; " + ("sys.modules['SimpleITK'] = None; " if block_simpleitk else "")
    code = prelude + f"sys.argv = {[name, *map(str, args)]!r}; runpy.run_path({str(SCRIPTS / name)!r}, run_name='__main__')"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_packed_config_trains_without_simpleitk_and_is_scored_afterwards(tmp_path):
    head = synthetic_volume("synth:head?seed=3&size=48")
    signed_ct = Volume(head.array * 10.0 - 1000.0, spacing=(1.5, 1.5, 1.5))  # HU-like, negative values kept
    write_volume(signed_ct, tmp_path / "ct.nii.gz")
    config = {
        "name": "tiny_device", "network": {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]},
        "normalization": {"kind": "percentile", "lower": 0.5, "upper": 99.5},
        "data": {"train": ["ct.nii.gz", "synth:head?seed=0&size=48"], "validation": ["ct.nii.gz"],
                 "test": ["synth:head?seed=9&size=48"], "patch_size": 16},
        "optim": {"steps": 5, "batch_size": 2, "learning_rate": 0.001},
        "schedule": {"validate_every": 2, "checkpoint_every": 5, "validation_patches": 2},
        "output_dir": str(tmp_path / "unused"),
    }
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))

    packed = tmp_path / "packed"
    result = run_script("pack_training_data.py", packed, config_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((packed / "manifest.json").read_text())["tiny_device"]
    assert manifest == {"train": ["ct.nii.gz.npz", "synth:head?seed=0&size=48"], "validation": ["ct.nii.gz.npz"]}
    stored = np.load(packed / "ct.nii.gz.npz")["array"]
    assert stored.dtype == np.float16 and np.allclose(stored, signed_ct.array, atol=0.5)

    torch.manual_seed(0)
    start = save_model(packed / "start.json", build_network(config["network"]), {
        "network": config["network"], "normalization": config["normalization"],
        "training_campaign": {"total_steps": 10, "total_hours": 0.1, "runs": []}}, weights_dtype="float16")
    out = tmp_path / "out"
    result = run_script("train_on_device.py", config_path, packed, out, "--minutes", "0.05", "--device", "cpu", "--batch", "2",
                        "--workers", "1", "--validate-every", "2", "--validation-patches", "2", "--start-from", start,
                        block_simpleitk=True)
    assert result.returncode == 0, result.stdout + result.stderr
    card = json.loads((out / "tiny_device.json").read_text())
    steps = card["training_settings"]["steps"]
    assert steps > 0 and card["training_campaign"]["total_steps"] == steps + 10
    assert card["training_settings"]["started_from"] == "model start.json"
    assert "wall-clock budget" in card["training_settings"]["optimizer"]
    assert card["training_data"]["train"] == ["ct.nii.gz", "synth:head?seed=0&size=48"] and "metrics" not in card
    assert (out / "tiny_device_metrics.csv").read_text().startswith("step,")

    result = run_script("score_exported_model.py", out / "tiny_device.json", config_path)
    assert result.returncode == 0, result.stderr
    model = load_model(out / "tiny_device.json")  # checksum of the re-saved weights verified
    scores = model.card["metrics"]
    (volume_scores,) = scores.values()
    assert {"model", "trilinear", "bspline"} <= set(volume_scores) and volume_scores["model"]["psnr"] > 10


def test_pack_leaves_out_the_excluded_entries(tmp_path):
    write_volume(Volume(np.arange(4096, dtype=np.float32).reshape(16, 16, 16)), tmp_path / "scan.nii.gz")
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({
        "name": "tiny", "network": {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]},
        "data": {"train": ["scan.nii.gz", "synth:head?seed=0&size=48", "synth:head?seed=1&size=48"],
                 "validation": ["scan.nii.gz"], "patch_size": 16}}))
    result = run_script("pack_training_data.py", tmp_path / "packed", config_path, "--exclude", "seed=1")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "packed" / "manifest.json").read_text())["tiny"]
    assert manifest == {"train": ["scan.nii.gz.npz", "synth:head?seed=0&size=48"], "validation": ["scan.nii.gz.npz"]}


def test_packed_volumes_are_read_without_simpleitk_with_their_geometry(tmp_path):
    array = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6) - 60  # signed values survive
    direction = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    write_packed_volume(Volume(array, (0.8, 0.8, 4.0), (-10.5, 3.0, 7.25), direction), tmp_path / "scan.npz")
    reader = ("import sys; sys.modules['SimpleITK'] = None\n"  # importing it now raises ImportError
              "from SuperResolution3DLib.data.io import read_volume\n"
              "v = read_volume(sys.argv[1])\nprint(v.array.shape, v.spacing, v.origin, v.direction[:2], float(v.array.min()))\n")
    result = subprocess.run([sys.executable, "-c", reader, str(tmp_path / "scan.npz")], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "(4, 5, 6) (0.8, 0.8, 4.0) (-10.5, 3.0, 7.25) (0.0, 1.0) -60.0"


def test_a_file_that_is_not_a_packed_volume_is_refused_by_name(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(InputVolumeError, match="not a packed volume"):
        read_volume(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="packed volume is a .npz file"):
        write_packed_volume(Volume(np.zeros((2, 2, 2), np.float32)), tmp_path / "scan.nii.gz")
