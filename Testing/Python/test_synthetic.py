"""Synthetic label-map volumes (domain randomisation) and the smoke config that trains on them."""

from pathlib import Path

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.synthetic import LABELS, head_label_map, parse_synthetic_entry

REPO = Path(__file__).resolve().parents[2]


def test_a_synthetic_entry_is_one_reproducible_volume_and_seeds_differ():
    first = read_volume("synth:head?seed=3&size=32")
    again = read_volume("synth:head?seed=3&size=32")
    other = read_volume("synth:head?seed=4&size=32")
    assert first.size == (32, 32, 32) and first.array.dtype == np.float32
    np.testing.assert_array_equal(first.array, again.array)
    assert np.abs(first.array - other.array).mean() > 0.05


def test_the_label_map_holds_every_tissue_nested_inside_the_head():
    labels = head_label_map(np.random.default_rng(1), 64)
    present = set(np.unique(labels))
    assert set(range(7)) <= present <= set(range(len(LABELS)))
    assert labels[0, 0, 0] == 0 and labels[32, 32, 32] != 0
    # the brain (labels 4-7) lies inside the skull (2): no brain voxel touches the background
    brain = labels >= 4
    assert not (brain & (np.roll(labels, 1, axis=0) == 0)).any()


def test_contrasts_are_randomised_across_seeds():
    means = []
    for seed in range(6):
        volume = read_volume(f"synth:head?seed={seed}&size=32").array
        labels = head_label_map(np.random.default_rng(seed), 32)
        means.append(volume[labels == 5].mean() - volume[labels == 4].mean())  # white minus grey matter
    assert min(means) < 0 < max(means)  # T1-like and T2-like orderings both occur


@pytest.mark.parametrize("entry, match", [("synth:brain", "unknown synthetic volume"), ("synth:head?sead=1", "unknown option"),
                                          ("synth:head?size=8", "16 <= size"), ("synth:head?seed=x", "integers")])
def test_bad_synthetic_entries_name_the_problem(entry, match):
    with pytest.raises(TrainingConfigError, match=match):
        parse_synthetic_entry(entry)


def test_the_smoke_config_trains_with_the_test_install_and_writes_outside_the_repo(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SR3D_RUNS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.core.paths import resolve_path

    config = load_training_config(REPO / "configs" / "tiny_cpu_test.yaml")
    assert resolve_path(config.output_dir, config.base_dir) == tmp_path / "home" / "sr3d_runs" / "tiny_cpu_test"

    out = tmp_path / "run"
    code = main(["train", str(REPO / "configs" / "tiny_cpu_test.yaml"), "--output", str(out), "--steps", "3",
                 "--seed", "5", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    from SuperResolution3DLib.models.files import load_model

    model = load_model(out / "tiny_cpu_test.json")
    assert model.card["training_settings"]["steps"] == 3
    assert model.card["training_data"]["train"] == ["synth:head?seed=0&size=64", "synth:head?seed=1&size=64"]
    assert "synth:head?seed=101&size=48" in model.card["metrics"]
