"""Shared pytest setup for the SuperResolution3DLib tests."""

import sys
from pathlib import Path

# Make the repository root importable when pytest is run without installing the package.
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

# Converted models (the OpenVINO backend's cache) go to a fresh folder, never to the user's ~/.cache.
import os
import tempfile

os.environ["SR3D_CACHE"] = tempfile.mkdtemp(prefix="sr3d_test_cache_")

import pytest


@pytest.fixture
def one_torch_thread():
    """Two CPU cores are shared with other jobs; one thread avoids oversubscription (10-100x faster here)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
