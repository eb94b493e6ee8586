"""Padding outside a CT scanner's field of view: found, filled for the network, put back in the output.

A CT scanner reconstructs a disc (its field of view) and stores the voxels outside it with a padding value far
below air (DICOM Pixel Padding Value: -2000, -2048 or -3024 HU are common), so that a viewer shows them black.
To the network that region is a step of 1000-2000 HU around the anatomy that no training scan had, and the
percentile normalisation stretches to it; to any interpolation it is an edge that rings into the field of
view. On the real head CT of the test set given such padding, the through-plane model lost 0.5 dB inside the
field of view on its 4x thicker slices, the isotropic default 2.4 dB on a 4x coarser scan (docs/results.md, "CT
padding outside the field of view").

So voxels below ``below`` (``InferenceSettings.padding_below``, -1500 HU: no tissue and no air measures below
-1024 HU) are treated like non-finite ones: the network sees them filled with the scan's darkest measured
values (air), and each output voxel whose nearest input voxel is padding gets that voxel's value back, so a
padded scan stays padded where it was and HU stay HU.
"""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from SuperResolution3DLib.core.volume import Volume

FILL_PERCENTILE = 0.5  # of the measured voxels: air in a CT, robust to a few dark noise voxels
# Padding is a region (the corners of a disc in a square take 21% of each slice); a few dark voxels (ringing of a
# degraded edge, a metal streak) are left to the network.
MIN_PADDING_FRACTION = 0.01


def replace_padding(volume: Volume, below: Optional[float]) -> Tuple[Volume, Optional[np.ndarray]]:
    """``(volume with its padding filled, padding mask [z, y, x])``, or ``(volume, None)`` where no voxel is below
    ``below`` (or ``below`` is ``None``: padding is not looked for), fewer than ``MIN_PADDING_FRACTION`` of them are or
    all are. A warning says how much was found."""
    if below is None:
        return volume, None
    array = np.asarray(volume.array)
    padding = array < below
    if padding.mean() < MIN_PADDING_FRACTION or padding.all():
        return volume, None
    measured = array[~padding]
    measured = measured[np.isfinite(measured)]
    if measured.size == 0:
        return volume, None
    fill = float(np.percentile(measured, FILL_PERCENTILE))
    warnings.warn(f"{padding.mean():.1%} of the input's voxels are below {below:g} (padding outside a CT scanner's "
                  f"field of view); the network sees them as {fill:g} and the output keeps their values", stacklevel=2)
    return volume.with_voxels_set(padding, fill), padding


def restore_padding(output: Volume, volume: Volume, padding: np.ndarray) -> None:
    """Give each ``output`` voxel whose nearest ``volume`` voxel is padding that voxel's value (in place, one
    output slice at a time, so no second output-sized array is made)."""
    z_index, y_index, x_index = volume.nearest_voxel_indices(output)
    plane = np.ix_(y_index, x_index)
    for k, z in enumerate(z_index):
        flagged = padding[z][plane]
        if flagged.any():
            output.array[k][flagged] = np.asarray(volume.array[z])[plane][flagged]
