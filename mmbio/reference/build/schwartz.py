"""Schwartz, Rozumalski & Trost 2008: published normative curves and scalars of children at five speeds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from mmbio.errors import MmbioError
from mmbio.names import canonical_muscle
from mmbio.reference.build.common import PCT, DatasetBuild, source_entries

SCHWARTZ_SPEEDS = {"Very Slow": "very_slow", "Slow": "slow", "Free": "free", "Fast": "fast", "Very Fast": "very_fast"}

#: Schwartz (quantity, variable) → (our quantity, our variable, factor applied to mean, units)
SCHWARTZ_CURVES: dict[tuple[str, str], tuple[str, str, float, str]] = {
    ("joint_rotations", "Pelvic Ant/Posterior Tilt"): ("joint_angle", "pelvis_tilt", 1.0, "deg"),
    ("joint_rotations", "Pelvic Up/Down Obliquity"): ("joint_angle", "pelvis_obliquity", 1.0, "deg"),
    ("joint_rotations", "Pelvic Int/External Rotation"): ("joint_angle", "pelvis_rotation", 1.0, "deg"),
    ("joint_rotations", "Hip Flex/Extension"): ("joint_angle", "hip_flexion", 1.0, "deg"),
    ("joint_rotations", "Hip Ad/Abduction"): ("joint_angle", "hip_adduction", 1.0, "deg"),
    ("joint_rotations", "Hip Int/External Rotation"): ("joint_angle", "hip_rotation", 1.0, "deg"),
    ("joint_rotations", "Knee Flex/Extension"): ("joint_angle", "knee_flexion", 1.0, "deg"),
    ("joint_rotations", "Knee Ad/Abduction"): ("joint_angle", "knee_adduction", 1.0, "deg"),
    ("joint_rotations", "Knee Int/External Rotation"): ("joint_angle", "knee_rotation", 1.0, "deg"),
    ("joint_rotations", "Ankle Dorsi/Plantarflexion"): ("joint_angle", "ankle_dorsiflexion", 1.0, "deg"),
    ("joint_rotations", "Foot Int/External Progression"): ("joint_angle", "foot_progression", 1.0, "deg"),
    ("joint_rotations", "Trunk Ant/Posterior Tilt"): ("joint_angle", "trunk_tilt", 1.0, "deg"),
    ("joint_rotations", "Trunk Up/Down Obliquity"): ("joint_angle", "trunk_obliquity", 1.0, "deg"),
    ("joint_rotations", "Trunk Int/External Rotation"): ("joint_angle", "trunk_rotation", 1.0, "deg"),
    ("ground_reaction_forces", "Vertical"): ("grf", "grf_vertical", 1.0, "BW"),
    ("ground_reaction_forces", "Anterior/Posterior"): ("grf", "grf_ap", 1.0, "BW"),
    # published moments are internal, extensor/abductor/plantarflexor positive: negate to the angle's sign
    ("joint_moments", "Hip Ext/Flexion"): ("joint_moment", "hip_flexion", -1.0, "N*m/kg"),
    ("joint_moments", "Hip Ab/Adduction"): ("joint_moment", "hip_adduction", -1.0, "N*m/kg"),
    ("joint_moments", "Knee Ext/Flexion"): ("joint_moment", "knee_flexion", -1.0, "N*m/kg"),
    ("joint_moments", "Knee Ext/Flexion#2"): ("joint_moment", "knee_adduction", -1.0, "N*m/kg"),
    ("joint_moments", "Ankle Dorsi/Plantarflexion"): ("joint_moment", "ankle_dorsiflexion", -1.0, "N*m/kg"),
    ("joint_power", "Hip"): ("joint_power", "hip", 1.0, "W/kg"),
    ("joint_power", "Knee"): ("joint_power", "knee", 1.0, "W/kg"),
    ("joint_power", "Ankle"): ("joint_power", "ankle", 1.0, "W/kg"),
}

#: ANOVA parameter label → (variable, units, factor). Moments as positive magnitudes of the named peak.
SCHWARTZ_SCALARS: dict[str, tuple[str, str, float]] = {
    "Dimensionless Speed": ("speed_dimensionless", "1", 1.0),
    "Dimensionless Cadence": ("cadence_dimensionless", "1", 1.0),
    "Dimensionless Step Length": ("step_length_dimensionless", "1", 1.0),
    "Pelvic Tilt Mean  [deg]": ("pelvis_tilt_mean", "deg", 1.0),
    "Pelvic Tilt Range-of-Motion  [deg]": ("pelvis_tilt_range", "deg", 1.0),
    "Pelvic Rotation Range-of-Motion  [deg]": ("pelvis_rotation_range", "deg", 1.0),
    "Pelvic Obliquity Maximum in Stance  [deg]": ("pelvis_obliquity_max_stance", "deg", 1.0),
    "Hip Flexion at Foot Contact  [deg]": ("hip_flexion_at_foot_contact", "deg", 1.0),
    "Hip Flexion Minimum  [deg]": ("hip_flexion_min", "deg", 1.0),
    "Hip Rotation Mean in Stance  [deg]": ("hip_rotation_mean_stance", "deg", 1.0),
    "Knee Flex at Foot Cont  [deg]": ("knee_flexion_at_foot_contact", "deg", 1.0),
    "Max Knee Ext  [deg]": ("knee_flexion_min", "deg", 1.0),
    "Max Knee Flex (swing)  [deg]": ("knee_flexion_max_swing", "deg", 1.0),
    "Dorsiflex at Foot Cont  [deg]": ("ankle_dorsiflexion_at_foot_contact", "deg", 1.0),
    "Max Dorsiflex (stance)  [deg]": ("ankle_dorsiflexion_max_stance", "deg", 1.0),
    "Max Dorsiflex Time (stance)  [% stance]": ("ankle_dorsiflexion_max_stance_time", "% stance", 100.0),
    "Dorsiflex at Foot Off  [deg]": ("ankle_dorsiflexion_at_foot_off", "deg", 1.0),
    "Max Plantarfelx (swing)  [deg]": ("ankle_dorsiflexion_min_swing", "deg", 1.0),
    "Max Hip Ext Mom (stance)  [N-m/kg]": ("hip_extensor_moment_peak_stance", "N*m/kg", 1.0),
    "Max Hip Flex Mom (stance)  [N-m/kg]": ("hip_flexor_moment_peak_stance", "N*m/kg", -1.0),
    "Hip Add Mom Peak (1st half stance)  [N-m/kg]": ("hip_abductor_moment_peak_stance1", "N*m/kg", 1.0),
    "Hip Add Mom Peak (2nd half stance)  [N-m/kg]": ("hip_abductor_moment_peak_stance2", "N*m/kg", 1.0),
    "Max Hip Ext Mom (swing)  [N-m/kg]": ("hip_extensor_moment_peak_swing", "N*m/kg", 1.0),
    "Max Knee Ext Mom (stance)  [N-m/kg]": ("knee_extensor_moment_peak_stance", "N*m/kg", 1.0),
    "Max Knee Flex Mom (stance)  [N-m/kg]": ("knee_flexor_moment_peak_stance", "N*m/kg", -1.0),
    "Max Knee Valg Mom (1st half stance)  [N-m/kg]": ("knee_valgus_moment_peak_stance1", "N*m/kg", 1.0),
    "Max Knee Valg Mom (2nd half stance)  [N-m/kg]": ("knee_valgus_moment_peak_stance2", "N*m/kg", 1.0),
    "Max Knee Flex Mom (swing)  [N-m/kg]": ("knee_flexor_moment_peak_swing", "N*m/kg", -1.0),
    "Max Plantarflex Mom  [N-m/kg]": ("ankle_plantarflexor_moment_peak", "N*m/kg", 1.0),
    "Max Hip Power Gen (early stance)  [W/kg]": ("hip_power_peak_generation_early_stance", "W/kg", 1.0),
    "Max Hip Power Abs (mid stance)  [W/kg]": ("hip_power_peak_absorption_mid_stance", "W/kg", 1.0),
    "Max Hip Power Gen (late stance/early swing)  [W/kg]": ("hip_power_peak_generation_late_stance", "W/kg", 1.0),
    "Max Knee Power Abs (late stance)  [W/kg]": ("knee_power_peak_absorption_late_stance", "W/kg", 1.0),
    "Max Ankle Power Gen (stance)  [W/kg]": ("ankle_power_peak_generation_stance", "W/kg", 1.0),
    "Peak Braking Force  [BW]": ("grf_ap_peak_braking", "BW", 1.0),
    "Peak Propuls Force  [BW]": ("grf_ap_peak_propulsion", "BW", 1.0),
    "First Vertical Peak Force  [BW]": ("grf_vertical_peak1", "BW", 1.0),
    "Mid Stance Force Min  [BW]": ("grf_vertical_valley", "BW", 1.0),
    "Second Vertical Peak Force  [BW]": ("grf_vertical_peak2", "BW", 1.0),
    "First Rectus Femoris Peak (early stance)  [%max]": (
        "emg_rectus_femoris_peak_early_stance",
        "fraction of max",
        1.0,
    ),
    "Second Rectus Femoris Peak (early swing)  [%max]": ("emg_rectus_femoris_peak_early_swing", "fraction of max", 1.0),
    "Medial Hamstrings Peak (early stance)  [%max]": (
        "emg_medial_hamstrings_peak_early_stance",
        "fraction of max",
        1.0,
    ),
    "Medial Hamstrings Peak (late swing)  [%max]": ("emg_medial_hamstrings_peak_late_swing", "fraction of max", 1.0),
    "Anterior Tibialis Peak (early stance)  [%max]": (
        "emg_tibialis_anterior_peak_early_stance",
        "fraction of max",
        1.0,
    ),
    "Anterior Tibialis Peak (early swing)  [%max]": ("emg_tibialis_anterior_peak_early_swing", "fraction of max", 1.0),
    "Medial Gastrocnemius Peak (stance)  [%max]": ("emg_gastrocnemius_medialis_peak_stance", "fraction of max", 1.0),
    "Medial Gastrocnemius Peak swing  [%max]": ("emg_gastrocnemius_medialis_peak_swing", "fraction of max", 1.0),
}

SCHWARTZ_EVENTS: dict[str, str] = {
    "Opposite Foot Off  [% cycle]": "opposite_foot_off_pct",
    "Opposite Foot Contact  [% cycle]": "opposite_foot_contact_pct",
    "Ipsilateral Foot Off  [% cycle]": "toe_off_pct",
    "Double Support  [% cycle]": "double_support_pct",
}


def _schwartz_anova(path: Path) -> list[tuple[str, str, int, float, float]]:
    """(parameter, speed group, N, mean, SD) from the descriptive half of the ANOVA table."""
    rows = list(csv.reader(path.open(encoding="utf-8")))
    out, cur = [], None
    for r in rows[2:]:
        if len(r) < 5:
            continue
        if r[0].strip():
            cur = r[0].strip()
        group = r[1].strip()
        if cur is None or group not in SCHWARTZ_SPEEDS or not r[2].strip():
            continue
        out.append((cur, group, int(r[2]), float(r[3]), float(r[4])))
    return out


def _norm_label(s: str) -> str:
    return " ".join(s.split())


def build_schwartz(shared: Path) -> DatasetBuild:
    src = shared / "schwartz2008"
    f_curves, f_events, f_anova = (
        src / "schwartz2008_curves.csv",
        src / "schwartz2008_cycle_events.csv",
        src / "schwartz2008_anova.csv",
    )
    b = DatasetBuild("schwartz2008")
    raw = pd.read_csv(f_curves)
    anova = _schwartz_anova(f_anova)
    n_of: dict[tuple[str, str], int] = {(p, g): n for p, g, n, _, _ in anova}

    def group_n(param: str, group: str) -> int:
        return n_of[(param, group)]

    # N per speed group and quantity (the curves were averaged over the subjects of that analysis)
    n_param = {
        "joint_angle": "Dimensionless Speed",
        "grf": "First Vertical Peak Force  [BW]",
        "joint_moment": "Max Hip Ext Mom (stance)  [N-m/kg]",
        "joint_power": "Max Hip Power Gen (early stance)  [W/kg]",
        "emg": "First Rectus Femoris Peak (early stance)  [%max]",
    }
    emg_units = "fraction of max"
    pct_src = np.arange(0, 101, 2, dtype=float)
    for speed, cond in SCHWARTZ_SPEEDS.items():
        sub = raw[raw.speed == speed]
        for (qty, var), g in sub.groupby(["quantity", "variable"], sort=False):
            g = g.sort_index()
            blocks = [g.iloc[i : i + pct_src.size] for i in range(0, len(g), pct_src.size)]
            for k, blk in enumerate(blocks):
                if not np.array_equal(blk.gait_cycle_pct.to_numpy(dtype=float), pct_src):
                    raise MmbioError(f"schwartz2008: {qty}/{var}/{speed}: unexpected % grid")
                key = (str(qty), str(var) + ("#2" if k == 1 else ""))
                if qty == "emg":
                    canon = canonical_muscle(str(var))
                    if canon is None:
                        raise MmbioError(f"schwartz2008: no canonical muscle for {var!r}")
                    our_q, our_v, factor, units = "emg", canon, 1.0, emg_units
                else:
                    our_q, our_v, factor, units = SCHWARTZ_CURVES[key]
                mean = factor * np.interp(PCT, pct_src, blk["mean"].to_numpy(dtype=float))
                sd = np.abs(np.interp(PCT, pct_src, blk["sd"].to_numpy(dtype=float)))
                b.add_curve(cond, our_q, our_v, "both", units, mean, sd, group_n(n_param[our_q], speed), None)

    # scalars: cycle events (fractions of the cycle → %; published SDs carry a stray minus sign)
    ev_rows = list(csv.reader(f_events.open(encoding="utf-8")))
    speeds = [c.strip() for c in ev_rows[0][1::2]]  # 'Parameter', speed, '', speed, '' … ; then mean, sd pairs
    if speeds != list(SCHWARTZ_SPEEDS):
        raise MmbioError(f"schwartz2008: unexpected cycle-event header {ev_rows[0]}")
    ev_vars = {_norm_label(k): v for k, v in SCHWARTZ_EVENTS.items()}
    for row in ev_rows[2:]:
        var = ev_vars.get(_norm_label(row[0]))
        if var is None:
            continue
        for k, speed in enumerate(speeds):
            m, s = float(row[1 + 2 * k]), abs(float(row[2 + 2 * k]))
            b.add_scalar(SCHWARTZ_SPEEDS[speed], var, "both", "% cycle", 100 * m, 100 * s, None)
    labels = {_norm_label(k): v for k, v in SCHWARTZ_SCALARS.items()}
    for param, group, n, m, s in anova:
        hit = labels.get(_norm_label(param))
        if hit is None:
            continue
        var, units, factor = hit
        b.add_scalar(SCHWARTZ_SPEEDS[group], var, "both", units, factor * m, abs(factor) * s, n)

    kin = {cond: group_n("Dimensionless Speed", sp) for sp, cond in SCHWARTZ_SPEEDS.items()}
    dimless = {SCHWARTZ_SPEEDS[g]: (m, s) for p, g, _, m, s in anova if p == "Dimensionless Speed"}
    b.provenance = {
        "name": "schwartz2008",
        "kind": "curves",
        "title": "Normative gait of typically developing children at five walking speeds",
        "citation": (
            "Schwartz M.H., Rozumalski A., Trost J.P. (2008) The effect of walking speed on the gait of typically "
            "developing children. J Biomech 41(8):1639-1650. doi:10.1016/j.jbiomech.2008.03.015"
        ),
        "licence": "CC-BY-SA (as distributed with the supplementary spreadsheet)",
        "url": "https://doi.org/10.1016/j.jbiomech.2008.03.015",
        "description": (
            "Overground walking of typically developing children (Gillette Children's Specialty Healthcare), "
            "grouped into five speed groups by dimensionless speed v / sqrt(g * leg length). Curves are the published "
            "group mean and SD (across subjects) over the gait cycle; sides are not distinguished (side 'both')."
        ),
        "conditions": {
            cond: {
                "source_label": speed,
                "description": f"{speed} walking, dimensionless speed {dimless[cond][0]:.3f} ± {dimless[cond][1]:.3f}",
                "speed_dimensionless": dimless[cond][0],
                "n_subjects": kin[cond],
                "n_subjects_by_quantity": {q: group_n(p, speed) for q, p in n_param.items()},
                "n_cycles": None,
            }
            for speed, cond in SCHWARTZ_SPEEDS.items()
        },
        "units": {
            "joint_angle": "deg",
            "grf": "BW (body weights)",
            "joint_moment": "N*m/kg",
            "joint_power": "W/kg",
            "emg": "fraction of max",
        },
        "sign_conventions": {
            "joint_angle": (
                "as published, which matches mmbio's clinical signs: flexion +, dorsiflexion +, adduction +, internal "
                "rotation +, anterior pelvic tilt +, ipsilateral pelvis up +, ipsilateral pelvis forward (internal) +. "
                "Extra names (not in mmbio.trial.CLINICAL_ANGLES): knee_adduction = 'Knee Ad/Abduction' (adduction/varus +), "
                "knee_rotation = 'Knee Int/External Rotation' (internal +), foot_progression = 'Foot Int/External "
                "Progression' (internal/in-toeing +, relative to the direction of progression), trunk_tilt / "
                "trunk_obliquity / trunk_rotation = 'Trunk Ant/Posterior Tilt' (anterior +), 'Trunk Up/Down Obliquity', "
                "'Trunk Int/External Rotation' as published (trunk relative to the lab)."
            ),
            "grf": (
                "ground on foot, in BW: grf_vertical up +, grf_ap anterior (propulsive) + / posterior (braking) -, as "
                "published; no medio-lateral component published."
            ),
            "joint_moment": (
                "published as internal moments with extensor / abductor / plantarflexor / valgus positive; mmbio stores "
                "them NEGATED so that a positive moment acts in the direction of the positive angle (the OpenSim / "
                "MuJoCo generalised-force convention): hip_flexion (flexor +), hip_adduction (adductor +), knee_flexion "
                "(flexor +), knee_adduction (adductor/varus +), ankle_dorsiflexion (dorsiflexor +). Scalars in "
                "scalars.csv name the peak explicitly (e.g. hip_extensor_moment_peak_stance) and give its magnitude."
            ),
            "joint_power": "total joint power, generation +, absorption - (as published); variables hip, knee, ankle",
            "emg": "linear envelopes as a fraction of each subject's maximum, as published",
        },
        "variables": {
            "joint_angle": {f"{v[1]}": k[1] for k, v in SCHWARTZ_CURVES.items() if v[0] == "joint_angle"},
            "grf": {"grf_vertical": "Vertical", "grf_ap": "Anterior/Posterior"},
            "joint_moment": {
                "hip_flexion": "Hip Ext/Flexion (negated)",
                "hip_adduction": "Hip Ab/Adduction (negated)",
                "knee_flexion": "Knee Ext/Flexion, first block (negated)",
                "knee_adduction": "Knee Ext/Flexion, second block = frontal-plane (valgus) knee moment (negated)",
                "ankle_dorsiflexion": "Ankle Dorsi/Plantarflexion (negated)",
            },
            "joint_power": {"hip": "Hip", "knee": "Knee", "ankle": "Ankle"},
            "emg": {
                "rectus_femoris": "Rectus Femoris",
                "medial_hamstrings": "Medial Hamstrings",
                "biceps_femoris": "Lateral Hamstrings",
                "tibialis_anterior": "Anterior Tibialis",
                "gastrocnemius_medialis": "Medial Gastrocnemius",
            },
        },
        "n_subjects": kin,
        "n_cycles": dict.fromkeys(SCHWARTZ_SPEEDS.values()),
        "sources": source_entries(shared, [f_curves, f_events, f_anova]),
        "processing": [
            "curves: the published 2 % grid (51 points) is linearly interpolated to 1 % steps (101 points); the SD "
            "is interpolated the same way (linear interpolation of the SD, not a re-computation).",
            "'Knee Ext/Flexion' appears twice among the joint moments of the source table (510 rows = 2 × 255). The "
            "first block is the sagittal knee moment (extensor peak ≈ 0.37 N*m/kg at 12 % matches the ANOVA 'Max Knee "
            "Ext Mom (stance)' 0.39); the second is a double-humped stance moment matching 'Max Knee Valg Mom (1st/2nd "
            "half stance)' 0.30/0.24 N*m/kg, i.e. the frontal-plane (valgus) knee moment mislabelled in the "
            "spreadsheet; it is stored as knee_adduction (negated).",
            "n_subjects per condition: N of the speed group in the ANOVA table for the matching analysis "
            "(kinematics: 'Dimensionless Speed'; GRF: 'First Vertical Peak Force'; moments: 'Max Hip Ext Mom "
            "(stance)'; powers: 'Max Hip Power Gen (early stance)'; EMG: 'First Rectus Femoris Peak'). n_cycles is "
            "not published (empty).",
            "scalars: cycle events (fractions of the cycle in the source, written here in % of cycle; the source "
            "writes each SD with a minus sign, its magnitude is used; n not published) and the descriptive part of "
            "the ANOVA table (group mean, SD, N) for the parameters with a clear quantity and unit. These are "
            "averages of per-subject values (e.g. the mean of each child's own peak), so the peaks of the mean "
            "curves are slightly lower than the peak scalars.",
            "'Max Dorsiflex Time (stance) [% stance]' is a fraction of stance in the source; written here in %.",
            "moment scalars: the magnitude of the named peak (the published value times -1 where the source gives "
            "it negative); power scalars keep their sign (absorption negative).",
        ],
    }
    return b
