"""Export a trained generator as a model file whose card scores it on the test volumes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from SuperResolution3DLib.core.paths import resolve_path
from SuperResolution3DLib.training.trainer import Trainer


def export_path(trainer: Trainer) -> Path:
    """Where the model goes: ``export_model``, or ``<output_dir>/<name>.json``."""
    config = trainer.config
    return resolve_path(config.export_model, config.base_dir) if config.export_model else trainer.output_dir / f"{config.name}.json"


def export_trained_model(trainer: Trainer, log: Callable[[str], None] = print) -> Path:
    """Save the trainer's export network with its card; test volumes (``data.test``) are degraded,
    super-resolved whole and scored against trilinear and B-spline interpolation (and the stage's
    reference models, e.g. the GAN's stage-1 start), and the scores go into the card."""
    from SuperResolution3DLib.models.files import SRModel, save_model

    config = trainer.config
    network = trainer.best_generator()
    card = trainer.model_card()
    score_on_test_volumes(SRModel(network, trainer.scale, dict(config.normalization), card), config,
                          trainer.reference_models(), log)
    path = save_model(export_path(trainer), network, card, weights_dtype=config.export_weights_dtype)
    log(f"model written to {path}")
    return path


def score_on_test_volumes(model, config, references=None, log: Callable[[str], None] = print) -> None:
    """Put the scores of ``model`` (an ``SRModel``) on ``config``'s test volumes (``data.test``) into its card."""
    from SuperResolution3DLib.data.patches import split_volume_entries
    from SuperResolution3DLib.evaluation.evaluate import evaluate_against_interpolation

    test_paths = split_volume_entries(config.data, config.base_dir)[2]
    if not test_paths:
        return
    # a through-plane model is scored on contiguous Gaussian thick slices (k-space truncation otherwise)
    profile = "gaussian" if config.data.degradation == "slice_profile" else None
    model.card["metrics"] = evaluate_against_interpolation(model, test_paths, references=references, log=log,
                                                           slice_profile=profile)
    model.card["training_data"]["test"] = [p.name for p in test_paths]
