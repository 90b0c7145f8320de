"""Marker IK speed on MyoFullBody: frames/s on one core after warm start, against baselines (issue 16 §1).

Rows (same trial, same frames, one process pinned to one core unless said):

* ``mmbio IK``: :class:`mmbio.sim.ik.MarkerIK` frame after frame, each warm-started from the previous solution
  (offsets as :func:`mmbio.sim.ik.marker_ik` registered them; best of 3 passes). Also ``marker_ik`` end to end
  (file read, registration pass, final pass, errors).
* ``mj_kinematics``: one raw ``mj_kinematics`` per frame, the in-process floor (ratio = IK cost in kinematics calls).
* ``OpenSim IK`` (``--opensim-python``, default ``/work/venv-osim/bin/python`` when it exists): OpenSim 4.6's
  ``InverseKinematicsTool`` on the same markers (written as a TRC, OpenSim convention) with the Schreiber-Moissenet
  model (unscaled Rajagopal bodies, 48 markers, weight 1, accuracy 1e-5), timed around ``run()`` in its own
  venv (subprocess; model loading excluded); its coordinates are also compared with mmbio's (same unscaled
  model and markers: what the solvers and the body mapping alone change).
* ``mink`` (``--mink``; ``mink`` and ``qpsolvers[daqp]`` importable, e.g. ``PYTHONPATH=/tmp/minklib``): one
  ``FrameTask`` (position only) per marker site, ``EqualityConstraintTask`` for the joint equalities,
  ``ConfigurationLimit``, daqp, integrated until the marker cost stops falling (≤ 50 steps per frame).

Usage: ``python benchmarks/ik_speed.py [TRIAL.c3d|.trc] [--opensim-python PY] [--mink]`` (default trial
``../shared/reference/schreiber2019/2014001/2014001_C4_05.c3d``: 52 markers, 48 in the set).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from mmbio.io.opensim import _bare_name, read_storage, write_trc  # noqa: E402
from mmbio.sim.ik import _LAB_TO_MJ, MarkerIK, marker_ik, marker_sets, opensim_coordinates, read_markers  # noqa: E402

DEFAULT_TRIAL = ROOT.parent / "shared/reference/schreiber2019/2014001/2014001_C4_05.c3d"
OSIM = ROOT.parent / "shared/reference/schreiber2019/Rajagopal2015_SchreiberMoissenet2019.osim"
OSIM_PY = Path("/work/venv-osim/bin/python")

_OPENSIM_IK = """
import sys, time, opensim as osim
osim.Logger.setLevelString("error")
model = osim.Model(sys.argv[1]); model.initSystem()
ik = osim.InverseKinematicsTool(); ik.setModel(model)
ik.setMarkerDataFileName(sys.argv[2]); ik.setStartTime(float(sys.argv[3])); ik.setEndTime(float(sys.argv[4]))
ik.setOutputMotionFileName(sys.argv[5]); ik.set_report_errors(False); ik.set_accuracy(1e-5)
t0 = time.perf_counter(); ik.run(); print("IK_SECONDS", time.perf_counter() - t0)
"""


def time_mmbio(res, mk, reps: int = 3) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Best frames/s of a warm-started sequential pass, and its mean iterations per frame."""
    m = res.motion.mj_model()
    ms = marker_sets()[res.marker_set]
    idx = [mk.names.index(n) for n in res.marker_names]
    bodies = np.array([m.body(ms.bodies[ms.markers.index(n)]).id for n in res.marker_names])
    ik = MarkerIK(m, bodies, ms.offsets[[ms.markers.index(n) for n in res.marker_names]], locked=ms.locked)
    # registered offsets: recover them from the result's own solution (first visible frame of each marker)
    pos = mk.positions[:, idx] @ _LAB_TO_MJ.T
    vis = np.isfinite(pos).all(axis=2)
    for j in np.flatnonzero(ms.register[[ms.markers.index(n) for n in res.marker_names]]):
        loc = []
        for i in np.flatnonzero(vis[:, j]):
            ik.positions(res.motion.qpos[i])
            b = bodies[j]
            loc.append(ik.data.xmat[b].reshape(3, 3).T @ (pos[i, j] - ik.data.xpos[b]))
        ik.offsets[j] = np.mean(loc, axis=0)
    best, iters = 0.0, 0.0
    for _ in range(reps):
        q = res.motion.qpos[0].copy()
        its = []
        t0 = time.perf_counter()
        for i in range(pos.shape[0]):
            q, it = ik.solve(q, np.nan_to_num(pos[i]), vis[i])
            its.append(it)
        dt = time.perf_counter() - t0
        if pos.shape[0] / dt > best:
            best, iters = pos.shape[0] / dt, float(np.mean(its))
    return best, iters


