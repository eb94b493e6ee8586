"""Inference speed on the CPU: our paths against the public code's recipe, with GFLOP/s and the share of the CPU's peak.

    python benchmarks/inference_speed.py [--model default] [--threads 2] [--out benchmarks/results/inference_speed]

Super-resolves the shipped sample (Resources/SampleData, 4 mm LR of a template the bundled model never saw) with the
same network in several ways, each in its own process (so that start-up and peak RSS are its own):

* ours: ``super_resolve`` with its default settings (precision auto, backend auto); and with ``backend="openvino"``
  (the model is converted to OpenVINO once, untimed, before the runs, as a user's second run finds it);
* ours fp32 PyTorch / ours fp32 OpenVINO: the fp32 paths, for the share of the fp32 peak;
* ours --window 32: less RAM, more windows;
* recipe: the public training code's monitoring recipe as that code runs it (plain fp32 eager PyTorch): the LR volume
  nearest-upsampled to the HR grid, MONAI ``sliding_window_inference`` with 96^3 windows, overlap 0.625, Gaussian
  blending, and a predictor that takes every 4th voxel of a window (back to 24^3) before the network.

Per run: seconds, output voxels/s, start-up (process start to the network's first window: imports, model, reading,
compiling; the JSON also has the time to the first window's output), the network's convolution GFLOP (2 x multiply-adds over every voxel the network saw, windows and context
included) and GFLOP/s over the network's own time, as a share of the CPU's fp32 peak: measured (a 4096^2 fp32 matrix
product with the same threads) and nominal (threads x clock x fp32 FLOP per cycle of the vector units; printed with its
assumptions). Then the speed-up over the recipe, PSNR/SSIM against the 1 mm HR template, and the roofline: the fastest
the sample could go with this network at the measured bf16 matrix-product rate. Writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SMALL_WINDOW = 32
METHODS = {
    "ours": "ours, default settings",
    "ours-openvino": "ours, default settings, OpenVINO",
    "ours-fp32-torch": "ours, fp32, PyTorch",
    "ours-fp32-openvino": "ours, fp32, OpenVINO",
    "ours-small-window": f"ours, default settings, --window {SMALL_WINDOW}",
    "recipe": "public recipe (fp32 eager, 96^3 HR windows, overlap 0.625)",
}
SAMPLE_LR = REPO / "Resources" / "SampleData" / "MNI152_2009c_T1_brain_LR4mm.nrrd"
SAMPLE_HR = REPO / "Resources" / "SampleData" / "MNI152_2009c_T1_brain_HR1mm.nrrd"


class NetworkClock:
    """Wraps the network call: voxels the network saw, its own seconds, and when the first window was done."""

    def __init__(self, call):
        self.call, self.voxels, self.seconds, self.first_start, self.first_done = call, 0, 0.0, None, None

    def __call__(self, *args, **kwargs):
        batch = args[-1]  # network(batch) or run_network(predictor, batch)
        started = time.perf_counter()
        self.first_start = self.first_start or started
        output = self.call(*args, **kwargs)
        self.seconds += time.perf_counter() - started
        self.voxels += math.prod(batch.shape[:1] + batch.shape[2:])
        if self.first_done is None:
            self.first_done = time.perf_counter()
        return output


def run_ours(model_name: str, settings: dict):
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.inference import api
    from SuperResolution3DLib.inference.api import super_resolve
    from SuperResolution3DLib.models.files import load_model

    clock = NetworkClock(api.WindowPredictor.run_network)
    api.WindowPredictor.run_network = lambda predictor, batch: clock(predictor, batch)
    model, lr = load_model(model_name), read_volume(SAMPLE_LR)
    started = time.perf_counter()
    sr = super_resolve(lr, model, InferenceSettings(**settings))
    return sr.array, time.perf_counter() - started, clock, model


def run_public_recipe(model_name: str):
    import numpy as np
    import torch
    from monai.inferers import sliding_window_inference

    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.data.normalization import fit_intensity_mapping
    from SuperResolution3DLib.models.files import load_model

    model, lr = load_model(model_name), read_volume(SAMPLE_LR)
    clock = NetworkClock(model.network)
    scale = model.scale[::-1]
    started = time.perf_counter()
    mapping = fit_intensity_mapping(lr.array, model.normalization)
    lr_tensor = torch.from_numpy(mapping.forward(lr.array))[None, None]
    hr_grid = torch.nn.functional.interpolate(lr_tensor, scale_factor=tuple(float(s) for s in scale), mode="nearest")

    def predictor(window: torch.Tensor) -> torch.Tensor:
        return clock(window[:, :, :: scale[0], :: scale[1], :: scale[2]])

    with torch.inference_mode():
        out = sliding_window_inference(hr_grid, (96, 96, 96), 1, predictor, overlap=0.625, mode="gaussian")
    sr = mapping.inverse(out[0, 0].numpy())
    return np.ascontiguousarray(sr), time.perf_counter() - started, clock, model


def method_settings(method: str) -> dict:
    return {
        "ours": {},
        "ours-openvino": {"backend": "openvino"},
        "ours-fp32-torch": {"precision": "fp32", "backend": "torch"},
        "ours-fp32-openvino": {"precision": "fp32", "backend": "openvino"},
        "ours-small-window": {"window": SMALL_WINDOW},
    }[method]


def child(method: str, model_name: str, threads: int, out_path: str) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    import SuperResolution3DLib.inference.api  # noqa: F401  (imports count as start-up)

    if method == "recipe":
        array, seconds, clock, model = run_public_recipe(model_name)
        backend, precision = "torch", "fp32"
    else:
        settings = method_settings(method)
        array, seconds, clock, model = run_ours(model_name, settings)
        backend, precision = chosen_backend_and_precision(model, settings)
    from SuperResolution3DLib.inference.windows import multiply_adds_per_input_voxel

    np.save(out_path, array)
    print(json.dumps({
        "seconds": seconds, "startup_seconds": clock.first_start - STARTED, "first_window_seconds": clock.first_done - STARTED,
        "network_seconds": clock.seconds, "network_gflop": 2 * multiply_adds_per_input_voxel(model.network) * clock.voxels / 1e9,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "output_voxels": int(array.size),
        "backend": backend, "precision": precision,
    }))


def chosen_backend_and_precision(model, settings: dict):
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.core.precision import resolve_precision
    from SuperResolution3DLib.data.io import read_volume_header
    from SuperResolution3DLib.inference.api import choose_network_backend, select_device

    resolved = InferenceSettings(**settings)
    device = select_device(resolved.device)
    backend, _ = choose_network_backend(resolved, device, model.network, read_volume_header(SAMPLE_LR)[0][::-1])
    return backend, resolve_precision(resolved.precision, device.type)


# The CPU ---------------------------------------------------------------------------------------------------------
def cpu_facts() -> dict:
    facts = {"model": "unknown CPU", "mhz": None, "flags": set()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and facts["model"] == "unknown CPU":
                facts["model"] = value
            elif key == "cpu MHz" and facts["mhz"] is None:
                facts["mhz"] = float(value)
            elif key == "flags" and not facts["flags"]:
                facts["flags"] = set(value.split())
    except OSError:
        pass
    return facts


def nominal_fp32_peak(facts: dict, threads: int):
    """``(GFLOP/s, assumptions)``: 2 FMA pipes per core, 8 fp32 lanes each for AVX2 and for AMD's AVX-512 (Zen 4
    runs 512-bit FMAs as two 256-bit halves), 16 for Intel's AVX-512; the clock /proc/cpuinfo reports (no boost)."""
    flags, mhz = facts["flags"], facts["mhz"]
    if not mhz or "fma" not in flags:
        return None, "unknown (no clock or no FMA in /proc/cpuinfo)"
    lanes = 16 if "avx512f" in flags and "AMD" not in facts["model"] else 8
    per_cycle = 2 * 2 * lanes
    return threads * mhz / 1000 * per_cycle, f"{threads} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle"


