"""Padding outside a CT scanner's field of view (data.padding): filled for the network, kept in the output."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import SimpleITK as sitk

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.padding import replace_padding
from SuperResolution3DLib.inference.api import super_resolve
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PADDING = -3024.0
CPU = dict(device="cpu", precision="fp32")
DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # turned in-plane: geometry, not index order


def head_ct(shape_zyx=(10, 24, 24), spacing=(0.8, 0.8, 0.8)):
    """A CT phantom in HU (air -1000, soft tissue 40, a bone ring 1000) and the mask of a disc field of view."""
    z, y, x = shape_zyx
    yy, xx = np.mgrid[:y, :x]
    radius = np.hypot(yy - (y - 1) / 2, xx - (x - 1) / 2)
    plane = np.where(radius < 0.35 * x, 40.0, -1000.0)
    plane[(radius >= 0.3 * x) & (radius < 0.35 * x)] = 1000.0
    array = np.repeat(plane[None], z, axis=0).astype(np.float32)
    array += np.random.default_rng(0).normal(0, 5, array.shape).astype(np.float32)
    outside = np.repeat((radius > 0.45 * x)[None], z, axis=0)
    return Volume(array, spacing, (3.0, -7.5, 12.0), DIRECTION), outside


def padded(volume, outside):
    array = volume.array.copy()
    array[outside] = PADDING
    return volume.with_array(array)


def nearest_input_mask(outside, shape, scale_zyx):
    """Output voxel j's nearest input voxel is floor(j / s + 1/2) along each axis (the grid relation)."""
    index = [np.clip(np.floor(np.arange(n) / s + 0.5).astype(int), 0, m - 1)
             for n, s, m in zip(shape, scale_zyx, outside.shape)]
    return outside[np.ix_(*index)]


def test_padding_is_filled_with_air_and_found_only_below_the_threshold():
    volume, outside = head_ct()
    with pytest.warns(UserWarning, match="field of view"):
        filled, mask = replace_padding(padded(volume, outside), -1500.0)

    np.testing.assert_array_equal(mask, outside)
    assert filled.array[outside].min() == filled.array[outside].max()
    assert -1020 < filled.array[outside][0] < -990  # the darkest measured values: air
    np.testing.assert_array_equal(filled.array[~outside], volume.array[~outside])
    assert replace_padding(volume, -1500.0) == (volume, None)  # air and tissue are not padding
    assert replace_padding(padded(volume, outside), None)[1] is None  # not looked for
    few = volume.array.copy()
    few[0, :2, :2] = PADDING  # 4 of 5760 voxels: ringing or a streak, not a field of view
    assert replace_padding(volume.with_array(few), -1500.0)[1] is None


@pytest.mark.parametrize("model", ["bspline", "trilinear"])
def test_isotropic_output_keeps_the_padding_and_is_as_if_the_field_of_view_were_air(model):
    volume, outside = head_ct()
    air = volume.array.copy()
    air[outside] = np.percentile(volume.array[~outside], 0.5)
    scale = interpolation_model(model).scale
    settings = InferenceSettings(**CPU)

    with pytest.warns(UserWarning, match="field of view"):
        result = super_resolve(padded(volume, outside), model, settings)
    reference = super_resolve(volume.with_array(air), model, settings)
    unhandled = super_resolve(padded(volume, outside), model, InferenceSettings(padding_below=None, **CPU))

    flagged = nearest_input_mask(outside, result.array.shape, scale[::-1])
    assert np.all(result.array[flagged] == PADDING)
    np.testing.assert_allclose(result.array[~flagged], reference.array[~flagged], atol=1e-3)
    assert (result.spacing, result.origin, result.direction) == (reference.spacing, reference.origin, reference.direction)
    # without the handling the padding's edge rings into the field of view
    assert np.abs(unhandled.array[~flagged] - reference.array[~flagged]).max() > 100


def test_thick_slice_output_keeps_the_padding_at_a_ratio_that_is_resampled():
    volume, outside = head_ct(shape_zyx=(8, 24, 24), spacing=(0.8, 0.8, 4.0))  # ratio 5 for a 4x model
    air = volume.array.copy()
    air[outside] = np.percentile(volume.array[~outside], 0.5)
    model = interpolation_model("bspline", (1, 1, 4))
    settings = InferenceSettings(**CPU)

    with pytest.warns(UserWarning, match="field of view"):
        result = super_resolve_thick_slices(padded(volume, outside), model, settings)
    reference = super_resolve_thick_slices(volume.with_array(air), model, settings)

    assert result.spacing == pytest.approx((0.8, 0.8, 0.8))
    flagged = nearest_input_mask(outside, result.array.shape, (5, 1, 1))
    assert np.all(result.array[flagged] == PADDING)
    np.testing.assert_allclose(result.array[~flagged], reference.array[~flagged], atol=1e-3)


def test_predict_says_it_kept_the_padding_and_can_be_told_there_is_none(tmp_path, capsys):
    volume, outside = head_ct()
    source = tmp_path / "ct.nrrd"
    sitk.WriteImage(padded(volume, outside).to_sitk(), str(source))

    assert main(["predict", str(source), str(tmp_path / "kept.nrrd"), "--model", "trilinear", "--progress", "none"]) == 0
    assert "padding outside a CT scanner's field of view" in capsys.readouterr().err
    assert main(["predict", str(source), str(tmp_path / "none.nrrd"), "--model", "trilinear", "--progress", "none",
                 "--padding-below", "none"]) == 0
    assert "field of view" not in capsys.readouterr().err

    kept = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "kept.nrrd")))
    plain = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "none.nrrd")))
    assert kept[0, 0, 0] == PADDING
    centre = (slice(None), slice(36, 60), slice(36, 60))  # the anatomy, away from the field of view's edge
    np.testing.assert_allclose(kept[centre], plain[centre], atol=1.0)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(source), str(tmp_path / "x.nrrd"), "--padding-below", "low"])
    assert exit_info.value.code == 2
    assert "--padding-below must be a number or none" in capsys.readouterr().err


def test_adaptation_learns_from_the_filled_scan_and_predict_warns_once(tmp_path, capsys, monkeypatch):
    from SuperResolution3DLib.inference import adaptation

    volume, outside = head_ct(shape_zyx=(8, 24, 24), spacing=(0.8, 0.8, 3.2))
    source = tmp_path / "thick_ct.nrrd"
    sitk.WriteImage(padded(volume, outside).to_sitk(), str(source))
    seen = []

    def record_and_skip(array, model, *args, **kwargs):  # what adaptation would learn from; the model unchanged
        seen.append(float(np.min(array)))
        with warnings.catch_warnings():  # as torch does during training: Python forgets which warnings it showed
            warnings.simplefilter("ignore")
        record = {"kept": False, "steps": 0, "seconds": 0.0, "slice_profile": "gaussian",
                  "held_out_psnr_before": 0.0, "held_out_psnr_after": 0.0}
        return type(model)(model.network, model.scale, model.normalization, {**model.card, "adaptation": record})

    monkeypatch.setattr(adaptation, "adapt_to_scan", record_and_skip)
    assert main(["predict", str(source), str(tmp_path / "out.nrrd"), "--adapt", "--progress", "none"]) == 0
    assert seen and seen[0] > -1100  # air, not the padding
    assert capsys.readouterr().err.count("field of view") == 1
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out.nrrd")))[0, 0, 0] == PADDING
