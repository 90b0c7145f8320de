"""Issue 14, sixth pass: MyoFullBody's shoulder phantom inertia, what it does to walking, and the teacher without it.

Parts (``--part``, default all):

``audit``
    :func:`mmbio.models.inertia_audit.audit_inertia` of the stock (``nofingers``) and ``corrected`` variants.
``yaw``
    The yaw budget (:func:`mmbio.sim.angular_momentum.yaw_budget`) of the Rajagopal 2016 walk retargeted onto each
    variant, against its force plates: the free moment the motion needs, beside what the plates measured.
``ideal``
    The committed root-free demo (its settings and stored root correction, 2 ms physics) tracked by ideal joint
    torques on the stock model with the eight phantom bodies' inertia set to 1 (stock), 0.01, 0.001 and 0.0001
    kg·m²: time up and the worst-tracked joints (why the correction is 0.001, not less).
``teacher``
    The root-free teacher rebuilt on each variant (``checkpoints/build.py --root-free [--variant corrected]``, the
    consistency correction recomputed on that model), 2 ms physics, reserve weight 100 (as
    ``benchmarks/muscles_only_road.py``): with its reserves, its excitations alone (the muscles-only closed loop:
    reserves planned but not applied) and the muscle-aware planner's excitations alone; on the corrected model
    with the stock root weights (100) and with the build's (1000, ``ROOT_FREE_CORRECTED_SETTINGS``).
``free-moment``
    The corrected root-free teacher with its planned free moments priced (``w_free_moment`` 0, 1, 100): time up,
    drift, its feet's free moment peaks in stance (N·m/kg, as the credibility check), reserves, excitations alone.

Usage: ``python benchmarks/phantom_inertia.py [--part NAME] [--seconds 3]``. Results: benchmarks/RESULTS.md,
"Issue 14, sixth pass".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checkpoints"))

import muscles_only_road as R

from mmbio.control.checkpoint import load_checkpoint
from mmbio.models.inertia_audit import audit_inertia, inertia_corrections
from mmbio.models.registry import load_model

VARIANTS = ("nofingers", "corrected")
SHARED = Path(os.environ.get("MMBIO_SHARED_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"))


def audit(_seconds: float) -> None:
    print("\n| variant | audit |\n|---|---|")
    for v in VARIANTS:
        a = audit_inertia(load_model("myofullbody", v).model)
        print(f"| {v} | {a.summary()}; whole body about x, y, z: "
              f"{', '.join(f'{x:.2f}' for x in a.whole_body_kg_m2)} kg·m² |")  # fmt: skip


def yaw(_seconds: float) -> None:
    from mmbio.io.opensim import read_opensim_grf, read_storage
    from mmbio.sim.angular_momentum import yaw_budget
    from mmbio.sim.motion import motion_from_opensim

    ref = SHARED / "rajagopal2016_walk"
    grf = read_opensim_grf(ref / "grf_walk.mot")
    t0 = float(read_storage(ref / "coordinates.sto").time[0])
    print(
        "\n| variant | L_z RMS kg·m²/s | dL_z/dt RMS | plates' horizontal forces about the COM RMS | free moment "
        "needed RMS (peak) | measured RMS (peak) | needed − measured RMS |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for v in VARIANTS:
        motion = motion_from_opensim(ref / "coordinates.sto", variant=v, floor="global")
        yb = yaw_budget(motion, grf, t0_s=t0)
        r = yb.rms()
        print(f"| {v} | {r['lz']:.2f} | {r['lz_rate']:.1f} | {r['plate_force_moment']:.1f} | "
              f"{r['free_moment_needed']:.1f} ({np.abs(yb.free_moment_needed).max():.0f}) | "
              f"{r['free_moment_measured']:.1f} ({np.abs(yb.free_moment_measured).max():.1f}) | {r['excess']:.1f} |")  # fmt: skip


def ideal(seconds: float) -> None:
    su = R.Setup()
    m = su.model
    ph = [b for b in range(m.nbody) if m.body(b).name in inertia_corrections()["bodies"]]
    torques = replace(su.settings, actuation="torques")
    print(
        f"\n| phantom inertia kg·m² | ideal torques up (s, of {seconds:g}) | worst-tracked joints, RMSE ° |\n"
        "|---:|---:|---|"
    )
    for val in (1.0, 1e-2, 1e-3, 1e-4):
        m.body_inertia[ph] = val
        _, res = R.run(su, seconds, R.scaled(1.0), torques)
        worst = sorted(res.tracking_rmse_deg.items(), key=lambda kv: -kv[1])[:4]
        print(f"| {val:g} | {R.up_s(res):.2f} | {', '.join(f'{k} {x:.1f}' for k, x in worst)} |", flush=True)


def teacher(seconds: float) -> None:
    import build as B  # checkpoints/build.py

    print(
        f"\n| variant | build s | run | up (s, of {seconds:g}) | drift m | reserves applied, largest RMS N·m |\n"
        "|---|---:|---|---:|---:|---|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for v in VARIANTS:
            t0 = time.perf_counter()
            path = B.build(Path(tmp) / f"rf_{v}.pkl", root_free=True, variant=v, shared=SHARED)
            built = time.perf_counter() - t0
            su = R.Setup(load_checkpoint(path))
            aware = replace(su.settings, planner="muscle_aware", reserve_weight=1.0)
            rows = [("with its reserves", R.scaled(1.0), su.settings),
                    ("excitations alone (reserves not applied)", R.scaled(0.0), su.settings),
                    ("muscle-aware planner, excitations alone", R.scaled(0.0), aware)]  # fmt: skip
            if v == "corrected":  # the stock root weights (100) on the corrected model, then the build's (1000)
                stock_w = replace(su.settings, w_root_pos=100.0, w_root_rot=100.0)
                rows = [(f"root weights 100, {lb}", h, stock_w) for lb, h, _ in rows[:2]] + [
                    (f"root weights 1000, {lb}", h, st) for lb, h, st in rows[:2]
                ]
            for label, hook, st in rows:
                _, res = R.run(su, seconds, hook, st)
                top = ""
                if label.endswith("with its reserves"):
                    rr = sorted(res.reserve_rms_nm.items(), key=lambda kv: -kv[1])[:3]
                    top = ", ".join(f"{k} {x:.0f}" for k, x in rr)
                drift = f"{res.path_drift_m:.2f}" if res.path_drift_m is not None else "—"
                print(f"| {v} | {built:.0f} | {label} | {R.up_s(res):.2f} | {drift} | {top} |", flush=True)


def free_moment(seconds: float) -> None:
    """The corrected root-free teacher (root weights 1000) with its planned free moments priced
    (``TrackingSettings.w_free_moment`` 0, 1, 100): time up, its feet's free moments in stance, reserves, the
    excitations alone."""
    import build as B  # checkpoints/build.py

    import mmbio.control.tracking as T
    from mmbio.analysis.grf import free_moment_peak
    from mmbio.sim.extract import rollout_to_trial

    print(f"\n| w_free_moment | up (s, of {seconds:g}) | drift m | free moment peak r / l, N·m/kg | reserves, largest RMS "
          f"N·m | excitations alone: up s |\n|---:|---:|---:|---|---|---:|")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        su = R.Setup(load_checkpoint(B.build(Path(tmp) / "rf.pkl", root_free=True, variant="corrected", shared=SHARED)))
        for w in (0.0, 1.0, 100.0):
            st = replace(su.settings, w_free_moment=w)
            # the teacher as it is (its reserves applied), recorded every 10 ms for the feet's free moments
            roll, res = T.track(su.motion, duration_s=seconds, settings=st, model=su.model, root_correction=su.corr,
                                record_every=5)  # fmt: skip
            trial = rollout_to_trial(roll)
            mass = trial.subject.mass_kg
            fm = [free_moment_peak(g.time, g.vertical, g.free_moment, mass) for g in (trial.grf["r"], trial.grf["l"])]
            top = ", ".join(f"{k} {x:.0f}" for k, x in sorted(res.reserve_rms_nm.items(), key=lambda kv: -kv[1])[:3])
            _, alone = R.run(su, seconds, R.scaled(0.0), st)
            print(f"| {w:g} | {R.up_s(res):.2f} | {res.path_drift_m:.2f} | {fm[0]:.2f} / {fm[1]:.2f} | {top} | "
                  f"{R.up_s(alone):.2f} |", flush=True)  # fmt: skip


PARTS = {"audit": audit, "yaw": yaw, "ideal": ideal, "teacher": teacher, "free-moment": free_moment}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=sorted(PARTS), action="append", help="run this part (repeatable; default all)")
    ap.add_argument("--seconds", type=float, default=3.0, help="simulated seconds asked per tracking run")
    a = ap.parse_args()
    for name in a.part or list(PARTS):
        t0 = time.perf_counter()
        PARTS[name](a.seconds)
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
