"""Figures of the validation report, one function per figure, each returning an A4-portrait Figure.

Every function takes plain data — :class:`~mmbio.analysis.result.CurvePair` lists and metric sub-trees
(``side → variable → name → Metric``) — and draws on a stand-alone :class:`matplotlib.figure.Figure`
with the Agg canvas (no pyplot, no window). The space above ``CONTENT_TOP`` and below
``CONTENT_BOTTOM`` is left free for the page header and the provenance footer added by :mod:`.pdf`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mmbio.analysis.result import CurvePair, Metric

A4: tuple[float, float] = (8.27, 11.69)
CONTENT_TOP = 0.935
CONTENT_BOTTOM = 0.075
SIDE_COLOR: dict[str, str] = {"right": "#0072B2", "left": "#D55E00", "both": "#333333"}
SIDE_STYLE: dict[str, str] = {"right": "-", "left": "--", "both": "-"}
SIDE_ABBR: dict[str, str] = {"right": "R", "left": "L", "both": ""}
REF_BAND = "#c8c8c8"
REF_LINE = "#6e6e6e"
KIN_COLOR = "#1b7837"
ACT_COLOR = "#762a83"
#: static-optimisation activations (EMG panels: thin dotted line; redundancy page: diamonds)
SO_COLOR = "#E69F00"
SO_LABEL = "static optimisation"
STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.7,
    "lines.linewidth": 1.4,
    "pdf.fonttype": 42,
}

#: Metric sub-tree of one domain: side → variable → metric name → Metric.
SubTree = Mapping[str, Mapping[str, Mapping[str, Metric]]]


def side_word(side: str) -> str:
    """``'r'``/``'R'``/``'right'`` → ``'right'`` (likewise left); anything else unchanged."""
    s = str(side).lower()
    return {"r": "right", "l": "left"}.get(s, s)


def pretty(name: str) -> str:
    """``knee_flexion`` → ``Knee flexion``; ``ap`` → ``Antero-posterior``."""
    special = {"ap": "Antero-posterior", "ml": "Medio-lateral", "vertical": "Vertical"}
    base = name.removeprefix("grf_")
    if base in special:
        return special[base]
    return base.replace("_", " ").capitalize()


def spm_clusters(spm: Any) -> list[tuple[float, float]] | None:
    """Significant regions of an SPM result in % (``None`` when SPM was not run).

    Accepts a list of ``(start_pct, end_pct[, p])``, a mapping with ``clusters``, or an object with a
    ``clusters`` attribute (:class:`mmbio.analysis.spm.SPMResult`; ``ran=False`` counts as not run).
    """
    if spm is None or getattr(spm, "ran", True) is False:
        return None
    if isinstance(spm, Mapping) and spm.get("ran") is False:
        return None
    cl = spm.get("clusters") if isinstance(spm, Mapping) else getattr(spm, "clusters", spm)
    out: list[tuple[float, float]] = []
    for c in cl or []:
        try:
            a, b = float(c[0]), float(c[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        out.append((a, b))
    return out


def _page(
    figsize: tuple[float, float] = A4, *, title: str = "", legend_rows: int = 0, bottom: float = CONTENT_BOTTOM
) -> tuple[Figure, float]:
    """A page with constrained layout below an optional title and legend; returns it and the legend's top y."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    top = CONTENT_TOP + 0.02
    if title:
        fig.text(0.5, top, title, ha="center", va="top", fontsize=12, fontweight="bold")
        top -= 0.03
    legend_top = top
    top -= 0.0165 * legend_rows + (0.012 if legend_rows else 0.0)
    fig.get_layout_engine().set(
        rect=(0.03, bottom, 0.94, top - bottom), h_pad=0.06, w_pad=0.06, hspace=0.04, wspace=0.04
    )
    return fig, legend_top


def _legend(fig: Figure, handles: list[Any], y: float, ncols: int) -> None:
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, y),
        ncols=ncols,
        frameon=False,
        handlelength=2.6,
        columnspacing=1.6,
    )


