"""Marker inverse kinematics on MyoFullBody: measured markers (TRC, C3D) → a :class:`~mmbio.sim.motion.Motion`.

**Problem.** Per frame, weighted marker least squares ``min_q Σᵢ wᵢ² ‖pᵢ(q) − mᵢ‖²`` over the visible markers
(NaN = gap, skipped in that frame), with the hinge joints' ranges (``jnt_range``) as bounds and MyoFullBody's
51 joint equalities held exactly: the unknowns are the *independent* coordinates only (the free root's 6 dofs and
31 joints; knee translations/rotations, patella, lumbar vertebrae and shoulder-girdle joints follow their drivers
through :func:`mmbio.models.anatomy.joint_couplings`, the same null-space map ``N(q)`` (nv × n_ind) as
:meth:`mmbio.control.static_opt.StaticOptimiser.null_matrix`). Joints the OpenSim model locks (subtalar and mtp
in Rajagopal-family models; marker set's ``locked``) are held at 0. Markers are model points ``pᵢ = x_b + R_b oᵢ``
on a body ``b`` with offset ``oᵢ`` from the marker-set tables in ``mmbio/models/data`` (:func:`marker_sets`).

**Solver: projected Levenberg-Marquardt on MuJoCo's own kinematics** (this module). Per iteration:
``mj_kinematics`` + ``mj_comPos``, the marker Jacobian from ``cdof`` (what ``mj_jac`` computes, vectorised over all
markers in numpy), ``J N``, a Marquardt-scaled normal-equation step ``(JᵀJ + λ diag(JᵀJ)) δ = −Jᵀr`` with the
coordinates at a bound whose step points outward frozen, ``mj_integratePos`` of ``N δ``, clipping into the
ranges and re-coupling. Warm start from the previous frame; the first frame starts from a Kabsch fit of the
pelvis markers. Why not ``mink`` (1.3.0, PyPI, installs from the local index; tried in
``benchmarks/ik_speed.py --mink``): it is *differential* IK — one QP (daqp) per velocity step, with one ``FrameTask``
per marker site, the joint equalities as a soft ``EqualityConstraintTask`` and ``ConfigurationLimit`` — so a frame
takes many integration steps. Measured on Schreiber 2014001_C4_05 (48 markers, one core of a 2-core Xeon VM):
mink 124 frames/s, equalities violated by up to 2.5e-4, same marker RMS (2.95 vs 2.96 cm), leg angles within 0.4°
(median) of this solver; this solver 309 frames/s with the equalities exact, and no new dependency (mink pulls
qpsolvers and daqp). ``scipy.optimize.least_squares`` (trust region with bounds) was not kept: it would work in the
same coordinates but cannot reuse the factorisation across frames and adds per-call set-up. The iterations stop
when the cost falls by less than ``ftol`` = 1e-8 (relative): at 1e-6 a large-residual frame stopped early and leg
angles differed by up to 12° from the converged ones.

**Registration** (``register=True``, default): markers flagged ``register`` in the table (cluster or extra markers
without a landmark in the OpenSim set: a thigh plate's 4th marker, S2, biceps) get their offsets from the trial:
a first IK pass on the landmark markers, then each flagged offset is the mean of ``R_bᵀ (m − x_b)`` over its
visible frames, then the full IK. Unscaled by default (segment-length differences between subject and MyoFullBody
stay in the marker error); with ``scaled=`` (a static trial or :class:`~mmbio.sim.scaling.ScaledModel`, issue 16 §3)
the IK runs on the subject-scaled model with the markers placed on the static pose (:mod:`mmbio.sim.scaling`); the
Motion then holds that model's coordinates under MyoFullBody's name (angles transfer, segment lengths do not).

**n/a.** A joint is n/a in a frame when fewer markers than its body's independent dofs (≤ 3) are visible on
its child body and everything distal (hip: femur, tibia, foot…); with none at all in the marker set it is held
at ``qpos0`` for the whole trial. n/a values are NaN in :func:`opensim_coordinates` / the ``.mot``; the Motion
keeps the held value (finite) and says so in its notes.

Frames: markers come in the lab frame (x forward, y left, z up; :mod:`mmbio.io.axes`) and go to the MuJoCo world
with ``MUJOCO_MYOFULLBODY_TO_LAB.T``; the ``.mot`` is in OpenSim's ground frame (``OPENSIM_TO_MUJOCO.T``).
"""

from __future__ import annotations

import csv
import difflib
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import pandas as pd

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.io.yaml_safe import loads_yaml
from mmbio.models.anatomy import ROOT_JOINT, clinical_joint_angles, joint_couplings
from mmbio.models.registry import load_model, resolve
from mmbio.sim.frames import OPENSIM_TO_MUJOCO, mat_from_quat, opensim_pelvis_from_matrix, quat_from_mat
from mmbio.trial import Markers

