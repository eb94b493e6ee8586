"""SuperResolution3DLib: 3D super-resolution of CT and MRI volumes (3D RRDB-GAN), without Slicer.

Data flows one way: file -> ``Volume`` (array + geometry) -> network -> ``Volume`` -> file.
The public API is importable from here; heavy modules (torch, monai) load on first use.
"""

__version__ = "0.1.0"

_API = {
    "Volume": "core.volume",
    "kspace_degrade": "data.degradation",
    "kspace_lowpass": "data.degradation",
    "super_resolve": "inference.api",
    "sliding_window_super_resolve": "inference.api",
    "super_resolve_thick_slices": "inference.thick_slices",
    "find_thick_slices": "core.anisotropy",
    "adapt_thick_slice_model": "inference.thick_slices",
    "AdaptationSettings": "core.config",
    "finetune_model": "training.finetune",
    "FineTuneSettings": "core.config",
    "estimate_slice_profile": "data.slice_profiles",
    "thick_slice_degrade": "data.slice_profiles",
    "read_volume": "data.io",
    "write_volume": "data.io",
    "load_model": "models.files",
    "save_model": "models.files",
    "SRModel": "models.files",
    "InferenceSettings": "core.config",
    "psnr": "evaluation.metrics",
    "ssim": "evaluation.metrics",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
