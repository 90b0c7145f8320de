"""Issue 14 §1: a student that outputs reserve torques as well as excitations (residual force control in the spirit of
Yuan & Kitani 2020: the help is part of the action, counted, to be penalised and removed later), distilled from the
root-free two-QP teacher (``checkpoints/tracking_walk_rootfree.pkl``, reserve weight 100) that walks 12 s with its
reserves and falls in 0.9 s without them.

The student is the distillation's network (``distill_walk`` preset: 3×256, 500 Hz, 2 worlds, planned-activation
labels) with one extra output per independent non-root joint dof (31 on MyoFullBody without fingers): a reserve
torque ``gear · clip(y, −1, 1)``, the gear per dof set from the first (teacher-driven) iteration as twice the 95th
percentile of the teacher's |reserve| there, within [1, ``--gear-max``] N·m. When the teacher drives, its reserves
act clipped to the gear. Behaviour cloning, then DAgger (β = 0.5^i); after each iteration the student's mean action
runs alone from the reference start (its own reserves applied, 10 s asked): seconds up, speed, its largest reserve
RMS and peak, and the fit's RMSE on the newest 2,000 samples (activations; reserves in gear units).

Usage: ``python benchmarks/reserve_student.py [--iterations 6] [--steps 4000] [--gear-max 100]`` (≈ 12 min on the
2-core VM). Results: benchmarks/RESULTS.md, "Muscles only: what stops the teacher (third pass)".
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mmbio.train.config import get_config
from mmbio.train.distill import _fit, _norm_of, _student_fns
from mmbio.train.host_worlds import HostWorlds, start_state
from mmbio.train.imitation_env import ImitationEnv
from mmbio.train.ppo import make_trainer
from mmbio.train.teacher import Teacher, load_teacher_checkpoint

TEACHER = "checkpoints/tracking_walk_rootfree.pkl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--steps", type=int, default=4000, help="labelled control steps per iteration")
    ap.add_argument("--gear-max", type=float, default=100.0, help="largest reserve gear (N·m)")
    args = ap.parse_args()
    cfg = get_config("distill_walk", [f"distill.teacher={TEACHER}"])
    ck = load_teacher_checkpoint(TEACHER)
    ck.controller["settings"]["reserve_weight"] = 100.0
    env = ImitationEnv(cfg.env, ck.motion(), n_envs=2)
    hz, nu, nv = env.cfg.control_hz, env.mj_model.nu, env.mj_model.nv
    horizon_s = env.n_frames / hz + cfg.distill.episode_s + 1.0
    teachers = [Teacher(ck, env.mj_model, env.n_sub, horizon_s) for _ in range(2)]
    rdofs = np.asarray(teachers[0].ctl.so.indep_dofs[6:])
    print(f"{nu} muscles + {len(rdofs)} reserve outputs; random starts {env.cfg.random_start}", flush=True)
    env.action_size = nu + len(rdofs)  # the student's outputs: excitations, then reserves in gear units
    state = make_trainer(cfg, env, devices=1).init(jax.random.key(0))
    params, norm = state.params, None
    mean_fn, loss_fn = _student_fns(cfg)
    worlds, tester = HostWorlds(env, 2), HostWorlds(env, 1)
    rng = np.random.default_rng(0)
    hi = env.period if env.loop else env.n_frames - 1
    gear: np.ndarray | None = None
    data_o, data_a, data_r = [], [], []

    def collect(beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        obs_l, act_l, res_l = [], [], []
        ep_len = np.zeros(2, int)
        falls = eps = 0

        def start(i: int) -> None:
            f = int(rng.integers(0, hi)) if env.cfg.random_start else 0
            q, v = start_state(env, f, 0.0, rng)
            worlds.reset(i, f, q, v, teachers[i].start_activation(f / hz, q, v))
            ep_len[i] = 0

        for i in range(2):
            start(i)
        steps = 0
        lim = gear if gear is not None else args.gear_max
        while steps < args.steps:
            obs, done, _ = worlds.observe()
            st = np.asarray(mean_fn(params, norm, jnp.asarray(obs))) if beta < 1 and norm is not None else None
            for i in range(2):
                if (ep_len[i] > 0 and done[i]) or ep_len[i] >= cfg.distill.episode_s * hz:
                    falls += int(done[i])
                    eps += 1
                    start(i)
                    continue
                d = worlds.datas[i]
                ctrl, qfrc, info = teachers[i].label(worlds.frame[i] / hz, d.qpos, d.qvel, d.act)
                obs_l.append(obs[i].astype(np.float32))
                act_l.append(info["activation_target"].astype(np.float32))
                res_l.append(qfrc[rdofs].astype(np.float32))
                q = np.zeros(nv)
                if st is not None and rng.random() >= beta:
                    exc = np.clip(st[i, :nu], 0, 1)
                    q[rdofs] = gear * np.clip(st[i, nu:], -1, 1)
                else:
                    exc = ctrl
                    q[rdofs] = np.clip(qfrc[rdofs], -lim, lim)
                worlds.step(i, exc, q)
                ep_len[i] += 1
                steps += 1
        return np.stack(obs_l), np.stack(act_l), np.stack(res_l), falls, eps

    def test(seconds: float = 10.0) -> tuple[float, float, float, float]:
        q, v = start_state(env, 0, 0.0, np.random.default_rng(0))
        applied: list[np.ndarray] = []

        def act(obs: np.ndarray, _d: object, _t: float) -> tuple[np.ndarray, np.ndarray]:
            y = np.asarray(mean_fn(params, norm, jnp.asarray(obs)))[0]
            f = np.zeros(nv)
            f[rdofs] = gear * np.clip(y[nu:], -1, 1)
            applied.append(f[rdofs].copy())
            return y[:nu], f

        run = tester.run_alone(0, q, v, np.zeros(env.mj_model.na), seconds, act)
        r = np.asarray(applied)
        speed = float(np.linalg.norm(run.travel) / max(run.up_s, 1e-9))
        return run.up_s, speed, float(np.sqrt(np.mean(r**2, 0)).max()), float(np.abs(r).max())

    print("| iteration | β | samples | episodes fallen | fit RMSE activations / reserves (gear units) | student up s "
          "(of 10) | speed m/s | its largest reserve RMS (peak) N·m | collect s |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for it in range(args.iterations):
        beta = 0.5**it
        t0 = time.perf_counter()
        o, a, r, falls, eps = collect(beta)
        if gear is None:
            gear = np.clip(2 * np.percentile(np.abs(r), 95, axis=0), 1.0, args.gear_max)
            print(f"gears (N·m): median {np.median(gear):.0f}, {int(np.sum(gear >= args.gear_max))} at the maximum")
        t_collect = time.perf_counter() - t0
        data_o.append(o)
        data_a.append(a)
        data_r.append(r)
        obs_all = np.concatenate(data_o)
        lab = np.concatenate([np.concatenate(data_a), np.clip(np.concatenate(data_r) / gear, -1, 1)], 1)
        norm = _norm_of(obs_all)
        params, _ = _fit(params, norm, obs_all, lab, cfg, seed=it, loss_fn=loss_fn)
        pred = np.asarray(mean_fn(params, norm, jnp.asarray(obs_all[-2000:])))
        e_a = np.sqrt(np.mean((pred[:, :nu] - lab[-2000:, :nu]) ** 2))
        e_r = np.sqrt(np.mean((pred[:, nu:] - lab[-2000:, nu:]) ** 2))
        up, speed, rrms, rpk = test()
        print(f"| {it} | {beta:.3f} | {len(obs_all):,} | {falls}/{eps} | {e_a:.3f} / {e_r:.3f} | {up:.2f} | "
              f"{speed:.2f} | {rrms:.0f} ({rpk:.0f}) | {t_collect:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
