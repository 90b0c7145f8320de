"""The muscle-redundancy gap: how much better a trial matches human kinematics than human muscle activity.

Many muscle patterns produce the same joint motion, so a simulation can reproduce the joint angles
closely while its muscle activations differ from human EMG. The gap puts the two fidelities side by
side for one trial and one side of the body.

Definitions (all dimensionless, unit ``'1'``):

* **Kinematic fidelity** ``K`` — the arithmetic mean of the Pearson r between the trial's mean cycle
  and the reference mean cycle over the joint angles compared (``r_j``, one per joint angle).
* **Activation fidelity** ``A`` — the arithmetic mean of the Pearson r between the trial's mean
  activation (or EMG) cycle and the reference mean EMG over the muscles compared (``r_m``).
* r values that are not available (NaN: flat signal, unmatched muscle, no cycle) are **left out**
  of the means, never counted as 0; how many were used and how many left out is reported
  (``n_joints``, ``n_joints_na``, ``n_muscles``, ``n_muscles_na``). A mean over nothing is n/a.
  Plain means of r are used (no Fisher z): the index compares two averages on the same scale, and
  z would stretch the high kinematic r far more than the lower activation r.
* **Human ceiling** ``c`` — the value the same r reaches between humans (inter-subject, human vs
  human reference), per variable or one number for all. Relative fidelity is the **ratio of means**
  over the variables that have both an r and a positive ceiling:
  ``K_rel = Σ r_j / Σ c_j`` (likewise ``A_rel``); with one number ``c`` for all, ``K_rel = K / c``.
  The ratio of means (not the mean of ratios) keeps a muscle with a low human ceiling (rectus
  femoris, r ≈ 0.3 between people) from dominating.
* **Gap** ``G = K − A``: positive when kinematics are matched better than muscle activity.
* **Relative gap** ``G_rel = K_rel − A_rel``: the same after each fidelity is expressed as a fraction
  of what humans reach (1 = as close as another human). n/a, with the reason, when either ceiling is
  missing.

A trial with ``G_rel`` near 0 matches muscle activity as well as kinematics (relative to human
variability); a large positive ``G_rel`` is the redundancy gap: right motion, different muscles.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mmbio.analysis.result import Metric, MetricTree

Ceiling = Mapping[str, float | None] | float | None


def _val(x: float | Metric | None) -> float:
    if x is None:
        return float("nan")
    if isinstance(x, Metric):
        return float(x.value)
    return float(x)


def _ceiling_of(ceiling: Ceiling, name: str) -> float:
    if ceiling is None:
        return float("nan")
    if isinstance(ceiling, Mapping):
        return _val(ceiling.get(name))
    return float(ceiling)


def _fidelity(r: Mapping[str, float | Metric], ceiling: Ceiling, what: str, unit: str) -> dict[str, Metric | float]:
    """Mean r, its relative version and counts for one kind (joints or muscles)."""
    vals = {k: _val(v) for k, v in r.items()}
    ok = {k: v for k, v in vals.items() if np.isfinite(v)}
    n_na = len(vals) - len(ok)
    if ok:
        fid = Metric(float(np.mean(list(ok.values()))), "1")
    else:
        fid = Metric.na("1", f"no {what} r available ({n_na} n/a)" if vals else f"no {what} compared")
    if ceiling is None:
        rel = Metric.na("1", f"no human ceiling for the {what}")
    elif not ok:
        rel = Metric.na("1", fid.reason)
    elif isinstance(ceiling, Mapping):
        both = [(v, _ceiling_of(ceiling, k)) for k, v in ok.items()]
        both = [(v, c) for v, c in both if np.isfinite(c) and c > 0]
        if not both:
            rel = Metric.na("1", f"no positive human ceiling for any {unit} with an r")
        else:
            rs, cs = zip(*both, strict=True)
            rel = Metric(float(np.sum(rs) / np.sum(cs)), "1")
    else:
        c = float(ceiling)
        rel = (
            Metric(fid.value / c, "1")
            if np.isfinite(c) and c > 0
            else Metric.na("1", f"human ceiling {c} is not positive")
        )
    return {"fidelity": fid, "rel": rel, "n": float(len(ok)), "n_na": float(n_na)}


def redundancy_gap(
    kin_r: Mapping[str, float | Metric],
    act_r: Mapping[str, float | Metric],
    kin_ceiling: Ceiling = None,
    act_ceiling: Ceiling = None,
) -> dict[str, Metric]:
    """The redundancy gap of one trial side (definitions in the module docstring).

    kin_r: joint angle → r; act_r: muscle → r (floats or :class:`Metric`; NaN = not available).
    kin_ceiling / act_ceiling: human ceiling per name, one number for all, or ``None``.
    Returns ``kinematic_fidelity``, ``activation_fidelity``, ``kinematic_fidelity_rel``,
    ``activation_fidelity_rel``, ``gap``, ``gap_rel`` ('1') and ``n_joints``, ``n_joints_na``,
    ``n_muscles``, ``n_muscles_na`` ('count').
    """
    k = _fidelity(kin_r, kin_ceiling, "joint angles", "joint angle")
    a = _fidelity(act_r, act_ceiling, "muscles", "muscle")
    kf, af, kr, ar = k["fidelity"], a["fidelity"], k["rel"], a["rel"]
    assert isinstance(kf, Metric) and isinstance(af, Metric) and isinstance(kr, Metric) and isinstance(ar, Metric)
    if kf.available and af.available:
        gap = Metric(kf.value - af.value, "1")
    else:
        gap = Metric.na("1", "; ".join(m.reason for m in (kf, af) if not m.available))
    if kr.available and ar.available:
        gap_rel = Metric(kr.value - ar.value, "1")
    else:
        gap_rel = Metric.na("1", "; ".join(m.reason for m in (kr, ar) if not m.available))
    return {
        "kinematic_fidelity": kf,
        "activation_fidelity": af,
        "kinematic_fidelity_rel": kr,
        "activation_fidelity_rel": ar,
        "gap": gap,
        "gap_rel": gap_rel,
        "n_joints": Metric(float(k["n"]), "count"),
        "n_joints_na": Metric(float(k["n_na"]), "count"),
        "n_muscles": Metric(float(a["n"]), "count"),
        "n_muscles_na": Metric(float(a["n_na"]), "count"),
    }


def gap_table(
    kin_r: Mapping[str, float | Metric],
    act_r: Mapping[str, float | Metric],
    kin_ceiling: Ceiling = None,
    act_ceiling: Ceiling = None,
) -> pd.DataFrame:
    """One row per joint angle and per muscle: ``name, kind ('joint'|'muscle'), r, ceiling, relative``.

    ``relative`` = r / ceiling for that row (NaN when either is missing or the ceiling is not positive);
    the summary numbers are those of :func:`redundancy_gap` (ratio of means, not the mean of this column).
    """
    rows = []
    for kind, rs, ceil in (("joint", kin_r, kin_ceiling), ("muscle", act_r, act_ceiling)):
        for name, r in rs.items():
            v = _val(r)
            c = _ceiling_of(ceil, name)
            rel = v / c if np.isfinite(v) and np.isfinite(c) and c > 0 else float("nan")
            rows.append({"name": name, "kind": kind, "r": v, "ceiling": c, "relative": rel})
    return pd.DataFrame(rows, columns=["name", "kind", "r", "ceiling", "relative"])


def inputs_from_tree(
    tree: MetricTree, side: str, *, kin_domain: str = "kinematics", emg_domain: str = "emg", metric: str = "r"
) -> tuple[dict[str, Metric], dict[str, Metric], dict[str, float | None], dict[str, float | None]]:
    """``(kin_r, act_r, kin_ceiling, act_ceiling)`` of one side from a metric tree.

    Reads ``tree[kin_domain][side][joint][metric]`` and ``tree[emg_domain][side][muscle][metric]``;
    ceilings come from each :attr:`Metric.ceiling` (``None`` where absent).
    """
    kin = {v: ms[metric] for v, ms in tree.get(kin_domain, {}).get(side, {}).items() if metric in ms}
    act = {v: ms[metric] for v, ms in tree.get(emg_domain, {}).get(side, {}).items() if metric in ms}
    return kin, act, {k: m.ceiling for k, m in kin.items()}, {k: m.ceiling for k, m in act.items()}
