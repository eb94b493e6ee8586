"""The one training loop, shared by every stage (BasicSR's model/hook shape).

``Trainer`` owns what all stages need: the config, the process's place in a data-parallel job
(``DistributedContext``; one process without ``torchrun``), the device and the precision, the generator
with its optimiser and gradient scaler, the patch sampler, the loop with its schedule, validation,
logging (CSV, TensorBoard when installed), cancel, atomic checkpoints and exact resume, and the model card.

A stage overrides a few hooks:

* ``setup_stage()``: build what the stage adds (the GAN: discriminator, perceptual loss, EMA);
* ``train_step(lr, hr)``: one optimisation step, returning the losses to log;
* ``stage_state()`` / ``load_stage_state(state)``: the stage's part of a checkpoint;
* ``export_network_live()``: the network the stage exports (stage 1: G; the GAN: the EMA of G);
* ``stage_card(settings)``: the stage's part of the model card.

``L1Trainer`` is stage 1 (L1 loss; keeps the weights with the best validation PSNR). The GAN stage is
``training.gan.GANTrainer``.
"""

from __future__ import annotations

import csv
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.core.config import TrainingConfig
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.paths import resolve_path
from SuperResolution3DLib.core.precision import autocast, resolve_precision
from SuperResolution3DLib.core.scale import config_scale
from SuperResolution3DLib.data.io import atomic_output_path
from SuperResolution3DLib.data.patches import PatchBatchPool, PatchSampler, load_training_volumes, split_volume_entries
from SuperResolution3DLib.models.card import sha256_of_file
from SuperResolution3DLib.networks import build_network
from SuperResolution3DLib.training.distributed import DistributedContext, main_only, rank_rng, wrap_ddp
from SuperResolution3DLib.training.records import (append_metrics_row, campaign_of_card, checksum_path, degradation_text,
                                                  tensorboard_writer)

CHECKPOINT_NAME = "checkpoint_latest.pt"


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


