"""Thick-slice inputs: the thick axis, turning it to the network's z and back, and the output grid."""

import numpy as np
import pytest

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.core.anisotropy import find_thick_slices
from SuperResolution3DLib.inference.thick_slices import inverse_order, permute_axes, super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model

CPU = InferenceSettings(device="cpu", precision="fp32")
OBLIQUE = tuple(np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0].ravel())


@pytest.mark.parametrize("spacing, expected", [((1, 1, 4), (2, 4.0)), ((4.5, 0.9, 0.9), (0, 5.0)), ((0.5, 3.0, 0.52), (1, 6.0)),
                                               ((1, 1, 1.2), None), ((1, 2, 2.5), None), ((1, 4, 4), None),
                                               # non-square pixels: the ratio is to the finer in-plane spacing
                                               ((1, 2, 4), (2, 4.0)), ((4.0, 1.0, 1.2), (0, 4.0)),
                                               ((0.96, 3.84, 1.5), (1, 4.0)), ((2.0, 0.5, 1.25), (0, 4.0)),
                                               # below 2x: near-isotropic, e.g. a CT and its 4x k-space LR
                                               ((0.957, 0.957, 1.5), None), ((3.828, 3.828, 6.0), None),
                                               ((0.7, 0.7, 1.25), None), ((1.92, 0.96, 0.96), (0, 2.0))])
def test_the_thick_axis_and_ratio_come_from_the_spacing(spacing, expected):
    thick = find_thick_slices(spacing)
    assert (None if thick is None else (thick.axis, round(thick.ratio, 6))) == expected


def test_non_square_pixels_keep_their_coarser_axis_and_say_so():
    """A 1 x 1 x 1.2 mm scan made into 4 mm slices along x: the output returns to 1 x 1 x 1.2 mm, not isotropic."""
    from SuperResolution3DLib.core.anisotropy import finest_in_plane_axes

    thick = find_thick_slices((4.0, 1.0, 1.2))
    assert thick.coarser_in_plane == 1.2 and thick.in_plane == 1.0
    assert finest_in_plane_axes((4.0, 1.0, 1.2), thick) == (1,)
    assert "1 x 1.2 mm in-plane" in thick.describe(4) and "isotropic" not in thick.describe(4)
    square = find_thick_slices((1.0, 1.05, 4.0))
    assert square.coarser_in_plane is None and square.describe(4).endswith("output 1 mm isotropic")
    assert finest_in_plane_axes((1.0, 1.05, 4.0), square) == (0, 1)
    array = np.random.default_rng(4).random((9, 6, 7)).astype(np.float32)  # [z, y, x]
    volume = Volume(array, (4.0, 1.0, 1.2), (3.0, -1.0, 2.0), OBLIQUE)
    result = super_resolve_thick_slices(volume, interpolation_model("trilinear", (1, 1, 4)), CPU)
    np.testing.assert_allclose(result.spacing, (1.0, 1.0, 1.2))
    assert result.size == (28, 6, 9) and result.origin == volume.origin


def test_adaptation_makes_pairs_only_along_the_finer_in_plane_axis(monkeypatch):
    """Pairs along a coarser in-plane axis would teach detail the scan does not have there."""
    from SuperResolution3DLib.inference import adaptation
    from SuperResolution3DLib.inference.thick_slices import adapt_thick_slice_model

    calls = []
    monkeypatch.setattr(adaptation, "adapt_to_scan", lambda array, *args, **kwargs: calls.append((array.shape, kwargs)))
    model = interpolation_model("trilinear", (1, 1, 4))
    array = np.zeros((9, 6, 7), np.float32)  # [z, y, x]
    # turned so that the thick axis is z: x thick -> (y, z, x), and y (1 mm) becomes the turned x, array axis 2
    for spacing, pair_axes in (((4.0, 1.0, 1.2), [2]), ((4.0, 1.2, 1.0), [1]), ((1.0, 1.0, 4.0), [1, 2]),
                               ((1.3, 1.0, 4.0), [1])):
        adapt_thick_slice_model(Volume(array, spacing), model)
        shape, kwargs = calls[-1]
        assert shape[0] == (7 if spacing[0] == 4.0 else 9)  # the thick axis turned to the array's axis 0
        assert kwargs["pair_axes"] == pair_axes, spacing


