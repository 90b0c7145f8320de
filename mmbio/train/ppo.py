"""PPO in pure JAX: observation normaliser, GAE, clipped losses and one jitted rollout + update loop.

One *update* (:meth:`Trainer.update`):

1. Rollout: ``jax.lax.scan`` over ``n_steps`` control steps of the batched environment
   (:mod:`mmbio.train.vecenv`). Observations are normalised with the statistics frozen for this
   update; the policy samples ``a ~ N(mean, σ²)`` and the environment receives ``map_action(a)`` in
   [0, 1]. Worlds that end (``done`` or ``truncated``) are reset by the trainer; for a truncated world
   the critic's value of its final observation is stored for bootstrapping. A world whose observation
   or reward is non-finite is reset too, counted (``n_nonfinite``) and its transition masked out of
   the loss, the advantages and the statistics: it never poisons the batch.
2. GAE (:func:`compute_gae`) over the rollout, bootstrapped with the value of the last observation.
3. ``n_epochs`` passes (default 1) over ``n_minibatches`` shuffled minibatches: clipped surrogate,
   clipped value loss and entropy bonus (:func:`ppo_loss`), Adam after global-norm gradient clipping.
4. The observation normaliser absorbs the rollout's observations (Chan's parallel mean/variance
   update), for the next rollout (unless ``freeze_obs_norm``). The update itself uses the rollout's
   statistics, so the first
   minibatch's probability ratio is exactly 1. Likewise, with ``normalise_rewards`` the learner's
   rewards are divided by the standard deviation of the discounted return, with statistics frozen
   for the rollout and updated after it.

:func:`make_train` puts ``init`` and all updates into one ``jax.jit``; :func:`make_trainer` exposes
``init``, ``update`` and ``run(state, n)`` separately (to log and checkpoint between chunks).

Several devices (``ppo.devices``, :mod:`mmbio.train.sharding`): the worlds and the rollout are split along the
world axis, the parameters, optimiser state and statistics replicated, each minibatch split by rows; the programs
are the same, with sharding annotations, so the update equals the one-device update to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mmbio.train.config import ConfigError, PPOConfig, TrainConfig
from mmbio.train.networks import (
    NORMALISER_EPS,
    Params,
    actor_mean,
    critic_value,
    export_policy,
    gaussian_entropy,
    gaussian_log_prob,
    init_actor_critic,
    map_action,
)
from mmbio.train.sharding import constrain_worlds, on_mesh, replicated, resolve_devices, world_mesh, world_shardings
from mmbio.train.vecenv import reset_where

__all__ = [
    "Metrics",
    "ObsNormaliser",
    "RunnerState",
    "Trainer",
    "Transition",
    "compute_gae",
    "deterministic_policy",
    "evaluate",
    "make_train",
    "make_trainer",
    "normalise",
    "normaliser_init",
    "normaliser_update",
    "ppo_loss",
]

Metrics = dict[str, jax.Array]


# --------------------------------------------------------------------------------------------------
# Observation normaliser
# --------------------------------------------------------------------------------------------------


class ObsNormaliser(NamedTuple):
    """Running per-feature statistics of the observations: ``mean``, ``var`` ``(n_obs,)``, ``count`` ``()``."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def normaliser_init(obs_size: int) -> ObsNormaliser:
    """Empty statistics (mean 0, var 1, count 0): the first update replaces them by the batch's."""
    return ObsNormaliser(jnp.zeros(obs_size, jnp.float32), jnp.ones(obs_size, jnp.float32), jnp.zeros((), jnp.float32))


