"""Hamner & Delp 2013: treadmill running at 2-5 m/s, joint angles and GRF of 5 adults (OpenSim files)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmbio.errors import MmbioError
from mmbio.reference.build.common import (
    ANGLE_SIGN_NOTE,
    GRF_SIGN_NOTE,
    DatasetBuild,
    SubjectStack,
    angle_cycles,
    cycle_toe_off,
    grf_cycles,
    scalar_mean_sd,
    source_entries,
    stance_loading_rate,
)
from mmbio.trial import GRAVITY

HAMNER_SUBJECTS = ("subject01", "subject02", "subject03", "subject04", "subject08")
HAMNER_SPEEDS = ("2", "3", "4", "5")


def _nearest(events: np.ndarray, t: float, tol: float) -> float | None:
    if events.size == 0:
        return None
    i = int(np.argmin(np.abs(events - t)))
    return float(events[i]) if abs(events[i] - t) <= tol else None


def hamner_trial(
    shared: Path, subject: str, speed: str, deviations: list[float] | None = None
) -> tuple[object, list[tuple[float, float]], list[str]]:
    """One Hamner run: trial, the 3 right cycles of gait_times.json snapped to detected heel strikes, notes.

    ``deviations`` (if given) receives |json time − detected heel strike| in s for every json time.
    """
    from mmbio.io.opensim import read_opensim_trial

    d = shared / "hamner2013_run" / subject
    trial = read_opensim_trial(
        d / f"Run_{speed}_ik.mot", d / f"Run_{speed}_grf.mot", knee_sign=-1, speed_m_s=float(speed)
    )
    gt = json.loads((d / "gait_times.json").read_text(encoding="utf-8"))[f"run{speed}"]
    hs = trial.events.heel_strike["r"]
    notes, wins = [], []
    for cname in sorted(gt):
        a0, b0 = float(gt[cname]["initialTime"]), float(gt[cname]["finalTime"])
        a, b = _nearest(hs, a0, 0.06), _nearest(hs, b0, 0.06)
        if a is None or b is None or b <= a:
            raise MmbioError(f"hamner2013_run: {subject} run{speed} {cname}: no right heel strikes near {a0}, {b0} s")
        for t_json, t_det in ((a0, a), (b0, b)):
            if deviations is not None:
                deviations.append(abs(t_json - t_det))
            if abs(t_json - t_det) > 0.01:
                notes.append(
                    f"{subject} run{speed} {cname}: gait_times.json time {t_json:.4g} s is {1e3 * (t_det - t_json):+.0f} ms "
                    f"from the detected right heel strike {t_det:.4g} s, which is used"
                )
        wins.append((a, b))
    return trial, wins, notes


def hamner_weight(trial: object, wins: Sequence[tuple[float, float]]) -> float:
    """Body weight in N: mean total vertical GRF over the whole strides ``wins`` (treadmill, steady running)."""
    g_r, g_l = trial.grf["r"], trial.grf["l"]  # type: ignore[attr-defined]
    t0, t1 = wins[0][0], wins[-1][1]
    m = (g_r.time >= t0) & (g_r.time < t1)
    fz = g_r.vertical[m] + np.interp(g_r.time[m], g_l.time, g_l.vertical)
    return float(np.mean(fz))


def hamner_peak_vertical(shared: Path, speed: str) -> dict[str, float]:
    """Per-subject mean peak vertical GRF (BW, both feet's cycles pooled) at one speed; for tests."""
    out = {}
    for subj in HAMNER_SUBJECTS:
        trial, wins, _ = hamner_trial(shared, subj, speed)
        w = hamner_weight(trial, wins)
        fz = trial.grf["r"]
        peaks = [np.max(fz.vertical[(fz.time >= a) & (fz.time < b)]) / w for a, b in wins]
        out[subj] = float(np.mean(peaks))
    return out


def build_hamner(shared: Path) -> DatasetBuild:
    b = DatasetBuild("hamner2013_run")
    units = {"joint_angle": "deg", "grf": "BW"}
    notes: list[str] = []
    masses: dict[str, dict[str, float]] = {}
    sources: list[Path] = []
    devs: list[float] = []
    for speed in HAMNER_SPEEDS:
        stack = SubjectStack()
        sc: dict[tuple[str, str, str], list[float]] = {}
        for subj in HAMNER_SUBJECTS:
            d = shared / "hamner2013_run" / subj
            sources += [d / f"Run_{speed}_ik.mot", d / f"Run_{speed}_grf.mot"]
            trial, wins_r, n = hamner_trial(shared, subj, speed, devs)
            notes += n
            weight = hamner_weight(trial, wins_r)
            masses.setdefault(subj, {})[speed] = weight / GRAVITY
            hs_l = trial.events.heel_strike["l"]
            pairs_l = [(a, b) for a, b in itertools.pairwise(hs_l) if a >= wins_r[0][0] and b - a < 1.5]
            wins = {"r": wins_r, "l": pairs_l[:3]}
            if len(wins["l"]) < 3:
                raise MmbioError(f"hamner2013_run: {subj} run{speed}: fewer than 3 left cycles after {wins_r[0][0]} s")
            for side, ws in wins.items():
                t_end = trial.angles.time[-1]
                if ws[-1][1] > t_end:
                    raise MmbioError(f"hamner2013_run: {subj} run{speed}: {side} cycles end after the IK ({t_end} s)")
                for var, cyc in angle_cycles(trial, side, ws).items():
                    stack.add(("joint_angle", var, side), cyc, subj)
                gc = grf_cycles(trial, side, ws, weight)
                for var, cyc in gc.items():
                    stack.add(("grf", var, side), cyc, subj)
                stride = np.array([bb - aa for aa, bb in ws])
                to = np.array([cycle_toe_off(trial, side, aa, bb) for aa, bb in ws])
                st = to - np.array([aa for aa, _ in ws])
                vals = {
                    "stride_time": stride,
                    "stance_time": st,
                    "toe_off_pct": 100 * st / stride,
                    "cadence": 120.0 / stride,
                    "grf_vertical_max": np.max(gc["grf_vertical"], axis=1),
                    "grf_vertical_loading_rate": np.array(
                        [
                            stance_loading_rate(trial, side, [(aa, aa + t)], weight, running=True)
                            for (aa, _), t in zip(ws, st, strict=True)
                        ]
                    ),
                }
                for var, v in vals.items():
                    sc.setdefault((var, side, subj), []).append(float(np.nanmean(v)))
        stack.emit(b, speed, units)
        stack.emit_subjects(b, speed, units)
        sc_units = {
            "stride_time": "s",
            "stance_time": "s",
            "toe_off_pct": "% cycle",
            "cadence": "steps/min",
            "grf_vertical_max": "BW",
            "grf_vertical_loading_rate": "BW/s",
        }
        for var in sc_units:
            for side in ("r", "l"):
                per = [sc[(var, side, s)][0] for s in HAMNER_SUBJECTS]
                m, s = scalar_mean_sd(per)
                b.add_scalar(speed, var, side, sc_units[var], m, s, len(per))
        m, s = scalar_mean_sd([masses[x][speed] for x in HAMNER_SUBJECTS])
        b.add_scalar(speed, "body_mass_estimated", "both", "kg", m, s, len(HAMNER_SUBJECTS))
        b.add_scalar(speed, "speed", "both", "m/s", float(speed), None, len(HAMNER_SUBJECTS))
    sources += [shared / "hamner2013_run" / s / "gait_times.json" for s in HAMNER_SUBJECTS]
    n_sub = {v: len(HAMNER_SUBJECTS) for v in HAMNER_SPEEDS}
    b.provenance = {
        "name": "hamner2013_run",
        "kind": "curves",
        "title": "Treadmill running at 2, 3, 4 and 5 m/s: joint angles and GRF of 5 adults",
        "citation": (
            "Hamner S.R., Delp S.L. (2013) Muscle contributions to fore-aft and vertical body mass center "
            "accelerations over a range of running speeds. J Biomech 46(4):780-787. doi:10.1016/j.jbiomech.2012.11.024"
        ),
        "licence": "no licence file at the source (SimTK project 'Running simulations'); research use with citation",
        "url": "https://simtk.org/projects/nmbl_running",
        "description": (
            "Five subjects (01, 02, 03, 04, 08) running on an instrumented treadmill; OpenSim IK (gait2392-type "
            "model, 100 Hz) and per-foot GRF (1 kHz). Three right-foot cycles per subject and speed from "
            "gait_times.json, three left-foot cycles starting after the first of them."
        ),
        "conditions": {
            v: {
                "description": f"treadmill running at {v} m/s",
                "speed_m_s": float(v),
                "n_subjects": len(HAMNER_SUBJECTS),
                "n_cycles": 3 * len(HAMNER_SUBJECTS),
            }
            for v in HAMNER_SPEEDS
        },
        "units": {"joint_angle": "deg", "grf": "BW (body weight estimated from the GRF, see processing)"},
        "sign_conventions": {
            "joint_angle": ANGLE_SIGN_NOTE + " The Hamner model's knee_angle is negative in flexion: negated.",
            "grf": GRF_SIGN_NOTE + " OpenSim Y-up GRF converted to the lab Z-up frame by mmbio.io.opensim.",
        },
        "n_subjects": n_sub,
        "n_cycles": {v: 3 * len(HAMNER_SUBJECTS) for v in HAMNER_SPEEDS},
        "estimated_body_mass_kg": {s: {v: masses[s][v] for v in HAMNER_SPEEDS} for s in HAMNER_SUBJECTS},
        "sources": source_entries(shared, sorted(set(sources))),
        "processing": [
            "cycles are right heel strike to right heel strike: the gait_times.json times coincide with the right-foot "
            "heel strikes detected from the right GRF (mmbio.gait.events.detect_events, 20 N): median deviation "
            f"{1e3 * float(np.median(devs)):.1f} ms, {sum(d <= 0.01 for d in devs)} of {len(devs)} within 10 ms; "
            "each json time is snapped to the nearest detected right heel strike (within 60 ms). Left cycles: the "
            "first 3 consecutive left heel-strike pairs starting at or after the first json cycle start.",
            "the body masses are not in the files: each subject's body weight is estimated per speed as the mean "
            "total (left + right) vertical GRF over the 3 right strides (on a treadmill at steady speed the mean "
            "vertical GRF over whole strides equals body weight); estimated_body_mass_kg lists the values (they "
            "agree across speeds within a few %).",
            "curves: each cycle linearly resampled to 101 points; each subject's mean of its 3 cycles; mean and SD "
            "(ddof=1) across the 5 subject means (n_subjects 5, n_cycles 15).",
            "subtalar_inversion and mtp_extension are locked (constant 0) in these IK files and are omitted.",
            "scalars: per-subject means over the 3 cycles, then mean and SD across subjects; stance time from the "
            "detected toe off; cadence = 120 / stride time (steps/min); grf_vertical_max is the mean of each "
            "cycle's maximum vertical GRF (averaged per subject, then across subjects); grf_vertical_loading_rate "
            "(BW/s) is each stance's mean slope between 20 and 80 % of its impact peak (or active peak without one), "
            "as mmbio.analysis.grf computes a trial's (averaged per subject, then across subjects).",
            *sorted(set(notes)),
        ],
    }
    return b
