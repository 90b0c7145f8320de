"""Several policies (checkpoints, rollout archives, trials) compared on one reference: ranking, paired tests, RSA.

Each input is first validated on its own (:func:`mmbio.analysis.validate.validate`); :func:`compare` then reads the
per-item numbers of every :class:`~mmbio.analysis.result.ValidationResult`:

* **Items.** One item is one joint angle, GRF component or muscle of one side (``right.knee_flexion``), valued by
  the metric of its family (:data:`FAMILIES`: the Pearson r of the mean cycle with the reference mean for joint
  angles, GRF components and activation vs EMG; the joint-angle RMSE in deg).
* **Criteria** (:data:`CRITERIA`): each family's mean over the items that *every* input with that family has (so
  the inputs are scored on the same joints and muscles); the redundancy gap ``K − A`` (mean joint-angle r minus
  mean activation–EMG r over those shared items, 1); the RSA of the activation patterns with the EMG reference
  (mean over sides of the Spearman correlation of the muscle × muscle similarity matrices). A criterion an input
  lacks is n/a with the reason, never 0; it has no rank.
* **Ranks** per criterion (1 = best; ties share the mean rank). The **overall rank** orders the inputs by the mean
  of their ranks on :data:`OVERALL` (kinematic fidelity, GRF shape, activation–EMG r, redundancy gap), using only
  the criteria every input has (the others are named in the notes). Values are ranked at the resolution they are
  shown with (:attr:`Criterion.resolution`: 0.001, 0.01 deg): equal shown values tie.
* **Paired tests**: for every pair of inputs and every family, the two-sided Wilcoxon signed-rank test over the
  items both have (paired by name; an item n/a on either side is left out), zero differences dropped
  (``zero_method='wilcox'``), exact p-values from scipy for small samples; the effect is the median difference
  A − B and the matched-pairs rank-biserial correlation; p-values are Holm-corrected within each family across
  its pairs. Fewer than 6 non-zero differences cannot reach p < 0.05 and are flagged as underpowered. A significant
  difference whose median is below the family's :attr:`Family.negligible` (0.01 in r, 0.1 deg) is reported as
  negligible and names no better input (the same simulation read from two files differs by 1e-4 in r, consistently).
* **RSA** (:class:`RSA`): per side, each input's activation pattern (muscles × 101 points of the mean cycle) and
  the EMG reference's are reduced to muscle × muscle Pearson similarity matrices (RSM; the RDM is 1 − RSM) over
  the muscles all of them share; RSMs are compared by the Spearman correlation of their lower off-diagonal
  triangles (Pearson beside it), between each input and the EMG reference (with a one-sided permutation p over
  muscle labels) and between every two inputs.

Inputs validated against different references are not ranked or tested against each other on the families
concerned (the notes say which). Imports no JAX.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr, wilcoxon

from mmbio.analysis.result import ValidationResult
from mmbio.errors import MmbioError

__all__ = [
    "ALPHA",
    "CRITERIA",
    "FAMILIES",
    "MIN_INFORMATIVE_PAIRS",
    "OVERALL",
    "RSA",
    "Comparison",
    "Family",
    "compare",
    "holm",
    "paired_wilcoxon",
    "rsa_score",
    "rsm",
]

ALPHA = 0.05
#: a two-sided signed-rank test on n non-zero differences cannot reach p < 0.05 below n = 6 (its smallest p is 2/2ⁿ)
MIN_INFORMATIVE_PAIRS = 6
#: exact permutation test over muscle labels up to this many muscles (8! = 40,320 orders), sampled above
EXACT_PERM_MAX = 8
N_PERM_SAMPLED = 9999


@dataclass(frozen=True)
class Family:
    """A kind of item and the metric valuing it: ``result.metrics[domain][side][variable][metric]``."""

    key: str
    label: str
    domain: str
    metric: str
    units: str
    higher_is_better: bool
    item: str  # what one item is ("joint angle", "muscle", ...)
    negligible: float  # a median difference below this is too small to matter, significant or not (units)


FAMILIES: tuple[Family, ...] = (
    Family("kinematic_r", "joint-angle r", "kinematics", "r", "1", True, "joint angle", 0.01),
    Family("kinematic_rmse", "joint-angle RMSE", "kinematics", "rmse", "deg", False, "joint angle", 0.1),
    Family("grf_r", "GRF r", "grf", "r", "1", True, "GRF component", 0.01),
    Family("emg_r", "activation–EMG r", "emg", "r", "1", True, "muscle", 0.01),
)
_FAMILY = {f.key: f for f in FAMILIES}


@dataclass(frozen=True)
class Criterion:
    """One ranking column: key, label, units, direction, what it is, and the resolution its values are ranked at
    (values equal at that resolution tie: a difference of 1e-5 in r does not order two policies)."""

    key: str
    label: str
    units: str
    higher_is_better: bool
    description: str
    resolution: float = 1e-3


CRITERIA: tuple[Criterion, ...] = (
    Criterion("kinematic_r", "kinematic fidelity", "1", True, "mean joint-angle r over the shared joint angles"),
    Criterion(
        "kinematic_rmse", "joint-angle RMSE", "deg", False, "mean joint-angle RMSE over the shared joint angles", 1e-2
    ),
    Criterion("grf_r", "GRF shape", "1", True, "mean GRF r over the shared components (vertical, AP, ML)"),
    Criterion("emg_r", "activation–EMG r", "1", True, "mean activation–EMG r over the shared muscles"),
    Criterion("gap", "redundancy gap", "1", False, "kinematic fidelity − activation–EMG r (shared items)"),
    Criterion("rsa", "RSA with EMG", "1", True, "Spearman of the muscle × muscle RSMs, mean over sides"),
)
_CRITERION = {c.key: c for c in CRITERIA}
#: the criteria of the overall rank (the issue's four: kinematic fidelity, GRF shape, activation–EMG r, redundancy gap)
OVERALL: tuple[str, ...] = ("kinematic_r", "grf_r", "emg_r", "gap")


# ------------------------------------------------------------------------------------------------ statistics


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values (same order as ``p``; NaN stays NaN and is not counted)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m, running = order.size, 0.0
    for k, i in enumerate(order):
        running = max(running, (m - k) * p[i])
        out[i] = min(running, 1.0)
    return out


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test of paired ``a`` and ``b`` (same shape; pairs with a NaN dropped;
    differences within 1e-12 (relative) are rounding noise and count as 0).

    Returns ``n`` (pairs used), ``n_nonzero`` (non-zero differences: what the test ranks), ``median_a``,
    ``median_b``, ``median_diff`` (of a − b), ``W`` (scipy's statistic: the smaller rank sum), ``p``,
    ``effect`` (matched-pairs rank-biserial correlation (W₊ − W₋)/(W₊ + W₋) in [−1, 1]) and ``note``
    (why ``p`` is NaN, or that the sample is underpowered). NaN where undefined.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    nan = float("nan")
    out: dict[str, Any] = {"n": int(a.size), "n_nonzero": 0, "median_a": nan, "median_b": nan,
                           "median_diff": nan, "W": nan, "p": nan, "effect": nan, "note": ""}  # fmt: skip
    if a.size == 0:
        out["note"] = "no item with a value in both"
        return out
    b = np.where(np.isclose(a, b, rtol=1e-12, atol=1e-12), a, b)  # rounding noise is no difference
    d = a - b
    out.update(median_a=float(np.median(a)), median_b=float(np.median(b)), median_diff=float(np.median(d)))
    nz = d[d != 0.0]
    out["n_nonzero"] = int(nz.size)
    if nz.size == 0:
        out["note"] = "every difference is 0"
        return out
    ranks = rankdata(np.abs(nz))
    wp, wm = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
    out["effect"] = (wp - wm) / (wp + wm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    out["W"], out["p"] = float(res.statistic), float(res.pvalue)
    if nz.size < MIN_INFORMATIVE_PAIRS:
        out["note"] = (f"underpowered: {nz.size} non-zero differences (p ≥ {2 / 2**nz.size:.3g} whatever the data; "
                       f"{MIN_INFORMATIVE_PAIRS} are needed for p < {ALPHA})")  # fmt: skip
    return out


def rsm(patterns: np.ndarray) -> np.ndarray:
    """Muscle × muscle Pearson similarity matrix (m, m) of activation patterns (m muscles, p phase points).

    A flat pattern has no defined correlation: its row and column stay NaN (never 0)."""
    x = np.asarray(patterns, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 3:
        raise ValueError(f"patterns must be (muscles ≥ 2, points ≥ 3), got {x.shape}")
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.corrcoef(x)


def _lower(m: np.ndarray) -> np.ndarray:
    return m[np.tril_indices(m.shape[0], k=-1)]


def rsa_score(rsm_a: np.ndarray, rsm_b: np.ndarray) -> tuple[float, float, int]:
    """``(spearman, pearson, n_pairs)`` of two RSMs' lower off-diagonal triangles (pairs finite in both).

    NaN when fewer than 3 pairs remain or either triangle is constant."""
    a, b = _lower(np.asarray(rsm_a, float)), _lower(np.asarray(rsm_b, float))
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3 or np.ptp(a) <= 1e-12 or np.ptp(b) <= 1e-12:
        return float("nan"), float("nan"), int(a.size)
    return float(spearmanr(a, b).statistic), float(np.corrcoef(a, b)[0, 1]), int(a.size)


def _rank_matrix(m: np.ndarray) -> np.ndarray:
    """The symmetric matrix of the ranks of ``m``'s lower off-diagonal entries (diagonal 0)."""
    n = m.shape[0]
    il = np.tril_indices(n, k=-1)
    r = np.zeros((n, n))
    r[il] = rankdata(m[il])
    return r + r.T


