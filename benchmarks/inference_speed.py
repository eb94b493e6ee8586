"""Inference speed and memory: our LR-grid sliding window vs the public code's recipe.

    python benchmarks/inference_speed.py [--model default] [--threads 2]

Super-resolves the shipped sample (Resources/SampleData, 4 mm LR of a template the bundled model
never saw) twice with the same network, each run in its own process so that peak RSS is its own:

* ours: ``super_resolve`` with its default settings (windows on the LR grid, the network zooms), and
  again with ``--window 32``, which caps the window working set (less RAM, more windows);
* recipe: the public training code's monitoring recipe: the LR volume nearest-upsampled to the HR
  grid, MONAI ``sliding_window_inference`` with 96^3 windows, overlap 0.625, Gaussian blending, and a
  predictor that takes every 4th voxel of a window (back to 24^3) before the network.

Prints seconds, peak RSS (split into what Python + torch + MONAI take after import and the rest as a
multiple of the float32 output array), the speed ratio, PSNR/SSIM of each output against the 1 mm HR
template, and their PSNR difference.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMALL_WINDOW = 32
METHODS = {
    "ours": "ours (LR-grid windows, default settings)",
    "ours-small-window": f"ours with --window {SMALL_WINDOW} (less RAM)",
    "recipe": "public recipe (96^3 HR windows, overlap 0.625)",
}
SAMPLE_LR = REPO / "Resources" / "SampleData" / "MNI152_2009c_T1_brain_LR4mm.nrrd"
SAMPLE_HR = REPO / "Resources" / "SampleData" / "MNI152_2009c_T1_brain_HR1mm.nrrd"


def run_ours(model_name: str, window: int = 0):
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.inference.api import super_resolve
    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.models.files import load_model

    model, lr = load_model(model_name), read_volume(SAMPLE_LR)
    started = time.perf_counter()
    sr = super_resolve(lr, model, InferenceSettings(window=window) if window else None)
    return sr.array, time.perf_counter() - started


def run_public_recipe(model_name: str):
    import numpy as np
    import torch
    from monai.inferers import sliding_window_inference

    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.models.files import load_model
    from SuperResolution3DLib.data.normalization import fit_intensity_mapping

    model, lr = load_model(model_name), read_volume(SAMPLE_LR)
    scale = model.scale[::-1]
    started = time.perf_counter()
    mapping = fit_intensity_mapping(lr.array, model.normalization)
    lr_tensor = torch.from_numpy(mapping.forward(lr.array))[None, None]
    hr_grid = torch.nn.functional.interpolate(lr_tensor, scale_factor=tuple(float(s) for s in scale), mode="nearest")

    def predictor(window: torch.Tensor) -> torch.Tensor:
        return model.network(window[:, :, :: scale[0], :: scale[1], :: scale[2]])

    with torch.inference_mode():
        out = sliding_window_inference(hr_grid, (96, 96, 96), 1, predictor, overlap=0.625, mode="gaussian")
    sr = mapping.inverse(out[0, 0].numpy())
    return np.ascontiguousarray(sr), time.perf_counter() - started


def child(method: str, model_name: str, threads: int, out_path: str) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    import SuperResolution3DLib.inference.api, monai.inferers  # noqa: F401  (imports count as baseline)

    baseline = current_rss_bytes()
    if method == "recipe":
        array, seconds = run_public_recipe(model_name)
    else:
        array, seconds = run_ours(model_name, SMALL_WINDOW if method == "ours-small-window" else 0)
    np.save(out_path, array)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak_kib * 1024, "baseline_rss_bytes": baseline, "output_bytes": array.nbytes}))


def current_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(method: str, model_name: str, threads: int, folder: Path) -> dict:
    out_path = folder / f"{method}.npy"
    command = [sys.executable, __file__, "--child", method, "--model", model_name, "--threads", str(threads), "--out", str(out_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"{method} run failed:\n{result.stderr}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["output_path"] = out_path
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=sorted(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.threads, args.out)
        return

    import numpy as np

    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.evaluation.metrics import compare_volumes

    hr = read_volume(SAMPLE_HR).array
    with tempfile.TemporaryDirectory() as folder:
        runs = {method: measure(method, args.model, args.threads, Path(folder)) for method in METHODS}
        outputs = {method: np.load(run["output_path"]) for method, run in runs.items()}
    scores = {method: compare_volumes(array, hr) for method, array in outputs.items()}
    agreement = compare_volumes(outputs["ours"], outputs["recipe"])

    print(f"sample: {SAMPLE_LR.name} -> output {outputs['ours'].shape[::-1]} voxels (x, y, z); model {args.model}; {args.threads} threads")
    for method, label in METHODS.items():
        run = runs[method]
        print(
            f"{label:<50} {run['seconds']:8.1f} s   peak RSS {run['peak_rss_bytes'] / 2**30:5.2f} GiB "
            f"(imports {run['baseline_rss_bytes'] / 2**30:.2f} GiB + {(run['peak_rss_bytes'] - run['baseline_rss_bytes']) / run['output_bytes']:.1f}x output)   PSNR {scores[method]['psnr']:.3f} dB   SSIM {scores[method]['ssim']:.4f}"
        )
    print(f"speed-up over the recipe: {runs['recipe']['seconds'] / runs['ours']['seconds']:.1f}x (default settings), "
          f"{runs['recipe']['seconds'] / runs['ours-small-window']['seconds']:.1f}x (--window {SMALL_WINDOW})")
    print(f"PSNR difference (ours - recipe, both vs HR): {scores['ours']['psnr'] - scores['recipe']['psnr']:+.3f} dB")
    print(f"PSNR of ours against the recipe's output: {agreement['psnr']:.2f} dB")


if __name__ == "__main__":
    main()
