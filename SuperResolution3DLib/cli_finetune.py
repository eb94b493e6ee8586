"""``sr3d finetune SCAN... --out MODEL.json``: a model fine-tuned on one's own high-resolution scans
(``training.finetune``), with every refusal made before torch is imported."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from SuperResolution3DLib.core.errors import InputVolumeError, TrainingConfigError


def add_finetune_parser(commands, defaults_device: str, number) -> None:
    """``sr3d finetune``'s arguments (``number(type, name, minimum)``: cli's checked number type)."""
    finetune = commands.add_parser(
        "finetune", help="fine-tune a model on your own high-resolution scans",
        description="Make LR/HR pairs of your high-resolution scans with the model's own degradation (k-space for an "
                    "isotropic model, thick slices for a through-plane one) and continue its L1 training on them for "
                    "--minutes; writes a model file for --model. Ctrl-C stops early and still writes it.")
    finetune.add_argument("scans", nargs="+", metavar="SCAN", help="high-resolution training scans: files, folders, "
                          ".txt lists (never the scans you will judge the model on)")
    finetune.add_argument("--out", required=True, metavar="MODEL.json", help="the fine-tuned model file (its weights "
                          "are written beside it, its logs into MODEL_run/)")
    finetune.add_argument("--model", default="default", help="the model to start from: a bundled name "
                          "(sr3d_rrdb_thick_x4_l1 for thick slices) or a model .json (default: %(default)s)")
    finetune.add_argument("--validation", nargs="+", default=[], metavar="SCAN", help="held-out high-resolution scans "
                          "scored on patches before and after (default: none)")
    finetune.add_argument("--minutes", type=number(float, "--minutes", 1e-3), default=30.0,
                          help="wall-clock budget of the training steps (default: %(default)s)")
    finetune.add_argument("--steps", type=number(int, "--steps", 1), default=None,
                          help="stop after this many steps even within the budget")
    finetune.add_argument("--lr", type=number(float, "--lr", 1e-9), default=1e-4,
                          help="starting learning rate, decayed on a cosine over the budget (default: %(default)s)")
    finetune.add_argument("--batch", type=number(int, "--batch", 1), default=2, help="pairs per step (default: %(default)s)")
    finetune.add_argument("--patch", type=number(int, "--patch", 8), default=None,
                          help="HR patch side in voxels (default: the model's training patch)")
    finetune.add_argument("--device", default=defaults_device, help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    finetune.add_argument("--seed", type=number(int, "--seed", 0), default=0, help="random seed (default: %(default)s)")
    finetune.add_argument("--progress", default="tqdm", choices=["tqdm", "lines", "none"],
                          help="progress display (default: %(default)s)")
    finetune.set_defaults(run=command_finetune)


def command_finetune(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.core.config import FineTuneSettings
    from SuperResolution3DLib.core.devices import check_device_present
    from SuperResolution3DLib.core.paths import expand_volume_entries
    from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES
    from SuperResolution3DLib.models.card import card_scale, find_model_files

    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".json":
        raise InputVolumeError(f"--out {args.out}: a model file is a .json (its weights go beside it)")
    if not out.parent.is_dir():
        raise InputVolumeError(f"the folder {out.parent} does not exist; create it or give another --out")
    if args.model in INTERPOLATION_MODES:
        raise InputVolumeError(f"{args.model} is an interpolation, with no weights to fine-tune; give a model "
                               "(sr3d models lists them)")
    start, card, _weights = find_model_files(args.model)
    if out.resolve() == start.resolve():
        raise InputVolumeError(f"refusing to overwrite the model {start.name} that the fine-tune starts from; give "
                               "another --out")
    try:
        scans = expand_volume_entries(args.scans)
        held_out = expand_volume_entries(args.validation)
    except TrainingConfigError as error:
        raise InputVolumeError(str(error)) from None
    if len(set(card_scale(card))) == 1:  # an isotropic model learns nothing along a thick-slice scan's slices
        _refuse_thick_scans(scans + held_out)
    shared = {path.resolve() for path in scans} & {path.resolve() for path in held_out}
    if shared:
        raise InputVolumeError(f"{sorted(shared)[0].name} is both a training and a validation scan; validation scans "
                               "must be held out")
    try:
        settings = FineTuneSettings(minutes=args.minutes, steps=args.steps, learning_rate=args.lr,
                                    min_learning_rate=min(1e-6, args.lr), batch=args.batch, patch=args.patch,
                                    device=check_device_present(args.device), seed=args.seed)
    except ValueError as error:
        raise InputVolumeError(f"sr3d finetune: {error}") from None
    from SuperResolution3DLib.cli_predict import progress_printer
    from SuperResolution3DLib.training.finetune import finetune_model

    print(f"fine-tuning {start.stem} on {len(scans)} scan(s) for {args.minutes:g} minutes"
          + (f" (at most {args.steps} steps)" if args.steps else "") + "; Ctrl-C stops early and keeps the model")
    stop = _FirstInterrupt()
    with stop:
        result = finetune_model(start, [str(p) for p in scans], [str(p) for p in held_out], out, settings,
                                progress=progress_printer(args.progress, "fine-tuning"), cancel=stop.requested)
    print(f"wrote {result.path}: {result.steps} steps in {result.minutes:.1f} min; use it with "
          f"sr3d predict INPUT OUTPUT --model {result.path}")
    return 0


def _refuse_thick_scans(paths) -> None:
    from SuperResolution3DLib.core.anisotropy import find_thick_slices
    from SuperResolution3DLib.data.io import read_volume_header

    for path in paths:
        header = read_volume_header(path)
        if header is not None and find_thick_slices(header[1]) is not None:
            raise InputVolumeError(f"{Path(path).name} has thick slices ({' x '.join(f'{s:g}' for s in header[1])} mm), "
                                   "with no fine detail along them for an isotropic model to learn: fine-tune the "
                                   "through-plane model on it (--model sr3d_rrdb_thick_x4_l1), or leave it out")


class _FirstInterrupt:
    """Within its ``with``: the first Ctrl-C asks the run to stop after its step (``requested``), a second one
    interrupts at once."""

    def __init__(self):
        self.count = 0
        self.previous = None

    def requested(self) -> bool:
        return self.count > 0

    def _handle(self, signum, frame):
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to stop at once)")

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C is not ours to catch
            self.previous = None
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
