"""Numeric precision: the names users give, what the hardware supports, and the autocast context.

Names: ``fp32``; ``bf16`` and ``fp16`` (autocast); ``auto`` picks ``bf16`` where the hardware computes it
natively (CUDA GPUs with bf16, CPUs with AVX512-BF16 or AMX-BF16) and ``fp32`` elsewhere. On a CPU without
native bf16, bf16 is emulated and was measured about 45x slower than fp32, so ``auto`` never picks it there.
This module imports torch only inside functions, so that names can be checked before heavy imports.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

PRECISIONS = ("fp32", "bf16", "fp16")
PRECISION_CHOICES = ("auto",) + PRECISIONS


def check_precision_name(name: str, allow_auto: bool = True) -> str:
    """Return ``name`` if it is a known precision, else raise ``ValueError`` naming the choices."""
    choices = PRECISION_CHOICES if allow_auto else PRECISIONS
    if name not in choices:
        raise ValueError(f"unknown precision {name!r}; choose one of {', '.join(choices)}")
    return name


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve_precision(name: str, device_type: str) -> str:
    """``auto`` -> ``bf16`` where the device computes it natively, else ``fp32``; other names unchanged.

    ``fp16`` on a CPU is refused (no CPU computes it natively for convolutions).
    """
    check_precision_name(name)
    if name == "auto":
        if device_type == "cuda":
            import torch

            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device_type == "cpu" and cpu_has_native_bf16() else "fp32"
    if name == "fp16" and device_type != "cuda":
        raise ValueError("precision fp16 needs a CUDA GPU; on the CPU use fp32 or bf16")
    return name


def describe_precision(name: str, device_type: str) -> str:
    """The precision ``name`` resolves to on ``device_type``, and why, for the log: ``bf16 (auto: ...)``."""
    resolved = resolve_precision(name, device_type)
    if name != "auto":
        return f"{resolved} (asked for)"
    if device_type == "cuda":
        return f"{resolved} (auto: {'the GPU computes bf16' if resolved == 'bf16' else 'no bf16 on this GPU'})"
    native = sorted({"avx512_bf16", "amx_bf16"} & cpu_flags())
    reason = f"this CPU has {' and '.join(native)}" if native else "no native bf16 on this CPU; --precision bf16 forces it"
    return f"{resolved} (auto: {reason})"


def autocast(device_type: str, precision: str):
    """The autocast context for a resolved precision (``fp32``: no autocast)."""
    if precision == "fp32":
        return nullcontext()
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device_type=device_type, dtype=dtype)
