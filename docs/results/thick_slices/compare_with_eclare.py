"""Thick slices to isotropic, side by side with ECLARE at equal CPU-time budgets.

    python docs/results/thick_slices/compare_with_eclare.py HR... --eclare /path/to/venv/bin/run-eclare \
        [--budget-minutes 5] [--profile gaussian] [--out docs/results/thick_slices/eclare]

    # one core each, side by side, for a long budget (both processes together take the budget, not twice it):
    python .../compare_with_eclare.py HR --ours-only --threads 1 --budget-minutes 30 --out OURS &
    python .../compare_with_eclare.py HR --eclare-only --eclare RUN_ECLARE --threads 1 --budget-minutes 30 --out THEIRS

    # our rows on a GPU machine without SimpleITK (volumes packed by scripts/device/pack_training_data.py --with-test):
    PYTHONPATH=. python docs/results/thick_slices/compare_with_eclare.py HR.npz \
        --ours-only --no-bspline --device cuda --budget-minutes 0.75 --out OUT

For each real HR scan (the docs/results.md protocol: 96 x 112 x 96 centre crop, CT shifted by its minimum), thick
slices 4x the in-plane spacing along z with the given profile (FWHM = slice spacing) are made, then super-resolved by

* B-spline along z (what Slicer already has);
* the bundled through-plane model (``sr3d predict`` with no ``--model``);
* the bundled model adapted to the scan (``--adapt``) for the budget: adaptation minutes = budget minus the time the
  plain model took, so that its whole run fits the budget;
* ECLARE (Remedios et al., GPL-3; ``pip install eclare`` in a separate environment: a peer for comparison, never a
  dependency of this project) with its known slice profile (``--relative-slice-thickness 4`` in-plane voxels,
  Gaussian) and as many training patches as fit the budget (seconds per patch and the fixed cost of set-up and
  whole-volume inference from two short runs).

Scores: PSNR and SSIM inside the HR crop with 8 voxels left out at each face (``evaluate.scoring_mask``), against
the HR crop; ECLARE's output is resampled (cubic B-spline) onto the HR grid in world space when its grid differs. Writes
``results.csv`` and ``results.md`` into ``--out``; each row has the wall-clock seconds of the method on this machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from SuperResolution3DLib.core.config import AdaptationSettings, InferenceSettings  # noqa: E402
from SuperResolution3DLib.core.volume import Volume  # noqa: E402
from SuperResolution3DLib.data.io import read_volume, write_volume  # noqa: E402
from SuperResolution3DLib.evaluation import perceptual as pm  # noqa: E402
from SuperResolution3DLib.evaluation.evaluate import (EvaluationSettings, degrade_for_evaluation,  # noqa: E402
                                                      prepare_hr_volume, scoring_mask)
from SuperResolution3DLib.evaluation.metrics import crop_to_common, psnr, ssim  # noqa: E402
from SuperResolution3DLib.inference.thick_slices import adapt_thick_slice_model  # noqa: E402
from SuperResolution3DLib.inference.api import super_resolve  # noqa: E402
from SuperResolution3DLib.models.card import DEFAULT_THICK_SLICE_MODEL_NAME  # noqa: E402
from SuperResolution3DLib.models.files import interpolation_model, load_model  # noqa: E402

FACTOR = 4


def calibration_patches(text: str) -> Tuple[int, int]:
    """``"SMALL,LARGE"`` -> ``(SMALL, LARGE)``: two patch counts, the second larger (the per-patch time is their
    difference over the difference of their run times)."""
    try:
        small, large = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give two patch counts such as 64,192, not {text!r}") from None
    if not 0 < small < large:
        raise argparse.ArgumentTypeError(f"the two patch counts must grow from above 0, e.g. 64,192; got {text!r}")
    return small, large


def on_hr_grid(volume: Volume, hr: Volume) -> np.ndarray:
    """``volume``'s voxels on the HR grid: as they are when the grids coincide, else resampled (cubic B-spline) in world
    space. ECLARE centres its output on the slab each thick slice covers (its grid sits 1.5 HR voxels before ours for 4x),
    so its output is resampled: a small blur that the note of its row mentions."""
    import SimpleITK as sitk

    same = (volume.size == hr.size and np.allclose(volume.spacing, hr.spacing, atol=1e-4)
            and np.allclose(volume.origin, hr.origin, atol=1e-3))
    if same:
        return volume.array.astype(np.float32)
    resampled = sitk.Resample(volume.to_sitk(), hr.to_sitk(), sitk.Transform(), sitk.sitkBSpline, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(resampled)


def run_eclare(run_eclare_path: str, lr_path: Path, out_dir: Path, n_patches: int, threads: int = 0) -> tuple:
    environment = dict(os.environ)
    if threads:
        environment.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    started = time.perf_counter()
    result = subprocess.run([run_eclare_path, "--in-fpath", str(lr_path), "--out-dir", str(out_dir), "--n-patches", str(n_patches),
                             "--relative-slice-thickness", str(float(FACTOR)), "--relative-slice-profile-type", "gaussian",
                             "--batch-size", "32"], capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"run-eclare failed: {result.stderr[-2000:]}")
    return read_volume(next(out_dir.glob("*_eclare.nii*"))), seconds


def score_ours(score, lr, model, inference, budget: float, device: str = "cpu", bspline: bool = True) -> None:
    """B-spline, the bundled through-plane model, and the model adapted for what is left of the budget."""
    if bspline:
        started = time.perf_counter()
        score("B-spline", super_resolve(lr, interpolation_model("bspline", (1, 1, FACTOR)), inference).array,
              time.perf_counter() - started)
    started = time.perf_counter()
    plain = super_resolve(lr, model, inference).array
    plain_seconds = time.perf_counter() - started
    score(DEFAULT_THICK_SLICE_MODEL_NAME, plain, plain_seconds)

    started = time.perf_counter()
    minutes = max(0.1, (budget - 2 * plain_seconds) / 60.0)  # the run = adaptation + one inference
    adapted = adapt_thick_slice_model(lr, model, AdaptationSettings(minutes=minutes, device=device))
    output = super_resolve(lr, adapted, inference).array
    record = adapted.card["adaptation"]
    score(f"{DEFAULT_THICK_SLICE_MODEL_NAME} --adapt", output, time.perf_counter() - started,
          f"{record['steps']} steps, held-out {record['held_out_psnr_before']:.2f} -> {record['held_out_psnr_after']:.2f} dB, "
          f"{'kept' if record['kept'] else 'not kept'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hr", nargs="+")
    parser.add_argument("--eclare", help="the run-eclare executable (in its own environment; not needed with --ours-only)")
    parser.add_argument("--budget-minutes", type=float, default=5.0)
    parser.add_argument("--profile", default="gaussian", choices=["gaussian", "rect", "trapezoid"])
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "thick_slices" / "eclare"))
    parser.add_argument("--eclare-only", action="store_true", help="only the ECLARE rows (to redo them)")
    parser.add_argument("--calibration-patches", default="64,192", type=calibration_patches,
                        help="patch counts of ECLARE's two short calibration runs; with one thread its fixed cost hides "
                             "the per-patch time of 64 vs 192 patches, so long budgets take e.g. 256,1024")
    parser.add_argument("--ours-only", action="store_true", help="only B-spline and our rows (ECLARE in another process)")
    parser.add_argument("--no-bspline", action="store_true", help="leave out the B-spline row (it needs SimpleITK)")
    parser.add_argument("--device", default="cpu", help="where our model and its adaptation run (cpu, cuda); ECLARE runs on the CPU")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for every method (0: all). Two processes with --threads 1, one --eclare-only "
                             "and one --ours-only, give each side one core for the same wall-clock budget")
    args = parser.parse_args(argv)
    if args.eclare_only and args.ours_only:
        parser.error("--eclare-only and --ours-only leave nothing to run")
    if not args.ours_only and not args.eclare:
        parser.error("--eclare (the run-eclare executable) is needed unless --ours-only")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    budget = args.budget_minutes * 60.0
    settings = EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True, interior=8, slice_profile=args.profile,
                                  slice_thickness=1.0)
    inference = InferenceSettings(device=args.device)
    model = load_model(DEFAULT_THICK_SLICE_MODEL_NAME)
    rows = []
    for path in args.hr:
        name = Path(path).name
        hr = prepare_hr_volume(read_volume(path), settings)
        lr = degrade_for_evaluation(hr, (1, 1, FACTOR), settings)
        hr_array = hr.array.astype(np.float32)
        low, high = pm.hr_intensity_range(hr_array)
        mask = scoring_mask(hr_array, settings)

        def score(method, array, seconds, note=""):
            array, reference = crop_to_common(array, hr_array)
            row = {"volume": name, "profile": args.profile, "method": method, "seconds": round(seconds, 1),
                   "psnr": round(psnr(array, reference, data_range=high - low, mask=mask), 3),
                   "ssim": round(ssim(array, reference, data_range=high - low, mask=mask), 4), "note": note}
            rows.append(row)
            print(row, flush=True)

        if not args.eclare_only:
            score_ours(score, lr, model, inference, budget, args.device, not args.no_bspline)
        if args.ours_only:
            continue
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            lr_path = work / "lr.nii.gz"
            write_volume(lr, lr_path)
            small, large = args.calibration_patches
            shortest, seconds_small = run_eclare(args.eclare, lr_path, work / "calibration_small", small, args.threads)
            _, seconds_large = run_eclare(args.eclare, lr_path, work / "calibration_large", large, args.threads)
            per_patch = max(1e-3, (seconds_large - seconds_small) / (large - small))
            overhead = max(0.0, seconds_small - small * per_patch)
            n_patches = int((budget - overhead) / per_patch)
            if n_patches <= small:  # its shortest run already takes the budget: that run is its result
                score("ECLARE", on_hr_grid(shortest, hr), seconds_small,
                      f"its shortest run ({small} patches) exceeds the budget: {overhead:.0f} s fixed "
                      f"(set-up, whole-volume inference), {per_patch:.2f} s per patch; output resampled")
                continue
            volume, seconds = run_eclare(args.eclare, lr_path, work / "run", n_patches, args.threads)
            score("ECLARE", on_hr_grid(volume, hr), seconds,
                  f"{n_patches} patches ({per_patch:.2f} s per patch, {overhead:.0f} s outside training); output resampled")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cores = f"{args.threads} thread(s) per method" if args.threads else "all cores"
    where = "CPU: see docs/results.md" if args.device == "cpu" else f"our rows on {args.device}"
    lines = [f"Budget {args.budget_minutes:g} min per method and scan ({cores}; {where}), {args.profile} "
             "slices 4x thicker along z, 96x112x96 crop, interior 8.", "",
             "| scan | method | PSNR | SSIM | seconds | note |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['volume']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['seconds']:.0f} | {r['note']} |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'results.csv'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
