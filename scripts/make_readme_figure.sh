#!/bin/bash
# Re-makes docs/sample_views.png (the README figure and the extension's screenshot) from the current default model:
# the shipped 4 mm sample super-resolved, beside its LR input, trilinear interpolation and the 1 mm reference.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sr3d predict Resources/SampleData/MNI152_2009c_T1_brain_LR4mm.nrrd "$out/sample_sr4x.nrrd" \
    --reference Resources/SampleData/MNI152_2009c_T1_brain_HR1mm.nrrd --png docs/sample_views.png --progress none
