"""mm-evalkit 0.1.0 and mmbio on the same rollout archive, side by side in one run (issue 15 §3).

Times, each as a fresh process (imports included, as a user types it), alternating the tools for ``--repeats``
rounds:

* ``mm-evalkit evaluate gait120 --motion_group GAIT120_TESTING …`` end to end, in mm-evalkit's own venv
  (``--evalkit-python``): archive validation, gait extraction, the human cohort, every metric for gait 1, gait 2 and
  all gaits pooled, the Wilcoxon tests, all its figures and tables. mm-evalkit needs a human dataset to run at all
  and Gait120 is not available here, so it reads a **stand-in** that this script writes into a temporary folder:
  Gait120's release layout as ``mm_evalkit/datasets/gait120.py`` reads it, filled with synthetic but plausible
  curves (:func:`write_gait120_standin`). Its scores are meaningless and not reported; only its time is (the work
  does not depend on the values);
* ``mm-evalkit evaluate wang …`` on a Wang-layout stand-in (9 subjects × ``SubjNN_walk_45.mat``), a second row
  (``--no-wang`` drops it). mm-evalkit 0.1.0's Wang workflow stops with ``IndexError`` in its RSA figure (the
  population-only Wang cohort has no subjects), so its time is a lower bound;
* ``mmbio validate ARCHIVE --no-pdf`` and ``mmbio validate ARCHIVE`` (with the PDF), both with
  ``--compat mm-evalkit``, in this interpreter's venv.

Archives (``--episodes``, default ``1 20``). The archive's ``traj_id`` values decode through GAIT120_TESTING
(20 subjects × Trial05: id 0 is S051, …, 9 is S060, 10 is S111, …, 19 is S120). ``1``: ARCHIVE as given; a
one-episode mmbio export has traj_id 0, so mm-evalkit compares one subject (S051). ``n > 1``: ARCHIVE's episode 0
copied, bit for bit, as episodes 0..n-1 with traj_id 0..n-1, i.e. the shape of a MuscleMimic user's evaluation
export over the whole motion set (n = 20: every subject); mmbio then validates them together
(``--episode all --motion-list GAIT120_TESTING``), as mm-evalkit does.

Prints a table (median, min, max wall seconds, files written) and, per archive, the ratios against mm-evalkit's
Gait120 run; targets: ``--no-pdf`` ≤ mm-evalkit and the full report ≤ 1.5 × mm-evalkit.

Usage::

    mmbio export checkpoints/tracking_walk.pkl --cycles 4 -o /tmp/walk4.npz   # a ≈ 5.7 s MyoFullBody rollout
    python benchmarks/evalkit_speed.py /tmp/walk4.npz --evalkit-python /work/venv-ek/bin/python
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# --- Gait120 stand-in ---------------------------------------------------------------------------------------------
# What mm-evalkit 0.1.0 reads of a Gait120 release (datasets/gait120.py, datasets/motion_sets.py):
#   Gait120_051_to_060/S051/JointAngle/LevelWalking/Trial05/step01.mot   OpenSim IK coordinates, degrees, one stride
#   Gait120_051_to_060/S051/EMG/ConvertedData.mat   LevelWalking.TrialNN.StepNN.EMGs_interpolated.<muscle> vectors
# for every subject of the motion set, trial 5 (the compared trial) and trials 1-4 (its within-subject reliability),
# steps 1 and 2. Sizes as the release has them, as far as its published description says: the modified Rajagopal
# model (single-DoF knee) gives 37 coordinates + time; a level-walking stride of ≈ 1.0-1.2 s sampled at 100 Hz; the
# 12 right-leg EMG channels (the release's spelling, "GastrocnemuisMedialis" included), envelopes resampled onto the
# stride's frames (assumed: the release's "interpolated" length is not documented; mm-evalkit resamples any length
# to 100 points, and the time does not depend on it measurably, see RESULTS.md).
GAIT120_TESTING_SUBJECTS = (*range(51, 61), *range(111, 121))  # mm-evalkit's GAIT120_TESTING: these × Trial05
GAIT120_TRIALS = (1, 2, 3, 4, 5)
GAIT120_STEPS = (1, 2)
MOT_RATE_HZ = 100.0
RAJAGOPAL_COORDINATES = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r", "subtalar_angle_r",
    "mtp_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l", "subtalar_angle_l",
    "mtp_angle_l",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
    "arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r", "pro_sup_r", "wrist_flex_r", "wrist_dev_r",
    "arm_flex_l", "arm_add_l", "arm_rot_l", "elbow_flex_l", "pro_sup_l", "wrist_flex_l", "wrist_dev_l",
)  # fmt: skip
# EMG channel -> ((phase of a burst, width), ...) over a right-heel-strike stride, textbook level walking.
GAIT120_EMG_BURSTS = {
    "VastusLateralis": ((0.08, 0.07), (0.97, 0.04)),
    "RectusFemoris": ((0.07, 0.06), (0.58, 0.05)),
    "VastusMedialis": ((0.08, 0.07), (0.97, 0.04)),
    "TibialisAnterior": ((0.03, 0.05), (0.68, 0.1)),
    "BicepsFemoris": ((0.02, 0.06), (0.9, 0.06)),
    "Semitendinosus": ((0.03, 0.06), (0.9, 0.05)),
    "GastrocnemuisMedialis": ((0.38, 0.09),),
    "GastrocnemiusLateralis": ((0.4, 0.08),),
    "SoleusMedialis": ((0.35, 0.11),),
    "SoleusLateralis": ((0.36, 0.11),),
    "PeroneusLongus": ((0.3, 0.12),),
    "PeroneusBrevis": ((0.33, 0.1),),
}


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A periodic (von Mises) bump on the stride phase, 1 at ``centre``."""
    return np.exp((np.cos(2 * np.pi * (phase - centre)) - 1.0) / (2 * np.pi * width) ** 2)


