"""Lateral foot placement for the tracking controller: SIMBICON's swing rule (Yin, Loken & van de Panne 2007,
"SIMBICON: simple biped locomotion control", ACM TOG 26(3)), on the swing hip's adduction.

A controller that has no force on the root (``root_residual='none'``) can steer its pelvis sideways only by where
it puts its feet. Tracking the reference's steps exactly, the pelvis drifts like an inverted pendulum (measured on
the muscles-only demo walk: 3 cm at 1.3 s, 21 cm at 2.75 s, then a fall). Humans catch that drift by stepping
wider or narrower (Bruijn & van Dieën 2018: lateral foot placement follows the centre of mass's lateral position
and velocity at mid-swing).

Each control step, with ``e`` the pelvis's lateral offset from the reference (m, horizontal, across the
reference's direction of travel) and ``ė`` its rate (m/s), the swing foot's heel is asked to move sideways by
``k_p e + k_d ė``. The swing hip's adduction reference is shifted by that distance over the heel's lateral lever
arm about the hip's adduction axis (``∂x_heel / ∂q_add`` from the heel's Jacobian), clipped to ± ``clip``. In
stance the shift relaxes to 0 with time constant ``τ``. A side is in swing while every contact point of its
reference foot is more than ``contact_height_m`` + 1 cm above the floor (the unshifted reference). The controller
tracks the shifted reference everywhere, its contact plan's reference foot points included.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.trial import SIDES

__all__ = ["FootPlacement"]

#: a heel whose lateral lever about the hip's adduction axis is below this (m/rad) does not steer (leg sideways)
MIN_LEVER_M = 0.2
#: a side is in swing while its reference foot is this much (m) above ``contact_height_m``
SWING_CLEARANCE_M = 0.01


class FootPlacement:
    """The swing rule's state: one hip-adduction offset per side (rad), to add to the reference.

    model: the controller's model (its joint ``hip_adduction_{r,l}`` and bodies ``calcn_{r,l}``); reference: the
    tracked :class:`~mmbio.control.reference.LoopedReference` (read with ``placed=False``); points: the
    controller's :class:`~mmbio.control.foot_loads.FootPoints`; dt: control step (s).
    """

    def __init__(self, model: mujoco.MjModel, reference: Any, points: Any, settings: Any, dt: float) -> None:
        self.m = model
        self.d = mujoco.MjData(model)
        self.dref = mujoco.MjData(model)
        self.ref = reference
        self.points = points
        self.kp = float(settings.placement_kp)
        self.kd = float(settings.placement_kd)
        self.decay = float(np.exp(-dt / settings.placement_tau_s))
        self.clip = float(np.radians(settings.placement_clip_deg))
        self.height = float(settings.contact_height_m) + SWING_CLEARANCE_M
        joint = {s: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"hip_adduction_{s}") for s in SIDES}
        heel = {s: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"calcn_{s}") for s in SIDES}
        missing = [f"hip_adduction_{s}" for s in SIDES if joint[s] < 0] + [f"calcn_{s}" for s in SIDES if heel[s] < 0]
        if missing:
            raise MmbioError(f"tracking: foot placement needs the joints hip_adduction_r/l and the bodies calcn_r/l; "
                             f"this model has no {', '.join(missing)}")  # fmt: skip
        self.dof = {s: int(model.jnt_dofadr[joint[s]]) for s in SIDES}
        self.heel = heel
        self.offset = np.zeros(model.nv)  # tangent offset of the reference (only the two hip adduction dofs)
        self.clipped = 0  # control steps in which a side's shift hit the clip
        self.peak = np.zeros(2)  # largest |shift| per side (rad)
        self._jac = np.zeros((3, model.nv))

    def reset(self) -> None:
        """Start a new run: no shift."""
        self.offset[:] = 0.0
        self.clipped = 0
        self.peak[:] = 0.0

    def shift_rad(self) -> np.ndarray:
        """(2,) the current hip adduction shift of the right and left side (rad)."""
        return np.array([self.offset[self.dof[s]] for s in SIDES])

    def update(self, t: float, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Advance the rule by one control step at reference time ``t`` (s) and the simulated state."""
        q_r, v_r, _ = self.ref.at(t, placed=False)
        dd = self.dref
        dd.qpos[:] = q_r
        mujoco.mj_kinematics(self.m, dd)
        low = self.points.lowest(dd)[:, 2]
        swing = [bool(np.all(low[self.points.of_side(s)] > self.height)) for s in SIDES]
        speed = float(np.linalg.norm(v_r[:2]))
        steer = speed > 0.1 and any(swing)  # standing (no direction of travel) or no foot in swing: shifts only relax
        if steer:
            lat = np.array([-v_r[1], v_r[0]]) / speed  # horizontal, across the direction of travel
            e = float((qpos[:2] - q_r[:2]) @ lat)
            e_dot = float((qvel[:2] - v_r[:2]) @ lat)
            want = self.kp * e + self.kd * e_dot  # lateral heel displacement asked (m, along lat)
            self.d.qpos[:] = qpos
            mujoco.mj_kinematics(self.m, self.d)
            mujoco.mj_comPos(self.m, self.d)
        for k, s in enumerate(SIDES):
            dof = self.dof[s]
            if swing[k] and steer:
                mujoco.mj_jac(self.m, self.d, self._jac, None, self.d.xpos[self.heel[s]], self.heel[s])
                lever = float(self._jac[:2, dof] @ lat)
                if abs(lever) > MIN_LEVER_M:
                    raw = want / lever
                    self.offset[dof] = float(np.clip(raw, -self.clip, self.clip))
                    self.clipped += int(abs(raw) > self.clip)
            elif not swing[k]:
                self.offset[dof] *= self.decay
            self.peak[k] = max(self.peak[k], abs(self.offset[dof]))
