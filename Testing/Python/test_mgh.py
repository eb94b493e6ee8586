"""FreeSurfer MGH inputs (.mgz, .mgh): voxels and geometry as nibabel, FreeSurfer's Python reader, reads them."""

import gzip

import numpy as np
import pytest

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.data.io import input_pixel_type, inspect_input, read_volume, read_volume_header

nibabel = pytest.importorskip("nibabel")  # a test dependency (pyproject's test extra), the reference reader

OBLIQUE = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]


def write_mgh(path, array_xyz, spacing=(0.9, 1.1, 1.3), rotation=OBLIQUE, translation=(12.0, -30.5, 41.0)):
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = translation
    image = nibabel.MGHImage(array_xyz, affine)
    nibabel.save(image, str(path))
    return image


@pytest.mark.parametrize("name, dtype", [("brain.mgz", np.int16), ("brain.mgh", np.float32), ("seg.mgz", np.uint8),
                                         ("big.mgz", np.int32)])
def test_voxels_and_world_positions_are_those_nibabel_reads(tmp_path, name, dtype):
    array_xyz = (np.random.default_rng(0).random((7, 9, 11)) * 200).astype(dtype)
    write_mgh(tmp_path / name, array_xyz)
    reference = nibabel.load(str(tmp_path / name))
    volume = read_volume(tmp_path / name)
    np.testing.assert_array_equal(volume.array, np.transpose(np.asarray(reference.dataobj), (2, 1, 0)).astype(np.float32))
    np.testing.assert_allclose(volume.spacing, reference.header.get_zooms()[:3], rtol=1e-6)
    for index in ((0, 0, 0), (6, 0, 0), (0, 8, 0), (3, 4, 10), (6, 8, 10)):
        ras = reference.affine @ np.array([*index, 1.0])
        np.testing.assert_allclose(volume.index_to_world(index), [-ras[0], -ras[1], ras[2]], atol=1e-4)  # LPS
    assert inspect_input(tmp_path / name) == (7, 9, 11)
    assert read_volume_header(tmp_path / name) == ((7, 9, 11), pytest.approx(volume.spacing),
                                                   pytest.approx(volume.direction))
    assert input_pixel_type(tmp_path / name) == np.dtype(dtype)


def test_a_file_without_orientation_gets_freesurfers_coronal_one(tmp_path):
    write_mgh(tmp_path / "old.mgz", np.zeros((4, 5, 6), np.float32), spacing=(1, 1, 1), rotation=np.eye(3),
              translation=(0, 0, 0))
    with gzip.open(tmp_path / "old.mgz", "rb") as file:
        data = bytearray(file.read())
    data[28:30] = (0).to_bytes(2, "big")  # goodRASflag
    with gzip.open(tmp_path / "old.mgz", "wb") as file:
        file.write(bytes(data))
    volume = read_volume(tmp_path / "old.mgz")
    # x towards the left (-R), y inferior (-S), z anterior (+A): in LPS (+L, ..., -P)
    np.testing.assert_allclose(np.reshape(volume.direction, (3, 3)), [[1, 0, 0], [0, 0, -1], [0, -1, 0]], atol=1e-12)


def test_bad_mgh_files_are_refused_with_what_to_do(tmp_path):
    write_mgh(tmp_path / "four.mgz", np.zeros((4, 5, 6, 3), np.float32))
    with pytest.raises(InputVolumeError, match="the input is 4D .*mri_convert --frame"):
        inspect_input(tmp_path / "four.mgz")
    write_mgh(tmp_path / "whole.mgh", np.ones((8, 8, 8), np.float32))
    (tmp_path / "cut.mgh").write_bytes((tmp_path / "whole.mgh").read_bytes()[:284 + 100])
    with pytest.raises(InputVolumeError, match="cut off"):
        read_volume(tmp_path / "cut.mgh")
    (tmp_path / "junk.mgz").write_bytes(b"not a gzip file at all" * 20)
    with pytest.raises(InputVolumeError, match="not a valid MGH image"):
        inspect_input(tmp_path / "junk.mgz")
    data = bytearray((tmp_path / "whole.mgh").read_bytes())
    data[20:24] = (10).to_bytes(4, "big")  # a voxel type this reader does not know
    (tmp_path / "odd.mgh").write_bytes(bytes(data))
    with pytest.raises(InputVolumeError, match="voxel type 10 is not supported"):
        inspect_input(tmp_path / "odd.mgh")


