"""Ground-reaction-force metrics on 0–100 % of stance: the vertical double-peak profile, the running
active peak and impact transient, antero-posterior braking/propulsion, and the comparison with a reference.

All forces in body weights (BW = N / (mass × 9.81)); a stance curve is ``(p,)`` samples on 0–100 % of
stance (101 by default) and ``stance_time_s`` maps it to time for rates and impulses.

**Walking profile** (:func:`vertical_profile`). ``first_peak`` = maximum over 0–50 % of stance,
``second_peak`` = maximum over 50–100 %, ``valley`` = minimum between them. A "peak" that sits on the
50 % boundary with no dip between it and the other peak is not a peak (single-humped curve): it and the
valley are not available and ``valley_depth_ratio`` (valley / lower peak) is 1.0 (= no dip).

**double_peak rule** (:data:`DOUBLE_PEAK_RULE`): 1.0 when all of

* a first peak lies in 10–45 % and a second peak in 55–90 % of stance,
* both peaks exceed 0.8 BW,
* the valley between them lies at least 0.05 BW below the lower peak;

else 0.0. Measured with this module (``tests/test_analysis_grf.py``): every walking stance of Rajagopal
(2 right + 1 left), Schreiber C4 and C5 (3 subjects × both feet) and the Schwartz reference curves at
slow, free, fast and very fast speed passes — lowest peak 0.96 BW (Schreiber 2014004 C4 left), smallest
dip 0.10 BW for single adult stances and 0.075 BW for the Schwartz slow mean curve, first peaks at
20–29 %, second peaks at 67–80 % of stance. Hamner running (5 subjects, 2–5 m/s) and all 18 Dorn running
stances fail: a single hump (no valley), or at 9.49 m/s a plateau after an active peak at 27–30 %.
The thresholds leave margin on both sides: 0.05 BW is below the smallest healthy dip, 0.8 BW well below
the lowest healthy peak yet excludes a low-amplitude ripple. Schwartz *very slow* (children, ≈ 0.17
dimensionless speed) is a flat-topped mean curve with a 0.01 BW dip and is, correctly, not double-peaked.

**Running** (``running=True``) replaces the walking keys (a running stance has one hump: its "first peak"
would only repeat the active peak) by ``active_peak_bw`` = maximum over 15–100 % of stance and
``impact_peak_bw`` = the impact transient before it, inside the first :data:`IMPACT_WINDOW_PCT` % of stance:
either a local maximum of the force, or — as in rear-foot running data filtered at typical cut-offs
(Dorn 2012, 3.56 m/s; Hamner 2013, 50–65 ms after contact) — a *shoulder*: after the steepest initial rise
the slope falls to at most :data:`SHOULDER_SLOPE_RATIO` of that steepest slope and then rises again by at
least :data:`SHOULDER_RECOVERY_RATIO` of it before the active peak. The impact value is the force at the
local maximum or at the slope minimum. Fore-foot strikes load smoothly (the slope falls monotonically to
the active peak): ``impact_peak_bw`` not available, with the reason. The rule is the same for both feet
and scale-free (slope ratios).

For a trial (:func:`compare_grf`) the impact transient is decided **per stance**, not on the mean curve:
averaging stances whose transient comes a few % of stance apart smooths it into a shallower shoulder,
so a mean-curve decision flips between feet of the same runner (Hamner subject04 at 3 m/s: found on the
right mean curve, not on the left, although 6 of 7 right and 4 of 8 left stances have one). The trial has
an impact transient when at least half of its stances have one (:data:`IMPACT_MIN_FRACTION`);
``impact_peak_bw`` / ``_pct_stance`` are then the medians over those stances (the mean curve's loading rate
is taken up to that median timing), ``impact_stance_fraction`` says how many had one. Measured on the five
shared Hamner runners at 2–5 m/s: both feet agree at every speed but one (subject01 at 5 m/s: 6 of 6 left
stances, 2 of 6 right, where the slope at the shoulder stays at 0.24–0.58 of the steepest rise — a real
asymmetry, not the rule).

**Loading rate**: mean slope between 20 % and 80 % of the first peak (walking), of the impact peak
(running), or of the active peak when there is no impact, on the rising edge before that peak, BW/s.

**Without body mass** (a C3D without SUBJECT weight, a trial loaded without ``--mass``) the stance curves
stay in N: what needs no mass is still computed — stance time, the timing of peaks and valley (% stance),
``valley_depth_ratio``, ``ap_zero_crossing_pct_stance`` and the Pearson r against the reference (r does not
depend on the scale) — and every value in BW is not available ('body mass unknown').

**AP** (:func:`ap_profile`): lab x forward, so braking is negative: ``braking_peak_bw`` is the most
negative value (a negative number), ``propulsion_peak_bw`` the most positive; impulses are the
integrals of the negative part (≤ 0) and of the positive part (≥ 0); ``ap_zero_crossing_pct_stance``
is the last negative-to-positive crossing between the braking and the propulsion peaks.
"""

