"""Issue 14 §1, tenth and eleventh passes: does a plan over the activation time constants, with lateral foot
placement, let the muscles walk alone?

The root-free corrected demo (``checkpoints/tracking_walk_rootfree.pkl``: its settings and stored root correction,
2 ms physics, reserve weight 1) tracked with no root residual and no reserve applied
(``TrackingSettings(reserves='none')``: the muscles alone actuate the joints), by the one-step muscle-aware
planner and by the receding-horizon planner (``planner='muscle_mpc'``, :mod:`mmbio.control.muscle_mpc`) at several
horizons; the ``+place`` rows add lateral foot placement (:mod:`mmbio.control.placement`), ``@100Hz`` holds each
excitation for five physics steps (the policy's rate). Per row: seconds up (the height rule; a drift from the path does not end the run), forward speed and
lateral drift of the pelvis at 1, 2 and 3 s, mean activation up to 1 and 2 s, wall ms per control step.

``--part solvers`` compares OSQP (the one-step planners' solver) with PIQP on the same 6-stage QP at the start of
the synthesised walk (cold start): iterations, wall ms, objective.

Usage: ``python benchmarks/muscle_mpc.py [--part rows|solvers] [--seconds 10] [--rows 1step,6x10]``. Results:
benchmarks/RESULTS.md, "Tenth pass" and "Eleventh pass".
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import replace

import numpy as np
from muscles_only_road import Setup

import mmbio.control.tracking as T

#: lateral foot placement of the eleventh pass (:mod:`mmbio.control.placement`)
PLACE = {"placement_kp": 1.0, "placement_kd": 0.5, "placement_tau_s": 0.15}
#: row name → (planner, stages, stage length s, other settings)
ROWS: dict[str, tuple[str, int, float, dict]] = {
    "1step": ("muscle_aware", 6, 0.01, {}),
    "4x10": ("muscle_mpc", 4, 0.01, {}),
    "6x10": ("muscle_mpc", 6, 0.01, {}),
    "6x20": ("muscle_mpc", 6, 0.02, {}),
    "8x10": ("muscle_mpc", 8, 0.01, {}),
    "6x20+place": ("muscle_mpc", 6, 0.02, PLACE),
    "6x20+place@100Hz": ("muscle_mpc", 6, 0.02, {**PLACE, "substeps": 5}),
}


def row_label(planner: str, stages: int, h: float, extra: dict, physics_ms: float) -> str:
    """The table's name of a row (``physics_ms``: the physics step, ms)."""
    label = "one-step muscle-aware" if planner == "muscle_aware" else f"MPC {stages} stages × {1e3 * h:g} ms"
    if extra.get("placement_kp", 0) or extra.get("placement_kd", 0):
        label += (f", placement k_p {extra['placement_kp']:g} k_d {extra['placement_kd']:g} s τ "
                  f"{extra['placement_tau_s']:g} s")  # fmt: skip
    if extra.get("substeps", 1) > 1:
        label += f", excitations held {physics_ms * extra['substeps']:g} ms"
    return label


def path_numbers(t: np.ndarray, q: np.ndarray, act: np.ndarray, up: float) -> tuple[str, str, str]:
    """Table cells from a recorded rollout (time (T,) s, qpos (T, nq), act (T, na)) that stayed up ``up`` s: forward
    speed to 1 / 2 / 3 s (m/s), lateral drift at 1 / 2 / 3 s (cm), mean activation to 1 / 2 s; "–" past ``up``."""
    ks = {s: int(np.searchsorted(t, s)) for s in (1, 2, 3)}
    ok = {s: s <= up and k < len(t) for s, k in ks.items()}
    speed = " / ".join(f"{-(q[k, 1] - q[0, 1]) / t[k]:.2f}" if ok[s] else "–" for s, k in ks.items())
    drift = " / ".join(f"{100 * (q[k, 0] - q[0, 0]):+.0f}" if ok[s] else "–" for s, k in ks.items())
    mean_act = " / ".join(f"{act[: ks[s] + 1].mean():.3f}" if ok[s] else "–" for s in (1, 2))
    return speed, drift, mean_act


