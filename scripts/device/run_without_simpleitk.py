"""Run a project script on a machine without SimpleITK, its volume paths given as packed ``.npz`` files:

    python scripts/device/run_without_simpleitk.py docs/results/thick_slices/compare_with_eclare.py HR.npz --ours-only ...

Scripts that read volumes with ``from SuperResolution3DLib.data.io import read_volume`` at their top see the packed
reader (it is installed before the script is loaded)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from packed import read_packed_volumes, stub_simpleitk_if_missing  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    stub_simpleitk_if_missing()
    read_packed_volumes()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
