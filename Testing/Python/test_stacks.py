"""sr3d fuse: thick-slice stacks of one session, each super-resolved along its own slices, fused on one grid."""

import numpy as np
import pytest

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import resampled_onto
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
from SuperResolution3DLib.evaluation.metrics import psnr
from SuperResolution3DLib.inference.stacks import FUSION_EPSILON, fuse_stacks, measured_band_weight
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model
from test_adaptation import isotropic_texture, tiny_thick_model

CPU = InferenceSettings(device="cpu", precision="fp32")
OBLIQUE = tuple(np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))[0].ravel())


def truth() -> Volume:
    return Volume(isotropic_texture((48, 48, 48)), (1.0, 1.0, 1.0), (4.0, -9.0, 20.0), OBLIQUE)


def stacks_of(volume: Volume, axes=(2, 1, 0)):
    return [thick_slice_degrade(volume, axis, 4, "gaussian", 4.0) for axis in axes]


def inner_psnr(array, hr):
    inner = (slice(6, -6),) * 3
    return psnr(array[inner], hr.array[inner], data_range=float(np.ptp(hr.array)))


def test_three_orthogonal_stacks_fuse_on_the_first_ones_grid_and_beat_each_alone():
    hr = truth()
    stacks = stacks_of(hr)
    bspline = interpolation_model("bspline", (1, 1, 4))
    fused = fuse_stacks(stacks, "bspline", CPU)
    assert fused.size == (48, 48, 48) and fused.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(fused.origin, hr.origin, atol=1e-9)
    np.testing.assert_allclose(fused.direction, hr.direction, atol=1e-12)
    singles = [super_resolve_thick_slices(stack, bspline, CPU) for stack in stacks]
    scores = [inner_psnr(single.array, hr) for single in singles]
    assert inner_psnr(fused.array, hr) > max(scores) + 1.0, (inner_psnr(fused.array, hr), scores)
    # weighting by the measured bands beats a plain mean of the same three outputs
    plain = np.mean([resampled_onto(single, fused) for single in singles], axis=0)
    assert inner_psnr(fused.array, hr) > inner_psnr(plain, hr) + 0.5
    # the same stacks through a (tiny, untrained) network: same grid, finite, within the stacks' range
    networked = fuse_stacks(stacks, tiny_thick_model(), CPU)
    assert networked.size == fused.size and np.isfinite(networked.array).all()
    assert networked.array.min() >= min(s.array.min() for s in stacks) - 1e-4


def test_a_stack_that_covers_part_of_the_field_of_view_fills_in_where_it_reaches():
    hr = truth()
    axial, coronal = stacks_of(hr, (2, 1))
    half = coronal.sub_volume((0, 0, 0), (48, 12, 24))  # the lower half along z (a shorter coronal series)
    fused = fuse_stacks([axial, half], "bspline", CPU)
    assert np.isfinite(fused.array).all()
    alone = super_resolve_thick_slices(axial, interpolation_model("bspline", (1, 1, 4)), CPU).array
    lower, upper = (slice(6, 18), slice(6, -6), slice(6, -6)), (slice(30, 42), slice(6, -6), slice(6, -6))
    score = lambda a, box: psnr(a[box], hr.array[box], data_range=float(np.ptp(hr.array)))  # noqa: E731
    assert score(fused.array, lower) > score(alone, lower) + 0.5  # two stacks there
    assert score(fused.array, upper) > score(alone, upper) - 0.3  # only the axial one there


def test_the_measured_band_follows_each_stacks_slice_direction():
    hr = truth()
    axial, _, sagittal = stacks_of(hr)
    grid = hr.with_array(np.zeros((40, 40, 40), np.float32))
    weight = measured_band_weight(grid, axial)  # [z, y, x // 2 + 1]; axial slices 4 mm apart along the grid's z
    fz = np.abs(np.fft.fftfreq(40))
    np.testing.assert_allclose(weight[:, 3, 7], np.where(fz <= 0.125 + 1e-9, 1.0, FUSION_EPSILON), rtol=1e-6)
    assert np.all(weight[0] == 1.0)  # every in-plane frequency was measured
    assert np.all(measured_band_weight(grid, sagittal)[:, :, 0] == 1.0) and measured_band_weight(grid, sagittal)[0, 0, -1] == pytest.approx(FUSION_EPSILON)


