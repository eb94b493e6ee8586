"""Compute devices: the one rule that turns ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a device.

``check_device_name`` and ``check_device_present`` need no torch (fast refusals); ``select_device``
imports torch to see the GPUs.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Optional

from SuperResolution3DLib.core.errors import DeviceError
from SuperResolution3DLib.core.vocabulary import DEVICE_HELP

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str) -> str:
    """The normalised device name, or ``DeviceError`` when it is not one of the accepted forms."""
    normalised = str(name).strip().lower()
    if not _DEVICE_PATTERN.match(normalised):
        raise DeviceError(f"unknown device {name!r}; use {DEVICE_HELP}")
    return normalised


def visible_nvidia_devices(dev: Path = Path("/dev")) -> Optional[int]:
    """How many NVIDIA GPUs the driver exposes (``/dev/nvidiaN``), limited by ``CUDA_VISIBLE_DEVICES``
    when that is a plain list of indices; ``None`` where this cannot be told without torch (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    count = sum(1 for entry in dev.glob("nvidia*") if re.fullmatch(r"nvidia\d+", entry.name))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*)*)?", visible):
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


def check_device_present(name: str, dev: Path = Path("/dev")) -> str:
    """``check_device_name``, then refuse a CUDA device that this machine plainly lacks (no torch import:
    a refusal in milliseconds). ``select_device`` still checks with torch where this cannot tell."""
    name = check_device_name(name)
    if not name.startswith("cuda"):
        return name
    count = visible_nvidia_devices(dev)
    if count == 0:
        raise DeviceError(f"device {name!r} asked for, but this machine has no visible NVIDIA GPU; use --device cpu or auto")
    index = int(name.split(":")[1]) if ":" in name else 0
    if count is not None and index >= count:
        raise DeviceError(
            f"device {name!r} asked for, but this machine has {count} CUDA device(s); use --device cuda:0 or --device cpu"
        )
    return name


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


def available_cpu_count(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (containers), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def set_inference_threads() -> int:
    """Set torch's CPU threads to ``available_cpu_count()`` unless ``OMP_NUM_THREADS`` says otherwise; the count."""
    import torch

    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads()
    threads = available_cpu_count()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
