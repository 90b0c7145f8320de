"""Credibility of a simulated trial (Hicks et al. 2015; OpenSim's RRA/CMC checklist): is the simulation itself
believable, next to how well it matches humans?

:func:`assess_credibility` takes plain numbers measured on the simulation (:data:`INPUT_KEYS`, value + units as
floats; the simulation side computes them, :mod:`mmbio.sim.credibility`), the trial (for the GRF) and the bands
of ``validation/credibility/bands.yaml`` (each with its source; bands without a published value say ``source: mmbio``),
and returns the metrics (domain ``credibility``, side ``whole``) and one check per band with its status. The
checks are shown first on the scorecard and counted in their own verdict; they never hide another metric.

Checks: root residual force and moment (peak and RMS, absolute and relative to the peak external force and to COM
height × peak external force), the worst reserve torque relative to its joint's peak net moment, joint-limit
excursions, foot penetration and sliding, the largest vertical GRF and the loading rate against the human
between-subject range of the reference nearest the trial's speed (walking: Schreiber 2019 adults; running: Hamner 2013), and the muscle
metabolic power against the human gross metabolic power at the same speed (walking: Ralston 1958; running:
Margaria 1963; net, i.e. gross minus the basal rate, as the simulation counts muscles only). Quantities the
simulation does not provide are n/a with the reason, never a fail.

Imports no JAX, Warp or MuJoCo.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.analysis.result import Metric
from mmbio.trial import Trial

__all__ = ["INPUT_KEYS", "Band", "assess_credibility", "human_metabolic_power", "load_bands"]

G = 9.81
#: What the simulation side provides (all optional; a missing one makes its checks n/a).
INPUT_KEYS = (
    "source",  # str: what produced the simulation
    "residuals_applied",  # bool: False when the simulation has no residual actuators (muscles only)
    "residuals_note",  # str: why the residuals are 0 when not applied (default: muscles only, no residual actuators)
    "residual_force_peak_n",
    "residual_force_rms_n",
    "residual_moment_peak_nm",
    "residual_moment_rms_nm",
    "com_height_m",
    "peak_external_force_n",
    "reserves",  # {dof: {"peak_nm", "rms_nm", "peak_joint_moment_nm"}} or None (no reserve actuators)
    "joint_limit_max_deg",
    "joint_limit_worst",
    "penetration_max_m",
    "sliding_mean_m_s",
    "metabolic_w_per_kg",
    "speed_m_s",
    "na",  # {check id: reason} for checks that do not apply to this simulation
)
_RULE = re.compile(r"^\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Band:
    """One check of ``validation/credibility/bands.yaml``."""

    id: str
    what: str
    units: str
    pass_rule: str | None = None
    warn_rule: str | None = None
    source: str = ""
    human: str | None = None
    human_model: str | None = None
    #: ``'upper'``: only values above the human band count against the simulation (pass ≤ mean + 2 SD)
    human_bound: str | None = None


def _bands_file() -> Path:
    """``validation/credibility/bands.yaml``: in ``$MMBIO_VALIDATION_DIR``, the installed package data or the
    checkout (the same places as the protocols)."""
    env = os.environ.get("MMBIO_VALIDATION_DIR")
    if env:
        return Path(env) / "credibility" / "bands.yaml"
    try:
        from importlib.util import find_spec

        spec = find_spec("mmbio._data.validation")
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if (Path(loc) / "credibility" / "bands.yaml").is_file():
                return Path(loc) / "credibility" / "bands.yaml"
    except (ImportError, ValueError):
        pass
    import mmbio

    return Path(mmbio.__file__).resolve().parents[1] / "validation" / "credibility" / "bands.yaml"


def load_bands(path: str | os.PathLike[str] | None = None) -> tuple[list[Band], dict[str, str]]:
    """The bands and the sources (key → citation) of ``validation/credibility/bands.yaml`` (or ``path``)."""
    from mmbio.errors import DataFileError
    from mmbio.io.yaml_safe import load_yaml

    p = Path(path) if path is not None else _bands_file()
    doc = load_yaml(p)
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list):
        raise DataFileError(p, "a credibility file needs a 'checks' list")
    sources = {str(k): " ".join(str(v).split()) for k, v in (doc.get("sources") or {}).items()}
    bands = []
    for i, c in enumerate(doc["checks"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str):
            raise DataFileError(p, f"checks[{i}] needs an 'id'")
        for key in ("pass", "warn"):
            if c.get(key) is not None and not _RULE.match(str(c[key])):
                raise DataFileError(p, f"checks[{i}] ({c['id']}): {key} must look like '<= 5', got {c[key]!r}")
        src = str(c.get("source", ""))
        if src and src not in sources:
            raise DataFileError(p, f"checks[{i}] ({c['id']}): unknown source {src!r}")
        bands.append(
            Band(
                id=c["id"],
                what=str(c.get("what", c["id"])),
                units=str(c.get("units", "")),
                pass_rule=None if c.get("pass") is None else str(c["pass"]),
                warn_rule=None if c.get("warn") is None else str(c["warn"]),
                source=src,
                human=c.get("human"),
                human_model=c.get("human_model"),
                human_bound=_bound(p, i, c),
            )
        )
    return bands, sources


def _bound(path: Path, i: int, c: dict[str, Any]) -> str | None:
    from mmbio.errors import DataFileError

    b = c.get("human_bound")
    if b is not None and b != "upper":
        raise DataFileError(path, f"checks[{i}] ({c['id']}): human_bound must be 'upper' or absent, got {b!r}")
    return b


def _holds(rule: str | None, x: float) -> bool:
    m = _RULE.match(rule or "")
    if m is None:
        return False
    op, v = m.group(1), float(m.group(2))
    return {"<=": x <= v, ">=": x >= v, "<": x < v, ">": x > v}[op]


def _status(x: float, pass_rule: str | None, warn_rule: str | None) -> str:
    if not math.isfinite(x):
        return "n/a"
    if _holds(pass_rule, x):
        return "pass"
    if warn_rule is not None and _holds(warn_rule, x):
        return "warn"
    return "fail"


def _interval_status(x: float, pass_lo: float, pass_hi: float, warn_lo: float, warn_hi: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    if pass_lo <= x <= pass_hi:
        return "pass"
    return "warn" if warn_lo <= x <= warn_hi else "fail"


#: Whole-body basal metabolic rate (W/kg) that a gross human measurement includes and a muscles-only simulation does
#: not: Umberger et al. 2003 and OpenSim's Umberger2010MuscleMetabolicsProbe default basal rate.
BASAL_W_PER_KG = 1.2


def human_metabolic_power(speed_m_s: float, running: bool) -> tuple[float, str]:
    """Typical human *net* metabolic power (W/kg) at ``speed_m_s`` (what muscles add to the basal rate, comparable
    with a muscles-only simulation) and the source key.

    Walking: Ralston (1958) gross E = 29 + 0.0053 v² cal/(kg·min) (v in m/min) minus :data:`BASAL_W_PER_KG`
    (2.9 W/kg at 1.25 m/s). Running: Margaria et al. (1963), net 4.2 J/(kg·m) × v."""
    if running:
        return 4.2 * speed_m_s, "margaria1963"
    v = speed_m_s * 60.0
    return (29.0 + 0.0053 * v * v) * 4.184 / 60.0 - BASAL_W_PER_KG, "ralston1958"


def _num(inputs: dict[str, Any], key: str) -> float:
    v = inputs.get(key)
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _worst_foot(trial: Trial, per_foot: Callable[[Any, float], float]) -> tuple[float, str]:
    """The largest ``per_foot(ground reaction, body mass kg)`` over the trial's feet and that foot ('right'/'left');
    NaN without GRF or body mass."""
    mass = trial.subject.mass_kg if trial.subject is not None else float("nan")
    if not trial.grf or not (mass and math.isfinite(mass) and mass > 0):
        return float("nan"), ""
    best, side = float("nan"), ""
    for s, g in trial.grf.items():
        x = per_foot(g, mass)
        if math.isfinite(x) and not (x <= best):
            best, side = x, {"r": "right", "l": "left"}.get(s, s)
    return best, side


def _max_vertical_bw(g: Any, mass: float) -> float:
    """Largest vertical GRF of one foot over the trial (BW)."""
    v = np.asarray(g.vertical, float)
    return float(np.nanmax(v)) / (mass * G) if v.size and np.isfinite(v).any() else float("nan")


def _max_free_moment(g: Any, mass: float) -> float:
    """Largest |free moment| of one foot in stance (N·m/kg, :func:`mmbio.analysis.grf.free_moment_peak`)."""
    from mmbio.analysis.grf import free_moment_peak

    return free_moment_peak(g.time, g.vertical, g.free_moment, mass)


def _human_band(variable: str, running: bool, speed: float) -> tuple[float, float, int, str] | None:
    """(mean, sd, n subjects, 'name:condition') of a reference scalar at the condition nearest ``speed``."""
    from mmbio.errors import MmbioError
    from mmbio.reference.registry import load_scalars

    name = "hamner2013_run" if running else "schreiber2019"
    try:
        s = load_scalars(name)
    except (MmbioError, OSError, KeyError):  # a missing table makes the check n/a, with the reason
        return None
    rows = s[s.variable == variable]
    speeds = s[s.variable == "speed"].groupby("condition")["mean"].mean()
    if rows.empty or speeds.empty:
        return None
    cond = str((speeds - speed).abs().idxmin()) if math.isfinite(speed) else str(speeds.index[0])
    r = rows[rows.condition == cond]
    if r.empty or not np.isfinite(r["sd"]).all():
        return None
    return float(r["mean"].mean()), float(np.sqrt(np.mean(r["sd"] ** 2))), int(r["n"].min()), f"{name}:{cond}"


def _worst_loading_rate(grf_metrics: dict[str, Any] | None) -> tuple[float, str]:
    """The larger vertical-GRF loading rate of the two feet (BW/s) from ``grf.<side>.vertical.loading_rate_bw_s``."""
    best, side = float("nan"), ""
    for s, variables in (grf_metrics or {}).items():
        m = (variables.get("vertical") or {}).get("loading_rate_bw_s")
        if m is not None and m.available and not (float(m.value) <= best):
            best, side = float(m.value), s
    return best, side


def assess_credibility(
    inputs: dict[str, Any],
    trial: Trial,
    *,
    running: bool = False,
    grf_metrics: dict[str, Any] | None = None,
    bands_path: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, dict[str, Metric]], list[dict[str, Any]], dict[str, str], list[str]]:
    """Credibility metrics and checks of a simulated trial.

    Returns ``(metrics, checks, sources, notes)``: metrics as ``variable → name → Metric`` (domain
    ``credibility``, side ``whole``); checks as dicts like protocol checks (``metric``, ``value``, ``units``,
    ``status`` pass/warn/fail/n/a, ``rule``, ``source``, ``reason``); the cited sources (key → citation).
    grf_metrics: the result's ``grf`` metrics (side → variable → name → Metric), for the loading rate.
    """
    bands, sources = load_bands(bands_path)
    speed = _num(inputs, "speed_m_s")
    if not math.isfinite(speed) and trial.subject is not None:
        speed = float(trial.subject.speed_m_s)
    applied = bool(inputs.get("residuals_applied", True))
    notes: list[str] = []
    values: dict[str, tuple[float, str, str]] = {}  # id → (value, reason if n/a, detail)

    def put(key: str, x: float, reason: str = "", detail: str = "") -> None:
        values[key] = (x, "" if math.isfinite(x) else (reason or "not provided by the simulation"), detail)

    f_ext, com = _num(inputs, "peak_external_force_n"), _num(inputs, "com_height_m")
    none_reason = str(inputs.get("residuals_note") or "no residual actuators: the simulation is driven by its muscles "
                      "only (residuals are 0 by design)")  # fmt: skip
    for key, src in (("residual_force_peak", "residual_force_peak_n"), ("residual_force_rms", "residual_force_rms_n"),
                     ("residual_moment_peak", "residual_moment_peak_nm"), ("residual_moment_rms", "residual_moment_rms_nm")):  # fmt: skip
        put(key, _num(inputs, src) if applied else 0.0, detail="" if applied else none_reason)
    fp = values["residual_force_peak"][0]
    mp = values["residual_moment_peak"][0]
    put("residual_force_peak_pct", 100 * fp / f_ext if f_ext > 0 else float("nan"), "no peak external force")
    put(
        "residual_moment_peak_pct",
        100 * mp / (com * f_ext) if f_ext > 0 and com > 0 else float("nan"),
        "no COM height or peak external force",
    )
    reserves = inputs.get("reserves")
    if reserves is None:
        put("reserve_peak_pct", 0.0 if not applied else float("nan"), "no reserve torques reported",
            none_reason.replace("residual", "reserve") if not applied else "")  # fmt: skip
    else:
        worst, which = float("nan"), ""
        for dof, r in reserves.items():
            net = float(r.get("peak_joint_moment_nm", float("nan")))
            pct = 100 * float(r.get("peak_nm", float("nan"))) / net if net > 1.0 else float("nan")
            if math.isfinite(pct) and not (pct <= worst):
                worst, which = pct, dof
        put(
            "reserve_peak_pct", worst, "no joint with a net moment above 1 N·m", f"worst joint {which}" if which else ""
        )
    put("joint_limit_excess", _num(inputs, "joint_limit_max_deg"),
        detail=f"worst joint {inputs['joint_limit_worst']}" if inputs.get("joint_limit_worst") else "")  # fmt: skip
    put("foot_penetration_max", 1000 * _num(inputs, "penetration_max_m"))
    put("foot_sliding_mean", _num(inputs, "sliding_mean_m_s"))
    gmax, gside = _worst_foot(trial, _max_vertical_bw)
    put("grf_vertical_max", gmax, "no GRF or no body mass", f"{gside} foot" if gside else "")
    fm, fm_side = _worst_foot(trial, _max_free_moment)
    put("free_moment_peak", fm, "no GRF in stance or no body mass", f"{fm_side} foot" if fm_side else "")
    lr, lr_side = _worst_loading_rate(grf_metrics)
    put(
        "grf_loading_rate",
        lr,
        "no loading rate (no GRF, body mass or rising edge)",
        f"{lr_side} foot" if lr_side else "",
    )
    put("metabolic_power", _num(inputs, "metabolic_w_per_kg"), "no muscle metabolic power (no excitations recorded)")

    for key, why in (inputs.get("na") or {}).items():
        values[str(key)] = (float("nan"), str(why), "")
    metrics: dict[str, dict[str, Metric]] = {}
    checks: list[dict[str, Any]] = []
    for b in bands:
        x, reason, detail = values.get(b.id, (float("nan"), "not computed for this simulation", ""))
        src = b.source
        if b.human:
            band = _human_band(b.human, running, speed)
            if band is None:
                status, rule = "n/a", "human band unavailable"
                reason = reason or f"no between-subject {b.human} in the reference"
            else:
                mu, sd, n, ref = band
                if b.human_bound == "upper":
                    status = _interval_status(x, -math.inf, mu + 2 * sd, -math.inf, mu + 3 * sd)
                    rule = f"{ref} humans {mu:.3g} ± {sd:.2g} (n {n}): pass ≤ mean + 2 SD; warn ≤ mean + 3 SD"
                else:
                    status = _interval_status(x, mu - 2 * sd, mu + 2 * sd, mu - 3 * sd, mu + 3 * sd)
                    rule = f"{ref} humans {mu:.2f} ± {sd:.2f} (n {n}): pass ±2 SD; warn ±3 SD"
                src = ref
        elif b.human_model:
            if not math.isfinite(speed) or speed <= 0.1:
                status, rule, reason = "n/a", "needs the speed", reason or "the trial's speed is unknown"
            else:
                e, src = human_metabolic_power(speed, running)
                status = _interval_status(x, 0.75 * e, 1.25 * e, 0.5 * e, 1.5 * e)
                rule = f"human net {e:.1f} W/kg at {speed:.2f} m/s: pass ±25 %; warn ±50 %"
        else:
            status = _status(x, b.pass_rule, b.warn_rule)
            rule = f"pass {b.pass_rule}" + (f"; warn {b.warn_rule}" if b.warn_rule else "")
        m = Metric(x, b.units, reason=reason) if math.isfinite(x) else Metric.na(b.units, reason)
        metrics.setdefault(b.id, {})["value"] = m
        check = {
            "metric": f"credibility.whole.{b.id}.value",
            "value": float(x) if math.isfinite(x) else None,
            "units": b.units,
            "status": status if math.isfinite(x) else "n/a",
            "rule": rule,
            "what": b.what + (f" ({detail})" if detail else ""),
            "source": src,
        }
        if not math.isfinite(x):
            check["reason"] = reason
        checks.append(check)
    if not applied:
        notes.append(f"credibility: {none_reason}")
    return metrics, checks, sources, notes
