"""Output consistent with the slices: where the slice profile is known, the through-plane output gives them back."""

import csv
from pathlib import Path

import numpy as np
import pytest

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.slice_profiles import make_slices_consistent, thick_slice_degrade
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model, save_model
from test_adaptation import TINY_THICK, isotropic_texture, tiny_thick_model

CPU = InferenceSettings(device="cpu", precision="fp32")


def slices_of(array: np.ndarray, profile: str, thickness: float = 1.0) -> np.ndarray:
    return thick_slice_degrade(Volume(array), 2, 4, profile, 4 * thickness).array


def mismatch(array: np.ndarray, slices: np.ndarray, profile: str, thickness: float = 1.0) -> float:
    return float(np.sqrt(np.mean((slices_of(array, profile, thickness)[: len(slices)] - slices) ** 2)))


def linear_along_z(slices: np.ndarray, length: int) -> np.ndarray:
    z = np.arange(length) / 4.0
    low = np.clip(np.floor(z).astype(int), 0, len(slices) - 1)
    high = np.clip(low + 1, 0, len(slices) - 1)
    weight = (z - low)[:, None, None]
    return ((1 - weight) * slices[low] + weight * slices[high]).astype(np.float32)


@pytest.mark.parametrize("profile, thickness", [("gaussian", 1.0), ("rect", 1.0), ("gaussian", 1.25), ("sinc", 1.0)])
def test_back_projection_gives_back_the_slices_and_comes_closer_to_the_truth(profile, thickness):
    truth = isotropic_texture((40, 24, 24))
    slices = slices_of(truth, profile, thickness)
    guess = linear_along_z(slices, 40)
    consistent = make_slices_consistent(guess, slices, 4, profile, thickness)
    assert mismatch(consistent, slices, profile, thickness) < 0.35 * mismatch(guess, slices, profile, thickness)
    error = lambda x: float(np.sqrt(np.mean((x - truth)[4:-4] ** 2)))  # noqa: E731
    assert error(consistent) < 0.95 * error(guess)
    assert consistent.shape == guess.shape and consistent.dtype == np.float32
    np.testing.assert_array_equal(guess, linear_along_z(slices, 40))  # the input is not changed


def test_back_projection_refuses_slices_of_another_size():
    with pytest.raises(ValueError, match="do not match the volume"):
        make_slices_consistent(np.zeros((16, 8, 8), np.float32), np.zeros((4, 8, 9), np.float32), 4, "rect", 1.0)


def test_a_known_profile_makes_the_network_output_give_back_the_slices_on_any_axis():
    truth = isotropic_texture((40, 24, 24))
    # slices along x: the output is turned back after the step, which works along the network's z
    thick = Volume(np.ascontiguousarray(np.moveaxis(slices_of(truth, "gaussian"), 0, 2)), (4.0, 1.0, 1.0), (3.0, -2.0, 1.0))
    model = tiny_thick_model()
    plain = super_resolve_thick_slices(thick, model, CPU)
    known = super_resolve_thick_slices(thick, model, InferenceSettings(device="cpu", precision="fp32",
                                                                         slice_profile="gaussian"))
    assert known.size == plain.size and known.spacing == plain.spacing and known.origin == plain.origin
    along_z = lambda v: np.ascontiguousarray(np.moveaxis(v.array, 2, 0))  # noqa: E731
    slices = along_z(thick)
    assert mismatch(along_z(known), slices, "gaussian") < 0.5 * mismatch(along_z(plain), slices, "gaussian")
    assert known.array.min() >= thick.array.min() and known.array.max() <= thick.array.max()  # clamped as before


def test_a_region_of_interest_is_made_consistent_with_its_own_slices():
    truth = isotropic_texture((40, 24, 24))
    thick = Volume(slices_of(truth, "rect"), (1.0, 1.0, 4.0))
    start, size = (4, 6, 2), (12, 10, 5)
    settings = dict(device="cpu", precision="fp32", roi_start=start, roi_size=size)
    model = tiny_thick_model()
    plain = super_resolve_thick_slices(thick, model, InferenceSettings(**settings))
    known = super_resolve_thick_slices(thick, model, InferenceSettings(**settings, slice_profile="rect"))
    box = thick.array[start[2] : start[2] + size[2], start[1] : start[1] + size[1], start[0] : start[0] + size[0]]
    assert known.array.shape == plain.array.shape == (20, 10, 12)
    assert mismatch(known.array, box, "rect") < 0.5 * mismatch(plain.array, box, "rect")


