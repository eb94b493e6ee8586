"""Model files: weights as safetensors plus a JSON model card, checksum verified on load.

A model is two files side by side:

* ``<stem>.safetensors``: the network weights (safetensors only; pickle is never used).
* ``<stem>.json``: the model card, e.g.::

    {
      "format": "sr3d-model", "format_version": 1,
      "name": "sr3d_rrdb_x4_l1", "description": "...",
      "network": {"name": "RRDBNet3D", "num_feat": 32, "num_grow_ch": 16, "num_block": 2, "scale": [4, 4, 4]},
      "scale": [4, 4, 4],                         # (x, y, z), taken from the network config
      "normalization": {"kind": "percentile", "lower": 0.5, "upper": 99.5},
      "weights_file": "sr3d_rrdb_x4_l1.safetensors", "weights_sha256": "...",
      "parameter_count": 123456, "package_version": "0.1.0", "created": "2024-...",
      "training_data": ..., "training_settings": {...}, "metrics": {...}
    }

``load_model`` checks the SHA-256 of the weights file against the card before it reads a single
tensor. Besides file paths it accepts the names of bundled models (``models_dir()``), ``default``
and the weightless interpolation baselines ``nearest``, ``trilinear`` and ``bspline``.
Every failure is a ``ModelFileError`` with a one-line message. The torch-free part (card reading,
checksums, bundled models, card text) is ``model_card.py``; its names are re-exported here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from SuperResolution3DLib.core.errors import ModelFileError
from SuperResolution3DLib.data.io import atomic_output_path
from SuperResolution3DLib.models.card import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    PathLike,
    find_model_files,
    interpolation_card,
    model_file_paths,
    package_version,
    sha256_of_file,
    verify_weights_checksum,
)
from SuperResolution3DLib.core.scale import config_scale
from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES, WEIGHTS_DTYPES
from SuperResolution3DLib.networks import build_network
from SuperResolution3DLib.data.normalization import validate_normalization


@dataclass
class SRModel:
    """A loaded super-resolution model.

    network: the ``nn.Module`` (eval mode, CPU) built from ``card["network"]``.
    scale: integer upscaling per axis ``(x, y, z)``.
    normalization: the intensity normalisation config (see ``normalization.py``).
    card: the whole JSON model card (network config, scale, normalisation, training data,
          training settings, metrics, package version, weights checksum).
    """

    network: nn.Module
    scale: Tuple[int, int, int]
    normalization: Dict[str, Any]
    card: Dict[str, Any] = field(default_factory=dict)


# Small helpers ---------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """Make numpy / torch scalars and arrays JSON-able (metrics often arrive as numpy floats)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"model card value {value!r} of type {type(value).__name__} is not JSON-able")


def _build_network(config: Any, device: Optional[str] = None) -> nn.Module:
    if not isinstance(config, dict):
        raise ModelFileError(
            f"the model card's 'network' must be a dict like {{'name': 'RRDBNet3D', ...}}, got {config!r}"
        )
    try:
        if device is None:
            return build_network(config)
        with torch.device(device):
            return build_network(config)
    except ModelFileError:
        raise
    except Exception as error:  # any failure of a network constructor is a bad card
        raise ModelFileError(f"cannot build the model's network: {error}") from None


def _normalization_of(card: Dict[str, Any]) -> Dict[str, Any]:
    if "normalization" not in card:
        raise ModelFileError(
            "the model card has no 'normalization' entry; add e.g. "
            '{"kind": "percentile", "lower": 0.5, "upper": 99.5}'
        )
    try:
        return validate_normalization(dict(card["normalization"]))
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(
            f"the model card has a bad 'normalization' entry {card['normalization']!r}: {error}"
        ) from None


