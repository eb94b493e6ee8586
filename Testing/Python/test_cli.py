"""The ``sr3d`` command line end to end: predict on the shipped sample, degrade, info, bad input."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.evaluation.metrics import compare_volumes
from SuperResolution3DLib.core.volume import Volume

SAMPLES = Path(__file__).resolve().parents[2] / "Resources" / "SampleData"
SAMPLE_LR = SAMPLES / "MNI152_2009c_T1_brain_LR4mm.nrrd"
SAMPLE_HR = SAMPLES / "MNI152_2009c_T1_brain_HR1mm.nrrd"


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [[], ["predict"], ["degrade"], ["info"], ["train"], ["models"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: sr3d" in capsys.readouterr().out


def test_predict_on_the_sample_beats_interpolation_and_keeps_geometry(tmp_path, capsys):
    out, png = tmp_path / "sr.nii.gz", tmp_path / "views.png"
    code, stdout, err = run_cli(capsys, "predict", SAMPLE_LR, out, "--png", png, "--progress", "none")
    assert code == 0, err
    lr, sr, hr = read_volume(SAMPLE_LR), read_volume(out), read_volume(SAMPLE_HR)
    assert sr.size == tuple(4 * n for n in lr.size)
    np.testing.assert_allclose(sr.spacing, np.asarray(lr.spacing) / 4, rtol=1e-6)
    np.testing.assert_allclose(sr.origin, lr.origin, atol=1e-4)
    np.testing.assert_allclose(sr.direction, lr.direction, atol=1e-6)
    assert png.stat().st_size > 10_000

    # no bundled model trained on this template (the default's stage 1 used it to pick its checkpoint);
    # it must beat what a user can do without AI
    code, _, err = run_cli(capsys, "predict", SAMPLE_LR, tmp_path / "bspline.nii.gz", "--model", "bspline", "--progress", "none")
    assert code == 0, err
    code, _, err = run_cli(capsys, "predict", SAMPLE_LR, tmp_path / "tri.nii.gz", "--model", "trilinear", "--progress", "none")
    assert code == 0, err
    model = compare_volumes(sr.array, hr.array)["psnr"]
    bspline = compare_volumes(read_volume(tmp_path / "bspline.nii.gz").array, hr.array)["psnr"]
    trilinear = compare_volumes(read_volume(tmp_path / "tri.nii.gz").array, hr.array)["psnr"]
    assert model > bspline + 0.5
    assert model > trilinear + 2.0


def test_predict_region_of_interest_and_progress_lines(tmp_path, capsys):
    out = tmp_path / "roi.nrrd"
    code, stdout, err = run_cli(capsys, "predict", SAMPLE_LR, out, "--roi", "10,12,14,8,9,10", "--progress", "lines")
    assert code == 0, err
    assert "PROGRESS 1.0000" in stdout
    lr, sr = read_volume(SAMPLE_LR), read_volume(out)
    assert sr.size == (32, 36, 40)
    np.testing.assert_allclose(sr.origin, lr.index_to_world((10, 12, 14)), atol=1e-4)


def test_predict_with_the_mirror_ensemble(tmp_path, capsys):
    roi = ("--roi", "10,12,14,8,9,10", "--progress", "none")
    code, _, err = run_cli(capsys, "predict", SAMPLE_LR, tmp_path / "plain.nrrd", *roi)
    assert code == 0, err
    code, out, err = run_cli(capsys, "predict", SAMPLE_LR, tmp_path / "ensemble.nrrd", *roi, "--mirror-ensemble")
    assert code == 0, err
    assert "mirror ensemble: each window runs on its 8 mirror images" in out + err
    plain, ensemble = read_volume(tmp_path / "plain.nrrd"), read_volume(tmp_path / "ensemble.nrrd")
    assert ensemble.size == plain.size and ensemble.origin == plain.origin and ensemble.spacing == plain.spacing
    difference = np.abs(ensemble.array - plain.array)
    assert 0 < float(difference.mean()) < 0.05 * float(np.ptp(plain.array))


def test_degrade_writes_the_lr_grid(tmp_path, capsys):
    hr = Volume(np.random.default_rng(0).random((16, 12, 20)).astype(np.float32), (0.5, 0.7, 1.0), (1, 2, 3))
    write_volume(hr, tmp_path / "hr.nrrd")
    code, _, err = run_cli(capsys, "degrade", tmp_path / "hr.nrrd", tmp_path / "lr.nrrd", "--scale", "1,1,4")
    assert code == 0, err
    lr = read_volume(tmp_path / "lr.nrrd")
    assert lr.size == (20, 12, 4)
    np.testing.assert_allclose(lr.spacing, (0.5, 0.7, 4.0))
    np.testing.assert_allclose(lr.origin, (1, 2, 3))


def test_info_prints_the_default_model_card(capsys):
    code, out, err = run_cli(capsys, "info", "default")
    assert code == 0, err
    assert "sr3d_rrdb_gan_x4" in out and "GAN" in out and "stage-1" in out


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda d: d / "missing.nii.gz", "not found"),
        (lambda d: write_2d(d), "2D"),
        (lambda d: write_constant(d), "constant"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path, capsys, make_input, message):
    code, _, err = run_cli(capsys, "predict", make_input(tmp_path), tmp_path / "out.nii.gz", "--model", "trilinear")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.nii.gz").exists()


def test_predict_with_progress_lines_also_reports_the_error_kind_on_stdout(tmp_path, capsys):
    args = ["predict", write_constant(tmp_path), tmp_path / "out.nii.gz", "--model", "trilinear"]
    code, out, err = run_cli(capsys, *args, "--progress", "lines")
    assert code == 2
    message = err.strip().split(": error: ", 1)[1]
    from SuperResolution3DLib.core.protocol import ErrorCode, ErrorEvent, parse_line

    assert parse_line(out.strip().splitlines()[-1]) == ErrorEvent("InputVolumeError", ErrorCode.BAD_INPUT, message)
    code, out, err = run_cli(capsys, *args, "--progress", "none")
    assert code == 2 and "ERROR" not in out and "constant" in err


def test_refuses_to_overwrite_the_input(tmp_path, capsys):
    path = tmp_path / "in.nrrd"
    write_volume(Volume(np.random.default_rng(1).random((8, 8, 8)).astype(np.float32)), path)
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "predict", path, path, "--model", "trilinear")
    assert code == 2 and "overwrite" in err
    assert path.read_bytes() == before


def test_bad_arguments_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "a.nii", "b.nii", "--roi", "1,2,3"])
    assert exit_info.value.code == 2


def write_2d(folder):
    path = folder / "slice.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(2).random((10, 12)).astype(np.float32)), str(path))
    return path


def write_constant(folder):
    path = folder / "flat.nrrd"
    write_volume(Volume(np.full((8, 8, 8), 7.0, np.float32)), path)
    return path


def test_views_png_names_the_model_and_adds_the_hr_column(tmp_path, capsys):
    from PIL import Image

    lr = tmp_path / "lr.nrrd"
    write_volume(read_volume(SAMPLE_LR).sub_volume((16, 20, 16), (12, 12, 12)), lr)
    without, with_hr = tmp_path / "three.png", tmp_path / "four.png"
    assert run_cli(capsys, "predict", lr, tmp_path / "a.nrrd", "--model", "trilinear", "--png", without, "--progress", "none")[0] == 0
    code, _, err = run_cli(capsys, "predict", lr, tmp_path / "b.nrrd", "--model", "trilinear", "--png", with_hr,
                           "--reference", SAMPLE_HR, "--progress", "none")
    assert code == 0, err
    assert Image.open(with_hr).width > Image.open(without).width * 1.2  # one more column
    code, _, err = run_cli(capsys, "predict", lr, tmp_path / "c.nrrd", "--hr", SAMPLE_HR)
    assert code == 2 and "--reference only adds a column to the --png views" in err


def test_view_labels_say_where_each_slice_lies():
    from SuperResolution3DLib.evaluation.visualize import view_labels

    assert view_labels((1.25, -2.0, 30.0)) == ["axial z = 30.0 mm", "coronal y = -2.0 mm", "sagittal x = 1.2 mm"]


def test_output_type_input_writes_an_int16_ct_as_int16_with_the_float_values_rounded(tmp_path, capsys):
    from SuperResolution3DLib.data.io import as_pixel_type, input_pixel_type

    array = np.random.default_rng(5).integers(-1024, 2000, size=(6, 8, 10)).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.8, 0.9))
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    assert input_pixel_type(tmp_path / "ct.nrrd") == np.int16
    for kind in ("float32", "input"):
        code, _, err = run_cli(capsys, "predict", tmp_path / "ct.nrrd", tmp_path / f"{kind}.nrrd", "--model", "bspline",
                               "--progress", "none", "--output-type", kind)
        assert code == 0, err
    as_float, as_input = (sitk.ReadImage(str(tmp_path / f"{kind}.nrrd")) for kind in ("float32", "input"))
    assert as_float.GetPixelID() == sitk.sitkFloat32 and as_input.GetPixelID() == sitk.sitkInt16
    assert as_input.GetSpacing() == as_float.GetSpacing() and as_input.GetOrigin() == as_float.GetOrigin()
    np.testing.assert_allclose(sitk.GetArrayFromImage(as_input), sitk.GetArrayFromImage(as_float), atol=0.5)
    assert as_pixel_type(np.array([np.nan, -40000.4, 1.5, 70000.0]), np.int16).tolist() == [-32768, -32768, 2, 32767]
    assert as_pixel_type(np.array([0.25]), np.float64).dtype == np.float32


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_the_output_header_names_the_model_that_made_it(tmp_path, capsys, suffix):
    from SuperResolution3DLib.models.card import find_model_files, package_version

    out = tmp_path / f"sr{suffix}"
    code, _, err = run_cli(capsys, "predict", SAMPLE_LR, out, "--model", "sr3d_rrdb_x4_l1", "--progress", "none",
                           "--roi", "10,10,10,8,8,8")
    assert code == 0, err
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(out))
    reader.ReadImageInformation()
    note = reader.GetMetaData("ITK_FileNotes") if reader.HasMetaDataKey("ITK_FileNotes") else reader.GetMetaData("descrip")
    digest = find_model_files("sr3d_rrdb_x4_l1")[1]["weights_sha256"][:12]
    assert note.strip() == f"sr3d {package_version()} predict: sr3d_rrdb_x4_l1 {digest}"
