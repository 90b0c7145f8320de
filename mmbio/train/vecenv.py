"""The functional, batched environment interface the PPO trainer drives.

An environment simulates ``n_envs`` worlds at once and is pure JAX (jit- and scan-able), so the
rollout and the update run inside one ``jax.jit``. It is any object with:

``action_size: int``
    Muscles (actions) per world.
``reset(key) -> (state, obs)``
    Fresh episodes in all worlds. ``key``: one PRNG key (split it inside for the worlds).
    ``state``: any pytree; ``obs``: ``(n_envs, obs_size)`` float.
``step(state, action) -> (state, obs, reward, done, truncated, info)``
    One control step (``1 / control_hz`` s, i.e. ``n_substeps`` physics steps) of every world.
    ``action``: ``(n_envs, action_size)`` muscle excitations in [0, 1]. ``obs``: ``(n_envs, obs_size)``;
    ``reward``: ``(n_envs,)`` float; ``done``: ``(n_envs,)`` bool, the episode *terminated* (failure or
    absorbing state: no value bootstrap); ``truncated``: ``(n_envs,)`` bool, the episode was *cut*
    (time limit, end of the reference motion: the trainer bootstraps with the value of the returned
    ``obs``). ``info``: a dict of ``(n_envs,)`` arrays; the trainer logs their means as ``env/<name>``.

The environment does **not** reset worlds itself: for a world that ended, ``step`` returns the final
observation, and the trainer then resets that world. By default it calls ``reset`` for all worlds
(only when some world ended, under ``lax.cond``) and selects per world with ``jnp.where``, which needs
every leaf of ``state`` to have a leading ``n_envs`` axis. An environment where a full reset is costly,
or whose state has shared leaves, may provide

``reset_where(state, obs, key, mask) -> (state, obs)``
    Reset only the worlds where ``mask`` ``(n_envs,)`` is true; keep the others unchanged.

Optional attributes ``n_envs`` and ``obs_size`` are checked against what ``reset`` returns.

Non-finite worlds: a world whose ``obs`` or ``reward`` is NaN/inf after a step is reset by the trainer,
its transition is masked from the loss and it is counted in the metrics (``n_nonfinite``); the other
worlds are unaffected. An environment whose state can diverge should therefore let it show in ``obs``
(qpos/qvel are always observed in the imitation tasks, so this holds there).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

__all__ = ["EnvState", "VecEnv", "plain_obs_layout", "reset_where", "tree_where"]

EnvState = Any


@runtime_checkable
class VecEnv(Protocol):
    """A batch of ``n_envs`` worlds (see the module docs for the contract)."""

    action_size: int

    def reset(self, key: jax.Array) -> tuple[EnvState, jax.Array]:
        """Fresh episodes in every world: ``(state, obs (n_envs, obs_size))``."""
        ...

    def step(
        self, state: EnvState, action: jax.Array
    ) -> tuple[EnvState, jax.Array, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One control step: ``(state, obs, reward, done, truncated, info)`` (shapes in the module docs)."""
        ...


def tree_where(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per world, ``new`` where ``mask`` ``(n_envs,)`` is true, else ``old`` (leaves with a leading ``n_envs`` axis)."""
    n = mask.shape[0]

    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        a, b = jnp.asarray(a), jnp.asarray(b)
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(
                f"environment state leaf of shape {a.shape} has no leading n_envs={n} axis; give the environment a "
                "reset_where(state, obs, key, mask) method (see mmbio.train.vecenv)"
            )
        return jnp.where(mask.reshape((n,) + (1,) * (a.ndim - 1)), a, b).astype(b.dtype)

    return jax.tree_util.tree_map(pick, new, old)


def reset_where(
    env: Any, state: EnvState, obs: jax.Array, key: jax.Array, mask: jax.Array
) -> tuple[EnvState, jax.Array]:
    """Reset the worlds where ``mask`` is true: ``env.reset_where`` when defined, else reset-all + select.

    The default path runs ``env.reset`` only when at least one world ended (``lax.cond``).
    """
    if hasattr(env, "reset_where"):
        return env.reset_where(state, obs, key, mask)

    def do_reset(operand: tuple[EnvState, jax.Array]) -> tuple[EnvState, jax.Array]:
        s, o = operand
        s_new, o_new = env.reset(key)
        return tree_where(mask, s_new, s), tree_where(mask, o_new, o)

    return jax.lax.cond(jnp.any(mask), do_reset, lambda operand: operand, (state, obs))


def plain_obs_layout(env: Any) -> dict[str, list[int]] | None:
    """The environment's observation layout (name → slice) as plain ``[start, stop]`` pairs, or None."""
    if not hasattr(env, "obs_layout"):
        return None
    out = {}
    for name, sl in env.obs_layout().items():
        if isinstance(sl, slice):
            out[str(name)] = [int(sl.start or 0), int(sl.stop)]
        else:
            out[str(name)] = [int(x) for x in sl]
    return out
