"""Names shared by every layer and by the Slicer module (no torch): interpolation baselines, devices, clamping."""

INTERPOLATION_MODES = ("nearest", "trilinear", "bspline")
DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:N"

# What happens to output values outside the input's intensity range (ringing of a sharp edge):
# floor: nothing below the input's minimum (no negative MRI magnitude, no CT below air); range: also nothing
# above its maximum (super-resolution restores peaks the blurred input lost, so this may cut real detail);
# none: the network's values as they are.
CLAMP_MODES = ("floor", "range", "none")
