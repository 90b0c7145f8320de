"""Contact-consistent muscle tracking controller: drives MyoFullBody along a reference motion with MuJoCo's own
contacts (so the GRF is simulated, not prescribed), after Lee, Park & Lee (2014), "Locomotion control for
many-muscle humanoids", ACM TOG 33(6).

Every control step (the physics step by default, 1 ms on MyoFullBody) solves two quadratic programs at the
simulated state, in the independent coordinates of :class:`~mmbio.control.static_opt.StaticOptimiser`
(root 6 dofs + every independent joint dof; the joint equalities' reactions drop out):

1. **Accelerations and contact forces** (osqp, fixed pattern). Unknowns: accelerations ``q̈`` (n_ind),
   friction-pyramid coefficients ``β ≥ 0`` at the foot contact points (4 edges ``n + μ t_k`` per point),
   root residuals ``s`` (6) and no-slip slacks ``e``. Constraints: the root (Newton–Euler) rows of the
   equations of motion ``(Nᵀ M N q̈ + Nᵀ(c − passive))_root = (Nᵀ J_cᵀ P β)_root + s`` and, for every point in
   contact, ``J_c N q̈ + J̇_c q̇ + k_v v_c = e``. Cost: ``Σ w (q̈ − q̈_des)² + w_e |e|² + w_β |β|² + w_s |s|²``
   with ``q̈_des = q̈_ref + K_p (q_ref ⊖ q) + K_d (q̇_ref − q̇)`` (PD about the reference, root included). A point
   is in contact when it is within ``contact_height_m`` of the floor in the simulation **and** in the
   reference (so a heel about to lift is not pinned), or, with ``touchdown_m > 0``, when it touches the floor
   in the simulation while the reference brings it down and is below ``touchdown_m`` (an early touchdown: the
   floor's force is then planned, not an unmodelled impact); with ``release_m > 0`` a point that the reference
   lifts off lets go gradually over its first ``release_m`` of height; inactive points get ``β = 0`` and a free
   slack.
2. **Muscles** (:class:`~mmbio.control.static_opt.StaticOptimiser` with the contact forces of QP 1 as
   external loads and ``q̈`` of QP 1): ``min Σ a² + w_r Σ r²`` subject to the joint rows of the equations of
   motion, with the next activation bounded by first-order activation dynamics (MuJoCo's muscle
   dynamics, per-actuator time constants): ``a⁺ ∈ [a − h a / τ_d(a), a + h (1 − a) / τ_a(a)]``. The
   excitation that reaches ``a⁺`` in one step of ``h`` is sent as ``ctrl``; reserves ``r`` (one ideal torque
   per independent joint dof) and the root residuals ``s`` are applied as ``qfrc_applied`` and reported.

**GRF-prescribed mode** (``mode='grf_prescribed'``, OpenSim CMC parity): floor contact is switched off and
the measured GRF is applied at the centre of pressure to the foot under it (the way
:func:`~mmbio.control.static_opt.static_optimisation` does); QP 1 then has no contact unknowns and the root
residuals carry whatever the measured loads and the model's inertia disagree on. The Trial says
"GRF prescribed".

Looping: a reference shorter than the requested duration is looped over one gait cycle (a periodic
motion as a whole; otherwise the last right-heel-strike-to-right-heel-strike cycle of its stance plan),
with the cycle's end mismatch spread linearly over the cycle and the forward translation carried on.
"""

from __future__ import annotations

import copy
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np
import scipy.sparse as sp

from mmbio.control.foot_loads import FootPoints, cop_loads, foot_bodies, grf_on_time
from mmbio.control.placement import FootPlacement
from mmbio.control.reference import LoopedReference
from mmbio.control.static_opt import RESIDUAL_NAMES, StaticOptimiser
from mmbio.control.tracking_settings import MODES, TrackingSettings
from mmbio.errors import MmbioError
from mmbio.sim.activation_dynamics import activation_bounds, excitation_for
from mmbio.sim.foot_geometry import GRAVITY
from mmbio.trial import SIDES, GroundReaction

#: QP 1's root-residual price multiplier when ``root_residual='none'`` (measured: ×10⁴ leaves ≈ 0.003 BW planned;
#: ×10⁶ changes nothing more and costs solver accuracy)
ROOT_FREE_PRICE = 1e4
# --------------------------------------------------------------------------------------------------
# the controller
# --------------------------------------------------------------------------------------------------