def test_interpolation_and_unknown_profiles_are_left_as_they_are():
    thick = Volume(slices_of(isotropic_texture((40, 24, 24)), "gaussian"), (1.0, 1.0, 4.0))
    bspline = interpolation_model("bspline", (1, 1, 4))
    told = InferenceSettings(device="cpu", precision="fp32", slice_profile="gaussian")
    np.testing.assert_array_equal(super_resolve_thick_slices(thick, bspline, told).array,
                                  super_resolve_thick_slices(thick, bspline, CPU).array)
    with_nan = thick.array.copy()
    with_nan[2, 3, 4] = np.nan
    with pytest.warns(UserWarning, match="not made consistent"):
        result = super_resolve_thick_slices(thick.with_array(with_nan), tiny_thick_model(), told)
    assert np.isnan(result.array).any()
    with pytest.raises(ValueError, match="slice profile 'box'"):
        InferenceSettings(slice_profile="box")
    with pytest.raises(ValueError, match="between 0.2 and 3"):
        InferenceSettings(slice_profile="rect", slice_thickness=5.0)


def test_predict_takes_the_profile_from_sr3d_degrades_note_or_from_the_user(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume

    write_volume(Volume(isotropic_texture((40, 24, 24)), (1.0, 1.0, 1.0)), tmp_path / "hr.nrrd")
    assert main(["degrade", str(tmp_path / "hr.nrrd"), str(tmp_path / "lr.nrrd"), "--scale", "1,1,4",
                 "--profile", "rect"]) == 0
    model_path = save_model(tmp_path / "tiny_thick.json", tiny_thick_model().network,
                            {"name": "tiny_thick", "network": dict(TINY_THICK), "normalization": {"kind": "minmax"}})
    common = ["--model", str(model_path), "--device", "cpu", "--precision", "fp32", "--progress", "none"]
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "lr.nrrd"), str(tmp_path / "noted.nrrd")] + common) == 0
    assert "output made to give back the slices: rect slices 1 slice spacing thick (sr3d degrade's note" in capsys.readouterr().out
    slices = read_volume(tmp_path / "lr.nrrd")
    noted = read_volume(tmp_path / "noted.nrrd").array
    plain = super_resolve_thick_slices(slices, load_tiny(model_path), CPU).array
    assert mismatch(noted, slices.array, "rect") < 0.5 * mismatch(plain, slices.array, "rect")
    # the user's word: a file without the note
    write_volume(slices, tmp_path / "bare.nii.gz")
    assert main(["predict", str(tmp_path / "bare.nii.gz"), str(tmp_path / "told.nrrd"), "--slice-profile", "rect"]
                + common) == 0
    assert "rect slices 1 slice spacing thick (--slice-profile)" in capsys.readouterr().out
    np.testing.assert_allclose(read_volume(tmp_path / "told.nrrd").array, noted, atol=1e-5)
    assert main(["predict", str(tmp_path / "bare.nii.gz"), str(tmp_path / "net.nrrd")] + common) == 0
    assert "give back the slices" not in capsys.readouterr().out
    np.testing.assert_allclose(read_volume(tmp_path / "net.nrrd").array, plain, atol=1e-5)
    # a cohort's manifest says which scans got it
    (tmp_path / "cohort").mkdir()
    for name in ("lr.nrrd", "bare.nii.gz"):
        (tmp_path / "cohort" / name).write_bytes((tmp_path / name).read_bytes())
    assert main(["predict", str(tmp_path / "cohort"), str(tmp_path / "cohort_out")] + common) == 0
    with open(tmp_path / "cohort_out" / "manifest.csv") as file:
        messages = {Path(row["input"]).name: row["message"] for row in csv.DictReader(file)}
    assert "give back the slices: rect slices" in messages["lr.nrrd"] and messages["bare.nii.gz"] == ""
    # said, not silently dropped, where it cannot apply
    assert main(["predict", str(tmp_path / "bare.nii.gz"), str(tmp_path / "b.nrrd"), "--model", "bspline",
                 "--slice-profile", "rect", "--progress", "none"]) == 0
    assert "--slice-profile rect: not used, the model is not a learned through-plane model" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "hr.nrrd"), str(tmp_path / "i.nrrd"), "--model", "trilinear",
                 "--slice-profile", "rect", "--progress", "none"]) == 0
    assert "--slice-profile rect: not used, the input has no thick-slice axis" in capsys.readouterr().out


