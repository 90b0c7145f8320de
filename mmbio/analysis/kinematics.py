"""Joint-angle metrics: a trial's cycles against a reference mean (± SD) on 0–100 % of the gait cycle.

:func:`angle_metrics` works on one :class:`~mmbio.gait.cycles.Curve` and one reference curve; every
metric is computed on the trial's mean cycle (``value``) and on each cycle (``cycles``, (k,)):

* ``r`` (Pearson, '1'; not available when either curve is flat), ``rmse`` (deg);
* ``rom`` = max − min of the trial curve, ``rom_error`` = trial ROM − reference ROM;
* ``peak_max`` / ``peak_min`` (deg), ``*_error`` = trial − reference value, ``*_timing_error`` = trial − reference
  timing in % cycle, wrapped into (−50, 50] (a cycle is periodic);
* ``best_lag`` (% cycle) and ``r_at_best_lag``: circular cross-correlation over the cycle (the 101st sample
  repeats the 0 % phase and is dropped); positive lag = the trial is **late** relative to the reference;
* ``within_sd_band``: share of the cycle (% of samples) where the trial lies inside reference mean ± 1 SD
  (not available when the reference has no SD).

:func:`compare_kinematics` runs it for every angle channel and both sides of a trial. Body-level angles
(``pelvis_tilt``) use each side's cycles; the left side's ``pelvis_obliquity``/``pelvis_rotation`` are
negated to the ipsilateral clinical convention that the references use (Schwartz ``both``; Rajagopal
and Hamner store side ``l`` already mirrored).
"""

from __future__ import annotations

import numpy as np

from mmbio.analysis.result import CurvePair, Metric
from mmbio.analysis.stats import circular_diff, circular_xcorr_lag, inside_band_pct, pearson_r, rmse
from mmbio.errors import NoGaitCycleError, UnknownReferenceError
from mmbio.gait.cycles import Curve, channel_curve
from mmbio.reference.registry import load_curves, load_scalars, reference_curve
from mmbio.trial import BODY_ANGLES, SIDE_WORD, SIDES, Trial, side_of

#: Body-level angles whose left-side clinical value is the negative of the stored (right-referenced) one.
MIRRORED_FOR_LEFT = frozenset({"pelvis_obliquity", "pelvis_rotation"})

#: metric name → units ('deg' is replaced by the curve's own units)
ANGLE_METRIC_UNITS: dict[str, str] = {
    "r": "1",
    "rmse": "deg",
    "rom": "deg",
    "rom_error": "deg",
    "peak_max": "deg",
    "peak_max_error": "deg",
    "peak_max_timing_error": "% cycle",
    "peak_min": "deg",
    "peak_min_error": "deg",
    "peak_min_timing_error": "% cycle",
    "best_lag": "% cycle",
    "r_at_best_lag": "1",
    "within_sd_band": "% cycle",
}
_FLAT_DEG = 1e-9


def _metric(value: float, units: str, cycles: np.ndarray | None, reason: str) -> Metric:
    value = float(value)
    c = None if cycles is None else np.asarray(cycles, dtype=float).reshape(-1)
    if np.isfinite(value):
        return Metric(value, units, cycles=c)
    return Metric(float("nan"), units, cycles=c, reason=reason)


def na_angle_metrics(reason: str, units: str = "deg") -> dict[str, Metric]:
    """Every key of :func:`angle_metrics`, not available, with ``reason``."""
    return {k: Metric.na(units if u == "deg" else u, reason) for k, u in ANGLE_METRIC_UNITS.items()}