from __future__ import annotations

import itertools

import numpy as np

from mmbio.analysis.result import CurvePair, Metric
from mmbio.analysis.stats import pearson_r, rmse
from mmbio.errors import UnknownReferenceError
from mmbio.gait.cycles import N_POINTS, stance_curve
from mmbio.reference.registry import ReferenceCurve, get_reference, load_scalars, reference_curve
from mmbio.trial import GRAVITY, SIDE_WORD, SIDES, Trial

STANCE_END_BW = 0.05  # a reference gait-cycle curve's stance ends where it falls below this

# double-peak rule (module doc)
FIRST_PEAK_WINDOW_PCT = (10.0, 45.0)
SECOND_PEAK_WINDOW_PCT = (55.0, 90.0)
MIN_PEAK_BW = 0.8
MIN_DIP_BW = 0.05
DOUBLE_PEAK_RULE = (
    "double_peak = 1 when a first peak lies in 10–45 % and a second peak in 55–90 % of stance, both peaks "
    "exceed 0.8 BW and the valley between them lies at least 0.05 BW below the lower peak"
)

# running
ACTIVE_PEAK_FROM_PCT = 15.0
IMPACT_WINDOW_PCT = 30.0
SHOULDER_SLOPE_RATIO = 0.35
SHOULDER_RECOVERY_RATIO = 0.10
#: a trial whose median stance/stride ratio (duty factor) is below this has flight phases: running
RUNNING_DUTY_FACTOR = 0.5

VERTICAL_UNITS: dict[str, str] = {
    "first_peak_bw": "BW",
    "first_peak_pct_stance": "% stance",
    "valley_bw": "BW",
    "valley_pct_stance": "% stance",
    "second_peak_bw": "BW",
    "second_peak_pct_stance": "% stance",
    "valley_depth_ratio": "1",
    "loading_rate_bw_s": "BW/s",
    "impulse_bw_s": "BW·s",
    "stance_time_s": "s",
    "double_peak": "bool",
}
RUNNING_UNITS: dict[str, str] = {
    "active_peak_bw": "BW",
    "active_peak_pct_stance": "% stance",
    "impact_peak_bw": "BW",
    "impact_peak_pct_stance": "% stance",
}
#: keys of a walking profile that a running stance does not have (one hump)
WALKING_ONLY: tuple[str, ...] = (
    "first_peak_bw",
    "first_peak_pct_stance",
    "valley_bw",
    "valley_pct_stance",
    "second_peak_bw",
    "second_peak_pct_stance",
    "valley_depth_ratio",
)
#: the running profile: the running keys, then the keys walking and running share
RUNNING_PROFILE_UNITS: dict[str, str] = {
    **RUNNING_UNITS,
    **{k: u for k, u in VERTICAL_UNITS.items() if k not in WALKING_ONLY},
}
#: per-trial running metrics (:func:`compare_grf`)
IMPACT_UNITS: dict[str, str] = {"impact_stance_fraction": "1"}
#: a trial has an impact transient when at least this fraction of its stances has one
IMPACT_MIN_FRACTION = 0.5
#: metrics in BW (not available without body mass)
BW_KEYS = frozenset(k for k, u in {**VERTICAL_UNITS, **RUNNING_UNITS}.items() if u in ("BW", "BW/s", "BW·s")) | {
    "double_peak"
}
NO_MASS = "body mass unknown"
AP_UNITS: dict[str, str] = {
    "braking_peak_bw": "BW",
    "braking_peak_pct_stance": "% stance",
    "propulsion_peak_bw": "BW",
    "propulsion_peak_pct_stance": "% stance",
    "braking_impulse_bw_s": "BW·s",
    "propulsion_impulse_bw_s": "BW·s",
    "ap_zero_crossing_pct_stance": "% stance",
}
COMPARE_UNITS: dict[str, str] = {"r": "1", "rmse_bw": "BW", "n_stances": "count"}

