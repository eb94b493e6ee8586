"""Training of SuperResolution3D generators (stage 1: L1; the GAN stage builds on ``L1Trainer``)."""

from ..config import TrainingConfig, load_training_config, training_config_from_dict
from ..errors import TrainingConfigError
from .dataset import PatchSampler, TrainingVolume, expand_volume_entries, prepare_training_volume
from .trainer import L1Trainer
from .gan import GANTrainer, run_gan_training
from .run import run_training

__all__ = [
    "TrainingConfig",
    "TrainingConfigError",
    "load_training_config",
    "training_config_from_dict",
    "PatchSampler",
    "TrainingVolume",
    "expand_volume_entries",
    "prepare_training_volume",
    "L1Trainer",
    "GANTrainer",
    "run_gan_training",
    "run_training",
]
