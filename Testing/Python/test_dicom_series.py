"""A folder that holds several DICOM series (a session's export): listed, one chosen, each written as a file."""

import shutil

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.dicom import write_dicom_series
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
from test_adaptation import isotropic_texture


def sliced_along_y(stack: Volume) -> Volume:
    """A stack thick along y, re-gridded so that its slices are its third axis (as a coronal series stores them):
    axes x, -z, y (right-handed), the same voxels in the same places."""
    array = np.transpose(stack.array, (1, 0, 2))[:, ::-1, :]  # [y, z reversed, x]
    origin = stack.index_to_world((0, 0, stack.size[2] - 1))
    spacing = (stack.spacing[0], stack.spacing[2], stack.spacing[1])
    return Volume(np.ascontiguousarray(array), spacing, tuple(origin), (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0))


@pytest.fixture
def session(tmp_path):
    """An axial and a coronal stack (4 mm slices) of one head, exported into one folder, as series 3 and 4."""
    hr = Volume(isotropic_texture((24, 24, 24)) * 10 - 300, (1.0, 1.0, 1.0), (-12.0, 8.0, 40.0))
    coronal = sliced_along_y(thick_slice_degrade(hr, 1, 4, "rect", 4.0))
    np.testing.assert_allclose(coronal.index_to_world((3, 5, 2)), (-9.0, 16.0, 58.0))  # x 3, y 4 * 2, z 23 - 5
    stacks = {"T2 tse ax": thick_slice_degrade(hr, 2, 4, "rect", 4.0), "T2 tse cor": coronal}
    folder = tmp_path / "session"
    folder.mkdir()
    for number, (description, stack) in enumerate(stacks.items(), start=3):
        series = write_dicom_series(stack, tmp_path / f"series{number}", description=description,
                                    attributes={"0020|0011": str(number), "0008|0060": "MR",
                                                "0018|0015": f"PART{number}"})
        for file in series.iterdir():
            shutil.copy(file, folder / f"s{number}_{file.name}")
    return folder, list(stacks.values())


def test_the_series_of_a_folder_are_listed_and_one_is_read_by_number_or_uid(session, capsys):
    from SuperResolution3DLib.data.dicom_series import dicom_series_in

    folder, (axial, coronal) = session
    summaries = dicom_series_in(folder)
    assert [(s.number, s.plane, s.modality, s.files, s.description) for s in summaries] == [
        ("3", "axial", "MR", 6, "T2 tse ax"), ("4", "coronal", "MR", 6, "T2 tse cor")]
    assert main(["dicom", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert "2 DICOM series" in printed and "coronal" in printed and "--out DIR writes each series" in printed
    assert f"sr3d predict {folder} OUTPUT --series NUMBER" in printed
    for chosen, stack in (("4", coronal), (summaries[0].uid, axial)):
        volume = read_volume(folder, series=chosen)
        assert volume.size == stack.size
        np.testing.assert_allclose(volume.spacing, stack.spacing, atol=1e-5)
        np.testing.assert_allclose(volume.origin, stack.origin, atol=1e-4)
        np.testing.assert_allclose(volume.direction, stack.direction, atol=1e-6)
    with pytest.warns(UserWarning, match="holds 2 DICOM series.*sr3d dicom FOLDER lists them; sr3d predict --series"):
        read_volume(folder)
    with pytest.raises(InputVolumeError, match="has no DICOM series '9'; sr3d dicom .* lists its series"):
        read_volume(folder, series="9")


def test_each_series_is_written_as_a_file_that_sr3d_fuse_takes(session, tmp_path, capsys):
    folder, (axial, coronal) = session
    assert main(["dicom", str(folder), "--out", str(tmp_path / "volumes")]) == 0
    assert "wrote 2 of 2 series" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "volumes").iterdir())
    assert written == ["S003_T2_tse_ax.nii.gz", "S004_T2_tse_cor.nii.gz"]
    volume = read_volume(tmp_path / "volumes" / "S004_T2_tse_cor.nii.gz")
    np.testing.assert_allclose(volume.origin, coronal.origin, atol=1e-4)
    np.testing.assert_allclose(volume.array, coronal.array, atol=0.05)  # the DICOM slope's rounding
    assert main(["dicom", str(folder), "--out", str(tmp_path / "volumes")]) == 0  # again: kept, not overwritten
    assert "exists (kept" in capsys.readouterr().out
    assert main(["fuse", *[str(tmp_path / "volumes" / name) for name in written], str(tmp_path / "fused.nii.gz"),
                 "--model", "bspline", "--progress", "none"]) == 0
    assert read_volume(tmp_path / "fused.nii.gz").size == (24, 24, 24)
    printed = capsys.readouterr().out  # each stack's slices, by the plane their normal lies in
    assert "stack 1 (S003_T2_tse_ax.nii.gz): axial slices along z are 4 mm apart, 1 mm in-plane" in printed
    assert "stack 2 (S004_T2_tse_cor.nii.gz): coronal slices along z are 4 mm apart, 1 mm in-plane" in printed
    assert main(["dicom", str(tmp_path / "fused.nii.gz")]) == 2
    assert "fused.nii.gz is not a folder: sr3d dicom lists the DICOM series of a folder" in capsys.readouterr().err


