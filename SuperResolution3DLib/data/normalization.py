"""Intensity normalisation recorded in a model file, applied before the network and inverted after.

Kinds (a JSON-able dict in the model file):

* ``{"kind": "percentile", "lower": 0.5, "upper": 99.5}``: MRI; the volume's percentiles map to 0 and 1.
* ``{"kind": "minmax"}``: the volume's minimum and maximum map to 0 and 1.
* ``{"kind": "window", "low": -1024, "high": 3000}``: CT; a fixed HU window maps to 0 and 1.

Values outside the reference range are not clipped on the way in, so the inverse brings the
network output back to the input's units (HU stay HU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np

DEFAULT_NORMALIZATION: Dict[str, Any] = {"kind": "percentile", "lower": 0.5, "upper": 99.5}


@dataclass(frozen=True)
class IntensityMapping:
    """``normalised = (value - offset) / scale`` and back."""

    offset: float
    scale: float

    def forward(self, array: np.ndarray) -> np.ndarray:
        return ((np.asarray(array, dtype=np.float32) - self.offset) / self.scale).astype(np.float32)

    def inverse(self, array: np.ndarray) -> np.ndarray:
        return (np.asarray(array, dtype=np.float32) * self.scale + self.offset).astype(np.float32)


def validate_normalization(config: Dict[str, Any]) -> Dict[str, Any]:
    kind = config.get("kind")
    if kind == "percentile":
        lower, upper = float(config.get("lower", 0.5)), float(config.get("upper", 99.5))
        if not 0 <= lower < upper <= 100:
            raise ValueError(f"percentile normalisation needs 0 <= lower < upper <= 100, got {lower}, {upper}")
        return {"kind": kind, "lower": lower, "upper": upper}
    if kind == "minmax":
        return {"kind": kind}
    if kind == "window":
        low, high = float(config["low"]), float(config["high"])
        if not low < high:
            raise ValueError(f"window normalisation needs low < high, got {low}, {high}")
        return {"kind": kind, "low": low, "high": high}
    raise ValueError(f"unknown normalisation kind {kind!r}; use percentile, minmax or window")


def fit_intensity_mapping(array: np.ndarray, config: Dict[str, Any] = DEFAULT_NORMALIZATION) -> IntensityMapping:
    """The mapping that ``config`` prescribes for this volume (statistics taken from ``array``)."""
    config = validate_normalization(config)
    values = np.asarray(array)
    if config["kind"] == "window":
        low, high = config["low"], config["high"]
    elif config["kind"] == "minmax":
        low, high = float(values.min()), float(values.max())
    else:
        low, high = (float(v) for v in np.percentile(values, [config["lower"], config["upper"]]))
        if high <= low:  # a mostly constant volume: fall back to its full range
            low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return IntensityMapping(offset=low, scale=high - low)
