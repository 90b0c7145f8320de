"""Effort–tracking trade-off (issue 6): the same PPO run on the bimanual arm's tracking task with a metabolic
cost of increasing weight, each policy then evaluated on tracking error, metabolic power and activation.

This is the experiment the effort terms exist for, at CPU scale: does a metabolic cost change *how* the
muscles produce a motion, and what does it cost in tracking? Each row trains from the same seed with
``env.reward.metabolic`` = the weight (cost per W/kg of body mass per control step), then evaluates the
stochastic policy (the one PPO optimises) for 200 steps in 32 worlds. Columns: tracking return (the episode
return with the metabolic cost added back, so rows compare on tracking alone), mean anchor-relative body
distance from the reference (mm), whole-body muscle metabolic power (W/kg, Umberger 2010), mean activation
and mean squared activation.

Usage::

    python benchmarks/effort_tradeoff.py                    # weights 0, 0.02, 0.1; about 1 min each on 2 cores
    python benchmarks/effort_tradeoff.py --weights 0 0.05 --steps 327680
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import jax
import jax.numpy as jnp

from mmbio.train.config import get_config
from mmbio.train.imitation_env import ImitationEnv
from mmbio.train.networks import actor_mean, map_action
from mmbio.train.ppo import evaluate, make_trainer, normalise
from mmbio.train.references import bimanual_reference


def run(weight: float, steps: int, seed: int) -> dict[str, float]:
    tc = get_config(
        "smoke",
        ["ppo.n_envs=32", "ppo.n_steps=32", "ppo.n_minibatches=4", "ppo.actor_hidden=128,128",
         "ppo.critic_hidden=128,128", "ppo.init_log_std=-1.6", "ppo.lr=1e-3", f"ppo.total_env_steps={steps}"],
    )  # fmt: skip
    # the test suite's arm task: the bimanual preset's environment with 50-step episodes
    arm = get_config("bimanual").env
    cfg = dataclasses.replace(
        arm, horizon=50, lookahead_stride=1, reward=dataclasses.replace(arm.reward, metabolic=weight)
    )
    env = ImitationEnv(cfg, bimanual_reference(201), tc.ppo.n_envs)
    t0 = time.perf_counter()
    trainer = make_trainer(tc, env)
    state, _ = trainer.train(jax.random.key(seed))
    jax.block_until_ready(state.params)
    wall = time.perf_counter() - t0
    params, norm = state.params, state.norm

    def policy(obs: jax.Array, k: jax.Array) -> jax.Array:
        mu = actor_mean(params, normalise(norm, obs, tc.ppo.obs_clip), tc.ppo)
        return map_action(mu + jnp.exp(params["log_std"]) * jax.random.normal(k, mu.shape), tc.ppo.action_mapping)

    ev = evaluate(env, policy, jax.random.key(100), 200)
    metab = ev["info/metabolic_w_per_kg"]
    # episodes end by termination or the 50-step horizon: add the cost back per step of an average episode
    tracking = ev["episode_return"] + weight * metab * ev["episode_length"]
    mean_act = _mean_activation(env, policy)
    return {
        "weight": weight,
        "tracking_return": tracking,
        "episode_length": ev["episode_length"],
        "site_mm": 1000 * ev["info/site_dist"],
        "metabolic": metab,
        "mean_act": mean_act,
        "effort": ev["info/effort"],
        "wall_s": wall,
        "max_return": env.max_reward * cfg.horizon,
    }


def _mean_activation(env: ImitationEnv, policy) -> float:  # type: ignore[no-untyped-def]
    """Mean activation over 50 steps from reference starts (no resets needed within one horizon)."""
    state, obs = env.reset(jax.random.key(7))

    def body(carry, k):  # type: ignore[no-untyped-def]
        s, o = carry
        s, o, *_ = env.step(s, policy(o, k))
        return (s, o), jnp.mean(s.phys.act)

    _, acts = jax.jit(lambda c: jax.lax.scan(body, c, jax.random.split(jax.random.key(8), 50)))((state, obs))
    return float(jnp.mean(acts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.02, 0.1])
    ap.add_argument("--steps", type=int, default=163_840, help="training env steps per weight")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}; jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"bimanual arm tracking, {a.steps:,} env steps per run, seed {a.seed}")
    hdr = (f"{'metabolic w':>11} {'tracking return':>15} {'ep length':>9} {'site error mm':>13} "
           f"{'metabolic W/kg':>14} {'mean act':>8} {'mean a²':>8} {'train s':>7}")  # fmt: skip
    print(hdr)
    for w in a.weights:
        r = run(w, a.steps, a.seed)
        print(f"{w:>11.3g} {r['tracking_return']:>15.1f} {r['episode_length']:>9.1f} {r['site_mm']:>13.1f} "
              f"{r['metabolic']:>14.2f} {r['mean_act']:>8.3f} {r['effort']:>8.4f} {r['wall_s']:>7.0f}")  # fmt: skip
    print(f"(tracking return out of {r['max_return']:.0f} at zero error over a 50-step episode)")


if __name__ == "__main__":
    main()
