"""Tests of SuperResolution3DLib.data.io: reading, checking and atomic writing of 3D volumes."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import SimpleITK as sitk

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.data.dicom import locale_kept
from SuperResolution3DLib.data.io import (
    check_output_path,
    read_volume,
    replace_nonfinite,
    validate_volume,
    write_volume,
)
from SuperResolution3DLib.core.volume import Volume


def oblique_direction() -> tuple:
    """A proper rotation (about a tilted axis), row-major, so NIfTI's sform/qform keep it."""
    angle_z, angle_x = np.deg2rad(20.0), np.deg2rad(-12.0)
    cos_z, sin_z, cos_x, sin_x = np.cos(angle_z), np.sin(angle_z), np.cos(angle_x), np.sin(angle_x)
    rotation_z = np.array([[cos_z, -sin_z, 0], [sin_z, cos_z, 0], [0, 0, 1]])
    rotation_x = np.array([[1, 0, 0], [0, cos_x, -sin_x], [0, sin_x, cos_x]])
    return tuple((rotation_z @ rotation_x).ravel())


def oblique_volume() -> Volume:
    array = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    return Volume(array, spacing=(0.7, 1.3, 2.5), origin=(-12.5, 30.25, 7.0), direction=oblique_direction())


def assert_same_geometry(read: Volume, written: Volume, tolerance: float = 1e-4) -> None:
    np.testing.assert_allclose(read.spacing, written.spacing, atol=tolerance)
    np.testing.assert_allclose(read.origin, written.origin, atol=tolerance)
    np.testing.assert_allclose(read.direction, written.direction, atol=tolerance)


# Round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_write_read_round_trip_keeps_geometry_and_values(tmp_path: Path, extension: str) -> None:
    volume = oblique_volume()
    path = write_volume(volume, tmp_path / f"volume{extension}")
    read = read_volume(path)
    assert read.array.dtype == np.float32
    assert read.array.shape == volume.array.shape
    np.testing.assert_allclose(read.array, volume.array, rtol=1e-6)
    assert_same_geometry(read, volume)


@pytest.mark.parametrize("extension", [".nhdr", ".mhd"])
def test_detached_header_formats_are_readable(tmp_path: Path, extension: str) -> None:
    volume = oblique_volume()
    path = tmp_path / f"volume{extension}"
    sitk.WriteImage(volume.to_sitk(), str(path))
    read = read_volume(path)
    np.testing.assert_allclose(read.array, volume.array)
    assert_same_geometry(read, volume)


def test_integer_input_is_returned_as_float32(tmp_path: Path) -> None:
    path = tmp_path / "ct.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(27, dtype=np.int16).reshape(3, 3, 3) - 1000), str(path))
    read = read_volume(path)
    assert read.array.dtype == np.float32
    assert read.array.min() == -1000


# Refused inputs ----------------------------------------------------------------------------------


def test_missing_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputVolumeError, match="not found"):
        read_volume(tmp_path / "absent.nii.gz")


def test_unsupported_extension_lists_supported_inputs(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(b"not really a png")
    with pytest.raises(InputVolumeError, match="supported inputs: .nii"):
        read_volume(path)


def test_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.nrrd"
    path.write_bytes(b"this is not an image")
    with pytest.raises(InputVolumeError, match="cannot read"):
        read_volume(path)


def test_2d_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slice.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((5, 6), np.float32)), str(path))
    with pytest.raises(InputVolumeError, match=r"2D \(6x5\)"):
        read_volume(path)


def test_single_slice_3d_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slab.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((1, 5, 6), np.float32)), str(path))
    with pytest.raises(InputVolumeError, match="single slice"):
        read_volume(path)


def test_4d_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "series.nii.gz"
    frame = sitk.GetImageFromArray(np.ones((3, 4, 5), np.float32))
    sitk.WriteImage(sitk.JoinSeries([frame, frame]), str(path))
    with pytest.raises(InputVolumeError, match="4D"):
        read_volume(path)