def measured_matmul_gflops(threads: int, dtype_name: str) -> float:
    import torch

    torch.set_num_threads(threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(3):
        torch.mm(a, b)
    return 3 * 2 * 4096**3 / (time.perf_counter() - started) / 1e9


# Runs ------------------------------------------------------------------------------------------------------------
def measure(method: str, model_name: str, threads: int, folder: Path) -> dict:
    out_path = folder / f"{method}.npy"
    command = [sys.executable, __file__, "--child", method, "--model", model_name, "--threads", str(threads), "--out", str(out_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"{method} run failed:\n{result.stderr}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["output_path"] = str(out_path)
    return figures


def convert_for_openvino(model_name: str) -> float:
    """Convert the model to OpenVINO once (cached), as a user's first OpenVINO run does; its seconds (0 if cached)."""
    from SuperResolution3DLib.inference.openvino_backend import cached_ir_path, convert_to_ir
    from SuperResolution3DLib.models.files import load_model

    network = load_model(model_name).network
    if cached_ir_path(network).exists():
        return 0.0
    started = time.perf_counter()
    convert_to_ir(network, cached_ir_path(network))
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "inference_speed"),
                        help="OUT.json and OUT.md are written (default: %(default)s)")
    parser.add_argument("--child", choices=sorted(METHODS), help=argparse.SUPPRESS)  # then --out is the .npy
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.model, args.threads, args.out)
        return 0
    import numpy as np

    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.evaluation.metrics import compare_volumes
    from SuperResolution3DLib.inference.openvino_backend import openvino_installed

    facts = cpu_facts()
    methods = [m for m in METHODS if openvino_installed() or "openvino" not in m]
    conversion = convert_for_openvino(args.model) if openvino_installed() else None
    peaks = {"fp32": measured_matmul_gflops(args.threads, "fp32"), "bf16": measured_matmul_gflops(args.threads, "bf16")}
    nominal, assumptions = nominal_fp32_peak(facts, args.threads)
    hr = read_volume(SAMPLE_HR).array
    with tempfile.TemporaryDirectory() as folder:
        runs = {method: measure(method, args.model, args.threads, Path(folder)) for method in methods}
        outputs = {method: np.load(run["output_path"]) for method, run in runs.items()}
    for method, run in runs.items():
        run.pop("output_path")
        run.update({f"{k}_vs_hr": v for k, v in compare_volumes(outputs[method], hr).items() if k in ("psnr", "ssim")})
        run["speedup_over_recipe"] = runs["recipe"]["seconds"] / run["seconds"]
        run["network_gflops"] = run["network_gflop"] / run["network_seconds"]
        run["percent_of_measured_fp32_peak"] = 100 * run["network_gflops"] / peaks["fp32"]
        run["percent_of_nominal_fp32_peak"] = 100 * run["network_gflops"] / nominal if nominal else None
    gflop = runs["ours"]["network_gflop"]
    report = {
        "cpu": facts["model"], "threads": args.threads, "flags": sorted({"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"} & facts["flags"]),
        "model": args.model, "sample": f"{SAMPLE_LR.name}, output {outputs['ours'].shape[::-1]} voxels (x, y, z)",
        "measured_matmul_gflops": peaks, "nominal_fp32_peak_gflops": nominal, "nominal_peak_assumptions": assumptions,
        "openvino_conversion_seconds": conversion, "runs": runs,
        "roofline_seconds_at_bf16_matmul_rate": gflop / peaks["bf16"],
        "roofline_speedup_over_recipe": runs["recipe"]["seconds"] / (gflop / peaks["bf16"]),
        "date": time.strftime("%Y-%m-%d"),
    }
    text = markdown(report)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(text)
    return 0


