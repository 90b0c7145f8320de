"""Cycle segmentation and time normalisation to 0–100 % of the gait cycle.

A cycle runs from one heel strike to the next heel strike of the same foot. Curves come back as a
:class:`Curve`: mean, SD and the individual cycles on ``n_points`` (101 by default) samples.
With fewer than 3 cycles the SD is not computed (``sd is None``) and :attr:`Curve.note` says so.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from mmbio.errors import NoGaitCycleError
from mmbio.trial import Channels, Side, Trial, side_of

N_POINTS = 101
MIN_CYCLES_FOR_SD = 3


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
    """``(heel strike, next toe off)`` pairs of one foot, each the stance phase it begins."""
    hs = np.sort(np.asarray(strikes, dtype=float))
    to = np.sort(np.asarray(toe_offs, dtype=float))
    out = []
    for i, t0 in enumerate(hs):
        nxt = hs[i + 1] if i + 1 < hs.size else np.inf
        after = to[(to > t0) & (to < nxt)]
        if after.size:
            out.append((float(t0), float(after[0])))
    return out


def stance_curve(
    trial: Trial, side: Side, axis: int = 2, n_points: int = N_POINTS, body_weight: bool = True
) -> tuple[Curve, list[tuple[float, float]]]:
    """GRF over 0–100 % of stance for every stance phase of ``side`` covered by force data."""
    g = trial.grf[side]
    v = g.force[:, axis] / (trial.subject.weight_n if body_weight else 1.0)
    out, kept = [], []
    for t0, t1 in stance_windows(trial.events.heel_strike[side], trial.events.toe_off[side]):
        if t0 < g.time[0] or t1 > g.time[-1]:
            continue
        c = normalise(g.time, v, t0, t1, n_points)
        if np.all(np.isfinite(c)):
            out.append(c)
            kept.append((t0, t1))
    names = ("grf_ap", "grf_ml", "grf_vertical")
    cyc = np.array(out) if out else np.empty((0, n_points))
    return Curve(np.linspace(0, 100, n_points), cyc, "BW" if body_weight else "N", names[axis], side), kept
