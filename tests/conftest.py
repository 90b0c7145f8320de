"""Shared fixtures. Tests that need the real gait data in ../shared/reference skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = Path(os.environ.get("MMBIO_SHARED_REFERENCE", REPO.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """Path to ../shared/reference; skips the test with a clear reason when it is absent."""
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"real gait data not found at {SHARED_REFERENCE} (set MMBIO_SHARED_REFERENCE)")
    return SHARED_REFERENCE