def angle_metrics(trial: Curve, ref_mean: np.ndarray, ref_sd: np.ndarray | None) -> dict[str, Metric]:
    """Metrics of ``trial`` (cycles (k, p) on 0–100 %) against ``ref_mean`` (p,) and ``ref_sd`` (p,) or None.

    A reference on a different number of points is interpolated onto the trial's ``pct``.
    Keys and rules: module doc (:data:`ANGLE_METRIC_UNITS`).
    """
    deg = trial.units or "deg"
    units = {k: (deg if u == "deg" else u) for k, u in ANGLE_METRIC_UNITS.items()}
    cyc = np.asarray(trial.cycles, dtype=float)
    if cyc.ndim != 2 or cyc.shape[0] == 0:
        return na_angle_metrics("no complete gait cycle", deg)
    pct = np.asarray(trial.pct, dtype=float)
    p = pct.size
    ref = np.asarray(ref_mean, dtype=float)
    sd = None if ref_sd is None else np.asarray(ref_sd, dtype=float)
    if ref.size != p:
        rp = np.linspace(0.0, 100.0, ref.size)
        ref = np.interp(pct, rp, ref)
        sd = None if sd is None else np.interp(pct, rp, sd)
    mean = trial.mean
    allc = np.vstack([mean[None, :], cyc])  # row 0 = mean cycle, rows 1.. = individual cycles
    ref_flat = not (np.nanmax(ref) - np.nanmin(ref) > _FLAT_DEG)
    rom = np.nanmax(allc, axis=1) - np.nanmin(allc, axis=1)
    flat = ~(rom > _FLAT_DEG)
    flat_reason = "reference curve is flat: r undefined" if ref_flat else "trial curve is flat: r undefined"

    out: dict[str, Metric] = {}

    def put(name: str, vals: np.ndarray, reason: str) -> None:
        vals = np.asarray(vals, dtype=float)
        out[name] = _metric(vals[0], units[name], vals[1:], reason)

    put("r", np.asarray(pearson_r(allc, ref)), flat_reason)
    put("rmse", np.asarray(rmse(allc, ref)), "no finite samples")
    put("rom", rom, "no finite samples")
    put("rom_error", rom - (np.nanmax(ref) - np.nanmin(ref)), "no finite samples")
    step = 100.0 / (p - 1)
    for kind, fn, argf in (("max", np.nanmax, np.nanargmax), ("min", np.nanmin, np.nanargmin)):
        val = fn(allc, axis=1)
        t_trial = pct[argf(allc, axis=1)]
        t_ref = pct[int(argf(ref))]
        dt = np.asarray(circular_diff(t_trial, t_ref), dtype=float)
        # a flat curve has no peak time
        dt = np.where(flat | ref_flat, np.nan, dt)
        put(f"peak_{kind}", val, "no finite samples")
        put(f"peak_{kind}_error", val - fn(ref), "no finite samples")
        put(f"peak_{kind}_timing_error", dt, "flat curve: no peak timing")
    lag, r_lag = circular_xcorr_lag(allc, ref, closed=True)
    put("best_lag", np.asarray(lag, dtype=float) * step, flat_reason)
    put("r_at_best_lag", np.asarray(r_lag, dtype=float), flat_reason)
    if sd is None or not np.isfinite(sd).any():
        out["within_sd_band"] = Metric.na("% cycle", "reference has no SD")
    else:
        put("within_sd_band", np.asarray(inside_band_pct(allc, ref - sd, ref + sd)), "no finite samples")
    return {k: out[k] for k in ANGLE_METRIC_UNITS}


def _ref_toe_off(reference: str, condition: str, side: str) -> float:
    """The reference's mean toe-off in % cycle (scalar ``toe_off_pct``; side, else 'both'); NaN if absent."""
    sc = load_scalars(reference, condition)
    for s in (side, "both"):
        row = sc[(sc.variable == "toe_off_pct") & (sc.side == s)]
        if len(row):
            return float(row["mean"].iloc[0])
    return float("nan")


def compare_kinematics(
    trial: Trial, reference: str, condition: str
) -> tuple[dict[str, dict[str, dict[str, Metric]]], list[CurvePair], list[str]]:
    """Joint-angle metrics of every angle channel of ``trial`` against ``reference:condition``, both sides.

    Returns ``(metrics, curves, notes)``: ``metrics[side_word][variable]`` → :func:`angle_metrics` (clinical
    names without suffix). A variable the reference lacks, or one without a complete cycle, still gets an
    entry with every metric not available and the reason. ``curves``: one :class:`CurvePair` per side and
    variable that has cycles (``ref_mean`` None when the reference lacks it).
    """
    notes: list[str] = []
    metrics: dict[str, dict[str, dict[str, Metric]]] = {}
    curves: list[CurvePair] = []
    if trial.angles is None:
        return metrics, curves, ["trial has no joint angles: kinematics not compared"]
    ref_table = load_curves(reference, condition)
    ref_vars = set(ref_table.variable[ref_table.quantity == "joint_angle"])
    for side in SIDES:
        word = SIDE_WORD[side]
        ref_to = _ref_toe_off(reference, condition, side)
        no_cycle: list[str] = []
        for name in trial.angles.names:
            s = side_of(name)
            var = name[:-2] if s else name
            if s not in (side, None) or (s is None and var not in BODY_ANGLES):
                continue
            units = trial.angles.unit(name) or "deg"
            try:
                c = channel_curve(trial, "angles", name, side)
            except NoGaitCycleError as e:
                no_cycle.append(var)
                metrics.setdefault(word, {})[var] = na_angle_metrics(f"no complete {word} gait cycle: {e}", units)
                continue
            if side == "l" and s is None and var in MIRRORED_FOR_LEFT:
                c = Curve(c.pct, -c.cycles, c.units, c.name, c.side, c.toe_off_pct)
            ref = None
            if var in ref_vars:
                try:
                    ref = reference_curve(reference, condition, var, side, quantity="joint_angle")
                except UnknownReferenceError:
                    ref = None
            if ref is None:
                why = f"reference has no {var}" + (f" for the {word} side" if var in ref_vars else "")
                metrics.setdefault(word, {})[var] = na_angle_metrics(why, units)
                ref_mean = ref_sd = None
            else:
                ref_mean = np.interp(c.pct, ref.pct, ref.mean)
                ref_sd = None if ref.sd is None else np.interp(c.pct, ref.pct, ref.sd)
                metrics.setdefault(word, {})[var] = angle_metrics(c, ref_mean, ref_sd)
            curves.append(
                CurvePair.from_cycles(
                    "kinematics",
                    word,
                    var,
                    units,
                    c.pct,
                    c.cycles,
                    ref_mean,
                    ref_sd,
                    toe_offs=c.toe_off_pct,
                    ref_toe_off_pct=ref_to,
                )
            )
        if no_cycle:
            notes.append(
                f"{word} joint angles not compared: no complete {word} gait cycle in the angle data ({', '.join(no_cycle)})"
            )
    return metrics, curves, notes