_NAN = float("nan")


#: free moment peaks are taken where the foot carries at least this fraction of body weight (the COP, and with it
#: the free moment, is ill-defined under a small force)
FREE_MOMENT_MIN_BW = 0.1


def free_moment_peak(time: np.ndarray, vertical_n: np.ndarray, free_moment_nm: np.ndarray, mass_kg: float,
                     window: tuple[float, float] | None = None) -> float:  # fmt: skip
    """Largest |free moment| (the ground's moment about the vertical through the COP) of one foot, N·m/kg, over the
    frames (within ``window`` s, if given) where its vertical force is at least :data:`FREE_MOMENT_MIN_BW` of body
    weight; NaN when there are none. time (n,) s, vertical_n (n,) N, free_moment_nm (n,) N·m, mass_kg > 0."""
    t, fz, tz = (np.asarray(a, float) for a in (time, vertical_n, free_moment_nm))
    sel = np.isfinite(fz) & np.isfinite(tz) & (fz >= FREE_MOMENT_MIN_BW * mass_kg * GRAVITY)
    if window is not None:
        sel &= (t >= window[0]) & (t <= window[1])
    if not sel.any() or not mass_kg > 0:
        return float("nan")
    return float(np.max(np.abs(tz[sel]))) / mass_kg


def _m(value: float, units: str, reason: str = "") -> Metric:
    value = float(value)
    return Metric(value, units) if np.isfinite(value) else Metric.na(units, reason or "not available")