def time_kinematics(m: mujoco.MjModel, qpos: np.ndarray, reps: int = 10) -> float:
    d = mujoco.MjData(m)
    t0 = time.perf_counter()
    for _ in range(reps):
        for q in qpos:
            d.qpos[:] = q
            mujoco.mj_kinematics(m, d)
    return reps * qpos.shape[0] / (time.perf_counter() - t0)


def time_opensim(py: Path, mk, res) -> tuple[float, dict[str, tuple[float, float]]] | None:  # type: ignore[no-untyped-def]
    """OpenSim IK frames/s and, per coordinate, (r, RMSE deg) of mmbio against it."""
    with tempfile.TemporaryDirectory() as tmp:
        trc, out = Path(tmp) / "trial.trc", Path(tmp) / "ik.mot"
        write_trc(trc, mk)
        r = subprocess.run(
            [str(py), "-c", _OPENSIM_IK, str(OSIM), str(trc), str(mk.time[0]), str(mk.time[-1]), str(out)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp,  # OpenSim writes opensim.log into its working folder
        )
        line = [x for x in r.stdout.splitlines() if x.startswith("IK_SECONDS")]
        if r.returncode or not line:
            print(f"OpenSim IK failed: {r.stderr[-500:]}")
            return None
        seconds = float(line[0].split()[1])
        st = read_storage(out)
    ref = {_bare_name(c): st.data[:, i] for i, c in enumerate(st.columns)}
    df = opensim_coordinates(res)
    cmp = {}
    for c in ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "hip_flexion_r", "hip_adduction_r", "knee_angle_r",
              "ankle_angle_r", "hip_flexion_l", "hip_adduction_l", "knee_angle_l", "ankle_angle_l"):  # fmt: skip
        x, y = df[c].to_numpy(), np.interp(df["time"], ref["time"], ref[c])
        cmp[c] = (float(np.corrcoef(x, y)[0, 1]), float(np.sqrt(np.mean((x - y) ** 2))))
    return mk.time.size / seconds, cmp


