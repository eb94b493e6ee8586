"""Side-by-side three-view PNGs (axial, coronal, sagittal) of volumes on possibly different grids.

Each column is one volume (for example LR, trilinear, SR, HR); each row is one view through the
same world point. Slices are shown at their physical aspect ratio: every slice is resampled with
nearest neighbour to a common pixel size in millimetres, so an LR volume looks as blocky as it
is. Within each row the slices are registered in world space (each is placed by the world
position of its first voxel's edge), so an LR slice sits exactly over the HR region it covers.
All panels share one grey window.

Orientation assumes direction matrices close to the identity (possibly with flipped axes):
axial is a fixed z index, coronal a fixed y index, sagittal a fixed x index. Views follow the
radiological convention in LPS: the patient's left (+x) on the image right, anterior up in
axial views and to the left in sagittal views, superior up in coronal and sagittal views.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from SuperResolution3DLib.core.volume import Volume

Panel = Tuple[str, Volume]
PathLike = Union[str, "os.PathLike[str]"]
DisplayAxis = Tuple[int, int]  # (world axis 0 = x, 1 = y, 2 = z; +1 or -1 along the image axis)

# Per view: the fixed index axis (x, y, z order), then the world axis and sense of the image rows
# (top to bottom) and of the image columns (left to right). LPS: +x left, +y posterior, +z superior.
VIEWS: Dict[str, Tuple[int, DisplayAxis, DisplayAxis]] = {
    "axial": (2, (1, +1), (0, +1)),
    "coronal": (1, (2, -1), (0, +1)),
    "sagittal": (0, (2, -1), (1, +1)),
}
VIEW_NAMES = tuple(VIEWS)
BACKGROUND = 0
TEXT_GREY = 200
GAP_PIXELS = 4
TEXT_PADDING = 3
MAX_CELL_PIXELS = 400
MIN_CELL_PIXELS = 192
FONT_PIXELS = 13


def _rounded_index(volume: Volume, world_point: Sequence[float]) -> Tuple[int, int, int]:
    """Nearest voxel index ``(x, y, z)`` of a world point (may lie outside the volume)."""
    continuous = volume.world_to_index(world_point)
    return tuple(int(v) for v in np.floor(continuous + 0.5))


def _runs_backwards(volume: Volume, display_axis: DisplayAxis) -> bool:
    """Whether the index axis of ``display_axis`` runs against the display direction."""
    axis, sense = display_axis
    return sense * volume.direction_matrix[axis, axis] < 0


def _oriented_slice(volume: Volume, view: str, index: int) -> np.ndarray:
    fixed_axis, row_axis, column_axis = VIEWS[view]
    image = np.take(volume.array, index, axis=2 - fixed_axis)
    if _runs_backwards(volume, row_axis):
        image = image[::-1, :]
    if _runs_backwards(volume, column_axis):
        image = image[:, ::-1]
    return image


def slice_views(volume: Volume, world_point: Sequence[float]) -> Dict[str, Optional[np.ndarray]]:
    """The axial, coronal and sagittal slices of ``volume`` through ``world_point``, display-oriented.

    Row 0 is the top of the image. A view is ``None`` when the point lies outside the volume
    along the view's fixed axis.
    """
    index = _rounded_index(volume, world_point)
    views: Dict[str, Optional[np.ndarray]] = {}
    for view, (fixed_axis, _, _) in VIEWS.items():
        inside = 0 <= index[fixed_axis] < volume.size[fixed_axis]
        views[view] = _oriented_slice(volume, view, index[fixed_axis]) if inside else None
    return views


def _display_interval(volume: Volume, display_axis: DisplayAxis) -> Tuple[float, float]:
    """Span, in display mm (world mm times the sense), of the voxel edges along ``display_axis``."""
    axis, sense = display_axis
    step = volume.direction_matrix[axis, axis] * volume.spacing[axis]
    edges = [sense * (volume.origin[axis] + step * position) for position in (-0.5, volume.size[axis] - 0.5)]
    return min(edges), max(edges)


def _extent_mm(volume: Volume) -> float:
    return float(np.max(np.asarray(volume.size) * np.asarray(volume.spacing)))


def _display_mm_per_pixel(volumes: Sequence[Volume], max_cell_pixels: int) -> float:
    """The finest spacing, changed if the largest volume would span more than ``max_cell_pixels``
    or fewer than ``MIN_CELL_PIXELS`` (small regions are magnified)."""
    finest = min(min(volume.spacing) for volume in volumes)
    largest = max(_extent_mm(volume) for volume in volumes)
    if largest / finest > max_cell_pixels:
        return largest / max_cell_pixels
    if largest / finest < min(MIN_CELL_PIXELS, max_cell_pixels):
        return largest / min(MIN_CELL_PIXELS, max_cell_pixels)
    return finest


def default_world_point(volume: Volume) -> np.ndarray:
    """World position of the centre of ``volume``'s voxel grid."""
    return volume.index_to_world((np.asarray(volume.size, dtype=float) - 1) / 2)


