"""Shared pytest setup for the SuperResolution3DLib tests."""

import sys
from pathlib import Path

# Make the repository root importable when pytest is run without installing the package.
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))