def _stride_angles(phase: np.ndarray, rng: np.random.Generator, style: dict) -> dict[str, np.ndarray]:
    """Plausible level-walking coordinates (degrees; pelvis translations in m) on one right-heel-strike stride.

    Sign conventions of the modified Rajagopal model as the release has them: hip flexion +, knee extension + (so
    a flexed knee is negative), ankle dorsiflexion +."""

    def leg(p: np.ndarray) -> dict[str, np.ndarray]:
        knee_flexion = 4 + 14 * _bump(p, 0.14, 0.06) + 56 * _bump(p, 0.72, 0.09)
        return {
            "hip_flexion": 10 + 22 * style["amp"] * np.cos(2 * np.pi * (p - 0.02)),
            "hip_adduction": 3 * np.sin(2 * np.pi * p) + 2 * _bump(p, 0.2, 0.08),
            "hip_rotation": 4 * np.sin(2 * np.pi * (p + 0.1)),
            "knee_angle": -style["amp"] * knee_flexion,
            "ankle_angle": 2 - 6 * _bump(p, 0.07, 0.04) + 9 * _bump(p, 0.45, 0.1) - 20 * _bump(p, 0.63, 0.05),
            "subtalar_angle": 3 * np.sin(2 * np.pi * (p + 0.2)),
            "mtp_angle": 20 * _bump(p, 0.55, 0.06),
        }

    right, left = leg(phase), leg((phase + 0.5) % 1.0)
    out = {f"{k}_r": v for k, v in right.items()} | {f"{k}_l": v for k, v in left.items()}
    out |= {
        "pelvis_tilt": 8 + 2 * np.cos(4 * np.pi * phase),
        "pelvis_list": 4 * np.sin(2 * np.pi * phase),
        "pelvis_rotation": 5 * np.cos(2 * np.pi * phase),
        "pelvis_tx": style["speed"] * phase * style["stride_s"],
        "pelvis_ty": 0.93 + 0.02 * np.cos(4 * np.pi * phase),
        "pelvis_tz": 0.02 * np.sin(2 * np.pi * phase),
        "lumbar_extension": -5 + 2 * np.cos(4 * np.pi * phase),
        "lumbar_bending": 2 * np.sin(2 * np.pi * phase),
        "lumbar_rotation": 3 * np.sin(2 * np.pi * (phase + 0.25)),
    }
    for side, shift in (("r", 0.5), ("l", 0.0)):  # an arm swings with the opposite leg
        p = (phase + shift) % 1.0
        out |= {
            f"arm_flex_{side}": 12 * np.cos(2 * np.pi * p),
            f"arm_add_{side}": -8 + np.sin(2 * np.pi * p),
            f"arm_rot_{side}": 5 + 2 * np.sin(2 * np.pi * p),
            f"elbow_flex_{side}": 22 + 8 * np.cos(2 * np.pi * p),
            f"pro_sup_{side}": 80 + np.sin(2 * np.pi * p),
            f"wrist_flex_{side}": 5 + np.sin(2 * np.pi * p),
            f"wrist_dev_{side}": 2 * np.sin(2 * np.pi * p),
        }
    for name in out:
        if name not in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
            out[name] = out[name] + style["offsets"][name] + rng.normal(0.0, 1.5) + np.sin(2 * np.pi * rng.uniform())
    return out