class Trainer:
    """The shared loop and state of a training run (see the module docstring for the hooks).

    context: this process's ``DistributedContext`` (default: a single process).
    """

    stage = "base"
    progress_label = "training"
    postfix_losses = ("l1",)

    @property
    def keeps_best_validation(self) -> bool:  # export the best validation weights (else: the last ones)
        return self.config.schedule.export == "best"

    def __init__(self, config: TrainingConfig, log: Callable[[str], None] = print,
                 context: Optional[DistributedContext] = None) -> None:
        self.config = config
        self.context = context or DistributedContext()
        self.log = main_only(log, self.context)
        self.scale = config_scale(config.network)
        self.output_dir = resolve_path(config.output_dir, config.base_dir)
        if config.optim.num_threads > 0:
            torch.set_num_threads(config.optim.num_threads)
        torch.manual_seed(config.optim.seed)
        self.rng = rank_rng(config.optim.seed, self.context.rank)
        self.device = self.context.device(config.optim.device)
        try:
            self.precision = resolve_precision(config.optim.precision, self.device.type)
            network = build_network(config.network)  # a bad network config stops before any folder is made
        except ValueError as error:
            raise TrainingConfigError(f"{error}") from None
        if self.context.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        # channels-last 3D tensors make CPU (oneDNN) convolutions and their gradients ~1.6x faster
        self.memory_format = torch.channels_last_3d
        self.generator = network.to(self.device, memory_format=self.memory_format)
        self.optimizer = torch.optim.Adam(
            self.generator.parameters(), lr=config.optim.learning_rate, betas=tuple(config.optim.betas)
        )
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self.step = 0
        self.best_psnr = -math.inf
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.history: List[Dict[str, float]] = []
        self.collect_timings = False
        self.timings: Dict[str, float] = {}
        self._board = None
        self.train_seconds = 0.0  # wall clock of this run, kept across resumes
        self.batch_pool: Optional[PatchBatchPool] = None
        self.start_info: Optional[str] = None
        self.parent_campaign: Dict[str, Any] = {}
        if config.start_from:
            self.load_start_weights(config.start_from)
        self.setup_stage()
        self.generator_ddp = wrap_ddp(self.generator, self.context)

    # hooks --------------------------------------------------------------------------------------
    def setup_stage(self) -> None:
        """Build what the stage adds to the generator (nothing for stage 1)."""

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> Dict[str, float]:
        raise NotImplementedError

    def stage_state(self) -> Dict[str, Any]:
        return {}

    def load_stage_state(self, state: Dict[str, Any]) -> None:
        """Restore the stage's part of a checkpoint (nothing for stage 1)."""

    def export_network_live(self) -> nn.Module:
        """The network being trained for export, as it is now."""
        return self.generator

    def stage_card(self, settings: Dict[str, Any]) -> None:
        """Add the stage's training settings to the model card (in place)."""

    def reference_models(self) -> Dict[str, Any]:
        """Other models to score beside the exported one on the test volumes (none for stage 1)."""
        return {}

    # warm start -----------------------------------------------------------------------------------
    def _start_state(self, source: str) -> Tuple[Dict[str, torch.Tensor], str, Dict[str, Any]]:
        """The weights named by ``source``: a checkpoint (``.pt``: its best validation weights, else its
        latest) or a model file (``.json``); returns ``(state dict, description, parent campaign)``."""
        path = resolve_path(source, self.config.base_dir)
        if not path.exists():
            raise TrainingConfigError(f"start_from {path} does not exist")
        if path.suffix == ".json":
            from SuperResolution3DLib.models.files import load_model

            model = load_model(path)
            if model.card.get("network", {}).get("name") != self.config.network.get("name"):
                raise TrainingConfigError(
                    f"start_from {path.name} has network {model.card.get('network')}, the config has {self.config.network}"
                )
            return model.network.state_dict(), f"model {path.name}", campaign_of_card(model.card)
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        campaign = {"total_steps": int(checkpoint.get("step", 0)), "total_hours": float(checkpoint.get("train_seconds", 0.0)) / 3600}
        if checkpoint.get("best_generator") is not None:
            return checkpoint["best_generator"], f"checkpoint {path.name} (best validation weights)", campaign
        return checkpoint["generator"], f"checkpoint {path.name} (step {checkpoint.get('step')})", campaign

    def load_start_weights(self, source: str) -> None:
        """Initialise the generator from the checkpoint or model file ``source`` (a fresh run's start)."""
        state, what, campaign = self._start_state(source)
        state, what = self._grown_start(state, what)
        try:
            self.generator.load_state_dict(state)
        except RuntimeError as error:
            raise TrainingConfigError(
                f"start_from {Path(source).name} does not fit the network {self.config.network}: {str(error).splitlines()[0]}"
            ) from None
        self.start_info, self.parent_campaign = what, campaign
        self.log(f"generator initialised from {what}")

    def _grown_start(self, state: Dict[str, torch.Tensor], what: str) -> Tuple[Dict[str, torch.Tensor], str]:
        """A start narrower or shallower than the config's network grows to it with the same output
        (``grown_state_dict``): a campaign can go on in a wider or deeper network from its committed weights."""
        from SuperResolution3DLib.networks.rrdbnet3d import grown_state_dict

        grown, note = grown_state_dict(state, self.config.network)
        return grown, what if note is None else f"{what}, {note}"

    def campaign(self) -> Dict[str, Any]:
        """Steps and hours of this run added to those of the weights it started from (warm starts)."""
        parent = self.parent_campaign
        return {
            "total_steps": int(parent.get("total_steps", 0)) + self.step,
            "total_hours": round(float(parent.get("total_hours", 0.0)) + self.train_seconds / 3600, 2),
            "runs": list(parent.get("runs", [])) + [
                {"name": self.config.name, "stage": self.stage, "steps": self.step, "hours": round(self.train_seconds / 3600, 2),
                 "started_from": self.start_info or "random initialisation"}
            ],
        }

    # shared pieces of a step ----------------------------------------------------------------------
    def autocast(self):
        return autocast(self.device.type, self.precision)

    def step_optimizer(self, loss: torch.Tensor, optimizer, scaler, parameters) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.config.optim.grad_clip_norm > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters, self.config.optim.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()

    def pixel_loss(self, sr: torch.Tensor, hr: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The voxel loss of ``optim.pixel_loss`` (l1 or mse) and the L1 distance that the log reports either way."""
        l1 = nn.functional.l1_loss(sr, hr)
        return (nn.functional.mse_loss(sr, hr) if self.config.optim.pixel_loss == "mse" else l1), l1

    def tick(self, name: str, started: float) -> float:
        """Add the time since ``started`` to ``timings[name]`` when ``collect_timings`` is on (benchmarks)."""
        if not self.collect_timings:
            return started
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - started
        return now

    def scheduled_learning_rate(self) -> float:
        """This step's learning rate: a cosine from ``learning_rate`` to ``min_learning_rate`` over ``optim.steps``."""
        optim = self.config.optim
        return cosine_learning_rate(self.step, optim.steps, optim.learning_rate, optim.min_learning_rate)

    def set_learning_rate(self) -> float:
        value = self.scheduled_learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = value
        return value

    # data -----------------------------------------------------------------------------------------
    def load_data(self) -> None:
        data = self.config.data
        self.train_paths, self.validation_paths, self.test_paths = split_volume_entries(data, self.config.base_dir)
        self.log(f"training volumes: {[p.name for p in self.train_paths]}")
        volumes = load_training_volumes(self.train_paths, self.scale, self.config.normalization, data.foreground_threshold,
                                        data.degradation, data.voxel_scales)
        self.sampler = PatchSampler(volumes, self.scale, data)
        self.validation_batch = None
        if self.validation_paths:
            self.log(f"validation volumes: {[p.name for p in self.validation_paths]}")
            val_volumes = load_training_volumes(
                self.validation_paths, self.scale, self.config.normalization, data.foreground_threshold, data.degradation
            )
            val_sampler = PatchSampler(val_volumes, self.scale, data.for_validation())
            self.validation_batch = val_sampler.batch(np.random.default_rng(12345), self.config.schedule.validation_patches)

    def draw_batch(self) -> Tuple[np.ndarray, np.ndarray]:
        """The training batch of this step: from this process's sampler, or from ``data.workers`` worker processes
        (started at the first batch, so that a resumed run's pool begins at its step)."""
        workers, batch_size = self.config.data.workers, self.config.optim.batch_size
        if not workers:
            return self.sampler.batch(self.rng, batch_size)
        if self.batch_pool is None:
            self.batch_pool = PatchBatchPool(self.sampler, workers, batch_size, self.config.optim.seed, self.context.rank,
                                             first_batch=self.step)
        return self.batch_pool.next()

    def close_batch_pool(self) -> None:
        if self.batch_pool is not None:
            self.batch_pool.close()
            self.batch_pool = None

    def to_device(self, batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).contiguous(memory_format=self.memory_format)

    # validation -----------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """PSNR/SSIM of the network being exported on the (fixed) validation patches."""
        if self.validation_batch is None:
            return {}
        network = self.export_network_live()
        was_training = network.training
        network.eval()
        lr, hr = self.validation_batch
        with self.autocast():
            sr = network(self.to_device(lr))
        network.train(was_training)
        sr = sr.float().cpu().numpy()
        self.after_validation(lr, sr, hr)
        return score_validation_patches(sr, hr)

    def after_validation(self, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray) -> None:
        """Called with each validation batch's output (the GAN writes a PNG)."""

    def record_validation(self, row: Dict[str, float]) -> None:
        """Track the best validation PSNR; keep its weights when the stage exports the best."""
        improved = row.get("val_psnr", -math.inf) > self.best_psnr
        if improved:
            self.best_psnr = row["val_psnr"]
        if self.keeps_best_validation and (improved or self.validation_batch is None):
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.generator.state_dict().items()}

    # checkpoints ----------------------------------------------------------------------------------
    def _rng_state(self) -> Dict[str, Any]:
        state = {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def state_dict(self) -> Dict[str, Any]:
        """The whole training state; a collective under DDP (every rank's RNG state is gathered)."""
        return {
            "stage": self.stage,
            "step": self.step,
            "generator": self.generator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "g_scaler": self.g_scaler.state_dict(),
            "best_psnr": self.best_psnr,
            "best_generator": self.best_state,
            "history": self.history,
            "train_seconds": self.train_seconds,
            "world_size": self.context.world_size,
            "rank_rng": self.context.all_gather_object(self._rng_state()),
            **self.stage_state(),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if state.get("stage", "l1") != self.stage:
            names = {"l1": "a stage-1 (L1)", "gan": "a GAN (stage 2)"}
            raise TrainingConfigError(
                f"the checkpoint in {self.output_dir} is {names.get(state.get('stage', 'l1'), 'another stage')} checkpoint, "
                f"this run is {names.get(self.stage, self.stage)} run; give the run its own output_dir "
                "(a GAN names the L1 checkpoint or model in start_from)"
            )
        self.step = int(state["step"])
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("g_scaler"):
            self.g_scaler.load_state_dict(state["g_scaler"])
        self.best_psnr = float(state["best_psnr"])
        self.best_state = state["best_generator"]
        self.history = list(state["history"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.load_stage_state(state)
        self._load_rng(state)

    def _load_rng(self, state: Dict[str, Any]) -> None:
        rngs = state.get("rank_rng") or []
        if not rngs and "numpy_rng" in state:  # a single-process checkpoint of version 0.1
            rngs = [{"numpy": state["numpy_rng"], "torch": state["torch_rng"]}]
        if int(state.get("world_size", 1)) == self.context.world_size and len(rngs) == self.context.world_size:
            mine = rngs[self.context.rank]
            self.rng.bit_generator.state = mine["numpy"]
            torch.set_rng_state(mine["torch"].cpu())
            if "cuda" in mine and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda"], self.device)
            return
        self.rng = np.random.default_rng([self.config.optim.seed, self.context.rank, self.step])
        self.log(
            f"checkpoint was written by {state.get('world_size', 1)} process(es), this run has "
            f"{self.context.world_size}: patch streams are reseeded (training continues, not bit-identically)"
        )

    def save_checkpoint(self) -> Path:
        """Every rank calls this (the RNG states are gathered); rank 0 writes atomically."""
        path = self.output_dir / CHECKPOINT_NAME
        state = self.state_dict()
        if self.context.is_main:
            with atomic_output_path(path) as temporary:
                torch.save(state, temporary)
                digest = sha256_of_file(temporary)
            with atomic_output_path(checksum_path(path)) as temporary:
                temporary.write_text(digest + "\n")
        self.context.barrier()
        return path

    def try_resume(self) -> bool:
        """Load ``output_dir/checkpoint_latest.pt`` if there is one (every rank reads it)."""
        path = self.output_dir / CHECKPOINT_NAME
        if not path.is_file():
            return False
        recorded = checksum_path(path)
        if recorded.is_file() and recorded.read_text().strip() != sha256_of_file(path):
            raise TrainingConfigError(
                f"the checkpoint {path} does not match its SHA-256 ({recorded.name}): it was changed or damaged; "
                "delete it, or start again with --no-resume"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - cut off, not a checkpoint, or pickled objects: all unusable
            raise TrainingConfigError(
                f"the checkpoint {path} cannot be loaded ({type(error).__name__}: {str(error).splitlines()[0][:120]}); "
                "delete it, or start again with --no-resume"
            ) from None
        self.load_state_dict(state)
        self.drop_log_rows_after(self.step)
        self.log(f"resumed from {path} at step {self.step}")
        return True

    def drop_log_rows_after(self, step: int) -> None:
        """Remove ``metrics.csv`` rows logged after ``step`` (the checkpoint), so a resumed run does not repeat them."""
        path = self.output_dir / "metrics.csv"
        if not (self.context.is_main and path.is_file()):
            return
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        kept = rows[:1] + [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) <= step]
        if len(kept) < len(rows):
            with atomic_output_path(path) as temporary:
                with open(temporary, "w", newline="") as handle:
                    csv.writer(handle).writerows(kept)

    # logs and cancel ------------------------------------------------------------------------------
    def cancel_requested(self, cancel: Optional[Callable[[], bool]]) -> bool:
        """Rank 0 asks; every rank gets its answer, so all stop at the same step."""
        if cancel is None:
            return False
        flag = bool(cancel()) if self.context.is_main else False
        return bool(self.context.broadcast_object(flag))

    def write_log_row(self, row: Dict[str, float]) -> None:
        self.history.append(row)
        append_metrics_row(self.output_dir / "metrics.csv", row)
        if self._board is None:
            self._board = tensorboard_writer(self.output_dir / "tensorboard") or False
        if self._board:
            for key, value in row.items():
                if key != "step":
                    self._board.add_scalar(key, value, self.step)
            self._board.flush()

    def close_logs(self) -> None:
        if self._board:
            self._board.close()
        self._board = None

    # the loop -------------------------------------------------------------------------------------
    def progress_bar(self, shown: bool):
        """The bar ``fit`` updates once per step (tqdm over the steps)."""
        from tqdm import tqdm

        return tqdm(total=self.config.optim.steps, initial=self.step, disable=not shown, desc=self.progress_label,
                    unit="step")

    def on_cancel(self) -> None:
        """What ``fit`` does when ``cancel`` asks it to stop: keep a checkpoint to resume from."""
        self.save_checkpoint()
        self.log(f"cancelled at step {self.step}; checkpoint saved, rerun to resume")

    def fit(self, progress: bool = True, cancel: Optional[Callable[[], bool]] = None) -> None:
        optim, schedule = self.config.optim, self.config.schedule
        main = self.context.is_main
        bar = self.progress_bar(progress and main)
        started = time.time()
        seconds_before = self.train_seconds
        try:
            while self.step < optim.steps:
                if self.cancel_requested(cancel):
                    self.on_cancel()
                    break
                lr_value = self.set_learning_rate()
                lr, hr = self.draw_batch()
                losses = self.train_step(self.to_device(lr), self.to_device(hr))
                self.step += 1
                self.train_seconds = seconds_before + time.time() - started
                bar.update(1)
                row = {"step": self.step, "lr": lr_value, **losses}
                if main and (self.step % schedule.validate_every == 0 or self.step == optim.steps):
                    row.update(self.validate())
                    self.record_validation(row)
                    self.log(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step"))
                if main and (self.step % schedule.log_every == 0 or "val_psnr" in row):
                    row["seconds"] = time.time() - started
                    self.write_log_row(row)
                    bar.set_postfix({k: f"{losses[k]:.4f}" for k in self.postfix_losses if k in losses})
                if self.step % schedule.checkpoint_every == 0 or self.step == optim.steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            self.close_batch_pool()
            self.close_logs()

    # export ---------------------------------------------------------------------------------------
    def best_generator(self) -> nn.Module:
        """A CPU copy of the network to export: the best validation weights, or the live export network."""
        network = build_network(self.config.network)
        if self.keeps_best_validation and self.best_state is not None:
            state = self.best_state
        else:
            state = {k: v.detach().cpu() for k, v in self.export_network_live().state_dict().items()}
        network.load_state_dict(state)
        return network.eval()

    def model_card(self) -> Dict[str, Any]:
        config, optim = self.config, self.config.optim
        settings = {
            "stage": "L1 (PSNR-oriented)",
            "pixel_loss": optim.pixel_loss,
            "steps": self.step, "exported_weights": "best validation" if self.keeps_best_validation else "last step",
            "batch_size": optim.batch_size,
            "hr_patch_size": config.data.patch_size,
            "optimizer": f"Adam lr {optim.learning_rate} -> {optim.min_learning_rate} cosine, betas {list(optim.betas)}"
            if optim.min_learning_rate != optim.learning_rate
            else f"Adam lr {optim.learning_rate} constant, betas {list(optim.betas)}",
            "augmentation": {
                "flips": config.data.augment_flips,
                "axis_permutations": config.data.augment_axis_permutations,
                "intensity": config.data.augment_intensity,
                "noise": config.data.augment_noise,
                "voxel_scales": list(config.data.voxel_scales),
                **({"slice_profiles": list(config.data.slice_profiles), "slice_thickness": list(config.data.slice_thickness)}
                   if config.data.degradation == "slice_profile" else {}),
                **({"thick_ratios": list(config.data.thick_ratios),
                    "thick_ratio_probability": config.data.thick_ratio_probability}
                   if config.data.thick_ratios is not None else {}),
            },
            "best_validation_patch_psnr": self.best_psnr,
            "wall_clock_hours": round(self.train_seconds / 3600, 2),
            "started_from": self.start_info or "random initialisation",
            "precision": self.precision,
            "device": str(self.device),
            "processes": self.context.world_size,
            "effective_batch_size": optim.batch_size * self.context.world_size,
            "patch_workers": config.data.workers,
            "validation_history": [
                {"step": row["step"], "val_psnr": row["val_psnr"], "val_ssim": row.get("val_ssim")}
                for row in self.history if "val_psnr" in row
            ],
        }
        self.stage_card(settings)
        return {
            "name": config.name,
            "description": config.description,
            "network": dict(config.network),
            "parameter_count": sum(p.numel() for p in self.generator.parameters()),
            "normalization": dict(config.normalization),
            "training_data": {
                "train": [str(p.name) for p in self.train_paths],
                "validation": [str(p.name) for p in self.validation_paths],
                "degradation": degradation_text(config.data, self.scale),
                **({"folds": config.data.folds, "fold": config.data.fold} if config.data.folds else {}),
            },
            "training_settings": settings,
            "training_campaign": self.campaign(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


class L1Trainer(Trainer):
    """Stage 1 (PSNR-oriented): L1 loss (or MSE, ``optim.pixel_loss``), Adam; exports the weights with the best
    validation PSNR."""

    stage = "l1"

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> Dict[str, float]:
        self.generator.train()
        with self.autocast():
            sr = self.generator_ddp(lr).float()
        loss, l1 = self.pixel_loss(sr, hr)
        self.step_optimizer(loss, self.optimizer, self.g_scaler, self.generator.parameters())
        return {"l1": float(l1.detach())}
