"""README figure: the bundled GAN model against the stage-1 (L1) model on the sample volume.

    python docs/results/make_gan_comparison.py [--gan docs/results/models/sr3d_rrdb_gan_x4_small.json] [--stage1 sr3d_rrdb_x4_l1]
                                       [--out docs/results/gan_vs_stage1.png]

The sample (``Resources/SampleData``) is the ICBM 2009c template, which neither model saw in training:
its 4 mm k-space degradation is super-resolved with trilinear interpolation, the stage-1 model and the GAN.
Top block: axial / coronal / sagittal views of trilinear, stage-1, GAN and the 1 mm truth (one grey window).
Bottom block: the differences stage-1 - HR, GAN - HR and GAN - stage-1 (mid-grey = 0, one symmetric window).
Prints PSNR / SSIM of each method against the truth (data_range = HR max - HR min) and its mean error
(SR - HR) in the foreground (HR above 5% of its range).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.evaluation.metrics import crop_to_common, psnr, ssim
from SuperResolution3DLib.models.files import interpolation_model, load_model
from SuperResolution3DLib.inference.api import super_resolve
from SuperResolution3DLib.evaluation.visualize import save_png_atomically, render_three_view

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "Resources" / "SampleData"


def on_hr_grid(sr, hr):
    """The SR volume cropped to the HR voxels (both start at the same origin)."""
    array, _ = crop_to_common(sr.array.astype(np.float32), hr.array)
    return hr.with_array(array)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default=str(REPO / "docs" / "results" / "models" / "sr3d_rrdb_gan_x4_small.json"))
    parser.add_argument("--stage1", default="sr3d_rrdb_x4_l1")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "gan_vs_stage1.png"))
    args = parser.parse_args()

    hr = read_volume(SAMPLE / "MNI152_2009c_T1_brain_HR1mm.nrrd")
    hr = hr.with_array(hr.array.astype(np.float32))
    lr = read_volume(SAMPLE / "MNI152_2009c_T1_brain_LR4mm.nrrd")
    methods = {"trilinear": interpolation_model("trilinear"), "stage-1 (L1)": load_model(args.stage1), "GAN": load_model(args.gan)}
    results = {name: on_hr_grid(super_resolve(lr, model), hr) for name, model in methods.items()}
    data_range = float(hr.array.max() - hr.array.min())
    foreground = hr.array > hr.array.min() + 0.05 * data_range
    for name, volume in results.items():
        bias = float(np.mean(volume.array[foreground] - hr.array[foreground]))
        print(f"{name:14s} PSNR {psnr(volume.array, hr.array, data_range):.2f} dB  SSIM {ssim(volume.array, hr.array, data_range):.4f}"
              f"  mean error in the foreground {bias:+.2f}")

    images = render_three_view(list(results.items()) + [("HR (truth)", hr)], reference=hr,
                               title="ICBM 2009c template (unseen), 4 mm -> 1 mm")
    stage1, gan = results["stage-1 (L1)"], results["GAN"]
    differences = [
        ("stage-1 - HR", hr.with_array(stage1.array - hr.array)),
        ("GAN - HR", hr.with_array(gan.array - hr.array)),
        ("GAN - stage-1", hr.with_array(gan.array - stage1.array)),
    ]
    bound = float(np.percentile(np.abs(differences[0][1].array), 99.5))
    difference_image = render_three_view(differences, window=(-bound, bound),
                                         title=f"differences (mid-grey = 0, window +-{bound:.0f})")
    canvas = Image.new("L", (max(images.width, difference_image.width), images.height + difference_image.height), 0)
    canvas.paste(images, (0, 0))
    canvas.paste(difference_image, (0, images.height))
    print(f"written {save_png_atomically(canvas, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
