"""MuJoCo's first-order muscle activation dynamics and its one-step inverse (numpy or JAX arrays).

``ȧ = (u − a) / τ``, ``τ = τ_act (0.5 + 1.5 a)`` when ``u > a``, else ``τ_deact / (0.5 + 1.5 a)`` (MuJoCo's
``mju_muscleDynamics`` with ``dynprm[2] = 0``: a hard switch between the time constants), integrated by one Euler
step of ``h`` s. :func:`excitation_for` inverts one such step: the excitation ``u ∈ [0, 1]`` that takes ``a`` to a
wanted ``a⁺`` (clipped when ``a⁺`` is out of reach). The tracking controller sends it as its ``ctrl``; an imitation
environment with ``env.action = 'activation'`` applies it to a policy's wanted activations
(:class:`MuscleDynamics`), so a policy that copies the controller's planned activations sends its excitations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import MmbioError

__all__ = ["MuscleDynamics", "activation_bounds", "excitation_for"]


def activation_bounds(a: Any, tau_act: Any, tau_deact: Any, h: float, xp: Any = np) -> tuple[Any, Any]:
    """Activations reachable after one Euler step of ``h`` s from ``a`` (n,) with excitations in [0, 1]."""
    f = 0.5 + 1.5 * a
    hi = a + h * (1.0 - a) / (tau_act * f)
    lo = a - h * a / (tau_deact / f)
    return xp.clip(lo, 0.0, 1.0), xp.clip(hi, 0.0, 1.0)


def excitation_for(a: Any, a_next: Any, tau_act: Any, tau_deact: Any, h: float, xp: Any = np) -> Any:
    """The excitation ``u ∈ [0, 1]`` (same shape as ``a``) that takes activation ``a`` to ``a_next`` in one Euler
    step of ``h`` s (``xp``: ``numpy`` or ``jax.numpy``)."""
    f = 0.5 + 1.5 * a
    u = xp.where(a_next > a, a + tau_act * f * (a_next - a) / h, a - (tau_deact / f) * (a - a_next) / h)
    return xp.clip(u, 0.0, 1.0)


@dataclass(frozen=True)
class MuscleDynamics:
    """The muscle actuators of a model: actuator indices ``muscles`` ``(k,)``, their activation addresses ``act_adr``
    ``(k,)`` and time constants ``tau_act``/``tau_deact`` ``(k,)`` (s); ``h``: the control interval (s)."""

    muscles: np.ndarray
    act_adr: np.ndarray
    tau_act: np.ndarray
    tau_deact: np.ndarray
    h: float

    @classmethod
    def of(cls, model: mujoco.MjModel, h: float) -> MuscleDynamics:
        mus = np.flatnonzero(model.actuator_dyntype == mujoco.mjtDyn.mjDYN_MUSCLE)
        if np.any(model.actuator_dynprm[mus, 2] != 0):
            raise MmbioError("smooth activation-dynamics transitions (dynprm[2] ≠ 0) are not supported")
        return cls(mus, np.asarray(model.actuator_actadr[mus], np.int64), model.actuator_dynprm[mus, 0].astype(float),
                   model.actuator_dynprm[mus, 1].astype(float), float(h))  # fmt: skip

    def excitations(self, wanted: Any, act: Any, xp: Any = np) -> Any:
        """Excitations ``(…, nu)`` for wanted activations ``wanted`` ``(…, nu)`` at the end of the control interval
        from activations ``act`` ``(…, na)``: the muscles' by :func:`excitation_for`; any other actuator's
        command passes through (clipped to [0, 1])."""
        a = act[..., self.act_adr]
        u = excitation_for(a, xp.clip(wanted[..., self.muscles], 0.0, 1.0), self.tau_act, self.tau_deact, self.h, xp)
        out = xp.clip(wanted, 0.0, 1.0)  # a new array
        if xp is np:
            out[..., self.muscles] = u
            return out
        return out.at[..., self.muscles].set(u.astype(out.dtype))
