"""The training driver behind ``mmbio train``: chunks of jitted PPO updates, progress lines, periodic checkpoints
written atomically in mmbio's checkpoint format, resume, and an evaluation hook.

Each checkpoint ``DIR/checkpoint_<update>.pkl`` (and a copy ``DIR/latest.pkl``) is a ``'policy'`` checkpoint
(:func:`mmbio.train.networks.make_policy_checkpoint`): the policy as plain arrays, the resolved config, the
environment's observation layout, and under ``metadata['training_state']`` everything needed to continue —
every leaf of the trainer's state except the worlds (network parameters including the critic, optimiser
moments, observation and return statistics, the PRNG key, the update counter) as numpy arrays in a fixed
order. Resuming rebuilds a fresh state for the same config and environment and refills its leaves; a
checkpoint whose leaves do not match (another config, another observation layout) is refused with the
mismatch named. The worlds themselves restart (new episodes from reference-state initialisation). The state holds
no device layout: a run resumes on any number of devices (``ppo.devices``, :mod:`mmbio.train.sharding`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from mmbio.errors import Interrupted, MmbioError, printable
from mmbio.io.atomic import FolderLock, OutputError, atomic_path, remove_stale_temps
from mmbio.train.config import TrainConfig, to_dict
from mmbio.train.ppo import RunnerState, Trainer, make_trainer
from mmbio.train.vecenv import plain_obs_layout

Log = Callable[[str], None]
EvalHook = Callable[[Path], None]
Progress = Callable[[int, int, dict[str, float], float], None]


@dataclass
class TrainResult:
    """What a training run produced: the last state, the checkpoints written and one metrics row per update."""

    state: RunnerState
    checkpoints: list[Path] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    env_steps: int = 0

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.wall_s if self.wall_s > 0 else float("nan")


def _state_leaves(state: RunnerState) -> list[np.ndarray]:
    """The trainer state without the worlds (env_state, obs, episode sums), as numpy leaves in a fixed order."""
    keep = state._replace(env_state=None, obs=None, ep_return=None, ep_length=None, disc_return=None)
    keep = keep._replace(key=jax.random.key_data(state.key))
    return [np.asarray(jax.device_get(x)) for x in jax.tree_util.tree_leaves(keep)]


def _restore(state: RunnerState, leaves: list[np.ndarray], path: Path) -> RunnerState:
    keep = state._replace(env_state=None, obs=None, ep_return=None, ep_length=None, disc_return=None)
    keep = keep._replace(key=jax.random.key_data(state.key))
    ref, treedef = jax.tree_util.tree_flatten(keep)
    if len(ref) != len(leaves):
        raise MmbioError(
            f"{path}: cannot resume: the checkpoint holds {len(leaves)} training-state arrays, this config and "
            f"environment need {len(ref)} (another network or optimiser configuration)"
        )
    for i, (a, b) in enumerate(zip(ref, leaves, strict=True)):
        if tuple(np.shape(a)) != tuple(np.shape(b)):
            raise MmbioError(
                f"{path}: cannot resume: training-state array {i} has shape {tuple(np.shape(b))}, this config and "
                f"environment need {tuple(np.shape(a))} (a different observation layout or network size)"
            )
    # each array goes where the fresh state's is (one device, or replicated over the trainer's devices)
    restored = jax.tree_util.tree_unflatten(
        treedef, [jax.device_put(np.asarray(b, dtype=a.dtype), a.sharding) for a, b in zip(ref, leaves, strict=True)]
    )
    key = jax.random.wrap_key_data(restored.key)
    return state._replace(
        params=restored.params, opt_state=restored.opt_state, norm=restored.norm, ret_norm=restored.ret_norm,
        key=key, update=restored.update,
    )  # fmt: skip


def save_training_checkpoint(
    trainer: Trainer, state: RunnerState, cfg: TrainConfig, path: Path, *, obs_layout: Any = None,
    reference_motion: Any = None, extra: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Write a ``'policy'`` checkpoint with the full training state (atomic)."""
    from mmbio.control.checkpoint import save_checkpoint
    from mmbio.train.networks import make_policy_checkpoint

    update = int(jax.device_get(state.update))
    meta: dict[str, Any] = {
        "training_state": {"format": "mmbio.train_state/1", "update": update, "leaves": _state_leaves(state)},
        "env_steps": update * trainer.config.n_envs * trainer.config.n_steps,
        **(extra or {}),
    }
    if obs_layout is not None:
        meta["obs_layout"] = obs_layout
    ckpt = make_policy_checkpoint(state.params, state.norm, cfg, reference_motion=reference_motion, metadata=meta,
                                  include_critic=True)  # fmt: skip
    return save_checkpoint(ckpt, path)


