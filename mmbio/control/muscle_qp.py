"""The muscle-aware planner of the tracking controller (``TrackingSettings.planner = 'muscle_aware'``).

The default planner solves two QPs per step (:mod:`mmbio.control.tracking`): accelerations and contact forces
first, then the activations that produce them, with reserves making up whatever the muscles cannot. Its plan
ignores what the muscles can deliver in one step of activation dynamics, so the reserves come in bursts (peaks of
60–130 N·m at the lumbar and hips on the root-free demo stride) and its excitations alone, without them, fall in
0.9 s. This planner solves one QP with all of them as unknowns,

    x = [q̈ (n_ind), β (4 n_points), s (6), e (3 n_points), a (n_mus), r (n_res)]
    min  Σ w (q̈ − q̈_des)² + w_β |β|² + w_s |s|² + Σ w_e e² + Σ a² + w_r Σ r²
    s.t. Nᵀ(M + h D)N q̈ − Nᵀ J_cᵀ E β − [I; 0] s − A a − [0; I] r = −b₀      (all n_ind rows of the dynamics)
         J_c N q̈ − e = rhs (no slip in contact, swing targets in the air),  0 ≤ β ≤ cap,  a ∈ [a⁻, a⁺],

with ``A`` the muscles' moment arms × force gain at this state, ``b₀`` the dynamics at zero acceleration with the
muscles' passive forces, and ``[a⁻, a⁺]`` the activations reachable in one step. Reserves cost
``RESERVE_PRICE · reserve_weight`` per (N·m)² against Σ a² and tracking weights of order 100: the plan bends the
tracking before it calls on them. Cost: one OSQP set-up per step (≈ 40–75 ms for MyoFullBody on this 2-core VM,
against ≈ 5 ms for the two QPs). Measured in ``benchmarks/RESULTS.md`` ("A root-free teacher").
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

__all__ = [
    "RESERVE_PRICE", "MuscleAwareQP", "StateTerms", "muscle_aware_step", "plan_output", "qp_terms", "solve_qp",
    "stage_qp", "stage_vectors", "state_terms",
]  # fmt: skip

#: reserve cost per (N·m)² relative to one muscle's a², times ``reserve_weight``
RESERVE_PRICE = 1e3


class MuscleAwareQP(NamedTuple):
    """One step's QP data (see the module docs): constraints ``a_mat`` with bounds ``lower, upper``, the cost's
    diagonal ``pdiag`` (the linear term is ``−2 wq q̈_des`` on the first ``n_ind`` entries) and ``act_at``, the
    index of the first activation in ``x``."""

    a_mat: sp.csc_matrix
    lower: np.ndarray
    upper: np.ndarray
    pdiag: np.ndarray
    act_at: int


class StateTerms(NamedTuple):
    """The dynamics of one simulated state, shared by every stage of a plan made there: ``k_mat = Nᵀ(M + h D)N``
    (n_ind, n_ind), the muscles' ``a_mat`` (n_ind, n_mus) N·m per unit activation and ``b0`` (n_ind,) the dynamics at
    zero acceleration with the muscles' passive forces."""

    k_mat: np.ndarray
    a_mat: np.ndarray
    b0: np.ndarray


def state_terms(ctl: Any, qpos: np.ndarray, qvel: np.ndarray, nmat: np.ndarray, mfull: np.ndarray) -> StateTerms:
    """:class:`StateTerms` at the simulated state (``ctl.d`` already at ``qpos, qvel``)."""
    so = ctl.so
    k_mat = nmat.T @ mfull @ nmat + nmat.T @ (ctl._hd[:, None] * nmat)  # Euler's implicit damping included
    a_mat, b0, _gain, _bias = so.frame_terms(qpos, qvel[so.indep_dofs], np.zeros(ctl.n_ind), [])
    return StateTerms(k_mat, a_mat, b0)


def stage_vectors(ctl: Any, rows: Any, st: StateTerms, lo: np.ndarray, hi: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The bounds ``lower, upper`` and the cost diagonal ``pdiag`` of one plan stage (the parts that change with the
    reference time; :func:`stage_qp` for the arguments)."""
    from mmbio.control.tracking import ROOT_FREE_PRICE

    s, so = ctl.s, ctl.so
    nb, nm, nr = ctl.n_beta, so.n_mus, so.n_res
    price = ROOT_FREE_PRICE if s.root_residual == "none" else 1.0
    pdiag = np.r_[
        ctl.wq, np.full(nb, s.w_force), np.full(3, s.w_residual * price), np.full(3, s.w_residual_moment * price),
        rows.weight, np.ones(nm), np.full(nr, RESERVE_PRICE * s.reserve_weight),
    ]  # fmt: skip
    lower = np.r_[-st.b0, rows.rhs, np.zeros(nb), lo]
    upper = np.r_[-st.b0, rows.rhs, np.minimum(rows.cap, 1e7), hi]
    return lower, upper, pdiag


def stage_qp(ctl: Any, rows: Any, st: StateTerms, lo: np.ndarray, hi: np.ndarray) -> MuscleAwareQP:
    """The QP of one plan stage (see the module docs) with contact rows ``rows``
    (:meth:`~mmbio.control.tracking.TrackingController._contact_rows`), dynamics ``st`` and activation bounds
    ``lo, hi`` (n_mus,). Its matrix depends on the simulated state only (the contact Jacobians are the current
    state's), so stages planned at one state share it."""
    so = ctl.so
    n, nb, nm, nr = ctl.n_ind, ctl.n_beta, so.n_mus, so.n_res
    ne = len(rows.rhs)
    root = sp.csr_matrix((np.ones(6), (np.arange(6), np.arange(6))), shape=(n, 6))
    res = sp.csr_matrix((np.ones(nr), (np.arange(6, n), np.arange(nr))), shape=(n, nr))
    z = sp.csr_matrix
    dyn = sp.hstack([z(st.k_mat), z(-rows.force_map), -root, z((n, ne)), z(-st.a_mat), -res])
    con = sp.hstack([z(rows.jac), z((ne, nb + 6)), -sp.eye(ne), z((ne, nm + nr))])
    bet = sp.hstack([z((nb, n)), sp.eye(nb), z((nb, 6 + ne + nm + nr))])
    acts = sp.hstack([z((nm, n + nb + 6 + ne)), sp.eye(nm), z((nm, nr))])
    return MuscleAwareQP(sp.vstack([dyn, con, bet, acts]).tocsc(), *stage_vectors(ctl, rows, st, lo, hi),
                         n + nb + 6 + ne)  # fmt: skip


def qp_terms(ctl: Any, t: float, qpos: np.ndarray, qvel: np.ndarray, nmat: np.ndarray, mfull: np.ndarray,
             lo: np.ndarray, hi: np.ndarray) -> MuscleAwareQP:  # fmt: skip
    """The QP of :func:`muscle_aware_step` at the simulated state (``ctl.d`` already at ``qpos, qvel``), reference
    time ``t`` (s) and activation bounds ``lo, hi`` (n_mus,)."""
    rows = ctl._contact_rows(t, qpos, qvel, nmat)
    return stage_qp(ctl, rows, state_terms(ctl, qpos, qvel, nmat, mfull), lo, hi)


def solve_qp(ctl: Any, pdiag: np.ndarray, q: np.ndarray, a_mat: sp.csc_matrix, lower: np.ndarray,
             upper: np.ndarray, key: str = "_muscle_qp_x") -> np.ndarray:  # fmt: skip
    """OSQP on ``min ½ xᵀ diag(2 pdiag) x + qᵀx`` s.t. ``lower ≤ a_mat x ≤ upper``, warm-started from the last
    solution kept on ``ctl`` under ``key``; a failed solve counts in ``ctl.unsolved`` (NaNs become 0)."""
    import osqp

    s, so = ctl.s, ctl.so
    solver = osqp.OSQP()
    new_api = int(so.osqp_version.split(".")[0]) >= 1
    solver.setup(
        sp.diags(2 * pdiag).tocsc(), q, a_mat, lower, upper, eps_abs=s.osqp_eps, eps_rel=s.osqp_eps, verbose=False,
        max_iter=8000, **{("polishing" if new_api else "polish"): False},
    )  # fmt: skip
    prev = getattr(ctl, key, None)
    if prev is not None and len(prev) == len(q):
        solver.warm_start(x=prev)
    r = solver.solve(**so._solve_kw)
    x = np.asarray(r.x, float) if r.x is not None else None
    if x is None or not np.all(np.isfinite(x)) or str(r.info.status) not in ("solved", "solved inaccurate"):
        ctl.unsolved += 1
        x = np.zeros(len(q)) if x is None or not np.all(np.isfinite(x)) else x
    setattr(ctl, key, x)
    return x


def plan_output(ctl: Any, x: np.ndarray, act: np.ndarray, lo: np.ndarray, hi: np.ndarray, act_at: int,
                t0: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:  # fmt: skip
    """What ``ctl.control`` returns for the plan ``x`` (one step's unknowns, laid out as in :func:`qp_terms`)."""
    from mmbio.sim.activation_dynamics import excitation_for
    from mmbio.trial import SIDES

    so = ctl.so
    n, nb, nm, nr = ctl.n_ind, ctl.n_beta, so.n_mus, so.n_res
    a_now = np.clip(act[so._act_adr], 0.0, 1.0)
    a_next = np.clip(x[act_at : act_at + nm], lo, hi)
    ctrl = np.zeros(ctl.model.nu)
    ctrl[so.muscles] = excitation_for(a_now, a_next, ctl.tau_act, ctl.tau_deact, ctl.dt)
    contact = np.zeros((2, 3))
    beta = np.maximum(x[n : n + nb], 0.0)
    for k, side in enumerate(ctl.points.side):
        contact[SIDES.index(side)] += ctl.edges @ beta[4 * k : 4 * k + 4]
    return ctl.step_output(ctrl, a_next, x[act_at + nm : act_at + nm + nr], x[n + nb : n + nb + 6], contact, t0)


def muscle_aware_step(
    ctl: Any,
    t: float,
    qpos: np.ndarray,
    qvel: np.ndarray,
    act: np.ndarray,
    qdd_des: np.ndarray,
    nmat: np.ndarray,
    mfull: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    t0: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One step of the muscle-aware planner for :class:`~mmbio.control.tracking.TrackingController` ``ctl`` at the
    simulated state (``ctl.d`` already at ``qpos, qvel``), reference time ``t`` (s), desired accelerations
    ``qdd_des`` (n_ind,), activation bounds ``lo, hi`` (n_mus,). Returns what ``ctl.control`` returns."""
    qp = qp_terms(ctl, t, qpos, qvel, nmat, mfull, lo, hi)
    q = np.zeros(len(qp.pdiag))
    q[: ctl.n_ind] = -2 * ctl.wq * qdd_des
    x = solve_qp(ctl, qp.pdiag, q, qp.a_mat, qp.lower, qp.upper)
    return plan_output(ctl, x, act, lo, hi, qp.act_at, t0)
