"""Trial container round trips and cycle normalisation against analytic answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmbio.errors import ChannelError, MmbioError, NoGaitCycleError
from mmbio.gait.cycles import channel_curve, normalise, segment, stance_curve
from mmbio.trial import Channels, Events, GroundReaction, Markers, Quantity, Subject, Trial


def make_trial(n_cycles: int = 4, period: float = 1.0) -> Trial:
    t = np.arange(0, n_cycles * period + 0.3, 0.01)
    hs = np.arange(0.1, t[-1], period)
    # knee flexion: 10 + 50·sin²(π·phase); its value at phase p is known exactly
    phase = ((t - 0.1) / period) % 1.0
    knee = 10 + 50 * np.sin(np.pi * phase) ** 2
    angles = Channels(t, np.column_stack([knee, -knee]), ["knee_flexion_r", "odd_l"], "deg")
    tg = np.arange(0, t[-1], 0.001)
    ph = ((tg - 0.1) / period) % 1.0
    fz = np.where(ph < 0.6, 800 * np.sin(np.pi * ph / 0.6), 0.0)
    grf = GroundReaction(tg, np.column_stack([0 * tg, 0 * tg, fz]), np.full((tg.size, 3), np.nan))
    ev = Events({"r": hs, "l": hs + period / 2}, {"r": hs + 0.6 * period, "l": np.empty(0)}, "file")
    return Trial(name="synthetic", angles=angles, grf={"r": grf}, events=ev, subject=Subject("s", 81.549, 1.8, 1.2))


def test_channel_curve_matches_analytic_cycle() -> None:
    tr = make_trial()
    c = channel_curve(tr, "angles", "knee_flexion_r")
    assert c.n_cycles == 4 and c.pct.size == 101 and c.units == "deg"
    expected = 10 + 50 * np.sin(np.pi * np.linspace(0, 1, 101)) ** 2
    np.testing.assert_allclose(c.mean, expected, atol=0.3)
    assert c.sd is not None and np.all(c.sd < 0.3)
    np.testing.assert_allclose(c.toe_off_pct, 60.0, atol=0.01)


def test_fewer_than_three_cycles_has_no_sd_and_says_so() -> None:
    tr = make_trial(n_cycles=2)
    c = channel_curve(tr, "angles", "knee_flexion_r")
    assert c.n_cycles == 2 and c.sd is None
    assert "no SD" in c.note and "no SD" in repr(c)


def test_no_cycle_raises_clear_error() -> None:
    tr = make_trial()
    tr.events = Events(source="none")
    with pytest.raises(NoGaitCycleError, match="no complete r gait cycle"):
        channel_curve(tr, "angles", "knee_flexion_r")


def test_stance_curve_in_body_weights() -> None:
    tr = make_trial()
    c, _win = stance_curve(tr, "r")
    assert c.units == "BW" and c.n_cycles == 4
    # peak 800 N over 81.549 kg × 9.81 = 1.0 BW at mid-stance
    assert abs(c.mean.max() - 1.0) < 1e-3 and abs(np.argmax(c.mean) - 50) <= 1


def test_normalise_and_segment_drop_nan_cycles() -> None:
    t = np.linspace(0, 3, 301)
    v = t.copy()
    v[150] = np.nan
    cyc, win = segment(t, v, np.array([0.0, 1.0, 2.0, 3.0]))
    assert cyc.shape == (2, 101) and win == [(0.0, 1.0), (2.0, 3.0)]
    np.testing.assert_allclose(normalise(t, t, 0.0, 1.0, 11), np.linspace(0, 1, 11))


def test_pandas_round_trip_keeps_units_events_subject() -> None:
    tr = make_trial()
    tr.grf["l"] = tr.grf["r"]
    tr.markers = Markers(tr.angles.time, np.ones((tr.angles.time.size, 2, 3)), ["RHEE", "LHEE"])
    frames = tr.to_pandas()
    assert frames["angles"].attrs["units"]["knee_flexion_r"] == "deg"
    assert frames["grf"].attrs["units"]["force_z_l"] == "N"
    back = Trial.from_pandas(frames)
    np.testing.assert_array_equal(back.angles.values, tr.angles.values)
    assert back.angles.units == ["deg", "deg"]
    np.testing.assert_array_equal(back.grf["r"].force, tr.grf["r"].force)
    np.testing.assert_array_equal(back.events.heel_strike["l"], tr.events.heel_strike["l"])
    assert back.events.source == "file"
    assert back.subject.mass_kg == pytest.approx(81.549)
    np.testing.assert_array_equal(back.markers["LHEE"], tr.markers["LHEE"])
    assert back.name == "synthetic"


def test_channels_validation_and_lookup() -> None:
    ch = Channels([0, 1, 2], [[1.0], [2.0], [3.0]], ["a_r"], "V")
    assert ch.rate == 1.0 and ch.unit("a_r") == "V"
    with pytest.raises(ChannelError, match="no channel 'b'"):
        ch["b"]
    with pytest.raises(MmbioError, match="strictly increasing"):
        Channels([0, 0, 1], [1, 2, 3], ["a"], "V")
    with pytest.raises(MmbioError, match="do not match"):
        Channels([0, 1], [1, 2, 3], ["a"], "V")
    df = pd.DataFrame({"x": [1.0, 2.0]}, index=[0.0, 0.5])
    assert Channels.from_frame(df, "N").units == ["N"]


def test_quantity_formats_with_units() -> None:
    q = Quantity(1.1349, "BW")
    assert f"{q:.2f}" == "1.13 BW"
    assert q.to_dict() == {"value": 1.1349, "units": "BW"}
    assert Quantity(float("nan"), "deg").to_dict()["value"] is None
