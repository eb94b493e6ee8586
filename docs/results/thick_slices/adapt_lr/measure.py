"""Adaptation of the bundled through-plane model at several learning rates, and (at ratios other than 4) with pairs
matched to the scan's slice ratio or made at the model's factor, for a fixed number of steps:

    PYTHONPATH=. python docs/results/thick_slices/adapt_lr/measure.py VOLUME RATIO PROFILE STEPS [RATES]

prints the protocol's PSNR (96x112x96 centre crop, HU - min, interior 8) of the pre-trained model, then per rate (and
variant) the PSNR of what ``adapt_to_scan`` returns, its steps, held-out PSNR before and after and whether the check
kept the adapted weights. RATES: comma-separated (default 3e-4)."""
import sys, time
import numpy as np
from SuperResolution3DLib.core.config import AdaptationSettings, InferenceSettings
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.evaluation import perceptual as pm
from SuperResolution3DLib.evaluation.evaluate import (EvaluationSettings, degrade_for_evaluation, pad_past_extent,
                                                      prepare_hr_volume, scoring_mask, super_resolve_for_scale)
from SuperResolution3DLib.evaluation.metrics import crop_to_common, psnr
from SuperResolution3DLib.inference.adaptation import adapt_to_scan
from SuperResolution3DLib.inference.api import resolve_model

path, ratio, profile, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rates = [float(v) for v in sys.argv[5].split(",")] if len(sys.argv) > 5 else [3e-4]
variants = [None, float(ratio)] if ratio != 4 else [None]
scale = (1, 1, ratio)
settings = EvaluationSettings(scale=scale, slice_profile=profile, crop=(96, 112, 96), shift_to_zero=True, interior=8)
hr = prepare_hr_volume(read_volume(path), settings)
lr = degrade_for_evaluation(hr, scale, settings)
hr_array = hr.array.astype(np.float32)
low, high = pm.hr_intensity_range(hr_array)
mask = scoring_mask(hr_array, settings)
model = resolve_model("sr3d_rrdb_thick_x4_l1")
name = path.split("/")[-1]


def score(m):
    sr = super_resolve_for_scale(lr, hr, m, scale, InferenceSettings()).array.astype(np.float32)
    sr, _ = crop_to_common(sr, hr_array)
    return psnr(pad_past_extent(sr, hr_array.shape, 8), hr_array, data_range=high - low, mask=mask)


print(name, ratio, profile, "pre-trained", round(score(model), 3), flush=True)
for rate in rates:
  for matched in variants:
    started = time.time()
    adapted = adapt_to_scan(lr.array, model, AdaptationSettings(minutes=60, max_steps=steps, learning_rate=rate), ratio=matched)
    a = adapted.card["adaptation"]
    print(name, ratio, profile, rate, "matched" if matched else "unmatched", round(score(adapted), 3), a["steps"],
          a["held_out_psnr_before"], a["held_out_psnr_after"], a["kept"], f"{time.time() - started:.0f}s", flush=True)
