"""Several stacks of one session: each volume's protocol crop (96x112x96, CT as HU - min, interior 8) made into stacks
of slices 4x thicker along z, y and x (``--axes``) with a slice profile, then scored (PSNR, SSIM):

- one stack (z) through the through-plane model, and with B-spline along its slices (what `sr3d predict` gives);
- the stacks fused by `inference.stacks` (`sr3d fuse`) with each weight for unmeasured frequencies in
  ``--epsilons``, with the model and with B-spline (the same fusion without a network), on the HR's grid (which
  `sr3d fuse` would make isotropic at the finest in-plane spacing);
- the plain voxel-wise mean of the model's outputs, for comparison.

    PYTHONPATH=. python docs/results/thick_slices/stacks/measure_fusion.py VOLUME... [--profiles gaussian,rect]
        [--epsilons 0.01,0.03,0.05,0.1,0.2] [--axes 2,1,0] [--csv OUT.csv]
"""

import argparse
import csv
import os
import sys

import numpy as np

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, prepare_hr_volume, scoring_mask
from SuperResolution3DLib.evaluation.metrics import psnr, ssim
from SuperResolution3DLib.data.degradation import resampled_onto
from SuperResolution3DLib.inference.stacks import fuse_on_grid, measured_band_weight
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model, load_model


def on_hr_shape(array: np.ndarray, shape) -> np.ndarray:
    array = array[: shape[0], : shape[1], : shape[2]]
    return np.pad(array, [(0, h - n) for n, h in zip(array.shape, shape)], mode="edge")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("volumes", nargs="+")
    parser.add_argument("--profiles", default="gaussian,rect")
    parser.add_argument("--epsilons", default="0.01,0.03,0.05,0.1,0.2")
    parser.add_argument("--axes", default="2,1,0", help="the stacks' thick axes (x=0, y=1, z=2), the first sets the grid")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args(argv)
    methods = {"model": load_model("sr3d_rrdb_thick_x4_l1"), "bspline": interpolation_model("bspline", (1, 1, 4))}
    epsilons = [float(e) for e in args.epsilons.split(",")]
    rows = []
    for path in args.volumes:
        for profile in args.profiles.split(","):
            settings = EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True, interior=8)
            hr = prepare_hr_volume(read_volume(path), settings)
            mask = scoring_mask(hr.array, settings)
            data_range = float(hr.array.max() - hr.array.min())

            def score(array):
                array = on_hr_shape(array, hr.array.shape)
                return psnr(array, hr.array, data_range, mask), ssim(array, hr.array, data_range, mask)

            axes = [int(a) for a in args.axes.split(",")]
            stacks = [thick_slice_degrade(hr, axis, 4, profile, 4.0) for axis in axes]
            found = {}
            for name, model in methods.items():
                outputs = [super_resolve_thick_slices(stack, model, InferenceSettings(), slice_spacing=hr.spacing[a])
                           for stack, a in zip(stacks, axes)]
                grid = hr.with_array(np.zeros_like(hr.array))  # the HR's own grid (the head CT's is 0.96 x 0.96 x 1.5 mm)
                arrays = [resampled_onto(output, grid) for output in outputs]
                found[f"{name}, one stack ({'xyz'[axes[0]]})"] = score(outputs[0].array)
                if name == "model":
                    found[f"model, mean of {len(stacks)}"] = score(np.mean(arrays, axis=0))
                for epsilon in epsilons:
                    weights = [measured_band_weight(grid, stack, epsilon) for stack in stacks]
                    found[f"{name}, fused, epsilon {epsilon:g}"] = score(fuse_on_grid(arrays, weights))
            for method, (p, s) in found.items():
                rows.append({"volume": os.path.basename(path), "profile": profile, "method": method,
                             "psnr": round(p, 3), "ssim": round(s, 4)})
                print(f"{os.path.basename(path)[:24]:24s} {profile:8s} {method:32s} PSNR {p:.2f} SSIM {s:.4f}", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
