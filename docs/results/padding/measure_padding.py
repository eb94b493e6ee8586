"""What padding outside a CT's field of view costs, with and without ``data.padding`` (docs/results.md).

    SR3D_DATA=... PYTHONPATH=. python docs/results/padding/measure_padding.py $SR3D_DATA/real/test/invesalius_head_ct.nii.gz

A real CT in HU is given a scanner's padding (-3024 HU) outside the disc inscribed in its slices, then
1. thick slices: the padded scan made into slices 4x thicker along z (Gaussian profile), super-resolved back onto its
   own grid by the bundled through-plane model and by B-spline along z;
2. isotropic: the unpadded scan degraded 4x in k-space, then padded on its own coarse grid (a 4x coarser scan as a
   scanner would store it), super-resolved by the default model and by B-spline.
Each runs three ways: the scan without padding, padded with the handling off (``padding_below=None``, the behaviour
before it) and padded with it on (the default). PSNR (data range: the scan's HU range) over the voxels inside the
disc that the padded input measured (its output is not padding there), without 8 slices at each end.
"""

from __future__ import annotations

import argparse

import numpy as np

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import kspace_degrade
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
from SuperResolution3DLib.inference.api import super_resolve
from SuperResolution3DLib.inference.thick_slices import super_resolve_thick_slices
from SuperResolution3DLib.models.files import interpolation_model

PADDING = -3024.0


def outside_disc(shape_zyx) -> np.ndarray:
    z, y, x = shape_zyx
    yy, xx = np.mgrid[:y, :x]
    outside = np.hypot(yy - (y - 1) / 2, xx - (x - 1) / 2) > min(x, y) / 2
    return np.repeat(outside[None], z, axis=0)


def padded(volume: Volume) -> Volume:
    array = volume.array.astype(np.float32, copy=True)
    array[outside_disc(array.shape)] = PADDING
    return volume.with_array(array)


def psnr(output: np.ndarray, hr: np.ndarray, region: np.ndarray) -> float:
    error = np.mean((output.astype(np.float64) - hr)[region] ** 2)
    return float(10 * np.log10((hr.max() - hr.min()) ** 2 / error))


def run_arms(lr: Volume, lr_padded: Volume, run) -> dict:
    on, off = InferenceSettings(), InferenceSettings(padding_below=None)
    return {"no padding": run(lr, on), "padded, not handled": run(lr_padded, off), "padded, handled": run(lr_padded, on)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ct", help="a CT in HU without padding")
    args = parser.parse_args()
    hr = read_volume(args.ct)
    hr = hr.with_array(hr.array.astype(np.float32))
    reference = hr.array.astype(np.float64)

    thick = thick_slice_degrade(hr, 2, 4, "gaussian")
    thick_padded = thick_slice_degrade(padded(hr), 2, 4, "gaussian")
    coarse = kspace_degrade(hr, 4)
    rows = []
    for task, lr, lr_padded, methods in (
        ("4x thicker slices (Gaussian)", thick, thick_padded, {
            "sr3d_rrdb_thick_x4_l1": lambda v, s: super_resolve_thick_slices(v, "sr3d_rrdb_thick_x4_l1", s,
                                                                             slice_spacing=hr.spacing[2]),
            "B-spline along z": lambda v, s: super_resolve_thick_slices(v, interpolation_model("bspline", (1, 1, 4)), s,
                                                                        slice_spacing=hr.spacing[2]),
        }),
        ("4x coarser (k-space)", coarse, padded(coarse), {
            "default": lambda v, s: super_resolve(v, "default", s),
            "B-spline": lambda v, s: super_resolve(v, "bspline", s),
        }),
    ):
        for method, run in methods.items():
            outputs = run_arms(lr, lr_padded, run)
            shape = reference.shape
            cut = tuple(slice(0, min(n, m)) for n, m in zip(shape, outputs["no padding"].array.shape))
            region = ~outside_disc(shape)[cut] & (outputs["padded, handled"].array[cut] > -1500)
            region[:8] = False
            region[-8:] = False
            scores = {arm: psnr(out.array[cut], reference[cut], region) for arm, out in outputs.items()}
            rows.append((task, method, scores, region.mean()))
    print("| input | method | no padding | padded, not handled | padded, handled | voxels scored |")
    print("|---|---|---|---|---|---|")
    for task, method, scores, fraction in rows:
        print(f"| {task} | {method} | {scores['no padding']:.2f} | {scores['padded, not handled']:.2f} | "
              f"{scores['padded, handled']:.2f} | {fraction:.1%} |")


if __name__ == "__main__":
    main()