def test_predict_takes_an_mgz_and_a_cohort_folder_finds_it(tmp_path, capsys):
    from SuperResolution3DLib.cli import main

    array_xyz = (np.random.default_rng(2).random((6, 7, 5)) * 100).astype(np.float32)
    (tmp_path / "scans").mkdir()
    write_mgh(tmp_path / "scans" / "orig.mgz", array_xyz, spacing=(4.0, 4.0, 4.0))
    source = read_volume(tmp_path / "scans" / "orig.mgz")
    assert main(["predict", str(tmp_path / "scans" / "orig.mgz"), str(tmp_path / "sr.nii.gz"), "--model", "trilinear",
                 "--progress", "none"]) == 0
    result = read_volume(tmp_path / "sr.nii.gz")
    assert result.size == (24, 28, 20)
    np.testing.assert_allclose(result.direction, source.direction, atol=1e-6)
    np.testing.assert_allclose(result.index_to_world((4, 8, 12)), source.index_to_world((1, 2, 3)), atol=1e-3)
    assert main(["predict", str(tmp_path / "scans"), str(tmp_path / "out"), "--model", "trilinear", "--progress",
                 "none"]) == 0
    cohort_output = read_volume(tmp_path / "out" / "orig.mgz")  # a cohort keeps the input's format
    np.testing.assert_allclose(cohort_output.array, result.array, atol=1e-3)
    np.testing.assert_allclose(cohort_output.index_to_world((4, 8, 12)), source.index_to_world((1, 2, 3)), atol=1e-3)
    assert main(["predict", str(tmp_path / "scans" / "orig.mgz"), str(tmp_path / "sr.mgz"), "--model", "trilinear",
                 "--progress", "none"]) == 0
    np.testing.assert_allclose(read_volume(tmp_path / "sr.mgz").array, result.array, atol=1e-3)


@pytest.mark.parametrize("name, dtype, stored", [("sr.mgz", np.float32, np.float32), ("sr.mgh", np.int16, np.int16),
                                                  ("seg.mgz", np.uint8, np.uint8), ("wide.mgz", np.uint16, np.int32),
                                                  ("double.mgz", np.float64, np.float32)])
def test_written_mgh_files_are_read_by_nibabel_where_the_volume_was(tmp_path, name, dtype, stored):
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume

    array = (np.random.default_rng(4).random((5, 6, 7)) * 250).astype(dtype)  # [z, y, x]
    volume = Volume(array, (0.9, 1.1, 2.5), (12.0, -30.5, 41.0), tuple(OBLIQUE.ravel()))
    write_volume(volume, tmp_path / name)
    reference = nibabel.load(str(tmp_path / name))
    np.testing.assert_array_equal(np.asarray(reference.dataobj), np.transpose(array, (2, 1, 0)).astype(stored))
    assert np.asarray(reference.dataobj).dtype.newbyteorder("=") == np.dtype(stored)
    for index in ((0, 0, 0), (6, 0, 0), (0, 5, 0), (3, 2, 4), (6, 5, 4)):  # (x, y, z)
        ras = reference.affine @ np.array([*index, 1.0])
        np.testing.assert_allclose(volume.index_to_world(index), [-ras[0], -ras[1], ras[2]], atol=1e-4)
    back = read_volume(tmp_path / name)  # and this reader gives the volume back
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, volume.direction, atol=1e-6)


def test_what_mgh_cannot_hold_is_refused_or_said(tmp_path, capsys):
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume

    sheared = Volume(np.ones((4, 4, 4), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                     (1.0, 0.0, 0.0, 0.0, 1.0, 0.26, 0.0, 0.0, 0.97))  # a gantry-tilted grid
    with pytest.raises(InputVolumeError, match=r"\.mgz cannot hold this volume's sheared grid"):
        write_volume(sheared, tmp_path / "tilted.mgz")
    assert not (tmp_path / "tilted.mgz").exists()
    from SuperResolution3DLib.cli import main

    write_volume(Volume(np.random.default_rng(5).random((16, 12, 12)).astype(np.float32)), tmp_path / "hr.nrrd")
    assert main(["degrade", str(tmp_path / "hr.nrrd"), str(tmp_path / "lr.mgz"), "--scale", "1,1,4", "--profile",
                 "rect"]) == 0
    assert "lr.mgz keeps no header note, so sr3d predict will not know how these slices" in capsys.readouterr().err
    assert read_volume(tmp_path / "lr.mgz").size == (12, 12, 4)
