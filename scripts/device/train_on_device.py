"""Train a config's stage-1 (L1) model on a GPU machine for a fixed wall-clock budget, from packed volumes
(``pack_training_data.py``), on a machine that has torch and numpy but not SimpleITK or the template packages.

    python scripts/device/train_on_device.py CONFIG PACKED_DIR OUT_DIR --minutes 7 [--batch 16] [--lr 2e-4]
        [--min-lr 1e-6] [--workers 7] [--validate-every 200] [--validation-patches 64] [--start-from MODEL.json]

It is ``sr3d train`` with three changes that a time-boxed run on a borrowed GPU needs: the learning rate
follows a cosine over the wall-clock budget (not over a step count), patch pairs are drawn by ``--workers`` worker
processes (``data.workers``: the numpy sampler alone cannot feed a GPU), and the model is exported without the test-volume
scores (they need SimpleITK: ``score_exported_model.py`` adds them on the CPU machine). The run is a normal
warm-started campaign run: the card adds its steps and hours to those of ``start_from`` (``--start-from`` names another
copy of it, e.g. a float16 one packed beside the volumes, so that the bundled weights need not travel).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("packed", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--min-lr", type=float, default=1e-6)
    parser.add_argument("--workers", type=int, default=7)
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--validation-patches", type=int, default=64)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--start-from", help="the model file to start from instead of the config's start_from")
    parser.add_argument("--run-dir", type=Path, help="the run's logs (default OUT_DIR/run); OUT_DIR gets the model and metrics CSV")
    args = parser.parse_args(argv)

    import torch

    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.data.synthetic import is_synthetic_entry
    from SuperResolution3DLib.training.export import export_trained_model
    from SuperResolution3DLib.training.finetune import WallClockL1Trainer

    torch.backends.cudnn.benchmark = True
    config = load_training_config(args.config)
    packed = json.loads((args.packed / "manifest.json").read_text())[config.name]
    entry = lambda e: e if is_synthetic_entry(e) else str((args.packed / e).resolve())  # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    budget = args.minutes * 60
    config = replace(
        config,
        data=replace(config.data, workers=args.workers, train=[entry(e) for e in packed["train"]], validation=[entry(e) for e in packed["validation"]], test=[]),
        optim=replace(config.optim, steps=10**7, batch_size=args.batch, learning_rate=args.lr, min_learning_rate=args.min_lr,
                      device=args.device, num_threads=2),
        schedule=replace(config.schedule, validate_every=args.validate_every, checkpoint_every=10**9, log_every=20,
                         validation_patches=args.validation_patches),
        output_dir=str(args.run_dir or args.out / "run"), export_model=str(args.out / f"{config.name}.json"),
        start_from=str(Path(args.start_from).resolve()) if args.start_from else config.start_from,
    )

    class DeviceTrainer(WallClockL1Trainer):
        def model_card(self):
            card = super().model_card()
            if self.device.type == "cuda":
                card["training_settings"]["device"] = f"{self.device} ({torch.cuda.get_device_name(self.device)})"
            for role in ("train", "validation"):
                card["training_data"][role] = [name.removesuffix(".npz") for name in card["training_data"][role]]
            return card

    trainer = DeviceTrainer(config, budget)
    trainer.load_data()
    trainer.fit(progress=False)
    row = {"step": trainer.step, **trainer.validate()}
    trainer.record_validation(row)
    trainer.write_log_row(row)
    trainer.close_logs()
    print(f"{config.name}: {trainer.step} steps in {trainer.train_seconds:.0f} s, final {row}, best val_psnr {trainer.best_psnr:.3f}")
    trainer.config = replace(config, optim=replace(config.optim, steps=trainer.step))
    export_trained_model(trainer)
    shutil.copy(trainer.output_dir / "metrics.csv", args.out / f"{config.name}_metrics.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
