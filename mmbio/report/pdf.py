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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

import mmbio
from mmbio.analysis.result import CurvePair, ValidationResult
from mmbio.analysis.validate import STATIC_OPT_DOMAIN, STATIC_OPT_GAP
from mmbio.io.atomic import atomic_path
from mmbio.provenance import git_revision
from mmbio.report import figures as F
from mmbio.report.scorecard import (  # noqa: F401 - STATUS_*, HEADLINE re-exported for callers of this module
    HEADLINE,
    STATUS_COLOR,
    STATUS_TEXT,
    TEXT_TOP,
    _blank,
    _fit,
    _reference_label,
    _scorecard_pages,
    _wrap,
)

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
KIN_PER_PAGE = 6
EMG_PER_PAGE = 12


# --------------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------------


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
    if result.credibility:
        cred = [
            "Checks of the simulation itself, with their own verdict: root residual forces and moments (dynamic "
            "consistency), reserve torques against the joint's net moment, joint ranges, foot-floor contact, the "
            "largest vertical GRF against humans, and muscle metabolic power against humans at the same speed. A band "
            "marked 'mmbio convention' has no published value. Sources:"
        ]
        cred += [f"{k}: {v}" for k, v in (result.credibility.get("sources") or {}).items()]
        blocks.append(("Simulation credibility", cred))
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
    # named activation sources (validate(activation_sources=...), the static optimisation among them): drawn beside
    # the trial's own activations
    sources = _source_views(result)
    # panels for the muscles compared; muscles without a curve are n/a rows of the scorecard
    keys = F.emg_keys(emg) or F.emg_keys(emg, emg_m)
    for v in sources:
        keys = list(dict.fromkeys(keys + F.emg_keys(v.curves)))
    groups_e = _chunks(keys, EMG_PER_PAGE)
    eref = (result.reference or {}).get("emg") or {}
    emg_ref = f"{eref['name']}:{eref['condition']}" if eref.get("name") else ref
    for i, ks in enumerate(groups_e):
        fig = F.emg_figure(emg, emg_m, keys=ks, ref_label=f"{emg_ref} EMG", sources=sources)
        pages.append(("Activation vs EMG" + (f" ({i + 1}/{len(groups_e)})" if len(groups_e) > 1 else ""), fig))
    gaps = {s: vs.get("gap", {}) for s, vs in result.metrics.get("redundancy", {}).items()}
    if sources:
        measured = any(c.units and c.units != "1" for c in emg)
        fig = F.redundancy_figure(
            result.metrics.get("kinematics"),
            emg_m,
            gaps,
            sources=sources,
            trial_label="trial EMG" if measured else "controller activation",
        )
        pages.append(("Redundancy gap", fig))
    elif "redundancy" in result.metrics or emg_m:
        pages.append(("Redundancy gap", F.redundancy_figure(result.metrics.get("kinematics"), emg_m, gaps)))
    if result.metrics.get("synergies"):
        pages.append(("Muscle synergies", F.synergy_figure(result.metrics["synergies"])))
    if result.episodes:
        from mmbio.report.episodes_figure import episodes_figure

        pages.append(("Episodes", episodes_figure(result)))
    if result.compat and "mm-evalkit" in result.compat:
        from mmbio.report.compat_figure import compat_figure

        pages.append(("mm-evalkit numbers", compat_figure(result)))
    tp = _text_pages("Notes and methods", _methods_blocks(result))
    pages += [("Notes and methods", f) for f in tp]
    return pages


def _source_views(result: ValidationResult) -> list[F.SourceView]:
    """The named activation sources of ``result`` in their order (``result.activation_sources``; a result without
    that summary but with ``emg_static_opt`` metrics has the static optimisation as its one source)."""
    entries = (result.activation_sources or {}).get("sources")
    if entries is None and STATIC_OPT_DOMAIN in result.metrics:
        entries = {F.SO_LABEL: {"key": STATIC_OPT_GAP, "domain": STATIC_OPT_DOMAIN}}
    red = result.metrics.get("redundancy", {})
    return [
        F.SourceView(
            name,
            result.metrics.get(e["domain"], {}),
            [c for c in result.curves if c.domain == e["domain"]],
            {s: vs.get(e["key"], {}) for s, vs in red.items()},
            e.get("reason", ""),
        )
        for name, e in (entries or {}).items()
    ]


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