__all__ = [
    "IKResult",
    "MarkerIK",
    "MarkerSet",
    "ik_motion",
    "marker_ik",
    "marker_sets",
    "match_marker_set",
    "opensim_coordinates",
    "read_markers",
    "write_ik_mot",
]

PathArg = str | PathLike[str]

#: Fewest marker names that must match a set (else the file matches none).
MIN_MATCHED = 6
#: A gap (consecutive NaN frames of one marker) longer than this (s) is named in the notes.
MAX_GAP_S = 0.1
#: Median ratio of measured to model marker distances on one body outside this band: wrong units (mm vs m).
SCALE_BAND = (0.5, 2.0)
_LAB_TO_MJ = MUJOCO_MYOFULLBODY_TO_LAB.T


# --------------------------------------------------------------------------------------------------
# Marker sets (data in mmbio/models/data)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkerSet:
    """One marker set. markers: names (k,); bodies: MyoFullBody body per marker; offsets: (k, 3) m in that body's
    frame; register: (k,) bool, offset refined per trial; locked: joints held at 0; source: provenance."""

    name: str
    markers: tuple[str, ...]
    bodies: tuple[str, ...]
    offsets: np.ndarray
    register: np.ndarray
    locked: tuple[str, ...]
    source: str


def _data(name: str) -> str:
    return resources.files("mmbio.models").joinpath(f"data/{name}").read_text(encoding="utf-8")


@cache
def marker_sets() -> dict[str, MarkerSet]:
    """Every marker set of ``mmbio/models/data/marker_sets.yaml`` (name → :class:`MarkerSet`), read once."""
    meta = loads_yaml(_data("marker_sets.yaml"), "marker_sets.yaml")
    out = {}
    for name, s in meta["sets"].items():
        rows = list(csv.DictReader(_data(s["table"]).splitlines()))
        out[name] = MarkerSet(
            name=name,
            markers=tuple(r["marker"] for r in rows),
            bodies=tuple(r["body"] for r in rows),
            offsets=np.array([[float(r[c]) for c in "xyz"] for r in rows]),
            register=np.array([r["register"] == "1" for r in rows]),
            locked=tuple(s.get("locked", ())),
            source=" ".join(str(s["source"]).split()),
        )
    return out


def _norm(name: str) -> str:
    """Marker label as matched: after a Vicon ``subject:`` prefix, case-insensitive, spaces stripped."""
    return name.rsplit(":", 1)[-1].strip().lower()


def match_marker_set(
    names: list[str], path: PathArg = "<markers>", set_name: str | None = None
) -> tuple[MarkerSet, np.ndarray]:
    """The marker set matching most of ``names`` and, per set marker, the index into ``names`` (−1: absent).

    Raises :class:`DataFileError` (one line naming ``path`` and the closest set names) when fewer than
    :data:`MIN_MATCHED` names match, or ``set_name`` is not a set.
    """
    sets = marker_sets()
    if set_name is not None and set_name not in sets:
        raise MmbioError(f"unknown marker set {set_name!r}; choose one of: {', '.join(sets)}")
    given = {_norm(n): i for i, n in enumerate(names)}
    best: tuple[int, MarkerSet, np.ndarray] | None = None
    for ms in [sets[set_name]] if set_name else sets.values():
        idx = np.array([given.get(_norm(m), -1) for m in ms.markers])
        n = int((idx >= 0).sum())
        if best is None or n > best[0]:
            best = (n, ms, idx)
    assert best is not None
    n, ms, idx = best
    if n < MIN_MATCHED:
        pool = sorted({m for s in ([sets[set_name]] if set_name else sets.values()) for m in s.markers})
        close = []
        for nm in names[:6]:
            hit = difflib.get_close_matches(nm, pool, n=1, cutoff=0.0)
            close.append(f"{nm!r}→{hit[0]!r}" if hit else repr(nm))
        raise DataFileError(
            path,
            f"marker names match no marker set ({n} of {len(names)} match {ms.name!r}, {MIN_MATCHED} needed); "
            f"closest names: {', '.join(close)}; sets: {', '.join(sets)}",
        )
    return ms, idx


# --------------------------------------------------------------------------------------------------
# Reading markers
# --------------------------------------------------------------------------------------------------


