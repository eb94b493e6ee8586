"""``sr3d predict``: one volume or a cohort, the checks before any heavy import, adaptation, outputs and views."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from SuperResolution3DLib.core.errors import InputVolumeError


def progress_printer(mode: str, description: str = "super-resolving") -> Optional[Callable[[float, str], None]]:
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
            bars.append(tqdm(total=100.0, desc=description, leave=True,
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
        check_output_path(args.input, args.output, args.series)
    if args.png:
        check_png_path(args.png, args.input, args.output)
    inspect_input(args.input, args.series)
    if args.hr:
        if not args.png:
            raise InputVolumeError("--reference only adds a column to the --png views; give --png VIEWS.png too")
        inspect_input(args.hr)
    if str(args.model) not in INTERPOLATION_MODES:
        find_model_files(args.model)
    check_device_present(args.device)
    check_adaptation_arguments(args)


def check_adaptation_arguments(args: argparse.Namespace) -> None:
    from SuperResolution3DLib.core.vocabulary import SLICE_PROFILES

    adaptation_options = {"--adapt-minutes": args.adapt_minutes, "--save-adapted": args.save_adapted}
    given = [name for name, value in adaptation_options.items() if value is not None]
    if given and not args.adapt:
        raise InputVolumeError(f"{', '.join(given)}: for --adapt only; add --adapt")
    if not args.adapt and args.slice_profile is not None and args.slice_profile not in SLICE_PROFILES:
        raise InputVolumeError(f"--slice-profile {args.slice_profile}: for --adapt only; without it, name the profile "
                               f"the slices are known to have ({', '.join(SLICE_PROFILES)})")
    if not args.adapt and args.slice_thickness is not None and args.slice_profile is None:
        raise InputVolumeError("--slice-thickness without --adapt describes known slices: give their --slice-profile too")
    if args.save_adapted is not None:
        from SuperResolution3DLib.models.card import new_model_card_path

        new_model_card_path(args.save_adapted)


def adaptation_settings(args: argparse.Namespace):
    """``AdaptationSettings`` from ``--adapt ...`` or ``None`` without ``--adapt``."""
    if not args.adapt:
        return None
    from SuperResolution3DLib.core.config import AdaptationSettings

    return AdaptationSettings.from_options(minutes=args.adapt_minutes, slice_profile=args.slice_profile,
                                           slice_thickness=args.slice_thickness, device=args.device)


def inference_settings(args: argparse.Namespace):
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.core.vocabulary import SLICE_PROFILES

    settings = InferenceSettings(
        window=args.window, overlap=args.overlap, context=args.context, batch=args.batch,
        device=args.device, precision=args.precision, clamp=args.clamp, backend=args.backend,
        mirror_ensemble=args.mirror_ensemble, padding_below=args.padding_below,
        slice_profile=args.slice_profile if args.slice_profile in SLICE_PROFILES and not args.adapt else None,
        slice_thickness=args.slice_thickness or 1.0,
    )
    if args.roi is not None:
        settings.roi_start, settings.roi_size = args.roi
    return settings


def super_resolve_file(input_path, requested_model: str, settings, models: dict, progress=None, log=print,
                       adaptation=None, adaptation_progress=None, slice_spacing=None, slice_spacing_if_thick=False,
                       series=None):
    """Read ``input_path`` (a DICOM folder's ``series``, as for ``data.io.read_volume``), pick the model
    (``model_for_input``; loaded once into ``models``), adapt it to the scan when ``adaptation``
    (``AdaptationSettings``) is given, super-resolve (a thick-slice input onto ``slice_spacing`` mm along its thick
    axis when given; with ``slice_spacing_if_thick``, as in a cohort, an input that goes to an isotropic model
    ignores it, with a note to ``log``): ``(input volume, result, model used)``."""
    from SuperResolution3DLib.core.anisotropy import THICK_SLICE_RULE
    from SuperResolution3DLib.data.acquisition import adaptation_with_record, recorded_slice_profile
    from SuperResolution3DLib.data.io import read_volume, read_volume_grid
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.inference.thick_slices import (adapt_thick_slice_model, check_output_slice_spacing,
                                                             interpolation_scale_for_input, is_through_plane,
                                                             model_for_input, slice_thickness_note, super_resolve_any)
    from SuperResolution3DLib.models.card import KSPACE_THICK_SLICE_MODEL_NAME
    from SuperResolution3DLib.models.files import interpolation_model, load_model

    (size, spacing, direction), volume = read_volume_grid(input_path, series)
    recorded = recorded_slice_profile(input_path, series)
    model_name, thick = model_for_input(requested_model, spacing, recorded.profile if recorded else None, direction)
    if adaptation is not None and thick is None:
        raise InputVolumeError("--adapt fine-tunes a through-plane model on a thick-slice scan, and this input has no "
                               f"thick-slice axis ({THICK_SLICE_RULE}); leave out --adapt")
    interpolation = model_name in INTERPOLATION_MODES  # along the thick axis only on a thick-slice input
    key = (model_name, interpolation_scale_for_input(thick)) if interpolation else model_name
    if key not in models:
        models[key] = interpolation_model(model_name, key[1]) if interpolation else load_model(model_name)
    model = models[key]
    through_plane = is_through_plane(model.scale)
    if through_plane and thick is None:
        raise InputVolumeError(f"a through-plane model needs a thick-slice input ({THICK_SLICE_RULE})")
    if slice_spacing is not None and slice_spacing_if_thick and (thick is None or not through_plane):
        log(f"--output-slice-spacing not applied: {Path(str(input_path)).name} goes to the isotropic model "
            f"{model.card.get('name', model_name)}")
        slice_spacing = None
    if slice_spacing is not None:
        check_output_slice_spacing(slice_spacing, thick, through_plane)
    from SuperResolution3DLib.networks import InterpolationUpsampler3D

    if not isinstance(model.network, InterpolationUpsampler3D):  # the rule of inference.api.super_resolve
        log(device_and_precision_text(settings))
        log(backend_text(settings, model.network, size))
        if settings.mirror_ensemble:
            log("mirror ensemble: each window runs on its 8 mirror images and they are averaged (8x the time)")
    if thick is not None and through_plane:
        log(f"{thick.describe(model.scale[2], slice_spacing)} (model {model.card.get('name', model_name)})")
        note = None if adaptation is not None or interpolation else slice_thickness_note(recorded, thick, model.card)
        if note:
            log(note)
        if requested_model == "default" and model_name == KSPACE_THICK_SLICE_MODEL_NAME:  # chosen by the record
            log(f"slices made by k-space truncation ({recorded.source}): the model trained on such slices")
    settings, said = known_slices(settings, recorded, thick, through_plane and not interpolation)
    if said:
        log(said)
    if not through_plane and volume is None:  # before a file's voxels are read
        check_memory_from_header(size, model, settings)
    volume = volume if volume is not None else read_volume(input_path, series)
    if adaptation is not None:
        if not through_plane or interpolation:
            raise InputVolumeError(f"--adapt needs a learned through-plane model (scale 1,1,f); {model_name} is "
                                   f"{'an interpolation' if interpolation else 'x'.join(map(str, model.scale))}: "
                                   "leave out --model")
        adaptation, taken = adaptation_with_record(adaptation, recorded, thick.axis, thick.thickness)
        if taken:
            log(taken)
        model = adapt_thick_slice_model(volume, model, adaptation, adaptation_progress, thick=thick,
                                        input_name=Path(str(input_path)).name, padding_below=settings.padding_below)
        log(adaptation_summary(model.card["adaptation"]))
    return volume, super_resolve_any(volume, model, settings, progress, thick, slice_spacing), model


def known_slices(settings, recorded, thick, learned_through_plane: bool):
    """``settings`` with the slice profile the scan records exactly (``data.acquisition.settings_with_known_profile``)
    where a learned through-plane model runs on a thick-slice input, and what to log (``""``: nothing): that the output
    will give back the slices, or why the user's ``--slice-profile`` is not used."""
    from dataclasses import replace

    from SuperResolution3DLib.data.acquisition import known_slices_sentence, settings_with_known_profile

    declared = settings.slice_profile
    if thick is None or not learned_through_plane:
        why = "the input has no thick-slice axis" if thick is None else "the model is not a learned through-plane model"
        return replace(settings, slice_profile=None), (f"--slice-profile {declared}: not used, {why}" if declared else "")
    settings, taken = settings_with_known_profile(settings, recorded, thick.axis, thick.thickness)
    if declared is None:
        return settings, taken
    return settings, known_slices_sentence(declared, settings.slice_thickness, "--slice-profile")


def device_and_precision_text(settings) -> str:
    from SuperResolution3DLib.core.devices import select_device
    from SuperResolution3DLib.core.precision import describe_precision

    device = select_device(settings.device)
    threads = ""
    if device.type == "cpu":
        import torch

        threads = f" ({torch.get_num_threads()} threads)"
    return f"device {device}{threads}, precision {describe_precision(settings.precision, device.type)}"


def backend_text(settings, network, size_xyz) -> str:
    from SuperResolution3DLib.inference.api import choose_network_backend, select_device

    backend, reason = choose_network_backend(settings, select_device(settings.device), network, tuple(size_xyz)[::-1])
    return f"network runs on {'OpenVINO' if backend == 'openvino' else 'PyTorch'} ({reason})"


def adaptation_summary(record: dict) -> str:
    verdict = "kept" if record["kept"] else "not kept: no better on held-out crops, the pre-trained model is used"
    return (f"adapted to the scan in {record['steps']} steps ({record['seconds']:.0f} s, {record['slice_profile']}): "
            f"held-out PSNR {record['held_out_psnr_before']:.2f} -> {record['held_out_psnr_after']:.2f} dB, {verdict}")


def command_predict(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.inference.cohort import is_cohort_input

    if is_cohort_input(args.input):
        return command_predict_cohort(args)
    check_predict_arguments(args)
    settings = inference_settings(args)
    adaptation = adaptation_settings(args)
    from SuperResolution3DLib.core.devices import set_inference_threads

    set_inference_threads()
    progress, adaptation_progress = progress_printer(args.progress), progress_printer(args.progress, "adapting")
    if adaptation is not None and args.progress == "lines":  # one bar in a parent process: adapting is its first half
        lines = progress
        adaptation_progress = lambda fraction, message="": lines(0.5 * fraction, message)  # noqa: E731
        progress = lambda fraction, message="": lines(0.5 + 0.5 * fraction, message)  # noqa: E731
    volume, result, model = super_resolve_file(args.input, args.model, settings, {}, progress,
                                               adaptation=adaptation, adaptation_progress=adaptation_progress,
                                               slice_spacing=args.output_slice_spacing, series=args.series)
    if args.save_adapted:
        from SuperResolution3DLib.models.card import ADAPTATION_NOT_KEPT
        from SuperResolution3DLib.models.files import save_model

        kept = model.card.get("adaptation", {}).get("kept")
        what = "the adapted model" if kept else f"the model ({ADAPTATION_NOT_KEPT})"
        print(f"wrote {what} {save_model(args.save_adapted, model.network, model.card)}")
    write_output(result, args.input, args.output, model, args.output_type, args.series)
    print(f"wrote {args.output}: {result.size[0]}x{result.size[1]}x{result.size[2]} voxels, "
          f"spacing {tuple(round(s, 4) for s in result.spacing)}")
    if args.png:
        write_comparison_png(args.png, volume, result, settings, model, args.hr)
        print(f"wrote {args.png}")
    return 0


def command_fuse(args: argparse.Namespace) -> int:
    """``sr3d fuse STACK... OUTPUT``: thick-slice stacks of one session into one isotropic volume
    (``inference.stacks``)."""
    from SuperResolution3DLib.core.devices import check_device_present, set_inference_threads
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.data.io import check_output_path, inspect_input, read_volume
    from SuperResolution3DLib.models.card import find_model_files

    paths, series = fusion_inputs(args.stacks, args.series)
    if args.slice_thickness is not None and args.slice_profile is None:
        raise InputVolumeError("--slice-thickness describes known slices: give their --slice-profile too")
    from SuperResolution3DLib.data.dicom import is_dicom_output

    for path, one_series in zip(paths, series):  # refusals before torch is imported
        inspect_input(path, one_series)
    if is_dicom_output(args.output):
        raise InputVolumeError(f"{args.output}: sr3d fuse writes a volume file (.nii, .nii.gz, .nrrd, .mha, .mnc, .mgz, .mgh), not a DICOM folder")
    check_output_path(paths[0], args.output, series[0])
    if args.model not in INTERPOLATION_MODES and args.model != "default":
        find_model_files(args.model)
    check_device_present(args.device)
    from SuperResolution3DLib.core.config import InferenceSettings
    from SuperResolution3DLib.inference.stacks import check_stacks, fuse_stacks

    stacks = [read_volume(path, one_series) for path, one_series in zip(paths, series)]
    check_stacks(stacks)
    set_inference_threads()
    settings = InferenceSettings(device=args.device, precision=args.precision, slice_profile=args.slice_profile,
                                 slice_thickness=args.slice_thickness or 1.0)
    per_stack = [stack_settings(settings, path, one_series, stack, index, args.model)
                 for index, (path, one_series, stack) in enumerate(zip(paths, series, stacks), start=1)]
    result = fuse_stacks(stacks, args.model, per_stack, args.spacing, progress_printer(args.progress, "fusing"),
                         register=args.register, log=print, field_of_view=args.fov)
    from SuperResolution3DLib.data.io import write_volume

    write_volume(result, args.output, notes=f"sr3d fuse of {len(stacks)} stacks ({args.model})"[:80])
    print(f"wrote {args.output}: {result.size[0]}x{result.size[1]}x{result.size[2]} voxels, "
          f"spacing {tuple(round(s, 4) for s in result.spacing)}")
    return 0


def fusion_inputs(stacks: List[str], series_option: Optional[str]) -> Tuple[List[str], List[Optional[str]]]:
    """``sr3d fuse``'s stacks as (path, series) pairs: ``--series`` gives one series per STACK folder, or several of
    one folder (each a stack); without it each folder's largest series."""
    if series_option is None:
        if len(stacks) < 2:
            raise InputVolumeError("give at least two stacks and the output (sr3d fuse STACK STACK... OUTPUT), or one "
                                   "DICOM folder and its stacks' series (sr3d fuse SESSION OUTPUT --series 5,6,7)")
        return list(stacks), [None] * len(stacks)
    series = [part.strip() for part in series_option.split(",")]
    if any(not part for part in series):
        raise InputVolumeError(f"--series {series_option}: give Series Numbers or UIDs separated by commas, one per stack")
    if len(stacks) == 1:
        stacks = list(stacks) * len(series)
    if len(series) != len(stacks) or len(stacks) < 2:
        raise InputVolumeError(f"--series names {len(series)} series for {len(stacks)} stacks: give one per STACK "
                               "folder, or at least two of one folder (sr3d fuse SESSION OUTPUT --series 5,6,7)")
    return list(stacks), series


def stack_settings(settings, path, series: Optional[str], stack, index: int, model_name: str):
    """A stack's settings for ``sr3d fuse``, as ``known_slices`` makes them for ``sr3d predict`` (the profile its file
    or DICOM ``series`` records, or ``--slice-profile``), said on stdout after what the stack's slices are."""
    from SuperResolution3DLib.core.anisotropy import find_thick_slices
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.data.acquisition import recorded_slice_profile

    thick = find_thick_slices(stack.spacing, stack.direction)
    name = Path(str(path)).name + ("" if series is None else f" series {series}")
    print(f"stack {index} ({name}): {thick.summary()}")
    settings, said = known_slices(settings, recorded_slice_profile(path, series), thick,
                                  model_name not in INTERPOLATION_MODES)
    if said:
        print(f"stack {index}: {said}")
    return settings


def command_predict_cohort(args: argparse.Namespace) -> int:
    """Many inputs (a folder of volume files, a glob or a .txt list) into an output folder: one model load,
    existing outputs skipped, a CSV manifest, a bad scan reported and the rest processed; exit 1 if any failed."""
    import os

    from SuperResolution3DLib.core.devices import check_device_present, visible_nvidia_devices
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.inference.cohort import (check_cohort_output, cohort_inputs, manifest_path, parse_shard,
                                                       run_cohort, shard_of)
    from SuperResolution3DLib.models.card import find_model_files

    if args.png or args.hr or args.roi is not None or args.adapt or args.series is not None:
        raise InputVolumeError("--png, --reference, --roi, --adapt and --series are for one input; leave them out for a "
                               "cohort")
    output_dir = check_cohort_output(args.output)
    index, count = parse_shard(args.shard)
    inputs = shard_of(cohort_inputs(args.input), index, count)
    if str(args.model) not in INTERPOLATION_MODES:
        find_model_files(args.model)
    check_device_present(args.device)
    settings = inference_settings(args)
    from SuperResolution3DLib.core.devices import set_inference_threads

    set_inference_threads()
    if "LOCAL_RANK" in os.environ and args.device in ("auto", "cuda") and visible_nvidia_devices():
        settings.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"  # one GPU per torchrun process
    output_dir.mkdir(exist_ok=True)
    models: dict = {}

    def process(input_path, output):
        notes = []
        _, result, model = super_resolve_file(input_path, args.model, settings, models, log=notes.append,
                                              slice_spacing=args.output_slice_spacing, slice_spacing_if_thick=True)
        write_output(result, input_path, output, model, args.output_type)
        kept = ("--output", "--slice-profile", "output made to give back")  # what differs from scan to scan
        return str(model.card.get("name", args.model)), "; ".join(n for n in notes if n.startswith(kept))

    manifest = manifest_path(output_dir, index, count)
    print(f"cohort: {len(inputs)} input(s) (shard {index}/{count}) -> {output_dir}; manifest {manifest.name}")
    counts = run_cohort(inputs, output_dir, process, manifest, args.overwrite)
    print(f"done {counts['done']}, skipped {counts['skipped']}, failed {counts['failed']}; manifest {manifest}")
    return 1 if counts["failed"] else 0


def write_output(result, input_path, output, model, output_type: str = "float32", series=None) -> None:
    """A volume file (``output_type`` ``input``: in the input's voxel type, ``data.io.as_pixel_type``), or a DICOM
    series when ``output`` names a folder (signed 16-bit with a rescale slope; patient and study from a DICOM input,
    its ``series`` as for ``data.io.read_volume``)."""
    from SuperResolution3DLib.data.dicom import is_dicom_output, read_dicom_attributes, write_dicom_series
    from SuperResolution3DLib.data.io import as_pixel_type, input_pixel_type, write_volume

    if not is_dicom_output(output):
        if output_type == "input":
            result = result.with_array(as_pixel_type(result.array, input_pixel_type(input_path, series)))
        write_volume(result, output, notes=provenance_note(model))
        return
    attributes = read_dicom_attributes(input_path, series=series) if Path(input_path).is_dir() else {}
    scale = "x".join(map(str, model.scale))
    write_dicom_series(result, output, f"SR {scale} {model.card.get('name', 'model')}", attributes)


def provenance_note(model) -> str:
    """The header note of an output (at most 80 characters, NIfTI's ``descrip``): package version, model, the first
    12 hex digits of its weights' SHA-256, and whether it was adapted to the scan."""
    from SuperResolution3DLib.models.card import package_version

    card = model.card
    digest = f" {card['weights_sha256'][:12]}" if card.get("weights_sha256") else ""
    adapted = ", adapted" if card.get("adaptation", {}).get("kept") else ""
    return f"sr3d {package_version()} predict: {card.get('name', 'model')}{digest}{adapted}"[:80]


def check_memory_from_header(size_xyz, model, settings) -> None:
    """Run the memory estimate on the input's header size before its voxels are read (a huge input is refused
    without allocating it); the region of interest, when given, is what is estimated."""
    from SuperResolution3DLib.core.devices import select_device
    from SuperResolution3DLib.inference.memory import activation_width, check_memory

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
