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
   (muscles), ``r`` (one reserve per independent non-root dof, N·m or N) and ``s`` (6 root residuals)::

       min Σ a² + w_r Σ r² + w_s Σ s²   s.t.   A a + [0; I] r + [I; 0] s = Nᵀ(τ − Rᵀ bias),  0 ≤ a ≤ 1,
                                              |r| ≤ reserve_max_nm

   Muscles cannot act on the root (a rigid motion does not change a musculotendon length), so the root
   residuals equal the root rows of ``τ`` whatever ``w_s``: they measure the consistency of kinematics,
   GRF and the model's inertia.

**Without GRF** (``grf=None``): *no external loads: root residuals absorb weight* — the root residual
force is then about one body weight. Contact forces as decision variables (friction cones at the foot
contact points) are the next step and not implemented here.

Root residuals are MuJoCo's free-joint generalised forces: force (N) in the world frame, moment (N·m)
in the pelvis (root body) frame about the root origin. Joint-limit forces are not modelled.
"""

from __future__ import annotations

import copy
import time as _time
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np
import scipy.sparse as sp

from mmbio.errors import MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.models import anatomy
from mmbio.trial import SIDES, Channels, GroundReaction

#: Root residual names (MuJoCo free joint: world-frame force, root-frame moment).
RESIDUAL_NAMES = ("residual_fx", "residual_fy", "residual_fz", "residual_mx", "residual_my", "residual_mz")
#: Vertical force (N) below which a foot's measured GRF is not applied (its COP is undefined).
GRF_MIN_FORCE_N = 20.0
_G = 9.81


@dataclass
class StaticOptResult:
    """Static optimisation of one motion.

    time: (T,) s. activations: (T, n_mus) in [0, 1], columns ``muscle_names`` (actuator names).
    reserves: (T, n_res) N·m (N for slide dofs), columns ``reserve_names`` (joint names of the
    independent non-root dofs). residuals: (T, 6) root residual forces (N, world) and moments (N·m, root
    frame), columns :data:`RESIDUAL_NAMES`. muscle_force: (T, n_mus) tension (N, ≥ 0 pulling), passive
    included. solve_time_s: (T,) wall time of each osqp solve. status: (T,) osqp status strings.
    mass_kg: body mass for the BW normalisation. grf_applied: whether measured GRF was applied.
    """

    time: np.ndarray
    activations: np.ndarray
    muscle_names: list[str]
    reserves: np.ndarray
    reserve_names: list[str]
    residuals: np.ndarray
    muscle_force: np.ndarray
    solve_time_s: np.ndarray
    status: list[str]
    mass_kg: float
    grf_applied: bool
    notes: list[str] = field(default_factory=list)

    @property
    def residual_force_rms_bw(self) -> float:
        """RMS (over frames) of the root residual force magnitude, in body weights."""
        return float(np.sqrt(np.mean(np.sum(self.residuals[:, :3] ** 2, axis=1))) / (self.mass_kg * _G))

    @property
    def residual_moment_rms_nm(self) -> float:
        """RMS (over frames) of the root residual moment magnitude, N·m."""
        return float(np.sqrt(np.mean(np.sum(self.residuals[:, 3:] ** 2, axis=1))))

    @property
    def reserve_max_abs(self) -> dict[str, float]:
        """Largest |reserve| per independent dof (N·m or N)."""
        return {n: float(v) for n, v in zip(self.reserve_names, np.abs(self.reserves).max(axis=0), strict=True)}

    def activation_channels(self) -> Channels:
        """Activations as :class:`~mmbio.trial.Channels` (unit ``'1'``)."""
        return Channels(self.time, self.activations, list(self.muscle_names), ["1"] * len(self.muscle_names))

    def summary(self) -> str:
        """One line: residual force (BW) and moment RMS, largest reserve, solve time, failures."""
        worst = max(self.reserve_max_abs.items(), key=lambda kv: kv[1]) if self.reserve_names else ("-", 0.0)
        bad = sum(s not in ("solved", "solved inaccurate") for s in self.status)
        return (
            f"static optimisation ({'measured GRF' if self.grf_applied else 'no external loads'}): "
            f"root residual force RMS {self.residual_force_rms_bw:.3f} BW, moment RMS "
            f"{self.residual_moment_rms_nm:.1f} N·m; largest reserve {worst[1]:.1f} ({worst[0]}); "
            f"{1000 * float(np.mean(self.solve_time_s)):.2f} ms/frame (osqp); {bad} unsolved frames"
        )


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

    model: MjModel (a private copy with contacts and constraints disabled is kept). exponent: only 2
    (a QP). reserve_weight: w_r per (N·m)² (1 = OpenSim's reserve of optimal force 1 N·m).
    residual_weight: w_s per N² or (N·m)². reserve_max_nm: bound on |reserve| (inf: unbounded).
    eps: osqp absolute and relative tolerance. polish: osqp solution polishing.
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
    ) -> None:
        import osqp

        if exponent != 2:
            raise MmbioError(
                f"static optimisation: only exponent 2 (a quadratic program) is implemented, got {exponent}"
            )
        if reserve_weight <= 0 or residual_weight <= 0:
            raise MmbioError("static optimisation: reserve_weight and residual_weight must be positive")
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
        # --- QP: x = [a (nm), r (n_ind - 6), s (6)]; rows: n_ind equalities, nm + n_res bounds
        nres = self.n_ind - 6
        self.n_mus, self.n_res = nm, nres
        nx = nm + nres + 6
        self._p = sp.diags(
            np.r_[np.full(nm, 2.0), np.full(nres, 2.0 * reserve_weight), np.full(6, 2.0 * residual_weight)]
        ).tocsc()
        # A in csc, column by column; equality block of muscle column k = pattern rows of column k
        ind_r, mus_c = np.nonzero(pat.T)  # (independent-coordinate row, muscle) pairs
        rows = np.r_[
            ind_r, 6 + np.arange(nres), np.arange(6), self.n_ind + np.arange(nm), self.n_ind + nm + np.arange(nres)
        ]
        cols = np.r_[mus_c, nm + np.arange(nres), nm + nres + np.arange(6), np.arange(nm), nm + np.arange(nres)]
        vals = np.r_[np.ones(len(ind_r)), np.ones(nres), np.ones(6), np.ones(nm), np.ones(nres)]
        a0 = sp.csc_matrix((vals, (rows, cols)), shape=(self.n_ind + nm + nres, nx))
        a0.sort_indices()
        self._a = a0
        # where the muscle entries live in a0.data (same order as (row, muscle) pairs)
        self._a_slots = np.array([self._slot(a0, r, k) for r, k in zip(ind_r, mus_c, strict=True)], dtype=int)
        self._a_rows, self._a_cols = ind_r, mus_c
        self._l = np.r_[np.zeros(self.n_ind), np.zeros(nm), np.full(nres, -reserve_max_nm)]
        self._u = np.r_[np.zeros(self.n_ind), np.ones(nm), np.full(nres, reserve_max_nm)]
        self._l[~np.isfinite(self._l)] = -np.inf
        self._u[~np.isfinite(self._u)] = np.inf
        self.osqp_version = str(getattr(osqp, "__version__", "0"))
        new_api = int(self.osqp_version.split(".")[0]) >= 1  # osqp ≥ 1: 'polishing', solve(raise_error=)
        self.solver = osqp.OSQP()
        self.solver.setup(
            self._p, np.zeros(nx), a0, self._l, self._u, eps_abs=eps, eps_rel=eps, max_iter=max_iter,
            warm_starting=True, verbose=False, **{("polishing" if new_api else "polish"): polish},
        )  # fmt: skip
        self._solve_kw: dict[str, Any] = {"raise_error": False} if new_api else {}
        self._qext = np.zeros(m.nv)
        self._rne = np.zeros(m.nv)
        self.pattern_leak = 0.0  # largest |A| entry found outside the fixed pattern (N·m per unit activation)

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

    def solve(self, a_mat: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, str, float]:
        """Solve the QP for A (n_ind, n_mus) and b (n_ind,): (x = [a, r, s], osqp status, solve seconds)."""
        vals = self._a.data
        vals[self._a_slots] = a_mat[self._a_rows, self._a_cols]
        leak = np.abs(np.where(self._pattern.T, 0.0, a_mat)).max()
        self.pattern_leak = max(self.pattern_leak, float(leak))
        self._l[: self.n_ind] = b
        self._u[: self.n_ind] = b
        t0 = _time.perf_counter()
        self.solver.update(Ax=vals, l=self._l, u=self._u)
        res = self.solver.solve(**self._solve_kw)
        dt = _time.perf_counter() - t0
        status = str(res.info.status)
        x = np.asarray(res.x, dtype=float) if res.x is not None else np.full(self.n_mus + self.n_res + 6, np.nan)
        return x, status, dt


# --------------------------------------------------------------------------------------------------
# GRF → MuJoCo loads
# --------------------------------------------------------------------------------------------------


def _grf_on_time(grf: dict[str, GroundReaction], t: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per side (force (T, 3) N, COP (T, 3) m, free moment (T,)) in the MuJoCo world on the motion clock."""
    lab_to_mj = MUJOCO_MYOFULLBODY_TO_LAB.T
    out = {}
    for side, g in grf.items():
        if side not in SIDES:
            raise MmbioError(
                f"static optimisation: GRF key {side!r} is not a foot ('r'/'l'); assign plates to feet first"
            )
        if t[0] < g.time[0] - 1e-9 or t[-1] > g.time[-1] + 1e-9:
            raise MmbioError(
                f"static optimisation: motion time {t[0]:.3f}..{t[-1]:.3f} s outside the GRF's "
                f"{g.time[0]:.3f}..{g.time[-1]:.3f} s (check t0_s)"
            )
        f = np.column_stack([np.interp(t, g.time, g.force[:, k]) for k in range(3)])
        cop_lab = np.nan_to_num(g.cop, nan=0.0)
        cop = np.column_stack([np.interp(t, g.time, cop_lab[:, k]) for k in range(3)])
        fm = np.interp(t, g.time, np.asarray(g.free_moment, dtype=float))
        f_mj, cop_mj = f @ lab_to_mj.T, cop @ lab_to_mj.T
        cop_mj[:, 2] = 0.0  # on the floor (motion_from_opensim puts the stance foot at z = 0)
        unloaded = f[:, 2] < GRF_MIN_FORCE_N
        f_mj[unloaded] = 0.0
        fm[unloaded] = 0.0
        out[side] = (f_mj, cop_mj, fm)
    return out


