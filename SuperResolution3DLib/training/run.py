"""``sr3d train CONFIG``: train, keep the best validation weights, export a model file with its card."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

from SuperResolution3DLib.core.config import TrainingConfig, load_training_config
from SuperResolution3DLib.training.trainer import L1Trainer


def run_training(
    config: Union[str, Path, TrainingConfig],
    resume: bool = True,
    progress: bool = True,
    cancel: Optional[Callable[[], bool]] = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train a generator as ``config`` says and export it; returns the exported model card path.

    The export goes to ``export_model`` (or ``<output_dir>/<name>.json``). Test volumes listed
    in ``data.test`` are degraded, super-resolved whole and scored against trilinear and B-spline
    interpolation (and, for a GAN started from a stage-1 model, against that model); the scores go
    into the model card.
    """
    if not isinstance(config, TrainingConfig):
        config = load_training_config(config)
    if config.stage == "gan":
        from SuperResolution3DLib.training.gan import run_gan_training

        return run_gan_training(config, resume=resume, progress=progress, cancel=cancel, log=log)
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from SuperResolution3DLib.core.errors import TrainingConfigError

        raise TrainingConfigError(
            "several processes (torchrun) train only with stage: gan; for data-parallel L1 training use "
            "stage: gan with gan.perceptual_weight: 0 and gan.adversarial_weight: 0"
        )
    trainer = L1Trainer(config, log=log)
    trainer.load_data()
    if resume:
        trainer.try_resume()
    trainer.fit(progress=progress, cancel=cancel)
    if trainer.step < config.optim.steps:
        return None
    return export_trained_model(trainer, log)


def export_trained_model(trainer: L1Trainer, log: Callable[[str], None] = print) -> Path:
    from SuperResolution3DLib.evaluation.evaluate import evaluate_against_interpolation
    from SuperResolution3DLib.models.files import SRModel, save_model
    from SuperResolution3DLib.data.patches import split_volume_entries

    config = trainer.config
    network = trainer.best_generator()
    card = trainer.model_card()
    test_paths = split_volume_entries(config.data, config.base_dir)[2]
    if test_paths:
        model = SRModel(network, trainer.scale, dict(config.normalization), card)
        references = trainer.reference_models()
        card["metrics"] = evaluate_against_interpolation(model, test_paths, references=references, log=log)
        card["training_data"]["test"] = [p.name for p in test_paths]
    target = config.export_model or str(trainer.output_dir / f"{config.name}.json")
    target = Path(target) if Path(target).is_absolute() else Path(config.base_dir) / target
    path = save_model(target, network, card)
    log(f"model written to {path}")
    return path
