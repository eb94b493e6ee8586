"""Start-up and refusal times of the ``sr3d`` command: what a user waits before anything happens.

    python benchmarks/startup_time.py [--repeats 3]

Runs each command in a fresh process ``--repeats`` times and prints the median wall time, with the CPU
named (timings differ between machines: read them as ratios on one machine). Also prints the import time
of torch alone (``python -X importtime``), which every command that runs a network pays, and whether each
command imported torch or MONAI. The commands: ``--version``, ``--help``, ``models``, ``info default``
(checks the weights' SHA-256), four refusals of ``predict`` (missing input, a ``.dcm`` output, an unknown
model, a CUDA device that is not there) and the import of the inference API.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "Resources" / "SampleData" / "MNI152_2009c_T1_brain_LR4mm.nrrd"
PROBE = """
import sys, time
start = time.perf_counter()
from SuperResolution3DLib.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exited:
    code = exited.code
heavy = [n for n in ("torch", "monai") if n in sys.modules]
print("RESULT", code, ",".join(heavy) or "-", file=sys.stderr)
"""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def timed(arguments, repeats: int):
    times, result = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, cwd=REPO)
        times.append(time.perf_counter() - start)
        result = next((line for line in done.stderr.splitlines() if line.startswith("RESULT")), "RESULT ? ?")
    _, code, heavy = result.split()
    return statistics.median(times), code, heavy


def torch_import_seconds() -> float:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import torch"], capture_output=True, text=True)
    last = [line for line in done.stderr.splitlines() if line.rstrip().endswith("| torch")]
    return int(last[-1].split("|")[1]) / 1e6 if last else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "out.nrrd")
        commands = {
            "sr3d --version": ["--version"],
            "sr3d --help": ["--help"],
            "sr3d models": ["models"],
            "sr3d info default": ["info", "default"],
            "refuse: missing input": ["predict", str(Path(folder) / "missing.nii.gz"), out],
            "refuse: .dcm output": ["predict", str(SAMPLE), str(Path(folder) / "out.dcm")],
            "refuse: unknown model": ["predict", str(SAMPLE), out, "--model", "nonexistent_model"],
            "refuse: --device cuda:7": ["predict", str(SAMPLE), out, "--device", "cuda:7"],
        }
        print(f"CPU: {cpu_name()}; median of {args.repeats} fresh processes")
        print(f"{'command':<28} {'seconds':>8}  exit  heavy imports")
        for name, arguments in commands.items():
            seconds, code, heavy = timed(arguments, args.repeats)
            print(f"{name:<28} {seconds:8.2f}  {code:>4}  {heavy}")
    api = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import SuperResolution3DLib.inference.api; "
                          "import sys; print(round(time.perf_counter() - t, 2), 'monai' in sys.modules)"],
                         capture_output=True, text=True, cwd=REPO).stdout.split()
    print(f"{'import inference API':<28} {float(api[0]):8.2f}        monai imported: {api[1]}")
    print(f"{'import torch (-X importtime)':<28} {torch_import_seconds():8.2f}")


if __name__ == "__main__":
    main()