@dataclass
class TrackingResult:
    """What a tracking run produced besides the rollout.

    time: (T,) s of the records (physics steps). residuals: (T, 6) root residual forces (N, world) and
    moments (N·m, root frame) applied. reserves: (T, n_res) reserve torques (N·m or N), columns
    ``reserve_names``. contact_plan: (T, 2, 3) planned total contact force per foot ('r', 'l'), world
    frame (N). tracking_rmse_deg: per independent joint (deg or mm for slides). qp_ms: (T,) wall time of
    both QPs. status: unsolved counts. fell / fell_at_s / fall_reason.
    """

    time: np.ndarray
    residuals: np.ndarray
    reserves: np.ndarray
    reserve_names: list[str]
    contact_plan: np.ndarray
    qp_ms: np.ndarray
    mass_kg: float
    mode: str
    wall_s: float
    sim_s: float
    tracking_rmse_deg: dict[str, float] = field(default_factory=dict)
    unsolved: int = 0
    fell: bool = False
    fell_at_s: float | None = None
    fall_reason: str = ""
    #: 'applied' or 'none' (no force ever acted on the pelvis: the residuals are 0 by construction)
    root_residual: str = "applied"
    #: horizontal distance (m) of the pelvis from the reference path at the end (reported with root_residual 'none')
    path_drift_m: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def residual_force_rms_bw(self) -> float:
        """RMS over steps of |root residual force| in body weights."""
        return float(np.sqrt(np.mean(np.sum(self.residuals[:, :3] ** 2, 1))) / (self.mass_kg * GRAVITY))

    @property
    def residual_moment_rms_nm(self) -> float:
        return float(np.sqrt(np.mean(np.sum(self.residuals[:, 3:] ** 2, 1))))

    @property
    def reserve_rms_nm(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.reserve_names, np.sqrt(np.mean(self.reserves**2, 0)), strict=True)}

    @property
    def real_time_factor(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.sim_s / self.wall_s if self.wall_s > 0 else float("nan")

    def summary(self) -> str:
        res = self.reserve_rms_nm
        worst = max(res.items(), key=lambda kv: kv[1]) if res else ("-", 0.0)
        reserve = f"largest reserve RMS {worst[1]:.1f} ({worst[0]})" if worst[1] > 0 else "no reserve applied"
        rmse = np.mean(list(self.tracking_rmse_deg.values())) if self.tracking_rmse_deg else float("nan")
        fall = f"FELL at {self.fell_at_s:.2f} s ({self.fall_reason}); " if self.fell else ""
        return (
            f"tracking ({'GRF prescribed' if self.mode == 'grf_prescribed' else 'MuJoCo contacts'}): {fall}"
            f"{self.sim_s:.2f} s simulated, root residual force RMS {self.residual_force_rms_bw:.3f} BW, moment RMS "
            f"{self.residual_moment_rms_nm:.1f} N·m; {reserve}; "
            f"mean joint RMSE {rmse:.2f} deg; real-time factor {self.real_time_factor:.3f}; {self.unsolved} unsolved QPs"
        )


@dataclass
class ContactRows:
    """QP 1's contact data at one state (``n_points`` foot points, 4 pyramid edges each).

    force_map: (n_ind, 4 n_points) generalised force per pyramid coefficient (``Nᵀ J_pᵀ E``). jac: (3 n_points,
    n_ind) point Jacobians (``J_p N``). rhs: (3 n_points,) the no-slip (in contact) or swing-tracking (in the air)
    target of ``jac · q̈ − e``, m/s². weight: (3 n_points,) the weight of the slack ``e``. cap: (4 n_points,)
    upper bound of each pyramid coefficient (N; 0 off the floor). points: (point (3,), active) per point.
    """

    force_map: np.ndarray
    jac: np.ndarray
    rhs: np.ndarray
    weight: np.ndarray
    cap: np.ndarray
    points: list[tuple[np.ndarray, bool]]


class TrackingController:
    """The two-QP tracking controller for one model, reference and settings (see the module docstring).

    Use :func:`track` to run it; :meth:`control` computes one step's excitations and applied forces.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        reference: LoopedReference,
        settings: TrackingSettings,
        *,
        grf: dict[str, GroundReaction] | None = None,
        grf_t0_s: float = 0.0,
    ) -> None:
        import osqp

        if settings.physics_dt > 0 and abs(float(model.opt.timestep) - settings.physics_dt) > 1e-12:
            raise MmbioError(f"tracking: the settings ask for a {settings.physics_dt:g} s physics step, the model has "
                             f"{float(model.opt.timestep):g} s")  # fmt: skip
        self.s = settings
        self.model = model
        self.ref = reference
        self.so = StaticOptimiser(model, reserve_weight=settings.reserve_weight, eps=settings.osqp_eps, polish=False)
        so = self.so
        m = so.model  # contacts/constraints off: dynamics terms only
        self.m, self.d = m, mujoco.MjData(m)
        self.n_ind = so.n_ind
        self.mass = float(mujoco.mj_getTotalmass(m))
        self.dt = float(model.opt.timestep) * int(settings.substeps)
        # muscle activation dynamics per muscle
        mus = so.muscles
        self.tau_act = model.actuator_dynprm[mus, 0].astype(float)
        self.tau_deact = model.actuator_dynprm[mus, 1].astype(float)
        if np.any(model.actuator_dynprm[mus, 2] != 0):
            raise MmbioError("tracking: smooth activation-dynamics transitions (dynprm[2] ≠ 0) are not supported")
        # PD gains per independent coordinate
        w = 2 * np.pi
        kp = np.full(self.n_ind, (w * settings.joint_hz) ** 2)
        kp[:3] = (w * settings.root_pos_hz) ** 2
        kp[3:6] = (w * settings.root_rot_hz) ** 2
        self.kp = kp
        self.kd = 2 * settings.damping * np.sqrt(kp)
        wq = np.full(self.n_ind, settings.w_joint)
        wq[:3], wq[3:6] = settings.w_root_pos, settings.w_root_rot
        wq[6:][~self._leg_dofs(m, so.indep_dofs[6:])] = settings.w_upper
        self.wq = wq
        # contact points (mode 'contact')
        self.points = FootPoints.of(m) if settings.mode == "contact" else FootPoints.empty()
        if settings.mode != "contact":
            if not grf:
                raise MmbioError("tracking: mode 'grf_prescribed' needs measured GRF (grf=...)")
            self.grf = grf
            self.grf_t0 = grf_t0_s
            self.foot = {side: foot_bodies(m, side) for side in grf}
        npnt = len(self.points)
        self.n_beta = 4 * npnt
        self.placement: FootPlacement | None = None
        if settings.placement:
            self.placement = FootPlacement(m, reference, self.points, settings, self.dt)
            reference.offset = self.placement.offset  # the reference reads the rule's shifts (one shared array)
        self._side_points = [self.points.of_side(side) for side in SIDES]
        mu = settings.mu
        self.edges = np.array([[mu, 0, 1], [-mu, 0, 1], [0, mu, 1], [0, -mu, 1]], float).T  # (3, 4) world
        # QP 1: x = [qacc (n), beta (nb), s (6), e (3 np), z (2: each foot's moment about the vertical, only with
        # w_free_moment)]
        n, nb, ne = self.n_ind, self.n_beta, 3 * npnt
        nz = 2 if npnt and settings.w_free_moment > 0 else 0
        self.nx = n + nb + 6 + ne + nz
        self._iq, self._ib, self._is, self._ie = 0, n, n + nb, n + nb + 6
        dense = np.ones
        if npnt:
            z_col = [None] if nz else []
            blocks = [
                [sp.csr_matrix(dense((6, n))), sp.csr_matrix(dense((6, nb))), -sp.eye(6), None, *z_col],
                [sp.csr_matrix(dense((ne, n))), None, None, -sp.eye(ne), *z_col],
                *([[None, sp.csr_matrix(dense((nz, nb))), None, None, -sp.eye(nz)]] if nz else []),
                [None, sp.eye(nb), None, None, *z_col],
            ]
        else:
            blocks = [[sp.csr_matrix(dense((6, n))), -sp.eye(6)]]
        a = sp.bmat(blocks, format="csc")
        a.sort_indices()
        self._a1 = a
        self.n_eq = 6 + ne + nz
        # data slots: rebuild the dense blocks by (row, col) lookup
        rows, cols = self._rows_cols(a)
        self._slot_m = np.flatnonzero((rows < 6) & (cols < n))
        self._slot_g = np.flatnonzero((rows < 6) & (cols >= n) & (cols < n + nb))
        self._slot_j = np.flatnonzero((rows >= 6) & (rows < 6 + ne) & (cols < n))
        self._slot_z = np.flatnonzero((rows >= 6 + ne) & (rows < 6 + ne + nz) & (cols >= n) & (cols < n + nb))
        self._rc = (rows, cols)
        price = ROOT_FREE_PRICE if settings.root_residual == "none" else 1.0
        pdiag = np.r_[
            wq,
            np.full(nb, settings.w_force),
            np.full(3, settings.w_residual * price),
            np.full(3, settings.w_residual_moment * price),
            np.full(ne, settings.w_slip),
            np.full(nz, settings.w_free_moment),
        ]
        self._pdiag = pdiag
        self._p1 = sp.diags(2 * pdiag).tocsc()
        self._l1 = np.r_[np.zeros(self.n_eq), np.zeros(nb)]
        self._u1 = np.r_[np.zeros(self.n_eq), np.zeros(nb)]
        self.qp1 = osqp.OSQP()
        new_api = int(so.osqp_version.split(".")[0]) >= 1
        self.qp1.setup(
            self._p1, np.zeros(self.nx), a, self._l1, self._u1, eps_abs=settings.osqp_eps, eps_rel=settings.osqp_eps,
            warm_starting=True, verbose=False, max_iter=4000, **{("polishing" if new_api else "polish"): False},
        )  # fmt: skip
        self._kw = so._solve_kw
        self._full_m = np.zeros((m.nv, m.nv))
        self._jacp = np.zeros((3, m.nv))
        self._jacd = np.zeros((3, m.nv))
        self.unsolved = 0
        self._fq_grf = np.zeros(m.nv)
        implicit = model.opt.integrator in (mujoco.mjtIntegrator.mjINT_EULER, mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
                                            mujoco.mjtIntegrator.mjINT_IMPLICIT)  # fmt: skip
        self._hd = float(model.opt.timestep) * model.dof_damping if implicit else np.zeros(model.nv)
        #: reference clock offset (s): the reference is read at ``t − clock_shift`` (``phase_rate``)
        self.clock_shift = 0.0

    def ref_time(self, t: float) -> float:
        """The reference time (s) that simulation time ``t`` tracks (``t`` unless the clock follows the pelvis)."""
        return t - self.clock_shift

    def reset_clock(self) -> None:
        """Start a new run: the reference clock equals the simulation's again, and no foot-placement shift."""
        self.clock_shift = 0.0
        if self.placement is not None:
            self.placement.reset()

    def _follow_pelvis(self, t: float, qpos: np.ndarray) -> None:
        """Move the reference clock so that the reference pelvis stays level with the simulated one along the
        direction of travel: ``d(shift)/dt = phase_rate · e / v`` (e: the reference pelvis's lead, m; v: its
        horizontal speed, at least 0.3 m/s)."""
        q_r, v_r, _ = self.ref.at(self.ref_time(t))
        vh = v_r[:2]
        speed = float(np.linalg.norm(vh))
        if speed < 1e-6:
            return
        lead = float((q_r[:2] - qpos[:2]) @ (vh / speed))
        self.clock_shift += self.s.phase_rate * self.dt * lead / max(speed, 0.3)

    @staticmethod
    def _leg_dofs(m: mujoco.MjModel, dofs: np.ndarray) -> np.ndarray:
        """(len(dofs),) bool: the dof moves a body below a femur (a leg dof)."""
        femurs = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"femur_{s}") for s in SIDES} - {-1}
        out = np.zeros(len(dofs), dtype=bool)
        for k, dof in enumerate(dofs):
            b = int(m.dof_bodyid[dof])
            while b > 0 and b not in femurs:
                b = int(m.body_parentid[b])
            out[k] = b in femurs
        return out

    @staticmethod
    def _rows_cols(a: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray]:
        cols = np.repeat(np.arange(a.shape[1]), np.diff(a.indptr))
        return a.indices.copy(), cols

    # ----------------------------------------------------------------------------------------------
    def _state_terms(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m, d = self.m, self.d
        nmat = self.so.null_matrix(qpos).copy()
        d.qpos[:] = qpos
        d.qvel[:] = qvel
        mujoco.mj_fwdPosition(m, d)
        mujoco.mj_fwdVelocity(m, d)
        mujoco.mj_fullM(m, d, self._full_m)
        return nmat, self._full_m, d.qfrc_bias - d.qfrc_passive

    def _grf_loads(self, t: float, qpos: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        return cop_loads(self.d, self.foot, grf_on_time(self.grf, np.array([t + self.grf_t0])), 0)

    def control(
        self, t: float, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, *, free_activations: bool = False
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """One control step at the simulated state.

        Returns (ctrl (nu,) excitations in [0, 1], qfrc_applied (nv,) reserves + root residuals, info with
        'residual' (6,), 'reserve' (n_res,), 'contact' (2, 3) planned contact force per foot (N, world),
        'ms' QP wall time).
        """
        s, so, m = self.s, self.so, self.m
        t0 = _time.perf_counter()
        if s.phase_rate > 0 and not free_activations:
            self._follow_pelvis(t, qpos)
        t = self.ref_time(t)  # from here on: reference time
        if self.placement is not None and not free_activations:
            self.placement.update(t, qpos, qvel)
        q_r, v_r, a_r = self.ref.at(t + self.dt)  # aim at the state one control step ahead
        err = np.zeros(m.nv)
        mujoco.mj_differentiatePos(m, err, 1.0, qpos, q_r)
        ind = so.indep_dofs
        qdd_des = a_r[ind] + self.kp * err[ind] + self.kd * (v_r[ind] - qvel[ind])
        nmat, mfull, h = self._state_terms(qpos, qvel)
        if s.planner != "two_qp":
            from mmbio.control.muscle_mpc import mpc_step
            from mmbio.control.muscle_qp import muscle_aware_step

            a_now = np.clip(act[so._act_adr], 0.0, 1.0)
            bounds = (
                (np.zeros(so.n_mus), np.ones(so.n_mus)) if free_activations
                else activation_bounds(a_now, self.tau_act, self.tau_deact, self.dt)
            )  # fmt: skip
            plan = mpc_step if s.planner == "muscle_mpc" and not free_activations else muscle_aware_step
            return plan(self, t, qpos, qvel, act, qdd_des, nmat, mfull, *bounds, t0)
        qvel_ind = qvel[ind]
        m_root = nmat[:, :6].T @ mfull @ nmat  # root rows of Nᵀ M N (6, n_ind)
        h_root = (nmat.T @ h)[:6]
        n, nb = self.n_ind, self.n_beta
        loads: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        ax = self._a1.data
        ax[self._slot_m] = m_root[self._rc[0][self._slot_m], self._rc[1][self._slot_m]]
        l1, u1 = self._l1, self._u1
        l1[:6] = u1[:6] = -h_root
        pdiag = self._pdiag.copy()
        d = self.d
        contact_pts = []
        if self.points:
            rows = self._contact_rows(t, qpos, qvel, nmat)
            g = rows.force_map[:6]
            jrows = rows.jac
            contact_pts = rows.points
            ne = len(rows.rhs)
            l1[6 : 6 + ne] = u1[6 : 6 + ne] = rows.rhs
            pdiag[self._ie : self._ie + ne] = rows.weight
            u1[self.n_eq : self.n_eq + nb] = rows.cap
            ax[self._slot_g] = -g[self._rc[0][self._slot_g], self._rc[1][self._slot_g] - n]
            ax[self._slot_j] = jrows[self._rc[0][self._slot_j] - 6, self._rc[1][self._slot_j]]
            if len(self._slot_z):
                zrow = self._free_moment_rows(contact_pts)
                ax[self._slot_z] = zrow[self._rc[0][self._slot_z] - 6 - ne, self._rc[1][self._slot_z] - n]
        else:
            loads = self._grf_loads(t, qpos)
            fq = self._fq_grf
            fq[:] = 0.0
            for body, f, tq, pnt in loads:
                mujoco.mj_applyFT(m, d, f, tq, pnt, body, fq)
            l1[:6] = u1[:6] = -h_root + (nmat.T @ fq)[:6]
        qlin = np.zeros(self.nx)
        qlin[:n] = -2 * self.wq * qdd_des
        self.qp1.update(q=qlin, Px=2 * pdiag, Ax=ax, l=l1, u=u1)
        r1 = self.qp1.solve(**self._kw)
        x1 = np.asarray(r1.x, float) if r1.x is not None else None
        if x1 is None or not np.all(np.isfinite(x1)) or str(r1.info.status) not in ("solved", "solved inaccurate"):
            self.unsolved += 1
            x1 = np.zeros(self.nx) if x1 is None or not np.all(np.isfinite(x1)) else x1
        qdd = x1[:n]
        contact = np.zeros((2, 3))
        if self.points:
            beta = np.maximum(x1[self._ib : self._ib + nb], 0.0)
            for k, (side, b) in enumerate(zip(self.points.side, self.points.body, strict=True)):
                f = self.edges @ beta[4 * k : 4 * k + 4]
                if f[2] <= 0:
                    continue
                loads.append((b, f, np.zeros(3), contact_pts[k][0]))
                contact[SIDES.index(side)] += f
        # QP 2: muscles
        a_mat, b, _gain, _bias = so.frame_terms(qpos, qvel_ind, qdd, loads)
        # Euler integrates joint damping implicitly: the step's acceleration sees M + h·D
        b = b + nmat.T @ (self._hd * (nmat @ qdd))
        if s.actuation == "torques":  # diagnostic: ideal joint torques, muscles passive
            return self.step_output(np.zeros(self.model.nu), np.zeros(so.n_mus), b[6:], b[:6].copy(), contact, t0)
        a_now = np.clip(act[so._act_adr], 0.0, 1.0)
        if free_activations:  # any activation in [0, 1] (the initial state), not one step of activation dynamics
            lo, hi = np.zeros_like(a_now), np.ones_like(a_now)
        else:
            lo, hi = activation_bounds(a_now, self.tau_act, self.tau_deact, self.dt)
        nm = so.n_mus
        so._l[so.n_ind : so.n_ind + nm] = np.clip(lo, 0.0, 1.0)
        so._u[so.n_ind : so.n_ind + nm] = np.clip(hi, 0.0, 1.0)
        x2, st, _ = so.solve(a_mat, b)
        if not np.all(np.isfinite(x2)) or st not in ("solved", "solved inaccurate"):
            self.unsolved += 1
            x2 = np.nan_to_num(x2)
        a_next = np.clip(x2[:nm], lo, hi)
        ctrl = np.zeros(self.model.nu)
        ctrl[so.muscles] = excitation_for(a_now, a_next, self.tau_act, self.tau_deact, self.dt)
        return self.step_output(ctrl, a_next, x2[nm : nm + so.n_res], x2[nm + so.n_res :], contact, t0)

    def step_output(
        self,
        ctrl: np.ndarray,
        a_next: np.ndarray,
        reserve: np.ndarray,
        residual: np.ndarray,
        contact: np.ndarray,
        t0: float,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """What :meth:`control` returns, from a plan: the generalised forces applied (reserves on the joint dofs only
        with ``reserves='applied'``; the root residual only with ``root_residual='applied'``; the measured loads in the
        GRF-prescribed mode) and the info dict (``residual`` and ``reserve`` applied, ``residual_planned`` and
        ``reserve_planned``). ``t0``: the step's start (``perf_counter``)."""
        ind = self.so.indep_dofs
        applied = self.s.root_residual == "applied"
        qfrc = np.zeros(self.m.nv)
        if applied:
            qfrc[ind[:6]] = residual
        if self.s.reserves == "applied":
            qfrc[ind[6:]] = reserve
        if not self.points:  # GRF prescribed: the measured loads act on the simulation too
            qfrc += self._fq_grf
        info = {
            "a_next": a_next,
            "residual": residual if applied else np.zeros(6),
            "residual_planned": residual,
            "reserve": reserve if self.s.reserves == "applied" else np.zeros_like(reserve),
            "reserve_planned": reserve,
            "contact": contact,
            "ms": 1e3 * (_time.perf_counter() - t0),
        }
        return ctrl, qfrc, info

    def _free_moment_rows(self, contact_pts: list[tuple[np.ndarray, bool]]) -> np.ndarray:
        """(2, 4 n_points): each foot's ('r', 'l') moment about the vertical through the centroid of its contact
        points per pyramid coefficient, N·m per N: ``((p_k − p̄) × d_j)_z`` for point k, edge j."""
        pts = np.array([p for p, _ in contact_pts])
        out = np.zeros((2, len(pts), 4))
        for si, sel in enumerate(self._side_points):
            r = pts[sel] - pts[sel].mean(axis=0)
            out[si, sel] = np.outer(r[:, 0], self.edges[1]) - np.outer(r[:, 1], self.edges[0])
        return out.reshape(2, self.n_beta)

    def _contact_rows(self, t: float, qpos: np.ndarray, qvel: np.ndarray, nmat: np.ndarray) -> ContactRows:
        """The contact part of QP 1 at the simulated state (``self.d`` at ``qpos, qvel``) and reference time ``t``:
        which foot points are in contact, their no-slip or swing rows and the caps on their pyramid forces."""
        s, m, d = self.s, self.m, self.d
        npnt, n = len(self.points), self.n_ind
        force_map = np.zeros((n, self.n_beta))
        jrows = np.zeros((3 * npnt, n))
        rhs_all, weight, caps = np.zeros(3 * npnt), np.zeros(3 * npnt), np.zeros(self.n_beta)
        contact_pts = []
        rp, rv, ra = self._ref_points(t + self.dt)
        ref_low = rp[:, 2]
        wf = (2 * np.pi * s.foot_hz) ** 2
        low = self.points.lowest(d)
        for k, b in enumerate(self.points.body):
            p = low[k]
            mujoco.mj_jac(m, d, self._jacp, None, p, b)
            mujoco.mj_jacDot(m, d, self._jacd, None, p, b)
            jn = self._jacp @ nmat  # (3, n_ind)
            jrows[3 * k : 3 * k + 3] = jn
            force_map[:, 4 * k : 4 * k + 4] = jn.T @ self.edges
            touching = p[2] < s.contact_height_m
            # force cap: full while the reference keeps the point down, ramped to 0 as the reference lifts
            # it by unload_m, so the load moves off a lifting heel over a few tens of ms, not in one step
            lift = (ref_low[k] - s.contact_height_m) / max(s.unload_m, 1e-9)
            # early touchdown: the simulation has put the point on the floor while the reference brings it
            # down (below touchdown_m, descending): it is in contact (MuJoCo's floor pushes on it anyway)
            landing = touching and lift > 0 and ref_low[k] < s.touchdown_m and rv[k, 2] < 0
            if landing:
                lift = 0.0
            cap = 0.0 if not touching else (np.inf if lift <= 0 else max(0.0, 1.0 - lift) * self.mass * GRAVITY)
            # release: a point the reference lifts off (rising) lets go gradually as the simulation raises it
            # from the floor to release_m, so its no-slip rows and force do not vanish in one step at toe off
            keep = 1.0
            if s.release_m > 0 and touching and rv[k, 2] > 0:
                keep = float(np.clip(1.0 - max(p[2], 0.0) / s.release_m, 0.0, 1.0))
                cap = min(cap, keep * self.mass * GRAVITY)
            active = touching and cap > 0
            contact_pts.append((p, active))
            vc = self._jacp @ qvel
            swing = ra[k] + wf * (rp[k] - p) + 2 * np.sqrt(wf) * (rv[k] - vc) - self._jacd @ qvel
            if active:  # no slip: jn q̈ − e = −J̇q̇ − k_v v_t (tangential; the floor stops the normal part)
                rhs = -(self._jacd @ qvel) - s.slip_kv * np.array([vc[0], vc[1], 0.0])
                if lift > 0:  # lifting: the normal component follows the reference
                    rhs[2] = swing[2]
                weight[3 * k : 3 * k + 3] = max(s.w_slip * keep, 1e-6)
            else:  # swing: the point follows the reference (touch-down placement and speed)
                rhs = swing
                weight[3 * k : 3 * k + 3] = max(s.w_foot, 1e-6)
            rhs_all[3 * k : 3 * k + 3] = rhs
            caps[4 * k : 4 * k + 4] = cap / 4
        return ContactRows(force_map, jrows, rhs_all, weight, caps, contact_pts)

    def _ref_points(self, t: float, h: float = 0.004) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lowest points (m) of the contact spheres in the reference at t, and their velocity and acceleration
        (central differences over ±h s), each (n_points, 3), world frame."""
        m = self.m
        dd = getattr(self, "_dref", None)
        if dd is None:
            dd = self._dref = mujoco.MjData(m)
        out = []
        for tt in (t - h, t, t + h):
            dd.qpos[:] = self.ref.at(max(tt, 0.0))[0]
            mujoco.mj_kinematics(m, dd)
            out.append(self.points.lowest(dd))
        p0, p1, p2 = out
        return p1, (p2 - p0) / (2 * h), (p2 - 2 * p1 + p0) / h**2


# --------------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------------

#: Fall criteria: pelvis (root) height below this fraction of its reference height, or the pelvis this far (m)
#: from the reference (only vertically with ``root_residual='none'``: a drift from the path is then reported).
FALL_HEIGHT_FRACTION = 0.7
FALL_ROOT_DEVIATION_M = 0.5


def track(
    motion: Any,
    *,
    duration_s: float | None = None,
    settings: TrackingSettings | None = None,
    grf: dict[str, GroundReaction] | None = None,
    grf_t0_s: float = 0.0,
    record_every: int = 10,
    progress: Callable[[float, float], None] | None = None,
    model: mujoco.MjModel | None = None,
    root_correction: np.ndarray | None = None,
) -> tuple[Any, TrackingResult]:
    """Run the tracking controller along ``motion`` for ``duration_s`` (default: the motion's duration).

    Returns (rollout, result): a :class:`~mmbio.sim.rollout_cpu.Rollout` recorded every ``record_every``
    physics steps (its ``qfrc_applied`` holds the reserves and residuals applied, so the contact forces
    can be recomputed exactly) and the :class:`TrackingResult` (per physics step). ``progress(t, duration)``
    is called about every 50 ms of simulated time. A fall (root below 70 % of its reference height or
    0.5 m away from the reference) stops the run; the rollout is kept up to the fall and flagged.
    root_correction: a ``(n, 3)`` periodic root-path correction (m) of the reference over one cycle (see
    :func:`mmbio.control.consistency.root_correction`); by default it is computed when
    ``settings.consistency_iterations > 0`` (tens of seconds).
    """
    from mmbio.sim.rollout_cpu import Rollout

    settings = settings or TrackingSettings()
    base = model if model is not None else motion.mj_model()
    sim_model = copy.deepcopy(base)
    if settings.physics_dt > 0:
        sim_model.opt.timestep = settings.physics_dt
    if settings.mode == "grf_prescribed":
        sim_model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    dur = float(duration_s) if duration_s is not None else float(motion.duration)
    if root_correction is None and settings.consistency_iterations > 0:
        from mmbio.control.consistency import root_correction as _consistent

        root_correction = _consistent(motion, base, settings)
    ref = LoopedReference(motion, sim_model, dur, cutoff_hz=settings.reference_cutoff_hz,
                          root_cutoff_hz=settings.root_cutoff_hz or None, root_correction=root_correction)  # fmt: skip
    ctl = TrackingController(sim_model, ref, settings, grf=grf, grf_t0_s=grf_t0_s)
    data = mujoco.MjData(sim_model)
    q0, v0, _ = ref.at(0.0)
    data.qpos[:] = q0
    data.qvel[:] = v0
    mujoco.mj_forward(sim_model, data)
    # initial activations: the static-optimisation solution at the start (bounds [0, 1])
    so = ctl.so
    _, _, info0 = ctl.control(0.0, data.qpos.copy(), data.qvel.copy(), np.zeros(sim_model.na), free_activations=True)
    data.act[so._act_adr] = info0["a_next"]
    mujoco.mj_forward(sim_model, data)

    sub = int(settings.substeps)
    n_ctrl = round(dur / ctl.dt)
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("time", "qpos", "qvel", "act", "ctrl", "qfrc")}
    residuals, reserves, planned, contact, ms, times = [], [], [], [], [], []
    err_sq = np.zeros(ctl.n_ind - 6)
    n_err = 0
    fell, fell_at, reason = False, None, ""
    wall0 = _time.perf_counter()
    step = 0
    last_prog = -1.0
    z_ref0 = q0[2]
    for k in range(n_ctrl):
        t = float(data.time)
        ctrl, qfrc, info = ctl.control(t, data.qpos.copy(), data.qvel.copy(), data.act.copy())
        data.ctrl[:] = ctrl
        data.qfrc_applied[:] = qfrc
        for _ in range(sub):
            if step % record_every == 0:
                rec["time"].append(np.array(data.time))
                rec["qpos"].append(data.qpos.copy())
                rec["qvel"].append(data.qvel.copy())
                rec["act"].append(data.act.copy())
                rec["ctrl"].append(ctrl.copy())
                rec["qfrc"].append(qfrc.copy())
            mujoco.mj_step(sim_model, data)
            step += 1
        residuals.append(info["residual"])
        reserves.append(info["reserve"])
        planned.append(info["reserve_planned"])
        contact.append(info["contact"])
        ms.append(info["ms"])
        times.append(t)
        q_r, _, _ = ref.at(ctl.ref_time(float(data.time)), placed=False)
        e = np.zeros(sim_model.nv)
        mujoco.mj_differentiatePos(sim_model, e, 1.0, data.qpos, q_r)
        err_sq += e[so.indep_dofs[6:]] ** 2
        n_err += 1
        bad = not (np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel)))
        # without root help the body can only be steered back to the reference's line by stepping: a drift
        # sideways or along the path is reported, and only the height criterion ends the run
        off = np.linalg.norm(e[:3]) if settings.root_residual == "applied" else abs(e[2])
        if bad or data.qpos[2] < FALL_HEIGHT_FRACTION * z_ref0 or off > FALL_ROOT_DEVIATION_M:
            fell, fell_at = True, float(data.time)
            reason = (
                "non-finite state" if bad else
                f"root {data.qpos[2]:.2f} m high (reference {q_r[2]:.2f} m), {np.linalg.norm(e[:3]):.2f} m from the reference"
            )  # fmt: skip
            break
        if progress is not None and (t - last_prog >= 0.05 or k == n_ctrl - 1):
            progress(float(data.time), dur)
            last_prog = t
    wall = _time.perf_counter() - wall0
    if progress is not None:
        progress(float(data.time), dur)
    names = [sim_model.joint(int(sim_model.dof_jntid[dd])).name for dd in so.indep_dofs[6:]]
    slide = sim_model.jnt_type[sim_model.dof_jntid[so.indep_dofs[6:]]] == int(mujoco.mjtJoint.mjJNT_SLIDE)
    rmse = np.sqrt(err_sq / max(n_err, 1))
    rmse = np.where(slide, rmse * 1e3, np.degrees(rmse))
    notes = list(ref.notes)
    if settings.root_residual == "none":
        notes.append("no root residual applied (root_residual 'none'): the contacts alone carry the body")
    if settings.reserves == "none" and planned:
        rms = np.sqrt(np.mean(np.asarray(planned) ** 2, axis=0))
        worst = int(np.argmax(rms))
        notes.append(f"no reserve applied (reserves 'none'): the muscles alone actuate the joints; the plan's own "
                     f"reserves (never applied) reached {rms[worst]:.1f} N·m RMS ({so.reserve_names[worst]})")  # fmt: skip
    drift = None
    if settings.root_residual == "none":
        e = np.zeros(sim_model.nv)
        mujoco.mj_differentiatePos(sim_model, e, 1.0, data.qpos, ref.at(ctl.ref_time(float(data.time)))[0])
        drift = float(np.linalg.norm(e[:2]))
        notes.append(f"pelvis {drift:.2f} m from the reference path (horizontal) at the end")
    if ctl.placement is not None:
        pl = ctl.placement
        notes.append(f"lateral foot placement (k_p {settings.placement_kp:g}, k_d {settings.placement_kd:g} s, τ "
                     f"{settings.placement_tau_s:g} s): swing hip adduction shifted up to "
                     f"{np.degrees(pl.peak[0]):.1f}° right, {np.degrees(pl.peak[1]):.1f}° left; at the "
                     f"±{settings.placement_clip_deg:g}° clip in {pl.clipped} side-steps of {len(times)} control "
                     "steps; joint errors are against the unshifted reference")  # fmt: skip
    if settings.phase_rate > 0:
        notes.append(f"reference clock follows the pelvis (phase_rate {settings.phase_rate:g}/s): it ended "
                     f"{ctl.clock_shift:+.3f} s behind the simulation's")  # fmt: skip
    result = TrackingResult(
        time=np.asarray(times), residuals=np.asarray(residuals).reshape(-1, 6),
        reserves=np.asarray(reserves).reshape(-1, so.n_res), reserve_names=list(so.reserve_names),
        contact_plan=np.asarray(contact).reshape(-1, 2, 3), qp_ms=np.asarray(ms), mass_kg=ctl.mass,
        mode=settings.mode, wall_s=wall, sim_s=float(data.time),
        tracking_rmse_deg={nm: float(v) for nm, v in zip(names, rmse, strict=True)}, unsolved=ctl.unsolved,
        fell=fell, fell_at_s=fell_at, fall_reason=reason, notes=notes, root_residual=settings.root_residual,
        path_drift_m=drift,
    )  # fmt: skip
    result.notes.append(result.summary())
    r_notes = {
        "backend": "mujoco-c tracking controller", "controller": "tracking", "mode": settings.mode,
        "record_hz": 1.0 / (float(sim_model.opt.timestep) * record_every), "settings": settings.to_dict(),
    }  # fmt: skip
    roll = Rollout(
        model_name=str(getattr(motion, "model", "myofullbody")), variant=getattr(motion, "variant", None),
        time=np.asarray(rec["time"], float), qpos=np.asarray(rec["qpos"]), qvel=np.asarray(rec["qvel"]),
        act=np.asarray(rec["act"]), ctrl=np.asarray(rec["ctrl"]), diverged=fell,
        diverged_at_s=fell_at, reason=("fell: " + reason) if fell else "",
        physics_dt=float(sim_model.opt.timestep), control_dt=ctl.dt, notes=r_notes,
        qfrc_applied=np.asarray(rec["qfrc"]),
    )  # fmt: skip
    return roll, result


__all__ = [
    "FALL_HEIGHT_FRACTION",
    "MODES",
    "RESIDUAL_NAMES",
    "LoopedReference",
    "TrackingController",
    "TrackingResult",
    "TrackingSettings",
    "activation_bounds",
    "excitation_for",
    "track",
]
