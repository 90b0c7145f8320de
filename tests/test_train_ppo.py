"""PPO in JAX: GAE, normaliser, loss, numpy export, learning a toy muscle task, NaN worlds."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from mmbio.train.config import ConfigError, PPOConfig, get_config  # noqa: E402
from mmbio.train.networks import actor_mean, critic_value, export_policy, init_actor_critic  # noqa: E402
from mmbio.train.policy_numpy import numpy_policy  # noqa: E402
from mmbio.train.ppo import (  # noqa: E402
    ObsNormaliser,
    Transition,
    compute_gae,
    deterministic_policy,
    evaluate,
    make_train,
    make_trainer,
    normalise,
    normaliser_init,
    normaliser_update,
    ppo_loss,
)
from mmbio.train.toy_env import PointMassTrackingEnv  # noqa: E402

# --------------------------------------------------------------------------------------------------
# GAE
# --------------------------------------------------------------------------------------------------


def _gae(rewards, values, dones, truncated, final_values, last_value, valid, gamma, lam):
    """Advantages by the forward definition A_t = Σ_l (γλ)^l δ_{t+l} up to the end of t's episode."""
    rewards, values = np.asarray(rewards, float), np.asarray(values, float)
    T, N = rewards.shape
    adv = np.zeros((T, N))
    for n in range(N):
        deltas, ends = [], []
        for t in range(T):
            if not valid[t][n]:
                deltas.append(None)
                ends.append(True)
                continue
            if dones[t][n]:
                nxt = 0.0
            elif truncated[t][n]:
                nxt = final_values[t][n]
            else:
                nxt = values[t + 1, n] if t + 1 < T else last_value[n]
            deltas.append(rewards[t, n] + gamma * nxt - values[t, n])
            ends.append(bool(dones[t][n] or truncated[t][n]))
        for t in range(T):
            if deltas[t] is None:
                continue
            total, lag = 0.0, 0
            while t + lag < T and deltas[t + lag] is not None:
                total += (gamma * lam) ** lag * deltas[t + lag]
                if ends[t + lag]:
                    break
                lag += 1
            adv[t, n] = total
    return adv


def _run_gae(r, v, d, tr, fv, lv, valid, gamma=0.9, lam=0.8):
    a = lambda x, dt=jnp.float32: jnp.asarray(np.asarray(x), dt)  # noqa: E731
    adv, tgt = compute_gae(a(r), a(v), a(d, bool), a(tr, bool), a(fv), a(lv), gamma, lam, a(valid, bool))
    return np.asarray(adv), np.asarray(tgt)


def test_gae_hand_computed() -> None:
    # γ = 0.9, λ = 0.8, rewards 1, 2, 3, values 0.5, 1, 1.5, V(last) = 2:
    # δ = (1 + .9·1 - .5, 2 + .9·1.5 - 1, 3 + .9·2 - 1.5) = (1.4, 2.35, 3.3); γλ = 0.72
    r, v, lv, fv = [[1.0], [2.0], [3.0]], [[0.5], [1.0], [1.5]], [2.0], [[0.0], [4.0], [0.0]]
    no, yes_1 = [[False]] * 3, [[False], [True], [False]]
    ok = [[True]] * 3
    adv, tgt = _run_gae(r, v, no, no, fv, lv, ok)
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * (2.35 + 0.72 * 3.3), 2.35 + 0.72 * 3.3, 3.3], rtol=1e-6)
    np.testing.assert_allclose(tgt, adv + np.asarray(v), rtol=1e-6)
    # truncated after step 1: bootstrap with V(final obs) = 4, nothing flows back across the cut
    adv, _ = _run_gae(r, v, no, yes_1, fv, lv, ok)
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 4.6, 2 + 0.9 * 4 - 1, 3.3], rtol=1e-6)
    # terminated after step 1: no bootstrap
    adv, _ = _run_gae(r, v, yes_1, no, fv, lv, ok)
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 1.0, 1.0, 3.3], rtol=1e-6)
    # done wins over truncated when both are set
    adv, _ = _run_gae(r, v, yes_1, yes_1, fv, lv, ok)
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 1.0, 1.0, 3.3], rtol=1e-6)
    # step 2 non-finite (masked): its advantage is 0 and step 1 bootstraps from V(s_2) = 1.5
    adv, _ = _run_gae(r, v, no, no, fv, lv, [[True], [True], [False]])
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 2.35, 2.35, 0.0], rtol=1e-6)


