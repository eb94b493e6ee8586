"""Pack the training and validation volumes of training configs for a machine without SimpleITK or the
template packages (a GPU machine with torch and numpy alone): each volume as it is read for training
(``data.io.read_volume``), stored float16 in one compressed ``.npz`` per volume, plus ``manifest.json``
listing each config's packed ``train`` and ``validation`` entries (``synth:`` entries stay as they are).

    python scripts/device/pack_training_data.py OUT_DIR configs/real_mri_ct_l1.yaml [more configs]

float16 keeps integer intensities up to 2048 exactly and CT up to 4096 HU within 1 HU.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from SuperResolution3DLib.core.config import load_training_config
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.patches import split_volume_entries
from SuperResolution3DLib.data.synthetic import is_synthetic_entry


def packed_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path.name) + ".npz"


def pack(out: Path, config_paths) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for config_path in config_paths:
        config = load_training_config(config_path)
        train, validation, _ = split_volume_entries(config.data, config.base_dir)
        entries = {}
        for role, paths in (("train", train), ("validation", validation)):
            entries[role] = []
            for path in paths:
                if is_synthetic_entry(path):
                    entries[role].append(str(path))
                    continue
                name = packed_name(path)
                if not (out / name).exists():
                    array = read_volume(path).array
                    np.savez_compressed(out / name, array=array.astype(np.float16))
                    print(f"{name}: {array.shape}, {array.min():.0f}..{array.max():.0f}")
                entries[role].append(name)
        manifest[config.name] = entries
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pack(Path(sys.argv[1]), sys.argv[2:])