def normaliser_update(norm: ObsNormaliser, batch: jax.Array, mask: jax.Array | None = None) -> ObsNormaliser:
    """Merge the observations ``batch`` ``(..., n_obs)`` into ``norm`` (Chan et al.'s parallel update).

    ``mask`` ``(...)`` (bool) keeps only some rows; with no row kept the statistics are unchanged.
    The result equals the mean and (biased) variance over all observations seen so far.
    """
    x = batch.reshape(-1, batch.shape[-1]).astype(jnp.float32)
    w = jnp.ones(x.shape[0], jnp.float32) if mask is None else mask.reshape(-1).astype(jnp.float32)
    n_b = jnp.sum(w)
    safe_n = jnp.maximum(n_b, 1.0)
    b_mean = jnp.sum(x * w[:, None], axis=0) / safe_n
    b_var = jnp.sum(jnp.square(x - b_mean) * w[:, None], axis=0) / safe_n
    total = norm.count + n_b
    safe_total = jnp.maximum(total, 1.0)
    delta = b_mean - norm.mean
    mean = norm.mean + delta * n_b / safe_total
    m2 = norm.var * norm.count + b_var * n_b + jnp.square(delta) * norm.count * n_b / safe_total
    var = m2 / safe_total
    keep = n_b > 0
    return ObsNormaliser(jnp.where(keep, mean, norm.mean), jnp.where(keep, var, norm.var), total)


def normalise(norm: ObsNormaliser, obs: jax.Array, clip: float) -> jax.Array:
    """``clip((obs - mean) / sqrt(var + 1e-8), -clip, clip)``; ``obs`` ``(..., n_obs)``. Never updates ``norm``."""
    return jnp.clip((obs - norm.mean) * jax.lax.rsqrt(norm.var + NORMALISER_EPS), -clip, clip)


