"""Self-supervised adaptation of a through-plane model to a thick-slice scan (``inference.adaptation``), the slice
profile estimate, and ``--adapt`` in ``sr3d predict`` / ``sr3d evaluate``. Tiny networks, volumes of ~40 voxels."""

import threading

import numpy as np
import pytest
import torch

from SuperResolution3DLib.core.config import AdaptationSettings
from SuperResolution3DLib.core.errors import CancelledError, InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.slice_profiles import estimate_slice_profile, slice_profile_kernel, thick_slice_degrade
from SuperResolution3DLib.inference.adaptation import adapt_to_scan, thick_slice_pair
from SuperResolution3DLib.models.files import SRModel, load_model, save_model
from SuperResolution3DLib.networks import build_network

TINY_THICK = {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [1, 1, 4],
              "upsampler": "pixel_shuffle", "global_skip": "trilinear"}
QUICK = dict(patch=16, crops=4, check_crops=2, minutes=10.0, device="cpu", precision="fp32")


def tiny_thick_model() -> SRModel:
    torch.manual_seed(0)
    card = {"name": "tiny_thick", "network": dict(TINY_THICK), "normalization": {"kind": "minmax"}}
    return SRModel(build_network(dict(TINY_THICK)).eval(), (1, 1, 4), {"kind": "minmax"}, card)


def isotropic_texture(shape=(40, 40, 40), seed=0) -> np.ndarray:
    """Smooth random blobs with the same statistics along every axis (a stand-in for tissue)."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(np.random.default_rng(seed).normal(size=shape), 1.5)
    return ((field - field.min()) / np.ptp(field) * 100).astype(np.float32)


def thick_scan(profile="gaussian", relative=1.0, shape=(40, 40, 40)) -> np.ndarray:
    return thick_slice_degrade(Volume(isotropic_texture(shape)), 2, 4, profile, 4 * relative).array  # [10, 40, 40]


def weights_of(network):
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def test_a_pair_makes_an_in_plane_axis_the_thick_one_and_turns_it_to_z():
    block = isotropic_texture((16, 16, 16))
    for axis in (1, 2):
        lr, hr = thick_slice_pair(block, axis, 4, "rect", 1.0)
        assert lr.shape == (4, 16, 16) and hr.shape == (16, 16, 16)
        # the HR is the block turned; the LR is its thick-slice version along the turned axis 0
        np.testing.assert_array_equal(hr, block.transpose((axis, 0, 3 - axis)))
        expected = thick_slice_degrade(Volume(hr), 2, 4, "rect", 4.0).array
        np.testing.assert_allclose(lr, expected, atol=1e-5)


def test_adaptation_fine_tunes_a_copy_and_records_what_it_did():
    model = tiny_thick_model()
    before = weights_of(model.network)
    steps = []
    adapted = adapt_to_scan(thick_scan(), model, AdaptationSettings(max_steps=3, **QUICK),
                            progress=lambda fraction, message: steps.append((fraction, message)),
                            describe={"input": "thick.nrrd"})
    record = adapted.card["adaptation"]
    assert record["steps"] == 3 and record["adapted_to"] == {"input": "thick.nrrd"} and record["hr_patch"] == 16
    assert record["parent"] == "tiny_thick" and record["precision"] == "fp32"
    assert record["slice_profile"].endswith("x the slice spacing thick")  # the default, auto, without a record: estimated
    assert record["kept"] == (record["held_out_psnr_after"] > record["held_out_psnr_before"])
    for name, tensor in model.network.state_dict().items():  # the given model is never changed
        torch.testing.assert_close(tensor, before[name])
    if record["kept"]:
        assert adapted.network is not model.network and adapted.card["name"] == "tiny_thick_adapted"
        assert any(not torch.equal(t, before[n]) for n, t in adapted.network.state_dict().items())
    else:
        assert adapted.network is model.network and adapted.card["name"] == "tiny_thick"
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and "held-out PSNR" in steps[-1][1]
    assert any(m.startswith("adapting: step 2") for _, m in steps)


def test_mixed_pairs_use_the_profiles_the_model_trained_on():
    from SuperResolution3DLib.inference.adaptation import _slice_profile_of, trained_slice_profiles, trained_slice_thickness
    from SuperResolution3DLib.models.card import find_model_files

    rng = np.random.default_rng(0)
    default = trained_slice_profiles(tiny_thick_model().card)  # a card without the record: the integrating profiles
    assert trained_slice_thickness(tiny_thick_model().card) == (0.8, 1.3)
    mixing = AdaptationSettings(slice_profile="mixed")
    mixed = [_slice_profile_of(mixing, None, rng, default, (0.8, 1.3)) for _ in range(200)]
    assert {profile for profile, _ in mixed} == {"rect", "trapezoid", "gaussian"}
    assert all(0.8 <= thickness <= 1.3 for _, thickness in mixed)
    kspace_card = find_model_files("sr3d_rrdb_thick_kspace_x4_l1")[1]
    kspace = trained_slice_profiles(kspace_card)
    assert trained_slice_thickness(kspace_card) == (0.8, 1.3)
    assert kspace == ("sinc",) and _slice_profile_of(mixing, None, rng, kspace, (0.5, 0.6))[0] == "sinc"
    assert 0.5 <= _slice_profile_of(mixing, None, rng, kspace, (0.5, 0.6))[1] <= 0.6
    assert _slice_profile_of(AdaptationSettings(slice_profile="sinc"), None, rng, default, (0.8, 1.3)) == ("sinc", 1.0)


def test_adaptation_that_does_not_help_keeps_the_pretrained_weights():
    model = tiny_thick_model()
    adapted = adapt_to_scan(thick_scan(), model, AdaptationSettings(max_steps=2, learning_rate=0.0, **QUICK))
    record = adapted.card["adaptation"]
    assert record["held_out_psnr_after"] == record["held_out_psnr_before"] and record["kept"] is False
    assert adapted.network is model.network


def test_adaptation_learns_the_scan_it_is_given():
    """A model that only interpolates learns, from the scan's in-plane detail, to do better on held-out crops."""
    model = tiny_thick_model()
    settings = AdaptationSettings(max_steps=40, learning_rate=2e-3, **QUICK)
    adapted = adapt_to_scan(thick_scan("rect", 1.0), model, settings)
    record = adapted.card["adaptation"]
    assert record["kept"] and record["held_out_psnr_after"] > record["held_out_psnr_before"] + 0.3, record


