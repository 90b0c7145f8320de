"""The redundancy page with named activation sources: every activation set side by side against EMG and humans.

One column per activation set — the trial's own activations (or EMG) and each named source of
``validate(activation_sources=...)`` — and one for the between-subject human ceiling:

* a table of r per muscle (each set's mean cycle vs the reference EMG), each cell coloured by r / human ceiling,
  with the median of every column; beside it the joint-angle r and ceiling, for context;
* bar groups per side: kinematic and activation fidelity relative to the human ceiling (Σ r / Σ ceiling);
* the redundancy-gap numbers of every set (median r, mean r, relative fidelity, gap, gap_rel, muscles).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

from mmbio.analysis.result import Metric
from mmbio.report.figure_style import (
    ACT_COLOR,
    CONTENT_BOTTOM,
    KIN_COLOR,
    SIDE_ABBR,
    SO_LABEL,
    STYLE,
    SourceView,
    SubTree,
    _note,
    _page,
    _style_axes,
    pretty,
    side_word,
    source_style,
)

SIDES = ("right", "left", "both")
NA_CELL = "#f2f2f2"
#: r / ceiling colours, lightened so that black text stays legible (red: far below humans, blue: as close as humans)
REL_CMAP = ListedColormap(0.55 * mpl.colormaps["RdYlBu"](np.linspace(0.0, 1.0, 256))[:, :3] + 0.45, name="rel")
REL_NORM = Normalize(0.0, 1.0, clip=True)
ROW_H = 0.0125  # height of one line of the numbers table, in page fractions


@dataclass(frozen=True)
class _Set:
    """One column: an activation set's label, colour, metric tree (side → muscle → metrics), gaps and reason."""

    label: str
    color: str
    tree: SubTree
    gaps: Mapping[str, Mapping[str, Metric]]
    reason: str = ""


def _fmt(m: Metric | None, spec: str = ".2f") -> str:
    return format(float(m.value), spec) if m is not None and m.available else "n/a"


def _r(tree: SubTree, side: str, muscle: str) -> Metric | None:
    for s, vs in tree.items():
        if side_word(s) == side and muscle in vs:
            return vs[muscle].get("r")
    return None


def _muscle_rows(sets: Sequence[_Set]) -> list[tuple[str, str]]:
    """``(side, muscle)`` of every muscle with an r in any set, right side first, in order of appearance."""
    keys: list[tuple[str, str]] = []
    for st in sets:
        for s, vs in st.tree.items():
            keys += [(side_word(s), v) for v, ms in vs.items() if "r" in ms]
    keys = list(dict.fromkeys(keys))
    return sorted(keys, key=lambda k: SIDES.index(k[0]) if k[0] in SIDES else len(SIDES))


def _median(xs: Sequence[float]) -> float:
    ok = [x for x in xs if np.isfinite(x)]
    return float(np.median(ok)) if ok else float("nan")


def _table(
    ax: Any, rows: Sequence[str], cols: Sequence[tuple[str, str]], r: np.ndarray, ceiling: np.ndarray, foot: str
) -> None:
    """A table of r (rows × sets) and the ceiling column; cells coloured by r / ceiling; ``foot``: last-row label.

    r: (n_rows, n_sets) with NaN = n/a; ceiling: (n_rows,); cols: (header, colour) per set.
    """
    n, k = r.shape
    has_r = np.isfinite(r).any(axis=1)
    foot_r = [_median(r[:, j]) for j in range(k)]
    foot_c = _median(ceiling[has_r]) if has_r.any() else float("nan")
    rgba = np.ones((n + 1, k + 1, 4))
    for i in range(n + 1):
        for j in range(k + 1):
            v = (foot_r[j] if j < k else foot_c) if i == n else (r[i, j] if j < k else ceiling[i])
            c = foot_c if i == n else ceiling[i]
            if j == k or i == n:
                rgba[i, j] = mpl.colors.to_rgba("#ffffff" if j == k else "#e9e9e9")
            elif not np.isfinite(v):
                rgba[i, j] = mpl.colors.to_rgba(NA_CELL)
            elif np.isfinite(c) and c > 0:
                rgba[i, j] = REL_CMAP(REL_NORM(v / c))
            txt = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            ax.text(
                j,
                i,
                txt,
                ha="center",
                va="center",
                fontsize=7,
                color="#888888" if txt == "n/a" else "#111111",
                fontweight="bold" if i == n else "normal",
                fontstyle="italic" if j == k else "normal",
            )
    ax.imshow(rgba, aspect="auto", interpolation="nearest")
    ax.xaxis.tick_top()
    ax.set_xticks(
        range(k + 1),
        [textwrap.fill(h, 12 if k <= 3 else 10, break_long_words=False) for h, _ in cols] + ["human\nceiling"],
        fontsize=7 if k <= 3 else 6.5,
    )
    for tick, (_, colr) in zip(ax.xaxis.get_major_ticks(), [*cols, ("", "#444444")], strict=True):
        tick.label2.set_color(colr)
        tick.label2.set_fontweight("bold")
    ax.set_yticks(range(n + 1), [*rows, foot], fontsize=7 if n <= 30 else 6.5)
    ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.tick_params(length=0)
    for x in np.arange(k + 1) - 0.5:
        ax.axvline(x, color="white", lw=1.2)
    ax.axvline(k - 0.5, color="#777777", lw=0.8)
    ax.axhline(n - 0.5, color="#777777", lw=0.8)
    for sp in ax.spines.values():
        sp.set_visible(False)