def read_markers(path: PathArg) -> Markers:
    """Markers of a ``.trc`` (OpenSim convention, units from its header) or ``.c3d`` file, lab frame, m."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".trc":
        from mmbio.io.opensim import read_trc

        return read_trc(p)
    if suffix == ".c3d":
        from mmbio.io.c3d import read_c3d

        mk = read_c3d(p).markers
        if mk is None or not mk.names:
            raise DataFileError(p, "the C3D has no marker trajectories (POINT data)")
        return mk
    raise DataFileError(p, f"marker IK reads .trc or .c3d files, not {suffix or 'a file without extension'!r}")


# --------------------------------------------------------------------------------------------------
# Solver
# --------------------------------------------------------------------------------------------------


class _Couplings:
    """Joint equalities as vectorised levels (a level's drivers are set by earlier levels)."""

    def __init__(self, m: mujoco.MjModel) -> None:
        cs = joint_couplings(m)
        self.locked = [(c.dep, c.dep_dof, c.y0 + c.coef[0]) for c in cs if c.indep < 0]
        self.levels: list[tuple[np.ndarray, ...]] = []
        done: set[int] = set()
        deps = {c.dep for c in cs}
        pending = [c for c in cs if c.indep >= 0]
        while pending:
            ready = [c for c in pending if c.indep not in deps or c.indep in done]
            if not ready:  # joint_couplings already refuses cycles
                raise MmbioError("joint couplings: cycle")
            coef = np.array([c.coef for c in ready])
            dcoef = coef[:, 1:] * np.arange(1, 5)
            self.levels.append(
                (
                    np.array([c.dep for c in ready]),
                    np.array([c.indep for c in ready]),
                    np.array([c.dep_dof for c in ready]),
                    np.array([c.indep_dof for c in ready]),
                    np.array([c.y0 for c in ready]),
                    np.array([c.x0 for c in ready]),
                    coef,
                    dcoef,
                )
            )
            done |= {c.dep for c in ready}
            pending = [c for c in pending if c not in ready]
        self.dep_dofs = {c.dep_dof for c in cs}

    @staticmethod
    def _horner(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
        y = coef[:, -1].copy()
        for k in range(coef.shape[1] - 2, -1, -1):
            y = y * x + coef[:, k]
        return y

    def apply(self, q: np.ndarray) -> None:
        """Set every dependent coordinate of ``q`` (nq,) from its driver, in place."""
        for dep, _, val in self.locked:
            q[dep] = val
        for dep, indep, _, _, y0, x0, coef, _ in self.levels:
            q[dep] = y0 + self._horner(q[indep] - x0, coef)

    def null(self, q: np.ndarray, n: np.ndarray) -> None:
        """Fill the dependent rows of ``n`` (nv, n_ind), whose independent rows are the identity, in place."""
        for _, dof, _ in self.locked:
            n[dof] = 0.0
        for _, indep, ddof, idof, _, x0, _, dcoef in self.levels:
            n[ddof] = n[idof] * self._horner(q[indep] - x0, dcoef)[:, None]


class MarkerIK:
    """Per-frame marker IK on a MuJoCo model (see the module docstring).

    model: compiled model with a free joint ``root``. bodies: (k,) body ids; offsets: (k, 3) m in the body frames;
    weights: (k,) (default 1). locked: joint names held at 0. tol: largest step (rad or m) and ftol: relative
    decrease of the cost that end the iterations; max_iter: iterations per frame (the first frame gets 5×).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        bodies: np.ndarray,
        offsets: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        locked: tuple[str, ...] = (),
        tol: float = 1e-4,
        ftol: float = 1e-8,
        max_iter: int = 30,
    ) -> None:
        m = model
        self.model, self.data = m, mujoco.MjData(m)
        self.bodies = np.asarray(bodies, dtype=int)
        self.offsets = np.asarray(offsets, dtype=float).reshape(-1, 3)
        k = self.bodies.size
        self.weights = np.ones(k) if weights is None else np.asarray(weights, dtype=float)
        self.tol, self.ftol, self.max_iter = float(tol), float(ftol), int(max_iter)
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, ROOT_JOINT)
        if jid < 0 or m.jnt_type[jid] != mujoco.mjtJoint.mjJNT_FREE:
            raise MmbioError(f"marker IK: the model has no free joint {ROOT_JOINT!r}")
        self.root_q, self.root_dof = int(m.jnt_qposadr[jid]), int(m.jnt_dofadr[jid])
        self.couplings = _Couplings(m)
        self.locked_q = []
        locked_dofs = set()
        for name in locked:
            j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
            if j >= 0:
                self.locked_q.append(int(m.jnt_qposadr[j]))
                locked_dofs.add(int(m.jnt_dofadr[j]))
        root = list(range(self.root_dof, self.root_dof + 6))
        others = [d for d in range(m.nv) if d not in self.couplings.dep_dofs and d not in root and d not in locked_dofs]
        self.ind_dofs = np.array(root + others)
        self.n_ind = self.ind_dofs.size
        self._n = np.zeros((m.nv, self.n_ind))
        self._n[self.ind_dofs, np.arange(self.n_ind)] = 1.0
        # bounds on independent hinge/slide joints (columns of N)
        lim_cols, lim_q, lo, hi = [], [], [], []
        for c, dof in enumerate(self.ind_dofs):
            j = int(m.dof_jntid[dof])
            if c >= 6 and m.jnt_limited[j] and m.jnt_type[j] in (2, 3):
                lim_cols.append(c)
                lim_q.append(int(m.jnt_qposadr[j]))
                lo.append(m.jnt_range[j, 0])
                hi.append(m.jnt_range[j, 1])
        self._lim_cols, self._lim_q = np.array(lim_cols, dtype=int), np.array(lim_q, dtype=int)
        self._lo, self._hi = np.array(lo), np.array(hi)
        # which dofs move each marker's body (ancestor chain)
        chain = np.zeros((k, m.nv), dtype=bool)
        for i, b in enumerate(self.bodies):
            bb = int(b)
            while bb > 0:
                chain[i, m.dof_bodyid == bb] = True
                bb = int(m.body_parentid[bb])
        self._chain = chain
        self._qvel = np.zeros(m.nv)

    # -- kinematics
    def positions(self, q: np.ndarray) -> np.ndarray:
        """(k, 3) model marker positions (world, m) at ``q`` (runs mj_kinematics)."""
        d = self.data
        d.qpos[:] = q
        mujoco.mj_kinematics(self.model, d)
        xm = d.xmat[self.bodies].reshape(-1, 3, 3)
        return d.xpos[self.bodies] + np.einsum("kij,kj->ki", xm, self.offsets)

    def _jacobian(self, p: np.ndarray) -> np.ndarray:
        """(k, 3, nv) marker Jacobians at the current kinematics (needs mj_comPos): mj_jac from ``cdof``."""
        d = self.data
        mujoco.mj_comPos(self.model, d)
        cdof = d.cdof
        r = p - d.subtree_com[self.model.body_rootid[self.bodies]]  # (k, 3)
        ang, lin = cdof[:, :3], cdof[:, 3:]
        jac = lin[None, :, :] + np.cross(ang[None, :, :], r[:, None, :])  # (k, nv, 3)
        jac *= self._chain[:, :, None]
        return jac.transpose(0, 2, 1)

    def constrain(self, q: np.ndarray) -> np.ndarray:
        """``q`` with locked joints at 0, independent joints clipped into range and dependents re-coupled."""
        if self.locked_q:
            q[self.locked_q] = 0.0
        if self._lim_q.size:
            q[self._lim_q] = np.clip(q[self._lim_q], self._lo, self._hi)
        self.couplings.apply(q)
        return q

    def initial_pose(self, target: np.ndarray, visible: np.ndarray, pelvis: np.ndarray) -> np.ndarray:
        """qpos0 moved rigidly (Kabsch) onto the visible pelvis markers (all visible markers if < 3)."""
        m = self.model
        q = self.constrain(m.qpos0.copy())
        use = visible & pelvis if (visible & pelvis).sum() >= 3 else visible
        if use.sum() < 3:
            raise MmbioError("marker IK: fewer than 3 markers visible in the first frame")
        p0 = self.positions(q)[use]
        t = target[use]
        a, b = p0 - p0.mean(0), t - t.mean(0)
        u, _, vt = np.linalg.svd(a.T @ b)
        s = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
        rot = vt.T @ s @ u.T
        rq = self.root_q
        r0 = mat_from_quat(q[rq + 3 : rq + 7])[0]
        q[rq : rq + 3] = rot @ (q[rq : rq + 3] - p0.mean(0)) + t.mean(0)
        q[rq + 3 : rq + 7] = quat_from_mat(rot @ r0)[0]
        return q

    def solve(
        self, q0: np.ndarray, target: np.ndarray, visible: np.ndarray, max_iter: int | None = None
    ) -> tuple[np.ndarray, int]:
        """Solve one frame from ``q0`` (nq,). target: (k, 3) m world; visible: (k,) bool. Returns (q, iterations)."""
        m = self.model
        q = self.constrain(np.array(q0, dtype=float))
        w = self.weights[visible][:, None]
        tgt = target[visible]
        p = self.positions(q)
        res = (p[visible] - tgt) * w
        cost = float(np.sum(res**2))
        lam = 1e-3
        it = 0
        n = self._n
        while it < (max_iter or self.max_iter):
            it += 1
            self.couplings.null(q, n)
            jac = self._jacobian(p)[visible] * w[:, :, None]  # (kv, 3, nv)
            jn = jac.reshape(-1, m.nv) @ n  # (3kv, n_ind)
            r = res.reshape(-1)
            h = jn.T @ jn
            g = jn.T @ r
            free = np.ones(self.n_ind, dtype=bool)
            if self._lim_q.size:  # freeze coordinates at a bound pushed outward by the gradient
                ql = q[self._lim_q]
                at_lo = (ql <= self._lo + 1e-9) & (g[self._lim_cols] > 0)
                at_hi = (ql >= self._hi - 1e-9) & (g[self._lim_cols] < 0)
                free[self._lim_cols[at_lo | at_hi]] = False
            hf, gf = h[np.ix_(free, free)], g[free]
            dh = np.diag(hf).copy() + 1e-9
            accepted = False
            for _ in range(10):
                try:
                    step = np.linalg.solve(hf + lam * np.diag(dh), -gf)
                except np.linalg.LinAlgError:
                    lam *= 10
                    continue
                delta = np.zeros(self.n_ind)
                delta[free] = step
                qn = q.copy()
                mujoco.mj_integratePos(m, qn, n @ delta, 1.0)
                self.constrain(qn)
                pn = self.positions(qn)
                rn = (pn[visible] - tgt) * w
                cn = float(np.sum(rn**2))
                if cn <= cost:
                    q, p, res, accepted = qn, pn, rn, True
                    done = cost - cn <= self.ftol * cost or np.max(np.abs(step)) < self.tol
                    cost = cn
                    lam = max(lam / 5, 1e-7)
                    break
                lam *= 8
            if not accepted or done:
                break
        if not np.array_equal(self.data.qpos, q):
            self.positions(q)
        return q, it


# --------------------------------------------------------------------------------------------------
# Whole trials
# --------------------------------------------------------------------------------------------------


@dataclass
class IKResult:
    """Marker IK of one trial.

    motion: the :class:`Motion` (qpos held where n/a). marker_names: (k,) the set markers found in the file;
    marker_error_m: (T, k) distance model–measured marker (m; NaN in gaps). rms_m: (T,) per-frame RMS over
    visible markers. na: joint → (T,) bool, frames where the joint is n/a. iterations: (T,) LM iterations.
    solve_s: wall time of the per-frame solves (s, both passes). time: (T,) s, the marker file's time base (the
    Motion's own time starts at 0). notes: what was done and what is missing.
    """

    motion: Any
    marker_set: str
    marker_names: list[str]
    marker_error_m: np.ndarray
    rms_m: np.ndarray
    na: dict[str, np.ndarray]
    iterations: np.ndarray
    solve_s: float
    time: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        """Frames solved per second (final pass and registration pass together)."""
        return float(self.motion.n_frames / self.solve_s) if self.solve_s > 0 else float("inf")

    def summary(self) -> str:
        e = self.marker_error_m
        return (
            f"marker IK ({self.marker_set}): {self.motion.n_frames} frames, {len(self.marker_names)} markers, "
            f"marker RMS {100 * float(np.sqrt(np.nanmean(e**2))):.2f} cm (max {100 * float(np.nanmax(e)):.2f} cm), "
            f"{self.frames_per_s:.0f} frames/s"
        )


def _gaps(visible: np.ndarray) -> np.ndarray:
    """(k,) longest run of consecutive invisible frames per marker."""
    out = np.zeros(visible.shape[1], dtype=int)
    for j in range(visible.shape[1]):
        run = best = 0
        for v in visible[:, j]:
            run = 0 if v else run + 1
            best = max(best, run)
        out[j] = best
    return out


def _check_units(path: PathArg, pos: np.ndarray, model_pts: np.ndarray, bodies: np.ndarray) -> None:
    """Median measured/model distance between markers on one body; outside :data:`SCALE_BAND`: wrong units."""
    ratios = []
    for b in np.unique(bodies):
        idx = np.flatnonzero(bodies == b)
        for a in range(idx.size):
            for c in range(a + 1, idx.size):
                dm = float(np.linalg.norm(model_pts[idx[a]] - model_pts[idx[c]]))
                dd = np.linalg.norm(pos[:, idx[a]] - pos[:, idx[c]], axis=1)
                if dm > 0.03 and np.isfinite(dd).any():
                    ratios.append(float(np.nanmedian(dd)) / dm)
    if ratios:
        r = float(np.median(ratios))
        if not SCALE_BAND[0] <= r <= SCALE_BAND[1]:
            hint = " (mm read as m? check the Units header)" if r > 100 else " (m read as mm?)" if r < 0.01 else ""
            raise DataFileError(
                path,
                f"marker distances on one segment are {r:.3g}× the model's (expected about 1){hint}: wrong units "
                "or not a human marker set",
            )


def marker_ik(
    markers: Markers | PathArg,
    *,
    model: str = "myofullbody",
    variant: str | None = None,
    marker_set: str | None = None,
    register: bool = True,
    max_iter: int = 30,
    tol: float = 1e-4,
    max_gap_s: float = MAX_GAP_S,
    scaled: Any = None,
) -> IKResult:
    """Marker IK of a trial (module docstring); ``markers``: :class:`Markers` (lab frame, m) or a .trc/.c3d path.

    marker_set: a :func:`marker_sets` name (default: the set matching most marker names). scaled: a
    :class:`~mmbio.sim.scaling.ScaledModel` or the path of the subject's static trial (scaled with
    :func:`~mmbio.sim.scaling.scale_for_subject`): IK on the scaled model with its placed markers (no per-trial
    registration of placed markers); a trial that looks like another subject is warned in the notes. Returns
    :class:`IKResult` (its ``motion`` at the marker rate; a single frame is allowed, e.g. a static trial). Raises
    :class:`DataFileError` (one line naming the file) for names matching no set, wrong units, or no frame.
    """
    from mmbio.sim.foot_geometry import _qpos_index
    from mmbio.sim.motion import Motion
    from mmbio.sim.rollout_cpu import finite_difference_qvel

    path = str(markers) if not isinstance(markers, Markers) else "<markers>"
    mk = markers if isinstance(markers, Markers) else read_markers(markers)
    if mk.time.size < 1:
        raise DataFileError(path, "no marker frame: IK needs at least 1")
    if scaled is not None and not hasattr(scaled, "offset_of"):
        from mmbio.sim.scaling import scale_for_subject

        scaled = scale_for_subject(scaled, marker_set, model=model, variant=variant)
    if scaled is not None and marker_set is None:
        marker_set = scaled.marker_set
    ms, idx = match_marker_set(mk.names, path, marker_set)
    have = idx >= 0
    notes: list[str] = []
    extra = [n for n in mk.names if _norm(n) not in {_norm(x) for x in ms.markers}]
    if extra:
        notes.append(f"markers not in set {ms.name!r}, ignored: {', '.join(extra)}")
    missing = [n for n, h in zip(ms.markers, have, strict=True) if not h]
    if missing:
        notes.append(f"set markers absent from the file: {', '.join(missing)}")
    names = [n for n, h in zip(ms.markers, have, strict=True) if h]
    name_model, variant = resolve(model, variant)
    m = load_model(name_model, variant).model if scaled is None else scaled.model
    bodies = np.array(
        [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, b) for b, h in zip(ms.bodies, have, strict=True) if h]
    )
    if (bodies < 0).any():
        raise MmbioError(f"marker set {ms.name!r} names bodies that model {name_model!r} lacks")
    offsets = ms.offsets[have].copy()
    reg = ms.register[have] & register
    if scaled is not None:
        for j, n in enumerate(names):
            hit = scaled.offset_of(n)
            if hit is not None:
                offsets[j] = hit[1]
                reg[j] = False
            else:
                offsets[j] = offsets[j] * scaled.factors.get(ms.bodies[int(np.flatnonzero(have)[j])], np.ones(3))
        mass, height = _trial_subject(path)
        notes.extend(scaled.check_subject(mk, mass, height))
    pos = mk.positions[:, idx[have]] @ _LAB_TO_MJ.T  # (T, k, 3) MuJoCo world
    vis = np.isfinite(pos).all(axis=2)
    if not vis.any(axis=0).all():
        never = [n for n, v in zip(names, vis.any(axis=0), strict=True) if not v]
        notes.append(f"markers never seen, ignored: {', '.join(never)}")
    rate = mk.rate if mk.time.size > 1 else 100.0  # one frame: no rate, qvel 0
    gaps = _gaps(vis)
    long_gaps = [
        f"{n} {g / rate:.2f} s"
        for n, g in zip(names, gaps, strict=True)
        if 0 < g < vis.shape[0] and g / rate > max_gap_s
    ]
    if long_gaps:
        notes.append(f"gaps longer than {max_gap_s:g} s (skipped per frame, not filled): {', '.join(long_gaps)}")
    ik = MarkerIK(m, bodies, offsets, locked=ms.locked, tol=tol, max_iter=max_iter)
    q0 = ik.constrain(m.qpos0.copy())
    _check_units(path, pos, ik.positions(q0), bodies)
    pelvis = bodies == mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
    t_frames = pos.shape[0]
    first = int(np.argmax(vis.sum(axis=1) >= 3))
    if vis[first].sum() < 3:
        raise DataFileError(path, "no frame has 3 or more markers of the set visible")

    def run(use: np.ndarray, seed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        qs = np.empty((t_frames, m.nq))
        its = np.zeros(t_frames, dtype=int)
        q = seed[first] if seed is not None else ik.initial_pose(pos[first], vis[first] & use, pelvis & use)
        order = list(range(first, t_frames)) + list(range(first - 1, -1, -1))
        for i in order:
            if i == first - 1 and first > 0:
                q = qs[first]
            v = vis[i] & use
            start = seed[i] if seed is not None else q
            if v.sum() >= 1:
                q, its[i] = ik.solve(
                    start, np.nan_to_num(pos[i]), v, max_iter=max_iter * (5 if i == first and seed is None else 1)
                )
            qs[i] = q
        return qs, its

    t0 = time.perf_counter()
    seed = None
    if reg.any():
        qs1, _ = run(~reg, None)
        for j in np.flatnonzero(reg):
            ok = vis[:, j]
            if not ok.any():
                continue
            loc = []
            for i in np.flatnonzero(ok):
                ik.positions(qs1[i])
                b = bodies[j]
                loc.append(ik.data.xmat[b].reshape(3, 3).T @ (pos[i, j] - ik.data.xpos[b]))
            offsets[j] = np.mean(loc, axis=0)
        ik.offsets = offsets
        seed = qs1
        notes.append(
            f"offsets registered on this trial (first IK pass without them): {', '.join(np.array(names)[reg])}"
        )
    qs, its = run(np.ones(len(names), dtype=bool), seed)
    solve_s = time.perf_counter() - t0
    err = np.full(vis.shape, np.nan)
    for i in range(t_frames):
        d = np.linalg.norm(ik.positions(qs[i]) - pos[i], axis=1)
        err[i, vis[i]] = d[vis[i]]
    with np.errstate(invalid="ignore"):
        rms = np.sqrt(np.nanmean(err**2, axis=1))
    na = _not_available(m, ik, vis, notes)
    qvel = finite_difference_qvel(m, qs, 1.0 / rate) if t_frames > 1 else np.zeros((1, m.nv))
    how = "model not scaled" if scaled is None else f"model scaled to {Path(scaled.source).name} (markers placed)"
    notes.append(
        f"marker IK, set {ms.name!r} ({len(names)} markers), {how}; marker RMS "
        f"{100 * float(np.sqrt(np.nanmean(err**2))):.2f} cm; locked at 0: {', '.join(ms.locked) or 'none'}"
    )
    motion = Motion(
        qpos=qs,
        qvel=qvel,
        rate_hz=float(rate),
        model=name_model,
        variant=variant,
        source=path,
        notes=notes,
        qpos_index=_qpos_index(m),
    )
    return IKResult(motion, ms.name, names, err, rms, na, its, solve_s, np.asarray(mk.time, dtype=float), notes)


def _trial_subject(path: str) -> tuple[float, float]:
    """(mass kg, height m) of a C3D trial's SUBJECT values (NaN when unknown or not a C3D)."""
    if Path(path).suffix.lower() != ".c3d":
        return float("nan"), float("nan")
    from mmbio.io.c3d import read_c3d

    sub = read_c3d(path).subject
    return float(sub.mass_kg), float(sub.height_m)


def _not_available(m: mujoco.MjModel, ik: MarkerIK, vis: np.ndarray, notes: list[str]) -> dict[str, np.ndarray]:
    """Joint → (T,) frames where the visible markers distal to it are fewer than its body's independent dofs."""
    ind = set(int(d) for d in ik.ind_dofs[6:])
    below: dict[int, np.ndarray] = {}
    for b in range(m.nbody):  # markers on b's subtree
        mask = np.zeros(ik.bodies.size, dtype=bool)
        for i, mb in enumerate(ik.bodies):
            x = int(mb)
            while x > 0 and x != b:
                x = int(m.body_parentid[x])
            mask[i] = x == b
        below[b] = mask
    na: dict[str, np.ndarray] = {}
    never, some = [], []
    for j in range(m.njnt):
        dof = int(m.jnt_dofadr[j])
        if m.jnt_type[j] not in (2, 3) or dof not in ind:
            continue
        b = int(m.jnt_bodyid[j])
        need = min(3, sum(1 for jj in range(m.njnt) if m.jnt_bodyid[jj] == b and int(m.jnt_dofadr[jj]) in ind))
        count = vis[:, below[b]].sum(axis=1)
        flag = count < need
        if flag.any():
            na[m.joint(j).name] = flag
            (never if flag.all() else some).append(m.joint(j).name)
    if never:
        notes.append(f"n/a (too few markers distal to the joint; held at qpos0): {', '.join(never)}")
    if some:
        notes.append(f"n/a in some frames (too few visible markers distal to the joint): {', '.join(some)}")
    return na


def ik_motion(path: PathArg, **kwargs: Any) -> Any:
    """The :class:`~mmbio.sim.motion.Motion` of :func:`marker_ik` on a .trc/.c3d file (same keywords)."""
    return marker_ik(path, **kwargs).motion


# --------------------------------------------------------------------------------------------------
# OpenSim output
# --------------------------------------------------------------------------------------------------


def opensim_coordinates(result: IKResult) -> pd.DataFrame:
    """OpenSim coordinates of an IK result: ``time`` (s) then pelvis_tilt/list/rotation (deg), pelvis_tx/ty/tz
    (m, OpenSim ground of the marker file), leg and lumbar coordinates (deg, OpenSim names and signs),
    ``knee_angle_<s>_beta`` (rad, Rajagopal's patella coupler). n/a frames are NaN."""
    from mmbio.io.opensim import _CLINICAL_TO_OPENSIM, _split_coord

    mo = result.motion
    m = mo.mj_model()
    d = mujoco.MjData(m)
    rq = int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, ROOT_JOINT)])
    pel = m.body("pelvis").id
    xyz = np.empty((mo.n_frames, 3))
    for i in range(mo.n_frames):
        d.qpos[:] = mo.qpos[i]
        mujoco.mj_kinematics(m, d)
        xyz[i] = OPENSIM_TO_MUJOCO.T @ d.xpos[pel]
    ang = np.degrees(opensim_pelvis_from_matrix(mat_from_quat(mo.qpos[:, rq + 3 : rq + 7])))
    cols: dict[str, np.ndarray] = {"time": result.time}
    cols.update({"pelvis_tilt": ang[:, 0], "pelvis_list": ang[:, 1], "pelvis_rotation": ang[:, 2]})
    cols.update({f"pelvis_t{c}": xyz[:, k] for k, c in enumerate("xyz")})
    from mmbio.models.anatomy import JOINT_MAP

    for clin, vals in clinical_joint_angles(m, mo.qpos).items():
        base, side = (clin, None) if clin in _CLINICAL_TO_OPENSIM else _split_coord(clin)
        if base not in _CLINICAL_TO_OPENSIM:
            continue
        os_base, sign = _CLINICAL_TO_OPENSIM[base]
        v = sign * np.asarray(vals, dtype=float)
        flag = result.na.get(JOINT_MAP[clin][0])
        if flag is not None:
            v = np.where(flag, np.nan, v)
        name = os_base if side is None else f"{os_base}_{side}"
        cols[name] = v
        if os_base == "knee_angle" and side is not None:
            cols[f"knee_angle_{side}_beta"] = np.radians(v)
    return pd.DataFrame(cols)


