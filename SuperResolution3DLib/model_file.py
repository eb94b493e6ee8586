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
Every failure is a ``ModelFileError`` with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import ModelFileError
from .io import atomic_output_path
from .networks import INTERPOLATION_MODES, build_network, network_scale
from .normalization import validate_normalization

PathLike = Union[str, "os.PathLike[str]"]

MODEL_FORMAT = "sr3d-model"
MODEL_FORMAT_VERSION = 1
DEFAULT_MODEL_NAME = "sr3d_rrdb_x4_l1"
MODELS_DIR_ENVIRONMENT_VARIABLE = "SR3D_MODELS_DIR"
WEIGHTS_EXTENSION = ".safetensors"
CARD_EXTENSION = ".json"
PICKLE_EXTENSIONS = (".pt", ".pth", ".ckpt", ".pkl", ".bin")


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


def package_version() -> str:
    """Version of SuperResolution3D: the package's ``__version__``, else the installed metadata, else "unknown"."""
    try:
        import SuperResolution3DLib

        version = getattr(SuperResolution3DLib, "__version__", None)
        if version:
            return str(version)
    except ImportError:
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version as installed_version

        return installed_version("SuperResolution3D")
    except (ImportError, PackageNotFoundError):
        return "unknown"


def sha256_of_file(path: PathLike) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_file_paths(path: PathLike) -> Tuple[Path, Path]:
    """``(card_path, weights_path)`` named after ``path``: a ``.json``, a ``.safetensors`` or a stem."""
    path = Path(path).expanduser()
    if path.suffix.lower() in (CARD_EXTENSION, WEIGHTS_EXTENSION):
        path = path.with_suffix("")
    return path.with_name(path.name + CARD_EXTENSION), path.with_name(path.name + WEIGHTS_EXTENSION)


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


def save_model(path: PathLike, network: nn.Module, card: Dict[str, Any]) -> Path:
    """Save ``network``'s weights and its model card side by side; return the card's path.

    ``path`` may be the ``.json``, the ``.safetensors`` or the stem. ``card`` needs
    ``network`` (the ``build_network`` config of ``network``) and ``normalization``; this
    fills ``format``, ``format_version``, ``name`` (if absent: the stem), ``scale``,
    ``parameter_count``, ``weights_file``, ``weights_sha256``, ``package_version`` and
    ``created`` (if absent). Both files are written atomically.

    Raises:
        ModelFileError: the card is incomplete or its network config does not match ``network``.
    """
    card_path, weights_path = model_file_paths(path)
    if not card_path.parent.is_dir():
        raise ModelFileError(f"the model folder {card_path.parent} does not exist; create it first")
    card = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "name": None, **card}
    normalization = _normalization_of(card)
    network = _unwrapped(network)
    state = {name: tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
             for name, tensor in network.state_dict().items()}
    _check_network_matches_config(card.get("network"), state)
    card.update(
        format=MODEL_FORMAT,
        format_version=MODEL_FORMAT_VERSION,
        name=card.get("name") or card_path.stem,
        scale=list(network_scale(card["network"])),
        normalization=normalization,
        parameter_count=int(sum(p.numel() for p in network.parameters())),
        weights_file=weights_path.name,
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


def read_model_card(path: PathLike) -> Dict[str, Any]:
    """Read and check a model card (the ``.json``) without touching the weights."""
    card_path = Path(path).expanduser()
    if not card_path.is_file():
        raise ModelFileError(f"model card not found: {card_path}; pass the path of a model .json")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"cannot read the model card {card_path}: not valid JSON ({error})") from None
    if not isinstance(card, dict) or card.get("format") != MODEL_FORMAT:
        raise ModelFileError(
            f"{card_path} is not a SuperResolution3D model card (its 'format' is not {MODEL_FORMAT!r})"
        )
    version = card.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{card_path} has model format version {version!r}, "
            f"this package reads version {MODEL_FORMAT_VERSION}; "
            "update SuperResolution3D or re-export the model"
        )
    for key in ("network", "weights_file", "weights_sha256"):
        if key not in card:
            raise ModelFileError(f"the model card {card_path} has no {key!r} entry; re-export the model")
    return card


