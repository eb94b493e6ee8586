"""A wheel built from the repository carries the bundled models, and an install from it finds them."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
                   check=True, capture_output=True, timeout=600)
    return next(out.glob("*.whl"))


def test_the_wheel_holds_every_bundled_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for card in sorted((REPO / "Resources" / "Models").glob("*.json")):
        assert f"SuperResolution3DLib/bundled_models/{card.name}" in names
        assert f"SuperResolution3DLib/bundled_models/{card.stem}.safetensors" in names


def test_an_install_from_the_wheel_lists_and_verifies_the_default_model(wheel, tmp_path):
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)  # what pip puts in site-packages (no dependencies needed here)
    probe = ("from SuperResolution3DLib.models.card import DEFAULT_MODEL_NAME, find_model_files, list_bundled_models, "
             "models_dir, verify_weights_checksum\n"
             "card_path, card, weights = find_model_files('default')\n"
             "verify_weights_checksum(weights, card['weights_sha256'])\n"
             "print(models_dir().name, DEFAULT_MODEL_NAME in list_bundled_models(), card_path.stem == DEFAULT_MODEL_NAME)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["bundled_models", "True", "True"], result.stderr
