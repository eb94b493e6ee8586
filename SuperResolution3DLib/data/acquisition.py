"""How a scan's slices were made, where its file says so: the slice profile a through-plane model should assume.

Two records are read, from the header only (no pixel data):

* the note ``sr3d degrade`` writes into a thick-slice output (``io.header_notes``: NIfTI keeps it as ``descrip``,
  NRRD and MetaImage as a key, MINC2 as its ``history``; MGH keeps none): ``sr3d: through-plane sinc`` for k-space
  truncation along one axis (``--scale 1,1,4`` without ``--profile``, or ``--profile sinc``), ``sr3d: through-plane
  gaussian`` and so on for the others;
* the MR Acquisition Type (0018,0023) of an MR DICOM series: ``3D`` means the slice direction was phase encoded, so
  its resolution is k-space truncation (``sinc``); ``2D`` means excited slices, which integrate over a profile. A
  derived or reformatted series (Image Type (0008,0008) with ``DERIVED``, ``MPR``, ``REFORMAT`` or ``PROJECTION``,
  such as thick MPR slabs averaged from a 3D acquisition) says nothing: its slices may integrate whatever the
  acquisition was.

Both also give the slice thickness where recorded (the note's ``slice thickness 6 mm``; DICOM Slice Thickness
(0018,0050), of any modality): with the slice spacing it says whether slices overlap or leave gaps, which the
self-supervised adaptation then assumes (``adaptation_thickness``).

Anything else (no note, a file of another tool) says nothing: ``None``. The profile cannot be told from the
pixels reliably (docs/results.md, "K-space truncation along the thick axis"), so this is what ``sr3d predict`` goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from SuperResolution3DLib.core.errors import SR3DError
from SuperResolution3DLib.core.vocabulary import SLICE_PROFILES
from SuperResolution3DLib.data.dicom_frames import enhanced_file_of, header_tags
from SuperResolution3DLib.data.dicom_series import first_file_header
from SuperResolution3DLib.data.io import header_notes

NOTE_PREFIX = "sr3d: through-plane "
MR_ACQUISITION_TYPE = "0018|0023"
MODALITY = "0008|0060"
IMAGE_TYPE = "0008|0008"
SLICE_THICKNESS = "0018|0050"
DERIVED_IMAGE_TYPES = ("DERIVED", "MPR", "REFORMAT", "PROJECTION")
_NOTE = re.compile(re.escape(NOTE_PREFIX) + r"(\w+)")
_NOTE_THICKNESS = re.compile(r"slice thickness ([0-9]*\.?[0-9]+) mm")


@dataclass(frozen=True)
class RecordedSliceProfile:
    """A slice profile (``SLICE_PROFILES``, ``"integrating"`` where only that much is known, ``None`` where not
    recorded), where it was read, and the slice thickness in mm where recorded, across the index ``axis`` (2: a DICOM
    series' slices; ``None``: the thick axis, whichever it is)."""

    profile: Optional[str]
    source: str
    thickness_mm: Optional[float] = None
    axis: Optional[int] = None
    thickness_source: Optional[str] = None  # where the thickness was read, when not ``source``
    exact: bool = False  # the profile itself was recorded (sr3d degrade's note), not inferred from an acquisition type

    @property
    def is_kspace(self) -> bool:
        return self.profile == "sinc"


def slice_profile_note(profile: str, thickness_mm: Optional[float] = None) -> str:
    """The note ``sr3d degrade`` writes into thick slices made with ``profile`` (``SLICE_PROFILES``) of
    ``thickness_mm``."""
    if profile not in SLICE_PROFILES:
        raise ValueError(f"unknown slice profile {profile!r}; choose one of {', '.join(SLICE_PROFILES)}")
    return NOTE_PREFIX + profile + ("" if thickness_mm is None else f"; slice thickness {float(thickness_mm):.6g} mm")


def profile_from_note(note: str) -> Optional[str]:
    found = _NOTE.search(note or "")
    return found.group(1) if found and found.group(1) in SLICE_PROFILES else None


def thickness_from_note(note: str) -> Optional[float]:
    found = _NOTE_THICKNESS.search(note or "") if profile_from_note(note) else None
    return _positive_mm(found.group(1)) if found else None


def _positive_mm(text: str) -> Optional[float]:
    try:
        value = float(str(text).strip().split("\\")[0])
    except ValueError:
        return None
    return value if value > 0 else None


def profile_from_dicom(modality: str, acquisition_type: str, image_type: str = "") -> Optional[str]:
    """``sinc`` for an MR 3D acquisition, ``integrating`` for an MR 2D one, else ``None`` (also for derived or
    reformatted images)."""
    if modality.strip().upper() != "MR" or any(word in image_type.upper() for word in DERIVED_IMAGE_TYPES):
        return None
    return {"3D": "sinc", "2D": "integrating"}.get(acquisition_type.strip().upper())


def recorded_slice_profile(path, series: Optional[str] = None) -> Optional[RecordedSliceProfile]:
    """The slice profile and thickness that the file or DICOM series at ``path`` (a folder's ``series``, as for
    ``data.io.read_volume``) records, or ``None``; never raises for an unreadable header (the reader that follows
    reports that)."""
    path = Path(str(path)).expanduser()
    try:
        if path.is_dir():
            reader = first_file_header(path, series)
            tags = header_tags(reader, enhanced_file_of(reader))
            return record_from_dicom(lambda key: tags.get(key, ""))
        note = header_notes(path)
        profile, thickness = profile_from_note(note), thickness_from_note(note)
    except (RuntimeError, SR3DError):
        return None
    return (RecordedSliceProfile(profile, "sr3d degrade's note in the file", thickness, exact=profile is not None)
            if profile or thickness else None)


def record_from_dicom(read) -> Optional[RecordedSliceProfile]:
    """What a DICOM series' attributes record about its slices (``read(tag)``: the value of ``"gggg|eeee"`` in one
    of its instances, ``""`` where absent); its slices lie along the index axis z."""
    profile = profile_from_dicom(read(MODALITY), read(MR_ACQUISITION_TYPE), read(IMAGE_TYPE))
    thickness = _positive_mm(read(SLICE_THICKNESS))
    source = f"DICOM MR Acquisition Type {read(MR_ACQUISITION_TYPE).strip()}" if profile else "DICOM Slice Thickness"
    return (RecordedSliceProfile(profile, source, thickness, axis=2, thickness_source="DICOM Slice Thickness")
            if profile or thickness else None)


def adaptation_thickness(recorded: Optional[RecordedSliceProfile], thick_axis: int, slice_spacing: float) -> Optional[float]:
    """The recorded thickness of the slices along ``thick_axis`` (index axis) as a multiple of their ``slice_spacing``
    (mm), as ``AdaptationSettings`` takes it (kept inside its 0.2-3 range); ``None`` where none is recorded for that
    axis."""
    if recorded is None or recorded.thickness_mm is None or not slice_spacing > 0:
        return None
    if recorded.axis is not None and recorded.axis != thick_axis:
        return None
    return float(min(3.0, max(0.2, recorded.thickness_mm / slice_spacing)))


def known_slices_sentence(profile: str, thickness: float, source: str) -> str:
    """What ``sr3d predict``, ``sr3d fuse`` and the Slicer panel say when an output is made to give back its slices."""
    return (f"output made to give back the slices: {profile} slices {thickness:.3g} slice "
            f"spacing{'' if thickness == 1 else 's'} thick ({source})")


def settings_with_known_profile(settings, recorded: Optional[RecordedSliceProfile], thick_axis: int,
                                slice_spacing: float):
    """``settings`` (``InferenceSettings``) with the slice profile and thickness that the scan records exactly (``sr3d
    degrade``'s note) where the user declared none, and ``known_slices_sentence`` (``""`` when nothing was taken). An
    acquisition type (DICOM MR 3D: ``sinc``) is not taken: the scanner's filters make its profile a guess."""
    from dataclasses import replace

    if settings.slice_profile is not None or recorded is None or not recorded.exact:
        return settings, ""
    thickness = adaptation_thickness(recorded, thick_axis, slice_spacing) or 1.0
    return (replace(settings, slice_profile=recorded.profile, slice_thickness=thickness),
            known_slices_sentence(recorded.profile, thickness, recorded.source))


def adaptation_with_record(settings, recorded: Optional[RecordedSliceProfile], thick_axis: int, slice_spacing: float):
    """``settings`` (``AdaptationSettings``) with what the scan records where the user left it open: the recorded
    profile in place of ``auto``, the recorded thickness in place of none; and a sentence saying so (``""`` when
    nothing was taken)."""
    from dataclasses import replace

    taken = {}
    if recorded is not None and recorded.profile in SLICE_PROFILES and settings.slice_profile == "auto":
        taken["slice_profile"] = recorded.profile
    thickness = adaptation_thickness(recorded, thick_axis, slice_spacing) if settings.slice_thickness is None else None
    if thickness is not None:
        taken["slice_thickness"] = round(thickness, 3)
    if not taken:
        return settings, ""
    said = [f"{taken['slice_profile']} slices ({recorded.source})"] if "slice_profile" in taken else []
    if thickness is not None:
        said.append(f"{recorded.thickness_mm:g} mm thick, {taken['slice_thickness']:g} slice spacings "
                    f"({recorded.thickness_source or recorded.source})")
    return replace(settings, **taken), f"adaptation pairs as the scan records: {', '.join(said)}"
