"""Tests of SuperResolution3DLib.evaluation.visualize: three-view PNG grids of volumes on different grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from SuperResolution3DLib.evaluation.visualize import render_three_view, slice_views, three_view_png
from SuperResolution3DLib.core.volume import Volume

PLANE_Z = 16  # world z (mm) of the bright plane; HR index 16, LR index 4


def _plane_volumes() -> tuple:
    """An HR volume (1 mm, 32^3) with a bright axial plane at PLANE_Z, and its 4x LR sub-grid."""
    hr_array = np.zeros((32, 32, 32), dtype=np.float32)
    hr_array[PLANE_Z] = 1.0
    hr = Volume(hr_array, spacing=(1, 1, 1))
    lr = Volume(hr_array[::4, ::4, ::4].copy(), spacing=(4, 4, 4))
    return lr, hr


def _white_fraction(image: Image.Image) -> float:
    return float(np.mean(np.asarray(image) == 255))


def test_writes_png_and_returns_path(tmp_path: Path) -> None:
    lr, hr = _plane_volumes()
    target = tmp_path / "views" / "three.png"
    written = three_view_png(target, [("LR (nearest)", lr), ("HR", hr)], title="demo")
    assert Path(written) == target
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.width > 0 and image.height > 0
    assert [p.name for p in target.parent.iterdir()] == ["three.png"]  # no temp file left


def test_width_grows_with_number_of_panels(tmp_path: Path) -> None:
    lr, hr = _plane_volumes()
    widths = []
    for count in (1, 2, 3):
        panels = [(f"panel {n}", hr) for n in range(count)]
        with Image.open(three_view_png(tmp_path / f"{count}.png", panels)) as image:
            widths.append(image.width)
    assert widths[0] < widths[1] < widths[2]
    assert widths[2] - widths[1] == widths[1] - widths[0]


def test_output_is_deterministic(tmp_path: Path) -> None:
    lr, hr = _plane_volumes()
    panels = [("LR", lr), ("HR", hr)]
    first = three_view_png(tmp_path / "a.png", panels, title="same")
    second = three_view_png(tmp_path / "b.png", panels, title="same")
    assert Path(first).read_bytes() == Path(second).read_bytes()


def test_slices_of_lr_and_hr_pass_through_the_same_world_plane() -> None:
    lr, hr = _plane_volumes()
    on_plane = (15.0, 15.0, float(PLANE_Z))
    for volume in (lr, hr):
        views = slice_views(volume, on_plane)
        assert np.all(views["axial"] == 1.0)
        # superior up: the plane row sits PLANE_Z rows above the bottom (index nz - 1 - k)
        rows = np.flatnonzero(views["coronal"].max(axis=1))
        assert rows.tolist() == [volume.array.shape[0] - 1 - int(round(PLANE_Z / volume.spacing[2]))]
    off_plane = (15.0, 15.0, float(PLANE_Z - 3))  # LR index 3.25 -> 3, HR index 13
    assert not slice_views(lr, off_plane)["axial"].any()
    assert not slice_views(hr, off_plane)["axial"].any()


def test_rendered_axial_row_is_bright_in_both_columns_on_the_plane() -> None:
    lr, hr = _plane_volumes()
    panels = [("LR", lr), ("HR", hr)]
    on = render_three_view(panels, world_point=(15, 15, PLANE_Z), window=(0.0, 1.0))
    off = render_three_view(panels, world_point=(15, 15, PLANE_Z - 3), window=(0.0, 1.0))
    half = on.width // 2
    for left, right in ((0, half), (half, on.width)):
        on_column = on.crop((left, 0, right, on.height))
        off_column = off.crop((left, 0, right, off.height))
        # on the plane the whole axial slice is white; off it only the plane's line in the other views
        assert _white_fraction(on_column) > 0.2
        assert _white_fraction(on_column) > 3 * _white_fraction(off_column)


def test_flipped_direction_shows_the_same_picture() -> None:
    _, hr = _plane_volumes()
    array = hr.array.copy()
    array[:, 2:6, 20:30] = 0.5  # an anterior, left-sided block
    plain = Volume(array, spacing=(1, 1, 1))
    flipped = Volume(
        array[::-1, ::-1, :].copy(), spacing=(1, 1, 1), origin=(0, 31, 31), direction=(1, 0, 0, 0, -1, 0, 0, 0, -1)
    )
    point = (25.0, 4.0, float(PLANE_Z))
    plain_views, flipped_views = slice_views(plain, point), slice_views(flipped, point)
    for view in ("axial", "coronal", "sagittal"):
        assert np.array_equal(plain_views[view], flipped_views[view])


def test_point_outside_a_panel_leaves_its_cell_empty() -> None:
    lr, hr = _plane_volumes()
    views = slice_views(hr, (15.0, 15.0, 100.0))
    assert views["axial"] is None
    assert views["coronal"] is not None


def test_rejects_bad_window_and_no_panels(tmp_path: Path) -> None:
    _, hr = _plane_volumes()
    with pytest.raises(ValueError):
        three_view_png(tmp_path / "x.png", [("HR", hr)], window=(1.0, 1.0))
    with pytest.raises(ValueError):
        three_view_png(tmp_path / "x.png", [])
