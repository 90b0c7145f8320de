"""Where a simulated foot's free-moment peaks come from (issue 14, seventh pass): roll a tracking checkpoint out
(3 cycles + 1, as ``mmbio validate``), take each foot's five largest |free moment| frames while it carries ≥ 10 % BW
(the ``free_moment_peak`` credibility check's frames), and print their phase of stance and every floor contact point
of that foot: its vertical and horizontal force (N, lab frame of MuJoCo: x mediolateral, y the walking direction),
its position relative to the COP (cm) and its share of the free moment (N·m); and the stance leg's hip rotation,
subtalar, ankle and toe moments there (muscles and reserve, N·m, with the joint axis's vertical component), and
the muscles that make the hip-rotation moment (force × moment arm each; the internal and external sums).

Usage: ``python benchmarks/free_moment_sources.py [CHECKPOINT]`` (default ``checkpoints/tracking_walk.pkl``;
≈ 80 s). Results: benchmarks/RESULTS.md, issue 14, "Seventh pass".
"""

import sys

import mujoco
import numpy as np

from mmbio.analysis.grf import FREE_MOMENT_MIN_BW
from mmbio.control.run import run_checkpoint
from mmbio.models.registry import load_model
from mmbio.sim.extract import floor_contacts, foot_geoms
from mmbio.trial import GRAVITY


def main(ck: str) -> None:
    run = run_checkpoint(ck, cycles=3, static_opt=False)
    tr, r = run.trial, run.rollout
    mass = tr.subject.mass_kg
    m = load_model(r.model_name, r.variant).model
    d = mujoco.MjData(m)
    floor, sides = foot_geoms(m)
    for s, g in tr.grf.items():
        t = g.time
        fz = g.vertical
        tz = np.asarray(g.free_moment)
        sel = fz >= FREE_MOMENT_MIN_BW * mass * GRAVITY
        hs = tr.events.heel_strike[s]
        to = tr.events.toe_off[s]
        order = np.argsort(-np.abs(np.where(sel, tz, 0)))[:5]
        print(f"== {s}: heel strikes {np.round(hs, 2)}, toe offs {np.round(to, 2)}")
        for k in order:
            tk = t[k]
            prev = hs[hs <= tk].max() if np.any(hs <= tk) else np.nan
            nxt = to[to > prev].min() if np.any(to > prev) else np.nan
            ph = 100 * (tk - prev) / (nxt - prev) if np.isfinite(prev) and np.isfinite(nxt) else np.nan
            i = int(np.argmin(np.abs(r.time - tk)))
            d.qpos[:] = r.qpos[i]
            d.qvel[:] = r.qvel[i]
            d.act[:] = r.act[i]
            d.ctrl[:] = r.ctrl[i]
            if r.qfrc_applied is not None:
                d.qfrc_applied[:] = r.qfrc_applied[i]
            mujoco.mj_forward(m, d)
            pts = [(m.geom(g).name or f"g{g}", m.body(m.geom_bodyid[g]).name, pos, f)
                   for g, pos, f in floor_contacts(m, d, floor) if sides.get(g) == s]  # fmt: skip
            if not pts:
                continue
            p = np.array([x[2] for x in pts])
            f = np.array([x[3] for x in pts])
            w = np.clip(f[:, 2], 0, None)
            cop = (w[:, None] * p).sum(0) / max(w.sum(), 1e-9)
            tzk = np.cross(p - cop, f)[:, 2]
            print(
                f"  t {tk:.3f} ({ph:.0f} % stance) Tz {tz[k]:+.1f} N m ({tz[k] / mass:+.3f}/kg) Fz {fz[k]:.0f} N; "
                f"{len(pts)} points:"
            )
            dofs = []
            for n in (f"hip_rotation_{s}", f"subtalar_angle_{s}", f"ankle_angle_{s}", f"mtp_angle_{s}"):
                j = m.joint(n).id
                a = int(m.jnt_dofadr[j])
                dofs.append(f"{n} muscles {d.qfrc_actuator[a]:+.1f} reserve {d.qfrc_applied[a]:+.1f} "
                            f"(axis {d.xaxis[j][2]:+.2f} vertical)")  # fmt: skip
            print("     joint moments, N·m: " + "; ".join(dofs))
            print("     " + hip_rotation_sources(m, d, s))
            for (gn, bn, pp, ff), z in zip(pts, tzk, strict=True):
                print(
                    f"     {bn:10s} {gn:18s} Fz {ff[2]:7.1f} Fxy ({ff[0]:+6.1f},{ff[1]:+6.1f}) "
                    f"r-cop ({100 * (pp - cop)[0]:+5.1f},{100 * (pp - cop)[1]:+5.1f}) cm  Tz {z:+6.1f}"
                )


def hip_rotation_sources(m: mujoco.MjModel, d: mujoco.MjData, side: str, top: int = 6) -> str:
    """Each muscle's share of the hip-rotation moment at the current (forwarded) state: the largest ``top``
    (force × moment arm, N·m, + internal rotation), and the sums of the internal and external parts."""
    dof = int(m.jnt_dofadr[m.joint(f"hip_rotation_{side}").id])
    dense = np.zeros((m.nu, m.nv))
    mujoco.mju_sparse2dense(dense, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
    share = dense[:, dof] * d.actuator_force
    order = np.argsort(-np.abs(share))[:top]
    names = ", ".join(f"{m.actuator(i).name} {share[i]:+.1f} (a {d.act[m.actuator_actadr[i]]:.2f})" for i in order)
    return f"hip rotation by muscle: {names}; internal +{share[share > 0].sum():.1f}, external {share[share < 0].sum():.1f}"


def reference_foot_yaw(ck: str) -> None:
    """The reference stride's calcaneus yaw (deg about the vertical) and height (cm) every 5 frames, S = planned
    stance."""
    from mmbio.control.checkpoint import load_checkpoint

    mo = load_checkpoint(ck).motion()
    m = mo.mj_model()
    d = mujoco.MjData(m)
    for side in "rl":
        b = m.body(f"calcn_{side}").id
        st = np.asarray(mo.stance[side], bool)
        rows = []
        for k in range(0, len(mo.qpos), 5):
            d.qpos[:] = mo.qpos[k]
            mujoco.mj_kinematics(m, d)
            rot = d.xmat[b].reshape(3, 3)
            yaw = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
            rows.append(f"{k}:{'S' if st[k] else '-'}{yaw:.1f}°/{100 * d.xpos[b][2]:.0f}cm")
        print(f"reference calcn_{side} yaw/height: " + " ".join(rows))


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "checkpoints/tracking_walk.pkl"
    reference_foot_yaw(path)
    main(path)
