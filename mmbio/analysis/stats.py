"""Shared numeric helpers for the comparison metrics (pure numpy, vectorised).

Every function accepts one signal ``(p,)`` or a stack of signals ``(k, p)`` (along the last axis) and
returns a ``float`` for 1-D input, an ``(k,)`` array for 2-D input. Non-finite samples are ignored
pairwise. A number that is mathematically undefined comes back as NaN (a flat signal's correlation is
*undefined*, never 0).

Lag convention (both cross-correlations): a **positive** lag means ``a`` is **late** relative to ``b``,
i.e. ``a[i] ≈ b[i - lag]``; ``r_at_lag`` is the Pearson r between ``a`` and ``b`` shifted by that lag.
Ties between equally good lags go to the smallest ``|lag|`` (then the negative one).

These names and signatures are used by the kinematics, GRF and EMG metrics: keep them stable.
"""

from __future__ import annotations

import numpy as np

MIN_POINTS = 3
_FLAT_RTOL = 1e-10


def _out(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson r of broadcast (..., p) arrays with NaN masking; NaN when flat or < 3 points."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    m = np.isfinite(a) & np.isfinite(b)
    n = m.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        az = np.where(m, a, 0.0)
        bz = np.where(m, b, 0.0)
        ma = az.sum(axis=-1, keepdims=True) / np.maximum(n, 1)[..., None]
        mb = bz.sum(axis=-1, keepdims=True) / np.maximum(n, 1)[..., None]
        ac = np.where(m, a - ma, 0.0)
        bc = np.where(m, b - mb, 0.0)
        saa = (ac * ac).sum(axis=-1)
        sbb = (bc * bc).sum(axis=-1)
        sab = (ac * bc).sum(axis=-1)
        # flat = spread negligible relative to the signal's own magnitude
        scale_a = np.maximum(1.0, np.abs(az).max(axis=-1))
        scale_b = np.maximum(1.0, np.abs(bz).max(axis=-1))
        nn = np.maximum(n, 1)
        flat = (np.sqrt(saa / nn) <= _FLAT_RTOL * scale_a) | (np.sqrt(sbb / nn) <= _FLAT_RTOL * scale_b)
        r = sab / np.sqrt(saa * sbb)
    r = np.clip(r, -1.0, 1.0)
    return np.where((n >= MIN_POINTS) & ~flat, r, np.nan)


def pearson_r(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Pearson correlation along the last axis of ``a`` (p,)|(k, p) and ``b`` (p,)|(k, p).

    NaN when either signal is flat (zero variance) or fewer than 3 finite pairs remain: r is
    undefined there, never 0.
    """
    return _out(_pearson_rows(a, b))


def rmse(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Root-mean-square difference along the last axis over the finite pairs (NaN when none), units of a."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    m = np.isfinite(d)
    n = m.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(np.where(m, d * d, 0.0).sum(axis=-1) / n)
    return _out(np.where(n > 0, out, np.nan))


def inside_band_pct(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float | np.ndarray:
    """Share (%, 0–100) of the finite samples where ``lo <= x <= hi``, along the last axis (NaN if none)."""
    x, lo, hi = np.broadcast_arrays(
        np.asarray(x, dtype=float), np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    )
    m = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
    n = m.sum(axis=-1)
    inside = (m & (x >= lo) & (x <= hi)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * inside / n
    return _out(np.where(n > 0, out, np.nan))


def _best(lags: np.ndarray, r: np.ndarray) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Best lag per row of r (..., L): max r, ties to the smallest |lag| (lags sorted by |lag|)."""
    order = np.lexsort((lags, np.abs(lags)))  # |lag| first, then negative before positive
    lags, r = lags[order], r[..., order]
    ok = np.isfinite(r).any(axis=-1)
    idx = np.argmax(np.where(np.isfinite(r), r, -np.inf), axis=-1)
    best_r = np.take_along_axis(r, idx[..., None], axis=-1)[..., 0]
    best_lag = np.where(ok, lags[idx].astype(float), np.nan)
    return _out(best_lag), _out(np.where(ok, best_r, np.nan))


def circular_xcorr_lag(
    a: np.ndarray, b: np.ndarray, max_lag_pts: int | None = None, *, closed: bool = False
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Best circular lag of ``a`` (p,)|(k, p) against ``b`` (p,) over one periodic cycle.

    ``b`` is shifted circularly by every lag in ``[-max_lag_pts, max_lag_pts]`` (default: all lags in
    ``(-P/2, P/2]`` with period ``P``) and the lag with the highest Pearson r wins. Positive lag = ``a``
    is **late** relative to ``b`` (``a[i] ≈ b[i - lag]``). ``closed=True`` for curves sampled on
    0..100 % inclusive (the 101-point convention): the last sample repeats the first phase and is
    dropped, so ``P = p - 1`` and one point is ``100 / P`` % of the cycle.

    Returns ``(lag_pts, r_at_lag)``: floats for 1-D ``a`` (lag has an integer value), ``(k,)`` arrays for
    2-D ``a``; both NaN where r is undefined at every lag (a flat signal).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if closed:
        a, b = a[..., :-1], b[..., :-1]
    p = a.shape[-1]
    if b.shape[-1] != p:
        raise ValueError(f"circular_xcorr_lag: a has {p} points, b {b.shape[-1]}")
    half = p // 2
    lo = -((p - 1) // 2)
    if max_lag_pts is not None:
        m = int(max_lag_pts)
        lags = np.arange(max(-m, lo), min(m, half) + 1)
    else:
        lags = np.arange(lo, half + 1)
    idx = (np.arange(p)[None, :] - lags[:, None]) % p  # (L, p): rolled b[i - lag]
    bs = b[..., idx]  # (..., L, p)
    r = _pearson_rows(a[..., None, :], bs)  # (..., L)
    return _best(lags, r)


def linear_xcorr_lag(a: np.ndarray, b: np.ndarray, max_lag_pts: int) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Best non-circular lag of ``a`` (p,)|(k, p) against ``b`` (p,)|(k, p) within ``±max_lag_pts``.

    For a non-periodic signal (a time series, EMG vs activation): at each lag only the overlapping
    samples are correlated (``a[lag:]`` with ``b[:p-lag]`` for a positive lag). Positive lag = ``a`` is
    **late** relative to ``b`` (``a[i] ≈ b[i - lag]``). Lags whose overlap has fewer than 3 finite pairs
    are skipped. Returns ``(lag_pts, r_at_lag)`` as :func:`circular_xcorr_lag` (NaN when undefined).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    p = a.shape[-1]
    if b.shape[-1] != p:
        raise ValueError(f"linear_xcorr_lag: a has {p} points, b {b.shape[-1]}")
    m = max(0, min(int(max_lag_pts), p - MIN_POINTS))
    lags = np.arange(-m, m + 1)
    lead = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    r = np.full((*lead, lags.size), np.nan)
    for j, lag in enumerate(lags):
        if lag >= 0:
            r[..., j] = _pearson_rows(a[..., lag:], b[..., : p - lag])
        else:
            r[..., j] = _pearson_rows(a[..., : p + lag], b[..., -lag:])
    return _best(lags, r)


def circular_diff(a: float | np.ndarray, b: float | np.ndarray, period: float = 100.0) -> float | np.ndarray:
    """``a − b`` wrapped into ``(-period/2, period/2]`` (timing differences on a cycle, e.g. % cycle)."""
    d = (np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) % period
    d = np.where(d > period / 2, d - period, d)
    return _out(d)
