"""OpenSim's own static optimisation vs mmbio's on the Rajagopal walk: activations, solve speed, EMG.

Usage::

    taskset -c 0 python benchmarks/opensim_static_opt.py [--opensim-python PY] [--osim MODEL] [--ref DIR]
        [--t0 0.50] [--t1 1.75] [--keep DIR]

The OpenSim part runs in a separate interpreter (``--opensim-python``, default ``/work/venv-osim/bin/python``,
a venv with ``pip install opensim``) so the project's venv stays free of it; this script (run with the
project's venv) prepares the inputs, runs that interpreter on itself with ``--worker`` and reads the
``.sto`` it writes. It prints a skip message and exits 0 when that interpreter cannot import ``opensim``
or the model file is absent.

Model: the subject-scaled Rajagopal model that produced the trial's IK (``subject_walk_scaled.osim`` of
opensim-core's ``OpenSim/Examples/Moco/example3DWalking``, 80 Millard muscles, 85.3 kg), default
``/work/osim/subject_walk_scaled.osim``. OpenSim set-up, chosen to mirror mmbio's QP:

* coordinates: ``coordinates.sto`` with the patella columns converted from degrees to radians (the
  README trap), bare coordinate names, resampled to 100 Hz (every 10th row of the 1 kHz IK, the rate of
  mmbio's ``motion_from_opensim``); AnalyzeTool low-pass 6 Hz on coordinates (the usual set-up; mmbio
  does not filter: cubic spline + central differences);
* external loads: built from the GRF ``.mot`` column names (``<prefix>_r_v*``, ``_p*``, torque), right /
  left applied to ``calcn_r`` / ``calcn_l``, force and point expressed in ground;
* StaticOptimization: activation exponent 2, ``use_model_force_set`` true, muscle physiology on,
  convergence 1e-4, 100 iterations; actuators added (``force_set_files``, model force set kept): one
  reserve per leg coordinate (hip ×3, knee, ankle, mtp per side) of optimal force 1 N·m (cost weight
  1 per (N·m)², as mmbio's ``reserve_weight=1``) and 6 pelvis residuals (CoordinateActuators on the
  pelvis coordinates) of optimal force 10 (weight 1e-2 per N², mmbio's ``residual_weight``). Lumbar and
  arms keep the model's own CoordinateActuators (optimal force 50).

mmbio: :func:`mmbio.control.static_opt.static_optimisation` on ``motion_from_opensim(..., floor='global')``
with the measured GRF, default settings, the same frames. Compared per muscle (Rajagopal names are
MyoFullBody's leg actuator names): Pearson r of the two activation series and both means; the
activation–EMG r of both for the 10 EMG channels (model muscles per EMG channel:
:data:`mmbio.analysis.muscles.EMG_TO_MODEL`, bundles averaged), and frames/s of both solvers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

DEFAULT_PY = "/work/venv-osim/bin/python"
DEFAULT_OSIM = "/work/osim/subject_walk_scaled.osim"
RESERVE_COORDS = [f"{c}_{s}" for s in "rl" for c in ("hip_flexion", "hip_adduction", "hip_rotation")] + [
    f"{c}_{s}" for s in "rl" for c in ("knee_angle", "ankle_angle", "mtp_angle")
]
PELVIS_COORDS = ["pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz"]
RESERVE_OPTIMAL_FORCE = 1.0
RESIDUAL_OPTIMAL_FORCE = 10.0
NAME = "osim_so"


# --------------------------------------------------------------------------------------------------
# OpenSim worker (runs in the opensim interpreter; standard library + opensim only)
# --------------------------------------------------------------------------------------------------


def _actuators_xml() -> str:
    rows = []
    for coords, opt, prefix in ((RESERVE_COORDS, RESERVE_OPTIMAL_FORCE, "reserve"),
                                (PELVIS_COORDS, RESIDUAL_OPTIMAL_FORCE, "residual")):  # fmt: skip
        for c in coords:
            rows.append(
                f'<CoordinateActuator name="{prefix}_{c}"><min_control>-1000</min_control>'
                f"<max_control>1000</max_control><coordinate>{c}</coordinate>"
                f"<optimal_force>{opt}</optimal_force></CoordinateActuator>"
            )
    body = "\n".join(rows)
    return f'<?xml version="1.0" encoding="UTF-8" ?>\n<OpenSimDocument Version="40000">\n<ForceSet name="reserves">\n<objects>\n{body}\n</objects>\n<groups />\n</ForceSet>\n</OpenSimDocument>\n'


def _external_loads_xml(grf_columns: list[str], grf_path: str) -> str:
    """ExternalLoads from the GRF column names: ``…_r_vx`` → force id ``…_r_v``, point ``…_r_p``, torque."""
    forces = []
    for side, body in (("r", "calcn_r"), ("l", "calcn_l")):
        v = [c for c in grf_columns if c.endswith("vx") and f"_{side}_" in c and "force" in c]
        p = [c for c in grf_columns if c.endswith("px") and f"_{side}_" in c]
        m = [c for c in grf_columns if c.endswith("_x") and f"_{side}_" in c and "torque" in c]
        if len(v) != 1 or len(p) != 1:
            raise SystemExit(f"cannot find one force/point column set for side {side} in {grf_columns}")
        torque = f"<torque_identifier>{m[0][:-1]}</torque_identifier>" if m else ""
        forces.append(
            f'<ExternalForce name="{side}_grf"><applied_to_body>{body}</applied_to_body>'
            "<force_expressed_in_body>ground</force_expressed_in_body>"
            "<point_expressed_in_body>ground</point_expressed_in_body>"
            f"<force_identifier>{v[0][:-1]}</force_identifier><point_identifier>{p[0][:-1]}</point_identifier>"
            f"{torque}</ExternalForce>"
        )
    body = "\n".join(forces)
    return (
        f'<?xml version="1.0" encoding="UTF-8" ?>\n<OpenSimDocument Version="40000">\n<ExternalLoads name="grf">\n'
        f"<objects>\n{body}\n</objects>\n<groups />\n<datafile>{grf_path}</datafile>\n</ExternalLoads>\n</OpenSimDocument>\n"
    )


def _setup_xml(cfg: dict) -> str:
    t0, t1 = cfg["t0"], cfg["t1"]
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
<AnalyzeTool name="{NAME}">
  <model_file>{cfg["osim"]}</model_file>
  <replace_force_set>false</replace_force_set>
  <force_set_files>{cfg["actuators"]}</force_set_files>
  <results_directory>{cfg["out"]}</results_directory>
  <output_precision>10</output_precision>
  <initial_time>{t0}</initial_time>
  <final_time>{t1}</final_time>
  <solve_for_equilibrium_for_auxiliary_states>false</solve_for_equilibrium_for_auxiliary_states>
  <AnalysisSet name="Analyses"><objects>
    <StaticOptimization name="StaticOptimization">
      <on>true</on><start_time>{t0}</start_time><end_time>{t1}</end_time><step_interval>1</step_interval>
      <in_degrees>true</in_degrees><use_model_force_set>true</use_model_force_set>
      <activation_exponent>2</activation_exponent><use_muscle_physiology>true</use_muscle_physiology>
      <optimizer_convergence_criterion>0.0001</optimizer_convergence_criterion>
      <optimizer_max_iterations>100</optimizer_max_iterations>
    </StaticOptimization>
  </objects><groups /></AnalysisSet>
  <ControllerSet name="Controllers"><objects /><groups /></ControllerSet>
  <external_loads_file>{cfg["external_loads"]}</external_loads_file>
  <coordinates_file>{cfg["coordinates"]}</coordinates_file>
  <lowpass_cutoff_frequency_for_coordinates>6</lowpass_cutoff_frequency_for_coordinates>
</AnalyzeTool>
</OpenSimDocument>
"""