def rsa_permutation_p(rsm_a: np.ndarray, rsm_b: np.ndarray, *, seed: int = 0) -> tuple[float, int]:
    """One-sided permutation p of the Spearman RSA (Mantel test): the share of muscle relabellings of ``rsm_a``
    whose RSA with ``rsm_b`` is at least the observed one (the identity included). Exact over all m! orders up to
    :data:`EXACT_PERM_MAX` muscles, else :data:`N_PERM_SAMPLED` random orders (``seed``) plus the identity.
    Returns ``(p, permutations)``; NaN when an RSM has a NaN entry or the RSA is undefined."""
    a, b = np.asarray(rsm_a, float), np.asarray(rsm_b, float)
    n = a.shape[0]
    if not (np.isfinite(_lower(a)).all() and np.isfinite(_lower(b)).all()) or n < 3:
        return float("nan"), 0
    ra, rb = _rank_matrix(a), _lower(_rank_matrix(b))
    if np.ptp(_lower(ra)) == 0 or np.ptp(rb) == 0:
        return float("nan"), 0
    if n <= EXACT_PERM_MAX:
        perms = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        perms = np.vstack([np.arange(n), np.array([rng.permutation(n) for _ in range(N_PERM_SAMPLED)])])
    il = np.tril_indices(n, k=-1)
    # lower triangle of ra[perm][:, perm] for every perm: (P, pairs)
    x = ra[perms[:, il[0]], perms[:, il[1]]]
    x = x - x.mean(axis=1, keepdims=True)
    y = rb - rb.mean()
    r = (x @ y) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y))
    obs = float(np.corrcoef(_lower(ra), rb)[0, 1])
    return float(np.mean(r >= obs - 1e-12)), int(perms.shape[0])


