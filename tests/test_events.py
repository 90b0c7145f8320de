"""Gait-event detection on synthetic forces whose true events are known by construction."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmbio.gait.events import contact_intervals, detect_events, detect_events_combined
from mmbio.trial import GroundReaction

RATE = 1000.0
W = 700.0  # N


def stance_force(tau: np.ndarray) -> np.ndarray:
    """Double-humped vertical force over stance fraction tau in [0, 1] (0 outside)."""
    f = W * (1.2 * np.sin(np.pi * tau) - 0.2 * np.sin(3 * np.pi * tau))
    return np.where((tau >= 0) & (tau <= 1), f, 0.0)


def walking(n_strides: int = 5, stride: float = 1.1, stance: float = 0.66, t_end: float | None = None):
    """Per-foot vertical forces of symmetric walking; returns time, fz_r, fz_l, true events."""
    t_end = t_end or n_strides * stride + 0.5
    t = np.arange(0.0, t_end, 1 / RATE)
    hs_r = np.arange(0.2, t_end, stride)
    hs_l = hs_r + stride / 2
    fz = {}
    for side, hs in (("r", hs_r), ("l", hs_l)):
        f = np.zeros_like(t)
        for h in hs:
            f += stance_force((t - h) / stance)
        fz[side] = f
    true = {
        "hs": {"r": hs_r[hs_r < t_end - 0.05], "l": hs_l[hs_l < t_end - 0.05]},
        "to": {"r": hs_r[hs_r + stance < t_end] + stance, "l": hs_l[hs_l + stance < t_end] + stance},
    }
    return t, fz["r"], fz["l"], true


def reaction(t: np.ndarray, fz: np.ndarray, y: float = 0.0) -> GroundReaction:
    force = np.column_stack([np.zeros_like(fz), np.zeros_like(fz), fz])
    cop = np.where(
        fz[:, None] > 1, np.column_stack([np.zeros_like(fz), np.full_like(fz, y), np.zeros_like(fz)]), np.nan
    )
    return GroundReaction(t, force, cop)


def threshold_offsets(stance: float = 0.66, level: float = 20.0) -> tuple[float, float]:
    """Exact delays from the true contact start/end to the noise-free force crossing ``level``."""
    tau = np.linspace(0, 1, 2_000_001)
    above = np.flatnonzero(stance_force(tau) >= level)
    return tau[above[0]] * stance, (1 - tau[above[-1]]) * stance


def test_per_foot_events_at_the_threshold_crossing() -> None:
    t, fr, fl, true = walking()
    d_on, d_off = threshold_offsets()
    assert 0.005 < d_on < 0.02  # the slow synthetic loading makes the 20 N level noticeably late
    rng = np.random.default_rng(0)
    fr = fr + rng.normal(0, 4, fr.size)
    fl = fl + rng.normal(0, 4, fl.size)
    ev = detect_events({"r": reaction(t, fr), "l": reaction(t, fl)})
    for s in "rl":
        assert ev.heel_strike[s].size == true["hs"][s].size
        assert ev.toe_off[s].size == true["to"][s].size
        np.testing.assert_allclose(ev.heel_strike[s], true["hs"][s] + d_on, atol=0.004)
        np.testing.assert_allclose(ev.toe_off[s], true["to"][s] - d_off, atol=0.004)
    assert ev.source == "grf"


def test_contact_in_progress_at_edges_gives_no_event() -> None:
    t = np.arange(0, 1.0, 1e-3)
    f = np.where(t < 0.3, 600.0, 0.0) + np.where((t > 0.6), 600.0, 0.0)
    iv = contact_intervals(t, f)
    assert iv[0][0] is None and abs(iv[0][1] - 0.3) < 2e-3
    assert abs(iv[1][0] - 0.6) < 2e-3 and iv[1][1] is None


def test_hysteresis_ignores_chatter_around_threshold() -> None:
    t = np.arange(0, 1.0, 1e-3)
    f = stance_force((t - 0.2) / 0.6)
    # chatter of ±8 N around 20 N during swing never reaches the 20 N on-level from below 10 N
    f = f + np.where(f < 1, 15 + 8 * np.sign(np.sin(2 * np.pi * 50 * t)), 0.0)
    iv = contact_intervals(t, f, threshold_n=30.0, hysteresis_n=20.0)
    assert len(iv) == 1


def test_nan_samples_count_as_unloaded_not_as_contact() -> None:
    t = np.arange(0, 1.0, 1e-3)
    f = stance_force((t - 0.2) / 0.6)
    f[100:150] = np.nan
    assert len(contact_intervals(t, f)) == 1


def test_combined_belt_walking_events_from_cop() -> None:
    t, fr, fl, true = walking(n_strides=6)
    y_r, y_l = -0.08, 0.08
    total = fr + fl
    cop_y = np.where(total > 1, (fr * y_r + fl * y_l) / np.maximum(total, 1e-9), np.nan)
    g = GroundReaction(
        t,
        np.column_stack([np.zeros_like(t), np.zeros_like(t), total]),
        np.column_stack([np.zeros_like(t), cop_y, np.zeros_like(t)]),
    )
    ev = detect_events_combined(g)
    for s in "rl":
        hs = ev.heel_strike[s]
        assert hs.size >= true["hs"][s].size - 2
        # every detected heel strike is within 40 ms of a true one
        err = np.min(np.abs(hs[:, None] - true["hs"][s][None, :]), axis=1)
        assert np.all(err < 0.04), err
        to = ev.toe_off[s]
        err = np.min(np.abs(to[:, None] - true["to"][s][None, :]), axis=1)
        assert np.all(err < 0.04), err


def test_combined_running_uses_flight_phases() -> None:
    t = np.arange(0, 3.0, 1e-3)
    hs = np.arange(0.1, 2.8, 0.36)
    sides = ["r", "l"] * len(hs)
    fz = np.zeros_like(t)
    y = np.full_like(t, np.nan)
    for h, s in zip(hs, sides, strict=False):
        m = (t >= h) & (t <= h + 0.22)
        fz[m] = 2.4 * W * np.sin(np.pi * (t[m] - h) / 0.22)
        y[m] = 0.05 if s == "l" else -0.05
    g = GroundReaction(t, np.column_stack([0 * t, 0 * t, fz]), np.column_stack([0 * t, y, 0 * t]))
    ev = detect_events_combined(g)
    np.testing.assert_allclose(ev.heel_strike["r"], hs[0::2], atol=0.005)
    np.testing.assert_allclose(ev.heel_strike["l"], hs[1::2], atol=0.005)
    np.testing.assert_allclose(ev.toe_off["r"], hs[0::2] + 0.22, atol=0.005)


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.tuples(st.floats(0.15, 0.9), st.floats(0.1, 0.6)), min_size=1, max_size=6),
    noise=st.floats(0.0, 6.0),
    seed=st.integers(0, 2**16),
)
def test_property_every_contact_found_once(durations: list[tuple[float, float]], noise: float, seed: int) -> None:
    """Trapezoid contacts (20 ms ramps) separated by gaps: one interval per contact, times within the ramp."""
    starts, t0 = [], 0.2
    for c, gap in durations:
        starts.append((t0, t0 + c))
        t0 += c + gap
    t = np.arange(0, t0 + 0.2, 1e-3)
    f = np.zeros_like(t)
    for a, b in starts:
        f = np.maximum(f, np.clip(np.minimum(t - a, b - t) / 0.02, 0, 1) * 600.0)
    f += np.random.default_rng(seed).normal(0, noise, t.size)
    iv = contact_intervals(t, f)
    assert len(iv) == len(starts)
    for (on, off), (a, b) in zip(iv, starts, strict=True):
        assert on is not None and off is not None
        assert a - 0.002 <= on <= a + 0.02
        assert b - 0.02 <= off <= b + 0.002


def test_a_heel_impact_that_bounces_starts_the_stance() -> None:
    """A simulated heel strike that peaks at 780 N, leaves the floor after 55 ms for 35 ms, then lands for a
    0.55 s stance (what `mmbio track` of subject 2014001 did at each right heel strike): the stance starts at the
    first touch. An isolated 50 ms toe scuff of 300 N in mid-swing is still no contact, and a 40 N blip 35 ms
    before the heel strike still does not pull it early."""
    t = np.arange(0, 2.0, 1e-3)
    f = np.zeros_like(t)
    f[(t >= 0.400) & (t < 0.455)] = 780.0  # the impact
    f[(t >= 0.490) & (t < 1.040)] = 700.0  # the stance after the bounce
    f[(t >= 1.400) & (t < 1.450)] = 300.0  # a scuff in swing, far from any stance
    iv = contact_intervals(t, f)
    assert len(iv) == 1
    assert abs(iv[0][0] - 0.400) < 2e-3 and abs(iv[0][1] - 1.040) < 2e-3
    g = np.zeros_like(t)
    g[(t >= 0.420) & (t < 0.445)] = 40.0  # a blip near the threshold, noise
    g[(t >= 0.480) & (t < 1.040)] = 700.0
    iv = contact_intervals(t, g)
    assert len(iv) == 1 and abs(iv[0][0] - 0.480) < 2e-3


def test_an_impact_starts_the_contact_after_it_and_only_that_one() -> None:
    """The impact belongs to the contact that follows it: a foot in contact to 0.217 s, off 24 ms, an impact of
    300 N for 47 ms, off 4 ms, then a stance (what an untrained MuscleMimic policy's shuffling foot did) gives two
    contacts, the second starting at the impact, not one bridged contact; an impact 30 ms after a toe off with
    nothing after it does not extend that stance."""
    t = np.arange(0, 1.5, 1e-3)
    f = np.zeros_like(t)
    f[(t >= 0.061) & (t < 0.217)] = 500.0
    f[(t >= 0.241) & (t < 0.288)] = 300.0
    f[(t >= 0.292) & (t < 0.929)] = 600.0
    f[(t >= 0.960) & (t < 1.010)] = 400.0  # after the toe off at 0.929, then swing to the end
    iv = contact_intervals(t, f)
    assert len(iv) == 2
    assert abs(iv[0][0] - 0.061) < 2e-3 and abs(iv[0][1] - 0.217) < 2e-3
    assert abs(iv[1][0] - 0.241) < 2e-3 and abs(iv[1][1] - 0.929) < 2e-3
