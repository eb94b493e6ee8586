"""Model files: weights as safetensors plus a JSON model card, checksum verified on load.

TO BE IMPLEMENTED (interface fixed here, other modules rely on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from torch import nn


@dataclass
class SRModel:
    """A loaded super-resolution model.

    network: the ``nn.Module`` (eval mode, CPU) built from ``card["network"]``.
    scale: integer upscaling per axis ``(x, y, z)``.
    normalization: the intensity normalisation config (see ``normalization.py``).
    card: the whole JSON model card (network config, scale, normalisation, training data,
          training settings, metrics, package version, weights checksum).
    """

    network: nn.Module
    scale: Tuple[int, int, int]
    normalization: Dict[str, Any]
    card: Dict[str, Any] = field(default_factory=dict)
