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

sys.path.insert(0, "Testing/Python")  # the tests' synthetic texture
from SuperResolution3DLib.core.volume import Volume  # noqa: E402
from SuperResolution3DLib.data.degradation import resampled_onto  # noqa: E402
from SuperResolution3DLib.data.io import read_volume  # noqa: E402
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade  # noqa: E402
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, prepare_hr_volume  # noqa: E402
from SuperResolution3DLib.inference.stacks import output_grid, register_rigidly, rigidly_moved, stack_agreement  # noqa: E402
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices  # noqa: E402
from SuperResolution3DLib.models.files import interpolation_model  # noqa: E402
from test_adaptation import isotropic_texture  # noqa: E402

BSPLINE = interpolation_model("bspline", (1, 1, 4))
SIGMA_IN_SLICE_SPACINGS = (0.42, 0.7, 1.0)


def agreements(hr1: Volume, hr2: Volume, noise: float = 0.0, register: bool = False) -> str:
    """``hr1`` as an axial stack, ``hr2`` as a sagittal one (4 mm Gaussian slices), onto one grid: their agreement
    at each blur, as text."""
    rng = np.random.default_rng(0)
    stacks = [thick_slice_degrade(hr1, 2, 4, "gaussian", 4.0), thick_slice_degrade(hr2, 0, 4, "gaussian", 4.0)]
    if noise:  # noise of each stack's own
        spread = float(np.ptp(hr1.array))
        stacks = [s.with_array((s.array + noise * spread * rng.standard_normal(s.array.shape)).astype(np.float32))
                  for s in stacks]
    first, second = (super_resolve_thick_slices(s, BSPLINE, None) for s in stacks)
    grid = output_grid(first, stacks, min(hr1.spacing))
    moved = register_rigidly(first, second) if register else None
    a, b = resampled_onto(first, grid), resampled_onto(second, grid, moved)
    return " ".join(f"{stack_agreement(a, b, f * 4.0 / min(grid.spacing)):.3f}" for f in SIGMA_IN_SLICE_SPACINGS)


def main(paths) -> int:
    settings = EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True, interior=8)
    volumes = [("texture", Volume(isotropic_texture((48, 48, 48)), (1.0, 1.0, 1.0), (4.0, -9.0, 20.0))),
               ("texture2", Volume(isotropic_texture((48, 48, 48)) ** 2, (1.0, 1.0, 1.0), (4.0, -9.0, 20.0)))]
    volumes += [(path.split("/")[-1][:12], prepare_hr_volume(read_volume(path), settings)) for path in paths]
    print("sigma factors of slice spacing", SIGMA_IN_SLICE_SPACINGS)
    for name, hr in volumes:
        inverted = hr.with_array((hr.array.max() - hr.array).astype(np.float32))
        moved3 = rigidly_moved(hr, (0, 0, 3.0), (2.0, -1.5, 1.0))
        print(name, "aligned", agreements(hr, hr), "| noise2%", agreements(hr, hr, 0.02),
              "| noise5%", agreements(hr, hr, 0.05), "| moved3", agreements(hr, moved3),
              "| moved3+reg", agreements(hr, moved3, register=True),
              "| moved10", agreements(hr, rigidly_moved(hr, (0, 0, 10.0), (6.0, -4, 3.0))),
              "| inverted", agreements(hr, inverted), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
