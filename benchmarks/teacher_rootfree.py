"""Issue 14 §1: a teacher without root help. The demo's measured stride (``checkpoints/tracking_walk.pkl``) tracked
at 2 ms physics with ``root_residual='none'`` (no force ever acts on the pelvis), adding one ingredient at a time:

1. the reference root path corrected for dynamic consistency (``consistency_iterations``,
   :mod:`mmbio.control.consistency`): printed per iteration, residual force RMS before each;
2. rows of 12 s asked (a run ends only on a real fall, root below 70 % of its reference height): seconds up,
   speed, horizontal drift from the reference path, joint RMSE, the largest reserves (RMS and peak);
3. the teacher's own excitations with only a fraction α of its reserves applied (what a student that copied it
   perfectly could do without them), 6 s asked, for the default two-QP planner and the muscle-aware one.

Usage: ``python benchmarks/teacher_rootfree.py [--seconds 12] [--quick]``. Results: benchmarks/RESULTS.md,
"A root-free teacher (issue 14 §1, second pass)".
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import replace

import numpy as np

import mmbio.control.tracking as T
from mmbio.control.checkpoint import load_checkpoint
from mmbio.control.consistency import root_correction
from mmbio.control.tracking_settings import TrackingSettings

STRONG = {"root_pos_hz": 4.0, "w_root_pos": 100.0, "root_rot_hz": 6.0, "w_root_rot": 100.0}
BALANCED = {"root_pos_hz": 2.0, "w_root_pos": 100.0, "root_rot_hz": 5.0, "w_root_rot": 100.0, "w_joint": 100.0,
            "w_upper": 100.0}  # fmt: skip
ROWS: list[tuple[str, dict, bool]] = [
    ("root-free, demo tracking weights", {"actuation": "torques"}, False),
    ("root-free, strong root tracking (4/100, 6/100)", {"actuation": "torques", **STRONG}, False),
    ("+ consistent reference", {"actuation": "torques", **STRONG}, True),
    ("+ joint and trunk weights 100, root 2/100, 5/100", {"actuation": "torques", **BALANCED}, True),
    ("the same without the consistent reference", {"actuation": "torques", **BALANCED}, False),
    (
        "the same + reference clock following the pelvis (10/s)",
        {"actuation": "torques", **BALANCED, "phase_rate": 10.0},
        True,
    ),
    ("muscles + reserves (reserve weight 1)", {**BALANCED}, True),
    ("muscles + reserves (reserve weight 100)", {**BALANCED, "reserve_weight": 100.0}, True),
    (
        "muscles + reserves (weight 100) + clock following the pelvis",
        {**BALANCED, "reserve_weight": 100.0, "phase_rate": 10.0},
        True,
    ),
    ("muscle-aware planner (one QP; reserves ×1000)", {**BALANCED, "planner": "muscle_aware"}, True),
]
#: the α table's teachers
ALPHA_ROWS: list[tuple[str, dict]] = [
    ("two QPs, reserve weight 100", {**BALANCED, "reserve_weight": 100.0}),
    ("muscle-aware planner", {**BALANCED, "planner": "muscle_aware"}),
]
ALPHA = {"a": 1.0}


def _scaled_control(orig):
    def control(self, *args, **kw):
        ctrl, qfrc, info = orig(self, *args, **kw)
        return ctrl, qfrc * ALPHA["a"], info

    return control


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--quick", action="store_true", help="2 iterations, 3 s rows (a smoke run)")
    ap.add_argument("--rows", help="comma-separated row numbers (1-based) to run; 'none' for the α table only")
    ap.add_argument("--no-alpha", action="store_true", help="skip the α table")
    args = ap.parse_args()
    dur = 3.0 if args.quick else args.seconds
    ck = load_checkpoint("checkpoints/tracking_walk.pkl")
    motion = ck.motion()
    base = replace(TrackingSettings.from_dict(ck.controller["settings"]), root_residual="none")
    m = copy.deepcopy(motion.mj_model())
    m.opt.timestep = 0.002
    t0 = time.perf_counter()
    log: list[dict[str, float]] = []
    corr = root_correction(motion, m, base, iterations=2 if args.quick else 4, log=log)
    print(f"consistency correction ({time.perf_counter() - t0:.0f} s wall):")
    for i, row in enumerate(log):
        print(f"  iteration {i + 1}: residual before {row['residual_force_rms_bw']:.3f} BW, "
              f"correction up to {1e3 * row['correction_m']:.1f} mm")  # fmt: skip
    print(f"\n| teacher (root_residual none, 2 ms) | up (s, of {dur:g}) | speed m/s | drift m | joint RMSE ° | "
          "largest reserves RMS (peak), N·m, up to 1 s before a fall | wall s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|---:|")
    T.TrackingController.control = _scaled_control(T.TrackingController.control)
    pick = set() if args.rows == "none" else {int(x) for x in args.rows.split(",")} if args.rows else None
    for k, (label, over, consistent) in enumerate(ROWS, 1):
        if pick is not None and k not in pick:
            continue
        s = replace(base, **over)
        w0 = time.perf_counter()
        roll, res = T.track(motion, duration_s=dur, settings=s, model=m, root_correction=corr if consistent else None,
                            record_every=50)  # fmt: skip
        wall = time.perf_counter() - w0
        up = res.fell_at_s if res.fell else res.sim_s
        speed = float(np.linalg.norm(roll.qpos[-1, :2] - roll.qpos[0, :2]) / max(roll.time[-1], 1e-9))
        drift = "-" if res.path_drift_m is None else f"{res.path_drift_m:.2f}"
        # before a fall the controller asks for anything: reserves are summed over the time up to 1 s before it
        ok = res.time < (up - 1.0 if res.fell else np.inf)
        r = res.reserves[ok] if ok.any() else res.reserves
        rms = dict(zip(res.reserve_names, np.sqrt(np.mean(r**2, 0)), strict=True))
        peak = dict(zip(res.reserve_names, np.abs(r).max(0), strict=True))
        top = sorted(rms, key=lambda k: -rms[k])[:3]
        kind = "joint torques" if s.actuation == "torques" else "reserves"
        tops = ", ".join(f"{k} {rms[k]:.0f} ({peak[k]:.0f})" for k in top)
        rmse = np.mean(list(res.tracking_rmse_deg.values()))
        print(f"| {label} | {'**' + format(up, '.2f') + '**' if res.fell else format(up, '.1f') + ' (all)'} | "
              f"{speed:.2f} | {drift} | {rmse:.1f} | {kind}: {tops} | {wall:.0f} |", flush=True)  # fmt: skip
    if args.no_alpha:
        return
    print("\n| teacher | α = 0 | 0.5 | 1 |\n|---|---:|---:|---:|")
    for label, over in ALPHA_ROWS:
        s = replace(base, **over)
        ups = []
        for a in (0.0, 0.5, 1.0):
            ALPHA["a"] = a
            _, res = T.track(motion, duration_s=3.0 if args.quick else 6.0, settings=s, model=m, root_correction=corr,
                             record_every=50)  # fmt: skip
            ups.append(res.fell_at_s if res.fell else res.sim_s)
        print(f"| {label} | " + " | ".join(f"{u:.2f}" for u in ups) + " |", flush=True)


if __name__ == "__main__":
    main()
