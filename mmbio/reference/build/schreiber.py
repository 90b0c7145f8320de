"""Schreiber & Moissenet 2019: adults walking overground (C3D): joint angles from mmbio's own marker IK on
MyoFullBody scaled to each subject's static trial (issue 16 §5), GRF and 8 right-leg EMG envelopes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.analysis.grf import free_moment_peak
from mmbio.errors import MmbioError
from mmbio.reference.build.common import (
    ANGLE_SIGN_NOTE,
    GRF_SIGN_NOTE,
    SUBJECT_VARIABLES,
    DatasetBuild,
    SubjectStack,
    angle_cycles,
    cycle_toe_off,
    grf_cycles,
    resample_cycle,
    scalar_mean_sd,
    source_entries,
    stance_loading_rate,
    stance_ok,
)
from mmbio.reference.registry import SUBJECT_PCT_COLUMNS, vertical_grf_peaks
from mmbio.trial import GRAVITY

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
    "free_moment_peak": "N*m/kg",
}


#: clinical angles kept (no side suffix): the pelvis, hip, knee and ankle angles the walking checks use (lumbar and
#: the locked subtalar/mtp left out to keep the tables small)
SCHREIBER_ANGLES: tuple[str, ...] = tuple(sorted(SUBJECT_VARIABLES["joint_angle"] or ()))
#: OpenSim coordinates compared with the published OpenSim IK (``opensim_ik/<trial>_ik.mot``) on its frames
XCHECK_COORDS: tuple[str, ...] = (
    "pelvis_tilt", "hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l", "ankle_angle_l",
)  # fmt: skip


@dataclass
class IKTrial:
    """mmbio's marker IK of one walking trial on the subject-scaled MyoFullBody.

    trial: the C3D trial with its clinical angles from the IK (deg, marker clock; n/a frames NaN). rms_cm /
    max_cm: marker error over the whole trial (cm). n_frames: frames solved. xcheck_deg: OpenSim coordinate →
    RMSE (deg) against the published OpenSim IK on its frames (empty without an ``_ik.mot``). mot: that file.
    """

    trial: Any
    rms_cm: float
    max_cm: float
    n_frames: int
    xcheck_deg: dict[str, float] = field(default_factory=dict)
    mot: Path | None = None
    #: mean clinical pelvis tilt (deg, anterior +) on the published frames: OpenSim's, then mmbio's
    pelvis_tilt_deg: tuple[float, float] = (float("nan"), float("nan"))


def ik_trial(path: Path, scaled: Any) -> IKTrial:
    """Read ``path`` (C3D), run :func:`mmbio.sim.ik.marker_ik` with the default settings on the model ``scaled``
    (a :class:`~mmbio.sim.scaling.ScaledModel`) and convert to clinical angles with :func:`mmbio.sim.ik.ik_angles`
    (as ``mmbio validate`` does); cross-check with ``opensim_ik/<stem>_ik.mot`` when present."""
    from mmbio.io.c3d import read_c3d
    from mmbio.io.opensim import _bare_name, read_storage
    from mmbio.sim.ik import ik_angles, marker_ik, opensim_coordinates

    trial = read_c3d(path)
    res = marker_ik(trial.markers, scaled=scaled)
    df = opensim_coordinates(res)
    angles, _ = ik_angles(res, path.name, df)
    e = res.marker_error_m
    out = IKTrial(
        trial=trial.replace(angles=angles),
        rms_cm=100 * float(np.sqrt(np.nanmean(e**2))),
        max_cm=100 * float(np.nanmax(e)),
        n_frames=int(res.motion.n_frames),
    )
    mot = path.parent / "opensim_ik" / f"{path.stem}_ik.mot"
    if mot.is_file():
        ref = read_storage(mot)
        cols = {_bare_name(c): ref.data[:, i] for i, c in enumerate(ref.columns)}
        t = cols["time"]
        tt = df["time"].to_numpy()
        sel = (tt >= t[0] - 1e-9) & (tt <= t[-1] + 1e-9)
        for c in XCHECK_COORDS:
            if c in cols and sel.any():
                y = np.interp(tt[sel], t, cols[c])
                y = y if ref.in_degrees else np.degrees(y)
                out.xcheck_deg[c] = float(np.sqrt(np.nanmean((df[c].to_numpy()[sel] - y) ** 2)))
                if c == "pelvis_tilt":
                    out.pelvis_tilt_deg = (-float(np.mean(y)), -float(np.nanmean(df[c].to_numpy()[sel])))
        out.mot = mot
    return out


def ik_angle_cycles(
    ikt: IKTrial, side: str, windows: list[tuple[float, float]]
) -> tuple[dict[str, np.ndarray], list[tuple[float, float]]]:
    """(angle → (k, 101) cycles of :data:`SCHREIBER_ANGLES`, the windows kept) of ``side``: a cycle is kept only
    when every angle is finite over it (no n/a frame, inside the marker recording)."""
    if not windows:
        return {}, []
    cyc = angle_cycles(ikt.trial, side, windows)
    ok = np.ones(len(windows), dtype=bool)
    for a in SCHREIBER_ANGLES:
        ok &= np.all(np.isfinite(cyc[a]), axis=1) if a in cyc else False
    return {a: cyc[a][ok] for a in SCHREIBER_ANGLES if a in cyc}, [w for w, k in zip(windows, ok, strict=True) if k]


def subject_scaling(shared: Path, subject: str) -> Any:
    """MyoFullBody scaled to ``<subject>_ST.c3d`` (:func:`mmbio.sim.scaling.scale_for_subject`, its C3D mass);
    ``None`` when the subject has no static trial."""
    from mmbio.sim.scaling import scale_for_subject

    st = shared / "schreiber2019" / subject / f"{subject}_ST.c3d"
    return scale_for_subject(st) if st.is_file() else None


#: joint angles are written to 0.01° (the IK agrees with OpenSim's within ≈ 2-4°; keeps the tables compact)
ANGLE_DECIMALS = 2


def round_angles(b: DatasetBuild) -> None:
    """Round the joint_angle rows of ``b`` (curves' mean/sd, subjects' p0…p100) to :data:`ANGLE_DECIMALS`."""
    for row in b.curves:
        if row["quantity"] == "joint_angle":
            for k in ("mean", "sd"):
                row[k] = round(float(row[k]), ANGLE_DECIMALS)  # type: ignore[arg-type]
    for row in b.subjects:
        if row["quantity"] == "joint_angle":
            for k in SUBJECT_PCT_COLUMNS:
                row[k] = round(float(row[k]), ANGLE_DECIMALS)  # type: ignore[arg-type]


def heel_strike_windows(trial: Any, side: str) -> list[tuple[float, float]]:
    """Gait cycles of ``side``: consecutive C3D heel strikes of that foot (s)."""
    hs = trial.events.heel_strike[side]
    return [(float(a), float(c)) for a, c in itertools.pairwise(hs)]


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
    units = {"grf": "BW", "emg": "fraction of max", "joint_angle": "deg"}
    notes: list[str] = []
    sources: list[Path] = []
    subjects = schreiber_subjects(shared)
    if len(subjects) < 2:
        raise MmbioError(f"schreiber2019: {len(subjects)} subject folder(s) with walking trials; need at least 2")
    scaled: dict[str, Any] = {}
    scaling_info: dict[str, str] = {}
    for subj in subjects:
        sm = subject_scaling(shared, subj)
        scaled[subj] = sm
        if sm is None:
            notes.append(f"{subj}: no {subj}_ST.c3d static trial; no joint angles for this subject")
            continue
        sources.append(shared / "schreiber2019" / subj / f"{subj}_ST.c3d")
        f = list(sm.measurements.values())
        scaling_info[subj] = (
            f"{subj}_ST.c3d: {len(f)} measurement factors {min(f):.3f}-{max(f):.3f}, static marker RMS "
            f"{100 * sm.static_rms_m:.2f} cm before placement"
        )
    ik_trials: list[dict[str, object]] = []
    ik_rms: list[float] = []
    tilts: list[tuple[float, float]] = []
    counts: dict[str, dict[str, int]] = {}
    speeds: dict[str, dict[str, list[float]]] = {}  # condition → subject → pelvis speed of each trial
    for cond, label in SCHREIBER_CONDITIONS.items():
        stack = SubjectStack()
        sc: dict[tuple[str, str], dict[str, list[float]]] = {}  # (variable, side) → subject → per-cycle values
        counts[cond] = {"grf_r": 0, "grf_l": 0, "emg_r": 0, "angle_r": 0, "angle_l": 0}
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
                if scaled[subj] is not None:
                    ikt = ik_trial(f, scaled[subj])
                    ik_rms.append(ikt.rms_cm)
                    entry: dict[str, object] = {
                        "trial": f.name,
                        "ik": f"{ikt.n_frames} frames, marker RMS {ikt.rms_cm:.2f} cm (max {ikt.max_cm:.2f} cm)",
                    }
                    for side in ("r", "l"):
                        wins = heel_strike_windows(trial, side)
                        cyc, kept = ik_angle_cycles(ikt, side, wins)
                        entry[f"cycles_{side}"] = ", ".join(f"{a:.2f}-{c:.2f} s" for a, c in kept) or "none"
                        for a, c in wins:
                            if (a, c) not in kept:
                                notes.append(f"{f.name}: {side} cycle {a:.2f}-{c:.2f} s: IK angles n/a in part "
                                             "of it (or outside the markers), joint angles skipped")  # fmt: skip
                        for var, arr in cyc.items():
                            stack.add(("joint_angle", var, side), arr, subj)
                        counts[cond][f"angle_{side}"] += len(kept)
                    if ikt.mot is not None:
                        tilts.append(ikt.pelvis_tilt_deg)
                        sources.append(ikt.mot)
                        entry["opensim_ik_rmse_deg"] = ", ".join(f"{k} {v:.1f}" for k, v in ikt.xcheck_deg.items())
                    ik_trials.append(entry)
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
                        g = trial.grf[side]
                        for st in stances:  # the largest |free moment| of each stance, N·m per kg of body mass
                            fm = free_moment_peak(g.time, g.vertical, g.free_moment, w / GRAVITY, st)
                            sc.setdefault(("free_moment_peak", side), {}).setdefault(subj, []).append(fm)
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
    round_angles(b)
    if tilts:
        t = np.array(tilts)
        notes.append(
            "pelvis_tilt (and with it hip_flexion) is the tilt of the model's pelvis frame (OpenSim Rajagopal / "
            "MyoFullBody), not of a marker-defined clinical pelvis (Plug-in Gait): it is offset from clinical norms "
            "such as schwartz2008 and varies widely between subjects, as in the published OpenSim IK of the same "
            f"trials (mean pelvis tilt on its frames {np.mean(t[:, 0]):.1f} ± {np.std(t[:, 0], ddof=1):.1f}° over "
            f"{len(t)} trials; mmbio's on the same frames {np.mean(t[:, 1]):.1f} ± {np.std(t[:, 1], ddof=1):.1f}°)"
        )
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
        "title": (
            "Adults walking overground at self-selected and fast speed: joint angles (mmbio marker IK), right-leg "
            "EMG envelopes and GRF"
        ),
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
            "joint angles: the joint_angle curves are mmbio's own marker IK (mmbio.sim.ik.marker_ik) on MyoFullBody "
            "scaled to each subject's static trial (<id>_ST.c3d, mmbio.sim.scaling.scale_for_subject), over whole "
            "gait cycles; the published OpenSim IK (opensim_ik/, about 0.5 s around one stance) is not a cycle and "
            "serves only as a cross-check (ik.trials[].opensim_ik_rmse_deg)."
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
        "units": {
            "joint_angle": "deg",
            "grf": "BW (subject mass from the C3D SUBJECT parameters × 9.81)",
            "emg": "fraction of max",
        },
        "sign_conventions": {
            "joint_angle": ANGLE_SIGN_NOTE,
            "grf": GRF_SIGN_NOTE + " The lab is rotated about z so that x is the walking direction (read_c3d).",
            "emg": "linear envelopes of the raw right-leg EMG, peak-normalised per trial; side r",
        },
        "n_subjects": n_subj,
        "n_cycles": {c: counts[c]["emg_r"] for c in SCHREIBER_CONDITIONS},
        "sources": source_entries(shared, sources),
        "ik": {
            "method": (
                "mmbio.sim.ik.marker_ik with its defaults (projected Levenberg-Marquardt on MyoFullBody's "
                "independent coordinates, joint ranges as bounds, the 51 joint equalities exact, subtalar and mtp "
                "locked at 0 as in the OpenSim model, warm start, marker gaps skipped per frame, max_iter 30, "
                "registration of the flagged cluster markers), then mmbio.sim.ik.opensim_coordinates and "
                "mmbio.io.opensim.coordinates_to_angles (as mmbio.sim.ik.trial_with_ik_angles, i.e. what "
                "'mmbio validate TRIAL.c3d --static ST.c3d' computes)"
            ),
            "marker_set": "isb_schreiber2019 (mmbio/models/data/marker_sets.yaml)",
            "scaling": (
                "mmbio.sim.scaling.scale_for_subject(<id>_ST.c3d): OpenSim Scale-tool measurement set "
                "(mmbio/models/data/scale_sets.yaml), markers placed on the static pose (masses play no part in "
                "the IK)"
            ),
            "subjects": scaling_info,
            "trials": ik_trials,
            "marker_rms_cm_median": float(np.median(ik_rms)) if ik_rms else None,
        },
        "processing": [
            "subjects: every folder of schreiber2019/ holding <id>_C4_*.c3d or <id>_C5_*.c3d (no list pinned in the "
            f"code); all walking trials of a subject and condition are used ({trials_txt} in this data).",
            "events: the C3D EVENT Foot Strike / Foot Off (each trial has 2 heel strikes per foot: one cycle per "
            "side).",
            "joint angles: mmbio marker IK of every walking trial on MyoFullBody scaled to the subject's static "
            "trial (ik: above), clinical angles (mmbio.trial.CLINICAL_ANGLES) "
            f"{', '.join(SCHREIBER_ANGLES)} per side, each side's cycle (heel strike to heel strike of that foot, "
            "C3D events, marker clock) resampled to 101 points; a cycle is used only when every angle is finite "
            "over it (ik.trials[].cycles_r / cycles_l list the cycles used; any other is noted below). Lumbar "
            "angles are left out (no check uses them); subtalar and mtp are locked. These are mmbio's angles, not "
            "OpenSim's: ik.trials[].opensim_ik_rmse_deg gives, per trial, the RMSE against the published OpenSim "
            "IK of the same trial on its frames.",
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