@pytest.mark.parametrize("order", [(1, 2, 0), (0, 2, 1), (2, 0, 1)])
def test_turning_the_axes_moves_no_voxel_in_the_world(order):
    array = np.random.default_rng(1).random((5, 6, 7)).astype(np.float32)
    volume = Volume(array, (0.7, 0.8, 3.0), (4.0, -2.0, 9.0), OBLIQUE)
    turned = permute_axes(volume, order)
    index = np.array([6, 2, 3])  # (x, y, z) in the original
    turned_index = index[list(order)]
    np.testing.assert_allclose(turned.index_to_world(turned_index), volume.index_to_world(index), atol=1e-9)
    assert turned.array[tuple(turned_index[::-1])] == array[tuple(index[::-1])]
    back = permute_axes(turned, inverse_order(order))
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.direction, volume.direction, atol=1e-12)


def test_a_thick_x_axis_is_super_resolved_along_x_on_the_documented_grid():
    array = np.zeros((6, 7, 8), np.float32)
    array[3, 2, 5] = 100.0  # a landmark at index (x, y, z) = (5, 2, 3)
    volume = Volume(array, (4.0, 1.0, 1.0), (10.0, 20.0, -30.0), OBLIQUE)
    result = super_resolve_thick_slices(volume, interpolation_model("trilinear", (1, 1, 4)), CPU)
    assert result.size == (32, 7, 6)
    np.testing.assert_allclose(result.spacing, (1.0, 1.0, 1.0))
    assert result.origin == volume.origin
    np.testing.assert_allclose(result.direction, volume.direction, atol=1e-12)
    peak = np.unravel_index(np.argmax(result.array), result.array.shape)[::-1]
    assert tuple(int(i) for i in peak) == (20, 2, 3)
    np.testing.assert_allclose(result.index_to_world(peak), volume.index_to_world((5, 2, 3)), atol=1e-9)


def test_a_ratio_other_than_the_model_factor_is_resampled_onto_the_in_plane_spacing():
    z = np.arange(10, dtype=np.float32)
    array = np.broadcast_to(z[:, None, None] * 10.0, (10, 4, 5)).copy()  # a ramp along z: 0..90
    volume = Volume(array, (0.9, 0.9, 4.5), (0.0, 0.0, 0.0))
    result = super_resolve_thick_slices(volume, interpolation_model("trilinear", (1, 1, 4)), CPU)
    np.testing.assert_allclose(result.spacing, (0.9, 0.9, 0.9))
    assert result.size == (5, 4, 49)  # floor(39 * 1.125 / 0.9) + 1 samples cover the 4x grid's extent
    # the ramp stays a ramp at the right world positions: 10 per 4.5 mm
    expected = np.arange(49) * 0.9 * 10 / 4.5
    np.testing.assert_allclose(result.array[5:36, 1, 2], expected[5:36], atol=1e-3)  # B-spline edges ring a little
    np.testing.assert_allclose(result.array[:36, 1, 2], expected[:36], atol=0.2)
    # an output slice spacing of thick / 4 is the model's own grid: no resampling, the ramp exact
    result = super_resolve_thick_slices(volume, interpolation_model("trilinear", (1, 1, 4)), CPU, slice_spacing=1.125)
    np.testing.assert_allclose(result.spacing, (0.9, 0.9, 1.125))
    assert result.size == (5, 4, 40)
    np.testing.assert_allclose(result.array[:37, 1, 2], np.arange(37) * 1.125 * 10 / 4.5, atol=1e-4)
    with pytest.raises(ValueError, match="below the input's 4.5 mm between slices"):
        super_resolve_thick_slices(volume, interpolation_model("trilinear", (1, 1, 4)), CPU, slice_spacing=4.5)


