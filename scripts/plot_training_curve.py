"""Training curve of a campaign: the runs' metrics.csv files one after the other (warm starts continue the step
count), L1 loss (smoothed) and validation PSNR against the total step.

    python scripts/plot_training_curve.py OUT.png RUN1/metrics.csv RUN2/metrics.csv ... [--title TEXT]
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, MARGIN = 900, 420, 60


def read_runs(paths):
    steps, losses, val_steps, val_psnr, boundaries, offset = [], [], [], [], [], 0
    for path in paths:
        rows = list(csv.DictReader(open(path)))
        for row in rows:
            step = offset + int(row["step"])
            if row.get("l1"):
                steps.append(step)
                losses.append(float(row["l1"]))
            if row.get("val_psnr"):
                val_steps.append(step)
                val_psnr.append(float(row["val_psnr"]))
        offset += max(int(r["step"]) for r in rows)
        boundaries.append(offset)
    return np.array(steps), np.array(losses), np.array(val_steps), np.array(val_psnr), boundaries[:-1]


def scaled(values, low, high, size, flip):
    fraction = (np.asarray(values, float) - low) / max(high - low, 1e-12)
    return (1 - fraction) * size if flip else fraction * size


def draw(out, paths, title):
    steps, losses, val_steps, val_psnr, boundaries = read_runs(paths)
    font = ImageFont.load_default(size=13) if hasattr(ImageFont, "load_default") else None
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    pen = ImageDraw.Draw(image)
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    x_of = lambda s: MARGIN + scaled(s, 0, steps.max(), plot_w, False)  # noqa: E731
    smooth = np.convolve(losses, np.ones(25) / 25, mode="valid") if len(losses) > 25 else losses
    lo, hi = float(smooth.min()), float(smooth.max())
    loss_y = MARGIN + scaled(smooth, lo, hi, plot_h, True)
    pen.line(list(zip(x_of(steps[len(steps) - len(smooth):]), loss_y)), fill=(120, 120, 220), width=2)
    plo, phi = float(val_psnr.min()) - 0.1, float(val_psnr.max()) + 0.1
    psnr_y = MARGIN + scaled(val_psnr, plo, phi, plot_h, True)
    pen.line(list(zip(x_of(val_steps), psnr_y)), fill=(200, 60, 40), width=3)
    for x, y in zip(x_of(val_steps), psnr_y):
        pen.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(200, 60, 40))
    for boundary in boundaries:
        x = x_of(boundary)
        pen.line([(x, MARGIN), (x, HEIGHT - MARGIN)], fill=(150, 150, 150), width=1)
        pen.text((x + 4, MARGIN + 4), "warm start", fill=(100, 100, 100), font=font)
    pen.rectangle([MARGIN, MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN], outline="black")
    pen.text((MARGIN, 15), title, fill="black", font=font)
    pen.text((MARGIN, HEIGHT - MARGIN + 8), f"step 0 ... {int(steps.max())}", fill="black", font=font)
    pen.text((WIDTH - MARGIN - 260, HEIGHT - MARGIN + 8),
             f"validation PSNR {plo + 0.1:.2f} ... {phi - 0.1:.2f} dB (red)", fill=(200, 60, 40), font=font)
    pen.text((WIDTH - MARGIN - 260, HEIGHT - MARGIN + 24), f"L1 loss (25-step mean) {lo:.4f} ... {hi:.4f} (blue)",
             fill=(120, 120, 220), font=font)
    image.save(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("metrics", nargs="+")
    parser.add_argument("--title", default="training campaign")
    args = parser.parse_args()
    draw(args.out, args.metrics, args.title)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
