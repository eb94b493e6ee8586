"""Cohorts: many scans in one call, one model load, resumable, spread over processes.

``cohort_inputs`` turns a folder of volume files, a glob pattern or a ``.txt`` list (one path per line) into a
sorted list of inputs; ``shard_of`` keeps this process's share (``I/N``, or ``auto``: ``RANK`` / ``WORLD_SIZE``
under torchrun); ``run_cohort`` super-resolves each into an output folder under the input's name, skips outputs
that exist (unless ``overwrite``), reports a bad scan in the manifest and goes on, and writes a CSV manifest
(input, output, model, seconds, status, message) row by row, so an interrupted cohort resumes where it stopped.
"""

from __future__ import annotations

import csv
import glob
import os
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from SuperResolution3DLib.core.errors import InputVolumeError, SR3DError
from SuperResolution3DLib.data.io import INPUT_EXTENSIONS, OUTPUT_EXTENSIONS, file_extension, has_sheared_grid

MANIFEST_COLUMNS = ("input", "output", "model", "seconds", "status", "message")


def is_cohort_input(spec: str) -> bool:
    """A glob pattern, a ``.txt`` list, or a folder that holds volume files (a folder of DICOM slices is one scan)."""
    path = Path(spec).expanduser()
    if any(c in str(spec) for c in "*?[") and not path.exists():
        return True
    if path.is_file():
        return path.suffix.lower() == ".txt"
    return path.is_dir() and any(file_extension(p) in INPUT_EXTENSIONS for p in path.iterdir() if p.is_file())


def cohort_inputs(spec: str) -> List[Path]:
    path = Path(spec).expanduser()
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and file_extension(p) in INPUT_EXTENSIONS]
    elif path.is_file():
        lines = [line.strip() for line in path.read_text().splitlines()]
        found = [(path.parent / line).expanduser() for line in lines if line and not line.startswith("#")]
    else:
        found = [Path(p) for p in glob.glob(os.path.expanduser(str(spec)))]
    if not found:
        raise InputVolumeError(f"{spec} names no input volumes; give a folder of volume files, a glob or a .txt list")
    return sorted(found)


def parse_shard(text: str, environ=os.environ) -> Tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; ``auto`` -> ``(RANK, WORLD_SIZE)`` (``(0, 1)`` alone)."""
    if text == "auto":
        return int(environ.get("RANK", 0)), int(environ.get("WORLD_SIZE", 1))
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputVolumeError(f"--shard must look like I/N (e.g. 0/4) or auto, got {text!r}") from None
    if not (count >= 1 and 0 <= index < count):
        raise InputVolumeError(f"--shard {text}: need N >= 1 and 0 <= I < N")
    return index, count


def shard_of(inputs: Sequence[Path], index: int, count: int) -> List[Path]:
    return list(inputs)[index::count]


def output_path_for(input_path: Path, output_dir: Path) -> Path:
    """The output beside the others: the input's name, its format if writable (.nhdr -> .nrrd, .mhd -> .mha,
    a DICOM folder -> .nii.gz), .nrrd where the input is read as a sheared grid, which NIfTI outputs cannot hold
    (a gantry-tilted DICOM series, a NIfTI file with a sheared sform and no qform)."""
    extension = file_extension(input_path)
    stem = input_path.name[: len(input_path.name) - len(extension)] if extension else input_path.name
    extension = {".nhdr": ".nrrd", ".mhd": ".mha"}.get(extension, extension)
    if extension not in OUTPUT_EXTENSIONS:
        extension = ".nii.gz"
    if extension in (".nii", ".nii.gz") and has_sheared_grid(input_path):
        extension = ".nrrd"
    return output_dir / (stem + extension)


def manifest_path(output_dir: Path, index: int, count: int) -> Path:
    return output_dir / ("manifest.csv" if count == 1 else f"manifest_shard{index}of{count}.csv")


def run_cohort(
    inputs: Sequence[Path],
    output_dir: Path,
    process: Callable[[Path, Path], Tuple[str, str]],
    manifest: Path,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> Dict[str, int]:
    """Run ``process(input, output) -> (model name, note)`` on each input (the note goes into the manifest's message
    column); returns the count of each status."""
    counts = {"done": 0, "skipped": 0, "failed": 0}
    new_file = not manifest.exists()
    with open(manifest, "a", newline="") as handle:
        writer = csv.DictWriter(handle, MANIFEST_COLUMNS)
        if new_file:
            writer.writeheader()
        for number, input_path in enumerate(inputs, 1):
            output = output_path_for(input_path, output_dir)
            row = {"input": str(input_path), "output": str(output), "model": "", "seconds": "", "message": ""}
            if output.exists() and not overwrite:
                row["status"] = "skipped"
                row["message"] = "output exists (--overwrite to redo)"
            else:
                started = time.perf_counter()
                try:
                    row["model"], row["message"] = process(input_path, output)
                    row["status"] = "done"
                except SR3DError as error:
                    row["status"], row["message"] = "failed", str(error)
                row["seconds"] = f"{time.perf_counter() - started:.2f}"
            counts[row["status"]] += 1
            writer.writerow(row)
            handle.flush()
            log(f"[{number}/{len(inputs)}] {row['status']}: {input_path.name}" + (f" ({row['message']})" if row["message"] else ""))
    return counts


def check_cohort_output(output_dir: Optional[str]) -> Path:
    folder = Path(str(output_dir)).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputVolumeError(f"a cohort's output must be a folder, {folder} is a file")
    if not folder.parent.is_dir():
        raise InputVolumeError(f"the output folder's parent {folder.parent} does not exist; create it first")
    return folder