def _style_axes(ax: Any) -> None:
    ax.tick_params(labelsize=STYLE["xtick.labelsize"], length=3, width=0.6)
    ax.grid(True, lw=0.4, color="#e4e4e4")
    ax.set_axisbelow(True)


def _grid(fig: Figure, n: int, ncols: int, min_rows: int = 0) -> list[Any]:
    nrows = max(math.ceil(n / ncols), min_rows, 1)
    axs = fig.subplots(nrows, ncols, squeeze=False)
    flat = list(axs.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def _band(ax: Any, pct: np.ndarray, mean: np.ndarray | None, sd: np.ndarray | None, *, label: bool) -> None:
    if mean is None:
        return
    if sd is not None and np.isfinite(sd).any():
        ax.fill_between(pct, mean - sd, mean + sd, color=REF_BAND, lw=0, alpha=0.8, zorder=1)
    ax.plot(pct, mean, color=REF_LINE, lw=1.0, zorder=2)


def _note(fig: Figure, text: str, y: float = CONTENT_BOTTOM - 0.006, width: int = 150) -> None:
    """A caption under the panels (wrapped to ``width`` characters), its top at ``y``."""
    fig.text(0.04, y, _wrap(text, width), ha="left", va="top", fontsize=7.5, color="#444444")


# --------------------------------------------------------------------------------------------------
# joint angles
# --------------------------------------------------------------------------------------------------


def joint_angle_figure(
    curves: Sequence[CurvePair],
    *,
    ref_label: str = "reference",
    sign_conventions: Mapping[str, str] | None = None,
    ncols: int = 2,
    spm_ran: bool | None = None,
    figsize: tuple[float, float] = A4,
) -> Figure:
    """Joint angles on % gait cycle: one panel per variable, right solid / left dashed over the reference.

    Reference mean ±1 SD is a grey band; toe-off is a vertical line per side (reference toe-off dotted
    grey); SPM-significant regions (``CurvePair.spm`` clusters) are shaded in the side's colour, and
    a note says when SPM was not run (``spm_ran``: whether it ran anywhere in the report; default: on
    these curves).
    """
    with mpl.rc_context(STYLE):
        fig, leg_y = _page(figsize, legend_rows=2)
        variables = list(dict.fromkeys(c.variable for c in curves))
        by_var: dict[str, list[CurvePair]] = {v: [c for c in curves if c.variable == v] for v in variables}
        axes = _grid(fig, len(variables), ncols, min_rows=3)
        if spm_ran is None:
            spm_ran = any(spm_clusters(c.spm) is not None for c in curves)
        n_cycles: dict[str, int] = {}
        any_spm_region = False
        for i, (ax, var) in enumerate(zip(axes, variables, strict=True)):
            _style_axes(ax)
            cs = sorted(
                by_var[var],
                key=lambda c: (
                    ["right", "left", "both"].index(side_word(c.side))
                    if side_word(c.side) in ("right", "left", "both")
                    else 3
                ),
            )
            drawn_refs: list[np.ndarray] = []
            for c in cs:
                if c.ref_mean is not None and not any(np.allclose(c.ref_mean, r, equal_nan=True) for r in drawn_refs):
                    _band(ax, c.pct, c.ref_mean, c.ref_sd, label=not drawn_refs)
                    drawn_refs.append(np.asarray(c.ref_mean))
                    if np.isfinite(c.ref_toe_off_pct):
                        ax.axvline(c.ref_toe_off_pct, color=REF_LINE, ls=":", lw=0.9, zorder=2)
            for c in cs:
                s = side_word(c.side)
                col, ls = SIDE_COLOR.get(s, "#333333"), SIDE_STYLE.get(s, "-")
                ax.plot(c.pct, c.trial_mean, color=col, ls=ls, zorder=4)
                n_cycles[s] = max(
                    n_cycles.get(s, 0),
                    int(np.asarray(c.trial_cycles).shape[0])
                    if c.trial_cycles is not None and np.asarray(c.trial_cycles).ndim == 2
                    else 0,
                )
                if np.isfinite(c.toe_off_pct):
                    ax.axvline(c.toe_off_pct, color=col, ls=ls, lw=0.9, alpha=0.9, zorder=3)
                for a, b in spm_clusters(c.spm) or []:
                    any_spm_region = True
                    ax.axvspan(a, b, color=col, alpha=0.12, lw=0, zorder=0)
                    y0 = 0.0 if s == "right" else 0.025
                    ax.axvspan(a, b, ymin=y0, ymax=y0 + 0.025, color=col, alpha=0.9, lw=0, zorder=5)
            if not drawn_refs:
                ax.text(
                    0.02, 0.97, "no reference curve", transform=ax.transAxes, va="top", fontsize=7.5, color="#777777"
                )
            units = cs[0].units or ""
            sign = (sign_conventions or {}).get(var, "")
            ax.set_title(pretty(var) + (f"  ({sign})" if sign else ""), loc="left")
            ax.set_ylabel(f"angle ({units})" if units else "angle")
            ax.set_xlim(0, 100)
            ax.set_xticks([0, 20, 40, 60, 80, 100])
            last_row = i >= len(variables) - ncols
            ax.set_xlabel("% gait cycle" if last_row else "")
        handles = [
            Line2D([], [], color=SIDE_COLOR[s], ls=SIDE_STYLE[s], label=f"{s} (n = {n} cycle{'s' if n != 1 else ''})")
            for s, n in n_cycles.items()
            if s in ("right", "left")
        ]
        handles.append(Patch(facecolor=REF_BAND, edgecolor=REF_LINE, label=f"{ref_label} mean ±1 SD"))
        handles.append(Line2D([], [], color="#555555", lw=0.9, label="toe-off (reference dotted)"))
        if any_spm_region:
            handles.append(Patch(facecolor="#777777", alpha=0.3, label="SPM: p < 0.05"))
        _legend(fig, handles, leg_y, ncols=3)
        if not spm_ran:
            _note(
                fig, "SPM (statistical parametric mapping) was not run: install the optional extra mmbio[spm] (spm1d)."
            )
        elif not any_spm_region:
            _note(fig, "SPM: no region of these curves differs significantly from the reference (α = 0.05).")
        return fig


# --------------------------------------------------------------------------------------------------
# ground reaction force
# --------------------------------------------------------------------------------------------------

#: Peak metrics drawn on the GRF curves: name → (marker, where to look on the curve when no timing).
_PEAKS: dict[str, tuple[str, str]] = {
    "impact_peak_bw": ("v", "first"),
    "first_peak_bw": ("^", "max_first_half"),
    "valley_bw": ("v", "min_middle"),
    "second_peak_bw": ("^", "max_second_half"),
    "active_peak_bw": ("^", "max"),
    "braking_peak_bw": ("v", "min"),
    "propulsion_peak_bw": ("^", "max"),
}


def _component(variable: str) -> str:
    return variable.removeprefix("grf_")


def _peak_pct(name: str, ms: Mapping[str, Metric], pct: np.ndarray, y: np.ndarray) -> float | None:
    t = ms.get(name.replace("_bw", "_pct_stance"))
    if t is not None and t.available:
        return float(t.value)
    m = ms[name]
    how = _PEAKS[name][1]
    n = y.size
    if how == "max":
        i = int(np.nanargmax(y))
    elif how == "min":
        i = int(np.nanargmin(y))
    elif how in ("max_first_half", "first"):
        seg = y[: n // 2 + 1]
        i = int(np.nanargmin(np.abs(seg - float(m.value))))
    elif how == "max_second_half":
        i = n // 2 + int(np.nanargmin(np.abs(y[n // 2 :] - float(m.value))))
    else:
        i = n // 4 + int(np.nanargmin(np.abs(y[n // 4 : 3 * n // 4] - float(m.value))))
    return float(pct[i])


def grf_figure(
    curves: Sequence[CurvePair],
    metrics: SubTree | None = None,
    *,
    ref_label: str = "reference",
    figsize: tuple[float, float] = A4,
) -> Figure:
    """GRF over % stance: rows vertical / antero-posterior (/ medio-lateral), columns right / left.

    Peaks from ``metrics`` (``side → 'vertical'|'ap' → name → Metric``) are marked and labelled in BW at
    their ``*_pct_stance`` timing (or, without timing, where the trial curve reaches that value).
    """
    metrics = metrics or {}
    with mpl.rc_context(STYLE):
        fig, leg_y = _page(figsize, legend_rows=2)
        comps = list(dict.fromkeys(_component(c.variable) for c in curves))
        comps.sort(key=lambda c: ["vertical", "ap", "ml"].index(c) if c in ("vertical", "ap", "ml") else 9)
        sides = [s for s in ("right", "left", "both") if any(side_word(c.side) == s for c in curves)]
        sides += sorted({side_word(c.side) for c in curves} - set(sides))
        if not comps or not sides:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(0.5, 0.5, "no ground reaction force to show", ha="center", va="center", fontsize=10)
            return fig
        heights = [1.5 if c == "vertical" else 1.0 for c in comps]
        axs = fig.subplots(len(comps), len(sides), squeeze=False, gridspec_kw={"height_ratios": heights})
        n_st: dict[str, int] = {}
        has_sd: set[str] = set()
        for i, comp in enumerate(comps):
            for j, s in enumerate(sides):
                ax = axs[i, j]
                _style_axes(ax)
                found = [c for c in curves if _component(c.variable) == comp and side_word(c.side) == s]
                ax.set_xlim(0, 100)
                ax.set_title(f"{pretty(comp)} GRF — {s}", loc="left")
                if i == len(comps) - 1:
                    ax.set_xlabel("% stance")
                if not found:
                    ax.text(
                        0.5, 0.5, "not available", transform=ax.transAxes, ha="center", va="center", color="#777777"
                    )
                    continue
                c = found[0]
                ax.set_ylabel(f"force ({c.units})" if c.units else "force")
                _band(ax, c.pct, c.ref_mean, c.ref_sd, label=True)
                col, ls = SIDE_COLOR.get(s, "#333333"), SIDE_STYLE.get(s, "-")
                y = np.asarray(c.trial_mean, dtype=float)
                if c.trial_sd is not None:
                    ax.fill_between(c.pct, y - c.trial_sd, y + c.trial_sd, color=col, alpha=0.12, lw=0, zorder=2)
                ax.plot(c.pct, y, color=col, ls=ls, zorder=4)
                k = (
                    np.asarray(c.trial_cycles).shape[0]
                    if c.trial_cycles is not None and np.asarray(c.trial_cycles).ndim == 2
                    else 0
                )
                n_st[s] = max(n_st.get(s, 0), int(k))
                ax.axhline(0, color="#999999", lw=0.6, zorder=1)
                side_ms = metrics.get(s) or metrics.get(s[:1]) or {}
                ms = side_ms.get(comp) or side_ms.get(f"grf_{comp}") or {}
                _mark_peaks(ax, ms, c.pct, y, col)
                info = []
                for key, fmt in (
                    ("stance_time_s", "stance {:.3f} s"),
                    ("loading_rate_bw_s", "loading rate {:.1f} BW/s"),
                    ("impulse_bw_s", "impulse {:.3f} BW·s"),
                ):
                    m = ms.get(key)
                    if m is not None and m.available:
                        info.append(fmt.format(float(m.value)))
                dp = ms.get("double_peak")
                if dp is not None:
                    info.append(
                        "double peak: " + ("n/a" if not dp.available else ("yes" if float(dp.value) >= 0.5 else "no"))
                    )
                if info:
                    ax.text(
                        0.99,
                        0.03,
                        "\n".join(info),
                        transform=ax.transAxes,
                        ha="right",
                        va="bottom",
                        fontsize=7.5,
                        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#cccccc", "alpha": 0.9},
                        zorder=6,
                    )
                lo, hi = ax.get_ylim()
                ax.set_ylim(lo - 0.08 * (hi - lo), hi + 0.12 * (hi - lo))  # room for the peak / valley labels
                if c.trial_sd is not None:
                    has_sd.add(s)
        handles = [
            Line2D(
                [],
                [],
                color=SIDE_COLOR.get(s, "#333"),
                ls=SIDE_STYLE.get(s, "-"),
                label=f"{s} mean{' ±1 SD' if s in has_sd else ''} (n = {n} stance{'s' if n != 1 else ''})",
            )
            for s, n in n_st.items()
        ]
        handles.append(Patch(facecolor=REF_BAND, edgecolor=REF_LINE, label=f"{ref_label} mean ±1 SD (stance portion)"))
        handles.append(Line2D([], [], color="black", marker="^", ls="", ms=5, label="peaks / valley (value in BW)"))
        _legend(fig, handles, leg_y, ncols=2)
        return fig


def _mark_peaks(ax: Any, ms: Mapping[str, Metric], pct: np.ndarray, y: np.ndarray, col: str) -> None:
    placed: list[float] = []
    for name, (marker, _) in _PEAKS.items():
        m = ms.get(name)
        if m is None or not m.available or not np.isfinite(y).any():
            continue
        x = _peak_pct(name, ms, pct, y)
        if x is None:
            continue
        v = float(m.value)
        if any(abs(x - p) < 4 for p in placed) and name == "impact_peak_bw":
            continue
        placed.append(x)
        ax.plot([x], [v], marker=marker, color="black", mfc=col, ms=6, ls="", zorder=6)
        below = marker == "v"
        ax.annotate(
            f"{v:.2f} BW",
            (x, v),
            xytext=(0, -10 if below else 6),
            textcoords="offset points",
            ha="center",
            va="top" if below else "bottom",
            fontsize=7.5,
            zorder=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )


# --------------------------------------------------------------------------------------------------
# EMG vs activation
# --------------------------------------------------------------------------------------------------


def emg_keys(curves: Sequence[CurvePair], metrics: SubTree | None = None) -> list[tuple[str, str]]:
    """``(side, muscle)`` of every EMG panel: curves first, then metrics without a curve."""
    keys = [(side_word(c.side), c.variable) for c in curves]
    for s, mus in (metrics or {}).items():
        for m in mus:
            keys.append((side_word(s), m))
    return list(dict.fromkeys(keys))


def _val(ms: Mapping[str, Metric], key: str) -> float | None:
    m = ms.get(key)
    return float(m.value) if m is not None and m.available else None


def emg_figure(
    curves: Sequence[CurvePair],
    metrics: SubTree | None = None,
    *,
    keys: Sequence[tuple[str, str]] | None = None,
    ref_label: str = "reference EMG",
    ncols: int = 3,
    figsize: tuple[float, float] = A4,
    static_opt: Sequence[CurvePair] | None = None,
    static_opt_metrics: SubTree | None = None,
) -> Figure:
    """One panel per muscle and side: reference EMG (grey band), the trial's activation × fitted ``scale``.

    The title carries r and the best lag (``r_best_lag`` at ``best_lag_ms``); a panel whose r is not
    available says why (``Metric.reason``, e.g. a silent or flat signal, or no reference EMG).
    static_opt / static_opt_metrics: curves and metrics (``emg_static_opt``) of a static optimisation of
    the same kinematics; drawn as a thin dotted line × its own fitted scale, its r on a third title line.
    """
    metrics = metrics or {}
    keys = list(keys) if keys is not None else emg_keys(curves, metrics)
    so_curves = list(static_opt or [])
    so_metrics = static_opt_metrics or {}
    with_so = static_opt is not None
    with mpl.rc_context(STYLE):
        fig, leg_y = _page(
            figsize, legend_rows=2 if with_so else 1, bottom=CONTENT_BOTTOM + (0.03 if with_so else 0.02)
        )
        axes = _grid(fig, len(keys), ncols, min_rows=4)
        for i, (ax, (s, mus)) in enumerate(zip(axes, keys, strict=True)):
            _style_axes(ax)
            ms = metrics.get(s, {}).get(mus, {}) or metrics.get(s[:1], {}).get(mus, {})
            cs = [c for c in curves if side_word(c.side) == s and c.variable == mus]
            col, ls = SIDE_COLOR.get(s, "#333333"), SIDE_STYLE.get(s, "-")
            r, rl, lag, scale = _val(ms, "r"), _val(ms, "r_best_lag"), _val(ms, "best_lag_ms"), _val(ms, "scale")
            title = f"{pretty(mus)} {SIDE_ABBR.get(s, s)}".strip()
            sub = _r_line(r, rl, lag)
            so_cs: list[CurvePair] = []
            if with_so:
                so_ms = so_metrics.get(s, {}).get(mus, {}) or so_metrics.get(s[:1], {}).get(mus, {})
                so_cs = [c for c in so_curves if side_word(c.side) == s and c.variable == mus]
                so_r, so_rl, so_lag = _val(so_ms, "r"), _val(so_ms, "r_best_lag"), _val(so_ms, "best_lag_ms")
                sub += "\nstatic opt.: " + _r_line(so_r, so_rl, so_lag, short=True)
            ax.set_title(f"{title}\n{sub}", loc="left", fontsize=8)
            ax.set_xlim(0, 100)
            if i >= len(keys) - ncols:
                ax.set_xlabel("% gait cycle")
            reason = ""
            if "r" in ms and not ms["r"].available:
                reason = ms["r"].reason or "not available"
            if not cs and not so_cs:
                reason = reason or "no curve to show"
            if cs:
                c = cs[0]
                _band(ax, c.pct, c.ref_mean, c.ref_sd, label=True)
                k = scale if scale is not None else 1.0
                ax.plot(c.pct, k * np.asarray(c.trial_mean, dtype=float), color=col, ls=ls, zorder=4)
                ax.set_ylabel(f"envelope ({c.units})" if c.units and c.units != "1" else "envelope (norm.)")
                if np.isfinite(c.toe_off_pct):
                    ax.axvline(c.toe_off_pct, color=col, ls=":", lw=0.8, alpha=0.7)
            elif not so_cs:
                ax.set_yticks([])
            if so_cs:
                c = so_cs[0]
                if not cs:
                    _band(ax, c.pct, c.ref_mean, c.ref_sd, label=True)
                    ax.set_ylabel("envelope (norm.)")
                so_scale = _val(so_ms, "scale")
                k = so_scale if so_scale is not None else 1.0
                ax.plot(
                    c.pct,
                    k * np.asarray(c.trial_mean, dtype=float),
                    color=SO_COLOR,
                    ls=(0, (1.2, 1.2)),
                    lw=1.3,
                    zorder=5,
                )
            if reason:
                ax.text(
                    0.5,
                    0.5,
                    "n/a: " + _wrap(reason, 34),
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="#555555",
                    bbox={"boxstyle": "round,pad=0.3", "fc": "#f4f4f4", "ec": "#cccccc"},
                    zorder=8,
                )
            sil = ms.get("silent")
            if sil is not None and sil.available and float(sil.value) >= 0.5:
                ax.text(
                    0.98, 0.95, "silent", transform=ax.transAxes, ha="right", va="top", fontsize=7.5, color="#b00000"
                )
        # simulated activations are in units '1'; a measured trial's EMG envelopes are in fractions of max
        measured = any(c.units and c.units != "1" for c in curves)
        what = "trial EMG" if measured else "trial activation"
        handles = [
            Patch(facecolor=REF_BAND, edgecolor=REF_LINE, label=f"{ref_label} mean ±1 SD"),
            Line2D([], [], color=SIDE_COLOR["right"], label=f"{what} × fitted scale, right"),
            Line2D([], [], color=SIDE_COLOR["left"], ls="--", label="left"),
        ]
        note = (
            f"EMG has no absolute amplitude: each {what.split()[1]} curve is multiplied by the non-negative scale that best fits the reference EMG envelope. "
            "r: Pearson r of the mean cycles; lag: the shift within ±100 ms that maximises r (sign convention in docs/metrics_schema.md)."
        )
        if with_so:
            so_line = Line2D(
                [],
                [],
                color=SO_COLOR,
                ls=(0, (1.2, 1.2)),
                lw=1.3,
                label=f"{SO_LABEL} of the same kinematics × its fitted scale",
            )
            # two columns filled column-wise: right | left, then reference | static optimisation
            _legend(fig, [handles[1], handles[0], handles[2], so_line], leg_y, ncols=2)
            note += (
                f" Dotted: the {SO_LABEL} of this trial's kinematics, compared with the same EMG on the same gait cycles "
                "(those it covers) by the same metrics."
            )
            _note(fig, note, y=CONTENT_BOTTOM + 0.024, width=140)
        else:
            _legend(fig, handles, leg_y, ncols=3)
            _note(fig, note)
        return fig


def _r_line(r: float | None, rl: float | None, lag: float | None, *, short: bool = False) -> str:
    """``'r = 0.52;  r = 0.60 at lag +20 ms'`` (short: ``'r = 0.52;  0.60 at +20 ms'``), ``'r: n/a'``."""
    if r is None:
        return "r: n/a"
    sub = f"r = {r:.2f}"
    if rl is not None and lag is not None:
        sub += f";  {rl:.2f} at {lag:+.0f} ms" if short else f";  r = {rl:.2f} at lag {lag:+.0f} ms"
    return sub


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


# --------------------------------------------------------------------------------------------------
# redundancy gap and synergies
# --------------------------------------------------------------------------------------------------


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


def synergy_figure(synergies: SubTree, *, figsize: tuple[float, float] = A4) -> Figure:
    """Number of synergies (90 % VAF) of the trial's activations vs the EMG, and their similarity."""
    rows: list[tuple[str, float | None, float | None, float | None]] = []
    for s, vs in synergies.items():
        for v, ms in vs.items():
            lab = f"{'' if v in ('all', 'muscles') else pretty(v) + ' '}{side_word(s)}".strip()
            rows.append((lab, _val(ms, "n_synergies_trial"), _val(ms, "n_synergies_emg"), _val(ms, "similarity")))
    with mpl.rc_context(STYLE):
        fig, leg_y = _page(
            figsize, title="Muscle synergies (non-negative matrix factorisation)", legend_rows=1, bottom=0.52
        )
        a1, a2 = fig.subplots(1, 2)
        x = np.arange(len(rows))
        labels = [r[0] for r in rows]
        for ax in (a1, a2):
            _style_axes(ax)
            ax.set_xlim(*((-0.7, len(rows) - 0.3) if len(rows) > 1 else (-1.0, 1.0)))
            ax.set_xticks(x, labels, rotation=20 if len(rows) > 3 else 0, ha="right" if len(rows) > 3 else "center")
        a1.bar(x - 0.17, [r[1] or 0 for r in rows], 0.32, color=ACT_COLOR)
        a1.bar(x + 0.17, [r[2] or 0 for r in rows], 0.32, color=REF_LINE)
        top = max([r[k] or 0 for r in rows for k in (1, 2)] + [1])
        a1.set_ylim(0, top + 1)
        a1.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        a1.set_ylabel("synergies for 90 % VAF (count)")
        a1.set_title("Number of synergies", loc="left")
        a2.bar(x, [r[3] or 0 for r in rows], 0.32, color=ACT_COLOR)
        for xi, r in zip(x, rows, strict=True):
            for dx, val in ((-0.17, r[1]), (0.17, r[2])):
                a1.text(
                    xi + dx,
                    (val or 0) + 0.05,
                    "n/a" if val is None else f"{val:.0f}",
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                )
            a2.text(
                xi, (r[3] or 0) + 0.01, "n/a" if r[3] is None else f"{r[3]:.2f}", ha="center", va="bottom", fontsize=7.5
            )
        a2.set_ylim(0, 1.08)
        a2.set_ylabel("similarity (1)")
        a2.set_title("Synergy similarity, activations vs EMG", loc="left")
        _legend(
            fig,
            [Patch(color=ACT_COLOR, label="trial activations"), Patch(color=REF_LINE, label="reference EMG")],
            leg_y,
            2,
        )
        fig.text(
            0.04,
            0.48,
            _wrap(
                "Synergies: non-negative matrix factorisation of the muscles' mean-cycle envelopes; the number "
                "of synergies is the smallest that accounts for 90 % of the variance (VAF). Similarity between the synergies "
                "of the trial's activations and those of the EMG as defined in docs/metrics_schema.md (1 = identical).",
                140,
            ),
            fontsize=7.5,
            va="top",
            color="#444444",
        )
        return fig
