"""Issue 14 §1, third pass: why the root-free teacher cannot walk on muscles alone, measured on the committed
root-free demo (``checkpoints/tracking_walk_rootfree.pkl``: its settings and stored consistency correction, 2 ms
physics, reserve weight 100 unless a part says otherwise). Parts (``--part``, default all):

``sensitivity``
    How exact must the teacher's reserves be? The teacher's own excitations with its reserves (a) clipped to ±R,
    (b) low-passed (τ), (c) plus white noise of σ N·m on every reserve dof, (d) times (1 + ε·N(0, 1)) per dof and
    step. What a student copying the reserves could get away with.
``first-failure``
    The excitations alone (no reserves applied): which joints leave the reference first (errors at 0.02–0.1 s,
    degrees; root translation cm), and the same with every muscle's passive force removed, and with the teacher's
    reserves applied on a few dofs only.
``feasibility``
    Static optimisation with free activations (no activation dynamics) of the root-free demo's own walked motion,
    one cycle at 1 ms: the reserves it still needs per dof; the active capacity at full activation per dof along
    the reference stride (Σ of the positive / negative moment arms × active force).
``rate-bounds``
    Per control step of the reserve-helped teacher: how many muscles sit at the one-step activation bounds
    (rising, falling) or at full activation, in all steps and in the reserve bursts (> 50 N·m).
``planners``
    Planner variants for muscles only: the muscle-aware planner with a look-ahead stage ``H`` steps later (frozen
    matrices, the reference acceleration at t + H, activations reachable from this step's), the two-QP planner with
    an activation-change cost ``w Σ (a_next − a)²`` or reserves priced 10⁴ / 10⁶, and the muscle-aware planner with
    the tracking weights of the dofs the muscles cannot drive scaled by 0.01.
``joint-ilc``
    Iterative learning on the joint paths the muscles cannot drive (both hip rotations, axial rotation, both mtp),
    as ``consistency_iterations`` does for the root: track with the reserves, fold each dof's reserve by phase over
    0.3–2.6 s, move its reference path by the periodic Δq with Δq'' = −γ r̄ / I (I: the dof's mean diagonal inertia
    on the reference; γ = 0.05, |Δq| ≤ 0.1 rad), 2 iterations; each time the reserves needed and the excitations
    alone (3 s asked).
``servo``
    Could a fixed feedback law stand in for the teacher's reserves (a declared, countable help for a student, in
    the spirit of residual force control)? The teacher's excitations with, instead of its reserves, a PD servo on
    every independent joint dof toward the reference: ``τ = I ω² (q_ref − q) + 2 ζ I ω (q̇_ref − q̇)``, I the dof's
    effective inertia at the start (response of q̈ to a unit torque, contacts and equalities included), the damping
    part integrated implicitly (added to the simulated model's joint damping; the teacher plans without it, so
    the explicit term is ``I ω² e + 2 ζ I ω q̇_ref``). Explicit damping was unstable within 20 ms: the effective
    inertia of a foot falls 10× between stance and swing.
``reserve-subsets``
    The teacher's excitations with its reserves applied on a few dofs only (it plans them on every dof): none, the
    toes, toes + subtalar, the feet (toes, subtalar, ankles), the feet + both hip rotations, and all of them; time
    up and the three largest planned reserves (RMS, N·m; when it falls, the planned ones include the fall).
``cocontraction``
    A co-contraction floor: every muscle's activation kept at or above 0.02–0.2 (as fast as activation dynamics
    allow), so the muscles' force-length-velocity curves stiffen and damp each joint without delay; the excitations
    alone, with the tracking gains at 6 and 10 Hz; time up, mean activation, mean horizontal speed.
``mtp-spring``
    A passive spring on both mtp joints (k = 10, 30, 100 N·m/rad toward 0 rad; plantar fascia and intrinsic foot
    muscles, which MyoFullBody lacks), a declared model change the teacher plans with: the excitations alone and
    with all the planned reserves.
``raise-cost``
    Does pricing a raise by what it costs to lower stop the co-contraction runaway? Each step the muscle QP is solved,
    then again with ``w (a − a_now)²`` on the muscles the first solve raised (w = 0, 3, 10, 30; 10 ≈ τ_deact / 2h):
    time up and mean activation at 0.5 / 1 / 2 s, excitations alone and (w = 10) with the reserves.
``free-moment``
    Where the hip-rotation reserve of static optimisation comes from: the walked cycle's largest hip_rotation_r
    reserve frame, the muscles crossing the dof there (capacity at full activation each way, the moment at the
    solved activations), and the simulated feet's free moments (ground moment about the vertical through the
    COP) in stance. Then the teacher with its planned free moments priced (``TrackingSettings.w_free_moment``
    0, 1, 100): the simulated free moments, its reserves, its excitations alone.

Usage: ``python benchmarks/muscles_only_road.py [--part NAME] [--seconds 6]``. Results: benchmarks/RESULTS.md,
"Muscles only: what stops the teacher (third pass)" (the stock model's demo, committed then) and "Seventh pass"
(``feasibility``, ``first-failure``, ``reserve-subsets`` on the corrected model's demo, committed since) and "Eighth
pass" (``cocontraction``, ``mtp-spring``), "Ninth pass" (``raise-cost``). The reserve-output student is ``benchmarks/reserve_student.py``.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import mujoco
import numpy as np
import scipy.sparse as sp

import mmbio.control.muscle_qp as MQ
import mmbio.control.static_opt as SO
import mmbio.control.tracking as T
from mmbio.control.checkpoint import load_checkpoint
from mmbio.control.tracking_settings import TrackingSettings

CKPT = "checkpoints/tracking_walk_rootfree.pkl"
#: the reserve dofs of the trunk and hips (the "9 dofs" rows)
TRUNK_HIPS = ["axial_rotation", "hip_rotation_r", "hip_rotation_l", "flex_extension", "lat_bending", "hip_adduction_r",
              "hip_adduction_l", "hip_flexion_r", "hip_flexion_l"]  # fmt: skip
YAW = TRUNK_HIPS[:3]
WEAK = ["mtp_angle_r", "mtp_angle_l", "subtalar_angle_r", "subtalar_angle_l", "hip_rotation_r", "hip_rotation_l"]

Hook = Callable[[Any, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict], np.ndarray]


class Setup:
    """A root-free tracking checkpoint (default: the committed demo): motion, settings with reserve weight 100,
    its model at 2 ms, its stored root correction."""

    def __init__(self, ck: Any = None) -> None:
        ck = ck if ck is not None else load_checkpoint(CKPT)
        self.motion = ck.motion()
        self.settings = replace(TrackingSettings.from_dict(ck.controller["settings"]), reserve_weight=100.0)
        self.corr = np.asarray(ck.controller["root_correction"], float)
        self.model = copy.deepcopy(self.motion.mj_model())
        self.model.opt.timestep = 0.002


def run(su: Setup, seconds: float, applied: Hook, settings: TrackingSettings | None = None,
        model: mujoco.MjModel | None = None) -> tuple[Any, Any]:  # fmt: skip
    """Track with ``applied(ctl, t, qpos, qvel, act, ctrl, qfrc, info) -> qfrc`` deciding what of the teacher's
    generalised forces act (the initial free-activation solve is left alone)."""
    orig = T.TrackingController.control

    def control(self: Any, t: float, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, **kw: Any) -> tuple:
        ctrl, qfrc, info = orig(self, t, qpos, qvel, act, **kw)
        if kw.get("free_activations"):
            return ctrl, qfrc, info
        return ctrl, applied(self, t, qpos, qvel, act, ctrl, qfrc, info), info

    T.TrackingController.control = control  # type: ignore[method-assign]
    try:
        return T.track(su.motion, duration_s=seconds, settings=settings or su.settings, model=model or su.model,
                       root_correction=su.corr, record_every=50)  # fmt: skip
    finally:
        T.TrackingController.control = orig  # type: ignore[method-assign]


def up_s(res: Any) -> float:
    return float(res.fell_at_s if res.fell else res.sim_s)


def scaled(alpha: float) -> Hook:
    return lambda _c, _t, _q, _v, _a, _u, qfrc, _i: qfrc * alpha


def dof_names(m: mujoco.MjModel) -> list[str]:
    out = []
    for d in range(m.nv):
        j = int(m.dof_jntid[d])
        out.append(
            m.joint(j).name + (f"[{d - m.jnt_dofadr[j]}]" if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE else "")
        )
    return out


# --------------------------------------------------------------------------------------------------


def sensitivity(su: Setup, seconds: float) -> None:
    print(f"\n| reserves applied (teacher's own excitations) | up (s, of {seconds:g}) |\n|---|---:|")

    def clip(r_max: float, tau: float = 0.0, sigma: float = 0.0, rel: float = 0.0) -> Hook:
        rng = np.random.default_rng(0)
        state: dict[str, np.ndarray] = {}

        def hook(ctl: Any, _t: float, _q: Any, _v: Any, _a: Any, _u: Any, qfrc: np.ndarray, _i: dict) -> np.ndarray:
            q = qfrc.copy()
            q[:6] = 0.0
            if sigma:
                q[6:] += sigma * rng.standard_normal(len(q) - 6)
            if rel:
                q[6:] *= 1.0 + rel * rng.standard_normal(len(q) - 6)
            q = np.clip(q, -r_max, r_max)
            if tau > 0:
                f = state.get("f", q)
                q = f + ctl.dt / (tau + ctl.dt) * (q - f)
                state["f"] = q
            return q

        return hook

    rows = [("all of them (reference)", clip(np.inf)), ("clipped to ±100 N·m", clip(100.0)),
            ("clipped to ±50 N·m", clip(50.0)), ("±100, low-passed τ = 20 ms", clip(100.0, tau=0.02)),
            ("±100, + white noise σ = 10 N·m per dof", clip(100.0, sigma=10.0)),
            ("±100, + white noise σ = 30 N·m", clip(100.0, sigma=30.0)),
            ("±100, × (1 + 0.2 N(0, 1)) per dof", clip(100.0, rel=0.2)),
            ("±100, × (1 + 0.5 N(0, 1))", clip(100.0, rel=0.5))]  # fmt: skip
    for label, hook in rows:
        _, res = run(su, seconds, hook)
        print(f"| {label} | {up_s(res):.2f}{'' if res.fell else ' (all)'} |", flush=True)


def first_failure(su: Setup, seconds: float) -> None:
    m = su.model
    names = dof_names(m)

    def logged(keep: list[str]) -> tuple[Hook, list]:
        log: list = []
        sel = [int(m.jnt_dofadr[m.joint(n).id]) for n in keep]

        def hook(
            ctl: Any, t: float, qpos: np.ndarray, _v: Any, _a: Any, _u: Any, qfrc: np.ndarray, _i: dict
        ) -> np.ndarray:
            q_r, _, _ = ctl.ref.at(ctl.ref_time(t))
            e = np.zeros(m.nv)
            mujoco.mj_differentiatePos(m, e, 1.0, qpos, q_r)
            log.append((t, e))
            out = np.zeros_like(qfrc)
            out[sel] = qfrc[sel]
            return out

        return hook, log

    def show(log: list, times: tuple[float, ...]) -> None:
        ts = np.array([r[0] for r in log])
        err = np.array([r[1] for r in log])
        for tt in times:
            k = int(np.searchsorted(ts, tt))
            if k >= len(ts):
                break
            top = np.argsort(-np.abs(err[k]))[:5]
            print(f"    t = {tt:.2f} s: " + ", ".join(
                f"{names[d]} {100 * err[k, d]:+.1f} cm" if d < 3 else f"{names[d]} {np.degrees(err[k, d]):+.1f}°"
                for d in top))  # fmt: skip

    print("\nexcitations alone (no reserve applied):")
    hook, log = logged([])
    _, res = run(su, seconds, hook)
    print(f"  up {up_s(res):.2f} s")
    show(log, (0.02, 0.04, 0.06, 0.1, 0.2, 0.4))
    passive = copy.deepcopy(m)
    mus = np.flatnonzero(passive.actuator_gaintype == mujoco.mjtGain.mjGAIN_MUSCLE)
    passive.actuator_gainprm[mus, 7] = 0.0
    passive.actuator_biasprm[mus, 7] = 0.0
    hook, log = logged([])
    _, res = run(su, seconds, hook, model=passive)
    print(f"the same with every muscle's passive force removed: up {up_s(res):.2f} s")
    show(log, (0.1,))
    for label, keep in (("the 3 yaw dofs", YAW), ("the 9 trunk and hip dofs", TRUNK_HIPS)):
        hook, log = logged(keep)
        _, res = run(su, seconds, hook)
        print(f"reserves applied on {label} only ({', '.join(keep)}): up {up_s(res):.2f} s")
        show(log, (0.1, 0.2))


def reserve_subsets(su: Setup, seconds: float) -> None:
    m = su.model
    feet = ["mtp_angle_r", "mtp_angle_l", "subtalar_angle_r", "subtalar_angle_l", "ankle_angle_r", "ankle_angle_l"]
    rows = [("all of them", None), ("none", []), ("toes (mtp)", feet[:2]), ("toes + subtalar", feet[:4]),
            ("feet (mtp, subtalar, ankle)", feet), ("feet + hip rotation", [*feet, "hip_rotation_r", "hip_rotation_l"])]  # fmt: skip
    print(f"\n| reserves applied on | up (s, of {seconds:g}) | planned reserves, largest RMS N·m |\n|---|---:|---|")
    for label, keep in rows:
        sel = None if keep is None else [int(m.jnt_dofadr[m.joint(n).id]) for n in keep]

        def hook(_c: Any, _t: float, _q: Any, _v: Any, _a: Any, _u: Any, qfrc: np.ndarray, _i: dict,
                 sel: list[int] | None = sel) -> np.ndarray:  # fmt: skip
            if sel is None:
                return qfrc
            out = np.zeros_like(qfrc)
            out[sel] = qfrc[sel]
            return out

        _, res = run(su, seconds, hook)
        rms = np.sqrt(np.mean(np.asarray(res.reserves) ** 2, 0))
        top = ", ".join(f"{res.reserve_names[j]} {rms[j]:.1f}" for j in np.argsort(-rms)[:3])
        print(f"| {label} | {up_s(res):.2f} | {top} |", flush=True)


def feasibility(_su: Setup, _seconds: float) -> None:
    from mmbio.control.run import run_checkpoint

    t0 = time.perf_counter()
    r = run_checkpoint(CKPT, cycles=1, static_opt=True)
    so = r.static_opt
    res = np.asarray(so.reserves)
    rms, pk = np.sqrt(np.mean(res**2, 0)), np.abs(res).max(0)
    order = np.argsort(-rms)[:10]
    print(
        f"\nstatic optimisation (free activations) of the walked motion, one cycle ({time.perf_counter() - t0:.0f} s):"
    )
    print(
        "  reserves RMS (peak), N·m: " + ", ".join(f"{so.reserve_names[i]} {rms[i]:.1f} ({pk[i]:.0f})" for i in order)
    )
    act = np.asarray(so.activations)
    print(f"  muscles at full activation (> 0.99): {np.mean(np.sum(act > 0.99, axis=1)):.1f} per frame on average")
    tr = r.tracking
    r2 = np.asarray(tr.reserves)
    rms2 = np.sqrt(np.mean(r2**2, 0))
    o2 = np.argsort(-rms2)[:6]
    print("  the controller's own reserves RMS: " + ", ".join(f"{tr.reserve_names[i]} {rms2[i]:.1f}" for i in o2))
    ck = load_checkpoint(CKPT)
    motion = ck.motion()
    m = copy.deepcopy(motion.mj_model())
    opt = SO.StaticOptimiser(m)
    dofs = ["flex_extension", "lat_bending", "axial_rotation", "hip_flexion_r", "hip_adduction_r", "hip_rotation_r",
            "knee_angle_r", "ankle_angle_r", "subtalar_angle_r", "mtp_angle_r"]  # fmt: skip
    cols = [list(opt.indep_dofs).index(int(m.jnt_dofadr[m.joint(n).id])) for n in dofs]
    cap = []
    for k in range(0, len(motion.qpos), max(len(motion.qpos) // 20, 1)):
        a_mat = opt.frame_terms(motion.qpos[k], np.zeros(opt.n_ind), np.zeros(opt.n_ind), [])[0]
        cap.append([(np.clip(a_mat[c], 0, None).sum(), np.clip(a_mat[c], None, 0).sum(), int(np.sum(np.abs(a_mat[c]) > 1e-6)))
                    for c in cols])  # fmt: skip
    c = np.asarray(cap)
    print("\n| dof | muscles | active capacity +, N·m (min–max over the stride) | capacity − |\n|---|---:|---:|---:|")
    for i, n in enumerate(dofs):
        print(f"| {n} | {int(c[:, i, 2].max())} | {c[:, i, 0].min():.0f}–{c[:, i, 0].max():.0f} | "
              f"{c[:, i, 1].max():.0f} – {c[:, i, 1].min():.0f} |")  # fmt: skip


def rate_bounds(su: Setup, seconds: float) -> None:
    rows: list = []

    def hook(
        ctl: Any, _t: float, _q: Any, _v: Any, act: np.ndarray, _u: Any, qfrc: np.ndarray, info: dict
    ) -> np.ndarray:
        a = np.clip(act[ctl.so._act_adr], 0, 1)
        lo, hi = T.activation_bounds(a, ctl.tau_act, ctl.tau_deact, ctl.dt)
        an = info["a_next"]
        rows.append((np.abs(info["reserve"]).max(), np.sum((an >= hi - 1e-4) & (hi < 1 - 1e-4)),
                     np.sum((an <= lo + 1e-4) & (lo > 1e-4)), np.sum(an >= 1 - 1e-3)))  # fmt: skip
        return qfrc

    _, res = run(su, seconds, hook)
    r = np.asarray(rows, float)
    print(f"\nreserve-helped teacher, up {up_s(res):.2f} s of {seconds:g}, {len(r)} steps (of {su.model.nu} muscles):")
    print("| steps | n | at the rising bound | at the falling bound | at a = 1 |\n|---|---:|---:|---:|---:|")
    for label, sel in (("all", np.ones(len(r), bool)), ("largest reserve > 50 N·m", r[:, 0] > 50),
                       ("largest reserve < 10 N·m", r[:, 0] < 10)):  # fmt: skip
        x = r[sel]
        print(f"| {label} | {int(sel.sum())} | {x[:, 1].mean():.0f} | {x[:, 2].mean():.0f} | {x[:, 3].mean():.1f} |")


def _lookahead(h_steps: int, w2: float) -> Callable:
    """The muscle-aware step with a second stage ``h_steps`` later (see the module docs): the same QP twice,
    block-diagonal, coupled by the activations reachable from this step's in ``h_steps`` steps."""

    def step(ctl: Any, t: float, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, qdd_des: np.ndarray,
             nmat: np.ndarray, mfull: np.ndarray, lo: np.ndarray, hi: np.ndarray, t0: float) -> tuple:  # fmt: skip
        so, n, nm = ctl.so, ctl.n_ind, ctl.so.n_mus
        one = MQ.qp_terms(ctl, t, qpos, qvel, nmat, mfull, lo, hi)
        nx, o = len(one.pdiag), one.act_at
        a_now = np.clip(act[so._act_adr], 0.0, 1.0)
        f = 0.5 + 1.5 * a_now  # MuJoCo's activation-dependent time constants
        h = h_steps * ctl.dt
        cd, ca = np.minimum(h * f / ctl.tau_deact, 1.0), np.minimum(h / (ctl.tau_act * f), 1.0)
        sel = sp.hstack([sp.csr_matrix((nm, o)), sp.eye(nm), sp.csr_matrix((nm, nx - o - nm))])
        a_all = sp.vstack([sp.block_diag([one.a_mat, one.a_mat]), sp.hstack([-sp.diags(1 - cd) @ sel, sel]),
                           sp.hstack([-sp.diags(1 - ca) @ sel, sel])]).tocsc()  # fmt: skip
        # the second stage's activations: anything in [0, 1] reachable from the first's (a2 − (1 − cd) a1 ≥ 0,
        # a2 − (1 − ca) a1 ≤ ca)
        lower2, upper2 = one.lower.copy(), one.upper.copy()
        lower2[-nm:], upper2[-nm:] = 0.0, 1.0
        lower = np.r_[one.lower, lower2, np.zeros(nm), np.full(nm, -np.inf)]
        upper = np.r_[one.upper, upper2, np.full(nm, np.inf), ca]
        _, _, a_r1 = ctl.ref.at(t + ctl.dt)
        _, _, a_rh = ctl.ref.at(t + ctl.dt + h)
        q = np.zeros(2 * nx)
        q[:n] = -2 * ctl.wq * qdd_des
        q[nx : nx + n] = -2 * w2 * ctl.wq * (qdd_des + (a_rh - a_r1)[so.indep_dofs])
        x = MQ.solve_qp(ctl, np.r_[one.pdiag, w2 * one.pdiag], q, a_all, lower, upper, key="_lookahead_x")
        return MQ.plan_output(ctl, x[:nx], act, lo, hi, o, t0)

    return step


def _solve_with_change_cost(orig_solve: Callable, opt: Any, args: tuple, kw: dict, a_now: np.ndarray,
                            w: np.ndarray) -> Any:  # fmt: skip
    """``orig_solve`` of the muscle QP with ``Σ w_i (a_i − a_now_i)²`` added (w: (n_mus,)); the cost is restored."""
    nm = opt.n_mus
    p0, q0 = opt._pdiag[:nm].copy(), opt._q[:nm].copy()
    opt._pdiag[:nm] = p0 + 2 * w
    opt._q[:nm] = q0 - 2 * w * a_now
    opt.solver.update(Px=opt._pdiag, q=opt._q)
    try:
        return orig_solve(opt, *args, **kw)
    finally:
        opt._pdiag[:nm], opt._q[:nm] = p0, q0
        opt.solver.update(Px=opt._pdiag, q=opt._q)


def _remembering_activations(orig_control: Callable, state: dict[str, Any]) -> Callable:
    """``TrackingController.control`` that leaves the current activations in ``state['a']`` for the solve (None
    during the initial free-activation solve)."""

    def control(self: Any, t: float, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, **kw: Any) -> tuple:
        state["a"] = None if kw.get("free_activations") else np.clip(act[self.so._act_adr], 0, 1)
        try:
            return orig_control(self, t, qpos, qvel, act, **kw)
        finally:
            state["a"] = None

    return control


def planners(su: Setup, seconds: float) -> None:
    aware = replace(su.settings, planner="muscle_aware", reserve_weight=1.0)
    print(f"\n| planner (excitations alone) | up (s, of {seconds:g}) |\n|---|---:|")
    none = scaled(0.0)
    _, res = run(su, seconds, none, aware)
    print(f"| muscle-aware (reference) | {up_s(res):.2f} |", flush=True)
    orig_step = MQ.muscle_aware_step
    for h, w2 in ((10, 1.0), (25, 1.0), (10, 0.3)):
        MQ.muscle_aware_step = _lookahead(h, w2)
        try:
            _, res = run(su, seconds, none, aware)
        finally:
            MQ.muscle_aware_step = orig_step
        print(
            f"| muscle-aware + look-ahead stage at {h} steps ({2 * h} ms), weight {w2:g} | {up_s(res):.2f} |",
            flush=True,
        )
    orig_solve = SO.StaticOptimiser.solve
    orig_control = T.TrackingController.control
    state: dict[str, Any] = {}
    for w in (5.0, 50.0):

        def solve(self: Any, *a: Any, w: float = w, **kw: Any) -> Any:
            a_now = state.get("a")
            if a_now is None:
                return orig_solve(self, *a, **kw)
            return _solve_with_change_cost(orig_solve, self, a, kw, a_now, np.full(self.n_mus, w))

        SO.StaticOptimiser.solve = solve  # type: ignore[method-assign]
        T.TrackingController.control = _remembering_activations(orig_control, state)  # type: ignore[method-assign]
        try:
            _, res = run(su, seconds, none)
            _, res1 = run(su, seconds, scaled(1.0))
        finally:
            SO.StaticOptimiser.solve = orig_solve  # type: ignore[method-assign]
            T.TrackingController.control = orig_control  # type: ignore[method-assign]
        print(f"| two QPs + activation-change cost w = {w:g} | {up_s(res):.2f} (with its reserves {up_s(res1):.2f}) |",
              flush=True)  # fmt: skip
    for rw in (1e4, 1e6):
        _, res = run(su, seconds, none, replace(su.settings, reserve_weight=rw))
        print(f"| two QPs, reserves priced {rw:.0e} | {up_s(res):.2f} |", flush=True)
    orig_init = T.TrackingController.__init__

    def init(self: Any, model: mujoco.MjModel, *a: Any, **kw: Any) -> None:
        orig_init(self, model, *a, **kw)
        ind = list(self.so.indep_dofs)
        for n in WEAK:
            self.wq[ind.index(int(model.jnt_dofadr[model.joint(n).id]))] *= 0.01

    T.TrackingController.__init__ = init  # type: ignore[method-assign]
    try:
        _, res = run(su, seconds, none, aware)
    finally:
        T.TrackingController.__init__ = orig_init  # type: ignore[method-assign]
    print(f"| muscle-aware, tracking weights × 0.01 on {', '.join(WEAK)} | {up_s(res):.2f} |", flush=True)


