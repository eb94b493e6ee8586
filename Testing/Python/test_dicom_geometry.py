"""DICOM series whose slices are no regular grid: a gantry tilt is read as a sheared grid and kept; missing slices
and repeated positions are refused."""

from __future__ import annotations

import contextlib
import csv
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


def tilt(series: Path, degrees: float = 15.0) -> np.ndarray:
    """Shift each slice of ``series`` along its second in-plane axis as a gantry tilt does; the stack's step vector."""
    axes = np.array(DIRECTION).reshape(3, 3)
    step = SPACING[2] * axes[:, 2] + np.tan(np.radians(degrees)) * SPACING[2] * axes[:, 1]
    rewrite_positions(series, lambda i, p: p + np.tan(np.radians(degrees)) * SPACING[2] * i * axes[:, 1])
    return step


def slice_positions(folder: Path) -> np.ndarray:
    positions = []
    for path in slice_files(folder):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        positions.append([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
    return np.array(sorted(positions, key=lambda p: p @ np.array(DIRECTION).reshape(3, 3)[:, 2]))


def test_a_gantry_tilt_is_read_as_a_sheared_grid_that_puts_every_slice_where_its_header_says(series):
    step = tilt(series)
    with pytest.warns(UserWarning, match="tilted by 15.0 degrees"):
        volume = read_volume(series)
    positions = slice_positions(series)
    for k, position in enumerate(positions):
        np.testing.assert_allclose(volume.index_to_world((0, 0, k)), position, atol=0.01)
    np.testing.assert_allclose(volume.index_to_world((3, 5, 2)) - volume.index_to_world((0, 0, 2)),
                               3 * 0.5 * np.array(DIRECTION).reshape(3, 3)[:, 0] + 5 * 0.5 * np.array(DIRECTION).reshape(3, 3)[:, 1],
                               atol=1e-6)
    assert volume.spacing[2] == pytest.approx(np.linalg.norm(step), abs=0.01)


def test_predict_keeps_a_tilted_series_in_the_world_and_refuses_nifti_before_any_work(series, tmp_path, capsys):
    step = tilt(series)
    assert main(["predict", str(series), str(tmp_path / "out.nii.gz"), "--model", "trilinear"]) == 2
    assert "has tilted slices (gantry tilt), a sheared grid that NIfTI outputs here cannot hold" in capsys.readouterr().err and not (tmp_path / "out.nii.gz").exists()

    for output in (tmp_path / "out.nrrd", tmp_path / "dicom_out"):
        target = str(output) + ("" if output.suffix else "/")  # a path ending in / is a DICOM output folder
        assert main(["predict", str(series), target, "--model", "trilinear", "--progress", "none",
                     "--output-slice-spacing", f"{np.linalg.norm(step) / 4:.6f}"]) == 0  # the 4x grid along the stack
        assert "tilted by 15.0 degrees" in capsys.readouterr().err
        with pytest.warns(UserWarning, match="tilted") if output.suffix == "" else contextlib.nullcontext():
            result = read_volume(output)
        with pytest.warns(UserWarning, match="tilted"):
            source = read_volume(series)
        # every input slice is an output slice (4 apart along the stack): same world position, same voxels
        for k in range(source.array.shape[0]):
            np.testing.assert_allclose(result.index_to_world((0, 0, 4 * k)), source.index_to_world((0, 0, k)), atol=0.01)
            np.testing.assert_allclose(result.array[4 * k], source.array[k], atol=0.5)
        if output.suffix == "":  # the DICOM output's own slice positions follow the tilted stack
            np.testing.assert_allclose(slice_positions(output)[::4], slice_positions(series), atol=0.01)
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(slice_files(output)[0]))
            reader.ReadImageInformation()  # the planes are 5 mm / 4 apart along their normal, not the stack's step
            assert float(reader.GetMetaData("0018|0050")) == pytest.approx(SPACING[2] / 4, abs=1e-3)


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


def test_slices_in_another_orientation_are_refused(series):
    path = slice_files(series)[-1]
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.LoadPrivateTagsOn()
    image = reader.Execute()
    image.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")  # an axial localizer among sagittal slices
    write_slice(image, path)
    with pytest.raises(InputVolumeError, match="different orientations"):
        read_volume(series)


def test_predict_refuses_a_series_with_a_missing_slice_in_one_line(series, tmp_path, capsys):
    slice_files(series)[5].unlink()
    assert main(["predict", str(series), str(tmp_path / "out.nrrd"), "--model", "trilinear"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sr3d predict: error: the slices of the DICOM series") and "\n" not in err
    assert not (tmp_path / "out.nrrd").exists()


def test_3d_slicer_reads_the_sheared_output_with_its_tilt(series, tmp_path, capsys):
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkMRMLScalarVolumeNode"):
        pytest.skip("slicer-core is not installed")
    step = tilt(series)
    assert main(["predict", str(series), str(tmp_path / "out.nrrd"), "--model", "trilinear", "--progress", "none"]) == 0
    node = slicer.vtkMRMLScalarVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(tmp_path / "out.nrrd"))
    assert storage.ReadData(node)
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    k_column_lps = np.array([-matrix.GetElement(0, 2), -matrix.GetElement(1, 2), matrix.GetElement(2, 2)])
    spacing = read_volume(tmp_path / "out.nrrd").spacing[2]
    np.testing.assert_allclose(k_column_lps, step / np.linalg.norm(step) * spacing, atol=1e-4)


def test_a_cohort_writes_a_tilted_series_as_nrrd_and_the_others_as_nifti(series, tmp_path, capsys):
    plain = tmp_path / "plain_series"
    shutil.copytree(series, plain)
    tilt(series)
    (tmp_path / "empty").mkdir()  # no DICOM in it: reported in the manifest, the cohort goes on
    listing = tmp_path / "cohort.txt"
    listing.write_text("series\nplain_series\nempty\n")
    assert main(["predict", str(listing), str(tmp_path / "out"), "--model", "trilinear", "--progress", "none"]) == 1
    rows = {Path(r["input"]).name: r for r in csv.DictReader((tmp_path / "out" / "manifest.csv").read_text().splitlines())}
    assert Path(rows["series"]["output"]).name == "series.nrrd" and rows["series"]["status"] == "done"
    assert Path(rows["plain_series"]["output"]).name == "plain_series.nii.gz" and rows["plain_series"]["status"] == "done"
    assert rows["empty"]["status"] == "failed" and "no DICOM series" in rows["empty"]["message"]


def test_sr3d_dicom_writes_a_tilted_series_as_nrrd(series, tmp_path, capsys):
    from SuperResolution3DLib.cli import main

    tilt(series)
    assert main(["dicom", str(series), "--out", str(tmp_path / "volumes")]) == 0
    written = list((tmp_path / "volumes").iterdir())
    assert len(written) == 1 and written[0].name.endswith(".nrrd"), written  # NIfTI cannot hold the sheared grid
    assert "tilted by 15.0 degrees" in capsys.readouterr().err
