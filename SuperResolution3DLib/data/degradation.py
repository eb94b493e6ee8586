"""k-space degradation: how low-resolution training inputs are made from high-resolution volumes.

1. 3D FFT of the HR volume, zero frequency shifted to the centre.
2. Keep the central ``1/scale`` of the spectrum along each axis, zero the rest (same array size).
3. Inverse shift, inverse 3D FFT, then back to a real image: the magnitude for non-negative volumes
   (MRI magnitude images, the paper's choice), the real part for volumes with negative values (CT in
   HU, any signed data), because the magnitude folds negative values: air at -1000 HU would come back
   near +1000 HU, like bone.
4. Nearest-neighbour downsampling: LR voxel ``i`` is the band-limited HR volume at HR voxel ``scale * i``.

Grid relation: the LR grid is a sub-grid of the HR grid. It has the HR origin and direction,
``scale`` times the HR spacing and ``ceil(n / scale)`` voxels per axis. A super-resolution of
the LR volume therefore lands on the HR grid (plus up to ``scale - 1`` extra voxels at the far
end of each axis, which comparisons crop away).
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from SuperResolution3DLib.core.anisotropy import resampled_length
from SuperResolution3DLib.core.scale import ScaleLike, as_scale
from SuperResolution3DLib.core.volume import Volume

def kspace_band_mask(shape_zyx: Sequence[int], scale: ScaleLike) -> np.ndarray:
    """Boolean mask of the kept central ``1/scale`` band of an fftshift-ed spectrum (``[z, y, x]``)."""
    mask = np.ones(tuple(shape_zyx), dtype=bool)
    for axis, (n, s) in enumerate(zip(shape_zyx, as_scale(scale)[::-1])):
        keep = max(1, n // s)
        start = n // 2 - keep // 2
        axis_mask = np.zeros(n, dtype=bool)
        axis_mask[start : start + keep] = True
        shape = [1, 1, 1]
        shape[axis] = n
        mask &= axis_mask.reshape(shape)
    return mask


def kspace_truncate(array: np.ndarray, scale: ScaleLike) -> np.ndarray:
    """Steps 1-3 before the magnitude: the complex image whose spectrum is the kept band only."""
    spectrum = np.fft.fftshift(np.fft.fftn(np.asarray(array, dtype=np.float64)))
    spectrum *= kspace_band_mask(spectrum.shape, scale)
    return np.fft.ifftn(np.fft.ifftshift(spectrum))


def kspace_lowpass(array: np.ndarray, scale: ScaleLike) -> np.ndarray:
    """Steps 1-3: keep the central ``1/scale`` of the spectrum along each axis; back to a real image.

    ``array`` is ``[z, y, x]``, ``scale`` is ``(x, y, z)``. Returns float32 of the same shape: the
    magnitude of the band-limited image when ``array`` has no negative value (MRI magnitude data, as in
    the paper), its real part otherwise (signed data such as CT in HU keeps its sign).
    """
    band_limited = kspace_truncate(array, scale)
    signed = bool(np.min(array) < 0)
    return (band_limited.real if signed else np.abs(band_limited)).astype(np.float32)


def nearest_downsample(array: np.ndarray, scale: ScaleLike) -> np.ndarray:
    """Step 4: keep every ``scale``-th voxel starting at index 0 (``[z, y, x]`` array, ``(x, y, z)`` scale)."""
    sx, sy, sz = as_scale(scale)
    return np.ascontiguousarray(array[::sz, ::sy, ::sx])


def kspace_degrade(volume: Union[Volume, np.ndarray], scale: ScaleLike = 4) -> Volume:
    """Degrade an HR volume into its LR counterpart with its geometry.

    Accepts a ``Volume`` (or a bare ``[z, y, x]`` array, taken as 1 mm, origin 0, identity
    direction). Returns a ``Volume`` with ``ceil(n / scale)`` voxels per axis, ``scale`` times
    the spacing and the same origin and direction, so it overlays the HR volume in world space.
    """
    if not isinstance(volume, Volume):
        volume = Volume(np.asarray(volume))
    scale = as_scale(scale)
    if volume.array.ndim != 3:
        raise ValueError(f"kspace_degrade needs a 3D volume, got an array of shape {volume.array.shape}")
    lr = nearest_downsample(kspace_lowpass(volume.array, scale), scale)
    spacing = tuple(np.asarray(volume.spacing) * np.asarray(scale, dtype=float))
    return Volume(lr, spacing, volume.origin, volume.direction)


def resample_axis_spectrally(array: np.ndarray, axis: int, length: int) -> np.ndarray:
    """``array`` with index ``axis`` resampled onto ``length`` samples over the same extent, band-limited: the
    axis is mirrored (even extension, so its two ends do not wrap into each other), its spectrum cut or zero-padded
    to ``length``'s frequencies and transformed back. Stretches anatomy along one axis (``length`` above the axis'
    size) or compresses it with the blur a coarser sampling would measure. Intensities (the mean) are kept."""
    moved = np.moveaxis(np.asarray(array, dtype=np.float64), axis, 0)
    size = moved.shape[0]
    spectrum = np.fft.rfft(np.concatenate([moved, moved[::-1]], axis=0), axis=0)
    kept = np.zeros((length + 1,) + moved.shape[1:], dtype=complex)
    count = min(size, length) + 1
    kept[:count] = spectrum[:count]
    resampled = np.fft.irfft(kept, n=2 * length, axis=0)[:length] * (length / size)
    return np.ascontiguousarray(np.moveaxis(resampled, 0, axis), dtype=np.float32)


def fourier_resample(array: np.ndarray, factor: float) -> np.ndarray:
    """The volume a scan with ``factor`` times larger voxels would give: the central ``1/factor`` of the spectrum
    (per axis, ``round(n / factor)`` frequencies) transformed back on a grid of that many voxels, real part,
    intensities kept (the mean is unchanged). ``factor`` 1 returns the array as float32."""
    array = np.asarray(array, dtype=np.float32)
    if factor == 1.0:
        return array
    shape = tuple(max(2, int(round(n / factor))) for n in array.shape)
    spectrum = np.fft.fftshift(np.fft.fftn(array.astype(np.float64)))
    centre = [slice(n // 2 - m // 2, n // 2 - m // 2 + m) for n, m in zip(array.shape, shape)]
    kept = np.fft.ifftshift(spectrum[tuple(centre)])
    return (np.fft.ifftn(kept).real * (np.prod(shape) / np.prod(array.shape))).astype(np.float32)


def resample_axis(volume: Volume, axis: int, spacing: float) -> Volume:
    """Cubic B-spline resampling of index ``axis`` onto ``spacing`` mm, origin and direction kept, covering the
    same extent (``floor((n - 1) * old / new) + 1`` samples)."""
    import SimpleITK as sitk

    old = volume.spacing[axis]
    size = list(volume.size)
    size[axis] = resampled_length(size[axis], old, spacing)
    new_spacing = list(volume.spacing)
    new_spacing[axis] = spacing
    image = volume.to_sitk()
    resampled = sitk.Resample(image, size, sitk.Transform(), sitk.sitkBSpline, volume.origin, new_spacing,
                              volume.direction, 0.0, sitk.sitkFloat32)
    return Volume.from_sitk(resampled)


def resampled_onto(volume: Volume, grid: Volume, transform=None) -> np.ndarray:
    """``volume``'s values on ``grid``'s voxels (``[z, y, x]`` float32; cubic B-spline; ``transform``: a SimpleITK
    transform from ``grid``'s world points to ``volume``'s, e.g. a registration's), NaN where it does not reach."""
    import SimpleITK as sitk

    image = sitk.Resample(volume.to_sitk(), grid.to_sitk(), transform or sitk.Transform(), sitk.sitkBSpline,
                          float("nan"), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(image)
