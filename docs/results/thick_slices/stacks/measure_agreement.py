"""How well two stacks of one session agree, as ``sr3d fuse`` checks it (``inference.stacks.stack_agreement``): each
volume made into an axial and a sagittal stack (slices 4x thicker, Gaussian), interpolated with B-splines onto one
grid, then correlated where both reach after a Gaussian blur of sigma = 0.42 / 0.7 / 1.0 slice spacings. Cases: in
place, each stack with noise of its own (2% / 5% of the range), the sagittal stack acquired after 3 degrees and 2.7 mm
of motion (also registered first), after 10 degrees and 7.8 mm, and with the contrast inverted. Volumes: two synthetic
textures (as in the tests) and the protocol crops (96x112x96, CT as HU - min) of the given scans.

    PYTHONPATH=. python docs/results/thick_slices/stacks/measure_agreement.py VOLUME...
"""

import sys

import numpy as np

sys.path.insert(0, "Testing/Python")
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, prepare_hr_volume
from SuperResolution3DLib.inference.stacks import rigidly_moved, output_grid, stack_agreement, register_rigidly
from SuperResolution3DLib.data.degradation import resampled_onto
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model
from SuperResolution3DLib.core.volume import Volume
from test_adaptation import isotropic_texture

model = interpolation_model("bspline", (1, 1, 4))
FACTORS = (0.42, 0.7, 1.0)
def pair(hr1, hr2, noise=0.0, register=False):
    rng = np.random.default_rng(0)
    s1 = thick_slice_degrade(hr1, 2, 4, "gaussian", 4.0)
    s2 = thick_slice_degrade(hr2, 0, 4, "gaussian", 4.0)
    if noise:
        r = float(np.ptp(hr1.array))
        s1 = s1.with_array((s1.array + noise * r * rng.standard_normal(s1.array.shape)).astype(np.float32))
        s2 = s2.with_array((s2.array + noise * r * rng.standard_normal(s2.array.shape)).astype(np.float32))
    o1 = super_resolve_thick_slices(s1, model, None)
    o2 = super_resolve_thick_slices(s2, model, None)
    grid = output_grid(o1, [s1, s2], min(hr1.spacing))
    t = register_rigidly(o1, o2) if register else None
    a, b = resampled_onto(o1, grid), resampled_onto(o2, grid, t)
    return " ".join("%.3f" % stack_agreement(a, b, f * 4.0 / min(grid.spacing)) for f in FACTORS)
settings = EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True, interior=8)
vols = [("texture", Volume(isotropic_texture((48, 48, 48)), (1.0, 1.0, 1.0), (4.0, -9.0, 20.0))),
        ("texture2", Volume(isotropic_texture((48, 48, 48)) ** 2, (1.0, 1.0, 1.0), (4.0, -9.0, 20.0)))]
vols += [(p.split('/')[-1][:12], prepare_hr_volume(read_volume(p), settings)) for p in sys.argv[1:]]
print("sigma factors of slice spacing", FACTORS)
for name, hr in vols:
    inv = hr.with_array((hr.array.max() - hr.array).astype(np.float32))
    print(name, "aligned", pair(hr, hr), "| noise2%", pair(hr, hr, 0.02), "| noise5%", pair(hr, hr, 0.05),
          "| moved3", pair(hr, rigidly_moved(hr, (0, 0, 3.0), (2.0, -1.5, 1.0))),
          "| moved3+reg", pair(hr, rigidly_moved(hr, (0, 0, 3.0), (2.0, -1.5, 1.0)), register=True),
          "| moved10", pair(hr, rigidly_moved(hr, (0, 0, 10.0), (6.0, -4, 3.0))),
          "| inverted", pair(hr, inv), flush=True)
