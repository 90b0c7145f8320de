"""Do humans pass the human-band credibility checks? Leave-one-subject-out calibration of ``free_moment_peak`` and
``grf_vertical_max`` (``validation/credibility/bands.yaml``) on Schreiber 2019's adults, and the same checks on the
Rajagopal 2016 walk (another lab) and on the committed simulated demos.

The bands are the between-subject spread (mean ± 2 SD pass, ± 3 SD warn, one-sided for the free moment) of each
subject's *mean* per-stance peak. Two statistics of a trial are compared with them:

``max``
    what the checks computed up to issue 14's seventh pass: the largest value over every stance of the trial,
    worst foot (a simulation of 4.6 s has 4 stances per foot);
``mean``
    each foot's mean of its per-stance peaks, worst foot: the statistic the bands are made of.

For each Schreiber subject, the band comes from the other subjects (their per-subject means, both sides pooled
as :func:`mmbio.analysis.credibility._human_band` pools them), at the subject's condition (C4 self-selected, C5
fast). Stances: complete plate stances as the reference builder takes them (:func:`plate_stance`); for the other
trials, complete contact intervals of each foot (20 N).

Usage: ``python benchmarks/credibility_calibration.py`` (reads ``../shared/reference``; ≈ 1 min + 2 demo rollouts
of 4.6 s). Results: benchmarks/RESULTS.md, issue 14, "Seventh pass".
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

from mmbio.analysis.grf import free_moment_peak
from mmbio.gait.events import contact_intervals
from mmbio.io.c3d import read_c3d
from mmbio.reference.build.schreiber import SCHREIBER_CONDITIONS, plate_stance, schreiber_subjects
from mmbio.trial import GRAVITY

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MMBIO_SHARED_REFERENCE", REPO.parent / "shared" / "reference"))
CHECKS = ("free_moment_peak", "grf_vertical_max")


def stance_peaks(g: object, stances: list[tuple[float, float]], mass_kg: float) -> dict[str, list[float]]:
    """Per stance: the largest |free moment| while loaded ≥ 10 % BW (N·m/kg) and the largest vertical force (BW)."""
    t, fz = np.asarray(g.time), np.asarray(g.vertical, float)  # type: ignore[attr-defined]
    tz = np.asarray(g.free_moment, float)  # type: ignore[attr-defined]
    out: dict[str, list[float]] = {c: [] for c in CHECKS}
    for a, b in stances:
        fm = free_moment_peak(t, fz, tz, mass_kg, (a, b))  # the reference builder's per-stance statistic
        if np.isfinite(fm):
            out["free_moment_peak"].append(fm)
        w = (t >= a) & (t <= b)
        if w.any():
            out["grf_vertical_max"].append(float(np.nanmax(fz[w])) / (mass_kg * GRAVITY))
    return out


def contact_stances(g: object) -> list[tuple[float, float]]:
    """Complete contact intervals of one foot (neither end cut by the trial)."""
    return [(a, b) for a, b in contact_intervals(g.time, g.vertical) if a is not None and b is not None]  # type: ignore[attr-defined]


def statistics(peaks: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """{check: {'max': worst foot's largest stance peak, 'mean': worst foot's mean stance peak}} from per-side
    per-stance peaks ``peaks[side][check]``."""
    out = {}
    for c in CHECKS:
        per = [np.asarray(p[c]) for p in peaks.values() if len(p[c])]
        out[c] = {"max": max((float(x.max()) for x in per), default=np.nan),
                  "mean": max((float(x.mean()) for x in per), default=np.nan), "n": sum(len(x) for x in per)}  # fmt: skip
    return out


def status(x: float, mu: float, sd: float, upper: bool) -> str:
    if not np.isfinite(x):
        return "n/a"
    z = (x - mu) / sd
    z = z if upper else abs(z)
    return "pass" if z <= 2 else "warn" if z <= 3 else "fail"


def schreiber() -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
    """{condition: {subject: {side: per-stance peaks}}} from every subject's plate stances."""
    data: dict = {c: {} for c in SCHREIBER_CONDITIONS}
    for subj in schreiber_subjects(SHARED):
        for cond, lab in SCHREIBER_CONDITIONS.items():
            for f in sorted((SHARED / "schreiber2019" / subj).glob(f"{subj}_{lab}_*.c3d")):
                trial = read_c3d(f)
                w = trial.subject.weight_n
                for side in ("r", "l"):
                    hs = trial.events.heel_strike[side]
                    st = []
                    for a, c in itertools.pairwise(hs):
                        off = plate_stance(trial, side, float(a), float(c), w)
                        if off is not None:
                            st.append((float(a), off))
                    p = stance_peaks(trial.grf[side], st, w / GRAVITY)
                    d = data[cond].setdefault(subj, {}).setdefault(side, {k: [] for k in CHECKS})
                    for k in CHECKS:
                        d[k] += p[k]
    return data


