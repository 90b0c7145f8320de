"""Page 1 of the report: the scorecard (verdicts, trial and reference, simulation credibility, the checks).

Split from :mod:`mmbio.report.pdf` (which assembles all pages): the text-fitting helpers, the table of checks
(or headline metrics without a protocol) and the page top. For a simulated trial the credibility checks
(:mod:`mmbio.analysis.credibility`) come first, under their own verdict, before the fidelity checks; a failed
credibility check never hides the others.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.patches import FancyBboxPatch
from matplotlib.textpath import text_to_path

from mmbio.analysis.result import ValidationResult, walk
from mmbio.analysis.validate import STATIC_OPT_DOMAIN
from mmbio.report import figures as F
from mmbio.report.protocol import summarize

STATUS_COLOR: dict[str, str] = {
    "pass": "#2e7d32",
    "warn": "#e69500",
    "fail": "#c62828",
    "n/a": "#9e9e9e",
    "info": "#607d8b",
}
STATUS_TEXT: dict[str, str] = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "n/a": "N/A", "info": "—"}
#: Metrics listed on the scorecard when the result has no protocol.
HEADLINE = frozenset(
    {
        "r",
        "rmse",
        "double_peak",
        "first_peak_bw",
        "second_peak_bw",
        "active_peak_bw",
        "stance_time_s",
        "rmse_bw",
        "gap",
        "similarity",
    }
)
LINE = 0.0128  # one 7.5-pt table row, in figure height
TEXT_TOP = 0.915


def _reference_label(result: ValidationResult) -> str:
    ref = result.reference or {}
    name, cond = ref.get("name", ""), ref.get("condition", "")
    return f"{name}:{cond}" if name and cond else str(name or "reference")


# --------------------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------------------

_FP = FontProperties(family=mpl.rcParams["font.family"])


def _width_in(s: str, fs: float, bold: bool = False) -> float:
    fp = _FP.copy()
    fp.set_size(fs)
    if bold:
        fp.set_weight("bold")
    return _text_width_in(s, fp, findfont(fp))


@lru_cache(maxsize=4096)
def _text_width_in(s: str, fp: FontProperties, font_file: str) -> float:
    """Width of ``s`` in inches: the bounding box of its laid-out glyphs (FreeType, kerning included), up to about
    1 pt wider than the exact Bézier ink extents and ~40x faster to get (those took half of the PDF's time).
    Cached: the report measures the same strings on every page; ``font_file`` keys the font actually used."""
    try:
        return text_to_path.get_text_width_height_descent(s, fp, ismath=False)[0] / 72.0
    except Exception:  # unusual glyphs: fall back to an estimate
        return 0.55 * float(fp.get_size_in_points()) * len(s) / 72.0


def _fit(s: str, width_in: float, fs: float, bold: bool = False) -> str:
    """``s`` shortened with an ellipsis so that it is at most ``width_in`` inches wide at ``fs`` pt."""
    if not s or _width_in(s, fs, bold) <= width_in:
        return s
    lo, hi = 0, len(s)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _width_in(s[:mid] + "…", fs, bold) <= width_in:
            lo = mid
        else:
            hi = mid - 1
    return s[:lo].rstrip() + "…"


def _fit_left(s: str, width_in: float, fs: float) -> str:
    """Like :func:`_fit` but keeps the end (file names)."""
    return _fit(s[::-1], width_in, fs)[::-1] if _width_in(s, fs) > width_in else s


def _wrap(s: str, width_in: float, fs: float) -> list[str]:
    """Greedy word wrap to ``width_in`` inches."""
    chars = max(int(width_in * 72 / (0.56 * fs)), 10)
    lines = textwrap.wrap(" ".join(str(s).split()), chars) or [""]
    return [_fit(x, width_in, fs) for x in lines]


def _fmt_value(value: float | None, units: str) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    v = float(value)
    if units == "bool":
        return "yes" if v >= 0.5 else "no"
    if units in ("1", "") and abs(v) <= 1.0:
        return f"{v:.3f}"
    if units in ("count", "n") or (float(v).is_integer() and abs(v) < 1000 and units in ("1", "")):
        return f"{int(v)}"
    txt = f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return f"{txt} {units}" if units not in ("1", "") else txt


_METRIC_LABELS = {
    "r": "r",
    "rmse": "RMSE",
    "rmse_bw": "RMSE",
    "r_best_lag": "r at best lag",
    "best_lag_ms": "best lag",
    "rom": "range of motion",
    "rom_error": "ROM error",
    "double_peak": "double peak",
    "within_sd_band": "within ±1 SD band",
    "r_at_best_lag": "r at best lag",
}


def _metric_label(name: str) -> str:
    if name in _METRIC_LABELS:
        return _METRIC_LABELS[name]
    for suf in ("_bw_s", "_bw", "_s", "_ms", "_pct_stance", "_pct"):
        if name.endswith(suf) and len(name) > len(suf):
            extra = " timing" if suf in ("_pct_stance", "_pct") else ""
            return name[: -len(suf)].replace("_", " ") + extra
    return name.replace("_", " ")


# --------------------------------------------------------------------------------------------------
# scorecard
# --------------------------------------------------------------------------------------------------


def _rows(result: ValidationResult) -> list[dict[str, Any]]:
    if result.checks:
        return list(result.checks)
    out = []
    for d, s, v, n, m in walk(result.metrics):
        if n in HEADLINE:
            out.append(
                {
                    "metric": f"{d}.{s}.{v}.{n}",
                    "value": float(m.value) if m.available else None,
                    "units": m.units,
                    "status": "info",
                    "rule": "",
                    "ceiling": m.ceiling,
                    **({} if m.available else {"reason": m.reason or "not available"}),
                }
            )
    return out


_COLS = {  # x positions (figure fraction) and widths in inches
    "status": (0.045, 0.50),
    "side": (0.115, 0.45),
    "variable": (0.17, 1.50),
    "metric": (0.355, 1.35),
    "value": (0.62, 0.95),
    "ceiling": (0.705, 0.6),
    "rule": (0.725, 1.75),
}


def _table_header(fig: Figure, y: float, with_rule: bool) -> float:
    heads = [
        ("status", "status", "left"),
        ("side", "side", "left"),
        ("variable", "variable", "left"),
        ("metric", "metric", "left"),
        ("value", "value", "right"),
        ("ceiling", "ceiling", "right"),
    ]
    if with_rule:
        heads.append(("rule", "pass;  warn (else fail)", "left"))
    for key, label, ha in heads:
        fig.text(_COLS[key][0], y, label, fontsize=7.5, fontweight="bold", ha=ha, va="center", color="#222222")
    fig.add_artist(mpl.lines.Line2D([0.04, 0.96], [y - LINE * 0.6] * 2, lw=0.6, color="#555555"))
    return y - LINE * 1.2


def _badge(fig: Figure, y: float, status: str) -> None:
    """The coloured PASS/WARN/FAIL/N/A box at the start of a row."""
    fig.add_artist(
        FancyBboxPatch(
            (0.045, y - LINE * 0.38),
            0.052,
            LINE * 0.76,
            boxstyle="round,pad=0,rounding_size=0.003",
            fc=STATUS_COLOR.get(status, "#999999"),
            ec="none",
        )
    )
    fig.text(0.071, y, STATUS_TEXT.get(status, status), fontsize=7, fontweight="bold", color="white", ha="center",
             va="center")  # fmt: skip


def _table_row(fig: Figure, y: float, row: dict[str, Any], shade: bool) -> float:
    parts = str(row["metric"]).split(".")
    _d, s, v, n = [*parts, "", "", "", ""][:4]
    reason = row.get("reason", "") if row.get("value") is None or row["status"] == "n/a" else ""
    h = LINE * (2 if reason else 1)
    if shade:
        fig.add_artist(mpl.patches.Rectangle((0.04, y - h + LINE * 0.5), 0.92, h, color="#f3f3f3", lw=0, zorder=0))
    st = row["status"]
    _badge(fig, y, st)
    fig.text(_COLS["side"][0], y, F.SIDE_ABBR.get(s, s) or s, fontsize=7.5, va="center")
    fig.text(
        _COLS["variable"][0],
        y,
        _fit(F.pretty(v) if "*" not in v else v, _COLS["variable"][1], 7.5),
        fontsize=7.5,
        va="center",
    )
    fig.text(_COLS["metric"][0], y, _fit(_metric_label(n), _COLS["metric"][1], 7.5), fontsize=7.5, va="center")
    val = _fmt_value(row.get("value"), str(row.get("units", "")))
    fig.text(
        _COLS["value"][0],
        y,
        _fit(val, _COLS["value"][1], 7.5),
        fontsize=7.5,
        va="center",
        ha="right",
        fontweight="bold" if st in ("fail", "warn") else "normal",
    )
    ceil = row.get("ceiling")
    fig.text(
        _COLS["ceiling"][0],
        y,
        "–" if ceil is None else _fmt_value(ceil, str(row.get("units", ""))),
        fontsize=7.5,
        va="center",
        ha="right",
        color="#333333",
    )
    if row.get("rule"):
        rule = str(row["rule"]).removeprefix("pass ").replace("; warn ", ";  ")
        fig.text(_COLS["rule"][0], y, _fit(rule, _COLS["rule"][1], 7), fontsize=7, va="center", color="#333333")
    if reason:
        txt = ("not required; " if not row.get("required", True) and st == "n/a" else "") + f"n/a: {reason}"
        fig.text(
            _COLS["variable"][0], y - LINE, _fit(txt, 5.6, 7), fontsize=7, va="center", color="#666666", style="italic"
        )
    return y - h


def _domain_title(d: str) -> str:
    return {
        "kinematics": "Kinematics: joint angles",
        "grf": "Ground reaction force",
        "emg": "Activation vs EMG",
        "redundancy": "Redundancy gap",
        "synergies": "Muscle synergies",
        STATIC_OPT_DOMAIN: "Static optimisation (same kinematics) vs EMG",
    }.get(d, F.pretty(d))


def _scorecard_pages(result: ValidationResult) -> list[Figure]:
    rows = _rows(result)
    pages: list[Figure] = []
    fig = _blank()
    pages.append(fig)
    y = _scorecard_top(fig, result, rows)
    with_rule = bool(result.checks)
    y = _table_header(fig, y, with_rule)
    last_domain = None
    bottom = F.CONTENT_BOTTOM - 0.015
    for i, row in enumerate(rows):
        d = str(row["metric"]).split(".")[0]
        need = LINE * (2 if row.get("reason") else 1) + (LINE * 1.5 if d != last_domain else 0)
        if y - need < bottom:
            fig = _blank()
            pages.append(fig)
            fig.text(0.04, TEXT_TOP + 0.02, "Scorecard (continued)", fontsize=11, fontweight="bold", va="top")
            y = _table_header(fig, TEXT_TOP - 0.02, with_rule)
            last_domain = None
        if d != last_domain:
            fig.text(
                0.045,
                y - LINE * 0.2,
                _domain_title(d) + (" (continued)" if d == _prev_domain(rows, i) and last_domain is None else ""),
                fontsize=8,
                fontweight="bold",
                color="#1a3d6d",
                va="center",
            )
            y -= LINE * 1.3
            last_domain = d
        y = _table_row(fig, y, row, shade=i % 2 == 1)
    if not rows:
        fig.text(0.5, y - 0.03, "no metrics were computed", ha="center", fontsize=9, color="#666666")
    return pages


_CRED_SOURCE = {
    "hicks2015": "Hicks 2015",
    "opensim_best_practices": "OpenSim checklist",
    "ralston1958": "Ralston 1958",
    "margaria1963": "Margaria 1963",
    "mmbio": "mmbio convention",
}


def _short_units(units: str) -> str:
    return "%" if units.startswith("%") else units


def _credibility_block(fig: Figure, y: float, result: ValidationResult) -> float:
    """The simulation-credibility checks, failures first, under their own verdict; returns the y below them."""
    cred = result.credibility or {}
    checks = list(cred.get("checks", []))
    counts = summarize(checks)
    ok = result.credible
    colour = STATUS_COLOR["pass" if ok else "fail"]
    head = f"Simulation credibility: {'PASS' if ok else 'FAIL'}"
    fig.text(0.04, y, head, fontsize=10, fontweight="bold", va="top", color=colour)
    tally = "  ·  ".join(f"{counts[k]} {k}" for k in ("pass", "warn", "fail", "n/a") if counts.get(k))
    fig.text(0.96, y - 0.002, f"{tally}   (Hicks et al. 2015; its own verdict)", fontsize=7, ha="right", va="top",
             color="#555555")  # fmt: skip
    y -= 0.024
    order = {"fail": 0, "warn": 1, "pass": 2, "n/a": 3}
    for i, c in enumerate(sorted(checks, key=lambda c: order.get(c["status"], 9))):
        st = c["status"]
        if i % 2:
            fig.add_artist(mpl.patches.Rectangle((0.04, y - LINE * 0.5), 0.92, LINE, color="#f3f3f3", lw=0, zorder=0))
        _badge(fig, y, st)
        fig.text(0.115, y, _fit(str(c.get("what", "")), 2.45, 7.5), fontsize=7.5, va="center")
        val = "n/a" if c.get("value") is None else _fmt_value(c["value"], _short_units(str(c.get("units", ""))))
        fig.text(0.535, y, _fit(val, 0.9, 7.5), fontsize=7.5, va="center", ha="right",
                 fontweight="bold" if st in ("fail", "warn") else "normal")  # fmt: skip
        band = str(c.get("reason") if c.get("value") is None else c.get("rule", ""))
        band = band.removeprefix("pass ").replace("; warn ", ";  ")
        if str(c.get("units", "")).startswith("%"):
            band += f" {c['units']}"
        fig.text(0.55, y, _fit(band, 2.55, 6.8), fontsize=6.8, va="center", color="#333333")
        src = _CRED_SOURCE.get(str(c.get("source", "")), str(c.get("source", "")))
        fig.text(0.96, y, _fit(src, 0.95, 6.5), fontsize=6.5, va="center", ha="right", color="#555555")
        y -= LINE
    return y - 0.010


def _prev_domain(rows: list[dict[str, Any]], i: int) -> str | None:
    return str(rows[i - 1]["metric"]).split(".")[0] if i > 0 else None


def _scorecard_top(fig: Figure, result: ValidationResult, rows: list[dict[str, Any]]) -> float:
    """Title, verdict, trial / reference summary and notes; returns the y where the table starts."""
    fig.text(0.04, 0.955, "Validation scorecard", fontsize=16, fontweight="bold", va="top")
    counts = summarize(list(result.checks)) if result.checks else {}
    verdict = result.passed
    word, colr = (
        ("NOT ASSESSED" if result.protocol else "NO PROTOCOL", STATUS_COLOR["info"])
        if verdict is None
        else (("PASS", STATUS_COLOR["pass"]) if verdict else ("FAIL", STATUS_COLOR["fail"]))
    )
    fig.add_artist(
        FancyBboxPatch((0.68, 0.918), 0.28, 0.042, boxstyle="round,pad=0,rounding_size=0.008", fc=colr, ec="none")
    )
    fig.text(
        0.82,
        0.939,
        word,
        fontsize=15 if verdict is not None else 12,
        fontweight="bold",
        color="white",
        ha="center",
        va="center",
    )
    proto = result.protocol or {}
    if verdict is None and not result.protocol:
        sub = "no protocol applied: metrics listed without thresholds"
    elif verdict is None:
        sub = "every check is n/a: nothing could be judged"
    else:
        sub = "  ·  ".join(f"{counts[s]} {s}" for s in ("pass", "warn", "fail", "n/a"))
        if counts.get("warn") and verdict:
            sub += "  (passed with warnings)"
    fig.text(0.96, 0.912, sub, fontsize=8, ha="right", va="top", color="#333333")
    if result.credible is not None:  # a simulation: its credibility verdict beside the fidelity verdict
        fig.text(0.96, 0.899, f"simulation credibility: {'PASS' if result.credible else 'FAIL'}", fontsize=8,
                 fontweight="bold", ha="right", va="top",
                 color=STATUS_COLOR["pass" if result.credible else "fail"])  # fmt: skip
    y = 0.926
    if proto:
        desc = (
            f"Protocol {proto.get('name', '')}"
            + (f" ({proto['file']})" if proto.get("file") else "")
            + (f": {proto['description']}" if proto.get("description") else "")
        )
        for line in _wrap(desc, 4.9, 8)[:3]:
            fig.text(0.04, y, line, fontsize=8, va="top")
            y -= 0.0135
    y = min(y, 0.895) - 0.01
    why = (result.trial or {}).get("by_construction")
    if why:  # scored against its own source: said before anything else
        for line in _wrap("Kinematic fidelity by construction: " + str(why), 6.2, 8.5)[:3]:
            fig.text(0.04, y, line, fontsize=8.5, fontweight="bold", va="top", color=STATUS_COLOR["fail"])
            y -= 0.0145
        y -= 0.004
    # trial and reference summaries, side by side
    t, r = result.trial or {}, result.reference or {}
    left = [("Trial", str(t.get("name", "")))]
    for key in ("source", "kind", "events_source", "n_cycles"):
        if t.get(key) not in (None, ""):
            left.append((key.replace("_", " "), str(t[key])))
    for key, q in (t.get("subject") or {}).items():
        if isinstance(q, dict) and q.get("value") is not None:
            left.append((key, f"{q['value']:.3g} {q.get('units', '')}".strip()))
        elif isinstance(q, int | float | str) and q not in ("", None):
            left.append((key, str(q)))
    right = [("Reference", _reference_label(result))]
    if r.get("subject"):
        right.append(("subject", f"{r['subject']} (subject-specific)"))
    for key in ("n_subjects", "n_cycles", "description"):
        if r.get(key) not in (None, ""):
            right.append((key.replace("_", " "), str(r[key])))
    y0 = y
    for col_x, items, width in ((0.04, left, 3.3), (0.52, right, 3.6)):
        yy = y0
        fig.text(col_x, yy, items[0][0], fontsize=9, fontweight="bold", va="top")
        fig.text(
            col_x + 0.12, yy, _fit(items[0][1], width - 1.05, 9, bold=True), fontsize=9, fontweight="bold", va="top"
        )
        yy -= 0.016
        for k, v in items[1:8]:
            fig.text(col_x, yy, k, fontsize=7.5, va="top", color="#555555")
            txt = _fit_left(v, width - 1.05, 7.5) if k == "source" else _fit(_middle(v, 90), width - 1.05, 7.5)
            fig.text(col_x + 0.12, yy, txt, fontsize=7.5, va="top")
            yy -= 0.0125
        if col_x > 0.5 and r.get("citation"):
            for line in _wrap(str(r["citation"]), width, 7.5)[:4]:
                fig.text(col_x, yy, line, fontsize=7.5, va="top", color="#333333", style="italic")
                yy -= 0.0125
        if col_x < 0.5:
            y_left = yy
        else:
            y_right = yy
    y = min(y_left, y_right) - 0.006
    if result.notes:
        fig.text(0.04, y, "Notes", fontsize=8.5, fontweight="bold", va="top")
        y -= 0.0145
        shown = 0
        for note in result.notes:
            lines = _wrap(note, 7.3, 7.5)
            if shown + len(lines) > 5:
                break
            for j, line in enumerate(lines):
                fig.text(0.05, y, ("• " if j == 0 else "   ") + line, fontsize=7.5, va="top", color="#333333")
                y -= 0.0125
            shown += len(lines)
        rest = len(result.notes) - len(_notes_shown(result.notes, 5))
        if rest > 0:
            fig.text(
                0.05,
                y,
                f"(+ {rest} more note{'s' if rest > 1 else ''} on the last page)",
                fontsize=7.5,
                va="top",
                color="#666666",
            )
            y -= 0.0125
    y -= 0.012
    if result.credibility:  # a simulation: is it believable at all? shown before how human it is
        fig.add_artist(mpl.lines.Line2D([0.04, 0.96], [y + 0.004] * 2, lw=0.8, color="#1a3d6d"))
        y = _credibility_block(fig, y - 0.004, result)
    fig.add_artist(mpl.lines.Line2D([0.04, 0.96], [y + 0.004] * 2, lw=0.8, color="#1a3d6d"))
    title = (
        "Fidelity checks" if result.checks and result.credibility else "Checks" if result.checks else "Headline metrics"
    )
    fig.text(0.04, y - 0.004, title, fontsize=10, fontweight="bold", va="top", color="#1a3d6d")
    if result.checks:
        fig.text(
            0.96,
            y - 0.006,
            "ceiling: human vs human value of the same metric",
            fontsize=7,
            va="top",
            ha="right",
            color="#555555",
        )
    return y - 0.032


def _notes_shown(notes: Sequence[str], max_lines: int) -> list[str]:
    out, used = [], 0
    for n in notes:
        k = len(_wrap(n, 7.3, 7.5))
        if used + k > max_lines:
            break
        out.append(n)
        used += k
    return out


def _middle(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n // 2 - 1] + "…" + s[-(n // 2 - 1) :]


def _blank() -> Figure:
    fig = Figure(figsize=F.A4)
    FigureCanvasAgg(fig)
    return fig