def test_gae_matches_forward_definition() -> None:
    rng = np.random.default_rng(3)
    T, N = 12, 5
    r, v = rng.normal(size=(T, N)), rng.normal(size=(T, N))
    d, tr = rng.random((T, N)) < 0.15, rng.random((T, N)) < 0.15
    fv, lv, valid = rng.normal(size=(T, N)), rng.normal(size=N), rng.random((T, N)) > 0.1
    for gamma, lam in ((0.99, 0.95), (0.9, 0.0), (0.5, 1.0)):
        adv, tgt = _run_gae(r, v, d, tr, fv, lv, valid, gamma, lam)
        want = _gae(r, v, d, tr & ~d, fv, lv, valid, gamma, lam)
        np.testing.assert_allclose(adv, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(tgt, want + v, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# Observation normaliser
# --------------------------------------------------------------------------------------------------


def test_normaliser_matches_numpy_over_concatenated_batches() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=3.0 * i, scale=0.5 + i, size=(n, 7)) for i, n in enumerate((50, 3, 1, 200, 17))]
    norm = normaliser_init(7)
    for b in batches:
        norm = normaliser_update(norm, jnp.asarray(b, jnp.float32))
    allx = np.concatenate(batches)
    np.testing.assert_allclose(np.asarray(norm.mean), allx.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(norm.var), allx.var(0), rtol=1e-4)
    assert float(norm.count) == len(allx)
    # (T, N, n_obs) batches with a mask: only kept rows count; an all-false mask changes nothing
    b3 = rng.normal(size=(4, 6, 7))
    m = rng.random((4, 6)) > 0.3
    n2 = normaliser_update(
        normaliser_update(normaliser_init(7), jnp.asarray(b3), jnp.asarray(m)), jnp.asarray(b3), jnp.zeros((4, 6), bool)
    )
    np.testing.assert_allclose(np.asarray(n2.mean), b3[m].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(n2.var), b3[m].var(0), rtol=1e-4)
    assert float(n2.count) == m.sum()
    # normalisation is (x - mean) / sqrt(var + 1e-8), clipped, and never changes the statistics
    x = jnp.asarray(rng.normal(size=(5, 7)) * 100.0, jnp.float32)
    y = np.asarray(normalise(norm, x, 5.0))
    want = np.clip((np.asarray(x) - allx.mean(0)) / np.sqrt(allx.var(0) + 1e-8), -5, 5)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------------
# Networks: numpy export reproduces the JAX forward pass
# --------------------------------------------------------------------------------------------------


def _random_params(cfg: PPOConfig, n_obs: int, n_act: int, seed: int) -> Any:
    """Initialised parameters perturbed so that every weight (LayerNorm included) matters at O(1) outputs."""
    params = jax.jit(init_actor_critic, static_argnums=(1, 2, 3))(jax.random.key(seed), n_obs, n_act, cfg)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(np.asarray(x) + 0.3 * rng.normal(size=x.shape), jnp.float32), params
    )


