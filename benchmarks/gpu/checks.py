"""The issue-6 GPU checks, in priority order, inside one time budget (run by ``device_run.sh`` on the lent machine;
on a CPU machine ``--cpu-rehearsal`` runs the same code at toy sizes to catch errors before device time is spent).

1. **Parity**: MuJoCo Warp on the GPU (CUDA graph mode) against MuJoCo C, same excitations, 10 control steps,
   bimanual arm and MyoFullBody: max |Δqpos|, |Δact|, |Δreward|, termination agreement.
2. **Throughput** (``benchmarks/train_throughput.py``'s ``measure``): MyoFullBody, default preset, 256 / 1,024 /
   4,096 / 8,192 worlds; bimanual 8,192; MyoFullBody with MuscleMimic's own PPO settings at 8,192 worlds (its
   reported ≈ 13,000 full-loop steps/s on an H100/H200 is the target).
3. **Training**: ``mmbio train --config default env.backend=warp`` with 4,096 worlds for as many updates as the
   remaining budget allows, to see the return rise on the GPU.
4. **Walk fine-tune** (issue 14 §3; ``--student PATH``, off otherwise): PPO on Warp from the distilled student
   (``checkpoints/build_policy.py --distil-only``), with the CPU fine-tune's settings (``FINETUNE`` of
   ``build_policy.py``) on 4,096 worlds, for as many updates as the remaining budget allows. The last checkpoint
   comes back in pieces (``walk.aa …``); ``python checkpoints/build_policy.py --finetuned latest.pkl`` walk-tests
   it on MuJoCo C here. Run it alone with ``--skip parity throughput training``.

Each item is skipped when the budget left is below its estimate, and an error in one item is recorded and the
next one runs. Everything goes to ``--out``: ``checks.json`` (rewritten after each item) and ``throughput.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from train_throughput import measure  # noqa: E402

from mmbio.train.config import EnvConfig, get_config  # noqa: E402
from mmbio.train.imitation_env import ImitationEnv  # noqa: E402
from mmbio.train.references import default_motion  # noqa: E402

T0 = time.perf_counter()


def elapsed() -> float:
    return time.perf_counter() - T0


def env_cfg(model: str) -> EnvConfig:
    """The test suite's environments: the bimanual preset's with 50-step episodes; MyoFullBody's defaults."""
    if model == "bimanual":
        return dataclasses.replace(get_config("bimanual").env, horizon=50, lookahead_stride=1)
    return EnvConfig(model="myofullbody", lookahead_steps=2, lookahead_stride=10)


def parity(model: str, n_worlds: int = 4, n_steps: int = 10) -> dict:
    """Warp (preferred device: CUDA on the GPU machine) against MuJoCo C from the same reference states."""
    cfg = env_cfg(model)
    motion = default_motion(model)
    env_c = ImitationEnv(cfg, motion, n_worlds, backend="mujoco")
    t = time.perf_counter()
    env_w = ImitationEnv(cfg, motion, n_worlds, backend="warp")
    state, _ = env_c.reset(jax.random.key(0))
    step_c, step_w = jax.jit(env_c.step), jax.jit(env_w.step)
    sc = sw = state
    rows = []
    for k in range(n_steps):
        u = 0.3 * jax.random.uniform(jax.random.key(10 + k), (n_worlds, env_c.action_size))
        sc, _, rc, dc, _, ic = step_c(sc, u)
        sw, _, rw, dw, _, iw = step_w(sw, u)
        if k == 0:
            first_step_s = time.perf_counter() - t
        rows.append(
            {
                "step": k + 1,
                "qpos": float(jnp.max(jnp.abs(sw.phys.qpos - sc.phys.qpos))),
                "act": float(jnp.max(jnp.abs(sw.phys.act - sc.phys.act))),
                "reward": float(jnp.max(jnp.abs(rw - rc))),
                "metabolic": float(jnp.max(jnp.abs(iw["metabolic_w_per_kg"] - ic["metabolic_w_per_kg"]))),
                "done_agree": bool(jnp.all(dw == dc)),
                "warp_ok": bool(jnp.all(sw.phys.ok)),
            }
        )
    return {
        "model": model,
        "worlds": n_worlds,
        "warp_device": _warp_device(),
        "first_step_s_with_compile": first_step_s,
        "steps": rows,
    }


def _warp_device() -> str:
    import warp as wp

    return str(wp.get_preferred_device())


def training(worlds: int, seconds: float, full_sps: float | None, max_updates: int = 200) -> dict:
    from mmbio.cli import main as cli

    n_steps = 20
    sps = full_sps or 5000.0
    updates = int(max(2, min(max_updates, seconds * 0.6 * sps / (worlds * n_steps))))
    run = Path("/tmp/mmbio_gpu_train_run")  # checkpoints stay off $OUT (a few files of ≤ 16 MB come back)
    mb = 32 if worlds >= 64 else 4
    args = ["train", "--config", "default", "env.backend=warp", f"ppo.n_envs={worlds}", f"ppo.n_minibatches={mb}",
            "log_every=1", "--updates", str(updates), "--output", str(run)]  # fmt: skip
    t = time.perf_counter()
    rc = cli(args)
    return {"args": args, "exit": rc, "wall_s": time.perf_counter() - t, "updates": updates}


#: where the walk fine-tune writes its checkpoints (device_run.sh sends its latest.pkl back in pieces)
WALK_RUN = Path("/tmp/mmbio_gpu_walk_run")


