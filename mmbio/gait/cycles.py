"""Cycle segmentation and time normalisation to 0–100 % of the gait cycle.

A cycle runs from one heel strike to the next heel strike of the same foot. Curves come back as a
:class:`Curve`: mean, SD and the individual cycles on ``n_points`` (101 by default) samples.
With fewer than 3 cycles the SD is not computed (``sd is None``) and :attr:`Curve.note` says so.

A *stance* on force data is where that force says it is (:func:`force_stances`, :func:`stance_curve`): from
the foot's vertical GRF rising through 20 N to its falling through 20 N. A file's events may lag the force
(Schreiber's foot offs: 2–93 ms after the force has gone, which added up to 9 % of zero force to a stance
curve); they only pair with and label the force's stances, and where they disagree by more than 20 ms the
notes say so.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from mmbio.errors import NoGaitCycleError
from mmbio.gait.events import DEFAULT_THRESHOLD_N, contact_intervals
from mmbio.trial import SIDE_WORD, Channels, Side, Trial, side_of

N_POINTS = 101
MIN_CYCLES_FOR_SD = 3
#: A stance phase is where the foot's vertical force exceeds this (N), whatever the file's events say.
STANCE_THRESHOLD_N = DEFAULT_THRESHOLD_N
#: Events further than this from the force's stance start / end are reported in the notes (s).
EVENT_TOLERANCE_S = 0.020
#: An event further than this from a stance start / end does not belong to that stance (s).
MAX_EVENT_PAIRING_S = 0.150
#: Event sources that come from the same force (nothing to compare).
FORCE_EVENT_SOURCES = frozenset({"grf", "contact"})


@dataclass
class Curve:
    """A time-normalised curve. pct: (p,) % of cycle; cycles: (k, p); mean: (p,); sd: (p,) or None."""

    pct: np.ndarray
    cycles: np.ndarray
    units: str
    name: str = ""
    side: str | None = None
    toe_off_pct: np.ndarray | None = None  # (k,) toe-off of each cycle in % when known

    @property
    def n_cycles(self) -> int:
        return int(self.cycles.shape[0])

    @property
    def mean(self) -> np.ndarray:
        return np.nanmean(self.cycles, axis=0)

    @property
    def sd(self) -> np.ndarray | None:
        """Across-cycle SD (ddof=1); ``None`` with fewer than 3 cycles."""
        if self.n_cycles < MIN_CYCLES_FOR_SD:
            return None
        return np.nanstd(self.cycles, axis=0, ddof=1)

    @property
    def note(self) -> str:
        if self.n_cycles < MIN_CYCLES_FOR_SD:
            return f"only {self.n_cycles} cycle(s): no SD (needs {MIN_CYCLES_FOR_SD})"
        return ""

    def __repr__(self) -> str:
        extra = f", {self.note}" if self.note else ""
        return f"Curve({self.name!r}, side={self.side!r}, {self.n_cycles} cycles × {self.pct.size} points, {self.units}{extra})"


def cycle_windows(strikes: np.ndarray, t_start: float = -np.inf, t_end: float = np.inf) -> list[tuple[float, float]]:
    """Consecutive heel-strike pairs ``(t0, t1)`` that lie inside ``[t_start, t_end]``."""
    s = np.sort(np.asarray(strikes, dtype=float))
    return [(a, b) for a, b in itertools.pairwise(s) if a >= t_start and b <= t_end and b > a]


def normalise(time: np.ndarray, values: np.ndarray, t0: float, t1: float, n_points: int = N_POINTS) -> np.ndarray:
    """Linear resampling of ``values`` ((n,) or (n, k)) over ``[t0, t1]`` onto ``n_points`` samples.

    Returns (n_points,) or (n_points, k). NaN in the window stays NaN at the nearby points.
    """
    tq = np.linspace(t0, t1, n_points)
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        return np.interp(tq, time, v, left=np.nan, right=np.nan)
    return np.column_stack([np.interp(tq, time, v[:, j], left=np.nan, right=np.nan) for j in range(v.shape[1])])


def segment(
    time: np.ndarray,
    values: np.ndarray,
    strikes: np.ndarray,
    n_points: int = N_POINTS,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Cut ``values`` (n,) into heel-strike-to-heel-strike cycles covered by ``time``.

    Returns cycles (k, n_points) and their windows. Cycles with any NaN sample are dropped.
    """
    time = np.asarray(time, dtype=float)
    win = cycle_windows(strikes, time[0] - 1e-9, time[-1] + 1e-9)
    out, kept = [], []
    for t0, t1 in win:
        c = normalise(time, values, t0, t1, n_points)
        if np.all(np.isfinite(c)):
            out.append(c)
            kept.append((t0, t1))
    return (np.array(out) if out else np.empty((0, n_points))), kept


