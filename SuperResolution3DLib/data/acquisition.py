"""How a scan's slices were made, where its file says so: the slice profile a through-plane model should assume.

Two records are read, from the header only (no pixel data):

* the note ``sr3d degrade`` writes into a thick-slice output (``io.HEADER_NOTES_KEY``: NIfTI keeps it as ``descrip``,
  NRRD and MetaImage as a key): ``sr3d: through-plane sinc`` for k-space truncation along one axis (``--scale
  1,1,4`` without ``--profile``, or ``--profile sinc``), ``sr3d: through-plane gaussian`` and so on for the others;
* the MR Acquisition Type (0018,0023) of an MR DICOM series: ``3D`` means the slice direction was phase encoded, so
  its resolution is k-space truncation (``sinc``); ``2D`` means excited slices, which integrate over a profile. A
  derived or reformatted series (Image Type (0008,0008) with ``DERIVED``, ``MPR``, ``REFORMAT`` or ``PROJECTION``,
  such as thick MPR slabs averaged from a 3D acquisition) says nothing: its slices may integrate whatever the
  acquisition was.

Anything else (no note, CT, a file of another tool) says nothing: ``None``. The profile cannot be told from the
pixels reliably (docs/results.md, "K-space truncation along the thick axis"), so this is what ``sr3d predict`` goes on.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from SuperResolution3DLib.core.errors import SR3DError
from SuperResolution3DLib.core.vocabulary import SLICE_PROFILES
from SuperResolution3DLib.data.io import HEADER_NOTES_KEY, largest_dicom_series

NOTE_PREFIX = "sr3d: through-plane "
MR_ACQUISITION_TYPE = "0018|0023"
MODALITY = "0008|0060"
IMAGE_TYPE = "0008|0008"
DERIVED_IMAGE_TYPES = ("DERIVED", "MPR", "REFORMAT", "PROJECTION")
_NOTE = re.compile(re.escape(NOTE_PREFIX) + r"(\w+)")


@dataclass(frozen=True)
class RecordedSliceProfile:
    """A slice profile (``SLICE_PROFILES``, or ``"integrating"`` where only that much is known) and where it was read."""

    profile: str
    source: str

    @property
    def is_kspace(self) -> bool:
        return self.profile == "sinc"


def slice_profile_note(profile: str) -> str:
    """The note ``sr3d degrade`` writes into thick slices made with ``profile`` (``SLICE_PROFILES``)."""
    if profile not in SLICE_PROFILES:
        raise ValueError(f"unknown slice profile {profile!r}; choose one of {', '.join(SLICE_PROFILES)}")
    return NOTE_PREFIX + profile


def profile_from_note(note: str) -> Optional[str]:
    found = _NOTE.search(note or "")
    return found.group(1) if found and found.group(1) in SLICE_PROFILES else None


def profile_from_dicom(modality: str, acquisition_type: str, image_type: str = "") -> Optional[str]:
    """``sinc`` for an MR 3D acquisition, ``integrating`` for an MR 2D one, else ``None`` (also for derived or
    reformatted images)."""
    if modality.strip().upper() != "MR" or any(word in image_type.upper() for word in DERIVED_IMAGE_TYPES):
        return None
    return {"3D": "sinc", "2D": "integrating"}.get(acquisition_type.strip().upper())


def recorded_slice_profile(path) -> Optional[RecordedSliceProfile]:
    """The slice profile that the file or DICOM series at ``path`` records, or ``None``; never raises for an
    unreadable header (the reader that follows reports that)."""
    import SimpleITK as sitk

    path = Path(str(path)).expanduser()
    try:
        if path.is_dir():
            with warnings.catch_warnings():  # reading the series warns of the others once
                warnings.simplefilter("ignore")
                files = largest_dicom_series(path)
            reader = sitk.ImageFileReader()
            reader.SetFileName(files[0])
            reader.ReadImageInformation()
            keys = set(reader.GetMetaDataKeys())
            read = lambda key: reader.GetMetaData(key) if key in keys else ""  # noqa: E731
            profile = profile_from_dicom(read(MODALITY), read(MR_ACQUISITION_TYPE), read(IMAGE_TYPE))
            source = f"DICOM MR Acquisition Type {read(MR_ACQUISITION_TYPE).strip()}"
        else:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            profile = profile_from_note(reader.GetMetaData(HEADER_NOTES_KEY)) if reader.HasMetaDataKey(HEADER_NOTES_KEY) else None
            source = "sr3d degrade's note in the file"
    except (RuntimeError, SR3DError):
        return None
    return RecordedSliceProfile(profile, source) if profile else None
