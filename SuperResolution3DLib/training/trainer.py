"""Stage-1 (PSNR-oriented) training: L1 loss, Adam, checkpoints, validation, model export.

``L1Trainer`` owns the generator, its optimiser and the loop; the GAN stage subclasses it
and overrides ``train_step`` / ``state_dict`` / ``load_state_dict`` to add a discriminator.
"""

from __future__ import annotations

import csv
import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.networks import build_network, network_scale
from SuperResolution3DLib.core.config import TrainingConfig
from SuperResolution3DLib.core.precision import autocast, resolve_precision
from SuperResolution3DLib.data.patches import PatchSampler, load_training_volumes, split_volume_entries

CHECKPOINT_NAME = "checkpoint_latest.pt"


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write a checkpoint to a temporary file and rename it, so a crash never leaves half a file."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def cosine_learning_rate(step: int, total: int, start: float, end: float) -> float:
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * min(step, total) / total))


def score_validation_patches(sr: np.ndarray, hr: np.ndarray) -> Dict[str, float]:
    """Mean PSNR/SSIM of SR patches ``[n, 1, z, y, x]`` (clipped to the HR batch's range) against HR.

    Each patch uses its own HR range as data_range; a constant HR patch (background) uses the batch's.
    """
    from SuperResolution3DLib.evaluation.metrics import psnr, ssim

    sr = np.clip(sr, hr.min(), hr.max())
    batch_range = float(hr.max() - hr.min()) or 1.0
    scores = []
    for s, h in zip(sr, hr):
        data_range = float(h.max() - h.min()) or batch_range
        scores.append((psnr(s[0], h[0], data_range), ssim(s[0], h[0], data_range)))
    return {"val_psnr": float(np.mean([s[0] for s in scores])), "val_ssim": float(np.mean([s[1] for s in scores]))}


