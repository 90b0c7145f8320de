"""The tracking controller's reference: a motion as smooth functions of time in MuJoCo's tangent space, looped
over one gait cycle when the run is longer than the motion, with an optional periodic correction of its root path
(:mod:`mmbio.control.consistency`)."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
from scipy.interpolate import CubicSpline

from mmbio.errors import MmbioError

__all__ = ["LoopedReference"]


# --------------------------------------------------------------------------------------------------


def _lowpass_periodic(x: np.ndarray, rate_hz: float, cutoff_hz: float) -> np.ndarray:
    """Zero-lag low-pass of one period ``x`` (n, k) sampled at ``rate_hz``: Fourier harmonics above ``cutoff_hz``
    are removed with a raised-cosine taper over the last octave (no ringing at the cut)."""
    n = len(x)
    spec = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(n, 1.0 / rate_hz)
    w = np.clip((cutoff_hz - f) / (cutoff_hz / 2), 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    return np.fft.irfft(spec * w[:, None], n=n, axis=0)


class LoopedReference:
    """A reference motion as smooth functions of time, looped over one gait cycle when needed.

    Positions are stored as tangent vectors ``v(t) = q_base ⊖ q(t)`` (``mj_differentiatePos`` over 1 s:
    root translation in the world, root rotation vector in the root frame, joint displacements) and
    splined, so ``q_ref = q_base ⊕ v``, ``q̇_ref = v̇`` and ``q̈_ref = v̈`` (the root's angular velocity is
    approximated by the rotation vector's derivative: exact to second order in the pelvis excursion,
    a few degrees).
    """

    def __init__(
        self,
        motion: Any,
        model: mujoco.MjModel,
        duration_s: float,
        cutoff_hz: float = 10.0,
        root_cutoff_hz: float | None = None,
        root_correction: np.ndarray | None = None,
    ) -> None:
        qpos = np.asarray(motion.qpos, dtype=float)
        rate = float(motion.rate_hz)
        self.model = model
        self.notes: list[str] = []
        k0, k1, periodic = self._cycle(motion, qpos, duration_s)
        seg = self._inside_limits(qpos[k0 : k1 + 1])
        self.base = seg[0].copy()
        v = np.zeros((len(seg), model.nv))
        for i, q in enumerate(seg):
            mujoco.mj_differentiatePos(model, v[i], 1.0, self.base, q)
        t = np.arange(len(seg)) / rate
        self.t_end = float(t[-1])
        if periodic:
            self.period = float(t[-1])
            self.advance = np.zeros(model.nv)
            self.advance[:2] = v[-1, :2]  # forward translation per cycle (world x, y)
            ramp = t / self.period
            mismatch = v[-1] - self.advance
            worst = float(np.abs(mismatch[6:]).max()) if model.nv > 6 else 0.0
            self.notes.append(
                f"reference looped over frames {k0}..{k1} ({self.period:.3f} s); end mismatch up to "
                f"{np.degrees(worst):.2f} deg spread over the cycle, advance {np.linalg.norm(self.advance[:2]):.3f} m"
            )
            vp = v - ramp[:, None] * v[-1]  # periodic part
            vp[:-1] = _lowpass_periodic(vp[:-1], rate, cutoff_hz)
            if root_cutoff_hz is not None:  # the root (pelvis) path alone, smoother
                vp[:-1, :6] = _lowpass_periodic(vp[:-1, :6], rate, root_cutoff_hz)
            vp[-1] = vp[0]
            self._spline = CubicSpline(t, vp, axis=0, bc_type="periodic")
            self._trend = v[-1] / self.period  # per second, includes the advance and the spread mismatch
            self._trend_cycle = self.advance.copy()
        else:
            self.period = 0.0
            if len(v) > 15:
                from scipy.signal import butter, filtfilt

                bb, aa = butter(2, min(cutoff_hz / (rate / 2), 0.99))
                v = filtfilt(bb, aa, v, axis=0)
            self._spline = CubicSpline(t, v, axis=0)
            self._trend = np.zeros(model.nv)
            self._trend_cycle = np.zeros(model.nv)
        self._q = np.zeros(model.nq)
        #: tangent offset (nv,) added to the positions by :meth:`at` (foot placement, :mod:`mmbio.control.placement`)
        self.offset: np.ndarray | None = None
        self._corr: CubicSpline | None = None
        if root_correction is not None:
            c = np.asarray(root_correction, float)
            if self.period <= 0 or c.ndim != 2 or c.shape[1] != 3 or len(c) < 4 or not np.all(np.isfinite(c)):
                raise MmbioError(
                    "tracking: a root correction needs a periodic reference and an (n ≥ 4, 3) finite table"
                )
            tt = np.linspace(0.0, self.period, len(c) + 1)
            self._corr = CubicSpline(tt, np.r_[c, c[:1]], axis=0, bc_type="periodic")
            self.notes.append(f"reference root path corrected for dynamic consistency (up to "
                              f"{1e3 * float(np.abs(c).max()):.0f} mm)")  # fmt: skip

    def _inside_limits(self, qpos: np.ndarray, margin_rad: float = 0.05) -> np.ndarray:
        """The reference with every limited independent hinge moved inside its range by a margin (arms left at
        ``qpos0`` sit on the shoulder-elevation limit, where the limit's constraint force fights the tracking)."""
        from mmbio.models.anatomy import joint_couplings

        m = self.model
        dep = {int(m.dof_jntid[c.dep_dof]) for c in joint_couplings(m)}
        q = qpos.copy()
        moved = []
        for j in range(m.njnt):
            if j in dep or not m.jnt_limited[j] or int(m.jnt_type[j]) != int(mujoco.mjtJoint.mjJNT_HINGE):
                continue
            lo, hi = m.jnt_range[j]
            mg = min(margin_rad, (hi - lo) / 10)
            a = int(m.jnt_qposadr[j])
            new = np.clip(q[:, a], lo + mg, hi - mg)
            if np.any(np.abs(new - q[:, a]) > 1e-9):
                moved.append(m.joint(j).name)
            q[:, a] = new
        if moved:
            from mmbio.models.anatomy import coupled_qpos

            q = np.array([coupled_qpos(m, row) for row in q])
            self.notes.append(f"reference moved inside the joint ranges by {margin_rad:g} rad: {', '.join(moved)}")
        return q

    def _cycle(self, motion: Any, qpos: np.ndarray, duration_s: float) -> tuple[int, int, bool]:
        n = len(qpos)
        rate = float(motion.rate_hz)
        m = self.model
        d = np.zeros(m.nv)
        mujoco.mj_differentiatePos(m, d, 1.0, qpos[0], qpos[-1])
        if np.abs(d[6:]).max() < np.radians(1.0) and np.abs(d[2:6]).max() < 0.02:
            return 0, n - 1, True  # periodic: always treated as a loop (periodic smoothing, no edge effects)
        if duration_s <= (n - 1) / rate + 1e-9:
            return 0, n - 1, False
        stance = getattr(motion, "stance", None)
        if stance and "r" in stance:
            on = np.flatnonzero(np.diff(stance["r"].astype(int)) == 1) + 1
            if len(on) >= 2:
                self.notes.append("reference is not periodic: looping its last right-heel-strike cycle")
                return int(on[-2]), int(on[-1]), True
        raise MmbioError(
            f"tracking: the reference motion lasts {(n - 1) / rate:.2f} s, less than the requested {duration_s:.2f} s, "
            "and has no complete gait cycle to loop (not periodic, no stance plan with two right heel strikes)"
        )

    def at(self, t: float, placed: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(qpos (nq,), qvel (nv,), qacc (nv,)) of the reference at time t (s); with ``placed`` (the default) the
        tangent ``offset`` (nv,) of a foot-placement rule, when set, is added to the positions."""
        if self.period > 0:
            c = np.floor(t / self.period)
            tau = t - c * self.period
            v = self._spline(tau) + self._trend * tau + c * self._trend_cycle
        else:
            tau = min(max(t, 0.0), self.t_end)
            v = self._spline(tau)
        qd = self._spline(tau, 1) + self._trend
        qdd = self._spline(tau, 2)
        if self._corr is not None:  # periodic: tau is the time within the cycle (v and qd are fresh arrays)
            v[:3] += self._corr(tau)
            qd[:3] += self._corr(tau, 1)
            qdd[:3] += self._corr(tau, 2)
        if placed and self.offset is not None:
            v = v + self.offset
        q = self._q
        q[:] = self.base
        mujoco.mj_integratePos(self.model, q, v, 1.0)
        return q.copy(), qd, qdd
