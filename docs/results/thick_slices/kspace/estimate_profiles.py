"""What `estimate_slice_profile` finds for known slice profiles: the protocol's 96x112x96 centre crop of each volume
(CT shifted to HU - min), made into slices 4x thicker along z with each profile and thickness (slice spacings), or
k-space truncated along z as `sr3d degrade --scale 1,1,4` does; one line per case (profile_estimates.txt).

    PYTHONPATH=. python docs/results/thick_slices/kspace/estimate_profiles.py VOLUME...
"""

import sys
import time

from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import estimate_slice_profile
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, degrade_for_evaluation, prepare_hr_volume

CASES = [("gaussian", 1.0), ("gaussian", 0.6), ("gaussian", 1.6), ("rect", 1.0), ("rect", 0.6), ("rect", 1.5),
         ("trapezoid", 1.0), ("sinc", 1.0), ("sinc", 1.3), ("kspace", 1.0)]
SCALE = (1, 1, 4)


def main(paths) -> None:
    for path in paths:
        crop = prepare_hr_volume(read_volume(path), EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True))
        for profile, thickness in CASES:
            settings = EvaluationSettings(slice_profile=None if profile == "kspace" else profile, slice_thickness=thickness)
            lr = degrade_for_evaluation(crop, SCALE, settings)
            started = time.perf_counter()
            found = estimate_slice_profile(lr.array, SCALE[2], 0)
            print(f"{path.split('/')[-1][:24]:24s} {profile:9s} {thickness:.1f} -> {found.profile:9s} "
                  f"{found.relative_thickness:.1f} ({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
