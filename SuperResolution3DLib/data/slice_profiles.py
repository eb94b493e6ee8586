"""Thick-slice degradation: slices as scanners make them, along one axis.

A thick slice integrates the tissue over its slice profile: a rectangle as wide as the slice thickness (an
ideal 2D slice or a thick CT reconstruction), a trapezoid (a real RF pulse: a flat top and linear edges) or
a Gaussian of a given FWHM. A 3D acquisition with fewer partitions than in-plane lines has no slice profile of
that kind: its through-plane resolution is k-space truncation, an ideal low-pass (``sinc``) whose kept band is
``1 / thickness`` cycles per HR voxel wide (signed: unlike ``kspace_degrade`` it takes no magnitude, so the
ringing next to a sharp edge may dip below zero). Slices are ``factor`` HR voxels apart; the thickness may
differ from that spacing (thickness < spacing: gaps between slices; thickness > spacing: overlapping slices).

``thick_slice_degrade`` convolves the HR volume with the profile along the axis and keeps every ``factor``-th
voxel from index 0, so the LR grid relation is the one of ``degradation.py``: LR voxel ``i`` sits on HR voxel
``factor * i``, same origin and direction, ``factor`` times the spacing along the axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from SuperResolution3DLib.core.vocabulary import SLICE_PROFILES
from SuperResolution3DLib.core.volume import Volume

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
SUBSAMPLES = 16  # sub-voxel samples per HR voxel when integrating a profile
SINC_REACH = 8  # a sinc kernel reaches this many thicknesses either side (its lobes decay as 1 / distance)


def profile_function(profile: str, thickness: float, ramp: float = 0.25):
    """The profile as a function of the distance from the slice centre (HR voxels), peak 1.

    ``thickness`` is the full width (rect), the full width at half maximum (gaussian, trapezoid), or the
    period whose frequency is the cut-off (sinc: the band ``[-1 / (2 thickness), 1 / (2 thickness)]`` cycles per
    voxel is kept, as k-space truncation by ``thickness`` keeps it; its FWHM is 1.21 x ``thickness``); ``ramp`` is
    the trapezoid's edge width as a fraction of its thickness.
    """
    if profile not in SLICE_PROFILES:
        raise ValueError(f"unknown slice profile {profile!r}; choose one of {', '.join(SLICE_PROFILES)}")
    if not thickness > 0:
        raise ValueError(f"slice thickness must be positive, got {thickness}")
    if profile == "rect":
        return lambda d: (np.abs(d) <= thickness / 2).astype(np.float64)
    if profile == "gaussian":
        sigma = thickness * FWHM_TO_SIGMA
        return lambda d: np.exp(-0.5 * (d / sigma) ** 2)
    if profile == "sinc":
        return lambda d: np.sinc(d / thickness)
    edge = ramp * thickness
    return lambda d: np.clip((thickness / 2 + edge / 2 - np.abs(d)) / max(edge, 1e-9), 0.0, 1.0)


def slice_profile_kernel(profile: str, thickness: float, ramp: float = 0.25) -> np.ndarray:
    """The profile integrated over each HR voxel (a box of width 1 around integer offsets), normalised to
    sum 1; odd length, centred. A sinc acts on the voxels' samples, as k-space truncation does: it is sampled at
    the integer offsets instead."""
    function = profile_function(profile, thickness, ramp)
    if profile == "sinc":
        half = int(math.ceil(SINC_REACH * thickness))
        weights = function(np.arange(-half, half + 1, dtype=np.float64))
        return weights / weights.sum()
    reach = thickness * (3.0 if profile == "gaussian" else 0.5 + ramp) + 1
    half = int(math.ceil(reach))
    offsets = np.arange(-half, half + 1)
    fine = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    weights = function(offsets[:, None] + fine[None, :]).mean(axis=1)
    weights = np.trim_zeros(weights) if weights.sum() > 0 else np.ones(1)
    if len(weights) % 2 == 0:  # keep the kernel centred on a voxel
        weights = np.append(weights, 0.0)
    return weights / weights.sum()


def convolve_along_axis(array: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """``array`` convolved with the 1D ``kernel`` along ``axis``, edges mirrored (float32)."""
    half = len(kernel) // 2
    moved = np.moveaxis(np.asarray(array, dtype=np.float32), axis, 0)
    padded = np.pad(moved, [(half, half)] + [(0, 0)] * (moved.ndim - 1), mode="symmetric")
    out = np.zeros_like(moved)
    for k, weight in enumerate(kernel):
        if weight:
            out += np.float32(weight) * padded[k : k + moved.shape[0]]
    return np.moveaxis(out, 0, axis)


def thick_slice_degrade(
    volume: Volume, axis: int = 2, factor: int = 4, profile: str = "gaussian", thickness: Optional[float] = None,
    ramp: float = 0.25,
) -> Volume:
    """Thick slices along ``axis`` (``0, 1, 2`` = ``x, y, z``), ``factor`` HR voxels apart.

    ``thickness`` in HR voxels (default ``factor``: contiguous slices); the result keeps the origin and
    direction and has ``factor`` times the spacing along ``axis``.
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (x, y, z), got {axis}")
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    factor = int(factor)
    kernel = slice_profile_kernel(profile, float(thickness if thickness is not None else factor), ramp)
    array_axis = 2 - axis  # arrays are [z, y, x]
    blurred = convolve_along_axis(volume.array, kernel, array_axis)
    index = [slice(None)] * 3
    index[array_axis] = slice(None, None, factor)
    spacing = list(volume.spacing)
    spacing[axis] *= factor
    return Volume(np.ascontiguousarray(blurred[tuple(index)]), tuple(spacing), volume.origin, volume.direction)


