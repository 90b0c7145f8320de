"""The validation report (``report.pdf``) and its tables (``curves.csv``, ``metrics.json``).

Pages (A4 portrait): scorecard (verdict, trial and reference, the protocol's checks; continued over as
many pages as needed), joint angles (six variables a page), GRF, EMG vs activation (twelve panels a
page), the redundancy gap, synergies (when computed), notes and methods (SPM status, all notes).
Every page carries a provenance footer: mmbio version, git revision (source checkouts only), reference
citation, protocol, seed and page number.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import textwrap
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.patches import FancyBboxPatch
from matplotlib.textpath import TextPath

import mmbio
from mmbio.analysis.result import CurvePair, ValidationResult, walk
from mmbio.analysis.validate import STATIC_OPT_DOMAIN, STATIC_OPT_GAP
from mmbio.io.atomic import atomic_path
from mmbio.provenance import git_revision
from mmbio.report import figures as F
from mmbio.report.protocol import summarize

CURVES_COLUMNS: tuple[str, ...] = (
    "domain",
    "side",
    "variable",
    "basis",
    "units",
    "pct",
    "trial_mean",
    "trial_sd",
    "ref_mean",
    "ref_sd",
)
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
KIN_PER_PAGE = 6
EMG_PER_PAGE = 12
LINE = 0.0128  # one 7.5-pt table row, in figure height
TEXT_TOP = 0.915


# --------------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------------


def _reference_label(result: ValidationResult) -> str:
    ref = result.reference or {}
    name, cond = ref.get("name", ""), ref.get("condition", "")
    return f"{name}:{cond}" if name and cond else str(name or "reference")


def _footer_lines(result: ValidationResult, seed: Any, page: int, n_pages: int) -> tuple[str, str]:
    rev = git_revision()
    proto = (result.protocol or {}).get("name", "none")
    parts = [f"mmbio {mmbio.__version__}"]
    if rev:
        parts.append(f"git {rev}")
    parts += [f"protocol: {proto}", f"seed: {seed if seed is not None else 'none'}", f"page {page} of {n_pages}"]
    cit = str((result.reference or {}).get("citation", "")).strip()
    ref = f"Reference {_reference_label(result)}" + (f": {' '.join(cit.split())}" if cit else "")
    return "  ·  ".join(parts), ref


def _decorate(fig: Figure, result: ValidationResult, seed: Any, section: str, page: int, n_pages: int) -> None:
    """Header (report title, section) and provenance footer on one page."""
    trial = str((result.trial or {}).get("name", "")) or "trial"
    fig.text(
        0.03,
        0.982,
        _fit(f"mmbio validation report — {trial} vs {_reference_label(result)}", 5.3, 8),
        fontsize=8,
        color="#333333",
        va="top",
    )
    fig.text(0.97, 0.982, section, fontsize=8, color="#333333", va="top", ha="right", fontweight="bold")
    fig.add_artist(mpl.lines.Line2D([0.03, 0.97], [0.968, 0.968], lw=0.5, color="#999999"))
    fig.add_artist(mpl.lines.Line2D([0.03, 0.97], [0.04, 0.04], lw=0.5, color="#999999"))
    l1, l2 = _footer_lines(result, seed, page, n_pages)
    fig.text(0.03, 0.033, l1, fontsize=7, color="#444444", va="top")
    fig.text(0.03, 0.020, _fit(l2, 7.6, 7), fontsize=7, color="#444444", va="top")


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
    """Ink width of ``s`` in inches. Cached: the exact Bézier extents are slow and the report measures the
    same strings (footer citation, row labels) on every page; ``font_file`` keys the font actually used."""
    try:
        return TextPath((0, 0), s, prop=fp).get_extents().width / 72.0
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


def _table_row(fig: Figure, y: float, row: dict[str, Any], shade: bool) -> float:
    parts = str(row["metric"]).split(".")
    _d, s, v, n = [*parts, "", "", "", ""][:4]
    reason = row.get("reason", "") if row.get("value") is None or row["status"] == "n/a" else ""
    h = LINE * (2 if reason else 1)
    if shade:
        fig.add_artist(mpl.patches.Rectangle((0.04, y - h + LINE * 0.5), 0.92, h, color="#f3f3f3", lw=0, zorder=0))
    st = row["status"]
    fig.add_artist(
        FancyBboxPatch(
            (0.045, y - LINE * 0.38),
            0.052,
            LINE * 0.76,
            boxstyle="round,pad=0,rounding_size=0.003",
            fc=STATUS_COLOR.get(st, "#999999"),
            ec="none",
        )
    )
    fig.text(0.071, y, STATUS_TEXT.get(st, st), fontsize=7, fontweight="bold", color="white", ha="center", va="center")
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


def _prev_domain(rows: list[dict[str, Any]], i: int) -> str | None:
    return str(rows[i - 1]["metric"]).split(".")[0] if i > 0 else None


def _scorecard_top(fig: Figure, result: ValidationResult, rows: list[dict[str, Any]]) -> float:
    """Title, verdict, trial / reference summary and notes; returns the y where the table starts."""
    fig.text(0.04, 0.955, "Validation scorecard", fontsize=16, fontweight="bold", va="top")
    counts = summarize(list(result.checks)) if result.checks else {}
    verdict = result.passed
    word, colr = (
        ("NO PROTOCOL", STATUS_COLOR["info"])
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
    if verdict is None:
        sub = "no protocol applied: metrics listed without thresholds"
    else:
        sub = "  ·  ".join(f"{counts[s]} {s}" for s in ("pass", "warn", "fail", "n/a"))
        if counts.get("warn") and verdict:
            sub += "  (passed with warnings)"
    fig.text(0.96, 0.912, sub, fontsize=8, ha="right", va="top", color="#333333")
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
    fig.add_artist(mpl.lines.Line2D([0.04, 0.96], [y + 0.004] * 2, lw=0.8, color="#1a3d6d"))
    title = "Checks" if result.checks else "Headline metrics"
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


# --------------------------------------------------------------------------------------------------
# text pages (notes and methods)
# --------------------------------------------------------------------------------------------------


def _spm_text(result: ValidationResult) -> list[str]:
    ran = [c for c in result.curves if F.spm_clusters(c.spm) is not None]
    status = (result.provenance or {}).get("spm")
    reasons = {str(getattr(c.spm, "reason", "")) for c in result.curves if c.spm is not None} - {""}
    if not ran:
        why = (
            f" ({status})"
            if isinstance(status, str) and status
            else (f" ({'; '.join(sorted(reasons)[:3])})" if reasons else "")
        )
        return [
            "SPM was not run"
            + why
            + ". Statistical parametric mapping (one-sample t-test of the trial's cycles against "
            "the reference over the whole cycle) needs the optional extra mmbio[spm] (spm1d, GPL, never vendored) and "
            "a trial with at least 3 cycles; without it the curve pages show no significance shading."
        ]
    lines = [
        "SPM one-sample t-tests of the trial's cycles against the reference mean (α = 0.05, spm1d); significant "
        "regions are shaded on the curve pages in the side's colour."
    ]
    for c in ran:
        cl = F.spm_clusters(c.spm) or []
        where = ", ".join(f"{a:.0f}–{b:.0f} %" for a, b in cl) if cl else "none"
        lines.append(f"{c.domain} {c.side} {c.variable}: {where}")
    return lines


def _methods_blocks(result: ValidationResult) -> list[tuple[str, list[str]]]:
    blocks: list[tuple[str, list[str]]] = []
    p = result.protocol
    if p:
        pl = [f"{p.get('name', '')}: {p.get('description', '')}", f"written for reference {p.get('reference', '?')}"]
        for k, v in (p.get("variables") or {}).items():
            pl.append(f"{k}: {(', '.join(map(str, v)) or 'none') if isinstance(v, list) else v}")
        blocks.append(("Protocol", pl))
    blocks.append(("Statistics over the cycle (SPM)", _spm_text(result)))
    blocks.append(
        (
            "How to read the metrics",
            [
                "r: Pearson correlation of the trial's mean cycle with the reference mean (shape); RMSE: root-mean-square "
                "difference (magnitude, in the variable's units); n/a: not computable (e.g. r of a flat signal is undefined, never 0).",
                "Ceiling: the value of the same metric between humans (inter-subject), where the reference has several subjects or "
                "cycles; a simulated trial is as good as a human when it reaches the ceiling.",
                "GRF in body weights (BW) over 0–100 % of stance; joint angles in degrees over 0–100 % of the gait cycle "
                "(heel strike to heel strike); clinical signs: flexion and dorsiflexion positive.",
            ],
        )
    )
    notes = list(result.notes) + [f"trial: {n}" for n in (result.trial or {}).get("notes", []) or []]
    if notes:
        blocks.append(("Notes", notes))
    cit = (result.reference or {}).get("citation")
    if cit:
        blocks.append(("Reference", [f"{_reference_label(result)}: {cit}"]))
    return blocks


def _text_pages(title: str, blocks: list[tuple[str, list[str]]]) -> list[Figure]:
    pages: list[Figure] = []
    fig = _blank()
    pages.append(fig)
    fig.text(0.04, 0.955, title, fontsize=14, fontweight="bold", va="top")
    y = 0.915
    bottom = F.CONTENT_BOTTOM - 0.01
    for head, paras in blocks:
        if y - 0.05 < bottom:
            fig = _blank()
            pages.append(fig)
            y = 0.945
        fig.text(0.04, y, head, fontsize=10, fontweight="bold", va="top", color="#1a3d6d")
        y -= 0.02
        for para in paras:
            for j, line in enumerate(_wrap(para, 7.2, 8)):
                if y < bottom:
                    fig = _blank()
                    pages.append(fig)
                    y = 0.945
                fig.text(0.05, y, ("• " if j == 0 else "   ") + line, fontsize=8, va="top")
                y -= 0.014
            y -= 0.003
        y -= 0.012
    return pages


# --------------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------------


def _chunks(xs: Sequence[Any], n: int) -> list[list[Any]]:
    return [list(xs[i : i + n]) for i in range(0, len(xs), n)]


def build_pages(result: ValidationResult) -> list[tuple[str, Figure]]:
    """All report pages as ``(section, figure)``, without header/footer."""
    pages: list[tuple[str, Figure]] = []
    sc = _scorecard_pages(result)
    pages += [("Scorecard" + (f" ({i + 1}/{len(sc)})" if len(sc) > 1 else ""), f) for i, f in enumerate(sc)]
    ref = _reference_label(result)
    signs = (result.reference or {}).get("sign_conventions") or {}
    kin = [c for c in result.curves if c.domain == "kinematics"]
    spm_ran = any(F.spm_clusters(c.spm) is not None for c in result.curves)
    kvars = list(dict.fromkeys(c.variable for c in kin))
    groups = _chunks(kvars, KIN_PER_PAGE)
    for i, vs in enumerate(groups):
        fig = F.joint_angle_figure(
            [c for c in kin if c.variable in vs],
            ref_label=ref,
            sign_conventions=signs if isinstance(signs, dict) else None,
            spm_ran=spm_ran,
        )
        pages.append(("Joint angles" + (f" ({i + 1}/{len(groups)})" if len(groups) > 1 else ""), fig))
    grf = [c for c in result.curves if c.domain == "grf"]
    if grf:
        pages.append(("Ground reaction force", F.grf_figure(grf, result.metrics.get("grf"), ref_label=ref)))
    emg = [c for c in result.curves if c.domain == "emg"]
    emg_m = result.metrics.get("emg")
    # a static optimisation of the same kinematics (validate(static_opt=...)): drawn beside the activations
    with_so = STATIC_OPT_DOMAIN in result.metrics
    so = [c for c in result.curves if c.domain == STATIC_OPT_DOMAIN] if with_so else None
    so_m = result.metrics.get(STATIC_OPT_DOMAIN) if with_so else None
    # panels for the muscles compared; muscles without a curve are n/a rows of the scorecard
    keys = F.emg_keys(emg) or F.emg_keys(emg, emg_m)
    if so:
        keys = list(dict.fromkeys(keys + F.emg_keys(so)))
    groups_e = _chunks(keys, EMG_PER_PAGE)
    eref = (result.reference or {}).get("emg") or {}
    emg_ref = f"{eref['name']}:{eref['condition']}" if eref.get("name") else ref
    for i, ks in enumerate(groups_e):
        fig = F.emg_figure(emg, emg_m, keys=ks, ref_label=f"{emg_ref} EMG", static_opt=so, static_opt_metrics=so_m)
        pages.append(("Activation vs EMG" + (f" ({i + 1}/{len(groups_e)})" if len(groups_e) > 1 else ""), fig))
    if with_so:
        red = result.metrics.get("redundancy", {})
        gaps = {s: vs.get("gap", {}) for s, vs in red.items()}
        so_gaps = {s: vs.get(STATIC_OPT_GAP, {}) for s, vs in red.items()}
        measured = any(c.units and c.units != "1" for c in emg)
        fig = F.redundancy_figure(
            result.metrics.get("kinematics"),
            emg_m,
            gaps,
            static_opt=so_m or {},
            static_opt_gap=so_gaps,
            trial_label="trial EMG" if measured else "controller activation",
        )
        pages.append(("Redundancy gap", fig))
    elif "redundancy" in result.metrics or emg_m:
        gaps = {s: vs.get("gap", {}) for s, vs in result.metrics.get("redundancy", {}).items()}
        pages.append(("Redundancy gap", F.redundancy_figure(result.metrics.get("kinematics"), emg_m, gaps)))
    if result.metrics.get("synergies"):
        pages.append(("Muscle synergies", F.synergy_figure(result.metrics["synergies"])))
    tp = _text_pages("Notes and methods", _methods_blocks(result))
    pages += [("Notes and methods", f) for f in tp]
    return pages


def _creation_date() -> _dt.datetime | None:
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde:
        try:
            return _dt.datetime.fromtimestamp(int(sde), _dt.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return None


def write_report(result: ValidationResult, path: str | os.PathLike[str], *, seed: int | None = None) -> Path:
    """Write the PDF report of ``result`` to ``path`` (A4 portrait); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if seed is None:
        seed = (result.provenance or {}).get("seed")
    with mpl.rc_context(F.STYLE):
        pages = build_pages(result)
        n = len(pages)
        meta: dict[str, Any] = {
            "Title": f"mmbio validation report: {(result.trial or {}).get('name', 'trial')} vs {_reference_label(result)}",
            "Author": "mmbio",
            "Subject": "gait biomechanics validation"
            + (f", protocol {result.protocol['name']}" if result.protocol else ""),
            "Creator": f"mmbio {mmbio.__version__}",
            "Keywords": "gait, validation, biomechanics",
        }
        date = _creation_date()
        if date is not None:
            meta["CreationDate"] = date
            meta["ModDate"] = date
        with atomic_path(path) as tmp, PdfPages(tmp, metadata=meta) as pdf:
            for i, (section, fig) in enumerate(pages, 1):
                _decorate(fig, result, seed, section, i, n)
                pdf.savefig(fig)
                fig.clear()
    return path


