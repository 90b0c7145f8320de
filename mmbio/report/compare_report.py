"""The comparison report (``mmbio compare``): ``report.pdf``, ``compare.csv``, ``tests.csv`` and ``compare.json``.

Pages (A4 portrait): the ranking (what each input is, one row per input in rank order with every criterion's value
and rank, n/a with its reason); the per-item values (one panel per family, one marker per input and item); the
paired Wilcoxon tests (Holm-corrected within each family); the representational similarity of the activation
patterns (RDMs of the EMG reference and of each input, RSA with the reference and between inputs); methods and notes.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

import mmbio
from mmbio.analysis.compare import (
    ALPHA,
    CRITERIA,
    EXACT_PERM_MAX,
    FAMILIES,
    MIN_INFORMATIVE_PAIRS,
    N_PERM_SAMPLED,
    OVERALL,
    REFERENCE_LABEL,
    Comparison,
)
from mmbio.io.atomic import atomic_path
from mmbio.provenance import git_revision
from mmbio.report.figure_style import A4, CONTENT_BOTTOM, SOURCE_COLORS, SOURCE_MARKERS, STYLE, _style_axes, pretty
from mmbio.report.pdf import _creation_date, _text_pages
from mmbio.report.scorecard import _blank, _fit, _fit_left, _wrap

__all__ = ["write_compare_csv", "write_compare_json", "write_compare_report", "write_tests_csv"]

#: input colours (colour-blind safe; the sides' blue/orange are kept for the sides elsewhere)
INPUT_COLORS = ("#0072B2", "#D55E00", "#009E73", *SOURCE_COLORS)
_SHORT = {"kinematic_r": "kin. r", "kinematic_rmse": "kin. RMSE", "grf_r": "GRF r", "emg_r": "act.–EMG r",
          "gap": "red. gap", "rsa": "RSA"}  # fmt: skip


def _color(i: int) -> str:
    return INPUT_COLORS[i % len(INPUT_COLORS)]


def _f(v: Any, spec: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _p(v: Any) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return "<1e-4" if v < 1e-4 else f"{v:.4f}"


def _rank(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


# ------------------------------------------------------------------------------------------------ tables


def _table(fig: Figure, rect: tuple[float, float, float, float], cells: list[list[str]], head: list[str],
           col_widths: list[float] | None = None, fs: float = 7.0, colors: dict[tuple[int, int], str] | None = None,
           align: str = "center") -> Any:  # fmt: skip
    """A table in ``rect`` (page fractions), header shaded, rows of fixed height from the top."""
    ax = fig.add_axes(rect)
    ax.axis("off")
    t = ax.table(cellText=cells, colLabels=head, loc="upper center", cellLoc=align, colWidths=col_widths)
    t.auto_set_font_size(False)
    t.set_fontsize(fs)
    n = len(cells) + 1
    h = min(1.0 / max(n, 1), 0.018 * A4[1] / (rect[3] * A4[1]))  # rows at most ~0.21 in high
    for (i, j), cell in t.get_celld().items():
        cell.set_linewidth(0.3)
        cell.set_height(h)
        if i == 0:
            cell.set_facecolor("#e6e6e6")
            cell.get_text().set_fontweight("bold")
        if colors and (i, j) in colors:
            cell.set_facecolor(colors[(i, j)])
    return t


def _text(fig: Figure, x: float, y: float, s: str, width_in: float, fs: float = 7.5, **kw: Any) -> float:
    """Wrapped text from ``y`` down; returns the y below it."""
    lines = _wrap(s, width_in, fs)
    fig.text(x, y, "\n".join(lines), fontsize=fs, va="top", ha="left", color=kw.pop("color", "#333333"), **kw)
    return y - len(lines) * fs * 1.45 / 72 / A4[1]


def _ranking_page(c: Comparison) -> Figure:
    fig = _blank()
    fig.text(0.5, 0.945, f"{len(c.labels)} inputs compared", ha="center", va="top", fontsize=13, fontweight="bold")
    ref = c.inputs[0]["reference"]
    refs = {i["reference"] for i in c.inputs}
    erefs = {i["emg_reference"] for i in c.inputs}
    sub = f"reference {ref}" if len(refs) == 1 else "DIFFERENT references: " + ", ".join(sorted(refs))
    if len(erefs) == 1 and None not in erefs:
        sub += f"; EMG reference {next(iter(erefs))}"
    fig.text(0.5, 0.918, sub, ha="center", va="top", fontsize=8.5, color="#333333")
    # what each input is
    cells = []
    for i in c.inputs:
        cy = i["cycles"]
        cells.append([i["label"], i["kind"], _fit_left(str(i["source"]), 3.2, 6.5),
                      f"{cy.get('right', 0)} / {cy.get('left', 0)}", "; ".join(_flag_short(f) for f in i["flags"]) or "—"])  # fmt: skip
    y = 0.895
    n_rows = len(cells) + 1
    h = 0.0155 * n_rows
    fig.text(0.04, y, "Inputs", fontsize=9.5, fontweight="bold", va="top", color="#1a3d6d")
    _table(fig, (0.04, y - 0.018 - h, 0.92, h), cells, ["input", "what", "source", "cycles R / L", "flags"],
           [0.16, 0.14, 0.38, 0.1, 0.22], fs=6.5)  # fmt: skip
    y = y - 0.03 - h
    # the ranking
    fig.text(0.04, y, "Ranking (value, rank in brackets; 1 = best)", fontsize=9.5, fontweight="bold", va="top",
             color="#1a3d6d")  # fmt: skip
    head = ["overall", "input"] + [f"{cr.label}{'*' if cr.key in c.overall_criteria else ''}\n"
                                   f"[{cr.units if cr.units != '1' else 'r'}, {'↑' if cr.higher_is_better else '↓'}]"
                                   for cr in CRITERIA]  # fmt: skip
    rows, colors = [], {}
    reasons: dict[str, int] = {}
    for ri, lab in enumerate(c.order(), start=1):
        o = c.overall[lab]
        row = [_rank(o["rank"]) + (f" ({o['mean_rank']:.2f})" if o["rank"] is not None else ""), _fit(lab, 1.12, 6.6)]
        for cj, cr in enumerate(CRITERIA, start=2):
            s = c.scores[cr.key][lab]
            rk = c.ranks[cr.key][lab]
            if rk is None:
                why = s.get("reason") or "n/a"
                k = reasons.setdefault(why, len(reasons) + 1)
                row.append(f"n/a [{k}]")
                colors[(ri, cj)] = "#f2f2f2"
            else:
                row.append(f"{_f(s['value'], '.2f' if cr.units == 'deg' else '.3f')} ({_rank(rk)})")
                if rk == 1.0:
                    colors[(ri, cj)] = "#d9ead3"
        rows.append(row)
    h = 0.0175 * (len(rows) + 2)
    t = _table(fig, (0.04, y - 0.02 - h, 0.92, h), rows, head, [0.085, 0.155] + [0.76 / len(CRITERIA)] * len(CRITERIA),
               fs=6.6, colors=colors)  # fmt: skip
    for (i, _j), cell in t.get_celld().items():
        if i == 0:
            cell.set_height(cell.get_height() * 2)
    y = y - 0.035 - h
    used = ", ".join(cr.label for cr in CRITERIA if cr.key in c.overall_criteria) or "none"
    y = _text(fig, 0.04, y, f"* in the overall rank (the mean of the starred ranks; mean in brackets): {used}. "
              "Every score is the mean over the items (joint angles, GRF components, muscles) that every input has; "
              "↑ higher is better, ↓ lower is better. Green: best on that criterion.", 7.3)  # fmt: skip
    if reasons:
        y -= 0.006
        for why, k in reasons.items():
            y = _text(fig, 0.05, y, f"[{k}] {why}", 7.0, fs=7.0)
    # the scores as bars, one panel per criterion, one bar per input
    top = y - 0.05
    bottom = max(CONTENT_BOTTOM + 0.03, top - min(0.04 * len(c.labels) + 0.04, 0.26))
    if top - bottom > 0.08:
        n = len(CRITERIA)
        w = 0.92 / n
        for k, cr in enumerate(CRITERIA):
            ax = fig.add_axes((0.04 + k * w + 0.02, bottom, w - 0.035, top - bottom))
            _style_axes(ax)
            for i, lab in enumerate(c.labels):
                v = c.scores[cr.key][lab]["value"]
                if math.isfinite(v):
                    ax.barh(i, v, color=_color(i), height=0.7)
                else:
                    ax.text(0.02, i, "n/a", va="center", fontsize=6.5, color="#777777",
                            transform=ax.get_yaxis_transform())  # fmt: skip
            ax.set_yticks(range(len(c.labels)), [""] * len(c.labels))
            ax.set_ylim(len(c.labels) - 0.5, -0.5)
            ax.axvline(0, color="#666666", lw=0.6)
            unit = "" if cr.units == "1" else f" [{cr.units}]"
            ax.set_title(f"{_SHORT[cr.key]}{unit} {'↑' if cr.higher_is_better else '↓'}", fontsize=7.5)
            ax.tick_params(axis="x", labelsize=6.5)
        handles = [mpl.patches.Patch(color=_color(i), label=lab) for i, lab in enumerate(c.labels)]
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, top + 0.018), ncols=min(len(handles), 6),
                   frameon=False, fontsize=7)  # fmt: skip
    return fig


def _labels(keys: Any) -> str:
    names = {cr.key: cr.label for cr in CRITERIA}
    return ", ".join(names[k] for k in keys)


def _flag_short(flag: str) -> str:
    return flag.split(":")[0]


def _items_page(c: Comparison) -> Figure:
    fig = _blank()
    fig.text(0.5, 0.945, "Per-item values", ha="center", va="top", fontsize=13, fontweight="bold")
    fams = [f for f in FAMILIES if any(math.isfinite(v) for lab in c.labels for v in c.items[f.key][lab].values())]
    top, bottom = 0.90, CONTENT_BOTTOM + 0.07
    n = max(len(fams), 1)
    hgt = (top - bottom) / n
    for k, fam in enumerate(fams):
        keys = list(dict.fromkeys(k for lab in c.labels for k, v in c.items[fam.key][lab].items() if math.isfinite(v)))
        ax = fig.add_axes((0.08, top - (k + 1) * hgt + 0.06, 0.88, hgt - 0.085))
        _style_axes(ax)
        x = np.arange(len(keys))
        m = len(c.labels)
        for i, lab in enumerate(c.labels):
            y = np.array([c.items[fam.key][lab].get(key, np.nan) for key in keys], float)
            off = (i - (m - 1) / 2) * min(0.12, 0.7 / m)
            ax.scatter(x + off, y, s=13, color=_color(i), marker=SOURCE_MARKERS[i % len(SOURCE_MARKERS)],
                       label=lab, zorder=3, linewidths=0)  # fmt: skip
        shared = set(c.shared[fam.key])
        names = [f"{'R' if key.startswith('right') else 'L' if key.startswith('left') else ''} "
                 f"{pretty(key.split('.', 1)[-1])}" for key in keys]  # fmt: skip
        ax.set_xticks(x, names, rotation=55, ha="right", fontsize=5.8)
        for tick, key in zip(ax.get_xticklabels(), keys, strict=True):
            if key not in shared:
                tick.set_color("#999999")
        ax.set_xlim(-0.6, len(keys) - 0.4)
        unit = "" if fam.units == "1" else f" [{fam.units}]"
        ax.set_title(f"{fam.label}{unit} per {fam.item} ({'higher' if fam.higher_is_better else 'lower'} is better; "
                     "grey names: not in every input, left out of the scores)", fontsize=7.5)  # fmt: skip
        if k == 0:
            ax.legend(ncols=min(m, 6), fontsize=6.5, loc="lower center", bbox_to_anchor=(0.5, 1.1), frameon=False)
    if not fams:
        fig.text(0.5, 0.5, "no item was compared in any input", ha="center", fontsize=9)
    return fig


def _tests_pages(c: Comparison) -> list[Figure]:
    rows = c.tests
    per_page = 34
    pages = []
    chunks = [rows[i : i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    for pi, chunk in enumerate(chunks):
        fig = _blank()
        title = "Paired tests (Wilcoxon signed-rank, Holm)" + (f" ({pi + 1}/{len(chunks)})" if len(chunks) > 1 else "")
        fig.text(0.5, 0.945, title, ha="center", va="top", fontsize=13, fontweight="bold")
        y = _text(fig, 0.04, 0.915, "Each row pairs two inputs over the items both have (joint angles, GRF components "
                  "or muscles of both sides, matched by name); two-sided, zero differences dropped; p Holm-corrected "
                  f"within each family over its pairs; α = {ALPHA}. Effect: matched-pairs rank-biserial r (+1: A above "
                  "B on every item). The verdict names the input favoured when p_Holm < α; 'negligible': significant "
                  "but the median difference is below "
                  + ", ".join(f"{f.negligible:g}{'' if f.units == '1' else ' ' + f.units} ({f.label})" for f in FAMILIES)
                  + ".", 7.3)  # fmt: skip
        cells, colors = [], {}
        for i, r in enumerate(chunk, start=1):
            units = "" if r["units"] == "1" else f" {r['units']}"
            if r.get("better"):
                verdict = ("A" if r["better"] == r["a"] else "B") + " better"
            else:
                verdict = "n.s." if math.isfinite(r["p"]) else "—"
            if r["significant"] and r.get("negligible"):
                verdict = "negligible"
            cells.append([r["label"], _fit(r["a"], 0.74, 6.2), _fit(r["b"], 0.74, 6.2), f"{r['n']} ({r['n_nonzero']})", _f(r["median_a"]),
                          _f(r["median_b"]), _f(r["median_diff"]) + (units if math.isfinite(r["median_diff"]) else ""), _f(r["effect"], ".2f"), _p(r["p"]),
                          _p(r["p_holm"]), verdict])  # fmt: skip
            if r.get("better"):
                colors[(i, 10)] = "#d9ead3"
            if r["note"]:
                colors[(i, 3)] = "#fde9d9" if r["note"].startswith("underpowered") else "#f2f2f2"
        head = ["family", "A", "B", "n (≠0)", "median A", "median B", "median A−B", "effect", "p", "p Holm", "verdict"]
        h = 0.0165 * (len(cells) + 1)
        _table(fig, (0.03, y - 0.012 - h, 0.94, h), cells, head,
               [0.12, 0.1, 0.1, 0.07, 0.075, 0.075, 0.1, 0.06, 0.07, 0.07, 0.13], fs=6.2, colors=colors)  # fmt: skip
        y = y - 0.03 - h
        notes = sorted({r["note"] for r in chunk if r["note"]})
        if notes:
            y = _text(fig, 0.04, y, "n (≠0): items paired (non-zero differences). Shaded: " + "; ".join(notes), 7.0)
        pages.append(fig)
    return pages


def _rsa_page(c: Comparison) -> Figure:
    fig = _blank()
    fig.text(0.5, 0.945, "Representational similarity of the activation patterns", ha="center", va="top",
             fontsize=13, fontweight="bold")  # fmt: skip
    y = _text(fig, 0.04, 0.915, "RDM: 1 − Pearson r between two muscles' mean activation cycles (0: the same time "
              "course, 2: opposite); RSA: Spearman ρ between the lower triangles of two RDMs (1: the same coordination). "
              "p: one-sided permutation test over muscle labels (the share of relabellings matching the reference at "
              "least as well).", 7.3)  # fmt: skip
    sides = [s for s, r in c.rsa.items() if r.rsm]
    if not c.rsa or not sides:
        why = "; ".join(f"{s}: {r.note}" for s, r in c.rsa.items()) or "no input has activations compared with EMG"
        _text(fig, 0.04, y - 0.02, "No RSA: " + why, 7.5)
        return fig
    for s, r in c.rsa.items():
        if not r.rsm:
            y = _text(fig, 0.04, y - 0.004, f"{s} side: no RSA: {r.note}", 7.3, fs=7.3)
    top = y - 0.015
    block = (top - CONTENT_BOTTOM - 0.01) / len(sides)
    cmap = mpl.colormaps["viridis"]
    for si, side in enumerate(sides):
        r = c.rsa[side]
        y0 = top - si * block
        names = [REFERENCE_LABEL, *[lab for lab in c.labels if lab in r.vs_reference]]
        k = len(names)
        w = min(0.84 / k, 0.18)
        size_h = w * A4[0] / A4[1]
        fig.text(0.04, y0, f"{side} side: {len(r.muscles)} muscles", fontsize=9, fontweight="bold", va="top",
                 color="#1a3d6d")  # fmt: skip
        ticks = [pretty(m)[:15] for m in r.muscles]
        for j, nm in enumerate(names):
            ax = fig.add_axes((0.12 + j * w, y0 - 0.03 - size_h, w * 0.78, size_h * 0.78))
            im = ax.imshow(1.0 - r.rsm[nm], vmin=0.0, vmax=2.0, cmap=cmap)
            ax.set_xticks(range(len(ticks)), ticks if j == 0 else [""] * len(ticks), rotation=90, fontsize=5)
            ax.set_yticks(range(len(ticks)), ticks if j == 0 else [""] * len(ticks), fontsize=5)
            ax.tick_params(length=1.5)
            title = _fit(nm, w * A4[0] * 0.9, 6.5)
            if nm != REFERENCE_LABEL:
                title += f"\nρ = {_f(r.vs_reference[nm]['spearman'], '.2f')}"
            ax.set_title(title, fontsize=6.5)
        cax = fig.add_axes((0.12 + k * w - 0.02, y0 - 0.03 - size_h, 0.008, size_h * 0.78))
        fig.colorbar(im, cax=cax).ax.tick_params(labelsize=5.5)
        # RSA with the reference and between inputs
        yt = y0 - 0.065 - size_h
        cells = []
        for lab in names[1:]:
            v = r.vs_reference[lab]
            perm = f"{_p(v['p_perm'])} ({v['permutations']})"
            row = [_fit(lab, 0.95, 6.2), _f(v["spearman"]), _f(v["pearson"]), str(v["pairs"]), perm]
            for lab2 in names[1:]:
                if lab2 == lab:
                    row.append("—")
                else:
                    key = (lab, lab2) if (lab, lab2) in r.between else (lab2, lab)
                    row.append(_f(r.between.get(key, float("nan")), ".3f"))
            cells.append(row)
        head = ["input", "ρ vs EMG", "r vs EMG", "pairs", "p perm. (orders)"] + [_fit(n, 0.7, 6.2) for n in names[1:]]
        h = 0.0165 * (len(cells) + 1)
        _table(fig, (0.04, yt - h, 0.92, h), cells, head, fs=6.2)
        if r.note:
            _text(fig, 0.04, yt - h - 0.008, r.note, 7.0, fs=7.0)
    return fig


def _methods(c: Comparison) -> list[tuple[str, list[str]]]:
    crit = [f"{cr.label} ({'higher' if cr.higher_is_better else 'lower'} is better): {cr.description}."
            for cr in CRITERIA]  # fmt: skip
    blocks = [
        (
            "What is compared",
            [
                "Every input is validated on its own against the same reference (joint angles over the gait cycle, GRF over "
                "stance, muscle activations or EMG envelopes against the reference EMG), as 'mmbio validate' does; a "
                "checkpoint is rolled out first, a multi-episode rollout archive pools its episodes' cycles (no cycle "
                "spans two episodes). An item is one joint angle, GRF component or muscle of one side; its value is the "
                "Pearson r of the input's mean cycle with the reference mean (shape), or the RMSE in deg for joint angles.",
                *crit,
                "Scores use only the items every input has, so all inputs are scored on the same joints and muscles; an "
                "item that is n/a (a flat signal, an unmatched muscle) in one input is left out for all. A criterion an "
                "input lacks is n/a with its reason, never 0, and has no rank. Ranks: 1 = best, ties share the mean rank. "
                f"The overall rank orders the inputs by their mean rank over {_labels(c.overall_criteria) or 'nothing'} "
                f"(of {_labels(OVERALL)}: those every input has). The redundancy gap rewards activation fidelity close to "
                "kinematic fidelity, so it is read together with both; the RMSE and RSA columns are shown, not part of "
                "the overall rank (the RMSE would count kinematics twice; RSA has no per-item test).",
            ],
        ),
        (
            "Paired tests",
            [
                "For every family and every pair of inputs A, B: the two-sided Wilcoxon signed-rank test of the paired "
                "item values (scipy.stats.wilcoxon, zero_method 'wilcox': items with A = B are dropped; exact p for small "
                "samples without ties). Pairs are matched by item name and only items with a value in both inputs enter, "
                "so an input missing a muscle gives a smaller n, never a misaligned pair. The test is non-parametric on "
                "purpose: correlations pile up near 1 and RMSEs have a floor at 0.",
                "Effect sizes: the median of A − B in the metric's units and the matched-pairs rank-biserial correlation "
                "(W₊ − W₋)/(W₊ + W₋) ∈ [−1, 1]. p-values are Holm–Bonferroni corrected within each family across its "
                f"{len(c.labels) * (len(c.labels) - 1) // 2} pair(s) (the comparisons a reader scans together); "
                f"'better' is named when the corrected p < {ALPHA} and the median difference is not negligible (below "
                "0.01 in r, 0.1 deg in RMSE: with many items a consistent difference of 1e-4 in r, e.g. the same "
                "simulation read from a checkpoint rollout and from an archive sampled at 100 Hz, is significant and "
                "meaningless). Criterion values are ranked at the resolution shown (0.001; 0.01 deg), equal ones tie.",
                f"Power: a two-sided signed-rank test on n non-zero differences cannot give p below 2/2ⁿ, so fewer than "
                f"{MIN_INFORMATIVE_PAIRS} differences are flagged 'underpowered' rather than 'not significant' (GRF has "
                "at most 6 items: 3 components × 2 sides).",
                "Why items and not cycles: items are paired between inputs (the right knee of A against the right knee of "
                "B, against the same reference curve), cycles are not (cycle 3 of one policy has no counterpart in "
                "another), so the per-cycle spread is a property of each input (see each input's own validation), not a "
                "paired sample. mm-evalkit pairs over human subjects; a single reference mean has none, so mmbio pairs "
                "over the joints and muscles of one reference, and the conclusion concerns these named items, not a "
                "population of muscles.",
            ],
        ),
        (
            "Representational similarity (RSA)",
            [
                "Per side, each input's activation pattern (shared muscles × 101 points of the mean gait cycle) and the "
                "reference EMG's are reduced to muscle × muscle similarity matrices (RSM: Pearson r between two muscles' "
                "time courses; amplitude and units divide out, so EMG in mV and activations in [0, 1] compare). The RDM "
                "shown is 1 − RSM. Two patterns are compared by the Spearman ρ between the lower off-diagonal triangles "
                "(the diagonal is 1 by definition, the upper triangle repeats the lower), Pearson beside it — mm-evalkit's "
                "definition, so the numbers are comparable. ρ says whether the input coordinates its muscles as humans do "
                "(which pairs co-activate, which alternate), a question the per-muscle r does not answer.",
                "Significance against the reference: a permutation (Mantel) test relabelling the input's muscles: p is the "
                f"share of the m! relabellings (exact up to {EXACT_PERM_MAX} muscles, else {N_PERM_SAMPLED} random ones "
                "plus the identity) whose ρ is at least the observed one; its floor is 1/m!. Between inputs, ρ is "
                "descriptive (no test: one matrix per input and side). Fewer than 4 shared muscles make a coarse RSA.",
            ],
        ),
    ]
    notes = list(c.notes)
    for inp in c.inputs:
        src = "" if str(inp["source"]) in str(inp["name"]) else f" ({inp['source']})"
        notes.append(f"{inp['label']}: {inp['name']}{src}")
    blocks.append(("Notes", notes))
    return blocks


def build_pages(c: Comparison) -> list[tuple[str, Figure]]:
    """Every page as ``(section, figure)``, without header and footer."""
    pages = [("Ranking", _ranking_page(c)), ("Per-item values", _items_page(c))]
    tp = _tests_pages(c)
    pages += [("Paired tests" + (f" ({i + 1}/{len(tp)})" if len(tp) > 1 else ""), f) for i, f in enumerate(tp)]
    pages.append(("RSA", _rsa_page(c)))
    pages += [("Methods and notes", f) for f in _text_pages("Methods and notes", _methods(c))]
    return pages


def _decorate(fig: Figure, c: Comparison, section: str, page: int, n: int, seed: int | None) -> None:
    ref = c.inputs[0]["reference"]
    fig.text(0.03, 0.982, _fit(f"mmbio comparison — {', '.join(c.labels)} vs {ref}", 5.3, 8), fontsize=8,
             color="#333333", va="top")  # fmt: skip
    fig.text(0.97, 0.982, section, fontsize=8, color="#333333", va="top", ha="right", fontweight="bold")
    fig.add_artist(mpl.lines.Line2D([0.03, 0.97], [0.968, 0.968], lw=0.5, color="#999999"))
    fig.add_artist(mpl.lines.Line2D([0.03, 0.97], [0.04, 0.04], lw=0.5, color="#999999"))
    rev = git_revision()
    parts = [f"mmbio {mmbio.__version__}"] + ([f"git {rev}"] if rev else [])
    parts += [f"seed: {seed if seed is not None else 'none'}", f"page {page} of {n}"]
    fig.text(0.03, 0.033, "  ·  ".join(parts), fontsize=7, color="#444444", va="top")
    fig.text(0.03, 0.020, _fit(f"Reference {ref}", 7.6, 7), fontsize=7, color="#444444", va="top")


def write_compare_report(c: Comparison, path: str | os.PathLike[str], *, seed: int | None = None) -> Path:
    """The comparison PDF (A4 portrait) at ``path``."""
    path = Path(path)
    with mpl.rc_context(STYLE):
        pages = build_pages(c)
        meta: dict[str, Any] = {"Title": f"mmbio comparison: {', '.join(c.labels)}", "Author": "mmbio",
                                "Creator": f"mmbio {mmbio.__version__}", "Subject": "policy comparison"}  # fmt: skip
        date = _creation_date()
        if date is not None:
            meta["CreationDate"] = meta["ModDate"] = date
        with atomic_path(path) as tmp, PdfPages(tmp, metadata=meta) as pdf:
            for i, (section, fig) in enumerate(pages, 1):
                _decorate(fig, c, section, i, len(pages), seed)
                pdf.savefig(fig)
                fig.clear()
    return path


# ------------------------------------------------------------------------------------------------ CSV / JSON

COMPARE_COLUMNS = ("overall_rank", "mean_rank", "label", "kind", "source", "criterion", "value", "units", "n_items",
                   "rank", "in_overall", "reason")  # fmt: skip
TEST_COLUMNS = ("family", "a", "b", "n", "n_nonzero", "median_a", "median_b", "median_diff", "units", "W", "p",
                "effect", "p_holm", "significant", "negligible", "better", "note", "items")  # fmt: skip


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else ""
    if isinstance(v, list):
        return ";".join(map(str, v))
    return str(v)


def write_compare_csv(c: Comparison, path: str | os.PathLike[str]) -> Path:
    """The ranking, one row per input × criterion (:data:`COMPARE_COLUMNS`; empty value = n/a, see ``reason``)."""
    path = Path(path)
    kinds = {i["label"]: i for i in c.inputs}
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COMPARE_COLUMNS)
        for lab in c.order():
            o = c.overall[lab]
            for cr in CRITERIA:
                s = c.scores[cr.key][lab]
                w.writerow([_cell(x) for x in (o["rank"], o["mean_rank"], lab, kinds[lab]["kind"],
                            kinds[lab]["source"], cr.key, s["value"], cr.units, s["n"], c.ranks[cr.key][lab],
                            cr.key in c.overall_criteria, s["reason"])])  # fmt: skip
    return path


def write_tests_csv(c: Comparison, path: str | os.PathLike[str]) -> Path:
    """The paired tests, one row per family × pair (:data:`TEST_COLUMNS`)."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TEST_COLUMNS)
        for r in c.tests:
            w.writerow([_cell(r.get(k)) for k in TEST_COLUMNS])
    return path


def write_compare_json(c: Comparison, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """:meth:`Comparison.to_json_dict` (plus ``extra``, e.g. provenance) as strict JSON."""
    path = Path(path)
    doc = {**c.to_json_dict(), **(extra or {})}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