def _bars(ax: Any, sides: Sequence[str], sets: Sequence[_Set]) -> None:
    """Bars of K_rel and every set's A_rel per side; 1 = the human ceiling."""
    _style_axes(ax)
    ax.grid(False, axis="y")
    bars = []
    for s in sides:
        ab = SIDE_ABBR.get(s, s)
        kin = next((st.gaps[s] for st in sets if st.gaps.get(s)), {})
        no_gap = "" if kin else "no redundancy gap: no joint angle compared"
        bars.append(
            (f"joint angles {ab}", kin.get("kinematic_fidelity_rel"), kin.get("kinematic_fidelity"), KIN_COLOR, no_gap)
        )
        for st in sets:
            g = st.gaps.get(s) or {}
            lab = st.label if len(st.label) <= 30 else st.label[:29] + "…"
            has_r = any(np.isfinite(_val(v.get("r"))) for v in _tree_side(st.tree, s).values())
            why = st.reason or ("" if g else (no_gap if has_r else "no muscle compared on this side"))
            bars.append((f"{lab} {ab}", g.get("activation_fidelity_rel"), g.get("activation_fidelity"), st.color, why))
    per = len(sets) + 1
    yy = np.arange(len(bars))[::-1].astype(float)
    for i in range(1, len(sides)):  # a little space between the sides
        yy[: per * i] += 0.6
    top = 1.05
    for y, (_lab, rel, raw, colr, why) in zip(yy, bars, strict=True):
        if rel is not None and rel.available:
            v = float(rel.value)
            top = max(top, v)
            ax.barh(y, v, 0.7, color=colr, alpha=0.85)
            txt = f"{v:.2f}" + (f"  (mean r {float(raw.value):.2f})" if raw is not None and raw.available else "")
            ax.text(max(v, 0.0) + 0.015, y, txt, va="center", fontsize=7.5,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85}, zorder=5)  # fmt: skip
        else:
            why = why or (rel.reason if rel is not None else "") or "not available"
            why = why if len(why) <= 100 else why[:99] + "…"
            ax.text(0.015, y, "n/a: " + why, va="center", fontsize=7, color="#777777")
    ax.axvline(1.0, color="#444444", lw=1.0, ls="--")
    ax.text(1.01, yy.max() + 0.75, "human ceiling", ha="left", va="center", fontsize=7.5, color="#444444")
    ax.set_yticks(yy, [b[0] for b in bars], fontsize=7.5 if len(bars) <= 14 else 7)
    for lab, b in zip(ax.get_yticklabels(), bars, strict=True):
        lab.set_color(b[3])
    ax.set_ylim(yy.min() - 0.7, yy.max() + 1.3)
    lows = [float(b[1].value) for b in bars if b[1] is not None and b[1].available]
    ax.set_xlim(min([0.0, *lows]) - 0.02, top + 0.3)
    ax.set_title("Fidelity relative to the human ceiling (Σ r / Σ ceiling; 1 = as close as another human)", loc="left")