def _forward(cfg: PPOConfig) -> Any:
    """Jitted (normalised obs, action mean, value) of the JAX networks."""

    @jax.jit
    def f(params: Any, norm: ObsNormaliser, obs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        x = normalise(norm, obs, cfg.obs_clip)
        return x, actor_mean(params, x, cfg), critic_value(params, x, cfg)

    return f


@pytest.mark.parametrize(
    ("activation", "layer_norm", "mapping"),
    [
        ("silu", True, "clip"),
        ("tanh", True, "sigmoid"),
        ("relu", False, "clip"),
        ("elu", True, "clip"),
        ("gelu", True, "clip"),
    ],
)
def test_numpy_policy_matches_jax(activation: str, layer_norm: bool, mapping: str) -> None:
    cfg = PPOConfig(
        actor_hidden=(48, 32, 24),
        critic_hidden=(40, 16),
        activation=activation,
        layer_norm=layer_norm,
        action_mapping=mapping,
        obs_clip=4.0,
        init_log_std=-0.7,
    )
    n_obs, n_act = 19, 11
    params = _random_params(cfg, n_obs, n_act, seed=len(activation))
    rng = np.random.default_rng(1)
    norm = ObsNormaliser(
        jnp.asarray(rng.normal(size=n_obs), jnp.float32),
        jnp.asarray(rng.random(n_obs) * 3 + 0.05, jnp.float32),
        jnp.asarray(1234.0),
    )
    obs = rng.normal(size=(64, n_obs)) * 3.0  # some features beyond the ±4 clip
    _, mean_jax, value_jax = (np.asarray(a) for a in _forward(cfg)(params, norm, jnp.asarray(obs, jnp.float32)))
    assert np.abs(mean_jax).max() > 0.5  # outputs are O(1): the comparison means something

    controller = export_policy(params, norm, cfg, include_critic=True)
    pol = numpy_policy(controller)
    assert (pol.obs_size, pol.action_size) == (n_obs, n_act)
    np.testing.assert_allclose(pol(obs), mean_jax, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(pol.value(obs), value_jax, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(pol(obs[0]), mean_jax[0], atol=1e-5, rtol=1e-5)  # unbatched
    exc = pol.excitation(obs)
    assert exc.min() >= 0.0 and exc.max() <= 1.0
    want = np.clip(mean_jax, 0, 1) if mapping == "clip" else 1 / (1 + np.exp(-mean_jax))
    np.testing.assert_allclose(exc, want, atol=1e-5)
    np.testing.assert_allclose(pol.log_std, np.asarray(params["log_std"]), rtol=1e-6)
    # the deterministic JAX policy used for evaluation is the same map
    det = deterministic_policy(params, norm, cfg)(jnp.asarray(obs, jnp.float32), jax.random.key(0))
    np.testing.assert_allclose(np.asarray(det), want, atol=1e-5)
    # plain values only: nested dicts/lists of numpy arrays and python scalars
    for leaf in jax.tree_util.tree_leaves(controller):
        assert isinstance(leaf, np.ndarray | str | int | float | bool), type(leaf)
    assert "critic" not in export_policy(params, norm, cfg)["params"]


def test_policy_numpy_imports_without_jax() -> None:
    code = (
        "import sys; import mmbio.train.policy_numpy, mmbio.train.config; "
        "bad = [m for m in sys.modules if m == 'jax' or m.startswith('jax.')]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_policy_checkpoint_round_trip(tmp_path) -> None:
    from mmbio.control.checkpoint import load_checkpoint, save_checkpoint
    from mmbio.train.config import from_dict
    from mmbio.train.networks import make_policy_checkpoint

    cfg = get_config("smoke", ["ppo.actor_hidden=16,16", "ppo.critic_hidden=8"])
    params = _random_params(cfg.ppo, 9, 5, seed=4)
    norm = normaliser_update(
        normaliser_init(9), jnp.asarray(np.random.default_rng(2).normal(size=(30, 9)), jnp.float32)
    )
    ckpt = make_policy_checkpoint(params, norm, cfg, metadata={"env_steps": 123})
    path = save_checkpoint(ckpt, tmp_path / "policy.pkl")
    back = load_checkpoint(path)
    assert back.kind == "policy" and from_dict(back.config) == cfg
    obs = np.random.default_rng(5).normal(size=(7, 9))
    np.testing.assert_allclose(numpy_policy(back.controller)(obs), numpy_policy(ckpt.controller)(obs))
    x = normalise(norm, jnp.asarray(obs, jnp.float32), cfg.ppo.obs_clip)
    np.testing.assert_allclose(numpy_policy(back.controller)(obs), actor_mean(params, x, cfg), atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------


def test_ppo_loss_matches_numpy_formulas() -> None:
    cfg = PPOConfig(actor_hidden=(16,), critic_hidden=(16,), vf_clip=0.1, ent_coef=0.01, clip_eps=0.2)
    n_obs, n_act, B = 6, 3, 40
    params = _random_params(cfg, n_obs, n_act, seed=9)
    rng = np.random.default_rng(4)
    norm = ObsNormaliser(jnp.zeros(n_obs), jnp.ones(n_obs), jnp.asarray(1.0))  # identity up to the ±10 clip
    obs = jnp.asarray(rng.normal(size=(B, n_obs)), jnp.float32)
    _, mean, value = (np.asarray(a, np.float64) for a in _forward(cfg)(params, norm, obs))
    action = mean + rng.normal(size=mean.shape) * 0.5
    sd = np.exp(np.asarray(params["log_std"], np.float64))
    logp_new = np.sum(-0.5 * ((action - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi), axis=-1)
    logp_old = logp_new + rng.normal(size=B) * 0.3  # ratios on both sides of the clip
    v_old = value + rng.normal(size=B) * 0.2
    adv, tgt = rng.normal(size=B), rng.normal(size=B)
    valid = rng.random(B) > 0.2
    batch = Transition(
        obs,
        jnp.asarray(action, jnp.float32),
        jnp.asarray(logp_old, jnp.float32),
        jnp.asarray(v_old, jnp.float32),
        jnp.zeros(B),
        jnp.zeros(B, bool),
        jnp.zeros(B, bool),
        jnp.zeros(B),
        jnp.asarray(valid),
    )
    # poison the masked-out entries: they must not matter
    adv_j = jnp.asarray(np.where(valid, adv, 1e6), jnp.float32)
    loss = jax.jit(lambda p, b, a, t: ppo_loss(p, norm, b, a, t, cfg))
    total, m = loss(params, batch, adv_j, jnp.asarray(tgt, jnp.float32))

    a, ratio = adv[valid], np.exp(logp_new - logp_old)[valid]
    a = (a - a.mean()) / (a.std() + 1e-8)
    actor = -np.mean(np.minimum(ratio * a, np.clip(ratio, 0.8, 1.2) * a))
    v, vo, t = value[valid], v_old[valid], tgt[valid]
    vc = vo + np.clip(v - vo, -0.1, 0.1)
    vloss = 0.5 * np.mean(np.maximum((v - t) ** 2, (vc - t) ** 2))
    ent = np.sum(np.asarray(params["log_std"]) + 0.5 * np.log(2 * np.pi * np.e))
    np.testing.assert_allclose(float(m["actor_loss"]), actor, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(m["value_loss"]), vloss, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(m["entropy"]), ent, rtol=1e-5)
    np.testing.assert_allclose(float(total), actor + 0.5 * vloss - 0.01 * ent, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(m["clip_frac"]), np.mean(np.abs(ratio - 1) > 0.2), atol=1e-6)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------

_TOY = [
    "ppo.n_envs=64",
    "ppo.n_steps=32",
    "ppo.n_minibatches=4",
    "ppo.actor_hidden=64,64",
    "ppo.critic_hidden=64,64",
    "ppo.lr=1e-3",
    "ppo.init_log_std=-0.5",
]


def test_ppo_learns_the_toy_muscle_task() -> None:
    """PPO (one epoch per batch) drives a muscle-pair point mass onto a moving target, well above random."""
    cfg = get_config("smoke", [*_TOY, "ppo.total_env_steps=131072"])  # 64 updates
    env = PointMassTrackingEnv(n_envs=cfg.ppo.n_envs)
    best = env.horizon  # reward ≤ 1 per step
    key = jax.random.key(1)
    n_eval = 4 * env.horizon
    uniform = evaluate(env, lambda o, k: jax.random.uniform(k, (o.shape[0], env.action_size)), key, n_eval)
    relaxed = evaluate(env, lambda o, k: jnp.zeros((o.shape[0], env.action_size)), key, n_eval)
    trainer = make_trainer(cfg, env)
    s0 = trainer.init(jax.random.key(0))
    untrained = evaluate(env, deterministic_policy(s0.params, s0.norm, cfg), key, n_eval)
    baseline = max(uniform["episode_return"], relaxed["episode_return"], untrained["episode_return"])
    threshold = baseline + 0.6 * (best - baseline)

    t0 = time.perf_counter()
    state, metrics = make_train(cfg, env)(jax.random.key(0))
    jax.block_until_ready(state.params)
    wall = time.perf_counter() - t0
    final = evaluate(env, deterministic_policy(state.params, state.norm, cfg), key, n_eval)
    print(
        f"toy task: return {final['episode_return']:.1f}/{best} after {cfg.ppo.n_updates} updates in {wall:.1f} s "
        f"(compile included); baselines uniform {uniform['episode_return']:.1f}, relaxed {relaxed['episode_return']:.1f}, "
        f"untrained {untrained['episode_return']:.1f}; threshold {threshold:.1f}"
    )
    assert baseline < 0.35 * best
    assert final["episode_return"] > threshold
    assert final["n_nonfinite"] == 0
    ret = np.asarray(metrics["episode_return"])
    assert ret.shape == (cfg.ppo.n_updates,)
    assert np.nanmean(ret[-8:]) > np.nanmean(ret[:8]) + 20
    assert np.all(np.isfinite(np.asarray(metrics["loss"])))
    assert float(metrics["env_steps"][-1]) == cfg.ppo.total_env_steps


def _count_resets(n_steps: int, every: int) -> int:
    """How often a world poisoned when its step counter reaches ``every`` (and then reset) is poisoned."""
    t = count = 0
    for _ in range(n_steps):
        t += 1
        if t == every:
            count, t = count + 1, 0
    return count


class _PoisonedEnv:
    """The toy task without early ends; world 0 returns an inf observation at its 5th step, world 1 a NaN reward
    at its 7th step (so only a reset of that world stops it)."""

    def __init__(self, n_envs: int) -> None:
        self.inner = PointMassTrackingEnv(n_envs=n_envs, fail_distance=1e9, horizon=10**6)
        self.action_size = self.inner.action_size
        self.n_envs = n_envs

    def reset(self, key: jax.Array) -> Any:
        return self.inner.reset(key)

    def step(self, state: Any, action: jax.Array) -> Any:
        state, obs, reward, done, truncated, info = self.inner.step(state, action)
        idx = jnp.arange(self.n_envs)
        obs = jnp.where(((idx == 0) & (state.t == 5))[:, None], jnp.inf, obs)
        reward = jnp.where((idx == 1) & (state.t == 7), jnp.nan, reward)
        info = {**info, "poison": jnp.where(idx == 2, jnp.nan, 0.0)}  # NaN info: only in a finite world's mean
        return state, obs, reward, done, truncated, info


def test_nonfinite_worlds_are_reset_counted_and_masked() -> None:
    cfg = get_config("smoke", ["ppo.n_envs=8", "ppo.n_steps=16", "ppo.n_minibatches=4", "ppo.total_env_steps=1024"])
    env = _PoisonedEnv(cfg.ppo.n_envs)
    trainer = make_trainer(cfg, env)
    state, metrics = trainer.run(trainer.init(jax.random.key(0)), 3)
    n_steps = 3 * cfg.ppo.n_steps
    expected = _count_resets(n_steps, 5) + _count_resets(n_steps, 7)
    assert float(np.sum(metrics["n_nonfinite"])) == expected
    per_update = [_count_resets((u + 1) * 16, 5) + _count_resets((u + 1) * 16, 7) for u in range(3)]
    np.testing.assert_array_equal(np.asarray(metrics["n_nonfinite"]), np.diff([0, *per_update]))
    for leaf in jax.tree_util.tree_leaves((state.params, state.norm, state.opt_state, state.ret_norm)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    for k in ("loss", "actor_loss", "value_loss", "grad_norm", "reward_mean", "approx_kl", "env/distance"):
        assert np.all(np.isfinite(np.asarray(metrics[k]))), k
    assert np.all(np.isfinite(np.asarray(state.obs)))
    assert int(state.env_state.t[0]) == n_steps % 5 and int(state.env_state.t[1]) == n_steps % 7  # reset
    assert int(state.env_state.t[3]) == n_steps  # other worlds run on
    # the normaliser saw only finite observations: inf would have made mean/var inf or NaN
    assert float(state.norm.count) == n_steps * cfg.ppo.n_envs


def test_trainer_checks_env_shape() -> None:
    with pytest.raises(ConfigError, match=r"ppo\.n_envs=16 but the environment simulates 8 worlds"):
        make_trainer(get_config("smoke"), PointMassTrackingEnv(n_envs=8))


def test_chunked_updates_equal_one_program() -> None:
    """update() then run(state, 1) continue exactly where one run(state, 2) would be."""
    cfg = get_config("smoke", ["ppo.n_envs=8", "ppo.n_steps=8", "ppo.n_minibatches=2", "ppo.total_env_steps=128"])
    trainer = make_trainer(cfg, PointMassTrackingEnv(n_envs=8))
    s0 = trainer.init(jax.random.key(3))
    s_all, m_all = trainer.run(s0, 2)
    s_a, m_a = trainer.update(s0)
    s_b = trainer.update(s_a)[0]
    plain = lambda s: jax.tree_util.tree_leaves(s._replace(key=jax.random.key_data(s.key)))  # noqa: E731
    for a, b in zip(plain(s_all), plain(s_b), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(m_all["loss"][0]), float(m_a["loss"]), rtol=1e-6)
    assert int(s_all.update) == 2 == cfg.ppo.n_updates
