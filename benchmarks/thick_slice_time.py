"""How long a thick-slice scan takes: adaptation to the scan (``--adapt``) and through-plane inference.

    python benchmarks/thick_slice_time.py [--input SCAN] [--size 256,256,40] [--adapt-minutes 3] [--no-adapt]
                                          [--crops N] [--model default] [--json OUT.json]

Without ``--input`` the scan is synthetic: smooth random texture of ``--size`` voxels (x, y, z) at 1 x 1 x 4 mm,
so nothing needs to be installed; the issue's target is an input of 256 x 256 x 40 adapted within 5 minutes on 2 CPU
cores. Prints the CPU, the threads, the adaptation's seconds and steps, the inference's seconds, the output grid and
the peak memory of the process (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
ADAPTATION_TARGET_SECONDS = 300.0


def synthetic_thick_scan(size_xyz, seed: int = 0):
    """Smooth random texture (blobs about 3 voxels wide) on a 1 x 1 x 4 mm grid, values 0..1000."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    from SuperResolution3DLib.core.volume import Volume

    x, y, z = size_xyz
    field = gaussian_filter(np.random.default_rng(seed).normal(size=(z, y, x)), (0.6, 3.0, 3.0))
    field = (field - field.min()) / np.ptp(field) * 1000.0
    return Volume(field.astype(np.float32), (1.0, 1.0, 4.0))


def parse_size(text: str):
    size = tuple(int(v) for v in text.split(","))
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"--size is x,y,z voxels, got {text!r}")
    return size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=None, help="a thick-slice scan (default: synthetic, --size)")
    parser.add_argument("--size", type=parse_size, default=(256, 256, 40), help="synthetic scan size x,y,z (default: 256,256,40)")
    parser.add_argument("--adapt-minutes", type=float, default=None, help="adaptation budget (default: the library's)")
    parser.add_argument("--crops", type=int, default=None, help="adaptation crops (default: the library's; fewer: a quicker smoke run)")
    parser.add_argument("--no-adapt", action="store_true", help="time inference only")
    parser.add_argument("--model", default="default", help="a through-plane model (default: the bundled one)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import torch

    from SuperResolution3DLib.core.config import AdaptationSettings, InferenceSettings
    from SuperResolution3DLib.core.devices import set_inference_threads
    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.inference.thick_slices import (adapt_thick_slice_model, model_for_input,
                                                             super_resolve_thick_slices)
    from SuperResolution3DLib.models.files import load_model
    from startup_time import cpu_name

    set_inference_threads()
    volume = read_volume(args.input) if args.input else synthetic_thick_scan(args.size)
    name, thick = model_for_input(args.model, volume.spacing)
    if thick is None:
        print(f"the input's spacing {volume.spacing} has no thick-slice axis", file=sys.stderr)
        return 2
    model = load_model(name)
    report = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "input": args.input or "synthetic",
              "size": list(volume.size), "spacing": [round(float(s), 4) for s in volume.spacing],
              "model": model.card.get("name", name)}
    if not args.no_adapt:
        options = {} if args.adapt_minutes is None else {"minutes": args.adapt_minutes}
        if args.crops is not None:
            options.update(crops=args.crops, check_crops=min(args.crops, AdaptationSettings.check_crops))
        started = time.perf_counter()
        model = adapt_thick_slice_model(volume, model, AdaptationSettings(**options), thick=thick)
        record = model.card["adaptation"]
        report.update(adaptation_seconds=round(time.perf_counter() - started, 1), adaptation_steps=record["steps"],
                      adaptation_kept=record["kept"])
    started = time.perf_counter()
    result = super_resolve_thick_slices(volume, model, InferenceSettings(), thick=thick)
    report.update(inference_seconds=round(time.perf_counter() - started, 1), output_size=list(result.size),
                  output_spacing=[round(float(s), 4) for s in result.spacing],
                  peak_memory_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2))
    print(f"{report['cpu']}, {report['threads']} threads; {report['input']} {report['size']} at {report['spacing']} mm")
    if "adaptation_seconds" in report:
        within = report["adaptation_seconds"] <= ADAPTATION_TARGET_SECONDS
        print(f"adaptation: {report['adaptation_seconds']} s, {report['adaptation_steps']} steps, "
              f"{'kept' if report['adaptation_kept'] else 'not kept'} ({'within' if within else 'over'} the 5-minute target)")
    print(f"inference: {report['inference_seconds']} s -> {report['output_size']} at {report['output_spacing']} mm; "
          f"peak memory {report['peak_memory_gb']} GB")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