def markdown(report: dict) -> str:
    peaks = report["measured_matmul_gflops"]
    lines = [
        f"# Inference speed: {report['cpu']}, {report['threads']} threads ({', '.join(report['flags'])}), {report['date']}",
        "",
        f"Sample {report['sample']}, model `{report['model']}`. Command: `python benchmarks/inference_speed.py "
        f"--threads {report['threads']}`. fp32 peak: measured {peaks['fp32']:.0f} GFLOP/s (4096^2 matrix product), "
        f"nominal {report['nominal_fp32_peak_gflops'] or 0:.0f} GFLOP/s ({report['nominal_peak_assumptions']}); "
        f"bf16 matrix product {peaks['bf16']:.0f} GFLOP/s.",
        "",
        "| run | backend, precision | seconds | output Mvoxel/s | start-up: process start to the first window (s) | network GFLOP | network GFLOP/s "
        "| % of fp32 peak (measured / nominal) | speed-up over recipe | PSNR vs HR | peak RSS GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, run in report["runs"].items():
        nominal = run["percent_of_nominal_fp32_peak"]
        lines.append(
            f"| {METHODS[method]} | {run['backend']}, {run['precision']} | {run['seconds']:.2f} | "
            f"{run['output_voxels'] / run['seconds'] / 1e6:.2f} | {run['startup_seconds']:.2f} | {run['network_gflop']:.0f} | "
            f"{run['network_gflops']:.0f} | {run['percent_of_measured_fp32_peak']:.0f} / "
            f"{'-' if nominal is None else f'{nominal:.0f}'} | {run['speedup_over_recipe']:.1f}x | {run['psnr_vs_hr']:.3f} | "
            f"{run['peak_rss_bytes'] / 2**30:.2f} |"
        )
    conversion = report["openvino_conversion_seconds"]
    lines += [
        "",
        f"OpenVINO conversion of the model (once per model and machine, cached): "
        f"{'already cached' if conversion == 0 else 'not installed' if conversion is None else f'{conversion:.1f} s'}.",
        f"Roofline: the network's {report['runs']['ours']['network_gflop']:.0f} GFLOP at the bf16 matrix-product rate take "
        f"{report['roofline_seconds_at_bf16_matmul_rate']:.2f} s, at most {report['roofline_speedup_over_recipe']:.1f}x the recipe.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
