"""A wheel and an sdist built from the repository carry the bundled models and the sample, and an install from
the wheel lists the models and super-resolves with them."""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in (REPO / "Resources" / "Models").glob("*.*") if p.suffix in (".json", ".safetensors")) + \
    sorted(p.name for p in (REPO / "Resources" / "SampleData").glob("*.nrrd"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    for hook in ("build_wheel", "build_sdist"):  # setuptools' PEP 517 hooks, as pip and `python -m build` call them
        subprocess.run([sys.executable, "-c", f"import sys; from setuptools import build_meta; build_meta.{hook}(sys.argv[1])", str(out)],
                       cwd=REPO, check=True, capture_output=True, timeout=600)
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_the_wheel_and_the_sdist_hold_every_model_and_the_sample(built):
    wheel, sdist = built
    in_wheel = {Path(n).name for n in zipfile.ZipFile(wheel).namelist()
                if "/bundled_models/" in n or "/sample_data/" in n}
    in_sdist = {Path(n).name for n in tarfile.open(sdist).getnames() if "/Resources/" in n}
    for name in SHIPPED:
        assert name in in_wheel, name
        assert name in in_sdist, name


def test_an_install_from_the_wheel_lists_the_models_and_super_resolves_the_sample(built, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(built[0]).extractall(site)  # what pip puts in site-packages (dependencies from this environment)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "SuperResolution3DLib.cli", *args], cwd=tmp_path, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=600)
    listed = run("models")
    assert listed.returncode == 0 and "sr3d_rrdb_gan_x4_real  (default)" in listed.stdout, listed.stderr
    assert str(site) in listed.stdout  # the models come from the installed package, not from the source tree
    probe = subprocess.run([sys.executable, "-c", "from SuperResolution3DLib.core.paths import sample_data_dir; print(sample_data_dir())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    sample = Path(probe.stdout.strip()) / "MNI152_2009c_T1_brain_LR4mm.nrrd"
    assert str(site) in str(sample) and sample.is_file()
    # a tiny predict: a 12^3 box of the sample with the default model
    done = run("predict", str(sample), str(tmp_path / "sr.nrrd"), "--roi", "18,22,18,12,12,12", "--progress", "none")
    assert done.returncode == 0, done.stderr
    assert "48x48x48 voxels" in done.stdout


def test_the_bundled_weights_stay_under_50_mb():
    weights = sorted((REPO / "Resources" / "Models").glob("*.safetensors"))
    total = sum(path.stat().st_size for path in weights)
    assert weights and total < 50_000_000, f"{total / 1e6:.1f} MB in {[p.name for p in weights]}"
