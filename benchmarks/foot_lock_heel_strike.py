"""Why the demo stride's ankle is ≈ 26° dorsiflexed at heel strike (issue 14, eighth pass): the Rajagopal walk's
stride (:func:`mmbio.sim.measured_stride.stride_from_opensim`, MyoFullBody ``corrected``) without the foot lock, with
it as built, and with two of its options changed; per row the right ankle (deg) and the heights (cm) of the right
heel's and forefoot's collision-geom centres at a few frames (frame 0 = the plates' right heel strike), and the
stride's own check of the total GRF its COM acceleration implies against the plates. Then ``--trade``: the foot lock's
COM acceleration SD (``root_acc_sd_m``) from 1e-5 (as built) to 1e-3 m per frame²: ankle at heel strike against
that GRF agreement.

Usage: ``python benchmarks/foot_lock_heel_strike.py [--trade]`` (≈ 1 min each). Results: benchmarks/RESULTS.md, issue 14, "Eighth
pass".
"""

import mujoco
import numpy as np

from mmbio.sim.extract import foot_geoms
from mmbio.sim.measured_stride import stride_from_opensim

REF = "../shared/reference/rajagopal2016_walk/"
FRAMES = (0, 2, 4, 6, 8, 10, 20, 40, 60, -8, -5, -3)


def show(label: str, **kw: object) -> None:
    mo = stride_from_opensim(REF + "coordinates.sto", REF + "grf_walk.mot", variant="corrected", **kw)  # type: ignore[arg-type]
    m = mo.mj_model()
    d = mujoco.MjData(m)
    _, sides = foot_geoms(m)
    right = [g for g, s in sides.items() if s == "r"]
    qa = m.jnt_qposadr[m.joint("ankle_angle_r").id]
    cells = []
    for k in FRAMES:
        d.qpos[:] = mo.qpos[k]
        mujoco.mj_kinematics(m, d)
        z = {m.geom(g).name: float(d.geom_xpos[g][2]) for g in right}
        heel = min(v for n, v in z.items() if "bofoot" not in n)
        fore = min(v for n, v in z.items() if "bofoot" in n)
        cells.append(f"{k}: {np.degrees(mo.qpos[k, qa]):+.0f}° heel {100 * heel:.1f} fore {100 * fore:.1f}")
    grf = next((n for n in mo.notes if n.startswith("total GRF implied")), "no GRF check in the notes")
    print(f"{label}\n  " + "\n  ".join(cells) + f"\n  {grf}", flush=True)


def trade() -> None:
    print(
        "\n| COM acceleration SD, m per frame² | right ankle at heel strike | implied GRF vs plates |\n|---:|---:|---|"
    )
    for sd in (1e-5, 3e-5, 1e-4, 3e-4, 1e-3):
        mo = stride_from_opensim(REF + "coordinates.sto", REF + "grf_walk.mot", variant="corrected",
                                 lock_options={"root_acc_sd_m": sd})  # fmt: skip
        m = mo.mj_model()
        ankle = np.degrees(mo.qpos[0, m.jnt_qposadr[m.joint("ankle_angle_r").id]])
        grf = next((n for n in mo.notes if n.startswith("total GRF implied")), "-")
        print(f"| {sd:g} | {ankle:+.1f}° | {grf.split(': ', 1)[-1]} |", flush=True)


if __name__ == "__main__":
    import sys

    if "--trade" in sys.argv:
        trade()
        raise SystemExit(0)
    show("no foot lock", foot_lock=False)
    show("the foot lock as built (root_smooth='com', COM acceleration SD 1e-5 m per frame^2)")
    show("the COM constraint 100x looser", lock_options={"root_acc_sd_m": 1e-3})
    show("only the root correction smooth", lock_options={"root_smooth": "correction"})
