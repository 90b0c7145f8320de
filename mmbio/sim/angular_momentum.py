"""Whole-body angular momentum of a motion and its yaw budget against measured force plates.

The vertical angular momentum about the centre of mass, ``L_z``, changes only through moments of external forces
about the centre of mass. In walking these are the horizontal ground forces acting at the centres of pressure and
each foot's free moment (the plate's moment about the vertical through the COP)::

    dL_z/dt = Σ_feet [(COP − COM) × F]_z + Σ_feet T_z

:func:`yaw_budget` takes a motion on a MuJoCo model and the force plates of the same trial, computes ``dL_z/dt``
from the model's segments and the first sum from the plates, and reports what is left: the **free moment the motion
needs** on this model, beside the free moment the plates measured. A motion and model that agree with the person
need about what was measured (a few N·m in walking); a large excess is a yaw residual no foot of that size
produces, which a simulation must then find somewhere (a twisting foot, reserve torques). Stock MyoFullBody's
shoulder phantom bodies make the measured Rajagopal walk need 26 N·m RMS against 3.9 N·m measured
(:mod:`mmbio.models.inertia_audit`).

Frames: the motion's world is MuJoCo Z up; plate forces, COPs and free moments come in the lab frame
(:mod:`mmbio.io.axes`) and are rotated explicitly. The plates' moments are scaled by model mass / subject mass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.sim.foot_geometry import GRAVITY

__all__ = ["YawBudget", "angular_momentum", "yaw_budget"]


def angular_momentum(motion: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(L, com)``: the whole body's angular momentum about its centre of mass, (T, 3) kg·m²/s, and the centre of
    mass, (T, 3) m, both in the world frame, from ``motion.qpos`` / ``motion.qvel`` on ``motion.mj_model()``."""
    m = motion.mj_model()
    d = mujoco.MjData(m)
    n = len(motion.qpos)
    lmom, com = np.zeros((n, 3)), np.zeros((n, 3))
    for k in range(n):
        d.qpos[:], d.qvel[:] = motion.qpos[k], motion.qvel[k]
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_comVel(m, d)
        mujoco.mj_subtreeVel(m, d)
        lmom[k], com[k] = d.subtree_angmom[0], d.subtree_com[0]
    return lmom, com


@dataclass
class YawBudget:
    """:func:`yaw_budget`'s result on the frames the plates cover. Moments in N·m about the world vertical, (T,).

    time: s (the plates' clock). lz: vertical angular momentum about the COM (kg·m²/s). lz_rate: its rate.
    plate_force_moment: Σ [(COP − COM) × F]_z of the measured forces. free_moment_measured: Σ of the plates' free
    moments. free_moment_needed: ``lz_rate − plate_force_moment``. Plate quantities are scaled by ``mass_scale``
    (model mass / subject mass).
    """

    time: np.ndarray
    lz: np.ndarray
    lz_rate: np.ndarray
    plate_force_moment: np.ndarray
    free_moment_measured: np.ndarray
    free_moment_needed: np.ndarray
    mass_scale: float
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def _rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(x))))

    def rms(self) -> dict[str, float]:
        """RMS of each series (N·m; ``lz`` in kg·m²/s) and the RMS of the excess ``needed − measured``."""
        return {
            "lz": self._rms(self.lz),
            "lz_rate": self._rms(self.lz_rate),
            "plate_force_moment": self._rms(self.plate_force_moment),
            "free_moment_measured": self._rms(self.free_moment_measured),
            "free_moment_needed": self._rms(self.free_moment_needed),
            "excess": self._rms(self.free_moment_needed - self.free_moment_measured),
        }


def yaw_budget(motion: Any, grf: dict[str, Any], *, t0_s: float = 0.0, subject_mass_kg: float | None = None,
               edge_s: float = 0.05) -> YawBudget:  # fmt: skip
    """The yaw budget of ``motion`` against the trial's plates ``grf`` (side or plate → ground reaction with
    ``time``, ``force`` (T, 3) N, ``cop`` (T, 3) m and ``free_moment`` (T,) N·m, lab frame, as
    :func:`mmbio.io.opensim.read_opensim_grf` returns), see the module docs.

    t0_s: the plates' time of the motion's first frame (s). subject_mass_kg: default the mean total vertical plate
    force over the frames used / g (noted). edge_s: frames this close to either end of the motion are dropped
    (central differences there are one-sided). Raises :class:`MmbioError` when the plates cover fewer than 10 of
    the motion's frames.
    """
    rate = float(motion.rate_hz)
    t = t0_s + np.arange(len(motion.qpos)) / rate
    lmom, com = angular_momentum(motion)
    lz_rate = np.gradient(lmom[:, 2], 1.0 / rate)
    lab_to_world = MUJOCO_MYOFULLBODY_TO_LAB.T
    lo, hi = -np.inf, np.inf
    for g in grf.values():
        tg = np.asarray(g.time, float)
        lo, hi = max(lo, tg[0]), min(hi, tg[-1])
    keep = (t >= lo + edge_s) & (t <= hi - edge_s) & (t >= t[0] + edge_s) & (t <= t[-1] - edge_s)
    if keep.sum() < 10:
        raise MmbioError(f"yaw budget: the plates ({lo:.3f}-{hi:.3f} s) cover {int(keep.sum())} frames of the motion")
    tk = t[keep]
    moment, free, fz = np.zeros(len(tk)), np.zeros(len(tk)), np.zeros(len(tk))
    for g in grf.values():
        tg = np.asarray(g.time, float)
        force = np.column_stack([np.interp(tk, tg, c) for c in np.asarray(g.force, float).T]) @ lab_to_world.T
        cop_lab = np.nan_to_num(np.asarray(g.cop, float))  # NaN where the foot is off the plate (force ~0 there)
        cop = np.column_stack([np.interp(tk, tg, c) for c in cop_lab.T]) @ lab_to_world.T
        r = cop - com[keep]
        moment += r[:, 0] * force[:, 1] - r[:, 1] * force[:, 0]
        free += np.interp(tk, tg, np.nan_to_num(np.asarray(g.free_moment, float)))
        fz += force[:, 2]
    notes = []
    if subject_mass_kg is None:
        subject_mass_kg = float(np.mean(fz)) / GRAVITY
        notes.append(f"subject mass {subject_mass_kg:.1f} kg from the mean vertical plate force")
    if not (np.isfinite(subject_mass_kg) and subject_mass_kg > 0):
        raise MmbioError(f"yaw budget: subject mass must be positive, got {subject_mass_kg}")
    model_mass = float(np.sum(motion.mj_model().body_mass))
    scale = model_mass / subject_mass_kg
    notes.append(f"plate moments × {scale:.3f} (model {model_mass:.1f} kg / subject {subject_mass_kg:.1f} kg)")
    return YawBudget(tk, lmom[keep, 2], lz_rate[keep], moment * scale, free * scale,
                     lz_rate[keep] - moment * scale, scale, notes)  # fmt: skip
