"""GAN training speed: iterations per second, peak memory and the share of the 2.5D perceptual loss.

    python benchmarks/training_speed.py [--config configs/gan_small_cpu.yaml] [--steps 10] [--warmup 2]
                                        [--threads 2] [--synthetic] [--precisions fp32,bf16] [--json out.json]

Runs variants of the same config, each in its own process so that peak memory is its own:

* ``gan``: the full GAN step (G forward, one D step, G step with L1 + 2.5D perceptual + adversarial, EMA);
  each timed step is followed by the same step without the perceptual loss, so that the two are
  timed under the same machine load;
* ``l1``: the stage-1 ``L1Trainer`` step on the same network and patches, for reference;
* ``gan-no-perceptual`` (on request): a GAN run with ``perceptual_weight: 0``, for its memory.

The perceptual loss's share of a GAN step is ``1 - time(step without it) / time(step)`` (its forward
and backward); the per-section wall times of the full step are printed too. Peak memory: CUDA
``max_memory_allocated`` on GPU; on CPU the process's peak RSS during the training steps (the kernel's
peak mark is reset after the volumes are loaded), and that minus the RSS before the first step
(Python, torch, the loaded volumes). ``start_from`` is ignored (speed
does not depend on it). ``--synthetic`` trains on random phantoms instead of the config's volumes.
``--precisions fp32,bf16`` runs the GAN variants once per precision, side by side (bf16/fp16 autocast
runs on CUDA only: on a CPU the trainer falls back to fp32 and the row says so); the L1 reference runs in fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("gan", "l1")


def _status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MiB (Linux)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) so that the data loading's peak is not counted."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _synthetic_data(config, folder: Path) -> None:
    import numpy as np

    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.core.volume import Volume

    rng = np.random.default_rng(0)
    size = max(3 * config.data.patch_size // 2, 48)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, size)] * 3, indexing="ij")
    for i in range(2):
        volume = 100.0 * ((x**2 + y**2 + z**2) < 0.8)
        for _ in range(20):
            c, r = rng.uniform(-0.6, 0.6, 3), rng.uniform(0.03, 0.2)
            volume = volume + rng.uniform(50, 200) * np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * r**2))
        write_volume(Volume(volume.astype(np.float32)), folder / f"phantom{i}.nii.gz")
    config.data.train = [str(folder / "phantom0.nii.gz")]
    config.data.validation = [str(folder / "phantom1.nii.gz")]
    config.data.test = []
    config.data.folds = 0


def _timed_step(trainer, lr, hr, cuda: bool) -> float:
    import torch

    started = time.perf_counter()
    trainer.train_step(lr, hr)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def run_variant(variant: str, config_path: str, steps: int, warmup: int, threads: int, synthetic: bool,
                precision: str = "fp32") -> dict:
    import torch

    from SuperResolution3DLib.core.config import GANConfig, load_training_config
    from SuperResolution3DLib.training.trainer import L1Trainer
    from SuperResolution3DLib.training.gan import GANTrainer

    torch.set_num_threads(threads)
    config = load_training_config(config_path)
    workdir = Path(tempfile.mkdtemp(prefix="sr3d_bench_"))
    config.output_dir = str(workdir / "run")
    config.optim.num_threads = threads
    if synthetic:
        _synthetic_data(config, workdir)
    if config.gan is None:
        config.gan = GANConfig()
    config.start_from = None
    config.optim.precision = precision
    if variant == "gan-no-perceptual":
        config.gan.perceptual_weight = 0.0
    if variant == "l1":
        config.stage, config.gan = "l1", None
        trainer = L1Trainer(config, log=lambda m: None)
    else:
        trainer = GANTrainer(config, log=lambda m: None)
    trainer.load_data()
    cuda = trainer.device.type == "cuda"
    batches = [trainer.sampler.batch(trainer.rng, config.optim.batch_size) for _ in range(warmup + steps)]
    batches = [(trainer.to_device(lr), trainer.to_device(hr)) for lr, hr in batches]
    rss_before = _status_mib("VmRSS")
    peak_reset = _reset_peak_rss()
    for lr, hr in batches[:warmup]:
        trainer.train_step(lr, hr)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if variant != "l1":
        trainer.collect_timings, trainer.timings = True, {}
    paired = variant == "gan" and trainer.perceptual is not None
    seconds, seconds_without_perceptual = 0.0, 0.0
    for lr, hr in batches[warmup:]:
        seconds += _timed_step(trainer, lr, hr, cuda)
        if paired:  # the same step without the perceptual loss, right after (same machine load)
            timings, perceptual = dict(trainer.timings), trainer.perceptual
            trainer.perceptual = None
            seconds_without_perceptual += _timed_step(trainer, lr, hr, cuda)
            trainer.perceptual, trainer.timings = perceptual, timings
    result = {
        "variant": variant,
        "requested_precision": precision,
        "precision": getattr(trainer, "precision", "fp32"),
        "device": torch.cuda.get_device_name(trainer.device) if cuda else f"cpu ({threads} threads)",
        "steps": steps,
        "seconds_per_step": seconds / steps,
        "iterations_per_second": steps / seconds,
        "sections_seconds_per_step": {k: v / steps for k, v in getattr(trainer, "timings", {}).items()},
    }
    if paired:
        result["seconds_per_step_without_perceptual"] = seconds_without_perceptual / steps
        result["perceptual_share_of_gan_step"] = 1.0 - seconds_without_perceptual / seconds
    if cuda:
        result["peak_cuda_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    peak_rss = _status_mib("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_before_training_mib"] = rss_before
    result["peak_rss_training_mib"] = peak_rss
    result["training_memory_mib"] = peak_rss - rss_before
    result["peak_rss_includes_data_loading"] = not peak_reset
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "gan_small_cpu.yaml"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--synthetic", action="store_true", help="random phantoms instead of the config's volumes")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--precisions", default="fp32", help="GAN precisions to compare, e.g. fp32,bf16 (CUDA)")
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)  # child process
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()

    if args.variant:
        print(json.dumps(run_variant(args.variant, args.config, args.steps, args.warmup, args.threads, args.synthetic,
                                     args.precision)))
        return 0

    runs = [(variant, precision) for precision in args.precisions.split(",") for variant in args.variants.split(",")
            if variant != "l1" or precision == "fp32"]
    results = []
    for variant, precision in runs:
        command = [sys.executable, __file__, "--variant", variant, "--config", args.config, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--threads", str(args.threads), "--precision", precision]
        command += ["--synthetic"] if args.synthetic else []
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return done.returncode
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = results[-1]
        memory = f"peak CUDA {r['peak_cuda_memory_mib']:.0f} MiB" if "peak_cuda_memory_mib" in r else (
            f"peak RSS {r['peak_rss_training_mib']:.0f} MiB while training, {r['training_memory_mib']:.0f} MiB "
            f"above the {r['rss_before_training_mib']:.0f} MiB of Python, torch and the loaded volumes")
        ran = r["precision"] if r["precision"] == precision else f"{precision} asked, ran {r['precision']}"
        print(f"{variant:18s} [{ran}] {r['iterations_per_second']:.3f} it/s ({r['seconds_per_step']:.2f} s/step), {memory}")
    summary = {"config": str(Path(args.config).resolve().relative_to(REPO)) if Path(args.config).resolve().is_relative_to(REPO) else args.config,
               "synthetic_data": args.synthetic, "results": results}
    for r in results:
        if r["variant"] != "gan":
            continue
        if "perceptual_share_of_gan_step" in r:
            summary.setdefault("perceptual_share_of_gan_step", {})[r["requested_precision"]] = r["perceptual_share_of_gan_step"]
            print(f"[{r['requested_precision']}] perceptual loss (forward + backward): {100 * r['perceptual_share_of_gan_step']:.0f}% "
                  f"of a GAN step ({r['seconds_per_step_without_perceptual']:.2f} s/step without it)")
        sections = r["sections_seconds_per_step"]
        total = sum(sections.values()) or 1.0
        print(f"[{r['requested_precision']}] GAN step sections: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sections.items()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