@pytest.mark.parametrize("name", ["one_time_point.nrrd", "one_time_point.mha"])
def test_a_4d_file_with_one_time_point_is_read_as_its_3d_volume(tmp_path: Path, name: str) -> None:
    from SuperResolution3DLib.data.io import inspect_input, read_volume_header

    array = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    volume = Volume(array, (0.7, 0.9, 2.5), (3.0, -4.0, 12.0), oblique_direction())
    image = sitk.JoinSeries([volume.to_sitk()])  # 4D, a 4th axis of size 1, the 3D geometry in its corner
    direction = np.eye(4)
    direction[:3, :3] = np.asarray(volume.direction).reshape(3, 3)
    image.SetDirection(tuple(direction.ravel()))
    image.SetOrigin((*volume.origin, 0.0))
    sitk.WriteImage(image, str(tmp_path / name))
    assert inspect_input(tmp_path / name) == (5, 4, 3)
    assert read_volume_header(tmp_path / name) == ((5, 4, 3), pytest.approx((0.7, 0.9, 2.5)),
                                                   pytest.approx(volume.direction))  # the spatial corner of a 4D one
    read = read_volume(tmp_path / name)
    np.testing.assert_array_equal(read.array, array)
    np.testing.assert_allclose(read.spacing, volume.spacing)
    np.testing.assert_allclose(read.origin, volume.origin)
    np.testing.assert_allclose(read.direction, volume.direction, atol=1e-12)


def test_rgb_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.uint8), isVector=True), str(path))
    with pytest.raises(InputVolumeError, match="3 components per voxel"):
        read_volume(path)


def test_folder_without_dicom_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputVolumeError, match="has no DICOM series"):
        read_volume(tmp_path)


# DICOM -------------------------------------------------------------------------------------------


UID_ROOT = "1.2.826.0.1.3680043.2.1125"


