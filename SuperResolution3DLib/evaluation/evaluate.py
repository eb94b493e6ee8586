"""Score super-resolution methods on HR volumes they were not trained on (the paper's Table 1 protocol).

For every HR volume: k-space degradation by the scale (``degradation.kspace_degrade``), super-resolution
with every method (``inference.super_resolve``, timed), the result cropped to the HR grid, then

* PSNR and SSIM (3D, ``metrics.py``), data_range = HR max - HR min as in the paper's code,
  optionally only inside ``metrics.foreground_mask(hr)``;
* LPIPS (2.5D, ``perceptual_metrics.lpips_2p5d``) when its AlexNet backbone weights are on this
  machine; otherwise ST-LPIPS, a different metric, reported under its own name (and the reason noted);
* FID (2.5D, ``perceptual_metrics``): per volume, between the slices of the three views of the SR and
  the HR volume, and pooled over all evaluated volumes;
* the seconds ``super_resolve`` took.

``evaluate_methods`` returns an ``EvaluationResult`` (one row per volume and method); ``summarize`` gives
mean and sample standard deviation per method across volumes (and folds); ``write_results`` writes
``results.md``, ``results.csv`` and ``per_volume.csv``; ``run_evaluation`` (``sr3d evaluate``) does all
of it and draws Figure 2 (``figures.comparison_figure``) for one subject.

k-fold selection: ``core.folds`` (volumes sorted by path; volume ``i`` belongs to fold ``i % folds``).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from SuperResolution3DLib.core.config import AdaptationSettings, InferenceSettings
from SuperResolution3DLib.core.errors import ThickSliceInputWarning
from SuperResolution3DLib.core.folds import select_fold
from SuperResolution3DLib.core.scale import as_scale, thick_axis_of
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.degradation import kspace_degrade
from SuperResolution3DLib.evaluation.tables import (COLUMN_TITLES, DECIMALS, markdown_table, results_markdown,  # noqa: F401
                                                   summarize, write_results)

PathLike = Union[str, Path]
METRICS = ("psnr", "ssim", "lpips", "stlpips", "fid")
DEFAULT_METRICS = ("psnr", "ssim", "lpips", "fid")


@dataclass
class EvaluationSettings:
    """How ``evaluate_methods`` scores.

    metrics: any of ``psnr``, ``ssim``, ``lpips`` (falls back to ST-LPIPS when LPIPS cannot run here),
        ``stlpips`` and ``fid``.
    scale: ``(x, y, z)`` degradation factor; ``None``: the scale of the first learned model (else 4).
    folds / fold: volume ``i`` of the sorted list is in fold ``i % folds``; with ``fold`` set only that fold
        is evaluated (its test set), otherwise every volume is, tagged with its fold.
    slice_step: LPIPS / FID use every ``slice_step``-th slice of each view (1: all).
    lpips_backbone / lpips_weights: LPIPS trunk (``alex`` or ``vgg``) and an explicit local weights file.
    foreground_only: PSNR / SSIM only inside ``metrics.foreground_mask(hr)``.
    seed: seeds torch and numpy before anything runs (the pipeline itself draws no random numbers).
    metric_device: where LPIPS / FID networks run (``cpu``, ``cuda``).
    figure_subject: index, in the evaluated list, of the subject drawn in Figure 2 (``None``: no figure).
    figure_box: ``(start, size)`` in HR voxel indices ``(x, y, z)`` of the zoomed box (``None``: centred).
    crop: ``(x, y, z)`` voxels of a centre crop taken from each HR volume before anything else (``None``: whole).
    shift_to_zero: volumes with negative values (CT in HU) are shifted by their minimum before degradation
        (``HU - min``), as the real-scan protocol does; scores do not change with a shift otherwise.
    interior: HR voxels at each face left out of PSNR / SSIM (the borders, where the FFT's periodic
        wrap-around of a cropped volume rings).
    slice_profile: ``None`` (k-space degradation) or ``rect`` / ``trapezoid`` / ``gaussian`` / ``sinc``: thick slices along
        the one axis whose scale is above 1 (``data.slice_profiles``), ``slice_thickness`` slice spacings thick.
    profile_known: the learned through-plane models are told ``slice_profile`` and ``slice_thickness`` (as ``sr3d
        predict`` reads them from ``sr3d degrade``'s note) and make their output give back the slices
        (``InferenceSettings.slice_profile``); off by default, since a scanner's slices seldom say.
    adapt: ``AdaptationSettings``: every through-plane model is also scored after self-supervised adaptation to each
        LR volume (``inference.adaptation``; method ``<name>+adapt``, its seconds include the adaptation).
    """

    metrics: Sequence[str] = DEFAULT_METRICS
    scale: Optional[Sequence[int]] = None
    folds: int = 1
    fold: Optional[int] = None
    slice_step: int = 1
    lpips_backbone: str = "alex"
    lpips_weights: Optional[str] = None
    foreground_only: bool = False
    seed: int = 0
    metric_device: str = "cpu"
    figure_subject: Optional[int] = 0
    figure_box: Optional[Tuple[Tuple[int, int, int], Tuple[int, int, int]]] = None
    crop: Optional[Tuple[int, int, int]] = None
    shift_to_zero: bool = False
    interior: int = 0
    slice_profile: Optional[str] = None
    slice_thickness: float = 1.0
    profile_known: bool = False
    adapt: Optional[AdaptationSettings] = None


@dataclass
class AdaptedModel:
    """A through-plane ``SRModel`` that is adapted to each LR volume before it runs (``EvaluationSettings.adapt``)."""

    model: Any
    adaptation: AdaptationSettings

    @property
    def scale(self):
        return self.model.scale

    @property
    def network(self):
        return self.model.network


def with_adapted_methods(methods: Dict[str, Any], adaptation: Optional[AdaptationSettings]) -> Dict[str, Any]:
    """``methods`` plus ``<name>+adapt`` after each through-plane model when ``adaptation`` is given."""
    if adaptation is None:
        return methods
    from SuperResolution3DLib.inference.thick_slices import is_through_plane

    through_plane = [name for name, model in methods.items() if is_through_plane(model.scale) and parameter_count(model) > 0]
    if not through_plane:
        raise ValueError("adaptation fine-tunes a through-plane model (scale 1,1,f); none of the methods is one")
    extended: Dict[str, Any] = {}
    for name, model in methods.items():
        extended[name] = model
        if name in through_plane:
            extended[f"{name}+adapt"] = AdaptedModel(model, adaptation)
    return extended


@dataclass
class EvaluationResult:
    """Rows: one dict per (volume, method) with ``volume``, ``fold``, ``method`` and the metric values."""

    rows: List[Dict[str, Any]] = field(default_factory=list)
    methods: List[str] = field(default_factory=list)
    parameters: Dict[str, int] = field(default_factory=dict)
    columns: List[str] = field(default_factory=list)
    pooled_fid: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    scale: Tuple[int, int, int] = (4, 4, 4)
    settings: Optional[EvaluationSettings] = None
    figure_data: Optional[Dict[str, Any]] = None


# Volumes, folds and methods ---------------------------------------------------------------------------
def resolve_methods(names: Sequence[str], scale: Optional[Sequence[int]] = None,
                    recorded_profile: Optional[str] = None) -> Tuple[Dict[str, Any], Tuple[int, int, int]]:
    """Load ``names`` (model files, bundled names, ``default``, or ``nearest``/``trilinear``/``bspline``).

    With a one-axis ``scale`` (thick slices), ``default`` is the through-plane model ``sr3d predict`` would pick for
    them (``inference.thick_slices.default_through_plane_model``; ``recorded_profile``: what the slices' file would
    record). Interpolation baselines get the common scale: ``scale``, else the first learned model's, else 4.
    Returns ``({display name: SRModel}, scale)``; raises ``ValueError`` when models' scales differ.
    """
    from SuperResolution3DLib.inference.thick_slices import default_through_plane_model
    from SuperResolution3DLib.models.files import load_model
    from SuperResolution3DLib.networks import INTERPOLATION_MODES

    thick_slices = scale is not None and thick_axis_of(as_scale(scale)) is not None
    learned = {}
    for name in names:
        if str(name) == "default" and thick_slices:
            learned[str(name)] = load_model(default_through_plane_model(recorded_profile) or "default")
        elif str(name) not in INTERPOLATION_MODES:
            learned[str(name)] = load_model(name)
    if scale is None:
        scale = next((model.scale for model in learned.values()), (4, 4, 4))
    scale = as_scale(scale)
    from SuperResolution3DLib.models.files import interpolation_model

    methods: Dict[str, Any] = {}
    for name in names:
        model = interpolation_model(str(name), scale) if str(name) in INTERPOLATION_MODES else learned[str(name)]
        if not serves_scale(model.scale, scale):
            raise ValueError(f"model {name!r} has scale {tuple(model.scale)}, the evaluation uses {scale}")
        label = _method_label(str(name), model)
        while label in methods:
            label += "'"
        methods[label] = model
    return methods, scale


def serves_scale(model_scale: Sequence[int], scale: Sequence[int]) -> bool:
    """A model serves an evaluation of its own scale; a through-plane model (``(1, 1, f)``) also serves any
    one-axis scale, as ``sr3d predict`` runs it on a thick-slice input of any ratio."""
    from SuperResolution3DLib.inference.thick_slices import is_through_plane

    return tuple(model_scale) == tuple(scale) or (is_through_plane(model_scale) and thick_axis_of(scale) is not None)


def super_resolve_for_scale(lr: Volume, hr: Volume, model, scale: Sequence[int], settings: InferenceSettings) -> Volume:
    """``model`` on the degraded ``lr``. A through-plane model of another factor or axis than ``scale`` runs as
    ``sr3d predict`` runs it on such a thick-slice input (along the thick axis, its output resampled onto the HR
    slices: ``inference.thick_slices``)."""
    from SuperResolution3DLib.inference.api import super_resolve

    from SuperResolution3DLib.core.anisotropy import ThickSlices
    from SuperResolution3DLib.inference.thick_slices import (consistent_with_slices, is_through_plane,
                                                             super_resolve_thick_slices)

    if tuple(model.scale) == tuple(scale):
        with warnings.catch_warnings():  # the protocol degrades at the model's scale, whatever the HR's spacing
            warnings.simplefilter("ignore", ThickSliceInputWarning)
            sr = super_resolve(lr, model, settings)
        return consistent_with_slices(sr, lr, model, settings) if is_through_plane(scale) else sr

    axis = thick_axis_of(scale)
    # the HR slice spacing is the target (an HR volume need not be isotropic: 0.96 x 0.96 x 1.5 mm CT)
    thick = ThickSlices(axis, float(lr.spacing[axis]), float(hr.spacing[axis]))
    return super_resolve_thick_slices(lr, model, settings, thick=thick)


def pad_past_extent(sr_array: np.ndarray, hr_shape: Sequence[int], interior: int) -> np.ndarray:
    """A through-plane model at another ratio than its factor gives up to ``ratio`` slices fewer than the HR past
    the last LR slice (the documented extent of its output grid); those are edge-copied when the interior that
    is scored leaves them out, so every method is scored on the same voxels."""
    missing = [int(h) - int(s) for s, h in zip(sr_array.shape, hr_shape)]
    if not any(missing) or min(missing) < 0 or max(missing) > int(interior):
        return sr_array
    return np.pad(sr_array, [(0, m) for m in missing], mode="edge")


def _method_label(name: str, model) -> str:
    if name in ("nearest", "trilinear", "bspline"):
        return name
    card_name = (model.card or {}).get("name")
    if name == "default" or Path(name).suffix.lower() in (".json", ".safetensors") or "/" in name:
        return str(card_name or Path(name).stem)
    return name


def parameter_count(model) -> int:
    return int(sum(p.numel() for p in model.network.parameters()))


# Metric availability ----------------------------------------------------------------------------------
def resolve_metrics(settings: EvaluationSettings, log: Optional[Callable[[str], None]] = None) -> Tuple[List[str], List[str]]:
    """The metric columns that can run here, and notes on what was replaced or skipped and why."""
    from SuperResolution3DLib.evaluation import perceptual as pm
    from SuperResolution3DLib.core.errors import MissingDependencyError

    unknown = sorted(set(settings.metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}")
    columns, notes = [], []
    for metric in settings.metrics:
        if metric in ("psnr", "ssim"):
            columns.append(metric)
        elif metric == "lpips":
            try:
                pm._import_optional("lpips", "lpips", "LPIPS")
                pm.find_lpips_backbone(settings.lpips_backbone, settings.lpips_weights)
                columns.append("lpips")
                continue
            except MissingDependencyError as error:
                reason = str(error)
            if pm.stlpips_available():
                notes.append(f"LPIPS was not computed: {reason} (the table's ST-LPIPS column).")
                if "stlpips" not in settings.metrics:
                    columns.append("stlpips")
            else:
                notes.append(f"LPIPS was not computed: {reason}. ST-LPIPS is not installed either ({pm.EVAL_EXTRA_HINT}).")
        elif metric == "stlpips":
            if pm.stlpips_available():
                columns.append("stlpips")
            else:
                notes.append(f"ST-LPIPS was not computed: stlpips-pytorch is not installed ({pm.EVAL_EXTRA_HINT}).")
        elif metric == "fid":
            try:
                pm.fid_model_path()
                columns.extend(["fid", "fid_pooled"])
            except MissingDependencyError as error:
                notes.append(f"FID was not computed: {error}")
    for note in notes:
        if log is not None:
            log(note)
    return list(dict.fromkeys(columns)), notes


# Evaluation -------------------------------------------------------------------------------------------
def evaluate_methods(
    hr_volumes: Sequence[Union[PathLike, Tuple[str, Any]]],
    methods: Dict[str, Any],
    settings: Optional[EvaluationSettings] = None,
    inference_settings: Optional[InferenceSettings] = None,
    progress: bool = True,
    log: Optional[Callable[[str], None]] = print,
    folds: Optional[Sequence[int]] = None,
) -> EvaluationResult:
    """Degrade, super-resolve with every method and score each HR volume (see the module docstring).

    ``hr_volumes``: paths (read with ``io.read_volume``) or ``(name, Volume)`` pairs, evaluated in the
    given order; ``folds``: the fold of each (default 0). ``methods``: ``{name: SRModel}``, all of one scale.
    """
    import torch

    from SuperResolution3DLib.evaluation import perceptual as pm
    from SuperResolution3DLib.data.io import read_volume, validate_volume
    from SuperResolution3DLib.evaluation.metrics import crop_to_common, psnr, ssim

    settings = settings or EvaluationSettings()
    inference_settings = inference_settings or InferenceSettings()
    if settings.profile_known:
        if settings.slice_profile is None:
            raise ValueError("profile_known needs a slice_profile (thick slices)")
        inference_settings = replace(inference_settings, slice_profile=settings.slice_profile,
                                     slice_thickness=settings.slice_thickness)
    if not methods:
        raise ValueError("no method to evaluate")
    scales = {tuple(model.scale) for model in methods.values()}
    if settings.scale is None and len(scales) != 1:
        raise ValueError(f"all methods must share one scale, got {sorted(scales)}")
    scale = as_scale(settings.scale) if settings.scale is not None else scales.pop()
    for method_name, model in methods.items():
        if not serves_scale(model.scale, scale):
            raise ValueError(f"{method_name} has scale {tuple(model.scale)}, the evaluation uses {scale}")
    torch.manual_seed(settings.seed)
    np.random.seed(settings.seed)
    columns, notes = resolve_metrics(settings, log)
    result = EvaluationResult(
        methods=list(methods), parameters={name: parameter_count(m) for name, m in methods.items()},
        columns=columns + ["seconds"], notes=notes, scale=scale, settings=settings,
    )
    pooled_sr: Dict[str, List[np.ndarray]] = {name: [] for name in methods}
    pooled_hr: List[np.ndarray] = []
    folds = list(folds) if folds is not None else [0] * len(hr_volumes)
    bar = _progress_bar(len(hr_volumes) * len(methods), progress)
    try:
        for index, (entry, fold) in enumerate(zip(hr_volumes, folds)):
            name, hr = (entry[0], entry[1]) if isinstance(entry, tuple) else (Path(entry).name, read_volume(entry))
            hr = prepare_hr_volume(validate_volume(hr if isinstance(hr, Volume) else Volume(np.asarray(hr))), settings)
            lr = degrade_for_evaluation(hr, scale, settings)
            hr_array = hr.array.astype(np.float32)
            low, high = pm.hr_intensity_range(hr_array)
            mask = scoring_mask(hr_array, settings)
            hr_features = None
            if "fid" in columns:
                hr_features = pm.fid_features_2p5d([hr_array], [(low, high)], settings.slice_step, device=settings.metric_device)
                pooled_hr.append(hr_features)
            keep_for_figure = settings.figure_subject is not None and index == settings.figure_subject
            figure_methods = []
            for method_name, model in methods.items():
                if bar is not None:
                    bar.set_description(f"{name}: {method_name}")
                started = time.perf_counter()
                if isinstance(model, AdaptedModel):
                    from SuperResolution3DLib.inference.thick_slices import adapt_thick_slice_model

                    adapted = adapt_thick_slice_model(lr, model.model, model.adaptation, input_name=f"{name} (LR)")
                    result.notes.append(f"{name}: {method_name}: {adapted.card['adaptation']['steps']} steps, held-out PSNR "
                                        f"{adapted.card['adaptation']['held_out_psnr_before']:.2f} -> "
                                        f"{adapted.card['adaptation']['held_out_psnr_after']:.2f} dB, "
                                        f"{'kept' if adapted.card['adaptation']['kept'] else 'not kept'}")
                    sr = super_resolve_for_scale(lr, hr, adapted, scale, inference_settings)
                else:
                    sr = super_resolve_for_scale(lr, hr, model, scale, inference_settings)
                seconds = time.perf_counter() - started
                sr_array, _ = crop_to_common(sr.array.astype(np.float32), hr_array)
                sr_array = pad_past_extent(sr_array, hr_array.shape, settings.interior)
                if sr_array.shape != hr_array.shape:
                    raise ValueError(f"{method_name} gave {sr.array.shape} voxels for the HR shape {hr_array.shape}")
                row: Dict[str, Any] = {"volume": name, "fold": int(fold), "method": method_name}
                data_range = high - low
                if "psnr" in columns:
                    row["psnr"] = psnr(sr_array, hr_array, data_range=data_range, mask=mask)
                if "ssim" in columns:
                    row["ssim"] = ssim(sr_array, hr_array, data_range=data_range, mask=mask)
                if "lpips" in columns:
                    row["lpips"] = pm.lpips_2p5d(
                        sr_array, hr_array, settings.lpips_backbone, settings.slice_step, (low, high),
                        settings.lpips_weights, device=settings.metric_device,
                    )
                if "stlpips" in columns:
                    row["stlpips"] = pm.stlpips_2p5d(
                        sr_array, hr_array, settings.lpips_backbone, settings.slice_step, (low, high), device=settings.metric_device
                    )
                if hr_features is not None:
                    sr_features = pm.fid_features_2p5d([sr_array], [(low, high)], settings.slice_step, device=settings.metric_device)
                    row["fid"] = pm.frechet_distance(sr_features, hr_features)
                    pooled_sr[method_name].append(sr_features)
                row["seconds"] = seconds
                result.rows.append(row)
                if keep_for_figure:
                    figure_methods.append((method_name, hr.with_array(sr_array)))
                if bar is not None:
                    bar.update(1)
            if keep_for_figure:
                result.figure_data = {"name": name, "lr": lr, "hr": hr, "methods": figure_methods}
            if log is not None:
                (bar.write if bar is not None else log)(f"{name}: " + "; ".join(_row_text(row, columns) for row in result.rows if row["volume"] == name and row["fold"] == fold))
    finally:
        if bar is not None:
            bar.close()
    if "fid_pooled" in columns and pooled_hr:
        hr_all = np.concatenate(pooled_hr)
        for method_name, parts in pooled_sr.items():
            result.pooled_fid[method_name] = float(pm.frechet_distance(np.concatenate(parts), hr_all))
    return result


def degrade_for_evaluation(hr: Volume, scale: Sequence[int], settings: EvaluationSettings) -> Volume:
    """The LR volume the methods start from: k-space truncation, or thick slices with a slice profile."""
    if settings.slice_profile is None:
        return kspace_degrade(hr, scale)
    from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade

    axis = thick_axis_of(scale)
    if axis is None:
        raise ValueError(f"a slice profile needs a scale above 1 on one axis only, got {list(scale)}")
    factor = scale[axis]
    return thick_slice_degrade(hr, axis, factor, settings.slice_profile, factor * settings.slice_thickness)


def centre_crop_box(size_xyz: Sequence[int], crop_xyz: Sequence[int]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """``(start, size)`` ``(x, y, z)`` of a centred box of ``crop_xyz`` voxels (clipped to the volume)."""
    size = tuple(min(int(c), int(n)) for c, n in zip(crop_xyz, size_xyz))
    start = tuple((int(n) - c) // 2 for n, c in zip(size_xyz, size))
    return start, size


def prepare_hr_volume(hr, settings: EvaluationSettings):
    """The HR volume the protocol scores: centre-cropped, and shifted to start at 0 when signed."""
    if settings.crop is not None:
        hr = hr.sub_volume(*centre_crop_box(hr.size, settings.crop))
    if settings.shift_to_zero and float(np.min(hr.array)) < 0:
        hr = hr.with_array(hr.array.astype(np.float32) - np.float32(np.min(hr.array)))
    return hr


def scoring_mask(hr_array: np.ndarray, settings: EvaluationSettings) -> Optional[np.ndarray]:
    """Voxels PSNR / SSIM are computed on: the foreground (optional) inside the interior (optional)."""
    from SuperResolution3DLib.evaluation.metrics import foreground_mask

    mask = foreground_mask(hr_array) if settings.foreground_only else None
    border = int(settings.interior)
    if border > 0:
        if min(hr_array.shape) <= 2 * border:
            raise ValueError(f"interior {border} leaves no voxel of a volume of {hr_array.shape[::-1]} voxels")
        inside = np.zeros(hr_array.shape, dtype=bool)
        inside[border:-border, border:-border, border:-border] = True
        mask = inside if mask is None else mask & inside
    return mask


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="evaluating", unit="run", leave=True)


def _row_text(row: Dict[str, Any], columns: Sequence[str]) -> str:
    parts = [row["method"]]
    for column in columns:
        if column in row:
            parts.append(f"{COLUMN_TITLES[column].split(' ')[0]} {row[column]:.{DECIMALS[column]}f}")
    return " ".join(parts)


# Summaries and files ----------------------------------------------------------------------------------
def run_evaluation(
    hr_entries: Sequence[PathLike],
    model_names: Sequence[str],
    out_dir: PathLike,
    settings: Optional[EvaluationSettings] = None,
    inference_settings: Optional[InferenceSettings] = None,
    progress: bool = True,
    log: Optional[Callable[[str], None]] = print,
) -> Dict[str, Path]:
    """``sr3d evaluate``: expand ``hr_entries`` (files, folders, ``.txt`` lists, ``pkg:`` paths), select the
    fold, evaluate every model of ``model_names`` and write the tables and ``figure2.png`` into ``out_dir``."""
    from SuperResolution3DLib.evaluation.figures import comparison_figure
    from SuperResolution3DLib.core.paths import expand_volume_entries

    settings = settings or EvaluationSettings()
    paths = expand_volume_entries([str(e) for e in hr_entries], ".")
    if not paths:
        raise ValueError("no HR volume to evaluate")
    selected = select_fold(paths, settings.folds, settings.fold)
    if not selected:
        raise ValueError(f"fold {settings.fold} of {settings.folds} selects none of the {len(paths)} volume(s)")
    recorded = settings.slice_profile if settings.profile_known else None  # what sr3d degrade's note would say
    methods, scale = resolve_methods(model_names, settings.scale, recorded)
    methods = with_adapted_methods(methods, settings.adapt)
    if settings.figure_subject is not None and not 0 <= settings.figure_subject < len(selected):
        raise ValueError(f"figure subject {settings.figure_subject} is not one of the {len(selected)} evaluated volume(s)")
    result = evaluate_methods(
        [p for p, _ in selected], methods, settings, inference_settings, progress, log, folds=[f for _, f in selected]
    )
    out_dir = Path(out_dir)
    figure_name = None
    written: Dict[str, Path] = {}
    if result.figure_data is not None:
        data = result.figure_data
        figure_path = comparison_figure(
            out_dir / "figure2.png", data["lr"], data["hr"], data["methods"], scale, settings.figure_box,
            title=f"{data['name']}: {'x'.join(map(str, scale))} super-resolution",
        )
        figure_name = "figure2.png"
        written["figure"] = Path(figure_path)
    written.update(write_results(result, out_dir, figure_name))
    return written


# The training export's scores ---------------------------------------------------------------------------
def evaluate_against_interpolation(
    model,
    hr_paths: Sequence[Path],
    baselines: Sequence[str] = ("trilinear", "bspline"),
    settings: Optional[InferenceSettings] = None,
    log: Callable[[str], None] = print,
    references: Optional[Dict[str, Any]] = None,
    slice_profile: Optional[str] = None,
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Degrade each HR volume with the model's scale, super-resolve it with the model, with
    each interpolation baseline and with each of ``references`` ({name: SRModel}, e.g. the stage-1
    model a GAN started from), and score every result against the HR volume.

    Returns ``{volume name: {method: {"psnr", "ssim", "seconds"}}}``; PSNR uses
    data_range = HR max - HR min over the whole volume, as in the paper's code.
    """
    from SuperResolution3DLib.models.files import interpolation_model

    methods = {"model": model}
    methods.update({name: interpolation_model(name, model.scale) for name in baselines})
    methods.update(references or {})
    evaluation = EvaluationSettings(metrics=("psnr", "ssim"), figure_subject=None, slice_profile=slice_profile)
    result = evaluate_methods([Path(p) for p in hr_paths], methods, evaluation, settings, progress=False, log=None)
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for row in result.rows:
        scores = {"psnr": row["psnr"], "ssim": row["ssim"], "seconds": round(row["seconds"], 2)}
        results.setdefault(row["volume"], {})[row["method"]] = scores
    for name, scores in results.items():
        log(f"{name}: " + "; ".join(f"{m} PSNR {s['psnr']:.2f} SSIM {s['ssim']:.4f}" for m, s in scores.items()))
    return results
