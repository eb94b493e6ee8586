"""All settings of SuperResolution3D in one place, as dataclasses (training configs load from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple, Union


@dataclass
class InferenceSettings:
    """How ``super_resolve`` / ``sliding_window_super_resolve`` run.

    window: LR-grid window size per axis ``(x, y, z)`` (or one int); the output window is ``window * scale``.
        Clipped to the volume size.
    overlap: fraction of a window shared with its neighbour (0 <= overlap < 1); rounded so that the
        overlap is a whole number of LR voxels.
    context: extra LR voxels the network sees on each side of a window (cropped from its output), so that
        the zero padding of the convolutions is kept away from the blended part of the window.
        Costs ``((window + 2 * context) / window) ** 3`` times the compute.
    batch: windows per network call.
    device: ``auto`` (CUDA when available, else CPU), ``cuda``, ``cuda:1`` or ``cpu``.
    precision: ``fp32``; ``bf16`` / ``fp16`` autocast on CUDA only.
    roi_start / roi_size: optional index-space box ``(x, y, z)`` of the input to super-resolve.
    roi_margin: LR voxels around the region of interest that are super-resolved and then cropped away,
        so that the region's result matches the same region of a full-volume result.
    memory_limit_bytes: refuse when the estimated peak host memory exceeds this (``None``: available RAM).
    """

    window: Union[int, Sequence[int]] = (32, 32, 32)
    overlap: float = 0.125
    context: int = 4
    batch: int = 1
    device: str = "auto"
    precision: str = "fp32"
    roi_start: Optional[Tuple[int, int, int]] = None
    roi_size: Optional[Tuple[int, int, int]] = None
    roi_margin: int = 8
    memory_limit_bytes: Optional[int] = None