def band(data: dict, check: str, leave_out: str | None) -> tuple[float, float, int]:
    """(mean, sd, n) of the other subjects' per-subject mean stance peak, each side separately then pooled as the
    credibility check pools them (mean of the side means, RMS of the side SDs)."""
    mus, sds, ns = [], [], []
    for side in ("r", "l"):
        v = [np.mean(s[side][check]) for k, s in data.items() if k != leave_out and len(s.get(side, {}).get(check, []))]
        if len(v) >= 2:
            mus.append(np.mean(v))
            sds.append(np.std(v, ddof=1))
            ns.append(len(v))
    return float(np.mean(mus)), float(np.sqrt(np.mean(np.square(sds)))), min(ns)


def main() -> None:
    t0 = time.perf_counter()
    data = schreiber()
    print(f"(Schreiber stances read in {time.perf_counter() - t0:.0f} s)")
    upper = {"free_moment_peak": True, "grf_vertical_max": False}
    for cond, subjects in data.items():
        for check in CHECKS:
            mu, sd, n = band(data[cond], check, None)
            print(f"\n### {cond}, {check}: all {n} subjects' band {mu:.3f} ± {sd:.3f}")
            print("| subject | stances | max | mean | band without the subject | status of max | status of mean |")
            print("|---|---:|---:|---:|---|---|---|")
            counts = {"max": {}, "mean": {}}
            for subj, per in subjects.items():
                s = statistics(per)[check]
                m2, s2, n2 = band(subjects, check, subj)
                st = {k: status(s[k], m2, s2, upper[check]) for k in ("max", "mean")}
                for k in st:
                    counts[k][st[k]] = counts[k].get(st[k], 0) + 1
                print(f"| {subj} | {s['n']} | {s['max']:.3f} | {s['mean']:.3f} | {m2:.3f} ± {s2:.3f} (n {n2}) | "
                      f"{st['max']} | {st['mean']} |")  # fmt: skip
            print(f"summary {cond} {check}: max {counts['max']}, mean {counts['mean']}")
    others = [("Rajagopal 2016 walk (plates, 85.3 kg)", None)]
    if "--no-sim" not in sys.argv:
        others += [("demo (corrected)", "checkpoints/tracking_walk.pkl"),
                   ("root-free demo (corrected)", "checkpoints/tracking_walk_rootfree.pkl")]  # fmt: skip
    print("\n| trial | stances r / l | free moment max / mean N·m/kg | vertical GRF max / mean BW |\n|---|---|---|---|")
    for label, ck in others:
        if ck is None:
            from mmbio.io.loader import load_trial

            ref = SHARED / "rajagopal2016_walk"
            trial = load_trial(ref / "coordinates.sto", grf=ref / "grf_walk.mot", mass_kg=85.3)
            mass = 85.3
        else:
            from mmbio.control.run import run_checkpoint

            trial = run_checkpoint(str(REPO / ck), cycles=3, static_opt=False).trial
            mass = trial.subject.mass_kg
        peaks = {s: stance_peaks(g, contact_stances(g), mass) for s, g in trial.grf.items()}
        st = statistics(peaks)
        fm, gv = st["free_moment_peak"], st["grf_vertical_max"]
        print(f"| {label} | {len(peaks['r']['grf_vertical_max'])} / {len(peaks['l']['grf_vertical_max'])} | "
              f"{fm['max']:.3f} / {fm['mean']:.3f} | {gv['max']:.2f} / {gv['mean']:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
