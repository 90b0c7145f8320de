"""Which condition of a reference a trial's speed belongs to, for the protocol's speed-dependent bands.

A reference's conditions carry their speed in ``scalars.csv``: ``speed`` in m/s (Hamner 2, 3, 4, 5;
Schreiber C4 ≈ 1.2, C5 ≈ 1.7, both sides ``both``) or ``speed_dimensionless`` = v / √(g·L) with L the leg
length (Schwartz's five speed groups). When the trial's speed is known (``trial.subject.speed_m_s``: a C3D's
pelvis markers, OpenSim's ``pelvis_tx``, ``--speed``) the nearest condition is the one whose speed is
closest; for a dimensionless reference the trial's leg length comes from the subject (a C3D's
``R_legLength``/``L_legLength``), else from its height (L ≈ 0.53 × height, Winter 2009's greater-trochanter
height; said in the note). The comparison itself (curves, r) keeps the condition asked for; the note
says when the two differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mmbio.reference.registry import load_scalars
from mmbio.trial import GRAVITY, Trial

#: Leg length / height when the subject has no leg length (Winter 2009: greater trochanter at 0.530 H).
LEG_LENGTH_PER_HEIGHT = 0.53


@dataclass(frozen=True)
class SpeedCondition:
    """The condition whose bands apply (``band``), the one compared (``asked``) and the note that says why."""

    asked: str
    band: str
    note: str = ""


def condition_speeds(name: str) -> tuple[dict[str, float], str]:
    """``({condition: speed}, units)`` of a reference: m/s (``speed``) or ``'1'`` (``speed_dimensionless``)."""
    sc = load_scalars(name)
    for var, units in (("speed", "m/s"), ("speed_dimensionless", "1")):
        rows = sc[(sc.variable == var) & np.isfinite(sc["mean"].astype(float))]
        if len(rows):
            return {str(c): float(g["mean"].mean()) for c, g in rows.groupby("condition", sort=False)}, units
    return {}, ""


def _leg_length(trial: Trial) -> tuple[float, str]:
    """Leg length (m) and where it came from; NaN when neither leg length nor height is known."""
    ex = trial.subject.extra or {}
    legs = [float(v) for k, v in ex.items() if k in ("R_legLength", "L_legLength") and isinstance(v, int | float)]
    legs = [v for v in legs if 0.3 < v < 1.5]
    if legs:
        return float(np.mean(legs)), "the subject's leg length"
    h = float(trial.subject.height_m)
    if math.isfinite(h) and h > 0:
        return LEG_LENGTH_PER_HEIGHT * h, f"leg length estimated as {LEG_LENGTH_PER_HEIGHT} × height"
    return float("nan"), ""


def speed_condition(trial: Trial, name: str, condition: str) -> SpeedCondition:
    """The condition of ``name`` nearest the trial's speed (module doc); ``condition`` when it cannot be told."""
    speeds, units = condition_speeds(name)
    if len(speeds) < 2:
        return SpeedCondition(condition, condition)
    v = float(trial.subject.speed_m_s)
    listing = ", ".join(f"{c} {s:.3g}" for c, s in speeds.items())
    if not (math.isfinite(v) and v > 0):
        return SpeedCondition(
            condition,
            condition,
            f"speed-dependent bands from {name}:{condition} as asked (the trial's speed is unknown; "
            f"{name} speeds{' m/s' if units == 'm/s' else ' dimensionless'}: {listing})",
        )
    how = f"trial speed {v:.2f} m/s"
    x = v
    if units == "1":
        leg, src = _leg_length(trial)
        if not math.isfinite(leg):
            return SpeedCondition(
                condition,
                condition,
                f"speed-dependent bands from {name}:{condition} as asked (its speeds are dimensionless and the "
                "trial's leg length and height are unknown)",
            )
        x = v / math.sqrt(GRAVITY * leg)
        how += f" = {x:.3f} dimensionless (v/√(g·L), {src} {leg:.2f} m)"
    near = min(speeds, key=lambda c: abs(speeds[c] - x))
    u = " m/s" if units == "m/s" else ""
    note = f"{how}: nearest {name} condition {near} ({speeds[near]:.3g}{u}; all{u or ' dimensionless'}: {listing})"
    if near == condition:
        return SpeedCondition(condition, near, note + "; the protocol's speed-dependent bands use it")
    return SpeedCondition(
        condition,
        near,
        note + f"; compared with {name}:{condition} as asked, the protocol's speed-dependent bands use {name}:{near}",
    )