def verify_weights_checksum(weights_path: Path, expected_sha256: str) -> None:
    """Refuse a weights file whose SHA-256 differs from the card's."""
    actual = sha256_of_file(weights_path)
    if actual != str(expected_sha256).lower():
        raise ModelFileError(
            f"model weights checksum mismatch: {weights_path} has sha256 {actual} "
            f"but its card says {expected_sha256}; "
            "the file is corrupt or was modified - re-download or re-export the model"
        )


def load_model(path_or_name: PathLike) -> SRModel:
    """Load a model from its ``.json``, its ``.safetensors``, a bundled model name, ``default``
    or an interpolation baseline name (``nearest``, ``trilinear``, ``bspline``, scale 4).

    The weights' SHA-256 is checked before they are read; the network is built from the card,
    loaded with strict key and shape checks, put in eval mode and left on the CPU.
    """
    if str(path_or_name) in INTERPOLATION_MODES:
        return interpolation_model(str(path_or_name), (4, 4, 4))
    card_path = resolve_model_path(path_or_name)
    card = read_model_card(card_path)
    weights_path = card_path.parent / str(card["weights_file"])
    if not weights_path.is_file():
        raise ModelFileError(
            f"model weights not found: {weights_path} (named by {card_path.name}); a model needs both files"
        )
    verify_weights_checksum(weights_path, card["weights_sha256"])
    normalization = _normalization_of(card)
    scale = network_scale(card["network"])
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
    config = {"name": "interpolation", "mode": mode, "scale": list(scale)}
    network = _build_network(config).eval()
    normalization = {"kind": "minmax"}
    card = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "name": mode,
        "description": f"{mode} interpolation baseline (no learned weights)",
        "network": config,
        "scale": list(scale),
        "normalization": normalization,
        "parameter_count": 0,
        "package_version": package_version(),
    }
    return SRModel(network=network, scale=scale, normalization=dict(normalization), card=card)


# Bundled models --------------------------------------------------------------------------------


