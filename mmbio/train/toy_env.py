"""A small pure-JAX muscle-like task for smoke tests and examples: keep a point mass on a moving target.

Each of ``n_axes`` axes of a 1 kg point mass is pulled by an agonist/antagonist *muscle pair*:
muscles take excitations in [0, 1], follow first-order activation dynamics
(``act += (exc - act) · dt / tau``) and pull with ``max_force · act`` (N) in opposite directions, so the
net force on axis d is ``max_force · (act[2d] - act[2d+1])``; viscous damping ``damping`` (N·s/m).
A target moves as ``amplitude · sin(2π · frequency · t + φ_d)`` with a random phase per axis and episode.

Observation ``(n_envs, 4·n_axes + 2·n_axes)``: position error (m), velocity error (m/s), target position,
target velocity, muscle activations. Reward per step: ``exp(-|error|² / (2 sigma²))`` (0…1) minus
``effort · mean(exc²)``. ``done`` when ``|error| > fail_distance`` (m); ``truncated`` after ``horizon``
steps. It follows :mod:`mmbio.train.vecenv` (no auto-reset; every state leaf has a leading ``n_envs`` axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["PointMassState", "PointMassTrackingEnv"]


class PointMassState(NamedTuple):
    """pos, vel ``(N, D)`` (m, m/s); act ``(N, 2D)``; phase ``(N, D)`` (rad); t ``(N,)`` control steps."""

    pos: jax.Array
    vel: jax.Array
    act: jax.Array
    phase: jax.Array
    t: jax.Array


@dataclass(frozen=True)
class PointMassTrackingEnv:
    """``n_envs`` worlds of the muscle-pair point-mass tracking task (see the module docs)."""

    n_envs: int = 64
    n_axes: int = 2
    horizon: int = 64
    dt: float = 0.02
    tau: float = 0.04
    max_force: float = 20.0
    damping: float = 2.0
    amplitude: float = 0.3
    frequency: float = 0.5
    sigma: float = 0.1
    effort: float = 0.01
    fail_distance: float = 0.5
    start_noise: float = 0.1

    @property
    def action_size(self) -> int:
        """Muscles: two per axis."""
        return 2 * self.n_axes

    @property
    def obs_size(self) -> int:
        """Observation features: 4 per axis + one activation per muscle."""
        return 4 * self.n_axes + self.action_size

    def _target(self, phase: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
        w = 2.0 * math.pi * self.frequency
        arg = w * (t[:, None] * self.dt) + phase
        return self.amplitude * jnp.sin(arg), self.amplitude * w * jnp.cos(arg)

    def _obs(self, s: PointMassState) -> jax.Array:
        tp, tv = self._target(s.phase, s.t)
        return jnp.concatenate([s.pos - tp, s.vel - tv, tp, tv, s.act], axis=-1)

    def reset(self, key: jax.Array) -> tuple[PointMassState, jax.Array]:
        """Fresh episodes: random target phases, start near the target at its velocity, muscles relaxed."""
        k1, k2 = jax.random.split(key)
        n, d = self.n_envs, self.n_axes
        phase = jax.random.uniform(k1, (n, d), minval=0.0, maxval=2.0 * math.pi)
        t = jnp.zeros(n, jnp.int32)
        tp, tv = self._target(phase, t)
        pos = tp + jax.random.uniform(k2, (n, d), minval=-self.start_noise, maxval=self.start_noise)
        s = PointMassState(pos, tv, jnp.zeros((n, 2 * d)), phase, t)
        return s, self._obs(s)

    def step(
        self, s: PointMassState, action: jax.Array
    ) -> tuple[PointMassState, jax.Array, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One control step with excitations ``action`` ``(N, 2D)`` in [0, 1] (clipped)."""
        exc = jnp.clip(action, 0.0, 1.0)
        act = s.act + (exc - s.act) * min(self.dt / self.tau, 1.0)
        force = self.max_force * (act[:, 0::2] - act[:, 1::2]) - self.damping * s.vel
        vel = s.vel + force * self.dt
        pos = s.pos + vel * self.dt
        t = s.t + 1
        s = PointMassState(pos, vel, act, s.phase, t)
        tp, _ = self._target(s.phase, t)
        dist = jnp.linalg.norm(pos - tp, axis=-1)
        reward = jnp.exp(-jnp.square(dist) / (2.0 * self.sigma**2)) - self.effort * jnp.mean(jnp.square(exc), axis=-1)
        done = dist > self.fail_distance
        truncated = t >= self.horizon
        return s, self._obs(s), reward, done, truncated, {"distance": dist, "excitation": jnp.mean(exc, axis=-1)}
