"""Networks of SuperResolution3D. ``build_network(config)`` builds any of them from a config dict."""

from SuperResolution3DLib.networks.blocks import RRDB3D, ResidualDenseBlock3D
from SuperResolution3DLib.networks.interpolation import INTERPOLATION_MODES, InterpolationUpsampler3D
from SuperResolution3DLib.networks.registry import NETWORKS, build_network, network_scale, register_network
from SuperResolution3DLib.networks.rrdbnet3d import RRDBNet3D
from SuperResolution3DLib.networks.discriminator3d import UNetDiscriminator3D
from SuperResolution3DLib.networks.blocks import PixelShuffle3D, PixelShuffleUpsampler3D
from SuperResolution3DLib.networks.dcsrn3d import DCSRN3D
from SuperResolution3DLib.networks.rcan3d import RCAN3D
from SuperResolution3DLib.networks.srresnet3d import SRResNet3D

register_network("RRDBNet3D", RRDBNet3D)
register_network("interpolation", InterpolationUpsampler3D)
register_network("UNetDiscriminator3D", UNetDiscriminator3D)
register_network("SRResNet3D", SRResNet3D)
register_network("RCAN3D", RCAN3D)
register_network("DCSRN3D", DCSRN3D)

__all__ = [
    "RRDB3D",
    "ResidualDenseBlock3D",
    "RRDBNet3D",
    "UNetDiscriminator3D",
    "SRResNet3D",
    "RCAN3D",
    "DCSRN3D",
    "PixelShuffle3D",
    "PixelShuffleUpsampler3D",
    "InterpolationUpsampler3D",
    "INTERPOLATION_MODES",
    "NETWORKS",
    "build_network",
    "network_scale",
    "register_network",
]
