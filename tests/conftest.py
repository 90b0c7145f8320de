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


@pytest.fixture(scope="session")
def rajagopal_walk(shared: Path):
    """(motion with floor='global', measured GRF per foot, coordinate file's first time) of the Rajagopal walk."""
    from mmbio.io.opensim import read_opensim_grf, read_storage
    from mmbio.sim.motion import motion_from_opensim

    ref = shared / "rajagopal2016_walk"
    if not (ref / "coordinates.sto").is_file():
        pytest.skip(f"{ref} lacks coordinates.sto")
    # 'global' floor: the per-frame root shift adds ±30 m/s² vertical accelerations (unusable for ID)
    motion = motion_from_opensim(ref / "coordinates.sto", floor="global")
    grf = read_opensim_grf(ref / "grf_walk.mot")
    return motion, grf, float(read_storage(ref / "coordinates.sto").time[0])


@pytest.fixture(scope="session")
def demo_run_1p5s():
    """The demo tracking checkpoint (``checkpoints/tracking_walk.pkl``) rolled out for 1.5 s without static
    optimisation (a :class:`~mmbio.control.run.CheckpointRun`); shared because the rollout costs ≈ 10 s."""
    from mmbio.control.run import run_checkpoint

    return run_checkpoint(str(REPO / "checkpoints" / "tracking_walk.pkl"), duration_s=1.5, static_opt=False)