def rows(names: list[str], seconds: float) -> None:
    su = Setup()
    print(f"\n| planner | up (s, of {seconds:g}) | speed m/s to 1 / 2 / 3 s | lateral drift cm at 1 / 2 / 3 s | mean "
          "activation to 1 / 2 s | ms per step |\n|---|---:|---|---|---|---:|")  # fmt: skip
    for name in names:
        planner, stages, h, extra = ROWS[name]
        st = replace(su.settings, planner=planner, reserve_weight=1.0, reserves="none", mpc_stages=stages,
                     mpc_stage_s=h, **extra)  # fmt: skip
        ro, res = T.track(su.motion, duration_s=seconds, settings=st, model=su.model, root_correction=su.corr,
                          record_every=10)  # fmt: skip
        up = float(res.fell_at_s if res.fell else res.sim_s)
        speed, drift, mean_act = path_numbers(np.asarray(ro.time), np.asarray(ro.qpos), np.asarray(ro.act), up)
        label = row_label(planner, stages, h, extra, 1e3 * float(su.model.opt.timestep))
        print(f"| {label} | {up:.2f} | {speed} | {drift} | {mean_act} | {np.mean(res.qp_ms):.0f} |", flush=True)


def solvers() -> None:
    import osqp
    import piqp
    import scipy.sparse as sp

    import mmbio.control.muscle_mpc as mpc
    from mmbio.sim.motion import synthesize_motion

    walk = synthesize_motion(speed_m_s=1.25, n_cycles=1)
    m = copy.deepcopy(walk.mj_model())
    m.opt.timestep = 0.002
    st = T.TrackingSettings(root_residual="none", reserves="none", planner="muscle_mpc", mpc_stages=6)
    ref = T.LoopedReference(walk, m, 1.0, cutoff_hz=st.reference_cutoff_hz)
    ctl = T.TrackingController(m, ref, st)
    q0, v0, _ = ref.at(0.0)
    act = np.zeros(m.na)
    act[ctl.so._act_adr] = ctl.control(0.0, q0.copy(), v0.copy(), act, free_activations=True)[2]["a_next"]
    qp: dict[str, object] = {}
    orig = mpc.solve_interior

    def capture(_ctl: object, pdiag: np.ndarray, q: np.ndarray, a: object, lo: np.ndarray, hi: np.ndarray) -> object:
        qp.update(pdiag=pdiag, q=q, a=a, lo=lo, hi=hi)
        return orig(_ctl, pdiag, q, a, lo, hi)  # type: ignore[arg-type]

    mpc.solve_interior = capture  # type: ignore[assignment]
    try:
        ctl.control(0.0, q0.copy(), v0.copy(), act)
    finally:
        mpc.solve_interior = orig  # type: ignore[assignment]
    pmat = sp.diags(2 * qp["pdiag"]).tocsc()  # type: ignore[operator]
    a = qp["a"]
    print(f"\n6-stage QP at the walk's start: {a.shape[1]} unknowns, {a.shape[0]} rows, {a.nnz} non-zeros\n"  # type: ignore[attr-defined]
          "\n| solver | status | iterations | wall ms | objective |\n|---|---|---:|---:|---:|")  # fmt: skip

    def objective(x: np.ndarray) -> float:
        return float(0.5 * x @ (pmat @ x) + qp["q"] @ x)  # type: ignore[operator]

    for eps, iters in ((1e-4, 8000), (1e-4, 20000), (1e-6, 100000)):
        s = osqp.OSQP()
        t0 = time.perf_counter()
        s.setup(pmat, qp["q"], a, qp["lo"], qp["hi"], eps_abs=eps, eps_rel=eps, verbose=False, max_iter=iters,
                polishing=False)  # fmt: skip
        r = s.solve(raise_error=False)
        ms = 1e3 * (time.perf_counter() - t0)
        print(f"| OSQP, eps {eps:g}, max_iter {iters} | {r.info.status} | {r.info.iter} | {ms:.0f} | "
              f"{objective(np.asarray(r.x)):.3f} |", flush=True)  # fmt: skip
    for _ in range(2):
        t0 = time.perf_counter()
        x = mpc.solve_interior(ctl, qp["pdiag"], qp["q"], a, qp["lo"], qp["hi"])  # type: ignore[arg-type]
        ms = 1e3 * (time.perf_counter() - t0)
        print(f"| PIQP {piqp.__version__} (as the planner calls it), eps 1e-6 | unsolved {ctl.unsolved} | – | "
              f"{ms:.0f} | {objective(x):.3f} |", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("rows", "solvers"), action="append", help="default: both")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds asked per row (default 10)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows of {', '.join(ROWS)}")
    args = ap.parse_args()
    for part in args.part or ("solvers", "rows"):
        t0 = time.perf_counter()
        if part == "rows":
            rows([r for r in args.rows.split(",") if r], args.seconds)
        else:
            solvers()
        print(f"({part}: {time.perf_counter() - t0:.0f} s wall)", flush=True)


if __name__ == "__main__":
    main()
