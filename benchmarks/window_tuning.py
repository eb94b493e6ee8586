"""Window size, overlap and context: seconds against output quality, to choose ``InferenceSettings``' defaults.

    python benchmarks/window_tuning.py [--model default] [--threads 2] [--configs 64/0.125/4,96/0.125/2,...]
                                       [--out benchmarks/results/window_tuning]

The input is the sample's 1 mm HR template degraded 2x in k-space (98x116x98 LR voxels: larger than one default
window, so the windows matter; output 392x464x392). The reference is the whole volume in one window without context
(no seams, no zero padding but the volume's own border). Each configuration ``WINDOW/OVERLAP/CONTEXT`` runs with the
default precision and backend; the script reports its seconds, the network's share of the work (LR voxels the network
saw / LR voxels), peak window memory from the estimate, and PSNR and the largest absolute difference against the
reference, in the normalised units the network works in. Writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLE_HR = REPO / "Resources" / "SampleData" / "MNI152_2009c_T1_brain_HR1mm.nrrd"
DEFAULT_CONFIGS = "64/0.125/4,64/0.125/2,64/0.0625/2,64/0/2,96/0.125/4,96/0.0625/2"


def parse_config(text: str):
    window, overlap, context = text.split("/")
    return int(window), float(overlap), int(context)


def network_voxels(shape_zyx, window: int, overlap: float, context: int) -> int:
    from SuperResolution3DLib.inference.windows import context_box, window_overlap, window_size_zyx
    from SuperResolution3DLib.inference.windows import window_slices

    size = window_size_zyx(window, shape_zyx, overlap)
    total = 0
    for box in window_slices(shape_zyx, size, window_overlap(size, overlap)):
        total += math.prod(context_box(s, context, n)[0].stop - context_box(s, context, n)[0].start
                           for s, n in zip(box, shape_zyx))
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "window_tuning"))
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.data.degradation import kspace_degrade
    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.data.normalization import fit_intensity_mapping
    from SuperResolution3DLib.evaluation.metrics import psnr
    from SuperResolution3DLib.inference.api import sliding_window_super_resolve
    from SuperResolution3DLib.inference.memory import activation_width, estimate_peak_memory_bytes
    from SuperResolution3DLib.models.files import load_model

    model = load_model(args.model)
    lr = kspace_degrade(read_volume(SAMPLE_HR), 2).array
    array = fit_intensity_mapping(lr, model.normalization).forward(lr)
    width = activation_width(model.network)

    def run(window, overlap, context):
        settings = InferenceSettings(window=window, overlap=overlap, context=context)
        started = time.perf_counter()
        output = sliding_window_super_resolve(array, model.network, model.scale, settings)
        seconds = time.perf_counter() - started
        memory = estimate_peak_memory_bytes(array.shape, model.scale, settings, width)
        return output, seconds, memory

    whole = max(array.shape)
    reference, ref_seconds, ref_memory = run(whole, 0.0, 0)
    rows = [{"config": f"whole volume ({whole})/0/0", "seconds": ref_seconds, "work": 1.0, "estimated_peak_gib": ref_memory / 2**30,
             "psnr_vs_whole": float("inf"), "max_abs_diff": 0.0}]
    data_range = float(reference.max() - reference.min())
    for text in args.configs.split(","):
        window, overlap, context = parse_config(text)
        output, seconds, memory = run(window, overlap, context)
        rows.append({"config": text, "seconds": seconds, "work": network_voxels(array.shape, window, overlap, context) / array.size,
                     "estimated_peak_gib": memory / 2**30, "psnr_vs_whole": psnr(output, reference, data_range=data_range),
                     "max_abs_diff": float(np.abs(output - reference).max())})
        print(rows[-1], flush=True)
    lines = [f"# Window tuning: {args.model}, input {array.shape[::-1]} LR voxels (x, y, z), {args.threads} threads", "",
             "Command: `python benchmarks/window_tuning.py`. PSNR and max |difference| against the whole volume in one "
             "window, in the network's normalised units (0-1 over the 0.5-99.5 percentiles).", "",
             "| window/overlap/context | seconds | network work / LR voxels | estimated peak GiB | PSNR vs whole (dB) | max abs diff |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['config']} | {r['seconds']:.1f} | {r['work']:.2f} | {r['estimated_peak_gib']:.1f} | {r['psnr_vs_whole']:.1f} | "
              f"{r['max_abs_diff']:.4f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "input_shape_zyx": list(array.shape)}, indent=1) + "\n")
    out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
