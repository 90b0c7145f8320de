"""The redundancy-gap page: kinematic fidelity beside activation fidelity, each against the human ceiling.

:func:`redundancy_figure` draws one trial's joint-angle r and activation-vs-EMG r per muscle with their human
ceilings, and, with a static optimisation of the same kinematics, both activation sets side by side.
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
from mmbio.report.figure_style import (
    A4,
    ACT_COLOR,
    CONTENT_BOTTOM,
    KIN_COLOR,
    SIDE_ABBR,
    SO_COLOR,
    SO_LABEL,
    STYLE,
    SubTree,
    _legend,
    _note,
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
    static_opt: SubTree | None = None,
    static_opt_gap: Mapping[str, Mapping[str, Metric]] | None = None,
    trial_label: str = "controller activation",
    figsize: tuple[float, float] = A4,
) -> Figure:
    """Kinematic r per joint beside activation r per muscle, each with its human ceiling (hollow marker).

    ``gap``: side → the ``redundancy.<side>.gap`` metrics (``gap``, ``kinematic_fidelity``,
    ``activation_fidelity``…), shown in the title and a table.

    static_opt: the ``emg_static_opt`` metrics of a static optimisation of the same kinematics;
    static_opt_gap: side → ``redundancy.<side>.static_opt``. With them, each muscle shows the trial's
    activation r (``trial_label``), the static-optimisation r and the human ceiling side by side, and a
    summary panel puts the fidelities relative to the human ceiling next to the kinematic one.
    """
    if static_opt is not None:
        return _redundancy_static_opt_figure(kinematics, emg, gap, static_opt, static_opt_gap, trial_label, figsize)
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


def _act_rows(emg: SubTree, so: SubTree) -> list[tuple[str, float | None, float | None, float | None]]:
    """``(label, trial r, static-optimisation r, ceiling)`` per side and muscle, the trial's order first."""
    keys: list[tuple[str, str]] = []
    for tree in (emg, so):
        for s, vs in tree.items():
            keys += [(s, v) for v, ms in vs.items() if "r" in ms]
    out = []
    for s, v in dict.fromkeys(keys):
        a, b = (emg.get(s) or {}).get(v, {}).get("r"), (so.get(s) or {}).get(v, {}).get("r")
        cs = [m.ceiling for m in (a, b) if m is not None and m.ceiling is not None and math.isfinite(float(m.ceiling))]
        out.append(
            (
                f"{pretty(v)} {SIDE_ABBR.get(side_word(s), s)}".strip(),
                float(a.value) if a is not None and a.available else None,
                float(b.value) if b is not None and b.available else None,
                float(cs[0]) if cs else None,
            )
        )
    return out


def _fmt(m: Metric | None, spec: str = ".2f") -> str:
    return format(float(m.value), spec) if m is not None and m.available else "n/a"


