"""mm-evalkit 0.1.0 and mmbio on the same rollout archive, side by side in one run (issue 15 §3).

Times, each as a fresh process (imports included, as a user types it), alternating the tools for ``--repeats``
rounds:

* ``mm-evalkit evaluate wang …`` end to end, in mm-evalkit's own venv (``--evalkit-python``): archive validation,
  gait extraction, every metric, statistics and all its figures. mm-evalkit needs a human dataset to run at all and
  neither Gait120 nor Wang is available here, so it reads a **stand-in**: Wang's file layout (9 subjects ×
  ``SubjNN_walk_45.mat``, 100-sample joint-angle and EMG averages) filled with smooth synthetic curves. Its scores
  are meaningless and not reported; only its time is (the work does not depend on the values);
* ``mmbio validate ARCHIVE --no-pdf`` and ``mmbio validate ARCHIVE`` (with the PDF), both with
  ``--compat mm-evalkit``, in this interpreter's venv.

Prints a table (median, min, max wall seconds) and the ratios against mm-evalkit; targets: ``--no-pdf`` ≤ mm-evalkit
and the full report ≤ 1.5 × mm-evalkit.

Usage::

    mmbio export checkpoints/tracking_walk.pkl --cycles 4 -o /tmp/walk4.npz   # a ≈ 5.7 s MyoFullBody rollout
    python benchmarks/evalkit_speed.py /tmp/walk4.npz --evalkit-python /work/venv-ek/bin/python
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WANG_SUBJECTS = range(4, 13)
WANG_JOINTS = 24  # time + 23 coordinates (mm-evalkit's datasets/wang.py JOINT_NAMES)
WANG_EMG = 10  # Time + 9 muscles


def write_wang_standin(root: Path) -> None:
    """Wang's layout with synthetic values (timing only): Datastr.Resample.Sych.Average.{IKAngData,EMG}.ave_r."""
    from scipy.io import savemat

    phase = np.linspace(0.0, 1.0, 100)
    rng = np.random.default_rng(0)
    for s in WANG_SUBJECTS:
        joints = np.column_stack([phase] + [20 * np.sin(2 * np.pi * (phase + rng.uniform())) for _ in range(23)])
        emg = np.column_stack([phase] + [0.3 + 0.2 * np.sin(2 * np.pi * (phase + rng.uniform())) for _ in range(9)])
        avg = {"IKAngData": {"ave_r": joints}, "EMG": {"ave_r": emg}}
        d = root / f"Subj{s:02d}"
        d.mkdir(parents=True, exist_ok=True)
        savemat(d / f"Subj{s:02d}_walk_45.mat", {"Datastr": {"Resample": {"Sych": {"Average": avg}}}})


def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...]) -> tuple[float, str]:
    """(wall s, '' or the last line of the error when the exit status is not in ``ok``)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode in ok:
        return dt, ""
    lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return dt, f"exit {proc.returncode}: {lines[-1].strip() if lines else '?'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("--evalkit-python", required=True, help="python of the venv where mm-evalkit 0.1.0 is installed")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    archive = args.archive.resolve()
    ek_bin = Path(args.evalkit_python).parent / "mm-evalkit"
    mmbio_bin = Path(sys.executable).parent / "mmbio"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_wang_standin(work / "wang")
        (work / "policies.yaml").write_text(
            f"policies:\n  - id: bench\n    label: bench\n    trajectory_data_path: {archive}\n", encoding="utf-8"
        )
        runs: dict[str, list[float]] = {"mm-evalkit (end to end)": [], "mmbio --no-pdf": [], "mmbio (PDF)": []}
        errors: set[str] = set()
        for k in range(args.repeats):
            plots = work / f"ek{k}"
            dt, err = timed([str(ek_bin), "evaluate", "wang", "--dataset_dir", str(work / "wang"),
                             "--policy_config_file", str(work / "policies.yaml"), "--plots_dir", str(plots)],
                            work, (0,))  # fmt: skip
            runs["mm-evalkit (end to end)"].append(dt)
            if err:
                errors.add(err)
            for name, extra in (("mmbio --no-pdf", ["--no-pdf"]), ("mmbio (PDF)", [])):
                out = work / f"mm{k}{len(extra)}"
                cmd = [str(mmbio_bin), "validate", str(archive), "-o", str(out), "--compat", "mm-evalkit", *extra]
                dt, err = timed(cmd, work, (0, 1))  # 1: a protocol or credibility check failed, all work done
                if err:
                    raise SystemExit(f"{name} failed: {err}")
                runs[name].append(dt)
                shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(plots, ignore_errors=True)
    ek = statistics.median(runs["mm-evalkit (end to end)"])
    print(f"archive {archive.name}; {platform.processor() or platform.machine()}, {_cpus()} CPU(s); "
          f"{args.repeats} alternating rounds, wall s")  # fmt: skip
    print(f"{'tool':<26}{'median':>8}{'min':>8}{'max':>8}{'÷ mm-evalkit':>14}")
    for name, ts in runs.items():
        med = statistics.median(ts)
        print(f"{name:<26}{med:8.2f}{min(ts):8.2f}{max(ts):8.2f}{med / ek:14.2f}")
    for err in sorted(errors):
        print(f"mm-evalkit did not finish: {err} (its time is a lower bound of its end-to-end time)")
    nopdf, pdf = statistics.median(runs["mmbio --no-pdf"]), statistics.median(runs["mmbio (PDF)"])
    print(f"targets: --no-pdf ≤ 1.0 × mm-evalkit: {'met' if nopdf <= ek else 'MISSED'} ({nopdf / ek:.2f}); "
          f"full report ≤ 1.5 ×: {'met' if pdf <= 1.5 * ek else 'MISSED'} ({pdf / ek:.2f})")  # fmt: skip


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    main()
