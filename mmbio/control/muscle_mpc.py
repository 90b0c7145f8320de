"""The model-predictive muscle planner of the tracking controller (``TrackingSettings.planner = 'muscle_mpc'``).

The muscle-aware planner (:mod:`mmbio.control.muscle_qp`) plans one control step: it may raise an activation it
cannot lower again within the next tens of milliseconds (deactivation is ≈ 4× slower than activation), and without
reserves its excitations alone fall in ≈ 2 s on the root-free demo stride, co-contracting as they go
(``benchmarks/RESULTS.md``, issue 14). This planner looks ``mpc_stages − 1`` stages of ``mpc_stage_s`` further,
over the activation time constants, in one QP:

    x = [X_0, X_1, …, X_{N−1}, Y_1, …, Y_{N−1}],   X_k = [q̈_k, β_k, s_k, e_k, a_k, r_k] (as the one-step QP),
                                                     Y_k = [p_k, v_k, d_k] (n_ind each)

- every stage has the one-step QP's rows (dynamics, contact, force cone) with the matrices of the current state
  (frozen over the horizon) and the contact plan of the reference at the stage's time;
- the predicted tracking errors follow the planned accelerations (semi-implicit Euler over the stage's length
  h_k): ``v_{k+1} = v_k + h_k (q̈_ref(τ_k) − q̈_k)``, ``p_{k+1} = p_k + h_k v_{k+1}``, from the measured errors
  ``p_0 = q_ref(t) ⊖ q``, ``v_0 = q̇_ref(t) − q̇``;
- stage k ≥ 1 tracks the PD law at its predicted state, ``d_k = q̈_k − K_p p_k − K_d v_k`` against
  ``q̈_ref(τ_k)`` (stage 0: the one-step target ``q̈_des``);
- the activations are linked by MuJoCo's activation dynamics over each stage (time constants frozen at the current
  activations): ``a_k (1 − h/τ_deact') ≤ a_{k+1} ≤ a_k + (1 − a_k) h/τ_act'``, so what is raised now must be
  paid for while it decays;
- each stage's cost is the one-step QP's cost times ``h_k / h_0`` (its share of the horizon's time).

Only the first stage is applied (receding horizon); a run's initial activations come, as for the one-step planner,
from one free-activation solve of the one-step QP. The QP is solved by PIQP (a proximal interior-point method,
Schwan et al. 2023): OSQP, which the one-step planners use, needed 1,000–8,000 iterations on it and stopped
"inaccurate" (5–6 s cold from the walk's start, 20,000 iterations), where PIQP converges in ≈ 30 iterations to
1e-6 (≈ 0.2 s for 6 stages of MyoFullBody on the 2-core VM). Measured in ``benchmarks/RESULTS.md`` ("Tenth
pass").
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import scipy.sparse as sp

from mmbio.control.muscle_qp import plan_output, stage_qp, stage_vectors, state_terms

__all__ = ["mpc_step", "solve_interior"]

#: PIQP's stand-in for an infinite bound
_BIG = 1e30


def solve_interior(ctl: Any, pdiag: np.ndarray, q: np.ndarray, a_mat: sp.csc_matrix, lower: np.ndarray,
                   upper: np.ndarray) -> np.ndarray:  # fmt: skip
    """PIQP on ``min ½ xᵀ diag(2 pdiag) x + qᵀx`` s.t. ``lower ≤ a_mat x ≤ upper``: rows with one entry become
    bounds on their variable, rows with ``lower = upper`` equalities, the rest two-sided inequalities. The solution is
    kept on ``ctl._muscle_mpc_x``; a failed solve counts in ``ctl.unsolved`` (non-finite entries become 0)."""
    import piqp

    a = a_mat.tocsr()
    count = np.diff(a.indptr)
    one = count == 1
    col = a.indices[a.indptr[:-1][one]]
    coef = a.data[a.indptr[:-1][one]]
    lo_one = np.where(coef > 0, lower[one], upper[one]) / coef
    hi_one = np.where(coef > 0, upper[one], lower[one]) / coef
    x_lo, x_hi = np.full(a.shape[1], -np.inf), np.full(a.shape[1], np.inf)
    np.maximum.at(x_lo, col, lo_one)
    np.minimum.at(x_hi, col, hi_one)
    eq = ~one & (lower == upper)
    ineq = ~one & ~eq
    solver = piqp.SparseSolver()
    solver.settings.eps_abs = 1e-6
    solver.settings.eps_rel = 1e-7
    solver.settings.max_iter = 1000  # the default 250 stopped 1–3 % of the closed-loop steps (all its failures)
    solver.setup(
        sp.diags(2 * pdiag).tocsc(), q, a[eq].tocsc(), lower[eq], a[ineq].tocsc(),
        *(np.clip(v, -_BIG, _BIG) for v in (lower[ineq], upper[ineq], x_lo, x_hi)),
    )  # fmt: skip
    status = solver.solve()
    x = np.array(solver.result.x, dtype=float)  # a copy: a view would keep the solver (its factorisation) alive
    if status != piqp.PIQP_SOLVED or not np.all(np.isfinite(x)):
        ctl.unsolved += 1
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    ctl._muscle_mpc_x = x
    return x


def mpc_step(
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
    """One receding-horizon step for :class:`~mmbio.control.tracking.TrackingController` ``ctl`` at the simulated
    state (``ctl.d`` already at ``qpos, qvel``), reference time ``t`` (s), one-step target ``qdd_des`` (n_ind,) and
    first-stage activation bounds ``lo, hi`` (n_mus,). Returns what ``ctl.control`` returns."""
    s, so, m = ctl.s, ctl.so, ctl.m
    n, nm = ctl.n_ind, so.n_mus
    ind = so.indep_dofs
    n_st = int(s.mpc_stages)
    hs = np.r_[ctl.dt, np.full(n_st - 1, float(s.mpc_stage_s))]
    starts = np.r_[0.0, np.cumsum(hs)[:-1]]  # each stage's start, s after t
    st = state_terms(ctl, qpos, qvel, nmat, mfull)
    first = stage_qp(ctl, ctl._contact_rows(t, qpos, qvel, nmat), st, lo, hi)
    # later stages: the same matrix (one state), the reference's contact plan at their own time
    later = [stage_vectors(ctl, ctl._contact_rows(t + tk, qpos, qvel, nmat), st, np.zeros(nm), np.ones(nm))
             for tk in starts[1:]]  # fmt: skip
    lower = [first.lower, *(v[0] for v in later)]
    upper = [first.upper, *(v[1] for v in later)]
    pdiags = [first.pdiag, *(v[2] for v in later)]
    size, act_at = len(first.pdiag), first.act_at
    offs = size * np.arange(n_st + 1)
    n_x = int(offs[-1])

    def pred(k: int) -> int:  # first column of Y_k = [p_k, v_k, d_k], k ≥ 1
        return n_x + 3 * n * (k - 1)

    n_all = pred(n_st)
    q_r, v_r, _ = ctl.ref.at(t)
    err = np.zeros(m.nv)
    mujoco.mj_differentiatePos(m, err, 1.0, qpos, q_r)
    p0, v0 = err[ind], (v_r - qvel)[ind]
    acc_ref = [ctl.ref.at(t + tk)[2][ind] for tk in starts]

    # the stages' own rows, block-diagonal
    a_stages = sp.block_diag([first.a_mat] * n_st, format="coo")
    # the coupling rows: every block is diagonal, (row, column, values) triplets
    r_at = a_stages.shape[0]
    tri_r, tri_c, tri_v = [a_stages.row], [a_stages.col], [a_stages.data]

    def diag(row0: int, col0: int, values: np.ndarray) -> None:
        tri_r.append(row0 + np.arange(len(values)))
        tri_c.append(col0 + np.arange(len(values)))
        tri_v.append(np.asarray(values, float))

    def rows(size: int, lo: np.ndarray, hi: np.ndarray) -> int:
        nonlocal r_at
        lower.append(np.broadcast_to(lo, size).astype(float))
        upper.append(np.broadcast_to(hi, size).astype(float))
        r_at += size
        return r_at - size

    one_n = np.ones(n)
    f = 0.5 + 1.5 * np.clip(act[so._act_adr], 0.0, 1.0)  # MuJoCo's activation-dependent time constants, frozen
    for k in range(1, n_st):
        h = float(hs[k - 1])
        pk, vk, dk = pred(k), pred(k) + n, pred(k) + 2 * n
        qk1, qk = int(offs[k - 1]), int(offs[k])
        # v_k − v_{k−1} + h q̈_{k−1} = h q̈_ref(τ_{k−1})   (v_0 known)
        rhs = h * acc_ref[k - 1] + (v0 if k == 1 else 0.0)
        r = rows(n, rhs, rhs)
        diag(r, vk, one_n)
        diag(r, qk1, h * one_n)
        if k > 1:
            diag(r, pred(k - 1) + n, -one_n)
        # p_k − p_{k−1} − h v_k = 0   (p_0 known)
        rhs = p0 if k == 1 else np.zeros(n)
        r = rows(n, rhs, rhs)
        diag(r, pk, one_n)
        diag(r, vk, -h * one_n)
        if k > 1:
            diag(r, pred(k - 1), -one_n)
        # d_k − q̈_k + K_p p_k + K_d v_k = 0
        r = rows(n, np.zeros(n), np.zeros(n))
        diag(r, dk, one_n)
        diag(r, qk, -one_n)
        diag(r, pk, ctl.kp)
        diag(r, vk, ctl.kd)
        # activation dynamics over the stage: a_k − (1 − c_d) a_{k−1} ≥ 0,  a_k − (1 − c_a) a_{k−1} ≤ c_a
        cd = np.minimum(h * f / ctl.tau_deact, 1.0)
        ca = np.minimum(h / (ctl.tau_act * f), 1.0)
        ak, ak1 = qk + act_at, qk1 + act_at
        r = rows(nm, np.zeros(nm), np.full(nm, np.inf))
        diag(r, ak, np.ones(nm))
        diag(r, ak1, cd - 1.0)
        r = rows(nm, np.full(nm, -np.inf), ca)
        diag(r, ak, np.ones(nm))
        diag(r, ak1, ca - 1.0)
    a_all = sp.csc_matrix((np.concatenate(tri_v), (np.concatenate(tri_r), np.concatenate(tri_c))), shape=(r_at, n_all))
    pdiag = np.zeros(n_all)
    lin = np.zeros(n_all)
    for k, pd in enumerate(pdiags):
        c = float(hs[k] / hs[0])
        pdiag[offs[k] : offs[k + 1]] = c * pd
        if k == 0:
            lin[:n] = -2 * ctl.wq * qdd_des
        else:
            pdiag[offs[k] : offs[k] + n] = 0.0  # stage k's acceleration is priced through d_k
            dk = pred(k) + 2 * n
            pdiag[dk : dk + n] = c * ctl.wq
            lin[dk : dk + n] = -2 * c * ctl.wq * acc_ref[k]
    x = solve_interior(ctl, pdiag, lin, a_all, np.concatenate(lower), np.concatenate(upper))
    return plan_output(ctl, x[: offs[1]], act, lo, hi, act_at, t0)
