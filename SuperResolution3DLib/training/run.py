"""``sr3d train CONFIG``: the one runner for every stage, alone or as one ``torchrun`` process.

It picks the stage's trainer (``stage: l1`` or ``gan``), joins the process group ``torchrun`` describes
(NCCL on GPUs, gloo on CPU; a single process otherwise), loads the data, resumes from the output folder's
checkpoint, trains, and exports the model file on rank 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Type, Union

from SuperResolution3DLib.core.config import TrainingConfig, load_training_config
from SuperResolution3DLib.training.distributed import cleanup_distributed, init_distributed
from SuperResolution3DLib.training.export import export_path, export_trained_model
from SuperResolution3DLib.training.gan import GANTrainer
from SuperResolution3DLib.training.trainer import L1Trainer, Trainer

TRAINERS: Dict[str, Type[Trainer]] = {"l1": L1Trainer, "gan": GANTrainer}


def run_training(
    config: Union[str, Path, TrainingConfig],
    resume: bool = True,
    progress: bool = True,
    cancel: Optional[Callable[[], bool]] = None,
    log: Callable[[str], None] = print,
) -> Optional[Path]:
    """Train as ``config`` says and export; returns the exported model card path (on every rank), or
    ``None`` when training stopped early (cancelled)."""
    if not isinstance(config, TrainingConfig):
        config = load_training_config(config)
    context = init_distributed()
    try:
        trainer = TRAINERS[config.stage](config, log=log, context=context)
        trainer.load_data()
        if resume:
            trainer.try_resume()
        trainer.fit(progress=progress, cancel=cancel)
        if trainer.step < config.optim.steps:
            return None
        if context.is_main:
            return export_trained_model(trainer, trainer.log)
        return export_path(trainer)
    finally:
        cleanup_distributed(context)
