"""What a file records about its slices (data.acquisition): sr3d degrade's note and DICOM's MR Acquisition Type and
Slice Thickness, the through-plane model sr3d predict picks by them, and what --adapt assumes from them."""

import numpy as np
import pytest
import SimpleITK as sitk

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.core.config import AdaptationSettings
from SuperResolution3DLib.data.acquisition import (RecordedSliceProfile, adaptation_thickness, adaptation_with_record,
                                                    profile_from_dicom, profile_from_note, recorded_slice_profile,
                                                    slice_profile_note, thickness_from_note)
from SuperResolution3DLib.data.dicom import locale_kept
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.inference.thick_slices import model_for_input
from SuperResolution3DLib.models.card import DEFAULT_THICK_SLICE_MODEL_NAME, KSPACE_THICK_SLICE_MODEL_NAME


@pytest.mark.parametrize("extension", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_a_slice_profile_note_survives_every_volume_format(tmp_path, extension):
    path = write_volume(Volume(np.zeros((4, 5, 6), np.float32), (1.0, 1.0, 4.0)), tmp_path / f"lr{extension}",
                        notes=slice_profile_note("sinc"))
    recorded = recorded_slice_profile(path)
    assert recorded.profile == "sinc" and recorded.is_kspace and "sr3d degrade" in recorded.source
    plain = write_volume(Volume(np.zeros((4, 5, 6), np.float32)), tmp_path / f"plain{extension}")
    assert recorded_slice_profile(plain) is None


def test_notes_and_dicom_values_are_read_strictly():
    assert profile_from_note("sr3d: through-plane gaussian") == "gaussian"
    assert profile_from_note("sr3d: through-plane boxcar") is None and profile_from_note("") is None
    assert profile_from_dicom("MR", "3D ") == "sinc" and profile_from_dicom("MR", "2D") == "integrating"
    assert profile_from_dicom("CT", "3D") is None and profile_from_dicom("MR", "") is None
    assert profile_from_dicom("MR", "3D", "ORIGINAL\\PRIMARY\\M\\ND") == "sinc"
    assert profile_from_dicom("MR", "3D", "DERIVED\\SECONDARY\\MPR") is None  # thick MPR slabs of a 3D scan
    with pytest.raises(ValueError, match="unknown slice profile"):
        slice_profile_note("kspace")
    assert thickness_from_note(slice_profile_note("rect", 4.8)) == 4.8 and thickness_from_note(slice_profile_note("rect")) is None
    assert thickness_from_note("sr3d: through-plane boxcar; slice thickness 4 mm") is None
    assert thickness_from_note("sr3d: through-plane rect; slice thickness 0 mm") is None


def test_a_recorded_thickness_becomes_the_adaptations_where_the_user_left_it_open():
    gaussian6 = RecordedSliceProfile("gaussian", "a note", 6.0)
    assert adaptation_thickness(gaussian6, 2, 4.0) == 1.5 and adaptation_thickness(gaussian6, 0, 4.0) == 1.5
    dicom = RecordedSliceProfile(None, "DICOM Slice Thickness", 5.0, axis=2)
    assert adaptation_thickness(dicom, 2, 2.5) == 2.0 and adaptation_thickness(dicom, 0, 2.5) is None  # not its slices
    assert adaptation_thickness(RecordedSliceProfile(None, "x", 40.0), 2, 4.0) == 3.0  # inside AdaptationSettings' range
    settings, said = adaptation_with_record(AdaptationSettings(), gaussian6, 2, 4.0)
    assert (settings.slice_profile, settings.slice_thickness) == ("gaussian", 1.5)
    assert said == "adaptation pairs as the scan records: gaussian slices (a note), 6 mm thick, 1.5 slice spacings (a note)"
    settings, said = adaptation_with_record(AdaptationSettings(slice_profile="rect", slice_thickness=1.1), gaussian6, 2, 4.0)
    assert (settings.slice_profile, settings.slice_thickness, said) == ("rect", 1.1, "")  # what the user chose stays
    mr2d = RecordedSliceProfile("integrating", "DICOM MR Acquisition Type 2D", 5.0, 2, "DICOM Slice Thickness")
    settings, said = adaptation_with_record(AdaptationSettings(), mr2d, 2, 4.0)
    assert (settings.slice_profile, settings.slice_thickness) == ("auto", 1.25)  # the adaptation estimates the profile
    assert said == "adaptation pairs as the scan records: 5 mm thick, 1.25 slice spacings (DICOM Slice Thickness)"
    assert adaptation_with_record(AdaptationSettings(), None, 2, 4.0) == (AdaptationSettings(), "")


def write_dicom_series(folder, modality, acquisition_type, image_type="ORIGINAL\\PRIMARY\\M", thickness="4"):
    folder.mkdir()
    with locale_kept():  # GDCM sets the process locale to "C" when it writes
        for k in range(4):
            write_dicom_slice(folder, k, modality, acquisition_type, image_type, thickness)
    return folder


def write_dicom_slice(folder, k, modality, acquisition_type, image_type, thickness):
    image = sitk.GetImageFromArray(np.full((1, 12, 12), 100 * k, np.int16))
    image.SetSpacing((1.0, 1.0, 4.0))
    image.SetOrigin((0.0, 0.0, 4.0 * k))
    for tag, value in (("0008|0060", modality), ("0018|0023", acquisition_type), ("0008|0008", image_type), ("0020|000e", "1.2.826.0.1.3680043.2.1125.7"),
                       ("0020|0013", str(k + 1)), ("0020|0032", f"0\\0\\{4.0 * k}"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                       ("0018|0050", thickness), ("0008|0018", f"1.2.826.0.1.3680043.2.1125.7.{k + 1}")):
        image.SetMetaData(tag, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(folder / f"slice{k}.dcm"))
    writer.Execute(image)


def test_an_mr_3d_acquisition_in_dicom_records_k_space_slices(tmp_path):
    assert recorded_slice_profile(write_dicom_series(tmp_path / "mr3d", "MR", "3D")).profile == "sinc"
    assert recorded_slice_profile(write_dicom_series(tmp_path / "mr2d", "MR", "2D")).profile == "integrating"
    ct = recorded_slice_profile(write_dicom_series(tmp_path / "ct", "CT", "", thickness="5"))
    assert ct.profile is None and ct.thickness_mm == 5.0 and ct.axis == 2 and ct.source == "DICOM Slice Thickness"
    assert recorded_slice_profile(write_dicom_series(tmp_path / "ct_no_thickness", "CT", "", thickness="")) is None
    assert recorded_slice_profile(write_dicom_series(tmp_path / "mpr", "MR", "3D", "DERIVED\\SECONDARY\\MPR")).profile is None
    assert recorded_slice_profile(tmp_path / "missing") is None


def test_the_k_space_model_is_chosen_only_for_the_default_and_recorded_sinc_slices():
    thick = (1.0, 1.0, 4.0)
    assert model_for_input("default", thick, "sinc")[0] == KSPACE_THICK_SLICE_MODEL_NAME
    assert model_for_input("default", thick, "integrating")[0] == DEFAULT_THICK_SLICE_MODEL_NAME
    assert model_for_input("default", thick)[0] == DEFAULT_THICK_SLICE_MODEL_NAME
    assert model_for_input("bspline", thick, "sinc")[0] == "bspline"
    assert model_for_input("default", (1.0, 1.0, 1.0), "sinc")[0] == "default"


def test_sr3d_degrade_records_the_profile_and_sr3d_predict_follows_it(tmp_path, capsys):
    hr = tmp_path / "hr.nii.gz"
    write_volume(Volume(np.random.default_rng(0).random((32, 24, 24)).astype(np.float32)), hr)
    chosen = {}
    for name, extra in (("kspace", []), ("gaussian", ["--profile", "gaussian"]), ("iso", None)):
        lr = tmp_path / f"lr_{name}.nii.gz"
        assert main(["degrade", str(hr), str(lr), "--scale", "4" if extra is None else "1,1,4"] + (extra or [])) == 0
        recorded = recorded_slice_profile(lr)
        assert (recorded.profile if recorded else None) == {"kspace": "sinc", "gaussian": "gaussian", "iso": None}[name]
        if extra is None:
            continue
        capsys.readouterr()
        assert main(["predict", str(lr), str(tmp_path / f"sr_{name}.nii.gz"), "--progress", "none"]) == 0
        chosen[name] = capsys.readouterr().out
        assert read_volume(tmp_path / f"sr_{name}.nii.gz").size == (24, 24, 32)
    assert f"(model {KSPACE_THICK_SLICE_MODEL_NAME})" in chosen["kspace"]
    assert "slices made by k-space truncation (sr3d degrade's note in the file)" in chosen["kspace"]
    assert f"(model {DEFAULT_THICK_SLICE_MODEL_NAME})" in chosen["gaussian"] and "k-space" not in chosen["gaussian"]


def test_sr3d_predict_sends_an_mr_3d_dicom_series_to_the_k_space_model(tmp_path, capsys):
    series = write_dicom_series(tmp_path / "mr3d", "MR", "3D")
    assert main(["predict", str(series), str(tmp_path / "sr.nrrd"), "--progress", "none"]) == 0
    out = capsys.readouterr().out
    assert f"(model {KSPACE_THICK_SLICE_MODEL_NAME})" in out and "(DICOM MR Acquisition Type 3D)" in out
    np.testing.assert_allclose(read_volume(tmp_path / "sr.nrrd").spacing, (1.0, 1.0, 1.0))
