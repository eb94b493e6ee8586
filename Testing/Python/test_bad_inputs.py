"""Bad options, bad files and faults through the CLI: exit code 2, one line that names the problem, and no
file lost, replaced or left half-written (the audit of issue 15, as a table)."""

import gzip
import hashlib

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data import io as volume_io
from SuperResolution3DLib.data.io import write_volume


@pytest.fixture
def small_input(tmp_path):
    path = tmp_path / "in.nrrd"
    write_volume(Volume(np.random.default_rng(0).uniform(0, 100, (6, 7, 8)).astype(np.float32)), path)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(capsys, *args, match):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert match in err, err
    return err


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


@pytest.mark.parametrize("options, match", [
    (["--window", "0"], "--window"),
    (["--window", "0,8,8"], "--window"),
    (["--overlap", "1.0"], "--overlap"),
    (["--overlap", "-0.5"], "--overlap"),
    (["--batch", "0"], "--batch"),
    (["--context", "-1"], "--context"),
    (["--roi", "1,2,3"], "--roi"),
])
def test_bad_predict_options_are_refused_in_one_line(small_input, tmp_path, capsys, options, match):
    with pytest.raises(SystemExit) as exited:
        main(["predict", str(small_input), str(tmp_path / "out.nrrd"), "--model", "trilinear", *options])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "out.nrrd").exists()


def test_degrade_scale_zero_is_refused_in_one_line(small_input, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["degrade", str(small_input), str(tmp_path / "lr.nrrd"), "--scale", "0"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and len(err.splitlines()) == 1 and "--scale" in err


@pytest.mark.parametrize("which", ["input", "output"])
def test_png_equal_to_a_volume_is_refused_before_anything_is_written(small_input, tmp_path, capsys, which):
    out = tmp_path / "out.nrrd"
    write_volume(Volume(np.ones((4, 4, 4), np.float32)), out)
    before = {p: digest(p) for p in (small_input, out)}
    png = small_input if which == "input" else out
    refused(capsys, "predict", small_input, out, "--model", "trilinear", "--png", png, match=f"is the {which} volume")
    assert {p: digest(p) for p in (small_input, out)} == before


def test_png_folder_is_refused_before_the_run(small_input, tmp_path, capsys):
    refused(capsys, "predict", small_input, tmp_path / "out.nrrd", "--model", "trilinear", "--png", tmp_path,
            match="is a folder")
    assert not (tmp_path / "out.nrrd").exists()


def test_read_only_output_folder_is_refused_before_the_run(small_input, tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(volume_io, "folder_writable", lambda folder: calls.append(folder) or False)
    monkeypatch.setattr("SuperResolution3DLib.inference.api.super_resolve", lambda *a, **k: pytest.fail("computed"))
    refused(capsys, "predict", small_input, tmp_path / "out.nrrd", "--model", "trilinear", match="not writable")
    assert calls


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_full_disk_never_replaces_a_good_output(small_input, tmp_path, capsys, monkeypatch, suffix):
    out = tmp_path / f"out{suffix}"
    write_volume(Volume(np.full((24, 28, 32), 7, np.float32)), out)
    good = digest(out)
    real_write = volume_io.sitk.WriteImage

    def write_cut_off(image, path, *args):  # what SimpleITK does on a full disk: success, half a file
        real_write(image, path, *args)
        data = open(path, "rb").read()
        if path.endswith(".gz"):
            data = gzip.compress(gzip.decompress(data)[: len(gzip.decompress(data)) // 2])
        else:
            data = data[: len(data) // 2]
        open(path, "wb").write(data)

    monkeypatch.setattr(volume_io.sitk, "WriteImage", write_cut_off)
    refused(capsys, "predict", small_input, out, "--model", "trilinear", "--progress", "none", match="free space")
    assert digest(out) == good and leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_cut_off_nifti_inputs_are_refused(tmp_path, capsys, suffix):
    path = tmp_path / f"in{suffix}"
    write_volume(Volume(np.random.default_rng(1).uniform(0, 100, (12, 14, 16)).astype(np.float32)), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    refused(capsys, "predict", path, tmp_path / "out.nrrd", "--model", "trilinear", match="cut off")
    assert not (tmp_path / "out.nrrd").exists()


def test_complete_nifti_files_pass_the_length_check(tmp_path):
    for suffix in (".nii", ".nii.gz"):
        path = tmp_path / f"ok{suffix}"
        write_volume(Volume(np.zeros((5, 6, 7), np.int16)), path)
        assert volume_io.nifti_length_problem(path) is None


def test_a_failing_cleanup_does_not_hide_the_write_error(tmp_path, monkeypatch):
    def cannot_unlink(self, missing_ok=False):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(volume_io.Path, "unlink", cannot_unlink)
    with pytest.raises(ZeroDivisionError):
        with volume_io.atomic_output_path(tmp_path / "x.nrrd"):
            1 / 0