def test_adaptation_can_be_cancelled_and_refuses_scans_too_small():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        adapt_to_scan(thick_scan(), tiny_thick_model(), AdaptationSettings(max_steps=3, **QUICK), cancel=cancel)
    with pytest.raises(InputVolumeError, match="too small to adapt"):
        adapt_to_scan(np.ones((3, 40, 40), np.float32), tiny_thick_model(), AdaptationSettings(**QUICK))


@pytest.mark.parametrize("settings, message", [(dict(minutes=0), "positive minutes"), (dict(slice_profile="box"), "not one of"),
                                               (dict(slice_thickness=5.0), "between 0.2 and 3")])
def test_adaptation_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        AdaptationSettings(**settings)
    with pytest.raises(InputVolumeError, match=f"adaptation: .*{message}"):
        AdaptationSettings.from_options(**settings)


def test_options_left_open_take_the_defaults():
    settings = AdaptationSettings.from_options(minutes=2.0, slice_profile=None, slice_thickness=None, device=None)
    assert settings == AdaptationSettings(minutes=2.0)
    assert AdaptationSettings.from_options(slice_profile="rect", slice_thickness=0.6).slice_thickness == 0.6


def profile_width(profile, relative):
    """The standard deviation of a slice profile's kernel in HR voxels (profiles of one FWHM differ in tails)."""
    kernel = slice_profile_kernel(profile, 4 * relative)
    offsets = np.arange(len(kernel)) - len(kernel) // 2
    return float(np.sqrt(np.sum(kernel * offsets ** 2)))


@pytest.mark.parametrize("profile, relative", [("rect", 1.0), ("gaussian", 1.3), ("gaussian", 0.8), ("trapezoid", 1.1)])
def test_the_slice_profile_is_estimated_from_a_scan_with_isotropic_tissue(profile, relative):
    scan = thick_slice_degrade(Volume(isotropic_texture((64, 64, 64), seed=2)), 2, 4, profile, 4 * relative).array
    estimate = estimate_slice_profile(scan, 4)
    width = profile_width(profile, relative)
    assert abs(profile_width(estimate.profile, estimate.relative_thickness) - width) <= 0.15 * width, estimate
    assert "slice spacing thick" in estimate.describe()


