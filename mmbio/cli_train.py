"""``mmbio train``: PPO and distillation runs (the command's handler; the parser lives in :mod:`mmbio.cli`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from mmbio.cli import _controller_summary, _has_cycle, _StderrLine
from mmbio.errors import MmbioError


class _TrainBar(_StderrLine):
    """``mmbio train``'s progress bar (steps/s, return, episode length, termination rate, ETA) under the log lines
    (stdout) on a terminal; off a terminal only the log lines are written (they carry the same numbers)."""

    def log(self, line: str) -> None:
        self.clear()
        print(line, flush=True)

    def __call__(self, update: int, total: int, metrics: dict, sps: float) -> None:
        if self.tty:
            from mmbio.train.driver import progress_line

            self.draw(progress_line(update, total, metrics, sps, self._time() - self.t0))


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``mmbio train`` with parsed ``args``; returns the exit status."""
    from mmbio.train.config import PRESETS, get_config

    if args.list:
        for name, (desc, _) in PRESETS.items():
            print(f"{name:<14} {desc}")
        return 0
    cfg = get_config(args.config, args.overrides)  # unknown keys and bad values: one line, exit 2
    try:
        import jax  # noqa: F401
    except ImportError:
        raise MmbioError("mmbio train needs the train extra (JAX): pip install 'mmbio[train]'") from None
    from mmbio.train.sharding import initialize_distributed

    initialize_distributed()  # one run over several processes: MMBIO_COORDINATOR, MMBIO_NUM_PROCESSES, MMBIO_PROCESS_ID
    from mmbio.sim.motion import Motion
    from mmbio.train.driver import check_checkpoint_every, check_run_dir, remove_if_empty, train
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.references import default_motion

    out = Path(args.output)
    check_checkpoint_every(cfg)
    created = check_run_dir(out, resume=args.resume, overwrite=args.overwrite)  # before any work
    try:
        if cfg.algo == "distill":
            return _distill(args, cfg, out, Motion, ImitationEnv)
        return _train(args, cfg, out, Motion, default_motion, ImitationEnv, train)
    except BaseException:
        if created:
            remove_if_empty(out)
        raise


def _train(args: argparse.Namespace, cfg: object, out: Path, Motion: type, default_motion: Callable,
           ImitationEnv: type, train: Callable) -> int:  # fmt: skip
    motion_path = args.motion or cfg.env.motion  # type: ignore[attr-defined]
    init_from = cfg.ppo.init_from  # type: ignore[attr-defined]
    if motion_path:
        motion = Motion.load(motion_path)
    elif init_from:  # continue the given policy on the motion it learnt
        from mmbio.control.checkpoint import load_checkpoint

        motion = load_checkpoint(init_from).motion() or default_motion(cfg.env.model)  # type: ignore[attr-defined]
    else:
        motion = default_motion(cfg.env.model)  # type: ignore[attr-defined]
    env = ImitationEnv(cfg.env, motion, n_envs=cfg.ppo.n_envs)
    print(f"mmbio train {cfg.name}: {cfg.env.model} on {cfg.env.backend}, {cfg.ppo.n_envs} worlds, obs {env.obs_size}, "
          f"{env.action_size} muscles; reference {motion.source or motion_path}; checkpoints in {out}", flush=True)  # fmt: skip
    hook = None
    if args.validate:
        if cfg.env.model != "myofullbody":
            raise MmbioError(
                f"--validate compares walking with gait data: it needs env.model=myofullbody, not {cfg.env.model}"
            )
        hook = _validate_hook
    bar = _TrainBar()
    try:
        res = train(cfg, env, out, n_updates=args.updates, resume=args.resume, overwrite=args.overwrite, log=bar.log,
                    eval_hook=hook, reference_motion=motion, progress=bar)  # fmt: skip
    finally:
        bar.close()
    print(f"done: {res.env_steps:,} env steps in {res.wall_s:.1f} s ({res.steps_per_s:,.0f} steps/s incl. compile); "
          f"latest checkpoint {out / 'latest.pkl'}")  # fmt: skip
    return 0


def _distill(args: argparse.Namespace, cfg: object, out: Path, Motion: type, ImitationEnv: type) -> int:
    """``mmbio train --config distill_walk``: behaviour cloning + DAgger from a tracking checkpoint."""
    from mmbio.train.distill import distill
    from mmbio.train.teacher import load_teacher_checkpoint

    dc = cfg.distill  # type: ignore[attr-defined]
    if not dc.teacher:
        raise MmbioError("distillation needs a teacher: distill.teacher=PATH (a 'tracking' checkpoint)")
    teacher = load_teacher_checkpoint(dc.teacher)
    motion = Motion.load(args.motion) if args.motion else teacher.motion()
    if args.updates is not None:
        cfg = dataclasses.replace(cfg, distill=dataclasses.replace(dc, iterations=args.updates))  # type: ignore[type-var]
    env = ImitationEnv(cfg.env, motion, n_envs=cfg.ppo.n_envs)  # type: ignore[attr-defined]
    print(f"mmbio train {cfg.name} (distillation): teacher {dc.teacher}, {cfg.env.model} at {cfg.env.control_hz} Hz, "  # type: ignore[attr-defined]
          f"{cfg.ppo.n_envs} worlds (teachers in {min(dc.workers, cfg.ppo.n_envs)} process(es)), obs {env.obs_size}, {env.action_size} muscles; checkpoints in {out}", flush=True)  # type: ignore[attr-defined]  # fmt: skip
    bar = _TrainBar()

    def progress(i: int, total: int, row: dict) -> None:
        if bar.tty:
            n = int(24 * i / max(total, 1))
            if "collected" in row:
                what = f"iteration {i + 1}/{total}: collecting {int(row['collected'])}/{int(row['of'])} steps"
            else:
                what = f"iteration {i}/{total} fitted"
            bar.draw(f"distill [{'#' * n}{'.' * (24 - n)}] {what}, {bar._time() - bar.t0:.0f} s")

    try:
        res = distill(cfg, env, teacher, out, resume=args.resume, overwrite=args.overwrite, log=bar.log,  # type: ignore[arg-type]
                      progress=progress, reference_motion=motion)  # fmt: skip
    finally:
        bar.close()
    last = res.history[-1] if res.history else {}
    n_it = len(res.history)
    print(f"done: {n_it} iteration{'' if n_it == 1 else 's'} in {res.wall_s:.1f} s; the student alone stays up "
          f"{last.get('test_up_s', float('nan')):.2f} s; latest checkpoint {out / 'latest.pkl'} "
          "(continue with PPO: ppo.init_from=...)")  # fmt: skip
    return 0


def _validate_hook(path: Path) -> None:
    """Validate a fresh checkpoint (1 cycle, no PDF) and keep its metrics.json beside it."""
    from mmbio.analysis.validate import validate
    from mmbio.control.run import run_checkpoint
    from mmbio.io.atomic import atomic_path
    from mmbio.report.no_cycle import no_cycle_summary
    from mmbio.report.pdf import write_metrics_json

    run = run_checkpoint(str(path), cycles=1, static_opt=False)
    target = path.with_suffix(".metrics.json")
    if not _has_cycle(run.trial):  # fell first, or stayed up without a stride
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(no_cycle_summary(run.trial, _controller_summary(run)), indent=2, default=float))
    else:
        result = validate(run.trial, "schwartz2008:free", protocol="walking", spm=False)
        result.trial["controller"] = _controller_summary(run)
        write_metrics_json(result, target)
    print(f"validation of {path.name}: {target}", flush=True)
