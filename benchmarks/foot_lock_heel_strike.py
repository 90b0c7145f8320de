"""Why the demo stride's ankle is ≈ 26° dorsiflexed at heel strike (issue 14, eighth and ninth passes): the Rajagopal
walk's stride (:func:`mmbio.sim.measured_stride.stride_from_opensim`, MyoFullBody ``corrected``) without the foot lock,
with it as built, and with two of its options changed; per row the right ankle (deg) and the heights (cm) of the right
heel's and forefoot's collision-geom centres at a few frames (frame 0 = the plates' right heel strike), and the
stride's own check of the total GRF its COM acceleration implies against the plates.

``--trade``: the foot lock's COM acceleration SD (``root_acc_sd_m``) from 1e-5 (as built) to 1e-3 m per frame²: ankle
at heel strike against that GRF agreement. ``--ablate``: one of the lock's constraints changed at a time (swing
clearance, its landing ramp, when the forefoot is loaded, the smoothness priors): the ankle over the loading response.
``--reach``: where the lock must put the heel, for the Rajagopal stride and subject 2014001's (its own marker IK scaled
to its static trial): the right heel's height and fore-aft place from heel strike to 30 frames later, without and with
the lock; then the Rajagopal subject's segment lengths (markers) against MyoFullBody's, and the measured heel marker's
travel after heel strike.

Usage: ``python benchmarks/foot_lock_heel_strike.py [--trade | --ablate | --reach]`` (≈ 1 min per stride; ``--ablate``
≈ 8 min, ``--reach`` ≈ 5 min). Results: benchmarks/RESULTS.md, issue 14, "Eighth pass" and "Ninth pass".
"""

import mujoco
import numpy as np

from mmbio.io.opensim import read_opensim_grf
from mmbio.io.opensim_table import read_trc
from mmbio.sim.extract import foot_geoms
from mmbio.sim.foot_geometry import _load_model
from mmbio.sim.ik import MarkerIK, marker_sets
from mmbio.sim.measured_stride import stride_events, stride_from_opensim
from mmbio.sim.motion import Motion
from mmbio.sim.synthesis import _contact_points

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


