"""A simulated trial goes through the same validation as a measured one, and out to OpenSim and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmbio.analysis.validate import validate
from mmbio.io.loader import load_trial
from mmbio.io.opensim import write_opensim_trial
from mmbio.sim.extract import rollout_to_trial
from mmbio.sim.motion import synthesize_motion
from mmbio.trial import Channels


@pytest.fixture(scope="module")
def sim_trial():
    """A kinematic replay of the synthesised 1.25 m/s walk (3 cycles, events from foot contact) with made-up
    activations attached."""
    motion = synthesize_motion(speed_m_s=1.25, n_cycles=3)
    trial = rollout_to_trial(motion)
    t = trial.angles.time
    phase = 2 * np.pi * t / 1.05
    act = np.column_stack([0.2 + 0.15 * np.sin(phase), 0.3 + 0.2 * np.cos(phase)])
    trial.activations = Channels(t, act, ["tibant_r", "soleus_r"], "1")
    return trial


def test_simulated_trial_validates_like_a_measured_one(sim_trial) -> None:
    assert sim_trial.kind == "simulated"
    res = validate(sim_trial, "schwartz2008:free", protocol="walking", spm=False)
    # the motion was synthesised from the Schwartz free-speed curves: its joint angles come back
    for side in ("right", "left"):
        assert res.get(f"kinematics.{side}.knee_flexion.r").value > 0.98
        assert res.get(f"kinematics.{side}.hip_flexion.r").value > 0.98
    # a kinematic replay has no ground reaction: GRF metrics are absent, never invented
    assert "grf" not in res.metrics or all(
        not m.available for v in res.metrics["grf"].values() for ms in v.values() for m in ms.values()
    )


def test_simulated_trial_round_trips_through_opensim(sim_trial, tmp_path: Path) -> None:
    files = write_opensim_trial(sim_trial, tmp_path)
    assert {"coordinates", "activations"} <= set(files)
    back = load_trial(files["coordinates"], activations=files["activations"])
    assert back.kind == "simulated"
    for name in ("knee_flexion_r", "hip_flexion_l", "ankle_dorsiflexion_r", "pelvis_tilt"):
        np.testing.assert_allclose(back.angles[name], sim_trial.angles[name], atol=1e-6)
    np.testing.assert_allclose(back.activations["soleus_r"], sim_trial.activations["soleus_r"], atol=1e-9)
