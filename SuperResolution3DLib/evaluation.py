"""Score super-resolution models on HR volumes they were not trained on, against interpolation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from .config import InferenceSettings
from .degradation import kspace_degrade


def evaluate_against_interpolation(
    model,
    hr_paths: Sequence[Path],
    baselines: Sequence[str] = ("trilinear", "bspline"),
    settings: Optional[InferenceSettings] = None,
    log: Callable[[str], None] = print,
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Degrade each HR volume with the model's scale, super-resolve it with the model and with
    each interpolation baseline, and score every result against the HR volume.

    Returns ``{volume name: {method: {"psnr", "ssim", "seconds"}}}``; PSNR uses
    data_range = HR max - HR min over the whole volume, as in the paper's code.
    """
    from .inference import super_resolve
    from .io import read_volume
    from .metrics import compare_volumes
    from .model_file import interpolation_model

    methods = {"model": model}
    methods.update({name: interpolation_model(name, model.scale) for name in baselines})
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for path in hr_paths:
        hr = read_volume(path)
        lr = kspace_degrade(hr, model.scale)
        scores = {}
        for name, method in methods.items():
            started = time.time()
            sr = super_resolve(lr, method, settings)
            seconds = time.time() - started
            scores[name] = {**compare_volumes(sr.array, hr.array), "seconds": round(seconds, 2)}
        results[Path(path).name] = scores
        log(f"{Path(path).name}: " + "; ".join(f"{m} PSNR {s['psnr']:.2f} SSIM {s['ssim']:.4f}" for m, s in scores.items()))
    return results