CONSISTENCY_ITERATIONS = 3  # back-projection steps; the gain had levelled off by the third (docs/results.md)
CONSISTENCY_ROWS = 32  # rows of the volume back-projected at a time


def make_slices_consistent(array: np.ndarray, slices: np.ndarray, factor: int, profile: str, thickness: float,
                           iterations: int = CONSISTENCY_ITERATIONS, on_rows=None) -> np.ndarray:
    """``array`` (a super-resolved ``[z, y, x]`` volume, slices along axis 0) changed so that, made into thick slices
    with ``profile`` of ``thickness`` slice spacings (``thick_slice_degrade``'s rule: slice ``i`` on voxel
    ``factor * i``), it gives back the measured ``slices`` (``[n, y, x]``): iterative back-projection,
    ``x += factor * K^T (slices - S K x)`` with ``K`` the profile's kernel and ``S`` the keep-every-``factor``-th
    sampling. Only the part of ``array`` the slices see changes; a wrong profile would sharpen or blur the output
    wrongly, so this is for slices whose profile is known, not estimated (docs/results.md, "Output consistent with
    the slices"). ``on_rows(fraction done)`` is called after each block of rows (it may raise to stop)."""
    if array.ndim != 3 or slices.ndim != 3 or array.shape[1:] != slices.shape[1:]:
        raise ValueError(f"slices {slices.shape} do not match the volume {array.shape} in-plane")
    count = min(slices.shape[0], -(-array.shape[0] // factor))
    kernel = slice_profile_kernel(profile, factor * float(thickness))
    result = np.array(array, dtype=np.float32, copy=True)
    for start in range(0, result.shape[1], CONSISTENCY_ROWS):  # columns along z are independent: bounded memory
        rows = slice(start, start + CONSISTENCY_ROWS)
        block, measured = result[:, rows], np.asarray(slices[:count, rows], dtype=np.float32)
        for _ in range(int(iterations)):
            spread = np.zeros_like(block)
            spread[::factor][:count] = measured - convolve_along_axis(block, kernel, 0)[::factor][:count]
            block += np.float32(factor) * convolve_along_axis(spread, kernel[::-1], 0)
        if on_rows is not None:
            on_rows(min(1.0, (start + CONSISTENCY_ROWS) / result.shape[1]))
    return result


# Estimating the slice profile of a thick-slice scan ---------------------------------------------------------------
RELATIVE_THICKNESSES = tuple(np.round(np.arange(0.6, 1.61, 0.1), 2))
SPECTRUM_BINS = 12  # frequency bins (0 to Nyquist, DC left out) on which spectra are compared


@dataclass(frozen=True)
class SliceProfileEstimate:
    """The profile (``SLICE_PROFILES``) and thickness (a multiple of the slice spacing) that best explain a scan's
    through-plane spectrum, with the score (mean squared log-power difference; lower is better)."""

    profile: str
    relative_thickness: float
    score: float

    def describe(self) -> str:
        return f"{self.profile} slice profile, {self.relative_thickness:g} x the slice spacing thick"


def _axis_spectrum(array: np.ndarray, axis: int) -> np.ndarray:
    """Mean power spectrum along ``axis`` (Hann window, mean removed per line) on ``SPECTRUM_BINS`` bins of the
    frequencies between DC and Nyquist, normalised to sum 1."""
    moved = np.moveaxis(np.asarray(array, dtype=np.float64), axis, -1)
    lines = moved.reshape(-1, moved.shape[-1])
    lines = lines - lines.mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(lines * np.hanning(lines.shape[1]), axis=1)) ** 2).mean(axis=0)[1:]
    frequencies = np.fft.rfftfreq(lines.shape[1])[1:]
    edges = np.linspace(0.0, 0.5, SPECTRUM_BINS + 1)
    binned = np.array([power[(frequencies > lo) & (frequencies <= hi)].mean()
                       if np.any((frequencies > lo) & (frequencies <= hi)) else np.nan
                       for lo, hi in zip(edges[:-1], edges[1:])])
    return binned / np.nansum(binned)