# Command line ----------------------------------------------------------------------------------------------------
@pytest.fixture
def thick_input(tmp_path):
    from SuperResolution3DLib.data.io import write_volume

    path = tmp_path / "thick.nrrd"
    write_volume(Volume(thick_scan(), (1.0, 1.0, 4.0), (5.0, -3.0, 2.0)), path)
    model_path = save_model(tmp_path / "tiny_thick.json", tiny_thick_model().network,
                            {"name": "tiny_thick", "network": dict(TINY_THICK), "normalization": {"kind": "minmax"}})
    return path, model_path


def test_predict_adapt_writes_the_isotropic_output_and_the_adapted_model(thick_input, tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume

    path, model_path = thick_input
    code = main(["predict", str(path), str(tmp_path / "sr.nrrd"), "--model", str(model_path), "--device", "cpu",
                 "--adapt", "--adapt-minutes", "0.02", "--slice-profile", "rect", "--slice-thickness", "1.1",
                 "--save-adapted", str(tmp_path / "mine.json"), "--progress", "none"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "adapted to the scan in" in out and "held-out PSNR" in out and "rect" in out
    result = read_volume(tmp_path / "sr.nrrd")
    assert result.size == (40, 40, 40)
    np.testing.assert_allclose(result.spacing, (1.0, 1.0, 1.0))
    np.testing.assert_allclose(result.origin, (5.0, -3.0, 2.0))
    saved = load_model(tmp_path / "mine.json")
    assert saved.card["adaptation"]["adapted_to"]["input"] == "thick.nrrd"
    assert saved.card["adaptation"]["slice_thickness"] == 1.1 and saved.card["weights_sha256"]
    assert saved.card["adaptation"]["pairs_matched_to_ratio"] == 4.0  # the scan's ratio reaches the pairs


def test_predict_adapt_assumes_the_slices_the_input_records_unless_told(thick_input, tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import write_volume

    _, model_path = thick_input
    write_volume(Volume(isotropic_texture()), tmp_path / "hr.nrrd")
    lr = tmp_path / "lr.nrrd"  # 6 mm rect slices every 4 mm: sr3d degrade notes both in the header
    assert main(["degrade", str(tmp_path / "hr.nrrd"), str(lr), "--scale", "1,1,4", "--profile", "rect", "--thickness", "6"]) == 0
    adapt = ["--model", str(model_path), "--device", "cpu", "--adapt", "--adapt-minutes", "0.02", "--progress", "none"]
    for name, told in (("recorded", []), ("told", ["--slice-profile", "gaussian", "--slice-thickness", "0.9"]),
                       ("mixed", ["--slice-profile", "mixed"])):
        capsys.readouterr()
        assert main(["predict", str(lr), str(tmp_path / f"sr_{name}.nrrd"), "--save-adapted", str(tmp_path / f"{name}.json")]
                    + adapt + told) == 0
        out = capsys.readouterr().out
        record = load_model(tmp_path / f"{name}.json").card["adaptation"]
        if name == "recorded":
            assert "as the scan records: rect slices (sr3d degrade's note in the file), 6 mm thick, 1.5 slice spacings" in out
            assert (record["slice_profile"], record["slice_thickness"]) == ("rect", 1.5)
        elif name == "told":
            assert "as the scan records" not in out and (record["slice_profile"], record["slice_thickness"]) == ("gaussian", 0.9)
        else:  # a profile asked for stays; the thickness left open is still the recorded one
            assert "as the scan records: 6 mm thick, 1.5 slice spacings" in out
            assert (record["slice_profile"], record["slice_thickness"]) == ("mixed", 1.5)


def test_predict_will_not_save_an_adapted_model_over_a_bundled_one(thick_input, tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.models.card import DEFAULT_THICK_SLICE_MODEL_NAME, models_dir

    path, model_path = thick_input
    bundled = models_dir() / f"{DEFAULT_THICK_SLICE_MODEL_NAME}.json"
    before = bundled.read_bytes()
    assert main(["predict", str(path), str(tmp_path / "sr.nrrd"), "--model", str(model_path), "--adapt",
                 "--save-adapted", str(bundled)]) == 2
    assert "is a bundled model and would be overwritten" in capsys.readouterr().err
    assert bundled.read_bytes() == before and not (tmp_path / "sr.nrrd").exists()


@pytest.mark.parametrize("extra, message", [
    (["--slice-profile", "mixed"], "for --adapt only"),
    (["--adapt", "--save-adapted", "model.txt"], "a .json file"),
    (["--adapt", "--save-adapted", "no/such/folder/m.json"], "does not exist"),
])
def test_predict_refuses_bad_adaptation_options_before_any_work(thick_input, tmp_path, capsys, extra, message):
    from SuperResolution3DLib.cli import main

    path, model_path = thick_input
    assert main(["predict", str(path), str(tmp_path / "sr.nrrd"), "--model", str(model_path)] + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sr.nrrd").exists()


def test_predict_adapt_refuses_an_isotropic_input_and_an_isotropic_model(thick_input, tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import write_volume

    path, _ = thick_input
    write_volume(Volume(np.ones((8, 8, 8), np.float32)), tmp_path / "iso.nrrd")
    assert main(["predict", str(tmp_path / "iso.nrrd"), str(tmp_path / "a.nrrd"), "--adapt"]) == 2
    assert "has no thick-slice axis" in capsys.readouterr().err
    assert main(["predict", str(path), str(tmp_path / "b.nrrd"), "--adapt", "--model", "sr3d_rrdb_x4_l1"]) == 2
    assert "needs a learned through-plane model (scale 1,1,f); sr3d_rrdb_x4_l1 is 4x4x4" in capsys.readouterr().err
    assert main(["predict", str(path), str(tmp_path / "b.nrrd"), "--adapt", "--model", "trilinear"]) == 2
    assert "trilinear is an interpolation" in capsys.readouterr().err


def test_evaluate_scores_a_through_plane_model_also_adapted(tmp_path):
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, evaluate_methods, with_adapted_methods
    from SuperResolution3DLib.models.files import interpolation_model

    methods = with_adapted_methods({"bspline": interpolation_model("bspline", (1, 1, 4)), "tiny": tiny_thick_model()},
                                   AdaptationSettings(max_steps=2, **QUICK))
    assert list(methods) == ["bspline", "tiny", "tiny+adapt"]
    with pytest.raises(ValueError, match="none of the methods"):
        with_adapted_methods({"bspline": interpolation_model("bspline", (1, 1, 4))}, AdaptationSettings())
    settings = EvaluationSettings(metrics=("psnr",), scale=(1, 1, 4), slice_profile="gaussian", figure_subject=None)
    result = evaluate_methods([("texture", Volume(isotropic_texture()))], methods, settings,
                              InferenceSettings(device="cpu", precision="fp32"), progress=False, log=None)
    assert [row["method"] for row in result.rows] == ["bspline", "tiny", "tiny+adapt"]
    assert all(np.isfinite(row["psnr"]) for row in result.rows)
    assert any("tiny+adapt: 2 steps" in note for note in result.notes)


def test_a_through_plane_model_is_scored_at_other_ratios_as_predict_runs_it():
    """A 4x through-plane model on slices 3x and 6x thicker: run along the thick axis, its output resampled onto
    the HR slices (the thick-slice rule), scored on the same voxels as B-spline; the anisotropic HR spacing
    (0.5 x 0.5 x 1 mm) names the target slices."""
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, evaluate_methods, serves_scale
    from SuperResolution3DLib.models.files import interpolation_model

    assert serves_scale((1, 1, 4), (1, 1, 6)) and serves_scale((1, 1, 4), (3, 1, 1))
    assert not serves_scale((1, 1, 4), (2, 2, 2)) and not serves_scale((4, 4, 4), (1, 1, 4))
    hr = Volume(isotropic_texture((48, 40, 40)), (0.5, 0.5, 1.0), (3.0, -2.0, 7.0))
    for scale in ((1, 1, 3), (1, 1, 6), (3, 1, 1)):
        settings = EvaluationSettings(metrics=("psnr",), scale=scale, slice_profile="gaussian", figure_subject=None, interior=6)
        methods = {"bspline": interpolation_model("bspline", scale), "tiny": tiny_thick_model()}
        result = evaluate_methods([("texture", hr)], methods, settings, InferenceSettings(device="cpu", precision="fp32"),
                                  progress=False, log=None)
        scores = {row["method"]: row["psnr"] for row in result.rows}
        assert np.isfinite(scores["tiny"]) and scores["tiny"] > 10.0, (scale, scores)
    with pytest.raises(ValueError, match="the evaluation uses"):
        evaluate_methods([("texture", hr)], {"tiny": tiny_thick_model()},
                         EvaluationSettings(metrics=("psnr",), scale=(2, 2, 2), figure_subject=None), progress=False, log=None)


def test_slices_past_a_models_extent_are_padded_only_outside_the_scored_interior():
    from SuperResolution3DLib.evaluation.evaluate import pad_past_extent

    sr = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    padded = pad_past_extent(sr, (4, 3, 4), interior=2)
    assert padded.shape == (4, 3, 4) and np.array_equal(padded[:2], sr) and np.array_equal(padded[3], sr[1])
    assert pad_past_extent(sr, (5, 3, 4), interior=2).shape == (2, 3, 4)  # 3 missing > interior: left to fail


def test_pairs_of_a_scan_with_another_slice_ratio_show_the_anatomy_as_dense_as_inference_will():
    # a wave of 12 voxels along in-plane axis 2: a scan with slices 6 in-plane voxels apart, run through a 4x model,
    # shows the model anatomy 6 / 4 times denser along z, so the pair's HR has the wave at 12 * 4 / 6 = 8 voxels
    x = np.arange(48)
    block = np.broadcast_to(np.sin(2 * np.pi * x / 12.0), (48, 48, 48)).astype(np.float32)
    lr, hr = thick_slice_pair(block, 2, 4, "gaussian", 1.0, ratio=6.0)
    assert hr.shape == (32, 48, 48) and lr.shape == (8, 48, 48)
    spectrum = np.abs(np.fft.rfft(hr[:, 0, 0] - hr[:, 0, 0].mean()))
    assert np.argmax(spectrum) == 32 // 8
    np.testing.assert_allclose(lr, thick_slice_degrade(Volume(hr), 2, 4, "gaussian", 4.0).array, atol=1e-5)
    # a 2x scan: the anatomy is stretched (wave of 24 voxels), cropped back to the block's side
    lr, hr = thick_slice_pair(block, 2, 4, "gaussian", 1.0, ratio=2.0)
    assert hr.shape == (48, 48, 48) and np.argmax(np.abs(np.fft.rfft(hr[:, 0, 0] - hr[:, 0, 0].mean()))) == 2
    # the model's own ratio: the block as it is
    np.testing.assert_array_equal(thick_slice_pair(block, 2, 4, "rect", 1.0, ratio=4.0)[1], block.transpose((2, 0, 1)))


def test_the_estimate_compares_slices_at_the_scans_own_ratio():
    from SuperResolution3DLib.inference.adaptation import estimate_spacing

    assert estimate_spacing((10, 64, 64), 4, None) == 4 and estimate_spacing((10, 64, 64), 4, 6.4) == 6
    assert estimate_spacing((10, 40, 64), 4, 8.3) == 5  # eight slices' worth of the shorter in-plane axis
    scan = thick_slice_degrade(Volume(isotropic_texture((64, 64, 64), seed=2)), 2, 6, "gaussian", 6.0).array
    adapted = adapt_to_scan(scan, tiny_thick_model(), AdaptationSettings(max_steps=1, **QUICK), ratio=6.0)
    described = adapted.card["adaptation"]["slice_profile"]  # "PROFILE slice profile, X x the slice spacing thick"
    relative = float(described.split(", ")[1].split(" x ")[0])
    assert 0.8 <= relative <= 1.3, described  # contiguous slices, not the gaps an estimate at 4x would see


def test_adaptation_records_the_ratio_its_pairs_were_matched_to():
    adapted = adapt_to_scan(thick_scan(), tiny_thick_model(), AdaptationSettings(max_steps=2, **QUICK), ratio=5.0)
    assert adapted.card["adaptation"]["pairs_matched_to_ratio"] == 5.0
    assert adapted.card["adaptation"]["steps"] == 2
