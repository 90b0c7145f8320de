"""Statistical parametric mapping over the cycle: where does the trial differ from the reference mean?

One-sample t-test (SPM{t}) of the trial's individual cycles minus the reference mean curve, H0: zero
mean difference at every % of the cycle, two-tailed, random-field-theory threshold at ``alpha``. The
supra-threshold clusters are the regions of the cycle where the difference is significant; each comes
with its cluster-level p-value.

Uses the optional package ``spm1d`` (Pataky; GPL-3.0): it is never vendored and never a hard
dependency (``pip install spm1d``). Without it — or with fewer than :data:`MIN_CYCLES` usable cycles,
or cycles without any variance — :func:`spm_one_sample` returns an :class:`SPMResult` with
``ran=False`` and the ``reason``, so the report can say why SPM was not run. Tested with spm1d 0.4.55
on numpy 2.4.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

MIN_CYCLES = 3
NOT_INSTALLED = "spm1d not installed (optional: pip install spm1d)"


@lru_cache(maxsize=1)
def _spm1d() -> tuple[Any, str]:
    """The spm1d module and ``''``, or ``None`` and why it cannot be used."""
    try:
        import spm1d  # type: ignore[import-not-found]
    except ImportError:
        return None, NOT_INSTALLED
    except Exception as err:  # a broken install (e.g. incompatible numpy) must not break validation
        return None, f"spm1d failed to import: {type(err).__name__}: {err}"
    return spm1d, ""


def spm_available() -> bool:
    """Whether the optional ``spm1d`` package can be imported."""
    return _spm1d()[0] is not None


def spm_version() -> str | None:
    mod = _spm1d()[0]
    return None if mod is None else str(getattr(mod, "__version__", "unknown"))


@dataclass
class SPMResult:
    """SPM one-sample t result.

    clusters: ``[(start_pct, end_pct, p)]`` significant regions in % of cycle with cluster p-values;
    signs: +1 where the trial is above the reference, −1 below (one per cluster); t: (p,) SPM{t} curve
    (``None`` when not run); threshold: critical |t|; n: cycles used; ran: False → ``reason`` says why.
    """

    clusters: list[tuple[float, float, float]] = field(default_factory=list)
    t: np.ndarray | None = None
    threshold: float = float("nan")
    alpha: float = 0.05
    n: int = 0
    ran: bool = False
    reason: str = ""
    signs: list[int] = field(default_factory=list)
    two_tailed: bool = True

    @property
    def significant(self) -> bool:
        return bool(self.clusters)

    @property
    def summary(self) -> str:
        if not self.ran:
            return f"SPM not run: {self.reason}"
        if not self.clusters:
            return f"SPM: no significant difference (alpha {self.alpha:g}, n = {self.n} cycles)"
        parts = [f"{a:.0f}-{b:.0f} % (p {'< 0.001' if p < 1e-3 else f'= {p:.3f}'})" for a, b, p in self.clusters]
        return f"SPM: significant difference at {', '.join(parts)} (alpha {self.alpha:g}, n = {self.n} cycles)"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ran": self.ran, "alpha": self.alpha, "n": self.n}
        if not self.ran:
            d["reason"] = self.reason
            return d
        d["threshold_t"] = float(self.threshold)
        d["two_tailed"] = self.two_tailed
        d["clusters"] = [
            {"start_pct": float(a), "end_pct": float(b), "p": float(p), "sign": int(s)}
            for (a, b, p), s in zip(self.clusters, self.signs, strict=True)
        ]
        return d


def spm_one_sample(cycles: np.ndarray, ref_mean: np.ndarray, alpha: float = 0.05) -> SPMResult:
    """SPM one-sample t-test of ``cycles`` (k, p) − ``ref_mean`` (p,) against 0, two-tailed.

    Cycles with NaN are dropped. Returns an :class:`SPMResult`; ``ran=False`` with the reason when
    spm1d is not installed, fewer than 3 cycles remain, the reference has NaN or the cycles do not
    vary. Cluster limits are in % of the cycle (the p points span 0–100 %).
    """
    y = np.atleast_2d(np.asarray(cycles, dtype=float))
    ref = np.asarray(ref_mean, dtype=float)
    res = SPMResult(alpha=float(alpha))
    if y.ndim != 2 or ref.ndim != 1 or y.shape[1] != ref.size:
        res.reason = f"shape mismatch: cycles {y.shape}, reference {ref.shape}"
        return res
    y = y[np.all(np.isfinite(y), axis=1)]
    res.n = int(y.shape[0])
    if not np.all(np.isfinite(ref)):
        res.reason = "reference mean has NaN"
        return res
    if res.n < MIN_CYCLES:
        res.reason = f"needs >= {MIN_CYCLES} cycles, the trial has {res.n}"
        return res
    d = y - ref[None, :]
    if not np.any(np.std(d, axis=0, ddof=1) > 1e-12 * max(1.0, float(np.abs(d).max()))):
        res.reason = "the cycles do not vary (identical cycles): t undefined"
        return res
    mod, why = _spm1d()
    if mod is None:
        res.reason = why
        return res
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ti = mod.stats.ttest(d, 0.0).inference(alpha, two_tailed=True, interp=True)
    except Exception as err:  # spm1d failures (degenerate smoothness, …) are reported, not raised
        res.reason = f"spm1d failed: {type(err).__name__}: {err}"
        return res
    p = d.shape[1]
    scale = 100.0 / (p - 1)
    res.t = np.asarray(ti.z, dtype=float)
    res.threshold = float(ti.zstar)
    res.ran = True
    for c in ti.clusters:
        a, b = (float(v) for v in c.endpoints)
        res.clusters.append((max(0.0, a * scale), min(100.0, b * scale), float(c.P)))
        res.signs.append(int(np.sign(c.csign)) if c.csign else 1)
    return res