def estimate_slice_profile(array: np.ndarray, factor: int, thick_array_axis: int = 0,
                           profiles=SLICE_PROFILES, relative_thicknesses=RELATIVE_THICKNESSES) -> SliceProfileEstimate:
    """The slice profile of a thick-slice ``array`` (``[z, y, x]``; slices along ``thick_array_axis``, ``factor``
    times the in-plane spacing apart), found from the scan itself.

    The through-plane power spectrum is compared with the spectra of the in-plane axes made into thick slices
    by each candidate (profile x thickness): the candidate whose in-plane spectra match best explains how the
    scanner made the slices (tissue is about as detailed along every axis; ESPRESO's idea, by exhaustive
    search instead of a learnt profile).
    """
    if array.ndim != 3 or array.shape[thick_array_axis] < 8:
        raise ValueError(f"a slice profile is estimated from a 3D scan with at least 8 slices, got shape {array.shape}")
    target = _axis_spectrum(array, thick_array_axis)
    in_plane = [a for a in range(3) if a != thick_array_axis]
    best = None
    for profile in profiles:
        for relative in relative_thicknesses:
            kernel = slice_profile_kernel(profile, factor * float(relative))
            spectra = []
            for axis in in_plane:
                if array.shape[axis] < 8 * factor:
                    continue
                index = [slice(None)] * 3
                index[axis] = slice(None, None, factor)
                spectra.append(_axis_spectrum(convolve_along_axis(array, kernel, axis)[tuple(index)], axis))
            if not spectra:
                raise ValueError(f"the in-plane axes of shape {array.shape} are too short to estimate a slice profile")
            candidate = np.mean(spectra, axis=0)
            valid = np.isfinite(candidate) & np.isfinite(target) & (candidate > 0) & (target > 0)
            score = float(np.mean((np.log(candidate[valid]) - np.log(target[valid])) ** 2))
            if best is None or score < best.score:
                best = SliceProfileEstimate(profile, float(relative), score)
    return best
