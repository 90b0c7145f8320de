"""Time reading one C3D trial, detecting events and normalising EMG/GRF to the gait cycle.

Usage: ``python benchmarks/c3d_read.py [path.c3d]`` (default: a Schreiber 2019 file in
``../shared/reference``). Prints the median of 5 runs per step; the target for the total is < 0.5 s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmbio.gait.cycles import channel_curve, grf_curve
from mmbio.io.c3d import read_c3d
from mmbio.trial import Trial

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "reference" / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
RUNS = 5


def _events(trial: Trial) -> Trial:
    try:
        from mmbio.gait.events import detect_events
    except ImportError:
        return trial
    return trial.replace(events=detect_events(trial.grf))


def _normalise(trial: Trial) -> int:
    n = 0
    if trial.emg is not None:
        for name in trial.emg.names:
            channel_curve(trial, "emg", name)
            n += 1
    for side in trial.grf:
        for axis in range(3):
            grf_curve(trial, side, axis)  # type: ignore[arg-type]
            n += 1
    return n


def _median(fn: Callable[[], object]) -> tuple[float, object]:
    times, out = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    t_read, trial = _median(lambda: read_c3d(path))
    assert isinstance(trial, Trial)
    t_ev, with_events = _median(lambda: _events(trial))
    assert isinstance(with_events, Trial)
    t_norm, n_curves = _median(lambda: _normalise(trial))  # C3D events: complete cycles on both sides
    total = t_read + t_ev + t_norm
    print(
        f"{path.name}: {trial.markers.positions.shape[0] if trial.markers else 0} frames, "
        f"{trial.plates[0].time.size if trial.plates else 0} analog samples; median of {RUNS} runs"
    )
    print(f"{'step':<34}{'time (ms)':>10}")
    print(f"{'read_c3d':<34}{1e3 * t_read:>10.1f}")
    print(f"{'detect_events (grf)':<34}{1e3 * t_ev:>10.1f}")
    print(f"{f'cycle normalisation ({n_curves} curves)':<34}{1e3 * t_norm:>10.1f}")
    print(f"{'total':<34}{1e3 * total:>10.1f}   target < 500 ms: {'ok' if total < 0.5 else 'SLOW'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