def walk_finetune(student: str, worlds: int, seconds: float, max_updates: int, n_steps: int = 32) -> dict:
    """PPO from the distilled ``student`` on Warp: ``build_policy.py``'s fine-tune settings with ``worlds`` worlds of
    ``n_steps``-step rollouts, for ``max_updates`` updates or until ``seconds`` have passed (then the run is
    interrupted as by Ctrl-C: the last completed update is saved), whichever comes first."""
    import os
    import signal
    import threading

    from mmbio.cli import main as cli

    sys.path.insert(0, str(HERE.parents[1] / "checkpoints"))
    from build_policy import FINETUNE  # one source for the fine-tune settings, CPU or GPU

    mb = 32 if worlds >= 1024 else 4
    gpu = [f"ppo.n_envs={worlds}", f"ppo.n_steps={n_steps}", f"ppo.n_minibatches={mb}", "env.backend=warp",
           "ppo.anchor_updates=20", "log_every=1", "checkpoint_every=5"]  # fmt: skip
    args = ["train", "--config", "distill_walk", *FINETUNE, *gpu, f"ppo.init_from={student}",
            "--updates", str(max_updates), "--output", str(WALK_RUN), "--overwrite"]  # fmt: skip
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    t = time.perf_counter()
    timer.start()
    try:
        rc = cli(args)
    finally:
        timer.cancel()
    return {"args": args, "exit": rc, "wall_s": time.perf_counter() - t, "max_updates": max_updates,
            "stopped_by_time": time.perf_counter() - t >= seconds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=540.0)
    ap.add_argument("--cpu-rehearsal", action="store_true", help="toy sizes on a CPU machine (no timings to keep)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["parity", "throughput", "training"])
    ap.add_argument("--student", help="the distilled student for the walk fine-tune (issue 14 §3); none: no fine-tune")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = jax.devices()[0]
    res: dict = {
        "machine": f"{platform.node()} {platform.machine()}",
        "jax": f"{jax.__version__} {dev.platform} {dev.device_kind}",
        "items": [],
    }

    def save() -> None:
        (out / "checks.json").write_text(json.dumps(res, indent=1))

    def item(name: str, estimate_s: float, fn, *args) -> dict | None:  # type: ignore[no-untyped-def]
        left = a.budget_s - elapsed()
        if left < estimate_s:
            res["items"].append({"item": name, "skipped": f"{left:.0f} s left, estimate {estimate_s:.0f} s"})
            print(f"[{elapsed():6.0f} s] skip {name}: {left:.0f} s left", flush=True)
            save()
            return None
        print(f"[{elapsed():6.0f} s] {name} ...", flush=True)
        t = time.perf_counter()
        try:
            r = fn(*args)
            entry = {"item": name, "wall_s": time.perf_counter() - t, "result": r}
        except Exception as exc:  # recorded, the next item runs
            entry = {"item": name, "wall_s": time.perf_counter() - t, "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()[-3000:]}  # fmt: skip
        res["items"].append(entry)
        save()
        print(f"[{elapsed():6.0f} s] {name}: {json.dumps(entry.get('result', entry.get('error')))[:600]}", flush=True)
        return entry

    print(f"{res['machine']}; jax {res['jax']}", flush=True)
    rehearse = a.cpu_rehearsal
    if "parity" not in a.skip:
        item("parity bimanual", 60, parity, "bimanual", 2 if rehearse else 4, 3 if rehearse else 10)
        item("parity myofullbody", 90, parity, "myofullbody", 2 if rehearse else 4, 3 if rehearse else 10)
    table = []
    if "throughput" not in a.skip:
        plan = (
            [("myofullbody", 4, "default"), ("bimanual", 4, "default")]
            if rehearse
            else [("myofullbody", w, "default") for w in (256, 1024, 4096, 8192)]
            + [("bimanual", 8192, "default"), ("myofullbody", 8192, "musclemimic")]
        )
        for model, worlds, preset in plan:
            e = item(f"throughput {model} {worlds} {preset}", 45, measure, model, "warp", worlds, 1 if rehearse else 3,
                     preset)  # fmt: skip
            if e and "result" in e:
                table.append(e["result"])
                _write_table(out / "throughput.md", table, res)
            gc.collect()  # free the last environment's Warp worlds and compiled programs before the next size
            jax.clear_caches()
    if "training" not in a.skip:
        full = next((r["full"] for r in table if r["model"] == "myofullbody" and r["worlds"] == 4096), None)
        left = a.budget_s - elapsed()
        worlds = 4 if rehearse else 4096
        item("training myofullbody", 90, training, worlds, max(30.0, left - 40), full, 2 if rehearse else 200)
    if a.student:
        left = a.budget_s - elapsed()
        worlds = 4 if rehearse else 4096
        item("walk fine-tune myofullbody", 120, walk_finetune, a.student, worlds, max(60.0, left - 40),
             2 if rehearse else 1000, 8 if rehearse else 32)  # fmt: skip
    print(f"[{elapsed():6.0f} s] done", flush=True)


def _write_table(path: Path, rows: list[dict], res: dict) -> None:
    lines = [
        f"{res['machine']}; jax {res['jax']}",
        "",
        "| model | preset | worlds | obs | raw physics steps/s | full loop steps/s | raw/full | non-finite |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['preset']} | {r['worlds']:,} | {r['obs']:.0f} | {r['raw']:,.0f} | {r['full']:,.0f} "
            f"| {r['raw'] / r['full']:.2f} | {r['nonfinite']:.0f} |"
        )
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
