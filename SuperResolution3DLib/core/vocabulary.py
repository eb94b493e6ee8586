"""Names shared by every layer and by the Slicer module (no torch): interpolation baselines, devices, clamping."""

INTERPOLATION_MODES = ("nearest", "trilinear", "bspline")
DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:N"

# What happens to output values outside the input's intensity range (ringing of a sharp edge):
# range: clipped to the input's minimum and maximum (MRI stays non-negative, CT within the input's HU);
# floor: only nothing below the minimum (keeps peaks above the input's maximum that the blurred input lost);
# none: the network's values as they are.
CLAMP_MODES = ("range", "floor", "none")

# What runs the network on a CPU (inference.openvino_backend): auto (OpenVINO where installed and worth its one-off
# conversion, else PyTorch), torch, or openvino (pip install openvino; CPU only).
BACKENDS = ("auto", "torch", "openvino")

# Thick-slice profiles (data.slice_profiles) and the degradations a training config can ask for: rect, trapezoid and
# gaussian integrate over a slice (2D acquisitions, thick CT reconstructions: what the bundled through-plane model
# trained on, a training config's default and the adaptation's mixed draw); sinc is an ideal low-pass along the axis
# (k-space truncation: a 3D acquisition with fewer partitions than in-plane matrix lines), used where named.
INTEGRATING_SLICE_PROFILES = ("rect", "trapezoid", "gaussian")
SLICE_PROFILES = INTEGRATING_SLICE_PROFILES + ("sinc",)
# How self-supervised adaptation makes its thick slices: as the scan records them, else estimated (auto), random
# profiles, the estimated one, or one named.
ADAPTATION_PROFILES = ("auto", "mixed", "estimate") + SLICE_PROFILES
DEGRADATIONS = ("kspace", "slice_profile")
FUSION_FIELDS_OF_VIEW = ("first", "union")  # sr3d fuse's output grid covers the first stack, or every stack
# The voxel loss of stage 1 and of the GAN's pixel term (optim.pixel_loss): l1 (the paper) or mse (the mean, which PSNR scores).
PIXEL_LOSSES = ("l1", "mse")
# How a model file stores its weights (export_weights_dtype): float16 halves the file; networks run in float32 either way.
WEIGHTS_DTYPES = ("float32", "float16")

# Every network a config or model card can name, with the settings its constructor takes: configs are checked
# against this before torch is imported (Testing/Python/test_networks.py keeps it equal to the constructors).
NETWORK_SETTINGS = {
    "RRDBNet3D": ("in_channels", "out_channels", "num_feat", "num_grow_ch", "num_block", "scale", "upsampler", "global_skip"),
    "SRResNet3D": ("in_channels", "out_channels", "num_feat", "num_block", "scale", "interpolation_skip"),
    "RCAN3D": ("in_channels", "out_channels", "num_feat", "num_group", "num_block", "reduction", "scale"),
    "DCSRN3D": ("in_channels", "out_channels", "growth", "num_units", "scale"),
    "UNetDiscriminator3D": ("num_in_ch", "num_feat", "skip_connection"),
    "interpolation": ("mode", "scale"),
}