class L1Trainer:
    """PSNR-oriented training of a generator on k-space degraded patch pairs."""

    def __init__(self, config: TrainingConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.scale = network_scale(config.network)
        self.output_dir = Path(config.base_dir, config.output_dir) if not Path(config.output_dir).is_absolute() else Path(config.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if config.optim.num_threads > 0:
            torch.set_num_threads(config.optim.num_threads)
        torch.manual_seed(config.optim.seed)
        self.rng = np.random.default_rng(config.optim.seed)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        # channels-last 3D tensors make CPU (oneDNN) convolutions and their gradients ~1.6x faster
        self.memory_format = torch.channels_last_3d
        self.precision = resolve_precision(config.optim.precision, self.device.type)
        self.generator = build_network(config.network).to(self.device, memory_format=self.memory_format)
        self.optimizer = torch.optim.Adam(
            self.generator.parameters(), lr=config.optim.learning_rate, betas=tuple(config.optim.betas)
        )
        self.step = 0
        self.best_psnr = -math.inf
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.history: List[Dict[str, float]] = []

    # data -----------------------------------------------------------------------------------
    def load_data(self) -> None:
        data = self.config.data
        self.train_paths, self.validation_paths, self.test_paths = split_volume_entries(data, self.config.base_dir)
        self.log(f"training volumes: {[p.name for p in self.train_paths]}")
        volumes = load_training_volumes(self.train_paths, self.scale, self.config.normalization, data.foreground_threshold)
        self.sampler = PatchSampler(volumes, self.scale, data)
        self.validation_batch = None
        if self.validation_paths:
            self.log(f"validation volumes: {[p.name for p in self.validation_paths]}")
            val_volumes = load_training_volumes(
                self.validation_paths, self.scale, self.config.normalization, data.foreground_threshold
            )
            val_sampler = PatchSampler(val_volumes, self.scale, _without_augmentation(data))
            self.validation_batch = val_sampler.batch(np.random.default_rng(12345), self.config.schedule.validation_patches)

    def to_device(self, batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).contiguous(memory_format=self.memory_format)

    # one optimisation step --------------------------------------------------------------------
    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> Dict[str, float]:
        self.generator.train()
        with autocast(self.device.type, self.precision):
            sr = self.generator(lr)
        loss = nn.functional.l1_loss(sr.float(), hr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip_norm > 0:
            nn.utils.clip_grad_norm_(self.generator.parameters(), self.config.optim.grad_clip_norm)
        self.optimizer.step()
        return {"l1": float(loss.detach())}

    def set_learning_rate(self) -> float:
        optim = self.config.optim
        value = cosine_learning_rate(self.step, optim.steps, optim.learning_rate, optim.min_learning_rate)
        for group in self.optimizer.param_groups:
            group["lr"] = value
        return value

    # validation -------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        if self.validation_batch is None:
            return {}
        self.generator.eval()
        lr, hr = self.validation_batch
        with autocast(self.device.type, self.precision):
            sr = self.generator(self.to_device(lr)).float().cpu().numpy()
        return score_validation_patches(sr, hr)

    # checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        return {
            "step": self.step,
            "generator": self.generator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best_psnr": self.best_psnr,
            "best_generator": self.best_state,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "history": self.history,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.best_psnr = float(state["best_psnr"])
        self.best_state = state["best_generator"]
        torch.set_rng_state(state["torch_rng"].cpu())  # a checkpoint loaded onto CUDA carries it there
        self.rng.bit_generator.state = state["numpy_rng"]
        self.history = list(state["history"])

    def save_checkpoint(self) -> Path:
        path = self.output_dir / CHECKPOINT_NAME
        atomic_torch_save(self.state_dict(), path)
        return path

    def try_resume(self) -> bool:
        path = self.output_dir / CHECKPOINT_NAME
        if not path.is_file():
            return False
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))
        self.log(f"resumed from {path} at step {self.step}")
        return True

    # the loop (the GAN stage overrides the hooks, not the loop) ---------------------------------
    progress_label = "training"
    postfix_losses = ("l1",)

    @property
    def is_main(self) -> bool:
        """Whether this process logs, validates and writes files (always, without torchrun)."""
        return True

    def cancel_requested(self, cancel: Optional[Callable[[], bool]]) -> bool:
        return cancel is not None and bool(cancel())

    def record_validation(self, row: Dict[str, float]) -> None:
        """Keep the weights with the best validation PSNR (the last ones when there is no validation)."""
        if row.get("val_psnr", -math.inf) > self.best_psnr or self.validation_batch is None:
            self.best_psnr = row.get("val_psnr", self.best_psnr)
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.generator.state_dict().items()}

    def write_log_row(self, row: Dict[str, float]) -> None:
        self.history.append(row)
        _append_csv(self.output_dir / "metrics.csv", row)

    def close_logs(self) -> None:
        """Release log writers at the end of ``fit`` (the CSV needs none)."""

    def fit(self, progress: bool = True, cancel: Optional[Callable[[], bool]] = None) -> None:
        from tqdm import tqdm

        optim, schedule = self.config.optim, self.config.schedule
        bar = tqdm(total=optim.steps, initial=self.step, disable=not (progress and self.is_main),
                   desc=self.progress_label, unit="step")
        started = time.time()
        try:
            while self.step < optim.steps:
                if self.cancel_requested(cancel):
                    self.save_checkpoint()
                    self.log(f"cancelled at step {self.step}; checkpoint saved, rerun to resume")
                    break
                lr_value = self.set_learning_rate()
                lr, hr = self.sampler.batch(self.rng, optim.batch_size)
                losses = self.train_step(self.to_device(lr), self.to_device(hr))
                self.step += 1
                bar.update(1)
                row = {"step": self.step, "lr": lr_value, **losses}
                if self.is_main and (self.step % schedule.validate_every == 0 or self.step == optim.steps):
                    row.update(self.validate())
                    self.record_validation(row)
                    self.log(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step"))
                if self.is_main and (self.step % schedule.log_every == 0 or "val_psnr" in row):
                    row["seconds"] = time.time() - started
                    self.write_log_row(row)
                    bar.set_postfix({k: f"{losses[k]:.4f}" for k in self.postfix_losses if k in losses})
                if self.step % schedule.checkpoint_every == 0 or self.step == optim.steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            self.close_logs()

    def best_generator(self) -> nn.Module:
        network = build_network(self.config.network)
        network.load_state_dict(self.best_state if self.best_state is not None else self.generator.state_dict())
        return network.eval()

    def reference_models(self) -> Dict[str, Any]:
        """Other models to score beside the exported one on the test volumes (none for stage 1)."""
        return {}

    def model_card(self) -> Dict[str, Any]:
        config = self.config
        return {
            "name": config.name,
            "description": config.description,
            "network": dict(config.network),
            "parameter_count": sum(p.numel() for p in self.generator.parameters()),
            "normalization": dict(config.normalization),
            "training_data": {
                "train": [str(p.name) for p in self.train_paths],
                "validation": [str(p.name) for p in self.validation_paths],
                "degradation": f"k-space truncation to the central 1/scale, magnitude, nearest downsampling; scale {list(self.scale)}",
                **({"folds": config.data.folds, "fold": config.data.fold} if config.data.folds else {}),
            },
            "training_settings": {
                "stage": "L1 (PSNR-oriented)",
                "steps": self.step,
                "batch_size": config.optim.batch_size,
                "hr_patch_size": config.data.patch_size,
                "optimizer": f"Adam lr {config.optim.learning_rate} -> {config.optim.min_learning_rate} cosine, betas {list(config.optim.betas)}",
                "augmentation": {
                    "flips": config.data.augment_flips,
                    "axis_permutations": config.data.augment_axis_permutations,
                    "intensity": config.data.augment_intensity,
                },
                "best_validation_patch_psnr": self.best_psnr,
                "precision": self.precision,
                "device": str(self.device),
            },
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def _without_augmentation(data):
    from dataclasses import replace

    return replace(data, augment_flips=False, augment_axis_permutations=False, augment_intensity=0.0, augment_noise=0.0)


def _append_csv(path: Path, row: Dict[str, float]) -> None:
    columns = ["step", "lr", "l1", "val_psnr", "val_ssim", "seconds"]
    extra = [k for k in row if k not in columns]
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns + extra, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
