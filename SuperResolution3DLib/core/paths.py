"""Paths in configs and on the command line: the one place that resolves them.

An entry is a volume file, a DICOM folder, a folder of volumes, a ``.txt`` list (one entry per line,
relative to the list), ``pkg:<package>/<path>`` for a file inside an installed Python package, or
``synth:head?seed=N&size=S`` for a synthetic volume made on the fly (``data.synthetic``).
``~`` and ``$VARIABLE`` are expanded; relative paths are relative to a base folder (the YAML file's).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import List, Sequence, Union

from SuperResolution3DLib.core.errors import TrainingConfigError

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".mgz", ".mgh", ".mnc")  # volume files read (data.io)
SUPPORTED_INPUTS_TEXT = f"supported inputs: {', '.join(VOLUME_SUFFIXES)} or a DICOM folder"
SYNTHETIC_PREFIX = "synth:"
PathLike = Union[str, "os.PathLike[str]"]


# Variables with a default when unset: training runs go outside the source tree unless told otherwise.
DEFAULT_PATH_VARIABLES = {"SR3D_RUNS": "~/sr3d_runs"}


def expand_path_variables(entry: str) -> str:
    """``~`` and ``$VARIABLE`` / ``${VARIABLE}`` expanded (``DEFAULT_PATH_VARIABLES`` when unset); another
    unset variable is an error that names it."""
    for name, default in DEFAULT_PATH_VARIABLES.items():
        if name not in os.environ:
            entry = re.sub(r"\$\{" + name + r"\}|\$" + name + r"(?![A-Za-z0-9_])", default.replace("\\", "/"), entry)
    expanded = os.path.expandvars(os.path.expanduser(entry))
    if "$" in expanded:
        raise TrainingConfigError(
            f"{entry}: environment variable {expanded[expanded.index('$'):].split('/')[0]} is not set; "
            "set it (e.g. export SR3D_DATA=/path/to/data) or write the path out"
        )
    return expanded


def resolve_path(path: PathLike, base_dir: PathLike = ".") -> Path:
    """``path`` with variables expanded, joined to ``base_dir`` unless it is absolute."""
    path = Path(expand_path_variables(str(path)))
    return path if path.is_absolute() else Path(base_dir) / path


def resolve_package_path(entry: str) -> Path:
    """``pkg:nilearn/datasets/data/x.nii.gz`` -> the file inside the installed package."""
    package, _, inner = entry[len("pkg:") :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TrainingConfigError(f"{entry}: the Python package '{package}' is not installed; pip install {package}")
    path = Path(list(spec.submodule_search_locations)[0]) / inner
    if not path.exists():
        raise TrainingConfigError(f"{entry}: {path} is not in the installed '{package}' package")
    return path


def expand_volume_entries(entries: Sequence[str], base_dir: PathLike = ".") -> List[Path]:
    """Turn config entries (files, folders, .txt lists, ``pkg:`` paths) into volume paths."""
    paths: List[Path] = []
    for entry in entries:
        entry = expand_path_variables(str(entry))
        if entry.startswith("pkg:"):
            paths.append(resolve_package_path(entry))
            continue
        if entry.startswith(SYNTHETIC_PREFIX):
            paths.append(Path(entry))  # made when read (data.io.read_volume)
            continue
        path = resolve_path(entry, base_dir)
        if path.suffix == ".txt" and path.is_file():
            lines = [line.strip() for line in path.read_text().splitlines()]
            paths.extend(expand_volume_entries([line for line in lines if line and not line.startswith("#")], path.parent))
        elif path.is_dir() and any(str(p).endswith(VOLUME_SUFFIXES) for p in path.iterdir()):
            paths.extend(sorted(p for p in path.iterdir() if str(p).endswith(VOLUME_SUFFIXES)))
        elif path.exists():
            paths.append(path)  # a volume file or a DICOM folder
        else:
            raise TrainingConfigError(f"volume {path} does not exist; check the path")
    return paths


def sample_data_dir() -> Path:
    """The shipped sample volumes: ``<repo root>/Resources/SampleData`` in a source tree (and an editable
    install), else the ``SuperResolution3DLib/sample_data`` folder a wheel installs."""
    package = Path(__file__).resolve().parents[1]
    source_tree = package.parent / "Resources" / "SampleData"
    return source_tree if source_tree.is_dir() else package / "sample_data"
