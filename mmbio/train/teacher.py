"""The distillation teacher: mmbio's contact-consistent muscle tracking controller
(:mod:`mmbio.control.tracking`) asked for its action at any state a student visits.

A :class:`Teacher` is built from a ``'tracking'`` checkpoint on the *environment's* MuJoCo model (its timestep
is the environment's ``physics_dt``; the checkpoint's own ``physics_dt`` setting is set aside) and acts once per
control step of the environment (``substeps`` = physics steps per control step), so its excitation is exactly an
action the student can take: held for one control step (with ``env.action = 'activation'`` its planned activation
is, and the environment sends the same excitation for it). At 500 Hz on 2 ms physics that is the controller's own
scheme (one QP pair per physics step); at 100 Hz it holds each excitation for 10 ms, which the controller
tolerates only with much more help (measured in ``benchmarks/RESULTS.md``). Besides the excitations (``ctrl``,
``(nu,)`` in [0, 1]) the teacher returns the generalised forces it wants applied (``qfrc``, ``(nv,)``): the root
residual (6 root dofs, N and N·m) and one reserve torque per independent joint dof (N·m). The student has no such
forces; during distillation they act scaled by the assistance ``α`` (:mod:`mmbio.train.distill`).

Time: the reference of the teacher and the environment's reference frames share one clock,
``t = frame / control_hz`` from the motion's first frame (a looped reference continues past its end).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import DataFileError, MmbioError

__all__ = ["Teacher", "load_teacher_checkpoint"]


def load_teacher_checkpoint(path: str | Path) -> Any:
    """A ``'tracking'`` checkpoint from ``path`` (one-line :class:`~mmbio.errors.DataFileError` otherwise)."""
    from mmbio.control.checkpoint import load_checkpoint

    ck = load_checkpoint(path)
    if ck.kind != "tracking":
        raise DataFileError(str(path), f"a teacher must be a 'tracking' checkpoint (the muscle tracking controller), "
                                       f"this one holds a {ck.kind!r} controller")  # fmt: skip
    if ck.motion() is None:
        raise DataFileError(str(path), "tracking checkpoint without its reference motion")
    return ck


def _root_correction(ckpt: Any, motion: Any, settings: Any) -> np.ndarray | None:
    """The teacher's dynamic-consistency correction of its reference root path (``consistency_iterations``): the one
    the checkpoint stores, else computed on the motion's own model (as :func:`mmbio.control.run.tracking_checkpoint`
    does; tens of seconds) and kept in the loaded checkpoint for the next teacher. None when the setting is off."""
    if settings.consistency_iterations <= 0:
        return None
    if ckpt.controller.get("root_correction") is None:
        from mmbio.control.consistency import root_correction

        ckpt.controller["root_correction"] = root_correction(motion, motion.mj_model(), settings)
    return np.asarray(ckpt.controller["root_correction"], float)


class Teacher:
    """The tracking controller of checkpoint ``ckpt`` on ``model`` (the environment's, timestep = physics step),
    acting every ``substeps`` physics steps, over ``duration_s`` of (looped) reference.

    ``label(t, qpos, qvel, act)`` → (ctrl ``(nu,)``, qfrc ``(nv,)``, info); ``start_activation(t, qpos, qvel)``
    → the activations ``(na,)`` the controller would hold at that state (static optimisation with free bounds),
    used to start an episode. One instance per world: the QP solvers keep warm starts. ``help_cost`` multiplies
    the cost of its root residual and reserves (``w_residual``, ``w_residual_moment``, ``reserve_weight``): a
    teacher asked to lean less on help it will not get.
    """

    def __init__(self, ckpt: Any, model: mujoco.MjModel, substeps: int, duration_s: float,
                 help_cost: float = 1.0) -> None:  # fmt: skip
        from mmbio.control.tracking import LoopedReference, TrackingController
        from mmbio.control.tracking_settings import TrackingSettings

        settings = TrackingSettings.from_dict(ckpt.controller.get("settings", {}))
        if settings.mode != "contact":
            raise MmbioError("a distillation teacher must simulate its contacts (tracking mode 'contact'); "
                             f"this one is {settings.mode!r}")  # fmt: skip
        self.help_cost = float(help_cost)
        self.settings = replace(
            settings, substeps=int(substeps), physics_dt=0.0, w_residual=settings.w_residual * help_cost,
            w_residual_moment=settings.w_residual_moment * help_cost, reserve_weight=settings.reserve_weight * help_cost,
        )  # fmt: skip
        self.model = copy.deepcopy(model)
        motion = ckpt.motion()
        correction = _root_correction(ckpt, motion, self.settings)
        self.ref = LoopedReference(motion, self.model, float(duration_s), cutoff_hz=self.settings.reference_cutoff_hz,
                                   root_cutoff_hz=self.settings.root_cutoff_hz or None,
                                   root_correction=correction)  # fmt: skip
        self.ctl = TrackingController(self.model, self.ref, self.settings)
        self.act_adr = self.ctl.so._act_adr
        self.n_solves = 0

    @property
    def dt(self) -> float:
        """The teacher's control interval (s)."""
        return float(self.ctl.dt)

    def label(self, t: float, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                              dict[str, Any]]:  # fmt: skip
        """The teacher's action at the state (qpos, qvel, act) and reference time ``t`` (s); ``info`` also holds
        ``activation_target`` ``(nu,)``: the activations it plans one control step ahead (per actuator)."""
        self.n_solves += 1
        ctrl, qfrc, info = self.ctl.control(float(t), np.asarray(qpos, float), np.asarray(qvel, float),
                                            np.asarray(act, float))  # fmt: skip
        target = np.zeros_like(ctrl)
        target[self.ctl.so.muscles] = info["a_next"]
        info["activation_target"] = target
        return ctrl, qfrc, info

    def start_activation(self, t: float, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Activations ``(na,)`` to start from at this state (the QP with activation bounds [0, 1]); it also starts a
        new episode (the reference clock, when it follows the pelvis, reads ``t`` again)."""
        self.ctl.reset_clock()
        _, _, info = self.ctl.control(float(t), np.asarray(qpos, float), np.asarray(qvel, float),
                                      np.zeros(self.model.na), free_activations=True)  # fmt: skip
        act = np.zeros(self.model.na)
        act[self.act_adr] = info["a_next"]
        return act

    def reference_state(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The teacher's reference (qpos ``(nq,)``, qvel ``(nv,)``) at time ``t`` (s)."""
        q, v, _ = self.ref.at(float(t))
        return q, v
