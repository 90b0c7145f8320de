"""Controllers: observation → muscle excitations in [0, 1].

A controller is anything with ``reset(model, data)`` and ``__call__(obs) -> excitations``. ``obs`` is one
observation ``(n_obs,)`` or a batch ``(B, n_obs)``; the excitations have the matching shape ``(nu,)`` or
``(B, nu)``. The rollouts clip what a controller returns to [0, 1] (:func:`clip_excitations`) and treat a
non-finite excitation as a divergence.

A controller whose excitations do not depend on the observation may also offer
``plan(nu, n_steps, control_dt) -> (n_steps, nu)`` (the :class:`OpenLoop` protocol): the CPU rollout then
precomputes every control and runs the whole trajectory in C through ``mujoco.rollout``.

A controller with a ``seed(int)`` method gets the rollout's ``seed`` before ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import mujoco
import numpy as np

from mmbio.errors import MmbioError

__all__ = [
    "CallableController",
    "ConstantController",
    "Controller",
    "OpenLoop",
    "OpenLoopController",
    "ZeroController",
    "clip_excitations",
    "observation",
    "observation_from_state",
    "observation_size",
]


@runtime_checkable
class Controller(Protocol):
    """Maps observations to muscle excitations."""

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Called once before a rollout, with the initial state in ``data`` (``mj_forward`` already run)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` (n_obs,) or (B, n_obs) → excitations (nu,) or (B, nu), nominally in [0, 1]."""


@runtime_checkable
class OpenLoop(Protocol):
    """A controller whose excitations are known in advance (no feedback)."""

    def plan(self, nu: int, n_steps: int, control_dt: float) -> np.ndarray:
        """Excitations for control steps ``k = 0 … n_steps-1`` (held over ``[k·dt, (k+1)·dt)``), ``(n_steps, nu)``."""


def _free_root(model: mujoco.MjModel) -> bool:
    return model.njnt > 0 and int(model.jnt_type[0]) == int(mujoco.mjtJoint.mjJNT_FREE)


def observation_size(model: mujoco.MjModel) -> int:
    """Length of :func:`observation` for ``model``."""
    return model.nq - (2 if _free_root(model) else 0) + model.nv + model.na


def observation_from_state(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray) -> np.ndarray:
    """The default observation from state arrays; works on one state or a batch.

    ``[qpos[2:], qvel, act]`` when joint 0 is a free root (the root's horizontal x, y are dropped so that
    the observation does not depend on where on the floor the model stands), else ``[qpos, qvel, act]``.

    Args:
        qpos: (nq,) or (B, nq); qvel: (nv,) or (B, nv); act: (na,) or (B, na) muscle activations in [0, 1].

    Returns:
        (n_obs,) or (B, n_obs) float64, ``n_obs = observation_size(model)``.
    """
    start = 2 if _free_root(model) else 0
    return np.concatenate([qpos[..., start:], qvel, act], axis=-1).astype(np.float64, copy=False)


