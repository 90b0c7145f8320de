"""Multi-device training (issue 17 §2): full PPO loop env-steps/s with the worlds split over 1 and N devices.

Usage::

    python benchmarks/multidevice_scaling.py                       # toy env, 8/32/128 worlds, 1 and 2 CPU devices
    python benchmarks/multidevice_scaling.py --envs toy bimanual --worlds 16 64
    python benchmarks/multidevice_scaling.py --devices 1 2 4 8 --worlds 8192   # a GPU node (all its GPUs)

One process: on a CPU it forces ``max(--devices)`` host devices (``XLA_FLAGS=--xla_force_host_platform_device_count``,
set before JAX starts, unless XLA_FLAGS is set already), so the 1-device row (``ppo.devices=1``) is a baseline in the
same process. Forced CPU devices share the machine's cores: they show the cost of sharding (the all-reduce of the
gradients, the all-gather of the batch for the global minibatch shuffle), not a speed-up.

Full loop: ``Trainer.run`` (rollout + GAE + PPO update, one jitted program) with ``--updates`` updates, first called
once (compile), then timed over ``--repeats`` calls; the median call gives env-steps/s = updates × n_steps × worlds /
seconds. Environments: ``toy`` — :class:`~mmbio.train.toy_env.PointMassTrackingEnv` (2 axes, 4 muscles, pure JAX:
the compiler splits its worlds over the devices); ``bimanual`` — the bimanual arm on MuJoCo C host worlds
(``jax.pure_callback``: the physics of all worlds runs on the host, gathered from every device). Networks: the
default preset's 3×512 LayerNorm MLPs, 16-step rollouts, 4 minibatches (as ``train_throughput.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any


def _force_devices(n: int) -> None:
    if "XLA_FLAGS" not in os.environ and os.environ.get("JAX_PLATFORMS", "cpu") == "cpu":
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"


def make_env(name: str, worlds: int, cfg: Any) -> Any:
    if name == "toy":
        from mmbio.train.toy_env import PointMassTrackingEnv

        return PointMassTrackingEnv(n_envs=worlds)
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.references import default_motion

    return ImitationEnv(cfg.env, default_motion("bimanual"), n_envs=worlds, backend="mujoco")


def measure(env_name: str, worlds: int, devices: int, updates: int, repeats: int) -> dict[str, Any]:
    import jax

    from mmbio.train.config import get_config
    from mmbio.train.ppo import make_trainer

    ovr = [f"ppo.n_envs={worlds}", "ppo.n_steps=16", f"ppo.n_minibatches={max(1, min(4, worlds // 4))}",
           f"ppo.devices={devices}"]  # fmt: skip
    if env_name == "bimanual":
        ovr += ["env.model=bimanual", "env.touch_obs=false", "env.lookahead_steps=1"]
    cfg = get_config("default", ovr)
    env = make_env(env_name, worlds, cfg)
    trainer = make_trainer(cfg, env)
    rs = trainer.init(jax.random.key(0))
    t = time.perf_counter()
    rs, _ = trainer.run(rs, updates)  # compile + first call, the same update count as timed
    jax.block_until_ready(rs.params)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rs, m = trainer.run(rs, updates)
        jax.block_until_ready(rs.params)
        times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    return {
        "env": env_name, "worlds": worlds, "devices": len(trainer.devices), "obs": trainer.obs_size,
        "steps_per_s": updates * cfg.ppo.n_steps * worlds / sec, "call_s": sec, "first_call_s": first,
        "times_s": times, "platform": trainer.devices[0].platform, "device_kind": trainer.devices[0].device_kind,
        "return_last": float(jax.device_get(m["reward_mean"])[-1]),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envs", nargs="+", choices=("toy", "bimanual"), default=["toy"])
    ap.add_argument("--worlds", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--updates", type=int, default=4, help="updates per timed call")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls (the median is reported)")
    ap.add_argument("--json", help="also write the rows to this JSON file (rewritten after each row)")
    a = ap.parse_args()
    _force_devices(max(a.devices))
    import jax

    devs = jax.devices()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; jax {jax.__version__}; "
          f"{len(devs)} {devs[0].platform} devices ({devs[0].device_kind}); XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}")  # fmt: skip
    print(f"{'env':<9} {'worlds':>6} {'devices':>7} {'env-steps/s':>12} {'vs 1 device':>11} {'call s':>7} "
          f"{'first call s':>12}")  # fmt: skip
    rows: list[dict[str, Any]] = []
    for env_name in a.envs:
        for w in a.worlds:
            base = None
            for d in a.devices:
                if w % d:
                    print(f"{env_name:<9} {w:>6} {d:>7}   (worlds do not divide by the devices: skipped)")
                    continue
                r = measure(env_name, w, d, a.updates, a.repeats)
                base = r["steps_per_s"] if d == 1 else base
                r["ratio"] = r["steps_per_s"] / base if base else float("nan")
                rows.append(r)
                if a.json:
                    Path(a.json).write_text(json.dumps(rows, indent=1))
                print(f"{env_name:<9} {w:>6} {r['devices']:>7} {r['steps_per_s']:>12,.0f} {r['ratio']:>11.2f} "
                      f"{r['call_s']:>7.2f} {r['first_call_s']:>12.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
