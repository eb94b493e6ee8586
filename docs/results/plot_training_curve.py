"""Plot a training run's metrics.csv: training loss (smoothed) and validation PSNR against steps.

    python docs/results/plot_training_curve.py RUN/metrics.csv OUT.png [--title TEXT]

Needs matplotlib (pip install matplotlib).
"""

import argparse
import csv
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--title", default=None)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(args.metrics, newline="")))
    steps = np.array([int(r["step"]) for r in rows])
    loss_key = "l_g" if rows and rows[0].get("l_g") else "l1"
    loss = np.array([float(r[loss_key]) for r in rows])
    kernel = min(25, len(loss))
    smooth = np.convolve(loss, np.ones(kernel) / kernel, mode="valid")
    validated = [(int(r["step"]), float(r["val_psnr"])) for r in rows if r.get("val_psnr")]

    figure, left = plt.subplots(figsize=(7, 3.6), dpi=110)
    left.plot(steps, loss, color="0.8", linewidth=0.7, label=f"{loss_key} (per logged step)")
    left.plot(steps[kernel - 1:], smooth, color="C0", label=f"{loss_key}, mean of {kernel}")
    left.set_xlabel("step")
    left.set_ylabel(f"training {loss_key} (normalised units)")
    right = left.twinx()
    if validated:
        right.plot(*zip(*validated), "o-", color="C3", label="validation PSNR (patches)")
    right.set_ylabel("validation PSNR (dB)")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, loc="center right", fontsize=8)
    left.set_title(args.title or args.metrics.parent.name, fontsize=10)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
