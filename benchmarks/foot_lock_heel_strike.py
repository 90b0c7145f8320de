"""Why the demo stride's ankle is ≈ 26° dorsiflexed at heel strike (issue 14, eighth pass): the Rajagopal walk's
stride (:func:`mmbio.sim.measured_stride.stride_from_opensim`, MyoFullBody ``corrected``) without the foot lock, with
it as built, and with two of its options changed; per row the right ankle (deg) and the heights (cm) of the right
heel's and forefoot's collision-geom centres at a few frames (frame 0 = the plates' right heel strike).

Usage: ``python benchmarks/foot_lock_heel_strike.py`` (≈ 1 min). Results: benchmarks/RESULTS.md, issue 14, "Eighth
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
    print(f"{label}\n  " + "\n  ".join(cells), flush=True)


if __name__ == "__main__":
    show("no foot lock", foot_lock=False)
    show("the foot lock as built (root_smooth='com', COM acceleration SD 1e-5 m per frame^2)")
    show("the COM constraint 100x looser", lock_options={"root_acc_sd_m": 1e-3})
    show("only the root correction smooth", lock_options={"root_smooth": "correction"})