def time_mink(res, mk) -> tuple[float, float, float, float, float]:  # type: ignore[no-untyped-def]
    """mink frames/s, marker RMS (m), median and max |q − q_mmbio| of the leg joints (deg), and the largest
    joint-equality violation (rad or m)."""
    import mink

    from mmbio.models.anatomy import coupled_qpos

    ms = marker_sets()[res.marker_set]
    spec = mujoco.MjSpec.from_file(str(__import__("musclemimic_models").get_xml_path("myofullbody")))
    from mmbio.models.registry import _remove_fingers

    _remove_fingers(spec)
    sites = []
    for n in res.marker_names:
        j = ms.markers.index(n)
        body = spec.body(ms.bodies[j])
        body.add_site(name=f"mk_{n}", pos=ms.offsets[j].tolist())
        sites.append(f"mk_{n}")
    m = spec.compile()
    cfg = mink.Configuration(m)
    tasks = [mink.FrameTask(s, "site", position_cost=1.0, orientation_cost=0.0) for s in sites]
    eq = mink.EqualityConstraintTask(m, cost=100.0)
    limits = [mink.ConfigurationLimit(m)]
    idx = [mk.names.index(n) for n in res.marker_names]
    pos = mk.positions[:, idx] @ _LAB_TO_MJ.T
    cfg.update(res.motion.qpos[0])
    t0 = time.perf_counter()
    err, qs = [], []
    for i in range(pos.shape[0]):
        for t, p in zip(tasks, pos[i], strict=True):
            t.set_target(mink.SE3.from_translation(np.nan_to_num(p)))
        last = np.inf
        for _ in range(50):
            v = mink.solve_ik(cfg, [*tasks, eq], 0.01, "daqp", damping=1e-6, limits=limits)
            cfg.integrate_inplace(v, 0.01)
            e = float(np.sum([np.sum((cfg.get_transform_frame_to_world(s, "site").translation() - p) ** 2)
                              for s, p in zip(sites, pos[i], strict=True)]))  # fmt: skip
            if last - e < 1e-8:
                break
            last = e
        err.append(np.sqrt(e / len(sites)))
        qs.append(cfg.q.copy())
    dt = time.perf_counter() - t0
    legs = [m.joint(n).qposadr[0] for n in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l")]
    qs = np.array(qs)
    dq = np.degrees(np.abs(qs[:, legs] - res.motion.qpos[:, legs]))
    viol = float(np.max(np.abs(coupled_qpos(m, qs) - qs)))
    return pos.shape[0] / dt, float(np.mean(err)), float(np.median(dq)), float(dq.max()), viol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trial", nargs="?", default=str(DEFAULT_TRIAL))
    ap.add_argument("--opensim-python", default=str(OSIM_PY) if OSIM_PY.exists() else None)
    ap.add_argument("--mink", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    mk = read_markers(args.trial)
    t0 = time.perf_counter()
    res = marker_ik(mk)
    e2e = time.perf_counter() - t0
    m = res.motion.mj_model()
    fps, iters = time_mmbio(res, mk)
    kin = time_kinematics(m, res.motion.qpos)
    rms = float(np.sqrt(np.nanmean(res.marker_error_m**2)))
    print(f"trial {Path(args.trial).name}: {mk.time.size} frames, {len(mk.names)} markers in the file, "
          f"{len(res.marker_names)} in set {res.marker_set}; marker RMS {100 * rms:.2f} cm")  # fmt: skip
    print(f"python {platform.python_version()}, mujoco {mujoco.__version__}, numpy {np.__version__}, one core")
    print(f"{'method':44s} {'frames/s':>10s} {'vs mmbio IK':>12s}")
    print(f"{'mmbio IK, warm start (LM, ' + f'{iters:.1f} it/frame)':44s} {fps:10.0f} {1.0:12.2f}")
    print(f"{'marker_ik end to end (+ model compile)':44s} {mk.time.size / e2e:10.0f} {mk.time.size / e2e / fps:12.2f}")
    print(f"{'mj_kinematics alone (in-process floor)':44s} {kin:10.0f} {kin / fps:12.2f}")
    if args.opensim_python:
        out = time_opensim(Path(args.opensim_python), mk, res)
        if out:
            os_fps, cmp = out
            print(f"{'OpenSim 4.6 IK (own venv, unscaled model)':44s} {os_fps:10.0f} {os_fps / fps:12.3f}")
            print("mmbio vs OpenSim IK, same unscaled model and markers (r, RMSE deg):")
            print("  " + "  ".join(f"{c} {r:.3f}/{e:.1f}" for c, (r, e) in cmp.items()))
    if args.mink:
        mfps, mrms, dq_med, dq_max, viol = time_mink(res, mk)
        print(f"{'mink 1.3 (daqp, ≤ 50 steps/frame)':44s} {mfps:10.1f} {mfps / fps:12.3f}")
        print(f"  mink marker RMS {100 * mrms:.2f} cm (mmbio {100 * rms:.2f}); legs |Δq| vs mmbio median {dq_med:.2f}°, "
              f"max {dq_max:.2f}°; joint equalities violated by up to {viol:.2g} (mmbio: 0, exact)")  # fmt: skip


if __name__ == "__main__":
    main()
