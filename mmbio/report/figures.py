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
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mmbio.analysis.result import CurvePair, Metric

# the page geometry, colours and helpers live in figure_style; re-exported here for the report's callers
from mmbio.report.figure_style import (  # noqa: F401
    A4,
    ACT_COLOR,
    CONTENT_BOTTOM,
    CONTENT_TOP,
    KIN_COLOR,
    REF_BAND,
    REF_LINE,
    SIDE_ABBR,
    SIDE_COLOR,
    SIDE_STYLE,
    SO_COLOR,
    SO_LABEL,
    SOURCE_COLORS,
    STYLE,
    SourceView,
    SubTree,
    _band,
    _grid,
    _legend,
    _note,
    _page,
    _style_axes,
    _wrap,
    pretty,
    side_word,
    source_style,
    source_tag,
    spm_clusters,
)
from mmbio.report.redundancy_figures import redundancy_figure  # noqa: F401

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
        sd_txt = " ±1 SD" if any(c.ref_sd is not None for c in curves) else " (no SD: one subject)"
        handles.append(Patch(facecolor=REF_BAND, edgecolor=REF_LINE, label=f"{ref_label} mean{sd_txt}"))
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
    sources: Sequence[SourceView] = (),
    static_opt: Sequence[CurvePair] | None = None,
    static_opt_metrics: SubTree | None = None,
) -> Figure:
    """One panel per muscle and side: reference EMG (grey band), the trial's activation × fitted ``scale``.

    The title carries r and the best lag (``r_best_lag`` at ``best_lag_ms``); a panel whose r is not
    available says why (``Metric.reason``, e.g. a silent or flat signal, or no reference EMG).
    sources: named activation sources (``validate(activation_sources=...)``), each drawn × its own fitted scale
    in its own colour and line style (:func:`source_style`); one source has its r and lag on a third title
    line, several their r on one line, tagged A, B, … (:func:`source_tag`) as in the legend.
    static_opt / static_opt_metrics: the same as one source named ``'static optimisation'``.
    """
    metrics = metrics or {}
    keys = list(keys) if keys is not None else emg_keys(curves, metrics)
    srcs = list(sources)
    if static_opt is not None:
        srcs.append(SourceView(SO_LABEL, static_opt_metrics or {}, list(static_opt)))
    n_src = len(srcs)
    with mpl.rc_context(STYLE):
        leg_rows = 1 if not n_src else (2 if n_src == 1 else math.ceil((3 + n_src) / 3))
        fig, leg_y = _page(figsize, legend_rows=leg_rows, bottom=CONTENT_BOTTOM + (0.03 if n_src else 0.02))
        axes = _grid(fig, len(keys), ncols, min_rows=4)
        for i, (ax, (s, mus)) in enumerate(zip(axes, keys, strict=True)):
            _style_axes(ax)
            ms = _panel_metrics(metrics, s, mus)
            cs = [c for c in curves if side_word(c.side) == s and c.variable == mus]
            col, ls = SIDE_COLOR.get(s, "#333333"), SIDE_STYLE.get(s, "-")
            r, rl, lag, scale = _val(ms, "r"), _val(ms, "r_best_lag"), _val(ms, "best_lag_ms"), _val(ms, "scale")
            title = f"{pretty(mus)} {SIDE_ABBR.get(s, s)}".strip()
            sub = _r_line(r, rl, lag)
            src_ms = [_panel_metrics(v.metrics, s, mus) for v in srcs]
            src_cs = [[c for c in v.curves if side_word(c.side) == s and c.variable == mus] for v in srcs]
            if n_src == 1:
                m0 = src_ms[0]
                sub += f"\n{_short(srcs[0].name)}: " + _r_line(
                    _val(m0, "r"), _val(m0, "r_best_lag"), _val(m0, "best_lag_ms"), short=True
                )
            elif n_src:
                sub += "\n" + " · ".join(
                    f"{source_tag(j)} {'n/a' if (v := _val(m, 'r')) is None else f'{v:.2f}'}"
                    for j, m in enumerate(src_ms)
                )
            ax.set_title(f"{title}\n{sub}", loc="left", fontsize=8)
            ax.set_xlim(0, 100)
            if i >= len(keys) - ncols:
                ax.set_xlabel("% gait cycle")
            reason = ""
            if "r" in ms and not ms["r"].available:
                reason = ms["r"].reason or "not available"
            if not cs and not any(src_cs):
                reason = reason or "no curve to show"
            if cs:
                c = cs[0]
                _band(ax, c.pct, c.ref_mean, c.ref_sd, label=True)
                k = scale if scale is not None else 1.0
                ax.plot(c.pct, k * np.asarray(c.trial_mean, dtype=float), color=col, ls=ls, zorder=4)
                ax.set_ylabel(f"envelope ({c.units})" if c.units and c.units != "1" else "envelope (norm.)")
                if np.isfinite(c.toe_off_pct):
                    ax.axvline(c.toe_off_pct, color=col, ls=":", lw=0.8, alpha=0.7)
            elif not any(src_cs):
                ax.set_yticks([])
            banded = bool(cs)
            for j, (m, scs) in enumerate(zip(src_ms, src_cs, strict=True)):
                if not scs:
                    continue
                c = scs[0]
                if not banded:
                    _band(ax, c.pct, c.ref_mean, c.ref_sd, label=True)
                    ax.set_ylabel("envelope (norm.)")
                    banded = True
                k = _val(m, "scale")
                scol, sls, _ = source_style(srcs, j)
                y = (k if k is not None else 1.0) * np.asarray(c.trial_mean, dtype=float)
                ax.plot(c.pct, y, color=scol, ls=sls, lw=1.3, zorder=5)
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
            Patch(
                facecolor=REF_BAND,
                edgecolor=REF_LINE,
                label=f"{ref_label} mean"
                + (" ±1 SD" if any(c.ref_sd is not None for c in curves) else " (no SD: one subject)"),
            ),
            Line2D([], [], color=SIDE_COLOR["right"], label=f"{what} × fitted scale, right"),
            Line2D([], [], color=SIDE_COLOR["left"], ls="--", label="left"),
        ]
        note = (
            f"EMG has no absolute amplitude: each {what.split()[1]} curve is multiplied by the non-negative scale that best fits the reference EMG envelope. "
            "r: Pearson r of the mean cycles; lag: the shift within ±100 ms that maximises r (sign convention in docs/metrics_schema.md)."
        )
        if not n_src:
            _legend(fig, handles, leg_y, ncols=3)
            _note(fig, note)
            return fig
        src_lines = []
        for j, v in enumerate(srcs):
            scol, sls, _ = source_style(srcs, j)
            if n_src == 1:
                lab = f"{SO_LABEL} of the same kinematics" if v.name == SO_LABEL else v.name
            else:
                lab = f"{source_tag(j)}: {v.name if len(v.name) <= 36 else v.name[:35] + '…'}"
            src_lines.append(Line2D([], [], color=scol, ls=sls, lw=1.3, label=f"{lab} × its fitted scale"))
        if n_src == 1:
            # two columns filled column-wise: right | left, then reference | the source
            _legend(fig, [handles[1], handles[0], handles[2], src_lines[0]], leg_y, ncols=2)
            if srcs[0].name == SO_LABEL:
                note += (
                    f" Dotted: the {SO_LABEL} of this trial's kinematics, compared with the same EMG on the same gait "
                    "cycles (those it covers) by the same metrics."
                )
            else:
                note += (
                    f" Broken line: {srcs[0].name}, compared with the same EMG on the same gait cycles (those it "
                    "covers) by the same metrics."
                )
        else:
            # filled column-wise: the trial's sides, then the reference, then the sources A, B, …
            _legend(fig, [handles[1], handles[2], handles[0], *src_lines], leg_y, ncols=3)
            note += (
                " Broken lines: the named activation sources A, B, … (legend), each compared with the same EMG on the "
                "same gait cycles (those it covers) by the same metrics; their r on each panel's third title line."
            )
        _note(fig, note, y=CONTENT_BOTTOM + 0.024, width=140)
        return fig


def _panel_metrics(tree: SubTree, side: str, muscle: str) -> Mapping[str, Metric]:
    """The metrics of one panel (a tree keyed ``'right'`` or ``'r'``)."""
    return tree.get(side, {}).get(muscle, {}) or tree.get(side[:1], {}).get(muscle, {})


def _short(name: str) -> str:
    """A source's name on a panel title: ``'static opt.'`` for the static optimisation, else at most 18 characters."""
    if name == SO_LABEL:
        return "static opt."
    return name if len(name) <= 18 else name[:17] + "…"


def _r_line(r: float | None, rl: float | None, lag: float | None, *, short: bool = False) -> str:
    """``'r = 0.52;  r = 0.60 at lag +20 ms'`` (short: ``'r = 0.52;  0.60 at +20 ms'``), ``'r: n/a'``."""
    if r is None:
        return "r: n/a"
    sub = f"r = {r:.2f}"
    if rl is not None and lag is not None:
        sub += f";  {rl:.2f} at {lag:+.0f} ms" if short else f";  r = {rl:.2f} at lag {lag:+.0f} ms"
    return sub


# --------------------------------------------------------------------------------------------------
# synergies
# --------------------------------------------------------------------------------------------------


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