def models_dir() -> Path:
    """Folder of bundled models: ``$SR3D_MODELS_DIR`` if set, else ``<repo root>/Resources/Models``."""
    override = os.environ.get(MODELS_DIR_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "Resources" / "Models"


def list_bundled_models() -> List[str]:
    """Names (file stems) of the model cards in ``models_dir()``."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    names = []
    for card_path in sorted(folder.glob("*" + CARD_EXTENSION)):
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(card, dict) and card.get("format") == MODEL_FORMAT:
            names.append(card_path.stem)
    return names


def resolve_model_path(path_or_name: PathLike) -> Path:
    """The model card path for a model file path (``.json``, ``.safetensors`` or stem) or a bundled name.

    ``default`` means ``DEFAULT_MODEL_NAME``.
    """
    path = Path(path_or_name).expanduser()
    extension = path.suffix.lower()
    if extension in PICKLE_EXTENSIONS:
        raise ModelFileError(
            f"{path.name} looks like a PyTorch pickle file, which is never loaded (it can run code); "
            "export the model as .safetensors + .json with save_model"
        )
    if path.is_file():
        return _card_path_of_existing_file(path)
    card_path, _ = model_file_paths(path)
    if extension not in (CARD_EXTENSION, WEIGHTS_EXTENSION) and card_path.is_file():
        return card_path
    name = DEFAULT_MODEL_NAME if str(path_or_name) == "default" else str(path_or_name)
    bundled_card = models_dir() / (name + CARD_EXTENSION)
    if len(Path(name).parts) == 1 and bundled_card.is_file():
        return bundled_card
    bundled = ", ".join(list_bundled_models()) or "none installed"
    raise ModelFileError(
        f"model {str(path_or_name)!r} not found: it is neither a model file nor a bundled model "
        f"(bundled: {bundled}; baselines: {', '.join(INTERPOLATION_MODES)}); pass the path of a model .json"
    )


def _card_path_of_existing_file(path: Path) -> Path:
    extension = path.suffix.lower()
    if extension == CARD_EXTENSION:
        return path
    if extension == WEIGHTS_EXTENSION:
        card_path = path.with_suffix(CARD_EXTENSION)
        if not card_path.is_file():
            raise ModelFileError(
                f"model card {card_path.name} not found next to {path}; "
                "a model needs both its .safetensors and .json files"
            )
        return card_path
    raise ModelFileError(f"{path} is not a model file; pass a model .json (or its .safetensors)")


# Model card text -------------------------------------------------------------------------------


def format_model_card(card: Dict[str, Any]) -> str:
    """A readable multi-line description of a model card (for ``sr3d info``)."""
    lines = [f"Name:             {card.get('name', '(unnamed)')}"]
    if card.get("description"):
        lines.append(f"Description:      {card['description']}")
    lines.append(f"Network:          {_network_text(card)}")
    lines.append(f"Scale (x, y, z):  {_scale_text(card)}")
    lines.append(f"Normalisation:    {_mapping_text(card.get('normalization', {}), first_key='kind')}")
    for label, key in (("Training data", "training_data"), ("Training", "training_settings")):
        if card.get(key):
            lines.extend(_labelled_block(label, card[key]))
    if card.get("metrics"):
        lines.append("Metrics:")
        lines.extend("  " + row for row in _metrics_table(card["metrics"]))
    lines.append(f"Package version:  {card.get('package_version', 'unknown')}")
    if card.get("created"):
        lines.append(f"Created:          {card['created']}")
    if card.get("weights_file"):
        lines.append(f"Weights:          {card['weights_file']}")
        lines.append(f"SHA-256:          {card.get('weights_sha256', 'unknown')}")
    return "\n".join(lines)


def _network_text(card: Dict[str, Any]) -> str:
    network = dict(card.get("network", {}))
    name = network.pop("name", "unknown")
    network.pop("scale", None)
    text = f"{name} ({_mapping_text(network)})" if network else str(name)
    if card.get("parameter_count") is not None:
        text += f", {int(card['parameter_count']):,} parameters"
    return text


def _scale_text(card: Dict[str, Any]) -> str:
    scale = card.get("scale") or network_scale(card.get("network", {}))
    return " x ".join(str(s) for s in scale)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _mapping_text(mapping: Any, first_key: Optional[str] = None) -> str:
    """``{"kind": "percentile", "lower": 0.5}`` -> ``percentile (lower=0.5)`` when first_key is "kind"."""
    if not isinstance(mapping, dict):
        return _format_value(mapping)
    items = dict(mapping)
    head = str(items.pop(first_key)) if first_key and first_key in items else ""
    rest = ", ".join(f"{key}={_format_value(value)}" for key, value in items.items())
    if head and rest:
        return f"{head} ({rest})"
    return head or rest


def _labelled_block(label: str, value: Any) -> List[str]:
    heading = f"{label + ':':<18}"
    if isinstance(value, dict):
        return [heading.rstrip()] + [f"  {key}: {_format_value(item)}" for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return [heading.rstrip()] + [f"  - {_format_value(item)}" for item in value]
    return [heading + str(value)]


def _metrics_table(metrics: Any) -> List[str]:
    """Rows of a small text table: one row per method when metrics are nested dicts, else name/value."""
    if not isinstance(metrics, dict):
        return [_format_value(metrics)]
    if metrics and all(isinstance(value, dict) for value in metrics.values()):
        columns = list(dict.fromkeys(key for row in metrics.values() for key in row))
        rows = [[""] + columns]
        for name, row in metrics.items():
            rows.append([str(name)] + [_format_value(row.get(column, "")) for column in columns])
    else:
        rows = [[str(name), _format_value(value)] for name, value in metrics.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
