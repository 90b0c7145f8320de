"""MuJoCo C worlds observed through the imitation environment: the simulation side of distillation, of the walk
test and of the teacher benchmarks.

:class:`HostWorlds` steps ``n`` worlds of the environment's model and timing one control step at a time on the
host (any action plus optional generalised forces, e.g. a teacher's residual and reserves) and observes them
with the environment's own jitted observation and termination rules, so a policy sees exactly what it sees in
training. :func:`start_state` gives a reference start (optionally with joint noise); :meth:`HostWorlds.run_alone`
rolls one world out under an action function until the termination rules fire.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from mmbio.train.imitation_env import ImitationEnv, PhysicsOut, _MujocoHost

__all__ = ["Alone", "HostWorlds", "start_state"]

#: act(obs (1, obs_size), data, t_s) -> (the environment's action (nu,), generalised force (nv,) or None)
ActFn = Callable[[np.ndarray, mujoco.MjData, float], tuple[np.ndarray, np.ndarray | None]]


@dataclasses.dataclass
class Alone:
    """One world rolled out by :meth:`HostWorlds.run_alone`: seconds ``up_s`` of ``asked_s``, ``fell``, the mean
    body-site distance from the reference per control step ``site_dist`` ``(n,)`` (m), the foot touch sensors per
    step ``touch`` ``(n, n_touch)`` (N) and the root's horizontal displacement ``travel`` ``(2,)`` (m, world)."""

    up_s: float
    asked_s: float
    fell: bool
    site_dist: np.ndarray
    touch: np.ndarray
    travel: np.ndarray


class HostWorlds:
    """``n`` MuJoCo C worlds on the environment's model, stepped one control step at a time, observed through
    the environment's own (jitted) observation and termination."""

    def __init__(self, env: ImitationEnv, n: int) -> None:
        self.env, self.n = env, n
        self.m = env.mj_model
        self.datas = [mujoco.MjData(self.m) for _ in range(n)]
        self.host = _MujocoHost(self.m, env.body_ids, env.touch_adr, env.n_sub, n_threads=1)
        self.frame = np.zeros(n, np.int64)
        self.ok = np.ones(n, bool)
        self._obs = jax.jit(env.observe)

        def _done(phys: PhysicsOut, frame: jax.Array) -> tuple[jax.Array, jax.Array]:
            err = env.errors(phys, frame)
            return env.terminated(phys, err), err["site_dist"]

        self._done = jax.jit(_done)

    def phys(self) -> PhysicsOut:
        rows = []
        for d in self.datas:
            rows.append((d.qpos, d.qvel, d.act, d.qacc_warmstart, *self.host.outputs(d)))
        cols = [np.stack([r[k] for r in rows]).astype(np.float32) for k in range(10)]
        return PhysicsOut(*(jnp.asarray(c) for c in cols), jnp.asarray(self.ok))

    def observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(obs ``(n, obs_size)``, done ``(n,)``, site distance ``(n,)`` m) at the current states."""
        p = self.phys()
        fr = jnp.asarray(self.frame, jnp.int32)
        done, dist = self._done(p, fr)
        return np.asarray(self._obs(p, fr)), np.asarray(done) | ~self.ok, np.asarray(dist)

    def reset(self, i: int, frame: int, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray) -> None:
        d = self.datas[i]
        mujoco.mj_resetData(self.m, d)
        d.qpos[:], d.qvel[:], d.act[:] = qpos, qvel, act
        mujoco.mj_forward(self.m, d)
        self.frame[i] = frame
        self.ok[i] = True

    def step(self, i: int, action: np.ndarray, qfrc: np.ndarray) -> None:
        """One control step of world ``i`` with the environment's ``action`` ``(nu,)`` (excitations, or wanted
        activations: :meth:`ImitationEnv.excitation`) and generalised force ``qfrc`` ``(nv,)`` held over it."""
        d = self.datas[i]
        d.ctrl[:] = self.env.excitation(np.asarray(action, float), d.act)
        d.qfrc_applied[:] = qfrc
        mujoco.mj_step(self.m, d, nstep=self.env.n_sub)
        fine = bool(np.all(np.isfinite(d.qpos)) and np.all(np.isfinite(d.qvel)))
        self.ok[i] = fine and d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0
        d.qfrc_applied[:] = 0.0
        if fine:
            mujoco.mj_forward(self.m, d)
        self.frame[i] += 1

    def run_alone(self, frame: int, qpos: np.ndarray, qvel: np.ndarray, act0: np.ndarray, seconds: float,
                  act: ActFn) -> Alone:  # fmt: skip
        """Reset world 0 to (``qpos``, ``qvel``, activations ``act0``) at reference ``frame`` and step it under
        ``act`` for up to ``seconds``, stopping when the termination rules fire (after the first step)."""
        hz = self.env.cfg.control_hz
        self.reset(0, frame, qpos, qvel, act0)
        d = self.datas[0]
        start = d.qpos[:2].copy()
        zero = np.zeros(self.m.nv)
        dists, touch = [], []
        n = max(round(seconds * hz), 1)
        up, fell = float(seconds), False
        for k in range(n):
            obs, done, dist = self.observe()
            if k > 0 and bool(done[0]):
                up, fell = k / hz, True
                break
            dists.append(float(dist[0]))
            touch.append(d.sensordata[self.env.touch_adr].copy())
            ctrl, qfrc = act(obs, d, float(self.frame[0]) / hz)
            self.step(0, ctrl, zero if qfrc is None else qfrc)
        return Alone(up, float(seconds), fell, np.asarray(dists), np.asarray(touch, float).reshape(len(touch), len(self.env.touch_adr)),
                     d.qpos[:2] - start)  # fmt: skip


def start_state(env: ImitationEnv, frame: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reference qpos/qvel at ``frame`` (the environment's table, root carried on across loops) with uniform
    joint noise of ``noise`` rad on the hinge joints."""
    q = np.asarray(env.ref_qpos_at(jnp.asarray([frame], jnp.int32))[0], np.float64)
    row = int(np.asarray(env._ref_index(jnp.asarray([frame], jnp.int32))[0])[0])
    v = np.asarray(env.ref_qvel[row], np.float64)
    if noise > 0:
        m = env.mj_model
        for j in range(m.njnt):
            if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE:
                a = int(m.jnt_qposadr[j])
                lo, hi = m.jnt_range[j] if m.jnt_limited[j] else (-np.inf, np.inf)
                q[a] = np.clip(q[a] + rng.uniform(-noise, noise), lo, hi)
    return q, v
