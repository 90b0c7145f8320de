"""The episodes page: several episodes of one rollout archive validated together (``--episode all``).

Top: one row per episode (what it is: traj_id, frames of its reference, complete or terminated early; its gait
cycles per side; protocol and credibility verdicts) and, per side, the key numbers of
:data:`mmbio.analysis.episodes.KEY_METRICS` (right / left), then the pooled validation's values and the spread
across episodes (mean ± SD). Bottom: one dot per episode for each key number and side, the pooled value as a bar,
so an outlying episode is seen at once. The pooled figures of the rest of the report hold every episode's cycles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mmbio.analysis.episodes import KEY_METRICS
from mmbio.analysis.result import ValidationResult
from mmbio.report.figure_style import _note, _page, _style_axes

__all__ = ["episodes_figure"]

_SIDES = ("right", "left")
_COLORS = {"right": "#1f77b4", "left": "#d62728"}
#: column heads of the key numbers, in the order of KEY_METRICS
_SHORT = ("kin. fid.", "act. fid.", "gap", "GRF r", "GRF peak")


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _traj(row: dict[str, Any]) -> str:
    """traj_id, with the subject and trial of its motion when the episodes were labelled by a motion list."""
    if "subject" not in row:
        return str(row["traj_id"])
    trial = "" if row.get("trial") is None else f" trial {row['trial']}"
    return f"{row['traj_id']} ({row.get('subject') or '?'}{trial})"


def _verdict(v: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[v]


def _pooled(result: ValidationResult, path: str) -> float | None:
    m = result.get(path)
    return None if m is None or m.value is None or not math.isfinite(m.value) else float(m.value)


def episodes_figure(result: ValidationResult) -> Figure:
    """The episodes page of ``result`` (``result.episodes`` must be set)."""
    ep = result.episodes or {}
    rows = ep.get("episodes") or []
    spread = ep.get("spread") or {}
    fig, _ = _page(title=f"{len(rows)} episodes validated together", bottom=0.15)
    gs = fig.add_gridspec(3, 1, height_ratios=[0.55, 0.75, 1.3])
    pc = ep.get("pooled_cycles") or {}
    info = [
        [str(r["episode"]), _traj(r), f"{r['frames']} of {r['traj_length']}",
         "yes" if r.get("complete") else "terminated early",
         f"{(r.get('cycles') or {}).get('right', 0)} / {(r.get('cycles') or {}).get('left', 0)}",
         _verdict(r.get("passed")), _verdict(r.get("credible"))]
        for r in rows
    ]  # fmt: skip
    info.append(["pooled", "", "", "", f"{pc.get('right', 0)} / {pc.get('left', 0)}", _verdict(result.passed),
                 _verdict(result.credible)])  # fmt: skip
    head = ["episode", "traj_id", "frames", "complete", "cycles R / L", "protocol", "credibility"]
    _table(fig.add_subplot(gs[0]), info, head, "what each episode is (validated alone) and the pooled validation")
    vals = []
    for r in rows:
        key = r.get("key") or {}
        vals.append([str(r["episode"])] + [_fmt(key.get(p.format(side=s))) for _, p in KEY_METRICS for s in _SIDES])
    vals.append(["pooled"] + [_fmt(_pooled(result, p.format(side=s))) for _, p in KEY_METRICS for s in _SIDES])
    sd_row = ["mean ± SD"]
    for _, p in KEY_METRICS:
        for s in _SIDES:
            st = spread.get(p.format(side=s))
            sd_row.append("n/a" if st is None else f"{st['mean']:.2f} ± {_fmt(st['sd'])}")
    vals.append(sd_row)
    head2 = ["episode"] + [f"{short} {s[0].upper()}" for short in _SHORT for s in _SIDES]
    _table(
        fig.add_subplot(gs[1]), vals, head2, "key numbers per side (R right, L left; GRF peak in BW)", n_body=len(rows)
    )

    sub = gs[2].subgridspec(1, len(KEY_METRICS), wspace=0.5)
    for k, (label, p) in enumerate(KEY_METRICS):
        ax = fig.add_subplot(sub[0, k])
        _style_axes(ax)
        for j, s in enumerate(_SIDES):
            vals = [(r.get("key") or {}).get(p.format(side=s)) for r in rows]
            y = np.array([np.nan if v is None else v for v in vals], float)
            x = j + np.linspace(-0.15, 0.15, len(y)) if len(y) > 1 else np.full(len(y), float(j))
            ax.scatter(x, y, s=12, color=_COLORS[s], zorder=3)
            pv = _pooled(result, p.format(side=s))
            if pv is not None:
                ax.hlines(pv, j - 0.3, j + 0.3, color="black", lw=1.2, zorder=2)
        ax.set_xticks([0, 1], ["R", "L"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(label, fontsize=7.5)
    _note(
        fig,
        "Dots: each episode validated alone; black bar: the pooled validation (every episode's cycles, no cycle "
        "spans two episodes). An episode that terminated early contributes the cycles it completed. Kinematic and "
        "activation fidelity: mean r over the joint angles and over the muscles compared; the redundancy gap is "
        "their difference (see the Redundancy gap page).",
        y=0.13,
    )
    return fig


def _table(ax: Any, cells: list[list[str]], head: list[str], title: str, n_body: int | None = None) -> None:
    """A compact table filling ``ax`` (header and summary rows shaded)."""
    ax.axis("off")
    n_body = len(cells) - 1 if n_body is None else n_body
    t = ax.table(cellText=cells, colLabels=head, loc="upper center", cellLoc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(6.5)
    t.scale(1.0, 1.3)
    for (i, _j), cell in t.get_celld().items():
        cell.set_linewidth(0.3)
        if i == 0 or i > n_body:
            cell.set_facecolor("#eeeeee")
    ax.set_title(title, fontsize=8)
