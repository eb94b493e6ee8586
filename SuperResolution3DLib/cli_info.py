"""``sr3d info MODEL|INPUT``: a model's card, or what ``sr3d predict`` would do with an input volume (a dry run: the
slices, what the file records of them, the model it would pick and the output's grid), without running a network."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

import numpy as np

from SuperResolution3DLib.core.paths import VOLUME_SUFFIXES

GIGABYTE = 1e9


def is_volume_input(text: str) -> bool:
    """A path ``sr3d info`` describes as an input (an image file name, or a folder), not a model."""
    return Path(text).expanduser().is_dir() or text.lower().endswith(VOLUME_SUFFIXES)


def command_info(args: argparse.Namespace) -> int:
    if is_volume_input(str(args.model)):
        for line in predict_plan(args.model, args.series, args.output_slice_spacing):
            print(line)
        return 0
    if args.series is not None or args.output_slice_spacing is not None:
        from SuperResolution3DLib.core.errors import InputVolumeError

        raise InputVolumeError("--series and --output-slice-spacing describe an input volume; sr3d info of a model "
                               "prints its card")
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.models.card import find_model_files, format_model_card, interpolation_card, verify_weights_checksum

    if str(args.model) in INTERPOLATION_MODES:
        card = interpolation_card(str(args.model))
    else:
        _, card, weights_path = find_model_files(args.model)
        verify_weights_checksum(weights_path, card["weights_sha256"])
    print(format_model_card(card))
    return 0


def predict_plan(path, series: Optional[str] = None, slice_spacing: Optional[float] = None) -> List[str]:
    """What ``sr3d predict PATH OUT`` (no ``--model``) would do, in lines: the input's grid and voxel type, its slices
    and their plane, what the file records of them, the model and the output's grid and size."""
    from SuperResolution3DLib.core.anisotropy import THICK_SLICE_RULE
    from SuperResolution3DLib.data.acquisition import recorded_slice_profile
    from SuperResolution3DLib.data.io import input_pixel_type, inspect_input, read_volume_grid
    from SuperResolution3DLib.inference.thick_slices import check_output_slice_spacing, model_for_input
    from SuperResolution3DLib.models.card import card_scale, find_model_files

    inspect_input(path, series)
    (size, spacing, direction), _volume = read_volume_grid(path, series)
    recorded = recorded_slice_profile(path, series)
    model_name, thick = model_for_input("default", spacing, recorded.profile if recorded else None, direction)
    _, card, _ = find_model_files(model_name)
    scale = card_scale(card)
    lines = [f"{Path(str(path)).name}: {'x'.join(map(str, size))} voxels, spacing "
             f"{' x '.join(f'{s:g}' for s in spacing)} mm, {np.dtype(input_pixel_type(path, series)).name}"]
    lines.append(f"{thick.summary()} (ratio {thick.ratio:.2f})" if thick is not None
                 else f"not a thick-slice scan (that needs {THICK_SLICE_RULE})")
    if recorded is not None:
        lines.append(f"recorded: {recorded_text(recorded)}")
    if thick is not None and tuple(scale[:2]) == (1, 1):
        if slice_spacing is not None:
            check_output_slice_spacing(slice_spacing, thick, True)
        output = list(size)
        output[thick.axis] = thick.output_length(size[thick.axis], scale[2], slice_spacing)
        what = thick.processing(scale[2], slice_spacing)
    else:
        output = [n * f for n, f in zip(size, scale)]
        what = f"{'x'.join(map(str, scale))} along every axis"
    voxels = int(np.prod(output))
    lines.append(f"sr3d predict would use {card.get('name', model_name)}: {what}")
    lines.append(f"output: {'x'.join(map(str, output))} voxels ({size_text(voxels * 4)} as float32)")
    return lines


def size_text(size_bytes: int) -> str:
    return f"{size_bytes / GIGABYTE:.1f} GB" if size_bytes >= GIGABYTE else f"{size_bytes / 1e6:.1f} MB"


def recorded_text(recorded) -> str:
    """What a ``data.acquisition.RecordedSliceProfile`` says, in words."""
    parts = [f"{recorded.profile} slices" if recorded.profile and recorded.profile != "integrating"
             else "slices that integrate over a profile" if recorded.profile else "slices"]
    if recorded.thickness_mm:
        parts.append(f"{recorded.thickness_mm:g} mm thick")
    return f"{', '.join(parts)} ({recorded.thickness_source or recorded.source})"
