"""Several thick-slice stacks of one session (an MRI protocol's axial, coronal and sagittal 2D series) fused into one
isotropic volume: ``sr3d fuse``.

Each stack is super-resolved along its own thick axis (``thick_slices``), resampled with cubic B-splines onto one
output grid (the first stack's field of view, or the union of all stacks', and the first stack's direction, isotropic
at the finest in-plane spacing of the stacks),
and the stacks are combined frequency by frequency: a stack measured the frequencies along its slice direction up to
its slices' Nyquist frequency (``1 / (2 x slice spacing)`` cycles per mm) and every frequency in its slices' plane,
so at each frequency the stacks that measured it count with weight 1 and the others with ``FUSION_EPSILON``, chosen
on the validation volumes (docs/results.md, "Several stacks of one session"). Where a stack does not reach, the mean
of the stacks that do stands in for it. The stacks must lie where their headers say (one session, no motion between
them), unless ``register`` aligns each to the first (rigid, mutual information) first.
"""

from __future__ import annotations

import warnings
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from SuperResolution3DLib.core.anisotropy import find_thick_slices
from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.vocabulary import FUSION_FIELDS_OF_VIEW
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import resampled_onto

FUSION_EPSILON = 0.01  # weight of a stack at frequencies it did not measure (docs/results.md)
SR_SHARE = 0.95  # of the progress bar, for super-resolving the stacks
# Two stacks of one contrast, placed where they belong, correlate at 0.98-0.99 once smoothed (test MRI and head CT
# crops, also with 5% noise of their own), 3 degrees of motion 0.97 / 0.81, 10 degrees 0.88 / 0.42, an inverted
# contrast -0.99 (docs/results.md, "Several stacks of one session").
MIN_STACK_AGREEMENT = 0.9
AGREEMENT_SMOOTHING = 0.7  # the Gaussian's sigma, in thickest slice spacings


def check_stacks(stacks: Sequence[Volume]) -> None:
    """At least two stacks, each with a thick-slice axis; else ``InputVolumeError`` saying which."""
    if len(stacks) < 2:
        raise InputVolumeError("fusing needs at least two stacks of the same session; for one, use sr3d predict")
    for index, stack in enumerate(stacks, start=1):
        if find_thick_slices(stack.spacing) is None:
            raise InputVolumeError(f"stack {index} (spacing {tuple(round(s, 3) for s in stack.spacing)}) has no thick-slice "
                                   "axis; sr3d fuse combines thick-slice stacks (use sr3d predict for an isotropic scan)")
        if index > 1 and not overlaps(stacks[0], stack):
            raise InputVolumeError(f"stack {index} does not overlap the first stack's field of view; fuse stacks of the "
                                   "same scan session")


def overlaps(first: Volume, other: Volume) -> bool:
    """Whether ``other``'s box of voxels, seen in ``first``'s voxel indices, meets ``first``'s box (a bounding-box test:
    before any super-resolution is spent on a stack from elsewhere)."""
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in other.size], indexing="ij")).reshape(3, -1).T
    inside = np.array([first.world_to_index(other.index_to_world(corner)) for corner in corners])
    low, high = inside.min(axis=0), inside.max(axis=0)
    return bool(np.all(high >= -0.5) and np.all(low <= np.array(first.size) - 0.5))


def output_grid(first: Volume, stacks: Sequence[Volume], spacing: Optional[float] = None,
                covering: Sequence[Volume] = ()) -> Volume:
    """An empty volume on the output grid: ``first``'s (the first stack super-resolved) direction and field of view,
    grown to cover the voxels of the ``covering`` volumes too (the other stacks super-resolved, for the union of the
    fields of view), ``spacing`` mm (default: the finest in-plane spacing of the ``stacks``) on every axis."""
    if spacing is None:
        spacing = min(find_thick_slices(stack.spacing).in_plane for stack in stacks)
    if not spacing > 0:
        raise InputVolumeError(f"the output spacing must be positive, got {spacing}")
    axes = first.direction_matrix
    corners = [np.zeros(3), (np.array(first.size) - 1) * np.array(first.spacing)]  # along first's axes, in mm
    for volume in covering:
        for corner in np.array(np.meshgrid(*[(0, n - 1) for n in volume.size], indexing="ij")).reshape(3, -1).T:
            corners.append(axes.T @ (volume.index_to_world(corner) - np.asarray(first.origin)))
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    size = tuple(int(n) for n in np.floor((high - low) / spacing + 1e-6).astype(int) + 1)
    origin = tuple(float(v) for v in np.asarray(first.origin) + axes @ low)
    return Volume(np.zeros(size[::-1], dtype=np.float32), (float(spacing),) * 3, origin, first.direction)