# ------------------------------------------------------------------------------------------------ results


@dataclass
class RSA:
    """RSA of one side. muscles: the shared muscles (m); rsm: label → (m, m) RSM (``'EMG reference'`` included);
    vs_reference: label → ``{spearman, pearson, pairs, p_perm, permutations}``; between: ``(a, b)`` → Spearman."""

    side: str
    muscles: list[str]
    rsm: dict[str, np.ndarray]
    vs_reference: dict[str, dict[str, Any]]
    between: dict[tuple[str, str], float]
    note: str = ""


REFERENCE_LABEL = "EMG reference"


@dataclass
class Comparison:
    """What :func:`compare` found (module docs). Every value NaN/None where not available, with a reason.

    inputs: per input ``{label, name, source, kind, reference, emg_reference, cycles, flags}``; items: family →
    label → ``{item: value}``; scores: criterion → label → ``{value, n, reason}``; ranks: criterion → label → rank
    (None = n/a); overall: label → ``{mean_rank, rank, criteria}``; tests: one dict per (family, A, B);
    rsa: side → :class:`RSA`; notes: what the reader must know.
    """

    labels: list[str]
    inputs: list[dict[str, Any]]
    items: dict[str, dict[str, dict[str, float]]]
    shared: dict[str, list[str]]
    scores: dict[str, dict[str, dict[str, Any]]]
    ranks: dict[str, dict[str, float | None]]
    overall: dict[str, dict[str, Any]]
    overall_criteria: list[str]
    tests: list[dict[str, Any]]
    rsa: dict[str, RSA]
    notes: list[str] = field(default_factory=list)

    def order(self) -> list[str]:
        """Labels by overall rank (unranked last, in input order)."""
        return sorted(self.labels, key=lambda lab: (self.overall[lab]["rank"] is None, self.overall[lab]["rank"] or 0))

    def to_json_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict (NaN → None)."""

        def num(x: Any) -> Any:
            if isinstance(x, float | np.floating):
                return float(x) if math.isfinite(x) else None
            if isinstance(x, np.integer):
                return int(x)
            if isinstance(x, dict):
                return {str(k): num(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [num(v) for v in x]
            if isinstance(x, np.ndarray):
                return num(x.tolist())
            return x

        return num({
            "schema": "mmbio.compare/1",
            "inputs": self.inputs,
            "criteria": [{"key": c.key, "label": c.label, "units": c.units, "higher_is_better": c.higher_is_better,
                          "description": c.description, "in_overall": c.key in self.overall_criteria}
                         for c in CRITERIA],
            "ranking": [{"label": lab, **self.overall[lab],
                         "scores": {k: {**self.scores[k][lab], "rank": self.ranks[k][lab]} for k in self.scores}}
                        for lab in self.order()],
            "items": self.items,
            "shared_items": self.shared,
            "tests": self.tests,
            "rsa": {s: {"muscles": r.muscles, "rsm": {k: v for k, v in r.rsm.items()},
                        "vs_reference": r.vs_reference,
                        "between": [{"a": a, "b": b, "spearman": v} for (a, b), v in r.between.items()],
                        "note": r.note}
                    for s, r in self.rsa.items()},
            "alpha": ALPHA,
            "notes": self.notes,
        })  # fmt: skip


# ------------------------------------------------------------------------------------------------ comparison


def _ref_label(result: ValidationResult, family: Family) -> str | None:
    ref = result.reference or {}
    if family.domain == "emg":
        e = ref.get("emg") or {}
        return f"{e['name']}:{e['condition']}" if e.get("name") else None
    return f"{ref.get('name')}:{ref.get('condition')}" if ref.get("name") else None


def _items(result: ValidationResult, family: Family) -> dict[str, float]:
    """``{side.variable: value}`` of one family (NaN = n/a)."""
    out: dict[str, float] = {}
    for side, variables in (result.metrics.get(family.domain) or {}).items():
        for var, ms in variables.items():
            m = ms.get(family.metric)
            if m is not None:
                out[f"{side}.{var}"] = float(m.value) if m.value is not None else float("nan")
    return out


def _cycles(result: ValidationResult) -> dict[str, int]:
    """Gait cycles (or stances, for GRF-only inputs) per side: the most any curve of the result has."""
    out = {"right": 0, "left": 0}
    for c in result.curves:
        if c.side in out:
            out[c.side] = max(out[c.side], int(np.asarray(c.trial_cycles).shape[0]))
    return out


def _input_summary(label: str, result: ValidationResult, kind: str, path: str | None) -> dict[str, Any]:
    t = result.trial or {}
    flags = []
    if t.get("no_cycle"):
        flags.append("no gait cycle: " + str(t["no_cycle"]))
    if t.get("by_construction"):
        flags.append("kinematics by construction: " + str(t["by_construction"]))
    if t.get("own_subject_in_reference"):
        flags.append(f"its subject {t['own_subject_in_reference']} is one of the reference's subjects: scored partly "
                     "against its own curves (mmbio validate alone leaves that subject out)")  # fmt: skip
    if t.get("fell"):
        flags.append("the controller fell: metrics cover the trial up to the fall")
    elif t.get("diverged"):
        flags.append("the simulation diverged: metrics cover the trial up to the cut")
    subj = (t.get("subject") or {}).get("mass") or {}
    if subj.get("estimated"):
        flags.append("body mass estimated: values in BW rest on it")
    ref = result.reference or {}
    e = ref.get("emg") or {}
    return {
        "label": label,
        "name": t.get("name", ""),
        "source": path if path is not None else t.get("source", ""),
        "kind": kind,
        "trial_kind": t.get("kind", ""),
        "reference": f"{ref.get('name')}:{ref.get('condition')}",
        "emg_reference": f"{e['name']}:{e['condition']}" if e.get("name") else None,
        "activity": ref.get("activity"),
        "cycles": _cycles(result),
        "flags": flags,
    }


def _rank(values: Mapping[str, float], higher_is_better: bool, resolution: float = 0.0) -> dict[str, float | None]:
    """Ranks (1 = best, ties share the mean rank) of the finite values rounded to ``resolution``; None for NaN."""
    labs = [k for k, v in values.items() if math.isfinite(v)]
    ranks: dict[str, float | None] = dict.fromkeys(values)
    if labs:
        x = np.array([values[k] for k in labs])
        if resolution > 0:
            x = np.round(x / resolution)
        r = rankdata(-x if higher_is_better else x, method="average")
        ranks.update({k: float(v) for k, v in zip(labs, r, strict=True)})
    return ranks


def _emg_patterns(result: ValidationResult, side: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``({muscle: trial mean cycle (101,)}, {muscle: reference mean (101,)})`` of one side's EMG curves."""
    trial, ref = {}, {}
    for c in result.curves:
        if c.domain == "emg" and c.side == side:
            tm = np.asarray(c.trial_mean, float)
            if np.isfinite(tm).sum() >= 3 and np.nanstd(tm) > 0:
                trial[c.variable] = tm
            if c.ref_mean is not None:
                rm = np.asarray(c.ref_mean, float)
                if np.isfinite(rm).sum() >= 3 and np.nanstd(rm) > 0:
                    ref[c.variable] = rm
    return trial, ref


