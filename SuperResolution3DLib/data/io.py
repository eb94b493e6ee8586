"""Reading, checking and writing 3D volumes (SimpleITK based; imported where an ITK format is read or written).

Inputs: NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``), MetaImage (``.mha``,
``.mhd``), FreeSurfer MGH (``.mgz``, ``.mgh``: ``data.mgh``), MINC2 (``.mnc``: ``data.minc``) or a folder holding a
DICOM series. Outputs: ``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``, ``.mnc``, ``.mgz`` or ``.mgh``; the detached-header
formats (``.nhdr``, ``.mhd``) are refused for output because they write a second data file that cannot be replaced
atomically together with the header.

Geometry (spacing, origin, direction) is carried through unchanged; see ``volume.py`` for the
array and geometry conventions. Every problem a user can fix is raised as ``InputVolumeError``
with a one-line message saying what is wrong and what to do.

Packed volumes (``.npz``: the array, stored float16, with spacing, origin and direction; ``write_packed_volume``)
are read without SimpleITK, for machines that have torch and numpy alone (``scripts/device``).

NaN/Inf policy (``replace_nonfinite``): non-finite voxels are replaced by the minimum finite
value of the volume before super-resolution, and their mask is returned so that callers can
put NaN back at the matching output voxels.
"""

from __future__ import annotations

import os
import secrets
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.paths import SUPPORTED_INPUTS_TEXT, VOLUME_SUFFIXES
from SuperResolution3DLib.data.dicom_series import read_dicom_series, stored_pixel_type
from SuperResolution3DLib.data.dicom_volume import (DicomSeriesFiles, open_dicom_series, read_enhanced_series,
                                                    series_pixel_type, with_stack_step)
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.mgh import MGH_EXTENSIONS, MghFile, mgh_bytes, open_mgh
from SuperResolution3DLib.data.minc import MINC_EXTENSIONS, MINC_NOTES_KEY, check_minc2, lps_from_minc, minc_from_lps
from SuperResolution3DLib.data.nifti_header import (is_nifti2, itk_reading, nifti_length_problem, nifti_shear,
                                                    with_sform_geometry)
from SuperResolution3DLib.data.synthetic import is_synthetic_entry, synthetic_header, synthetic_volume

if TYPE_CHECKING:
    import SimpleITK as sitk

PathLike = Union[str, "os.PathLike[str]"]
PACKED_EXTENSION = ".npz"
HEADER_NOTES_KEY = "ITK_FileNotes"  # a line of notes every format keeps (NIfTI as descrip)

INPUT_EXTENSIONS: Tuple[str, ...] = VOLUME_SUFFIXES
OUTPUT_EXTENSIONS: Tuple[str, ...] = (".nii", ".nii.gz", ".nrrd", ".mha", ".mnc", ".mgz", ".mgh")
NIFTI_EXTENSIONS: Tuple[str, ...] = (".nii", ".nii.gz")  # orthogonal grids only (ITK coerces a sheared one)
ORTHOGONAL_ONLY_EXTENSIONS = NIFTI_EXTENSIONS + MGH_EXTENSIONS
SUPPORTED_OUTPUTS_TEXT = "supported outputs: .nii, .nii.gz, .nrrd, .mha, .mnc, .mgz, .mgh"


