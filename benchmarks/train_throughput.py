"""Training throughput (issue 6): full-loop environment steps per second (rollout + PPO update, one jitted
program) beside the raw physics steps per second of the same backend and world count, for MyoFullBody and the
bimanual arm. The ratio raw / full loop is the cost of learning (observation, reward, policy, update).

Usage::

    python benchmarks/train_throughput.py --backend mujoco --worlds 16 64            # CPU (MuJoCo C)
    python benchmarks/train_throughput.py --backend warp --worlds 4                   # Warp on the CPU device
    python benchmarks/train_throughput.py --backend warp --worlds 256 1024 4096 8192  # a GPU (issue 6's table)

Raw physics: the environment's own physics function (all substeps, body kinematics, actuator state) jitted
over the worlds with zero excitations, timed over the same number of control steps. Full loop: `Trainer.run`
of the `default` preset's networks (3×512 LayerNorm MLPs) with `ppo.n_envs` = worlds and 16-step rollouts,
timed after one warm-up update (compilation excluded). Env steps = control steps (100 Hz) × worlds.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from mmbio.train.config import get_config
from mmbio.train.imitation_env import ImitationEnv
from mmbio.train.ppo import make_trainer
from mmbio.train.references import default_motion


def measure(model: str, backend: str, worlds: int, updates: int) -> dict[str, float]:
    cfg = get_config(
        "default",
        [f"env.model={model}", f"env.backend={backend}", f"ppo.n_envs={worlds}", "ppo.n_steps=16",
         f"ppo.n_minibatches={max(1, min(4, worlds // 4))}", "env.lookahead_steps=2"]
        + (["env.touch_obs=false"] if model == "bimanual" else []),
    )  # fmt: skip
    env = ImitationEnv(cfg.env, default_motion(model), n_envs=worlds, backend=backend)
    state, _ = env.reset(jax.random.key(0))
    zeros = jnp.zeros((worlds, env.action_size), jnp.float32)
    phys = jax.jit(lambda p: env.physics(p.qpos, p.qvel, p.act, p.warm, zeros))
    p = phys(state.phys)
    jax.block_until_ready(p.qpos)
    n_raw = 32
    t = time.perf_counter()
    for _ in range(n_raw):
        p = phys(p)
    jax.block_until_ready(p.qpos)
    raw = n_raw * worlds / (time.perf_counter() - t)
    trainer = make_trainer(cfg, env)
    rs = trainer.init(jax.random.key(1))
    rs, _ = trainer.run(rs, 1)  # compile
    jax.block_until_ready(rs.params)
    t = time.perf_counter()
    rs, m = trainer.run(rs, updates)
    jax.block_until_ready(rs.params)
    full = updates * cfg.ppo.n_steps * worlds / (time.perf_counter() - t)
    return {"raw": raw, "full": full, "obs": env.obs_size, "nonfinite": float(np.sum(np.asarray(m["n_nonfinite"])))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("mujoco", "warp"), default="mujoco")
    ap.add_argument("--worlds", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--models", nargs="+", default=["bimanual", "myofullbody"])
    ap.add_argument("--updates", type=int, default=3)
    a = ap.parse_args()
    dev = jax.devices()[0]
    print(
        f"machine: {platform.node()} {platform.machine()}; jax {jax.__version__} on {dev.platform} ({dev.device_kind})"
    )
    print(f"{'model':<12} {'backend':<7} {'worlds':>7} {'obs':>5} {'raw physics steps/s':>20} {'full loop steps/s':>18} "
          f"{'raw/full':>9} {'nonfinite':>9}")  # fmt: skip
    for model in a.models:
        for w in a.worlds:
            r = measure(model, a.backend, w, a.updates)
            print(f"{model:<12} {a.backend:<7} {w:>7} {r['obs']:>5.0f} {r['raw']:>20,.0f} {r['full']:>18,.0f} "
                  f"{r['raw'] / r['full']:>9.2f} {r['nonfinite']:>9.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
