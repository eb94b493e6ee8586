"""Where the module's files are, and how a background Python process is started."""

import os
import shutil
import sys

MODULE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY_PACKAGE = "SuperResolution3DLib"


def findFile(relativePath):
    """``relativePath`` next to the module file (installed extension) or one folder up (source checkout); else None."""
    for base in (MODULE_DIR, os.path.dirname(MODULE_DIR)):
        candidate = os.path.join(base, relativePath)
        if os.path.exists(candidate):
            return candidate
    return None


def libraryRootDir():
    """The folder that holds the ``SuperResolution3DLib`` package (installed next to the module file)."""
    initFile = findFile(os.path.join(LIBRARY_PACKAGE, "__init__.py"))
    if initFile is None:
        raise RuntimeError(f"{LIBRARY_PACKAGE} was not found next to {MODULE_DIR} nor one folder up; reinstall the extension")
    return os.path.dirname(os.path.dirname(initFile))


def ensureLibraryImportable():
    """Put the library shipped with this module first on ``sys.path`` (cheap: nothing is imported)."""
    root = libraryRootDir()
    if root not in sys.path:
        sys.path.insert(0, root)
    return root


def pythonExecutable():
    """The Python that runs the background process: ``PythonSlicer`` inside Slicer, else this Python."""
    return shutil.which("PythonSlicer") or sys.executable


def processEnvironment():
    """The environment of a background process: Slicer's startup environment with the library importable."""
    import slicer

    if hasattr(slicer, "app") and hasattr(slicer.util, "startupEnvironment"):
        environment = dict(slicer.util.startupEnvironment())
    else:
        environment = dict(os.environ)
    root = libraryRootDir()
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (root, environment.get("PYTHONPATH")) if p)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment
