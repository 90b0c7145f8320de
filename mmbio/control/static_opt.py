"""Static optimisation: minimum-effort muscle activations that reproduce inverse dynamics, frame by frame.

For every frame of a kinematic :class:`~mmbio.sim.motion.Motion`:

1. **Independent coordinates.** The joint equalities (knee translations/rotations, patella, lumbar
   vertebrae) make the ``nv`` dofs dependent. ``N(q)`` (nv × n_ind) maps the velocities of the root's 6
   dofs and of every independent joint dof to all dofs: identity on independent dofs, ``P′(x)`` (the
   derivative of the equality polynomial, chains multiplied through) on dependent ones, 0 on locked
   ones. Velocities and accelerations are rebuilt as ``q̇ = N q̇_ind`` and ``q̈ = N q̈_ind`` (``P′ ẍ``
   only: MuJoCo's equality rows ignore the ``J̇ q̇`` term, see ARCHITECTURE pitfalls), and every
   generalised force is projected with ``Nᵀ``, which removes the equality reactions (``J_eq N = 0``).
2. **Inverse dynamics.** ``q̈_ind`` by central differences of ``q̇_ind`` (one-sided at the ends);
   ``τ = M q̈ + c − qfrc_passive − Σ J_footᵀ F_grf`` (``mj_rne``; joint damping/springs in
   ``qfrc_passive``; contacts and joint limits off). Measured GRF (lab frame) is rotated into the MuJoCo
   world and applied at the centre of pressure (on the floor, z = 0) to the foot body under it
   (``calcn`` behind the mtp joint, ``toes`` ahead of it), free moment about the vertical.
3. **Muscles.** ``actuator_force = gain · a + bias`` with MuJoCo's own muscle gain and bias at the
   current length and velocity (``mj_fwdActuation`` evaluated at a = 1 and a = 0: exactly
   ``mju_muscleGain``/``mju_muscleBias``, passive fibre force included in the bias); moment arms from
   the sparse ``actuator_moment``. In independent coordinates: ``A = Nᵀ Rᵀ diag(gain)`` (n_ind × n_mus).
4. **QP** (osqp, one fixed sparsity pattern for the whole motion, warm-started): unknowns ``a``
   (muscles), ``r`` (one reserve per independent non-root dof, N·m or N), ``s`` (6 root residuals) and,
   with estimated contacts, ``β`` (friction-pyramid coefficients, N; solved in body weights so that the
   QP stays well scaled)::

       min Σ a² + w_r Σ r² + w_s Σ s² + w_β Σ β²
       s.t. A a + [0; I] r + [I; 0] s + C β = Nᵀ(τ − Rᵀ bias),  0 ≤ a ≤ 1,  |r| ≤ reserve_max_nm,  0 ≤ β (= 0 off contact)

   Muscles cannot act on the root (a rigid motion does not change a musculotendon length), so without
   contact unknowns the root residuals equal the root rows of ``τ`` whatever ``w_s``: they measure the
   consistency of kinematics, GRF and the model's inertia.

**Without GRF, estimated contacts** (``grf=None``, ``contacts=True``, the default): the ground reaction is
a decision variable. Candidate points: the foot contact spheres of :func:`mmbio.sim.motion._contact_points`
(per foot 2 heel, 3 forefoot and 1 hallux sphere at the ends of MyoFullBody's foot capsules), each acting at
its lowest point (centre − radius·ẑ, world). A point is *active* in a frame when that point is at most
``contact_height_m`` above the floor (1 cm by default: the spheres only approximate the sole, and a foot
rolling onto or off the floor is within a few mm) **and** moves slower than ``contact_speed_m_s``
(1 m/s: a swing foot passing low over the floor, or a heel about to strike, is faster), in the spirit of
Fluit et al. (2014, J Biomech). The floor is the plane z = ``floor_z_m``; ``'auto'`` (the
default) takes the median over frames of the lowest contact point slower than 0.25 m/s: ≈ 0 for motions
whose stance foot is on z = 0 (``synthesize_motion``), ≈ 5 cm for the Rajagopal walk replayed with
``floor='global'`` (the lowest point of the whole trial, a toe sinking at push-off, is put at z = 0 and the
flat stance foot floats). Each point's force is ``Σ_k β_k (ẑ + μ t_k)`` over the 4 pyramid edges ``t_k = ±x̂, ±ŷ``
(β ≥ 0: pushes only, ``|F_t| ≤ μ F_z`` along x and y; μ = 0.8 by default); inactive points get the upper
bound β ≤ 0, so the osqp pattern never changes. ``C = Nᵀ J_pᵀ E`` (``mj_jac`` point Jacobian at the
contact point, ``E`` the 3 × 4 edge directions) enters the same rows as muscles, reserves and
residuals. ``w_β = 10⁻⁶`` per N² (``contact_weight``) makes the split between points and feet unique
at a negligible cost (an 800 N stance load over 24 edges costs ≈ 0.03; Σ a² is 4–60 on the Rajagopal
walk). The root residuals are then no longer forced: they hold only what no admissible contact force can
supply (a COP outside the active points, friction beyond μ, a pull on the floor, airborne frames) and are
reported. The result carries the estimated GRF per foot (lab frame; centre of pressure on the floor plane,
free moment about the vertical) and :meth:`StaticOptResult.estimated_grf` returns it as
:class:`~mmbio.trial.GroundReaction` objects. Rajagopal walk (``tests/test_static_opt.py``): vertical GRF
r ≈ 0.995 against the force plates (RMS error 0.04 BW), COP within ≈ 1 cm on average, root residual force
RMS 0.007 BW (0.06 BW with the measured GRF applied, 1.0 BW without loads). The free moment is poorly
determined (opposed friction forces at different points are cheap) and does not match the plates.

**Without GRF or contacts** (``grf=None, contacts=False``): *no external loads: root residuals absorb
weight* — the root residual force is then about one body weight.

**Exponent p ≠ 2** (``exponent=p ≥ 1``, e.g. 3): ``min Σ a^p + …`` by sequential quadratic programming on
the same osqp pattern: the muscle term is replaced by its second-order Taylor model about the current
``a`` (diagonal Hessian ``max(p(p−1) max(a, 10⁻³)^(p−2), 10⁻²)``, set with ``update(Px=…)``, linear term
with ``update(q=…)``; the floors keep every QP strictly convex, for p = 1 the 10⁻² acts as a proximal term),
and the QP step is accepted after an Armijo backtracking line search on the true
(convex) objective. It stops when no activation moves by more than ``sqp_tol`` (10⁻⁴) or after
``sqp_max_iter`` QPs. The first model of a frame is the previous frame's final one (p = 2's on the
first frame), whose QP solution is feasible and starts the iteration. The KKT conditions of Σ a^p hold
to 2·10⁻⁵ in a (tests, p = 1.5 and 3) after 6–10 QPs per frame (p = 1, a linear cost: 3–5 QPs). ``exponent=2`` solves one QP exactly as
before.

Root residuals are MuJoCo's free-joint generalised forces: force (N) in the world frame, moment (N·m)
in the pelvis (root body) frame about the root origin. Joint-limit forces are not modelled unless
``joint_limits=True`` (one-sided unknowns at the limits, see :func:`static_optimisation`).
"""

