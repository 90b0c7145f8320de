"""OpenSim 4.6's ``Umberger2010MuscleMetabolicsProbe`` vs mmbio's Umberger model on the same muscle states, and
the decomposition of the demo's metabolic power (issue 13, section 4).

Usage::

    taskset -c 0 python benchmarks/opensim_metabolics.py [--opensim-python PY] [--ref DIR] [--t0 0.48]
        [--t1 1.61] [--demo checkpoints/tracking_walk.pkl] [--fixture tests/data/opensim_umberger_parity.csv]
        [--skip-demo]

Part 1, parity (needs OpenSim): the OpenSim part runs in a separate interpreter (``--opensim-python``, default
``/work/venv-osim/bin/python``, a venv with ``pip install opensim==4.6``), as in ``opensim_static_opt.py``; this
script (project venv) prepares the inputs, runs that interpreter on itself with ``--worker`` and reads the JSON it
writes. Without that interpreter it prints a SKIP line for part 1 and goes on with part 2.

* Muscles: the 80 lower-limb muscles of Rajagopal et al. (2016) as OpenSim ``Millard2012EquilibriumMuscle``\\ s with
  the published F_max, l_opt, tendon slack length, pennation and v_max = 10 l_opt/s (mmbio's table
  ``mmbio/models/data/rajagopal2016_muscles.csv``; the scaled ``subject_walk_scaled.osim`` is not on this machine
  and the generic ``Rajagopal2015_SchreiberMoissenet2019.osim`` of the reference folder has no muscles), the other
  Millard properties at OpenSim's defaults, **rigid tendon** (``ignore_tendon_compliance``: fibre states follow
  from the musculotendon path alone, as in MuJoCo; a compliant tendon needs a forward integration, see
  RESULTS.md). Each muscle spans ground → a body on its own slider joint, so its path length is the slider
  coordinate: every muscle takes its own musculotendon length and velocity.
* States per frame: musculotendon length and velocity of the same-named MyoFullBody actuators; activation and
  excitation per set:
  ``walk`` — the Rajagopal walk (``coordinates.sto`` replayed on MyoFullBody, ``--t0``–``--t1``, 100 Hz),
  activations from mmbio's static optimisation with the measured GRF, excitations from inverting MuJoCo's
  activation dynamics (u = a + τ(u, a)·ȧ, the actuator's own time constants); ``demo`` — the demo checkpoint's
  own excitations, activations and musculotendon states (its 80 leg muscles, every 2nd frame).
* OpenSim side: per frame the coordinates, speeds, activations (``setActivation``) and controls (``setControls``)
  are set and the model realised to Dynamics; six probes (basal off, fast-twitch fraction 0.5 = OpenSim's
  ``ratio_slow_twitch_fibers`` 0.5, σ 0.25 MPa, ρ 1059.7 kg/m³, all OpenSim defaults) report per muscle:
  ``published`` (Umberger 2010 as published: ``use_Bhargava_recruitment_model``,
  ``include_negative_mechanical_work`` and ``forbid_negative_total_power`` false), the same with one term on at a
  time (``am``, ``sl``, ``w``), without the 1 W/kg floor (``nofloor``), and OpenSim 4.6's defaults
  (``default46``: Bhargava recruitment, negative work and α_L = 4 α_ST, no negative total).
* mmbio side, on the states OpenSim reports (getControl, getActivation, getNormalizedFiberLength,
  getFiberVelocity, getActiveForceLengthMultiplier, getActiveFiberForce): (A) the energy model alone,
  :func:`mmbio.sim.metabolics.umberger_fibre_rates` with OpenSim's fibre quantities; (B) mmbio's full path
  :func:`~mmbio.sim.metabolics.umberger_rates`, which takes only fibre length and velocity and computes F_iso and
  the active fibre force with MuJoCo's curves (MyoFullBody's ``lmin``/``lmax``/``fvmax`` for the muscle).
  Compared per muscle: the mean power over the frames, % difference (mmbio − OpenSim) / OpenSim.

Part 2, the demo's power decomposition (no OpenSim needed): the demo checkpoint rolled out (3 cycles), mmbio's
metabolic power per term (activation/maintenance, shortening, lengthening, the floor's top-up, positive work) and
per muscle group, for: the controller's activations; the same frames with every muscle at a constant 5 %
excitation and activation; static optimisation (min Σa², MuJoCo contacts' GRF) of the same simulated motion; and
OpenSim 4.6's default options — each with the masses before (σ = 0.25 MPa everywhere) and after issue 13
(Rajagopal's σ = 0.6 MPa for its 80 leg muscles).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

DEFAULT_PY = "/work/venv-osim/bin/python"
ROOT = Path(__file__).resolve().parents[1]
PROBES = {  # name: (am, shortening, work, floor, bhargava, negative work, forbid negative total)
    "published": (True, True, True, True, False, False, False),
    "am": (True, False, False, True, False, False, False),
    "sl": (False, True, False, True, False, False, False),
    "w": (False, False, True, True, False, False, False),
    "nofloor": (True, True, True, False, False, False, False),
    "default46": (True, True, True, True, True, True, True),
}
STATE_KEYS = ("exc", "act", "l_norm", "v_fibre", "f_iso", "f_active")


# --------------------------------------------------------------------------------------------------
# OpenSim worker (runs in the opensim interpreter; standard library + opensim only)
# --------------------------------------------------------------------------------------------------


def worker(cfg_path: str) -> None:
    """Evaluate the probes on every frame of every input set; write ``<out>/osim.json``."""
    import opensim as osim

    cfg = json.loads(Path(cfg_path).read_text())
    osim.Logger.setLevelString("warn")
    names = cfg["names"]
    model = osim.Model()
    model.setName("umberger_parity")
    model.setGravity(osim.Vec3(0, 0, 0))
    ground = model.getGround()
    for n, (f_max, l_opt, l_slack, penn, v_max) in zip(names, cfg["params"], strict=True):
        body = osim.Body(f"b_{n}", 1.0, osim.Vec3(0), osim.Inertia(1e-3, 1e-3, 1e-3, 0, 0, 0))
        model.addBody(body)
        joint = osim.SliderJoint(f"j_{n}", ground, osim.Vec3(0), osim.Vec3(0), body, osim.Vec3(0), osim.Vec3(0))
        joint.updCoordinate().setName(f"q_{n}")
        joint.updCoordinate().setRangeMin(0.0)
        joint.updCoordinate().setRangeMax(5.0)
        model.addJoint(joint)
        mus = osim.Millard2012EquilibriumMuscle(n, f_max, l_opt, l_slack, penn)
        mus.setMaxContractionVelocity(v_max)
        mus.set_ignore_tendon_compliance(True)
        mus.set_minimum_activation(0.0)  # rigid tendon: no lower bound needed; activations pass unclamped
        mus.addNewPathPoint(f"{n}_origin", ground, osim.Vec3(0, 0, 0))
        mus.addNewPathPoint(f"{n}_insertion", body, osim.Vec3(0, 0, 0))
        model.addForce(mus)
    probes = {}
    for pname, (am, sl, w, floor, bh, neg, forbid) in PROBES.items():
        p = osim.Umberger2010MuscleMetabolicsProbe(am, sl, False, w)  # basal rate off
        p.setName(pname)
        p.set_report_total_metabolics_only(False)
        p.set_enforce_minimum_heat_rate_per_muscle(floor)
        p.set_use_Bhargava_recruitment_model(bh)
        p.set_include_negative_mechanical_work(neg)
        p.set_forbid_negative_total_power(forbid)
        model.addProbe(p)
        for n in names:
            p.addMuscle(n, 0.5)  # ratio_slow_twitch_fibers; mass from F_max, l_opt, σ 0.25 MPa, ρ 1059.7
        probes[pname] = p
    state = model.initSystem()
    coords = [model.getCoordinateSet().get(f"q_{n}") for n in names]
    muscles = [osim.Millard2012EquilibriumMuscle.safeDownCast(model.getMuscles().get(n)) for n in names]
    out: dict = {"opensim": osim.GetVersionAndDate(), "mass": [probes["published"].getMuscleMass(n) for n in names],
                 "sets": {}}  # fmt: skip
    for set_name, inp in cfg["sets"].items():
        rec: dict = {k: [] for k in (*STATE_KEYS, *PROBES)}
        t = time.perf_counter()
        for length, vel, act, exc in zip(inp["length"], inp["velocity"], inp["act"], inp["exc"], strict=True):
            for c, mus, x, v, a in zip(coords, muscles, length, vel, act, strict=True):
                c.setValue(state, x, False)
                c.setSpeedValue(state, v)
                mus.setActivation(state, a)
            model.realizeVelocity(state)
            ctrl = model.updControls(state)
            for i, u in enumerate(exc):
                ctrl.set(i, u)
            model.setControls(state, ctrl)
            model.realizeDynamics(state)
            rec["exc"].append([m.getControl(state) for m in muscles])
            rec["act"].append([m.getActivation(state) for m in muscles])
            rec["l_norm"].append([m.getNormalizedFiberLength(state) for m in muscles])
            rec["v_fibre"].append([m.getFiberVelocity(state) for m in muscles])
            rec["f_iso"].append([m.getActiveForceLengthMultiplier(state) for m in muscles])
            rec["f_active"].append([m.getActiveFiberForce(state) for m in muscles])
            for pname, p in probes.items():
                vals = p.getProbeOutputs(state)
                rec[pname].append([vals.get(i + 2) for i in range(len(names))])  # 0 total, 1 basal, then muscles
        rec["wall_s"] = time.perf_counter() - t
        out["sets"][set_name] = rec
    Path(cfg["out"], "osim.json").write_text(json.dumps(out))


# --------------------------------------------------------------------------------------------------
# Driver (project venv)
# --------------------------------------------------------------------------------------------------


def _mt_states(model, qpos, qvel, ids):
    """(T, m) musculotendon length (m) and velocity (m/s) of actuators ``ids`` along a trajectory."""
    import mujoco
    import numpy as np

    d = mujoco.MjData(model)
    length, vel = np.zeros((len(qpos), len(ids))), np.zeros((len(qpos), len(ids)))
    for k in range(len(qpos)):
        d.qpos[:], d.qvel[:] = qpos[k], qvel[k]
        mujoco.mj_forward(model, d)
        length[k], vel[k] = d.actuator_length[ids], d.actuator_velocity[ids]
    return length, vel


def excitation_from_activation(act, dt: float, tau_act, tau_deact):
    """Invert MuJoCo's muscle activation dynamics: u = a + τ(u, a)·ȧ, τ = τ_act(0.5 + 1.5a) when ȧ > 0 (u > a),
    τ_deact / (0.5 + 1.5a) otherwise; ȧ by central differences; clipped to [0, 1]."""
    import numpy as np

    a = np.asarray(act, float)
    da = np.gradient(a, dt, axis=0)
    tau = np.where(da > 0, tau_act * (0.5 + 1.5 * a), tau_deact / (0.5 + 1.5 * a))
    return np.clip(a + tau * da, 0.0, 1.0)


def walk_inputs(ref: Path, t0: float, t1: float) -> dict:
    """The Rajagopal walk replayed on MyoFullBody (``t0``–``t1``, 100 Hz) with mmbio's static optimisation (measured
    GRF): every muscle's excitation (inverted activation dynamics), activation, musculotendon length and velocity."""
    import numpy as np

    from mmbio.control.static_opt import StaticOptimiser, static_optimisation
    from mmbio.io.opensim import read_opensim_grf, read_storage
    from mmbio.sim.motion import motion_from_opensim

    motion = motion_from_opensim(ref / "coordinates.sto", floor="global")
    grf = read_opensim_grf(ref / "grf_walk.mot")
    tq0 = float(read_storage(ref / "coordinates.sto").time[0])
    k0, k1 = round((t0 - tq0) * motion.rate_hz), round((t1 - tq0) * motion.rate_hz)
    m = motion.mj_model()
    so = static_optimisation(motion, grf=grf, t0_s=tq0, frames=slice(k0, k1 + 1), optimiser=StaticOptimiser(m))
    ids = [m.actuator(n).id for n in so.muscle_names]
    act = so.activations
    exc = excitation_from_activation(act, 1.0 / motion.rate_hz, m.actuator_dynprm[ids, 0], m.actuator_dynprm[ids, 1])
    length, vel = _mt_states(m, motion.qpos[k0 : k1 + 1], motion.qvel[k0 : k1 + 1], ids)
    return {"names": list(so.muscle_names), "exc": exc, "act": act, "length": length, "velocity": vel, "model": m,
            "so_summary": so.summary(), "mass_kg": float(m.body_mass.sum()),
            "speed_m_s": float(np.hypot(*(motion.qpos[k1, :2] - motion.qpos[k0, :2])) * motion.rate_hz / (k1 - k0))}  # fmt: skip