def test_predict_on_a_thick_slice_input_names_what_it_does(tmp_path, capsys, monkeypatch):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume
    from SuperResolution3DLib.models import card

    path = tmp_path / "thick.nrrd"
    write_volume(Volume(np.random.default_rng(3).random((5, 8, 9)).astype(np.float32), (1.0, 1.0, 4.0)), path)
    # an explicit isotropic model is used as asked, with a warning
    assert main(["predict", str(path), str(tmp_path / "iso.nrrd"), "--model", "sr3d_rrdb_x4_l1", "--progress", "none"]) == 0
    assert ("warning: axial slices along z are 4 mm apart, 1 mm in-plane (ratio 4.00): the 4x4x4 model enlarges every axis"
            in capsys.readouterr().err)
    assert read_volume(tmp_path / "iso.nrrd").size == (36, 32, 20)
    # an interpolation baseline works along the thick axis only: the through-plane model's output grid
    assert main(["predict", str(path), str(tmp_path / "bspline.nrrd"), "--model", "bspline", "--progress", "none"]) == 0
    assert "slices along z are 4 mm apart, 1 mm in-plane (ratio 4.00): 4x along z" in capsys.readouterr().out
    baseline = read_volume(tmp_path / "bspline.nrrd")
    expected = super_resolve_thick_slices(read_volume(path), interpolation_model("bspline", (1, 1, 4)), CPU)
    assert baseline.size == (9, 8, 20) and baseline.spacing == pytest.approx((1.0, 1.0, 1.0))
    np.testing.assert_allclose(baseline.array, expected.array, atol=1e-4)
    assert main(["predict", str(path), str(tmp_path / "no.nrrd"), "--model", "bspline", "--adapt"]) == 2
    assert "--adapt needs a learned through-plane model" in capsys.readouterr().err
    # with no --model and no bundled through-plane model: the default, as before
    monkeypatch.setattr(card, "DEFAULT_THICK_SLICE_MODEL_NAME", "no_such_model")
    from SuperResolution3DLib.inference.thick_slices import model_for_input

    assert model_for_input("default", (1.0, 1.0, 4.0))[0] == "default"
    monkeypatch.setattr(card, "DEFAULT_THICK_SLICE_MODEL_NAME", "sr3d_rrdb_x4_l1")  # any bundled name stands in
    name, thick = model_for_input("default", (1.0, 1.0, 4.0))
    assert name == "sr3d_rrdb_x4_l1" and thick.axis == 2
    assert model_for_input("default", (1.0, 1.0, 1.0)) == ("default", None)
    assert model_for_input("bspline", (1.0, 1.0, 4.0))[0] == "bspline"


def test_the_bundled_k_space_model_is_a_through_plane_model_used_only_when_named(capsys):
    from SuperResolution3DLib.inference.thick_slices import model_for_input
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.models.card import KSPACE_THICK_SLICE_MODEL_NAME, find_model_files, list_bundled_models

    assert KSPACE_THICK_SLICE_MODEL_NAME == "sr3d_rrdb_thick_kspace_x4_l1" in list_bundled_models()
    kspace = find_model_files("sr3d_rrdb_thick_kspace_x4_l1")[1]
    assert list(kspace["scale"]) == [1, 1, 4] and "profiles ['sinc']" in kspace["training_data"]["degradation"]
    assert model_for_input("default", (1.0, 1.0, 4.0))[0] == "sr3d_rrdb_thick_x4_l1"
    name, thick = model_for_input("sr3d_rrdb_thick_kspace_x4_l1", (1.0, 1.0, 4.0))
    assert name == "sr3d_rrdb_thick_kspace_x4_l1" and thick.axis == 2
    assert main(["models"]) == 0
    assert "sr3d_rrdb_thick_kspace_x4_l1  (k-space truncated slices: MR 3D DICOM" in capsys.readouterr().out


