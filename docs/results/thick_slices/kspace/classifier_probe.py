"""A probe (not part of the library): can a small 3D CNN tell k-space truncated (sinc) thick slices from integrating
ones (rect, trapezoid, Gaussian) from the LR alone, so that `sr3d predict` could route them to the k-space model?

It trains a 49k-parameter classifier for STEPS steps (batch 16 of 12x48x48 LR patches, half sinc and half integrating,
thickness 0.8-1.3 slice spacings, any axis of a training volume made the thick one) on the through-plane models'
training scans, then prints the mean logit (above 0: sinc) over the foreground patches of each validation and test
volume's protocol crop made into 4x slices along z with each profile, and of the real thick-slice brain2 along its own
slices. Output of a run with 800 steps: classifier_probe.txt (about 14 minutes on 2 CPU cores beside a training run).

    SR3D_DATA=... PYTHONPATH=. python docs/results/thick_slices/kspace/classifier_probe.py 800
"""
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from SuperResolution3DLib.core.config import load_training_config
from SuperResolution3DLib.data.patches import split_volume_entries
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import slice_profile_kernel, convolve_along_axis
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, degrade_for_evaluation, prepare_hr_volume

torch.set_num_threads(1)
F = 4
P = 48          # HR patch side; LR patch (P/F, P, P)
INTEGRATING = ("rect", "trapezoid", "gaussian")


def normalise(a):
    lo, hi = np.percentile(a, [0.5, 99.5])
    return ((a - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def lr_patch(hr, rng, profile, thickness):
    """hr: [z,y,x] normalised, thick axis = 0 (already turned)."""
    kernel = slice_profile_kernel(profile, F * thickness)
    half = len(kernel) // 2
    D = P + 2 * half
    if hr.shape[0] < D + 1 or hr.shape[1] < P or hr.shape[2] < P:
        return None
    block = None
    for _ in range(20):
        z = rng.integers(0, hr.shape[0] - D + 1); y = rng.integers(0, hr.shape[1] - P + 1); x = rng.integers(0, hr.shape[2] - P + 1)
        block = hr[z:z + D, y:y + P, x:x + P]
        if (block[half:half + P] > 0.1).mean() > 0.3:
            break
    block = block.copy()
    if rng.random() < 0.5:
        block = block + rng.normal(0, rng.uniform(0, 0.03), block.shape).astype(np.float32)
    blurred = convolve_along_axis(block, kernel, 0)[half:half + P]
    return blurred[::F]


def standardise(p):
    return (p - p.mean()) / (p.std() + 1e-6)


class Net(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(1, c, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(c, c, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(c, 2 * c, 3, stride=(1, 2, 2), padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(2 * c, 2 * c, 3, padding=1), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(2 * c, 1)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3, 4))).squeeze(1)


def load(paths):
    vols = []
    for p in paths:
        v = read_volume(p)
        a = normalise(v.array)
        vols.append((str(p).split("/")[-1], a))
        print("loaded", vols[-1][0], a.shape, flush=True)
    return vols


def batch(vols, rng, n):
    xs, ys = [], []
    while len(xs) < n:
        name, a = vols[rng.integers(len(vols))]
        axis = rng.integers(3)
        a = np.moveaxis(a, axis, 0)
        label = int(rng.random() < 0.5)
        profile = "sinc" if label else INTEGRATING[rng.integers(3)]
        thickness = rng.uniform(0.8, 1.3)
        p = lr_patch(a, rng, profile, thickness)
        if p is None:
            continue
        if rng.random() < 0.5:
            p = p[:, ::-1]
        xs.append(standardise(p)); ys.append(label)
    return torch.from_numpy(np.stack(xs)[:, None].copy()), torch.tensor(ys, dtype=torch.float32)


def volume_logit(net, lr_array):
    """lr_array [z,y,x], thick axis 0: mean logit over tiled patches."""
    a = normalise(lr_array)
    pz = P // F
    logits = []
    with torch.no_grad():
        for z in range(0, a.shape[0] - pz + 1, pz):
            for y in range(0, a.shape[1] - P + 1, P // 2):
                for x in range(0, a.shape[2] - P + 1, P // 2):
                    p = a[z:z + pz, y:y + P, x:x + P]
                    if (p > 0.1).mean() < 0.3:
                        continue
                    logits.append(float(net(torch.from_numpy(standardise(p)[None, None].copy()))))
    return float(np.mean(logits)) if logits else float("nan"), len(logits)


CASES = [("gaussian", 1.0), ("gaussian", 0.6), ("gaussian", 1.6), ("rect", 1.0), ("rect", 0.6), ("rect", 1.5),
         ("trapezoid", 1.0), ("sinc", 1.0), ("sinc", 1.3), ("kspace", 1.0)]


def evaluate(net, paths):
    for path in paths:
        v = read_volume(path)
        if "pyradiomics" in str(path):  # a real thick-slice scan: its own slices (2D acquisition)
            print(f"{path.name[:26]:26s} real slices           logit {volume_logit(net, v.array)[0]:+.2f}", flush=True)
            continue
        crop = prepare_hr_volume(v, EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True))
        for profile, t in CASES:
            s = EvaluationSettings(slice_profile=None if profile == "kspace" else profile, slice_thickness=t)
            lr = degrade_for_evaluation(crop, (1, 1, F), s)
            logit, n = volume_logit(net, lr.array)
            print(f"{path.name[:26]:26s} {profile:9s} {t:.1f}  logit {logit:+.2f} ({n} patches)", flush=True)


def main(steps):
    cfg = load_training_config("configs/thick_slices_kspace_x4_l1.yaml")
    tr, va, te = split_volume_entries(cfg.data, "configs")
    train = load([p for p in tr if "0.5mm" not in str(p) and "synth:dk" not in str(p)])
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    lossf = nn.BCEWithLogitsLoss()
    t0 = time.time(); run = []
    for step in range(1, steps + 1):
        x, y = batch(train, rng, 16)
        out = net(x)
        loss = lossf(out, y)
        opt.zero_grad(); loss.backward(); opt.step()
        run.append(((out > 0).float() == y).float().mean().item())
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} acc(last 50) {np.mean(run[-50:]):.2f} {time.time() - t0:.0f}s", flush=True)
    evaluate(net, va + te + [p for p in tr if "pyradiomics" in str(p)])


if __name__ == "__main__":
    main(int(sys.argv[1]))
