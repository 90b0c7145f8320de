"""Page geometry, colours and drawing helpers shared by the report's figures (:mod:`.figures`,
:mod:`.redundancy_figures`).

Pages are A4 portrait; the space above ``CONTENT_TOP`` and below ``CONTENT_BOTTOM`` is left free for the page
header and the provenance footer added by :mod:`.pdf`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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
#: other named activation sources, in order (colour-blind-safe hues not used by the sides, kinematics or trial)
SOURCE_COLORS: tuple[str, ...] = ("#CC79A7", "#56B4E9", "#009E73", "#8C6D31", "#555555", "#F0A0A0")
SOURCE_LINESTYLES: tuple[Any, ...] = ((0, (5, 1.5)), (0, (3, 1.2, 1, 1.2)), (0, (8, 2)), (0, (2, 1)))
SOURCE_MARKERS: tuple[str, ...] = ("s", "^", "v", "P", "X", "h")
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


@dataclass(frozen=True)
class SourceView:
    """One named activation source as the figures draw it (``validate(activation_sources=...)``).

    name: its display name; metrics: its ``emg_<key>`` sub-tree (side → muscle → name → Metric); curves: its
    ``emg_<key>`` curve pairs; gap: side → its ``redundancy.<side>.<key>`` metrics; reason: why it has no metric.
    """

    name: str
    metrics: SubTree = field(default_factory=dict)
    curves: Sequence[CurvePair] = ()
    gap: Mapping[str, Mapping[str, Metric]] = field(default_factory=dict)
    reason: str = ""


def source_style(sources: Sequence[SourceView], i: int) -> tuple[str, Any, str]:
    """``(colour, line style, marker)`` of source ``i``: the static optimisation orange dotted diamonds, others
    from :data:`SOURCE_COLORS` / :data:`SOURCE_LINESTYLES` / :data:`SOURCE_MARKERS` in order."""
    if sources[i].name == SO_LABEL:
        return SO_COLOR, (0, (1.2, 1.2)), "D"
    j = sum(1 for s in sources[:i] if s.name != SO_LABEL)
    return (
        SOURCE_COLORS[j % len(SOURCE_COLORS)],
        SOURCE_LINESTYLES[j % len(SOURCE_LINESTYLES)],
        SOURCE_MARKERS[j % len(SOURCE_MARKERS)],
    )


def source_tag(i: int) -> str:
    """``'A'``, ``'B'``, … : the short tag of source ``i`` on crowded panels."""
    return chr(ord("A") + i) if i < 26 else str(i + 1)


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


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