def load_training_state(path: Path, trainer: Trainer, state: RunnerState, cfg: TrainConfig) -> RunnerState:
    """``state`` with the training state of the checkpoint at ``path`` (same config and environment)."""
    from mmbio.control.checkpoint import load_checkpoint

    ck = load_checkpoint(path)
    ts = ck.metadata.get("training_state")
    if ck.kind != "policy" or not isinstance(ts, dict) or "leaves" not in ts:
        raise MmbioError(f"{path}: not a training checkpoint (no training state to resume from)")
    saved = ck.config.get("ppo", {})
    for k in ("actor_hidden", "critic_hidden", "n_envs", "activation", "layer_norm"):
        if k in saved and list(np.atleast_1d(saved[k])) != list(np.atleast_1d(to_dict(cfg)["ppo"][k])):
            raise MmbioError(f"{path}: cannot resume: it was trained with ppo.{k}={saved[k]!r}, this run has "
                             f"{to_dict(cfg)['ppo'][k]!r}")  # fmt: skip
    return _restore(state, list(ts["leaves"]), path)


def _episode_summary(m: dict[str, float]) -> str:
    """``return 24.1  length 88  termination 50%`` from one update's metrics (``n/a`` where no episode ended)."""
    n_ep = m.get("n_episodes", 0.0)
    term = f"{m.get('n_done', 0.0) / n_ep:.0%}" if n_ep else "n/a"
    return f"return {_num(m, 'episode_return', '.3g')}  length {_num(m, 'episode_length', '.0f')}  termination {term}"


def _num(m: dict[str, float], k: str, spec: str) -> str:
    v = m.get(k, float("nan"))
    return "n/a" if not math.isfinite(v) else format(v, spec)


def progress_line(update: int, total: int, m: dict[str, float], sps: float, elapsed_s: float, width: int = 24) -> str:
    """The training progress bar: ``train [######......] 37/400 updates  1,234 steps/s  return 24.1  length 88
    termination 100%  ETA 6 min`` (ETA from the mean rate so far)."""
    frac = min(max(update / total, 0.0), 1.0) if total > 0 else 1.0
    n = int(frac * width)
    eta = elapsed_s * (1 - frac) / frac if frac > 0 else float("nan")
    eta_s = "n/a" if not math.isfinite(eta) else (f"{eta:.0f} s" if eta < 120 else f"{eta / 60:.0f} min")
    return (
        f"train [{'#' * n}{'.' * (width - n)}] {update}/{total} updates  {sps:,.0f} steps/s  "
        f"{_episode_summary(m)}  ETA {eta_s}"
    )


def _fmt_metrics(m: dict[str, float], sps: float, update: int, n_updates: int) -> str:
    """One log line per ``log_every`` updates: the bar's numbers plus reward, metabolic power, KL, non-finite."""
    metab = f"  metabolic {_num(m, 'env/metabolic_w_per_kg', '.2f')} W/kg" if "env/metabolic_w_per_kg" in m else ""
    return (
        f"update {update}/{n_updates}  {sps:,.0f} steps/s  {_episode_summary(m)}  reward {_num(m, 'reward_mean', '.3g')}"
        f"{metab}  kl {_num(m, 'approx_kl', '.2g')}  nonfinite {int(m.get('n_nonfinite', 0))}"
    )