def load_tiny(path):
    from SuperResolution3DLib.models.files import load_model

    return load_model(path)


@pytest.mark.parametrize("command, message", [
    (["predict", "IN", "OUT", "--slice-profile", "auto"], "--slice-profile auto: for --adapt only"),
    (["predict", "IN", "OUT", "--slice-thickness", "1.2"], "give their --slice-profile too"),
    (["evaluate", "IN", "--models", "bspline", "--out", "OUT", "--scale", "1,1,4", "--profile-known"],
     "--profile-known tells the models the --profile"),
    (["evaluate", "IN", "--models", "bspline", "--out", "OUT", "--scale", "1,1,4", "--profile", "rect",
      "--slice-profile", "rect"], "the slices' own profile is --profile"),
])
def test_bad_profile_options_are_refused_before_any_work(tmp_path, capsys, command, message):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import write_volume

    write_volume(Volume(isotropic_texture((8, 16, 16)), (1.0, 1.0, 4.0)), tmp_path / "in.nrrd")
    command = [str(tmp_path / "in.nrrd") if a == "IN" else str(tmp_path / ("out.nrrd" if command[0] == "predict" else "out")) if a == "OUT" else a
               for a in command]
    assert main(command) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.nrrd").exists()


def test_evaluate_with_the_profile_known_scores_the_consistent_output(tmp_path):
    from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, evaluate_methods

    hr = ("texture", Volume(isotropic_texture((48, 32, 32))))
    methods = {"tiny": tiny_thick_model()}
    scores = {}
    for known in (False, True):
        settings = EvaluationSettings(scale=(1, 1, 4), slice_profile="gaussian", slice_thickness=1.25,
                                      profile_known=known, metrics=("psnr",), figure_subject=None, interior=4)
        scores[known] = evaluate_methods([hr], methods, settings, CPU, progress=False, log=None).rows[0]["psnr"]
    assert scores[True] > scores[False] + 0.5  # an untrained network: the slices carry what it does not
    with pytest.raises(ValueError, match="profile_known needs a slice_profile"):
        evaluate_methods([hr], methods, EvaluationSettings(scale=(1, 1, 4), profile_known=True, metrics=("psnr",),
                                                           figure_subject=None), CPU, progress=False, log=None)


def test_making_the_output_consistent_shows_progress_and_can_be_cancelled():
    from SuperResolution3DLib.core.errors import CancelledError

    thick = Volume(slices_of(isotropic_texture((40, 80, 24)), "gaussian"), (1.0, 1.0, 4.0))
    told = InferenceSettings(device="cpu", precision="fp32", slice_profile="gaussian")
    reports = []
    super_resolve_thick_slices(thick, tiny_thick_model(), told, progress=lambda f, m: reports.append((f, m)))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    steps = [f for f, m in reports if m == "making the output give back the slices"]
    assert len(steps) == 3 and min(steps) > 0.95  # 80 rows, 32 at a time, after the network's share
    calls = []

    def cancel_during_the_step():
        calls.append(1)
        return any(m == "making the output give back the slices" for _, m in progress_seen)

    progress_seen = []
    with pytest.raises(CancelledError):
        super_resolve_thick_slices(thick, tiny_thick_model(), told, progress=lambda f, m: progress_seen.append((f, m)),
                                   cancel=cancel_during_the_step)
    assert calls and any(m == "making the output give back the slices" for _, m in progress_seen)
