"""Names shared by every layer and by the Slicer module (no torch): interpolation baselines, devices."""

INTERPOLATION_MODES = ("nearest", "trilinear", "bspline")
DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:N"