def servo(su: Setup, seconds: float) -> None:
    orig_init = T.TrackingController.__init__
    base_damping = su.model.dof_damping.copy()

    def init(self: Any, model: mujoco.MjModel, *a: Any, **kw: Any) -> None:
        self.sim_model = model  # the simulated model: the servo's damping goes there, the teacher plans without it
        plan = copy.deepcopy(model)
        plan.dof_damping[:] = base_damping
        orig_init(self, plan, *a, **kw)

    def hook_for(freq: float, zeta: float, log: list) -> Hook:
        st: dict[str, np.ndarray] = {}

        def hook(ctl: Any, t: float, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, ctrl: np.ndarray,
                 _qfrc: np.ndarray, _i: dict) -> np.ndarray:  # fmt: skip
            m, ind = ctl.m, np.asarray(ctl.so.indep_dofs)[6:]
            if not st:  # effective inertia of each dof at the start state; the servo's damping into the simulation
                d = mujoco.MjData(m)
                d.qpos[:], d.qvel[:], d.act[:], d.ctrl[:] = qpos, qvel, act, ctrl
                mujoco.mj_forward(m, d)
                a0, inertia = d.qacc.copy(), np.zeros(len(ind))
                for j, dof in enumerate(ind):
                    d.qfrc_applied[:] = 0.0
                    d.qfrc_applied[dof] = 1.0
                    mujoco.mj_forward(m, d)
                    inertia[j] = 1.0 / max(d.qacc[dof] - a0[dof], 1e-9)
                w = 2 * np.pi * freq
                st["kp"], st["kd"] = inertia * w * w, 2 * zeta * inertia * w
                ctl.sim_model.dof_damping[ind] += st["kd"]
            q_r, v_r, _ = ctl.ref.at(ctl.ref_time(t))
            e = np.zeros(m.nv)
            mujoco.mj_differentiatePos(m, e, 1.0, qpos, q_r)
            out = np.zeros(m.nv)
            out[ind] = st["kp"] * e[ind] + st["kd"] * v_r[ind]
            log.append(st["kp"] * e[ind] + st["kd"] * (v_r - qvel)[ind])
            return out

        return hook

    print(f"\n| servo (ω/2π, ζ) | up (s, of {seconds:g}) | servo torque RMS, all dofs, N·m | largest per dof RMS (peak), N·m |"
          "\n|---|---:|---:|---|")  # fmt: skip
    T.TrackingController.__init__ = init  # type: ignore[method-assign]
    try:
        for freq, zeta in ((2.0, 1.0), (5.0, 1.0), (5.0, 2.0), (10.0, 1.0)):
            log: list = []
            _, res = run(su, seconds, hook_for(freq, zeta, log))
            tau = np.asarray(log)  # columns: the reserve dofs (the controller's independent joint dofs)
            dof = list(res.reserve_names)
            rms, pk = np.sqrt(np.mean(tau**2, 0)), np.abs(tau).max(0)
            top = np.argsort(-rms)[:3]
            print(f"| {freq:g} Hz, ζ {zeta:g} | {up_s(res):.2f} | {np.sqrt(np.mean(np.sum(tau**2, 1))):.0f} | "
                  + ", ".join(f"{dof[k]} {rms[k]:.0f} ({pk[k]:.0f})" for k in top) + " |", flush=True)  # fmt: skip
    finally:
        T.TrackingController.__init__ = orig_init  # type: ignore[method-assign]


