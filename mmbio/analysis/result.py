"""Metric values and the validation result that carries them to metrics.json, curves.csv and the report.

A :class:`Metric` is one number with its units, computed on the mean cycles, optionally the same metric
on every individual cycle (``cycles``), the human ceiling (the value humans reach against each other,
``ceiling``) and, when the value is not available, the reason. NaN means *not available* — never 0.

Metrics are grouped ``domain → side → variable → metric name`` (``kinematics/right/knee_flexion/r``),
exactly the key paths of ``metrics.json`` (``docs/metrics_schema.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: domain → side → variable → metric name → Metric
MetricTree = dict[str, dict[str, dict[str, dict[str, "Metric"]]]]


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Metric:
    """One metric. value: on the mean cycle (NaN = not available, see ``reason``); cycles: (k,) per cycle."""

    value: float
    units: str
    cycles: np.ndarray | None = None
    reason: str = ""
    ceiling: float | None = None
    ceiling_note: str = ""

    @classmethod
    def na(cls, units: str, reason: str) -> Metric:
        """A metric that is not available, with the reason."""
        return cls(float("nan"), units, reason=reason)

    @property
    def available(self) -> bool:
        return math.isfinite(float(self.value))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": _num(self.value), "units": self.units}
        if not self.available:
            d["reason"] = self.reason or "not available"
        if self.cycles is not None and len(self.cycles):
            c = np.asarray(self.cycles, dtype=float)
            ok = c[np.isfinite(c)]
            d["cycles"] = {
                "n": int(c.size),
                "n_available": int(ok.size),
                "mean": _num(ok.mean()) if ok.size else None,
                "sd": _num(ok.std(ddof=1)) if ok.size >= 3 else None,
                "values": [_num(v) for v in c],
            }
        if self.ceiling is not None or self.ceiling_note:
            d["ceiling"] = {"value": _num(self.ceiling), "units": self.units}
            if self.ceiling_note:
                d["ceiling"]["note"] = self.ceiling_note
        return d

    def __format__(self, spec: str) -> str:
        if not self.available:
            return "n/a"
        return f"{format(float(self.value), spec or '.3g')} {self.units}".rstrip()


def walk(tree: MetricTree) -> Iterator[tuple[str, str, str, str, Metric]]:
    """Every ``(domain, side, variable, name, metric)`` of a metric tree, in insertion order."""
    for domain, sides in tree.items():
        for side, variables in sides.items():
            for variable, metrics in variables.items():
                for name, m in metrics.items():
                    yield domain, side, variable, name, m


def tree_to_dict(tree: MetricTree) -> dict[str, Any]:
    return {
        d: {s: {v: {n: m.to_dict() for n, m in ms.items()} for v, ms in vs.items()} for s, vs in ss.items()}
        for d, ss in tree.items()
    }


@dataclass
class CurvePair:
    """A trial curve beside its reference, for curves.csv and the figures (all (101,) on % cycle or stance).

    ``trial_cycles``: (k, 101) individual cycles; ``ref_sd``/``trial_sd`` ``None`` when unavailable.
    ``toe_off_pct``: the trial's mean toe-off in % of cycle (NaN when unknown).
    """

    domain: str
    side: str
    variable: str
    units: str
    pct: np.ndarray
    trial_mean: np.ndarray
    trial_sd: np.ndarray | None
    trial_cycles: np.ndarray
    ref_mean: np.ndarray | None = None
    ref_sd: np.ndarray | None = None
    basis: str = "gait cycle"  # or "stance"
    toe_off_pct: float = float("nan")
    ref_toe_off_pct: float = float("nan")
    spm: Any = None  # SPM result (significant clusters) when computed

    @classmethod
    def from_cycles(
        cls,
        domain: str,
        side: str,
        variable: str,
        units: str,
        pct: np.ndarray,
        cycles: np.ndarray,
        ref_mean: np.ndarray | None,
        ref_sd: np.ndarray | None,
        *,
        basis: str = "gait cycle",
        toe_offs: np.ndarray | None = None,
        ref_toe_off_pct: float = float("nan"),
    ) -> CurvePair:
        """From individual cycles (k, p): mean, SD (``None`` below 3 cycles) and the mean of ``toe_offs`` (% cycle)."""
        k = cycles.shape[0]
        to = np.asarray(toe_offs, dtype=float) if toe_offs is not None else np.empty(0)
        return cls(
            domain=domain,
            side=side,
            variable=variable,
            units=units,
            pct=pct,
            trial_mean=np.nanmean(cycles, axis=0),
            trial_sd=np.nanstd(cycles, axis=0, ddof=1) if k >= 3 else None,
            trial_cycles=cycles,
            ref_mean=ref_mean,
            ref_sd=ref_sd,
            basis=basis,
            toe_off_pct=float(np.nanmean(to)) if np.isfinite(to).any() else float("nan"),
            ref_toe_off_pct=ref_toe_off_pct,
        )


@dataclass
class ValidationResult:
    """Everything one validation produced: metrics, curves, verdicts, notes and provenance."""

    trial: dict[str, Any]
    reference: dict[str, Any]
    metrics: MetricTree = field(default_factory=dict)
    curves: list[CurvePair] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    protocol: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: simulation credibility (:mod:`mmbio.analysis.credibility`): ``{"checks": [...], "sources": {...}}`` or None
    credibility: dict[str, Any] | None = None
    #: named activation sources side by side (:func:`mmbio.analysis.activation_sources.summarise`) or None
    activation_sources: dict[str, Any] | None = None
    #: several episodes validated together (:mod:`mmbio.analysis.episodes`): ``{"count", "episodes", "spread"}``
    episodes: dict[str, Any] | None = None
    #: other tools' numbers beside mmbio's (:mod:`mmbio.analysis.evalkit_compat`): ``{"mm-evalkit": {...}}`` or None
    compat: dict[str, Any] | None = None

    def __repr__(self) -> str:
        t, r = self.trial or {}, self.reference or {}
        n = sum(1 for _ in walk(self.metrics))
        verdict = {None: "no protocol", True: "PASS", False: "FAIL"}[self.passed]
        cred = "" if self.credible is None else f", credibility {'PASS' if self.credible else 'FAIL'}"
        return (
            f"<ValidationResult {t.get('name', '?')!r} vs {r.get('name', '?')}:{r.get('condition', '?')}: {n} metrics, "
            f"{len(self.curves)} curves, {verdict}{cred}, {len(self.notes)} notes>"
        )

    def add(self, domain: str, side: str, variable: str, metrics: dict[str, Metric]) -> None:
        self.metrics.setdefault(domain, {}).setdefault(side, {}).setdefault(variable, {}).update(metrics)

    def get(self, path: str) -> Metric | None:
        """Metric by dotted path ``domain.side.variable.name``; ``None`` when absent."""
        parts = path.split(".")
        if len(parts) != 4:
            raise ValueError(f"metric path must be domain.side.variable.name, got {path!r}")
        d, s, v, n = parts
        return self.metrics.get(d, {}).get(s, {}).get(v, {}).get(n)

    @property
    def passed(self) -> bool | None:
        """Protocol verdict: ``None`` without a protocol or when every check is n/a (nothing could be judged: an n/a
        is never a pass), else no check failed."""
        if self.protocol is None:
            return None
        if any(c["status"] == "fail" for c in self.checks):
            return False
        if self.checks and all(c["status"] == "n/a" for c in self.checks):
            return None
        return True

    @property
    def credible(self) -> bool | None:
        """Simulation-credibility verdict: ``None`` when not assessed (measured trials), else no check failed."""
        if self.credibility is None:
            return None
        return not any(c["status"] == "fail" for c in self.credibility.get("checks", []))

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": "mmbio.metrics/1",
            "provenance": self.provenance,
            "trial": self.trial,
            "reference": self.reference,
        }
        out.update(tree_to_dict(self.metrics))
        if self.activation_sources is not None:
            out["activation_sources"] = self.activation_sources
        if self.episodes is not None:
            out["episodes"] = self.episodes
        if self.compat is not None:
            out["compat"] = self.compat
        if self.credibility is not None:
            out.setdefault("credibility", {}).update(passed=self.credible, **self.credibility)
        if self.protocol is not None:
            out["protocol"] = {**self.protocol, "passed": self.passed, "checks": self.checks}
        out["notes"] = list(self.notes)
        return out
