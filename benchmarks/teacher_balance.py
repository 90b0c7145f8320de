"""Issue 14 §1, a root-free teacher: the demo's tracking controller with its root residual priced out, stronger root
tracking, and (optionally) capture-point foot placement on its swing targets. An experiment, not product code: it
patches ``TrackingController._ref_points`` so that every reference foot point is shifted horizontally by
``k · (cp − cp_ref)`` (capture point ``cp = c + ċ/ω``, ω = √(g/z_c), of the simulation and of the reference; at
most 0.25 m), which only moves the swing targets (stance points are held by no-slip rows), and lifts the 0.5 m
drift criterion so that a run ends only when it falls (root below 70 % of its reference height).

Usage: ``python benchmarks/teacher_balance.py SECONDS 'JSON rows'``; a row is a dict of TrackingSettings overrides
plus ``w`` (the residual weights' multiplier) and ``k`` (foot-placement gain), e.g.::

    python benchmarks/teacher_balance.py 6 '[{"w": 10000, "k": 1.0, "w_foot": 10, "root_pos_hz": 4, "w_root_pos": 100,
        "root_rot_hz": 6, "w_root_rot": 100}]'

Results (2 ms physics, 2-core VM): benchmarks/RESULTS.md, "Issue 14: a root-free teacher".
"""

import copy
import json
import sys
import time
from dataclasses import replace

import mujoco
import numpy as np

import mmbio.control.tracking as T
from mmbio.control.checkpoint import load_checkpoint
from mmbio.control.tracking_settings import TrackingSettings

T.FALL_ROOT_DEVIATION_M = 50.0
orig = T.TrackingController._ref_points
GAIN = {"k": 1.0, "lim": 0.25}


def com_state(m, d):
    jac = np.zeros((3, m.nv))
    mujoco.mj_jacSubtreeCom(m, d, jac, 0)
    return d.subtree_com[0].copy(), jac @ d.qvel


def ref_com(self, t, h=0.004):
    m = self.m
    dd = getattr(self, "_dcom", None)
    if dd is None:
        dd = self._dcom = mujoco.MjData(m)
    out = []
    for tt in (t - h, t + h):
        dd.qpos[:] = self.ref.at(max(tt, 0.0))[0]
        mujoco.mj_kinematics(m, dd)
        mujoco.mj_comPos(m, dd)
        out.append(dd.subtree_com[0].copy())
    return 0.5 * (out[0] + out[1]), (out[1] - out[0]) / (2 * h)


def patched(self, t, h=0.004):
    p, v, a = orig(self, t, h)
    m, d = self.m, self.d
    mujoco.mj_comPos(m, d)
    c, cv = com_state(m, d)
    cr, cvr = ref_com(self, t)
    w = np.sqrt(9.81 / max(c[2], 0.3))
    cp = c[:2] + cv[:2] / w
    cpr = cr[:2] + cvr[:2] / w
    delta = GAIN["k"] * (cp - cpr)
    n = np.linalg.norm(delta)
    if n > GAIN["lim"]:
        delta *= GAIN["lim"] / n
    p = p.copy()
    p[:, :2] += delta
    return p, v, a


T.TrackingController._ref_points = patched
ck = load_checkpoint("checkpoints/tracking_walk.pkl")
motion = ck.motion()
base = TrackingSettings.from_dict(ck.controller["settings"])
dur = float(sys.argv[1])
rows = json.loads(sys.argv[2])
m = copy.deepcopy(motion.mj_model())
m.opt.timestep = 0.002
ref = T.LoopedReference(motion, m, dur)
for extra in rows:
    w = extra.pop("w", 100.0)
    GAIN["k"] = extra.pop("k", 1.0)
    s = replace(base, w_residual=base.w_residual * w, w_residual_moment=base.w_residual_moment * w, **extra)
    t0 = time.time()
    roll, res = T.track(motion, duration_s=dur, settings=s, model=m)
    qr = ref.at(roll.time[-1])[0]
    top = max(res.reserve_rms_nm.items(), key=lambda kv: kv[1])
    print(
        f"w {w:g} k {GAIN['k']} {extra} fell {res.fell_at_s if res.fell else '-'} wall {time.time() - t0:.0f}s resid {res.residual_force_rms_bw:.4f}BW {res.residual_moment_rms_nm:.1f}Nm top {top[0]} {top[1]:.0f} rmse {np.mean(list(res.tracking_rmse_deg.values())):.1f} end dx {roll.qpos[-1, 0] - qr[0]:+.2f} dy {roll.qpos[-1, 1] - qr[1]:+.2f} z {roll.qpos[-1, 2]:.2f} reason {roll.reason}",
        flush=True,
    )
