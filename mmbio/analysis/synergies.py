"""Muscle synergies by non-negative matrix factorisation (NMF), without a scikit-learn dependency.

**Data matrix.** ``X`` is (m muscles, t samples), non-negative: each muscle's cycles (on 0–100 % of
the gait cycle, 101 points) lose their last point (it repeats heel strike) and are concatenated in
time, so ``t = 100 × cycles``; then each muscle (row) is divided by its own peak over the whole
matrix (the usual amplitude normalisation of synergy studies, which also makes activations and EMG
comparable), and small negative values (filter ripple) are set to 0. :func:`synergy_matrix` builds
it.

**Factorisation.** ``X ≈ W H`` with ``W`` (m, k) the synergy weights (muscle composition) and ``H``
(k, t) the activation coefficients, by hierarchical alternating least squares (HALS; Cichocki & Phan
2009): each row of ``H`` and column of ``W`` in turn is set to its exact non-negative least-squares
update given the others. It stops when the relative decrease of ``‖X − WH‖²`` over one sweep falls
below ``tol`` (1e-7) or after ``max_iter`` (2000) sweeps. The start is random uniform (scaled to
the data) from ``numpy.random.default_rng(seed)``; of ``n_restarts`` starts the one with the lowest
error wins, so the result is deterministic for a seed. Columns of ``W`` are scaled to unit length
(``H`` takes the inverse scale) and ordered by the time of the peak of their mean-cycle ``H``.

**VAF** (variance accounted for) is uncentred, as in the synergy literature:
``VAF = 1 − ‖X − WH‖² / ‖X‖²``. The number of synergies is the smallest ``k`` whose VAF reaches 0.9.

**Similarity** of two synergy sets is the mean cosine similarity (scalar product of unit-length
weight vectors) of their columns, paired one-to-one by the assignment that maximises the total
(:func:`scipy.optimize.linear_sum_assignment`). With different numbers of synergies only
``min(k1, k2)`` pairs count; the difference in ``k`` is reported separately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from mmbio.analysis.result import CurvePair, Metric
from mmbio.errors import MmbioError

VAF_TARGET = 0.9
TOL = 1e-7
MAX_ITER = 2000
_EPS = 1e-12


def vaf(X: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    """Uncentred variance accounted for, ``1 − ‖X − WH‖² / ‖X‖²`` (NaN for an all-zero ``X``)."""
    X = np.asarray(X, dtype=float)
    den = float(np.sum(X * X))
    if den <= 0:
        return float("nan")
    return 1.0 - float(np.sum((X - W @ H) ** 2)) / den


def _hals(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """HALS sweeps from (W, H) until the relative error decrease < tol; returns W, H and ‖X − WH‖²."""
    xx = float(np.sum(X * X))
    k = W.shape[1]
    prev = np.inf
    err = np.inf
    for _ in range(max_iter):
        WtX = W.T @ X
        WtW = W.T @ W
        for j in range(k):
            H[j] = np.maximum(_EPS, H[j] + (WtX[j] - WtW[j] @ H) / max(WtW[j, j], _EPS))
        XHt = X @ H.T
        HHt = H @ H.T
        for j in range(k):
            W[:, j] = np.maximum(_EPS, W[:, j] + (XHt[:, j] - W @ HHt[:, j]) / max(HHt[j, j], _EPS))
        # ‖X − WH‖² = ‖X‖² − 2 tr(Wᵀ X Hᵀ) + tr(WᵀW HHᵀ), without forming WH
        HHt = H @ H.T
        err = max(0.0, xx - 2.0 * float(np.sum(W * (X @ H.T))) + float(np.sum((W.T @ W) * HHt)))
        if np.isfinite(prev) and prev - err <= tol * max(prev, _EPS):
            break
        prev = err
    return W, H, err


def _order(W: np.ndarray, H: np.ndarray, period: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length columns of W (H rescaled), ordered by the peak time of each H row (over one period)."""
    n = np.linalg.norm(W, axis=0)
    n = np.where(n > 0, n, 1.0)
    W = W / n
    H = H * n[:, None]
    if period and H.shape[1] % period == 0:
        prof = H.reshape(H.shape[0], -1, period).mean(axis=1)
    else:
        prof = H
    idx = np.argsort(np.argmax(prof, axis=1), kind="stable")
    return W[:, idx], H[idx]