def _trapz(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def _rise_time_pct(f: np.ndarray, pct: np.ndarray, i_peak: int, level: float) -> float:
    """% stance where ``f`` last crosses ``level`` upward before ``i_peak`` (linear interpolation)."""
    below = np.flatnonzero(f[: i_peak + 1] < level)
    if below.size == 0:
        return _NAN
    j = int(below[-1])
    if j >= i_peak:
        return _NAN
    y0, y1 = f[j], f[j + 1]
    return float(pct[j] + (level - y0) * (pct[j + 1] - pct[j]) / (y1 - y0))


def loading_rate(f: np.ndarray, stance_time_s: float, i_peak: int) -> float:
    """Mean slope (BW/s) of ``f`` (p,) BW over % stance between 20 % and 80 % of ``f[i_peak]``."""
    pct = np.linspace(0.0, 100.0, f.size)
    peak = float(f[i_peak])
    if not (np.isfinite(peak) and peak > 0 and np.isfinite(stance_time_s) and stance_time_s > 0):
        return _NAN
    t20 = _rise_time_pct(f, pct, i_peak, 0.2 * peak)
    t80 = _rise_time_pct(f, pct, i_peak, 0.8 * peak)
    dt = (t80 - t20) / 100.0 * stance_time_s
    return float(0.6 * peak / dt) if np.isfinite(dt) and dt > 0 else _NAN


def _impact(f: np.ndarray, pct: np.ndarray, i_active: int) -> tuple[int | None, str]:
    """Index of the impact transient before ``i_active`` (module doc), or ``None`` with the reason."""
    lim = min(int(np.searchsorted(pct, IMPACT_WINDOW_PCT, side="right")) - 1, i_active - 1)
    if lim < 3:
        return None, "no impact transient (active peak too early to separate one)"
    s = np.gradient(f)
    j_up = int(np.argmax(s[: lim + 1]))
    if s[j_up] <= 0:
        return None, "no impact transient (force does not rise)"
    # (a) a local maximum: the slope turns negative before the window ends
    neg = np.flatnonzero(s[j_up : lim + 1] <= 0)
    if neg.size:
        j = j_up + int(neg[0])
        i0 = j_up + int(np.argmax(f[j_up : j + 1]))
        return i0, ""
    # (b) a shoulder: the slope drops to a small fraction of the steepest rise, then rises again
    if lim <= j_up + 1:
        return None, "no impact transient (smooth loading to the active peak)"
    j = j_up + 1 + int(np.argmin(s[j_up + 1 : lim + 1]))
    later = s[j : i_active + 1]
    if s[j] <= SHOULDER_SLOPE_RATIO * s[j_up] and later.max() - s[j] >= SHOULDER_RECOVERY_RATIO * s[j_up]:
        return j, ""
    return None, "no impact transient (smooth loading to the active peak, e.g. a fore-foot strike)"


def profile_units(running: bool) -> dict[str, str]:
    """The keys and units of :func:`vertical_profile` for a walking or a running stance."""
    return dict(RUNNING_PROFILE_UNITS if running else VERTICAL_UNITS)


def _vertical_values(stance: np.ndarray, stance_time_s: float, running: bool, in_bw: bool) -> dict[str, Metric]:
    f = np.asarray(stance, dtype=float)
    p = f.size
    units = profile_units(running)
    out: dict[str, Metric] = {}
    if p < 5 or not np.all(np.isfinite(f)):
        reason = "stance curve has NaN" if p >= 5 else "stance curve too short"
        return {k: Metric.na(u, reason) for k, u in units.items()}
    pct = np.linspace(0.0, 100.0, p)
    ts = float(stance_time_s)
    time_ok = np.isfinite(ts) and ts > 0
    if running:
        a0 = int(np.searchsorted(pct, ACTIVE_PEAK_FROM_PCT))
        ia = a0 + int(np.argmax(f[a0:]))
        out["active_peak_bw"] = _m(f[ia], "BW")
        out["active_peak_pct_stance"] = _m(pct[ia], "% stance")
        ii, why = _impact(f, pct, ia)
        out["impact_peak_bw"] = _m(f[ii] if ii is not None else _NAN, "BW", why)
        out["impact_peak_pct_stance"] = _m(pct[ii] if ii is not None else _NAN, "% stance", why)
        i_rate = ii if ii is not None else ia
    half = int(np.argmin(np.abs(pct - 50.0)))
    i1 = int(np.argmax(f[: half + 1]))
    i2 = half + int(np.argmax(f[half:]))
    iv = i1 + int(np.argmin(f[i1 : i2 + 1]))
    dip = iv not in (i1, i2)
    lower = min(f[i1], f[i2])
    if not running:
        # without a dip one of the two "peaks" is only the flank of a single hump
        has1 = dip or (iv == i2 and i1 != i2) or i1 == i2
        has2 = dip or (iv == i1 and i1 != i2)
        single = not dip
        reason_single = "single-humped curve: no mid-stance valley"
        out["first_peak_bw"] = _m(f[i1] if has1 else _NAN, "BW", "no first peak (single-humped curve)")
        out["first_peak_pct_stance"] = _m(pct[i1] if has1 else _NAN, "% stance", "no first peak (single-humped curve)")
        out["valley_bw"] = _m(_NAN if single else f[iv], "BW", reason_single)
        out["valley_pct_stance"] = _m(_NAN if single else pct[iv], "% stance", reason_single)
        out["second_peak_bw"] = _m(f[i2] if has2 else _NAN, "BW", "no second peak (single-humped curve)")
        out["second_peak_pct_stance"] = _m(
            pct[i2] if has2 else _NAN, "% stance", "no second peak (single-humped curve)"
        )
        out["valley_depth_ratio"] = _m(
            1.0 if single else f[iv] / lower if lower > 0 else _NAN, "1", "peaks not positive"
        )
        i_rate = i1
    double = (
        dip
        and FIRST_PEAK_WINDOW_PCT[0] <= pct[i1] <= FIRST_PEAK_WINDOW_PCT[1]
        and SECOND_PEAK_WINDOW_PCT[0] <= pct[i2] <= SECOND_PEAK_WINDOW_PCT[1]
        and lower > MIN_PEAK_BW
        and lower - f[iv] >= MIN_DIP_BW
    )
    lr = loading_rate(f, ts, i_rate) if time_ok else _NAN
    out["loading_rate_bw_s"] = _m(lr, "BW/s", "stance time unknown" if not time_ok else "no rising edge")
    out["impulse_bw_s"] = _m(ts * _trapz(f, pct / 100.0) if time_ok else _NAN, "BW·s", "stance time unknown")
    out["stance_time_s"] = _m(ts if time_ok else _NAN, "s", "stance time unknown")
    out["double_peak"] = Metric(1.0 if double else 0.0, "bool")
    if not in_bw:  # the curve is in N: what needs body weight is not available
        for k in BW_KEYS & out.keys():
            out[k] = Metric.na(units[k], f"{NO_MASS} (pass --mass)")
    return {k: out[k] for k in units}


def vertical_profile(
    stance: np.ndarray, stance_time_s: float, *, running: bool, in_bw: bool = True
) -> dict[str, Metric]:
    """Vertical-GRF profile of one stance curve ``stance`` (p,) over 0–100 % of stance.

    Keys: :func:`profile_units` (:data:`VERTICAL_UNITS` walking, :data:`RUNNING_PROFILE_UNITS` running); rules in
    the module doc. ``stance`` is in BW; with ``in_bw=False`` it is in N (body mass unknown) and the BW values
    (peaks, valley, loading rate, impulse, ``double_peak`` with its 0.8 BW floor) are not available.
    """
    return _vertical_values(stance, stance_time_s, running, in_bw)


def ap_profile(ap: np.ndarray, stance_time_s: float, *, in_bw: bool = True) -> dict[str, Metric]:
    """Antero-posterior GRF profile of ``ap`` (p,) BW over 0–100 % of stance (x forward: braking < 0).

    With ``in_bw=False`` ``ap`` is in N (body mass unknown): only the timings are available.
    """
    f = np.asarray(ap, dtype=float)
    if f.size < 5 or not np.all(np.isfinite(f)):
        return {k: Metric.na(u, "AP curve has NaN or is too short") for k, u in AP_UNITS.items()}
    pct = np.linspace(0.0, 100.0, f.size)
    ts = float(stance_time_s)
    time_ok = np.isfinite(ts) and ts > 0
    ib, ip = int(np.argmin(f)), int(np.argmax(f))
    brake, prop = f[ib] < 0, f[ip] > 0
    out = {
        "braking_peak_bw": _m(f[ib] if brake else _NAN, "BW", "no braking phase (AP force never negative)"),
        "braking_peak_pct_stance": _m(pct[ib] if brake else _NAN, "% stance", "no braking phase"),
        "propulsion_peak_bw": _m(f[ip] if prop else _NAN, "BW", "no propulsion phase (AP force never positive)"),
        "propulsion_peak_pct_stance": _m(pct[ip] if prop else _NAN, "% stance", "no propulsion phase"),
        "braking_impulse_bw_s": _m(
            ts * _trapz(np.minimum(f, 0.0), pct / 100) if time_ok else _NAN, "BW·s", "stance time unknown"
        ),
        "propulsion_impulse_bw_s": _m(
            ts * _trapz(np.maximum(f, 0.0), pct / 100) if time_ok else _NAN, "BW·s", "stance time unknown"
        ),
    }
    zc = _NAN
    why = "no braking-to-propulsion crossing"
    if brake and prop and ib < ip:
        seg = f[ib : ip + 1]
        up = np.flatnonzero((seg[:-1] < 0) & (seg[1:] >= 0))
        if up.size:
            j = ib + int(up[-1])
            zc = float(pct[j] - f[j] * (pct[j + 1] - pct[j]) / (f[j + 1] - f[j]))
    elif brake and prop:
        why = "propulsion peak precedes the braking peak"
    out["ap_zero_crossing_pct_stance"] = _m(zc, "% stance", why)
    if not in_bw:
        for k, u in AP_UNITS.items():
            if u != "% stance":
                out[k] = Metric.na(u, f"{NO_MASS} (pass --mass)")
    return out


def _with_cycles(mean: dict[str, Metric], per: list[dict[str, Metric]]) -> dict[str, Metric]:
    """Attach the per-stance values (k,) of each metric to the mean-curve metrics."""
    for k, m in mean.items():
        m.cycles = np.array([float(p[k].value) for p in per]) if per else None
    return mean


# --------------------------------------------------------------------------------------------- reference


def cycle_to_stance(
    cycle_mean: np.ndarray, pct: np.ndarray, toe_off_pct: float, n_points: int = N_POINTS
) -> np.ndarray:
    """Resample the 0..``toe_off_pct`` part of a gait-cycle curve (p,) onto ``n_points`` on % stance."""
    return np.interp(np.linspace(0.0, toe_off_pct, n_points), pct, np.asarray(cycle_mean, dtype=float))


def stance_end_pct(vertical: np.ndarray, pct: np.ndarray) -> float | None:
    """Toe off (% cycle) of a gait-cycle vertical-GRF curve (p,) BW: where, after its maximum, it first falls
    below 0.05 BW (interpolated). ``None`` when the curve is not loaded within its first 5 samples (no heel
    strike at 0 %) or never unloads."""
    above = np.flatnonzero(vertical > STANCE_END_BW)
    if above.size == 0 or above[0] > 5:
        return None
    peak = int(np.argmax(vertical))
    after = np.flatnonzero(vertical[peak:] < STANCE_END_BW)
    if after.size == 0:
        return None
    j = peak + int(after[0])
    x0, x1, y0, y1 = pct[j - 1], pct[j], vertical[j - 1], vertical[j]
    return float(x0 + (STANCE_END_BW - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)


def reference_stance(
    ref: ReferenceCurve, n_points: int = N_POINTS, toe_off_pct: float | None = None
) -> tuple[np.ndarray | None, float]:
    """Stance part of a reference vertical-GRF curve on % gait cycle: ``(stance (n_points,) BW, toe_off_pct)``.

    Stance starts at 0 % (heel strike; the curve must be loaded above 0.05 BW within the first 5 samples)
    and ends where the curve, after its maximum, first falls below 0.05 BW (interpolated). ``(None, NaN)``
    when the curve has no such stance. A known ``toe_off_pct`` (the dataset's toe-off event, scalar
    ``toe_off_pct``) replaces the crossing when it lies later: on a single subject's curve the threshold ends
    stance early (Rajagopal: 64.8 % vs the event's 66.2 %, which time-warps the curve against event-cut
    trials: r 0.990 → 0.9999), while a multi-subject mean curve is still loaded at the mean toe-off
    (Schwartz very fast: 0.2 BW at the published 56 %), so the later of the two is used.
    """
    m = np.asarray(ref.mean, dtype=float)
    pct = np.asarray(ref.pct, dtype=float)
    to = stance_end_pct(m, pct)
    if to is None:
        return None, _NAN
    if toe_off_pct is not None and np.isfinite(toe_off_pct) and to < toe_off_pct <= 100:
        to = float(toe_off_pct)
    return cycle_to_stance(m, pct, to, n_points), to


def _ref_curve(name: str, condition: str, variable: str, side: str) -> ReferenceCurve | None:
    try:
        return reference_curve(name, condition, variable, side, quantity="grf")
    except UnknownReferenceError:
        return None


def _reference_is_running(name: str, condition: str) -> bool | None:
    ds = get_reference(name)
    text = " ".join([ds.name, ds.title, ds.description, str(ds.condition_info(condition).get("description", ""))])
    text = text.lower()
    if "run" in text:
        return True
    if "walk" in text:
        return False
    return None


def duty_factor(trial: Trial) -> float:
    """Median stance time / stride time over the trial's complete strides (NaN without any)."""
    vals = []
    for s in SIDES:
        hs = trial.events.heel_strike[s]
        to = trial.events.toe_off[s]
        for a, b in itertools.pairwise(hs):
            inside = to[(to > a) & (to < b)]
            if inside.size:
                vals.append((inside[0] - a) / (b - a))
    return float(np.median(vals)) if vals else _NAN


def infer_running(trial: Trial, reference: str, condition: str) -> bool:
    """Running or walking: the trial's duty factor (< 0.5 = flight phases = running) when it has a
    complete stride, else the reference's name/description (``run``/``walk``), else walking."""
    df = duty_factor(trial)
    if np.isfinite(df):
        return bool(df < RUNNING_DUTY_FACTOR)
    return bool(_reference_is_running(reference, condition))


# --------------------------------------------------------------------------------------------- compare


def _na_all(units: dict[str, str], reason: str) -> dict[str, Metric]:
    return {k: Metric.na(u, reason) for k, u in units.items()}


def _trial_impact(
    mean: dict[str, Metric], per: list[dict[str, Metric]], curve: np.ndarray, stance_time_s: float, in_bw: bool
) -> None:
    """Replace the mean curve's impact decision by the per-stance one (module doc), in place.

    Sets ``impact_peak_bw`` / ``impact_peak_pct_stance`` (medians over the stances that have a transient,
    when at least :data:`IMPACT_MIN_FRACTION` of them do), ``impact_stance_fraction`` and the mean curve's
    ``loading_rate_bw_s`` up to that transient (or to the active peak without one).
    """
    pct_k = np.array([float(p["impact_peak_pct_stance"].value) for p in per])
    val_k = np.array([float(p["impact_peak_bw"].value) for p in per])
    found = np.isfinite(pct_k)
    n, k = len(per), int(found.sum())
    frac = k / n if n else _NAN
    mean["impact_stance_fraction"] = Metric(frac, "1", cycles=found.astype(float))
    f = np.asarray(curve, dtype=float)
    pct = np.linspace(0.0, 100.0, f.size)
    if n and frac >= IMPACT_MIN_FRACTION:
        at = float(np.median(pct_k[found]))
        mean["impact_peak_pct_stance"] = Metric(at, "% stance", cycles=pct_k)
        val = float(np.median(val_k[found])) if in_bw else _NAN
        mean["impact_peak_bw"] = Metric(val, "BW", cycles=val_k, reason="" if in_bw else f"{NO_MASS} (pass --mass)")
        i_rate = int(np.argmin(np.abs(pct - at)))
    else:
        why = f"no impact transient: found in {k} of {n} stances (needs at least {IMPACT_MIN_FRACTION:.0%})"
        mean["impact_peak_pct_stance"] = Metric(_NAN, "% stance", cycles=pct_k, reason=why)
        mean["impact_peak_bw"] = Metric(_NAN, "BW", cycles=val_k, reason=why if in_bw else f"{NO_MASS}; {why}")
        a = mean["active_peak_pct_stance"].value
        i_rate = int(np.argmin(np.abs(pct - a))) if np.isfinite(a) else int(np.argmax(f))
    lr = mean["loading_rate_bw_s"]
    if in_bw and np.isfinite(stance_time_s) and stance_time_s > 0:
        v = loading_rate(f, stance_time_s, i_rate)
        mean["loading_rate_bw_s"] = Metric(
            v, "BW/s", cycles=lr.cycles, reason="" if np.isfinite(v) else "no rising edge"
        )


def compare_grf(
    trial: Trial, reference: str, condition: str, *, running: bool | None = None
) -> tuple[dict[str, dict[str, dict[str, Metric]]], list[CurvePair], list[str]]:
    """GRF metrics of ``trial`` against ``reference:condition``, per side.

    Returns ``(metrics, curves, notes)``. ``metrics[side_word]`` has the variables ``vertical`` and ``ap``
    (trial profile: value on the mean stance curve, ``cycles`` per stance phase, plus ``r``, ``rmse_bw``
    against the reference stance curve and ``n_stances``; running adds ``impact_stance_fraction``) and
    ``vertical_reference`` / ``ap_reference`` (the same profile on the reference's stance curve).
    ``running=None`` → :func:`infer_running`. Stance phases are cut where each foot's force crosses 20 N
    (:func:`~mmbio.gait.cycles.force_stances`); where the trial's events disagree, ``notes`` say so. Without
    body mass the curves stay in N: stance time, timings and r are computed, BW values are not available,
    and no curves are returned (they would need BW).
    """
    notes: list[str] = []
    metrics: dict[str, dict[str, dict[str, Metric]]] = {}
    curves: list[CurvePair] = []
    if running is None:
        running = infer_running(trial, reference, condition)
        notes.append(f"GRF analysed as {'running' if running else 'walking'} (inferred)")
    vunits = {**profile_units(running), **(IMPACT_UNITS if running else {})}
    in_bw = bool(np.isfinite(trial.subject.mass_kg) and trial.subject.mass_kg > 0)
    if not in_bw and any(s in trial.grf for s in SIDES):
        notes.append(
            "GRF: the subject's body mass is unknown (pass --mass): stance time, timing and shape (r) are "
            "computed from the force in N, values in body weights are not available"
        )
    for side in SIDES:
        word = SIDE_WORD[side]
        if side not in trial.grf:
            continue
        vert, win = stance_curve(trial, side, axis=2, body_weight=in_bw, notes=notes)
        ap, _ = stance_curve(trial, side, axis=0, body_weight=in_bw)
        if vert.n_cycles == 0:
            reason = "no complete stance phase with force data"
            metrics[word] = {
                "vertical": _na_all({**vunits, **COMPARE_UNITS}, reason),
                "ap": _na_all({**AP_UNITS, **COMPARE_UNITS}, reason),
            }
            notes.append(f"{word} GRF: {reason}")
            continue
        times = np.array([b - a for a, b in win])
        t_mean = float(times.mean())
        per = [vertical_profile(c, t, running=running, in_bw=in_bw) for c, t in zip(vert.cycles, times, strict=True)]
        v = _with_cycles(vertical_profile(vert.mean, t_mean, running=running, in_bw=in_bw), per)
        if running:
            _trial_impact(v, per, vert.mean, t_mean, in_bw)
        a = _with_cycles(
            ap_profile(ap.mean, t_mean, in_bw=in_bw),
            [ap_profile(c, t, in_bw=in_bw) for c, t in zip(ap.cycles, times, strict=True)],
        )
        entry = {"vertical": v, "ap": a}
        # reference
        rv = _ref_curve(reference, condition, "grf_vertical", side)
        ref_to = _ref_scalar(reference, condition, side, "toe_off_pct")
        rs, to = reference_stance(rv, toe_off_pct=ref_to) if rv is not None else (None, _NAN)
        ref_v = ref_ap = None
        ref_v_sd = ref_ap_sd = None
        ref_time = _ref_scalar(reference, condition, side, "stance_time")
        if rs is not None and rv is not None:
            ref_v = rs
            ref_v_sd = cycle_to_stance(rv.sd, rv.pct, to) if rv.sd is not None else None
            entry["vertical_reference"] = vertical_profile(rs, ref_time, running=running)
            rap = _ref_curve(reference, condition, "grf_ap", side)
            if rap is not None:
                ref_ap = cycle_to_stance(rap.mean, rap.pct, to)
                ref_ap_sd = cycle_to_stance(rap.sd, rap.pct, to) if rap.sd is not None else None
                entry["ap_reference"] = ap_profile(ref_ap, ref_time)
        else:
            why = f"{reference}:{condition} has no {'usable ' if rv is not None else ''}vertical GRF stance curve"
            notes.append(f"{word} GRF: {why}")
        for var, tr_curve, rc in (("vertical", vert, ref_v), ("ap", ap, ref_ap)):
            m = entry[var]
            if rc is None:
                why = f"reference has no grf_{var}"
                m["r"] = Metric.na("1", why)
                m["rmse_bw"] = Metric.na("BW", why)
            else:
                # Pearson r does not depend on the curve's scale: the same in N as in BW
                m["r"] = Metric(
                    float(pearson_r(tr_curve.mean, rc)), "1", cycles=np.asarray(pearson_r(tr_curve.cycles, rc))
                )
                if not m["r"].available:
                    m["r"].reason = "r undefined: a flat curve"
                if in_bw:
                    m["rmse_bw"] = Metric(
                        float(rmse(tr_curve.mean, rc)), "BW", cycles=np.asarray(rmse(tr_curve.cycles, rc))
                    )
                else:
                    m["rmse_bw"] = Metric.na("BW", f"{NO_MASS} (pass --mass)")
            m["n_stances"] = Metric(float(tr_curve.n_cycles), "count")
        metrics[word] = entry
        if not in_bw:
            continue
        for var, tr_curve, rc, rsd in (("grf_vertical", vert, ref_v, ref_v_sd), ("grf_ap", ap, ref_ap, ref_ap_sd)):
            curves.append(
                CurvePair.from_cycles("grf", word, var, "BW", tr_curve.pct, tr_curve.cycles, rc, rsd, basis="stance")
            )
    return metrics, curves, notes


def _ref_scalar(reference: str, condition: str, side: str, variable: str) -> float:
    """A reference scalar's mean (``stance_time`` s, ``toe_off_pct`` % cycle; side, else 'both'); NaN if absent."""
    sc = load_scalars(reference, condition)
    for s in (side, "both"):
        row = sc[(sc.variable == variable) & (sc.side == s)]
        if len(row):
            return float(row["mean"].iloc[0])
    return _NAN
