"""Network throughput on a GPU (or, with --device cpu --quick, a smoke run anywhere): ready for the day a GPU is there.

    python benchmarks/gpu_throughput.py [--device cuda] [--networks default,paper] [--precisions fp32,bf16,fp16]
                                        [--batches 1,2,4,8] [--windows 32,48,64] [--seconds 3] [--peak-tflops ...]
                                        [--out benchmarks/results/gpu_throughput]

For each network (the bundled default model's architecture, and the paper-size 3D RRDBNet: 64 features,
32 growth channels, 23 blocks, ~50 M parameters), precision (fp32, bf16 / fp16 autocast), batch and LR window,
it runs the network alone on random LR windows (the warm-up untimed, then as many calls as fit in --seconds) and
reports output voxels/s, achieved TFLOP/s (2 x the convolutions' multiply-adds, counted by the project's
``ConvWorkMeter`` probe) and the share of the device's peak for that precision. A combination that runs out of
memory is recorded as such and the sweep goes on. Writes ``OUT.json`` (all rows, device, versions) and ``OUT.md``.

Peaks: known for a few GPUs (dense tensor-core figures of the vendors' data sheets, TFLOP/s); --peak-tflops
fp32=X,bf16=Y,fp16=Z gives them for any other device (a CPU's fp32 peak: cores x GHz x FLOPs per cycle).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PAPER_NETWORK = {"name": "RRDBNet3D", "num_feat": 64, "num_grow_ch": 32, "num_block": 23, "scale": [4, 4, 4]}
# Dense (no sparsity) peak TFLOP/s from the vendors' data sheets: fp32 (non-tensor), tf32, bf16 and fp16 tensor cores.
# PyTorch lets cuDNN run fp32 convolutions on TF32 tensor cores by default (torch.backends.cudnn.allow_tf32), so an
# fp32 row on such a GPU is scored against the TF32 peak (the fp32 peak would give over 100%).
KNOWN_PEAKS = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.0, "fp16": 989.0},
    "H100 SXM": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.0, "fp16": 989.0},
    "H100 PCIe": {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0, "fp16": 362.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0},
    "RTX 4090": {"fp32": 82.6, "tf32": 82.6, "bf16": 165.0, "fp16": 165.0},
}


def parse_list(text: str, kind=str):
    return [kind(part) for part in text.split(",") if part.strip()]


def device_peaks(device_name: str, override: str):
    if override:
        return {k: float(v) for k, v in (item.split("=") for item in override.split(","))}
    for key, peaks in KNOWN_PEAKS.items():
        if all(word.lower() in device_name.lower() for word in key.split()):
            return peaks
    return {}


def peak_name(precision: str, device_type: str, cudnn_tf32: bool) -> str:
    """The peak an fp32 / bf16 / fp16 row is measured against: fp32 convolutions on CUDA run as TF32 when cuDNN may."""
    return "tf32" if precision == "fp32" and device_type == "cuda" and cudnn_tf32 else precision


def network_configs(names):
    from SuperResolution3DLib.models.card import read_model_card, resolve_model_path

    configs = {}
    for name in names:
        if name == "paper":
            configs["paper (64 feat, 23 blocks)"] = dict(PAPER_NETWORK)
        else:
            card = read_model_card(resolve_model_path(name))
            configs[f"{card['name']}"] = dict(card["network"])
    return configs


def measure(network, device, precision: str, batch: int, window: int, seconds: float, work_per_voxel: float):
    import torch

    from SuperResolution3DLib.core.precision import autocast

    lr = torch.rand((batch, 1, window, window, window), device=device)
    lr = lr.contiguous(memory_format=torch.channels_last_3d)

    def call():
        with torch.inference_mode(), autocast(device.type, precision):
            return network(lr)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    out = call()  # warm-up (kernel selection, allocator)
    sync()
    calls, started = 0, time.perf_counter()
    while True:
        out = call()
        calls += 1
        sync()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    per_call = elapsed / calls
    output_voxels = out[0, 0].numel() * batch
    flops = 2.0 * work_per_voxel * window ** 3 * batch
    peak_memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"seconds_per_call": per_call, "calls": calls, "output_voxels_per_s": output_voxels / per_call,
            "tflops": flops / per_call / 1e12, "peak_memory_gib": peak_memory}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--networks", default="default,paper", help="bundled model names and/or 'paper'")
    parser.add_argument("--precisions", default="fp32,bf16,fp16")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--windows", default="32,48,64", help="LR window sides (the output is 4x per axis)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per combination")
    parser.add_argument("--peak-tflops", default="", help="fp32=X,bf16=Y,fp16=Z for a device not in the table")
    parser.add_argument("--quick", action="store_true", help="a smoke run: batch 1, window 8, 0.2 s, tiny sweep")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu_throughput"))
    args = parser.parse_args(argv)

    import torch

    from SuperResolution3DLib.core.devices import select_device
    from SuperResolution3DLib.core.precision import resolve_precision
    from SuperResolution3DLib.inference.windows import ConvWorkMeter
    from SuperResolution3DLib.networks import build_network

    device = select_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    peaks = device_peaks(name, args.peak_tflops)
    batches, windows, seconds = parse_list(args.batches, int), parse_list(args.windows, int), args.seconds
    if args.quick:
        batches, windows, seconds = [1], [8], 0.2
    rows = []
    for label, config in network_configs(parse_list(args.networks)).items():
        network = build_network(dict(config)).eval().to(device).to(memory_format=torch.channels_last_3d)
        parameters = sum(p.numel() for p in network.parameters())
        work_per_voxel = ConvWorkMeter(network, lambda fraction: None).work_per_voxel
        for precision in parse_list(args.precisions):
            try:
                resolved = resolve_precision(precision, device.type)
            except ValueError as error:
                rows.append({"network": label, "precision": precision, "skipped": str(error)})
                continue
            for batch in batches:
                for window in windows:
                    row = {"network": label, "parameters": parameters, "precision": resolved, "batch": batch, "window": window}
                    try:
                        row.update(measure(network, device, resolved, batch, window, seconds, work_per_voxel))
                        peak = peak_name(resolved, device.type, torch.backends.cudnn.allow_tf32)
                        if peak in peaks:
                            row["percent_of_peak"], row["peak"] = 100.0 * row["tflops"] / peaks[peak], peak
                    except torch.cuda.OutOfMemoryError:
                        row["skipped"] = "out of GPU memory"
                        torch.cuda.empty_cache()
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        del network
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report = {"device": name, "device_type": device.type, "peaks_tflops": peaks, "torch": torch.__version__,
              "cuda": torch.version.cuda, "cudnn_tf32": torch.backends.cudnn.allow_tf32, "python": platform.python_version(), "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


def markdown(report) -> str:
    lines = [f"# Network throughput on {report['device']}", "",
             f"torch {report['torch']}, CUDA {report['cuda']}; peaks (TFLOP/s): {report['peaks_tflops'] or 'unknown'}; "
             f"fp32 convolutions as TF32 (cuDNN): {report.get('cudnn_tf32', 'unknown')}.", "",
             "| network | precision | batch | LR window | ms / call | output Mvoxel/s | TFLOP/s | % of peak | peak GiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        if "skipped" in row:
            lines.append(f"| {row['network']} | {row['precision']} | {row.get('batch', '')} | {row.get('window', '')} | "
                         f"{row['skipped']} | | | | |")
            continue
        percent = f"{row['percent_of_peak']:.1f} ({row.get('peak', row['precision'])})" if "percent_of_peak" in row else "-"
        memory = f"{row['peak_memory_gib']:.2f}" if row["peak_memory_gib"] is not None else "-"
        lines.append(f"| {row['network']} | {row['precision']} | {row['batch']} | {row['window']} | "
                     f"{1000 * row['seconds_per_call']:.1f} | {row['output_voxels_per_s'] / 1e6:.2f} | {row['tflops']:.3f} | "
                     f"{percent} | {memory} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