def free_moment(su: Setup, seconds: float) -> None:
    from mmbio.control.run import run_checkpoint
    from mmbio.sim.extract import rollout_to_trial

    r = run_checkpoint(CKPT, cycles=1, static_opt=True)
    so, roll = r.static_opt, r.rollout
    names = list(so.reserve_names)
    res = np.asarray(so.reserves)[:, names.index("hip_rotation_r")]
    k = int(np.argmax(np.abs(res)))
    m = copy.deepcopy(su.motion.mj_model())
    opt = SO.StaticOptimiser(m)
    dof = int(m.jnt_dofadr[m.joint("hip_rotation_r").id])
    q = roll.qpos[int(np.argmin(np.abs(np.asarray(roll.time) - so.time[k])))]
    row = opt.frame_terms(q, np.zeros(opt.n_ind), np.zeros(opt.n_ind), [])[0][list(opt.indep_dofs).index(dof)]
    act = np.asarray(so.activations)[k]
    deg = {n: np.degrees(q[m.jnt_qposadr[m.joint(n).id]]) for n in ("hip_rotation_r", "hip_flexion_r")}
    print(
        f"\nhip_rotation_r: SO reserve RMS {np.sqrt(np.mean(res**2)):.1f} N·m; largest {res[k]:+.1f} N·m at "
        f"{so.time[k]:.2f} s (hip rotation {deg['hip_rotation_r']:+.1f}°, hip flexion {deg['hip_flexion_r']:+.1f}°)"
    )
    print(f"  capacity at full activation: +{row[row > 0].sum():.0f} / {row[row < 0].sum():.0f} N·m "
          f"({int(np.sum(np.abs(row) > 1e-3))} muscles); muscle moment at the solved activations "
          f"{row @ act:+.1f} N·m")  # fmt: skip
    for sign, label in ((1, "+ (internal)"), (-1, "− (external)")):
        top = np.argsort(-sign * row)[:5]
        print(f"  largest {label}: " + ", ".join(f"{so.muscle_names[i]} {row[i]:+.0f} (a {act[i]:.2f})" for i in top))

    def free_moments(trial: Any, t: float | None = None) -> str:
        out = []
        for side in ("r", "l"):
            g = trial.grf[side]
            on = np.asarray(g.force)[:, 2] > 50
            fm = np.asarray(g.free_moment)
            at = f", {np.interp(t, g.time, fm):+.1f} at {t:.2f} s" if t is not None else ""
            out.append(f"{side} {np.sqrt(np.mean(fm[on] ** 2)):.1f} RMS (peak {np.abs(fm[on]).max():.0f}{at})")
        return ", ".join(out)

    print(f"  simulated free moments in stance, N·m: {free_moments(r.trial, float(so.time[k]))}")
    # the yaw moment the reference itself asks of the ground: d/dt of the whole body's vertical angular momentum
    # about its centre of mass (MuJoCo's subtree_angmom of the world body), along the reference stride
    d = mujoco.MjData(m)
    lz = []
    for q, v in zip(su.motion.qpos, su.motion.qvel, strict=True):
        d.qpos[:], d.qvel[:] = q, v
        mujoco.mj_forward(m, d)
        mujoco.mj_subtreeVel(m, d)
        lz.append(d.subtree_angmom[0][2])
    lz_a = np.asarray(lz)
    dl = np.gradient(lz_a, 1.0 / su.motion.rate_hz)
    print(f"  the reference stride's vertical angular momentum about the COM: {np.sqrt(np.mean((lz_a - lz_a.mean()) ** 2)):.2f}"
          f" kg·m²/s RMS; its rate, the yaw moment the ground must supply about the COM: {np.sqrt(np.mean(dl**2)):.1f} "
          f"N·m RMS (peak {np.abs(dl).max():.0f})")  # fmt: skip
    print(f"\n| w_free_moment | teacher up (s, of {seconds:g}) | free moments in stance, N·m | teacher reserves RMS, all "
          "dofs, N·m | largest | hip rotation r / l | muscles only up s |\n|---:|---:|---|---:|---|---|---:|")  # fmt: skip
    for w in (0.0, 1.0, 100.0):
        st = replace(su.settings, w_free_moment=w)
        roll_w, res_w = run(su, seconds, scaled(1.0), st)
        rms = res_w.reserve_rms_nm
        top = sorted(rms, key=rms.__getitem__, reverse=True)[:2]
        all_dofs = np.sqrt(np.mean(np.sum(np.asarray(res_w.reserves) ** 2, 1)))
        _, alone = run(su, seconds, scaled(0.0), st)
        print(f"| {w:g} | {up_s(res_w):.2f} | {free_moments(rollout_to_trial(roll_w))} | {all_dofs:.1f} | "
              + ", ".join(f"{n} {rms[n]:.0f}" for n in top)
              + f" | {rms['hip_rotation_r']:.1f} / {rms['hip_rotation_l']:.1f} | {up_s(alone):.2f} |", flush=True)  # fmt: skip


