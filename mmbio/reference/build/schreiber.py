"""Schreiber & Moissenet 2019: adults walking overground (C3D), GRF and 8 right-leg EMG envelopes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from mmbio.errors import MmbioError
from mmbio.reference.build.common import (
    GRF_SIGN_NOTE,
    DatasetBuild,
    SubjectStack,
    cycle_toe_off,
    grf_cycles,
    resample_cycle,
    scalar_mean_sd,
    source_entries,
    stance_loading_rate,
    stance_ok,
)
from mmbio.reference.registry import vertical_grf_peaks

SCHREIBER_CONDITIONS = {"c4": "C4", "c5": "C5"}
SCHREIBER_SPEED_WORDS = {"c4": "self-selected speed", "c5": "fast speed"}
#: per-cycle scalars (variable → units): each subject's mean first, then mean ± SD across subjects
SCHREIBER_SCALARS: dict[str, str] = {
    "stride_time": "s",
    "stance_time": "s",
    "toe_off_pct": "% cycle",
    "grf_vertical_peak1": "BW",
    "grf_vertical_valley": "BW",
    "grf_vertical_peak2": "BW",
    "grf_vertical_max": "BW",
    "grf_vertical_loading_rate": "BW/s",
}


#: the C3D Foot Off events (100 Hz) and the force release usually agree within this; larger gaps are noted
EVENT_FORCE_TOL_S = 0.03


def plate_stance(
    trial: object, side: str, hs: float, hs_next: float, weight_n: float, tol_s: float = 0.06
) -> float | None:
    """Toe off (s) from the foot's own force when the stance that starts at heel strike ``hs`` is fully on a plate.

    The foot's vertical force (:func:`mmbio.gait.events.contact_intervals`, 20 N) must show one contact that
    starts within ``tol_s`` of ``hs`` and ends before the next heel strike ``hs_next``, loaded > 10 % BW from
    ``tol_s`` after its start to ``tol_s`` before its end with a peak > 50 % BW (:func:`stance_ok`). Returns
    ``None`` otherwise (stance partly off the plates, or not recorded). The force release is used rather than
    the C3D Foot Off event, which in some trials lies up to ≈ 95 ms after it.
    """
    from mmbio.gait.events import contact_intervals

    if side not in trial.grf:  # type: ignore[attr-defined]
        return None
    g = trial.grf[side]  # type: ignore[attr-defined]
    m = (g.time >= hs - tol_s) & (g.time <= hs_next)
    if m.sum() < 3:
        return None
    for on, off in contact_intervals(g.time[m], g.vertical[m]):
        if on is not None and off is not None and abs(on - hs) <= tol_s and off < hs_next:
            return off if stance_ok(trial, side, hs, off, weight_n, tol_s) else None
    return None


#: a subject's channel pair looks swapped when each correlates with the other muscle's mean of the other subjects
#: at least this well …
SWAP_R_OTHER = 0.85
#: … and with its own muscle's mean at most this well
SWAP_R_OWN = 0.3


def swapped_channels(stack: SubjectStack) -> list[str]:
    """Notes for EMG channel pairs of one subject that look swapped (checked, never corrected).

    For muscles a, b of subject s: r(s's a, the others' mean of b) and r(s's b, the others' mean of a) both
    ≥ :data:`SWAP_R_OTHER` while r(s's a, others' a) and r(s's b, others' b) are both ≤ :data:`SWAP_R_OWN`.
    """
    emg = {k[1]: (np.stack(v), stack.unit_ids[k]) for k, v in stack.data.items() if k[0] == "emg" and len(v) >= 3}
    out = []
    muscles = sorted(emg)

    def r_vs_others(a: str, b: str, sid: str) -> float:
        xa, ida = emg[a]
        xb, idb = emg[b]
        if sid not in ida or sid not in idb:
            return float("nan")
        others = np.delete(xb, idb.index(sid), axis=0).mean(axis=0)
        return float(np.corrcoef(xa[ida.index(sid)], others)[0, 1])

    for i, a in enumerate(muscles):
        for b in muscles[i + 1 :]:
            for sid in emg[a][1]:
                cross = (r_vs_others(a, b, sid), r_vs_others(b, a, sid))
                own = (r_vs_others(a, a, sid), r_vs_others(b, b, sid))
                if min(cross) >= SWAP_R_OTHER and max(own) <= SWAP_R_OWN:
                    out.append(
                        f"subject {sid}: the {a} and {b} EMG channels look swapped (each correlates r "
                        f"{cross[0]:.2f} / {cross[1]:.2f} with the other muscle's mean of the other subjects, "
                        f"r {own[0]:.2f} / {own[1]:.2f} with its own); left as published (the ceiling's median is "
                        "robust to it; this subject's curves pull the mean of the two muscles towards each other)"
                    )
    return out


def schreiber_subjects(shared: Path) -> list[str]:
    """Every subject folder of ``schreiber2019/`` holding a walking trial (``<id>_C4_*.c3d`` or ``_C5_``), sorted.

    Follows the data: no subject list is pinned in the code.
    """
    root = shared / "schreiber2019"
    if not root.is_dir():
        raise MmbioError(f"schreiber2019: {root} not found")
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and any(any(d.glob(f"{d.name}_{lab}_*.c3d")) for lab in SCHREIBER_CONDITIONS.values())
    )


def build_schreiber(shared: Path) -> DatasetBuild:
    """Between-subject reference: every subject's mean cycle, then mean ± SD across subjects, per condition."""
    from mmbio.gait.emg import EnvelopeSettings, envelope_channels
    from mmbio.io.c3d import read_c3d

    b = DatasetBuild("schreiber2019")
    settings = EnvelopeSettings().with_(normalisation="peak")
    units = {"grf": "BW", "emg": "fraction of max"}
    notes: list[str] = []
    sources: list[Path] = []
    subjects = schreiber_subjects(shared)
    if len(subjects) < 2:
        raise MmbioError(f"schreiber2019: {len(subjects)} subject folder(s) with walking trials; need at least 2")
    counts: dict[str, dict[str, int]] = {}
    speeds: dict[str, dict[str, list[float]]] = {}  # condition → subject → pelvis speed of each trial
    for cond, label in SCHREIBER_CONDITIONS.items():
        stack = SubjectStack()
        sc: dict[tuple[str, str], dict[str, list[float]]] = {}  # (variable, side) → subject → per-cycle values
        counts[cond] = {"grf_r": 0, "grf_l": 0, "emg_r": 0}
        speeds[cond] = {}
        for subj in subjects:
            files = sorted((shared / "schreiber2019" / subj).glob(f"{subj}_{label}_*.c3d"))
            if not files:
                notes.append(f"{subj}: no {label} trial; the subject is missing from {cond}")
            for f in files:
                sources.append(f)
                try:
                    trial = read_c3d(f)
                except MmbioError as e:
                    notes.append(f"{f.name}: not read ({e}); its cycles are skipped")
                    continue
                w = trial.subject.weight_n
                speeds[cond].setdefault(subj, []).append(trial.subject.speed_m_s)
                for side in ("r", "l"):
                    hs = trial.events.heel_strike[side]
                    wins = [(float(a), float(c)) for a, c in itertools.pairwise(hs)]
                    good = []
                    stances: list[tuple[float, float]] = []
                    for a, c in wins:
                        t_off = plate_stance(trial, side, a, c, w)
                        t_evt = cycle_toe_off(trial, side, a, c)
                        if t_off is not None:
                            good.append((a, c))
                            stances.append((a, t_off))
                            if np.isfinite(t_evt) and abs(t_evt - t_off) > EVENT_FORCE_TOL_S:
                                notes.append(
                                    f"{f.name}: {side} cycle {a:.2f}-{c:.2f} s: the C3D Foot Off ({t_evt:.2f} s) is "
                                    f"{1e3 * (t_evt - t_off):+.0f} ms from the force release ({t_off:.3f} s), which "
                                    "is used"
                                )
                            timing = {
                                "stride_time": c - a,
                                "stance_time": t_off - a,
                                "toe_off_pct": 100 * (t_off - a) / (c - a),
                            }
                            for var, v in timing.items():
                                sc.setdefault((var, side), {}).setdefault(subj, []).append(v)
                        else:
                            notes.append(
                                f"{f.name}: {side} cycle {a:.2f}-{c:.2f} s: stance not fully on a plate, GRF skipped"
                            )
                    if good:
                        gc = grf_cycles(trial, side, good, w)
                        for var, cyc in gc.items():
                            stack.add(("grf", var, side), cyc, subj)
                        for cyc in gc["grf_vertical"]:
                            p = vertical_grf_peaks(cyc)
                            for k in ("peak1", "valley", "peak2", "max"):
                                sc.setdefault((f"grf_vertical_{k}", side), {}).setdefault(subj, []).append(p[k])
                        lr = stance_loading_rate(trial, side, stances, w, running=False)
                        sc.setdefault(("grf_vertical_loading_rate", side), {}).setdefault(subj, []).append(lr)
                    counts[cond][f"grf_{side}"] += len(good)
                    if side == "r" and wins and trial.emg is not None:
                        env = envelope_channels(trial.emg, settings)
                        for n in env.names:
                            cyc = np.stack([resample_cycle(env.time, env[n], a, c) for a, c in wins])
                            stack.add(("emg", n[:-2], "r"), cyc, subj)
                        counts[cond]["emg_r"] += len(wins)
        stack.emit(b, cond, units)
        stack.emit_subjects(b, cond, units)
        notes += [f"{label}: {n}" for n in swapped_channels(stack)]
        for var, u in SCHREIBER_SCALARS.items():
            for side in ("r", "l"):
                per_subject = sc.get((var, side), {})
                if per_subject:
                    m, s = scalar_mean_sd([float(np.mean(v)) for _, v in sorted(per_subject.items())])
                    b.add_scalar(cond, var, side, u, m, s, len(per_subject))
        m, s = scalar_mean_sd([float(np.mean(v)) for _, v in sorted(speeds[cond].items())])
        b.add_scalar(cond, "speed", "both", "m/s", m, s, len(speeds[cond]))
    n_subj = {c: len(speeds[c]) for c in SCHREIBER_CONDITIONS}
    per = sorted({len(v) for c in SCHREIBER_CONDITIONS for v in speeds[c].values()})
    trials_txt = (
        "one C3D trial per subject and condition"
        if per == [1]
        else f"{'-'.join(map(str, (per[0], per[-1])))} C3D trials per subject and condition"
    )
    mean_speed = {c: float(np.mean([np.mean(v) for v in speeds[c].values()])) for c in SCHREIBER_CONDITIONS}
    b.provenance = {
        "name": "schreiber2019",
        "kind": "curves",
        "title": "Adults walking overground at self-selected and fast speed: right-leg EMG envelopes and GRF",
        "citation": (
            "Schreiber C., Moissenet F. (2019) A multimodal dataset of human gait at different walking speeds "
            "established on injury-free adult participants. Sci Data 6:111. doi:10.1038/s41597-019-0124-4"
        ),
        "licence": "CC-BY 4.0",
        "url": "https://doi.org/10.1038/s41597-019-0124-4",
        "description": (
            f"{len(subjects)} subjects ({', '.join(subjects)}): every subject folder of shared/reference/"
            f"schreiber2019 with a walking trial, {trials_txt} (as selected by the "
            "zmp-opensim study), read with mmbio.io.c3d.read_c3d. A between-subject reference: curves are the mean "
            "and SD across subjects of each subject's mean cycle; subjects.csv holds each subject's mean cycle for "
            "the leave-one-subject-out human ceiling (mmbio.analysis.ceiling). The C3D files hold markers but no "
            "joint angles and no inverse kinematics is run here (the OpenSim IK in opensim_ik/ covers about one "
            "stance, not a cycle): this dataset has no joint_angle curves. The static trials (<id>_ST.c3d) are not "
            "used."
        ),
        "subjects": subjects,
        "conditions": {
            c: {
                "description": f"{lab}: {SCHREIBER_SPEED_WORDS[c]}, {mean_speed[c]:.2f} m/s mean pelvis speed",
                "speed_m_s": mean_speed[c],
                "n_subjects": n_subj[c],
                "n_cycles": counts[c],
            }
            for c, lab in SCHREIBER_CONDITIONS.items()
        },
        "units": {"grf": "BW (subject mass from the C3D SUBJECT parameters × 9.81)", "emg": "fraction of max"},
        "sign_conventions": {
            "grf": GRF_SIGN_NOTE + " The lab is rotated about z so that x is the walking direction (read_c3d).",
            "emg": "linear envelopes of the raw right-leg EMG, peak-normalised per trial; side r",
        },
        "n_subjects": n_subj,
        "n_cycles": {c: counts[c]["emg_r"] for c in SCHREIBER_CONDITIONS},
        "sources": source_entries(shared, sources),
        "processing": [
            "subjects: every folder of schreiber2019/ holding <id>_C4_*.c3d or <id>_C5_*.c3d (no list pinned in the "
            f"code); all walking trials of a subject and condition are used ({trials_txt} in this data).",
            "events: the C3D EVENT Foot Strike / Foot Off (each trial has 2 heel strikes per foot: one cycle per "
            "side).",
            "EMG: mmbio.gait.emg.envelope with the default EnvelopeSettings (demean, 4th-order Butterworth "
            "band-pass 20-450 Hz, full-wave rectification, 4th-order low-pass 6 Hz, zero lag) and normalisation "
            "'peak' (each muscle divided by its maximum over the whole trial), then the right cycle resampled to "
            "101 points.",
            "GRF: per foot as assigned by read_c3d; a cycle is used only when the foot's own force shows the whole "
            "stance on a plate (plate_stance: one contact at 20 N starting within 60 ms of the C3D heel strike and "
            "ending before the next one, loaded > 10 % BW from 60 ms after its start to 60 ms before its end, peak > "
            "50 % BW); the swing is unloaded. Toe off (stance_time, toe_off_pct) is that force release, not the C3D "
            "Foot Off event, which lies more than 30 ms after it in some trials (noted below). A trial that does not "
            "read, or a cycle whose stance is not fully on a plate, is skipped with a note below.",
            "grf_vertical_loading_rate (BW/s): mean slope between 20 and 80 % of the first peak of each subject's mean "
            "stance curve (heel strike to force release), as mmbio.analysis.grf computes a trial's.",
            "curves: mean of each subject's cycle(s), then mean and SD (ddof=1) across the subjects (n_subjects "
            "per curve: the subjects that contributed a usable cycle).",
            "subjects.csv: each subject's mean cycle (unit_kind subject), for the leave-one-subject-out ceiling.",
            "scalars: each subject's mean over its cycles, then mean and SD (ddof=1) across subjects (n = subjects); "
            "speed = the pelvis-marker speed reported by read_c3d.",
            *sorted(set(notes)),
        ],
    }
    return b