def _rel(a, b):
    """% difference of a against b (NaN where b is 0)."""
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.where(np.abs(b) > 0, 100.0 * (a - b) / np.where(b == 0, 1.0, b), np.nan)


def parity(args, leg_names, demo_inputs, walk_all) -> dict | None:
    """Part 1: run the OpenSim worker on the ``walk`` (and ``demo``) inputs and compare with mmbio."""
    import numpy as np

    from mmbio.sim import metabolics as met

    probe = subprocess.run([args.opensim_python, "-c", "import opensim; print(opensim.__version__)"],
                           capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0:
        print(f"SKIP part 1 (parity): {args.opensim_python} cannot import opensim "
              f"({probe.stderr.strip().splitlines()[-1:]}); create it with "
              f"`python3 -m venv /work/venv-osim && /work/venv-osim/bin/pip install opensim==4.6`")  # fmt: skip
        return None
    ref = Path(args.ref)
    if walk_all is None:
        print(f"SKIP part 1 (parity): {ref} lacks coordinates.sto")
        return None
    mj, so_summary = walk_all["model"], walk_all["so_summary"]
    col = [walk_all["names"].index(n) for n in leg_names]
    walk = {k: walk_all[k][:, col] for k in ("exc", "act", "length", "velocity")}
    prep_s = walk_all["prep_s"]
    table = met.rajagopal_muscle_table()
    rows = [table[n] for n in leg_names]
    sets = {"walk": walk}
    if demo_inputs is not None:
        sets["demo"] = demo_inputs
    tmp = Path(tempfile.mkdtemp(prefix="osim_met_"))
    cfg = {"out": str(tmp), "names": leg_names,
           "params": [[r.max_isometric_force_n, r.optimal_fiber_length_m, r.tendon_slack_length_m,
                       r.pennation_angle_rad, r.max_contraction_velocity_lopt_s] for r in rows],
           "sets": {k: {kk: np.asarray(vv).tolist() for kk, vv in v.items()} for k, v in sets.items()}}  # fmt: skip
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    t = time.perf_counter()
    proc = subprocess.run([args.opensim_python, str(Path(__file__).resolve()), "--worker", str(tmp / "cfg.json")],
                          capture_output=True, text=True, cwd=tmp)  # fmt: skip
    osim_s = time.perf_counter() - t
    if proc.returncode != 0 or not (tmp / "osim.json").is_file():
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        print("FAILED: the OpenSim worker did not write osim.json")
        return None
    res = json.loads((tmp / "osim.json").read_text())

    f_max = np.array([r.max_isometric_force_n for r in rows])
    l_opt = np.array([r.optimal_fiber_length_m for r in rows])
    v_max = np.array([r.max_contraction_velocity_lopt_s for r in rows])
    mass_mm = met.muscle_mass(f_max, l_opt)  # σ 0.25 MPa, OpenSim's default
    mass_os = np.array(res["mass"])
    ids = [mj.actuator(n).id for n in leg_names]
    prm = np.asarray(mj.actuator_gainprm)[ids]
    # (B): mmbio's full path on OpenSim's fibre length/velocity: l̃ = L / l_opt (range 0, length range start 0)
    p_b = met.MuscleParameters(
        names=list(leg_names), f_max=f_max, l_opt=l_opt, v_max=v_max,
        lengthrange=np.column_stack([np.zeros(len(rows)), 10 * l_opt]), op_range=np.column_stack([np.zeros(len(rows)), np.full(len(rows), 10.0)]),
        lmin=prm[:, 4], lmax=prm[:, 5], fpmax=prm[:, 7], fvmax=prm[:, 8], mass=mass_mm,
    )  # fmt: skip
    f_ft = np.full(len(rows), 0.5)
    # (C): mmbio as it runs on MyoFullBody — MuJoCo's own fibre states of the same musculotendon kinematics,
    # MyoFullBody's F_max, the Rajagopal l_opt in the mass, σ 0.25 MPa as in the probe
    p_all = met.muscle_parameters(mj, specific_tensions="umberger2003")
    sel = np.array([p_all.names.index(n) for n in leg_names])
    p_c = dataclasses.replace(
        p_all, names=list(leg_names), mass_source=None,
        **{f.name: getattr(p_all, f.name)[sel] for f in dataclasses.fields(p_all)
           if isinstance(getattr(p_all, f.name), np.ndarray)},
    )  # fmt: skip
    out = {"opensim": res["opensim"], "mass_rel": _rel(mass_mm, mass_os), "sets": {}, "so": so_summary,
           "prep_s": prep_s, "osim_s": osim_s}  # fmt: skip
    for set_name, rec in res["sets"].items():
        st = {k: np.array(rec[k], float) for k in STATE_KEYS}
        osd = {k: np.array(rec[k], float) for k in PROBES}
        args_a = (st["exc"], st["act"], st["l_norm"], st["v_fibre"], l_opt, st["f_iso"], st["f_active"], mass_mm,
                  v_max, f_ft)  # fmt: skip
        am, sl, w = met.umberger_fibre_rates(*args_a)
        am0, sl0, w0 = met.umberger_fibre_rates(*args_a, min_heat_rate=False)
        am46, sl46, w46 = met.umberger_fibre_rates(*args_a, variant="2003", recruitment="bhargava2004")
        mm_a = {"published": (am + sl + w) * mass_mm, "am": am0 * mass_mm, "sl": sl0 * mass_mm, "w": w0 * mass_mm,
                "nofloor": (am0 + sl0 + w0) * mass_mm, "default46": (am46 + sl46 + w46) * mass_mm}  # fmt: skip
        amb, slb, wb = met.umberger_rates(st["exc"], st["act"], st["l_norm"] * l_opt, st["v_fibre"], p_b, f_ft)
        mm_b = (amb + slb + wb) * mass_mm
        am_b0, sl_b0, w_b0 = met.umberger_rates(st["exc"], st["act"], st["l_norm"] * l_opt, st["v_fibre"], p_b, f_ft,
                                                min_heat_rate=False)  # fmt: skip
        terms_b = {"am": am_b0 * mass_mm, "sl": sl_b0 * mass_mm, "w": w_b0 * mass_mm}
        # the work difference split: MuJoCo's force–length factor with OpenSim's force–velocity factor first
        a_pos = np.where(st["act"] * st["f_iso"] > 0, st["act"] * st["f_iso"], np.inf)
        fv_os = st["f_active"] / (f_max * a_pos)
        f_fl = f_max * st["act"] * met.force_length(st["l_norm"], p_b.lmin, p_b.lmax) * fv_os
        terms_b["w_fl_only"] = np.where(st["v_fibre"] <= 0, -f_fl * st["v_fibre"], 0.0)
        inp = sets[set_name]
        mm_c = met.umberger_power(inp["exc"], inp["act"], inp["length"], inp["velocity"], p_c).per_muscle
        out["sets"][set_name] = {"osim": osd, "mm_a": mm_a, "mm_b": mm_b, "terms_b": terms_b, "states": st, "mm_c": mm_c,
                                 "wall_s": rec["wall_s"],
                                 "fiso_mm": met.force_length(st["l_norm"], p_b.lmin, p_b.lmax)}  # fmt: skip
    if args.fixture:
        _write_fixture(Path(args.fixture), leg_names, out["sets"]["walk"], f_max, l_opt, mass_os, v_max, res["opensim"])
    return out


def _write_fixture(path: Path, names, s, f_max, l_opt, mass, v_max, version: str) -> None:
    """A small CSV of OpenSim's probe outputs on chosen (muscle, frame) states that span every branch."""
    import numpy as np

    st, osd = s["states"], s["osim"]
    heat = (osd["am"] + osd["sl"]) / mass
    cats = [  # (label, mask): shortening / lengthening, l̃ ≤ 1 / > 1, heat floor active, u > a and u < a
        ("shortening_short", (st["v_fibre"] < -1e-4) & (st["l_norm"] <= 1)),
        ("shortening_long", (st["v_fibre"] < -1e-4) & (st["l_norm"] > 1)),
        ("lengthening_short", (st["v_fibre"] > 1e-4) & (st["l_norm"] <= 1)),
        ("lengthening_long", (st["v_fibre"] > 1e-4) & (st["l_norm"] > 1)),
        ("floor", heat < 1.0),
        ("u_gt_a", st["exc"] > st["act"] + 0.05),
        ("u_lt_a", st["exc"] < st["act"] - 0.05),
        ("zero_excitation", st["exc"] == 0),
    ]
    rng = np.random.default_rng(13)
    picked: list[tuple[str, int, int]] = []
    for label, mask in cats:
        idx = np.argwhere(mask)
        for k, i in idx[rng.choice(len(idx), min(6, len(idx)), replace=False)] if len(idx) else []:
            picked.append((label, int(k), int(i)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        f.write(f"# OpenSim {version}: Umberger2010MuscleMetabolicsProbe on rigid-tendon Millard2012 muscles "
                "(Rajagopal 2016 parameters, Rajagopal walk states), written by benchmarks/opensim_metabolics.py; "
                "published_* = Umberger 2010 as published (per term: one term on, floor off), default46_* = "
                "OpenSim 4.6 defaults; W per muscle; mass_kg = probe.getMuscleMass\n")  # fmt: skip
        wr = csv.writer(f)
        wr.writerow(["case", "muscle", "frame", "excitation", "activation", "l_norm", "fibre_velocity_m_s",
                     "f_max_n", "l_opt_m", "f_iso", "f_active_n", "mass_kg", "v_max_lopt_s", "published_am_w",
                     "published_sl_w", "published_work_w", "published_nofloor_w", "published_total_w",
                     "default46_total_w"])  # fmt: skip
        for label, k, i in picked:
            wr.writerow([label, names[i], k] + [repr(float(x)) for x in (
                st["exc"][k, i], st["act"][k, i], st["l_norm"][k, i], st["v_fibre"][k, i], f_max[i], l_opt[i],
                st["f_iso"][k, i], st["f_active"][k, i], mass[i], v_max[i], osd["am"][k, i], osd["sl"][k, i],
                osd["w"][k, i], osd["nofloor"][k, i], osd["published"][k, i], osd["default46"][k, i])])  # fmt: skip
    print(f"fixture: {len(picked)} states → {path}")


def print_parity(out: dict, leg_names: list[str]) -> None:
    import numpy as np

    print(f"\n=== Part 1: parity with OpenSim {out['opensim']} (Umberger2010MuscleMetabolicsProbe) ===")
    print(
        f"muscle mass mmbio (ρ F_max l_opt / σ) vs probe.getMuscleMass: max |Δ| {np.nanmax(np.abs(out['mass_rel'])):.1e} %"
    )
    print(f"walk inputs: mmbio static optimisation {out['so']}; prepared in {out['prep_s']:.1f} s, "
          f"OpenSim worker {out['osim_s']:.1f} s")  # fmt: skip
    for set_name, s in out["sets"].items():
        osd, a, b, tb = s["osim"], s["mm_a"], s["mm_b"], s["terms_b"]
        st = s["states"]
        n_frames = osd["published"].shape[0]
        print(f"\n--- set '{set_name}': {n_frames} frames × {len(leg_names)} muscles (OpenSim {s['wall_s']:.1f} s); "
              f"activation mean {st['act'].mean():.3f} (min {st['act'].min():.3f}), excitation > activation in "
              f"{100 * np.mean(st['exc'] > st['act']):.0f} % of muscle-frames, l̃ {st['l_norm'].min():.2f}–"
              f"{st['l_norm'].max():.2f} (> 1 in {100 * np.mean(st['l_norm'] > 1):.0f} %), shortening in "
              f"{100 * np.mean(st['v_fibre'] < 0):.0f} %, heat floor binding in "
              f"{100 * np.mean(osd['published'] > osd['nofloor'] + 1e-12):.1f} %")  # fmt: skip
        mo = {k: v.mean(axis=0) for k, v in osd.items()}
        ma = {k: v.mean(axis=0) for k, v in a.items()}
        mb = b.mean(axis=0)
        dterm = {k: tb[k].mean(axis=0) - mo[k] for k in ("am", "sl", "w")}
        rel_a = _rel(ma["published"], mo["published"])
        rel_a46 = _rel(ma["default46"], mo["default46"])
        rel_b = _rel(mb, mo["published"])
        fiso_d = np.mean(s["fiso_mm"] - st["f_iso"], axis=0)
        if set_name == "walk":
            print(f"{'muscle':<13}{'OpenSim':>8}{'AM':>7}{'SL':>6}{'work':>6}{'floor':>6}{'mmbio A':>8}{'ΔA %':>9}"
                  f"{'4.6 def.':>9}{'ΔA46 %':>9}{'mmbio B':>8}{'ΔB %':>7}{'ΔAM':>6}{'ΔSL':>6}{'ΔW':>6}{'ΔF_iso':>7}")  # fmt: skip
            for i, n in enumerate(leg_names):
                floor = mo["published"][i] - mo["nofloor"][i]
                print(f"{n:<13}{mo['published'][i]:>8.2f}{mo['am'][i]:>7.2f}{mo['sl'][i]:>6.2f}{mo['w'][i]:>6.2f}"
                      f"{floor:>6.2f}{ma['published'][i]:>8.2f}{rel_a[i]:>9.0e}{mo['default46'][i]:>9.2f}"
                      f"{rel_a46[i]:>9.0e}{mb[i]:>8.2f}{rel_b[i]:>7.1f}{dterm['am'][i]:>6.2f}{dterm['sl'][i]:>6.2f}"
                      f"{dterm['w'][i]:>6.2f}{fiso_d[i]:>7.3f}")  # fmt: skip
        tot = {k: float(v.sum()) for k, v in mo.items()}
        print(f"{'sum (W)':<13}{tot['published']:>8.1f}{tot['am']:>7.1f}{tot['sl']:>6.1f}{tot['w']:>6.1f}"
              f"{tot['published'] - tot['nofloor']:>6.1f}{ma['published'].sum():>8.1f}"
              f"{float(_rel(ma['published'].sum(), tot['published'])):>9.0e}{tot['default46']:>9.1f}"
              f"{float(_rel(ma['default46'].sum(), tot['default46'])):>9.0e}{mb.sum():>8.1f}"
              f"{float(_rel(mb.sum(), tot['published'])):>7.1f}{dterm['am'].sum():>6.1f}{dterm['sl'].sum():>6.1f}"
              f"{dterm['w'].sum():>6.1f}")  # fmt: skip
        worst = {k: float(np.max(np.abs(a[k] - osd[k]))) for k in PROBES}
        scale = {k: float(np.max(np.abs(osd[k]))) for k in PROBES}
        print(f"(A) energy model alone (OpenSim's F_iso and active fibre force): per muscle mean power max |Δ| "
              f"{np.nanmax(np.abs(rel_a)):.0e} % (4.6 defaults {np.nanmax(np.abs(rel_a46)):.0e} %); per frame and "
              "term, max |Δ| / max |value|: " + ", ".join(f"{k} {worst[k]:.1e}/{scale[k]:.0f} W" for k in PROBES))  # fmt: skip
        print(f"(B) mmbio's full path (MuJoCo's curves): per muscle |Δ| max {np.nanmax(np.abs(rel_b)):.1f} %, median "
              f"{np.nanmedian(np.abs(rel_b)):.1f} %, {int(np.sum(np.abs(rel_b) > 5))} of {len(rel_b)} beyond 5 %; "
              f"all 80 muscles {float(_rel(mb.sum(), tot['published'])):+.1f} % (ΔAM {dterm['am'].sum():+.1f} W, ΔSL "
              f"{dterm['sl'].sum():+.1f} W, Δwork {dterm['w'].sum():+.1f} W)")  # fmt: skip
        d_fl = float(tb["w_fl_only"].mean(axis=0).sum() - tot["w"])
        print(f"    ΔAM and ΔSL come from F_iso alone (they use it only where l̃ > 1); of Δwork, {d_fl:+.1f} W is "
              f"MuJoCo's force–length curve and {dterm['w'].sum() - d_fl:+.1f} W its force–velocity curve")  # fmt: skip
        mc = s["mm_c"].mean(axis=0)
        rel_c = _rel(mc, mo["published"])
        print(f"(C) mmbio on MyoFullBody's own muscles (MuJoCo fibre states of the same kinematics, MyoFullBody F_max, "
              f"σ 0.25 MPa): all 80 muscles {mc.sum():.1f} W ({float(_rel(mc.sum(), tot['published'])):+.1f} %), per "
              f"muscle |Δ| median {np.nanmedian(np.abs(rel_c)):.0f} %, max {np.nanmax(np.abs(rel_c)):.0f} % "
              f"({leg_names[int(np.nanargmax(np.abs(rel_c)))]})")  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Part 2: the demo's power decomposition
# --------------------------------------------------------------------------------------------------

GROUPS = [  # (label, regex on the actuator name, leg muscle?) — first match wins
    ("hip: glutei, adductors, iliopsoas, piriformis, TFL", r"^(glmax|glmed|glmin|add|iliacus|psoas|piri|tfl)", True),
    (
        "thigh biarticular: hamstrings, rectus fem., sartorius, gracilis",
        r"^(bflh|semimem|semiten|recfem|sart|grac)",
        True,
    ),
    ("knee: vasti, biceps fem. short head", r"^(vas|bfsh)", True),
    ("ankle/foot: triceps surae, tibialis, peronei, toe muscles", r"^(soleus|gas|tib|per|edl|ehl|fdl|fhl)", True),
    ("trunk: psoas fascicles (Ps_*)", r"^Ps_", False),
    ("trunk: erector spinae (IL, LTpT, LTpL)", r"^(IL_|LTp)", False),
    ("trunk: multifidus (MF)", r"^MF_", False),
    ("trunk: quadratus lumborum (QL)", r"^QL_", False),
    ("trunk: abdominals (rect_abd, EO, IO)", r"^(rect_abd|EO|IO)", False),
    ("arms: shoulder (DELT, cuff, PECM, LAT, TMAJ, CORB)", r"^(DELT|SUPSP|INFSP|SUBSC|TMIN|TMAJ|PECM|LAT|CORB)", False),
    ("arms: elbow (TRI, BIC, BRA, BRD, ANC, SUP)", r"^(TRI|BIC|BRA|BRD|ANC|SUP)", False),
    ("arms: forearm/wrist (ECR, ECU, FCR, FCU, PL, PT, PQ)", r"^(ECR|ECU|FCR|FCU|PL|PT|PQ)", False),
]


def group_of(name: str, is_leg: bool) -> str:
    for label, rx, leg in GROUPS:
        if leg == is_leg and re.match(rx, name):
            return label
    return "other"


def terms(u, a, length, vel, p, **kw):
    """W per muscle (T, m): activation/maintenance, shortening, lengthening, the floor's top-up, work, total."""
    import numpy as np

    from mmbio.sim import metabolics as met

    f_ft = np.full(len(p.names), 0.5)
    am0, sl0, _ = met.umberger_rates(u, a, length, vel, p, f_ft, min_heat_rate=False, **kw)
    am, sl, w = met.umberger_rates(u, a, length, vel, p, f_ft, **kw)
    short = vel <= 0
    out = {"AM": am0, "shortening": np.where(short, sl0, 0.0), "lengthening": np.where(short, 0.0, sl0),
           "floor/no-neg.": (sl - sl0) + (am - am0), "work": w, "total": am + sl + w}  # fmt: skip
    return {k: v * p.mass for k, v in out.items()}


def decomposition(run, sig, walk_all) -> None:
    import numpy as np

    from mmbio.models.registry import load_model
    from mmbio.sim import metabolics as met

    mj = load_model().model
    names = list(sig.activations.names)
    old, new = "before (σ 0.25 MPa)", "after (σ 0.6 MPa legs)"
    params = {old: met.muscle_parameters(mj, specific_tensions="umberger2003"), new: met.muscle_parameters(mj)}
    p_new, p_old = params[new], params[old]
    assert p_new.names == names
    leg = np.array([s == met.MASS_SOURCE_RAJAGOPAL for s in p_new.mass_source])
    groups = [group_of(n, bool(leg[i])) for i, n in enumerate(names)]
    assert "other" not in groups, [n for n, g in zip(names, groups, strict=True) if g == "other"]
    glabels = list(dict.fromkeys(g for g, _, _ in GROUPS))
    gmask = {g: np.array([x == g for x in groups]) for g in glabels}
    dyn = mj.actuator_dynprm[[mj.actuator(n).id for n in names]]
    u, a = sig.excitations.values, sig.activations.values
    data = {"demo": (sig.mt_length.values, sig.mt_velocity.values, float(sig.mass_kg))}
    acts = {"controller": (u, a)}
    so = run.static_opt
    if so is not None:  # static optimisation of the same simulated motion: the minimum-Σa² activations for it
        k0 = round(so.time[0] * run.rollout.record_hz)
        assert k0 == 0 and len(so.time) == len(a), "static optimisation covers a sub-window of the demo"
        a_so = so.activations[:, [so.muscle_names.index(n) for n in names]]
        acts["SO of the demo's motion"] = (excitation_from_activation(a_so, 1 / run.rollout.record_hz, dyn[:, 0],
                                                                      dyn[:, 1]), a_so)  # fmt: skip
    if walk_all is not None:
        col = [walk_all["names"].index(n) for n in names]
        data["walk"] = (walk_all["length"][:, col], walk_all["velocity"][:, col], walk_all["mass_kg"])
        acts["SO of the human walk"] = (walk_all["exc"][:, col], walk_all["act"][:, col])
    five = np.full_like(u, 0.05)
    d46 = {"variant": "2003", "recruitment": "bhargava2004"}
    cases = [("controller", "demo", "controller", old, {}), ("controller", "demo", "controller", new, {})]
    cases += [("constant 5 % (u = a)", "demo", "five", old, {}), ("constant 5 % (u = a)", "demo", "five", new, {})]
    for k in acts:
        if k.startswith("SO"):
            cases += [(k, "walk" if "walk" in k else "demo", k, pl, {}) for pl in (old, new)]
    cases += [("controller, OpenSim 4.6 defaults", "demo", "controller", new, d46),
              ("constant 5 %, OpenSim 4.6 defaults", "demo", "five", new, d46)]  # fmt: skip

    print(f"\n=== Part 2: the demo's metabolic power ({run.rollout.time[-1]:.2f} s simulated, {len(names)} muscles, "
          f"body {data['demo'][2]:.2f} kg, {sig.speed_m_s:.3f} m/s; W per kg of body mass, no basal rate) ===")  # fmt: skip
    if walk_all is not None:
        print(f"human walk: Rajagopal walk replayed on MyoFullBody ({walk_all['speed_m_s']:.2f} m/s), "
              f"{walk_all['so_summary']}")  # fmt: skip
    for plabel, p in params.items():
        trunk = sum(p.mass[gmask[g]].sum() for g in glabels if g.startswith("trunk"))
        arms = sum(p.mass[gmask[g]].sum() for g in glabels if g.startswith("arms"))
        print(f"muscle mass {plabel}: {p.mass.sum():.1f} kg ({100 * p.mass.sum() / data['demo'][2]:.0f} % of body "
              f"mass): legs {p.mass[leg].sum():.1f} kg, trunk {trunk:.1f} kg, arms {arms:.1f} kg")  # fmt: skip
    results = {}
    print(f"\n{'activations':<36}{'masses':<25}{'total':>7}{'AM':>7}{'short.':>7}{'length.':>8}{'floor':>7}{'work':>7}"
          f"{'legs':>7}{'trunk':>7}{'arms':>7}")  # fmt: skip
    for label, dname, akey, plabel, kw in cases:
        length, vel, body = data[dname]
        uu, aa = (five, five) if akey == "five" else acts[akey]
        tt = terms(uu, aa, length, vel, params[plabel], **kw)
        results[(label, plabel)] = (tt, body)
        res = {k: v.sum(axis=1).mean() / body for k, v in tt.items()}
        part = {x: sum(tt["total"][:, gmask[g]].sum(1).mean() for g in glabels if g.startswith(x)) / body
                for x in ("trunk", "arms")}  # fmt: skip
        legs = tt["total"][:, leg].sum(1).mean() / body
        print(f"{label:<36}{plabel:<25}{res['total']:>7.2f}{res['AM']:>7.2f}{res['shortening']:>7.2f}"
              f"{res['lengthening']:>8.2f}{res['floor/no-neg.']:>7.2f}{res['work']:>7.2f}{legs:>7.2f}"
              f"{part['trunk']:>7.2f}{part['arms']:>7.2f}")  # fmt: skip
    # negative fibre work (not counted in Umberger 2010): how much of the positive work other muscles absorb
    length, vel, body = data["demo"]
    for akey, (_, aa) in acts.items():
        if akey.endswith("walk"):
            continue
        power = -met.active_fibre_force(aa, length, vel, p_new) * vel
        print(f"fibre power, {akey}: positive {np.clip(power, 0, None).sum(1).mean() / body:.2f} W/kg, negative "
              f"{np.clip(power, None, 0).sum(1).mean() / body:.2f} W/kg, net {power.sum(1).mean() / body:.2f} W/kg")  # fmt: skip

    def g_wkg(label, plabel, g):
        tt, body = results[(label, plabel)]
        return tt["total"][:, gmask[g]].sum(1).mean() / body

    so_keys = [k for k in acts if k.startswith("SO")]
    head = "".join(f"{'a ' + ('SO demo' if 'demo' in k else 'SO walk'):>11}" for k in so_keys)
    head2 = "".join(f"{('SO demo' if 'demo' in k else 'SO walk'):>9}" for k in so_keys)
    print(f"\n{'group':<66}{'n':>4}{'kg old':>7}{'kg new':>7}{'a ctrl':>7}{'a>0.5':>6}{head}"
          f"{'ctrl old':>9}{'ctrl new':>9}{'5% new':>7}{head2}")  # fmt: skip
    for g in glabels:
        k = gmask[g]
        a_so = "".join(f"{acts[key][1][:, k].mean():>11.2f}" for key in so_keys)
        w_so = "".join(f"{g_wkg(key, new, g):>9.2f}" for key in so_keys)
        print(f"{g:<66}{k.sum():>4}{p_old.mass[k].sum():>7.1f}{p_new.mass[k].sum():>7.1f}{a[:, k].mean():>7.2f}"
              f"{(a[:, k] > 0.5).mean():>6.2f}{a_so}{g_wkg('controller', old, g):>9.2f}"
              f"{g_wkg('controller', new, g):>9.2f}{g_wkg('constant 5 % (u = a)', new, g):>7.2f}{w_so}")  # fmt: skip
    q = np.percentile(a, [10, 25, 50, 75, 90])
    print(f"controller activations: mean {a.mean():.3f}, percentiles 10/25/50/75/90 {np.round(q, 3).tolist()}; "
          f"{100 * (a > 0.5).mean():.0f} % of muscle-frames above 0.5, {100 * (a > 0.95).mean():.0f} % above 0.95")  # fmt: skip
    bad = (p_new.tendon_slack < 0) & ~leg
    print(f"MuJoCo-derived l_opt (the mass of the {int((~leg).sum())} non-leg muscles): {int(bad.sum())} of them imply "
          f"a negative tendon slack length (l_opt·r0 > L_min), {int(np.sum((p_new.l_opt > p_new.lengthrange[:, 1]) & ~leg))} "
          f"an optimal fibre longer than their longest musculotendon path; those {int(bad.sum())} weigh "
          f"{p_new.mass[bad].sum():.1f} kg")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--opensim-python", default=DEFAULT_PY)
    ap.add_argument("--ref", default=str(ROOT.parent / "shared/reference/rajagopal2016_walk"))
    ap.add_argument("--t0", type=float, default=0.48)
    ap.add_argument("--t1", type=float, default=1.61)
    ap.add_argument("--demo", default=str(ROOT / "checkpoints/tracking_walk.pkl"))
    ap.add_argument("--skip-demo", action="store_true", help="parity on the walk only, no part 2")
    ap.add_argument("--fixture", default=None, help="write the parity test fixture (CSV) here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    import mujoco
    import numpy as np

    from mmbio.sim import metabolics as met

    table = met.rajagopal_muscle_table()
    leg_names = [n for n in table if n.endswith("_r")] + [n for n in table if n.endswith("_l")]
    print(f"mmbio metabolics vs OpenSim; mujoco {mujoco.__version__}, numpy {np.__version__}, Python "
          f"{sys.version.split()[0]}")  # fmt: skip
    run = sig = demo_inputs = None
    if not args.skip_demo:
        from mmbio.control.run import run_checkpoint
        from mmbio.sim.extract import extract_signals

        t = time.perf_counter()
        run = run_checkpoint(args.demo, cycles=3, static_opt=True)
        sig = extract_signals(run.rollout, moments=False)
        print(f"demo {args.demo}: rolled out, extracted and statically optimised in {time.perf_counter() - t:.0f} s")
        col = [list(sig.activations.names).index(n) for n in leg_names]
        demo_inputs = {"exc": sig.excitations.values[::2, col], "act": sig.activations.values[::2, col],
                       "length": sig.mt_length.values[::2, col], "velocity": sig.mt_velocity.values[::2, col]}  # fmt: skip
    walk_all = None
    if (Path(args.ref) / "coordinates.sto").is_file():
        t = time.perf_counter()
        walk_all = walk_inputs(Path(args.ref), args.t0, args.t1)
        walk_all["prep_s"] = time.perf_counter() - t
    out = parity(args, leg_names, demo_inputs, walk_all)
    if out is not None:
        print_parity(out, leg_names)
    if run is not None:
        decomposition(run, sig, walk_all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
