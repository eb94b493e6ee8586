"""NIfTI files whose sform is sheared (nibabel writes an affine with shear so, without a qform): read on that grid
(ITK alone refused them as damaged), or with their qform where they have one, as ITK and 3D Slicer read them."""

from __future__ import annotations

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from SuperResolution3DLib.cli import main  # noqa: E402
from SuperResolution3DLib.data.io import has_sheared_grid, read_volume, read_volume_header  # noqa: E402
from SuperResolution3DLib.inference.cohort import output_path_for  # noqa: E402

SHEARED = np.array([[0.9, 0.3, 0.0, -20.0], [0.0, 1.1, 0.2, 15.0], [0.0, 0.0, 4.0, 30.0], [0.0, 0.0, 0.0, 1.0]])
LPS = np.diag([-1.0, -1.0, 1.0])


def texture(shape=(20, 18, 8)) -> np.ndarray:
    return np.random.default_rng(0).normal(100, 20, shape).astype(np.float32)  # nibabel's [i, j, k]


def world_lps(affine: np.ndarray, ijk) -> np.ndarray:
    return LPS @ (affine @ np.r_[ijk, 1.0])[:3]


def test_a_sheared_sform_without_qform_is_read_on_its_own_grid(tmp_path):
    path = tmp_path / "sheared.nii.gz"
    nib.save(nib.Nifti1Image(texture(), SHEARED), path)  # nibabel: sform code 2, qform code 0
    assert nib.load(path).header["qform_code"] == 0
    with pytest.warns(UserWarning, match="sform .* is sheared and it has no qform"):
        volume = read_volume(path)
    for ijk in [(0, 0, 0), (3, 5, 2), (19, 17, 7)]:
        np.testing.assert_allclose(volume.index_to_world(ijk), world_lps(SHEARED, ijk), atol=1e-4)
    np.testing.assert_array_equal(volume.array, texture().transpose(2, 1, 0))
    size, spacing, direction = read_volume_header(path)
    assert size == (20, 18, 8)
    np.testing.assert_allclose(spacing, volume.spacing, atol=1e-6)
    np.testing.assert_allclose(direction, volume.direction, atol=1e-6)
    assert has_sheared_grid(path)
    assert output_path_for(path, tmp_path / "out").name == "sheared.nrrd"  # a cohort's output keeps the grid


def test_predict_keeps_the_sheared_grid_and_refuses_a_nifti_output(tmp_path, capsys):
    path = tmp_path / "sheared.nii.gz"
    nib.save(nib.Nifti1Image(texture(), SHEARED), path)
    assert main(["predict", str(path), str(tmp_path / "out.nii.gz"), "--model", "trilinear"]) == 2
    assert "sheared sform (and no qform)" in capsys.readouterr().err and not (tmp_path / "out.nii.gz").exists()
    slice_step = np.linalg.norm(SHEARED[:3, 2])
    assert main(["predict", str(path), str(tmp_path / "out.nrrd"), "--model", "trilinear", "--progress", "none",
                 "--output-slice-spacing", f"{slice_step / 4:.8f}"]) == 0  # the 4x grid along the k axis
    assert "sform (voxel-to-world matrix) is sheared" in capsys.readouterr().err
    result = read_volume(tmp_path / "out.nrrd")
    for ijk in [(0, 0, 0), (3, 5, 2), (19, 17, 7)]:  # 4x along the thick k axis: input slice k is output slice 4k
        np.testing.assert_allclose(result.index_to_world((ijk[0], ijk[1], 4 * ijk[2])), world_lps(SHEARED, ijk), atol=1e-3)


def test_a_sheared_sform_with_a_qform_is_read_with_the_qform_in_one_warning(tmp_path, capfd):
    path = tmp_path / "both.nii.gz"
    image = nib.Nifti1Image(texture(), SHEARED)
    qform = np.diag([0.9, 1.1, 4.0, 1.0])
    qform[:3, 3] = (-20.0, 15.0, 30.0)
    image.set_qform(qform, code=1)
    nib.save(image, path)
    with pytest.warns(UserWarning) as caught:
        volume = read_volume(path)
    assert [str(w.message) for w in caught] == [
        "both.nii.gz: its sform (voxel-to-world matrix) is sheared, which ITK cannot hold; it is read with its qform, "
        "as 3D Slicer reads it, and the output keeps that placement"]
    for ijk in [(0, 0, 0), (3, 5, 2), (19, 17, 7)]:
        np.testing.assert_allclose(volume.index_to_world(ijk), world_lps(qform, ijk), atol=1e-4)
    assert "WARNING" not in capfd.readouterr().err  # ITK's own multi-line warnings are not shown
    assert not has_sheared_grid(path)


def test_an_orthogonal_sform_is_read_as_before(tmp_path, recwarn):
    affine = np.diag([0.9, 1.1, 4.0, 1.0])
    nib.save(nib.Nifti1Image(texture(), affine), tmp_path / "plain.nii.gz")
    volume = read_volume(tmp_path / "plain.nii.gz")
    np.testing.assert_allclose(volume.index_to_world((3, 5, 2)), world_lps(affine, (3, 5, 2)), atol=1e-5)
    assert not recwarn.list and not has_sheared_grid(tmp_path / "plain.nii.gz")
    assert output_path_for(tmp_path / "plain.nii.gz", tmp_path / "out").name == "plain.nii.gz"


def test_a_nifti2_file_is_refused_with_how_to_convert_it(tmp_path, capsys):
    path = tmp_path / "large.nii"
    nib.save(nib.Nifti2Image(texture(), np.diag([0.9, 1.1, 4.0, 1.0])), path)
    assert main(["predict", str(path), str(tmp_path / "out.nii.gz"), "--model", "trilinear"]) == 2
    assert "large.nii is a NIfTI-2 file, which ITK does not read: save it as NIfTI-1" in capsys.readouterr().err
