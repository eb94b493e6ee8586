"""How long making a through-plane output give back its slices takes (``InferenceSettings.slice_profile``, the step
after the network when the slice profile is known), and the memory it adds.

    python benchmarks/slice_consistency_time.py [--size 512,512,400] [--profiles gaussian,rect,sinc] [--json OUT.json]

The output is random (the step's cost does not depend on the values) of ``--size`` voxels (x, y, z, z the thick
axis at 4x); prints the CPU and, per profile, the seconds and the peak memory the step allocates (``tracemalloc``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512,512,400", help="output voxels x,y,z (default: %(default)s)")
    parser.add_argument("--profiles", default="gaussian,rect,sinc", help="slice profiles (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    import numpy as np

    from SuperResolution3DLib.data.slice_profiles import make_slices_consistent
    from startup_time import cpu_name

    x, y, z = (int(v) for v in args.size.split(","))
    output = np.random.default_rng(0).random((z, y, x), dtype=np.float32)
    slices = output[::4].copy()
    report = {"cpu": cpu_name(), "size": [x, y, z], "rows": []}
    print(f"{report['cpu']}; output {x}x{y}x{z} voxels ({output.nbytes / 1e9:.2f} GB float32), 4x along z")
    for profile in args.profiles.split(","):
        tracemalloc.start()
        started = time.perf_counter()
        make_slices_consistent(output, slices, 4, profile, 1.0)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        report["rows"].append({"profile": profile, "seconds": round(seconds, 2), "peak_bytes": int(peak)})
        print(f"{profile}: {seconds:.1f} s, {peak / 1e9:.2f} GB allocated at the peak")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
