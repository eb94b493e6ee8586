"""The module's help and acknowledgement texts (shown in Slicer's module panel header)."""

try:
    from slicer.i18n import tr as _
except ImportError:  # Slicer < 5.4
    def _(text):
        return text


PAPER_CITATION = (
    "Ha J, Wang N, Maharjan S, Zhang X. 3D Volumetric Super-Resolution in Radiology Using 3D RRDB-GAN. "
    "arXiv:2402.04171 (2024)."
)


def helpText():
    return _("""
Makes a CT or MRI volume sharper with a 3D RRDB network (the generator of the 3D RRDB-GAN): an isotropic volume 4x
along every axis, a thick-slice volume (e.g. 0.9 x 0.9 x 5 mm) across its slices only, to its in-plane spacing. The
output overlays the input exactly (same origin and directions) and keeps its intensity units.
<ol>
<li>Pick the <b>input volume</b> (a 3D scalar volume; not a label map or a color/vector volume). The line under
Apply says what will be done with it.</li>
<li>Leave <b>output volume</b> on "Create new volume" (it is named after the input and the scale), or pick one to overwrite.</li>
<li>Pick a <b>model</b>: a bundled model, an interpolation baseline, or a model file (.json + .safetensors)
from disk. Its card (scale, training data, metrics) is shown below it. A thick-slice input can also be adapted to
itself first (a time budget in minutes).</li>
<li>Optionally enable <b>region of interest</b> and pick a Markups ROI: only that box is super-resolved,
which is much faster and needs far less memory (the whole 4x output has 64x the voxels of the input).</li>
<li><b>Device</b>: auto uses CUDA when available, else the CPU. Advanced: window (input voxels per
network call; auto: on the CPU the largest that fits a quarter of the free memory, 64 on a GPU), overlap, batch and
precision (fp16 on CUDA only; bf16 on CUDA or a CPU with native bf16).</li>
<li>Press <b>Apply</b>. The work runs in a separate process: Slicer stays responsive and Apply turns into
Cancel. The result is shown with the input as foreground for comparison.</li>
</ol>
<b>Several stacks of one session</b> (e.g. axial, coronal and sagittal series of one contrast): with the first as the
input volume, tick the others and press <b>Fuse</b>: each is super-resolved across its slices and the stacks are
combined into one isotropic volume on the input's field of view. Tick <b>Align the stacks first</b> if the patient
moved between the series; a registration done in Slicer (a linear transform on a stack) is applied too.<br>
<b>Fine-tune on your scans</b>: tick high-resolution volumes of your own kind (and, optionally, held-out ones), give
the minutes and a model file to write, and press <b>Fine-tune</b>: the selected model trains on them in the
background and the new model is added to the model list.<br>
On first use the required Python packages (PyTorch, MONAI, safetensors...) are listed and installed only
after you confirm. From the Python console:
<pre>logic = slicer.util.getModuleLogic("SuperResolution3D")
out = logic.process(slicer.util.getNode("MRHead"), device="cpu")</pre>
""")


def acknowledgementText():
    return _(
        "The network follows the 3D RRDB-GAN of: " + PAPER_CITATION
        + " Built on MONAI, PyTorch and the 3D Slicer extension template."
    )