from __future__ import annotations

import copy
import time as _time
from typing import Any, Literal

import mujoco
import numpy as np
import scipy.sparse as sp

from mmbio.control.foot_loads import FootPoints, cop_loads, foot_bodies, foot_grf, grf_on_time
from mmbio.control.static_opt_result import StaticOptResult
from mmbio.errors import MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.models import anatomy
from mmbio.sim.foot_geometry import GRAVITY
from mmbio.trial import SIDES, GroundReaction

#: Root residual names (MuJoCo free joint: world-frame force, root-frame moment).
RESIDUAL_NAMES = ("residual_fx", "residual_fy", "residual_fz", "residual_mx", "residual_my", "residual_mz")
#: Estimated contacts: a point is active when its lowest point is at most this far (m) above the floor ...
CONTACT_HEIGHT_M = 0.01
#: ... and moves slower than this (m/s).
CONTACT_SPEED_M_S = 1.0
#: Friction coefficient of the contact pyramids.
CONTACT_MU = 0.8
#: Cost per N² of the pyramid coefficients β (relative to Σ a^p).
CONTACT_WEIGHT = 1e-6
#: joint_limits=True: a dof within this of its range's end (or past it) may take a limit force (rad, or m)
LIMIT_TOL = float(np.radians(0.5))
#: joint_limits=True: cost per (N·m)² of a limit force (against 1 per (N·m)² for a reserve): nearly free
LIMIT_WEIGHT = 1e-4
#: ``floor_z_m='auto'``: contact points slower than this (m/s) count as resting on the floor.
FLOOR_AUTO_SPEED_M_S = 0.25


# --------------------------------------------------------------------------------------------------
# model structure
# --------------------------------------------------------------------------------------------------


def _ancestor_dofs(m: mujoco.MjModel, body: int) -> set[int]:
    out: set[int] = set()
    while body > 0:
        a, n = int(m.body_dofadr[body]), int(m.body_dofnum[body])
        out.update(range(a, a + n))
        body = int(m.body_parentid[body])
    return out


def _muscle_dof_mask(m: mujoco.MjModel, muscles: np.ndarray) -> np.ndarray:
    """(n_mus, nv) bool: dofs whose moment arm can be nonzero (union minus intersection of the path's chains)."""
    mask = np.zeros((len(muscles), m.nv), dtype=bool)
    for k, i in enumerate(muscles):
        if m.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT:
            j = int(m.actuator_trnid[i, 0])
            mask[k, int(m.jnt_dofadr[j])] = True
            continue
        if m.actuator_trntype[i] != mujoco.mjtTrn.mjTRN_TENDON:
            raise MmbioError(f"static optimisation: actuator {m.actuator(i).name!r} has an unsupported transmission")
        t = int(m.actuator_trnid[i, 0])
        bodies = set()
        for w in range(int(m.tendon_adr[t]), int(m.tendon_adr[t] + m.tendon_num[t])):
            obj = int(m.wrap_objid[w])
            if m.wrap_type[w] == mujoco.mjtWrap.mjWRAP_SITE:
                bodies.add(int(m.site_bodyid[obj]))
            elif m.wrap_type[w] in (mujoco.mjtWrap.mjWRAP_SPHERE, mujoco.mjtWrap.mjWRAP_CYLINDER):
                bodies.add(int(m.geom_bodyid[obj]))
            elif m.wrap_type[w] == mujoco.mjtWrap.mjWRAP_JOINT:
                mask[k, int(m.jnt_dofadr[obj])] = True
        chains = [_ancestor_dofs(m, b) for b in bodies]
        if chains:
            union, common = set().union(*chains), set.intersection(*chains)
            mask[k, sorted(union - common)] = True
    return mask


