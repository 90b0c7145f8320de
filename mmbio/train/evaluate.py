"""Roll a trained policy checkpoint out in its own imitation environment: the rollout behind
``mmbio validate policy.pkl`` and the training run's evaluation hook.

The observation is computed by the very :class:`~mmbio.train.imitation_env.ImitationEnv` the policy was trained
in (rebuilt from the checkpoint's resolved config and reference motion, one world, MuJoCo C physics, reference
start at frame 0, no random start), so training and validation cannot disagree about it; the checkpoint's
recorded observation layout must equal the environment's, else the checkpoint is refused. The policy acts with
its mean (deterministic), through the numpy evaluator. Needs the ``train`` extra (JAX).

A world that the environment terminates (pelvis drift, site deviation: the policy lost the motion) ends the
rollout there and is flagged as a fall, so the validation reports what was simulated up to it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mmbio.errors import DataFileError

__all__ = ["rollout_policy"]


def rollout_policy(ckpt: Any, path: str, *, duration_s: float, seed: int = 0, backend: str = "mujoco") -> Any:
    """Simulate the policy of ``ckpt`` (a loaded ``'policy'`` checkpoint) for ``duration_s``; a
    :class:`~mmbio.sim.rollout_cpu.Rollout` at the control rate (``ctrl`` = the excitations sent)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise DataFileError(path, "policy checkpoints need the train extra to compute observations: "
                                  "pip install 'mmbio[train]'") from None  # fmt: skip
    from mmbio.sim.rollout_cpu import Rollout
    from mmbio.train.config import ConfigError, from_dict
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.policy_numpy import numpy_policy
    from mmbio.train.vecenv import plain_obs_layout

    motion = ckpt.motion()
    if motion is None:
        raise DataFileError(path, "policy checkpoint without its reference motion (the observation needs it)")
    try:
        cfg = from_dict(ckpt.config)
    except ConfigError as e:
        raise DataFileError(path, f"its training config: {e}") from None
    hz = int(cfg.env.control_hz)
    n = max(round(duration_s * hz), 1)
    env_cfg = replace(cfg.env, random_start=False, horizon=n + 1, backend=backend)
    env = ImitationEnv(env_cfg, motion, n_envs=1, backend=backend)
    want = ckpt.metadata.get("obs_layout")
    have = plain_obs_layout(env)
    if want is not None and {k: list(v) for k, v in want.items()} != have:
        diff = sorted(set(want) ^ set(have)) or [k for k in have if list(want.get(k, [])) != have[k]]
        raise DataFileError(path, f"checkpoint from a different observation layout (differs at {', '.join(diff[:5])}); "
                                  "it cannot be rolled out by this environment")  # fmt: skip
    policy = numpy_policy(ckpt.controller)
    if policy.obs_size != env.obs_size or policy.action_size != env.action_size:
        raise DataFileError(path, f"policy sizes obs {policy.obs_size} / actions {policy.action_size} do not match the "
                                  f"environment's {env.obs_size} / {env.action_size}")  # fmt: skip
    step = jax.jit(env.step)
    state, obs = env.reset(jax.random.key(seed))
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("qpos", "qvel", "act", "ctrl")}
    fell_at, reason = None, ""
    for k in range(n):
        exc = policy.excitation(np.asarray(obs, dtype=np.float64))
        rec["qpos"].append(np.asarray(state.phys.qpos[0], np.float64))
        rec["qvel"].append(np.asarray(state.phys.qvel[0], np.float64))
        rec["act"].append(np.asarray(state.phys.act[0], np.float64))
        state, obs, _r, done, _trunc, _info = step(state, jnp.asarray(exc, jnp.float32))
        rec["ctrl"].append(np.asarray(state.prev_exc[0], np.float64))  # the excitation sent (env.action)
        if bool(np.asarray(done)[0]) or not bool(np.asarray(state.phys.ok)[0]):
            fell_at = (k + 1) / hz
            reason = "fell: the environment terminated the episode (pelvis or body sites left the reference)"
            break
    t = np.arange(len(rec["qpos"])) / hz
    return Rollout(
        model_name=cfg.env.model, variant=motion.variant, time=t, qpos=np.array(rec["qpos"]),
        qvel=np.array(rec["qvel"]), act=np.array(rec["act"]), ctrl=np.array(rec["ctrl"]),
        diverged=fell_at is not None, diverged_at_s=fell_at, reason=reason, physics_dt=float(cfg.env.physics_dt),
        control_dt=1.0 / hz, notes={"record_hz": float(hz), "backend": f"mmbio.train imitation env ({backend})",
                                    "controller": "policy", "seed": seed},
    )  # fmt: skip
