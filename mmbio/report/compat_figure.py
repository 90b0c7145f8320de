"""The mm-evalkit page (``mmbio validate ARCHIVE --compat mm-evalkit``): mm-evalkit 0.1.0's numbers beside mmbio's.

Top: one line per number (mmbio's value, mm-evalkit's value by its own rules, units) with the reason they differ.
Bottom: per joint and per muscle, mmbio's r (and RMSE, ROM) beside mm-evalkit's rule applied to the same archive
and scored against the same (mmbio's) reference, and how closely the two mean curves agree. The rules are those of
:mod:`mmbio.analysis.evalkit_compat`; numbers against mm-evalkit's own human data are n/a with the reason.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from matplotlib.figure import Figure

from mmbio.analysis.result import ValidationResult
from mmbio.report.figure_style import _note, _page

__all__ = ["compat_figure"]

_REASON_CHARS = 78
_LINE = 0.0125


def _v(x: Any, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return str(x) if isinstance(x, int) else format(float(x), spec)


def compat_figure(result: ValidationResult) -> Figure:
    """The page of ``result.compat['mm-evalkit']`` (must be set)."""
    c = (result.compat or {})["mm-evalkit"]
    fig, top = _page(title=f"{c['tool']} numbers beside mmbio's ({c['archive']})", bottom=0.12)
    gs = fig.add_gridspec(2, 1, height_ratios=[1.55, 1.0])
    ax = fig.add_subplot(gs[0])
    ax.axis("off")
    xs = (0.0, 0.30, 0.39, 0.49, 0.53)
    y = 1.0
    for x, h in zip(xs, ("number", "mmbio", "mm-evalkit", "", "why they differ"), strict=True):
        ax.text(x, y, h, fontsize=7, fontweight="bold", va="top", transform=ax.transAxes)
    y -= 0.035
    for r in c["rows"]:
        lines = textwrap.wrap(r["reason"], _REASON_CHARS) or [""]
        cells = (r["number"], _v(r["mmbio"]), _v(r["mm_evalkit"]), r["units"])
        for x, t in zip(xs[:4], cells, strict=True):
            ax.text(x, y, t, fontsize=6.5, va="top", transform=ax.transAxes)
        ax.text(xs[4], y, "\n".join(lines), fontsize=6.0, va="top", color="#333333", transform=ax.transAxes)
        y -= 0.026 * len(lines) + 0.012
    used = ", ".join(map(str, c["episodes_used"])) or "none"
    ax.set_title(f"activations {c['activation_sample_phase']}; episode(s) whose cycles mm-evalkit's rules use: {used}",
                 fontsize=7.5, loc="left")  # fmt: skip

    cells = []
    for ch, d in c["joints"].items():
        rule = d.get("rule") or {}
        mm = d["mmbio"]
        cells.append([ch, _v(mm["r"]), _v(rule.get("r")), _v(d.get("curves_r")), _v(mm["rmse"]),
                      _v(rule.get("rmse")), _v(mm["rom"]), _v(d.get("mm_evalkit_profile_rom"))])  # fmt: skip
    for name, d in c["muscles"].items():
        rule = d.get("rule") or {}
        cells.append([f"{name} ({'+'.join(d['actuators'])})", _v(d["mmbio"]["r"]), _v(rule.get("r")),
                      _v(d.get("curves_r")), "", "", "", ""])  # fmt: skip
    head = ["joint / muscle (right unless _l)", "mmbio r", "rule r", "curves r", "mmbio RMSE", "rule RMSE",
            "mmbio ROM", "rule ROM"]  # fmt: skip
    ax2 = fig.add_subplot(gs[1])
    ax2.axis("off")
    if cells:
        t = ax2.table(cellText=cells, colLabels=head, loc="upper center", cellLoc="center",
                      colWidths=[0.30] + [0.1] * 7)  # fmt: skip
        t.auto_set_font_size(False)
        t.set_fontsize(6.0)
        t.scale(1.0, 1.05)
    _note(
        fig,
        "rule: mm-evalkit's cycles (right foot, start-up cycle kept, touch-sensor contact), its frames start..end−1 "
        "on 100 samples and its mean over cycles, scored (Pearson r, RMSE in deg) against mmbio's reference, so the "
        "difference from mmbio's column is the rules alone; curves r: mmbio's mean curve against mm-evalkit's profile. "
        "Left joints: mm-evalkit cuts them on right-foot cycles, so only their range of motion compares. mm-evalkit's "
        "own scores need Gait120/Wang human data (n/a). Units: r 1, RMSE and ROM deg.",
        y=0.11,
    )
    del top
    return fig
