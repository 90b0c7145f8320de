"""Heel strike and toe off from ground reaction forces.

Two detectors:

* :func:`detect_events` — one force signal per foot (force plates assigned to feet, split-belt
  treadmills, simulated contact forces). A contact starts when the vertical force rises above
  ``threshold_n`` and ends when it falls below ``threshold_n - hysteresis_n`` (hysteresis makes noise
  around the threshold harmless); contacts shorter than ``min_contact_s`` and gaps shorter than
  ``min_gap_s`` are discarded as noise. A short contact whose force peaks above ``bounce_n`` is not
  noise but an impact: when the next contact begins within ``min_gap_s`` of its end it is that contact's
  heel strike, bounced (a simulated foot that strikes, leaves the floor for a few tens of ms and lands),
  so the heel strike is the first touch; otherwise (a scuff) it is dropped like a blip. Event times are
  interpolated between samples where the force crosses ``threshold_n`` itself, so that heel strike and
  toe off use the same force level.
* :func:`detect_events_combined` — both feet on one plate or belt. With a flight phase (running) each
  contact is one foot and the side comes from the centre of pressure's medio-lateral position; without
  one (walking) single-support phases are the stretches where the COP sits under one foot (left or right
  of the walking line), and the double-support transitions between them give the contralateral heel
  strike (start) and the ipsilateral toe off (end).

A contact already in progress at the first sample yields no heel strike, and one still in progress at
the last sample yields no toe off: events are only reported where they were observed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from mmbio.trial import SIDES, Events, GroundReaction

DEFAULT_THRESHOLD_N = 20.0


def _crossing_time(t: np.ndarray, f: np.ndarray, i: int, level: float) -> float:
    """Time where ``f`` crosses ``level`` between samples ``i-1`` and ``i`` (linear interpolation)."""
    if i <= 0:
        return float(t[0])
    f0, f1 = f[i - 1], f[i]
    if not np.isfinite(f0) or not np.isfinite(f1) or f1 == f0:
        return float(t[i])
    a = np.clip((level - f0) / (f1 - f0), 0.0, 1.0)
    return float(t[i - 1] + a * (t[i] - t[i - 1]))


def contact_intervals(
    time: np.ndarray,
    fz: np.ndarray,
    *,
    threshold_n: float = DEFAULT_THRESHOLD_N,
    hysteresis_n: float | None = None,
    min_contact_s: float = 0.08,
    min_gap_s: float = 0.05,
    bounce_n: float = 100.0,
) -> list[tuple[float | None, float | None]]:
    """Contact intervals ``(t_on, t_off)`` of one vertical force signal.

    time: (n,) s; fz: (n,) N (NaN counts as unloaded). ``t_on`` is ``None`` when the signal starts
    loaded, ``t_off`` is ``None`` when it ends loaded. Hysteresis defaults to half the threshold.
    bounce_n (N): a contact shorter than ``min_contact_s`` that peaks above it is an impact, the start of the
    contact that follows it within ``min_gap_s`` (see the module docs).
    """
    t = np.asarray(time, dtype=float)
    f = np.nan_to_num(np.asarray(fz, dtype=float), nan=0.0)
    hyst = threshold_n / 2 if hysteresis_n is None else hysteresis_n
    low = threshold_n - hyst
    # hysteresis state machine, vectorised: +1 where above high, -1 where below low, 0 in between
    mark = np.where(f > threshold_n, 1, np.where(f < low, -1, 0))
    n = f.size
    last = np.maximum.accumulate(np.where(mark != 0, np.arange(n), -1))
    filled = np.where(last >= 0, mark[np.maximum(last, 0)], 0)
    first = np.flatnonzero(mark)
    if first.size:
        filled[: first[0]] = mark[first[0]]  # undecided start takes the first decided state
    state = filled > 0
    d = np.diff(state.astype(np.int8))
    ons = list(np.flatnonzero(d == 1) + 1)
    offs = list(np.flatnonzero(d == -1) + 1)
    starts: list[int | None] = [None] if state[0] else []
    starts += ons
    ends: list[int | None] = list(offs) + ([None] if state[-1] else [])
    raw: list[list[float | None]] = []
    peaks: list[float] = []
    for i0, i1 in zip(starts, ends, strict=True):
        peaks.append(float(f[(i0 or 0) : (i1 if i1 is not None else n)].max()))
        # event times at the threshold itself (hysteresis only decides the state): heel strike where
        # the force rose through threshold_n, toe off where it last fell through it before release
        t_on = None if i0 is None else _crossing_time(t, f, i0, threshold_n)
        t_off = None
        if i1 is not None:
            j = i1
            while j > 1 and f[j - 1] < threshold_n:
                j -= 1
            t_off = _crossing_time(t, f, j, threshold_n)
        raw.append([t_on, t_off])

    # drop blips first (contacts shorter than min_contact_s whose both ends were observed and whose force
    # stays below bounce_n: noise crossing the threshold), then merge what remains across gaps shorter than
    # min_gap_s (brief dropouts); the other order would let a blip just before heel strike pull the heel strike
    # early. A short contact above bounce_n is an impact: it starts the next contact when that one begins within
    # min_gap_s of its end (a heel strike that bounced), and is dropped otherwise (a scuff).
    out: list[list[float | None]] = []
    impact: tuple[float, float] | None = None  # the pending impact (start, end); consecutive ones chain
    for (on, off), pk in zip(raw, peaks, strict=True):
        if on is not None and off is not None and off - on < min_contact_s:
            if pk > bounce_n:
                impact = (impact[0], off) if impact is not None and on - impact[1] < min_gap_s else (on, off)
            continue
        if out and out[-1][1] is not None and on is not None and on - out[-1][1] < min_gap_s:
            out[-1][1] = off
        else:
            if impact is not None and on is not None and on - impact[1] < min_gap_s:
                on = impact[0]
            out.append([on, off])
        impact = None
    return [(on, off) for on, off in out]


def detect_events(
    grf: Mapping[str, GroundReaction],
    *,
    threshold_n: float = DEFAULT_THRESHOLD_N,
    hysteresis_n: float | None = None,
    min_contact_s: float = 0.08,
    min_gap_s: float = 0.05,
    bounce_n: float = 100.0,
) -> Events:
    """Heel strikes and toe offs of each foot from its own vertical GRF (keys ``'r'``/``'l'``)."""
    hs: dict[str, list[float]] = {s: [] for s in SIDES}
    to: dict[str, list[float]] = {s: [] for s in SIDES}
    for side, g in grf.items():
        if side not in SIDES:
            continue
        for on, off in contact_intervals(
            g.time,
            g.vertical,
            threshold_n=threshold_n,
            hysteresis_n=hysteresis_n,
            min_contact_s=min_contact_s,
            min_gap_s=min_gap_s,
            bounce_n=bounce_n,
        ):
            if on is not None:
                hs[side].append(on)
            if off is not None:
                to[side].append(off)
    return Events({s: np.array(v) for s, v in hs.items()}, {s: np.array(v) for s, v in to.items()}, "grf")


def _side_states(y: np.ndarray, level: float) -> np.ndarray:
    """+1 (left single support), -1 (right), 0 (transition) from the centred COP y with hysteresis."""
    return np.where(y > level, 1, np.where(y < -level, -1, 0))


def detect_events_combined(
    g: GroundReaction,
    *,
    threshold_n: float = DEFAULT_THRESHOLD_N,
    min_contact_s: float = 0.08,
    min_single_support_s: float = 0.1,
    plateau_fraction: float = 0.6,
) -> Events:
    """Events of both feet from one plate or belt that both feet share.

    g: the combined reaction (force (n, 3) N, cop (n, 3) m, lab frame: y to the left).
    With flight phases (the total force drops below ``threshold_n``) every contact is one foot,
    its side the sign of the mean COP y relative to the trial's median. Otherwise the COP's
    medio-lateral position, centred on its median, sits near ``+p`` (left single support) or ``-p``
    (right) with ``p`` its 75th-percentile magnitude; leaving a side's plateau
    (``|y| < plateau_fraction · p``) marks the contralateral heel strike, reaching the other side's
    plateau the ipsilateral toe off. Accuracy is limited by how fast the COP moves between the feet
    (about ±20 ms on typical walking data).
    """
    t = g.time
    fz = np.nan_to_num(g.vertical, nan=0.0)
    contacts = contact_intervals(t, fz, threshold_n=threshold_n, min_contact_s=min_contact_s)
    y = g.cop[:, 1]
    loaded = fz > threshold_n
    centre = float(np.nanmedian(y[loaded])) if loaded.any() else 0.0
    hs: dict[str, list[float]] = {s: [] for s in SIDES}
    to: dict[str, list[float]] = {s: [] for s in SIDES}
    if len(contacts) >= 3:  # flight phases between single-foot contacts: running or hopping
        for on, off in contacts:
            lo = t[0] if on is None else on
            hi = t[-1] if off is None else off
            m = (t >= lo) & (t <= hi) & loaded
            side = "l" if np.nanmean(y[m]) > centre else "r"
            if on is not None:
                hs[side].append(on)
            if off is not None:
                to[side].append(off)
        return Events({s: np.array(v) for s, v in hs.items()}, {s: np.array(v) for s, v in to.items()}, "grf")

    yc = np.where(loaded, y - centre, np.nan)
    p = float(np.nanpercentile(np.abs(yc), 75)) if np.isfinite(yc).any() else 0.0
    if p <= 0:
        return Events(source="grf")
    state = _side_states(np.nan_to_num(yc, nan=0.0), plateau_fraction * p)
    state[~loaded] = 0
    # runs of single support
    runs: list[tuple[int, int, int]] = []  # (state, i_start, i_end) inclusive
    i = 0
    n = state.size
    while i < n:
        if state[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < n and state[j + 1] == state[i]:
            j += 1
        if runs and runs[-1][0] == state[i]:  # same side again after a brief dip: merge
            runs[-1] = (state[i], runs[-1][1], j)
        else:
            runs.append((int(state[i]), i, j))
        i = j + 1
    runs = [r for r in runs if t[r[2]] - t[r[1]] >= min_single_support_s]
    for (s0, _a0, b0), (s1, a1, _b1) in itertools.pairwise(runs):
        if s0 == s1:
            continue
        stance_side = "l" if s0 > 0 else "r"  # the foot in single support before the transition
        other = "r" if stance_side == "l" else "l"
        hs[other].append(float(t[b0]))  # the other foot lands as the COP leaves this foot
        to[stance_side].append(float(t[a1]))  # this foot lifts when the COP reaches the other
    return Events({s: np.array(v) for s, v in hs.items()}, {s: np.array(v) for s, v in to.items()}, "grf")