def _rsa(results: Mapping[str, ValidationResult], emg_ok: list[str], seed: int) -> dict[str, RSA]:
    out: dict[str, RSA] = {}
    if not emg_ok:
        return out
    sides = list(dict.fromkeys(c.side for lab in emg_ok for c in results[lab].curves if c.domain == "emg"))
    for side in sides:
        pats = {lab: _emg_patterns(results[lab], side) for lab in emg_ok}
        ref = pats[emg_ok[0]][1]  # one EMG reference for all (checked by the caller)
        muscles = [m for m in ref if all(m in p[0] for p in pats.values())]
        if len(muscles) < 3:
            out[side] = RSA(side, muscles, {}, {}, {}, f"{len(muscles)} muscle(s) shared by every input and the "
                            "EMG reference: RSA needs 3 (3 muscle pairs)")  # fmt: skip
            continue
        mats = {lab: rsm(np.array([pats[lab][0][m] for m in muscles])) for lab in emg_ok}
        ref_m = rsm(np.array([ref[m] for m in muscles]))
        vs = {}
        for lab in emg_ok:
            sp, pe, n = rsa_score(mats[lab], ref_m)
            p, nperm = rsa_permutation_p(mats[lab], ref_m, seed=seed) if math.isfinite(sp) else (float("nan"), 0)
            vs[lab] = {"spearman": sp, "pearson": pe, "pairs": n, "p_perm": p, "permutations": nperm}
        between = {(a, b): rsa_score(mats[a], mats[b])[0] for a, b in itertools.combinations(emg_ok, 2)}
        note = ""
        if len(muscles) < 4:
            note = f"only {len(muscles)} muscles ({len(muscles) * (len(muscles) - 1) // 2} pairs): a coarse RSA"
        out[side] = RSA(side, muscles, {**mats, REFERENCE_LABEL: ref_m}, vs, between, note)
    return out


