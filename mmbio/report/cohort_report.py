"""Cohort outputs of ``mmbio validate A B C …`` (:mod:`mmbio.cohort`): the tidy table and the cohort PDF.

:func:`cohort_table` reads every input's ``metrics.json`` into one row per input × metric (``cohort.csv``; inputs
that failed to validate are one ``error`` row each). :func:`write_cohort_pdf` draws:

1. **Summary**: inputs validated / failed / resumed, the protocol's pass rate per check (pass · warn · fail · n/a
   per input), the worst inputs (most failed checks) and every error with its message.
2. **Distributions** of the key metrics over the inputs (one dot per input, box = quartiles), the human ceiling's
   median marked: joint-angle r, activation–EMG r, GRF shape r, and the redundancy gap.
3. **Pooled curves**: each input's mean cycle (thin), their mean ± SD across inputs (the cohort), and the
   reference mean ± SD band, for the sagittal joint angles, the vertical GRF and the EMG of the first side.
4. **Redundancy gap across inputs**: kinematic vs activation fidelity per input (1 = as close as another human).
5. **Training run** (a folder of ``mmbio train`` checkpoints): kinematic and activation fidelity, and the gap,
   against the update number: the gap over training time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COHORT_COLUMNS", "cohort_table", "write_cohort_pdf"]

COHORT_COLUMNS: tuple[str, ...] = (
    "name", "input", "update", "status", "domain", "side", "variable", "metric", "value", "units", "ceiling",
    "check_status", "error",
)  # fmt: skip
#: metric domains flattened into the table
DOMAINS: tuple[str, ...] = ("kinematics", "grf", "emg", "synergies", "redundancy")


def _leaves(doc: dict[str, Any], domain: str) -> list[tuple[str, str, str, Any, str, Any]]:
    """(side, variable, metric, value, units, ceiling) of every metric of a domain of a metrics.json."""
    out = []
    for side, variables in (doc.get(domain) or {}).items():
        if not isinstance(variables, dict):
            continue
        for var, metrics in variables.items():
            if not isinstance(metrics, dict):
                continue
            for name, m in metrics.items():
                if isinstance(m, dict) and "value" in m and not isinstance(m["value"], dict):
                    ceil = (m.get("ceiling") or {}).get("value") if isinstance(m.get("ceiling"), dict) else None
                    out.append((side, var, name, m.get("value"), str(m.get("units", "")), ceil))
    return out


def _doc(out: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads((out / name / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def cohort_table(rows: Sequence[dict[str, Any]], out: Path) -> pd.DataFrame:
    """One row per input × metric (:data:`COHORT_COLUMNS`) from each input's ``out/<name>/metrics.json``."""
    recs: list[tuple[Any, ...]] = []
    for r in rows:
        base = (r["name"], r["input"], r.get("update"), r["status"])
        doc = None if r["status"] == "error" else _doc(out, r["name"])
        if doc is None:
            recs.append((*base, "", "", "", "", None, "", None, "", r.get("error") or "no metrics.json"))
            continue
        n_before = len(recs)
        for dom in DOMAINS:
            recs += [(*base, dom, s, v, m, val, u, c, "", "") for s, v, m, val, u, c in _leaves(doc, dom)]
        if len(recs) == n_before:  # e.g. a policy that fell before its first gait cycle: one row saying so
            fell = (doc.get("trial") or {}).get("controller", {}).get("fell_at") or {}
            notes = doc.get("notes") or ["no metrics"]
            why = f"fell at {fell['value']:.2f} s, before a gait cycle" if doc.get("fell") and fell else notes[0]
            recs.append((*base, "", "", "", "", None, "", None, "", why))
        cred = doc.get("credibility") or {}
        for c in cred.get("checks") or []:
            parts = str(c.get("metric", "")).split(".")
            recs.append((*base, "credibility", "whole", parts[2] if len(parts) > 2 else c.get("metric"), "value",
                         c.get("value"), c.get("units", ""), None, c.get("status", ""), ""))  # fmt: skip
        for c in (doc.get("protocol") or {}).get("checks") or []:
            parts = str(c.get("metric", "")).split(".")
            if len(parts) >= 4:
                recs.append((*base, "protocol", parts[1], parts[2], str(c.get("metric")), c.get("value"),
                             c.get("units", ""), c.get("ceiling"), c.get("status", ""), ""))  # fmt: skip
    df = pd.DataFrame(recs, columns=list(COHORT_COLUMNS))
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["ceiling"] = pd.to_numeric(df["ceiling"], errors="coerce")
    return df


