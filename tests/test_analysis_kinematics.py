"""Joint-angle metrics and the shared statistics helpers, against analytic answers and real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmbio.analysis.kinematics import ANGLE_METRIC_UNITS, angle_metrics, compare_kinematics
from mmbio.analysis.stats import (
    circular_diff,
    circular_xcorr_lag,
    inside_band_pct,
    linear_xcorr_lag,
    pearson_r,
    rmse,
)
from mmbio.gait.cycles import Curve

PCT = np.linspace(0.0, 100.0, 101)


def wave(shift_pct: float = 0.0) -> np.ndarray:
    """A periodic, asymmetric cycle (deg) delayed by ``shift_pct`` % of the cycle."""
    x = 2 * np.pi * (PCT - shift_pct) / 100.0
    return 20.0 * np.sin(x) + 6.0 * np.cos(2 * x) + 30.0


def curve(*cycles: np.ndarray) -> Curve:
    return Curve(PCT, np.array(cycles, dtype=float), "deg", "knee_flexion", "r")


# ------------------------------------------------------------------------------------------- stats


def test_pearson_r_is_nan_for_flat_or_too_short_never_zero() -> None:
    a = wave()
    assert np.isnan(pearson_r(np.full(101, 3.0), a))
    assert np.isnan(pearson_r(a, np.zeros(101)))
    assert np.isnan(pearson_r([1.0, 2.0], [2.0, 1.0]))
    assert np.isnan(pearson_r([1.0, 2.0, np.nan, np.nan], [1.0, 3.0, 2.0, 5.0]))  # 2 finite pairs
    assert pearson_r(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson_r(a, -a) == pytest.approx(-1.0)
    rows = pearson_r(np.stack([a, -a, np.ones(101)]), a)
    assert rows.shape == (3,)
    assert rows[0] == pytest.approx(1.0) and rows[1] == pytest.approx(-1.0) and np.isnan(rows[2])


def test_rmse_and_band_share_of_known_offsets() -> None:
    a = wave()
    assert rmse(a + 2.0, a) == pytest.approx(2.0)
    assert np.allclose(rmse(np.stack([a + 1.0, a - 3.0]), a), [1.0, 3.0])
    assert inside_band_pct(a, a - 1, a + 1) == 100.0
    assert inside_band_pct(a + 5, a - 1, a + 1) == 0.0
    # inside on 0..50 % only (51 of 101 samples)
    x = np.where(PCT <= 50, a, a + 5)
    assert inside_band_pct(x, a - 1, a + 1) == pytest.approx(100 * 51 / 101)
    assert np.isnan(inside_band_pct(np.full(3, np.nan), np.zeros(3), np.ones(3)))


@pytest.mark.parametrize("shift", [-17, -3, 0, 7, 25, 49])
def test_circular_lag_recovers_a_known_shift(shift: int) -> None:
    lag, r = circular_xcorr_lag(wave(shift), wave(), closed=True)
    assert lag == shift  # 100 points per period: 1 point = 1 % cycle; positive = first argument late
    assert r == pytest.approx(1.0, abs=1e-12)


def test_circular_lag_limits_and_flat_signal() -> None:
    lag, r = circular_xcorr_lag(wave(20), wave(), max_lag_pts=5, closed=True)
    assert lag == 5 and r < 1.0
    lag, r = circular_xcorr_lag(np.full(101, 1.0), wave(), closed=True)
    assert np.isnan(lag) and np.isnan(r)
    lags, rs = circular_xcorr_lag(np.stack([wave(4), wave(-9)]), wave(), closed=True)
    assert list(lags) == [4, -9] and np.allclose(rs, 1.0)


def test_linear_lag_of_a_delayed_pulse() -> None:
    t = np.arange(300.0)
    b = np.exp(-(((t - 100) / 12) ** 2))
    a = np.exp(-(((t - 123) / 12) ** 2))  # a is 23 samples late
    lag, r = linear_xcorr_lag(a, b, 40)
    assert lag == 23 and r == pytest.approx(1.0, abs=1e-6)
    lag, _ = linear_xcorr_lag(b, a, 40)
    assert lag == -23
    lag, _ = linear_xcorr_lag(a, b, 10)  # outside the window: best is the edge
    assert lag == 10


def test_circular_diff_wraps_into_half_open_interval() -> None:
    assert circular_diff(95.0, 5.0) == -10.0
    assert circular_diff(5.0, 95.0) == 10.0
    assert circular_diff(50.0, 0.0) == 50.0 and circular_diff(0.0, 50.0) == 50.0
    assert circular_diff(30.0, 30.0) == 0.0


# ------------------------------------------------------------------------------------------- angle_metrics


def test_angle_metrics_of_a_shifted_copy() -> None:
    ref = wave()
    m = angle_metrics(curve(wave(6), wave(6)), ref, np.full(101, 1.0))
    assert set(m) == set(ANGLE_METRIC_UNITS)
    assert m["best_lag"].value == pytest.approx(6.0) and m["best_lag"].units == "% cycle"
    assert m["r_at_best_lag"].value == pytest.approx(1.0)
    assert m["r"].value < 0.99
    assert m["rom_error"].value == pytest.approx(0.0, abs=0.2)  # same shape, sampled at other phases
    assert m["peak_max_timing_error"].value == pytest.approx(6.0)
    assert m["peak_min_timing_error"].value == pytest.approx(6.0)
    for k, mm in m.items():
        assert mm.cycles is not None and mm.cycles.shape == (2,), k


def test_rom_peaks_and_band_of_a_known_curve() -> None:
    # 30 + 10 sin: max 40 at 25 %, min 20 at 75 % (both on the 1 % grid)
    tr = 30 + 10 * np.sin(2 * np.pi * PCT / 100)
    ref = 31 + 8 * np.sin(2 * np.pi * (PCT - 2) / 100)
    m = angle_metrics(curve(tr - 1, tr + 1), ref, np.full(101, 5.0))
    assert m["rom"].value == pytest.approx(20.0)
    assert m["rom_error"].value == pytest.approx(4.0)
    assert m["peak_max"].value == pytest.approx(40.0) and m["peak_max_error"].value == pytest.approx(1.0)
    assert m["peak_min"].value == pytest.approx(20.0) and m["peak_min_error"].value == pytest.approx(-3.0)
    assert m["peak_max_timing_error"].value == pytest.approx(-2.0)
    assert m["rom"].cycles == pytest.approx([20.0, 20.0])
    assert m["peak_max"].cycles == pytest.approx([39.0, 41.0])
    # |tr - ref| <= 1 + 2*... : max deviation is small enough to lie inside ±5 everywhere
    assert np.max(np.abs(tr - ref)) < 5
    assert m["within_sd_band"].value == 100.0
    assert m["within_sd_band"].cycles == pytest.approx([100.0, 100.0])


def test_timing_error_wraps_around_the_cycle() -> None:
    ref = np.exp(-(((PCT - 5) / 4) ** 2))  # peak at 5 %
    tr = np.exp(-(((PCT - 95) / 4) ** 2))  # peak at 95 %: 10 % early, not 90 % late
    m = angle_metrics(curve(tr), ref, None)
    assert m["peak_max_timing_error"].value == pytest.approx(-10.0)


def test_flat_trial_gives_r_not_available_never_zero() -> None:
    m = angle_metrics(curve(np.full(101, 12.0), np.full(101, 12.0)), wave(), None)
    for k in ("r", "best_lag", "r_at_best_lag", "peak_max_timing_error", "peak_min_timing_error"):
        assert not m[k].available, k
        assert m[k].reason, k
        assert np.isnan(m[k].to_dict()["value"] if m[k].to_dict()["value"] is not None else np.nan)
    assert "flat" in m["r"].reason
    assert m["r"].to_dict()["value"] is None
    assert np.all(np.isnan(m["r"].cycles))
    assert m["rom"].value == 0.0
    assert m["rmse"].available


def test_reference_without_sd_gives_band_not_available() -> None:
    m = angle_metrics(curve(wave()), wave(), None)
    assert not m["within_sd_band"].available
    assert m["within_sd_band"].reason == "reference has no SD"
    assert m["r"].value == pytest.approx(1.0) and m["rmse"].value == pytest.approx(0.0)


# ------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def hamner_run3(shared: Path):
    from mmbio.io.loader import load_trial

    d = shared / "hamner2013_run" / "subject01"
    return load_trial(d / "Run_3_ik.mot", grf=d / "Run_3_grf.mot", mass_kg=72.7)


@pytest.mark.shared
def test_compare_kinematics_hamner_subject_against_its_group(hamner_run3) -> None:
    metrics, curves, notes = compare_kinematics(hamner_run3, "hamner2013_run", "3")
    assert set(metrics) == {"right", "left"}
    for side in ("right", "left"):
        m = metrics[side]
        for var in ("hip_flexion", "knee_flexion", "ankle_dorsiflexion"):
            assert m[var]["r"].value > 0.97, (side, var)
            assert m[var]["r"].cycles.shape[0] >= 5
            assert abs(m[var]["best_lag"].value) <= 2
        # left pelvis obliquity is mirrored to the ipsilateral convention the reference uses
        assert m["pelvis_obliquity"]["r"].value > 0.9, side
        # present in the trial, absent in the reference: explicit n/a, not skipped
        assert not m["subtalar_inversion"]["r"].available
        assert m["subtalar_inversion"]["r"].reason == "reference has no subtalar_inversion"
    kin = [c for c in curves if c.domain == "kinematics"]
    knee = next(c for c in kin if c.side == "right" and c.variable == "knee_flexion")
    assert knee.basis == "gait cycle" and knee.ref_mean is not None and knee.ref_sd is not None
    assert knee.trial_cycles.shape[1] == 101
    assert 30 < knee.toe_off_pct < 45 and 30 < knee.ref_toe_off_pct < 45  # running: stance < 50 %
    assert not notes


@pytest.mark.shared
def test_compare_kinematics_without_a_complete_cycle_is_explicit(shared: Path) -> None:
    from mmbio.io.loader import load_trial

    d = shared / "rajagopal2016_walk"
    tr = load_trial(d / "coordinates.sto", grf=d / "grf_walk.mot", mass_kg=85.3)
    metrics, curves, notes = compare_kinematics(tr, "rajagopal2016_walk", "free")
    knee = metrics["right"]["knee_flexion"]
    assert all(not m.available for m in knee.values())
    assert "no complete right gait cycle" in knee["r"].reason
    assert any("no complete" in n for n in notes)
    assert curves == []
