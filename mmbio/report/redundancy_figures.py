"""The redundancy-gap page: kinematic fidelity beside activation fidelity, each against the human ceiling.

:func:`redundancy_figure` draws one trial's joint-angle r and activation-vs-EMG r per muscle with their human
ceilings; with named activation sources (``validate(activation_sources=...)``, the static optimisation among them)
it puts every activation set side by side: a table of r per muscle with one column per set and the human ceiling,
the fidelities relative to the ceiling as bar groups, and the redundancy-gap numbers of every set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mmbio.analysis.result import Metric
from mmbio.report.activation_sources_figure import sources_figure
from mmbio.report.figure_style import (
    A4,
    ACT_COLOR,
    KIN_COLOR,
    SIDE_ABBR,
    SO_LABEL,
    STYLE,
    SourceView,
    SubTree,
    _legend,
    _page,
    _style_axes,
    _wrap,
    pretty,
    side_word,
)


def _rows(tree: SubTree, key: str) -> list[tuple[str, float | None, float | None]]:
    rows = []
    for s, vs in tree.items():
        for v, ms in vs.items():
            m = ms.get(key)
            if m is None:
                continue
            ceil = m.ceiling if m.ceiling is not None and math.isfinite(float(m.ceiling)) else None
            rows.append(
                (f"{pretty(v)} {SIDE_ABBR.get(side_word(s), s)}".strip(), float(m.value) if m.available else None, ceil)
            )
    return rows


def _r_rows(
    ax: Any, rows: Sequence[tuple[str, float | None, float | None]], colr: str, xmin: float, fs: float
) -> np.ndarray:
    """One row per (label, r, ceiling): r as a dot, the ceiling as a ring, joined; 'n/a' where r is missing.
    Returns the rows' y positions (top row first)."""
    _style_axes(ax)
    yy = np.arange(len(rows))[::-1]
    for y, (_lab, v, c) in zip(yy, rows, strict=True):
        if v is not None and c is not None:
            ax.plot([v, c], [y, y], color=colr, lw=0.8, alpha=0.5)
        if c is not None:
            ax.plot([c], [y], marker="o", mfc="white", mec=colr, mew=1.3, ms=7, ls="")
        if v is not None:
            ax.plot([v], [y], marker="o", color=colr, ms=5.5, ls="")
        else:
            ax.text(xmin + 0.02, y, "n/a", va="center", fontsize=7.5, color="#777777")
    ax.set_yticks(yy, [r[0] for r in rows], fontsize=fs)
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_xlim(xmin, 1.02)
    ax.axvline(0, color="#aaaaaa", lw=0.6)
    return yy


def redundancy_figure(
    kinematics: SubTree | None,
    emg: SubTree | None,
    gap: Mapping[str, Mapping[str, Metric]] | None = None,
    *,
    sources: Sequence[SourceView] = (),
    static_opt: SubTree | None = None,
    static_opt_gap: Mapping[str, Mapping[str, Metric]] | None = None,
    trial_label: str = "controller activation",
    figsize: tuple[float, float] = A4,
) -> Figure:
    """Kinematic r per joint beside activation r per muscle, each with its human ceiling (hollow marker).

    ``gap``: side → the ``redundancy.<side>.gap`` metrics (``gap``, ``kinematic_fidelity``,
    ``activation_fidelity``…), shown in the title and a table.

    sources: named activation sources (their ``emg_<key>`` metrics and ``redundancy.<side>.<key>`` gaps). With
    them the page shows one column per activation set — the trial's own (``trial_label``) and each source — and
    the human ceiling: r per muscle coloured by r / ceiling, the joint-angle r for context, the fidelities
    relative to the human ceiling as bar groups and a table of the redundancy-gap numbers.
    static_opt / static_opt_gap: the same as one source named ``'static optimisation'``.
    """
    srcs = list(sources)
    if static_opt is not None:
        srcs.append(SourceView(SO_LABEL, static_opt, gap=static_opt_gap or {}))
    if srcs:
        return sources_figure(kinematics, emg, gap, srcs, trial_label, figsize)
    kin = _rows(kinematics or {}, "r")
    act = _rows(emg or {}, "r")
    gap = {side_word(k): v for k, v in (gap or {}).items() if v}
    with mpl.rc_context(STYLE):
        parts = []
        for s, ms in gap.items():
            g = ms.get("gap")
            val = f"{float(g.value):.2f}" if g is not None and g.available else "n/a"
            parts.append(val if len(gap) == 1 and s == "both" else f"{val} ({s})")
        title = "Redundancy gap index: " + ("  ·  ".join(parts) or "n/a")
        fig, leg_y = _page(figsize, title=title, legend_rows=1)
        blocks = [
            (f"Kinematic fidelity: joint-angle r (n = {len(kin)})", kin, KIN_COLOR),
            (f"Activation fidelity: activation vs EMG r (n = {len(act)})", act, ACT_COLOR),
        ]
        blocks = [b for b in blocks if b[1]]
        if not blocks:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(0.5, 0.5, "no joint-angle or activation correlations to compare", ha="center", va="center")
            return fig
        ratios = [max(len(b[1]), 2) + 1.5 for b in blocks] + [3.5]
        axs = fig.subplots(len(blocks) + 1, 1, gridspec_kw={"height_ratios": ratios})
        vals = [v for b in blocks for _, v, c in b[1] for v in (v, c) if v is not None]
        xmin = min([-0.1, *vals]) - 0.05
        fs = 7.5 if max(len(b[1]) for b in blocks) <= 30 else 7
        for ax, (name, rows, colr) in zip(axs, blocks, strict=False):
            _r_rows(ax, rows, colr, xmin, fs)
            ax.set_title(name, loc="left")
            ax.set_xlabel("Pearson r (trial vs reference)")
            valid = [v for _, v, _ in rows if v is not None]
            if valid:
                ax.axvline(float(np.mean(valid)), color=colr, ls=":", lw=1.0)
        handles = [
            Line2D([], [], marker="o", color="#444444", ls="", ms=5.5, label="this trial"),
            Line2D([], [], marker="o", mfc="white", mec="#444444", ls="", ms=7, label="human ceiling (human vs human)"),
            Line2D([], [], color="#444444", ls=":", label="mean r of the block"),
        ]
        _legend(fig, handles, leg_y, ncols=3)
        tab = axs[-1]
        tab.axis("off")
        lines = [
            (f"{pretty(k)}" + ("" if s == "both" else f" ({s})"), f"{float(m.value):.3g}" if m.available else "n/a")
            for s, ms in gap.items()
            for k, m in ms.items()
        ] or [("gap", "n/a")]
        tab.text(
            0.0,
            1.0,
            "Redundancy-gap metrics (definitions: docs/metrics_schema.md)",
            fontsize=8.5,
            fontweight="bold",
            va="top",
            transform=tab.transAxes,
        )
        per_col = max(5, math.ceil(len(lines[:18]) / 3))
        for i, (k, v) in enumerate(lines[:18]):
            col, row = divmod(i, per_col)
            tab.text(
                0.0 + 0.34 * col,
                0.82 - 0.8 / per_col * row,
                _wrap(f"{k}: {v}", 45).split("\n")[0],
                fontsize=7.5,
                va="top",
                transform=tab.transAxes,
            )
        return fig


def _fmt(m: Metric | None, spec: str = ".2f") -> str:
    return format(float(m.value), spec) if m is not None and m.available else "n/a"
