#!/bin/bash
# Which slice profile should `--adapt` assume when the scan records none: `mixed` (pairs drawn from the profiles the
# model trained on) or `estimate` (the profile and thickness estimated from the scan's own spectra)? Each arm adapts
# the bundled through-plane model for 3 minutes to each validation volume (the MNI 2009c brain and TotalSegmentator's
# real 3 mm abdomen CT; never the test scans) made into slices 4x thicker along z with PROFILE:THICKNESS (thickness in
# slice spacings), the docs/results.md protocol (96x112x96 centre crop, CT as HU - min, interior 8). Runs one arm at
# a time (the budget is wall-clock: a concurrent job would cut the other's steps). About 7 minutes per profile and arm
# on 2 CPU cores; per-volume CSVs go to OUT/PROFILE_THICKNESS_ARM/.
#   SR3D_DATA=/work/data docs/results/thick_slices/adapt_default/run_adapt_default_comparison.sh OUT ["gaussian:1.0 ..."] \
#       ["mixed estimate"] [FACTOR]
# (ARMS: the --slice-profile values compared; FACTOR: slices FACTOR x thicker, 4 unless given, named xFACTOR_... in OUT.)
#
# Rule, fixed before it ran (2026-12-05): `estimate` becomes the default where nothing is recorded if, over `mixed`,
# (a) the mean over the off-nominal rows (rect 0.6, rect 1.5, Gaussian 1.6 slice spacings thick; both volumes) gains
# at least 0.3 dB, (b) the mean over the nominal rows (Gaussian 1.0, rect 1.0) loses at most 0.05 dB, and (c) no
# single row loses more than 0.3 dB.
#
# Second rule, fixed before it ran (2026-12-05, session 21): the estimate now compares spectra on segments of one
# length (data.slice_profiles._axis_spectrum's `length`): on isotropic synthetic tissue under longer in-plane rows its
# width error fell from 14-35% to at most 8% (a test at bd10bd8). It is a bias fix, so the bar is no
# harm: kept if, with `estimate` on the validation volumes, over the figures of the earlier estimate on file (this
# folder's *_estimate_* and validation_x6_rect_1.0_auto CSVs), the rows whose estimate changes (4x Gaussian 1.0, rect
# 1.0, rect 1.5; 6x rect 1.0; both volumes) lose at most 0.05 dB on average and none loses more than 0.3 dB. Rows whose
# estimate does not change (rect 0.6 at 4x and 6x, Gaussian 1.6 at 4x) are not rerun.
# Outcome: +0.11 dB mean, kept by this rule, then withdrawn after the test crops' head CT lost 0.5-0.6 dB with it
# (docs/results.md, "The estimate on segments of one length").
#
# Third rule, fixed before its figures were computed (2026-12-05, session 21): `auto` takes the estimate only where the
# two in-plane axes agree: the kernel widths (standard deviation in slice spacings) of the best candidate fitted to each
# in-plane axis alone differ by at most 25% of the larger; otherwise it draws `mixed` pairs. Adopted if, on the
# validation rows on file (4x: Gaussian 1.0, rect 1.0, rect 0.6, rect 1.5, Gaussian 1.6; 6x: rect 1.0, rect 0.6; MNI
# brain and abdomen CT), each row taken from the arm the guard picks (`estimate` or `mixed`, both measured above), the
# mean over the 14 rows gains at least 0.05 dB over `auto` as it stands and no row loses more than 0.3 dB.
# Outcome (axis_guard_rule.py on a checkout of 18c36d7, which has the guard and the script): +0.027 dB mean, worst row -0.21 (true 6x gaps on the abdomen CT sent
# to `mixed`): not adopted; the guard is not in the library.
set -euo pipefail
out=${1:?output folder}; profiles=${2:-"gaussian:1.0 rect:1.0 rect:0.6 rect:1.5"}; arms=${3:-"mixed estimate"}
factor=${4:-4}; prefix=""; [ "$factor" = 4 ] || prefix="x${factor}_"
cd "$(dirname "$0")/../../../.."
data=${SR3D_DATA:?set SR3D_DATA to the folder of real/ (README, "Real scans, offline")}
volumes=(Resources/SampleData/MNI152_2009c_T1_brain_HR1mm.nrrd "$data/real/validation/totalseg_abdomen_ct_3mm.nii.gz")
for item in $profiles; do
    profile=${item%%:*}; thickness=${item#*:}
    for arm in $arms; do
        dir="$out/${prefix}${profile}_${thickness}_$arm"
        [ -f "$dir/per_volume.csv" ] && continue
        sr3d evaluate "${volumes[@]}" --models bspline sr3d_rrdb_thick_x4_l1 --scale "1,1,$factor" --profile "$profile" \
            --thickness "$thickness" --crop 96,112,96 --shift-to-zero --interior 8 --metrics psnr,ssim \
            --figure-subject -1 --progress none --adapt --adapt-minutes 3 --slice-profile "$arm" --out "$dir"
        python - "$dir/per_volume.csv" "x$factor $profile $thickness $arm" <<'PY'
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    print(sys.argv[2], row["volume"], row["method"], f"{float(row['psnr']):.2f}", f"{float(row['ssim']):.4f}", flush=True)
PY
    done
done
