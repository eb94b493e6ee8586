"""MINC2 volumes (.mnc): read and written in the right world coordinates, as nibabel's MINC reader places them."""

from pathlib import Path

import numpy as np
import pytest

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.io import inspect_input, read_volume, write_volume

nibabel = pytest.importorskip("nibabel")  # the reference reader (test extra); its MINC2 reader needs h5py
pytest.importorskip("h5py")
NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"
OBLIQUE = tuple(np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0].ravel())


def assert_placed_as_nibabel_places(volume: Volume, path: Path):
    """Every voxel of ``volume`` at the world position (LPS) where nibabel puts the file's voxel of that value."""
    reference = nibabel.load(str(path))
    values = np.asarray(reference.dataobj)
    for index in np.ndindex(*values.shape):
        ras = reference.affine @ np.array([*index, 1.0])
        xyz = np.rint(volume.world_to_index((-ras[0], -ras[1], ras[2]))).astype(int)  # RAS -> LPS
        assert np.all(np.abs(volume.world_to_index((-ras[0], -ras[1], ras[2])) - xyz) < 1e-3), index
        assert volume.array[xyz[2], xyz[1], xyz[0]] == pytest.approx(values[index], rel=1e-5, abs=1e-6), index


@pytest.mark.parametrize("name", ["minc2_1_scale.mnc", "small.mnc"])
def test_minc2_files_are_read_where_nibabel_places_them(name):
    path = NIBABEL_DATA / name
    if not path.is_file():
        pytest.skip(f"nibabel's test data has no {name}")
    volume = read_volume(path)
    assert_placed_as_nibabel_places(volume, path)
    assert inspect_input(path) == volume.size


def test_a_written_minc_file_is_where_the_volume_was(tmp_path):
    array = (np.random.default_rng(0).random((5, 6, 7)) * 1000 - 500).astype(np.float32)  # signed, as CT in HU
    volume = Volume(array, (0.8, 1.1, 2.5), (12.0, -30.5, 41.0), OBLIQUE)
    write_volume(volume, tmp_path / "out.mnc")
    assert_placed_as_nibabel_places(volume, tmp_path / "out.mnc")
    back = read_volume(tmp_path / "out.mnc")
    np.testing.assert_allclose(back.array, array, rtol=1e-6)
    np.testing.assert_allclose(back.spacing, volume.spacing, rtol=1e-6)
    np.testing.assert_allclose(back.origin, volume.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, volume.direction, atol=1e-6)


def test_minc_keeps_sr3d_degrade_note_for_sr3d_predict(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.acquisition import recorded_slice_profile

    write_volume(Volume(np.random.default_rng(2).random((16, 12, 12)).astype(np.float32)), tmp_path / "hr.nrrd")
    assert main(["degrade", str(tmp_path / "hr.nrrd"), str(tmp_path / "lr.mnc"), "--scale", "1,1,4",
                 "--profile", "gaussian", "--thickness", "5"]) == 0
    assert "keeps no header note" not in capsys.readouterr().err
    recorded = recorded_slice_profile(tmp_path / "lr.mnc")  # kept in MINC's history attribute
    assert (recorded.profile, recorded.thickness_mm, recorded.exact) == ("gaussian", 5.0, True)
    assert_placed_as_nibabel_places(read_volume(tmp_path / "lr.mnc"), tmp_path / "lr.mnc")  # still a MINC2 file
    assert main(["predict", str(tmp_path / "lr.mnc"), str(tmp_path / "sr.mnc"), "--progress", "none"]) == 0
    assert "output made to give back the slices: gaussian slices 1.25 slice spacings thick" in capsys.readouterr().out


def test_minc1_and_damaged_files_are_refused_with_what_to_do(tmp_path):
    minc1 = NIBABEL_DATA / "minc1_1_scale.mnc"
    if minc1.is_file():
        with pytest.raises(InputVolumeError, match=r"MINC1 \(netCDF\).*mincconvert -2"):
            read_volume(minc1)
    (tmp_path / "bad.mnc").write_bytes(b"not a volume at all")
    with pytest.raises(InputVolumeError, match="not a MINC2 file"):
        inspect_input(tmp_path / "bad.mnc")


def test_sr3d_predict_reads_and_writes_minc(tmp_path):
    from SuperResolution3DLib.cli import main

    array = np.random.default_rng(1).random((6, 8, 8)).astype(np.float32) * 100
    volume = Volume(array, (1.0, 1.0, 1.0), (5.0, -7.0, 3.0), OBLIQUE)
    write_volume(volume, tmp_path / "lr.mnc")
    assert main(["predict", str(tmp_path / "lr.mnc"), str(tmp_path / "sr.mnc"), "--model", "trilinear",
                 "--device", "cpu", "--progress", "none"]) == 0
    output = read_volume(tmp_path / "sr.mnc")
    assert output.size == (32, 32, 24)
    # the grid relation (README): output voxel 4i on input voxel i, in LPS like the input's; directions kept
    np.testing.assert_allclose(output.index_to_world((8, 12, 20)), volume.index_to_world((2, 3, 5)), atol=1e-4)
    np.testing.assert_allclose(output.direction, volume.direction, atol=1e-6)
