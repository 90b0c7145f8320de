"""Simulation models: the registry of compiled MuJoCo models (:mod:`.registry`) and their anatomy maps (:mod:`.anatomy`).

Only the simulation side imports this package; the analysis side never does.
"""

from __future__ import annotations

from mmbio.models.anatomy import (
    COUPLED_JOINTS,
    EMG_ACTUATORS,
    FLOOR_GEOM,
    FOOT_GEOMS,
    JOINT_MAP,
    PELVIS_FROM_FREE_JOINT,
    ROOT_JOINT,
    TOUCH_SENSORS,
    check_anatomy,
    clinical_joint_angles,
    coupled_qpos,
    coupled_qvel,
    joint_couplings,
)
from mmbio.models.registry import (
    DEFAULT_VARIANT,
    VARIANTS,
    ModelInfo,
    UnknownModelError,
    list_models,
    load_model,
    model_hash,
)

__all__ = [
    "COUPLED_JOINTS",
    "DEFAULT_VARIANT",
    "EMG_ACTUATORS",
    "FLOOR_GEOM",
    "FOOT_GEOMS",
    "JOINT_MAP",
    "PELVIS_FROM_FREE_JOINT",
    "ROOT_JOINT",
    "TOUCH_SENSORS",
    "VARIANTS",
    "ModelInfo",
    "UnknownModelError",
    "check_anatomy",
    "clinical_joint_angles",
    "coupled_qpos",
    "coupled_qvel",
    "joint_couplings",
    "list_models",
    "load_model",
    "model_hash",
]
