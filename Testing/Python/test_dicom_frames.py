"""Enhanced (multi-frame) DICOM series: their frames are read in position order on the grid their functional groups
record, each with its own rescale; frames that are no regular grid are refused as classic slices are."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest
import SimpleITK as sitk

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence as DicomSequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from SuperResolution3DLib.cli import main  # noqa: E402
from SuperResolution3DLib.core.errors import InputVolumeError  # noqa: E402
from SuperResolution3DLib.core.volume import Volume  # noqa: E402
from SuperResolution3DLib.data.acquisition import recorded_slice_profile  # noqa: E402
from SuperResolution3DLib.data.dicom import write_dicom_series  # noqa: E402
from SuperResolution3DLib.data.dicom_series import dicom_series_in  # noqa: E402
from SuperResolution3DLib.data.io import input_pixel_type, read_volume  # noqa: E402

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ROW, COLUMN = np.array([np.cos(0.3), np.sin(0.3), 0.0]), np.array([0.0, 0.0, -1.0])  # oblique coronal frames
NORMAL = np.cross(ROW, COLUMN)
PIXEL_SPACING = (0.8, 0.7)  # DICOM order: between rows, between columns
STEP, THICKNESS = 4.0, 5.0
ORIGIN = np.array([-10.0, 20.0, 30.0])


def frame(group_items: dict) -> Dataset:
    """A functional group item: ``{"PlanePositionSequence": {"ImagePositionPatient": [...]}, ...}``."""
    item = Dataset()
    for sequence, attributes in group_items.items():
        inner = Dataset()
        for name, value in attributes.items():
            setattr(inner, name, value)
        setattr(item, sequence, DicomSequence([inner]))
    return item


def write_enhanced(path: Path, stored: np.ndarray, positions: np.ndarray, rescales: Optional[Sequence] = None,
                   series_uid: Optional[str] = None, series_number: int = 5) -> Path:
    """An Enhanced MR object holding ``stored`` (uint16 ``[frames, rows, columns]``) with frame ``k`` at
    ``positions[k]``; ``rescales``: one (slope, intercept) per frame, else one shared (2, -100)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ENHANCED_MR, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_MR, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID, ds.SeriesNumber = "MR", "Test^Enhanced", "E1", series_number
    ds.SeriesDescription, ds.MRAcquisitionType = "T2 TSE enhanced", "2D"
    ds.Rows, ds.Columns, ds.NumberOfFrames = stored.shape[1], stored.shape[2], stored.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = {"PixelMeasuresSequence": {"PixelSpacing": list(PIXEL_SPACING), "SliceThickness": THICKNESS},
              "PlaneOrientationSequence": {"ImageOrientationPatient": [*map(float, ROW), *map(float, COLUMN)]}}
    if rescales is None:
        shared["PixelValueTransformationSequence"] = {"RescaleSlope": 2.0, "RescaleIntercept": -100.0,
                                                      "RescaleType": "US"}
    ds.SharedFunctionalGroupsSequence = DicomSequence([frame(shared)])
    per_frame = []
    for k, position in enumerate(positions):
        groups = {"PlanePositionSequence": {"ImagePositionPatient": [float(v) for v in position]}}
        if rescales is not None:
            groups["PixelValueTransformationSequence"] = {"RescaleSlope": float(rescales[k][0]),
                                                          "RescaleIntercept": float(rescales[k][1]), "RescaleType": "US"}
        per_frame.append(frame(groups))
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = np.ascontiguousarray(stored, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def stored_frames(frames: int = 10, rows: int = 24, columns: int = 20) -> np.ndarray:
    stored = np.random.default_rng(0).integers(0, 1000, (frames, rows, columns)).astype(np.uint16)
    stored[:, 0, 0] = np.arange(frames)  # which frame a slice came from
    return stored


def regular_positions(frames: int, step: float = STEP) -> np.ndarray:
    return ORIGIN + np.arange(frames)[:, None] * step * NORMAL


def test_frames_stored_out_of_order_are_read_in_position_order_on_their_recorded_grid(tmp_path):
    stored = stored_frames()
    order = np.random.default_rng(1).permutation(len(stored))  # frame k lies at slice order[k]
    write_enhanced(tmp_path / "series" / "IM0001.dcm", stored, regular_positions(len(stored))[order])
    volume = read_volume(tmp_path / "series")
    assert volume.spacing == pytest.approx((PIXEL_SPACING[1], PIXEL_SPACING[0], STEP))
    np.testing.assert_allclose(volume.direction_matrix, np.column_stack([ROW, COLUMN, NORMAL]), atol=1e-9)
    for k in range(len(stored)):  # every frame where its header puts it, with its rescaled voxels
        slice_index = int(order[k])
        np.testing.assert_allclose(volume.index_to_world((0, 0, slice_index)), regular_positions(len(stored))[slice_index],
                                   atol=1e-6)
        np.testing.assert_array_equal(volume.array[slice_index], stored[k] * 2.0 - 100.0)
    np.testing.assert_allclose(volume.index_to_world((3, 5, 0)) - volume.index_to_world((0, 0, 0)),
                               3 * PIXEL_SPACING[1] * ROW + 5 * PIXEL_SPACING[0] * COLUMN, atol=1e-9)


def test_frames_in_order_read_as_itk_reads_them(tmp_path):
    stored = stored_frames()
    path = write_enhanced(tmp_path / "series" / "IM0001.dcm", stored, regular_positions(len(stored)))
    volume, image = read_volume(path.parent), sitk.ReadImage(str(path))
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))
    assert volume.spacing == pytest.approx(image.GetSpacing())
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-6)