def nmf(
    X: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    n_restarts: int = 5,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    period: int | None = 100,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Non-negative factorisation ``X ≈ W H`` by HALS (module docstring).

    X: (m, t) ≥ 0 (NaN not allowed). k: number of synergies, 1..m. Returns ``W`` (m, k) with unit-length
    columns, ``H`` (k, t) and the VAF. ``period``: samples per cycle, used only to order the synergies
    by the timing of their activation peak.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise MmbioError(f"nmf: X must be a finite (m, t) matrix, got shape {X.shape}")
    if np.any(X < 0):
        raise MmbioError("nmf: X has negative values (clip the envelopes at 0 first)")
    m, t = X.shape
    if not 1 <= k <= min(m, t):
        raise MmbioError(f"nmf: k={k} must be between 1 and min(m, t)={min(m, t)}")
    rng = np.random.default_rng(seed)
    scale = np.sqrt(max(float(X.mean()), _EPS) / k)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(max(1, n_restarts)):
        W0 = rng.uniform(0.0, 1.0, (m, k)) * scale + _EPS
        H0 = rng.uniform(0.0, 1.0, (k, t)) * scale + _EPS
        W, H, err = _hals(X, W0, H0, tol, max_iter)
        if best is None or err < best[2]:
            best = (W, H, err)
    assert best is not None
    W, H = _order(best[0], best[1], period)
    return W, H, vaf(X, W, H)


def synergies_for_vaf(
    X: np.ndarray, target: float = VAF_TARGET, k_max: int | None = None, *, seed: int = 0, n_restarts: int = 5
) -> tuple[int, np.ndarray, np.ndarray, float]:
    """The smallest number of synergies whose VAF reaches ``target``: ``(k, W, H, vaf)``.

    Tries k = 1, 2, … up to ``k_max`` (default: the number of muscles); when none reaches the target
    the factorisation at ``k_max`` is returned (its VAF shows the shortfall).
    """
    X = np.asarray(X, dtype=float)
    k_max = min(X.shape) if k_max is None else min(int(k_max), *X.shape)
    out: tuple[int, np.ndarray, np.ndarray, float] | None = None
    for k in range(1, k_max + 1):
        W, H, v = nmf(X, k, seed=seed, n_restarts=n_restarts)
        out = (k, W, H, v)
        if v >= target:
            break
    if out is None:
        raise MmbioError("synergies_for_vaf: empty matrix")
    return out


def synergy_similarity(W1: np.ndarray, W2: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cosine similarity of optimally paired columns of W1 (m, k1) and W2 (m, k2).

    Returns ``(mean, per_pair)`` with per_pair (min(k1, k2),) in the order of W1's matched columns.
    A zero column has no direction: its similarities are NaN (and the pairing avoids it).
    """
    W1 = np.asarray(W1, dtype=float)
    W2 = np.asarray(W2, dtype=float)
    if W1.shape[0] != W2.shape[0]:
        raise MmbioError(f"synergy_similarity: {W1.shape[0]} vs {W2.shape[0]} muscles")
    n1 = np.linalg.norm(W1, axis=0)
    n2 = np.linalg.norm(W2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        C = (W1 / n1).T @ (W2 / n2)
    rows, cols = linear_sum_assignment(np.nan_to_num(C, nan=-2.0), maximize=True)
    per = C[rows, cols]
    return (float(np.mean(per)) if per.size else float("nan")), per


def synergy_matrix(cycles: Mapping[str, np.ndarray], muscles: Sequence[str] | None = None) -> np.ndarray:
    """X (m, t) from per-muscle cycles: (k, 101) or one (101,) curve each, every muscle the same k.

    Drops the repeated last point of each cycle, concatenates the cycles, clips negatives at 0 and
    divides each row by its peak (a row that is all 0 stays 0).
    """
    names = list(cycles) if muscles is None else list(muscles)
    rows = []
    for n in names:
        c = np.atleast_2d(np.asarray(cycles[n], dtype=float))[:, :-1]
        rows.append(c.reshape(-1))
    if len({r.size for r in rows}) > 1:
        raise MmbioError("synergy_matrix: muscles have different numbers of cycles")
    X = np.maximum(np.vstack(rows), 0.0)
    if not np.all(np.isfinite(X)):
        raise MmbioError("synergy_matrix: NaN in the cycles")
    peak = X.max(axis=1, keepdims=True)
    return np.divide(X, peak, out=np.zeros_like(X), where=peak > 0)


def compare_synergies(
    trial_matrix: np.ndarray,
    emg_matrix: np.ndarray,
    muscles: Sequence[str],
    seed: int = 0,
    *,
    target: float = VAF_TARGET,
    n_restarts: int = 5,
) -> dict[str, Metric]:
    """Synergies of a trial's activations against those of EMG, over the same ``muscles`` (rows).

    Each matrix (m, t) is factorised at its own number of synergies for ``target`` VAF. Metrics:
    ``n_synergies_trial``, ``n_synergies_emg`` ('count'), ``vaf_trial``, ``vaf_emg`` ('1', at those k),
    ``similarity`` ('1', :func:`synergy_similarity`) and ``similarity_min`` ('1', the worst-matched
    pair). Give both matrices the same kind of data (mean cycles against mean cycles): concatenated single cycles
    carry cycle-to-cycle variability that a mean curve does not, which needs more synergies.
    """
    m = len(muscles)
    A = np.asarray(trial_matrix, dtype=float)
    B = np.asarray(emg_matrix, dtype=float)
    if A.shape[0] != m or B.shape[0] != m:
        raise MmbioError(f"compare_synergies: matrices have {A.shape[0]} and {B.shape[0]} rows for {m} muscles")
    if m < 2:
        r = f"synergies need at least 2 muscles, have {m}"
        return {
            "n_synergies_trial": Metric.na("count", r),
            "n_synergies_emg": Metric.na("count", r),
            "vaf_trial": Metric.na("1", r),
            "vaf_emg": Metric.na("1", r),
            "similarity": Metric.na("1", r),
            "similarity_min": Metric.na("1", r),
        }
    ka, Wa, _, va = synergies_for_vaf(A, target, seed=seed, n_restarts=n_restarts)
    kb, Wb, _, vb = synergies_for_vaf(B, target, seed=seed, n_restarts=n_restarts)
    sim, per = synergy_similarity(Wa, Wb)
    return {
        "n_synergies_trial": Metric(float(ka), "count"),
        "n_synergies_emg": Metric(float(kb), "count"),
        "vaf_trial": Metric(va, "1"),
        "vaf_emg": Metric(vb, "1"),
        "similarity": Metric(sim, "1", reason="" if np.isfinite(sim) else "a synergy has all-zero weights"),
        "similarity_min": Metric(
            float(np.min(per)) if per.size and np.all(np.isfinite(per)) else float("nan"),
            "1",
            reason="" if per.size and np.all(np.isfinite(per)) else "a synergy has all-zero weights",
        ),
    }


def synergies_from_curves(curves: Sequence[CurvePair], side: str, seed: int = 0) -> tuple[dict[str, Metric], list[str]]:
    """:func:`compare_synergies` on the EMG :class:`CurvePair` list of one side (from ``compare_emg``).

    Uses the trial's mean cycle and the reference mean of every muscle with both (mean against mean).
    Returns the metrics and the muscles used.
    """
    use = [c for c in curves if c.domain == "emg" and c.side == side and c.ref_mean is not None]
    muscles = [c.variable for c in use]
    A = synergy_matrix({c.variable: c.trial_mean for c in use}, muscles) if use else np.empty((0, 100))
    B = synergy_matrix({c.variable: c.ref_mean for c in use}, muscles) if use else np.empty((0, 100))
    return compare_synergies(A, B, muscles, seed), muscles