def file_extension(path: PathLike) -> str:
    """The lower-case extension of ``path``, with ``.nii.gz`` treated as one extension."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


# Reading ---------------------------------------------------------------------------------------


def read_volume(path: PathLike, series: Optional[str] = None) -> Volume:
    """Read a 3D scalar volume from an image file or a DICOM series folder (``series``: which of the folder's series,
    by Series Instance UID or Series Number; default the largest).

    The image header is checked before the voxels are converted (``inspect_input``). The array is
    returned as float32. The voxel values are not checked here; call ``validate_volume``.

    Raises:
        InputVolumeError: missing path, unsupported format, unreadable file, or not a 3D
            scalar volume.
    """
    if is_synthetic_entry(path):
        return synthetic_volume(str(path))
    path = Path(path).expanduser()
    if file_extension(path) == PACKED_EXTENSION:
        return read_packed_volume(path)
    source = _open_input(path, series)
    if isinstance(source, MghFile):
        return source.read()
    if isinstance(source, DicomSeriesFiles) and source.frames is not None:
        volume = read_enhanced_series(path, source)
        _check_image_is_3d_scalar(3, volume.size, 1)
        return volume
    image = read_dicom_series(path, source) if isinstance(source, list) else _execute_reader(path, source)
    _check_image_is_3d_scalar(image.GetDimension(), image.GetSize(), image.GetNumberOfComponentsPerPixel())
    if image.GetDimension() == 4:  # one time point (a 4th axis of size 1): the 3D volume it holds
        image = image[:, :, :, 0]
    volume = with_sform_geometry(path, _volume_from_image(image))
    if file_extension(path) in MINC_EXTENSIONS:
        volume = lps_from_minc(volume)
    if isinstance(source, DicomSeriesFiles) and source.step is not None:
        volume = with_stack_step(path, source.step, volume)
    return volume


def write_packed_volume(volume: Volume, path: PathLike) -> Path:
    """``volume`` as a compressed ``.npz`` (array as float16: integers up to 2048 exact, CT up to 4096 HU within
    1 HU; spacing, origin, direction as float64), written atomically; read back by ``read_volume``."""
    path = Path(path).expanduser()
    if file_extension(path) != PACKED_EXTENSION:
        raise ValueError(f"a packed volume is a {PACKED_EXTENSION} file, got {path.name}")
    with atomic_output_path(path) as temporary:
        with open(temporary, "wb") as file:
            np.savez_compressed(file, array=np.asarray(volume.array).astype(np.float16),
                                **{name: np.asarray(getattr(volume, name), np.float64) for name in ("spacing", "origin", "direction")})
    return path


def read_packed_volume(path: Path) -> Volume:
    """A volume written by ``write_packed_volume`` (float32 array, its geometry)."""
    if not path.is_file():
        raise InputVolumeError(f"{path} not found")
    try:
        with np.load(path) as packed:
            geometry = {name: tuple(float(v) for v in packed[name]) for name in ("spacing", "origin", "direction")}
            return Volume(packed["array"].astype(np.float32), **geometry)
    except (OSError, ValueError, KeyError) as error:
        raise InputVolumeError(f"{path} is not a packed volume (write_packed_volume): {error}") from None


def inspect_input(path: PathLike, series: Optional[str] = None) -> Optional[Tuple[int, int, int]]:
    """Every check ``read_volume`` makes before reading voxels (path, format, 3D scalar header, spacing,
    direction, complete NIfTI data, a DICOM series in a folder: ``series`` as for ``read_volume``), in a fraction of
    a second and without torch; returns the ``(x, y, z)`` size from the header (``None`` for a DICOM folder)."""
    path = Path(path).expanduser()
    source = _open_input(path, series)
    return None if isinstance(source, list) else tuple(int(n) for n in source.GetSize()[:3])


def _open_input(path: Path, series: Optional[str] = None) -> Union[sitk.ImageFileReader, MghFile, DicomSeriesFiles]:
    """A reader with the checked header of an image file, or the file names of a folder's DICOM series."""
    if not path.exists():
        raise InputVolumeError(f"input not found: {path}; check the path ({SUPPORTED_INPUTS_TEXT})")
    if series is not None and not path.is_dir():
        raise InputVolumeError(f"a series is chosen among a folder's DICOM series, and {path} is a file; leave out "
                               "the series (--series)")
    if path.is_file() and path.stat().st_size == 0:
        raise InputVolumeError(f"the input {path} is an empty file (0 bytes); copy it again")
    if path.is_dir():
        return open_dicom_series(path, series)  # refuses uneven or repeated slices before any voxel is read
    if file_extension(path) in MGH_EXTENSIONS:
        mgh = open_mgh(path)
        _check_image_is_3d_scalar(3, mgh.size, 1)
        check_spacing_and_direction(mgh.spacing, mgh.direction)
        return mgh
    return _checked_file_reader(path)


