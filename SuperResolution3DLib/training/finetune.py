"""Fine-tuning a model on one's own high-resolution scans (``sr3d finetune``; ``finetune_model`` in Python).

A researcher with high-resolution scans of their own kind (a protocol, an organ, a scanner) adapts a model to them:
the model's own degradation makes LR/HR pairs of the scans (k-space truncation for an isotropic model, thick slices
of the profiles it was trained on for a through-plane one), and L1 training goes on from its weights for a
wall-clock budget, the learning rate on a cosine over it. The last weights are exported as a model file whose card
records the start model, the scans and the run; validation scans (never the training ones) are scored on patches
before and after. ``WallClockL1Trainer`` is also what the GPU device script trains with.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from SuperResolution3DLib.core.config import (DataConfig, FineTuneSettings, OptimConfig, ScheduleConfig, TrainingConfig,
                                              check_training_config)
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.training.trainer import L1Trainer, cosine_learning_rate

NO_STEP_LIMIT = 10 ** 9


ProgressReport = Callable[[float, str], None]  # (fraction of the run done, message), as inference reports progress


class WallClockL1Trainer(L1Trainer):
    """``L1Trainer`` for a wall-clock budget: the learning rate falls on a cosine over ``budget_seconds`` (not over a
    step count), ``fit`` stops when it is spent (or at ``optim.steps``, or when ``cancel`` asks), ``report`` hears how
    far it is after every step, and no checkpoint is written (a time-boxed run is not resumed: its exported model is
    what remains)."""

    progress_label = "fine-tuning"

    def __init__(self, config: TrainingConfig, budget_seconds: float, log: Callable[[str], None] = print,
                 report: Optional[ProgressReport] = None):
        super().__init__(config, log=log)
        self.budget_seconds = budget_seconds
        self.report = report
        self.started = time.time()
        self.stop_reason = "the step limit"
        self.held_out_scores = None  # validation patch PSNR of the start model and of the exported one

    def scheduled_learning_rate(self) -> float:
        optim = self.config.optim
        return cosine_learning_rate(time.time() - self.started, self.budget_seconds, optim.learning_rate,
                                    optim.min_learning_rate)

    def fit(self, progress: bool = True, cancel: Optional[Callable[[], bool]] = None) -> None:
        self.started = time.time()

        def stop() -> bool:
            if cancel is not None and cancel():
                self.stop_reason = "a cancel"
                return True
            if time.time() - self.started >= self.budget_seconds:
                self.stop_reason = "the time budget"
                return True
            return False

        super().fit(progress=progress, cancel=stop)

    def fraction_done(self) -> float:
        """How far the run is: the budget's share spent, or the steps' where a step limit comes first."""
        return min(1.0, max((time.time() - self.started) / self.budget_seconds, self.step / self.config.optim.steps))

    def progress_bar(self, shown: bool):
        return _ReportingBar(self, self.report if shown else None)

    def on_cancel(self) -> None:
        self.log(f"stopped by {self.stop_reason} at step {self.step}")

    def save_checkpoint(self) -> None:
        pass

    def model_card(self) -> Dict[str, Any]:
        card = super().model_card()
        card["training_settings"]["optimizer"] += f" over a {self.budget_seconds / 60:g}-minute wall-clock budget"
        if self.held_out_scores is not None:
            card["training_settings"]["validation_patch_psnr_start_and_end"] = list(self.held_out_scores)
        return card


class _ReportingBar:
    """What ``fit`` updates once per step: the trainer's ``report`` hears the fraction done and the step."""

    def __init__(self, trainer: WallClockL1Trainer, report: Optional[ProgressReport]):
        self.trainer, self.report, self.losses = trainer, report, ""

    def update(self, steps: int = 1) -> None:
        if self.report is not None:
            minutes = (time.time() - self.trainer.started) / 60
            self.report(self.trainer.fraction_done(),
                        f"fine-tuning: step {self.trainer.step}, {minutes:.1f} of {self.trainer.budget_seconds / 60:g} min"
                        + self.losses)

    def set_postfix(self, values) -> None:
        self.losses = "".join(f", {name} {value}" for name, value in values.items())

    def close(self) -> None:
        if self.report is not None:
            self.report(1.0, f"fine-tuning: {self.trainer.step} steps")


@dataclass(frozen=True)
class FineTuneResult:
    """The fine-tuned model file, the run's steps and minutes, and the validation patches' PSNR (dB) with the start
    model and with the fine-tuned one (``None`` without validation scans)."""

    path: Path
    steps: int
    minutes: float
    validation_before: Optional[float]
    validation_after: Optional[float]


