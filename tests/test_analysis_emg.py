"""Activation vs EMG metrics and the muscle-name map, against answers built into the test signals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mmbio.analysis.emg import (
    FLAT_REASON,
    METRIC_UNITS,
    activation_metrics,
    compare_emg,
    normal_windows,
)
from mmbio.analysis.muscles import (
    EMG_TO_MODEL,
    activation_channel,
    channel_muscles,
    match_muscles,
    unmapped_channels,
    unmatched,
)
from mmbio.analysis.synergies import synergies_from_curves
from mmbio.errors import ChannelError
from mmbio.reference.registry import reference_curve
from mmbio.trial import Channels, Events, Subject, Trial

PCT = np.linspace(0.0, 100.0, 101)


def bump(centre: float, width: float = 8.0, pct: np.ndarray = PCT) -> np.ndarray:
    """A periodic Gaussian burst at ``centre`` % of the cycle."""
    d = (pct - centre + 50.0) % 100.0 - 50.0
    return np.exp(-0.5 * (d / width) ** 2)


# --- activation_metrics -------------------------------------------------------------------------


@pytest.mark.parametrize(("delay_ms", "cycle_s"), [(47.0, 1.2), (-63.0, 1.1), (0.0, 1.0), (90.0, 1.05)])
def test_delayed_copy_gives_the_delay(delay_ms: float, cycle_s: float) -> None:
    e = 0.1 + bump(30.0) + 0.6 * bump(75.0, 12.0)
    shift_pct = 100.0 * delay_ms / 1e3 / cycle_s
    a = 0.3 * (0.1 + bump(30.0 + shift_pct) + 0.6 * bump(75.0 + shift_pct, 12.0))  # a(t) = e(t − delay)
    m = activation_metrics(a, e, cycle_time_s=cycle_s)
    sample_ms = cycle_s * 1e3 / 100
    assert abs(m["best_lag_ms"].value - delay_ms) <= sample_ms
    assert m["r_best_lag"].value > 0.99
    assert m["r_best_lag"].value >= m["r"].value - 1e-3
    assert m["best_lag_ms"].units == "ms"


def test_lag_window_and_unknown_cycle_time() -> None:
    e = bump(30.0)
    a = bump(50.0)  # 20 % of a 1 s cycle = 200 ms, outside ±100 ms
    m = activation_metrics(a, e, cycle_time_s=1.0)
    assert m["best_lag_ms"].value == pytest.approx(100.0)  # best inside the window is its edge
    m = activation_metrics(a, e, cycle_time_s=None)
    assert not m["best_lag_ms"].available and "cycle time" in m["best_lag_ms"].reason
    assert not m["r_best_lag"].available
    assert m["r"].available


def test_scaled_rmse_of_a_scaled_copy() -> None:
    a = 0.4 * bump(40.0)  # activation peaks at 0.4
    e = 0.5 * a  # any amplitude: EMG is normalised to its own peak → ê = a / 0.4
    m = activation_metrics(a, e, cycle_time_s=1.0)
    assert m["scale"].value == pytest.approx(2.5)
    assert m["scaled_rmse"].value == pytest.approx(0.0, abs=1e-12)
    assert m["r"].value == pytest.approx(1.0)
    assert m["scaled_rmse"].units == "fraction of EMG peak"


def test_non_negative_scale_clamps_to_zero() -> None:
    a = np.sin(2 * np.pi * PCT / 100.0)  # negative where the EMG burst is
    e = bump(75.0)
    m = activation_metrics(a, e, cycle_time_s=1.0, silent_level=None)
    assert m["scale"].value == 0.0
    en = e / e.max()
    assert m["scaled_rmse"].value == pytest.approx(np.sqrt(np.mean(en**2)))
    assert m["r"].value < -0.5


def test_flat_activation_is_not_available_and_silent() -> None:
    m = activation_metrics(np.full(101, 0.3), bump(20.0), cycle_time_s=1.0)
    assert not m["r"].available and m["r"].reason.startswith(FLAT_REASON)
    assert not m["r_best_lag"].available and not m["best_lag_ms"].available
    assert m["silent"].value == 1.0 and m["silent"].units == "bool"
    low = activation_metrics(0.03 * bump(20.0), bump(20.0), cycle_time_s=1.0)  # never reaches 5 %
    assert low["silent"].value == 1.0 and low["r"].value == pytest.approx(1.0)
    assert low["onoff_agreement"].value < 100.0  # a silent signal is off everywhere
    env = activation_metrics(0.03 * bump(20.0), bump(20.0), cycle_time_s=1.0, silent_level=None)
    assert env["silent"].value == 0.0
    flat_ref = activation_metrics(bump(20.0), np.ones(101), cycle_time_s=1.0)
    assert not flat_ref["r"].available and "reference" in flat_ref["r"].reason
    assert not flat_ref["scaled_rmse"].available and not flat_ref["onoff_agreement"].available


def test_onoff_agreement_of_square_waves() -> None:
    a = ((PCT >= 0) & (PCT < 40)).astype(float)  # on 0–39 %
    e = ((PCT >= 20) & (PCT < 60)).astype(float)  # on 20–59 %
    m = activation_metrics(a, e, cycle_time_s=1.0)
    # disagree on 0–19 and 40–59 (40 of the 100 points of one period)
    assert m["onoff_agreement"].value == pytest.approx(60.0)
    assert m["onoff_agreement"].units == "% cycle"


def test_normal_window_agreement() -> None:
    a = (PCT <= 40).astype(float)  # on 0–40 % inclusive
    assert activation_metrics(a, a, cycle_time_s=1.0, normal_windows=[(0, 40)])["normal_window_agreement"].value == 100
    m = activation_metrics(a, a, cycle_time_s=1.0, normal_windows=[(50, 90)])
    assert m["normal_window_agreement"].value == pytest.approx(100 - 41 - 41)
    wrap = activation_metrics(a, a, cycle_time_s=1.0, normal_windows=[(0, 20), (90, 100)])
    assert wrap["normal_window_agreement"].value == pytest.approx(100 - 20 - 10)  # 21–40 and 90–99 disagree
    none = activation_metrics(a, a, cycle_time_s=1.0)
    assert not none["normal_window_agreement"].available


def test_per_cycle_values() -> None:
    e = bump(30.0)
    cyc = np.vstack([bump(30.0), bump(32.0), np.full(101, 0.5)])
    m = activation_metrics(cyc, e, cycle_time_s=np.array([1.0, 1.1, 1.2]))
    assert set(m) == set(METRIC_UNITS)
    for metric in m.values():
        assert metric.cycles is not None and metric.cycles.shape == (3,)
    assert m["r"].cycles[0] == pytest.approx(1.0)
    assert math.isnan(m["r"].cycles[2]) and m["silent"].cycles[2] == 1.0
    assert m["best_lag_ms"].cycles[1] == pytest.approx(2 * 11.0)  # 2 % of 1.1 s = 22 ms, a whole sample count
    assert m["r"].value == pytest.approx(float(np.corrcoef(cyc.mean(axis=0), e)[0, 1]))


def test_normal_windows_table() -> None:
    w, src = normal_windows("soleus")
    assert w == [(7.0, 51.0)] and "soleus" in src
    w, _ = normal_windows("biceps_femoris")  # BICFEM, not LATHAM
    assert w == [(0.0, 7.0), (83.0, 100.0)]
    w, src = normal_windows("gastrocnemius_medialis")  # via the equivalent gastrocnemius
    assert w == [(9.0, 54.0)] and "equivalent" in src
    w, src = normal_windows("iliopsoas_unknown")
    assert w is None and "no normal" in src


# --- muscle map ---------------------------------------------------------------------------------


def test_match_muscles() -> None:
    ref = ["soleus", "medial_hamstrings", "gastrocnemius", "biceps_femoris", "gluteus_minimus"]
    trial = ["semitendinosus", "gastrocnemius_medialis", "soleus", "lateral_hamstrings", "peroneus_longus"]
    pairs = match_muscles(ref, trial)
    assert pairs == [
        ("soleus", "soleus", "same"),
        ("medial_hamstrings", "semitendinosus", "equivalent"),
        ("gastrocnemius", "gastrocnemius_medialis", "equivalent"),
        ("biceps_femoris", "lateral_hamstrings", "same"),
    ]
    assert unmatched(ref, trial, pairs) == (["gluteus_minimus"], ["peroneus_longus"])
    # an exact match is preferred to an equivalent one
    assert match_muscles(["gastrocnemius"], ["gastrocnemius_medialis", "gastrocnemius"]) == [
        ("gastrocnemius", "gastrocnemius", "same")
    ]


def test_activation_channel_model_names() -> None:
    t = np.linspace(0, 1, 11)
    names = ["glmax1_r", "glmax2_r", "glmax3_r", "soleus_r", "tibant_r", "gasmed_r", "psoas_r"]
    vals = np.column_stack([np.full(11, v) for v in (0.1, 0.2, 0.6, 0.5, 0.4, 0.3, 0.9)])
    ch = Channels(t, vals, names, "1")
    np.testing.assert_allclose(activation_channel(ch, "gluteus_maximus", "r"), 0.3)
    np.testing.assert_allclose(activation_channel(ch, "soleus", "r"), 0.5)
    mus = channel_muscles(ch, "r")
    assert set(mus) == {"gluteus_maximus", "soleus", "tibialis_anterior", "gastrocnemius_medialis"}
    assert unmapped_channels(ch, "r") == ["psoas_r"]
    with pytest.raises(ChannelError, match="gaslat_r"):
        activation_channel(ch, "gastrocnemius", "r")
    canon = Channels(t, vals[:, :2], ["soleus_l", "TA_l"], "1")
    np.testing.assert_allclose(activation_channel(canon, "tibialis_anterior", "l"), 0.2)
    assert set(EMG_TO_MODEL["medial_hamstrings"]) == {"semiten", "semimem"}


# --- compare_emg on synthetic trials -----------------------------------------------------------


def periodic_trial(curves: dict[str, np.ndarray], units: str, group: str, *, rate: float = 1000.0) -> Trial:
    """A trial repeating 101-point cycles ``curves`` (channel → (101,)) for 6 strides of 1.1 s (right side)."""
    T, n = 1.1, 6
    t = np.arange(0.0, T * n + 0.2, 1.0 / rate)
    phase = (t % T) / T * 100.0
    vals = np.column_stack([np.interp(phase, PCT, c) for c in curves.values()])
    ch = Channels(t, vals, list(curves), units)
    hs = np.arange(n + 1) * T
    ev = Events({"r": hs, "l": hs + T / 2}, {"r": hs + 0.62 * T, "l": hs + 0.12 * T}, source="file")
    return Trial(name="synthetic", kind="simulated", subject=Subject(mass_kg=70.0), events=ev, **{group: ch})


def test_compare_emg_activations_with_model_names() -> None:
    ref = {m: reference_curve("santuz2020_emg", "treadmill", m, "r").mean for m in ("soleus", "tibialis_anterior")}
    curves = {"soleus_r": 0.5 * ref["soleus"], "tibant_r": 0.2 * ref["tibialis_anterior"]}
    curves["psoas_r"] = 0.3 * np.ones(101)  # no EMG muscle: reported, not guessed
    trial = periodic_trial(curves, "1", "activations")
    metrics, pairs, notes = compare_emg(trial, "santuz2020_emg:treadmill")
    right = metrics["right"]
    for m in ("soleus", "tibialis_anterior"):
        assert right[m]["r"].value == pytest.approx(1.0, abs=1e-3)
        assert right[m]["best_lag_ms"].value == 0.0
        assert right[m]["scaled_rmse"].value < 0.01
        assert right[m]["r"].cycles.shape == (6,)
    assert right["tibialis_anterior"]["scale"].value == pytest.approx(
        1 / (0.2 * ref["tibialis_anterior"].max()), rel=1e-3
    )
    assert not right["gluteus_medius"]["r"].available  # reference muscle without a trial channel
    assert any("psoas_r" in n for n in notes)
    assert "left" not in metrics  # Santuz has right-side EMG only, and the trial has no left channels
    assert {p.variable for p in pairs} == {"soleus", "tibialis_anterior"}
    assert all(p.domain == "emg" and p.side == "right" and p.trial_cycles.shape == (6, 101) for p in pairs)


def test_compare_emg_raw_emg_is_enveloped() -> None:
    rng = np.random.default_rng(0)
    ref = {m: reference_curve("schwartz2008", "free", m, "both").mean for m in ("tibialis_anterior", "rectus_femoris")}
    trial = periodic_trial({f"{m}_r": c for m, c in ref.items()}, "V", "emg", rate=1000.0)
    # raw EMG: noise carrier modulated by the envelope, in volts
    trial.emg.values = trial.emg.values * rng.standard_normal(trial.emg.values.shape) * 1e-3
    metrics, _, notes = compare_emg(trial, "schwartz2008:free", use="emg")
    assert any("enveloped" in n for n in notes)
    assert metrics["right"]["tibialis_anterior"]["r"].value > 0.9
    assert metrics["right"]["rectus_femoris"]["r"].value > 0.8
    assert not metrics["right"]["medial_hamstrings"]["r"].available


def test_compare_emg_without_signals() -> None:
    trial = Trial(name="empty")
    metrics, curves, notes = compare_emg(trial, "santuz2020_emg")
    assert metrics == {} and curves == [] and "no emg" in notes[0]


# --- real data: human vs human ------------------------------------------------------------------


def test_rajagopal_emg_against_santuz(shared: Path) -> None:
    from mmbio.io.loader import load_trial

    d = shared / "rajagopal2016_walk"
    trial = load_trial(d / "coordinates.sto", grf=d / "grf_walk.mot", emg=d / "electromyography.sto", mass_kg=85.3)
    metrics, curves, notes = compare_emg(trial, "santuz2020_emg:treadmill", use="emg")
    right = metrics["right"]
    print("\nRajagopal 2016 walking EMG vs Santuz 2020 treadmill (right, mean cycle)")
    print(f"{'muscle':24s} {'r':>6s} {'r@lag':>6s} {'lag ms':>7s} {'sRMSE':>6s} {'on/off%':>7s} {'normal%':>7s}")
    for mus, m in right.items():
        cells = [
            m[k]
            for k in ("r", "r_best_lag", "best_lag_ms", "scaled_rmse", "onoff_agreement", "normal_window_agreement")
        ]
        print(f"{mus:24s} " + " ".join(f"{c.value:6.2f}" if c.available else "   n/a" for c in cells))
    print("\n".join(notes))
    assert right["soleus"]["r"].value > 0.5
    assert right["tibialis_anterior"]["r"].value > 0.5
    assert right["soleus"]["silent"].value == 0.0
    assert not right["peroneus_longus"]["r"].available  # Rajagopal recorded no peroneus
    assert len(curves) == 10
    syn, muscles = synergies_from_curves(curves, "right")
    print({k: round(v.value, 3) for k, v in syn.items()})
    assert len(muscles) == 10 and 2 <= syn["n_synergies_emg"].value <= 6
    assert syn["similarity"].value > 0.6  # human vs human synergies are alike


def test_startup_notes_mark_cycles_inside_the_filter_transient() -> None:
    from mmbio.analysis.emg import startup_notes

    assert startup_notes([(0.2, 1.2)], 0.0, 2.0, 0.083, "right") == []
    first, last = startup_notes([(0.05, 1.0), (1.0, 1.95)], 0.0, 2.0, 0.083, "right")
    assert (
        first.startswith("right: EMG cycle 0.050-1.000 s starts 50 ms after the EMG record begins") and "83 ms" in first
    )
    assert "1.000-1.950 s ends 50 ms before the EMG record ends" in last


@pytest.mark.shared
def test_schreiber_cycles_at_the_record_edges_are_marked(shared: Path) -> None:
    """Schreiber trials start at a foot strike 50 ms into the record: that cycle's EMG envelope begins inside
    the 83 ms start-up transient of the 6 Hz envelope filter and is marked (kept)."""
    from mmbio.io.loader import load_trial

    tr = load_trial(shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d")
    metrics, _, notes = compare_emg(tr, "schwartz2008", "free")
    marked = [n for n in notes if "start-up transient" in n]
    assert len(marked) == 1 and marked[0].startswith("right: EMG cycle 0.050-1.010 s starts 50 ms after")
    assert metrics["right"]["tibialis_anterior"]["r"].available  # kept
