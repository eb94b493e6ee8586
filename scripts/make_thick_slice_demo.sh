#!/bin/bash
# Real thick-slice scans without a ground truth, super-resolved through-plane with no --model (the bundled thick-slice
# model): the test cases in the pyradiomics 3.1.0 sdist's data/ (a brain MRI at 0.78 x 0.78 x 6.5 mm, a chest CT at
# 0.57 x 0.57 x 5 mm; pyradiomics is BSD-3-Clause). Writes docs/real_thick_brain1.png and docs/real_thick_lung1.png
# (LR, trilinear and SR views) and prints the timings. DOWNLOADS holds pyradiomics-3.1.0.tar.gz; when it is not
# there this script fetches it from PyPI by its file name (the sdist's metadata misnames its version, so
# `pip download pyradiomics==3.1.0` does not find it) and checks its SHA-256.
#   scripts/make_thick_slice_demo.sh DOWNLOADS [--adapt]
set -euo pipefail
downloads=${1:?usage: scripts/make_thick_slice_demo.sh DOWNLOADS [--adapt]}
shift
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sdist="$downloads/pyradiomics-3.1.0.tar.gz"
if [ ! -f "$sdist" ]; then
    mkdir -p "$downloads"
    curl -sSfo "$sdist.part" "https://files.pythonhosted.org/packages/03/c1/20fc2c50ab1e3304da36d866042a1905a2b05a1431ece35448ab6b4578f2/pyradiomics-3.1.0.tar.gz" \
        || { echo "could not download pyradiomics-3.1.0.tar.gz: put it in $downloads" >&2; exit 1; }
    echo "24722c962a6bbd09bc39c1c67dbffe92435f9692a421fabaae8a6b4511eb48e4  $sdist.part" | sha256sum -c --quiet
    mv "$sdist.part" "$sdist"
fi
tar xzf "$sdist" -C "$work" --wildcards "*/data/brain1_image.nrrd" "*/data/lung1_image.nrrd"
data="$work/pyradiomics-3.1.0/data"
suffix=""
if [ "${1:-}" = "--adapt" ]; then suffix="_adapted"; fi
/usr/bin/time -f "brain1: %e s" sr3d predict "$data/brain1_image.nrrd" "$work/brain1_iso.nrrd" --progress none "$@" \
    --png "docs/real_thick_brain1${suffix}.png"
# the CT's central 256 x 256 in-plane (all 48 slices): the whole 512 x 512 x 420 output takes long on a CPU
/usr/bin/time -f "lung1 (central 256x256): %e s" sr3d predict "$data/lung1_image.nrrd" "$work/lung1_iso.nrrd" \
    --roi 128,128,0,256,256,48 --progress none "$@" --png "docs/real_thick_lung1${suffix}.png"