def _write_mot(path: Path, columns: dict[str, np.ndarray], time_s: np.ndarray) -> None:
    """An OpenSim IK ``.mot`` as OpenSim writes it (header, ``endheader``, tab-separated %16.8f columns)."""
    data = np.column_stack([time_s] + [columns[name] for name in RAJAGOPAL_COORDINATES])
    header = (
        f"Coordinates\nversion=1\nnRows={data.shape[0]}\nnColumns={data.shape[1]}\ninDegrees=yes\n\n"
        "Units are S.I. units (second, meters, Newtons, ...)\n"
        "If the header above contains a line with 'inDegrees', this indicates whether rotational values are in "
        "degrees (yes) or radians (no).\n\nendheader\n" + "\t".join(("time", *RAJAGOPAL_COORDINATES)) + "\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(header)
        np.savetxt(fh, data, fmt="%16.8f", delimiter="\t")


def write_gait120_standin(root: Path, subjects: tuple[int, ...] = GAIT120_TESTING_SUBJECTS) -> int:
    """Gait120's release layout for ``subjects`` × trials 1-5 × steps 1-2 with synthetic values (timing only);
    returns the number of files written."""
    from scipy.io import savemat

    rng = np.random.default_rng(120)
    n_files = 0
    for subject in subjects:
        first = (subject - 1) // 10 * 10 + 1
        subject_dir = root / f"Gait120_{first:03d}_to_{first + 9:03d}" / f"S{subject:03d}"
        # a subject: own amplitude, speed and per-coordinate offsets; own EMG gains and burst timing
        offsets = dict(zip(RAJAGOPAL_COORDINATES, rng.normal(0.0, 3.0, len(RAJAGOPAL_COORDINATES)), strict=True))
        style = {"amp": rng.uniform(0.85, 1.15), "offsets": offsets, "speed": rng.uniform(1.1, 1.4)}
        emg_gain = {name: rng.uniform(0.5, 1.0) for name in GAIT120_EMG_BURSTS}
        emg_shift = {name: rng.normal(0.0, 0.04) for name in GAIT120_EMG_BURSTS}
        movement: dict[str, dict[str, object]] = {}
        for trial in GAIT120_TRIALS:
            for step in GAIT120_STEPS:
                stride_s = rng.uniform(1.0, 1.2)
                n = round(stride_s * MOT_RATE_HZ) + 1
                time_s = np.arange(n) / MOT_RATE_HZ
                phase = time_s / time_s[-1]
                stride_style = style | {"stride_s": stride_s, "amp": style["amp"] * rng.uniform(0.95, 1.05)}
                angles = _stride_angles(phase, rng, stride_style)
                _write_mot(subject_dir / "JointAngle" / "LevelWalking" / f"Trial{trial:02d}" / f"step{step:02d}.mot",
                           angles, time_s)  # fmt: skip
                emg = {
                    name: (
                        0.03
                        + emg_gain[name] * sum(_bump(phase, c + emg_shift[name] + rng.normal(0, 0.02), w)
                                               for c, w in bursts)
                        + np.abs(rng.normal(0.0, 0.03, n))
                    ).reshape(-1, 1)
                    for name, bursts in GAIT120_EMG_BURSTS.items()
                }  # fmt: skip
                movement.setdefault(f"Trial{trial:02d}", {})[f"Step{step:02d}"] = {"EMGs_interpolated": emg}
                n_files += 1
        (subject_dir / "EMG").mkdir(parents=True, exist_ok=True)
        savemat(subject_dir / "EMG" / "ConvertedData.mat", {"LevelWalking": movement})
        n_files += 1
    return n_files


# --- Wang stand-in ------------------------------------------------------------------------------------------------
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


# --- timing -------------------------------------------------------------------------------------------------------
def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...]) -> tuple[float, str]:
    """(wall s, '' or the last line of the error when the exit status is not in ``ok``)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode in ok:
        return dt, ""
    lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return dt, f"exit {proc.returncode}: {lines[-1].strip() if lines else '?'}"


def replicate_episodes(archive: Path, n: int, out: Path) -> Path:
    """``archive``'s episode 0 written ``n`` times, bit for bit, as episodes 0..n-1 with traj_id 0..n-1: one rollout
    per motion of GAIT120_TESTING (subjects S051..S060, S111..S120, trial 5), as a MuscleMimic user's evaluation
    export has them. The values of a copy do not change the work either tool does on it."""
    with np.load(archive, allow_pickle=False) as ar:
        arrays = {k: ar[k] for k in ar.files if not k.startswith("episode_")}
        first = {k.removeprefix("episode_0_"): ar[k] for k in ar.files if k.startswith("episode_0_")}
    arrays["n_episodes"] = np.array(n)
    for e in range(n):
        arrays |= {f"episode_{e}_{k}": v for k, v in first.items()}
        arrays[f"episode_{e}_traj_id"] = np.array(e)
    np.savez_compressed(out, **arrays)
    return out


EK_GAIT120 = "mm-evalkit evaluate gait120"
EK_WANG = "mm-evalkit evaluate wang"
MM_NOPDF = "mmbio validate --no-pdf"
MM_PDF = "mmbio validate (PDF)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("--evalkit-python", required=True, help="python of the venv where mm-evalkit 0.1.0 is installed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--episodes", type=int, nargs="+", default=[1, 20],
                    help="archives to time: 1 = ARCHIVE as given; n > 1 = its episode 0 copied as episodes "
                         "0..n-1 (traj_id = GAIT120_TESTING motion; mmbio then validates --episode all)")  # fmt: skip
    ap.add_argument("--no-wang", action="store_true", help="skip the Wang stand-in row")
    args = ap.parse_args()
    if any(not 1 <= n <= len(GAIT120_TESTING_SUBJECTS) for n in args.episodes):
        ap.error(f"--episodes: 1..{len(GAIT120_TESTING_SUBJECTS)} (the motions of GAIT120_TESTING)")
    archive = args.archive.resolve()
    ek_bin = Path(args.evalkit_python).parent / "mm-evalkit"
    mmbio_bin = Path(sys.executable).parent / "mmbio"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        n_files = write_gait120_standin(work / "gait120")
        print(f"Gait120 stand-in: {len(GAIT120_TESTING_SUBJECTS)} subjects × trials 1-5 × steps 1-2, {n_files} files, "
              f"{_du(work / 'gait120') / 1e6:.1f} MB, written in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        if not args.no_wang:
            write_wang_standin(work / "wang")
        # (episodes, tool) -> command, exit statuses that mean "all work done"
        jobs: dict[tuple[int, str], tuple[list[str], tuple[int, ...]]] = {}
        for n in args.episodes:
            path = archive if n == 1 else replicate_episodes(archive, n, work / f"episodes{n}.npz")
            policies = work / f"policies{n}.yaml"
            policies.write_text(f"policies:\n  - id: bench\n    label: bench\n    trajectory_data_path: {path}\n",
                                encoding="utf-8")  # fmt: skip
            ek = ["--policy_config_file", str(policies)]
            jobs[n, EK_GAIT120] = ([str(ek_bin), "evaluate", "gait120", "--dataset_dir", str(work / "gait120"),
                                    "--motion_group", "GAIT120_TESTING", *ek], (0,))  # fmt: skip
            if n == 1 and not args.no_wang:
                jobs[n, EK_WANG] = ([str(ek_bin), "evaluate", "wang", "--dataset_dir", str(work / "wang"), *ek], (0,))
            mm = [str(mmbio_bin), "validate", str(path), "--compat", "mm-evalkit"]
            if n > 1:
                mm += ["--episode", "all", "--motion-list", "GAIT120_TESTING"]
            # exit 1: a protocol or credibility check failed, all work done
            jobs[n, MM_NOPDF] = ([*mm, "--no-pdf"], (0, 1))
            jobs[n, MM_PDF] = (mm, (0, 1))
        runs: dict[tuple[int, str], list[float]] = {key: [] for key in jobs}
        errors: dict[tuple[int, str], set[str]] = {key: set() for key in jobs}
        outputs: dict[tuple[int, str], int] = {}
        for k in range(args.repeats):
            for i, (key, (cmd, ok)) in enumerate(jobs.items()):
                out = work / f"out{k}_{i}"
                dt, err = timed([*cmd, "--plots_dir" if key[1].startswith("mm-evalkit") else "-o", str(out)], work, ok)
                runs[key].append(dt)
                if err:
                    errors[key].add(err)
                outputs[key] = sum(1 for p in out.rglob("*") if p.is_file())
                shutil.rmtree(out, ignore_errors=True)
    print(f"{platform.processor() or platform.machine()}, {_cpus()} CPU(s); {args.repeats} alternating rounds, wall s; "
          f"archive {archive.name} (n episodes > 1: its episode 0 copied n times, traj_id 0..n-1)")  # fmt: skip
    print(f"{'episodes':>8}  {'tool':<30}{'median':>8}{'min':>8}{'max':>8}{'÷ gait120':>11}{'files out':>11}  finished")
    for (n, name), ts in runs.items():
        med, ek = statistics.median(ts), statistics.median(runs[n, EK_GAIT120])
        done = "yes" if not errors[n, name] else "NO (a lower bound)"
        print(f"{n:>8}  {name:<30}{med:8.2f}{min(ts):8.2f}{max(ts):8.2f}{med / ek:11.2f}{outputs[n, name]:11d}  {done}")
    for (n, name), errs in errors.items():
        for err in sorted(errs):
            print(f"{n} episode(s), {name} did not finish: {err}")
    for n in args.episodes:
        ek = statistics.median(runs[n, EK_GAIT120])
        nopdf, pdf = statistics.median(runs[n, MM_NOPDF]), statistics.median(runs[n, MM_PDF])
        warn = " (against a lower bound: mm-evalkit did not finish)" if errors[n, EK_GAIT120] else ""
        print(f"{n} episode(s): --no-pdf ≤ 1.0 × mm-evalkit gait120: {'met' if nopdf <= ek else 'MISSED'} "
              f"({nopdf / ek:.2f}); full report ≤ 1.5 ×: {'met' if pdf <= 1.5 * ek else 'MISSED'} ({pdf / ek:.2f})"
              f"{warn}")  # fmt: skip


def _du(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    main()
