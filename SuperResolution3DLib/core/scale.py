"""Scale factors: the one parser of ``4``, ``"1,1,4"``, ``"4x4x4"`` or ``(1, 1, 4)`` into ``(x, y, z)``.

Every per-axis triple of the project (scale, spacing, window, ROI) is ``(x, y, z)``; arrays are ``[z, y, x]``.
No torch here: the Slicer module and the CLI check scales before heavy imports.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

ScaleLike = Union[int, str, Sequence[int]]
DEFAULT_SCALE: Tuple[int, int, int] = (4, 4, 4)


def parse_int_triple(value: Any, what: str = "scale", minimum: int = 1) -> Tuple[int, int, int]:
    """``4``, ``"1,1,4"``, ``"4x4x4"``, ``[4]`` or ``(1, 1, 4)`` -> ``(x, y, z)`` integers ``>= minimum``.

    Raises ``ValueError`` naming ``what`` when the value is not one or three integers.
    """
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parts = [value]
    else:
        try:
            parts = list(value)
        except TypeError:
            raise ValueError(f"{what} must be one or three integers (x, y, z), got {value!r}") from None
    try:
        numbers = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be integers, got {value!r}") from None
    if any(int(p) != float(p) for p in parts if not isinstance(p, str)):
        raise ValueError(f"{what} must be integers, got {value!r}")
    if len(numbers) == 1:
        numbers = numbers * 3
    if len(numbers) != 3 or min(numbers) < minimum:
        raise ValueError(f"{what} must be one or three integers >= {minimum} (x, y, z), got {value!r}")
    return numbers


def as_scale(scale: ScaleLike) -> Tuple[int, int, int]:
    """Normalise ``4``, ``"1,1,4"`` or ``(1, 1, 4)`` into an ``(x, y, z)`` tuple of positive integers."""
    return parse_int_triple(scale, "scale", minimum=1)


def config_scale(config: Optional[Dict[str, Any]]) -> Tuple[int, int, int]:
    """The ``(x, y, z)`` upscaling a network config describes (its ``scale``, default 4 x 4 x 4)."""
    scale = config.get("scale") if isinstance(config, dict) else None
    return as_scale(DEFAULT_SCALE if scale is None else scale)


def thick_axis_of(scale: Sequence[int]) -> Optional[int]:
    """The one index axis a scale enlarges (``(1, 1, 6)`` -> 2), or ``None`` when it enlarges none or several."""
    enlarged = [axis for axis, factor in enumerate(scale) if int(factor) > 1]
    return enlarged[0] if len(enlarged) == 1 else None
