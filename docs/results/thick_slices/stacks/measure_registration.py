"""`sr3d fuse --register` when the patient moved between the series: each volume's protocol crop (96x112x96, CT as
HU - min, interior 8) made into an axial stack and a sagittal stack acquired after a rigid motion (3 degrees about
the z axis, 2 / -1.5 / 1 mm; slices 4x thicker, Gaussian), fused with the model: aligned (no motion), moved without
registration, moved with it. Prints PSNR and what the registration found. For isotropic scans (the fusion's grid is
then the scan's own).

    PYTHONPATH=. python docs/results/thick_slices/stacks/measure_registration.py VOLUME...
"""

import os
import sys

from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade
from SuperResolution3DLib.evaluation.evaluate import EvaluationSettings, prepare_hr_volume, scoring_mask
from SuperResolution3DLib.evaluation.metrics import psnr
from SuperResolution3DLib.inference.stacks import fuse_stacks, rigidly_moved


def main(paths) -> int:
    for path in paths:
        settings = EvaluationSettings(crop=(96, 112, 96), shift_to_zero=True, interior=8)
        hr = prepare_hr_volume(read_volume(path), settings)
        moved = rigidly_moved(hr, (0.0, 0.0, 3.0), (2.0, -1.5, 1.0))
        axial = thick_slice_degrade(hr, 2, 4, "gaussian", 4.0)
        mask = scoring_mask(hr.array, settings)
        data_range = float(hr.array.max() - hr.array.min())

        def score(fused):
            array = fused.array[: hr.array.shape[0], : hr.array.shape[1], : hr.array.shape[2]]
            return psnr(array, hr.array, data_range, mask)

        said = []
        rows = {"aligned": score(fuse_stacks([axial, thick_slice_degrade(hr, 0, 4, "gaussian", 4.0)],
                                             spacing=min(hr.spacing))),
                "moved": score(fuse_stacks([axial, thick_slice_degrade(moved, 0, 4, "gaussian", 4.0)],
                                           spacing=min(hr.spacing))),
                "moved, --register": score(fuse_stacks([axial, thick_slice_degrade(moved, 0, 4, "gaussian", 4.0)],
                                                       spacing=min(hr.spacing), register=True, log=said.append))}
        print(f"{os.path.basename(path)}: " + "; ".join(f"{k} {v:.2f} dB" for k, v in rows.items()) + f" ({said[0]})",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
