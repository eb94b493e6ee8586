"""Compute devices: the one rule that turns ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a device.

``check_device_name`` needs no torch (fast refusals); ``select_device`` imports torch to see the GPUs.
"""

from __future__ import annotations

import re

from SuperResolution3DLib.core.errors import DeviceError
from SuperResolution3DLib.core.vocabulary import DEVICE_HELP

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str) -> str:
    """The normalised device name, or ``DeviceError`` when it is not one of the accepted forms."""
    normalised = str(name).strip().lower()
    if not _DEVICE_PATTERN.match(normalised):
        raise DeviceError(f"unknown device {name!r}; use {DEVICE_HELP}")
    return normalised


def select_device(name: str = "auto"):
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as asked.

    Raises ``DeviceError`` when CUDA is asked for but is not available.
    """
    import torch

    name = check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} asked for, but CUDA is not available on this machine; use --device cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s); "
            "use --device cuda:0 or --device cpu"
        )
    return device