def grey_window(reference: np.ndarray, lower_percentile: float = 0.5, upper_percentile: float = 99.5) -> Tuple[float, float]:
    """``(low, high)`` percentiles of ``reference``; widened to a unit range if they coincide."""
    finite = reference[np.isfinite(reference)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, [lower_percentile, upper_percentile]))
    if high <= low:
        high = low + 1.0
    return low, high


def _to_grey(image: np.ndarray, window: Tuple[float, float]) -> np.ndarray:
    low, high = window
    scaled = (np.asarray(image, dtype=np.float64) - low) / (high - low)
    scaled = np.nan_to_num(scaled, nan=0.0)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


@dataclass
class _Tile:
    """A rendered slice and where its top-left corner lies, in display mm (rows, columns)."""

    image: Image.Image
    corner_mm: Tuple[float, float]


def _render_tile(volume: Volume, view: str, image: np.ndarray, window: Tuple[float, float], mm_per_pixel: float) -> _Tile:
    """Windowed slice resampled (nearest) so that one display pixel is ``mm_per_pixel``."""
    _, row_axis, column_axis = VIEWS[view]
    rows_mm, columns_mm = _display_interval(volume, row_axis), _display_interval(volume, column_axis)
    height = max(1, int(round((rows_mm[1] - rows_mm[0]) / mm_per_pixel)))
    width = max(1, int(round((columns_mm[1] - columns_mm[0]) / mm_per_pixel)))
    grey = Image.fromarray(np.ascontiguousarray(_to_grey(image, window)))
    return _Tile(grey.resize((width, height), Image.NEAREST), (rows_mm[0], columns_mm[0]))