# --------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------


def _col(x: np.ndarray | None, i: int) -> str:
    if x is None:
        return ""
    v = float(np.asarray(x, dtype=float)[i])
    return f"{v:.6g}" if math.isfinite(v) else ""


def write_curves_csv(result: ValidationResult, path: str | os.PathLike[str]) -> Path:
    """Tidy table of every curve pair (columns :data:`CURVES_COLUMNS`; empty cell = not available)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CURVES_COLUMNS)
        for c in result.curves:
            w.writerows(_curve_rows(c))
    return path


def _curve_rows(c: CurvePair) -> list[list[str]]:
    pct = np.asarray(c.pct, dtype=float)
    return [
        [
            c.domain,
            c.side,
            c.variable,
            c.basis,
            c.units,
            f"{pct[i]:.6g}",
            _col(c.trial_mean, i),
            _col(c.trial_sd, i),
            _col(c.ref_mean, i),
            _col(c.ref_sd, i),
        ]
        for i in range(pct.size)
    ]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        v = o.item()
        return None if isinstance(v, float) and not math.isfinite(v) else v
    if isinstance(o, np.ndarray):
        return [_json_default(x) if isinstance(x, np.generic) else x for x in o.tolist()]
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o: Any) -> Any:
    """NaN/inf → None everywhere (metrics.json is strict JSON)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic | np.ndarray):
        return _clean(_json_default(o))
    return o


def write_metrics_json(result: ValidationResult, path: str | os.PathLike[str]) -> Path:
    """``result.to_json_dict()`` as strict JSON (no NaN)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(result.to_json_dict()), indent=2, allow_nan=False, default=_json_default)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path