def test_an_export_tree_of_subfolders_is_searched_and_same_named_series_both_kept(session, tmp_path, capsys):
    folder, _stacks = session
    export = tmp_path / "export"
    for patient in ("PAT1", "PAT2"):  # two patients, each with the same two series
        shutil.copytree(folder, export / patient / "STUDY1")
    assert main(["dicom", str(export), "--out", str(tmp_path / "all")]) == 0
    printed = capsys.readouterr().out
    assert "4 DICOM series" in printed and "[PAT2/STUDY1]" in printed and "wrote 4 of 4 series" in printed
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted([
        "S003_T2_tse_ax.nii.gz", "S003_002_T2_tse_ax.nii.gz", "S004_T2_tse_cor.nii.gz", "S004_004_T2_tse_cor.nii.gz"])
    assert main(["dicom", str(export)]) == 0
    assert "--series NUMBER" not in capsys.readouterr().out  # sr3d predict reads one folder's series, not subfolders
    (export / "notes").mkdir()
    (export / "notes" / "readme.txt").write_text("not DICOM")
    assert main(["dicom", str(export / "notes")]) == 2
    assert "has no DICOM series" in capsys.readouterr().err


def test_sr3d_predict_super_resolves_the_series_it_is_given(session, tmp_path, capsys):
    from SuperResolution3DLib.data.dicom import read_dicom_attributes

    folder, (_axial, coronal) = session
    output = tmp_path / "coronal_sr.nii.gz"
    assert main(["predict", str(folder), str(output), "--series", "4", "--model", "bspline", "--progress", "none"]) == 0
    assert "holds 2 DICOM series" not in capsys.readouterr().err  # chosen: no warning about the others
    result = read_volume(output)
    assert result.size == (24, 24, 24)  # the coronal stack's 4 mm axis (its third) made 1 mm
    np.testing.assert_allclose(result.direction, coronal.direction, atol=1e-6)
    np.testing.assert_allclose(result.origin, coronal.origin, atol=1e-4)

    assert main(["info", str(folder), "--series", "4"]) == 0  # the dry run reads the same series
    printed = capsys.readouterr().out
    assert "coronal slices along z are 4 mm apart" in printed and "output: 24x24x24 voxels" in printed

    dicom_out = tmp_path / "dicom_sr"
    assert main(["predict", str(folder), f"{dicom_out}/", "--series", "4", "--model", "bspline",
                 "--progress", "none"]) == 0
    assert read_dicom_attributes(dicom_out)["0018|0015"].strip() == "PART4"  # the chosen series' attributes
    assert read_dicom_attributes(folder, series="3")["0018|0015"].strip() == "PART3"

    assert main(["predict", str(folder), str(tmp_path / "largest.nii.gz"), "--model", "bspline",
                 "--progress", "none"]) == 0
    err = capsys.readouterr().err
    assert "holds 2 DICOM series" in err and "sr3d predict --series NUMBER" in err


def test_sr3d_predict_refuses_a_series_it_cannot_choose(session, tmp_path, capsys):
    folder, _stacks = session
    assert main(["predict", str(folder), str(tmp_path / "out.nii.gz"), "--series", "9", "--model", "bspline"]) == 2
    assert "has no DICOM series '9'; sr3d dicom" in capsys.readouterr().err
    volume_file = tmp_path / "volume.nii.gz"
    assert main(["dicom", str(folder), "--out", str(tmp_path / "files")]) == 0
    shutil.copy(tmp_path / "files" / "S003_T2_tse_ax.nii.gz", volume_file)
    capsys.readouterr()
    assert main(["predict", str(volume_file), str(tmp_path / "out.nii.gz"), "--series", "3", "--model", "bspline"]) == 2
    assert "is a file; leave out the series (--series)" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "files"), str(tmp_path / "cohort_out") + "/", "--series", "3"]) == 2
    assert "--series are for one input" in capsys.readouterr().err
