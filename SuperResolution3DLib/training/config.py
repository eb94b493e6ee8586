"""Training configuration: one YAML file -> dataclasses (the single place for training settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from ..errors import SR3DError


class TrainingConfigError(SR3DError, ValueError):
    """The training YAML is missing a setting or has one that cannot be used."""


@dataclass
class DataConfig:
    """Where the volumes come from and how patches are drawn.

    train / validation / test: each a list of entries; an entry is a volume file, a DICOM folder,
    a folder of volumes, a ``.txt`` list file (one path per line), or ``pkg:<package>/<path>`` for
    a file shipped inside an installed Python package (e.g. the MNI templates in nilearn).
    Relative paths are relative to the YAML file.
    patch_size: HR patch edge in voxels (a multiple of every scale factor); the LR patch is
    ``patch_size / scale``.
    foreground_probability: chance that a patch centre is drawn from the foreground mask.
    foreground_threshold: foreground = normalised intensity above this value.
    """

    train: List[str] = field(default_factory=list)
    validation: List[str] = field(default_factory=list)
    test: List[str] = field(default_factory=list)
    patch_size: int = 64
    foreground_probability: float = 0.9
    foreground_threshold: float = 0.1
    augment_flips: bool = True
    augment_axis_permutations: bool = True
    augment_intensity: float = 0.1


@dataclass
class OptimConfig:
    """Stage-1 (PSNR-oriented) optimisation: L1 loss, Adam."""

    steps: int = 1000
    batch_size: int = 2
    learning_rate: float = 2e-4
    betas: List[float] = field(default_factory=lambda: [0.9, 0.99])
    min_learning_rate: float = 1e-5
    grad_clip_norm: float = 1.0
    seed: int = 0
    num_threads: int = 0


@dataclass
class ScheduleConfig:
    """How often things happen during training (in steps)."""

    validate_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 10
    validation_patches: int = 8


@dataclass
class TrainingConfig:
    """A whole training run. ``network`` and ``normalization`` go verbatim into the model card."""

    name: str = "sr3d_model"
    description: str = ""
    network: Dict[str, Any] = field(
        default_factory=lambda: {"name": "RRDBNet3D", "num_feat": 16, "num_grow_ch": 8, "num_block": 2, "scale": [4, 4, 4]}
    )
    normalization: Dict[str, Any] = field(default_factory=lambda: {"kind": "percentile", "lower": 0.5, "upper": 99.5})
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    output_dir: str = "runs/sr3d_model"
    export_model: Optional[str] = None
    base_dir: str = "."

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _build(cls, values: Dict[str, Any], where: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainingConfigError(f"unknown setting(s) {unknown} in {where}; known: {sorted(known)}")
    return cls(**values)


def training_config_from_dict(values: Dict[str, Any], base_dir: Union[str, Path] = ".") -> TrainingConfig:
    values = dict(values or {})
    sections = {"data": DataConfig, "optim": OptimConfig, "schedule": ScheduleConfig}
    for key, cls in sections.items():
        values[key] = _build(cls, dict(values.get(key) or {}), f"section '{key}'")
    values.setdefault("base_dir", str(base_dir))
    config = _build(TrainingConfig, values, "the top level")
    check_training_config(config)
    return config


def load_training_config(path: Union[str, Path]) -> TrainingConfig:
    """Read a training YAML file (see ``configs/``)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingConfigError(f"training config {path} does not exist; see configs/ for examples")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise TrainingConfigError(f"training config {path} is not valid YAML: {error}".splitlines()[0]) from None
    if not isinstance(values, dict):
        raise TrainingConfigError(f"training config {path} must be a YAML mapping of settings")
    return training_config_from_dict(values, base_dir=path.parent.resolve())


def check_training_config(config: TrainingConfig) -> None:
    from ..networks import network_scale

    if not config.data.train:
        raise TrainingConfigError("data.train lists no volumes; give files, folders or a .txt list")
    scale = network_scale(config.network)
    if any(config.data.patch_size % s for s in scale):
        raise TrainingConfigError(f"data.patch_size {config.data.patch_size} must be a multiple of the scale {scale}")
    if config.optim.steps < 1 or config.optim.batch_size < 1:
        raise TrainingConfigError("optim.steps and optim.batch_size must be positive")