def test_predict_with_a_through_plane_model_turns_a_thick_x_axis(tmp_path, capsys):
    import torch

    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume
    from SuperResolution3DLib.models.files import save_model
    from SuperResolution3DLib.networks import RRDBNet3D

    torch.manual_seed(0)
    network = RRDBNet3D(num_feat=4, num_grow_ch=4, num_block=0, scale=(1, 1, 4), upsampler="pixel_shuffle", global_skip="trilinear")
    card = {"name": "tiny_thick", "network": {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 0, "scale": [1, 1, 4],
                                              "upsampler": "pixel_shuffle", "global_skip": "trilinear"},
            "normalization": {"kind": "minmax"}}
    model_path = save_model(tmp_path / "tiny_thick.json", network, card)
    path = tmp_path / "thick_x.nrrd"
    write_volume(Volume(np.random.default_rng(4).random((9, 8, 5)).astype(np.float32), (3.0, 0.75, 0.75), (1.0, 2.0, 3.0)), path)
    code = main(["predict", str(path), str(tmp_path / "sr.nrrd"), "--model", str(model_path), "--progress", "none",
                 "--png", str(tmp_path / "views.png")])
    assert code == 0, capsys.readouterr().err
    assert "slices along x are 3 mm apart, 0.75 mm in-plane (ratio 4.00): 4x along x" in capsys.readouterr().out
    result = read_volume(tmp_path / "sr.nrrd")
    assert result.size == (20, 8, 9) and (tmp_path / "views.png").stat().st_size > 1000
    np.testing.assert_allclose(result.spacing, (0.75, 0.75, 0.75))
    np.testing.assert_allclose(result.origin, (1.0, 2.0, 3.0))
    # the output's spacing along the thick axis on request: 1.5 mm, the 4x grid resampled over the same extent
    assert main(["predict", str(path), str(tmp_path / "sr15.nrrd"), "--model", str(model_path), "--progress", "none",
                 "--output-slice-spacing", "1.5"]) == 0
    assert "output 1.5 mm along x, the other axes as they are" in capsys.readouterr().out
    result = read_volume(tmp_path / "sr15.nrrd")
    assert result.size == (10, 8, 9)
    np.testing.assert_allclose(result.spacing, (1.5, 0.75, 0.75))
    for extra, message in ((["--model", str(model_path), "--output-slice-spacing", "3"], "below the input's 3 mm"),
                           (["--model", "sr3d_rrdb_x4_l1", "--output-slice-spacing", "1"], "an isotropic model: leave it out")):
        assert main(["predict", str(path), str(tmp_path / "no.nrrd"), "--progress", "none"] + extra) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "no.nrrd").exists()
    # an isotropic input is refused by a through-plane model
    write_volume(Volume(np.ones((6, 6, 6), np.float32)), tmp_path / "iso.nrrd")
    assert main(["predict", str(tmp_path / "iso.nrrd"), str(tmp_path / "x.nrrd"), "--model", str(model_path)]) == 2
    assert "needs a thick-slice input" in capsys.readouterr().err