def worker(cfg_path: str) -> None:
    """Run OpenSim's AnalyzeTool + StaticOptimization; write timings to ``<out>/timing.json``."""
    import opensim as osim

    cfg = json.loads(Path(cfg_path).read_text())
    out = Path(cfg["out"])
    (out / "actuators.xml").write_text(_actuators_xml())
    (out / "grf.xml").write_text(_external_loads_xml(cfg["grf_columns"], cfg["grf"]))
    cfg.update(actuators=str(out / "actuators.xml"), external_loads=str(out / "grf.xml"))
    (out / "setup.xml").write_text(_setup_xml(cfg))
    # the same tool on 2 frames: its run time is the per-run set-up (initSystem, filtering, loads) + 2 solves
    (out / "short").mkdir(exist_ok=True)
    short = dict(cfg, out=str(out / "short"), t1=cfg["t0"] + 0.01)
    (out / "setup_short.xml").write_text(_setup_xml(short))
    osim.Logger.setLevelString("warn")
    t = time.perf_counter()
    tool = osim.AnalyzeTool(str(out / "setup.xml"))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    ok = tool.run()
    run_s = time.perf_counter() - t
    t = time.perf_counter()
    osim.AnalyzeTool(str(out / "setup_short.xml")).run()
    short_s = time.perf_counter() - t
    model = osim.Model(cfg["osim"])
    mass = sum(model.getBodySet().get(i).getMass() for i in range(model.getBodySet().getSize()))
    timing = {"load_s": load_s, "run_s": run_s, "short_run_s": short_s, "ok": bool(ok), "mass_kg": mass,
              "opensim": osim.GetVersionAndDate()}  # fmt: skip
    (out / "timing.json").write_text(json.dumps(timing))


