"""Python packages the library needs inside Slicer: what is missing, the confirmation text, installation.

PyTorch comes first, with ``light-the-torch`` as the PyTorch extension installs it (the build for the GPU); the
rest of ``requirements.txt`` through pip; both in a background process (``installer.py``). Nothing is ever
installed without the user's confirmation (one dialog), and no dialog is shown while Slicer runs its tests.
"""

import importlib
import importlib.util

from .locations import findFile

TORCH_REQUIREMENT = "torch>=2.1"
# Distribution name -> import name, for the packages of requirements.txt that import under another name.
IMPORT_NAMES = {"pyyaml": "yaml", "pillow": "PIL", "simpleitk": "SimpleITK"}
FALLBACK_REQUIREMENTS = [
    "monai>=1.3", "numpy>=1.23", "SimpleITK>=2.2", "safetensors>=0.4", "PyYAML>=6.0", "tqdm>=4.60", "Pillow>=9.0",
    "pydicom>=2.3",
]


def requirements():
    """The library's runtime requirements: torch first, then ``requirements.txt`` (shipped with the module)."""
    path = findFile("requirements.txt")
    lines = FALLBACK_REQUIREMENTS
    if path:
        with open(path, encoding="utf-8") as stream:
            lines = [line.split("#")[0].strip() for line in stream]
    return [TORCH_REQUIREMENT] + [line for line in lines if line and not line.startswith("-")]


def requirementSatisfied(requirement):
    try:
        from packaging.requirements import Requirement
    except ImportError:
        Requirement = None
    if Requirement is not None:
        parsed = Requirement(requirement)
        name, specifier = parsed.name, parsed.specifier
    else:
        name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
        specifier = None
    if importlib.util.find_spec(IMPORT_NAMES.get(name.lower(), name)) is None:
        return False
    if specifier:
        try:
            from importlib.metadata import version

            return specifier.contains(version(name), prereleases=True)
        except Exception:  # no metadata (e.g. a package bundled with Slicer): trust the import
            return True
    return True


def missing(required):
    """The requirements of ``required`` that are not installed (or too old)."""
    return [r for r in required if not requirementSatisfied(r)]


def confirmationText(missingRequirements, translate=lambda text: text):
    _ = translate
    lines = [_("SuperResolution3D needs these Python packages, which are not installed yet:"), ""]
    lines += [f"  • {r}" for r in missingRequirements]
    lines += ["", _("PyTorch is installed with the PyTorch extension's installer when it is present, so that "
                    "the build matching your GPU (CUDA) is chosen. This downloads up to a few GB and can take "
                    "several minutes."), "", _("Install them now?")]
    return "\n".join(lines)


def canAskUser():
    """Whether a confirmation dialog may be shown: a Slicer application that is not running its tests."""
    import slicer

    app = getattr(slicer, "app", None)
    if app is None:
        return False
    testing = getattr(app, "testingEnabled", None)
    return not (callable(testing) and testing())


def install(requirementsToInstall, progress=None, timeout=None):
    """Install ``requirementsToInstall`` (callers confirm first) in a background process and wait for it
    (``installer.PackageInstallation``; the panel polls one instead of waiting). Raises ``RuntimeError`` when the
    installation fails or some packages are still missing afterwards."""
    from .installer import PackageInstallation

    job = PackageInstallation(requirementsToInstall, progress=progress).start()
    if job.wait(timeout=timeout) != job.COMPLETED:
        raise RuntimeError(job.errorMessage or f"installation {job.state}")
    importlib.invalidate_caches()
    stillMissing = missing(requirementsToInstall)
    if stillMissing:
        raise RuntimeError(f"these packages are still missing after installation: {', '.join(stillMissing)}")
