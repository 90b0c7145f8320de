"""Benchmark: the validation pipeline (issue 3) on a 20-cycle walking trial with 10 muscles, one core.

Run: ``python benchmarks/validation_speed.py [--profile]``. Targets (issue 3, *Speed*): all metrics without
SPM under 5 s; the whole PDF under 20 s. Steps timed, in this order, in one fresh process:

1. ``validate(trial, 'schwartz2008:free', emg_reference='santuz2020_emg', spm=False)`` — the first call is
   *cold* (lazy imports, reference CSVs read and cached); then the median of 3 *warm* calls;
2. ``write_report(result, tmp.pdf)`` — cold, then the median of 3 warm calls; the "whole PDF" line is the
   cold path a fresh ``mmbio validate --output`` process pays: mmbio import + cold validate + cold report;
3. ``validate(..., spm=True)`` when ``spm1d`` is importable (first call cold, then median of 3).

The trial is synthetic and deterministic (seed :data:`SEED`), built from the reference curves
(:func:`synthetic_trial`). A same-process baseline (a fixed numpy workload) is timed alongside and every
step is also printed as a ratio to it, so the numbers stay comparable on a shared, noisy machine.
``--profile`` prints the top 15 functions by cumulative time of one warm call of each step.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

import time  # noqa: E402

_T_START = time.perf_counter()

import cProfile  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mmbio.analysis.validate import validate  # noqa: E402
from mmbio.reference.registry import reference_curve  # noqa: E402
from mmbio.report.pdf import write_report  # noqa: E402
from mmbio.trial import Channels, Events, GroundReaction, Subject, Trial  # noqa: E402

_T_IMPORT = time.perf_counter() - _T_START

SEED = 20240303
N_CYCLES = 20
CYCLE_S = 1.10  # nominal stride time at free speed
TOE_OFF_PCT = 60.0  # % of cycle (Schwartz 2008 free: 59 ± 2)
ANGLE_HZ = 100.0
GRF_HZ = 1000.0
ACT_HZ = 1000.0
MASS_KG = 70.0
REFERENCE = "schwartz2008:free"
EMG_REFERENCE = "santuz2020_emg"
SIDE_ANGLES = ("hip_flexion", "knee_flexion", "ankle_dorsiflexion", "hip_adduction", "hip_rotation")
BODY = ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation")
MUSCLES = (
    "tibialis_anterior",
    "soleus",
    "gastrocnemius_medialis",
    "vastus_lateralis",
    "vastus_medialis",
    "rectus_femoris",
    "biceps_femoris",
    "semitendinosus",
    "gluteus_maximus",
    "gluteus_medius",
)
TARGET_METRICS_S = 5.0
TARGET_PDF_S = 20.0
REPEATS = 3


# --------------------------------------------------------------------------------------------------
# the synthetic trial
# --------------------------------------------------------------------------------------------------


def _periodic(pct: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The 101-point reference ``mean`` (0–100 %) at ``pct`` taken modulo 100."""
    return np.interp(np.mod(pct, 100.0), np.linspace(0.0, 100.0, mean.size), mean)


