"""Issue 14 §1: the distillation teacher on the road to muscles only.

The demo's tracking controller (``checkpoints/tracking_walk.pkl``, the measured Rajagopal stride) walks 3 s of
MyoFullBody at several timings and weights; per row: whether it fell, the help it used (root residual force
RMS in body weights and moment RMS, the largest reserve RMS), the joint-tracking RMSE, how bang-bang its
excitations are (fraction of samples at 0 or 1: what a student must regress), and the teacher's labelling
rate (QP pairs per wall second, each row's own, with the raw ``mj_step`` rate measured in the same process as
the baseline). Rows:

* ``1 ms, every step``: the demo as built (its native timestep);
* ``2 ms, every step``: the environment's physics step with the teacher acting each step (a 500 Hz student);
* ``2 ms, hold 10 ms``: the environment's 100 Hz control rate (excitations held for 5 physics steps);
* ``... residual ×100``: the root residual weighted 100× (``w_residual`` 1, ``w_residual_moment`` 3);
* ``... reserve ×10``: reserves 10× costlier than Σa².

Part 2 (what a student copying it can expect): the teacher drives the imitation environment's own worlds (MuJoCo
C, the ``distill_walk`` preset's model and timing, reference start) with only a fraction ``α`` of its root residual
and reserves applied, at 500 Hz and at 100 Hz control: seconds it stays up (of 10; the environment's termination
rules). At ``α = 0`` it acts as a student that copied it perfectly would.

Run from the repository root: ``python benchmarks/teacher_road.py [--seconds 3]`` (≈ 5 min on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np

from mmbio.control.checkpoint import load_checkpoint
from mmbio.control.tracking import track
from mmbio.control.tracking_settings import TrackingSettings

REPO = Path(__file__).resolve().parents[1]

ROWS: list[tuple[str, float, int, dict[str, float]]] = [
    ("1 ms, every step (demo)", 0.001, 1, {}),
    ("2 ms, every step (500 Hz)", 0.002, 1, {}),
    ("2 ms, hold 10 ms (100 Hz)", 0.002, 5, {}),
    ("2 ms, every step, residual ×100", 0.002, 1, {"w_residual": 1.0, "w_residual_moment": 3.0}),
    ("2 ms, every step, reserve ×10", 0.002, 1, {"reserve_weight": 10.0}),
]


def raw_rate(m: mujoco.MjModel, q0: np.ndarray, n: int = 2000) -> float:
    d = mujoco.MjData(m)
    d.qpos[:] = q0
    t0 = time.perf_counter()
    mujoco.mj_step(m, d, nstep=n)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    ck = load_checkpoint(REPO / "checkpoints" / "tracking_walk.pkl")
    motion = ck.motion()
    base = TrackingSettings.from_dict(ck.controller["settings"])
    print(f"teacher: {ck.metadata.get('description', '')}\n{args.seconds:g} s asked per row\n")
    head = (f"{'row':<34} {'fell at':>8} {'resid F':>8} {'resid M':>8} {'top reserve RMS':>26} {'RMSE':>6} "
            f"{'0/1 exc':>8} {'QP/s':>6} {'raw/s':>7} {'ratio':>6}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for name, dt, sub, extra in ROWS:
        m = copy.deepcopy(motion.mj_model())
        m.opt.timestep = dt
        raw = raw_rate(m, motion.qpos[0])
        s = replace(base, substeps=sub, **extra)
        t0 = time.perf_counter()
        roll, res = track(motion, duration_s=args.seconds, settings=s, model=m)
        wall = time.perf_counter() - t0
        qps = len(res.time) / wall
        top = max(res.reserve_rms_nm.items(), key=lambda kv: kv[1])
        rmse = float(np.sqrt(np.mean(np.square(list(res.tracking_rmse_deg.values())))))
        mus = roll.ctrl[:, m.actuator_gaintype == mujoco.mjtGain.mjGAIN_MUSCLE]
        bang = float(np.mean((mus < 1e-3) | (mus > 1 - 1e-3)))
        fell = f"{res.fell_at_s:.2f} s" if res.fell else "—"
        print(f"{name:<34} {fell:>8} {res.residual_force_rms_bw:>6.3f}BW {res.residual_moment_rms_nm:>6.1f}Nm "
              f"{top[0] + f' {top[1]:.0f} N·m':>26} {rmse:>5.1f}° {bang:>8.2f} {qps:>6.0f} {raw:>7.0f} "
              f"{raw / qps:>6.1f}")  # fmt: skip
    teacher_alone()


def teacher_alone(alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)) -> None:
    from mmbio.train.config import get_config
    from mmbio.train.host_worlds import HostWorlds, start_state
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.teacher import Teacher, load_teacher_checkpoint

    ck = load_teacher_checkpoint(REPO / "checkpoints" / "tracking_walk.pkl")
    print("\nthe teacher's excitations with a fraction α of its residual and reserves (up to 10 s)")
    print(f"{'control':>8} " + " ".join(f"{'α=' + format(a, 'g'):>8}" for a in alphas))
    for hz, stride in ((500, 100), (100, 20)):
        cfg = get_config("distill_walk", [f"env.control_hz={hz}", f"env.lookahead_stride={stride}"])
        env = ImitationEnv(cfg.env, ck.motion(), n_envs=1)
        worlds = HostWorlds(env, 1)
        q, v = start_state(env, 0, 0.0, np.random.default_rng(0))
        row = []
        for alpha in alphas:
            teacher = Teacher(ck, env.mj_model, env.n_sub, 12.0)

            def act(_obs: np.ndarray, d: mujoco.MjData, t: float, teacher: Teacher = teacher,
                    alpha: float = alpha) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
                ctrl, qfrc, _ = teacher.label(t, d.qpos, d.qvel, d.act)
                return ctrl, alpha * qfrc

            row.append(worlds.run_alone(0, q, v, teacher.start_activation(0.0, q, v), 10.0, act).up_s)
        print(f"{hz:>6} Hz " + " ".join(f"{u:>7.2f}s" for u in row))


if __name__ == "__main__":
    main()
