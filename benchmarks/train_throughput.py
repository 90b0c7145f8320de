"""Training throughput (issue 6): full-loop environment steps per second (rollout + PPO update, one jitted
program) beside the raw physics steps per second of the same backend and world count, for MyoFullBody and the
bimanual arm. The ratio raw / full loop is the cost of learning (observation, reward, policy, update).

Usage::

    python benchmarks/train_throughput.py --backend mujoco --worlds 16 64            # CPU (MuJoCo C)
    python benchmarks/train_throughput.py --backend warp --worlds 4                   # Warp on the CPU device
    python benchmarks/train_throughput.py --backend warp --worlds 256 1024 4096 8192  # a GPU (issue 6's table)
    python benchmarks/train_throughput.py --backend warp --worlds 8192 --preset musclemimic --models myofullbody

Raw physics: the environment's own physics function (all substeps, body kinematics, actuator state) over the
worlds with zero excitations, 32 control steps in one jitted ``scan`` (as the rollout runs them). Full loop: `Trainer.run`
with `ppo.n_envs` = worlds, timed over a second call of the same update count (the first compiles). Env steps =
control steps (100 Hz) × worlds. ``--preset default`` (the default): 3×512 LayerNorm MLPs, 16-step rollouts, up to 4
minibatches. ``--preset musclemimic``: MuscleMimic's own full-body PPO settings (16×1024 MLPs, 20-step rollouts,
128 minibatches, one epoch), the setting of its ≈ 13,000 steps/s at 8,192 worlds on an H100/H200. ``--json``
writes the rows to a file as well.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmbio.train.config import get_config
from mmbio.train.imitation_env import ImitationEnv
from mmbio.train.ppo import make_trainer
from mmbio.train.references import default_motion


def measure(model: str, backend: str, worlds: int, updates: int, preset: str = "default") -> dict[str, float]:
    if preset == "musclemimic":
        ppo = [f"ppo.n_envs={worlds}", f"ppo.n_minibatches={max(1, min(128, worlds * 20 // 256))}"]
    else:
        ppo = [f"ppo.n_envs={worlds}", "ppo.n_steps=16", f"ppo.n_minibatches={max(1, min(4, worlds // 4))}"]
    cfg = get_config(
        preset,
        [f"env.model={model}", f"env.backend={backend}", "env.lookahead_steps=2", *ppo]
        + (["env.touch_obs=false"] if model == "bimanual" else []),
    )  # fmt: skip
    env = ImitationEnv(cfg.env, default_motion(model), n_envs=worlds, backend=backend)
    state, _ = env.reset(jax.random.key(0))
    zeros = jnp.zeros((worlds, env.action_size), jnp.float32)
    n_raw = 32

    @jax.jit
    def phys(p):  # type: ignore[no-untyped-def]
        # n_raw control steps in one `scan`, dispatched like the training loop's rollout (per-call dispatch would
        # charge the host callback's overhead to "raw" and make it slower than the full loop on the CPU)
        step = lambda p, _: (env.physics(p.qpos, p.qvel, p.act, p.warm, zeros), None)  # noqa: E731
        return jax.lax.scan(step, p, None, length=n_raw)[0]

    p = phys(state.phys)  # compile
    jax.block_until_ready(p.qpos)
    t = time.perf_counter()
    p = phys(p)
    jax.block_until_ready(p.qpos)
    raw = n_raw * worlds / (time.perf_counter() - t)
    trainer = make_trainer(cfg, env)
    rs = trainer.init(jax.random.key(1))
    # `trainer.run` is jitted with the update count static: warm up with the same count that is timed, or the
    # timed call recompiles (tables measured before 2026-12-04's fix hold that compile: lower bounds)
    t = time.perf_counter()
    rs, _ = trainer.run(rs, updates)
    jax.block_until_ready(rs.params)
    compile_and_first = time.perf_counter() - t
    t = time.perf_counter()
    rs, m = trainer.run(rs, updates)
    jax.block_until_ready(rs.params)
    full = updates * cfg.ppo.n_steps * worlds / (time.perf_counter() - t)
    return {
        "model": model, "backend": backend, "preset": preset, "worlds": worlds, "raw": raw, "full": full,
        "obs": env.obs_size, "first_call_s": compile_and_first,
        "nonfinite": float(np.sum(np.asarray(m["n_nonfinite"]))),
        "device": str(jax.devices()[0].device_kind),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("mujoco", "warp"), default="mujoco")
    ap.add_argument("--worlds", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--models", nargs="+", default=["bimanual", "myofullbody"])
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--preset", choices=("default", "musclemimic"), default="default")
    ap.add_argument("--json", help="also write the rows to this JSON file (rewritten after each row)")
    a = ap.parse_args()
    rows: list[dict] = []
    dev = jax.devices()[0]
    print(
        f"machine: {platform.node()} {platform.machine()}; jax {jax.__version__} on {dev.platform} ({dev.device_kind})"
    )
    print(f"preset {a.preset}")
    print(f"{'model':<12} {'backend':<7} {'worlds':>7} {'obs':>5} {'raw physics steps/s':>20} {'full loop steps/s':>18} "
          f"{'raw/full':>9} {'nonfinite':>9}")  # fmt: skip
    for model in a.models:
        for w in a.worlds:
            r = measure(model, a.backend, w, a.updates, a.preset)
            rows.append(r)
            if a.json:
                Path(a.json).write_text(json.dumps(rows, indent=1))
            print(f"{model:<12} {a.backend:<7} {w:>7} {r['obs']:>5.0f} {r['raw']:>20,.0f} {r['full']:>18,.0f} "
                  f"{r['raw'] / r['full']:>9.2f} {r['nonfinite']:>9.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
