"""Passive muscle forces of MyoFullBody at its neutral pose and along the demo's measured stride (issue 14 §1:
"which muscles saturate"). Per muscle: normalised fibre length L/L0 (MuJoCo's muscle model: ``L0`` from the
actuator's length range and ``range``), passive force at zero activation (N) and its share of the maximal active
force; per independent joint dof: the net passive muscle moment (N·m), mean over the stride. A muscle that pulls
hard at rest has to be fought by its antagonists in any controller of this model, learned or not.

Usage: ``python benchmarks/passive_muscles.py``. Results: benchmarks/RESULTS.md, "Passive muscle forces".
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np

from mmbio.control.checkpoint import load_checkpoint
from mmbio.control.static_opt import StaticOptimiser


def main() -> None:
    ck = load_checkpoint("checkpoints/tracking_walk.pkl")
    motion = ck.motion()
    model = copy.deepcopy(motion.mj_model())
    so = StaticOptimiser(model)
    m, d = so.model, so.data
    mus = so.muscles
    lr = m.actuator_lengthrange[mus]
    rng = m.actuator_gainprm[mus, :2]
    l0 = (lr[:, 1] - lr[:, 0]) / (rng[:, 1] - rng[:, 0])
    fmax = m.actuator_gainprm[mus, 2]
    names = [m.actuator(int(i)).name for i in mus]
    dof_names = [m.joint(int(m.dof_jntid[k])).name for k in so.indep_dofs]

    def state(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d.qpos[:] = q
        d.qvel[:] = 0.0
        d.act[:] = 0.0
        d.ctrl[:] = 0.0
        mujoco.mj_forward(m, d)
        ln = rng[:, 0] + (d.actuator_length[mus] - lr[:, 0]) / l0
        return ln, -d.actuator_force[mus].copy(), d.qfrc_actuator @ so.null_matrix(q)

    ln0, f0, _ = state(m.qpos0.copy())
    frames = range(0, len(motion.qpos), 5)
    per = [state(np.asarray(motion.qpos[k], float)) for k in frames]
    ln_s = np.mean([p[0] for p in per], 0)
    f_s = np.mean([p[1] for p in per], 0)
    mom = np.mean([p[2] for p in per], 0)
    print(f"MyoFullBody {motion.variant}: {len(mus)} muscles; stride of {len(motion.qpos)} frames, every 5th\n")
    print("| muscle | F_max N | L/L0 at qpos0 | passive N at qpos0 | L/L0 on the stride (mean) | passive N (mean) | "
          "share of F_max |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i in np.argsort(-f_s)[:14]:
        print(f"| {names[i]} | {fmax[i]:.0f} | {ln0[i]:.2f} | {f0[i]:.0f} | {ln_s[i]:.2f} | {f_s[i]:.0f} | "
              f"{f_s[i] / fmax[i]:.0%} |")  # fmt: skip
    print(f"\nmuscles with passive force > 10 % of F_max on the stride: {int(np.sum(f_s > 0.1 * fmax))}")
    print("\n| joint dof | net passive muscle moment on the stride, N·m (mean) |\n|---|---:|")
    for k in np.argsort(-np.abs(mom[6:]))[:8] + 6:
        print(f"| {dof_names[k]} | {mom[k]:+.1f} |")


if __name__ == "__main__":
    main()