def test_predict_notes_recorded_slices_thicker_than_the_model_trained_on(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import write_volume

    hr = tmp_path / "hr.nrrd"
    write_volume(Volume(np.random.default_rng(6).random((32, 24, 24)).astype(np.float32), (1.0, 1.0, 1.0)), hr)
    for thickness, noted in (("4", False), ("7", True), ("2", True)):  # 1.0, 1.75 and 0.5 slice spacings
        lr = tmp_path / f"lr_{thickness}.nrrd"
        assert main(["degrade", str(hr), str(lr), "--scale", "1,1,4", "--profile", "gaussian", "--thickness", thickness]) == 0
        capsys.readouterr()
        assert main(["predict", str(lr), str(tmp_path / "sr.nrrd"), "--progress", "none"]) == 0
        out = capsys.readouterr().out
        assert ("the model trained on 0.8-1.3; adapting it to the scan (--adapt" in out) is noted, out
        if noted:
            how = "overlap" if thickness == "7" else "leave gaps between them"
            assert f"note: the slices are {thickness} mm thick, 4 mm apart" in out and f"they {how}" in out


def test_default_in_python_is_the_bundled_through_plane_model():
    from SuperResolution3DLib.models.card import DEFAULT_THICK_SLICE_MODEL_NAME, list_bundled_models

    if DEFAULT_THICK_SLICE_MODEL_NAME not in list_bundled_models():
        pytest.skip("the bundled through-plane model is not installed")
    rng = np.random.default_rng(4)
    thick = Volume(rng.random((5, 16, 16)).astype(np.float32), (1.0, 1.0, 4.0), (3.0, -2.0, 1.0))
    named = super_resolve_thick_slices(thick, DEFAULT_THICK_SLICE_MODEL_NAME)
    for output in (super_resolve_thick_slices(thick), super_resolve_thick_slices(thick, "default")):
        assert output.size == named.size == (16, 16, 20)
        np.testing.assert_array_equal(output.array, named.array)


def test_python_warns_when_an_isotropic_model_gets_thick_slices():
    from SuperResolution3DLib.inference.api import super_resolve

    thick = Volume(np.random.default_rng(5).random((4, 8, 8)).astype(np.float32), (1.0, 1.0, 4.0))
    with pytest.warns(UserWarning, match=r"the 2x2x2 model enlarges every axis; a through-plane model"):
        super_resolve(thick, interpolation_model("trilinear", (2, 2, 2)), CPU)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        super_resolve_thick_slices(thick, interpolation_model("trilinear", (1, 1, 4)), CPU)
        super_resolve(Volume(thick.array, (1.0, 1.0, 1.5)), interpolation_model("trilinear", (2, 2, 2)), CPU)


@pytest.mark.parametrize("direction, spacing, plane", [
    ((1, 0, 0, 0, 1, 0, 0, 0, 1), (1.0, 1.0, 4.0), "axial"),  # z along S (LPS)
    ((1, 0, 0, 0, 0, 1, 0, -1, 0), (1.0, 1.0, 4.0), "coronal"),  # the third index axis runs along -P
    ((0, 0, 1, 1, 0, 0, 0, 1, 0), (1.0, 1.0, 4.0), "sagittal"),  # the third index axis runs along L
    ((1, 0, 0, 0, 1, 0, 0, 0, 1), (4.0, 1.0, 1.0), "sagittal"),  # thick along x
    ((1, 0, 0, 0, np.cos(0.6), -np.sin(0.6), 0, np.sin(0.6), np.cos(0.6)), (1.0, 1.0, 4.0), "oblique"),  # 34 degrees
])
def test_the_plane_of_the_slices_comes_from_the_direction(direction, spacing, plane):
    thick = find_thick_slices(spacing, direction)
    assert thick.plane == plane
    assert thick.describe(4).startswith(f"{plane} slices along {'xyz'[thick.axis]} are 4 mm apart")
    assert find_thick_slices(spacing).plane is None and find_thick_slices(spacing).describe(4).startswith("slices")


def test_sr3d_info_of_an_input_says_what_sr3d_predict_would_make_of_it(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume
    from SuperResolution3DLib.data.acquisition import slice_profile_note

    path = tmp_path / "coronal.nrrd"  # slices along y, 3.3 mm apart: a ratio that is not the model's 4
    write_volume(Volume(np.random.default_rng(6).random((9, 7, 10)).astype(np.float32), (1.0, 3.3, 1.0)), path,
                 notes=slice_profile_note("rect", 3.3))
    for extra in ([], ["--output-slice-spacing", "0.75"]):
        assert main(["info", str(path), *extra]) == 0
        printed = capsys.readouterr().out
        assert "coronal.nrrd: 10x7x9 voxels, spacing 1 x 3.3 x 1 mm, float32" in printed
        assert "coronal slices along y are 3.3 mm apart, 1 mm in-plane (ratio 3.30)" in printed
        assert "recorded: rect slices, 3.3 mm thick (sr3d degrade's note in the file)" in printed
        assert "sr3d predict would use sr3d_rrdb_thick_x4_l1: 4x along y, then B-spline resampling along y" in printed
        planned = printed.split("output: ")[1].split(" voxels")[0]
        assert main(["predict", str(path), str(tmp_path / "sr.nrrd"), "--model", "bspline", "--overwrite",
                     "--progress", "none", *extra]) == 0  # the through-plane model's grid
        assert planned == "x".join(map(str, read_volume(tmp_path / "sr.nrrd").size))
        (tmp_path / "sr.nrrd").unlink()
    iso = tmp_path / "iso.nrrd"
    write_volume(Volume(np.zeros((5, 6, 7), np.float32), (4.0, 4.0, 4.0)), iso)
    assert main(["info", str(iso)]) == 0
    printed = capsys.readouterr().out
    assert "not a thick-slice scan" in printed and "4x4x4 along every axis" in printed
    assert "output: 28x24x20 voxels (0.1 MB as float32)" in printed
    assert main(["info", "default", "--series", "3"]) == 2
    assert "--series and --output-slice-spacing describe an input volume" in capsys.readouterr().err
