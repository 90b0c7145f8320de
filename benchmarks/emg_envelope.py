"""Benchmark: :func:`mmbio.gait.emg.envelope` on 16 channels × 10 min at 2 kHz, one core.

Run: ``python benchmarks/emg_envelope.py``. Target: under 2 s (median of 3 timed runs, after one
untimed warm-up). A same-process baseline (one causal ``sosfilt`` pass of the band-pass on the same
array) is timed alongside, so the ratio stays meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from scipy import signal  # noqa: E402

from mmbio.gait.emg import EnvelopeSettings, envelope  # noqa: E402

RATE_HZ = 2000.0
N_CHANNELS = 16
DURATION_S = 600.0
TARGET_S = 2.0
REPEATS = 3


def synthetic_emg(n_channels: int = N_CHANNELS, duration_s: float = DURATION_S, rate_hz: float = RATE_HZ) -> np.ndarray:
    """(n, k) seeded synthetic EMG in V: white noise band-limited to 20–450 Hz, amplitude-modulated at 1 Hz."""
    rng = np.random.default_rng(20200101)
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    carrier = rng.standard_normal((n, n_channels))
    carrier = signal.sosfilt(signal.butter(2, (20, 450), "bandpass", fs=rate_hz, output="sos"), carrier, axis=0)
    phase = rng.uniform(0, 2 * np.pi, n_channels)
    modulation = 0.55 + 0.45 * np.sin(2 * np.pi * 1.0 * t[:, None] + phase)
    return 1e-4 * carrier * modulation


def median_time(fn: Callable[[], object], repeats: int = REPEATS) -> tuple[float, list[float]]:
    fn()  # warm-up: page faults, lazy imports, CPU clock ramp-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main() -> int:
    x = synthetic_emg()
    settings = EnvelopeSettings()
    sos = signal.butter(settings.order, settings.band_hz, "bandpass", fs=RATE_HZ, output="sos")
    xt = np.ascontiguousarray(x.T)

    t_env, runs = median_time(lambda: envelope(x, RATE_HZ, settings))
    t_base, _ = median_time(lambda: signal.sosfilt(sos, xt, axis=-1))
    t_abs, _ = median_time(lambda: np.abs(x))

    ok = t_env < TARGET_S
    print(f"envelope() with default settings {settings}")
    print(f"{'channels':>8} {'samples':>9} {'seconds':>8} {'target':>7} {'result':>6}")
    print(f"{x.shape[1]:>8} {x.shape[0]:>9} {t_env:>8.3f} {TARGET_S:>7.1f} {'pass' if ok else 'FAIL':>6}")
    print(f"timed runs: {', '.join(f'{r:.3f}' for r in runs)} s (median of {REPEATS}, after 1 warm-up)")
    print(f"baseline, one causal sosfilt band-pass pass: {t_base:.3f} s  → envelope/baseline = {t_env / t_base:.2f}")
    print(f"baseline, np.abs on the same array:          {t_abs:.3f} s  → envelope/abs = {t_env / t_abs:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
