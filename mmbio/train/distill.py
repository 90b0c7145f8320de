"""Distil a teacher controller into mmbio's policy: behaviour cloning, then DAgger, with an assistance curriculum.

The student is the PPO trainer's own network (:mod:`mmbio.train.networks`: LayerNorm MLP mean, state-independent
log-std, observation normaliser) seeing the imitation environment's observation (:meth:`ImitationEnv.observe`,
same layout), so its checkpoints are ordinary training checkpoints: ``mmbio validate`` rolls them out and PPO
continues from them (``ppo.init_from``). The teacher is the contact-consistent muscle tracking controller
(:class:`~mmbio.train.teacher.Teacher`), acting at the environment's control rate.

Per iteration ``i`` (config :class:`~mmbio.train.config.DistillConfig`):

1. **Collect** ``steps_per_iter`` control steps over ``ppo.n_envs`` worlds, simulated with MuJoCo C on the
   environment's model and timing. Each step the teacher labels the state (its excitations); the executed
   excitation is the teacher's with probability ``β_i`` (iteration 0: ``β = 1``, behaviour cloning) and the
   student's mean otherwise (DAgger: the student drives, the teacher labels where it goes). The teacher's root
   residual and reserve torques act scaled by the assistance ``α_i`` (annealed to ``assist_end``); with
   ``teacher_follows_assist`` the teacher also plans for the help it will get: its residual and reserves cost
   ``1 / max(α_i, min_help)²`` times more. An episode
   starts at a reference frame (random with ``env.random_start``) with optional joint noise and the teacher's
   activations for that state, and ends when the environment's termination rules fire (a fall), after
   ``episode_s``, or when the physics fails (its last sample is dropped). An episode driven by the teacher
   alone that falls is dropped whole and counted (``teacher_falls``). Each control step the worlds' labels are
   asked at once, one teacher per world in ``workers`` processes (:class:`~mmbio.train.teacher_pool.TeacherPool`);
   each teacher gets the same calls in the same order whatever ``workers`` is, so the samples agree to
   floating-point rounding (one process or several lay memory out differently; the walk amplifies the rounding
   within an episode, measured ≤ 0.01 over 25 steps). With ``action_noise`` the teacher's executed action carries
   Gaussian noise (DART, Laskey et al. 2017), its label none; not where the label is at the lower end of what the
   action can do (:func:`label_sides`), where a student fitted one-sidedly does not err.
2. **Aggregate** with every earlier iteration's data (the newest ``max_samples`` kept).
3. **Fit** the actor's mean to the labels (mean squared error in action units, one-sided at the ends of what the
   action can do: :func:`label_sides`; the observation statistics are those of the aggregated data, frozen for the
   fit), warm-started from the previous iteration. The label is the teacher's excitation (``label='excitation'``)
   or the activation it plans one control step ahead (``label='activation'``). At 2 ms the excitations are nearly
   bang-bang (0 or 1 for ≈ 80 % of the samples: one step of activation dynamics needs extreme excitations to move),
   the planned activations smooth. Sent as excitations, planned activations are followed with the muscles'
   activation lag, and even a perfect copy falls (measured: 0.6 s where the teacher walks). With
   ``env.action='activation'`` the action *is* a wanted activation: the environment sends the teacher's own
   excitation for it, the teacher drives with its plan, and a perfect copy is the teacher.
4. **Test** the student's mean action from the reference start with no assistance for ``eval_s``: the seconds
   it stays up (the environment's termination rules), its mean body-site distance from the reference.

Files in the run folder: ``data_XXXXXX.npz`` (each iteration's samples: ``obs`` float32 ``(n, obs_size)``,
``label`` float32 ``(n, nu)``, ``side`` int8 ``(n, nu)``: :func:`label_sides`), ``checkpoint_XXXXXX.pkl`` (a
training checkpoint after iteration ``XXXXXX``, its metadata ``distill`` holding the iteration, the counters and
the history) and ``latest.pkl``. ``resume`` continues after the last checkpointed iteration with the same data;
nothing collected before it is lost, and the iteration's random streams depend only on (seed, iteration).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mmbio.errors import Interrupted, MmbioError, printable
from mmbio.io.atomic import FolderLock, atomic_path, remove_stale_temps
from mmbio.sim.activation_dynamics import activation_bounds
from mmbio.train.config import TrainConfig
from mmbio.train.driver import check_run_dir, remove_if_empty, save_training_checkpoint
from mmbio.train.host_worlds import HostWorlds, start_state
from mmbio.train.imitation_env import ImitationEnv
from mmbio.train.networks import actor_mean
from mmbio.train.ppo import ObsNormaliser, make_trainer, normalise
from mmbio.train.teacher_pool import TeacherPool
from mmbio.train.vecenv import plain_obs_layout

__all__ = ["DistillResult", "StudentTest", "distill", "test_student"]

Log = Callable[[str], None]
Progress = Callable[[int, int, dict[str, float]], None]


@dataclasses.dataclass
class StudentTest:
    """A mean-action rollout of the student: seconds up (of ``asked_s``), whether it fell, mean site distance (m)
    while up, and that distance per control step ``(n,)`` (m)."""

    up_s: float
    asked_s: float
    fell: bool
    site_dist_m: float
    site_dist_trace: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))


@dataclasses.dataclass
class DistillResult:
    """What :func:`distill` did: per-iteration ``history`` rows, the last checkpoint, totals."""

    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    checkpoints: list[Path] = dataclasses.field(default_factory=list)
    wall_s: float = 0.0


# --------------------------------------------------------------------------------------------------
# the student
# --------------------------------------------------------------------------------------------------


def _student_fns(cfg: TrainConfig) -> tuple[Callable, Callable]:
    ppo = cfg.ppo

    def mean(params: Any, norm: ObsNormaliser, obs: jax.Array) -> jax.Array:
        x = normalise(norm, obs, ppo.obs_clip) if ppo.normalise_obs else obs
        return actor_mean(params, x, ppo)

    def loss(actor: Any, params: Any, norm: ObsNormaliser, obs: jax.Array, label: jax.Array) -> jax.Array:
        """Mean squared error against ``label`` ``(n, 2 nu)``: the labels, then their sides (:func:`label_sides`):
        at an end of what the action can do, only errors that ask for less than that end count."""
        nu = label.shape[-1] // 2
        e = mean({**params, "actor": actor}, norm, obs) - label[:, :nu]
        side = label[:, nu:]
        e = jnp.where(side < 0, jnp.maximum(e, 0.0), jnp.where(side > 0, jnp.minimum(e, 0.0), e))
        return jnp.mean(jnp.square(e))

    return jax.jit(mean), loss


def label_sides(env: ImitationEnv, label: np.ndarray, act: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Where a label ``(nu,)`` lies at an end of what the environment's action can do from activations ``act``
    ``(na,)``: ``-1`` (int8) where any smaller action sends the same excitation (an excitation label at 0; with
    ``env.action = 'activation'``, an activation at or below the lowest one reachable this control step, i.e. the
    muscle switched off), ``+1`` at the upper end, ``0`` inside. A student is not asked to match a label beyond such
    an end, only not to fall short of it: measured, errors above the lower end on the ≈ 2/3 of the muscles a walking
    teacher switches off accumulate (deactivation is ≈ 4× slower than activation) into co-contraction that topples
    it (``benchmarks/RESULTS.md``, issue 14, thirteenth pass)."""
    lo, hi = np.zeros_like(label), np.ones_like(label)
    md = env.muscle_dynamics
    if md is not None:
        lo[md.muscles], hi[md.muscles] = activation_bounds(np.asarray(act, float)[md.act_adr], md.tau_act,
                                                           md.tau_deact, md.h)  # fmt: skip
    return np.where(label <= lo + tol, -1, np.where(label >= hi - tol, 1, 0)).astype(np.int8)


