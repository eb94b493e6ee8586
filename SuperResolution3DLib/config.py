"""All settings of SuperResolution3D in one place, as dataclasses (training configs load from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple


@dataclass
class InferenceSettings:
    """How ``sliding_window_super_resolve`` runs.

    window: LR-grid window size per axis ``(x, y, z)`` (or one int); the output window is ``window * scale``.
    overlap: fraction of a window shared with its neighbour (0 <= overlap < 1).
    batch: windows per network call.
    device: ``auto`` (CUDA when available, else CPU), ``cuda``, ``cuda:1`` or ``cpu``.
    precision: ``fp32``; ``bf16`` / ``fp16`` autocast on CUDA only.
    roi_start / roi_size: optional index-space box ``(x, y, z)`` of the input to super-resolve.
    memory_limit_bytes: refuse when the estimated peak exceeds this (``None``: available RAM).
    """

    window: Sequence[int] = (32, 32, 32)
    overlap: float = 0.125
    batch: int = 1
    device: str = "auto"
    precision: str = "fp32"
    roi_start: Optional[Tuple[int, int, int]] = None
    roi_size: Optional[Tuple[int, int, int]] = None
    memory_limit_bytes: Optional[int] = None
