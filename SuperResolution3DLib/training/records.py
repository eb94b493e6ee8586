"""What a training run writes besides its weights: the metrics CSV, TensorBoard events, the checkpoint checksum file,
and the model card's text about the degradation and the campaign."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict


def checksum_path(checkpoint: Path) -> Path:
    """The file beside a checkpoint that records its SHA-256 (checked before the checkpoint is loaded)."""
    return checkpoint.with_name(checkpoint.name + ".sha256")


def degradation_text(data, scale) -> str:
    """The model card's one-line description of how training LR patches were made."""
    if data.degradation == "slice_profile":
        return (f"thick slices: profiles {list(data.slice_profiles)}, thickness {list(data.slice_thickness)} x the slice "
                f"spacing, every scale-th voxel kept; scale {list(scale)}")
    return ("k-space truncation to the central 1/scale, magnitude (real part for signed volumes), "
            f"nearest downsampling; scale {list(scale)}")


def campaign_of_card(card: Dict[str, Any]) -> Dict[str, Any]:
    """A model card's campaign totals (older cards: their own steps and hours only)."""
    if card.get("training_campaign"):
        return dict(card["training_campaign"])
    settings = card.get("training_settings", {})
    steps, hours = int(settings.get("steps", 0)), float(settings.get("wall_clock_hours", 0.0))
    return {"total_steps": steps, "total_hours": hours,
            "runs": [{"name": card.get("name"), "steps": steps, "hours": hours}]}


def append_metrics_row(path: Path, row: Dict[str, float]) -> None:
    """One row of a run's ``metrics.csv`` (the header on the first; columns beyond the usual ones appended)."""
    columns = ["step", "lr", "l1", "val_psnr", "val_ssim", "seconds"]
    extra = [k for k in row if k not in columns]
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns + extra, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def tensorboard_writer(folder: Path):
    """A TensorBoard ``SummaryWriter`` when the ``tensorboard`` package is installed, else ``None`` (CSV only)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard missing or broken: the CSV log is always written
        return None
    return SummaryWriter(str(folder))
