"""Training of SuperResolution3D generators (stage 1: L1; the GAN stage builds on ``L1Trainer``)."""

from SuperResolution3DLib.core.config import TrainingConfig, load_training_config, training_config_from_dict
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.paths import expand_volume_entries
from SuperResolution3DLib.data.patches import PatchSampler, TrainingVolume, prepare_training_volume
from SuperResolution3DLib.training.trainer import L1Trainer
from SuperResolution3DLib.training.gan import GANTrainer, run_gan_training
from SuperResolution3DLib.training.run import run_training

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
