"""Issue 14 §7: the distillation's labelling rate with the teachers in one process and in parallel workers.

The same collection (the ``distill_walk`` preset's environment: MuJoCo C, 2 ms physics, 500 Hz control; the
muscles-only teacher ``checkpoints/tracking_walk_muscles.pkl``; ``n`` worlds, the teacher driving, from the
reference start and from random phases) is run with ``distill.workers`` = 1 (the baseline, in the same process)
and with more workers. Per row: labels per wall second over the collection (``label_s``: the wall time of the
batched label calls), the wall time of the whole collection, and the ratio to the one-process row. The samples are
the same in every row to floating-point rounding (the largest difference is shown).

Run from the repository root: ``python benchmarks/teacher_pool.py [--worlds 2] [--steps 200] [--workers 1,2]``
(≈ 3 min on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200, help="labels per row (all worlds together)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--teacher", default=str(REPO / "checkpoints" / "tracking_walk_muscles.pkl"))
    a = ap.parse_args()

    from mmbio.train.config import get_config
    from mmbio.train.distill import _collect, _student_fns
    from mmbio.train.host_worlds import HostWorlds
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.teacher import load_teacher_checkpoint
    from mmbio.train.teacher_pool import TeacherPool

    cfg = get_config("distill_walk", [f"distill.teacher={a.teacher}", f"ppo.n_envs={a.worlds}",
                                      f"distill.steps_per_iter={a.steps}", "distill.teacher_follows_assist=false"])  # fmt: skip
    ckpt = load_teacher_checkpoint(a.teacher)
    envs = {start: ImitationEnv(dataclasses.replace(cfg.env, random_start=start), ckpt.motion(), n_envs=a.worlds)
            for start in (False, True)}  # fmt: skip
    env = envs[False]
    mean_fn = _student_fns(cfg)[0]
    horizon = env.n_frames / env.cfg.control_hz + cfg.distill.episode_s + 1.0
    print(f"{platform.node()}: {os.cpu_count()} cores; teacher {Path(a.teacher).name}; {a.worlds} worlds at "
          f"{env.cfg.control_hz} Hz; {a.steps} labels per row")  # fmt: skip
    rows: list[tuple] = []
    first: dict[bool, tuple[np.ndarray, np.ndarray]] = {}  # the first row's samples per start kind
    for w in (int(x) for x in a.workers.split(",")):
        for start in (False, True):
            env = envs[start]
            t0 = time.perf_counter()
            with TeacherPool(ckpt, env.mj_model, env.n_sub, horizon, a.worlds, workers=w) as pool:
                t_build = time.perf_counter() - t0
                t1 = time.perf_counter()
                o, y, _side, c = _collect(env, HostWorlds(env, a.worlds), pool, None, None, cfg, beta=1.0, alpha=0.0,
                                   seed=7, mean_fn=mean_fn)  # fmt: skip
                wall = time.perf_counter() - t1
            same = ""
            if start not in first:
                first[start] = (o, y)
            else:
                o0, y0 = first[start]
                diff = (
                    max(float(np.max(np.abs(o0 - o))), float(np.max(np.abs(y0 - y)))) if o.shape == o0.shape else np.inf
                )
                same = "same" if diff == 0 else f"max |Δ| {diff:.1e}"
            rows.append((w, "random phases" if start else "reference start", c["labels_per_s"], wall, t_build, same))
    base = {r[1]: r[2] for r in rows if r[0] == rows[0][0]}
    print("| workers | starts | labels/s | collection wall (s) | teacher build (s) | ratio | samples |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for w, s, rate, wall, tb, same in rows:
        print(f"| {w} | {s} | {rate:.1f} | {wall:.0f} | {tb:.0f} | {rate / base[s]:.2f} | {same or 'baseline'} |")


if __name__ == "__main__":
    main()