def register_rigidly(fixed: Volume, moving: Volume):
    """The rigid transform (SimpleITK ``Euler3DTransform``) from ``fixed``'s world points to the matching points of
    ``moving`` (a stack acquired after the patient moved), by Mattes mutual information over three resolutions (8, 4
    and 2 times coarser: a fraction of a millimetre is enough for fusing, and a full-resolution level would cost
    minutes on a large volume); a fixed sampling seed, so a run can be repeated."""
    import SimpleITK as sitk

    fixed_image = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    moving_image = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.2, 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200,
                                                    relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([8, 4, 2])
    method.SetSmoothingSigmasPerLevel([4.0, 2.0, 1.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    found = method.Execute(fixed_image, moving_image)
    return sitk.Euler3DTransform(found.GetNthTransform(0) if hasattr(found, "GetNthTransform") else found)


def rigidly_moved(volume: Volume, degrees=(0.0, 0.0, 0.0), shift_mm=(0.0, 0.0, 0.0)) -> Volume:
    """``volume`` as its own grid would measure it after the patient turned by ``degrees`` (about x, y and z through
    the volume's centre) and moved by ``shift_mm``: the motion between two series that ``register_rigidly`` undoes, for
    tests and measurements (cubic B-spline, 0 outside)."""
    import SimpleITK as sitk

    motion = sitk.Euler3DTransform()
    motion.SetCenter([float(v) for v in volume.index_to_world(np.array(volume.size) / 2)])
    motion.SetRotation(*(float(np.deg2rad(d)) for d in degrees))
    motion.SetTranslation([float(v) for v in shift_mm])
    return volume.with_array(np.nan_to_num(resampled_onto(volume, volume, motion), nan=0.0))


def describe_rigid(transform) -> str:
    """``"3.9 degrees, 4.1 mm"``: the rotation angle and the shift of the centre."""
    matrix = np.asarray(transform.GetMatrix()).reshape(3, 3)
    angle = np.degrees(np.arccos(np.clip((np.trace(matrix) - 1) / 2, -1.0, 1.0)))
    return f"{angle:.1f} degrees, {np.linalg.norm(transform.GetTranslation()):.1f} mm"


def measured_band_weight(grid: Volume, stack: Volume, epsilon: float = FUSION_EPSILON, transform=None) -> np.ndarray:
    """Per frequency of ``grid``'s real FFT: 1 where ``stack`` measured it (its component along the stack's slice
    direction within the slices' Nyquist band), ``epsilon`` elsewhere. ``transform``: as for ``data.degradation.resampled_onto``
    (its rotation turns the slice direction into ``grid``'s frame)."""
    thick = find_thick_slices(stack.spacing)
    across = stack.direction_matrix[:, thick.axis]  # the stack's slice direction in world space
    if transform is not None:
        across = np.asarray(transform.GetMatrix()).reshape(3, 3).T @ across
    cosines = grid.direction_matrix.T @ across  # along the grid's x, y, z axes
    shape = grid.array.shape  # [z, y, x]
    fz = np.fft.fftfreq(shape[0])[:, None, None] / grid.spacing[2]
    fy = np.fft.fftfreq(shape[1])[None, :, None] / grid.spacing[1]
    fx = np.fft.rfftfreq(shape[2])[None, None, :] / grid.spacing[0]
    along = np.abs(cosines[0] * fx + cosines[1] * fy + cosines[2] * fz)  # cycles per mm across the slices
    # the slices' own Nyquist frequency counts as measured; the tolerance keeps a header's rounding (a direction off
    # by 1e-8 after a NIfTI round trip) from moving the frequencies on that edge to the other side
    return np.where(along <= (0.5 / thick.thickness) * (1 + 1e-4), 1.0, epsilon).astype(np.float32)


def stack_agreement(reference: np.ndarray, array: np.ndarray, sigma_voxels: float) -> float:
    """Pearson correlation of two stacks' outputs on one grid where both reach, after a Gaussian blur of
    ``sigma_voxels`` (it smooths away the detail one stack measured and the other did not): near 1 for stacks of
    one contrast that lie where their headers say; 1.0 where they share too few voxels to tell."""
    import SimpleITK as sitk

    both = np.isfinite(reference) & np.isfinite(array)
    if both.sum() < 64:
        return 1.0

    def smooth(values):
        image = sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(values.astype(np.float32)), float(sigma_voxels))
        return sitk.GetArrayFromImage(image)

    weight = smooth(both.astype(np.float32))
    inside = both & (weight > 0.99)  # away from where either stack ends
    if inside.sum() < 64:
        inside = both
    first, other = (smooth(np.where(both, a, 0.0))[inside] / weight[inside] for a in (reference, array))
    if first.std() == 0 or other.std() == 0:
        return 1.0
    return float(np.corrcoef(first, other)[0, 1])


def warn_where_stacks_disagree(arrays: Sequence[np.ndarray], stacks: Sequence[Volume], grid: Volume) -> None:
    """A warning for each stack whose output does not follow the first one's (``stack_agreement`` below
    ``MIN_STACK_AGREEMENT``, smoothed to the thickest slices): another contrast, or motion between the series."""
    thickest = max(find_thick_slices(stack.spacing).thickness for stack in stacks)
    sigma = AGREEMENT_SMOOTHING * thickest / min(grid.spacing)
    step = max(1, int(sigma // 2))  # every step-th voxel: the blur leaves nothing finer (and big grids stay cheap)
    for index in range(1, len(arrays)):
        agreement = stack_agreement(arrays[0][::step, ::step, ::step], arrays[index][::step, ::step, ::step], sigma / step)
        if agreement < MIN_STACK_AGREEMENT:
            warnings.warn(f"stack {index + 1} agrees poorly with stack 1 (correlation {agreement:.2f} where both reach, "
                          "smoothed): fuse stacks of one contrast (not a T1 with a T2) from one session; if the patient "
                          "moved between the series, use --register", UserWarning, stacklevel=3)


def fuse_on_grid(arrays: Sequence[np.ndarray], weights: Iterable[np.ndarray]) -> np.ndarray:
    """The frequency-weighted mean of ``arrays`` (one grid; ``weights``: one ``measured_band_weight`` each, taken one
    at a time), NaN voxels of one replaced by the others' mean there. About 35 bytes per output voxel at the peak."""
    total = np.zeros(arrays[0].shape, dtype=np.float32)
    count = np.zeros(arrays[0].shape, dtype=np.uint8)
    for array in arrays:
        finite = np.isfinite(array)
        total += np.where(finite, array, np.float32(0))
        count += finite
    anywhere = count > 0
    mean = np.where(anywhere, total / np.maximum(count, 1), np.float32(0)).astype(np.float32)
    del total, count
    numerator, denominator = 0.0, 0.0
    for array, weight in zip(arrays, weights):
        spectrum = np.fft.rfftn(np.where(np.isfinite(array), array, mean)).astype(np.complex64)
        numerator = numerator + weight * spectrum
        denominator = denominator + weight
    fused = np.fft.irfftn(numerator / denominator, s=arrays[0].shape, axes=(0, 1, 2)).astype(np.float32)
    fused[~anywhere] = np.nan
    return fused


def fuse_stacks(stacks: Sequence[Volume], model="default",
                settings: Union[None, InferenceSettings, Sequence[InferenceSettings]] = None,
                spacing: Optional[float] = None, progress=None, cancel=None, register: bool = False,
                log=None, field_of_view: str = "first") -> Volume:
    """One isotropic volume from thick-slice ``stacks`` of one session (see the module docstring).

    ``model``: a through-plane model (``SRModel``, name or path; ``default``: the bundled one) or an interpolation
    (``bspline``, ``trilinear``, ``nearest``: the same fusion without a network, a baseline). ``settings``: one
    ``InferenceSettings`` or one per stack (e.g. each with the ``slice_profile`` its file records, so that each
    stack's output gives back its slices). ``spacing``: the output's voxel size in mm (default: the finest in-plane
    spacing). Values are clamped to the stacks' range as the first settings say (``clamp``). ``register``: each stack's
    output is first aligned to the first one's (``register_rigidly``: the patient moved between the series), and
    ``log`` told how far it moved. ``field_of_view``: the output covers the ``first`` stack's field of view, or the
    ``union`` of all stacks' (voxels that no stack reaches get the stacks' minimum)."""
    from SuperResolution3DLib.inference.api import clamp_to_input_range, raise_if_cancelled
    from SuperResolution3DLib.inference.thick_slices import (is_through_plane, super_resolve_thick_slices,
                                                             through_plane_model)

    check_stacks(stacks)
    if field_of_view not in FUSION_FIELDS_OF_VIEW:
        raise InputVolumeError(f"unknown field of view {field_of_view!r}; choose one of "
                               f"{', '.join(FUSION_FIELDS_OF_VIEW)}")
    per_stack = list(settings) if isinstance(settings, (list, tuple)) else [settings or InferenceSettings()] * len(stacks)
    if len(per_stack) != len(stacks):
        raise ValueError(f"{len(per_stack)} settings for {len(stacks)} stacks")
    model = through_plane_model(model)
    if not is_through_plane(model.scale):
        raise InputVolumeError(f"fusing needs a through-plane model (scale 1,1,f); this one has scale {tuple(model.scale)}")
    outputs = []
    for index, stack in enumerate(stacks):
        share = (lambda k: lambda fraction, message: progress(SR_SHARE * (k + fraction) / len(stacks),
                                                              f"stack {k + 1}/{len(stacks)}: {message}"))(index)
        outputs.append(super_resolve_thick_slices(stack, model, per_stack[index], share if progress else None, cancel))
    grid = output_grid(outputs[0], stacks, spacing, outputs[1:] if field_of_view == "union" else ())
    if progress:
        progress(SR_SHARE, "fusing the stacks")
    transforms = [None] * len(outputs)
    for index in range(1, len(outputs) if register else 1):
        raise_if_cancelled(cancel)
        if progress:
            progress(SR_SHARE, f"registering stack {index + 1} to stack 1")
        transforms[index] = register_rigidly(outputs[0], outputs[index])
        if log:
            log(f"stack {index + 1} registered to stack 1: {describe_rigid(transforms[index])}")
    arrays = []
    for index, (output, transform) in enumerate(zip(outputs, transforms), start=1):
        raise_if_cancelled(cancel)
        array = resampled_onto(output, grid, transform)
        if not np.isfinite(array).any():
            raise InputVolumeError(f"stack {index} does not overlap the first stack's field of view; fuse stacks of "
                                   "the same scan session")
        arrays.append(array)
    warn_where_stacks_disagree(arrays, stacks, grid)
    fused = fuse_on_grid(arrays, (measured_band_weight(grid, stack, transform=transform)
                                  for stack, transform in zip(stacks, transforms)))
    value_range = np.array([min(np.nanmin(s.array) for s in stacks), max(np.nanmax(s.array) for s in stacks)])
    if field_of_view == "union":
        fused[np.isnan(fused)] = value_range[0]  # where no stack reaches (the union's corners)
    clamp_to_input_range(fused, value_range, per_stack[0].clamp)
    if progress:
        progress(1.0, "fused")
    return grid.with_array(fused)
