"""What a Slicer user waits per Apply: a fresh process per run against the module's warm worker.

    python benchmarks/slicer_apply_time.py [--runs 3] [--model default]

Runs the module's Logic on the real MRML scene of ``slicer-core`` (``pip install slicer-core``; no Qt), through the
same background-process path as the panel: a small 16^3 input, first with ``warmWorker=False`` (every Apply starts
Python, imports torch and the library, loads the model), then in the warm worker (its first run pays the start-up,
later ones do not). Prints the seconds of each run and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for folder in (REPO, REPO / "Testing" / "Python", REPO / "SuperResolution3D"):
    sys.path.insert(0, str(folder))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)

    import numpy as np
    import slicer
    import slicer_shim

    slicer_shim.install()
    slicer.mrmlScene = slicer.vtkMRMLScene()
    import SuperResolution3D as module
    from SuperResolution3DHelpers import process

    logic = module.SuperResolution3DLogic()
    node = slicer.util.addVolumeFromArray(np.random.default_rng(0).random((16, 16, 16)).astype(np.float32), name="Input")

    def run(warm: bool) -> float:
        job = logic.startProcess(node, model=args.model, device="cpu", python=sys.executable, warmWorker=warm)
        if job.wait(timeout=600) != job.COMPLETED:
            raise SystemExit(f"the run failed: {job.errorMessage}")
        return job.elapsed

    cold = [run(False) for _ in range(args.runs)]
    warm = [run(True) for _ in range(args.runs + 1)]
    process.shutdownWorkers()
    print(f"fresh process per Apply: {', '.join(f'{t:.2f}' for t in cold)} s (median {statistics.median(cold):.2f} s)")
    print(f"warm worker: first {warm[0]:.2f} s (start-up), then {', '.join(f'{t:.2f}' for t in warm[1:])} s "
          f"(median {statistics.median(warm[1:]):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