def _redundancy_static_opt_figure(
    kinematics: SubTree | None,
    emg: SubTree | None,
    gap: Mapping[str, Mapping[str, Metric]] | None,
    static_opt: SubTree,
    static_opt_gap: Mapping[str, Mapping[str, Metric]] | None,
    trial_label: str,
    figsize: tuple[float, float],
) -> Figure:
    """The redundancy page with a static optimisation of the same kinematics (see :func:`redundancy_figure`)."""
    kin = _rows(kinematics or {}, "r")
    act = _act_rows(emg or {}, static_opt)
    gap = {side_word(k): v for k, v in (gap or {}).items() if v}
    so_gap = {side_word(k): v for k, v in (static_opt_gap or {}).items() if v}
    sides = [s for s in ("right", "left", "both") if s in gap or s in so_gap]
    with mpl.rc_context(STYLE):
        parts = []
        for s in sides:
            g, h = (gap.get(s) or {}).get("gap"), (so_gap.get(s) or {}).get("gap")
            parts.append(f"{_fmt(g)} vs {_fmt(h)}" + ("" if s == "both" else f" ({SIDE_ABBR.get(s, s)})"))
        title = "Redundancy gap, controller vs static optimisation: " + ("  ·  ".join(parts) or "n/a")
        if trial_label != "controller activation":
            title = "Redundancy gap, trial vs static optimisation: " + ("  ·  ".join(parts) or "n/a")
        table_top = CONTENT_BOTTOM + 0.012 + 0.0125 * (len(sides) + 1) + 0.04
        fig, leg_y = _page(figsize, title=title, legend_rows=2, bottom=table_top + 0.012)
        handles = [
            Line2D([], [], marker="o", color=ACT_COLOR, ls="", ms=5.5, label=f"{trial_label} vs EMG"),
            Line2D([], [], marker="D", color=SO_COLOR, mec="#8a6000", ls="", ms=5, label=f"{SO_LABEL} vs EMG"),
            Line2D(
                [], [], marker="o", mfc="white", mec="#444444", ls="", ms=7, label="human ceiling (human EMG vs EMG)"
            ),
            Line2D([], [], marker="o", color=KIN_COLOR, ls="", ms=5.5, label="joint-angle r (context)"),
            Line2D([], [], color="#444444", ls=":", label="mean r of the block"),
        ]
        _legend(fig, handles, leg_y, ncols=3)
        n_sum = max(len(sides), 1)
        ratios = [max(len(kin), 2) + 1.5] if kin else []
        ratios += [max(len(act), 2) + 1.5, 3 * n_sum + 1.8]
        axs = list(fig.subplots(len(ratios), 1, gridspec_kw={"height_ratios": ratios}))
        vals = [x for _, v, c in kin for x in (v, c) if x is not None]
        vals += [x for _, a, b, c in act for x in (a, b, c) if x is not None]
        xmin = min([-0.1, *vals]) - 0.05
        fs = 7.5 if max(len(kin), len(act)) <= 30 else 7
        if kin:
            ax = axs.pop(0)
            yy = _r_rows(ax, kin, KIN_COLOR, xmin, fs)
            ax.set_title(
                f"Kinematic fidelity (context): joint-angle r, trial vs reference (n = {len(kin)})", loc="left"
            )
            valid = [v for _, v, _ in kin if v is not None]
            if valid:
                ax.axvline(float(np.mean(valid)), color=KIN_COLOR, ls=":", lw=1.0)
        ax = axs.pop(0)
        _style_axes(ax)
        yy = np.arange(len(act))[::-1]
        d = 0.2  # the two activation sets sit just above / below the muscle's line, the ceiling on it
        for y, (_lab, a, b, c) in zip(yy, act, strict=True):
            for v, dy in ((a, d), (b, -d)):
                if v is not None and c is not None:
                    ax.plot([v, c], [y + dy, y], color="#bbbbbb", lw=0.7, zorder=1)
            if c is not None:
                ax.plot([c], [y], marker="o", mfc="white", mec="#444444", mew=1.3, ms=7, ls="", zorder=3)
            if a is not None:
                ax.plot([a], [y + d], marker="o", color=ACT_COLOR, ms=5.5, ls="", zorder=4)
            if b is not None:
                ax.plot([b], [y - d], marker="D", color=SO_COLOR, mec="#8a6000", mew=0.6, ms=5, ls="", zorder=4)
            if a is None or b is None:
                miss = " / ".join(w for w, v in (("trial", a), ("SO", b)) if v is None)
                ax.text(xmin + 0.02, y, f"n/a: {miss}", va="center", fontsize=7, color="#777777")
        ax.set_yticks(yy, [r[0] for r in act], fontsize=fs)
        ax.set_ylim(-0.8, max(len(act), 1) - 0.2)
        ax.set_xlim(xmin, 1.02)
        ax.axvline(0, color="#aaaaaa", lw=0.6)
        ax.set_title(f"Activation fidelity per muscle: r vs EMG (n = {len(act)})", loc="left")
        ax.set_xlabel("Pearson r (vs the reference mean)")
        for j, colr in ((1, ACT_COLOR), (2, SO_COLOR)):
            valid = [r[j] for r in act if r[j] is not None]
            if valid:
                ax.axvline(float(np.mean(valid)), color=colr, ls=":", lw=1.1)
        _fidelity_summary(axs.pop(0), sides, gap, so_gap, trial_label)
        who = "trial" if trial_label.startswith("trial") else "controller"
        fig.text(0.04, table_top, "Redundancy-gap metrics", fontsize=8, fontweight="bold", va="top")
        fig.text(
            0.25,
            table_top - 0.001,
            "K, A: mean r of joint angles, of muscles; gap = K − A; gap_rel: each relative to its human ceiling",
            fontsize=7,
            va="top",
            color="#444444",
        )
        heads = [
            "",
            "K",
            f"A {who}",
            "A static opt.",
            f"gap {who}",
            "gap static opt.",
            f"gap_rel {who}",
            "gap_rel static opt.",
            "muscles",
        ]
        xs = [0.04, 0.11, 0.18, 0.28, 0.39, 0.49, 0.61, 0.73, 0.87]
        rows = [heads]
        for s in sides:
            g, h = gap.get(s) or {}, so_gap.get(s) or {}
            kref = g or h
            rows.append(
                [
                    s,
                    _fmt(kref.get("kinematic_fidelity")),
                    _fmt(g.get("activation_fidelity")),
                    _fmt(h.get("activation_fidelity")),
                    _fmt(g.get("gap")),
                    _fmt(h.get("gap")),
                    _fmt(g.get("gap_rel")),
                    _fmt(h.get("gap_rel")),
                    f"{_fmt(g.get('n_muscles'), '.0f')} / {_fmt(h.get('n_muscles'), '.0f')}",
                ]
            )
        for i, row in enumerate(rows):
            for x, txt in zip(xs, row, strict=True):
                fig.text(
                    x, table_top - 0.016 - 0.0125 * i, txt, fontsize=7.5, va="top", color="#222222" if i else "#555555"
                )
        _note(
            fig,
            "Same kinematics, different muscles: the static optimisation finds, frame by frame, the least-effort "
            f"activations that produce this trial's joint moments, so it and the {who} drive the same motion; where they "
            "differ from each other and from human EMG while the joint angles match, many activation patterns produce "
            "the same motion.",
            y=CONTENT_BOTTOM + 0.012,
            width=140,
        )
        return fig


