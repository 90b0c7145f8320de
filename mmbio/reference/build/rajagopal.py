"""Rajagopal et al. 2016: the OpenSim example walking trial (one subject; composite cycles of kinematics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmbio.errors import MmbioError
from mmbio.reference.build.common import (
    ANGLE_SIGN_NOTE,
    GRF_AXES,
    GRF_SIGN_NOTE,
    IPSILATERAL_NEGATE_LEFT,
    PCT,
    DatasetBuild,
    cycle_toe_off,
    resample_cycle,
    source_entries,
)
from mmbio.reference.registry import vertical_grf_peaks

RAJAGOPAL_MASS_KG = 85.3


def build_rajagopal(shared: Path) -> DatasetBuild:
    from mmbio.io.opensim import read_opensim_trial, read_storage

    src = shared / "rajagopal2016_walk"
    f_ik, f_grf, f_emg, f_id = (
        src / "coordinates.sto",
        src / "grf_walk.mot",
        src / "electromyography.sto",
        src / "id_walk.sto",
    )
    trial = read_opensim_trial(f_ik, f_grf, f_emg, mass_kg=RAJAGOPAL_MASS_KG)
    weight = trial.subject.weight_n
    hs, to = trial.events.heel_strike, trial.events.toe_off
    if hs["r"].size < 2 or hs["l"].size < 1:
        raise MmbioError(f"rajagopal2016_walk: unexpected events {hs}")
    r0, r1 = float(hs["r"][0]), float(hs["r"][1])
    stride = r1 - r0
    l0 = float(hs["l"][0])
    t_ik0, t_ik1 = float(trial.angles.time[0]), float(trial.angles.time[-1])
    b = DatasetBuild("rajagopal2016_walk")

    def composite(time: np.ndarray, v: np.ndarray, hs0: float, hs_other: float) -> tuple[np.ndarray, int]:
        """Cycle from heel strike ``hs0`` (duration ``stride``); points outside the data are taken at the same
        phase of the neighbouring stride that starts at ``hs_other`` (= hs0 ± stride). Returns (101,) and the
        number of points filled that way."""
        tq = hs0 + PCT / 100 * stride
        y = np.interp(tq, time, v, left=np.nan, right=np.nan)
        miss = ~np.isfinite(y)
        alt = hs_other + PCT / 100 * stride  # the same phase in the neighbouring stride
        y[miss] = np.interp(alt[miss], time, v, left=np.nan, right=np.nan)
        if not np.all(np.isfinite(y)):
            raise MmbioError("rajagopal2016_walk: composite cycle still has gaps")
        return y, int(miss.sum())

    # right: heel strike r0 .. r1 (complete in GRF and EMG); IK starts after r0 → early % from after r1
    # left: heel strike l0 .. l0 + stride (estimated; next left strike is off the plates and after the IK)
    #        → late % from before l0
    plans = {"r": (r0, r1), "l": (l0, l0 - stride)}
    filled: dict[str, int] = {}
    jumps: dict[str, float] = {}
    ang = trial.angles
    for side, (h0, h_other) in plans.items():
        names = [n for n in ang.names if n.endswith(f"_{side}") or n[-2:] not in ("_r", "_l")]
        for n in names:
            base = n[:-2] if n[-2:] in ("_r", "_l") else n
            v = ang[n]
            if np.nanmax(v) - np.nanmin(v) < 1e-6:
                continue
            if side == "l" and base in IPSILATERAL_NEGATE_LEFT:
                v = -v
            y, k = composite(ang.time, v, h0, h_other)
            filled[side] = k
            if base == "knee_flexion":
                jumps[side] = float(abs(y[k] - y[k - 1])) if side == "r" else float(abs(y[100 - k + 1] - y[100 - k]))
            b.add_curve("free", "joint_angle", base, side, "deg", y, None, 1, 1)
    # GRF: right cycle complete on the plates; left cycle: stance on the plate, swing unloaded, end estimated
    for side, (h0, _) in plans.items():
        g = trial.grf[side]
        for var, ax in GRF_AXES:
            y = resample_cycle(g.time, g.force[:, ax] / weight, h0, h0 + stride)
            b.add_curve("free", "grf", var, side, "BW", y, None, 1, 1)
    # EMG (right leg), complete cycle
    emg = trial.emg
    emg_map = {}
    for n in emg.names:
        y = resample_cycle(emg.time, emg[n], r0, r1)
        b.add_curve("free", "emg", n[:-2], "r", "fraction of max", y, None, 1, 1)
        emg_map[n[:-2]] = n
    # inverse-dynamics moments (N·m/kg), same composite scheme as the angles
    st = read_storage(f_id)
    tid = st.time
    mom = {
        "hip_flexion": "hip_flexion_{s}_moment",
        "hip_adduction": "hip_adduction_{s}_moment",
        "hip_rotation": "hip_rotation_{s}_moment",
        "knee_flexion": "knee_angle_{s}_moment",
        "ankle_dorsiflexion": "ankle_angle_{s}_moment",
    }
    for side, (h0, h_other) in plans.items():
        for var, col in mom.items():
            y, _ = composite(tid, st.column(col.format(s=side)) / RAJAGOPAL_MASS_KG, h0, h_other)
            b.add_curve("free", "joint_moment", var, side, "N*m/kg", y, None, 1, 1)
    # scalars
    t_off_r = cycle_toe_off(trial, "r", r0, r1)
    t_off_l = float(to["l"][(to["l"] > l0)][0])
    pk = {
        s: vertical_grf_peaks(resample_cycle(trial.grf[s].time, trial.grf[s].vertical / weight, h0, h0 + stride))
        for s, (h0, _) in plans.items()
    }
    for side, t_hs, t_to in (("r", r0, t_off_r), ("l", l0, t_off_l)):
        b.add_scalar("free", "stance_time", side, "s", t_to - t_hs, None, 1)
        b.add_scalar("free", "toe_off_pct", side, "% cycle", 100 * (t_to - t_hs) / stride, None, 1)
        for k in ("peak1", "valley", "peak2"):
            b.add_scalar("free", f"grf_vertical_{k}", side, "BW", pk[side][k], None, 1)
    b.add_scalar("free", "stride_time", "r", "s", stride, None, 1)
    b.add_scalar("free", "cadence", "both", "steps/min", 120.0 / stride, None, 1)
    b.add_scalar("free", "speed", "both", "m/s", trial.subject.speed_m_s, None, 1)
    b.add_scalar("free", "body_mass", "both", "kg", RAJAGOPAL_MASS_KG, None, 1)
    b.provenance = {
        "name": "rajagopal2016_walk",
        "kind": "curves",
        "title": "One adult walking overground at free speed: angles, GRF, EMG envelopes, moments (OpenSim example)",
        "citation": (
            "Rajagopal A., Dembia C.L., DeMers M.S., Delp D.D., Hicks J.L., Delp S.L. (2016) Full-body musculoskeletal "
            "model for muscle-driven simulation of human gait. IEEE Trans Biomed Eng 63(10):2068-2079. "
            "doi:10.1109/TBME.2016.2586891"
        ),
        "licence": "Apache-2.0 (opensim-core example data)",
        "url": "https://github.com/opensim-org/opensim-core",
        "description": (
            "Subject 11 of Rajagopal et al. 2016 (OpenSim example 'example3DWalking'): IK of the Rajagopal model "
            f"(0.45-1.80 s), GRF of both feet, 10 processed EMG envelopes, inverse-dynamics moments. Body mass "
            f"{RAJAGOPAL_MASS_KG} kg (scaled model); speed {trial.subject.speed_m_s:.3g} m/s from pelvis_tx. One "
            "subject, one cycle per side: no SD."
        ),
        "conditions": {
            "free": {
                "description": f"overground walking at free speed ({trial.subject.speed_m_s:.3g} m/s)",
                "speed_m_s": trial.subject.speed_m_s,
                "n_subjects": 1,
                "n_cycles": 1,
            }
        },
        "units": {
            "joint_angle": "deg",
            "grf": "BW (mass 85.3 kg × 9.81)",
            "emg": "fraction of max",
            "joint_moment": "N*m/kg (divided by 85.3 kg)",
        },
        "sign_conventions": {
            "joint_angle": ANGLE_SIGN_NOTE + " The Rajagopal walker_knee is flexion-positive already.",
            "grf": GRF_SIGN_NOTE,
            "emg": "the distributed envelopes (band-pass 50-500 Hz, rectified, 7.5 Hz low-pass, each column scaled "
            "to max 1 over the file); assumed right leg (side r)",
            "joint_moment": "OpenSim generalised forces along the coordinates, i.e. positive in the direction of the "
            "positive angle (hip flexor +, hip adductor +, hip internal rotator +, knee flexor +, "
            "ankle dorsiflexor +), divided by body mass",
        },
        "variables": {"emg": {k: v for k, v in sorted(emg_map.items())}},
        "n_subjects": {"free": 1},
        "n_cycles": {"free": 1},
        "sources": source_entries(shared, [f_ik, f_grf, f_emg, f_id]),
        "processing": [
            f"events from the GRF (mmbio.gait.events.detect_events, 20 N): right heel strikes {r0:.4f} and "
            f"{r1:.4f} s, right toe off {t_off_r:.4f} s, left heel strike {l0:.4f} s, left toe off {t_off_l:.4f} s. "
            f"Stride time {stride:.4f} s (right). The first and last steps miss the force plates, so the second "
            "left heel strike is not observed.",
            "GRF in BW from the subject mass (85.3 kg), not from the mean force (the trial is overground and the "
            "first/last steps miss the plates).",
            "right GRF and EMG: the complete right cycle (heel strike to heel strike) measured on the plates.",
            f"NO complete gait cycle of kinematics exists: the IK covers {t_ik0:.2f}-{t_ik1:.2f} s only. Joint angles "
            "and moments are therefore COMPOSITE cycles, flagged here: right side = the right cycle from "
            f"{r0:.4f} s, whose first {filled.get('r', 0)} points (0-{filled.get('r', 1) - 1} %, before the IK starts) "
            f"are taken at the same time after the next right heel strike ({r1:.4f} s); left side = the left cycle "
            f"from {l0:.4f} s with an assumed duration equal to the right stride, whose last {filled.get('l', 0)} "
            f"points ({101 - filled.get('l', 0)}-100 %, after the IK ends) are taken at the same time before that "
            f"left heel strike (late swing of the previous left stride). Every value is measured data at a known "
            f"time from an observed heel strike; nothing is interpolated across the gap. The joins are continuous "
            f"to within {max(jumps.values()) if jumps else float('nan'):.2g} deg of knee flexion.",
            "left GRF: the left stance on the plate followed by the unloaded swing, over the assumed stride "
            "(left stride = right stride); the second left heel strike is off the plates.",
            "no SD (one subject, one cycle per side); n_cycles 1.",
        ],
    }
    return b