def finetune_config(model_path: Path, card: Dict[str, Any], train: Sequence[str], validation: Sequence[str],
                    out: Path, settings: FineTuneSettings) -> TrainingConfig:
    """The training run ``finetune_model`` makes: the model's network, normalisation, degradation and augmentation
    (from its card), the scans, ``settings``; the run's logs in ``<out stem>_run/`` beside ``out``."""
    network = dict(card["network"])
    trained = card.get("training_settings", {})
    augmentation = trained.get("augmentation", {}) if isinstance(trained.get("augmentation"), dict) else {}
    scale = [int(s) for s in network.get("scale", [4, 4, 4])]
    through_plane = len(set(scale)) > 1
    defaults = DataConfig()
    data = DataConfig(
        train=list(train), validation=list(validation), test=[],
        patch_size=int(settings.patch or trained.get("hr_patch_size", 48)),
        augment_intensity=float(augmentation.get("intensity", defaults.augment_intensity)),
        augment_noise=float(augmentation.get("noise", defaults.augment_noise)),
        degradation="slice_profile" if through_plane else "kspace",
        slice_profiles=list(augmentation.get("slice_profiles", defaults.slice_profiles)),
        slice_thickness=list(augmentation.get("slice_thickness", defaults.slice_thickness)),
    )
    config = TrainingConfig(
        name=out.stem,
        description=f"{card.get('name', model_path.stem)} fine-tuned (L1) on {len(train)} scan(s): "
                    f"{', '.join(Path(str(p)).name for p in train)[:300]}",
        network=network, normalization=dict(card["normalization"]), data=data,
        optim=OptimConfig(steps=settings.steps or NO_STEP_LIMIT, batch_size=settings.batch,
                          learning_rate=settings.learning_rate, min_learning_rate=settings.min_learning_rate,
                          seed=settings.seed, precision=settings.precision, device=settings.device),
        schedule=ScheduleConfig(validate_every=settings.validate_every, checkpoint_every=NO_STEP_LIMIT, log_every=10,
                                validation_patches=settings.validation_patches, export="last"),
        output_dir=str(out.parent / f"{out.stem}_run"), export_model=str(out), base_dir=str(Path.cwd()),
        start_from=str(model_path))
    try:
        check_training_config(config)
    except ValueError as error:
        raise InputVolumeError(f"sr3d finetune: {error}") from None
    return config


def finetune_model(model, train: Sequence[str], validation: Sequence[str] = (), out="finetuned.json",
                   settings: Optional[FineTuneSettings] = None, log: Callable[[str], None] = print,
                   progress: Optional[ProgressReport] = None, cancel: Optional[Callable[[], bool]] = None
                   ) -> FineTuneResult:
    """Fine-tune ``model`` (a bundled name or a model ``.json``) on the high-resolution scans ``train`` (files,
    folders, ``.txt`` lists, as in a training config) for ``settings.minutes``, scoring the ``validation`` scans'
    patches before and after; writes the model file ``out`` (and its weights beside it) and returns what it did.
    ``progress(fraction, message)`` hears how far it is after every step; ``cancel()`` returning true stops it after
    the step (the model is still written)."""
    from SuperResolution3DLib.models.card import find_model_files
    from SuperResolution3DLib.training.export import export_trained_model

    settings = settings or FineTuneSettings()
    out = Path(out).expanduser().resolve()
    model_path, card, _weights = find_model_files(model)
    trainer = WallClockL1Trainer(finetune_config(model_path, card, train, validation, out, settings),
                                 settings.minutes * 60, log=log, report=progress)
    trainer.load_data()
    before = trainer.validate().get("val_psnr")
    if before is not None:
        log(f"validation patches with {card.get('name', model_path.stem)}: {before:.2f} dB")
    trainer.fit(progress=progress is not None, cancel=cancel)
    after = trainer.validate()
    if after:
        if not any(row["step"] == trainer.step and "val_psnr" in row for row in trainer.history):
            row = {"step": trainer.step, **after}  # the card's validation history ends with the exported weights
            trainer.record_validation(row)
            trainer.write_log_row(row)
            trainer.close_logs()
        log(f"validation patches after {trainer.step} steps: {after['val_psnr']:.2f} dB"
            + (f" ({after['val_psnr'] - before:+.2f} dB)" if before is not None else ""))
        if before is not None:
            trainer.held_out_scores = (before, after["val_psnr"])
            if after["val_psnr"] < before:
                warnings.warn(f"the fine-tuned model scores lower on the held-out patches than "
                              f"{card.get('name', model_path.stem)} ({before:.2f} -> {after['val_psnr']:.2f} dB): it is "
                              "written, but the start model is the better one for scans like those", stacklevel=2)
    trainer.config = replace(trainer.config, optim=replace(trainer.config.optim, steps=trainer.step))
    path = export_trained_model(trainer, log=log)
    return FineTuneResult(path, trainer.step, trainer.train_seconds / 60, before, after.get("val_psnr"))