def _state_dict_mismatch(expected: Dict[str, torch.Tensor], found: Dict[str, torch.Tensor]) -> Optional[str]:
    """A one-line description of how ``found`` differs from ``expected`` (names and shapes), or None."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong_shape = sorted(
        f"{name} {tuple(found[name].shape)} instead of {tuple(expected[name].shape)}"
        for name in set(expected) & set(found)
        if tuple(found[name].shape) != tuple(expected[name].shape)
    )
    problems = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            problems.append(f"{label}: {shown}")
    return "; ".join(problems) or None


# Saving ----------------------------------------------------------------------------------------


def save_model(path: PathLike, network: nn.Module, card: Dict[str, Any], weights_dtype: Optional[str] = None) -> Path:
    """Save ``network``'s weights and its model card side by side; return the card's path.

    ``path`` may be the ``.json``, the ``.safetensors`` or the stem. ``card`` needs
    ``network`` (the ``build_network`` config of ``network``) and ``normalization``; this
    fills ``format``, ``format_version``, ``name`` (if absent: the stem), ``scale``,
    ``parameter_count``, ``weights_file``, ``weights_sha256``, ``weights_dtype``, ``package_version`` and
    ``created`` (if absent). Both files are written atomically. ``weights_dtype`` ``float16`` stores the
    weights in half the bytes (loading casts them back to the network's float32); by default a card's own
    ``weights_dtype`` (a loaded model saved again keeps it), else ``float32``.

    Raises:
        ModelFileError: the card is incomplete or its network config does not match ``network``.
    """
    card_path, weights_path = model_file_paths(path)
    if not card_path.parent.is_dir():
        raise ModelFileError(f"the model folder {card_path.parent} does not exist; create it first")
    card = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "name": None, **card}
    normalization = _normalization_of(card)
    network = _unwrapped(network)
    weights_dtype = weights_dtype or card.get("weights_dtype", "float32")
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ModelFileError(f"weights_dtype must be one of {', '.join(WEIGHTS_DTYPES)}, got {weights_dtype!r}")
    stored = getattr(torch, weights_dtype)
    state = {name: _stored_tensor(tensor, stored) for name, tensor in network.state_dict().items()}
    _check_network_matches_config(card.get("network"), state)
    card.update(
        format=MODEL_FORMAT,
        format_version=MODEL_FORMAT_VERSION,
        name=card.get("name") or card_path.stem,
        scale=list(config_scale(card["network"])),
        normalization=normalization,
        parameter_count=int(sum(p.numel() for p in network.parameters())),
        weights_file=weights_path.name,
        weights_dtype=weights_dtype,
        package_version=package_version(),
    )
    card.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    # The weights are moved into place first, so a crash in between leaves a card whose
    # checksum refuses the new weights rather than a card that silently accepts them.
    with atomic_output_path(card_path) as temporary_card:
        with atomic_output_path(weights_path) as temporary_weights:
            save_file(state, str(temporary_weights), metadata={"format": "pt"})
            card["weights_sha256"] = sha256_of_file(temporary_weights)
            temporary_card.write_text(json.dumps(card, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return card_path


def _stored_tensor(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A weight as the file stores it: on the CPU, contiguous, floating point in ``dtype``."""
    tensor = tensor.detach().to("cpu")
    if tensor.is_floating_point():
        tensor = tensor.to(dtype)
    return tensor.clone(memory_format=torch.contiguous_format)


def _unwrapped(network: nn.Module) -> nn.Module:
    """The network inside ``torch.compile`` / ``DataParallel`` wrappers (their weight names carry a prefix)."""
    while True:
        if hasattr(network, "_orig_mod"):
            network = network._orig_mod
        elif isinstance(network, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            network = network.module
        else:
            return network


def _check_network_matches_config(config: Any, state: Dict[str, torch.Tensor]) -> None:
    """Refuse to save weights that the card's network config could not load back."""
    if config is None:
        raise ModelFileError("the model card has no 'network' entry; add the network's build_network config")
    try:
        expected = _build_network(config, device="meta").state_dict()
    except ModelFileError:
        expected = _build_network(config).state_dict()  # a network that cannot be built on "meta"
    mismatch = _state_dict_mismatch(expected, state)
    if mismatch:
        raise ModelFileError(f"the network's weights do not match the card's network config {config}: {mismatch}")


# Loading ---------------------------------------------------------------------------------------


def load_model(path_or_name: PathLike) -> SRModel:
    """Load a model from its ``.json``, its ``.safetensors``, a bundled model name, ``default``
    or an interpolation baseline name (``nearest``, ``trilinear``, ``bspline``, scale 4).

    The weights' SHA-256 is checked before they are read; the network is built from the card,
    loaded with strict key and shape checks, put in eval mode and left on the CPU.
    """
    if str(path_or_name) in INTERPOLATION_MODES:
        return interpolation_model(str(path_or_name), (4, 4, 4))
    card_path, card, weights_path = find_model_files(path_or_name)
    verify_weights_checksum(weights_path, card["weights_sha256"])
    normalization = _normalization_of(card)
    scale = config_scale(card["network"])
    if "scale" in card and tuple(int(s) for s in card["scale"]) != scale:
        raise ModelFileError(
            f"the model card {card_path} says scale {card['scale']} but its network has scale {list(scale)}"
        )
    network = _build_network(card["network"])
    _load_weights(network, weights_path)
    network.eval()
    return SRModel(network=network, scale=scale, normalization=normalization, card=card)


def _load_weights(network: nn.Module, weights_path: Path) -> None:
    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as error:  # safetensors raises its own error type for malformed files
        raise ModelFileError(
            f"cannot read the weights {weights_path}: not a valid safetensors file ({error})"
        ) from None
    mismatch = _state_dict_mismatch(network.state_dict(), state)
    if mismatch:
        raise ModelFileError(f"the weights in {weights_path.name} do not fit the card's network: {mismatch}")
    network.load_state_dict(state, strict=True)


def interpolation_model(mode: str = "trilinear", scale: Sequence[int] = (4, 4, 4)) -> SRModel:
    """A weightless interpolation baseline wrapped as a model, usable wherever a model is."""
    scale = tuple(int(s) for s in scale)
    card = interpolation_card(mode, scale)
    network = _build_network(card["network"]).eval()
    normalization = card["normalization"]
    return SRModel(network=network, scale=scale, normalization=dict(normalization), card=card)