ILC_DOFS = ["hip_rotation_r", "hip_rotation_l", "axial_rotation", "mtp_angle_r", "mtp_angle_l"]


def joint_ilc(su: Setup, seconds: float, iterations: int = 2, gamma: float = 0.05, clamp: float = 0.1) -> None:
    m, motion0 = su.model, su.motion
    period = motion0.qpos.shape[0] - 1  # the stride's frames (the last repeats the first)
    period_s = period / motion0.rate_hz
    jid = [m.joint(n).id for n in ILC_DOFS]
    qadr, vadr = [int(m.jnt_qposadr[j]) for j in jid], [int(m.jnt_dofadr[j]) for j in jid]
    d, full_m, inertia = mujoco.MjData(m), np.zeros((m.nv, m.nv)), np.zeros(len(jid))
    for k in range(period):
        d.qpos[:] = motion0.qpos[k]
        mujoco.mj_forward(m, d)
        mujoco.mj_fullM(m, d, full_m)
        inertia += np.diag(full_m)[vadr] / period
    omega = 2 * np.pi * np.fft.rfftfreq(period, d=1.0 / motion0.rate_hz)
    dq = np.zeros((period, len(jid)))
    print(f"\n| iteration | largest Δq, ° ({', '.join(ILC_DOFS)}) | with reserves: up (s, of {seconds:g}) | reserves RMS "
          "0.3–2.6 s, N·m (same dofs) | excitations alone: up (s, of 3) |\n|---:|---|---:|---|---:|")  # fmt: skip
    for it in range(iterations + 1):
        mo = copy.deepcopy(motion0)
        mo.qpos[:, qadr] += np.vstack([dq, dq[:1]])
        mo.qvel[:, vadr] += np.gradient(np.vstack([dq[-1:], dq, dq[:2]]), 1.0 / motion0.rate_hz, axis=0)[1:-1]
        su_i = copy.copy(su)
        su_i.motion = mo
        _, res = run(su_i, seconds, scaled(1.0))
        names = list(res.reserve_names)
        ok = (res.time > 0.3) & (res.time < min(up_s(res) - 0.5, 2.6))
        rr = res.reserves[ok]
        rms = np.sqrt(np.mean(rr**2, 0))
        _, res0 = run(su_i, 3.0, scaled(0.0))
        print(f"| {it} | {', '.join(f'{x:.1f}' for x in np.degrees(np.abs(dq).max(0)))} | {up_s(res):.2f} | "
              f"{', '.join(f'{rms[names.index(n)]:.1f}' for n in ILC_DOFS)} | {up_s(res0):.2f} |", flush=True)  # fmt: skip
        if it == iterations:
            break
        phase = ((res.time[ok] % period_s) / period_s * period).astype(int) % period
        for c, n in enumerate(ILC_DOFS):
            r = rr[:, names.index(n)]
            fold = np.array([r[phase == b].mean() if np.any(phase == b) else 0.0 for b in range(period)])
            f = np.fft.rfft(fold)
            x = np.zeros_like(f)
            x[1:] = gamma * f[1:] / (inertia[c] * omega[1:] ** 2)  # Δq'' = −γ r/I  ⇒  X = γ F / (I ω²)
            dq[:, c] = np.clip(dq[:, c] + np.fft.irfft(x, n=period), -clamp, clamp)