class StaticOptimiser:
    """Per-frame static optimisation for one MuJoCo model (set up once, reused for every frame).

    model: MjModel (a private copy with contacts and constraints disabled is kept). exponent: p ≥ 1 of
    Σ a^p (2: one QP; otherwise sequential QP, see the module docstring). reserve_weight: w_r per (N·m)²
    (1 = OpenSim's reserve of optimal force 1 N·m). residual_weight: w_s per N² or (N·m)².
    reserve_max_nm: bound on |reserve| (inf: unbounded). eps: osqp absolute and relative tolerance.
    polish: osqp solution polishing. contacts: add the contact unknowns β (4 per foot contact point,
    solved in units of :attr:`beta_scale` = body weight; bounded to 0 unless :meth:`solve` gets
    ``active``). contact_mu: friction coefficient of the pyramids. contact_weight: w_β per N². sqp_tol:
    activation change (1) ending the SQP iteration; sqp_max_iter: QPs per frame at most.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        *,
        exponent: float = 2,
        reserve_weight: float = 1.0,
        residual_weight: float = 1e-2,
        reserve_max_nm: float = np.inf,
        eps: float = 1e-5,
        polish: bool = True,
        max_iter: int = 20000,
        contacts: bool = False,
        contact_mu: float = CONTACT_MU,
        contact_weight: float = CONTACT_WEIGHT,
        sqp_tol: float = 1e-4,
        sqp_max_iter: int = 30,
        joint_limits: bool = False,
    ) -> None:
        import osqp

        if not (np.isfinite(exponent) and exponent >= 1):
            raise MmbioError(f"static optimisation: exponent must be a finite number >= 1, got {exponent}")
        if reserve_weight <= 0 or residual_weight <= 0 or contact_weight <= 0:
            raise MmbioError("static optimisation: reserve_weight, residual_weight and contact_weight must be positive")
        if contact_mu <= 0:
            raise MmbioError(f"static optimisation: contact_mu must be positive, got {contact_mu}")
        self.exponent = float(exponent)
        self.sqp_tol, self.sqp_max_iter = float(sqp_tol), int(sqp_max_iter)
        m = copy.deepcopy(model)
        m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT) | int(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT)
        self.model = m
        self.data = mujoco.MjData(m)
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, anatomy.ROOT_JOINT)
        if jid < 0 or m.jnt_type[jid] != mujoco.mjtJoint.mjJNT_FREE:
            raise MmbioError(f"static optimisation: the model has no free joint {anatomy.ROOT_JOINT!r}")
        self.root_dof = int(m.jnt_dofadr[jid])
        # --- independent coordinates
        self.couplings = list(anatomy.joint_couplings(m))
        dep = {c.dep_dof for c in self.couplings}
        root = list(range(self.root_dof, self.root_dof + 6))
        others = [d for d in range(m.nv) if d not in dep and d not in root]
        self.indep_dofs = np.array(root + others, dtype=int)  # columns of N: root first
        self.n_ind = len(self.indep_dofs)
        self._dcoef = [
            np.polynomial.polynomial.polyder(np.asarray(c.coef, dtype=float)) if c.indep >= 0 else None
            for c in self.couplings
        ]
        self._n = np.zeros((m.nv, self.n_ind))
        self._n[self.indep_dofs, np.arange(self.n_ind)] = 1.0
        nmask = self._n != 0
        for c in self.couplings:
            if c.indep >= 0:
                nmask[c.dep_dof] = nmask[c.indep_dof]
        self.reserve_names = [m.joint(int(m.dof_jntid[d])).name for d in others]
        # --- joint limits: one one-sided force per limited hinge/slide reserve dof (joint_limits=True)
        self.joint_limits = bool(joint_limits)
        lim = [
            i for i, d in enumerate(others)
            if self.joint_limits and m.jnt_limited[m.dof_jntid[d]]
            and int(m.jnt_type[m.dof_jntid[d]]) in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
        ]  # fmt: skip
        self.limit_res = np.array(lim, dtype=int)  # indices into the reserves
        self.limit_qadr = np.array([m.jnt_qposadr[m.dof_jntid[others[i]]] for i in lim], dtype=int)
        self.limit_range = np.array([m.jnt_range[m.dof_jntid[others[i]]] for i in lim], dtype=float).reshape(-1, 2)
        self.n_lim = len(lim)
        # --- muscles
        self.muscles = np.flatnonzero(m.actuator_gaintype == mujoco.mjtGain.mjGAIN_MUSCLE)
        if self.muscles.size == 0:
            raise MmbioError("static optimisation: the model has no muscle actuators")
        self.muscle_names = [m.actuator(int(i)).name for i in self.muscles]
        self._act_adr = m.actuator_actadr[self.muscles].astype(int)
        nm = len(self.muscles)
        pat = (_muscle_dof_mask(m, self.muscles).astype(float) @ nmask.astype(float)) > 0  # (n_mus, n_ind)
        pat[:, :6] = False  # no muscle moment on the root (length invariant under rigid motion)
        self._pattern = pat
        self._moment = np.zeros((m.nu, m.nv))
        # --- contact points (lowest points of the foot spheres), 4 pyramid edges each
        self.contact_mu, self.contact_weight = float(contact_mu), float(contact_weight)
        self.feet = FootPoints.of(m) if contacts else FootPoints.empty()
        self.contact_side = list(self.feet.side)
        self.contact_body, self.contact_local, self.contact_radius = self.feet.body, self.feet.local, self.feet.radius
        npt = len(self.contact_body)
        self.n_points, self.n_beta = npt, 4 * npt
        #: N per unit of the QP's β variables (body weight: keeps the QP well scaled; :meth:`solve` returns N)
        self.beta_scale = float(mujoco.mj_getTotalmass(m) * GRAVITY)
        mu = self.contact_mu
        #: (3, 4) pyramid edges ẑ + μ t_k, world frame (N per unit β)
        self.edges = np.array([[mu, -mu, 0.0, 0.0], [0.0, 0.0, mu, -mu], [1.0, 1.0, 1.0, 1.0]])
        cpat = np.zeros((self.n_ind, self.n_beta), dtype=bool)  # (n_ind, n_beta)
        for j, b in enumerate(self.contact_body):
            dmask = np.zeros(m.nv)
            dmask[sorted(_ancestor_dofs(m, int(b)))] = 1.0
            cpat[:, 4 * j : 4 * j + 4] = ((dmask @ nmask.astype(float)) > 0)[:, None]
        self._cpattern = cpat
        self._jac = np.zeros((3 * npt, m.nv))
        self._jacp = np.zeros((3, m.nv))
        # --- QP: x = [a (nm), r (n_ind - 6), s (6), β (n_beta), λ (n_lim)]; rows: n_ind equalities,
        # nm + n_res + n_beta + n_lim bounds
        nres = self.n_ind - 6
        nb, nl = self.n_beta, self.n_lim
        self.n_mus, self.n_res = nm, nres
        nx = nm + nres + 6 + nb + nl
        self._pdiag = np.r_[
            np.full(nm, 2.0), np.full(nres, 2.0 * reserve_weight), np.full(6, 2.0 * residual_weight),
            np.full(nb, 2.0 * contact_weight * self.beta_scale**2), np.full(nl, 2.0 * LIMIT_WEIGHT),
        ]  # fmt: skip
        self._p = sp.diags(self._pdiag).tocsc()
        self._q = np.zeros(nx)
        # A in csc, column by column; equality block of muscle column k = pattern rows of column k
        ind_r, mus_c = np.nonzero(pat.T)  # (independent-coordinate row, muscle) pairs
        con_r, con_c = np.nonzero(cpat)  # (independent-coordinate row, β) pairs
        xb = nm + nres + 6  # first β column
        rb = self.n_ind + nm + nres  # first β bound row
        xl, rl = xb + nb, rb + nb  # first λ column, first λ bound row
        rows = np.r_[
            ind_r, 6 + np.arange(nres), np.arange(6), self.n_ind + np.arange(nm), self.n_ind + nm + np.arange(nres),
            con_r, rb + np.arange(nb), 6 + self.limit_res, rl + np.arange(nl),
        ]  # fmt: skip
        cols = np.r_[
            mus_c, nm + np.arange(nres), nm + nres + np.arange(6), np.arange(nm), nm + np.arange(nres),
            xb + con_c, xb + np.arange(nb), xl + np.arange(nl), xl + np.arange(nl),
        ]  # fmt: skip
        vals = np.ones(len(rows))
        a0 = sp.csc_matrix((vals, (rows, cols)), shape=(rl + nl, nx))
        a0.sort_indices()
        self._a = a0
        # where the muscle / contact entries live in a0.data (same order as the (row, column) pairs)
        self._a_slots = np.array([self._slot(a0, r, k) for r, k in zip(ind_r, mus_c, strict=True)], dtype=int)
        self._a_rows, self._a_cols = ind_r, mus_c
        self._c_slots = np.array([self._slot(a0, r, xb + k) for r, k in zip(con_r, con_c, strict=True)], dtype=int)
        self._c_rows, self._c_cols = con_r, con_c
        self._l = np.r_[np.zeros(self.n_ind), np.zeros(nm), np.full(nres, -reserve_max_nm), np.zeros(nb), np.zeros(nl)]
        self._u = np.r_[np.zeros(self.n_ind), np.ones(nm), np.full(nres, reserve_max_nm), np.zeros(nb), np.zeros(nl)]
        self._l[~np.isfinite(self._l)] = -np.inf
        self._u[~np.isfinite(self._u)] = np.inf
        self._beta_rows = slice(rb, rb + nb)
        self._lim_rows = slice(rl, rl + nl)
        self.lim_at = xl  # first λ in x
        self.osqp_version = str(getattr(osqp, "__version__", "0"))
        new_api = int(self.osqp_version.split(".")[0]) >= 1  # osqp ≥ 1: 'polishing', solve(raise_error=)
        self.solver = osqp.OSQP()
        self.solver.setup(
            self._p, self._q, a0, self._l, self._u, eps_abs=eps, eps_rel=eps, max_iter=max_iter,
            warm_starting=True, verbose=False, **{("polishing" if new_api else "polish"): polish},
        )  # fmt: skip
        self._solve_kw: dict[str, Any] = {"raise_error": False} if new_api else {}
        self._qext = np.zeros(m.nv)
        self._rne = np.zeros(m.nv)
        self.pattern_leak = 0.0  # largest |A| or |C| entry found outside the fixed pattern (per unit a or β)
        self.last_sqp_iterations = 0  # QPs of the last solve()

    @staticmethod
    def _slot(a: sp.csc_matrix, row: int, col: int) -> int:
        lo, hi = a.indptr[col], a.indptr[col + 1]
        return int(lo + np.searchsorted(a.indices[lo:hi], row))

    # ----------------------------------------------------------------------------------------------
    def null_matrix(self, qpos: np.ndarray) -> np.ndarray:
        """N(q): (nv, n_ind) map from independent velocities (root 6 first) to all dofs."""
        n = self._n
        for c, dc in zip(self.couplings, self._dcoef, strict=True):
            if dc is None:
                n[c.dep_dof] = 0.0
            else:
                n[c.dep_dof] = n[c.indep_dof] * float(np.polynomial.polynomial.polyval(qpos[c.indep] - c.x0, dc))
        return n

    def frame_terms(
        self,
        qpos: np.ndarray,
        qvel_ind: np.ndarray,
        qacc_ind: np.ndarray,
        loads: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """QP data of one frame.

        qpos: (nq,). qvel_ind, qacc_ind: (n_ind,) independent velocities/accelerations. loads: external
        (body id, force (3,) N, torque (3,) N·m, point (3,) m), MuJoCo world frame.
        Returns A (n_ind, n_mus) N·m (or N) per unit activation, b = Nᵀ(τ − Rᵀ bias) (n_ind,),
        gain (n_mus,) N (negative: MuJoCo's tension sign) and bias (n_mus,) N.
        """
        m, d = self.model, self.data
        n = self.null_matrix(qpos)
        d.qpos[:] = qpos
        d.qvel[:] = n @ qvel_ind
        mujoco.mj_fwdPosition(m, d)
        mujoco.mj_fwdVelocity(m, d)
        d.qacc[:] = n @ qacc_ind
        mujoco.mj_rne(m, d, 1, self._rne)
        self._rne += m.dof_armature * d.qacc  # mj_rne leaves out the armature inertia (mj_inverse adds it)
        self._qext[:] = 0.0
        for body, f, t, p in loads:
            mujoco.mj_applyFT(m, d, f, t, p, body, self._qext)
        d.act[self._act_adr] = 1.0
        d.ctrl[self.muscles] = 1.0
        mujoco.mj_fwdActuation(m, d)
        f1 = d.actuator_force[self.muscles].copy()
        d.act[self._act_adr] = 0.0
        d.ctrl[self.muscles] = 0.0
        mujoco.mj_fwdActuation(m, d)
        bias = d.actuator_force[self.muscles].copy()
        gain = f1 - bias
        mujoco.mju_sparse2dense(self._moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
        rn = self._moment[self.muscles] @ n  # (n_mus, n_ind)
        b = (self._rne - d.qfrc_passive - self._qext) @ n - rn.T @ bias
        return (rn * gain[:, None]).T, b, gain, bias

    def contact_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Contact data at the state of the last :meth:`frame_terms` call.

        Returns C = Nᵀ J_pᵀ E (n_ind, n_beta) N·m (or N) per N of β (point j's edges in columns 4j..4j+3),
        the contact points (n_points, 3) m and their velocities (n_points, 3) m/s, world frame.
        """
        m, d = self.model, self.data
        npt = self.n_points
        pts = self.feet.lowest(d)
        for j, b in enumerate(self.contact_body):
            mujoco.mj_jac(m, d, self._jacp, None, pts[j], int(b))
            self._jac[3 * j : 3 * j + 3] = self._jacp
        vel = (self._jac @ d.qvel).reshape(npt, 3)
        g = (self._jac @ self._n).reshape(npt, 3, self.n_ind)  # point velocity per independent velocity
        c_mat = np.einsum("jxi,xk->ijk", g, self.edges).reshape(self.n_ind, self.n_beta)
        return c_mat, pts, vel

    # ----------------------------------------------------------------------------------------------
    def _objective(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """True cost Σ a^p + ½ Σ P_ii x_i² (non-muscle terms) and its gradient."""
        nm, p = self.n_mus, self.exponent
        a = np.clip(x[:nm], 0.0, None)
        w = self._pdiag[nm:]
        f = float(np.sum(a**p) + 0.5 * np.sum(w * x[nm:] ** 2))
        return f, np.r_[p * a ** (p - 1.0), w * x[nm:]]

    def _set_model(self, a: np.ndarray) -> None:
        """Quadratic model of Σ a^p about ``a`` into P's muscle diagonal and q."""
        nm, p = self.n_mus, self.exponent
        a = np.clip(a, 0.0, 1.0)
        h = np.maximum(p * (p - 1.0) * np.maximum(a, 1e-3) ** (p - 2.0), 1e-2)
        self._pdiag[:nm] = h
        self._q[:nm] = p * a ** (p - 1.0) - h * a
        self.solver.update(Px=self._pdiag, q=self._q)

    def _qp(self) -> tuple[np.ndarray | None, str]:
        res = self.solver.solve(**self._solve_kw)
        x = np.asarray(res.x, dtype=float) if res.x is not None else None
        if x is not None and not np.all(np.isfinite(x)):
            x = None
        return x, str(res.info.status)

    def limit_side(self, qpos: np.ndarray) -> np.ndarray:
        """(n_lim,) +1 where the limited dof is within :data:`LIMIT_TOL` of its lower end or below it (the limit
        may push it up), −1 at the upper end, 0 inside the range."""
        q = np.asarray(qpos, dtype=float)[self.limit_qadr]
        lo, hi = self.limit_range[:, 0], self.limit_range[:, 1]
        return np.where(q <= lo + LIMIT_TOL, 1, np.where(q >= hi - LIMIT_TOL, -1, 0)).astype(int)

    def solve(
        self,
        a_mat: np.ndarray,
        b: np.ndarray,
        c_mat: np.ndarray | None = None,
        active: np.ndarray | None = None,
        limits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, str, float]:
        """Solve one frame: A (n_ind, n_mus), b (n_ind,), optional C (n_ind, n_beta) from
        :meth:`contact_terms` and ``active`` (n_points,) bool (points allowed to push; None: none), and with
        ``joint_limits`` the sides of :meth:`limit_side` (None: no dof at a limit).

        Returns (x = [a, r, s, β, λ], osqp status (of the last QP), solve seconds); λ (n_lim,) the limit forces
        on the dofs ``reserve_names[limit_res]`` (N·m or N). Exponent 2: one QP; otherwise SQP
        (``last_sqp_iterations`` QPs).
        """
        vals = self._a.data
        vals[self._a_slots] = a_mat[self._a_rows, self._a_cols]
        leak = np.abs(np.where(self._pattern.T, 0.0, a_mat)).max()
        if self.n_beta:
            if c_mat is None:
                c_mat = np.zeros((self.n_ind, self.n_beta))
            vals[self._c_slots] = self.beta_scale * c_mat[self._c_rows, self._c_cols]
            leak = max(leak, np.abs(np.where(self._cpattern, 0.0, c_mat)).max())
            on = np.zeros(self.n_points, dtype=bool) if active is None else np.asarray(active, dtype=bool)
            self._u[self._beta_rows] = np.where(np.repeat(on, 4), np.inf, 0.0)
        elif active is not None and np.any(active):
            raise MmbioError("static optimisation: contact points given but the optimiser has contacts=False")
        self.pattern_leak = max(self.pattern_leak, float(leak))
        if self.n_lim:
            side = np.zeros(self.n_lim, dtype=int) if limits is None else np.asarray(limits, dtype=int)
            self._l[self._lim_rows] = np.where(side < 0, -np.inf, 0.0)
            self._u[self._lim_rows] = np.where(side > 0, np.inf, 0.0)
        elif limits is not None and np.any(limits):
            raise MmbioError("static optimisation: joint-limit sides given but the optimiser has joint_limits=False")
        self._l[: self.n_ind] = b
        self._u[: self.n_ind] = b
        t0 = _time.perf_counter()
        self.solver.update(Ax=vals, l=self._l, u=self._u)
        x, status = self._qp()
        nqp = 1
        if self.exponent != 2 and x is not None:
            f, g = self._objective(x)
            for _ in range(self.sqp_max_iter - 1):
                self._set_model(x[: self.n_mus])
                xq, st = self._qp()
                nqp += 1
                if xq is None:
                    status = st
                    break
                status = st
                step = xq - x
                slope = float(g @ step)
                if slope >= 0.0:  # no descent left (osqp accuracy): converged
                    break
                t = 1.0  # Armijo backtracking on the true objective (x + t·step stays feasible: convex set)
                f_new, g_new = self._objective(x + step)
                while f_new > f + 1e-4 * t * slope and t >= 1e-3:
                    t *= 0.5
                    f_new, g_new = self._objective(x + t * step)
                if t < 1e-3:  # no sufficient decrease along the QP step: as good as osqp's accuracy allows
                    break
                x, f, g = x + t * step, f_new, g_new
                if t * np.max(np.abs(step[: self.n_mus])) < self.sqp_tol:
                    break
            self._set_model(x[: self.n_mus])  # next frame starts from this model
        dt = _time.perf_counter() - t0
        self.last_sqp_iterations = nqp
        if x is None:
            x = np.full(self.n_mus + self.n_res + 6 + self.n_beta + self.n_lim, np.nan)
        if self.n_lim:  # exactly 0 where no limit may push (osqp meets the bound only to its tolerance)
            lam = x[self.lim_at :]
            lam[:] = np.clip(lam, self._l[self._lim_rows], self._u[self._lim_rows])
        if self.n_beta:  # N; exactly 0 on inactive points (osqp meets β ≤ 0 only to its tolerance)
            b0 = self.n_mus + self.n_res + 6
            beta = x[b0 : b0 + self.n_beta]
            beta[:] = np.where(self._u[self._beta_rows] > 0, np.clip(beta, 0.0, None) * self.beta_scale, 0.0)
        return x, status, dt


# --------------------------------------------------------------------------------------------------
# GRF → MuJoCo loads
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# estimated contacts
# --------------------------------------------------------------------------------------------------


def _floor_auto(opt: StaticOptimiser, qpos: np.ndarray, rate_hz: float) -> float:
    """Floor height (m, world z): median over frames of the lowest contact point slower than
    :data:`FLOOR_AUTO_SPEED_M_S` (sphere centres, central differences); NaN when no point is ever slow."""
    m = opt.model
    d = mujoco.MjData(m)
    centres = np.zeros((len(qpos), opt.n_points, 3))
    for i, q in enumerate(qpos):
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        centres[i] = opt.feet.centres(d)
    speed = np.linalg.norm(np.gradient(centres, 1.0 / rate_hz, axis=0), axis=2)
    low = np.where(speed < FLOOR_AUTO_SPEED_M_S, centres[:, :, 2] - opt.contact_radius, np.inf).min(axis=1)
    low = low[np.isfinite(low)]
    return float(np.median(low)) if low.size else float("nan")


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def static_optimisation(
    motion: Any,
    *,
    grf: dict[str, GroundReaction] | None = None,
    contacts: bool = True,
    t0_s: float = 0.0,
    frames: slice | None = None,
    exponent: float = 2,
    reserve_max_nm: float = np.inf,
    reserve_weight: float = 1.0,
    residual_weight: float = 1e-2,
    mass_kg: float | None = None,
    model: mujoco.MjModel | None = None,
    optimiser: StaticOptimiser | None = None,
    eps: float = 1e-5,
    contact_height_m: float = CONTACT_HEIGHT_M,
    contact_speed_m_s: float = CONTACT_SPEED_M_S,
    floor_z_m: float | Literal["auto"] = "auto",
    contact_mu: float = CONTACT_MU,
    contact_weight: float = CONTACT_WEIGHT,
    joint_limits: bool = False,
) -> StaticOptResult:
    """Static optimisation of a kinematic :class:`~mmbio.sim.motion.Motion` (see the module docstring).

    grf: per-foot measured ground reactions (lab frame, :func:`mmbio.io.opensim.read_opensim_grf`).
    contacts (used when grf is None): True: the GRF is estimated (contact forces as unknowns); False: no
    external loads, root residuals absorb weight. t0_s: time of motion frame 0 on the GRF / trial clock
    (``motion_from_opensim`` starts at 0: pass the coordinate file's first time). frames: the frames to
    solve (accelerations use the whole motion). exponent: p ≥ 1 of Σ a^p. reserve_max_nm: bound on
    |reserve|. reserve_weight, residual_weight: cost per (N·m)² / N² relative to Σ a^p. mass_kg: body
    weight for the BW normalisation (default: the model's mass). model / optimiser: reuse an already built
    model or :class:`StaticOptimiser` (same settings; for estimated contacts built with ``contacts=True``).
    contact_height_m (m), contact_speed_m_s (m/s): a contact point is active when at most that high above
    the floor and slower. floor_z_m: floor height in the world (m) or ``'auto'`` (see the module
    docstring). contact_mu, contact_weight: friction coefficient and cost per N² of β (used when the
    optimiser is built here). joint_limits: the model's joint limits as one-sided unknowns (a force on a
    limited dof within :data:`LIMIT_TOL` of its range's end or past it, pushing back into the range, nearly
    free: cost :data:`LIMIT_WEIGHT` per (N·m)²), as a simulation of the model felt them (a toe pushed past
    MyoFullBody's −30° mtp limit is held there by the limit, not by a reserve); off by default (measured
    motions: OpenSim's static optimisation has no limit forces unless the model has them). The forces are in
    ``limit_forces``.
    """
    use_contacts = not grf and contacts
    if model is None:
        model = optimiser.model if optimiser is not None else motion.mj_model()
    opt = optimiser or StaticOptimiser(
        model, exponent=exponent, reserve_weight=reserve_weight, residual_weight=residual_weight,
        reserve_max_nm=reserve_max_nm, eps=eps, contacts=use_contacts, contact_mu=contact_mu,
        contact_weight=contact_weight, joint_limits=joint_limits,
    )  # fmt: skip
    if opt.joint_limits != bool(joint_limits):
        raise MmbioError("static optimisation: joint_limits differs from the given optimiser's")
    if use_contacts and opt.n_points == 0:
        raise MmbioError(
            "static optimisation: estimated contacts need a StaticOptimiser built with contacts=True "
            "(or pass contacts=False for no external loads)"
        )
    m = opt.model
    qpos = np.asarray(motion.qpos, dtype=float)
    qvel = np.asarray(motion.qvel, dtype=float)
    if qpos.ndim != 2 or qpos.shape[1] != m.nq or qvel.shape != (len(qpos), m.nv):
        raise MmbioError(
            f"static optimisation: qpos {qpos.shape} / qvel {qvel.shape} do not match nq {m.nq}, nv {m.nv}"
        )
    if len(qpos) < 3:
        raise MmbioError("static optimisation: needs at least 3 frames (central differences)")
    t_all = np.arange(len(qpos)) / float(motion.rate_hz)
    qvel_ind = qvel[:, opt.indep_dofs]
    qacc_ind = np.gradient(qvel_ind, t_all, axis=0)
    idx = np.arange(len(qpos))[frames if frames is not None else slice(None)]
    t = t_all[idx]
    notes: list[str] = []
    loads_by_side = grf_on_time(grf, t + t0_s) if grf else {}
    bodies = {s: foot_bodies(m, s) for s in loads_by_side}
    if any("per-frame floor" in str(x) for x in getattr(motion, "notes", ())):
        notes.append("motion built with floor='per_frame': its root shift adds spurious vertical accelerations "
                     "(use floor='global' for inverse dynamics)")  # fmt: skip
    floor = 0.0
    if use_contacts:
        z_auto = _floor_auto(opt, qpos, float(motion.rate_hz))
        if floor_z_m == "auto":
            if not np.isfinite(z_auto):
                raise MmbioError("static optimisation: floor_z_m='auto' found no resting contact point")
            floor = z_auto
        else:
            floor = float(floor_z_m)
            if np.isfinite(z_auto) and abs(z_auto - floor) > contact_height_m:
                notes.append(
                    f"resting contact points sit at a median {z_auto:+.3f} m, not on the floor z = {floor:+.3f} m: "
                    "contacts will be missed (pass floor_z_m='auto')"
                )
        notes.append(
            f"GRF estimated (no measured GRF): contact forces at {opt.n_points // 2} points per foot, friction "
            f"pyramids mu = {opt.contact_mu:g}, cost {opt.contact_weight:g} per N^2; a point is active within "
            f"{contact_height_m:g} m of the floor z = {floor:+.3f} m and slower than {contact_speed_m_s:g} m/s"
        )
    elif not grf:
        notes.append("no external loads: root residuals absorb weight (contacts=False)")
    nt = len(idx)
    act = np.zeros((nt, opt.n_mus))
    res_r = np.zeros((nt, opt.n_res))
    res_s = np.zeros((nt, 6))
    force = np.zeros((nt, opt.n_mus))
    tsolve = np.zeros(nt)
    nqp = np.zeros(nt, dtype=int)
    status: list[str] = []
    sides = [s for s in SIDES if s in opt.contact_side] if use_contacts else []
    on_side = {s: np.array([c == s for c in opt.contact_side]) for s in sides}
    g_force = {s: np.zeros((nt, 3)) for s in sides}
    g_cop = {s: np.full((nt, 3), np.nan) for s in sides}
    g_tz = {s: np.zeros(nt) for s in sides}
    g_active = {s: np.zeros((nt, int(on_side[s].sum())), dtype=bool) for s in sides}
    to_lab = MUJOCO_MYOFULLBODY_TO_LAB
    d = opt.data
    b0 = opt.n_mus + opt.n_res + 6
    lim = np.zeros((nt, opt.n_res))  # limit forces on the reserve dofs (joint_limits=True)
    for k, i in enumerate(idx):
        loads = []
        if loads_by_side:
            d.qpos[:] = qpos[i]
            mujoco.mj_kinematics(m, d)
            loads = cop_loads(d, bodies, loads_by_side, k)
        a_mat, b, gain, bias = opt.frame_terms(qpos[i], qvel_ind[i], qacc_ind[i], loads)
        if use_contacts:
            c_mat, pts, vel = opt.contact_terms()
            active = (pts[:, 2] - floor <= contact_height_m) & (np.linalg.norm(vel, axis=1) < contact_speed_m_s)
            x, st, dt = opt.solve(a_mat, b, c_mat, active, opt.limit_side(qpos[i]))
            f_pts = x[b0 : b0 + opt.n_beta].reshape(-1, 4) @ opt.edges.T  # (n_points, 3) N, world
            for s in sides:
                fs, cs, tz = foot_grf(f_pts[on_side[s]], pts[on_side[s]], floor)
                g_force[s][k], g_cop[s][k], g_tz[s][k] = to_lab @ fs, to_lab @ cs, tz
                g_active[s][k] = active[on_side[s]]
        else:
            x, st, dt = opt.solve(a_mat, b, limits=opt.limit_side(qpos[i]))
        lim[k, opt.limit_res] = x[opt.lim_at :]
        act[k] = x[: opt.n_mus]
        res_r[k] = x[opt.n_mus : opt.n_mus + opt.n_res]
        res_s[k] = x[opt.n_mus + opt.n_res : b0]
        force[k] = -(gain * act[k] + bias)
        tsolve[k] = dt
        nqp[k] = opt.last_sqp_iterations
        status.append(st)
    if opt.pattern_leak > 1e-6:
        notes.append(f"moment-arm entries outside the fixed QP pattern up to {opt.pattern_leak:.2e} (ignored)")
    if use_contacts:
        none = int(np.sum(~np.any(np.hstack([g_active[s] for s in sides]), axis=1)))
        if none:
            notes.append(f"{none} of {nt} frames without an active contact point (root residuals carry the weight)")
    if opt.exponent != 2:
        notes.append(f"exponent {opt.exponent:g}: sequential QP, {nqp.mean():.1f} QPs per frame on average")
    mass = float(mujoco.mj_getTotalmass(m) if mass_kg is None else mass_kg)
    out = StaticOptResult(
        time=t, activations=np.clip(act, 0.0, 1.0), muscle_names=list(opt.muscle_names), reserves=res_r,
        reserve_names=list(opt.reserve_names), residuals=res_s, muscle_force=force, solve_time_s=tsolve,
        status=status, mass_kg=mass, grf_applied=bool(grf), notes=notes, contacts_estimated=use_contacts,
        grf_force=g_force, grf_cop=g_cop, grf_free_moment=g_tz, contact_active=g_active, floor_z_m=floor,
        t0_s=float(t0_s), exponent=opt.exponent, sqp_iterations=nqp, limit_forces=lim if opt.joint_limits else None,
    )  # fmt: skip
    out.notes.append(out.summary())
    return out