def test_bad_stacks_are_refused_with_what_to_do(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume

    hr = truth()
    axial, coronal, _ = stacks_of(hr)
    with pytest.raises(InputVolumeError, match="at least two stacks"):
        fuse_stacks([axial], "bspline", CPU)
    with pytest.raises(InputVolumeError, match="stack 2 .* has no thick-slice axis"):
        fuse_stacks([axial, hr], "bspline", CPU)
    far = Volume(coronal.array, coronal.spacing, (900.0, 900.0, 900.0), coronal.direction)
    with pytest.raises(InputVolumeError, match="stack 2 does not overlap"):
        fuse_stacks([axial, far], "bspline", CPU)
    with pytest.raises(InputVolumeError, match="through-plane model"):
        fuse_stacks([axial, coronal], interpolation_model("bspline", (4, 4, 4)), CPU)
    write_volume(axial, tmp_path / "axial.nrrd")
    write_volume(coronal, tmp_path / "coronal.nii.gz")
    write_volume(hr, tmp_path / "iso.nrrd")
    for command, message in ((["axial.nrrd", "out.nrrd"], "at least two stacks"),
                             (["axial.nrrd", "iso.nrrd", "out.nrrd"], "has no thick-slice axis"),
                             (["axial.nrrd", "missing.nrrd", "out.nrrd"], "input not found"),
                             (["axial.nrrd", "coronal.nii.gz", "out.txt"], "unsupported output"),
                             (["axial.nrrd", "coronal.nii.gz", "dicom_out/"], "not a DICOM folder")):
        assert main(["fuse"] + [str(tmp_path / a) + ("/" if a.endswith("/") else "") for a in command]
                    + ["--model", "bspline"]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out.nrrd").exists()
    assert main(["fuse", str(tmp_path / "axial.nrrd"), str(tmp_path / "coronal.nii.gz"), str(tmp_path / "out.nrrd"),
                 "--model", "bspline", "--slice-thickness", "1.2"]) == 2
    assert "give their --slice-profile too" in capsys.readouterr().err
    assert main(["fuse", str(tmp_path / "axial.nrrd"), str(tmp_path / "coronal.nii.gz"), str(tmp_path / "out.nrrd"),
                 "--model", "bspline", "--progress", "none"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "give back" not in out  # an interpolation is left as it is
    written = read_volume(tmp_path / "out.nrrd")
    assert written.size == (48, 48, 48)
    np.testing.assert_allclose(written.index_to_world((5, 6, 7)), hr.index_to_world((5, 6, 7)), atol=1e-6)


def test_each_stack_recorded_by_sr3d_degrade_gives_back_its_slices(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume
    from SuperResolution3DLib.models.files import save_model
    from test_adaptation import TINY_THICK

    write_volume(truth(), tmp_path / "hr.nrrd")
    for name, scale in (("axial.nrrd", "1,1,4"), ("sagittal.nrrd", "4,1,1")):
        assert main(["degrade", str(tmp_path / "hr.nrrd"), str(tmp_path / name), "--scale", scale, "--profile", "rect"]) == 0
    model = save_model(tmp_path / "tiny.json", tiny_thick_model().network,
                       {"name": "tiny", "network": dict(TINY_THICK), "normalization": {"kind": "minmax"}})
    capsys.readouterr()
    stacks = [str(tmp_path / "axial.nrrd"), str(tmp_path / "sagittal.nrrd")]
    common = ["--model", str(model), "--device", "cpu", "--precision", "fp32", "--progress", "none"]
    assert main(["fuse", *stacks, str(tmp_path / "noted.nrrd")] + common) == 0
    out = capsys.readouterr().out
    assert "stack 1: output made to give back the slices: rect slices 1 slice spacing thick (sr3d degrade's note" in out
    assert "stack 2: output made to give back the slices: rect" in out
    # the same as telling the profile: stacks without the note and --slice-profile rect
    bare = []
    for path in stacks:
        bare.append(path.replace(".nrrd", "_bare.nii.gz"))
        write_volume(read_volume(path), bare[-1])
    assert main(["fuse", *bare, str(tmp_path / "told.nrrd"), "--slice-profile", "rect"] + common) == 0
    assert "(--slice-profile)" in capsys.readouterr().out
    np.testing.assert_allclose(read_volume(tmp_path / "told.nrrd").array, read_volume(tmp_path / "noted.nrrd").array,
                               atol=1e-4)
    assert main(["fuse", *bare, str(tmp_path / "plain.nrrd")] + common) == 0
    assert "give back" not in capsys.readouterr().out
    assert not np.allclose(read_volume(tmp_path / "plain.nrrd").array, read_volume(tmp_path / "noted.nrrd").array,
                           atol=1e-3)


def test_an_oblique_stack_is_placed_and_weighted_by_its_own_slice_direction():
    import SimpleITK as sitk

    hr = truth()
    axial = stacks_of(hr, (2,))[0]
    # a second series tilted 30 degrees about the first's x axis, slices 4 mm apart along its own z
    angle = np.deg2rad(30.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    direction = hr.direction_matrix @ tilt
    centre = hr.index_to_world(np.array(hr.size) / 2.0 - 0.5)
    size = np.array([40, 40, 40])
    origin = centre - direction @ (size / 2.0 - 0.5)
    grid = sitk.Image([int(n) for n in size], sitk.sitkFloat32)
    grid.SetSpacing([1.0, 1.0, 1.0])
    grid.SetOrigin([float(v) for v in origin])
    grid.SetDirection([float(v) for v in direction.ravel()])
    tilted_hr = Volume.from_sitk(sitk.Resample(hr.to_sitk(), grid, sitk.Transform(), sitk.sitkBSpline, 0.0))
    tilted = thick_slice_degrade(tilted_hr, 2, 4, "gaussian", 4.0)
    weight = measured_band_weight(hr.with_array(np.zeros((48, 48, 48), np.float32)), tilted)
    fz = np.fft.fftfreq(48)[:, None]
    fy = np.fft.fftfreq(48)[None, :]
    across = np.abs(np.sin(angle) * fy + np.cos(angle) * fz)  # the normal with the wrong sign of its y component
    # the tilted slices' normal in the first frame is (0, -sin, cos)
    expected = np.where(np.abs(-np.sin(angle) * fy + np.cos(angle) * fz) <= 0.125 * (1 + 1e-4), 1.0, FUSION_EPSILON)
    np.testing.assert_allclose(weight[:, :, 0], expected, rtol=1e-6)
    assert not np.array_equal(across <= 0.125, expected == 1.0)  # the sign was checked, not assumed
    fused = fuse_stacks([axial, tilted], "bspline", CPU)
    alone = super_resolve_thick_slices(axial, interpolation_model("bspline", (1, 1, 4)), CPU).array
    centre_box = (slice(16, 32),) * 3  # inside the tilted series' field of view
    score = lambda a: psnr(a[centre_box], hr.array[centre_box], data_range=float(np.ptp(hr.array)))  # noqa: E731
    # less than an aligned stack adds: the tilted series was itself resampled from the truth, and is resampled back
    assert score(fused.array) > score(alone) + 0.3, (score(fused.array), score(alone))


@pytest.mark.filterwarnings("ignore:stack 2 agrees poorly")  # the moved stack, and fine texture after registration
def test_a_stack_acquired_after_the_patient_moved_is_registered_before_fusing(tmp_path, capsys):
    from SuperResolution3DLib.inference.stacks import rigidly_moved

    hr = Volume(isotropic_texture((64, 64, 64)), (1.0, 1.0, 1.0), (4.0, -9.0, 20.0))
    moved = rigidly_moved(hr, (0.0, 0.0, 3.0), (2.0, -1.5, 1.0))
    axial = thick_slice_degrade(hr, 2, 4, "gaussian", 4.0)
    sagittal, moved_sagittal = (thick_slice_degrade(v, 0, 4, "gaussian", 4.0) for v in (hr, moved))
    inner = (slice(12, -12),) * 3
    score = lambda v: psnr(v.array[inner], hr.array[inner], data_range=float(np.ptp(hr.array)))  # noqa: E731
    aligned = score(fuse_stacks([axial, sagittal], "bspline", CPU))
    unregistered = score(fuse_stacks([axial, moved_sagittal], "bspline", CPU))
    said = []
    registered = score(fuse_stacks([axial, moved_sagittal], "bspline", CPU, register=True, log=said.append))
    assert unregistered < aligned - 3.0  # 3 degrees and 2.7 mm ruin the fusion
    assert registered > aligned - 0.5, (registered, aligned)
    angle = float(said[0].split(": ")[1].split(" degrees")[0])
    assert said[0].startswith("stack 2 registered to stack 1") and abs(angle - 3.0) < 0.5
    # the command line
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import write_volume

    write_volume(axial, tmp_path / "axial.nrrd")
    write_volume(moved_sagittal, tmp_path / "sagittal.nrrd")
    assert main(["fuse", str(tmp_path / "axial.nrrd"), str(tmp_path / "sagittal.nrrd"), str(tmp_path / "out.nrrd"),
                 "--model", "bspline", "--register", "--progress", "none"]) == 0
    assert "stack 2 registered to stack 1: " in capsys.readouterr().out


def test_a_stack_of_another_contrast_or_moved_is_warned_about(tmp_path, capsys):
    import warnings

    from SuperResolution3DLib.inference.stacks import rigidly_moved

    z, y, x = np.meshgrid(*[np.linspace(-1, 1, 64)] * 3, indexing="ij")
    head = 60.0 * (x**2 / 0.8 + y**2 / 0.6 + z**2 / 0.7 < 1) - 30.0 * ((x - 0.2) ** 2 + y**2 + z**2 < 0.15)
    hr = Volume((head + 0.3 * isotropic_texture((64, 64, 64))).astype(np.float32), (1.0, 1.0, 1.0), (4.0, -9.0, 20.0))
    axial, sagittal = stacks_of(hr, (2, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one contrast, in place: no warning
        fuse_stacks([axial, sagittal], "bspline", CPU)
    other_contrast = sagittal.with_array((sagittal.array.max() - sagittal.array).astype(np.float32))  # bright <-> dark
    with pytest.warns(UserWarning, match=r"stack 2 agrees poorly with stack 1 \(correlation -[01]\.\d\d.*--register"):
        fuse_stacks([axial, other_contrast], "bspline", CPU)
    moved = thick_slice_degrade(rigidly_moved(hr, (0.0, 4.0, 10.0), (6.0, -5.0, 4.0)), 0, 4, "gaussian", 4.0)
    with pytest.warns(UserWarning, match="stack 2 agrees poorly"):
        fuse_stacks([axial, moved], "bspline", CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # registered first, the moved stack agrees again
        fuse_stacks([axial, moved], "bspline", CPU, register=True)
    # the command line says it as sr3d's other warnings
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import write_volume

    write_volume(axial, tmp_path / "axial.nrrd")
    write_volume(other_contrast, tmp_path / "t2.nrrd")
    assert main(["fuse", str(tmp_path / "axial.nrrd"), str(tmp_path / "t2.nrrd"), str(tmp_path / "out.nrrd"),
                 "--model", "bspline", "--progress", "none"]) == 0
    assert "sr3d fuse: warning: stack 2 agrees poorly with stack 1" in capsys.readouterr().err


def test_the_union_field_of_view_covers_every_stack(tmp_path):
    hr = truth()
    axial, coronal = stacks_of(hr, (2, 1))
    short_axial = axial.sub_volume((0, 0, 0), (48, 48, 6))  # the axial series covers the lower half along z only
    first = fuse_stacks([short_axial, coronal], "bspline", CPU)
    union = fuse_stacks([short_axial, coronal], "bspline", CPU, field_of_view="union")
    assert first.size == (48, 48, 24) and union.size == (48, 48, 48)  # z: 6 slices of 4 mm, or the coronal stack's 48
    np.testing.assert_allclose(union.origin, hr.origin, atol=1e-6)
    np.testing.assert_allclose(union.direction, hr.direction, atol=1e-12)
    assert np.isfinite(union.array).all()
    # where both reach, the two grids hold the same fusion; above the axial stack the coronal one alone
    inner = (slice(4, 17), slice(6, -6), slice(6, -6))
    np.testing.assert_allclose(union.array[inner], first.array[inner], atol=0.05 * np.ptp(hr.array))
    upper = (slice(30, 42), slice(6, -6), slice(6, -6))
    alone = super_resolve_thick_slices(coronal, interpolation_model("bspline", (1, 1, 4)), CPU)
    score = lambda a: psnr(a[upper], hr.array[upper], data_range=float(np.ptp(hr.array)))  # noqa: E731
    assert score(union.array) > score(resampled_onto(alone, union)) - 0.3
    with pytest.raises(InputVolumeError, match="unknown field of view 'all'"):
        fuse_stacks([short_axial, coronal], "bspline", CPU, field_of_view="all")
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.io import read_volume, write_volume

    write_volume(short_axial, tmp_path / "ax.nrrd")
    write_volume(coronal, tmp_path / "cor.nrrd")
    assert main(["fuse", str(tmp_path / "ax.nrrd"), str(tmp_path / "cor.nrrd"), str(tmp_path / "out.nrrd"),
                 "--model", "bspline", "--fov", "union", "--progress", "none"]) == 0
    assert read_volume(tmp_path / "out.nrrd").size == (48, 48, 48)


def test_stacks_chosen_by_series_in_one_dicom_session_folder(tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.data.dicom import write_dicom_series
    from SuperResolution3DLib.data.io import read_volume, write_volume

    hr = truth()
    axial, coronal, sagittal = stacks_of(hr)
    session = tmp_path / "session"
    session.mkdir()
    for number, stack in (("4", axial), ("5", coronal), ("6", sagittal)):  # one exported session, three series
        written = write_dicom_series(stack, tmp_path / f"series{number}", attributes={"0020|0011": number})
        for path in written.iterdir():
            path.rename(session / f"S{number}_{path.name}")
    for number in ("4", "6"):  # the same stacks as files, read back from the session's series
        write_volume(read_volume(session, series=number), tmp_path / f"s{number}.nrrd")
    common = ["--model", "bspline", "--progress", "none"]
    assert main(["fuse", str(session), str(tmp_path / "by_series.nrrd"), "--series", "4,6"] + common) == 0
    out = capsys.readouterr().out
    assert "stack 1 (session series 4): oblique slices along z" in out and "stack 2 (session series 6): oblique slices along x" in out
    assert main(["fuse", str(tmp_path / "s4.nrrd"), str(tmp_path / "s6.nrrd"), str(tmp_path / "by_file.nrrd")] + common) == 0
    np.testing.assert_array_equal(read_volume(tmp_path / "by_series.nrrd").array,
                                  read_volume(tmp_path / "by_file.nrrd").array)
    capsys.readouterr()
    for arguments, message in (([str(session), "--series", "4"], "1 series for 1 stacks"),
                               ([str(session), str(session), str(session), "--series", "4,6"], "2 series for 3 stacks"),
                               ([str(session), "--series", "4,,6"], "separated by commas"),
                               ([str(session), str(tmp_path / "s6.nrrd"), "--series", "4,6"], "is a file"),
                               ([str(session), "--series", "4,9"], "no DICOM series '9'"),
                               ([str(session)], "one DICOM folder and its stacks' series")):
        assert main(["fuse", *arguments[:-2 if "--series" in arguments else None], str(tmp_path / "out.nrrd"),
                     *(arguments[-2:] if "--series" in arguments else [])] + common) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out.nrrd").exists()