def _numbers(fig: Figure, top: float, sides: Sequence[str], sets: Sequence[_Set]) -> None:
    """The redundancy-gap numbers of every set, one row per set, one value per side in each cell."""
    ab = " / ".join(SIDE_ABBR.get(s, s) or "both" for s in sides)
    fig.text(0.04, top, "Redundancy-gap metrics", fontsize=8, fontweight="bold", va="top")
    fig.text(
        0.25,
        top - 0.001,
        f"per cell: {ab}. K, A: mean r of joint angles, of muscles; _rel: relative to the human ceiling; gap = K − A",
        fontsize=7,
        va="top",
        color="#444444",
    )
    heads = ["", "median r", "mean r (K or A)", "K_rel or A_rel", "gap", "gap_rel", "muscles"]
    xs = [0.04, 0.32, 0.43, 0.56, 0.69, 0.79, 0.90]
    kin = {s: next((st.gaps[s] for st in sets if st.gaps.get(s)), {}) for s in sides}
    rows: list[tuple[list[str], str]] = [(heads, "#555555")]
    rows.append(
        (
            [
                "joint angles",
                "",
                " / ".join(_fmt(kin[s].get("kinematic_fidelity")) for s in sides),
                " / ".join(_fmt(kin[s].get("kinematic_fidelity_rel")) for s in sides),
                "",
                "",
                "",
            ],
            KIN_COLOR,
        )
    )
    for st in sets:

        def cell(key: str, spec: str = ".2f", st: _Set = st) -> str:
            return " / ".join(_fmt((st.gaps.get(s) or {}).get(key), spec) for s in sides)

        med = []
        for s in sides:
            rs = [float(m.value) for v in _tree_side(st.tree, s).values() if (m := v.get("r")) is not None]
            v = _median(rs)
            med.append("n/a" if not np.isfinite(v) else f"{v:.2f}")
        lab = st.label if len(st.label) <= 34 else st.label[:33] + "…"
        rows.append(
            (
                [
                    lab,
                    " / ".join(med),
                    cell("activation_fidelity"),
                    cell("activation_fidelity_rel"),
                    cell("gap"),
                    cell("gap_rel"),
                    cell("n_muscles", ".0f"),
                ],
                st.color,
            )
        )
    for i, (row, colr) in enumerate(rows):
        for j, (x, txt) in enumerate(zip(xs, row, strict=True)):
            fig.text(
                x,
                top - 0.016 - ROW_H * i,
                txt,
                fontsize=7.5,
                va="top",
                color=colr if (i and j == 0) else ("#222222" if i else "#555555"),
                fontweight="bold" if (i and j == 0) else "normal",
            )


def _tree_side(tree: SubTree, side: str) -> Mapping[str, Mapping[str, Metric]]:
    for s, vs in tree.items():
        if side_word(s) == side:
            return vs
    return {}