def toe_off_pct(windows: list[tuple[float, float]], toe_offs: np.ndarray) -> np.ndarray:
    """Toe-off of each cycle in % of that cycle (NaN where no toe-off falls inside)."""
    out = []
    for t0, t1 in windows:
        inside = toe_offs[(toe_offs > t0) & (toe_offs < t1)]
        out.append(100.0 * (inside[0] - t0) / (t1 - t0) if inside.size else np.nan)
    return np.array(out)


def channel_curve(
    trial: Trial,
    group: str,
    name: str,
    side: Side | None = None,
    n_points: int = N_POINTS,
) -> Curve:
    """Normalised cycles of one channel of ``trial.<group>`` (``angles``, ``emg``, ``activations``).

    The side (whose heel strikes define the cycle) is the channel's ``_r``/``_l`` suffix unless given;
    body-level channels (``pelvis_tilt``) need ``side``. Raises :class:`NoGaitCycleError` when no
    complete cycle lies inside the channel's time span.
    """
    ch: Channels | None = getattr(trial, group)
    if ch is None:
        raise NoGaitCycleError(f"{trial.source or trial.name}: trial has no {group}")
    side = side or side_of(name)
    if side is None:
        raise ValueError(f"{name!r} has no side suffix: pass side='r' or 'l'")
    strikes = trial.events.heel_strike[side]
    cyc, win = segment(ch.time, ch[name], strikes, n_points)
    if cyc.shape[0] == 0:
        n_win = len(cycle_windows(strikes, ch.time[0] - 1e-9, ch.time[-1] + 1e-9))
        nan = f"; {n_win} cycle(s) dropped for NaN samples in {name}" if n_win else ""
        raise NoGaitCycleError(
            f"{trial.source or trial.name}: no complete {side} gait cycle in {group} ({ch.time[0]:.2f}-{ch.time[-1]:.2f} s, "
            f"{strikes.size} {side} heel strikes{nan})"
        )
    return Curve(
        np.linspace(0, 100, n_points),
        cyc,
        ch.unit(name),
        name,
        side,
        toe_off_pct(win, trial.events.toe_off[side]),
    )


def grf_curve(trial: Trial, side: Side, axis: int = 2, n_points: int = N_POINTS, body_weight: bool = True) -> Curve:
    """Normalised cycles of one GRF component (0 x, 1 y, 2 z) of ``side``; in BW when ``body_weight``.

    Only cycles whose whole stride is covered by the foot's force data are returned; overground
    trials where the foot misses a plate give NaN-free but zero force there, so callers analysing
    stance should use :func:`stance_curve`.
    """
    g = trial.grf[side]
    v = g.force[:, axis]
    units = "N"
    if body_weight:
        v = v / trial.subject.weight_n
        units = "BW"
    cyc, win = segment(g.time, v, trial.events.heel_strike[side], n_points)
    names = ("grf_ap", "grf_ml", "grf_vertical")
    return Curve(
        np.linspace(0, 100, n_points), cyc, units, names[axis], side, toe_off_pct(win, trial.events.toe_off[side])
    )


def stance_windows(strikes: np.ndarray, toe_offs: np.ndarray) -> list[tuple[float, float]]:
    """``(heel strike, next toe off)`` pairs of one foot from event times, each the stance phase it begins.

    Event-based; :func:`force_stances` is what :func:`stance_curve` uses where the foot has force data.
    """
    hs = np.sort(np.asarray(strikes, dtype=float))
    to = np.sort(np.asarray(toe_offs, dtype=float))
    out = []
    for i, t0 in enumerate(hs):
        nxt = hs[i + 1] if i + 1 < hs.size else np.inf
        after = to[(to > t0) & (to < nxt)]
        if after.size:
            out.append((float(t0), float(after[0])))
    return out


def _nearest(times: np.ndarray, t: float) -> tuple[float | None, float]:
    """The element of ``times`` nearest ``t`` and its offset (element − t); ``(None, inf)`` when empty."""
    if times.size == 0:
        return None, np.inf
    i = int(np.argmin(np.abs(times - t)))
    return float(times[i]), float(times[i] - t)


