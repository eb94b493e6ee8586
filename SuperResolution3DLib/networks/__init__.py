"""Networks of SuperResolution3D. ``build_network(config)`` builds any of them from a config dict."""

from .blocks import RRDB3D, ResidualDenseBlock3D
from .interpolation import INTERPOLATION_MODES, InterpolationUpsampler3D
from .registry import NETWORKS, build_network, network_scale, register_network
from .rrdbnet3d import RRDBNet3D

register_network("RRDBNet3D", RRDBNet3D)
register_network("interpolation", InterpolationUpsampler3D)

__all__ = [
    "RRDB3D",
    "ResidualDenseBlock3D",
    "RRDBNet3D",
    "InterpolationUpsampler3D",
    "INTERPOLATION_MODES",
    "NETWORKS",
    "build_network",
    "network_scale",
    "register_network",
]