def label_font() -> ImageFont.ImageFont:
    """Pillow's bundled scalable font at a readable size (the tiny bitmap font on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=FONT_PIXELS)
    except TypeError:
        return ImageFont.load_default()


def _text_size(font: ImageFont.ImageFont, text: str) -> Tuple[int, int]:
    """Width and height (from the drawing origin) of ``text`` (lines split at ``\\n``)."""
    _, _, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox((0, 0), text, font=font)
    return right, bottom


def _draw_centred_text(canvas: Image.Image, text: str, left: int, width: int, top: int, font: ImageFont.ImageFont) -> None:
    draw = ImageDraw.Draw(canvas)
    text_left, _, text_right, _ = draw.multiline_textbbox((0, 0), text, font=font)
    x = left + max(0, (width - (text_right - text_left)) // 2)
    draw.multiline_text((x, top), text, fill=TEXT_GREY, font=font, align="center")


def view_labels(world_point: Sequence[float]) -> List[str]:
    """Row labels: the view and where its slice lies (LPS mm)."""
    return [f"{view} {'xyz'[VIEWS[view][0]]} = {float(world_point[VIEWS[view][0]]):.1f} mm" for view in VIEW_NAMES]


def _render_tiles(
    panels: Sequence[Panel], world_point: Sequence[float], window: Tuple[float, float], mm_per_pixel: float
) -> List[List[Optional[_Tile]]]:
    """Rendered slices, ``tiles[row][column]`` (``None`` where the point is outside the panel)."""
    tiles: List[List[Optional[_Tile]]] = [[] for _ in VIEW_NAMES]
    for _, volume in panels:
        views = slice_views(volume, world_point)
        for row, view in enumerate(VIEW_NAMES):
            image = views[view]
            tiles[row].append(None if image is None else _render_tile(volume, view, image, window, mm_per_pixel))
    return tiles


def _tile_offsets(row_tiles: Sequence[Optional[_Tile]], mm_per_pixel: float) -> Tuple[List[Tuple[int, int]], Tuple[int, int]]:
    """Pixel offsets registering the tiles of one row in world space, and the common cell size."""
    present = [tile for tile in row_tiles if tile is not None]
    if not present:
        return [(0, 0)] * len(row_tiles), (1, 1)
    top_mm = min(tile.corner_mm[0] for tile in present)
    left_mm = min(tile.corner_mm[1] for tile in present)
    offsets = [
        (0, 0) if tile is None else
        (int(round((tile.corner_mm[0] - top_mm) / mm_per_pixel)), int(round((tile.corner_mm[1] - left_mm) / mm_per_pixel)))
        for tile in row_tiles
    ]
    height = max(top + tile.image.height for (top, _), tile in zip(offsets, row_tiles) if tile is not None)
    width = max(left + tile.image.width for (_, left), tile in zip(offsets, row_tiles) if tile is not None)
    return offsets, (height, width)


def render_three_view(
    panels: Sequence[Panel],
    reference: Optional[Union[Volume, np.ndarray]] = None,
    world_point: Optional[Sequence[float]] = None,
    window: Optional[Tuple[float, float]] = None,
    title: Optional[str] = None,
    max_cell_pixels: int = MAX_CELL_PIXELS,
) -> Image.Image:
    """The three-view grid as a greyscale Pillow image (see ``three_view_png``)."""
    if not panels:
        raise ValueError("three_view needs at least one (label, Volume) panel")
    volumes = [volume for _, volume in panels]
    if world_point is None:
        world_point = default_world_point(volumes[0])
    if window is None:
        reference_array = reference.array if isinstance(reference, Volume) else reference
        window = grey_window(np.asarray(volumes[-1].array if reference_array is None else reference_array))
    window = (float(window[0]), float(window[1]))
    if window[1] <= window[0]:
        raise ValueError(f"window must be (low, high) with low < high, got {window}")
    mm_per_pixel = _display_mm_per_pixel(volumes, max_cell_pixels)
    tiles = _render_tiles(panels, world_point, window, mm_per_pixel)
    return _compose_grid(tiles, mm_per_pixel, [label for label, _ in panels], title, view_labels(world_point))


def _compose_grid(
    tiles: List[List[Optional[_Tile]]], mm_per_pixel: float, labels: Sequence[str], title: Optional[str],
    row_labels: Optional[Sequence[str]] = None,
) -> Image.Image:
    """Paste the tiles on a grid, registered in world space within each row, with column labels
    above, an optional title (``\\n`` for more lines) on top and row labels over the first column."""
    font = label_font()
    placements = [_tile_offsets(row_tiles, mm_per_pixel) for row_tiles in tiles]
    label_sizes = [_text_size(font, label) for label in labels]
    cell_width = max([size[1] for _, size in placements] + [width + 2 * TEXT_PADDING for width, _ in label_sizes])
    row_heights = [size[0] for _, size in placements]
    label_height = max(height for _, height in label_sizes) + 2 * TEXT_PADDING
    title_width, title_text_height = _text_size(font, title) if title else (0, 0)
    title_height = title_text_height + 2 * TEXT_PADDING if title else 0
    width = max(GAP_PIXELS + len(labels) * (cell_width + GAP_PIXELS), title_width + 2 * TEXT_PADDING)
    height = title_height + label_height + sum(row_heights) + GAP_PIXELS * len(row_heights)
    canvas = Image.new("L", (width, height), BACKGROUND)
    if title:
        _draw_centred_text(canvas, title, 0, width, TEXT_PADDING, font)
    for column, label in enumerate(labels):
        left = GAP_PIXELS + column * (cell_width + GAP_PIXELS)
        _draw_centred_text(canvas, label, left, cell_width, title_height + TEXT_PADDING, font)
        top = title_height + label_height
        for (offsets, (row_height, row_width)), row_tiles in zip(placements, tiles):
            tile = row_tiles[column]
            if tile is not None:
                margin = (cell_width - row_width) // 2
                canvas.paste(tile.image, (left + margin + offsets[column][1], top + offsets[column][0]))
            top += row_height + GAP_PIXELS
    if row_labels:
        draw, top = ImageDraw.Draw(canvas), title_height + label_height
        for text, row_height in zip(row_labels, row_heights):
            draw.text((GAP_PIXELS + TEXT_PADDING, top + TEXT_PADDING), text, fill=TEXT_GREY, font=font,
                      stroke_width=1, stroke_fill=BACKGROUND)
            top += row_height + GAP_PIXELS
    return canvas


def save_png_atomically(image: Image.Image, path: PathLike) -> str:
    """Write a temporary PNG next to ``path`` and rename it over ``path`` (folders are created)."""
    from SuperResolution3DLib.data.io import atomic_output_path

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_output_path(path) as temporary:
        image.save(temporary, format="PNG")
    return os.fspath(path)


def three_view_png(
    path: PathLike,
    panels: Sequence[Panel],
    reference: Optional[Union[Volume, np.ndarray]] = None,
    world_point: Optional[Sequence[float]] = None,
    window: Optional[Tuple[float, float]] = None,
    title: Optional[str] = None,
    max_cell_pixels: int = MAX_CELL_PIXELS,
) -> str:
    """Write a PNG grid: one column per ``(label, Volume)`` panel, rows axial / coronal / sagittal.

    ``world_point`` (LPS, mm) defaults to the centre of the first panel. ``window`` is the common
    grey ``(low, high)``; by default the 0.5 / 99.5 percentiles of ``reference`` (default: the
    last panel). Slices keep their physical aspect ratio at a common mm-per-pixel (the finest
    spacing, coarsened so that no view exceeds ``max_cell_pixels`` and refined so that small
    regions span about 192 pixels). A point outside a panel leaves that cell black. The file is
    written atomically (folders are created); returns its path as a string.
    """
    image = render_three_view(panels, reference, world_point, window, title, max_cell_pixels)
    return save_png_atomically(image, path)
