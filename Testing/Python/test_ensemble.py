"""Tests of the mirror self-ensemble (SuperResolution3DLib.inference.ensemble) and its route through super_resolve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.inference.api import super_resolve
from SuperResolution3DLib.inference.ensemble import MIRROR_PASSES, mirror_ensemble, mirror_flips, mirrored_pass
from SuperResolution3DLib.models.files import SRModel
from SuperResolution3DLib.networks import InterpolationUpsampler3D, RRDBNet3D
from SuperResolution3DLib.core.volume import Volume

CPU = dict(device="cpu", precision="fp32")
SCALES = [(4, 4, 4), (1, 1, 4), (2, 3, 4)]  # (x, y, z)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lopsided_network(scale_xyz) -> RRDBNet3D:
    """A small random RRDB without blocks (a few LR voxels of reach): nothing in it is mirror-symmetric."""
    torch.manual_seed(0)
    return RRDBNet3D(num_feat=4, num_grow_ch=4, num_block=0, scale=scale_xyz, global_skip="trilinear").eval()


def interior(array: torch.Tensor, scale_zyx, lr_voxels: int = 2) -> torch.Tensor:
    """Leave out ``lr_voxels`` LR voxels' worth of output at each face (edge handling differs there)."""
    return array[(Ellipsis, *(slice(lr_voxels * s, -lr_voxels * s) for s in scale_zyx))]


def test_there_are_eight_distinct_flips_the_plain_one_first():
    flips = mirror_flips()
    assert len(flips) == MIRROR_PASSES == len(set(flips)) and flips[0] == (False, False, False)


@pytest.mark.parametrize("scale_xyz", SCALES)
def test_a_mirrored_pass_of_a_symmetric_network_is_the_plain_pass(scale_xyz):
    """Trilinear interpolation commutes with mirroring: every mirrored pass must land on the plain grid exactly
    (a pass off by the scale - 1 voxels that mirroring shifts fails this)."""
    network = InterpolationUpsampler3D("trilinear", scale_xyz)
    scale_zyx = scale_xyz[::-1]
    batch = torch.rand(2, 1, 7, 6, 9, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        plain = network(batch)
        for flips in mirror_flips():
            mirrored = mirrored_pass(network, batch, scale_zyx, flips)
            assert mirrored.shape == plain.shape
            torch.testing.assert_close(interior(mirrored, scale_zyx), interior(plain, scale_zyx), rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale_xyz", SCALES)
def test_the_ensemble_of_any_network_is_mirror_equivariant(scale_xyz):
    """Mirroring the input mirrors the ensemble's output (on the project's grid: LR voxel i on output s*i), which
    no single pass of an asymmetric network does."""
    network = lopsided_network(scale_xyz)
    scale_zyx = scale_xyz[::-1]
    batch = torch.rand(1, 1, 18, 19, 20, generator=torch.Generator().manual_seed(2))
    flips = (True, False, True)
    with torch.inference_mode():
        ensemble = mirror_ensemble(network, batch, scale_zyx)
        of_mirrored = mirror_ensemble(lambda x: mirrored_pass(network, x, scale_zyx, flips), batch, scale_zyx)
        plain = network(batch)
    assert ensemble.shape == plain.shape and ensemble.dtype == torch.float32
    # the network's zero padding reaches a few LR voxels in; the passes pad the input differently
    inside = [interior(a, scale_zyx, lr_voxels=7) for a in (of_mirrored, ensemble, plain)]
    torch.testing.assert_close(inside[0], inside[1], rtol=0, atol=1e-5)
    assert (inside[1] - inside[2]).abs().max() > 1e-4


def test_super_resolve_with_the_ensemble_keeps_geometry_and_progress():
    rng = np.random.default_rng(3)
    volume = Volume(rng.random((8, 9, 10), dtype=np.float32) * 800 - 300, (0.9, 1.1, 1.3), (5.0, -2.0, 1.0))
    model = SRModel(lopsided_network((2, 2, 2)), (2, 2, 2), {"kind": "minmax"}, {})
    reports = []
    plain = super_resolve(volume, model, InferenceSettings(window=6, context=2, **CPU))
    ensembled = super_resolve(volume, model, InferenceSettings(window=6, context=2, mirror_ensemble=True, **CPU),
                              progress=lambda fraction, message: reports.append(fraction))
    assert ensembled.array.shape == plain.array.shape
    assert ensembled.spacing == plain.spacing and ensembled.origin == plain.origin
    assert ensembled.direction == plain.direction
    assert not np.allclose(ensembled.array, plain.array)
    assert reports == sorted(reports) and reports[-1] == 1.0
