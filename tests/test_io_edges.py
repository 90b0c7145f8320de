"""Reader edge cases: one force set under both feet (treadmill belt), files without joint angles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_events import stance_force

from mmbio.errors import DataFileError
from mmbio.io.loader import load_trial
from mmbio.io.opensim import write_storage


def belt_walk(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Coordinates + a single-belt GRF file (one unsided force set, OpenSim Y-up) of symmetric walking."""
    t = np.arange(0.0, 6.0, 1e-3)
    stride, stance = 1.1, 0.66
    hs_r = np.arange(0.2, 5.5, stride)
    hs_l = hs_r + stride / 2
    fr = sum(stance_force((t - h) / stance) for h in hs_r)
    fl = sum(stance_force((t - h) / stance) for h in hs_l)
    total = fr + fl
    y_lab = np.where(total > 1, (fr * -0.08 + fl * 0.08) / np.maximum(total, 1e-9), 0.0)
    grf = pd.DataFrame(
        {
            "time": t,
            "ground_force_vx": 0 * t,
            "ground_force_vy": total,  # OpenSim y is up
            "ground_force_vz": 0 * t,
            "ground_force_px": 0 * t,
            "ground_force_py": 0 * t,
            "ground_force_pz": -y_lab,  # OpenSim z points right, lab y left
        }
    )
    tk = t[::10]
    coords = pd.DataFrame(
        {"time": tk, "knee_angle_r": 30 + 30 * np.sin(2 * np.pi * tk / stride), "hip_flexion_r": 0 * tk}
    )
    g = write_storage(tmp_path / "belt_grf.mot", grf, in_degrees=True)
    k = write_storage(tmp_path / "ik.mot", coords, in_degrees=True)
    return k, g, hs_r, hs_l


def test_single_belt_events_from_centre_of_pressure(tmp_path: Path) -> None:
    k, g, hs_r, hs_l = belt_walk(tmp_path)
    trial = load_trial(k, grf=g, mass_kg=70.0)
    assert trial.grf == {} and len(trial.plates) == 1
    assert any("single plate or belt" in n for n in trial.notes)
    for side, true in (("r", hs_r), ("l", hs_l)):
        hs = trial.events.heel_strike[side]
        assert hs.size >= true.size - 2
        assert np.all(np.min(np.abs(hs[:, None] - true[None, :]), axis=1) < 0.04)


def test_mot_without_joint_angles_is_rejected(tmp_path: Path) -> None:
    f = write_storage(tmp_path / "odd.mot", pd.DataFrame({"time": [0.0, 0.1], "foo": [1.0, 2.0]}), in_degrees=True)
    with pytest.raises(DataFileError, match=r"odd\.mot: no recognised joint-angle columns \(found: foo\)"):
        load_trial(f)
