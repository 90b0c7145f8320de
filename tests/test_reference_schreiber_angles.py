"""schreiber2019 joint angles from mmbio's marker IK (issue 16 §5): committed curves, ceilings, rebuild."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import mmbio.reference.registry as reg
from mmbio.reference.registry import get_reference, load_curves

ANGLES = (
    "pelvis_tilt", "pelvis_obliquity", "pelvis_rotation", "hip_flexion", "hip_adduction", "hip_rotation",
    "knee_flexion", "ankle_dorsiflexion",
)  # fmt: skip


def _angle(cond: str, var: str, side: str):
    df = load_curves("schreiber2019", cond)
    return df[(df.quantity == "joint_angle") & (df.variable == var) & (df.side == side)].sort_values("pct")


@pytest.mark.parametrize("cond", ["c4", "c5"])
@pytest.mark.parametrize("side", ["r", "l"])
def test_knee_flexion_has_the_walking_shape(cond: str, side: str) -> None:
    k = _angle(cond, "knee_flexion", side)
    assert len(k) == 101 and set(k.n_subjects) == {9} and set(k.units) == {"deg"}
    m = k["mean"].to_numpy()
    assert 55 <= m.max() <= 70 and 60 <= int(np.argmax(m)) <= 75  # swing peak
    assert 8 <= m[10:25].max() <= 30  # loading-response flexion
    assert m[35:50].min() < 12  # extended in mid/late stance
    assert abs(m[0] - m[100]) < 5  # a closed cycle


def test_every_angle_both_sides_both_conditions() -> None:
    n = get_reference("schreiber2019").n_subjects
    for cond in ("c4", "c5"):
        df = load_curves("schreiber2019", cond).query("quantity == 'joint_angle'")
        assert set(df.variable) == set(ANGLES) and set(df.side) == {"r", "l"}
        assert set(df.n_subjects) == {n[cond]} == {9}
        assert np.isfinite(df["mean"]).all() and np.isfinite(df["sd"]).all()
        sub = reg.load_subject_curves("schreiber2019", cond).query("quantity == 'joint_angle'")
        assert sub.unit_id.nunique() == 9 and set(sub.variable) == set(ANGLES)
    # faster walking: larger hip range and ankle plantarflexion at push-off
    for side in ("r", "l"):
        h4, h5 = (np.ptp(_angle(c, "hip_flexion", side)["mean"]) for c in ("c4", "c5"))
        assert h5 > h4
        a4, a5 = (_angle(c, "ankle_dorsiflexion", side)["mean"].min() for c in ("c4", "c5"))
        assert a5 < a4 < 0


def test_provenance_names_ik_settings_trials_and_cross_check() -> None:
    prov = yaml.safe_load((reg.data_dir() / "schreiber2019" / "provenance.yaml").read_text())
    ik = prov["ik"]
    assert "marker_ik" in ik["method"] and "isb_schreiber2019" in ik["marker_set"] and "ST.c3d" in ik["scaling"]
    assert len(ik["subjects"]) == 9 and len(ik["trials"]) == 18
    assert 1.0 < ik["marker_rms_cm_median"] < 2.0
    for t in ik["trials"]:
        assert t["cycles_r"] != "none" and t["cycles_l"] != "none"
        rmse = dict(kv.rsplit(" ", 1) for kv in t["opensim_ik_rmse_deg"].split(", "))
        assert float(rmse["knee_angle_r"]) < 6, t["trial"]
    for cond in ("c4", "c5"):
        assert prov["conditions"][cond]["n_cycles"]["angle_r"] == 9
    assert prov["units"]["joint_angle"] == "deg"


def test_loso_ceiling_for_angles_exists_and_knee_is_high() -> None:
    from mmbio.analysis.ceiling import human_ceiling_detail, kinematics_metric_fn

    fn = kinematics_metric_fn()
    for cond in ("c4", "c5"):
        c = human_ceiling_detail("schreiber2019", cond, "kinematics", "knee_flexion", "r", fn)
        assert c.note.startswith("leave-one-out over 9 subjects of schreiber2019")
        assert c.values["r"] > 0.95 and c.values["rmse"] < 6
        for var in ANGLES:
            assert human_ceiling_detail("schreiber2019", cond, "kinematics", var, "l", fn).values


@pytest.mark.shared
def test_rebuild_one_subject_cycle_equals_committed(shared: Path) -> None:
    from mmbio.reference.build.schreiber import heel_strike_windows, ik_angle_cycles, ik_trial, subject_scaling

    subj = "2014001"
    (f,) = sorted((shared / "schreiber2019" / subj).glob(f"{subj}_C4_*.c3d"))
    ikt = ik_trial(f, subject_scaling(shared, subj))
    committed = reg.load_subject_curves_wide("schreiber2019", "c4")
    for side in ("r", "l"):
        cyc, kept = ik_angle_cycles(ikt, side, heel_strike_windows(ikt.trial, side))
        assert len(kept) == 1
        for var in ("knee_flexion", "hip_flexion", "pelvis_obliquity"):
            row = committed[
                (committed.unit_id.astype(str) == subj)
                & (committed.quantity == "joint_angle")
                & (committed.variable == var)
                & (committed.side == side)
            ]
            np.testing.assert_allclose(
                row[list(reg.SUBJECT_PCT_COLUMNS)].to_numpy(float)[0], cyc[var].mean(axis=0), atol=0.006
            )
