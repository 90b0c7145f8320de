"""A relaxed, contact-free arm posture for MyoFullBody references without arm coordinates.

The posture lives in ``mmbio/models/data/myofullbody_relaxed_arms.yaml`` (degrees per joint, both sides, and why:
``qpos0`` puts the humeri inside the thorax). :func:`relax_arms` writes it into every frame and re-applies the
model's joint couplings.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import mujoco
import numpy as np

from mmbio.io.yaml_safe import loads_yaml
from mmbio.models.anatomy import coupled_qpos

__all__ = ["relax_arms", "relaxed_arm_degrees"]


@cache
def relaxed_arm_degrees() -> dict[str, float]:
    """Joint (without side suffix) → angle in degrees, from the package's data file."""
    text = resources.files("mmbio.models").joinpath("data/myofullbody_relaxed_arms.yaml").read_text()
    data = loads_yaml(text, "myofullbody_relaxed_arms.yaml")
    return {str(k): float(v) for k, v in data["degrees"].items()}


def relax_arms(m: mujoco.MjModel, qpos: np.ndarray) -> tuple[np.ndarray, str]:
    """``qpos (T, nq)`` with the relaxed arm posture on both sides (couplings re-applied) and a note; unchanged
    with an empty note when the model lacks these joints."""
    q = np.array(qpos, dtype=float, copy=True)
    set_ = []
    for joint, deg in relaxed_arm_degrees().items():
        for side in ("r", "l"):
            j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"{joint}_{side}")
            if j < 0:
                continue
            q[:, int(m.jnt_qposadr[j])] = np.radians(deg)
            set_.append(joint)
    if not set_:
        return q, ""
    q = coupled_qpos(m, q)
    what = ", ".join(f"{k} {v:g}" for k, v in relaxed_arm_degrees().items())
    return q, f"arms in a relaxed posture ({what} deg, both sides; qpos0 puts the humeri inside the thorax)"