# --------------------------------------------------------------------------------------------------------- figures


def _summary_page(rows: Sequence[dict[str, Any]], table: pd.DataFrame, title: str) -> Any:
    import matplotlib.pyplot as plt

    from mmbio.report.scorecard import STATUS_COLOR

    fig = plt.figure(figsize=(8.27, 11.69))
    n = len(rows)
    n_err = sum(r["status"] == "error" for r in rows)
    n_pass = sum(r["status"] == "pass" for r in rows)
    n_na = sum(r["status"] == "n/a" for r in rows)
    n_skip = sum(bool(r.get("skipped")) for r in rows)
    fig.text(0.06, 0.955, title, fontsize=15, fontweight="bold", va="top")
    na = f", {n_na} n/a: no gait cycle" if n_na else ""
    fig.text(0.06, 0.925, f"{n} inputs: {n - n_err} validated ({n_pass} pass, {n - n_err - n_pass - n_na} fail{na}), "
             f"{n_err} could not be validated; {n_skip} taken from an earlier run (resumed)", fontsize=9,
             va="top")  # fmt: skip
    prot = table[table.domain == "protocol"]
    y0 = 0.89
    if len(prot):
        prot = prot.assign(check=prot.metric)
        counts = prot.groupby("check").check_status.value_counts().unstack(fill_value=0)
        for s in ("pass", "warn", "fail", "n/a"):
            if s not in counts:
                counts[s] = 0
        counts = counts[["pass", "warn", "fail", "n/a"]]
        counts = counts.loc[(counts["fail"] + 0.5 * counts["warn"]).sort_values(ascending=False, kind="stable").index]
        shown = counts.head(28)
        h = 0.018 * len(shown) + 0.05
        ax = fig.add_axes([0.36, y0 - h, 0.58, h - 0.03])
        left = np.zeros(len(shown))
        for s in shown.columns:
            ax.barh(
                np.arange(len(shown)), shown[s].to_numpy(), left=left, color=STATUS_COLOR.get(s, "#bbbbbb"), label=s
            )
            left += shown[s].to_numpy()
        ax.set_yticks(np.arange(len(shown)), [c[:44] for c in shown.index], fontsize=6.5)
        ax.invert_yaxis()
        ax.set_xlabel("inputs", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.4, -0.06 / h), frameon=False)
        more = f"; the {len(shown)} most failed of {len(counts)}" if len(counts) > len(shown) else ""
        ax.set_title(f"Protocol checks: inputs per verdict{more}", fontsize=9, loc="left")
        y0 -= h + 0.05
    lines: list[str] = []
    if len(prot):
        fails = prot[prot.check_status == "fail"].groupby("name").size().sort_values(ascending=False)
        if len(fails):
            lines.append("Worst inputs (failed protocol checks):")
            lines += [f"  {nm}: {k} failed" for nm, k in fails.head(8).items()]
    errs = [r for r in rows if r["status"] == "error"]
    if errs:
        lines.append(f"Not validated ({len(errs)}):")
        lines += [f"  {r['name']}: {str(r.get('error') or '')[:110]}" for r in errs[:12]]
        if len(errs) > 12:
            lines.append(f"  … and {len(errs) - 12} more (cohort.json)")
    for i, ln in enumerate(lines[:40]):
        fig.text(0.06, y0 - 0.016 * i, ln, fontsize=7.5, va="top", family="monospace")
    return fig