def sources_figure(
    kinematics: SubTree | None,
    emg: SubTree | None,
    gap: Mapping[str, Mapping[str, Metric]] | None,
    sources: Sequence[SourceView],
    trial_label: str,
    figsize: tuple[float, float],
) -> Figure:
    """The redundancy page with named activation sources (see :func:`mmbio.report.figures.redundancy_figure`)."""
    who = "trial" if trial_label.startswith("trial") else "controller"
    sets: list[_Set] = []
    if emg:
        sets.append(_Set(trial_label, ACT_COLOR, emg, {side_word(k): v for k, v in (gap or {}).items() if v}))
    for j, v in enumerate(sources):
        colr, _, _ = source_style(sources, j)
        sets.append(_Set(v.name, colr, v.metrics, {side_word(k): g for k, g in v.gap.items() if g}, v.reason))
    mus = _muscle_rows(sets)
    sides = [s for s in SIDES if any(s in st.gaps for st in sets) or any(k[0] == s for k in mus)]
    kin = [
        (f"{pretty(v)} {SIDE_ABBR.get(side_word(s), s)}".strip(), ms["r"])
        for s, vs in (kinematics or {}).items()
        for v, ms in vs.items()
        if "r" in ms
    ]
    title = _title(sources, sets if emg else [], sets[-1], sides, who)
    n_rows = 2 + len(sets)
    table_top = CONTENT_BOTTOM + 0.012 + ROW_H * n_rows + 0.034
    with mpl.rc_context(STYLE):
        fig, _ = _page(figsize, title=title, bottom=table_top + 0.012)
        n_bars = len(sides) * (len(sets) + 1)
        h_top = max(len(mus), len(kin), 4) + 4.5
        gs = fig.add_gridspec(2, 2 if kin else 1, height_ratios=[h_top, 0.85 * n_bars + 2.5],
                              width_ratios=[len(sets) + 2.6, 2.6] if kin else None)  # fmt: skip
        ax_m = fig.add_subplot(gs[0, 0])
        r = np.array([[_val(_r(st.tree, s, m)) for st in sets] for s, m in mus]).reshape(len(mus), len(sets))
        ceil = np.array([_ceiling([_r(st.tree, s, m) for st in sets]) for s, m in mus])
        labels = [f"{pretty(m)} {SIDE_ABBR.get(s, s)}".strip() for s, m in mus]
        if mus:
            _table(ax_m, labels, [(st.label, st.color) for st in sets], r, ceil, "median")
        else:
            ax_m.axis("off")
            ax_m.text(0.5, 0.5, "no muscle compared with the EMG", ha="center", va="center")
        ax_m.set_title(f"Activation vs EMG: r of the mean cycles (n = {len(mus)} muscles)", loc="left")
        fig.colorbar(
            ScalarMappable(REL_NORM, REL_CMAP),
            ax=ax_m,
            orientation="horizontal",
            fraction=0.03,
            pad=0.01,
            aspect=50,
            label="r / human ceiling (red: far below humans, blue: as close as another human)",
        ).ax.tick_params(labelsize=7)
        if kin:
            ax_k = fig.add_subplot(gs[0, 1])
            kr = np.array([[_val(m)] for _, m in kin])
            kc = np.array([_ceiling([m]) for _, m in kin])
            _table(ax_k, [lab for lab, _ in kin], [("r", KIN_COLOR)], kr, kc, "median")
            ax_k.set_title("Joint angles (context)", loc="left")
        _bars(fig.add_subplot(gs[1, :]), sides, sets)
        _numbers(fig, table_top, sides, sets)
        if len(sources) == 1 and sources[0].name == SO_LABEL:
            note = (
                "Same kinematics, different muscles: the static optimisation finds, frame by frame, the least-effort "
                f"activations that produce this trial's joint moments, so it and the {who} drive the same motion; "
                "where they differ from each other and from human EMG while the joint angles match, many activation "
                "patterns produce the same motion."
            )
        else:
            note = (
                "Same clock, different muscles: every column is one activation set on this trial's clock, compared with "
                "the same EMG on the same gait cycles (those it covers) by the same metrics and ceilings; where they "
                "differ from each other and from human EMG while the joint angles match, many activation patterns "
                "produce the same motion."
            )
            if any(v.name == SO_LABEL for v in sources):
                note += (
                    " The static optimisation: the least-effort activations that produce this trial's joint moments."
                )
        _note(fig, note, y=CONTENT_BOTTOM + 0.012, width=140)
        return fig


def _title(sources: Sequence[SourceView], own: Sequence[_Set], last: _Set, sides: Sequence[str], who: str) -> str:
    """The page title: with one source its gap beside the trial's per side, with several how many there are."""
    if len(sources) > 1:
        return f"Redundancy gap: {'the ' + who + ' and ' if own else ''}{len(sources)} activation sources vs EMG"
    parts = []
    for s in sides:
        h = _fmt((last.gaps.get(s) or {}).get("gap"))
        g = _fmt((own[0].gaps.get(s) or {}).get("gap")) + " vs " if own else ""
        parts.append(f"{g}{h}" + ("" if s == "both" else f" ({SIDE_ABBR.get(s, s)})"))
    head = f"{who} vs {sources[0].name}" if own else sources[0].name
    return f"Redundancy gap, {head}: " + ("  ·  ".join(parts) or "n/a")


def _val(m: Metric | None) -> float:
    return float(m.value) if m is not None and m.available else float("nan")


def _ceiling(ms: Sequence[Metric | None]) -> float:
    """The human ceiling of one row: the first set's r that carries one (they share the reference)."""
    for m in ms:
        if m is not None and m.ceiling is not None and math.isfinite(float(m.ceiling)):
            return float(m.ceiling)
    return float("nan")
