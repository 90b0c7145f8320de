"""The relaxed arm posture of MyoFullBody references: clear of the trunk and thighs over the demo stride, where
``qpos0`` puts the humeri inside the thorax."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from mmbio.control.checkpoint import load_checkpoint
from mmbio.sim.arm_posture import relax_arms, relaxed_arm_degrees

REPO = Path(__file__).resolve().parents[1]
_ARM = ("humerus", "ulna", "radius", "lunate", "scaphoid", "pisiform", "triquetrum", "capitate", "hamate",
        "trapezium", "trapezoid", "firstmc", "secondmc", "thirdmc", "fourthmc", "fifthmc")  # fmt: skip


def _deepest_arm_contact(m: mujoco.MjModel, qpos: np.ndarray) -> float:
    """Most negative distance (m) of a contact between an arm body and any other body over the frames (0: none)."""
    arm = {b for b in range(m.nbody) if any(k in m.body(b).name for k in _ARM)}
    d = mujoco.MjData(m)
    worst = 0.0
    for q in qpos:
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        for c in d.contact[: d.ncon]:
            if (m.geom_bodyid[c.geom1] in arm) != (m.geom_bodyid[c.geom2] in arm):
                worst = min(worst, float(c.dist))
    return worst


def test_the_demo_stride_keeps_its_arms_clear_of_the_body() -> None:
    motion = load_checkpoint(REPO / "checkpoints" / "tracking_walk.pkl").motion()
    m = motion.mj_model()
    assert _deepest_arm_contact(m, motion.qpos[::2]) == 0.0
    j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "shoulder_elv_r")
    np.testing.assert_allclose(np.degrees(motion.qpos[:, m.jnt_qposadr[j]]), relaxed_arm_degrees()["shoulder_elv"])
    # qpos0's arms (what the reference held before) are inside the thorax: the check can fail
    at_qpos0 = motion.qpos[::2].copy()
    arm_adr = [int(m.jnt_qposadr[i]) for i in range(m.njnt) if any(k in m.joint(i).name for k in ("elv", "shoulder",
                                                                                             "elbow"))]  # fmt: skip
    at_qpos0[:, arm_adr] = m.qpos0[arm_adr]
    assert _deepest_arm_contact(m, at_qpos0) < -0.015


def test_relax_arms_sets_both_sides_and_says_so() -> None:
    motion = load_checkpoint(REPO / "checkpoints" / "tracking_walk.pkl").motion()
    m = motion.mj_model()
    q, note = relax_arms(m, np.tile(m.qpos0, (3, 1)))
    for side in "rl":
        for joint, deg in relaxed_arm_degrees().items():
            j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"{joint}_{side}")
            np.testing.assert_allclose(np.degrees(q[:, m.jnt_qposadr[j]]), deg)
    assert "relaxed posture" in note and "inside the thorax" in note
