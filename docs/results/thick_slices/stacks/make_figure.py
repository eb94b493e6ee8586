"""The README's figure of `sr3d fuse`: axial, coronal and sagittal views through the centre of the whole test MRI made
into three 6 mm stacks (`sr3d degrade --scale 1,1,4 / 1,4,1 / 4,1,1 --profile gaussian`), the axial stack, the
B-spline fusion, the axial stack through `sr3d predict`, the model's fusion, and the 1.5 mm scan.

    PYTHONPATH=. python docs/results/thick_slices/stacks/make_figure.py AXIAL B_SPLINE_FUSED AXIAL_SR FUSED HR OUT.png
"""

import sys

from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.evaluation.visualize import render_three_view, save_png_atomically


def main(argv) -> int:
    axial, bspline, axial_sr, fused, hr, out = argv
    labels = ("axial stack, 6 mm", "B-spline, 3 stacks fused", "model, axial stack", "model, 3 stacks fused",
              "1.5 mm scan")
    panels = [(label, read_volume(path)) for label, path in zip(labels, (axial, bspline, axial_sr, fused, hr))]
    image = render_three_view(panels, reference=panels[-1][1], title="sr3d fuse: three 6 mm stacks of a real T1 MRI")
    print(save_png_atomically(image, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
