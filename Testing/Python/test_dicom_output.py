"""DICOM series output: geometry and values survive the round trip; a DICOM input's patient and study carry over."""

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.dicom import read_dicom_attributes, write_dicom_series
from SuperResolution3DLib.data.io import read_volume, write_volume

ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
OBLIQUE = tuple((ROTATION * np.sign(np.linalg.det(ROTATION))).ravel())


def test_a_series_round_trips_geometry_and_values_within_half_a_slope_step(tmp_path):
    array = np.random.default_rng(1).uniform(-1000, 2000, (7, 8, 9)).astype(np.float32)  # HU-like, signed
    volume = Volume(array, (0.5, 0.6, 1.5), (10.0, -20.0, 30.0), OBLIQUE)
    folder = write_dicom_series(volume, tmp_path / "series", attributes={"0010|0010": "Doe^Jane"})
    back = read_volume(folder)
    assert back.size == volume.size
    np.testing.assert_allclose(back.spacing, volume.spacing, atol=1e-6)
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-6)
    np.testing.assert_allclose(back.direction, volume.direction, atol=1e-6)
    np.testing.assert_allclose(back.array, array, atol=2000 / 32000 / 2 + 1e-6)
    assert read_dicom_attributes(folder)["0010|0010"].strip() == "Doe^Jane"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]  # no temporary folder left
    with pytest.raises(InputVolumeError, match="not empty"):
        write_dicom_series(volume, folder)


def test_predict_writes_a_new_series_in_the_input_study(tmp_path, capsys):
    source = Volume(np.random.default_rng(2).uniform(0, 100, (6, 7, 8)).astype(np.float32), (2.0, 2.0, 2.0), (1.0, 2.0, 3.0))
    write_dicom_series(source, tmp_path / "input", attributes={"0010|0010": "Roe^Richard", "0010|0020": "P-42",
                                                               "0008|0060": "MR"})
    study = read_dicom_attributes(tmp_path / "input")["0020|000d"]
    code = main(["predict", str(tmp_path / "input"), str(tmp_path / "sr") + "/", "--model", "trilinear", "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    result = read_volume(tmp_path / "sr")
    assert result.size == (32, 28, 24)
    np.testing.assert_allclose(result.spacing, (0.5, 0.5, 0.5), atol=1e-6)
    np.testing.assert_allclose(result.origin, (1.0, 2.0, 3.0), atol=1e-6)
    attributes = read_dicom_attributes(tmp_path / "sr")
    assert attributes["0010|0010"].strip() == "Roe^Richard" and attributes["0010|0020"].strip() == "P-42"
    assert attributes["0020|000d"] == study and attributes["0008|0060"].strip() == "MR"
    # refusals before any work: a folder with files in it, and the input folder itself
    assert main(["predict", str(tmp_path / "input"), str(tmp_path / "sr"), "--model", "trilinear"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "input"), str(tmp_path / "input") + "/", "--model", "trilinear"]) == 2
    assert "input folder" in capsys.readouterr().err


def test_writing_a_series_leaves_the_process_locale_as_it_was(tmp_path):
    import locale

    before = locale.setlocale(locale.LC_ALL)
    write_dicom_series(Volume(np.ones((3, 4, 5), np.float32)), tmp_path / "series")
    assert locale.setlocale(locale.LC_ALL) == before  # GDCM sets "C"; text files would then read as ASCII


def test_a_fresh_process_writes_mr_as_classic_mr_image_storage(tmp_path):
    """GDCM writes a rescaled MR slice as Enhanced MR (no top-level Image Position) until the process has read a DICOM
    file; every slice of the first series of a new process must be MR Image Storage with its position."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np; from SuperResolution3DLib.core.volume import Volume; "
        "from SuperResolution3DLib.data.dicom import write_dicom_series; "
        "array = np.random.default_rng(1).random((3, 4, 4)).astype(np.float32) * 900; "
        "write_dicom_series(Volume(array, (1.0, 1.0, 2.0)), sys.argv[1], attributes={'0008|0060': 'MR'})"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "mr")], check=True)
    import SimpleITK as sitk

    files = sorted((tmp_path / "mr").iterdir())
    assert len(files) == 3 and not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())
    for file in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(file))
        reader.ReadImageInformation()
        assert reader.GetMetaData("0008|0016").strip("\0 ") == "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
        assert reader.HasMetaDataKey("0020|0032") and reader.GetMetaData("0028|1053").strip()
