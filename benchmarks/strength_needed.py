"""Issue 14 §1, fourth pass: how much stronger would MyoFullBody's muscles have to be for the demo stride?

A diagnostic, not a product setting (a stronger model is not MyoFullBody, and a policy trained on it would not be
MuscleMimic-compatible). The third and fourth passes found that no activation pattern reproduces the root-free
demo's walked motion and that no posture change tried makes it feasible. Here every muscle's maximal isometric force
F_max (MuJoCo ``gainprm[2]`` and ``biasprm[2]``: the active and the passive force scale together) is multiplied by k,
or only that of the muscles crossing the weak dofs (both hip rotations, lumbar axial rotation, both mtp), and:

* **SO reserves**: static optimisation with free activations of the *same* walked cycle (the committed root-free
  demo rolled out one cycle at its own 1 ms physics, once) on the scaled model, with the model's joint limits
  free to push where the simulated joint sits at or past them (as in ``mmbio validate``): reserve RMS on the weak
  dofs and over all dofs, muscles at full activation; at k = 1, where the toe, subtalar and hip-rotation reserves
  sit, with and without the limit forces;
* **teacher**: the root-free tracking teacher (2 ms, reserve weight 100, 3 s asked) on the scaled model: its reserve
  RMS over all dofs and its time up;
* **muscles only**: its excitations alone (no reserves applied), time up.

Usage: ``python benchmarks/strength_needed.py [--k 1 1.5 2 3] [--seconds 3]``. Results: benchmarks/RESULTS.md,
"Muscles only: how much stronger? (fourth pass)".
"""

from __future__ import annotations

import argparse
import copy
import time

import mujoco
import numpy as np
from muscles_only_road import CKPT, Setup, run, scaled, up_s

from mmbio.control.run import _static_opt_on, run_checkpoint

WEAK = ["hip_rotation_r", "hip_rotation_l", "axial_rotation", "mtp_angle_r", "mtp_angle_l"]


def crossing(m: mujoco.MjModel, joints: list[str]) -> np.ndarray:
    """Muscles with a nonzero moment arm on any of ``joints`` at qpos0 (bool, (nu,))."""
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    dofs = [int(m.jnt_dofadr[m.joint(j).id]) for j in joints]
    moment = np.zeros((m.nu, m.nv))
    mujoco.mju_sparse2dense(moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
    return np.any(np.abs(moment[:, dofs]) > 1e-6, axis=1)


def stronger(m0: mujoco.MjModel, k: float, which: np.ndarray) -> mujoco.MjModel:
    m = copy.deepcopy(m0)
    m.actuator_gainprm[which, 2] *= k
    m.actuator_biasprm[which, 2] *= k
    return m


def at_limits(so: object, qpos: np.ndarray, m: mujoco.MjModel) -> None:
    """Where the toe and subtalar reserves sit: frames with the joint within 1° of (or past) its range's end."""
    names = list(so.reserve_names)  # type: ignore[attr-defined]
    res = np.asarray(so.reserves, float)  # type: ignore[attr-defined]
    for j in ["mtp_angle_r", "mtp_angle_l", "subtalar_angle_l", "hip_rotation_r"]:
        jid = m.joint(j).id
        ang = np.degrees(qpos[:, m.jnt_qposadr[jid]])
        lo, hi = np.degrees(m.jnt_range[jid])
        near = (ang < lo + 1.0) | (ang > hi - 1.0)
        r = res[:, names.index(j)]
        share = float((r[near] ** 2).sum() / max((r**2).sum(), 1e-12))
        top = np.argsort(-np.abs(r))[:3]
        print(f"  {j} (range {lo:.0f}…{hi:.0f}°): {int(near.sum())} of {len(r)} frames within 1° of a limit or past "
              f"it, holding {share:.0%} of its squared reserve; largest reserves {np.round(r[top], 1).tolist()} N·m "
              f"at {np.round(ang[top], 1).tolist()}°")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0], help="F_max factors")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds asked of the teacher runs (default 3)")
    args = ap.parse_args()
    walked = run_checkpoint(CKPT, cycles=1, static_opt=False)
    su = Setup()
    base_1ms = walked.checkpoint.motion().mj_model()
    groups = {"all muscles": np.ones(su.model.nu, bool), "weak-dof muscles": crossing(su.model, WEAK)}
    print(f"\nweak-dof muscles: {int(groups['weak-dof muscles'].sum())} of {su.model.nu}")
    print(
        "\n| muscles × k | k | "
        + " | ".join(f"SO {n} RMS N·m" for n in WEAK)
        + " | SO all dofs RMS N·m | muscles at a = 1 (SO) | teacher reserves, all dofs, RMS N·m | teacher up s"
        " | muscles only up s | wall s |"
    )
    print("|---|---:|" + "---:|" * (len(WEAK) + 6))
    for label, which in groups.items():
        for k in args.k:
            if k == 1.0 and label != "all muscles":
                continue
            t0 = time.perf_counter()
            so = _static_opt_on(walked.rollout, walked.trial, model=stronger(base_1ms, k, which))
            if k == 1.0:
                plain = _static_opt_on(walked.rollout, walked.trial, model=base_1ms, joint_limits=False)
                for label_, s_ in (("without joint-limit forces", plain), ("with them (the rows below)", so)):
                    print(f"\nwhere the reserves sit (k = 1), static optimisation {label_}:")
                    at_limits(s_, np.asarray(walked.rollout.qpos), base_1ms)
                print()
            res = np.asarray(so.reserves, float)
            names = list(so.reserve_names)
            rms = np.sqrt(np.mean(res**2, axis=0))
            weak = [rms[names.index(n)] for n in WEAK]
            so_all = float(np.sqrt(np.mean(np.sum(res**2, axis=1))))
            at_full = float(np.mean(np.sum(np.asarray(so.activations) > 0.99, axis=1)))
            model = stronger(su.model, k, which)
            _, teach = run(su, args.seconds, scaled(1.0), model=model)
            t_all = float(np.sqrt(np.mean(np.sum(np.asarray(teach.reserves, float) ** 2, axis=1))))
            _, alone = run(su, args.seconds, scaled(0.0), model=model)
            print(
                f"| {label} | {k:g} | "
                + " | ".join(f"{v:.1f}" for v in weak)
                + f" | {so_all:.1f} | {at_full:.1f} | {t_all:.1f} | {up_s(teach):.2f} | {up_s(alone):.2f} | "
                f"{time.perf_counter() - t0:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