def heel_track(mo: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The right heel contact point (lowest of the lock's heel spheres) at frames HS + 0 / 2 / 4 / 6 / 10 / 20 / 30:
    height above its flat-foot height and fore-aft place relative to HS + 30 (m, + = ahead), and the ankle (deg)."""
    m = mo.mj_model()
    d = mujoco.MjData(m)
    heel = _contact_points(m)["r"][0]
    n = len(mo.qpos) - 1
    st = mo.stance["r"][:-1]
    hs = int(np.flatnonzero(st & ~np.roll(st, 1))[0])
    p = np.empty((n, 3))
    for k in range(n):
        d.qpos[:] = mo.qpos[k]
        mujoco.mj_kinematics(m, d)
        p[k] = min((d.xpos[b] + d.xmat[b].reshape(3, 3) @ c - [0, 0, r] for b, c, r in heel), key=lambda v: v[2])
    idx = np.flatnonzero(st)
    flat = np.median(p[idx[(idx - hs) % n < 0.4 * idx.size], 2])
    ks = (hs + np.array([0, 2, 4, 6, 10, 20, 30])) % n
    ahead = -(p[ks, 1] - p[ks[-1], 1])  # MuJoCo world: forward is −y
    ankle = np.degrees(mo.qpos[ks, m.jnt_qposadr[m.joint("ankle_angle_r").id]])
    return p[ks, 2] - flat, ahead, ankle


def heel_path(mo: Motion, label: str) -> None:
    """One row of ``--reach``'s table (:func:`heel_track`, cm and deg)."""
    up, ahead, ankle = heel_track(mo)
    print(f"| {label} | {' / '.join(f'{100 * v:+.1f}' for v in up)} | {' / '.join(f'{100 * v:+.1f}' for v in ahead)} | "
          f"{' / '.join(f'{v:+.0f}' for v in ankle)} |", flush=True)  # fmt: skip


def reach() -> None:
    """The heel the lock must place: the Rajagopal stride and subject 2014001's (mmbio marker IK scaled to the static
    trial, :func:`~mmbio.sim.measured_stride.stride_from_c3d`), without and with the lock; then the Rajagopal
    subject's segment lengths from its markers against MyoFullBody's (the same markers placed on the model)."""
    from mmbio.sim.measured_stride import stride_from_c3d

    print("\n| stride | heel above its flat-foot height at HS + 0 / 2 / 4 / 6 / 10 / 20 / 30 frames, cm | heel ahead of its "
          "place at HS + 30, cm | right ankle, deg |\n|---|---|---|---|")  # fmt: skip
    sub = "../shared/reference/schreiber2019/2014001/"
    for lock in (False, True):
        name = "lock" if lock else "no lock"
        heel_path(stride_from_opensim(REF + "coordinates.sto", REF + "grf_walk.mot", variant="corrected",
                                      foot_lock=lock), f"Rajagopal walk, {name}")  # fmt: skip
        heel_path(stride_from_c3d(sub + "2014001_C4_05.c3d", static=sub + "2014001_ST.c3d", variant="corrected",
                                  foot_lock=lock), f"Schreiber 2014001 C4, {name}")  # fmt: skip
    # the same markers on MyoFullBody at qpos0 (the marker set's offsets) and the subject's, median over the trial
    ms = marker_sets()["rajagopal2016_walk"]
    m = _load_model("myofullbody", "corrected")
    on_model = MarkerIK(m, np.array([m.body(b).id for b in ms.bodies]), ms.offsets).positions(m.qpos0)
    mk = read_trc(REF + "markers_walk.trc")

    def subject(name: str) -> np.ndarray:
        return mk.positions[:, mk.names.index(name)]

    print("\n| markers | subject (median over the trial), cm | MyoFullBody, cm |\n|---|---:|---:|")
    for a, b in (("R.ASIS", "R.Knee"), ("R.Knee", "R.Ankle"), ("R.Ankle", "R.Heel"), ("R.Heel", "R.Toe"),
                 ("R.ASIS", "R.Heel")):  # fmt: skip
        dist = np.linalg.norm(subject(a) - subject(b), axis=1)
        model = np.linalg.norm(on_model[ms.markers.index(a)] - on_model[ms.markers.index(b)])
        print(f"| {a}–{b} | {100 * np.nanmedian(dist):.1f} | {100 * model:.1f} |")
    # the heel marker's travel over the 200 ms after the plates' last complete right heel strike
    hs = max(on for on, _ in stride_events(read_opensim_grf(REF + "grf_walk.mot")).contacts["r"])
    k0, k1 = (int(np.argmin(np.abs(mk.time - t))) for t in (hs, hs + 0.2))
    h = subject("R.Heel")
    print(f"\nmeasured R.Heel marker from the plates' heel strike ({hs:.2f} s) to 200 ms later: "
          f"{100 * (h[k1, 0] - h[k0, 0]):+.1f} cm forward, {100 * (h[k1, 2] - h[k0, 2]):+.1f} cm up")  # fmt: skip


def table(rows: list[tuple[str, dict]]) -> None:
    """Per row (label, ``lock_options``): the right ankle at frames 0 / 3 / 6 / 9 / 12 (deg), the heel's travel from
    heel strike to 30 frames later (cm) and the implied GRF."""
    print("\n| foot lock | right ankle at frames 0 / 3 / 6 / 9 / 12 | heel travel HS → HS + 30 | implied total GRF vs "
          "plates |\n|---|---|---:|---|")  # fmt: skip
    for label, opts in rows:
        mo = stride_from_opensim(REF + "coordinates.sto", REF + "grf_walk.mot", variant="corrected", lock_options=opts)
        m = mo.mj_model()
        ankle = np.degrees(mo.qpos[[0, 3, 6, 9, 12], m.jnt_qposadr[m.joint("ankle_angle_r").id]])
        travel = -100 * heel_track(mo)[1][0]
        grf = next((n for n in mo.notes if n.startswith("total GRF implied")), "-")
        print(f"| {label} | {' / '.join(f'{a:+.1f}' for a in ankle)}° | {travel:.1f} cm | {grf.split(': ', 1)[-1]} |",
              flush=True)  # fmt: skip


def trade() -> None:
    table(
        [(f"COM acceleration SD {sd:g} m per frame²", {"root_acc_sd_m": sd}) for sd in (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)]
    )


def ablate() -> None:
    """Which of the lock's constraints asks for the heel-strike dorsiflexion (one changed at a time)."""
    table([
        ("as built", {}),
        ("no swing clearance (0 instead of 22 mm)", {"swing_clearance_m": 0.0}),
        ("swing clearance 10 mm", {"swing_clearance_m": 0.01}),
        ("landing ramp 30 % of the swing (15 %)", {"swing_ramp": 0.3}),
        ("forefoot loaded from 5 % of the stance (15 %)", {"foot_flat_stance": 0.05}),
        ("forefoot loaded from 10 % of the stance", {"foot_flat_stance": 0.10}),
        ("joint corrections' smoothness SD 0.1°/frame² (0.3)", {"smooth_sd_deg": 0.1}),
        ("pelvis rotation smoothness SD 0.3°/frame² (0.02)", {"root_rot_smooth_sd_deg": 0.3}),
        ("heel may slip before foot flat, SD 1 mm per frame (0.1)", {"heel_slip_sd_m": 1e-3}),
        ("heel may slip before foot flat, SD 3 mm per frame", {"heel_slip_sd_m": 3e-3}),
    ])  # fmt: skip


if __name__ == "__main__":
    import sys

    if "--trade" in sys.argv:
        trade()
        raise SystemExit(0)
    if "--ablate" in sys.argv:
        ablate()
        raise SystemExit(0)
    if "--reach" in sys.argv:
        reach()
        raise SystemExit(0)
    show("no foot lock", foot_lock=False)
    show("the foot lock as built (root_smooth='com', COM acceleration SD 1e-5 m per frame^2)")
    show("the COM constraint 100x looser", lock_options={"root_acc_sd_m": 1e-3})
    show("only the root correction smooth", lock_options={"root_smooth": "correction"})