def compare(
    results: Mapping[str, ValidationResult],
    *,
    kinds: Mapping[str, str] | None = None,
    paths: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Comparison:
    """Compare validated inputs (label → result, in report order; at least 2). kinds: label → what the input was
    (``checkpoint``, ``archive``, ``trial``; default the trial's kind); paths: label → the file it came from
    (default the trial's source). seed: the sampled RSA permutations (only above :data:`EXACT_PERM_MAX` muscles).
    Definitions in the module docs."""
    labels = list(results)
    if len(labels) < 2:
        raise MmbioError(f"compare needs at least 2 inputs, got {len(labels)}")
    kinds = dict(kinds or {})
    notes: list[str] = []
    paths = dict(paths or {})
    inputs = [
        _input_summary(lab, results[lab], kinds.get(lab, results[lab].trial.get("kind", "")), paths.get(lab))
        for lab in labels
    ]
    for inp in inputs:
        notes += [f"{inp['label']}: {f}" for f in inp["flags"]]

    items: dict[str, dict[str, dict[str, float]]] = {}
    shared: dict[str, list[str]] = {}
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    same_ref: dict[str, bool] = {}
    for fam in FAMILIES:
        items[fam.key] = {lab: _items(results[lab], fam) for lab in labels}
        have = [lab for lab in labels if any(math.isfinite(v) for v in items[fam.key][lab].values())]
        refs = {lab: _ref_label(results[lab], fam) for lab in have}
        same_ref[fam.key] = len(set(refs.values())) <= 1
        common = [k for k in items[fam.key][have[0]] if all(math.isfinite(items[fam.key][lab].get(k, math.nan))
                                                            for lab in have)] if have else []  # fmt: skip
        shared[fam.key] = common
        sc: dict[str, dict[str, Any]] = {}
        for lab in labels:
            own = items[fam.key][lab]
            if lab not in have:
                why = f"no {fam.item} of the reference in the input" if not own else f"every {fam.label} is n/a"
                if results[lab].trial.get("no_cycle"):
                    why = "no gait cycle: " + str(results[lab].trial["no_cycle"])
                sc[lab] = {"value": math.nan, "n": 0, "reason": why}
            elif not same_ref[fam.key]:
                sc[lab] = {"value": math.nan, "n": 0, "reason": "inputs validated against different references ("
                           + ", ".join(f"{k}: {v}" for k, v in refs.items()) + ")"}  # fmt: skip
            elif not common:
                sc[lab] = {"value": math.nan, "n": 0, "reason": f"no {fam.item} has a value in every input"}
            else:
                sc[lab] = {"value": float(np.mean([own[k] for k in common])), "n": len(common), "reason": ""}
        scores[fam.key] = sc
        if not same_ref[fam.key]:
            notes.append(f"{fam.label}: inputs validated against different references "
                         f"({', '.join(f'{k}: {v}' for k, v in refs.items())}): not ranked, not tested")  # fmt: skip
        dropped = {lab: len([k for k, v in items[fam.key][lab].items() if math.isfinite(v) and k not in common])
                   for lab in have}  # fmt: skip
        if common and any(dropped.values()) and same_ref[fam.key]:
            notes.append(f"{fam.label}: scored on the {len(common)} {fam.item}s every input has; left out: "
                         + ", ".join(f"{lab} {n}" for lab, n in dropped.items() if n))  # fmt: skip
    # the redundancy gap over the shared items: K − A
    gap: dict[str, dict[str, Any]] = {}
    for lab in labels:
        k, a = scores["kinematic_r"][lab], scores["emg_r"][lab]
        if math.isfinite(k["value"]) and math.isfinite(a["value"]):
            gap[lab] = {"value": k["value"] - a["value"], "n": k["n"] + a["n"], "reason": ""}
        else:
            gap[lab] = {"value": math.nan, "n": 0, "reason": "; ".join(x["reason"] for x in (k, a) if x["reason"])}
    scores["gap"] = gap

    emg_have = [lab for lab in labels if math.isfinite(scores["emg_r"][lab]["value"])]
    rsa = _rsa(results, emg_have, seed) if same_ref["emg_r"] else {}
    rs: dict[str, dict[str, Any]] = {}
    for lab in labels:
        vals = [r.vs_reference[lab]["spearman"] for r in rsa.values() if lab in r.vs_reference]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            rs[lab] = {"value": float(np.mean(vals)), "n": len(vals), "reason": ""}
        elif lab not in emg_have:
            rs[lab] = {"value": math.nan, "n": 0, "reason": scores["emg_r"][lab]["reason"] or "no activation"}
        else:
            why = "; ".join(r.note for r in rsa.values() if r.note) or "RSA undefined (flat similarity matrices)"
            rs[lab] = {"value": math.nan, "n": 0, "reason": why}
    scores["rsa"] = rs
    scores = {c.key: scores[c.key] for c in CRITERIA}
    ranks = {
        c.key: _rank({lab: scores[c.key][lab]["value"] for lab in labels}, c.higher_is_better, c.resolution)
        for c in CRITERIA
    }

    used = [k for k in OVERALL if all(ranks[k][lab] is not None for lab in labels)]
    left = [k for k in OVERALL if k not in used]
    if left:
        notes.append("overall rank without " + ", ".join(_CRITERION[k].label for k in left)
                     + " (not available for every input)")  # fmt: skip
    mean_rank = {lab: float(np.mean([ranks[k][lab] for k in used])) if used else math.nan for lab in labels}
    orank = _rank(mean_rank, higher_is_better=False, resolution=1e-9)
    overall = {lab: {"mean_rank": mean_rank[lab], "rank": orank[lab], "criteria": used} for lab in labels}
    if not used:
        notes.append("no overall rank: no criterion is available for every input")

    tests = _tests(labels, items, same_ref)
    return Comparison(labels, inputs, items, shared, scores, ranks, overall, used, tests, rsa, notes)


def _tests(labels: list[str], items: dict[str, dict[str, dict[str, float]]], same_ref: dict[str, bool]) -> list[dict]:
    """Paired Wilcoxon tests for every family and pair of inputs; Holm within each family (over its pairs)."""
    rows: list[dict[str, Any]] = []
    for fam in FAMILIES:
        block = []
        for a, b in itertools.combinations(labels, 2):
            ia, ib = items[fam.key][a], items[fam.key][b]
            keys = [k for k in ia if k in ib]
            row: dict[str, Any] = {"family": fam.key, "label": fam.label, "units": fam.units, "a": a, "b": b}
            if not same_ref[fam.key]:
                row.update(paired_wilcoxon(np.empty(0), np.empty(0)), note="validated against different references")
            else:
                va, vb = np.array([ia[k] for k in keys]), np.array([ib[k] for k in keys])
                row.update(paired_wilcoxon(va, vb))
                row["items"] = [
                    k for k, x, y in zip(keys, va, vb, strict=True) if math.isfinite(x) and math.isfinite(y)
                ]
            block.append(row)
        for row, ph in zip(block, holm([r["p"] for r in block]), strict=True):
            row["p_holm"] = float(ph)
            row["significant"] = bool(math.isfinite(ph) and ph < ALPHA)
            e = row["effect"]  # rank-biserial: > 0 when a's values are the larger ones
            row["negligible"] = bool(math.isfinite(row["median_diff"]) and abs(row["median_diff"]) < fam.negligible)
            if row["significant"] and math.isfinite(e) and e != 0 and not row["negligible"]:
                better_a = (e > 0) == fam.higher_is_better
                row["better"] = row["a"] if better_a else row["b"]
            else:
                row["better"] = None
        rows += block
    return rows
