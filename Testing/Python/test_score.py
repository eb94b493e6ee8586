"""sr3d score: outputs made elsewhere, scored against the reference as sr3d evaluate scores its own."""

import csv

import numpy as np
import pytest

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.evaluation.metrics import psnr
from SuperResolution3DLib.evaluation.score import ScoreSettings, lattice_offset, score_volume
from test_adaptation import isotropic_texture

OBLIQUE = tuple(np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))[0].ravel())


def reference_volume() -> Volume:
    return Volume(isotropic_texture((40, 36, 32)), (1.0, 0.9, 1.1), (5.0, -7.0, 3.0), OBLIQUE)


def test_score_matches_sr3d_evaluate_on_the_same_output(tmp_path, capsys):
    from SuperResolution3DLib.cli import main

    write_volume(reference_volume(), tmp_path / "hr.nrrd")
    assert main(["degrade", str(tmp_path / "hr.nrrd"), str(tmp_path / "lr.nrrd"), "--scale", "1,1,4", "--profile",
                 "gaussian"]) == 0
    # on the HR's grid: its slices are 1.1 mm apart, not the 0.9 mm of the finer in-plane axis
    assert main(["predict", str(tmp_path / "lr.nrrd"), str(tmp_path / "sr.nrrd"), "--model", "bspline",
                 "--output-slice-spacing", "1.1", "--progress", "none"]) == 0
    assert main(["evaluate", str(tmp_path / "hr.nrrd"), "--models", "bspline", "--scale", "1,1,4", "--profile",
                 "gaussian", "--interior", "4", "--metrics", "psnr,ssim", "--figure-subject", "-1", "--progress",
                 "none", "--out", str(tmp_path / "evaluation")]) == 0
    with open(tmp_path / "evaluation" / "per_volume.csv") as file:
        evaluated = next(csv.DictReader(file))
    capsys.readouterr()
    assert main(["score", str(tmp_path / "sr.nrrd"), "--reference", str(tmp_path / "hr.nrrd"), "--interior", "4",
                 "--csv", str(tmp_path / "scores.csv")]) == 0
    assert "sr.nrrd: PSNR " in capsys.readouterr().out
    with open(tmp_path / "scores.csv") as file:
        scored = next(csv.DictReader(file))
    assert float(scored["psnr"]) == pytest.approx(float(evaluated["psnr"]), abs=1e-3)
    assert float(scored["ssim"]) == pytest.approx(float(evaluated["ssim"]), abs=1e-4)


def test_an_output_on_part_of_the_lattice_scores_on_the_voxels_it_has():
    reference = reference_volume()
    part = reference.sub_volume((3, 4, 5), (20, 18, 16))
    noisy = part.with_array(part.array + np.random.default_rng(0).normal(0, 2, part.array.shape).astype(np.float32))
    assert lattice_offset(noisy, reference) == (3, 4, 5)
    scores = score_volume(noisy, reference)
    data_range = float(reference.array.max() - reference.array.min())
    assert scores["psnr"] == pytest.approx(psnr(noisy.array, part.array, data_range=data_range), abs=1e-6)
    assert scores["covered"] == pytest.approx(20 * 18 * 16 / reference.array.size)
    assert score_volume(part, reference)["psnr"] == float("inf")


def test_another_grid_is_refused_or_resampled_when_asked():
    reference = reference_volume()
    shifted = Volume(reference.array, reference.spacing,
                     tuple(np.asarray(reference.origin) + 0.5 * reference.direction_matrix[:, 0]), reference.direction)
    assert lattice_offset(shifted, reference) is None
    with pytest.raises(InputVolumeError, match="add --resample"):
        score_volume(shifted, reference)
    # the reference itself at half the voxel size, resampled back: close to the reference, on the voxels it covers
    import SimpleITK as sitk

    fine_grid = sitk.Image([80, 72, 64], sitk.sitkFloat32)
    fine_grid.SetSpacing([s / 2 for s in reference.spacing])
    fine_grid.SetOrigin(reference.origin)
    fine_grid.SetDirection(reference.direction)
    fine = Volume.from_sitk(sitk.Resample(reference.to_sitk(), fine_grid, sitk.Transform(), sitk.sitkBSpline))
    scores = score_volume(fine, reference, ScoreSettings(resample=True, interior=2))
    assert scores["psnr"] > 45 and scores["ssim"] > 0.99 and scores["covered"] > 0.5


