"""How close `estimate_slice_profile` comes to known slice profiles, judged by what adaptation uses it for: the LR
that the estimated profile makes from the HR, against the true LR (PSNR, data range = the HR's; capped at 70 dB).

Each volume (CT as HU - min) gives three 96x112x96 crops (the centre and two offset by 12/12/16 voxels), made into
slices RATIO x thicker along z with each case; the estimate runs as `--adapt` runs it (the bundled through-plane
model's intensity mapping, its trained profiles, the ratio as the slice spacing). One line per crop, ratio and case,
then the mean. Run it on the library as it stands (for a before/after, on two checkouts):

    PYTHONPATH=. python docs/results/thick_slices/estimate/estimate_accuracy.py 4,6 VOLUME...
"""

import sys

import numpy as np

from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.normalization import fit_intensity_mapping
from SuperResolution3DLib.data.slice_profiles import estimate_slice_profile, thick_slice_degrade
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, degrade_for_evaluation, prepare_hr_volume
from SuperResolution3DLib.inference.adaptation import trained_slice_profiles
from SuperResolution3DLib.models.files import load_model

CASES = [("gaussian", 1.0), ("gaussian", 0.6), ("gaussian", 1.6), ("rect", 1.0), ("rect", 0.6), ("rect", 1.5),
         ("trapezoid", 0.8), ("gaussian", 1.3)]
CROP = (96, 112, 96)
OFFSETS = [(0, 0, 0), (12, -12, 16), (-12, 12, -16)]


def crops_of(path):
    volume = read_volume(path)
    for offset in OFFSETS:
        start = [max(0, (n - c) // 2 + o) for n, c, o in zip(volume.size, CROP, offset)]
        size = [min(c, n - s) for n, c, s in zip(volume.size, CROP, start)]
        yield offset, prepare_hr_volume(volume.sub_volume(tuple(start), tuple(size)), EvaluationSettings(shift_to_zero=True))


def main(ratios, paths) -> None:
    model = load_model("sr3d_rrdb_thick_x4_l1")
    profiles = trained_slice_profiles(model.card)
    scores = []
    for path in paths:
        for offset, crop in crops_of(path):
            mapping = fit_intensity_mapping(crop.array, model.normalization)
            data_range = float(np.ptp(crop.array))
            for ratio in ratios:
                for profile, thickness in CASES:
                    lr = degrade_for_evaluation(crop, (1, 1, ratio), EvaluationSettings(slice_profile=profile, slice_thickness=thickness)).array
                    found = estimate_slice_profile(mapping.forward(lr.astype(np.float32)), ratio, profiles=profiles)
                    made = thick_slice_degrade(crop, 2, ratio, found.profile, ratio * found.relative_thickness).array
                    error = float(np.mean((made - lr) ** 2))
                    score = 70.0 if error == 0 else min(70.0, 10 * np.log10(data_range ** 2 / error))
                    scores.append(score)
                    print(f"{path.split('/')[-1][:24]:24s} {str(offset):14s} x{ratio} {profile:9s} {thickness:.1f} -> "
                          f"{found.profile:9s} {found.relative_thickness:.1f}  LR PSNR {score:5.1f}", flush=True)
    print(f"mean LR PSNR over {len(scores)} cases: {np.mean(scores):.2f} dB")


if __name__ == "__main__":
    main([int(r) for r in sys.argv[1].split(",")], sys.argv[2:])