def train(
    cfg: TrainConfig,
    env: Any,
    out_dir: str | Path,
    *,
    n_updates: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    log: Log | None = print,
    eval_hook: EvalHook | None = None,
    reference_motion: Any = None,
    chunk: int | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``cfg`` on ``env`` (see :mod:`mmbio.train.vecenv`), writing checkpoints into ``out_dir``.

    n_updates: total updates (default ``cfg.ppo.n_updates``). resume: continue from ``out_dir/latest.pkl``
    (its update counter counts towards ``n_updates``). Checkpoints every ``cfg.checkpoint_every`` updates,
    at the end, and when the run is interrupted (Ctrl-C: the last completed update is saved, then
    :class:`~mmbio.errors.Interrupted` says where); a progress line every ``cfg.log_every`` updates.
    ``eval_hook(path)`` runs after each checkpoint (e.g. a validation of it). chunk: updates per jitted call
    (default ``cfg.log_every``). ``progress(update, total, metrics, steps_per_s)`` runs after every chunk with
    the chunk's mean metrics (e.g. the CLI's progress bar).

    The run folder is checked before anything is created (see :func:`check_run_dir`) and locked while the run
    lasts: a second run into it is refused; temporary files a killed run left behind are removed.
    """
    out = Path(out_dir)
    created = check_run_dir(out, resume=resume, overwrite=overwrite)
    try:
        with FolderLock(out, "training run"):
            remove_stale_temps(out)
            return _train_locked(cfg, env, out, n_updates, resume, log, eval_hook, reference_motion, chunk, progress)
    except BaseException:
        if created:
            remove_if_empty(out)
        raise


def check_checkpoint_every(cfg: TrainConfig) -> None:
    """A training run needs periodic checkpoints (``checkpoint_every`` ≥ 1)."""
    if cfg.checkpoint_every < 1:
        raise MmbioError(
            "config checkpoint_every=0: a run that dies would keep nothing; give the updates between checkpoints "
            "(a large number for few)"
        )


def check_run_dir(out: Path, *, resume: bool, overwrite: bool = False) -> bool:
    """Refuse a run folder that cannot hold this run, before anything is created; create it. Returns whether
    it was created.

    ``resume`` needs ``out/latest.pkl``; a fresh run refuses a folder that already holds one (it would be
    replaced) unless ``overwrite``; a path that is a file or cannot be created is refused.
    """
    latest = out / "latest.pkl"
    shown = printable(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{shown}: exists and is not a folder; choose another --output")
    if resume and not latest.is_file():
        raise MmbioError(f"{printable(latest)}: nothing to resume from (no latest.pkl in {shown})")
    if not resume and latest.exists() and not overwrite:
        raise MmbioError(
            f"{shown}: already holds a training run (latest.pkl); pass --resume to continue it, or choose another "
            "--output"
        )
    if out.is_dir():
        return False
    try:
        out.mkdir(parents=True)
    except FileExistsError:
        if out.is_dir():
            return False  # another run made it a moment ago; its lock decides who runs
        raise OutputError(f"{shown}: exists and is not a folder; choose another --output") from None
    except OSError as e:
        raise OutputError(f"{shown}: cannot create the run folder: {e.strerror or e}") from None
    return True


def remove_if_empty(out: Path) -> None:
    """Remove the run folder ``out`` when it holds nothing but mmbio's lock file (a run that did not start).

    Only under the folder's lock: a folder another run has locked meanwhile (it won the race for a folder this
    run made) is its run folder now and stays.
    """
    try:
        lock = FolderLock(out).acquire()
    except OutputError:
        return
    try:
        lock.remove_folder_if_empty()
    finally:
        lock.release()


def load_init_policy(path: str | Path, cfg: TrainConfig, env: Any) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """(params, (mean, var, count)) of the ``'policy'`` checkpoint at ``path`` to start ``cfg`` from
    (``ppo.init_from``); a policy of another network, model or observation layout is refused in one line."""
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.policy_numpy import numpy_policy

    ck = load_checkpoint(path)
    shown = printable(path)
    if ck.kind != "policy":
        raise MmbioError(f"{shown}: ppo.init_from needs a 'policy' checkpoint, this one holds a {ck.kind!r} controller")
    if ck.model != cfg.env.model:
        raise MmbioError(f"{shown}: a policy for model {ck.model!r}; this run trains {cfg.env.model!r}")
    policy = numpy_policy(ck.controller)  # load_checkpoint has checked it: shapes chain, finite, normaliser sized
    arch = ck.controller["architecture"]
    for k, want in (("actor_hidden", list(cfg.ppo.actor_hidden)), ("activation", cfg.ppo.activation),
                    ("layer_norm", cfg.ppo.layer_norm)):  # fmt: skip
        have = list(arch.get(k, [])) if k == "actor_hidden" else arch.get(k)
        if have != want:
            raise MmbioError(f"{shown}: its network has {k}={have!r}, this run ppo.{k}={want!r}")
    layout = ck.metadata.get("obs_layout")
    mine = plain_obs_layout(env)
    if layout is not None and mine is not None and {k: list(v) for k, v in layout.items()} != mine:
        raise MmbioError(
            f"{shown}: a policy of another observation layout (env settings differ); it cannot start this run"
        )
    if (policy.obs_size, policy.action_size) != (env.obs_size, env.action_size):
        raise MmbioError(f"{shown}: policy sizes obs {policy.obs_size} / actions {policy.action_size}, this "
                         f"environment {env.obs_size} / {env.action_size}")  # fmt: skip
    if policy.normalise:
        norm = ck.controller["obs_normalizer"]
        stats = (policy.obs_mean.astype(np.float32), np.asarray(norm["var"], np.float32),
                 np.asarray(norm.get("count", 1.0), np.float32))  # fmt: skip
    else:
        stats = (np.zeros(env.obs_size, np.float32), np.ones(env.obs_size, np.float32), np.asarray(0.0, np.float32))
    return dict(ck.controller["params"]), stats


def _train_locked(
    cfg: TrainConfig, env: Any, out: Path, n_updates: int | None, resume: bool, log: Log | None,
    eval_hook: EvalHook | None, reference_motion: Any, chunk: int | None, progress: Progress | None,
) -> TrainResult:  # fmt: skip
    check_checkpoint_every(cfg)
    init = load_init_policy(cfg.ppo.init_from, cfg, env) if cfg.ppo.init_from else None
    trainer = make_trainer(cfg, env, init) if init is not None else make_trainer(cfg, env)
    if init is not None and log and not resume:
        log(f"starting from the policy {cfg.ppo.init_from}")
    if log and len(trainer.devices) > 1:
        n_dev = len(trainer.devices)
        log(f"worlds split over {n_dev} {trainer.devices[0].platform} devices, {trainer.config.n_envs // n_dev} each")
    total = int(n_updates if n_updates is not None else trainer.n_updates)
    if total < 1:
        raise MmbioError(f"the number of updates must be >= 1, got {total}")
    state = trainer.init(jax.random.key(cfg.ppo.seed))
    latest = out / "latest.pkl"
    if resume:
        state = load_training_state(latest, trainer, state, cfg)
        if int(state.update) >= total:
            raise MmbioError(
                f"{printable(latest)}: the run is at update {int(state.update)} already; ask for more updates "
                f"(--updates > {int(state.update)})"
            )
        if log:
            log(f"resumed from {latest} at update {int(state.update)}")
    layout = plain_obs_layout(env)
    every = max(int(cfg.log_every), 1)
    step = int(chunk or every)
    ck_every = int(cfg.checkpoint_every)
    result = TrainResult(state=state)
    t0 = time.perf_counter()
    steps_per_update = trainer.config.n_envs * trainer.config.n_steps
    next_ck = (int(state.update) // ck_every + 1) * ck_every
    saved_at = int(state.update) if resume else None
    try:
        while int(state.update) < total:
            n = min(step, total - int(state.update))
            t1 = time.perf_counter()
            new_state, metrics = trainer.run(state, n)
            jax.block_until_ready(new_state.params)
            state = new_state
            dt = time.perf_counter() - t1
            rows = {k: np.asarray(jax.device_get(v)) for k, v in metrics.items()}
            for i in range(n):
                result.history.append({k: float(v[i]) for k, v in rows.items()})
            update = int(state.update)
            result.env_steps += n * steps_per_update
            last = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in rows.items()}
            if log and (update % every == 0 or update == total):
                log(_fmt_metrics(last, n * steps_per_update / dt, update, total))
            if progress is not None:
                progress(update, total, last, n * steps_per_update / dt)
            if update >= next_ck and update < total:
                result.checkpoints.append(_checkpoint(trainer, state, cfg, out, layout, reference_motion, eval_hook))
                saved_at = update
                next_ck += ck_every
    except KeyboardInterrupt:
        update = int(state.update)
        if saved_at == update:
            where = f"{latest} holds update {update}" if latest.is_file() else "no checkpoint was written"
        elif update == 0:
            where = "no update had finished, no checkpoint was written"
        else:
            _checkpoint(trainer, state, cfg, out, layout, reference_motion, None)
            where = f"progress saved in {latest} at update {update} of {total}"
        raise Interrupted(f"training interrupted; {where} (continue with --resume)") from None
    result.checkpoints.append(_checkpoint(trainer, state, cfg, out, layout, reference_motion, eval_hook))
    result.state = state
    result.wall_s = time.perf_counter() - t0
    return result


def _checkpoint(
    trainer: Trainer, state: RunnerState, cfg: TrainConfig, out: Path, layout: Any, motion: Any,
    eval_hook: EvalHook | None,
) -> Path:  # fmt: skip
    import shutil

    update = int(state.update)
    path = save_training_checkpoint(trainer, state, cfg, out / f"checkpoint_{update:06d}.pkl", obs_layout=layout,
                                    reference_motion=motion)  # fmt: skip
    with atomic_path(out / "latest.pkl") as tmp:
        shutil.copyfile(path, tmp)
    if eval_hook is not None:
        eval_hook(path)
    return path


__all__ = [
    "TrainResult",
    "check_run_dir",
    "load_init_policy",
    "load_training_state",
    "progress_line",
    "remove_if_empty",
    "save_training_checkpoint",
    "train",
]
