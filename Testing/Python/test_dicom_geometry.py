"""DICOM series whose slices do not make a regular grid (gantry tilt, missing slices, repeats) are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.dicom import locale_kept, write_dicom_series
from SuperResolution3DLib.data.io import inspect_input, read_volume

SPACING = (0.5, 0.5, 5.0)
DIRECTION = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # sagittal slices: the normal is not z


@pytest.fixture
def series(tmp_path) -> Path:
    volume = Volume(np.random.default_rng(0).normal(0, 100, (8, 12, 12)).astype(np.float32), SPACING,
                    (10.0, -20.0, 30.0), DIRECTION)
    return write_dicom_series(volume, tmp_path / "series")


def slice_files(folder: Path):
    return sorted(folder.glob("*.dcm"))


def write_slice(image: sitk.Image, path: Path) -> None:
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(path))
    with locale_kept():  # GDCM's writer leaves the C locale behind: later text reads would be ASCII
        writer.Execute(image)


def rewrite_positions(folder: Path, move) -> None:
    """Give slice ``i`` (in the order written, along the normal) the position ``move(i, position)``."""
    for index, path in enumerate(slice_files(folder)):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.LoadPrivateTagsOn()
        image = reader.Execute()
        position = np.array([float(v) for v in image.GetMetaData("0020|0032").split("\\")])
        image.SetMetaData("0020|0032", "\\".join(f"{v:.2f}" for v in move(index, position)))
        write_slice(image, path)


def test_a_regular_series_reads_with_its_geometry_also_with_rounded_positions(series):
    rewrite_positions(series, lambda i, p: p)  # positions written with 2 decimals, as many scanners do
    volume = read_volume(series)
    assert volume.spacing == pytest.approx(SPACING, abs=1e-3)
    np.testing.assert_allclose(volume.direction, DIRECTION, atol=1e-6)


def test_a_gantry_tilt_is_refused_with_its_angle_and_the_fix(series):
    normal_step = SPACING[2]
    row = np.array(DIRECTION).reshape(3, 3)[:, 1]  # shift along the slices' second in-plane axis
    rewrite_positions(series, lambda i, p: p + np.tan(np.radians(15.0)) * normal_step * i * row)

    for reader in (read_volume, inspect_input):
        with pytest.raises(InputVolumeError, match=r"gantry tilt of 15.0 degrees.*regularization"):
            reader(series)


def test_a_missing_slice_is_refused(series):
    slice_files(series)[3].unlink()
    with pytest.raises(InputVolumeError, match=r"not evenly spaced \(5 to 10 mm apart\): a slice is missing"):
        read_volume(series)


def test_two_slices_at_one_position_are_refused(series, tmp_path):
    files = slice_files(series)
    shutil.copy(files[2], tmp_path / "copy.dcm")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(tmp_path / "copy.dcm"))
    reader.LoadPrivateTagsOn()
    image = reader.Execute()
    image.SetMetaData("0008|0018", image.GetMetaData("0008|0018") + ".2")  # another instance, the same place
    write_slice(image, series / "repeat.dcm")
    with pytest.raises(InputVolumeError, match="several slices at one position"):
        read_volume(series)


def test_predict_refuses_a_tilted_series_in_one_line(series, tmp_path, capsys):
    rewrite_positions(series, lambda i, p: p + np.array([0.0, 0.0, 0.8 * i]))
    assert main(["predict", str(series), str(tmp_path / "out.nrrd"), "--model", "trilinear"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sr3d predict: error: the slices of the DICOM series") and "\n" not in err
    assert not (tmp_path / "out.nrrd").exists()
