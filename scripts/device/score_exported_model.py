"""Add the test-volume scores to a model exported by ``train_on_device.py`` (which exports without them:
they need SimpleITK), exactly as ``sr3d train`` scores an export: the config's ``data.test`` volumes degraded,
super-resolved whole and scored against trilinear and B-spline interpolation.

    python scripts/device/score_exported_model.py MODEL.json CONFIG
"""

from __future__ import annotations

import sys

from SuperResolution3DLib.core.config import load_training_config
from SuperResolution3DLib.data.patches import split_volume_entries
from SuperResolution3DLib.evaluation.evaluate import evaluate_against_interpolation
from SuperResolution3DLib.models.files import load_model, save_model


def score(model_path: str, config_path: str) -> None:
    config = load_training_config(config_path)
    model = load_model(model_path)
    test_paths = split_volume_entries(config.data, config.base_dir)[2]
    profile = "gaussian" if config.data.degradation == "slice_profile" else None
    model.card["metrics"] = evaluate_against_interpolation(model, test_paths, slice_profile=profile)
    model.card["training_data"]["test"] = [p.name for p in test_paths]
    print(f"model written to {save_model(model_path, model.network, model.card)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    score(*sys.argv[1:])