def _drift(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """A smooth, seeded, slow stride-to-stride variation (two sinusoids of random phase below 0.5 Hz)."""
    f = rng.uniform(0.05, 0.45, 2)
    ph = rng.uniform(0, 2 * np.pi, 2)
    return amplitude * (np.sin(2 * np.pi * f[0] * t + ph[0]) + 0.5 * np.sin(2 * np.pi * f[1] * t + ph[1])) / 1.5


class _Clock:
    """Right heel strikes ``T[-1] … T[N+1]`` with seeded stride times; phase in cycles (left = right − ½)."""

    def __init__(self, rng: np.random.Generator) -> None:
        strides = CYCLE_S * (1.0 + 0.02 * rng.standard_normal(N_CYCLES + 2))
        self.strikes = np.concatenate([[0.0], np.cumsum(strides)]) - strides[0] + 0.25  # T[-1] … T[N+1]
        self.t0 = self.strikes[1] - 0.05  # data start: just before the first right heel strike T[0]
        # data end: just after the left heel strike in the middle of the right cycle T[N] → T[N+1]
        self.t1 = 0.5 * (self.strikes[N_CYCLES + 1] + self.strikes[N_CYCLES + 2]) + 0.05

    def time(self, rate: float) -> np.ndarray:
        return self.t0 + np.arange(int(np.floor((self.t1 - self.t0) * rate)) + 1) / rate

    def phase(self, t: np.ndarray, side: str) -> np.ndarray:
        """Cycle phase (cycles, integer = heel strike of ``side``)."""
        ph = np.interp(t, self.strikes, np.arange(self.strikes.size, dtype=float))
        return ph - (0.5 if side == "l" else 0.0)

    def events(self) -> Events:
        idx = np.arange(self.strikes.size, dtype=float)
        hs, to = {}, {}
        for side, shift in (("r", 0.0), ("l", 0.5)):
            k = idx[:-1] + shift
            strike = np.interp(k, idx, self.strikes)
            off = np.interp(k + TOE_OFF_PCT / 100.0, idx, self.strikes)
            hs[side] = strike[(strike >= self.t0) & (strike <= self.t1)]
            to[side] = off[(off >= self.t0) & (off <= self.t1)]
        return Events(hs, to, source="synthetic")


def _stance_end_pct(name: str, cond: str) -> float:
    """Where the reference vertical GRF (over the gait cycle) returns to zero after mid-cycle, in %."""
    v = reference_curve(name, cond, "grf_vertical").mean
    pct = np.linspace(0.0, 100.0, v.size)
    return float(pct[np.flatnonzero((pct > 50) & (v <= 0.01))[0]])


def _grf(clock: _Clock, side: str, rng: np.random.Generator) -> GroundReaction:
    name, cond = REFERENCE.split(":")
    t = clock.time(GRF_HZ)
    pct = 100.0 * np.mod(clock.phase(t, side), 1.0)
    bw = MASS_KG * 9.81
    force = np.zeros((t.size, 3))
    loaded = pct < TOE_OFF_PCT
    end = _stance_end_pct(name, cond)
    for axis, var in ((2, "grf_vertical"), (0, "grf_ap")):
        mean = reference_curve(name, cond, var, side).mean
        q = pct[loaded] * end / TOE_OFF_PCT  # stance 0–TOE_OFF_PCT of the trial ↔ 0–end of the reference
        force[loaded, axis] = bw * _periodic(q, mean) * (1.0 + _drift(rng, t[loaded], 0.03))
    force[:, 2] = np.clip(force[:, 2] + rng.normal(0.0, 2.0, t.size) * loaded, 0.0, None)  # 2 N sensor noise
    cop = np.full((t.size, 3), np.nan)
    cop[loaded] = 0.0
    cop[loaded, 0] = -0.05 + 0.25 * pct[loaded] / TOE_OFF_PCT  # heel → toe, m
    return GroundReaction(t, force, cop)


def synthetic_trial(seed: int = SEED) -> Trial:
    """A deterministic 20-cycle walking trial (both sides) built from the ``schwartz2008:free`` and
    ``santuz2020_emg`` mean curves: clinical angles at 100 Hz, GRF per foot at 1 kHz (stance part of the
    reference, zero in swing, left foot half a cycle after the right), 10 muscle activations per side at
    1 kHz (reference envelope min–max scaled to [0, 1]), events from the construction, 70 kg."""
    rng = np.random.default_rng(seed)
    clock = _Clock(rng)
    name, cond = REFERENCE.split(":")

    t = clock.time(ANGLE_HZ)
    cols, names = [], []
    for var in BODY:
        m = reference_curve(name, cond, var, "r").mean
        cols.append(_periodic(100.0 * clock.phase(t, "r"), m) + _drift(rng, t, 0.8) + rng.normal(0, 0.1, t.size))
        names.append(var)
    for side in ("r", "l"):
        pct = 100.0 * clock.phase(t, side)
        for var in SIDE_ANGLES:
            m = reference_curve(name, cond, var, side).mean
            cols.append(
                _periodic(pct, m) * (1.0 + _drift(rng, t, 0.04)) + _drift(rng, t, 1.0) + rng.normal(0, 0.2, t.size)
            )
            names.append(f"{var}_{side}")
    angles = Channels(t, np.column_stack(cols), names, "deg")

    ta = clock.time(ACT_HZ)
    cols, names = [], []
    for side in ("r", "l"):
        pct = 100.0 * clock.phase(ta, side)
        for mus in MUSCLES:
            m = reference_curve(EMG_REFERENCE, None, mus, "r").mean  # Santuz 2020: right side only
            m = (m - m.min()) / (m.max() - m.min())
            a = _periodic(pct, m) * (1.0 + _drift(rng, ta, 0.08)) + rng.normal(0, 0.01, ta.size)
            cols.append(np.clip(a, 0.0, 1.0))
            names.append(f"{mus}_{side}")
    activations = Channels(ta, np.column_stack(cols), names, "1")

    return Trial(
        name=f"synthetic_{N_CYCLES}_cycles",
        source="benchmarks/validation_speed.py",
        kind="simulated",
        subject=Subject(name="synthetic", mass_kg=MASS_KG, height_m=1.75, speed_m_s=1.3),
        angles=angles,
        grf={s: _grf(clock, s, rng) for s in ("r", "l")},
        activations=activations,
        events=clock.events(),
    )


# --------------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------------


def baseline() -> None:
    """A fixed single-thread numpy workload (~0.2 s on the dev machine): sort, FFT, small matmuls, interp."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4_000_000)
    np.sort(x)
    for _ in range(100):
        np.fft.rfft(x[: 1 << 16])
    a = rng.standard_normal((200, 200))
    for _ in range(100):
        a = np.tanh(a @ a / 200.0)
    tq = np.linspace(0, 1, 101)
    tx = np.linspace(0, 1, 2000)
    for _ in range(20_000):
        np.interp(tq, tx, x[:2000])


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def warm_median(fn: Callable[[], object], repeats: int = REPEATS) -> tuple[float, list[float]]:
    runs = [timed(fn)[0] for _ in range(repeats)]
    return statistics.median(runs), runs


def profile(label: str, fn: Callable[[], object], top: int = 15) -> None:
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(top)
    print(f"\n--- profile: {label} (one warm call; top {top} by cumulative time) ---")
    print("\n".join(line for line in s.getvalue().splitlines() if line.strip())[:6000])


def main(argv: list[str]) -> int:
    want_profile = "--profile" in argv
    t_build, trial = timed(synthetic_trial)
    assert isinstance(trial, Trial)
    assert trial.activations is not None and trial.angles is not None

    run = lambda spm=False: validate(trial, REFERENCE, emg_reference=EMG_REFERENCE, spm=spm, seed=0)  # noqa: E731
    t_cold, result = timed(run)
    t_warm, warm_runs = warm_median(run)

    tmp = Path(tempfile.mkdtemp(prefix="mmbio_bench_"))
    pdf = tmp / "report.pdf"
    t_pdf_cold, _ = timed(lambda: write_report(result, pdf))  # type: ignore[arg-type]
    t_pdf_warm, pdf_runs = warm_median(lambda: write_report(result, pdf))  # type: ignore[arg-type]
    n_pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))

    has_spm = importlib.util.find_spec("spm1d") is not None  # not imported here: the 1st SPM call pays for it
    if has_spm:
        t_spm_cold, res_spm = timed(lambda: run(True))
        t_spm_warm, spm_runs = warm_median(lambda: run(True))
        t_spm_pdf, _ = timed(lambda: write_report(res_spm, tmp / "report_spm.pdf"))  # type: ignore[arg-type]

    t_base, _ = warm_median(baseline)

    m = result.metrics  # type: ignore[attr-defined]
    n_metrics = sum(len(ms) for d in m.values() for s in d.values() for ms in s.values())
    n_cycles = {s: trial.events.heel_strike[s].size - 1 for s in ("r", "l")}
    print(
        f"trial: {n_cycles['r']} right + {n_cycles['l']} left cycles, {len(trial.angles.names)} angle channels "
        f"@ {ANGLE_HZ:g} Hz, GRF 2 feet @ {GRF_HZ:g} Hz, {len(trial.activations.names)} activations "
        f"({len(MUSCLES)} muscles × 2 sides) @ {ACT_HZ:g} Hz; built in {t_build:.2f} s (seed {SEED})"
    )
    print(
        f"result: {n_metrics} metrics in {', '.join(f'{d} {sum(len(v) for v in s.values())} variables' for d, s in m.items())}; "
        f"{len(result.curves)} curves; PDF {n_pages} pages"  # type: ignore[attr-defined]
    )
    print(f"import mmbio (validate, report, registry): {_T_IMPORT:.2f} s")
    print()
    rows: list[tuple[str, float, float | None]] = [
        ("validate, no SPM — cold (1st call)", t_cold, TARGET_METRICS_S),
        (f"validate, no SPM — warm (median of {REPEATS})", t_warm, TARGET_METRICS_S),
        ("write_report PDF — cold (1st call)", t_pdf_cold, None),
        (f"write_report PDF — warm (median of {REPEATS})", t_pdf_warm, None),
        ("whole PDF, cold: import + validate + report", _T_IMPORT + t_cold + t_pdf_cold, TARGET_PDF_S),
    ]
    if has_spm:
        rows += [
            ("validate, SPM — 1st call (spm1d import)", t_spm_cold, None),
            (f"validate, SPM — warm (median of {REPEATS})", t_spm_warm, None),
            ("write_report PDF with SPM — 1 call", t_spm_pdf, None),
        ]
    print(f"{'step':<46}{'seconds':>9}{'target':>8}{'result':>8}{'× baseline':>12}")
    ok = True
    for label, sec, target in rows:
        verdict = "" if target is None else ("pass" if sec < target else "FAIL")
        ok &= verdict != "FAIL"
        tgt = "" if target is None else f"< {target:g}"
        print(f"{label:<46}{sec:>9.3f}{tgt:>8}{verdict:>8}{sec / t_base:>12.1f}")
    print(
        f"timed runs: validate {', '.join(f'{r:.3f}' for r in warm_runs)} s; "
        f"write_report {', '.join(f'{r:.3f}' for r in pdf_runs)} s"
        + (f"; validate+SPM {', '.join(f'{r:.3f}' for r in spm_runs)} s" if has_spm else "")
    )
    if not has_spm:
        print("spm1d not importable: SPM step skipped")
    print(f"baseline (fixed numpy workload, median of {REPEATS}): {t_base:.3f} s")

    if want_profile:
        profile("validate, no SPM", run)
        profile("write_report", lambda: write_report(result, pdf))  # type: ignore[arg-type]
        if has_spm:
            profile("validate, SPM", lambda: run(True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
