"""Real-data layer: archive readers, InVesalius projects, prepared volumes, noise augmentation, paths, precision."""

import gzip
import io
import os
import plistlib
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

from SuperResolution3DLib.core.config import DataConfig
from SuperResolution3DLib.data.degradation import kspace_truncate, nearest_downsample
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.precision import resolve_precision
from SuperResolution3DLib.core.paths import expand_path_variables
from SuperResolution3DLib.data.patches import PatchSampler, TrainingVolume
from SuperResolution3DLib.data import sources
from SuperResolution3DLib.data.sources import VolumeSource, prepare_sources, read_deb_member, read_member


def tar_bytes(files, mode="w:gz"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tarred:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tarred.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def ar_archive(members):
    out = b"!<arch>\n"
    for name, payload in members.items():
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n".encode()
        out += header + payload + (b"\n" if len(payload) % 2 else b"")
    return out


def invesalius_project(array, spacing):
    meta = {"matrix": {"dtype": "int16", "filename": "matrix.dat", "shape": list(array.shape)}, "spacing": list(spacing)}
    inner = tar_bytes({"tmp/main.plist": plistlib.dumps(meta), "tmp/matrix.dat": array.astype(np.int16).tobytes()}, mode="w")
    return gzip.compress(inner)


def test_members_are_read_from_wheels_sdists_and_debian_packages(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zipped:
        zipped.writestr("pkg/data/a.bin", b"wheel")
    sdist = tmp_path / "pkg-1.0.tar.gz"
    sdist.write_bytes(tar_bytes({"pkg-1.0/data/a.bin": b"sdist"}))
    deb = tmp_path / "pkg_1.0_all.deb"
    deb.write_bytes(ar_archive({"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.gz": tar_bytes({"./usr/share/a.bin": b"deb"})}))
    assert read_member(wheel, "pkg/data/a.bin") == b"wheel"
    assert read_member(sdist, "pkg-1.0/data/a.bin") == b"sdist"
    assert read_deb_member(deb, "./usr/share/a.bin") == b"deb"


def test_invesalius_project_becomes_a_volume_with_its_spacing(tmp_path, monkeypatch):
    import SimpleITK as sitk

    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 1024
    archive = tmp_path / "examples.deb"
    archive.write_bytes(ar_archive({"debian-binary": b"2.0\n", "data.tar.xz": tar_bytes({"./x/Head.inv3": invesalius_project(array, (0.9, 0.9, 1.5))}, mode="w:xz")}))
    source = VolumeSource("head", "examples.deb", "apt-get download examples", "./x/Head.inv3", "invesalius", "CT", "test", "d", "l")
    monkeypatch.setattr(sources, "SOURCES", [source])
    written = prepare_sources(tmp_path, tmp_path / "out", log=lambda _: None)
    assert written == [tmp_path / "out" / "test" / "head.nii.gz"]
    image = sitk.ReadImage(str(written[0]))
    assert np.array_equal(sitk.GetArrayFromImage(image), array)
    assert np.allclose(image.GetSpacing(), (0.9, 0.9, 1.5))
    assert (tmp_path / "out" / "sources.json").is_file()


def test_preparing_some_sources_keeps_the_others_in_the_manifest(tmp_path, monkeypatch):
    import json

    array = np.zeros((4, 5, 6), dtype=np.int16)
    archive = tmp_path / "examples.deb"
    archive.write_bytes(ar_archive({"debian-binary": b"2.0\n", "data.tar.xz": tar_bytes({"./x/Head.inv3": invesalius_project(array, (1, 1, 1))}, mode="w:xz")}))
    made = [VolumeSource(name, "examples.deb", "apt-get download examples", "./x/Head.inv3", "invesalius", "CT", "test", "d", "l")
            for name in ("first", "second")]
    monkeypatch.setattr(sources, "SOURCES", made)
    prepare_sources(tmp_path, tmp_path / "out", log=lambda _: None)
    prepare_sources(tmp_path, tmp_path / "out", ["second"], log=lambda _: None)
    manifest = json.loads((tmp_path / "out" / "sources.json").read_text())
    assert sorted(entry["name"] for entry in manifest) == ["first", "second"]


def test_missing_archive_names_the_command_that_fetches_it(tmp_path):
    with pytest.raises(TrainingConfigError, match="apt-get download invesalius-examples"):
        prepare_sources(tmp_path, tmp_path / "out", ["invesalius_head_ct"], log=lambda _: None)


def test_download_script_lists_every_archive_and_keeps_those_already_there(tmp_path):
    for source in sources.SOURCES:
        (tmp_path / source.archive).write_bytes(b"")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=repo)
    result = subprocess.run(["bash", os.path.join(repo, "scripts", "download_training_data.sh"), str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()[1::2]) == sorted({source.archive for source in sources.SOURCES})
    assert "+ " not in result.stdout


def test_every_source_is_split_by_subject_and_documented():
    names = [s.name for s in sources.SOURCES]
    assert len(names) == len(set(names))
    assert {s.role for s in sources.SOURCES} <= {"train", "validation", "test"}
    assert {"MRI", "CT"} <= {s.modality for s in sources.SOURCES if s.role == "test"}
    assert all(s.description and s.licence and s.fetch for s in sources.SOURCES)


def test_noise_augmentation_adds_the_noise_low_pass_to_the_lr_patch():
    hr = np.full((32, 32, 32), 0.5, np.float32)
    volume = TrainingVolume("flat", hr, hr.copy(), np.argwhere(hr > 0).astype(np.int32))
    data = DataConfig(train=["x"], patch_size=16, augment_flips=False, augment_axis_permutations=False,
                      augment_intensity=0.0, augment_noise=0.05, augment_noise_probability=1.0)
    lr, hr_patch = PatchSampler([volume], (4, 4, 4), data).sample(np.random.default_rng(0))
    noise = hr_patch - 0.5
    assert 0 < noise.std() < 0.06
    expected = nearest_downsample(0.5 + np.real(kspace_truncate(noise, 4)), 4)
    assert np.allclose(lr, expected, atol=1e-5)


def test_path_variables_expand_and_unset_ones_are_named(monkeypatch):
    monkeypatch.setenv("SR3D_DATA", "/data")
    assert expand_path_variables("$SR3D_DATA/real/a.nii.gz") == "/data/real/a.nii.gz"
    monkeypatch.delenv("SR3D_DATA")
    with pytest.raises(TrainingConfigError, match="SR3D_DATA"):
        expand_path_variables("$SR3D_DATA/real/a.nii.gz")


def test_auto_precision_uses_bf16_only_where_the_hardware_has_it(monkeypatch):
    from SuperResolution3DLib.core import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="fp16 needs a CUDA"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


def test_configs_use_each_real_scan_only_in_the_split_of_its_role():
    import re
    from pathlib import Path

    import yaml

    roles = {s.name: s.role for s in sources.SOURCES}
    checked = 0
    for config in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")):
        data = yaml.safe_load(config.read_text()).get("data", {})
        for split in ("train", "validation", "test"):
            for entry in data.get(split) or []:
                found = re.search(r"\$SR3D_DATA/real/(\w+)/([\w.]+?)\.nii\.gz", str(entry))
                if not found:
                    continue
                folder, name = found.groups()
                assert name in roles, f"{config.name}: {name} is not a known data source"
                assert folder == roles[name] == split, f"{config.name}: {name} ({roles[name]}) listed under {split}"
                checked += 1
    assert checked >= 10
