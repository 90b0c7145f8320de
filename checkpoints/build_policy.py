"""Build ``checkpoints/policy_walk.pkl``: the demo's tracking controller distilled into mmbio's policy
(``mmbio train --config distill_walk``: behaviour cloning, then DAgger with the teacher's residual and reserves
as an assistance annealed to zero), optionally fine-tuned by PPO, then put through the walk test
(:mod:`mmbio.train.walk_test`: 10 s from the reference start and from 10 perturbed starts, no help of any kind).

The checkpoint is written only when the policy walks (the reference start and ≥ 8 of 10 perturbed starts up for
10 s with ≥ 8 gait cycles per side at the reference speed ± 10 %); otherwise the script says how far it got and
exits 1 (``--keep PATH`` writes the policy there anyway, for study). On the 2-core CPU the distillation takes
≈ 10 min (8 iterations × 4,000 labelled control steps at 500 Hz).

Run from the repository root: ``python checkpoints/build_policy.py [--run runs/policy_walk] [--resume]
[--finetune-updates N]``.

**With a lent GPU** (issue 14 §3; ≤ 10 min of it plus the CPU distillation): ``--distil-only runs/student.pkl``
writes the distilled student without its training state (≈ 7 MB, small enough to carry to the device machine);
``benchmarks/gpu/checks.py --student runs/student.pkl`` fine-tunes it there with ``FINETUNE`` on Warp and sends the
last checkpoint back; ``--finetuned latest.pkl`` then walk-tests it here and writes the checkpoint if it walks.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "checkpoints" / "policy_walk.pkl"
#: the distillation settings of the policy (the distill_walk preset's, said here so the build stays fixed)
DISTILL = [
    "distill.iterations=8",
    "distill.steps_per_iter=4000",
    "distill.episode_s=4",
    "distill.label=activation",
    "distill.teacher_follows_assist=true",
    "distill.min_help=0.1",
]
#: PPO fine-tuning from the distilled policy (value warm-up, a decaying anchor toward it)
FINETUNE = [
    "algo=ppo",
    "ppo.n_envs=8",
    "ppo.n_steps=64",
    "ppo.n_minibatches=4",
    "ppo.lr=1e-5",
    "ppo.freeze_obs_norm=true",
    "ppo.critic_warmup_updates=5",
    "ppo.anchor_coef=1.0",
    "ppo.anchor_updates=50",
    "checkpoint_every=10",
]


def mmbio(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "mmbio", *args], check=True, cwd=REPO)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="runs/policy_walk", help="run folder (distillation in RUN/distil)")
    ap.add_argument("--resume", action="store_true", help="continue an interrupted distillation")
    ap.add_argument("--finetune-updates", type=int, default=0, help="PPO updates after the distillation (CPU: slow)")
    ap.add_argument("--keep", help="write the policy here even if it does not walk")
    ap.add_argument("--distil-only", metavar="PATH", help="stop after the distillation: write the student (no training "
                    "state) to PATH for a fine-tune elsewhere (the lent GPU)")  # fmt: skip
    ap.add_argument(
        "--finetuned", metavar="PATH", help="walk-test this policy (fine-tuned elsewhere) instead of training"
    )
    args = ap.parse_args()
    if args.finetuned:
        return walk_and_write(Path(args.finetuned), args.keep)
    run = REPO / args.run
    distil = run / "distil"
    mmbio(
        "train", "--config", "distill_walk", *DISTILL, "--output", str(distil), *(["--resume"] if args.resume else [])
    )
    final = distil / "latest.pkl"
    if args.distil_only:
        path = write_student(final, Path(args.distil_only))
        print(f"wrote the distilled student {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    if args.finetune_updates > 0:
        ft = run / "finetune"
        mmbio(
            "train",
            "--config",
            "distill_walk",
            *FINETUNE,
            f"ppo.init_from={final}",
            "--output",
            str(ft),
            "--updates",
            str(args.finetune_updates),
            "--overwrite",
        )
        final = ft / "latest.pkl"
    return walk_and_write(final, args.keep)


def write_student(src: Path, dst: Path) -> Path:
    """The policy checkpoint ``src`` without its training state (optimiser, normaliser of returns: only a resumed
    run needs them; ``ppo.init_from`` reads the network and the observation statistics), saved at ``dst``."""
    import dataclasses

    from mmbio.control.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src)
    meta = {k: v for k, v in ck.metadata.items() if k != "training_state"}
    dst.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(dataclasses.replace(ck, metadata=meta), dst)


def walk_and_write(final: Path, keep: str | None) -> int:
    """Walk-test the policy at ``final``; copy it to ``OUT`` when it walks (exit 0), else say so (exit 1)."""
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.walk_test import walk_test

    test = walk_test(load_checkpoint(final))
    print(test.summary())
    if test.walks:
        shutil.copyfile(final, OUT)
        print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")
        return 0
    if keep:
        shutil.copyfile(final, keep)
        print(f"the policy does not walk; kept for study at {keep}")
    print(f"{OUT} not written: the policy does not walk (see above)")
    return 1


def cli() -> int:
    """:func:`main` with the project's error convention: one line naming the file and the problem, exit 2; a failed
    ``mmbio train`` has printed its own line, its exit status is passed on."""
    from mmbio.errors import MmbioError

    try:
        return main()
    except MmbioError as exc:
        print(f"build_policy: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        return int(exc.returncode) or 1


if __name__ == "__main__":
    raise SystemExit(cli())