def test_bad_score_requests_are_refused_before_reading_voxels(tmp_path, capsys):
    from SuperResolution3DLib.cli import main

    write_volume(reference_volume(), tmp_path / "hr.nrrd")
    far = reference_volume()
    far = Volume(far.array, far.spacing, (500.0, 500.0, 500.0), far.direction)
    write_volume(far, tmp_path / "far.nrrd")
    for command, message in (
        (["score", str(tmp_path / "missing.nrrd"), "--reference", str(tmp_path / "hr.nrrd")], "input not found"),
        (["score", str(tmp_path / "hr.nrrd"), "--reference", str(tmp_path / "hr.nrrd"), "--csv",
          str(tmp_path / "no" / "s.csv")], "does not exist"),
        (["score", str(tmp_path / "far.nrrd"), "--reference", str(tmp_path / "hr.nrrd"), "--resample"],
         "does not overlap the reference"),
        (["score", str(tmp_path / "hr.nrrd"), "--reference", str(tmp_path / "hr.nrrd"), "--interior", "30"],
         "no reference voxel is left"),
    ):
        assert main(command) == 2
        assert message in capsys.readouterr().err
    assert read_volume(tmp_path / "hr.nrrd").size == (32, 36, 40)


def test_a_mask_limits_the_score_to_its_voxels_and_must_lie_on_the_reference_grid(tmp_path, capsys):
    from SuperResolution3DLib.cli import main

    reference = reference_volume()
    labels = np.zeros(reference.array.shape, np.uint8)
    labels[10:30, 8:28, 6:26] = 3
    noisy = reference.array.copy()
    noisy[labels == 0] += 50.0  # wrong only outside the mask
    output = reference.with_array(noisy)
    assert score_volume(output, reference, ScoreSettings(mask=reference.with_array(labels)))["psnr"] == float("inf")
    assert score_volume(output, reference)["psnr"] < 30
    write_volume(reference, tmp_path / "hr.nrrd")
    write_volume(output, tmp_path / "sr.nrrd")
    write_volume(reference.with_array(labels), tmp_path / "mask.nrrd")
    write_volume(reference.sub_volume((0, 0, 0), (16, 36, 40)).with_array(labels[:, :, :16]), tmp_path / "half.nrrd")
    assert main(["score", str(tmp_path / "sr.nrrd"), "--reference", str(tmp_path / "hr.nrrd"), "--mask",
                 str(tmp_path / "mask.nrrd")]) == 0
    assert "PSNR inf dB" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "sr.nrrd"), "--reference", str(tmp_path / "hr.nrrd"), "--mask",
                 str(tmp_path / "half.nrrd")]) == 2
    assert "is not on the reference's grid" in capsys.readouterr().err


def test_an_output_too_thin_for_ssim_gets_its_psnr_and_says_why_there_is_no_ssim(tmp_path, capsys):
    from SuperResolution3DLib.cli import main

    reference = reference_volume()
    write_volume(reference, tmp_path / "hr.nrrd")
    write_volume(reference.sub_volume((3, 4, 5), (20, 18, 8)), tmp_path / "slab.nrrd")  # 8 slices: under 11
    assert main(["score", str(tmp_path / "slab.nrrd"), "--reference", str(tmp_path / "hr.nrrd")]) == 0
    printed = capsys.readouterr().out
    assert "slab.nrrd: PSNR inf dB, SSIM n/a (it needs 11 voxels along every axis of the scored box" in printed
