"""Add the test-volume scores to a model exported by ``train_on_device.py`` (which exports without them:
they need SimpleITK), exactly as ``sr3d train`` scores an export: the config's ``data.test`` volumes degraded,
super-resolved whole and scored against trilinear and B-spline interpolation.

    python scripts/device/score_exported_model.py MODEL.json CONFIG
"""

from __future__ import annotations

import sys

from SuperResolution3DLib.core.config import load_training_config
from SuperResolution3DLib.models.files import load_model, save_model
from SuperResolution3DLib.training.export import score_on_test_volumes


def score(model_path: str, config_path: str) -> None:
    model = load_model(model_path)
    score_on_test_volumes(model, load_training_config(config_path))
    print(f"model written to {save_model(model_path, model.network, model.card)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    score(*sys.argv[1:])
