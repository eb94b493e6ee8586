"""``sr3d dicom FOLDER [--out DIR]``: the DICOM series of a folder and its subfolders (a scanner's or PACS export often
holds a whole session: localizers, the axial, coronal and sagittal series of a protocol...), listed, and written one
volume file each so that ``sr3d predict`` and ``sr3d fuse`` can take the ones wanted."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from SuperResolution3DLib.core.errors import InputVolumeError


SERIES_EXTENSIONS = (".nii.gz", ".nrrd")  # .nrrd for a tilted series, whose sheared grid NIfTI cannot hold


def series_file_stem(number: str, position: int, description: str) -> str:
    """``S007_t2_tse_cor``: the series number (``N002`` for the second listed series where it has none) and
    description, safe as a file name."""
    words = re.sub(r"[^A-Za-z0-9]+", "_", description).strip("_")[:48] or "series"
    label = f"S{number.zfill(3)}" if number.isdigit() else f"N{position:03d}"
    return f"{label}_{words}"


def command_dicom(args: argparse.Namespace) -> int:
    from SuperResolution3DLib.data.dicom_series import dicom_series_in

    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise InputVolumeError(f"{folder} is not a folder: sr3d dicom lists the DICOM series of a folder")
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputVolumeError(f"--out {out} is a file; give a folder (it is created if missing)")
    if out is not None and not out.parent.is_dir():
        raise InputVolumeError(f"the folder {out.parent} does not exist; create it or give another --out")
    summaries = dicom_series_in(folder)
    print(f"{folder}: {len(summaries)} DICOM series")
    print("number  plane     modality  files  slices  columns x rows  pixel spacing  thickness  description  (uid)  [folder]")
    for s in summaries:
        where = "" if s.folder == folder else f"  [{s.folder.relative_to(folder)}]"
        print(f"{s.number or '?':>6}  {s.plane:<8}  {s.modality or '?':<8}  {s.files:>5}  {s.slices:>6}  {s.columns_rows:>14}  "
              f"{s.pixel_spacing or '?':>13}  {s.slice_thickness or '?':>9}  {s.description or '-'}  "
              f"({s.uid or 'no Series Instance UID'}){where}")
    if out is None:
        if len(summaries) > 1:
            print(f"sr3d dicom {folder} --out DIR writes each series as a volume file")
            if all(s.folder == folder for s in summaries):
                print(f"sr3d predict {folder} OUTPUT --series NUMBER super-resolves one of them")
                if len({s.plane for s in summaries}) > 1:
                    print(f"sr3d fuse {folder} OUTPUT --series N,N,... fuses thick-slice series of several planes")
        return 0
    out.mkdir(exist_ok=True)
    written = 0
    taken = set()  # names given in this run: two series of one number and description (other folders) get both
    for position, s in enumerate(summaries, start=1):
        written += write_series(s, position, out, taken)
    print(f"wrote {written} of {len(summaries)} series to {out}")
    return 0


def write_series(summary, position: int, out: Path, taken: set) -> int:
    """Write one series as a volume file in ``out`` (1), or say why not (0): an existing file is kept, a series that
    is no 3D volume (a localizer of three planes, uneven slices) is skipped with the reader's reason."""
    from SuperResolution3DLib.data.io import as_pixel_type, is_orthogonal_grid, read_volume, write_volume

    stem = series_file_stem(summary.number, position, summary.description)
    if stem in taken:
        stem = stem.replace("_", f"_{position:03d}_", 1)
    taken.add(stem)
    name = summary.number or f"#{position}"
    existing = [out / (stem + extension) for extension in SERIES_EXTENSIONS if (out / (stem + extension)).exists()]
    if existing:
        print(f"  series {name}: {existing[0].name} exists (kept; delete it to write it again)")
        return 0
    try:
        volume = read_volume(summary.folder, series=summary.uid)
    except InputVolumeError as error:
        print(f"  series {name}: skipped: {error}")
        return 0
    target = out / (stem + SERIES_EXTENSIONS[0 if is_orthogonal_grid(volume.direction) else 1])
    write_volume(volume.with_array(as_pixel_type(volume.array, summary.pixel_type)), target)  # the stored type
    print(f"  series {name}: {target.name} ({volume.size[0]}x{volume.size[1]}x{volume.size[2]}, spacing "
          f"{' x '.join(f'{v:g}' for v in volume.spacing)} mm)")
    return 1