def cocontraction(su: Setup, seconds: float) -> None:
    """Does a co-contraction floor give the muscles-only loop the fast feedback its reserves gave? Every muscle's
    activation is kept at or above ``floor`` (as fast as activation dynamics allow), so antagonists stay loaded and
    the muscles' force-length-velocity curves stiffen and damp every joint without delay; the excitations alone act
    (no reserves). Also with the tracking gains raised (``joint_hz``)."""
    orig = T.activation_bounds

    def floored(floor: float) -> Callable:
        def bounds(a: np.ndarray, tau_act: np.ndarray, tau_deact: np.ndarray, h: float) -> tuple:
            lo, hi = orig(a, tau_act, tau_deact, h)
            return np.maximum(lo, np.minimum(floor, hi)), hi

        return bounds

    print(
        f"\n| activation floor | joint_hz | up (s, of {seconds:g}) | mean activation | horizontal speed m/s |\n|---:|---:|---:|---:|---:|"
    )
    for floor, hz in [(0.0, 6.0), (0.02, 6.0), (0.05, 6.0), (0.1, 6.0), (0.2, 6.0), (0.05, 10.0), (0.1, 10.0)]:
        T.activation_bounds = floored(floor)  # type: ignore[assignment]
        try:
            ro, res = run(su, seconds, scaled(0.0), settings=replace(su.settings, joint_hz=hz))
        finally:
            T.activation_bounds = orig  # type: ignore[assignment]
        up = up_s(res)
        keep = ro.time <= up
        speed = float(np.hypot(*(ro.qpos[keep][-1, :2] - ro.qpos[0, :2]))) / max(float(ro.time[keep][-1]), 1e-9)
        print(f"| {floor:g} | {hz:g} | {up:.2f} | {float(np.mean(ro.act[keep])):.3f} | {speed:.2f} |", flush=True)


