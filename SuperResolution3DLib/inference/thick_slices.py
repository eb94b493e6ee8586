"""Thick-slice inputs to isotropic outputs: find the thick axis, run a through-plane model along it.

The geometry rule (README, "Thick slices"):

1. The thick axis is the one ``core.anisotropy.find_thick_slices`` finds: its spacing is at least twice the finer
   and 1.5 times the coarser of the other two (``THICK_SLICE_RULE``); any of x, y, z, also with an oblique
   direction (index axes count). Its target spacing is the finer in-plane one (or ``slice_spacing``); with
   non-square pixels the other axes keep theirs.
2. The volume is turned (array axes and direction columns together, so that no voxel moves in the world) so
   that its thick axis is the network's z, super-resolved by the model's factor ``f`` along it (output voxel
   ``f * i`` on input voxel ``i``, same origin), and turned back.
3. When the ratio thick / in-plane is not ``f`` (e.g. 0.9 x 0.9 x 5 mm, ratio 5.56, with a 4x model), the
   result is resampled along the thick axis with cubic B-splines onto the finer in-plane spacing: same origin and
   direction, ``floor((f * n - 1) * (thick / f) / in-plane) + 1`` samples (the extent of the ``f``-times grid,
   which, as for every scale, reaches ``f - 1`` fine voxels past the last input slice), so the output has the
   in-plane spacing on every axis (square pixels) or on the thick axis and its finer in-plane neighbour.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Optional, Sequence, Tuple

import numpy as np

from SuperResolution3DLib.core.anisotropy import AXIS_NAMES, ThickSlices, find_thick_slices, finest_in_plane_axes
from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import resample_axis

CONSISTENCY_SHARE = 0.03  # of the progress bar, for making the output give back the slices (a few % of the time)


def axis_order_with_thick_last(axis: int) -> Tuple[int, int, int]:
    """``(x, y, z)`` index axes in the order that puts ``axis`` last (the network's z)."""
    return tuple([a for a in range(3) if a != axis] + [axis])


def permute_axes(volume: Volume, order_xyz: Sequence[int]) -> Volume:
    """The same voxels in the same world places with index axis ``k`` of the result = axis ``order_xyz[k]``."""
    array_axes = [2 - order_xyz[2 - k] for k in range(3)]
    matrix = volume.direction_matrix[:, list(order_xyz)]
    return Volume(np.ascontiguousarray(volume.array.transpose(array_axes)), tuple(volume.spacing[a] for a in order_xyz),
                  volume.origin, tuple(matrix.ravel()))


def inverse_order(order_xyz: Sequence[int]) -> Tuple[int, int, int]:
    inverse = [0, 0, 0]
    for k, a in enumerate(order_xyz):
        inverse[a] = k
    return tuple(inverse)


def is_through_plane(scale: Sequence[int]) -> bool:
    """A model of scale ``(1, 1, f)``: it super-resolves along z only."""
    scale = tuple(int(s) for s in scale)
    return scale[:2] == (1, 1) and scale[2] > 1


def _checked_thick_and_scale(volume: Volume, model, thick: Optional[ThickSlices]) -> Tuple[ThickSlices, Tuple[int, int, int]]:
    thick = thick or find_thick_slices(volume.spacing)
    if thick is None:
        raise ValueError(f"the input's spacing {tuple(volume.spacing)} has no thick-slice axis; use an isotropic model")
    scale = tuple(int(s) for s in model.scale)
    if not is_through_plane(scale):
        raise ValueError(f"a through-plane model has scale (1, 1, f), got {scale}")
    return thick, scale


def through_plane_model(model):
    """``model`` (``SRModel``, name or path) loaded; the name ``default`` stands for the bundled through-plane model,
    as for ``sr3d predict`` on a thick-slice file without a record of its slices, and an interpolation's name
    (``bspline``...) for that interpolation along the thick axis (``THROUGH_PLANE_INTERPOLATION_SCALE``)."""
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.inference.api import resolve_model
    from SuperResolution3DLib.models.files import interpolation_model

    if isinstance(model, str) and model in INTERPOLATION_MODES:
        return interpolation_model(model, THROUGH_PLANE_INTERPOLATION_SCALE)
    if isinstance(model, str) and model == "default":
        model = default_through_plane_model() or model
    return resolve_model(model)


def adapt_thick_slice_model(volume: Volume, model="default", adaptation=None, progress=None, cancel=None,
                            thick: Optional[ThickSlices] = None, input_name: str = "the input scan",
                            padding_below: Optional[float] = InferenceSettings.padding_below):
    """A through-plane ``model`` (``SRModel`` or name) fine-tuned on the thick-slice ``volume`` itself
    (``inference.adaptation``; ``adaptation``: ``AdaptationSettings`` or ``None`` for the defaults). Padding outside a
    CT's field of view (voxels below ``padding_below``, ``data.padding``) is filled with air first, as for inference."""
    from SuperResolution3DLib.data.padding import replace_padding
    from SuperResolution3DLib.inference.adaptation import adapt_to_scan

    model = through_plane_model(model)
    thick, _ = _checked_thick_and_scale(volume, model, thick)
    volume, _padding = replace_padding(volume, padding_below)
    order = axis_order_with_thick_last(thick.axis)
    turned = permute_axes(volume, order)
    # pairs only along the in-plane axes at the finer spacing: a coarser one does not hold the detail sought
    pair_axes = sorted(2 - order.index(a) for a in finest_in_plane_axes(volume.spacing, thick))
    describe = {"input": input_name, "size": list(volume.size), "spacing": [round(float(s), 4) for s in volume.spacing],
                "thick_axis": AXIS_NAMES[thick.axis], "ratio": round(thick.ratio, 3)}
    return adapt_to_scan(turned.array, model, adaptation, progress, cancel, describe, ratio=thick.ratio,
                         pair_axes=pair_axes)


def super_resolve_thick_slices(volume: Volume, model="default", settings=None, progress=None, cancel=None,
                               thick: Optional[ThickSlices] = None, adapt=False,
                               slice_spacing: Optional[float] = None) -> Volume:
    """Super-resolve a thick-slice ``volume`` with a through-plane ``model`` (scale ``(1, 1, f)``; ``default``: the
    bundled one) along its thick axis, then resample that axis onto the in-plane spacing where the ratio is not ``f``.

    ``slice_spacing``: the output's spacing along the thick axis instead (mm, finer than the input's slices), e.g.
    the spacing of the thin-slice scan the slices were made from (6 mm slices of a 1.5 mm scan: 1.5, which the
    ``f = 4`` model gives directly, without resampling).

    ``adapt``: ``True`` (default budget) or an ``AdaptationSettings`` first fine-tunes the model on ``volume``
    itself (``adapt_thick_slice_model``; its progress reports as the first half of ``progress``)."""
    from SuperResolution3DLib.core.config import AdaptationSettings
    from SuperResolution3DLib.data.padding import replace_padding, restore_padding
    from SuperResolution3DLib.inference.api import clamp_to_input_range, super_resolve

    model = through_plane_model(model)
    thick, scale = _checked_thick_and_scale(volume, model, thick)
    measured = volume
    volume, padding = replace_padding(measured, (settings or InferenceSettings()).padding_below)
    target = thick.output_slice_spacing(slice_spacing)
    if adapt:
        adaptation = adapt if isinstance(adapt, AdaptationSettings) else AdaptationSettings()
        report = progress
        first_half = (lambda fraction, message: report(0.5 * fraction, message)) if report else None
        model = adapt_thick_slice_model(volume, model, adaptation, first_half, cancel, thick)
        progress = (lambda fraction, message: report(0.5 + 0.5 * fraction, message)) if report else None
    order = axis_order_with_thick_last(thick.axis)
    turned = permute_axes(volume, order)
    if settings is not None and settings.roi_start is not None:  # the region of interest turns with the axes
        settings = replace(settings, roi_start=tuple(settings.roi_start[a] for a in order),
                           roi_size=tuple(settings.roi_size[a] for a in order))
    share = CONSISTENCY_SHARE if progress is not None and consistency_applies(model, settings) else 0.0
    network_progress = (lambda fraction, message: progress((1 - share) * fraction, message)) if share else progress
    result = super_resolve(turned, model, settings, network_progress, cancel)
    report = (lambda fraction: progress(1 - share + share * fraction, "making the output give back the slices")) if share else None
    result = consistent_with_slices(result, turned, model, settings, report, cancel)
    result = permute_axes(result, inverse_order(order))
    if not math.isclose(thick.thickness / target, scale[2], rel_tol=1e-3):
        result = resample_axis(result, thick.axis, target)
        clamp_to_input_range(result.array, volume.array, (settings or InferenceSettings()).clamp)
    if padding is not None:
        restore_padding(result, measured, padding)
    return result


def consistency_applies(model, settings: Optional[InferenceSettings]) -> bool:
    """Whether ``consistent_with_slices`` changes a through-plane ``model``'s output: a learned model and a declared
    slice profile."""
    from SuperResolution3DLib.networks import InterpolationUpsampler3D

    return settings is not None and settings.slice_profile is not None and not isinstance(model.network, InterpolationUpsampler3D)


def consistent_with_slices(result: Volume, slices: Volume, model, settings: Optional[InferenceSettings],
                           progress=None, cancel=None) -> Volume:
    """``result``, a through-plane ``model``'s output on ``slices`` (both with the thick axis along z, the
    region of interest of ``settings`` applied to ``result``), made to give back the slices under the profile that
    ``settings.slice_profile`` declares (``data.slice_profiles.make_slices_consistent``), then clamped as the
    network's output is. Unchanged where no profile is declared, for an interpolation, and where voxels are not
    finite (with a warning). ``progress(fraction)`` as rows are done; ``cancel`` stops it as it stops inference."""
    from SuperResolution3DLib.data.slice_profiles import make_slices_consistent
    from SuperResolution3DLib.inference.api import clamp_to_input_range, raise_if_cancelled

    if not consistency_applies(model, settings):
        return result
    measured = slices.array
    if settings.roi_start is not None:
        (x0, y0, z0), (sx, sy, sz) = settings.roi_start, settings.roi_size
        measured = measured[z0 : z0 + sz, y0 : y0 + sy, x0 : x0 + sx]
    if not (np.isfinite(result.array).all() and np.isfinite(measured).all()):
        warnings.warn("the output was not made consistent with the slices: the input has NaN or infinite voxels")
        return result

    def on_rows(fraction: float) -> None:
        raise_if_cancelled(cancel)
        if progress is not None:
            progress(fraction)

    array = make_slices_consistent(result.array, measured, int(model.scale[2]), settings.slice_profile,
                                   settings.slice_thickness, on_rows=on_rows)
    clamp_to_input_range(array, slices.array, settings.clamp)
    return result.with_array(array)


def check_output_slice_spacing(slice_spacing: float, thick: Optional[ThickSlices], through_plane: bool) -> None:
    """An output slice spacing (``--output-slice-spacing``) needs a thick-slice input, a through-plane model and a
    spacing finer than the input's slices; else ``InputVolumeError`` says which is missing."""
    from SuperResolution3DLib.core.errors import InputVolumeError

    if thick is None or not through_plane:
        raise InputVolumeError("an output slice spacing (--output-slice-spacing) is for a thick-slice input super-resolved "
                               "by a through-plane model; this one goes to an isotropic model: leave it out")
    try:
        thick.output_slice_spacing(slice_spacing)
    except ValueError as error:
        raise InputVolumeError(f"--output-slice-spacing: {error}") from None


# An interpolation baseline named for a thick-slice input interpolates along the thick axis only, by the bundled
# through-plane model's factor and then onto the in-plane spacing as that model's output is: the same output grid.
THROUGH_PLANE_INTERPOLATION_SCALE = (1, 1, 4)


def interpolation_scale_for_input(thick: Optional[ThickSlices]) -> Tuple[int, int, int]:
    """The ``(x, y, z)`` scale of an interpolation baseline (``trilinear``, ``bspline``, ``nearest``) for an input
    with these thick slices (``None``: near-isotropic, 4 x 4 x 4 as for every isotropic model)."""
    from SuperResolution3DLib.core.scale import DEFAULT_SCALE

    return THROUGH_PLANE_INTERPOLATION_SCALE if thick is not None else tuple(DEFAULT_SCALE)


def slice_thickness_note(recorded, thick: ThickSlices, card) -> Optional[str]:
    """A note where the scan records slices thicker or thinner, for their spacing, than the through-plane model
    trained on (``recorded``: ``data.acquisition.RecordedSliceProfile`` or ``None``), else ``None``: what ``sr3d
    predict`` and the Slicer panel say."""
    from SuperResolution3DLib.inference.adaptation import trained_slice_thickness

    if recorded is None or recorded.thickness_mm is None or recorded.axis not in (None, thick.axis):
        return None
    relative = recorded.thickness_mm / thick.thickness
    low, high = trained_slice_thickness(card)
    if low <= relative <= high:
        return None
    how = "overlap" if relative > high else "leave gaps between them"
    return (f"note: the slices are {recorded.thickness_mm:g} mm thick, {thick.thickness:g} mm apart ({relative:.2f} slice "
            f"spacings, {recorded.thickness_source or recorded.source}): they {how}, and the model trained on {low:g}-"
            f"{high:g}; adapting it to the scan (--adapt, the panel's 'Adapt to this scan') learns slices like these")


def model_for_input(requested: str, spacing: Optional[Sequence[float]], recorded_profile: Optional[str] = None,
                    direction: Optional[Sequence[float]] = None) -> Tuple[str, Optional[ThickSlices]]:
    """``(model name, ThickSlices or None)``: with ``default``, a thick-slice input goes to the bundled through-plane
    model when there is one, or to the k-space one when ``recorded_profile`` (``data.acquisition``: what the file
    records) is ``sinc``; any other model is used as given. The one rule of ``sr3d predict`` and the Slicer panel."""
    thick = find_thick_slices(spacing, direction) if spacing is not None else None
    if thick is None or requested != "default":
        return requested, thick
    return default_through_plane_model(recorded_profile) or requested, thick


def default_through_plane_model(recorded_profile: Optional[str] = None) -> Optional[str]:
    """The bundled model ``default`` stands for on thick slices: the k-space one for slices recorded as ``sinc``, else
    the integrating one (``None`` where neither is bundled). Used by ``sr3d predict`` and ``sr3d evaluate``."""
    from SuperResolution3DLib.models import card

    bundled = card.list_bundled_models()
    if recorded_profile == "sinc" and card.KSPACE_THICK_SLICE_MODEL_NAME in bundled:
        return card.KSPACE_THICK_SLICE_MODEL_NAME
    return card.DEFAULT_THICK_SLICE_MODEL_NAME if card.DEFAULT_THICK_SLICE_MODEL_NAME in bundled else None


def super_resolve_any(volume: Volume, model, settings=None, progress=None, thick: Optional[ThickSlices] = None,
                      slice_spacing: Optional[float] = None) -> Volume:
    """A through-plane model along the input's thick axis (``slice_spacing``: as for ``super_resolve_thick_slices``),
    any other model with ``super_resolve``."""
    if is_through_plane(model.scale):
        return super_resolve_thick_slices(volume, model, settings, progress, thick=thick, slice_spacing=slice_spacing)
    from SuperResolution3DLib.inference.api import super_resolve

    return super_resolve(volume, model, settings, progress=progress)
