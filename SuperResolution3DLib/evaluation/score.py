"""Score volumes that already exist (any tool's output) against a reference scan: ``sr3d score``.

``sr3d evaluate`` degrades a high-resolution scan itself and runs the methods; this module takes outputs made
elsewhere (``sr3d predict`` on ``sr3d degrade``'s LR, another program, Slicer's resampling) and the reference they
should match, and scores them with the same metrics and data range (the reference's). An output is compared where
it lies on the reference's voxel lattice (same spacing and direction, its origin on a reference voxel: an ``--roi``
output or one with fewer slices past the last input slice scores on the voxels it has); any other grid is refused,
or resampled onto the reference's with cubic B-splines when asked (``resample``), scored where it covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume

LATTICE_TOLERANCE = 1e-3  # of a voxel: an output within this of the reference's lattice lies on it


@dataclass(frozen=True)
class ScoreSettings:
    """interior: reference voxels left out at each face; foreground_only: PSNR / SSIM inside
    ``metrics.foreground_mask`` of the reference; resample: outputs on another grid are resampled onto the
    reference's (cubic B-spline) instead of refused; mask: a label map on the reference's grid (e.g. a brain mask):
    only its non-zero voxels are scored."""

    interior: int = 0
    foreground_only: bool = False
    resample: bool = False
    mask: Optional[Volume] = None


def lattice_offset(output: Volume, reference: Volume) -> Optional[Tuple[int, int, int]]:
    """The reference voxel ``(x, y, z)`` that the output's voxel 0 sits on, where the output lies on the reference's
    voxel lattice (same spacing and direction); ``None`` where it does not."""
    if not np.allclose(output.spacing, reference.spacing, rtol=1e-5, atol=0):
        return None
    if not np.allclose(output.direction_matrix, reference.direction_matrix, atol=1e-5):
        return None
    offset = reference.world_to_index(output.origin)
    rounded = np.rint(offset)
    if np.max(np.abs(offset - rounded)) > LATTICE_TOLERANCE:
        return None
    return tuple(int(v) for v in rounded)


def on_reference_grid(output: Volume, reference: Volume, resample: bool) -> Tuple[np.ndarray, np.ndarray]:
    """``(values, covered)`` on the reference's grid: the output's values where it has them, and where that is."""
    values = np.zeros(reference.array.shape, dtype=np.float32)
    covered = np.zeros(reference.array.shape, dtype=bool)
    offset = lattice_offset(output, reference)
    if offset is not None:
        start = np.array(offset[::-1])  # [z, y, x]
        low = np.maximum(start, 0)
        high = np.minimum(start + np.array(output.array.shape), reference.array.shape)
        if np.any(high <= low):
            raise InputVolumeError("the output does not overlap the reference; score an output of the same scan")
        target = tuple(slice(a, b) for a, b in zip(low, high))
        source = tuple(slice(a - s, b - s) for a, b, s in zip(low, high, start))
        values[target] = output.array[source]
        covered[target] = True
        return values, covered
    if not resample:
        raise InputVolumeError(
            f"the output's grid (spacing {tuple(round(s, 4) for s in output.spacing)}, origin "
            f"{tuple(round(o, 3) for o in output.origin)}) is not the reference's (spacing "
            f"{tuple(round(s, 4) for s in reference.spacing)}, origin {tuple(round(o, 3) for o in reference.origin)}); "
            "add --resample to resample it onto the reference's grid (cubic B-spline) before scoring")
    from SuperResolution3DLib.data.degradation import resampled_onto

    array = resampled_onto(output, reference)
    covered = np.isfinite(array)
    if not covered.any():
        raise InputVolumeError("the output does not overlap the reference; score an output of the same scan")
    return np.where(covered, array, 0).astype(np.float32), covered


def mask_on_reference_grid(mask: Volume, reference: Volume) -> np.ndarray:
    """The non-zero voxels of a label map that lies on the reference's grid (same size and lattice)."""
    if mask.array.shape != reference.array.shape or lattice_offset(mask, reference) != (0, 0, 0):
        raise InputVolumeError(f"the mask ({'x'.join(map(str, mask.size))} voxels, spacing "
                               f"{tuple(round(s, 4) for s in mask.spacing)}) is not on the reference's grid "
                               f"({'x'.join(map(str, reference.size))}, {tuple(round(s, 4) for s in reference.spacing)}); "
                               "give a label map of the reference scan itself")
    return mask.array != 0


def score_volume(output: Volume, reference: Volume, settings: ScoreSettings = ScoreSettings()) -> Dict[str, float]:
    """PSNR and SSIM of ``output`` against ``reference`` (data range: the reference's, as ``sr3d evaluate``), on the
    reference voxels the output covers inside the interior (and foreground); ``covered``: their fraction."""
    from SuperResolution3DLib.evaluation.metrics import foreground_mask, psnr, ssim

    values, covered = on_reference_grid(output, reference, settings.resample)
    hr = reference.array.astype(np.float32)
    mask = covered.copy()
    border = int(settings.interior)
    if border > 0:
        inside = np.zeros_like(mask)
        inside[border:-border, border:-border, border:-border] = True
        mask &= inside
    if settings.foreground_only:
        mask &= foreground_mask(hr)
    if settings.mask is not None:
        mask &= mask_on_reference_grid(settings.mask, reference)
    if not mask.any():
        raise InputVolumeError("no reference voxel is left to score (the output's extent, --interior, --foreground "
                               "and --mask leave none); lower --interior")
    data_range = float(hr.max() - hr.min())
    # SSIM needs whole neighbourhoods: the box the output covers, with the mask inside it
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(covered))
    try:
        structure = ssim(values[box], hr[box], data_range=data_range, mask=mask[box])
    except ValueError:  # fewer than 11 voxels along an axis, or no window centre inside the mask
        structure = float("nan")
    return {"psnr": psnr(values, hr, data_range=data_range, mask=mask), "ssim": structure,
            "covered": float(mask.sum() / mask.size)}
