"""Adaptation of the bundled through-plane model at several learning rates, and (at ratios other than 4) with pairs
matched to the scan's slice ratio or made at the model's factor, for a fixed number of steps:

    PYTHONPATH=. python docs/results/thick_slices/adapt_lr/measure.py VOLUME RATIO PROFILE STEPS [RATES]

prints the protocol's PSNR (96x112x96 centre crop, HU - min, interior 8) of the pre-trained model, then per rate (and
variant) the PSNR of what ``adapt_to_scan`` returns, its steps, held-out PSNR before and after and whether the check
kept the adapted weights. RATES: comma-separated (default 3e-4)."""
import os
import sys
import time

from SuperResolution3DLib.core.config import AdaptationSettings
from SuperResolution3DLib.inference.adaptation import adapt_to_scan
from SuperResolution3DLib.inference.api import resolve_model

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from protocol_crop import protocol_crop  # noqa: E402

path, ratio, profile, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rates = [float(v) for v in sys.argv[5].split(",")] if len(sys.argv) > 5 else [3e-4]
variants = [None, float(ratio)] if ratio != 4 else [None]
lr, score = protocol_crop(path, ratio, profile)
model = resolve_model("sr3d_rrdb_thick_x4_l1")
name = path.split("/")[-1]

print(name, ratio, profile, "pre-trained", round(score(model), 3), flush=True)
for rate in rates:
  for matched in variants:
    started = time.time()
    adapted = adapt_to_scan(lr.array, model, AdaptationSettings(minutes=60, max_steps=steps, learning_rate=rate), ratio=matched)
    a = adapted.card["adaptation"]
    print(name, ratio, profile, rate, "matched" if matched else "unmatched", round(score(adapted), 3), a["steps"],
          a["held_out_psnr_before"], a["held_out_psnr_after"], a["kept"], f"{time.time() - started:.0f}s", flush=True)