def ik_angles(result: IKResult, path: PathArg = "<trial>", coords: pd.DataFrame | None = None) -> tuple[Any, list[str]]:
    """Clinical joint angles (deg, :class:`~mmbio.trial.Channels` on the marker clock, n/a frames NaN) of an IK
    result, converted from its OpenSim coordinates (``coords``: :func:`opensim_coordinates` when already computed)
    as mmbio's OpenSim reader converts an IK ``.mot``; joints the IK holds at 0 (locked, as in the OpenSim model)
    are left out. Returns (angles, the names left out)."""
    from mmbio.io.opensim import coordinates_to_angles
    from mmbio.io.opensim_table import Storage
    from mmbio.models.anatomy import JOINT_MAP

    df = coords if coords is not None else opensim_coordinates(result)
    st = Storage(name=f"IK of {path}", header={}, columns=list(df.columns), data=df.to_numpy(dtype=float),
                 in_degrees=True, path=str(path))  # fmt: skip
    angles, _ = coordinates_to_angles(st, knee_sign=1, notes=[])
    locked = set(marker_sets()[result.marker_set].locked)
    dropped = [n for n in angles.names if n in JOINT_MAP and JOINT_MAP[n][0] in locked]
    keep = [n for n in angles.names if np.isfinite(angles[n]).any() and n not in dropped]
    return angles.select(keep), dropped


