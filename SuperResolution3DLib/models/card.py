"""Model cards without torch: names, paths, reading, checksums, bundled models and card text.

A model is two files side by side (see ``model_file.py``, which saves and loads them with torch):
``<stem>.safetensors`` (the weights) and ``<stem>.json`` (the model card). Everything here needs only
the standard library, so that the Slicer module (and ``sr3d models``) can list, find, check and
describe models without importing torch. ``model_file`` re-exports every public name of this module.
Every failure is a ``ModelFileError`` with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from SuperResolution3DLib.core.errors import ModelFileError
from SuperResolution3DLib.core.scale import DEFAULT_SCALE, as_scale, config_scale  # noqa: F401  (config_scale: part of a card's vocabulary)
from SuperResolution3DLib.core.vocabulary import INTERPOLATION_MODES

PathLike = Union[str, "os.PathLike[str]"]

MODEL_FORMAT = "sr3d-model"
MODEL_FORMAT_VERSION = 1
DEFAULT_MODEL_NAME = "sr3d_rrdb_gan_x4_real"
# With no --model, a thick-slice input (one axis much coarser than the others) goes to this through-plane model.
DEFAULT_THICK_SLICE_MODEL_NAME = "sr3d_rrdb_thick_x4_l1"
# The through-plane model for k-space truncated slices (3D acquisitions): chosen where the input records such slices
# (data.acquisition), else when named (--model).
KSPACE_THICK_SLICE_MODEL_NAME = "sr3d_rrdb_thick_kspace_x4_l1"
MODELS_DIR_ENVIRONMENT_VARIABLE = "SR3D_MODELS_DIR"
WEIGHTS_EXTENSION = ".safetensors"
CARD_EXTENSION = ".json"
PICKLE_EXTENSIONS = (".pt", ".pth", ".ckpt", ".pkl", ".bin")


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


# How a saved model file whose adaptation the held-out check rejected is described (sr3d predict, the Slicer panel).
ADAPTATION_NOT_KEPT = "adaptation not kept: the pre-trained weights"


def new_model_card_path(path: PathLike, what: str = "--save-adapted") -> Path:
    """The absolute path of a model card about to be written (``what`` names the option in messages): a ``.json``
    in an existing folder, not one of the bundled models. ``ModelFileError`` says which rule it breaks."""
    card_path = Path(path).expanduser()
    if card_path.suffix.lower() != CARD_EXTENSION:
        raise ModelFileError(f"{what} names the model card to write, a .json file; got {card_path.name}")
    if not card_path.parent.is_dir():
        raise ModelFileError(f"{what}: the folder {card_path.parent} does not exist; create it first")
    card_path = card_path.resolve()
    bundled = models_dir().resolve()
    if card_path.parent == bundled and card_path.stem in list_bundled_models():
        raise ModelFileError(f"{what}: {card_path.name} is a bundled model and would be overwritten; "
                             "choose another name or folder")
    return card_path


def card_scale(card: Dict[str, Any]) -> Tuple[int, int, int]:
    """The ``(x, y, z)`` upscaling of a model card: its ``scale``, else its network's, else 4 x 4 x 4."""
    return as_scale(card.get("scale")) if card.get("scale") else config_scale(card.get("network"))


def interpolation_card(mode: str = "trilinear", scale: Sequence[int] = DEFAULT_SCALE) -> Dict[str, Any]:
    """The model card of a weightless interpolation baseline (``nearest``, ``trilinear``, ``bspline``)."""
    scale = [int(s) for s in scale]
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "name": mode,
        "description": f"{mode} interpolation baseline (no learned weights)",
        "network": {"name": "interpolation", "mode": mode, "scale": list(scale)},
        "scale": list(scale),
        "normalization": {"kind": "minmax"},
        "parameter_count": 0,
        "package_version": package_version(),
    }


# Reading and checking --------------------------------------------------------------------------


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


