"""Figure 2 of the paper: axial, coronal and sagittal views of LR, HR and every method, with zoomed insets.

``comparison_figure`` draws one subject. Columns: the LR input shown with nearest-neighbour
upsampling on the HR grid ("LR (nearest)"), the HR reference, then every method. Rows: for each view
(axial, coronal, sagittal) the slice through the centre of a box, with the box outlined, and below it
the box enlarged (nearest neighbour, so voxels stay visible). Slices keep their physical aspect ratio
and follow the display orientation of ``visualize.slice_views``; all panels share the HR grey window
(0.5 / 99.5 percentiles).
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.evaluation.visualize import VIEWS, VIEW_NAMES, save_png_atomically, grey_window, slice_views

Box = Tuple[Tuple[int, int, int], Tuple[int, int, int]]  # (start xyz, size xyz) in HR voxel indices
PathLike = Union[str, "os.PathLike[str]"]
BOX_COLOUR = (255, 64, 64)
TEXT_COLOUR = (220, 220, 220)
GAP = 4
PAD = 3
CELL_PIXELS = 220


def nearest_on_hr_grid(lr: Volume, hr: Volume, scale: Sequence[int]) -> Volume:
    """The LR volume repeated ``scale`` times per axis (output voxel ``j`` shows LR voxel ``j // scale``),
    cropped or edge-padded to the HR array shape, in the HR geometry."""
    sx, sy, sz = (int(s) for s in scale)
    array = np.repeat(np.repeat(np.repeat(lr.array, sz, axis=0), sy, axis=1), sx, axis=2)
    array = array[: hr.array.shape[0], : hr.array.shape[1], : hr.array.shape[2]]
    pad = [(0, max(0, n - m)) for n, m in zip(hr.array.shape, array.shape)]
    if any(after for _, after in pad):
        array = np.pad(array, pad, mode="edge")
    return hr.with_array(np.asarray(array, dtype=np.float32))


def default_box(shape_zyx: Sequence[int]) -> Box:
    """A centred cube with a quarter of the shortest side (at least 4 voxels), as ``(start, size)`` in ``(x, y, z)``."""
    side = max(4, min(shape_zyx) // 4)
    size = tuple(min(side, n) for n in shape_zyx[::-1])
    start = tuple((n - s) // 2 for n, s in zip(shape_zyx[::-1], size))
    return start, size


def check_box(box: Box, shape_zyx: Sequence[int]) -> Box:
    start, size = (tuple(int(v) for v in part) for part in box)
    if len(start) != 3 or len(size) != 3:
        raise ValueError(f"the figure box needs 3 start and 3 size values (x, y, z), got {box}")
    for s, n, total in zip(start, size, shape_zyx[::-1]):
        if s < 0 or n < 1 or s + n > total:
            raise ValueError(
                f"the figure box {start} + {size} (x, y, z) does not fit in the HR volume of {tuple(shape_zyx[::-1])} voxels"
            )
    return start, size


def _box_mask(shape_zyx: Sequence[int], box: Box) -> np.ndarray:
    (x0, y0, z0), (nx, ny, nz) = box
    mask = np.zeros(tuple(shape_zyx), dtype=np.uint8)
    mask[z0 : z0 + nz, y0 : y0 + ny, x0 : x0 + nx] = 1
    return mask


def _grey(image: np.ndarray, window: Tuple[float, float]) -> np.ndarray:
    low, high = window
    scaled = np.nan_to_num((np.asarray(image, dtype=np.float64) - low) / (high - low), nan=0.0)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def _pixel_mm(volume: Volume, view: str) -> Tuple[float, float]:
    """Size in mm of a display row and a display column step of ``view``."""
    _, (row_axis, _), (column_axis, _) = VIEWS[view]
    return volume.spacing[row_axis], volume.spacing[column_axis]


def _resize(image: Image.Image, rows_mm: float, columns_mm: float, mm_per_pixel: float) -> Image.Image:
    height = max(1, int(round(image.height * rows_mm / mm_per_pixel)))
    width = max(1, int(round(image.width * columns_mm / mm_per_pixel)))
    return image.resize((width, height), Image.NEAREST)


def render_comparison(
    hr: Volume,
    panels: Sequence[Tuple[str, Volume]],
    box: Optional[Box] = None,
    window: Optional[Tuple[float, float]] = None,
    title: Optional[str] = None,
    cell_pixels: int = CELL_PIXELS,
) -> Image.Image:
    """The figure as an RGB Pillow image. ``panels`` are ``(label, Volume)`` on the HR grid (same array
    shape as ``hr``), in column order; ``box`` is ``(start, size)`` in HR voxel indices ``(x, y, z)``."""
    if not panels:
        raise ValueError("the comparison figure needs at least one (label, Volume) panel")
    for label, volume in panels:
        if volume.array.shape != hr.array.shape:
            raise ValueError(f"panel {label!r} has shape {volume.array.shape}, expected the HR shape {hr.array.shape}")
    box = check_box(box, hr.array.shape) if box is not None else default_box(hr.array.shape)
    window = window or grey_window(hr.array)
    start, size = box
    centre_index = [s + (n - 1) / 2 for s, n in zip(start, size)]
    world_point = hr.index_to_world(np.floor(np.asarray(centre_index) + 0.5))
    box_views = slice_views(hr.with_array(_box_mask(hr.array.shape, box)), world_point)
    mm_per_pixel = min(hr.spacing)
    largest = max(n * s for n, s in zip(hr.size, hr.spacing)) / mm_per_pixel
    mm_per_pixel *= largest / cell_pixels  # the largest view spans cell_pixels

    font = ImageFont.load_default()
    rows: List[List[Image.Image]] = []
    row_labels: List[str] = []
    for view in VIEW_NAMES:
        rows_mm, columns_mm = _pixel_mm(hr, view)
        region = np.argwhere(box_views[view] > 0)
        (r0, c0), (r1, c1) = region.min(axis=0), region.max(axis=0) + 1
        main_row, zoom_row = [], []
        for _, volume in panels:
            image = slice_views(volume, world_point)[view]
            grey = _grey(image, window)
            main = _resize(Image.fromarray(grey).convert("RGB"), rows_mm, columns_mm, mm_per_pixel)
            fy, fx = main.height / grey.shape[0], main.width / grey.shape[1]
            ImageDraw.Draw(main).rectangle(
                [int(c0 * fx), int(r0 * fy), max(int(c0 * fx), int(c1 * fx) - 1), max(int(r0 * fy), int(r1 * fy) - 1)],
                outline=BOX_COLOUR,
            )
            main_row.append(main)
            crop = Image.fromarray(np.ascontiguousarray(grey[r0:r1, c0:c1])).convert("RGB")
            crop = _resize(crop, rows_mm, columns_mm, min(rows_mm, columns_mm))
            zoom = max(1, int(cell_pixels // max(crop.width, crop.height)))
            zoom_row.append(crop.resize((crop.width * zoom, crop.height * zoom), Image.NEAREST))
        rows.extend([main_row, zoom_row])
        row_labels.extend([view, f"{view} zoom"])

    labels = [label for label, _ in panels]
    text_height = max(font.getbbox(text)[3] for text in labels + row_labels + ["Ag"]) + 2 * PAD
    label_width = max(font.getbbox(text)[2] for text in row_labels) + 2 * PAD
    cell_width = max(max(image.width for row in rows for image in row), max(font.getbbox(t)[2] for t in labels) + 2 * PAD)
    row_heights = [max(image.height for image in row) for row in rows]
    title_height = text_height if title else 0
    width = label_width + GAP + len(labels) * (cell_width + GAP)
    if title:
        width = max(width, font.getbbox(title)[2] + 2 * PAD)
    height = title_height + text_height + sum(row_heights) + GAP * len(rows)
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PAD, PAD), title, fill=TEXT_COLOUR, font=font)
    for column, label in enumerate(labels):
        left = label_width + GAP + column * (cell_width + GAP)
        text_width = font.getbbox(label)[2]
        draw.text((left + (cell_width - text_width) // 2, title_height + PAD), label, fill=TEXT_COLOUR, font=font)
    top = title_height + text_height
    for row_label, row, row_height in zip(row_labels, rows, row_heights):
        draw.text((PAD, top + row_height // 2 - text_height // 2), row_label, fill=TEXT_COLOUR, font=font)
        for column, image in enumerate(row):
            left = label_width + GAP + column * (cell_width + GAP)
            canvas.paste(image, (left + (cell_width - image.width) // 2, top + (row_height - image.height) // 2))
        top += row_height + GAP
    return canvas


def comparison_figure(
    path: PathLike,
    lr: Volume,
    hr: Volume,
    methods: Sequence[Tuple[str, Volume]],
    scale: Sequence[int],
    box: Optional[Box] = None,
    title: Optional[str] = None,
    cell_pixels: int = CELL_PIXELS,
) -> str:
    """Write Figure 2 for one subject as a PNG (atomically; folders are created); returns the path.

    ``lr``: the degraded input; ``hr``: the reference; ``methods``: ``(name, super-resolved Volume)``,
    each cropped to the HR array shape here. ``box``: ``(start, size)`` in HR voxel indices ``(x, y, z)``
    (default: a centred cube, a quarter of the shortest side); the views pass through its centre.
    """
    panels = [("LR (nearest)", nearest_on_hr_grid(lr, hr, scale)), ("HR", hr)]
    for name, volume in methods:
        array = volume.array[: hr.array.shape[0], : hr.array.shape[1], : hr.array.shape[2]]
        if array.shape != hr.array.shape:
            raise ValueError(f"method {name!r} gives shape {volume.array.shape}, smaller than the HR shape {hr.array.shape}")
        panels.append((name, hr.with_array(np.asarray(array, dtype=np.float32))))
    image = render_comparison(hr, panels, box, title=title, cell_pixels=cell_pixels)
    return save_png_atomically(image, path)