def _fit(params: Any, norm: ObsNormaliser, obs: np.ndarray, label: np.ndarray, cfg: TrainConfig, seed: int,
         loss_fn: Callable) -> tuple[Any, float]:  # fmt: skip
    """Adam on the actor's mean over the data (``epochs`` passes); returns (params, final mean squared error)."""
    dc = cfg.distill
    tx = optax.chain(optax.clip_by_global_norm(cfg.ppo.max_grad_norm), optax.adam(dc.lr))
    actor = params["actor"]
    opt = tx.init(actor)

    @jax.jit
    def sgd(actor: Any, opt: Any, o: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
        val, g = jax.value_and_grad(loss_fn)(actor, params, norm, o, y)
        upd, opt = tx.update(g, opt, actor)
        return optax.apply_updates(actor, upd), opt, val

    n = len(obs)
    mb = min(dc.minibatch, n)
    rng = np.random.default_rng(seed)
    o_all, y_all = jnp.asarray(obs), jnp.asarray(label)
    last = []
    for ep in range(dc.epochs):
        perm = rng.permutation(n)
        for k in range(n // mb):
            idx = jnp.asarray(perm[k * mb : (k + 1) * mb])
            actor, opt, val = sgd(actor, opt, o_all[idx], y_all[idx])
            if ep == dc.epochs - 1:
                last.append(float(val))
    return {**params, "actor": actor}, float(np.mean(last)) if last else float("nan")


def _norm_of(obs: np.ndarray) -> ObsNormaliser:
    x = obs.astype(np.float64)
    return ObsNormaliser(jnp.asarray(x.mean(0), jnp.float32), jnp.asarray(x.var(0), jnp.float32),
                         jnp.asarray(float(len(x)), jnp.float32))  # fmt: skip


def test_student(env: ImitationEnv, params: Any, norm: ObsNormaliser, cfg: TrainConfig, duration_s: float,
                 *, frame: int = 0, mean_fn: Callable | None = None, worlds: HostWorlds | None = None) -> StudentTest:  # fmt: skip
    """Roll the student's mean action out on MuJoCo C from reference frame ``frame`` with no assistance
    (``worlds``: a one-world :class:`HostWorlds` to reuse; its jitted observation compiles once)."""
    mean_fn = mean_fn or _student_fns(cfg)[0]
    w = worlds or HostWorlds(env, 1)
    q, v = start_state(env, frame, 0.0, np.random.default_rng(0))
    run = w.run_alone(frame, q, v, np.zeros(env.mj_model.na), duration_s,
                      lambda obs, _d, _t: (np.asarray(mean_fn(params, norm, jnp.asarray(obs)))[0], None))  # fmt: skip
    return StudentTest(run.up_s, duration_s, run.fell, float(np.mean(run.site_dist)), run.site_dist)


# --------------------------------------------------------------------------------------------------
# collection
# --------------------------------------------------------------------------------------------------


def _collect(env: ImitationEnv, worlds: HostWorlds, teachers: TeacherPool, params: Any, norm: ObsNormaliser | None,
             cfg: TrainConfig, beta: float, alpha: float, seed: int, mean_fn: Callable,
             stop: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:  # fmt: skip
    """One iteration's samples: obs ``(n, obs_size)``, label ``(n, nu)``, the labels' sides ``(n, nu)`` int8
    (:func:`label_sides`), and counters (see the module docs)."""
    dc, hz = cfg.distill, env.cfg.control_hz
    wanted_act = env.cfg.action == "activation"  # the teacher acts with its planned activations (same excitation)
    rng = np.random.default_rng(seed)
    n = worlds.n
    max_len = max(round(dc.episode_s * hz), 1)
    hi = env.period if env.loop else env.n_frames - 1
    ep_obs: list[list[np.ndarray]] = [[] for _ in range(n)]
    ep_lab: list[list[np.ndarray]] = [[] for _ in range(n)]
    ep_side: list[list[np.ndarray]] = [[] for _ in range(n)]
    ep_student = np.zeros(n, bool)  # the student took at least one action this episode
    ep_len = np.zeros(n, np.int64)
    keep_obs: list[np.ndarray] = []
    keep_lab: list[np.ndarray] = []
    keep_side: list[np.ndarray] = []
    c = {"episodes": 0, "falls": 0, "teacher_falls": 0, "dropped": 0, "student_actions": 0, "steps": 0,
         "label_s": 0.0, "ep_len_sum": 0.0}  # fmt: skip

    def start(worlds_: list[int]) -> None:
        """New episodes in these worlds (their start frames and noise drawn in world order)."""
        asks, frames = [], {}
        for i in worlds_:
            f = int(rng.integers(0, hi)) if env.cfg.random_start else 0
            q, v = start_state(env, f, dc.start_noise_rad, rng)
            asks.append((i, f / hz, q, v))
            frames[i] = f
        acts = teachers.start_activation(asks)
        for i, _t, q, v in asks:
            worlds.reset(i, frames[i], q, v, acts[i])
            ep_obs[i], ep_lab[i], ep_side[i], ep_student[i], ep_len[i] = [], [], [], False, 0

    def finish(i: int, fell: bool) -> None:
        c["episodes"] += 1
        c["ep_len_sum"] += ep_len[i] / hz
        c["falls"] += int(fell)
        if fell and not ep_student[i]:
            c["teacher_falls"] += 1
            c["dropped"] += len(ep_obs[i])
        else:
            keep_obs.extend(ep_obs[i])
            keep_lab.extend(ep_lab[i])
            keep_side.extend(ep_side[i])

    start(list(range(n)))
    while c["steps"] < dc.steps_per_iter:
        obs, done, _ = worlds.observe()
        student = None
        if beta < 1.0 and params is not None:
            student = np.asarray(mean_fn(params, norm, jnp.asarray(obs)))
        ended = []  # worlds whose episode ends here: they restart and act from the next round
        for i in range(n):
            if ep_len[i] > 0 and (bool(done[i]) or not np.all(np.isfinite(obs[i]))):
                finish(i, True)
                ended.append(i)
            elif ep_len[i] >= max_len:
                finish(i, False)
                ended.append(i)
        if ended:
            start(ended)
        active = [i for i in range(n) if i not in ended]
        t0 = time.perf_counter()
        labels = teachers.label([(i, worlds.frame[i] / hz, worlds.datas[i].qpos, worlds.datas[i].qvel,
                                  worlds.datas[i].act) for i in active])  # fmt: skip
        c["label_s"] += time.perf_counter() - t0
        for i in active:
            ctrl, qfrc, target = labels[i]
            if not (np.all(np.isfinite(obs[i])) and np.all(np.isfinite(ctrl))):
                finish(i, True)
                start([i])
                continue
            ep_obs[i].append(obs[i].astype(np.float32))
            lab = target if dc.label == "activation" else ctrl
            side = label_sides(env, lab, worlds.datas[i].act)
            ep_lab[i].append(lab.astype(np.float32))
            ep_side[i].append(side)
            use_student = student is not None and rng.random() >= beta
            if use_student:
                act = np.clip(student[i], 0.0, 1.0)
            else:
                act = target if wanted_act else ctrl
                if dc.action_noise > 0:  # DART: the teacher's executed action is perturbed (not below a lower
                    # end: a student that learnt the sides does not err there), its label is not
                    noise = rng.normal(0.0, dc.action_noise, act.shape)
                    act = np.clip(act + np.where(side < 0, 0.0, noise), 0.0, 1.0)
            ep_student[i] |= use_student
            c["student_actions"] += int(use_student)
            worlds.step(i, act, alpha * qfrc)
            ep_len[i] += 1
            c["steps"] += 1
        if stop is not None:
            stop(c["steps"])
    for i in range(n):  # episodes still running: keep their samples
        keep_obs.extend(ep_obs[i])
        keep_lab.extend(ep_lab[i])
        keep_side.extend(ep_side[i])
    c["labels_per_s"] = c["steps"] / max(c["label_s"], 1e-9)
    o = np.stack(keep_obs) if keep_obs else np.zeros((0, env.obs_size), np.float32)
    y = np.stack(keep_lab) if keep_lab else np.zeros((0, env.action_size), np.float32)
    side = np.stack(keep_side) if keep_side else np.zeros((0, env.action_size), np.int8)
    return o, y, side, {k: float(v) for k, v in c.items()}


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------


def _schedule(cfg: TrainConfig, i: int) -> tuple[float, float]:
    """(β_i, α_i) of iteration ``i``."""
    dc = cfg.distill
    beta = dc.beta0 * dc.beta_decay**i
    frac = i / max(dc.iterations - 1, 1)
    alpha = dc.assist_start + (dc.assist_end - dc.assist_start) * frac
    return float(beta), float(alpha)


def distill(
    cfg: TrainConfig,
    env: ImitationEnv,
    teacher_ckpt: Any,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    log: Log | None = print,
    progress: Progress | None = None,
    reference_motion: Any = None,
) -> DistillResult:
    """Run the distillation of ``cfg.distill`` (module docs) into ``out_dir``; ``teacher_ckpt``: a loaded
    ``'tracking'`` checkpoint. ``progress(iteration, iterations, row)`` after each collection step and fit."""
    out = Path(out_dir)
    if env.backend != "mujoco":
        raise MmbioError(
            "distillation simulates on MuJoCo C (the teacher's QPs run on the CPU): use env.backend=mujoco"
        )
    created = check_run_dir(out, resume=resume, overwrite=overwrite)
    try:
        with FolderLock(out, "distillation run"):
            remove_stale_temps(out)
            return _distill_locked(cfg, env, teacher_ckpt, out, resume, log, progress, reference_motion)
    except BaseException:
        if created:
            remove_if_empty(out)
        raise


def _distill_locked(cfg: TrainConfig, env: ImitationEnv, teacher_ckpt: Any, out: Path, resume: bool,
                    log: Log | None, progress: Progress | None, motion: Any) -> DistillResult:  # fmt: skip
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.driver import load_training_state

    dc = cfg.distill
    trainer = make_trainer(cfg, env, devices=1)  # only its fresh network and state: no PPO update here
    state = trainer.init(jax.random.key(cfg.ppo.seed))
    result = DistillResult()
    first = 0
    counters: dict[str, float] = {}
    latest = out / "latest.pkl"
    if resume:
        state = load_training_state(latest, trainer, state, cfg)
        meta = load_checkpoint(latest).metadata.get("distill", {})
        first = int(meta.get("iteration", -1)) + 1
        result.history = [dict(r) for r in meta.get("history", [])]
        counters = {k: float(v) for k, v in meta.get("counters", {}).items()}
        if first >= dc.iterations:
            raise MmbioError(f"{printable(latest)}: the distillation finished its {dc.iterations} iterations already; "
                             "ask for more (distill.iterations=N)")  # fmt: skip
        if log:
            log(f"resumed from {latest} after iteration {first - 1}")
    # the latest reference time an episode reaches: a start within the reference table plus one episode (s)
    horizon_s = env.n_frames / env.cfg.control_hz + dc.episode_s + 1.0

    # the first iteration's teachers (rebuilt as the assistance falls, with teacher_follows_assist)
    cost = 1.0 / max(_schedule(cfg, first)[1], dc.min_help) ** 2 if dc.teacher_follows_assist else 1.0
    teachers = TeacherPool(teacher_ckpt, env.mj_model, env.n_sub, horizon_s, env.n_envs, help_cost=cost,
                           workers=dc.workers)  # fmt: skip
    try:
        return _iterate(cfg, env, teachers, out, first, trainer, state, result, counters, log, progress, motion)
    finally:
        teachers.close()


def _iterate(cfg: TrainConfig, env: ImitationEnv, teachers: TeacherPool, out: Path, first: int, trainer: Any,
             state: Any, result: DistillResult, counters: dict[str, float], log: Log | None,
             progress: Progress | None, motion: Any) -> DistillResult:  # fmt: skip
    dc = cfg.distill
    latest = out / "latest.pkl"
    params = state.params
    norm = state.norm if first > 0 else None
    mean_fn, loss_fn = _student_fns(cfg)
    worlds = HostWorlds(env, env.n_envs)
    tester = worlds if env.n_envs == 1 else HostWorlds(env, 1)
    data_o, data_y, data_s = [], [], []
    for k in range(first):
        f = out / f"data_{k:06d}.npz"
        if not f.is_file():
            raise MmbioError(f"{printable(f)}: missing: cannot resume the distillation without iteration {k}'s data")
        with np.load(f) as z:
            data_o.append(z["obs"])
            data_y.append(z["label"])
            data_s.append(z["side"] if "side" in z.files else np.zeros(z["label"].shape, np.int8))
    layout = plain_obs_layout(env)
    t_run = time.perf_counter()
    i = first
    try:
        for i in range(first, dc.iterations):
            beta, alpha = _schedule(cfg, i)
            if dc.teacher_follows_assist and i > first:
                teachers.rebuild(1.0 / max(alpha, dc.min_help) ** 2)
            t0 = time.perf_counter()

            def tick(steps: int, i: int = i) -> None:
                if progress is not None:
                    progress(i, dc.iterations, {"collected": steps, "of": dc.steps_per_iter})

            o, y, sd, c = _collect(env, worlds, teachers, params if i > 0 else None, norm, cfg, beta, alpha,
                                   seed=cfg.ppo.seed * 1_000_003 + i, mean_fn=mean_fn, stop=tick)  # fmt: skip
            t_collect = time.perf_counter() - t0
            with atomic_path(out / f"data_{i:06d}.npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, obs=o, label=y, side=sd)
            data_o.append(o)
            data_y.append(y)
            data_s.append(sd)
            all_o = np.concatenate(data_o)[-dc.max_samples :]
            all_y = np.concatenate([np.concatenate(data_y), np.concatenate(data_s)], 1)[-dc.max_samples :]
            if len(all_o) == 0:
                raise MmbioError("distillation: no usable sample was collected (every episode failed at once)")
            norm = _norm_of(all_o)
            t1 = time.perf_counter()
            params, mse = _fit(params, norm, all_o, all_y, cfg, seed=cfg.ppo.seed + i, loss_fn=loss_fn)
            t_fit = time.perf_counter() - t1
            test = test_student(env, params, norm, cfg, dc.eval_s, mean_fn=mean_fn, worlds=tester)
            for k, v in c.items():
                counters[k] = counters.get(k, 0.0) + v
            row = {
                "iteration": float(i), "beta": beta, "alpha": alpha, "samples": float(len(all_o)),
                "new_samples": float(len(o)), "fit_mse": mse, "fit_rmse": float(np.sqrt(mse)),
                "test_up_s": test.up_s, "test_fell": float(test.fell), "test_site_dist_m": test.site_dist_m,
                "collect_s": t_collect, "fit_s": t_fit, "labels_per_s": c["labels_per_s"],
                "episodes": c["episodes"], "falls": c["falls"], "teacher_falls": c["teacher_falls"],
                "mean_episode_s": c["ep_len_sum"] / max(c["episodes"], 1.0),
                "student_action_frac": c["student_actions"] / max(c["steps"], 1.0),
                "teacher_help_cost": teachers.help_cost,
            }  # fmt: skip
            result.history.append(row)
            state = state._replace(params=params, norm=norm, update=jnp.asarray(i + 1, jnp.int32))
            meta = {"iteration": i, "history": result.history, "counters": counters,
                    "teacher": str(dc.teacher), "algo": "distill"}  # fmt: skip
            path = save_training_checkpoint(trainer, state, cfg, out / f"checkpoint_{i + 1:06d}.pkl",
                                            obs_layout=layout, reference_motion=motion, extra={"distill": meta})  # fmt: skip
            with atomic_path(latest) as tmp:
                tmp.write_bytes(path.read_bytes())
            result.checkpoints.append(path)
            if log:
                log(format_row(row, dc.iterations))
            if progress is not None:
                progress(i + 1, dc.iterations, row)
    except KeyboardInterrupt:
        where = f"{latest} holds iteration {i - 1}" if i > first or first > 0 else "no iteration had finished"
        raise Interrupted(f"distillation interrupted; {where} (continue with --resume)") from None
    result.wall_s = time.perf_counter() - t_run
    return result


def format_row(row: dict[str, float], total: int) -> str:
    """One log line per iteration."""
    return (
        f"iteration {int(row['iteration']) + 1}/{total}  β {row['beta']:.2f}  assist {row['alpha']:.2f}  "
        f"samples {int(row['samples']):,} (+{int(row['new_samples']):,})  fit rmse {row['fit_rmse']:.3f}  "
        f"episodes {int(row['episodes'])} (falls {int(row['falls'])}, teacher {int(row['teacher_falls'])}, "
        f"mean {row['mean_episode_s']:.2f} s)  student alone: {'fell at' if row['test_fell'] else 'up'} "
        f"{row['test_up_s']:.2f} s  labels {row['labels_per_s']:.0f}/s  collect {row['collect_s']:.0f} s "
        f"fit {row['fit_s']:.0f} s"
    )
