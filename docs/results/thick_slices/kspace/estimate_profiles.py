"""What `estimate_slice_profile` finds for known slice profiles: the protocol's 96x112x96 centre crop of each volume
(CT shifted to HU - min), made into slices 4x thicker along z with each profile and thickness (slice spacings), or
k-space truncated along z as `sr3d degrade --scale 1,1,4` does; one line per case (profile_estimates.txt).

    PYTHONPATH=. python docs/results/thick_slices/kspace/estimate_profiles.py VOLUME...
"""

import sys
import time

import numpy as np

from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import kspace_degrade
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import estimate_slice_profile, thick_slice_degrade

CASES = [("gaussian", 1.0), ("gaussian", 0.6), ("gaussian", 1.6), ("rect", 1.0), ("rect", 0.6), ("rect", 1.5),
         ("trapezoid", 1.0), ("sinc", 1.0), ("sinc", 1.3), ("kspace", 1.0)]
CROP_XYZ = (96, 112, 96)


def centre_crop(volume: Volume) -> Volume:
    array = volume.array - min(0.0, float(volume.array.min()))
    start = [(n - s) // 2 for n, s in zip(array.shape, CROP_XYZ[::-1])]
    box = tuple(slice(b, b + s) for b, s in zip(start, CROP_XYZ[::-1]))
    return Volume(np.ascontiguousarray(array[box]), volume.spacing)


def main(paths) -> None:
    for path in paths:
        crop = centre_crop(read_volume(path))
        for profile, thickness in CASES:
            if profile == "kspace":
                lr = kspace_degrade(crop, (1, 1, 4))
            else:
                lr = thick_slice_degrade(crop, 2, 4, profile, 4 * thickness)
            started = time.perf_counter()
            found = estimate_slice_profile(lr.array, 4, 0)
            print(f"{path.split('/')[-1][:24]:24s} {profile:9s} {thickness:.1f} -> {found.profile:9s} "
                  f"{found.relative_thickness:.1f} ({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
