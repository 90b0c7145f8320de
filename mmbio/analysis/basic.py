"""The first metric set: a trial's mean cycles against a reference dataset.

* Kinematics, per side and clinical angle present in both: Pearson r and RMSE (deg) between the
  trial's mean cycle and the reference mean, both on 0–100 % of the gait cycle (101 points).
* Vertical GRF, per side, on 0–100 % of stance: first peak (max over 0–50 % of stance), mid-stance
  valley (min between the two peaks) and second peak (max over 50–100 %), in body weights, with their
  timing in % of stance; the trial's values are the mean over its stance phases, the reference's come
  from its mean curve's stance portion (gait cycle from heel strike until the curve falls below
  0.05 BW).

Every number is a :class:`~mmbio.trial.Quantity`; a number that cannot be computed (a flat curve's r,
GRF without body mass) is absent or NaN with a note — never a made-up value. The JSON layout is
documented in ``docs/metrics_schema.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmbio.errors import MmbioError, NoGaitCycleError
from mmbio.gait.cycles import N_POINTS, channel_curve, stance_curve
from mmbio.trial import BODY_ANGLES, SIDES, Quantity, Trial, side_of

SIDE_WORD = {"r": "right", "l": "left"}
#: Body-level angles whose left-side clinical value is the negative of the stored (right-referenced) one.
MIRRORED_FOR_LEFT = frozenset({"pelvis_obliquity", "pelvis_rotation"})
STANCE_END_BW = 0.05


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either signal is flat (r is undefined, not 0)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    m = np.isfinite(a) & np.isfinite(b)
    if m.sum() < 3:
        return float("nan")
    a, b = a[m] - a[m].mean(), b[m] - b[m].mean()
    den = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if den <= 1e-12 * max(1.0, float(np.abs(a).max() * np.abs(b).max())):
        return float("nan")
    return float(np.dot(a, b) / den)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(np.sqrt(np.nanmean(d**2)))


def grf_peaks(stance: np.ndarray) -> dict[str, Quantity]:
    """Double-peak profile of one vertical-GRF curve over 0–100 % of stance ((p,) in BW)."""
    p = np.asarray(stance, dtype=float)
    pct = np.linspace(0, 100, p.size)
    half = p.size // 2
    i1 = int(np.argmax(p[: half + 1]))
    i2 = half + int(np.argmax(p[half:]))
    iv = i1 + int(np.argmin(p[i1 : i2 + 1]))
    return {
        "first_peak_bw": Quantity(float(p[i1]), "BW"),
        "first_peak_pct_stance": Quantity(float(pct[i1]), "% stance"),
        "valley_bw": Quantity(float(p[iv]), "BW"),
        "valley_pct_stance": Quantity(float(pct[iv]), "% stance"),
        "second_peak_bw": Quantity(float(p[i2]), "BW"),
        "second_peak_pct_stance": Quantity(float(pct[i2]), "% stance"),
    }


def reference_stance(cycle_mean: np.ndarray, pct: np.ndarray, n_points: int = N_POINTS) -> np.ndarray | None:
    """Stance part of a gait-cycle vertical GRF curve (BW), resampled to ``n_points`` on % of stance."""
    above = np.flatnonzero(cycle_mean > STANCE_END_BW)
    if above.size == 0 or above[0] > 5:
        return None
    peak = int(np.argmax(cycle_mean))
    after = np.flatnonzero(cycle_mean[peak:] < STANCE_END_BW)
    if after.size == 0:
        return None
    j = peak + int(after[0])
    # interpolate the toe-off point where the curve crosses the threshold
    x0, x1, y0, y1 = pct[j - 1], pct[j], cycle_mean[j - 1], cycle_mean[j]
    to = x0 + (STANCE_END_BW - y0) * (x1 - x0) / (y1 - y0) if y1 != y0 else x1
    return np.interp(np.linspace(0, to, n_points), pct, cycle_mean)


@dataclass
class BasicComparison:
    """Result of :func:`compare`: nested metrics (``metrics['kinematics']['right']['knee_flexion']['r']``)."""

    metrics: dict
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        def conv(x: object) -> object:
            if isinstance(x, Quantity):
                return x.to_dict()
            if isinstance(x, dict):
                return {k: conv(v) for k, v in x.items()}
            if isinstance(x, list):
                return [conv(v) for v in x]
            if isinstance(x, np.generic):
                return x.item()
            return x

        out = conv(self.metrics)
        assert isinstance(out, dict)
        out["notes"] = list(self.notes)
        return out


def _ref_curve(curves: pd.DataFrame, quantity: str, variable: str, side: str) -> pd.DataFrame | None:
    d = curves[(curves.quantity == quantity) & (curves.variable == variable)]
    for s in (side, "both"):
        ds = d[d.side == s].sort_values("pct")
        if len(ds):
            return ds
    return None


def compare(trial: Trial, curves: pd.DataFrame) -> BasicComparison:
    """Compare ``trial`` with one condition of a reference (the ``curves.csv`` rows of that condition)."""
    notes: list[str] = []
    kin: dict[str, dict] = {}
    grf: dict[str, dict] = {}
    pct = np.linspace(0, 100, N_POINTS)
    src = trial.source or trial.name
    any_cycle = False
    no_cycle: dict[str, list[str]] = {}
    for side in SIDES:
        word = SIDE_WORD[side]
        if trial.angles is not None:
            for name in trial.angles.names:
                s = side_of(name)
                var = name[:-2] if s else name
                if s not in (side, None) or (s is None and var not in BODY_ANGLES):
                    continue
                ref = _ref_curve(curves, "joint_angle", var, side)
                if ref is None:
                    continue
                try:
                    c = channel_curve(trial, "angles", name, side)
                except NoGaitCycleError:
                    no_cycle.setdefault(word, []).append(var)
                    continue
                any_cycle = True
                mean = -c.mean if (side == "l" and s is None and var in MIRRORED_FOR_LEFT) else c.mean
                rmean = np.interp(pct, ref.pct.to_numpy(float), ref["mean"].to_numpy(float))
                kin.setdefault(word, {})[var] = {
                    "r": Quantity(pearson_r(mean, rmean), "1"),
                    "rmse": Quantity(rmse(mean, rmean), "deg"),
                    "n_cycles": c.n_cycles,
                }
        if side in trial.grf:
            if not np.isfinite(trial.subject.mass_kg):
                notes.append(f"{word} GRF not compared: the subject's body mass is unknown (pass --mass)")
                continue
            sc, win = stance_curve(trial, side)
            if sc.n_cycles == 0:
                notes.append(f"{word}: no complete stance phase with force data")
                continue
            any_cycle = True
            per = [grf_peaks(c) for c in sc.cycles]
            entry: dict[str, object] = {
                k: Quantity(float(np.mean([p[k].value for p in per])), per[0][k].units) for k in per[0]
            }
            entry["stance_time_s"] = Quantity(float(np.mean([b - a for a, b in win])), "s")
            entry["n_stances"] = sc.n_cycles
            ref = _ref_curve(curves, "grf", "grf_vertical", side)
            if ref is not None:
                rs = reference_stance(ref["mean"].to_numpy(float), ref.pct.to_numpy(float))
                if rs is not None:
                    entry["reference"] = grf_peaks(rs)
                    entry["r"] = Quantity(pearson_r(sc.mean, rs), "1")
                    entry["rmse_bw"] = Quantity(rmse(sc.mean, rs), "BW")
            grf[word] = entry
    for word, names in no_cycle.items():
        notes.append(f"{word} joint angles not compared: no complete {word} gait cycle inside the angle data ({', '.join(names)})")
    if not any_cycle:
        raise NoGaitCycleError(f"{src}: no complete gait cycle to compare (check the events and the signals' time spans)")
    if not kin and trial.angles is not None:
        notes.append("no joint angle shared by the trial and the reference")
    return BasicComparison({"kinematics": kin, "grf": grf}, notes)


def require_columns(curves: pd.DataFrame) -> None:
    need = {"condition", "quantity", "variable", "side", "units", "pct", "mean", "sd"}
    missing = need - set(curves.columns)
    if missing:
        raise MmbioError(f"reference table lacks columns {sorted(missing)}")
