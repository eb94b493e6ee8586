"""The third rule of run_adapt_default_comparison.sh: which arm `auto` with the axis-agreement guard takes on each
validation row (the estimate as `--adapt` computes it, on the LR crop `sr3d evaluate` adapts to), and the adapted PSNR
of that arm from the CSVs on file; then the rule's verdict against `auto` as it stands (the estimate on every row).

    SR3D_DATA=/work/data PYTHONPATH=. python docs/results/thick_slices/adapt_default/axis_guard_rule.py

The guard was not adopted (printout: axis_guard_rule.txt) and is not in the library: run this on a checkout of commit
18c36d7, where `SliceProfileEstimate.axes_agree` and `AdaptationSettings.axis_agreement` exist.
"""

import csv
import os
from pathlib import Path

import numpy as np

from SuperResolution3DLib.core.config import AdaptationSettings
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.normalization import fit_intensity_mapping
from SuperResolution3DLib.data.slice_profiles import estimate_slice_profile
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, degrade_for_evaluation, prepare_hr_volume
from SuperResolution3DLib.inference.adaptation import estimate_spacing, trained_slice_profiles
from SuperResolution3DLib.models.files import load_model

HERE = Path(__file__).parent
VOLUMES = {"MNI152_2009c_T1_brain_HR1mm.nrrd": Path("Resources/SampleData/MNI152_2009c_T1_brain_HR1mm.nrrd"),
           "totalseg_abdomen_ct_3mm.nii.gz": Path(os.environ.get("SR3D_DATA", "/work/data")) / "real/validation/totalseg_abdomen_ct_3mm.nii.gz"}
ROWS = {  # (ratio, profile, thickness): (mixed CSV, estimate CSV)
    (4, "gaussian", 1.0): ("gaussian_1.0_mixed", "gaussian_1.0_estimate"),
    (4, "rect", 1.0): ("rect_1.0_mixed", "rect_1.0_estimate"),
    (4, "rect", 0.6): ("rect_0.6_mixed", "rect_0.6_estimate"),
    (4, "rect", 1.5): ("rect_1.5_mixed", "rect_1.5_estimate"),
    (4, "gaussian", 1.6): ("../adapt_recorded/validation_gaussian1.6_adapt_mixed", "../adapt_recorded/validation_gaussian1.6_adapt_estimate"),
    (6, "rect", 1.0): ("validation_x6_rect_1.0_mixed", "validation_x6_rect_1.0_auto"),
    (6, "rect", 0.6): ("validation_x6_rect_0.6_mixed", "validation_x6_rect_0.6_auto"),
}


def adapted_psnr(name: str, volume: str) -> float:
    path = HERE / (name + ("" if name.startswith("..") else "_per_volume") + ".csv")
    for row in csv.DictReader(open(path)):
        if row["volume"] == volume and row["method"].endswith("+adapt"):
            return float(row["psnr"])
    raise KeyError(f"{volume} not in {path}")


def main() -> None:
    model = load_model("sr3d_rrdb_thick_x4_l1")
    tolerance = AdaptationSettings().axis_agreement
    changes = []
    for volume, path in VOLUMES.items():
        crop = prepare_hr_volume(read_volume(path), EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True))
        mapping = fit_intensity_mapping(crop.array, model.normalization)
        for (ratio, profile, thickness), (mixed, estimated) in ROWS.items():
            lr = degrade_for_evaluation(crop, (1, 1, ratio), EvaluationSettings(slice_profile=profile, slice_thickness=thickness))
            normalised = mapping.forward(lr.array.astype(np.float32))
            estimate = estimate_slice_profile(normalised, estimate_spacing(normalised.shape, 4, ratio),
                                              profiles=trained_slice_profiles(model.card))
            agree = estimate.axes_agree(tolerance)
            old = adapted_psnr(estimated, volume)
            new = old if agree else adapted_psnr(mixed, volume)
            changes.append(new - old)
            print(f"{volume[:22]:22s} {ratio}x {profile:8s} {thickness:.1f}: estimate {estimate.profile} "
                  f"{estimate.relative_thickness:g}, axes {estimate.describe_axes()} -> {'estimate' if agree else 'mixed'}: "
                  f"{old:.2f} -> {new:.2f} ({new - old:+.2f})", flush=True)
    mean, worst = float(np.mean(changes)), float(np.min(changes))
    verdict = "adopted" if mean >= 0.05 and worst >= -0.3 else "not adopted"
    print(f"mean change {mean:+.3f} dB over {len(changes)} rows, worst {worst:+.2f}: {verdict}")


if __name__ == "__main__":
    main()