# --------------------------------------------------------------------------------------------------
# Driver (project venv)
# --------------------------------------------------------------------------------------------------


def _pearson(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _prepare_coordinates(ref: Path, path: Path) -> None:
    """Beta columns degrees → radians, bare coordinate names, 1 kHz → 100 Hz (every 10th row)."""
    import numpy as np
    import pandas as pd

    from mmbio.io.opensim import read_storage, write_storage

    st = read_storage(ref / "coordinates.sto")
    step = max(1, round(0.01 / float(np.median(np.diff(st.time)))))
    cols = {}
    for j, c in enumerate(st.columns[1:], start=1):
        name = [p for p in c.split("/") if p][-2] if c.startswith("/") else c
        vals = st.data[::step, j]
        cols[name] = np.deg2rad(vals) if name.endswith("_beta") else vals
    df = pd.DataFrame(cols, index=pd.Index(st.time[::step], name="time"))
    write_storage(path, df, in_degrees=False, name="coordinates")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--opensim-python", default=DEFAULT_PY)
    ap.add_argument("--osim", default=DEFAULT_OSIM)
    ap.add_argument(
        "--ref", default=str(Path(__file__).resolve().parents[1].parent / "shared/reference/rajagopal2016_walk")
    )
    ap.add_argument("--t0", type=float, default=0.50)
    ap.add_argument("--t1", type=float, default=1.75)
    ap.add_argument("--keep", default=None, help="copy OpenSim's outputs to this folder")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    ref, osim_path = Path(args.ref), Path(args.osim)
    if not osim_path.is_file():
        print(f"SKIP: OpenSim model {osim_path} not found (see the module docstring for where it comes from)")
        return 0
    if not (ref / "coordinates.sto").is_file():
        print(f"SKIP: {ref} lacks coordinates.sto")
        return 0
    probe = subprocess.run([args.opensim_python, "-c", "import opensim; print(opensim.__version__)"],
                           capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0:
        print(f"SKIP: {args.opensim_python} cannot import opensim ({probe.stderr.strip().splitlines()[-1:]})")
        return 0

    import mujoco
    import numpy as np

    from mmbio.analysis.muscles import EMG_TO_MODEL
    from mmbio.control.static_opt import StaticOptimiser, static_optimisation
    from mmbio.io.opensim import read_opensim_activations, read_opensim_emg, read_opensim_grf, read_storage
    from mmbio.sim.motion import motion_from_opensim

    tmp = Path(tempfile.mkdtemp(prefix="osim_so_"))
    _prepare_coordinates(ref, tmp / "coordinates.mot")
    grf_st = read_storage(ref / "grf_walk.mot")
    cfg = {"osim": str(osim_path.resolve()), "grf": str((ref / "grf_walk.mot").resolve()), "out": str(tmp),
           "coordinates": str(tmp / "coordinates.mot"), "t0": args.t0, "t1": args.t1,
           "grf_columns": grf_st.columns[1:]}  # fmt: skip
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    proc = subprocess.run([args.opensim_python, str(Path(__file__).resolve()), "--worker", str(tmp / "cfg.json")],
                          capture_output=True, text=True, cwd=tmp)  # fmt: skip
    act_file = tmp / f"{NAME}_StaticOptimization_activation.sto"
    if proc.returncode != 0 or not act_file.is_file():
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        print(f"FAILED: OpenSim static optimisation did not write {act_file.name}")
        return 1
    timing = json.loads((tmp / "timing.json").read_text())
    osim_act = read_opensim_activations(act_file)
    osim_force = read_opensim_activations(tmp / f"{NAME}_StaticOptimization_force.sto")
    if args.keep:
        shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
    n_osim = osim_act.time.size

    # ---- mmbio on the same frames
    motion = motion_from_opensim(ref / "coordinates.sto", floor="global")
    grf = read_opensim_grf(ref / "grf_walk.mot")
    tq0 = float(read_storage(ref / "coordinates.sto").time[0])
    k0, k1 = round((args.t0 - tq0) * motion.rate_hz), round((args.t1 - tq0) * motion.rate_hz)
    t = time.perf_counter()
    opt = StaticOptimiser(motion.mj_model())
    setup_s = time.perf_counter() - t
    static_optimisation(motion, grf=grf, t0_s=tq0, frames=slice(k0, k0 + 3), optimiser=opt)  # warm-up
    t = time.perf_counter()
    res = static_optimisation(motion, grf=grf, t0_s=tq0, frames=slice(k0, k1 + 1), optimiser=opt)
    mm_s = time.perf_counter() - t
    mm_t = res.time + tq0
    n_mm = mm_t.size

    # ---- per-muscle comparison on mmbio's time base (OpenSim interpolated; both 100 Hz, same stamps)
    osim_muscles = [n for n in osim_act.names if n in res.muscle_names]
    rows = []
    for name in osim_muscles:
        a_o = np.interp(mm_t, osim_act.time, osim_act.values[:, osim_act.names.index(name)])
        a_m = res.activations[:, res.muscle_names.index(name)]
        rows.append((name, _pearson(a_o, a_m), float(a_o.mean()), float(a_m.mean())))
    rs = np.array([r[1] for r in rows])
    finite = rs[np.isfinite(rs)]

    # ---- activation–EMG r (right leg), EMG envelopes interpolated onto the SO time base
    emg = read_opensim_emg(ref / "electromyography.sto", side="r")
    emg_rows = []
    for ch in emg.names:
        base = ch.rsplit("_", 1)[0]
        bases = EMG_TO_MODEL.get(base)
        if not bases:
            continue
        e = np.interp(mm_t, emg.time, emg.values[:, emg.names.index(ch)])
        a_o = np.mean([np.interp(mm_t, osim_act.time, osim_act.values[:, osim_act.names.index(f"{b}_r")])
                       for b in bases], axis=0)  # fmt: skip
        a_m = np.mean([res.activations[:, res.muscle_names.index(f"{b}_r")] for b in bases], axis=0)
        emg_rows.append((base, "+".join(bases), _pearson(a_o, e), _pearson(a_m, e), _pearson(a_o, a_m)))

    # ---- OpenSim residuals / reserves (actuator force = control × optimal force)
    def _col(ch, n):
        return ch.values[:, ch.names.index(n)]

    res_f = np.stack([_col(osim_force, f"residual_{c}") for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")], axis=1)
    mass = float(mujoco.mj_getTotalmass(opt.model))
    osim_res_bw = float(np.sqrt(np.mean(np.sum(res_f**2, axis=1))) / (timing["mass_kg"] * 9.81))
    reserves = {c: float(np.abs(_col(osim_force, f"reserve_{c}")).max()) for c in RESERVE_COORDS}
    worst = max(reserves.items(), key=lambda kv: kv[1])

    print(f"OpenSim static optimisation vs mmbio, Rajagopal walk, t = {args.t0:.2f}–{args.t1:.2f} s")
    print(f"OpenSim {timing['opensim']}; model {osim_path.name} ({timing['mass_kg']:.1f} kg); mmbio MyoFullBody ({opt.n_mus} muscles, "
          f"{mass:.1f} kg), mujoco {mujoco.__version__}, osqp {opt.osqp_version}")  # fmt: skip
    print(f"\n{'muscle':<14} {'r':>6} {'mean a OpenSim':>15} {'mean a mmbio':>13}")
    for name, r, mo, mm in rows:
        print(f"{name:<14} {r:>6.2f} {mo:>15.3f} {mm:>13.3f}")
    print(f"\nper-muscle r over {len(rows)} muscles ({finite.size} defined): median {np.median(finite):.2f}, "
          f"mean {finite.mean():.2f}, IQR {np.percentile(finite, 25):.2f}–{np.percentile(finite, 75):.2f}, "
          f"r > 0.5: {int((finite > 0.5).sum())}, r < 0: {int((finite < 0).sum())}")  # fmt: skip
    for side in "rl":
        fs = np.array([r for (n, r, *_x) in rows if n.endswith(f"_{side}") and np.isfinite(r)])
        print(f"  {side} leg: median r {np.median(fs):.2f}, mean r {fs.mean():.2f} ({fs.size} muscles)")
    print(
        f"\n{'EMG channel':<20} {'model muscles':<22} {'r OpenSim–EMG':>14} {'r mmbio–EMG':>12} {'r OpenSim–mmbio':>16}"
    )
    for base, bases, ro, rm, rom in emg_rows:
        print(f"{base:<20} {bases:<22} {ro:>14.2f} {rm:>12.2f} {rom:>16.2f}")
    ro_all = np.array([r[2] for r in emg_rows])
    rm_all = np.array([r[3] for r in emg_rows])
    print(f"{'mean':<43} {np.nanmean(ro_all):>14.2f} {np.nanmean(rm_all):>12.2f}")
    # OpenSim frames/s from the difference of a full and a 2-frame run (removes the per-run set-up)
    fps_o = (n_osim - 2) / (timing["run_s"] - timing["short_run_s"])
    fps_o_total = n_osim / timing["run_s"]
    fps_m = n_mm / mm_s
    print(f"\nspeed (one core): OpenSim {n_osim} frames, AnalyzeTool.run {timing['run_s']:.2f} s "
          f"({fps_o_total:.1f} frames/s incl. its set-up; a 2-frame run takes {timing['short_run_s']:.2f} s) "
          f"→ {fps_o:.1f} frames/s solving; mmbio {n_mm} frames in {mm_s:.2f} s = {fps_m:.1f} frames/s "
          f"(StaticOptimiser set-up {setup_s:.2f} s once); ratio mmbio/OpenSim {fps_m / fps_o:.0f}x "
          f"({fps_m / fps_o_total:.0f}x against OpenSim incl. set-up)")  # fmt: skip
    print(f"residuals: OpenSim pelvis force RMS {osim_res_bw:.3f} BW, largest leg reserve {worst[1]:.1f} N·m "
          f"({worst[0]}); mmbio {res.summary()}")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
