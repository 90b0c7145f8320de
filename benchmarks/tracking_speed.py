"""Tracking controller speed and the demo's end-to-end time (issue 5).

1. Real-time factor of the contact-consistent tracking controller on MyoFullBody (one core, 1 kHz physics, two
   QPs per step) over one second of the demo walk, beside raw ``mj_step`` of the same model in the same process
   (the ratio is the controller's cost; the machine is shared and noisy).
2. ``mmbio validate checkpoints/tracking_walk.pkl`` end to end (3 gait cycles, report included), as the README's
   main command runs it, timed as a subprocess. Target: under 3 minutes on 2 cores.

Usage: ``python benchmarks/tracking_speed.py [--skip-cli]`` from the repository root.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from mmbio.control.checkpoint import load_checkpoint  # noqa: E402
from mmbio.control.tracking import TrackingSettings, track  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "checkpoints" / "tracking_walk.pkl"


def raw_steps_per_s(model: mujoco.MjModel, qpos: np.ndarray, n: int = 2000) -> float:
    d = mujoco.MjData(model)
    d.qpos[:] = qpos
    mujoco.mj_forward(model, d)
    t = time.perf_counter()
    for _ in range(n):
        mujoco.mj_step(model, d)
    return n / (time.perf_counter() - t)


def main(skip_cli: bool) -> None:
    ckpt = load_checkpoint(DEMO)
    motion = ckpt.motion()
    settings = TrackingSettings.from_dict(ckpt.controller["settings"])
    model = motion.mj_model()
    raw = raw_steps_per_s(model, motion.qpos[0])
    t = time.perf_counter()
    _, res = track(motion, duration_s=1.0, settings=settings)
    wall = time.perf_counter() - t
    steps_s = 1000.0 / res.wall_s
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"{'quantity':<52} {'value':>12}")
    print(f"{'raw mj_step, MyoFullBody nofingers (steps/s)':<52} {raw:>12.0f}")
    print(f"{'tracking controller, physics steps/s (2 QPs each)':<52} {steps_s:>12.0f}")
    print(f"{'ratio raw / tracking':<52} {raw / steps_s:>12.1f}")
    print(f"{'tracking real-time factor (sim s per wall s)':<52} {res.real_time_factor:>12.3f}")
    print(f"{'mean QP time per step (ms)':<52} {np.mean(res.qp_ms):>12.2f}")
    print(f"{'track() wall incl. set-up (s, 1 s simulated)':<52} {wall:>12.1f}")
    if skip_cli:
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "mmbio.cli", "validate", str(DEMO), "--output", tmp],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        e2e = time.perf_counter() - t
    print(f"{'mmbio validate demo, 3 cycles, end to end (s)':<52} {e2e:>12.1f}")
    print(f"{'  exit status (1 = protocol failed, expected)':<52} {proc.returncode:>12d}")


if __name__ == "__main__":
    main("--skip-cli" in sys.argv[1:])