def mtp_spring(su: Setup, seconds: float) -> None:
    """The toes are the one place the muscles lack capacity (4 muscles, 6-7 N·m; the stride asks 25 N·m peaks at
    push-off). Real feet carry that moment passively (plantar fascia, windlass; intrinsic foot muscles MyoFullBody
    lacks), and OpenSim gait models often lock the joint. Here both mtp joints get a passive spring of stiffness k
    (N·m/rad) toward 0 rad, declared as a model change (the teacher plans with it): the excitations alone, and with
    all the planned reserves applied (the largest planned reserves, RMS N·m)."""
    print(
        f"\n| mtp stiffness N·m/rad | reserves applied | up (s, of {seconds:g}) | planned reserves, largest RMS N·m |"
        "\n|---:|---|---:|---|"
    )
    for k in (0.0, 10.0, 30.0, 100.0):
        m = copy.deepcopy(su.model)
        for n in ("mtp_angle_r", "mtp_angle_l"):
            j = m.joint(n).id
            m.jnt_stiffness[j] = k
            m.qpos_spring[m.jnt_qposadr[j]] = 0.0
        for label, hook in (("none", scaled(0.0)), ("all", scaled(1.0))):
            _, res = run(su, seconds, hook, model=m)
            rms = np.sqrt(np.mean(np.asarray(res.reserves) ** 2, 0))
            top = ", ".join(f"{res.reserve_names[i]} {rms[i]:.1f}" for i in np.argsort(-rms)[:3])
            print(f"| {k:g} | {label} | {up_s(res):.2f} | {top} |", flush=True)


def raise_cost(su: Setup, seconds: float) -> None:
    """Does a plan that prices raising an activation by what it costs to lower it stop the co-contraction runaway?
    Deactivation is slow (τ_deact ≈ 40 ms against a 2 ms step), so an activation raised by δ stays near δ for
    ≈ τ_deact / h steps: its future effort is ≈ δ² τ_deact / (2 h) (≈ 10 δ² here) while the one-step plan charges
    δ² once. Each control step solves the muscle QP, then again with ``w (a − a_now)²`` added for the muscles the
    first solve raised (an asymmetric cost, by one reweighting pass; the eighth pass's symmetric change cost also
    slowed lowering). Excitations alone (and, for w = 10, with the reserves applied)."""
    orig_solve = SO.StaticOptimiser.solve
    orig_control = T.TrackingController.control
    state: dict[str, Any] = {}

    def solve_for(w: float) -> Callable:
        def solve(self: Any, *a: Any, **kw: Any) -> Any:
            a_now = state.get("a")
            x, st, sec = orig_solve(self, *a, **kw)
            if a_now is None or w == 0:
                return x, st, sec
            raised = np.asarray(x[: self.n_mus]) > a_now + 1e-4
            x2, st2, sec2 = _solve_with_change_cost(orig_solve, self, a, kw, a_now, w * raised)
            return x2, st2, sec + sec2

        return solve

    print(
        f"\n| raise cost w | reserves applied | up (s, of {seconds:g}) | mean activation at 0.5 / 1 / 2 s | mean "
        "activation over the run |\n|---:|---|---:|---|---:|"
    )
    T.TrackingController.control = _remembering_activations(orig_control, state)  # type: ignore[method-assign]
    try:
        for w, hook, label in ((0.0, scaled(0.0), "none"), (3.0, scaled(0.0), "none"), (10.0, scaled(0.0), "none"),
                               (30.0, scaled(0.0), "none"), (10.0, scaled(1.0), "all")):  # fmt: skip
            SO.StaticOptimiser.solve = solve_for(w)  # type: ignore[method-assign]
            ro, res = run(su, seconds, hook)
            up = up_s(res)
            at = " / ".join(
                f"{float(np.mean(ro.act[int(np.argmin(np.abs(ro.time - t)))])):.3f}" if t <= up else "-"
                for t in (0.5, 1, 2)
            )
            print(f"| {w:g} | {label} | {up:.2f} | {at} | {float(np.mean(ro.act[ro.time <= up])):.3f} |", flush=True)
    finally:
        SO.StaticOptimiser.solve = orig_solve  # type: ignore[method-assign]
        T.TrackingController.control = orig_control  # type: ignore[method-assign]


PARTS = {"sensitivity": sensitivity, "first-failure": first_failure, "feasibility": feasibility,
         "rate-bounds": rate_bounds, "planners": planners, "joint-ilc": joint_ilc, "servo": servo,
         "reserve-subsets": reserve_subsets, "free-moment": free_moment, "cocontraction": cocontraction,
         "mtp-spring": mtp_spring, "raise-cost": raise_cost}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=sorted(PARTS), action="append", help="run this part (repeatable; default all)")
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds asked per run (default 6)")
    args = ap.parse_args()
    su = Setup()
    for name in args.part or list(PARTS):
        t0 = time.perf_counter()
        print(f"\n## {name}", flush=True)
        PARTS[name](su, args.seconds)
        print(f"({name}: {time.perf_counter() - t0:.0f} s wall)", flush=True)


if __name__ == "__main__":
    main()