def _strip(ax: Any, groups: dict[str, np.ndarray], ceilings: dict[str, float], xlabel: str) -> None:
    names = list(groups)
    for i, k in enumerate(names):
        x = groups[k][np.isfinite(groups[k])]
        if x.size:
            ax.boxplot([x], positions=[i], orientation="horizontal", widths=0.6, showfliers=False,
                       medianprops={"color": "#333333"}, boxprops={"color": "#999999"},
                       whiskerprops={"color": "#999999"}, capprops={"color": "#999999"})  # fmt: skip
            jitter = (np.random.default_rng(i).random(x.size) - 0.5) * 0.3
            ax.plot(x, i + jitter, "o", ms=2.5, color="#1f77b4", alpha=0.7)
        c = ceilings.get(k)
        if c is not None and np.isfinite(c):
            ax.plot([c], [i], marker="|", ms=12, mew=2, color="#d62728")
    ax.set_yticks(np.arange(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)


def _groups(table: pd.DataFrame, domain: str, metric: str, side: str | None = None) -> tuple[dict, dict]:
    sel = table[(table.domain == domain) & (table.metric == metric)]
    if side:
        sel = sel[sel.side == side]
    groups, ceil = {}, {}
    for (s, v), g in sel.groupby(["side", "variable"], sort=False):
        if g.value.notna().any():
            key = f"{v} ({str(s)[0].upper()})" if side is None else v
            groups[key] = g.value.to_numpy(dtype=float)
            ceil[key] = float(np.nanmedian(g.ceiling)) if g.ceiling.notna().any() else float("nan")
    return groups, ceil


def _distributions_page(table: pd.DataFrame) -> Any | None:
    import matplotlib.pyplot as plt

    panels = [("kinematics", "r", "right", "joint angle r (right)"), ("emg", "r", None, "activation/EMG r"),
              ("grf", "r", None, "vertical GRF r"), ("redundancy", "gap", None, "redundancy gap")]  # fmt: skip
    found = [(p, *_groups(table, p[0], p[1], p[2])) for p in panels]
    found = [f for f in found if f[1]]
    if not found:
        return None
    fig = plt.figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.965, "Distributions over the inputs", fontsize=13, fontweight="bold", va="top")
    fig.text(0.06, 0.94, "one dot per input; box: quartiles; red tick: the human ceiling (median over the inputs' "
             "ceilings: humans against each other on the same metric)", fontsize=7.5, va="top")  # fmt: skip
    sizes = [max(len(g), 2) for _, g, _ in found]
    top, avail = 0.91, 0.85
    unit = avail / (sum(sizes) + 2.5 * len(found))
    y = top
    for (_dom, _metric, _side, label), g, c in found:
        h = unit * max(len(g), 2)
        ax = fig.add_axes([0.3, y - h, 0.64, h])
        _strip(ax, g, c, label)
        y -= h + 2.5 * unit
    return fig


def _pooled_page(out: Path, rows: Sequence[dict[str, Any]]) -> Any | None:
    import matplotlib.pyplot as plt

    frames = []
    for r in rows:
        f = out / r["name"] / "curves.csv"
        if r["status"] != "error" and f.is_file():
            try:
                frames.append(pd.read_csv(f).assign(name=r["name"]))
            except (OSError, ValueError):
                continue
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    want = [("kinematics", v) for v in ("hip_flexion", "knee_flexion", "ankle_dorsiflexion", "pelvis_tilt")]
    want += [("grf", "grf_vertical"), ("grf", "vertical")]
    want += [("emg", v) for v in ("soleus", "tibialis_anterior", "gastrocnemius_medialis", "vastus_medialis",
                                  "rectus_femoris", "semitendinosus", "gluteus_maximus", "gluteus_medius")]  # fmt: skip
    side = "right" if (df.side == "right").any() else str(df.side.iloc[0])
    panels = []
    for dom, var in want:
        g = df[(df.domain == dom) & (df.variable == var) & (df.side == side)]
        if g.empty:
            continue
        panels.append((dom, var, g))
    if not panels:
        return None
    fig, axes = plt.subplots(int(np.ceil(len(panels) / 3)), 3, figsize=(8.27, 11.69), squeeze=False)
    fig.suptitle(f"Pooled curves across inputs ({side} side): each input's mean (thin), the cohort's mean ± SD "
                 "(blue), the reference mean ± SD (grey)", fontsize=8.5, y=0.985)  # fmt: skip
    for ax, (_dom, var, g) in zip(axes.ravel(), panels, strict=False):
        wide = g.pivot_table(index="pct", columns="name", values="trial_mean")
        pct = wide.index.to_numpy(dtype=float)
        ref = g.groupby("pct")[["ref_mean", "ref_sd"]].first().reindex(pct)
        if ref.ref_mean.notna().any():
            m, s = ref.ref_mean.to_numpy(float), ref.ref_sd.to_numpy(float)
            ax.plot(pct, m, color="#555555", lw=1)
            if np.isfinite(s).any():
                ax.fill_between(pct, m - s, m + s, color="#cccccc", alpha=0.6, lw=0)
        vals = wide.to_numpy(dtype=float)
        ax.plot(pct, vals, color="#1f77b4", lw=0.4, alpha=0.35)
        mu, sd = np.nanmean(vals, axis=1), np.nanstd(vals, axis=1, ddof=1) if vals.shape[1] > 1 else None
        ax.plot(pct, mu, color="#1f77b4", lw=1.6)
        if sd is not None:
            ax.fill_between(pct, mu - sd, mu + sd, color="#1f77b4", alpha=0.2, lw=0)
        ax.set_title(f"{var} (n = {vals.shape[1]})", fontsize=8, loc="left")
        ax.set_xlabel(f"% {g.basis.iloc[0] if 'basis' in g else 'cycle'}", fontsize=7)
        ax.set_ylabel(str(g.units.iloc[0]), fontsize=7)
        ax.tick_params(labelsize=6.5)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.975))
    return fig


