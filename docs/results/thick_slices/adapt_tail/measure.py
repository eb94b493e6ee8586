"""Adaptation of the upsampling tail alone (a diagnostic: `adapt_to_scan` fine-tunes the whole network).

    PYTHONPATH=. python docs/results/thick_slices/adapt_tail/measure.py VOLUME RATIO PROFILE RATES STEPS [PAIRS] [THREADS]

The bundled through-plane model's trunk features of PAIRS self-supervised pairs (made as `adapt_to_scan` makes
them: 24 context crops of the scan super-resolved along z, an in-plane axis made into thick slices with a `mixed`
profile) are computed once; then only the sub-pixel tail (`conv_up`, 57k of 4.4 M parameters) is fitted to them with
Adam (L1, batch 4, cosine from each rate in RATES, STEPS steps). Prints the protocol's PSNR (96x112x96 centre crop,
HU - min, interior 8) of the pre-trained model, then per rate the held-out self-supervised PSNR (4 crops) before and
after, and the protocol's PSNR of the adapted model."""
import copy
import math
import os
import sys
import time

import numpy as np
import torch

from SuperResolution3DLib.core.config import AdaptationSettings
from SuperResolution3DLib.core.precision import autocast, resolve_precision
from SuperResolution3DLib.data.normalization import fit_intensity_mapping
from SuperResolution3DLib.inference import adaptation as ad
from SuperResolution3DLib.inference.api import resolve_model
from SuperResolution3DLib.models.files import SRModel

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from protocol_crop import protocol_crop  # noqa: E402

path, ratio, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rates = [float(v) for v in sys.argv[4].split(",")]
steps = int(sys.argv[5])
npairs = int(sys.argv[6]) if len(sys.argv) > 6 else 64
torch.set_num_threads(int(sys.argv[7]) if len(sys.argv) > 7 else 2)
lr, score = protocol_crop(path, ratio, profile)
PRECISION = resolve_precision("auto", "cpu")  # bf16 where the CPU computes it, else fp32
model = resolve_model("sr3d_rrdb_thick_x4_l1")
name = path.split("/")[-1]

base = score(model)
print(name, ratio, profile, "pre-trained", round(base, 3), flush=True)
t0 = time.time()
st = AdaptationSettings()
factor = int(model.scale[2])
rng = np.random.default_rng(0)
net = copy.deepcopy(model.network).eval()
normalised = fit_intensity_mapping(lr.array, model.normalization).forward(np.asarray(lr.array, np.float32))
side = ad.adaptation_patch(normalised.shape, factor, st.patch)
lr_side = (side // factor, side, side)
blocks = []
with torch.no_grad(), autocast("cpu", PRECISION):
    for z, y, x in ad.crop_corners(normalised, st.crops + st.check_crops, lr_side, rng):
        crop = normalised[z:z + lr_side[0], y:y + side, x:x + side]
        blocks.append(net(torch.from_numpy(np.ascontiguousarray(crop))[None, None]).float().numpy()[0, 0])
train_blocks, check_blocks = blocks[:st.crops], blocks[st.crops:]
rmatch = None if ratio == 4 else float(ratio)
def pair(block):
    for axis in range(3):
        if rng.random() < 0.5:
            block = np.flip(block, axis)
    return ad.thick_slice_pair(np.ascontiguousarray(block), int(rng.integers(1, 3)), factor, *ad._slice_profile_of(st, None, rng, ad.INTEGRATING_SLICE_PROFILES, ad.MIXED_THICKNESS), ratio=rmatch)
train_pairs = [pair(train_blocks[k % len(train_blocks)]) for k in range(npairs)]
check_pairs = [ad.thick_slice_pair(b, 1 + k % 2, factor, *ad._slice_profile_of(st, None, rng, ad.INTEGRATING_SLICE_PROFILES, ad.MIXED_THICKNESS), ratio=rmatch) for k, b in enumerate(check_blocks)]
def trunk(x):
    f = net.conv_first(x)
    return f + net.conv_body(net.body(f))
def cache(pairs):
    out = []
    with torch.no_grad(), autocast("cpu", PRECISION):
        for l, h in pairs:
            x = torch.from_numpy(l)[None, None]
            out.append((trunk(x).float(), net.base(x).float(), torch.from_numpy(h)[None, None]))
    return out
tc, cc = cache(train_pairs), cache(check_pairs)
print(f"cached {len(tc)}+{len(cc)} in {time.time()-t0:.0f}s", flush=True)
def check(tail):
    with torch.no_grad():
        v = [10 * math.log10(1 / float(torch.mean((tail(f) + b - h) ** 2))) for f, b, h in cc]
    return float(np.mean(v))
tail0 = copy.deepcopy(net)
before = check(tail0.pixel_shuffle_tail)
for rate in rates:
    t1 = time.time()
    tnet = copy.deepcopy(net)
    params = list(tnet.conv_up.parameters())
    opt = torch.optim.Adam(params, lr=rate, betas=(0.9, 0.99))
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps)))
        idx = rng.integers(len(tc), size=4)
        f = torch.cat([tc[i][0] for i in idx]); b = torch.cat([tc[i][1] for i in idx]); h = torch.cat([tc[i][2] for i in idx])
        loss = torch.nn.functional.l1_loss(tnet.pixel_shuffle_tail(f) + b, h)
        opt.zero_grad(); loss.backward(); opt.step()
    after = check(tnet.pixel_shuffle_tail)
    adapted = SRModel(tnet.eval(), tuple(model.scale), dict(model.normalization), model.card)
    print(name, ratio, profile, rate, steps, "held-out", round(before, 3), round(after, 3), "score", round(score(adapted), 3), f"(base {base:.3f})", f"{time.time()-t1:.0f}s", flush=True)