def _foot_bodies(m: mujoco.MjModel, side: str) -> tuple[int, int]:
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"{b}_{side}") for b in ("calcn", "toes")]
    if min(ids) < 0:
        raise MmbioError(f"static optimisation: the model has no calcn_{side}/toes_{side} bodies for the GRF")
    return ids[0], ids[1]


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def static_optimisation(
    motion: Any,
    *,
    grf: dict[str, GroundReaction] | None = None,
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
) -> StaticOptResult:
    """Static optimisation of a kinematic :class:`~mmbio.sim.motion.Motion` (see the module docstring).

    grf: per-foot measured ground reactions (lab frame, :func:`mmbio.io.opensim.read_opensim_grf`); None:
    no external loads, root residuals absorb weight. t0_s: time of motion frame 0 on the GRF clock
    (``motion_from_opensim`` starts at 0: pass the coordinate file's first time). frames: the frames to
    solve (accelerations use the whole motion). reserve_max_nm: bound on |reserve|. reserve_weight,
    residual_weight: cost per (N·m)² / N² relative to Σ a². mass_kg: body weight for the BW
    normalisation (default: the model's mass). model / optimiser: reuse an already built model or
    :class:`StaticOptimiser` (same settings).
    """
    if model is None:
        model = optimiser.model if optimiser is not None else motion.mj_model()
    opt = optimiser or StaticOptimiser(
        model, exponent=exponent, reserve_weight=reserve_weight, residual_weight=residual_weight,
        reserve_max_nm=reserve_max_nm, eps=eps,
    )  # fmt: skip
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
    loads_by_side = _grf_on_time(grf, t + t0_s) if grf else {}
    bodies = {s: _foot_bodies(m, s) for s in loads_by_side}
    if any("per-frame floor" in str(x) for x in getattr(motion, "notes", ())):
        notes.append("motion built with floor='per_frame': its root shift adds spurious vertical accelerations "
                     "(use floor='global' for inverse dynamics)")  # fmt: skip
    if not grf:
        notes.append("no external loads: root residuals absorb weight (contact forces as unknowns: not implemented)")
    nt = len(idx)
    act = np.zeros((nt, opt.n_mus))
    res_r = np.zeros((nt, opt.n_res))
    res_s = np.zeros((nt, 6))
    force = np.zeros((nt, opt.n_mus))
    tsolve = np.zeros(nt)
    status: list[str] = []
    d = opt.data
    for k, i in enumerate(idx):
        loads = []
        if loads_by_side:
            d.qpos[:] = qpos[i]
            mujoco.mj_kinematics(m, d)
            for s, (f, cop, fm) in loads_by_side.items():
                if not f[k].any():
                    continue
                calcn, toes = bodies[s]
                fwd = d.xpos[toes] - d.xpos[calcn]
                body = toes if float(np.dot(cop[k] - d.xpos[toes], fwd)) > 0 else calcn
                loads.append((body, f[k], np.array([0.0, 0.0, fm[k]]), cop[k]))
        a_mat, b, gain, bias = opt.frame_terms(qpos[i], qvel_ind[i], qacc_ind[i], loads)
        x, st, dt = opt.solve(a_mat, b)
        act[k] = x[: opt.n_mus]
        res_r[k] = x[opt.n_mus : opt.n_mus + opt.n_res]
        res_s[k] = x[opt.n_mus + opt.n_res :]
        force[k] = -(gain * act[k] + bias)
        tsolve[k] = dt
        status.append(st)
    if opt.pattern_leak > 1e-6:
        notes.append(f"moment-arm entries outside the fixed QP pattern up to {opt.pattern_leak:.2e} (ignored)")
    mass = float(mujoco.mj_getTotalmass(m) if mass_kg is None else mass_kg)
    out = StaticOptResult(
        time=t, activations=np.clip(act, 0.0, 1.0), muscle_names=list(opt.muscle_names), reserves=res_r,
        reserve_names=list(opt.reserve_names), residuals=res_s, muscle_force=force, solve_time_s=tsolve,
        status=status, mass_kg=mass, grf_applied=bool(grf), notes=notes,
    )  # fmt: skip
    out.notes.append(out.summary())
    return out
