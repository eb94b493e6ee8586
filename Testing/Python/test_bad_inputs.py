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
    import SimpleITK

    real_write = SimpleITK.WriteImage

    def write_cut_off(image, path, *args):  # what SimpleITK does on a full disk: success, half a file
        real_write(image, path, *args)
        data = open(path, "rb").read()
        if path.endswith(".gz"):
            data = gzip.compress(gzip.decompress(data)[: len(gzip.decompress(data)) // 2])
        else:
            data = data[: len(data) // 2]
        open(path, "wb").write(data)

    monkeypatch.setattr(SimpleITK, "WriteImage", write_cut_off)  # data.io imports SimpleITK where it writes
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


def test_nan_input_gives_one_warning_line(tmp_path, capsys):
    array = np.random.default_rng(2).uniform(0, 100, (6, 7, 8)).astype(np.float32)
    array[2, 3, 4] = np.nan
    path = tmp_path / "nan.nrrd"
    write_volume(Volume(array), path)
    assert main(["predict", str(path), str(tmp_path / "out.nrrd"), "--model", "trilinear", "--progress", "none"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("sr3d predict: warning: the input has 1 non-finite voxels")


def test_model_files_get_the_usual_file_mode(tmp_path):
    import os

    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import build_network

    config = {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]}
    card = save_model(tmp_path / "m.json", build_network(config), {"name": "m", "network": config, "normalization": {"kind": "minmax"}})
    assert os.stat(card).st_mode & 0o777 == os.stat(card.with_suffix(".safetensors")).st_mode & 0o777


def tiny_training_config(tmp_path, **changes):
    import yaml

    write_volume(Volume(np.random.default_rng(3).uniform(0, 100, (20, 20, 20)).astype(np.float32)), tmp_path / "a.nii.gz")
    values = {"name": "t", "network": {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]},
              "data": {"train": ["a.nii.gz"], "patch_size": 16},
              "optim": {"steps": 4, "batch_size": 1}, "schedule": {"validate_every": 2, "checkpoint_every": 2, "log_every": 1},
              "output_dir": "run"}
    values.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize("network, match", [({"name": "NoSuchNet3D"}, "unknown network"),
                                            ({"name": "RRDBNet3D", "num_features": 8}, "unknown setting(s) ['num_features']")])
def test_bad_network_configs_are_refused_before_any_folder_is_made(tmp_path, capsys, network, match):
    path = tiny_training_config(tmp_path, network=network)
    refused(capsys, "train", path, match=match)
    assert not (tmp_path / "run").exists()


def test_a_damaged_checkpoint_names_the_way_out(tmp_path, capsys):
    path = tiny_training_config(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint_latest.pt").write_bytes(b"PK\x03\x04 cut off")
    refused(capsys, "train", path, match="--no-resume")


def test_a_resumed_run_does_not_repeat_log_rows(tmp_path):
    import csv

    import torch

    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.training.run import run_training

    path = tiny_training_config(tmp_path)
    run_training(path, progress=False, log=lambda m: None)
    metrics = tmp_path / "run" / "metrics.csv"
    steps = [int(row["step"]) for row in csv.DictReader(open(metrics))]
    assert steps == [1, 2, 3, 4]
    state = torch.load(tmp_path / "run" / "checkpoint_latest.pt", weights_only=True)
    state["step"] = 2  # as if the run had died after logging steps 3 and 4 but before their checkpoint
    torch.save(state, tmp_path / "run" / "checkpoint_latest.pt")
    from SuperResolution3DLib.models.card import sha256_of_file

    (tmp_path / "run" / "checkpoint_latest.pt.sha256").write_text(sha256_of_file(tmp_path / "run" / "checkpoint_latest.pt"))
    config = load_training_config(path)
    run_training(config, progress=False, log=lambda m: None)
    assert [int(row["step"]) for row in csv.DictReader(open(metrics))] == [1, 2, 3, 4]


def test_a_flipped_byte_in_a_checkpoint_is_caught_by_its_checksum(tmp_path, capsys):
    path = tiny_training_config(tmp_path)
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    checkpoint = tmp_path / "run" / "checkpoint_latest.pt"
    assert (tmp_path / "run" / "checkpoint_latest.pt.sha256").is_file()
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    refused(capsys, "train", path, match="SHA-256")


def test_a_huge_input_is_refused_from_its_header_before_its_voxels_are_read(tmp_path, capsys, monkeypatch):
    path = tmp_path / "huge.nrrd"
    path.write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4000 4000 4000\nspacings: 1 1 1\n"
                     b"endian: little\nencoding: raw\n\n" + bytes(64))
    monkeypatch.setattr(volume_io, "_execute_reader", lambda *a: pytest.fail("voxels were read"))
    refused(capsys, "predict", path, tmp_path / "out.nrrd", "--model", "trilinear", match="region of interest")


SIGTERM_WHILE_WRITING = """
import os, signal, sys
import SimpleITK as sitk
from SuperResolution3DLib.cli import main

real_write = sitk.WriteImage
def write_then_terminate(image, path, *rest):
    real_write(image, path, *rest)  # the temporary file is on disk, not yet renamed
    os.kill(os.getpid(), signal.SIGTERM)
sitk.WriteImage = write_then_terminate  # data.io imports SimpleITK where it writes
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_sigterm_while_writing_leaves_no_partial_file_and_keeps_the_old_output(small_input, tmp_path, suffix):
    import subprocess
    import sys

    out = tmp_path / f"out{suffix}"
    write_volume(Volume(np.zeros((3, 3, 3), np.float32)), out)
    before = digest(out)
    result = subprocess.run([sys.executable, "-c", SIGTERM_WHILE_WRITING, "predict", str(small_input), str(out),
                             "--model", "trilinear", "--progress", "none"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "sr3d predict: cancelled"
    assert leftovers(tmp_path) == [] and digest(out) == before


@pytest.mark.parametrize("header_change, match", [
    ((b"ElementSpacing = 1 1 1", b"ElementSpacing = 1 1 0"), "invalid voxel spacing (1.0, 1.0, 0.0)"),
    ((b"TransformMatrix = 1 0 0 0 1 0 0 0 1", b"TransformMatrix = 1 0 0 1 0 0 0 0 1"), "singular direction matrix"),
])
def test_zero_spacing_and_a_singular_direction_are_named_from_the_header(tmp_path, capsys, header_change, match):
    path = tmp_path / "bad.mha"
    write_volume(Volume(np.ones((4, 5, 6), np.float32)), path, compress=False)
    text = path.read_bytes()
    assert header_change[0] in text
    path.write_bytes(text.replace(*header_change))
    refused(capsys, "predict", path, tmp_path / "out.nrrd", "--model", "trilinear", match=match)
    assert not (tmp_path / "out.nrrd").exists()


def empty_file(path):
    path.write_bytes(b"")
    return path


def empty_folder(path):
    path.mkdir()
    return path


@pytest.mark.parametrize("make_input, output_name, match", [
    (lambda d: empty_file(d / "empty.nii.gz"), "out.nrrd", "empty file (0 bytes)"),
    (lambda d: empty_folder(d / "no_dicom"), "out.nrrd", "has no DICOM series"),
    (lambda d: d / "in.nrrd", "in.nrrd", "refusing to overwrite the input"),
    (lambda d: d / "in.nrrd", "out.txt", "unsupported output file type '.txt'"),
    (lambda d: d / "in.nrrd", "missing_folder/out.nrrd", "does not exist; create it first"),
])
def test_plausible_user_mistakes_are_refused_in_one_line(small_input, tmp_path, capsys, make_input, output_name, match):
    before = digest(small_input)
    refused(capsys, "predict", make_input(tmp_path), tmp_path / output_name, "--model", "trilinear", match=match)
    assert digest(small_input) == before and leftovers(tmp_path) == []


def config_file(folder, text):
    path = folder / "config.yaml"
    path.write_text(text)
    return path


REFUSE_WITHOUT_TORCH = """
import sys
from SuperResolution3DLib.cli import main
code = main(sys.argv[1:])
print(code, sorted(name for name in ("torch", "monai") if name in sys.modules))
"""


@pytest.mark.parametrize("make_args", [
    lambda d: ["predict", d / "missing.nii.gz", d / "out.nrrd"],
    lambda d: ["predict", d / "in.nrrd", d / "out.dcm"],
    lambda d: ["predict", d / "in.nrrd", d / "out.nrrd", "--model", "nonexistent_model"],
    lambda d: ["predict", d / "in.nrrd", d / "out.nrrd", "--device", "tpu"],
    lambda d: ["predict", d / "in.nrrd", d / "in.nrrd"],
    lambda d: ["predict", d / "in.nrrd", d / "out.nrrd", "--png", d / "in.nrrd"],
    lambda d: ["info", "nonexistent_model"],
    lambda d: ["train", config_file(d, "network: {name: NoSuchNet3D}\ndata: {train: [a.nii]}\n")],
    lambda d: ["train", config_file(d, "network: {name: RRDBNet3D, num_fet: 8}\ndata: {train: [a.nii]}\n")],
    lambda d: ["evaluate", d / "in.nrrd", "--models", "nonexistent_model", "--out", d / "eval"],
    lambda d: ["evaluate", d / "missing.nii.gz", "--models", "trilinear", "--out", d / "eval"],
])
def test_refusals_come_before_torch_is_imported(small_input, tmp_path, make_args):
    import subprocess
    import sys

    args = [str(a) for a in make_args(tmp_path)]
    result = subprocess.run([sys.executable, "-c", REFUSE_WITHOUT_TORCH, *args], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "2 []", (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_cuda_device_the_machine_lacks_is_refused_without_torch(tmp_path, monkeypatch):
    from SuperResolution3DLib.core.devices import check_device_present
    from SuperResolution3DLib.core.errors import DeviceError

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(DeviceError, match="no visible NVIDIA GPU"):
        check_device_present("cuda", dev=tmp_path)
    (tmp_path / "nvidia0").touch()
    (tmp_path / "nvidiactl").touch()
    assert check_device_present("cuda:0", dev=tmp_path) == "cuda:0"
    with pytest.raises(DeviceError, match="has 1 CUDA device"):
        check_device_present("cuda:1", dev=tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(DeviceError, match="no visible NVIDIA GPU"):
        check_device_present("cuda", dev=tmp_path)
    assert check_device_present("cpu", dev=tmp_path) == "cpu"