def _event_notes(trial: Trial, side: Side, on: float, off: float, tolerance_s: float) -> list[str]:
    """What the trial's events say about the force stance ``(on, off)`` of ``side`` when they disagree."""
    ev = trial.events
    word = SIDE_WORD[side]
    other: Side = "l" if side == "r" else "r"
    hs, dhs = _nearest(ev.heel_strike[side], on)
    to, dto = _nearest(ev.toe_off[side], off)
    hs_o, dhs_o = _nearest(ev.heel_strike[other], on)
    head = f"{word} stance {on:.3f}-{off:.3f} s is cut where the {word} force crosses {STANCE_THRESHOLD_N:g} N"
    if abs(dhs_o) < min(abs(dhs), MAX_EVENT_PAIRING_S):
        return [f"{head}; the {ev.source} events label the foot strike at {hs_o:.3f} s {SIDE_WORD[other]}"]
    parts = []
    for kind, t, d in (("heel strike", hs, dhs), ("toe off", to, dto)):
        if t is None or abs(d) > MAX_EVENT_PAIRING_S:
            parts.append(f"no {word} {kind} event within {MAX_EVENT_PAIRING_S * 1e3:.0f} ms")
        elif abs(d) > tolerance_s:
            parts.append(f"the {ev.source} {kind} event is at {t:.3f} s ({d * 1e3:+.0f} ms)")
    return [f"{head}; {', '.join(parts)}"] if parts else []


def force_stances(
    trial: Trial,
    side: Side,
    *,
    threshold_n: float = STANCE_THRESHOLD_N,
    tolerance_s: float = EVENT_TOLERANCE_S,
    notes: list[str] | None = None,
) -> list[tuple[float, float]]:
    """Stance phases ``(t_on, t_off)`` of ``side`` where its own vertical force says they are.

    A stance runs from where the foot's vertical GRF rises through ``threshold_n`` (20 N) to where it falls
    through it again (:func:`~mmbio.gait.events.contact_intervals`: hysteresis, blips under 80 ms dropped);
    only contacts whose start and end both lie inside the record, with no missing (NaN) force sample, count.
    The trial's events (a C3D's foot
    strikes / foot offs) do not cut stance: they may disagree with the force by tens of ms (Schreiber: foot
    offs 2-93 ms after the force has vanished). When the events did not come from this force, each stance is
    paired with the nearest heel strike and toe off of the foot; an offset over ``tolerance_s`` (20 ms), a
    missing event or a foot strike labelled on the other foot is appended to ``notes``.
    """
    g = trial.grf[side]
    fz = np.asarray(g.vertical, dtype=float)
    out = []
    for on, off in contact_intervals(g.time, fz, threshold_n=threshold_n):
        if on is None or off is None:
            continue
        i0, i1 = np.searchsorted(g.time, [on, off])
        if not np.all(np.isfinite(fz[max(i0 - 1, 0) : i1 + 1])):  # a gap in the force is no edge of stance
            if notes is not None:
                notes.append(f"{SIDE_WORD[side]} contact {on:.3f}-{off:.3f} s borders missing force samples: not used")
            continue
        out.append((float(on), float(off)))
        if notes is not None and trial.events and trial.events.source not in FORCE_EVENT_SOURCES:
            notes += _event_notes(trial, side, on, off, tolerance_s)
    return out


def stance_curve(
    trial: Trial,
    side: Side,
    axis: int = 2,
    n_points: int = N_POINTS,
    body_weight: bool = True,
    *,
    notes: list[str] | None = None,
) -> tuple[Curve, list[tuple[float, float]]]:
    """GRF over 0–100 % of stance for every stance phase of ``side`` in its force data (:func:`force_stances`).

    In BW when ``body_weight`` (the subject's mass must be known), else in N. Returns the curve and the
    ``(t_on, t_off)`` window of each stance kept (stances with NaN force are dropped). ``notes`` receives
    where the trial's events disagree with the force.
    """
    g = trial.grf[side]
    v = g.force[:, axis] / (trial.subject.weight_n if body_weight else 1.0)
    out, kept = [], []
    for t0, t1 in force_stances(trial, side, notes=notes):
        c = normalise(g.time, v, t0, t1, n_points)
        if np.all(np.isfinite(c)):
            out.append(c)
            kept.append((t0, t1))
    names = ("grf_ap", "grf_ml", "grf_vertical")
    cyc = np.array(out) if out else np.empty((0, n_points))
    return Curve(np.linspace(0, 100, n_points), cyc, "BW" if body_weight else "N", names[axis], side), kept
