"""GRF profile metrics: analytic curves with hand-derived answers, then real walking and running data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from mmbio.analysis.grf import (
    AP_UNITS,
    RUNNING_PROFILE_UNITS,
    RUNNING_UNITS,
    VERTICAL_UNITS,
    WALKING_ONLY,
    ap_profile,
    compare_grf,
    reference_stance,
    vertical_profile,
)
from mmbio.reference.registry import reference_curve
from mmbio.trial import GRAVITY

X = np.linspace(0.0, 1.0, 101)  # fraction of stance


# F(x) = A (sin πx + k sin 3πx), k = 0.25, A = 1.25: symmetric double hump.
# Peaks where cos πx + 3k cos 3πx = 0 → with c = cos πx: c (1 − 9k + 12k c²) = 0 → c² = (9k − 1) / (12k).
A, K = 1.25, 0.25
C = np.sqrt((9 * K - 1) / (12 * K))
X_PEAK = np.arccos(C) / np.pi  # 0.2766
F_PEAK = A * (np.sqrt(1 - C**2) + K * np.sin(3 * np.arccos(C)))  # 1.1138 BW
F_VALLEY = A * (1 - K)  # at x = 0.5: 0.9375 BW
IMPULSE = A * (2 / np.pi + K * 2 / (3 * np.pi))  # ∫0^1 F dx (BW · stance)


def double_hump(x: np.ndarray | float) -> np.ndarray | float:
    return A * (np.sin(np.pi * x) + K * np.sin(3 * np.pi * x))


def test_vertical_profile_of_an_analytic_double_hump() -> None:
    T = 0.62
    p = vertical_profile(double_hump(X), T, running=False)
    assert list(p) == list(VERTICAL_UNITS)
    assert p["first_peak_bw"].value == pytest.approx(F_PEAK, abs=1e-3)
    assert p["second_peak_bw"].value == pytest.approx(F_PEAK, abs=1e-3)
    assert p["first_peak_pct_stance"].value == pytest.approx(100 * X_PEAK, abs=1.0)
    assert p["second_peak_pct_stance"].value == pytest.approx(100 * (1 - X_PEAK), abs=1.0)
    assert p["valley_bw"].value == pytest.approx(F_VALLEY, abs=1e-9)
    assert p["valley_pct_stance"].value == pytest.approx(50.0)
    assert p["valley_depth_ratio"].value == pytest.approx(F_VALLEY / F_PEAK, rel=1e-3)
    assert p["impulse_bw_s"].value == pytest.approx(T * IMPULSE, rel=1e-3)
    assert p["stance_time_s"].value == T and p["double_peak"].value == 1.0 and p["double_peak"].units == "bool"
    # loading rate: 20 % → 80 % of the first peak on the analytic rising edge
    x20 = brentq(lambda x: double_hump(x) - 0.2 * F_PEAK, 0, X_PEAK)
    x80 = brentq(lambda x: double_hump(x) - 0.8 * F_PEAK, 0, X_PEAK)
    assert p["loading_rate_bw_s"].value == pytest.approx(0.6 * F_PEAK / ((x80 - x20) * T), rel=0.01)


def test_shallow_or_low_double_hump_is_not_double_peaked() -> None:
    shallow = 1.05 * (np.sin(np.pi * X) + 0.02 * np.sin(3 * np.pi * X))  # dip ≈ 0.03 BW < 0.05
    p = vertical_profile(shallow, 0.6, running=False)
    assert p["double_peak"].value == 0.0
    low = 0.6 * double_hump(X)  # peaks 0.67 BW: not a walking stance
    assert vertical_profile(low, 0.6, running=False)["double_peak"].value == 0.0


def test_single_hump_is_not_double_peaked_and_gives_the_active_peak() -> None:
    T = 0.25
    f = 2.5 * np.sin(np.pi * X)
    p = vertical_profile(f, T, running=True)
    # a running stance has no first peak / valley / second peak: its "first peak" would repeat the active peak
    assert list(p) == list(RUNNING_PROFILE_UNITS) and list(RUNNING_UNITS) == list(p)[:4]
    assert not set(WALKING_ONLY) & set(p)
    assert p["double_peak"].value == 0.0
    assert vertical_profile(f, T, running=False)["valley_depth_ratio"].value == 1.0
    assert p["active_peak_bw"].value == pytest.approx(2.5) and p["active_peak_pct_stance"].value == 50.0
    assert not p["impact_peak_bw"].available and "no impact" in p["impact_peak_bw"].reason
    assert p["impulse_bw_s"].value == pytest.approx(T * 2.5 * 2 / np.pi, rel=1e-3)
    x20, x80 = np.arcsin(0.2) / np.pi, np.arcsin(0.8) / np.pi  # no impact: 20–80 % of the active peak
    assert p["loading_rate_bw_s"].value == pytest.approx(0.6 * 2.5 / ((x80 - x20) * T), rel=0.01)


def test_running_impact_transient_as_local_maximum() -> None:
    f = 2.4 * np.sin(np.pi * X) ** 1.5 + 0.9 * np.exp(-(((X - 0.1) / 0.035) ** 2))
    p = vertical_profile(f, 0.25, running=True)
    assert p["impact_peak_bw"].available
    assert p["impact_peak_pct_stance"].value == pytest.approx(10.0, abs=2.0)
    assert p["active_peak_pct_stance"].value == pytest.approx(50.0, abs=2.0)
    assert p["double_peak"].value == 0.0


def test_ap_profile_of_an_analytic_curve() -> None:
    T = 0.6
    ap = -0.2 * np.sin(2 * np.pi * X)  # braking first half, propulsion second
    p = ap_profile(ap, T)
    assert list(p) == list(AP_UNITS)
    assert p["braking_peak_bw"].value == pytest.approx(-0.2) and p["braking_peak_pct_stance"].value == 25.0
    assert p["propulsion_peak_bw"].value == pytest.approx(0.2) and p["propulsion_peak_pct_stance"].value == 75.0
    assert p["ap_zero_crossing_pct_stance"].value == pytest.approx(50.0, abs=1e-6)
    assert p["braking_impulse_bw_s"].value == pytest.approx(-T * 0.2 / np.pi, rel=1e-3)
    assert p["propulsion_impulse_bw_s"].value == pytest.approx(T * 0.2 / np.pi, rel=1e-3)
    only_brake = ap_profile(-0.1 * np.sin(np.pi * X), T)
    assert not only_brake["propulsion_peak_bw"].available and only_brake["propulsion_peak_bw"].reason


def test_reference_stance_of_a_cycle_curve() -> None:
    from mmbio.reference.registry import ReferenceCurve

    pct = np.linspace(0, 100, 101)
    cyc = np.where(pct < 60, double_hump(np.clip(pct / 60, 0, 1)), 0.0)
    st, to = reference_stance(ReferenceCurve(pct, cyc, None, "BW", 1, 1))
    assert to == pytest.approx(60.0, abs=0.5)
    assert st.shape == (101,)
    assert vertical_profile(st, 0.6, running=False)["double_peak"].value == 1.0


# --------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def rajagopal(shared: Path):
    from mmbio.io.loader import load_trial

    d = shared / "rajagopal2016_walk"
    return load_trial(d / "coordinates.sto", grf=d / "grf_walk.mot", mass_kg=85.3)


@pytest.mark.shared
def test_rajagopal_right_foot_profile_matches_readme(rajagopal) -> None:
    metrics, curves, notes = compare_grf(rajagopal, "rajagopal2016_walk", "free")
    v = metrics["right"]["vertical"]
    assert v["first_peak_bw"].value == pytest.approx(1.10, rel=0.02)
    assert v["second_peak_bw"].value == pytest.approx(1.13, rel=0.02)
    assert v["valley_bw"].value == pytest.approx(0.72, rel=0.03)
    assert v["first_peak_pct_stance"].value == pytest.approx(27, abs=3)
    assert v["second_peak_pct_stance"].value == pytest.approx(75, abs=3)
    assert v["stance_time_s"].value == pytest.approx(0.757, abs=0.01)
    assert v["double_peak"].value == 1.0 and list(v["double_peak"].cycles) == [1.0, 1.0]
    assert v["r"].value > 0.999 and v["rmse_bw"].value < 0.01  # the reference is this trial, cut at its toe-off event
    ap = metrics["right"]["ap"]
    assert ap["braking_peak_bw"].value < -0.1 and ap["propulsion_peak_bw"].value > 0.1
    assert 40 < ap["ap_zero_crossing_pct_stance"].value < 65
    assert metrics["right"]["vertical_reference"]["double_peak"].value == 1.0
    assert {c.variable for c in curves} == {"grf_vertical", "grf_ap"} and all(c.basis == "stance" for c in curves)
    assert "walking" in notes[0]


@pytest.mark.shared
def test_schreiber_every_walking_stance_is_double_peaked(shared: Path) -> None:
    from mmbio.io.loader import load_trial

    files = sorted((shared / "schreiber2019").glob("*/*_C4_*.c3d"))
    assert files and len(files) == len({f.parent.name for f in files})  # one C4 trial per subject present
    for f in files:
        metrics, _, _ = compare_grf(load_trial(f), "schreiber2019", "c4")
        for side in ("right", "left"):
            v = metrics[side]["vertical"]
            assert v["double_peak"].value == 1.0, (f.name, side)
            assert np.all(v["double_peak"].cycles == 1.0), (f.name, side)


@pytest.mark.parametrize("condition", ["slow", "free", "fast", "very_fast"])
def test_schwartz_reference_walking_is_double_peaked(condition: str) -> None:
    st, _ = reference_stance(reference_curve("schwartz2008", condition, "grf_vertical", "r"))
    assert vertical_profile(st, float("nan"), running=False)["double_peak"].value == 1.0


def test_schwartz_free_reference_profile_matches_readme() -> None:
    st, _ = reference_stance(reference_curve("schwartz2008", "free", "grf_vertical", "r"))
    p = vertical_profile(st, float("nan"), running=False)
    # README (scalar table of the paper): 1.135 / 0.778 / 1.097 BW; the mean curve smooths the peaks a little
    assert p["first_peak_bw"].value == pytest.approx(1.135, abs=0.05)
    assert p["valley_bw"].value == pytest.approx(0.778, abs=0.03)
    assert p["second_peak_bw"].value == pytest.approx(1.097, abs=0.03)
    assert not p["loading_rate_bw_s"].available and p["loading_rate_bw_s"].reason


def _treadmill_mass(trial, t0: float, t1: float) -> float:
    g_r, g_l = trial.grf["r"], trial.grf["l"]
    m = (g_r.time >= t0) & (g_r.time < t1)
    return float(np.mean(g_r.vertical[m] + g_l.vertical[m]) / GRAVITY)


@pytest.mark.shared
def test_hamner_running_single_hump_with_active_peak_in_range(shared: Path) -> None:
    from mmbio.io.loader import load_trial

    d = shared / "hamner2013_run" / "subject01"
    tr = load_trial(d / "Run_3_ik.mot", grf=d / "Run_3_grf.mot")
    c = json.loads((d / "gait_times.json").read_text())["run3"]
    tr.subject.mass_kg = _treadmill_mass(tr, c["cycle1"]["initialTime"], c["cycle3"]["finalTime"])
    metrics, _, notes = compare_grf(tr, "hamner2013_run", "3")
    assert "running" in notes[0]  # inferred from the duty factor
    for side in ("right", "left"):
        v = metrics[side]["vertical"]
        assert v["double_peak"].value == 0.0 and np.all(v["double_peak"].cycles == 0.0)
        assert 1.85 <= v["active_peak_bw"].value <= 2.80
        assert 0.2 < v["stance_time_s"].value < 0.35
        assert v["r"].value > 0.98
    assert metrics["right"]["vertical_reference"]["double_peak"].value == 0.0


def _dorn(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(shared / "dorn2012_run" / "Dorn2012.npz")
    # Y: (18, 100, 3) N, axes (AP, vertical, ML); FOOT is the limb (0/1: the ML force flips sign), not the strike type
    vert = d["Y"][:, :, 1]
    vert = np.array([np.interp(np.linspace(0, 99, 101), np.arange(100), v) for v in vert])
    return vert / 700.0, d["SPEED"]  # nominal body weight: the impact rule is scale-free


@pytest.mark.shared
def test_dorn_rearfoot_running_has_an_impact_transient_sprinting_has_none(shared: Path) -> None:
    vert, speed = _dorn(shared)
    slow = vert[speed == 3.56]
    p = vertical_profile(slow.mean(axis=0), 0.25, running=True)
    assert p["impact_peak_bw"].available
    assert 15 <= p["impact_peak_pct_stance"].value <= 25
    assert p["impact_peak_bw"].value < p["active_peak_bw"].value
    found = [vertical_profile(v, 0.25, running=True)["impact_peak_bw"].available for v in slow]
    assert sum(found) >= 4  # one of the five stances has only a faint change of slope
    for v in vert[speed > 9]:
        q = vertical_profile(v, 0.1, running=True)
        assert not q["impact_peak_bw"].available and q["impact_peak_bw"].reason
        assert q["double_peak"].value == 0.0


@pytest.mark.shared
def test_grf_without_body_mass_keeps_what_needs_no_mass(rajagopal) -> None:
    """Stance time, timing and r need no mass: the same numbers without it; BW values n/a with the reason."""
    tr = rajagopal.replace()
    tr.subject = type(rajagopal.subject)()
    with_mass, _, _ = compare_grf(rajagopal, "rajagopal2016_walk", "free", running=False)
    metrics, curves, notes = compare_grf(tr, "rajagopal2016_walk", "free", running=False)
    for side in ("right", "left"):
        for var in ("vertical", "ap"):
            for k, m in metrics[side][var].items():
                ref = with_mass[side][var][k]
                if m.units in ("BW", "BW/s", "BW·s", "bool"):
                    assert not m.available and m.reason.startswith("body mass unknown"), (side, var, k)
                else:  # seconds, % stance, ratio, r, count: identical to the analysis with the mass
                    assert m.available == ref.available and (not m.available or m.value == pytest.approx(ref.value))
    v = metrics["right"]["vertical"]
    assert v["stance_time_s"].value == pytest.approx(0.757, abs=0.01) and v["r"].value > 0.999
    assert v["first_peak_pct_stance"].value == pytest.approx(27, abs=3)
    assert curves == [] and any("body mass is unknown" in n for n in notes)


# --------------------------------------------------------------------------------------------- issue 13 audit


@pytest.mark.shared
def test_schreiber_slow_walker_stance_at_the_force_restores_shape_and_timing(shared: Path) -> None:
    """2015043 C4 (0.75 m/s): foot offs 82–94 ms after the force; cut at the events, stance was 1.05 s, r 0.82
    against Schwartz free and the second peak at 68 % of stance."""
    from mmbio.io.loader import load_trial

    tr = load_trial(shared / "schreiber2019" / "2015043" / "2015043_C4_04.c3d")
    metrics, _, notes = compare_grf(tr, "schwartz2008", "free", running=False)
    v = metrics["right"]["vertical"]
    assert v["stance_time_s"].value == pytest.approx(0.953, abs=0.003)  # 0.804–1.756 s at 20 N
    assert v["r"].value > 0.92 and metrics["left"]["vertical"]["r"].value > 0.86
    assert v["second_peak_pct_stance"].value >= 73
    assert any("+94 ms" in n for n in notes) and any("+82 ms" in n for n in notes)


@pytest.fixture(scope="module")
def hamner_3(shared: Path) -> dict[str, object]:
    from mmbio.io.loader import load_trial

    out = {}
    for d in sorted((shared / "hamner2013_run").glob("subject*")):
        tr = load_trial(d / "Run_3_ik.mot", grf=d / "Run_3_grf.mot")
        c = json.loads((d / "gait_times.json").read_text())["run3"]
        tr.subject.mass_kg = _treadmill_mass(tr, c["cycle1"]["initialTime"], c["cycle3"]["finalTime"])
        out[d.name] = compare_grf(tr, "hamner2013_run", "3", running=True)[0]
    return out


@pytest.mark.shared
def test_hamner_impact_transient_decided_per_stance_same_rule_both_feet(hamner_3) -> None:
    """At 3 m/s every shared runner gets the same answer on both feet (the mean-curve rule found subject04's
    on the right only); the transient precedes the active peak and its fraction of stances is reported."""
    assert set(hamner_3) >= {"subject01", "subject02", "subject03", "subject04", "subject08"}
    for subj, metrics in hamner_3.items():
        r, lft = metrics["right"]["vertical"], metrics["left"]["vertical"]
        assert r["impact_peak_bw"].available == lft["impact_peak_bw"].available, subj
        for v in (r, lft):
            frac = v["impact_stance_fraction"]
            assert frac.units == "1" and frac.value == pytest.approx(np.mean(frac.cycles))
            found = np.isfinite(v["impact_peak_bw"].cycles)
            assert np.array_equal(found, frac.cycles == 1.0)
            if v["impact_peak_bw"].available:
                assert frac.value >= 0.5
                assert v["impact_peak_bw"].value == pytest.approx(np.median(v["impact_peak_bw"].cycles[found]))
                assert v["impact_peak_pct_stance"].value < v["active_peak_pct_stance"].value
                assert v["impact_peak_bw"].value < v["active_peak_bw"].value
            else:
                assert frac.value < 0.5 and "of" in v["impact_peak_bw"].reason
    s4 = hamner_3["subject04"]
    assert s4["right"]["vertical"]["impact_stance_fraction"].value == pytest.approx(6 / 7)
    assert s4["left"]["vertical"]["impact_stance_fraction"].value == pytest.approx(4 / 8)
    assert not hamner_3["subject03"]["left"]["vertical"]["impact_peak_bw"].available  # no transient: 0 of 8


@pytest.mark.shared
def test_hamner_running_metrics_say_what_they_are(hamner_3) -> None:
    for metrics in hamner_3.values():
        for side in ("right", "left"):
            v = metrics[side]["vertical"]
            assert not set(WALKING_ONLY) & set(v)  # no "first peak" that repeats the active peak
            assert {"active_peak_bw", "impact_peak_bw", "impact_stance_fraction", "stance_time_s"} <= set(v)
            assert not set(WALKING_ONLY) & set(metrics[side]["vertical_reference"])