def write_dicom_series(
    folder: Path, series_uid: str, slices: int, pixel_spacing_yx: Sequence[float], slice_spacing: float
) -> None:
    """Write ``slices`` int16 6x5 axial slices of one series with consistent position tags."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    study_uid = f"{UID_ROOT}.1"
    for index in range(slices):
        slice_image = sitk.GetImageFromArray((np.arange(30, dtype=np.int16).reshape(5, 6) + 100 * index))
        # GDCM writes the pixel spacing tag from the image's own spacing, so set both.
        slice_image.SetSpacing((float(pixel_spacing_yx[1]), float(pixel_spacing_yx[0])))
        tags = {
            "0008|0060": "CT",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",
            "0008|0018": f"{series_uid}.{index + 1}",
            "0020|000d": study_uid,
            "0020|000e": series_uid,
            "0020|0013": str(index + 1),
            "0020|0032": f"-10\\20\\{5.0 + slice_spacing * index}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": "\\".join(str(s) for s in pixel_spacing_yx),
            "0018|0050": str(slice_spacing),
        }
        for tag, value in tags.items():
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid[-3:]}_{index:03d}.dcm"))
        with locale_kept():  # GDCM's writer sets the process locale to "C" (later tests would read text as ASCII)
            writer.Execute(slice_image)


def test_dicom_series_folder_is_read_with_its_geometry(tmp_path: Path) -> None:
    write_dicom_series(tmp_path, f"{UID_ROOT}.101", slices=4, pixel_spacing_yx=(0.5, 0.7), slice_spacing=2.0)
    volume = read_volume(tmp_path)
    assert volume.size == (6, 5, 4)
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.spacing, (0.7, 0.5, 2.0), atol=1e-4)
    np.testing.assert_allclose(volume.origin, (-10.0, 20.0, 5.0), atol=1e-4)
    np.testing.assert_allclose(volume.array[:, 0, 0], [0, 100, 200, 300])


def test_dicom_folder_with_two_series_uses_the_largest_and_warns(tmp_path: Path) -> None:
    write_dicom_series(tmp_path, f"{UID_ROOT}.201", slices=3, pixel_spacing_yx=(1.0, 1.0), slice_spacing=3.0)
    write_dicom_series(tmp_path, f"{UID_ROOT}.202", slices=5, pixel_spacing_yx=(0.5, 0.5), slice_spacing=1.0)
    with pytest.warns(UserWarning, match=r"using series 1\.2\.826\.0\.1\.3680043\.2\.1125\.202 \(5 slices\)"):
        volume = read_volume(tmp_path)
    assert volume.size == (6, 5, 5)
    np.testing.assert_allclose(volume.spacing, (0.5, 0.5, 1.0), atol=1e-4)


# validate_volume ---------------------------------------------------------------------------------


def test_validate_volume_returns_float32() -> None:
    volume = validate_volume(Volume(np.arange(8, dtype=np.int16).reshape(2, 2, 2)))
    assert volume.array.dtype == np.float32


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((0, 3, 3), np.float32), "empty"),
        (np.ones((4, 4), np.float32), "2 dimensions"),
        (np.arange(8, dtype=np.float32).reshape(1, 2, 4), "fewer than 2 voxels"),
        (np.full((2, 2, 2), np.nan, np.float32), "no finite voxel"),
        (np.zeros((2, 3, 3), np.float32), r"constant \(value 0.0\)"),
    ],
)
def test_validate_volume_refuses_unusable_arrays(array: np.ndarray, message: str) -> None:
    with pytest.raises(InputVolumeError, match=message):
        validate_volume(Volume(array))


def test_validate_volume_calls_constant_despite_nan() -> None:
    array = np.full((2, 2, 2), 5.0, np.float32)
    array[0, 0, 0] = np.nan
    with pytest.raises(InputVolumeError, match=r"constant \(value 5.0\)"):
        validate_volume(Volume(array))


def test_validate_volume_refuses_bad_geometry() -> None:
    array = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    with pytest.raises(InputVolumeError, match="spacing"):
        validate_volume(Volume(array, spacing=(1.0, 0.0, 1.0)))
    with pytest.raises(InputVolumeError, match="singular direction"):
        validate_volume(Volume(array, direction=(1, 0, 0, 1, 0, 0, 0, 0, 1)))


# replace_nonfinite -------------------------------------------------------------------------------


def test_replace_nonfinite_fills_with_minimum_and_returns_mask() -> None:
    array = np.arange(8, dtype=np.float32).reshape(2, 2, 2) - 3.0
    array[0, 0, 1] = np.nan
    array[1, 1, 1] = np.inf
    with pytest.warns(UserWarning, match="2 non-finite voxels"):
        filled, mask = replace_nonfinite(Volume(array, spacing=(1, 2, 3)))
    assert np.isfinite(filled.array).all()
    assert filled.array[0, 0, 1] == -3.0 and filled.array[1, 1, 1] == -3.0
    assert mask.sum() == 2 and mask[0, 0, 1] and mask[1, 1, 1]
    assert filled.spacing == (1.0, 2.0, 3.0)
    assert np.isnan(array[0, 0, 1])  # the caller's array is left alone


def test_replace_nonfinite_without_nonfinite_returns_no_mask() -> None:
    volume = Volume(np.arange(8, dtype=np.float32).reshape(2, 2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same, mask = replace_nonfinite(volume)
    assert mask is None and same is volume


# Writing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.nhdr", "out.mhd", "out.png", "out"])
def test_write_refuses_unsupported_outputs(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputVolumeError, match="supported outputs: .nii, .nii.gz, .nrrd, .mha"):
        write_volume(oblique_volume(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputVolumeError, match="does not exist"):
        write_volume(oblique_volume(), tmp_path / "absent" / "out.nii.gz")


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.nrrd"
    target.write_bytes(b"previous result")

    def write_half_then_fail(image, file_name, *args):
        Path(file_name).write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", write_half_then_fail)
    with pytest.raises(InputVolumeError, match="cannot write"):
        write_volume(oblique_volume(), target)
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nrrd"]


def test_write_replaces_existing_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.mha"
    target.write_bytes(b"old")
    write_volume(oblique_volume(), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mha"]
    assert read_volume(target).size == (5, 4, 3)


# check_output_path -------------------------------------------------------------------------------


def test_check_output_path_refuses_overwriting_the_input(tmp_path: Path) -> None:
    input_path = write_volume(oblique_volume(), tmp_path / "in.nii.gz")
    with pytest.raises(InputVolumeError, match="refusing to overwrite the input"):
        check_output_path(input_path, tmp_path / "." / "in.nii.gz")


def test_check_output_path_refuses_a_symlink_to_the_input(tmp_path: Path) -> None:
    input_path = write_volume(oblique_volume(), tmp_path / "in.nrrd")
    link = tmp_path / "link.nrrd"
    os.symlink(input_path, link)
    with pytest.raises(InputVolumeError, match="refusing to overwrite the input"):
        check_output_path(input_path, link)


def test_check_output_path_refuses_missing_folder_and_accepts_good_path(tmp_path: Path) -> None:
    input_path = tmp_path / "in.nii.gz"
    with pytest.raises(InputVolumeError, match="output folder .* does not exist"):
        check_output_path(input_path, tmp_path / "absent" / "out.nii.gz")
    check_output_path(input_path, tmp_path / "out.nii.gz")
    check_output_path(None, tmp_path / "out.nrrd")
