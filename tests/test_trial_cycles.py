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


# --------------------------------------------------------------------------------------------- stance at the force


def _force_edges(t: np.ndarray, fz: np.ndarray, level: float = 20.0) -> list[tuple[float, float]]:
    """Independent answer: first sample at or above ``level`` and first sample back below it, per loaded run."""
    above = fz >= level
    d = np.diff(above.astype(int))
    ons, offs = np.flatnonzero(d == 1) + 1, np.flatnonzero(d == -1) + 1
    return [(t[a], t[b]) for a, b in zip(ons, offs, strict=False) if t[b] - t[a] > 0.1]


def test_stance_is_cut_at_the_force_not_at_late_events() -> None:
    """Events 40 ms after the force has gone would add 40 ms of zero force to every stance."""
    tr = make_trial()
    tr.events = Events(tr.events.heel_strike, {"r": tr.events.toe_off["r"] + 0.04, "l": np.empty(0)}, "file")
    notes: list[str] = []
    c, win = stance_curve(tr, "r", notes=notes)
    # the force is 800 sin(π ph / 0.6) N: it is above 20 N from asin(0.025)/π·0.6 after heel strike to as long before
    d = np.arcsin(20 / 800) / np.pi * 0.6
    assert c.n_cycles == 4
    np.testing.assert_allclose([b - a for a, b in win], 0.6 - 2 * d, atol=2e-3)
    assert c.cycles[:, -1].max() < 0.05  # ends at the force's edge, not in a tail of zero force
    assert len(notes) == 4 and all("toe off event" in n and "(+4" in n for n in notes)


@pytest.mark.shared
@pytest.mark.parametrize(
    "c3d, foot_off_late_ms",
    [("2015043/2015043_C4_04.c3d", {"r": 94, "l": 82}), ("2015032/2015032_C4_03.c3d", {"r": 73, "l": 48})],
)
def test_schreiber_stance_follows_the_plate_force(shared, c3d: str, foot_off_late_ms: dict[str, int]) -> None:
    from mmbio.io.loader import load_trial

    tr = load_trial(shared / "schreiber2019" / c3d)
    notes: list[str] = []
    for side in ("r", "l"):
        c, win = stance_curve(tr, side, notes=notes)
        g = tr.grf[side]
        edges = _force_edges(g.time, g.vertical)
        assert len(win) == len(edges) == 1  # one plate contact per foot
        assert win[0][0] == pytest.approx(edges[0][0], abs=1e-3) and win[0][1] == pytest.approx(edges[0][1], abs=1e-3)
        assert c.cycles[0, -1] < 0.05  # ends at ≈ 20 N (< 0.05 BW), not in ≈ 9 % of zero force
        off = tr.events.toe_off[side]
        late = 1e3 * (off[np.argmin(np.abs(off - win[0][1]))] - win[0][1])
        assert late == pytest.approx(foot_off_late_ms[side], abs=1.5)
        assert any("toe off event" in n and f"({late:+.0f} ms)" in n for n in notes)
    assert len(notes) == 2


@pytest.mark.shared
def test_schreiber_events_within_20_ms_of_the_force_are_not_noted(shared) -> None:
    from mmbio.io.loader import load_trial

    tr = load_trial(shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d")
    notes: list[str] = []
    for side in ("r", "l"):
        stance_curve(tr, side, notes=notes)
    assert notes == []


def test_a_gap_in_the_force_is_not_a_stance_edge() -> None:
    tr = make_trial()
    g = tr.grf["r"]
    f = g.force.copy()
    f[(g.time > 1.3) & (g.time < 1.45), 2] = np.nan  # 150 ms of missing samples inside the 2nd stance
    tr.grf["r"] = GroundReaction(g.time, f, g.cop)
    notes: list[str] = []
    c, win = stance_curve(tr, "r", notes=notes)
    assert c.n_cycles == 3 and all(not (a < 1.4 < b) for a, b in win)
    assert len(notes) == 2 and all("missing force samples" in n for n in notes)
