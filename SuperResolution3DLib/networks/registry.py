"""Build any network of the project from a JSON-able config dict, so that a model file describes its network."""

from __future__ import annotations

from typing import Any, Callable, Dict

from torch import nn

from SuperResolution3DLib.core.scale import config_scale

NETWORKS: Dict[str, Callable[..., nn.Module]] = {}


def register_network(name: str, builder: Callable[..., nn.Module]) -> None:
    NETWORKS[name] = builder


def build_network(config: Dict[str, Any]) -> nn.Module:
    """``{"name": "RRDBNet3D", "num_feat": 32, ..., "scale": [4, 4, 4]}`` -> an ``nn.Module``."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; known networks: {sorted(NETWORKS)}")
    try:
        return NETWORKS[name](**config)
    except TypeError as error:
        raise ValueError(f"bad settings for network {name!r}: {error}") from None


def network_scale(config: Dict[str, Any]) -> tuple:
    """The ``(x, y, z)`` integer upscaling factor a network config describes (``core.scale.config_scale``)."""
    return config_scale(config)