def trial_with_ik_angles(trial: Any, path: PathArg = "<trial>", scaled: Any = None) -> Any:
    """``trial`` (a C3D trial with markers and no joint angles) with the joint angles of :func:`marker_ik` on its
    own markers (lab frame; :func:`ik_angles`); the IK's summary and notes go to the trial's notes. scaled: the
    model scaled to the subject (:func:`mmbio.sim.scaling.scale_for_subject`), or None. Raises
    :class:`DataFileError` naming ``path`` when its markers match no marker set."""
    res = marker_ik(trial.markers, scaled=scaled)
    angles, dropped = ik_angles(res, path)
    out = trial.replace(angles=angles)
    out.notes = [
        f"joint angles from mmbio's marker IK of this file's markers (--no-ik to skip): {res.summary()}",
        *(f"IK: {n}" for n in res.notes),
        *([f"not reported (locked at 0 by the IK, as in the OpenSim model): {', '.join(dropped)}"] if dropped else []),
        *trial.notes,
    ]
    return out


def write_ik_mot(result: IKResult, path: PathArg) -> Path:
    """Write :func:`opensim_coordinates` as an OpenSim ``.mot`` (``inDegrees=yes``; translations m, patella rad)."""
    from mmbio.io.opensim import write_storage

    df = opensim_coordinates(result)
    return write_storage(path, df, in_degrees=True, name="mmbio_ik")