# --------------------------------------------------------------------------------------------------
# GAE and loss
# --------------------------------------------------------------------------------------------------


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    truncated: jax.Array,
    final_values: jax.Array,
    last_value: jax.Array,
    gamma: float,
    gae_lambda: float,
    valid: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets, both ``(T, N)``.

    rewards, values: ``(T, N)``; ``values[t]`` is V(s_t). dones ``(T, N)``: the episode terminated
    after step t (no bootstrap). truncated ``(T, N)``: it was cut after step t; the bootstrap is
    ``final_values[t]``, V of the final observation. Otherwise the next state's value is ``values[t+1]``
    (``last_value`` ``(N,)`` after the last step). No advantage flows across an episode end.
    valid ``(T, N)``: false for a transition to drop (a non-finite world): its advantage is 0 and,
    as it ends its episode, the step before it bootstraps from V(s_t), as if the episode were truncated
    at the last finite state.

    ``δ_t = r_t + γ (1 - done_t) V_next - V(s_t)``; ``A_t = valid_t (δ_t + γλ (1 - ended_t) A_{t+1})``;
    targets ``= A + values``.
    """
    dones = dones.astype(bool)
    truncated = truncated.astype(bool)
    valid = jnp.ones_like(dones) if valid is None else valid.astype(bool)
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    next_values = jnp.where(truncated, final_values, next_values)
    delta = rewards + gamma * jnp.where(dones, 0.0, next_values) - values
    carry_on = ~(dones | truncated | ~valid)

    def back(gae: jax.Array, xs: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        d, c, v = xs
        gae = jnp.where(v, d + gamma * gae_lambda * jnp.where(c, gae, 0.0), 0.0)
        return gae, gae

    _, adv = jax.lax.scan(back, jnp.zeros_like(last_value), (delta, carry_on, valid), reverse=True)
    return adv, adv + values


class Transition(NamedTuple):
    """One rollout step of every world (leaves ``(T, N, ...)`` after the scan).

    obs: raw observation the action was taken at; action: the unbounded Gaussian sample; log_prob,
    value: at collection time; reward; done, truncated (bool); final_value: V(final obs) where
    truncated, else 0; valid: false for non-finite worlds.
    """

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array
    final_value: jax.Array
    valid: jax.Array


def _masked_mean(x: jax.Array, m: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(m, x, 0.0)) / jnp.maximum(jnp.sum(m), 1.0)


def ppo_loss(
    params: Params,
    norm: ObsNormaliser,
    batch: Transition,
    advantages: jax.Array,
    targets: jax.Array,
    cfg: PPOConfig,
    anchor: tuple[Params, ObsNormaliser] | None = None,
    anchor_w: jax.Array | float = 0.0,
) -> tuple[jax.Array, Metrics]:
    """PPO loss over a minibatch (leaves ``(B, ...)``), averaged over its valid transitions.

    ``actor = -mean(min(ρ Â, clip(ρ, 1-ε, 1+ε) Â))`` with ρ the probability ratio and Â the
    (per-minibatch normalised) advantages; ``value = ½ mean(max((V - R)², (V_clip - R)²))`` with
    ``V_clip = V_old + clip(V - V_old, ±vf_clip)`` (plain squared error when ``vf_clip`` is 0);
    ``total = actor + vf_coef · value - ent_coef · entropy + anchor_w · anchor`` with ``anchor`` the mean squared
    difference between the actor's mean and that of ``anchor`` = (actor params, its observation statistics), a
    fixed initial policy (0 without one). Returns ``(total, metrics)``.
    """
    m = batch.valid
    obs = normalise(norm, batch.obs, cfg.obs_clip) if cfg.normalise_obs else batch.obs
    mean = actor_mean(params, obs, cfg)
    log_std = params["log_std"]
    log_prob = gaussian_log_prob(batch.action, mean, log_std)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    adv = advantages
    if cfg.normalise_advantages:
        mu = _masked_mean(adv, m)
        sd = jnp.sqrt(_masked_mean(jnp.square(adv - mu), m))
        adv = (adv - mu) / (sd + 1e-8)
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps) * adv)
    actor_loss = -_masked_mean(surrogate, m)

    value = critic_value(params, obs, cfg)
    v_err = jnp.square(value - targets)
    if cfg.vf_clip > 0:
        v_clipped = batch.value + jnp.clip(value - batch.value, -cfg.vf_clip, cfg.vf_clip)
        v_err = jnp.maximum(v_err, jnp.square(v_clipped - targets))
    value_loss = 0.5 * _masked_mean(v_err, m)

    entropy = gaussian_entropy(log_std)
    total = actor_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
    anchor_loss = jnp.zeros((), jnp.float32)
    if anchor is not None:
        a_params, a_norm = anchor
        a_obs = normalise(a_norm, batch.obs, cfg.obs_clip) if cfg.normalise_obs else batch.obs
        ref = jax.lax.stop_gradient(actor_mean({"actor": a_params}, a_obs, cfg))
        anchor_loss = _masked_mean(jnp.mean(jnp.square(mean - ref), axis=-1), m)
        total = total + anchor_w * anchor_loss
    metrics = {
        "anchor_loss": anchor_loss,
        "loss": total,
        "actor_loss": actor_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": _masked_mean((ratio - 1.0) - log_ratio, m),
        "clip_frac": _masked_mean((jnp.abs(ratio - 1.0) > cfg.clip_eps).astype(jnp.float32), m),
    }
    return total, metrics


# --------------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------------


class RunnerState(NamedTuple):
    """Everything the training loop carries.

    params: network parameters; opt_state: optax state; norm: observation statistics (frozen within
    an update); env_state, obs ``(N, n_obs)``: the worlds; key: PRNG key; ep_return ``(N,)``,
    ep_length ``(N,)``: running sums of the current episodes; update: updates done (int32 scalar).
    ret_norm: statistics ``(1,)`` of the discounted return (reward normalisation); disc_return ``(N,)``:
    the running discounted return of the current episodes.
    """

    params: Params
    opt_state: Any
    norm: ObsNormaliser
    ret_norm: ObsNormaliser
    disc_return: jax.Array
    env_state: Any
    obs: jax.Array
    key: jax.Array
    ep_return: jax.Array
    ep_length: jax.Array
    update: jax.Array


@dataclass(frozen=True)
class Trainer:
    """A compiled PPO loop for one config and environment (from :func:`make_trainer`).

    init(key) → :class:`RunnerState`; update(state) → (state, metrics) for one rollout + update;
    run(state, n) → (state, metrics with a leading ``n`` axis) for ``n`` updates in one ``lax.scan``;
    train(key) → ``run(init(key), n_updates)`` as one program. All are jitted. ``export(state)`` gives the checkpoint ``controller``
    (:func:`~mmbio.train.networks.export_policy`).

    ``devices``: the devices the worlds are split over (``ppo.devices``); ``mesh``: their 1-D ``'worlds'`` mesh,
    None on one device; ``shardings``: the :class:`RunnerState` of shardings that ``init``, ``update`` and ``run``
    return and ``update`` and ``run`` take (None on one device).

    Metrics per update (scalars): ``env_steps``; ``episode_return``/``episode_length`` (mean over the
    episodes that ended by ``done``/``truncated`` in this rollout, NaN when none did) and
    ``n_episodes``, ``n_done``, ``n_truncated``; ``n_nonfinite`` (worlds reset for NaN/inf);
    ``reward_mean`` (per valid step); the loss terms (``loss``, ``actor_loss``, ``value_loss``,
    ``entropy``, ``approx_kl``, ``clip_frac``) and ``grad_norm`` averaged over the gradient steps;
    ``lr``; ``std_mean``; ``explained_variance``; ``env/<name>`` for each ``(N,)`` entry of the
    environment's ``info``.
    """

    config: PPOConfig
    env: Any
    obs_size: int
    action_size: int
    n_updates: int
    init: Callable[[jax.Array], RunnerState]
    update: Callable[[RunnerState], tuple[RunnerState, Metrics]]
    run: Callable[[RunnerState, int], tuple[RunnerState, Metrics]]
    train: Callable[[jax.Array], tuple[RunnerState, Metrics]]
    devices: tuple[Any, ...] = ()
    mesh: Any = None
    shardings: Any = None

    def export(self, state: RunnerState, *, include_critic: bool = False) -> dict[str, Any]:
        """The plain-numpy policy ``controller`` for a checkpoint."""
        return export_policy(state.params, state.norm, self.config, include_critic=include_critic)


def _ppo(config: PPOConfig | TrainConfig) -> PPOConfig:
    return config.ppo if isinstance(config, TrainConfig) else config


def make_trainer(
    config: PPOConfig | TrainConfig, env: Any, init_policy: tuple[Params, Any] | None = None, *,
    devices: int | None = None,
) -> Trainer:  # fmt: skip
    """Build the jitted PPO loop for ``env`` (see :mod:`mmbio.train.vecenv`) and ``config``.

    ``devices``: devices to split the worlds over, in place of ``ppo.devices`` (0: every device JAX sees; see
    :mod:`mmbio.train.sharding`).

    ``init_policy``: (params, observation statistics) of a policy to start from (``ppo.init_from``, e.g. a
    distilled one): its actor and log-std (and its critic when given) replace the fresh ones, its statistics the
    empty normaliser, and its actor is the anchor of ``ppo.anchor_coef`` (see :func:`ppo_loss`).

    Raises :class:`~mmbio.train.config.ConfigError` when the environment's number of worlds differs
    from ``ppo.n_envs`` or its observations are not ``(n_envs, obs_size)``, and when the worlds cannot be split
    over the devices (``n_envs`` not a multiple of their count, more devices than JAX sees).
    """
    cfg = _ppo(config)
    _, obs_spec = jax.eval_shape(env.reset, jax.random.key(0))
    if len(obs_spec.shape) != 2:
        raise ConfigError(
            f"environment reset returned observations of shape {obs_spec.shape}, expected (n_envs, n_obs)"
        )
    n_envs, obs_size = (int(s) for s in obs_spec.shape)
    if n_envs != cfg.n_envs:
        raise ConfigError(f"config ppo.n_envs={cfg.n_envs} but the environment simulates {n_envs} worlds")
    if getattr(env, "obs_size", obs_size) != obs_size:
        raise ConfigError(f"environment says obs_size={env.obs_size} but reset returned {obs_size} features")
    action_size = int(env.action_size)
    used = resolve_devices(cfg.devices if devices is None else int(devices), n_envs, env)
    mesh = world_mesh(used)
    n_updates = cfg.n_updates
    steps_per_update = cfg.n_epochs * cfg.n_minibatches
    lr: Any = (
        optax.linear_schedule(cfg.lr, cfg.lr * cfg.min_lr_ratio, max(n_updates * steps_per_update, 1))
        if cfg.anneal_lr
        else cfg.lr
    )
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr, eps=cfg.adam_eps))

    def obs_in(norm: ObsNormaliser, obs: jax.Array) -> jax.Array:
        return normalise(norm, obs, cfg.obs_clip) if cfg.normalise_obs else obs

    given = given_norm = anchor_actor = None
    if init_policy is not None:
        given = {k: jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), init_policy[0][k])
                 for k in ("actor", "log_std", "critic") if k in init_policy[0]}  # fmt: skip
        given_norm = ObsNormaliser(*(jnp.asarray(x, jnp.float32) for x in init_policy[1]))
        anchor_actor = (given["actor"], given_norm)

    def init(key: jax.Array) -> RunnerState:
        k_net, k_env, key = jax.random.split(key, 3)
        params = init_actor_critic(k_net, obs_size, action_size, cfg)
        norm = normaliser_init(obs_size)
        if given is not None:
            params, norm = {**params, **given}, given_norm
        env_state, obs = env.reset(k_env)
        return RunnerState(
            params=params,
            opt_state=tx.init(params),
            norm=norm,
            ret_norm=normaliser_init(1),
            disc_return=jnp.zeros(n_envs, jnp.float32),
            env_state=env_state,
            obs=obs.astype(jnp.float32),
            key=key,
            ep_return=jnp.zeros(n_envs, jnp.float32),
            ep_length=jnp.zeros(n_envs, jnp.int32),
            update=jnp.zeros((), jnp.int32),
        )

    def env_step(carry: tuple, _: None) -> tuple[tuple, tuple[Transition, Metrics]]:
        params, norm, ret_norm, env_state, obs, key, ep_ret, ep_len, disc = carry
        key, k_act, k_reset = jax.random.split(key, 3)
        x = obs_in(norm, obs)
        mean = actor_mean(params, x, cfg)
        value = critic_value(params, x, cfg)
        log_std = params["log_std"]
        action = mean + jnp.exp(log_std) * jax.random.normal(k_act, mean.shape)
        log_prob = gaussian_log_prob(action, mean, log_std)
        env_state, next_obs, reward, done, truncated, info = env.step(env_state, map_action(action, cfg.action_mapping))
        next_obs = next_obs.astype(jnp.float32)
        reward = reward.astype(jnp.float32)
        finite = jnp.all(jnp.isfinite(next_obs), axis=-1) & jnp.isfinite(reward)
        reward = jnp.where(finite, reward, 0.0)
        next_obs = jnp.where(finite[:, None], next_obs, 0.0)
        done = done.astype(bool) & finite
        truncated = truncated.astype(bool) & finite & ~done
        final_value = jnp.where(truncated, critic_value(params, obs_in(norm, next_obs), cfg), 0.0)
        ended = done | truncated | ~finite
        finished = done | truncated
        ep_ret = ep_ret + reward
        ep_len = ep_len + 1
        disc = disc * cfg.gamma + reward
        learner_reward = reward * jax.lax.rsqrt(ret_norm.var[0] + NORMALISER_EPS) if cfg.normalise_rewards else reward
        stats = {
            "return_sum": jnp.sum(jnp.where(finished, ep_ret, 0.0)),
            "length_sum": jnp.sum(jnp.where(finished, ep_len, 0)).astype(jnp.float32),
            "n_episodes": jnp.sum(finished).astype(jnp.float32),
            "n_done": jnp.sum(done).astype(jnp.float32),
            "n_truncated": jnp.sum(truncated).astype(jnp.float32),
            "n_nonfinite": jnp.sum(~finite).astype(jnp.float32),
            "n_valid": jnp.sum(finite).astype(jnp.float32),
            "reward_sum": jnp.sum(reward),
        }
        for name, v in (info or {}).items():
            v = jnp.asarray(v)
            if v.shape == (n_envs,) and (jnp.issubdtype(v.dtype, jnp.number) or jnp.issubdtype(v.dtype, jnp.bool_)):
                stats[f"env/{name}"] = jnp.sum(jnp.where(finite, v.astype(jnp.float32), 0.0))
        env_state, next_obs = reset_where(env, env_state, next_obs, k_reset, ended)
        ep_ret = jnp.where(ended, 0.0, ep_ret)
        ep_len = jnp.where(ended, 0, ep_len)
        tr = Transition(obs, action, log_prob, value, learner_reward, done, truncated, final_value, finite)
        out = (tr, stats, disc)
        disc = jnp.where(ended, 0.0, disc)
        env_state, next_obs, ep_ret, ep_len, disc = constrain_worlds(
            (env_state, next_obs.astype(jnp.float32), ep_ret, ep_len, disc), mesh, n_envs
        )
        return (params, norm, ret_norm, env_state, next_obs, key, ep_ret, ep_len, disc), out

    def sgd_step(carry: tuple, mb: tuple) -> tuple[tuple, Metrics]:
        params, opt_state, norm, w_anchor, w_actor = carry
        batch, adv, targets = mb
        grads, metrics = jax.grad(
            lambda p: ppo_loss(p, norm, batch, adv, targets, cfg, anchor_actor, w_anchor), has_aux=True
        )(params)
        if anchor_actor is not None:  # critic warm-up: the actor and its log-std get no gradient, so stay put
            keep = w_actor > 0
            grads = {**grads, "actor": jax.tree_util.tree_map(lambda g: jnp.where(keep, g, 0.0), grads["actor"]),
                     "log_std": jnp.where(keep, grads["log_std"], 0.0)}  # fmt: skip
        metrics["grad_norm"] = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, norm, w_anchor, w_actor), metrics

    def loss_weights(update_no: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(anchor weight, actor weight) at update ``update_no`` (0-based)."""
        u = update_no.astype(jnp.float32)
        if anchor_actor is None:
            return jnp.zeros((), jnp.float32), jnp.ones((), jnp.float32)
        warm = float(cfg.critic_warmup_updates)
        w_actor = jnp.where(u < warm, 0.0, 1.0)
        span = float(max(cfg.anchor_updates, 1))
        w_anchor = cfg.anchor_coef * jnp.clip(1.0 - jnp.maximum(u - warm, 0.0) / span, 0.0, 1.0)
        if cfg.anchor_updates == 0:
            w_anchor = jnp.zeros((), jnp.float32)
        return w_anchor.astype(jnp.float32), w_actor.astype(jnp.float32)

    def update(rs: RunnerState) -> tuple[RunnerState, Metrics]:
        carry = (
            rs.params,
            rs.norm,
            rs.ret_norm,
            rs.env_state,
            rs.obs,
            rs.key,
            rs.ep_return,
            rs.ep_length,
            rs.disc_return,
        )
        carry, (traj, stats, disc_returns) = jax.lax.scan(env_step, carry, None, length=cfg.n_steps)
        traj, disc_returns = constrain_worlds((traj, disc_returns), mesh, n_envs, axis=1)
        _, _, _, env_state, obs, key, ep_ret, ep_len, disc = carry
        last_value = critic_value(rs.params, obs_in(rs.norm, obs), cfg)
        adv, targets = compute_gae(
            traj.reward,
            traj.value,
            traj.done,
            traj.truncated,
            traj.final_value,
            last_value,
            cfg.gamma,
            cfg.gae_lambda,
            traj.valid,
        )
        flat = jax.tree_util.tree_map(lambda a: a.reshape((cfg.batch_size, *a.shape[2:])), (traj, adv, targets))

        def epoch(carry: tuple, k: jax.Array) -> tuple[tuple, Metrics]:
            perm = jax.random.permutation(k, cfg.batch_size)
            mbs = jax.tree_util.tree_map(
                lambda a: a[perm].reshape((cfg.n_minibatches, cfg.minibatch_size, *a.shape[1:])), flat
            )
            # each device takes its share of every minibatch's rows; the gradient is summed across devices
            mbs = constrain_worlds(mbs, mesh, cfg.minibatch_size, axis=1)
            return jax.lax.scan(sgd_step, carry, mbs)

        key, k_epochs = jax.random.split(key)
        w_anchor, w_actor = loss_weights(rs.update)
        (params, opt_state, *_), loss_metrics = jax.lax.scan(
            epoch, (rs.params, rs.opt_state, rs.norm, w_anchor, w_actor), jax.random.split(k_epochs, cfg.n_epochs)
        )
        norm = normaliser_update(rs.norm, traj.obs) if cfg.normalise_obs and not cfg.freeze_obs_norm else rs.norm
        ret_norm = (
            normaliser_update(rs.ret_norm, disc_returns[..., None], traj.valid)
            if cfg.normalise_rewards
            else rs.ret_norm
        )

        totals = jax.tree_util.tree_map(jnp.sum, stats)
        n_valid = jnp.maximum(totals["n_valid"], 1.0)
        n_ep = totals["n_episodes"]
        resid = jnp.where(traj.valid, targets - traj.value, 0.0)
        tgt_mu = _masked_mean(targets, traj.valid)
        var_t = _masked_mean(jnp.square(targets - tgt_mu), traj.valid)
        res_mu = _masked_mean(resid, traj.valid)
        var_r = _masked_mean(jnp.square(resid - res_mu), traj.valid)
        metrics: Metrics = {k: jnp.mean(v) for k, v in loss_metrics.items()}
        metrics.update(
            {
                "env_steps": ((rs.update + 1) * cfg.batch_size).astype(jnp.float32),
                "episode_return": jnp.where(n_ep > 0, totals["return_sum"] / jnp.maximum(n_ep, 1.0), jnp.nan),
                "episode_length": jnp.where(n_ep > 0, totals["length_sum"] / jnp.maximum(n_ep, 1.0), jnp.nan),
                "n_episodes": n_ep,
                "n_done": totals["n_done"],
                "n_truncated": totals["n_truncated"],
                "n_nonfinite": totals["n_nonfinite"],
                "reward_mean": totals["reward_sum"] / n_valid,
                "return_std": jnp.sqrt(ret_norm.var[0]),
                "lr": jnp.asarray(lr(rs.update * steps_per_update) if callable(lr) else lr, jnp.float32),
                "std_mean": jnp.mean(jnp.exp(params["log_std"])),
                "anchor_weight": w_anchor,
                "explained_variance": 1.0 - var_r / jnp.maximum(var_t, 1e-8),
            }
        )
        for k, v in totals.items():
            if k.startswith("env/"):
                metrics[k] = v / n_valid
        new = RunnerState(params, opt_state, norm, ret_norm, disc, env_state, obs, key, ep_ret, ep_len, rs.update + 1)
        return new, metrics

    def run(rs: RunnerState, n: int) -> tuple[RunnerState, Metrics]:
        return jax.lax.scan(lambda s, _: update(s), rs, None, length=n)

    def train(key: jax.Array) -> tuple[RunnerState, Metrics]:
        return run(init(key), n_updates)

    init, update, run, train = (on_mesh(f, mesh) for f in (init, update, run, train))  # what host_side sees
    if mesh is None:  # one device: plain jit, no sharding annotations
        return Trainer(
            config=cfg, env=env, obs_size=obs_size, action_size=action_size, n_updates=n_updates,
            init=jax.jit(init), update=jax.jit(update), run=jax.jit(run, static_argnums=1), train=jax.jit(train),
            devices=tuple(used),
        )  # fmt: skip
    shape = jax.eval_shape(init, jax.random.key(0))
    repl = replicated(mesh)
    per_world = world_shardings((shape.env_state, shape.obs, shape.ep_return, shape.ep_length, shape.disc_return),
                                mesh, n_envs)  # fmt: skip
    state_sh = jax.tree_util.tree_map(lambda _: repl, shape)._replace(
        env_state=per_world[0], obs=per_world[1], ep_return=per_world[2], ep_length=per_world[3],
        disc_return=per_world[4],
    )  # fmt: skip
    out_sh = (state_sh, repl)  # metrics: replicated scalars
    return Trainer(
        config=cfg, env=env, obs_size=obs_size, action_size=action_size, n_updates=n_updates,
        init=jax.jit(init, out_shardings=state_sh),
        update=jax.jit(update, in_shardings=(state_sh,), out_shardings=out_sh),
        run=jax.jit(run, static_argnums=1, in_shardings=(state_sh,), out_shardings=out_sh),
        train=jax.jit(train, out_shardings=out_sh),
        devices=tuple(used), mesh=mesh, shardings=state_sh,
    )  # fmt: skip