def _fidelity(table: pd.DataFrame, side: str) -> pd.DataFrame:
    red = table[(table.domain == "redundancy") & (table.side == side) & (table.variable == "gap")]
    return red.pivot_table(index=["name", "update"], columns="metric", values="value", dropna=False).reset_index()


def _redundancy_page(table: pd.DataFrame, training_run: bool) -> Any | None:
    import matplotlib.pyplot as plt

    sides = [s for s in ("right", "left") if ((table.domain == "redundancy") & (table.side == s)).any()]
    if not sides:
        return None
    fig = plt.figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.965, "Redundancy gap across inputs" + (" and over training" if training_run else ""),
             fontsize=13, fontweight="bold", va="top")  # fmt: skip
    fig.text(0.06, 0.94, "fidelity relative to the human ceiling (Σ r / Σ ceiling; 1 = as close as another human): "
             "joint angles against activations; the gap is their difference", fontsize=7.5, va="top")  # fmt: skip
    ax = fig.add_axes([0.12, 0.52, 0.76, 0.38])
    for s, mk in zip(sides, ("o", "s"), strict=False):
        f = _fidelity(table, s)
        if {"kinematic_fidelity_rel", "activation_fidelity_rel"} <= set(f.columns):
            ax.plot(f.kinematic_fidelity_rel, f.activation_fidelity_rel, mk, ms=4, alpha=0.75, label=s)
    ax.plot([0, 1.2], [0, 1.2], color="#999999", lw=0.8, ls="--")
    ax.axhline(1.0, color="#d62728", lw=0.6, ls=":")
    ax.axvline(1.0, color="#d62728", lw=0.6, ls=":")
    ax.set_xlabel("kinematic fidelity (relative)", fontsize=8)
    ax.set_ylabel("activation fidelity (relative)", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if training_run:
        ax2 = fig.add_axes([0.12, 0.08, 0.76, 0.34])
        for s, ls in zip(sides, ("-", "--"), strict=False):
            f = _fidelity(table, s).sort_values("update")
            for col, color, lab in (("kinematic_fidelity_rel", "#2ca02c", "kinematic"),
                                    ("activation_fidelity_rel", "#9467bd", "activation"),
                                    ("gap", "#d62728", "gap")):  # fmt: skip
                if col in f:
                    ax2.plot(f["update"], f[col], ls, marker="o", ms=3, color=color, label=f"{lab} ({s})")
        fell = table[table.error.astype(str).str.startswith("fell") & table["update"].notna()]
        if len(fell):
            ax2.plot(fell["update"], np.zeros(len(fell)), "x", ms=7, color="#333333", label="fell before a gait cycle")
        ax2.set_xlabel("PPO update", fontsize=8)
        ax2.set_ylabel("relative fidelity / gap", fontsize=8)
        ax2.set_title("The gap over training time (one validation per checkpoint)", fontsize=9, loc="left")
        ax2.legend(fontsize=7, ncol=2)
        ax2.grid(alpha=0.3)
    return fig


def write_cohort_pdf(rows: Sequence[dict[str, Any]], table: pd.DataFrame, out: Path, path: Path, *,
                     training_run: bool = False, title: str = "mmbio cohort validation") -> Path:  # fmt: skip
    """The cohort PDF (module docstring) at ``path``; pages without data are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    from mmbio.io.atomic import atomic_path

    pages = [_summary_page(rows, table, title), _distributions_page(table), _pooled_page(out, rows),
             _redundancy_page(table, training_run)]  # fmt: skip
    with atomic_path(path) as tmp, PdfPages(tmp, metadata={"Title": title, "Creator": "mmbio"}) as pdf:
        for fig in pages:
            if fig is not None:
                pdf.savefig(fig)
                plt.close(fig)
    return path
