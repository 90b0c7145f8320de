"""Simulation side: models in motion (reference motions, rollouts, signals from the simulation)."""

from mmbio.sim.frames import (
    OPENSIM_TO_MUJOCO,
    pelvis_angles_from_quat,
    pelvis_quat_from_opensim,
    quat_from_pelvis_angles,
)
from mmbio.sim.motion import Motion, motion_from_opensim, motion_quality, synthesize_motion

__all__ = [
    "OPENSIM_TO_MUJOCO",
    "Motion",
    "motion_from_opensim",
    "motion_quality",
    "pelvis_angles_from_quat",
    "pelvis_quat_from_opensim",
    "quat_from_pelvis_angles",
    "synthesize_motion",
]