def make_train(config: PPOConfig | TrainConfig, env: Any) -> Callable[[jax.Array], tuple[RunnerState, Metrics]]:
    """``train_fn(key) -> (final RunnerState, metrics)``: init and all ``ppo.n_updates`` updates in one jit.

    Metrics have a leading ``n_updates`` axis (see :class:`Trainer`). Use :func:`make_trainer` to
    run in chunks (logging, checkpoints).
    """
    return make_trainer(config, env).train


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


def deterministic_policy(
    params: Params, norm: ObsNormaliser, config: PPOConfig | TrainConfig
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy(obs, key) -> excitation``: the mapped Gaussian mean with frozen normalisation (key unused)."""
    cfg = _ppo(config)

    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        x = normalise(norm, obs, cfg.obs_clip) if cfg.normalise_obs else obs
        return map_action(actor_mean(params, x, cfg), cfg.action_mapping)

    return policy


def evaluate(
    env: Any, policy: Callable[[jax.Array, jax.Array], jax.Array], key: jax.Array, n_steps: int
) -> dict[str, float]:
    """Run ``policy(obs, key) -> excitation`` for ``n_steps`` control steps in every world.

    Worlds that end are reset (non-finite ones too, counted). Returns plain floats:
    ``episode_return`` and ``episode_length`` (means over the episodes that ended by ``done`` or
    ``truncated``; NaN when none did), ``n_episodes``, ``n_nonfinite``, ``reward_mean``, and for every
    entry of the environment's step ``info`` its mean over the finite world-steps as ``info/<name>``
    (e.g. ``info/metabolic_w_per_kg``, ``info/site_dist`` of the imitation environment).
    """
    names: list[str] = []

    def body(carry: tuple, _: None) -> tuple[tuple, jax.Array]:
        state, obs, key, ret, length = carry
        key, k_pol, k_reset = jax.random.split(key, 3)
        state, obs2, reward, done, truncated, info = env.step(state, policy(obs, k_pol))
        finite = jnp.all(jnp.isfinite(obs2), axis=-1) & jnp.isfinite(reward)
        reward = jnp.where(finite, reward, 0.0)
        finished = (done.astype(bool) | truncated.astype(bool)) & finite
        ret, length = ret + reward, length + 1
        names[:] = sorted(info)
        info_sums = [
            jnp.sum(jnp.where(finite & jnp.isfinite(info[k]), info[k].astype(jnp.float32), 0.0)) for k in names
        ]
        out = jnp.stack(
            [
                jnp.sum(jnp.where(finished, ret, 0.0)),
                jnp.sum(jnp.where(finished, length, 0)).astype(jnp.float32),
                jnp.sum(finished).astype(jnp.float32),
                jnp.sum(~finite).astype(jnp.float32),
                jnp.sum(reward),
                jnp.sum(finite).astype(jnp.float32),
                *info_sums,
            ]
        )
        ended = finished | ~finite
        state, obs2 = reset_where(env, state, jnp.where(finite[:, None], obs2, 0.0), k_reset, ended)
        return (state, obs2, key, jnp.where(ended, 0.0, ret), jnp.where(ended, 0, length)), out

    @jax.jit
    def go(key: jax.Array) -> jax.Array:
        k_reset, key = jax.random.split(key)
        state, obs = env.reset(k_reset)
        n = obs.shape[0]
        carry = (state, obs, key, jnp.zeros(n, jnp.float32), jnp.zeros(n, jnp.int32))
        _, out = jax.lax.scan(body, carry, None, length=n_steps)
        return out.sum(axis=0)

    sums = [float(v) for v in go(key)]
    ret, length, n_ep, n_bad, rew, n_valid = sums[:6]
    out = {
        "episode_return": ret / n_ep if n_ep else float("nan"),
        "episode_length": length / n_ep if n_ep else float("nan"),
        "n_episodes": n_ep,
        "n_nonfinite": n_bad,
        "reward_mean": rew / max(n_valid, 1.0),
    }
    out.update({f"info/{k}": v / max(n_valid, 1.0) for k, v in zip(names, sums[6:], strict=True)})
    return out