def observation(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """Default observation of ``data`` (see :func:`observation_from_state`), ``(n_obs,)``.

    This is a minimal proprioceptive observation for tests and simple policies; a trainer defines its own
    (phase, reference targets, site positions …) and passes it to the rollout as ``observe=``.
    """
    return observation_from_state(model, data.qpos, data.qvel, data.act)


def clip_excitations(u: np.ndarray, nu: int, batch: int | None = None) -> np.ndarray:
    """Check the shape of controller output and clip it to [0, 1].

    Args:
        u: excitations, (nu,) or (batch, nu); a (nu,) output for a batch is broadcast.
        nu: number of actuators.
        batch: batch size B, or None for a single observation.

    Returns:
        float64 array (nu,) or (batch, nu); NaN stays NaN (the rollout flags it).

    Raises:
        MmbioError: when the shape does not match the model's actuators.
    """
    u = np.asarray(u, dtype=np.float64)
    want = (nu,) if batch is None else (batch, nu)
    if batch is not None and u.shape == (nu,):
        u = np.broadcast_to(u, want)
    if u.shape != want:
        raise MmbioError(f"controller returned excitations of shape {u.shape}, the model needs {want}")
    return np.clip(u, 0.0, 1.0)


class _ObsIndependent:
    """Shared plumbing for controllers whose output ignores the observation."""

    nu: int | None = None

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.nu = model.nu

    def _row(self, nu: int) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.nu is None:
            raise MmbioError(f"{type(self).__name__}.reset(model, data) must be called before use")
        row = self._row(self.nu)
        obs = np.asarray(obs)
        return np.tile(row, (obs.shape[0], 1)) if obs.ndim == 2 else row.copy()

    def plan(self, nu: int, n_steps: int, control_dt: float) -> np.ndarray:
        return np.tile(self._row(nu), (n_steps, 1))


class ZeroController(_ObsIndependent):
    """All excitations 0 (passive muscles)."""

    def _row(self, nu: int) -> np.ndarray:
        return np.zeros(nu)


class ConstantController(_ObsIndependent):
    """Constant excitations: a scalar for every muscle or a vector (nu,), clipped to [0, 1]."""

    def __init__(self, value: float | np.ndarray) -> None:
        self.value = np.asarray(value, dtype=np.float64)
        if self.value.ndim > 1:
            raise MmbioError(f"ConstantController value must be a scalar or (nu,), got shape {self.value.shape}")

    def _row(self, nu: int) -> np.ndarray:
        if self.value.ndim == 1 and self.value.shape != (nu,):
            raise MmbioError(f"ConstantController has {self.value.shape[0]} values, the model has {nu} actuators")
        return np.clip(np.broadcast_to(self.value, (nu,)), 0.0, 1.0).astype(np.float64)


class OpenLoopController:
    """Replays a table of excitations sampled at ``rate_hz`` (zero-order hold, last row held at the end).

    Args:
        excitations: (T, nu) excitations; clipped to [0, 1].
        rate_hz: sampling rate of the rows (Hz). Row ``floor(t · rate_hz)`` is used at time t.

    Called in closed-loop mode it reads the simulation time from the ``data`` given to :meth:`reset`, so it
    must be reset with the rollout's own MjData (the rollouts do this).
    """

    def __init__(self, excitations: np.ndarray, rate_hz: float) -> None:
        table = np.asarray(excitations, dtype=np.float64)
        if table.ndim != 2 or table.shape[0] == 0:
            raise MmbioError(f"OpenLoopController needs a (T, nu) table with T ≥ 1, got shape {table.shape}")
        if not np.all(np.isfinite(table)):
            raise MmbioError("OpenLoopController: excitation table contains NaN or inf")
        if not rate_hz > 0:
            raise MmbioError(f"OpenLoopController: rate_hz must be positive, got {rate_hz}")
        self.excitations = np.clip(table, 0.0, 1.0)
        self.rate_hz = float(rate_hz)
        self._data: mujoco.MjData | None = None

    def _index(self, t: np.ndarray | float) -> np.ndarray:
        # the 1e-9 guards against t·rate landing just below an integer in floating point
        k = np.floor(np.asarray(t) * self.rate_hz + 1e-9).astype(int)
        return np.clip(k, 0, self.excitations.shape[0] - 1)

    def _check_nu(self, nu: int) -> None:
        if self.excitations.shape[1] != nu:
            raise MmbioError(
                f"OpenLoopController table has {self.excitations.shape[1]} columns, the model has {nu} actuators"
            )

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self._check_nu(model.nu)
        self._data = data

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self._data is None:
            raise MmbioError("OpenLoopController.reset(model, data) must be called before use")
        row = self.excitations[self._index(self._data.time)]
        obs = np.asarray(obs)
        return np.tile(row, (obs.shape[0], 1)) if obs.ndim == 2 else row.copy()

    def plan(self, nu: int, n_steps: int, control_dt: float) -> np.ndarray:
        self._check_nu(nu)
        return self.excitations[self._index(np.arange(n_steps) * control_dt)]


class CallableController:
    """Wraps a function ``fn(obs) -> excitations`` (closed loop); ``reset_fn(model, data)`` is optional."""

    def __init__(
        self,
        fn: Callable[[np.ndarray], np.ndarray],
        reset_fn: Callable[[mujoco.MjModel, mujoco.MjData], None] | None = None,
    ) -> None:
        self.fn = fn
        self.reset_fn = reset_fn

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        if self.reset_fn is not None:
            self.reset_fn(model, data)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(obs), dtype=np.float64)