def test_each_frame_keeps_its_own_rescale(tmp_path):
    stored = stored_frames()
    rescales = [(1.0 + 0.25 * k, -100.0 + k) for k in range(len(stored))]
    write_enhanced(tmp_path / "series" / "IM0001.dcm", stored, regular_positions(len(stored)), rescales)
    volume = read_volume(tmp_path / "series")
    for k, (slope, intercept) in enumerate(rescales):
        np.testing.assert_allclose(volume.array[k], stored[k] * slope + intercept, rtol=1e-6)
    assert input_pixel_type(tmp_path / "series") == np.float32  # no integer type holds them all


def test_repeated_positions_and_a_missing_frame_are_refused(tmp_path):
    stored = stored_frames()
    echoes = np.concatenate([regular_positions(5), regular_positions(5)])  # two echoes of 5 slices
    write_enhanced(tmp_path / "echoes" / "IM0001.dcm", stored, echoes)
    with pytest.raises(InputVolumeError, match="several slices at one position"):
        read_volume(tmp_path / "echoes")
    gap = regular_positions(len(stored) + 1)[np.r_[0:4, 5:len(stored) + 1]]  # the 5th slice missing
    write_enhanced(tmp_path / "gap" / "IM0001.dcm", stored, gap)
    with pytest.raises(InputVolumeError, match="not evenly spaced"):
        read_volume(tmp_path / "gap")


def test_a_tilted_stack_of_frames_is_a_sheared_grid(tmp_path):
    stored = stored_frames()
    step = STEP * NORMAL + 0.5 * COLUMN  # each frame shifted within its plane: a gantry tilt
    write_enhanced(tmp_path / "tilt" / "IM0001.dcm", stored, ORIGIN + np.arange(len(stored))[:, None] * step)
    with pytest.warns(UserWarning, match="tilted by 7.1 degrees"):
        volume = read_volume(tmp_path / "tilt")
    for k in range(len(stored)):
        np.testing.assert_allclose(volume.index_to_world((0, 0, k)), ORIGIN + k * step, atol=1e-6)


def test_sr3d_dicom_lists_the_frames_spacing_and_thickness_and_the_slice_record_has_the_thickness(tmp_path, capsys):
    write_enhanced(tmp_path / "session" / "IM0001.dcm", stored_frames(), regular_positions(10))
    assert main(["dicom", str(tmp_path / "session")]) == 0
    line = capsys.readouterr().out.splitlines()[-1].split()
    assert line[:7] == ["5", "coronal", "MR", "1", "10", "20x24", "0.8"] and line[8:10] == ["0.7", "5"]
    (summary,) = dicom_series_in(tmp_path / "session")
    assert (summary.files, summary.slices, summary.pixel_type) == (1, 10, np.dtype(np.int32))
    recorded = recorded_slice_profile(tmp_path / "session")
    assert recorded.thickness_mm == pytest.approx(THICKNESS) and recorded.source == "DICOM MR Acquisition Type 2D"


def test_the_largest_series_counts_frames_not_files(tmp_path, capsys):
    write_enhanced(tmp_path / "session" / "IM0001.dcm", stored_frames(), regular_positions(10), series_number=5)
    localizer = write_dicom_series(Volume(np.zeros((3, 8, 8), np.float32)), tmp_path / "classic")  # 3 files
    for name in localizer.iterdir():
        name.rename(tmp_path / "session" / name.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        volume = read_volume(tmp_path / "session")
    assert volume.size == (20, 24, 10)
    assert any("(10 slices)" in str(w.message) and "(3 slices)" in str(w.message) for w in caught)
    assert main(["dicom", str(tmp_path / "session")]) == 0  # a coronal and an axial series: fusing them is offered
    assert f"sr3d fuse {tmp_path / 'session'} OUTPUT --series N,N,..." in capsys.readouterr().out


def test_predict_super_resolves_an_enhanced_series_where_its_frames_lie(tmp_path, capsys):
    stored = stored_frames()
    order = np.random.default_rng(2).permutation(len(stored))
    write_enhanced(tmp_path / "series" / "IM0001.dcm", stored, regular_positions(len(stored))[order])
    output = tmp_path / "out.nii.gz"
    assert main(["predict", str(tmp_path / "series"), str(output), "--model", "trilinear", "--progress", "none"]) == 0
    result, source = read_volume(output), read_volume(tmp_path / "series")
    assert result.spacing[2] == pytest.approx(min(PIXEL_SPACING), abs=0.02)  # the through-plane output grid
    np.testing.assert_allclose(result.index_to_world((0, 0, 0)), source.index_to_world((0, 0, 0)), atol=1e-3)
    np.testing.assert_allclose(result.direction_matrix, source.direction_matrix, atol=1e-5)
    assert "coronal slices along z are 4 mm apart" in capsys.readouterr().out