def input_pixel_type(path: PathLike, series: Optional[str] = None) -> np.dtype:
    """The numpy type of an image file's or a DICOM series' voxels as stored (after a DICOM rescale), from the header."""
    source = _open_input(Path(path).expanduser(), series)
    if isinstance(source, MghFile):
        return source.dtype.newbyteorder("=")
    if isinstance(source, DicomSeriesFiles):
        return series_pixel_type(source)
    return stored_pixel_type(source)


def as_pixel_type(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` in ``dtype``: integer types get rounded values clipped to their range (NaN as the range's minimum),
    anything else float32."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(array, dtype=np.float32)
    limits = np.iinfo(dtype)
    rounded = np.rint(np.nan_to_num(np.asarray(array, dtype=np.float64), nan=limits.min))
    return np.clip(rounded, limits.min, limits.max).astype(dtype)


def read_volume_grid(path: PathLike, series: Optional[str] = None):
    """``((size, spacing, direction), volume)``: an image file's grid from its header (``volume`` ``None``: no voxel
    read), or a DICOM series' from the volume itself, read once here (its slice spacing comes from the slice
    positions) and returned so that the caller need not read it again."""
    header = read_volume_header(path)
    if header is not None:
        return header, None
    volume = read_volume(path, series)
    return (volume.size, volume.spacing, volume.direction), volume


def read_volume_header(path: PathLike) -> Optional[Tuple[Tuple[int, int, int], Tuple[float, float, float],
                                                         Tuple[float, ...]]]:
    """``(size, spacing, direction)`` (``(x, y, z)``; 9 numbers, row-major) of an image file from its header alone
    (no voxel is read, nothing is checked: ``inspect_input`` and ``read_volume`` do that; a MINC file's direction is
    left in its RAS); ``None`` for a DICOM folder (its slice spacing comes from the slice positions, known once the
    series is read) or a file whose header cannot be read."""
    if is_synthetic_entry(path):
        return synthetic_header(str(path))
    path = Path(path).expanduser()
    if not path.is_file() or file_extension(path) not in INPUT_EXTENSIONS:
        return None
    if file_extension(path) in MGH_EXTENSIONS:
        try:
            mgh = open_mgh(path)
        except InputVolumeError:
            return None
        return mgh.size, mgh.spacing, mgh.direction
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with itk_reading(path):
            reader.ReadImageInformation()
    except RuntimeError:
        return None
    if reader.GetDimension() != 3 and tuple(reader.GetSize()[3:]) != (1,):
        return None
    size = tuple(int(n) for n in reader.GetSize()[:3])
    shear = nifti_shear(path)
    if shear is not None and not shear.uses_qform:
        spacing, _origin, direction = shear.lps_geometry()
        return size, spacing, direction
    direction = np.asarray(reader.GetDirection(), dtype=float).reshape(reader.GetDimension(), -1)[:3, :3]
    return size, tuple(float(v) for v in reader.GetSpacing()[:3]), tuple(float(v) for v in direction.ravel())


def _checked_file_reader(path: Path) -> sitk.ImageFileReader:
    import SimpleITK as sitk

    extension = file_extension(path)
    if extension == ".dcm":
        raise InputVolumeError(
            f"{path.name} is a single DICOM file; pass the folder that holds the whole DICOM series"
        )
    if extension not in INPUT_EXTENSIONS:
        raise InputVolumeError(
            f"unsupported input file type {extension or '(none)'!r} for {path}; {SUPPORTED_INPUTS_TEXT}"
        )
    if extension in MINC_EXTENSIONS:
        check_minc2(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with itk_reading(path):
            reader.ReadImageInformation()
    except RuntimeError as error:
        if extension in NIFTI_EXTENSIONS and is_nifti2(path):
            raise InputVolumeError(f"{path.name} is a NIfTI-2 file, which ITK does not read: save it as NIfTI-1 (nibabel: "
                                   "nib.save(nib.Nifti1Image(image.dataobj, image.affine), 'scan.nii.gz')) or as "
                                   ".nrrd") from None
        raise InputVolumeError(
            f"cannot read {path}: the file is damaged or not a valid {extension} image"
        ) from error
    # Refuse wrong-shaped images before their voxels are loaded.
    _check_image_is_3d_scalar(reader.GetDimension(), reader.GetSize(), reader.GetNumberOfComponents())
    dimension = reader.GetDimension()  # 3, or 4 with one time point
    spatial = np.asarray(reader.GetDirection(), dtype=float).reshape(dimension, dimension)[:3, :3]
    check_spacing_and_direction(reader.GetSpacing()[:3], tuple(spatial.ravel()))
    if extension in (".nii", ".nii.gz"):
        problem = nifti_length_problem(path)
        if problem:
            raise InputVolumeError(f"cannot read {path}: {problem}; the file is cut off or damaged (copy it again)")
    return reader


def _execute_reader(path: Path, reader: sitk.ImageFileReader) -> sitk.Image:
    try:
        with itk_reading(path):
            return reader.Execute()
    except RuntimeError as error:
        raise InputVolumeError(
            f"cannot read the voxels of {path}: the file is truncated or damaged"
        ) from error


def _check_image_is_3d_scalar(dimension: int, size: Tuple[int, ...], components: int) -> None:
    size_text = "x".join(str(n) for n in size)
    if components > 1:
        raise InputVolumeError(
            f"the input has {components} components per voxel (vector/RGB); convert it to a scalar volume first"
        )
    if dimension == 2:
        raise InputVolumeError(f"the input is 2D ({size_text}); super-resolution needs a 3D scalar volume")
    if dimension == 4 and size[3] == 1:
        size = size[:3]  # one time point: a 3D volume
    elif dimension != 3:
        raise InputVolumeError(
            f"the input is {dimension}D ({size_text}); super-resolution needs a 3D scalar volume: "
            "extract one 3D volume (time point or channel) first"
        )
    if min(size) < 2:
        raise InputVolumeError(
            f"the input is a single slice ({size_text}), effectively 2D; super-resolution needs a 3D volume "
            "with at least 2 voxels along every axis"
        )


def _volume_from_image(image: sitk.Image) -> Volume:
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    return Volume(array, image.GetSpacing(), image.GetOrigin(), image.GetDirection())


# Checking --------------------------------------------------------------------------------------


def validate_volume(volume: Volume) -> Volume:
    """Refuse volumes that cannot be super-resolved; return the volume with a float32 array.

    Refused: non-3D arrays, empty arrays, an axis with fewer than 2 voxels, no finite voxel,
    constant volumes, non-positive spacing and a singular direction matrix.
    """
    array = np.asarray(volume.array)
    _check_array_shape(array)
    _check_array_values(array)
    _check_geometry(volume)
    return volume.with_array(array.astype(np.float32, copy=False))


def _check_array_shape(array: np.ndarray) -> None:
    if array.ndim != 3:
        raise InputVolumeError(f"the input array has {array.ndim} dimensions {array.shape}; a 3D volume is needed")
    if array.size == 0:
        raise InputVolumeError(f"the input is empty (shape {array.shape}); there is nothing to super-resolve")
    if min(array.shape) < 2:
        size_text = "x".join(str(n) for n in array.shape[::-1])
        raise InputVolumeError(
            f"the input ({size_text}) has an axis with fewer than 2 voxels; super-resolution needs a 3D volume"
        )


def _check_array_values(array: np.ndarray) -> None:
    finite = np.isfinite(array)
    if not finite.any():
        raise InputVolumeError("the input has no finite voxel (all NaN/Inf); there is nothing to super-resolve")
    values = array if finite.all() else array[finite]
    low, high = float(values.min()), float(values.max())
    if low == high:
        raise InputVolumeError(f"the input is constant (value {low}): there is nothing to super-resolve")


def _check_geometry(volume: Volume) -> None:
    check_spacing_and_direction(volume.spacing, volume.direction)


def check_spacing_and_direction(spacing: Sequence[float], direction: Sequence[float]) -> None:
    """Refuse a zero, negative or non-finite spacing and a singular direction matrix (from a header)."""
    spacing_array = np.asarray(spacing, dtype=float)
    if not np.all(np.isfinite(spacing_array)) or np.any(spacing_array <= 0):
        raise InputVolumeError(
            f"the input has an invalid voxel spacing {tuple(float(v) for v in spacing)}; "
            "every spacing must be positive - fix the image header"
        )
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-6:
        raise InputVolumeError(
            f"the input has a singular direction matrix {tuple(float(v) for v in direction)}; "
            "fix the image orientation in its header"
        )


def replace_nonfinite(volume: Volume) -> Tuple[Volume, Optional[np.ndarray]]:
    """Replace NaN/Inf voxels by the minimum finite value; return the volume and where they were.

    The mask (a boolean array shaped like ``volume.array``) is ``None`` when every voxel is
    finite, in which case the volume is returned unchanged. A warning gives the count.
    """
    array = np.asarray(volume.array)
    nonfinite = ~np.isfinite(array)
    if not nonfinite.any():
        return volume, None
    if nonfinite.all():
        raise InputVolumeError("the input has no finite voxel (all NaN/Inf); there is nothing to super-resolve")
    fill_value = array[~nonfinite].min()
    warnings.warn(
        f"the input has {int(nonfinite.sum())} non-finite voxels (NaN/Inf); they were replaced by the "
        f"minimum finite value {float(fill_value)} for super-resolution",
        stacklevel=2,
    )
    return volume.with_voxels_set(nonfinite, fill_value), nonfinite


# Writing ---------------------------------------------------------------------------------------


@contextmanager
def atomic_output_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same extension) and move it onto ``path`` on success.

    On any failure the temporary file is deleted, so ``path`` is either the complete new file
    or untouched. A failure to delete it never hides the error that caused it.
    """
    path = Path(path)
    temporary = path.with_name(f".tmp-{secrets.token_hex(4)}-{path.name}")
    try:
        yield temporary
        if temporary.exists():  # some writers create 0600 files: give it the mode any new file gets here
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_volume(volume: Volume, path: PathLike, compress: bool = True, notes: Optional[str] = None) -> Path:
    """Write ``volume`` (any array dtype, geometry kept) atomically to a .nii, .nii.gz, .nrrd, .mha, .mnc, .mgz or
    .mgh file.

    ``compress`` gzips .nrrd and .mha data (.nii.gz is always compressed, .nii never). ``notes``: a line kept in
    the header (``ITK_FileNotes``; NIfTI's ``descrip``, at most 80 characters; MINC's ``history``; not MGH).
    Returns the written path.
    """
    import SimpleITK as sitk

    path = Path(path).expanduser()
    _check_output_extension(path)
    _check_output_folder(path)
    if np.asarray(volume.array).ndim != 3:
        raise ValueError(f"write_volume needs a 3D array, got shape {np.asarray(volume.array).shape}")
    if file_extension(path) in ORTHOGONAL_ONLY_EXTENSIONS and not is_orthogonal_grid(volume.direction):
        raise InputVolumeError(f"cannot write {path.name}: {file_extension(path)} cannot hold this volume's sheared grid "
                               "(gantry tilt); write .nrrd, .mha or a DICOM folder")
    image = (minc_from_lps(volume) if file_extension(path) in MINC_EXTENSIONS else volume).to_sitk()
    if notes:
        image.SetMetaData(_notes_key(path), notes)
    try:
        with atomic_output_path(path) as temporary:
            if file_extension(path) in MGH_EXTENSIONS:
                temporary.write_bytes(mgh_bytes(volume, file_extension(path) == ".mgz"))
            else:
                sitk.WriteImage(image, str(temporary), compress)
            _verify_written(temporary)
    except (RuntimeError, OSError) as error:
        raise InputVolumeError(
            f"cannot write {path}: check that the folder is writable and has free space"
            + (f" ({error})" if isinstance(error, _IncompleteWrite) else "")
        ) from error
    return path


def keeps_notes(path: PathLike) -> bool:
    """Whether a file of this type keeps ``write_volume``'s header note (MGH files do not)."""
    return file_extension(path) not in MGH_EXTENSIONS


def header_notes(path: PathLike) -> str:
    """The note ``write_volume`` keeps in an image file's header (``""`` where there is none); raises
    ``RuntimeError`` for a header SimpleITK cannot read."""
    import SimpleITK as sitk

    if not keeps_notes(path):
        return ""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    with itk_reading(path):
        reader.ReadImageInformation()
    key = _notes_key(path)
    return reader.GetMetaData(key) if reader.HasMetaDataKey(key) else ""


def _notes_key(path: PathLike) -> str:
    return MINC_NOTES_KEY if file_extension(path) in MINC_EXTENSIONS else HEADER_NOTES_KEY


class _IncompleteWrite(OSError):
    """A writer reported success but the file on disk is cut off (e.g. a full disk)."""


def _verify_written(path: Path) -> None:
    """Check a freshly written file before it replaces anything: readable header, complete NIfTI data."""
    import SimpleITK as sitk

    if file_extension(path) in MGH_EXTENSIONS:  # not an ITK format: read back whole
        try:
            open_mgh(path).read()
        except InputVolumeError as error:
            raise _IncompleteWrite(f"the written file is incomplete: {error}") from None
        return
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise _IncompleteWrite("the written file's header cannot be read back") from None
    if file_extension(path) in (".nii", ".nii.gz"):
        problem = nifti_length_problem(path)
        if problem:
            raise _IncompleteWrite(f"the written file is incomplete: {problem}")


def _check_output_extension(path: Path) -> None:
    extension = file_extension(path)
    if extension in (".nhdr", ".mhd"):
        raise InputVolumeError(
            f"cannot write {path.name}: {extension} writes a separate data file; "
            f"use a single-file format instead ({SUPPORTED_OUTPUTS_TEXT})"
        )
    if extension not in OUTPUT_EXTENSIONS:
        raise InputVolumeError(
            f"unsupported output file type {extension or '(none)'!r} for {path}; {SUPPORTED_OUTPUTS_TEXT}"
        )


def _check_output_folder(path: Path) -> None:
    if path.is_dir():
        raise InputVolumeError(
            f"the output {path} is a folder; give an output file name ({SUPPORTED_OUTPUTS_TEXT})"
        )
    folder = path.parent
    if not folder.is_dir():
        raise InputVolumeError(
            f"the output folder {folder} does not exist; create it first or choose another output path"
        )
    if not folder_writable(folder):
        raise InputVolumeError(f"the output folder {folder} is not writable (read-only?); choose another output path")


def folder_writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried for real: permissions and read-only mounts)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_output_path(input_path: Optional[PathLike], output_path: PathLike, series: Optional[str] = None) -> None:
    """Refuse an output path before any work is done.

    Refused: the input itself as output, a missing output folder, a folder as output, an unsupported output format
    and NIfTI for a tilted DICOM series (``series`` of the input folder, as for ``read_volume``).
    """
    output = Path(output_path).expanduser()
    if input_path is not None and _same_file(Path(input_path).expanduser(), output):
        raise InputVolumeError(f"refusing to overwrite the input {input_path}; choose another output path")
    _check_output_folder(output)
    _check_output_extension(output)
    if input_path is not None and file_extension(output) in NIFTI_EXTENSIONS and has_sheared_grid(input_path, series):
        what = ("has tilted slices (gantry tilt)" if Path(input_path).expanduser().is_dir()
                else "has a sheared sform (and no qform)")
        raise InputVolumeError(f"the input {input_path} {what}, a sheared grid that NIfTI outputs here cannot hold: "
                               "write .nrrd, .mha or a DICOM folder")


def has_sheared_grid(path: PathLike, series: Optional[str] = None) -> bool:
    """Whether ``path`` is read as a sheared grid, which NIfTI outputs cannot hold: a DICOM series folder (its
    ``series``, default the largest) whose slices shift within their plane (a gantry tilt, ``data.dicom_geometry``),
    or a NIfTI file whose sform is sheared and that has no qform (``data.nifti_header``)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        shear = nifti_shear(folder) if folder.is_file() else None
        return shear is not None and not shear.uses_qform
    try:
        return open_dicom_series(folder, series).step is not None
    except InputVolumeError:  # no series, or a bad one: reading it says so
        return False


def is_orthogonal_grid(direction) -> bool:
    """Whether a direction matrix has orthogonal axes (NIfTI and MGH hold no other; a gantry tilt shears them)."""
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    return bool(np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4))


def _same_file(first: Path, second: Path) -> bool:
    if first.exists() and second.exists():
        return os.path.samefile(first, second)
    return first.resolve() == second.resolve()