def find_model_files(path_or_name: PathLike) -> Tuple[Path, Dict[str, Any], Path]:
    """``(card_path, card, weights_path)`` of a model file path or bundled name, both files present.

    The card is read and checked (``read_model_card``); the weights are not read (their checksum is
    checked by ``verify_weights_checksum``, which ``model_file.load_model`` calls before loading them).
    """
    card_path = resolve_model_path(path_or_name)
    card = read_model_card(card_path)
    weights_path = card_path.parent / str(card["weights_file"])
    if not weights_path.is_file():
        raise ModelFileError(
            f"model weights not found: {weights_path} (named by {card_path.name}); a model needs both files"
        )
    return card_path, card, weights_path


# Bundled models --------------------------------------------------------------------------------


def models_dir() -> Path:
    """Folder of bundled models: ``$SR3D_MODELS_DIR`` if set, else ``<repo root>/Resources/Models`` in a source
    tree (and an editable install), else the ``SuperResolution3DLib/bundled_models`` folder a wheel installs."""
    override = os.environ.get(MODELS_DIR_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    package = Path(__file__).resolve().parents[1]
    source_tree = package.parent / "Resources" / "Models"
    return source_tree if source_tree.is_dir() else package / "bundled_models"


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


def model_card_summary(card: Dict[str, Any]) -> str:
    """A short plain-text summary of a model card: scale, network, training data, metrics (for a GUI)."""
    lines = [f"{card.get('name', '(unnamed)')}: {card.get('description', '')}".rstrip(": ")]
    lines.append("Scale (x, y, z): " + _scale_text(card))
    network = dict(card.get("network") or {})
    if network.get("name") and network.get("name") != "interpolation":
        count = card.get("parameter_count")
        lines.append(f"Network: {network['name']}" + (f", {int(count):,} parameters" if count else ""))
    data = card.get("training_data")
    if data:
        if isinstance(data, dict):
            data = ", ".join(f"{k}: {v}" for k, v in data.items())
        elif isinstance(data, (list, tuple)):
            data = "; ".join(str(v) for v in data)
        lines.append(f"Training data: {data}")
    metrics = card.get("metrics")
    if isinstance(metrics, dict) and metrics:
        lines.append("Metrics:")
        for key, value in metrics.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
            elif isinstance(value, float):
                value = f"{value:.4g}"
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _network_text(card: Dict[str, Any]) -> str:
    network = dict(card.get("network", {}))
    name = network.pop("name", "unknown")
    network.pop("scale", None)
    text = f"{name} ({_mapping_text(network)})" if network else str(name)
    if card.get("parameter_count") is not None:
        text += f", {int(card['parameter_count']):,} parameters"
    if card.get("weights_dtype", "float32") != "float32":
        text += f", stored as {card['weights_dtype']}"
    return text


def _scale_text(card: Dict[str, Any]) -> str:
    return " x ".join(str(s) for s in card_scale(card))


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
    """Rows of a small text table: one row per method (or per volume and method) when metrics are nested
    dicts (``{method: {metric: value}}`` or ``{volume: {method: {metric: value}}}``), else name/value."""
    if not isinstance(metrics, dict):
        return [_format_value(metrics)]
    rows_by_name = _flatten_metric_rows(metrics)
    if rows_by_name is not None:
        columns = list(dict.fromkeys(key for row in rows_by_name.values() for key in row))
        rows = [[""] + columns]
        for name, row in rows_by_name.items():
            rows.append([name] + [_format_value(row.get(column, "")) for column in columns])
    else:
        rows = [[str(name), _format_value(value)] for name, value in metrics.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _flatten_metric_rows(metrics: Dict[str, Any]) -> Optional[Dict[str, Dict[str, Any]]]:
    """``{name: {metric: value}}`` as is; ``{volume: {method: {metric: value}}}`` as ``{"volume  method": ...}``."""
    if not metrics or not all(isinstance(value, dict) for value in metrics.values()):
        return None
    rows: Dict[str, Dict[str, Any]] = {}
    for name, row in metrics.items():
        if row and all(isinstance(value, dict) for value in row.values()):
            rows.update({f"{name}  {method}": values for method, values in row.items()})
        else:
            rows[str(name)] = row
    return rows