def _fidelity_summary(
    ax: Any,
    sides: Sequence[str],
    gap: Mapping[str, Mapping[str, Metric]],
    so_gap: Mapping[str, Mapping[str, Metric]],
    trial_label: str,
) -> None:
    """Bars of K_rel, A_rel (trial) and A_rel (static optimisation) per side; 1 = the human ceiling."""
    _style_axes(ax)
    ax.grid(False, axis="y")
    bars = []
    for s in sides:
        g, h = gap.get(s) or {}, so_gap.get(s) or {}
        ab = SIDE_ABBR.get(s, s)
        bars += [
            (
                f"kinematics {ab}".strip(),
                (g or h).get("kinematic_fidelity_rel"),
                (g or h).get("kinematic_fidelity"),
                KIN_COLOR,
            ),
            (
                f"{trial_label.split()[0]} {ab}".strip(),
                g.get("activation_fidelity_rel"),
                g.get("activation_fidelity"),
                ACT_COLOR,
            ),
            (f"{SO_LABEL} {ab}".strip(), h.get("activation_fidelity_rel"), h.get("activation_fidelity"), SO_COLOR),
        ]
    yy = np.arange(len(bars))[::-1].astype(float)
    for i in range(1, len(sides)):  # a little space between the sides
        yy[: 3 * i] += 0.6
    top = 1.05
    for y, (_lab, rel, raw, colr) in zip(yy, bars, strict=True):
        if rel is not None and rel.available:
            v = float(rel.value)
            top = max(top, v)
            ax.barh(y, v, 0.7, color=colr, alpha=0.85)
            txt = f"{v:.2f}" + (f"  (mean r {float(raw.value):.2f})" if raw is not None and raw.available else "")
            ax.text(max(v, 0.0) + 0.015, y, txt, va="center", fontsize=7.5)
        else:
            why = (rel.reason if rel is not None else "") or "not available"
            ax.text(0.015, y, "n/a: " + _wrap(why, 70).split("\n")[0], va="center", fontsize=7, color="#777777")
    ax.axvline(1.0, color="#444444", lw=1.0, ls="--")
    ax.text(1.01, yy.max() + 0.75, "human ceiling", ha="left", va="center", fontsize=7.5, color="#444444")
    ax.set_yticks(yy, [b[0] for b in bars], fontsize=7.5)
    ax.set_ylim(yy.min() - 0.7, yy.max() + 1.3)
    ax.set_xlim(min(0.0, *[float(b[1].value) for b in bars if b[1] is not None and b[1].available]) - 0.02, top + 0.3)
    ax.set_title("Fidelity relative to the human ceiling (Σ r / Σ ceiling; 1 = as close as another human)", loc="left")
