"""The human ceiling: what humans reach against each other on the same metric as the trial.

Every simulated-vs-human number is shown beside the value of the *same metric function* applied to
human data against the same kind of reference. A ceiling always comes from **different humans**:

* **Leave-one-subject-out** (references with per-subject curves in their ``subjects.csv``:
  ``hamner2013_run``, ``schreiber2019``, ``santuz2020_emg``): each subject's mean cycle is compared with
  the mean (and SD, ddof=1, when ≥ 2 others remain) of the *other subjects*. Note
  ``'leave-one-out over N subjects of REF'``.
* **Cross-dataset** (references without per-subject curves, e.g. ``schwartz2008`` publishes only mean ±
  SD, ``rajagopal2016_walk`` has one cycle): the other datasets of the *same activity and speed class*
  (:data:`ACTIVITY`; walking and running are never mixed) that have the variable — each of their
  subjects' curves where they have ``subjects.csv``, else their mean curve — are each compared with the
  reference mean ± SD. Note ``'cross-dataset: …'``.
  Joint angles that depend on the pelvis frame (pelvis tilt, hip flexion: :data:`FRAME_SENSITIVE`) are measured
  in a marker-based clinical pelvis in Schwartz's children and in the OpenSim/MyoFullBody model pelvis in the
  IK-derived datasets; the two differ by a constant tilt that is a convention, not human variation (Schreiber's
  adults against Schwartz's mean: hip-flexion RMSE 20.4° with them, against 8.8° from the one Rajagopal walk). A
  dataset in another pelvis frame (:data:`PELVIS_FRAME`) therefore counts only on the offset-free metrics
  (:data:`OFFSET_FREE`: r, lags, timing, range); offset metrics (RMSE, errors, band shares) of those angles are
  n/a there, with the reason in the note.
* **Subject-specific** (``COND/SUBJECT``, :mod:`mmbio.reference.registry`): each of the *other* subjects of the
  condition against this subject's mean cycle (no SD), as the trial is. Note ``'subject-specific: the other N
  subjects of REF against subject S'``. ``COND/-SUBJECT`` (the condition without the trial's own subject):
  leave-one-subject-out over the remaining subjects.
* Nothing available → ceiling ``None`` with the note ``'no human-vs-human data for VAR in REF'``.

Cycles of one subject are never a ceiling: a ``subjects.csv`` whose units are cycles of one person
(``unit_kind`` ``cycle``) agrees better than different people do (Santuz's 3 cycles of one subject gave
a mean EMG r of 0.884 where 15 subjects reach 0.785 (mean) or 0.80 (median) against each other). Such a
reference falls back to the cross-dataset ceiling, and its note says that its own cycles were not used;
a within-subject number may be reported in a dataset's ``provenance.yaml`` but never feeds
:attr:`Metric.ceiling` or the redundancy gap.

**Summary over the units: the median.** The ceiling of a metric is the *median* over the held-out units
(subjects, or the other datasets' units), not the mean: one odd subject must not set what "a human"
reaches. Hamner's running data are the case in point: at 3 m/s subject01's right pelvis tilt correlates
with the other four runners' mean at r 0.07 while the others reach 0.36-0.87 (mean 0.57, median 0.75),
and a mean would put the ceiling below what a new runner typically reaches. The mean is kept beside the
median (:attr:`Ceiling.means`). Units whose value is an outlier are named in the ceiling's note
(:attr:`Ceiling.outliers`): a modified z-score ``0.6745 · |x − median| / MAD`` above :data:`OUTLIER_Z`
(Iglewicz & Hoaglin 1993), at least :data:`MIN_UNITS_FOR_OUTLIERS` units, and a distance from the median
above :data:`OUTLIER_MIN_DEVIATION` × |median|, so that tight clusters (knee r 0.98 among 0.995s) name
nobody. Example note: ``'…; median of 5 (mean 0.565); range 0.0744 to 0.87 over 5; outlier: subject01
0.0744'``.

Signed metrics (lags, errors, differences: :data:`ABSOLUTE_PATTERN`) are summarised as ``|value|``: the
ceiling says how far humans typically are apart, whatever the direction.

:func:`apply_ceilings` fills :attr:`Metric.ceiling` / :attr:`Metric.ceiling_note` of a
:class:`ValidationResult` for the comparison metrics (:data:`CEILING_PATTERN`: r, RMSE, band shares,
lags, errors, on/off agreement); absolute values of the trial (a peak in BW, ``silent``,
``double_peak``) get no ceiling. Results are cached per (reference, condition, variable, side, metric
function), so a full validation stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mmbio.analysis.result import Metric, ValidationResult
from mmbio.errors import UnknownReferenceError

#: metric_fn(unit_curve (101,) or (c, 101), others_mean (same shape), others_sd or None) → {name: Metric}
MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], dict[str, Metric]]

#: dataset → condition → (activity, speed class). Cross-dataset ceilings only pair equal entries.
ACTIVITY: dict[str, dict[str, tuple[str, str]]] = {
    "schwartz2008": {
        "very_slow": ("walking", "slow"),
        "slow": ("walking", "slow"),
        "free": ("walking", "self-selected"),
        "fast": ("walking", "fast"),
        "very_fast": ("walking", "fast"),
    },
    "rajagopal2016_walk": {"free": ("walking", "self-selected")},
    "schreiber2019": {"c4": ("walking", "self-selected"), "c5": ("walking", "fast")},
    "santuz2020_emg": {"treadmill": ("walking", "self-selected")},
    "hamner2013_run": {v: ("running", f"{v} m/s") for v in ("2", "3", "4", "5")},
}

#: dataset → the pelvis frame its joint angles are measured in: ``clinical`` (marker-based gait-lab pelvis, e.g.
#: Plug-in Gait from the ASIS/PSIS) or ``model`` (the OpenSim/MyoFullBody pelvis body of an IK). The frames differ by
#: a constant pelvis tilt of ≈ 10° (hip flexion compensates), so cross-dataset ceilings of
#: :data:`FRAME_SENSITIVE` angles pair datasets of different frames only on offset-free metrics (:data:`OFFSET_FREE`).
PELVIS_FRAME: dict[str, str] = {
    "schwartz2008": "clinical",
    "rajagopal2016_walk": "model",
    "schreiber2019": "model",
    "hamner2013_run": "model",
}
#: joint angles whose value depends on the pelvis frame (by a constant offset)
FRAME_SENSITIVE: frozenset[str] = frozenset({"pelvis_tilt", "hip_flexion"})
#: metrics that a constant offset does not change (shape, timing, range)
OFFSET_FREE = re.compile(r"^(r|r_.*|.*lag.*|.*timing.*|rom_error)$")

#: result domain → reference quantity
DOMAIN_QUANTITY: dict[str, str] = {"kinematics": "joint_angle", "grf": "grf", "emg": "emg"}
SIDE_CODE: dict[str, str] = {"right": "r", "left": "l", "r": "r", "l": "l", "both": "both"}
#: metric names that get a ceiling (comparisons with the reference, not the trial's own values)
CEILING_PATTERN = re.compile(
    r"^(r|r_.*|.*rmse.*|.*_error.*|.*error_.*|.*lag.*|.*within.*|.*band.*|.*inside.*|.*agreement.*|.*_diff.*)$"
)
#: never a ceiling even if the pattern matches
NO_CEILING: frozenset[str] = frozenset({"scale", "silent", "double_peak", "normal_window_agreement"})
#: signed metrics: ceiling = mean |value|
ABSOLUTE_PATTERN = re.compile(r"^(?!r_|r$).*(lag|error|diff|bias).*$")
#: stride time (s) for the EMG lag window when the reference gives none
DEFAULT_CYCLE_TIME_S: dict[str, float] = {"walking": 1.1, "running": 0.7}
#: a unit is an outlier when its modified z-score 0.6745·|x − median| / MAD exceeds this (Iglewicz & Hoaglin)
OUTLIER_Z = 3.5
#: outliers are only named with at least this many units
MIN_UNITS_FOR_OUTLIERS = 4
#: … and only when they lie further than this fraction of |median| from the median (r 0.98 among 0.995s is no news)
OUTLIER_MIN_DEVIATION = 0.1


def activity(reference: str, condition: str) -> tuple[str, str] | None:
    """``(activity, speed class)`` of a reference condition (a subject-specific ``COND/SUBJECT``: its condition's),
    ``None`` when not listed in :data:`ACTIVITY`."""
    return ACTIVITY.get(reference, {}).get(str(condition).partition("/")[0])


def wants_ceiling(name: str) -> bool:
    """Whether a metric of that name gets a human ceiling."""
    return name not in NO_CEILING and bool(CEILING_PATTERN.match(name))


@dataclass(frozen=True)
class Ceiling:
    """A human ceiling; kind 'subjects' | 'cross' | 'none'.

    values: the ceiling of each metric = the median over the units (|value| for signed metrics). means: the
    mean over the same units. ranges: (min, max). n: number of units. outliers: ``((unit id, value), …)``
    per metric (modified z-score > :data:`OUTLIER_Z`). unit_ids: the units, in order.
    """

    values: dict[str, float]
    note: str
    kind: str = "none"
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    unit_ids: tuple[str, ...] = ()
    means: dict[str, float] = field(default_factory=dict)
    outliers: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)

    def metric_note(self, name: str) -> str:
        """The note for one metric: the source, median and mean, range over the units, outliers, |value|."""
        if name not in self.values:
            return self.note
        lo, hi = self.ranges[name]
        n = self.n[name]
        extra = f"; median of {n} (mean {self.means[name]:.3g}); range {lo:.3g} to {hi:.3g} over {n}"
        out = self.outliers.get(name, ())
        if out:
            extra += "; outlier" + ("s" if len(out) > 1 else "") + ": " + ", ".join(f"{u} {v:.3g}" for u, v in out)
        if ABSOLUTE_PATTERN.match(name):
            extra += "; of |value|"
        return self.note + extra


def outlier_units(x: np.ndarray, ids: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """Units whose modified z-score ``0.6745·|x − median| / MAD`` exceeds :data:`OUTLIER_Z` and that lie more
    than :data:`OUTLIER_MIN_DEVIATION` × |median| from the median (none when MAD = 0 or with fewer than
    :data:`MIN_UNITS_FOR_OUTLIERS` units)."""
    x = np.asarray(x, dtype=float)
    if x.size < MIN_UNITS_FOR_OUTLIERS:
        return ()
    med = float(np.median(x))
    dev = np.abs(x - med)
    mad = float(np.median(dev))
    if mad <= 0:
        return ()
    hit = (0.6745 * dev / mad > OUTLIER_Z) & (dev > OUTLIER_MIN_DEVIATION * abs(med))
    return tuple((str(ids[i]), float(x[i])) for i in np.flatnonzero(hit))


# --------------------------------------------------------------------------------------------- units


def _variable_candidates(quantity: str, variable: str) -> list[str]:
    if quantity != "emg":
        return [variable]
    from mmbio.analysis.muscles import EQUIVALENT

    return [variable] + [b if a == variable else a for a, b in EQUIVALENT if variable in (a, b)]


def _subject_stack(
    name: str, condition: str, quantity: str, variables: Sequence[str], sides: Sequence[str]
) -> tuple[np.ndarray, tuple[str, ...], str] | None:
    """Per-subject curves ((n, 101), or (n, len(variables), 101)), unit ids and unit kind; ``None`` if absent."""
    from mmbio.reference.registry import subject_curves

    for side in sides:
        parts = []
        for v in variables:
            sc = next(
                (
                    c
                    for cand in _variable_candidates(quantity, v)
                    if (c := subject_curves(name, condition, cand, side, quantity)) is not None and c.side == side
                ),
                None,
            )
            if sc is None:
                break
            parts.append(sc)
        if len(parts) != len(variables) or any(p.unit_ids != parts[0].unit_ids for p in parts):
            continue
        arr = parts[0].values if len(parts) == 1 else np.stack([p.values for p in parts], axis=1)
        if arr.shape[0] >= 1 and np.all(np.isfinite(arr)):
            return arr, parts[0].unit_ids, parts[0].unit_kind
    return None


def _mean_curve(
    name: str, condition: str, quantity: str, variables: Sequence[str], sides: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None, int | None] | None:
    """Mean (and SD) of a reference ((101,) or (len(variables), 101)) on the first side that has all variables."""
    from mmbio.reference.registry import reference_curve

    for side in sides:
        means, sds, n = [], [], None
        for v in variables:
            rc = None
            for cand in _variable_candidates(quantity, v):
                try:
                    rc = reference_curve(name, condition, cand, side, quantity=quantity)
                    break
                except UnknownReferenceError:
                    continue
            if rc is None or rc.side not in (side, "both"):
                break
            means.append(rc.mean)
            sds.append(rc.sd)
            n = rc.n_subjects
        if len(means) != len(variables):
            continue
        mean = means[0] if len(means) == 1 else np.stack(means)
        sd = None if any(s is None for s in sds) else (sds[0] if len(sds) == 1 else np.stack(sds))
        return mean, sd, n
    return None


def _summarise(per_unit: list[dict[str, Metric]], note: str, kind: str, ids: Sequence[str]) -> Ceiling:
    """Median (the ceiling), mean, range, count and outliers of each metric over the units."""
    names: list[str] = []
    for d in per_unit:
        names += [k for k in d if k not in names]
    values, means, ranges, n, units, outliers = {}, {}, {}, {}, {}, {}
    for k in names:
        x = np.array([float(d[k].value) if k in d else np.nan for d in per_unit])
        ok = np.isfinite(x)
        x, kid = x[ok], [u for u, good in zip(ids, ok, strict=True) if good]
        if x.size == 0:
            continue
        if ABSOLUTE_PATTERN.match(k):
            x = np.abs(x)
        values[k] = float(np.median(x))
        means[k] = float(x.mean())
        ranges[k] = (float(x.min()), float(x.max()))
        n[k] = int(x.size)
        units[k] = next(d[k].units for d in per_unit if k in d)
        out = outlier_units(x, kid)
        if out:
            outliers[k] = out
    return Ceiling(values, note, kind, ranges, n, units, tuple(ids), means, outliers)


def leave_one_out(
    units: np.ndarray, metric_fn: MetricFn, note: str = "", kind: str = "subjects", ids: Sequence[str] = ()
) -> Ceiling:
    """Each unit (row of ``units`` (n, 101) or (n, c, 101)) against the mean and SD (ddof=1, ``None`` with
    fewer than 2 others) of the others; ceiling = median over the n units of each metric (needs n ≥ 2), the
    mean and outliers kept beside it (:class:`Ceiling`)."""
    arr = np.asarray(units, dtype=float)
    if arr.shape[0] < 2:
        raise ValueError(f"leave_one_out needs at least 2 units, got {arr.shape[0]}")
    per = []
    for i in range(arr.shape[0]):
        others = np.delete(arr, i, axis=0)
        sd = others.std(axis=0, ddof=1) if others.shape[0] >= 2 else None
        per.append(metric_fn(arr[i], others.mean(axis=0), sd))
    return _summarise(per, note, kind, ids or tuple(f"unit{i + 1}" for i in range(arr.shape[0])))


@lru_cache(maxsize=2048)
def _ceiling(
    reference: str, condition: str, quantity: str, variables: tuple[str, ...], side: str, metric_fn: MetricFn
) -> Ceiling:
    var_txt = "+".join(variables)
    ref_txt = f"{reference}:{condition}"
    order = [side, "both"] if side in ("r", "l") else [side]
    base, _, subject = condition.partition("/")
    if subject.startswith("-"):  # the condition without one subject (a measured trial of that subject)
        out = subject[1:]
        own = _subject_stack(reference, base, quantity, variables, order)
        if own is not None and own[2] == "subject":
            keep = [i for i, u in enumerate(own[1]) if u != out]
            if len(keep) >= 2:
                return leave_one_out(own[0][keep], metric_fn, f"leave-one-out over {len(keep)} subjects of "
                                     f"{reference}:{base} (subject {out}, the trial's own, left out)", "subjects",
                                     [own[1][i] for i in keep])  # fmt: skip
        return Ceiling({}, f"no human-vs-human data for {var_txt} in {ref_txt}")
    if subject:  # a subject-specific reference: the other subjects against this one (module docstring)
        return _subject_ceiling(reference, base, subject, quantity, variables, order, metric_fn)
    own = _subject_stack(reference, condition, quantity, variables, order)
    skipped = ""
    if own is not None and own[2] == "subject" and own[0].shape[0] >= 2:
        arr, ids, _ = own
        return leave_one_out(
            arr, metric_fn, f"leave-one-out over {arr.shape[0]} subjects of {ref_txt}", "subjects", ids
        )
    if own is not None and own[2] != "subject":  # cycles of one person: within-subject, never a ceiling
        skipped = f" ({ref_txt}'s own {own[0].shape[0]} cycles of one subject are within-subject and not used)"
    none = Ceiling({}, f"no human-vs-human data for {var_txt} in {ref_txt}{skipped}")
    act = activity(reference, condition)
    ref = _mean_curve(reference, condition, quantity, variables, order)
    if act is None or ref is None:
        return none
    ref_mean, ref_sd, _ = ref
    other_side = {"r": "l", "l": "r"}.get(side)
    sides = [s for s in (side, "both", other_side, "r") if s]
    sides = list(dict.fromkeys(sides))
    per: list[dict[str, Metric]] = []
    used: list[str] = []
    ids: list[str] = []
    sensitive = quantity == "joint_angle" and any(v in FRAME_SENSITIVE for v in variables)
    for other, conds in sorted(ACTIVITY.items()):
        if other == reference:
            continue
        other_frame = sensitive and PELVIS_FRAME.get(other) != PELVIS_FRAME.get(reference)
        for cond, act_other in conds.items():
            if act_other != act:
                continue
            n_before = len(per)
            try:
                stack = _subject_stack(other, cond, quantity, variables, sides)
                mean = None if stack is not None else _mean_curve(other, cond, quantity, variables, sides)
            except UnknownReferenceError:
                continue
            if stack is not None and stack[2] == "subject":
                arr, uids, _ = stack
                per += [metric_fn(u, ref_mean, ref_sd) for u in arr]
                ids += [f"{other}:{cond}:{u}" for u in uids]
                used.append(f"{other}:{cond} ({arr.shape[0]} subjects)")
            elif stack is not None:  # cycles of one subject: one unit, their mean
                arr = stack[0]
                per.append(metric_fn(arr.mean(axis=0), ref_mean, ref_sd))
                ids.append(f"{other}:{cond}")
                used.append(f"{other}:{cond} (1 subject, mean of {arr.shape[0]} cycles)")
            elif mean is not None:
                per.append(metric_fn(mean[0], ref_mean, ref_sd))
                ids.append(f"{other}:{cond}")
                used.append(
                    f"{other}:{cond} ({'mean of ' + str(mean[2]) + ' subjects' if (mean[2] or 1) > 1 else 'one subject'})"
                )
            if other_frame and len(per) > n_before:  # another pelvis frame: a constant offset is no human spread
                per[n_before:] = [{k: m for k, m in d.items() if OFFSET_FREE.match(k)} for d in per[n_before:]]
                used[-1] += f" [shape and range only: {PELVIS_FRAME.get(other, '?')}-frame pelvis]"
    if not per:
        return none
    return _summarise(per, f"cross-dataset: {', '.join(used)} against the {ref_txt} mean{skipped}", "cross", ids)


def _subject_ceiling(
    reference: str,
    condition: str,
    subject: str,
    quantity: str,
    variables: tuple[str, ...],
    order: list[str],
    metric_fn: MetricFn,
) -> Ceiling:
    """Each *other* subject's mean cycle against ``subject``'s (no SD: the reference is one person), as the trial
    is compared with that subject; the median over them is the ceiling."""
    ref_txt = f"{reference}:{condition}/{subject}"
    stack = _subject_stack(reference, condition, quantity, variables, order)
    if stack is None or stack[2] != "subject" or subject not in stack[1]:
        return Ceiling({}, f"no human-vs-human data for {'+'.join(variables)} in {ref_txt}")
    arr, ids, _ = stack
    k = stack[1].index(subject)
    others = [i for i in range(arr.shape[0]) if i != k]
    if not others:
        return Ceiling({}, f"no other subject than {subject} in {reference}:{condition}: no ceiling")
    per = [metric_fn(arr[i], arr[k], None) for i in others]
    note = f"subject-specific: the other {len(others)} subjects of {reference}:{condition} against subject {subject}"
    return _summarise(per, note, "subjects", [ids[i] for i in others])


def human_ceiling_detail(
    reference: str, condition: str, domain: str, variable: str, side: str, metric_fn: MetricFn
) -> Ceiling:
    """:func:`human_ceiling` with ranges, counts, units and unit ids (:class:`Ceiling`)."""
    quantity = DOMAIN_QUANTITY.get(domain, domain)
    return _ceiling(reference, str(condition), quantity, (variable,), SIDE_CODE.get(side, side), metric_fn)


def human_ceiling(
    reference: str, condition: str, domain: str, variable: str, side: str, metric_fn: MetricFn
) -> tuple[dict[str, float] | None, str]:
    """Human-vs-human value of every metric of ``metric_fn`` for one reference variable.

    reference/condition: e.g. ``'hamner2013_run'``, ``'3'``. domain: ``'kinematics'``, ``'grf'``, ``'emg'``
    (or a reference quantity). variable: the reference's name (``'knee_flexion'``, ``'grf_vertical'``,
    ``'soleus'``). side: ``'r'``/``'l'``/``'both'`` or ``'right'``/``'left'``. metric_fn(unit (101,),
    others_mean (101,), others_sd (101,) or None) → {name: Metric}, the function used for the trial.
    Returns ``({metric: median over units}, note)``; ``(None, note)`` when no human-vs-human data exists.
    """
    c = human_ceiling_detail(reference, condition, domain, variable, side, metric_fn)
    return (dict(c.values) if c.values else None), c.note


# --------------------------------------------------------------------------------------------- metric functions


def _basic_angle_metrics(x: np.ndarray, ref_mean: np.ndarray, ref_sd: np.ndarray | None) -> dict[str, Metric]:
    """Fallback kinematic metrics when :mod:`mmbio.analysis.kinematics` is absent (r, rmse, band, lag)."""
    from mmbio.analysis.stats import circular_xcorr_lag, inside_band_pct, pearson_r, rmse

    lag, r_lag = circular_xcorr_lag(x, ref_mean, closed=True)
    out = {
        "r": Metric(float(pearson_r(x, ref_mean)), "1"),
        "rmse": Metric(float(rmse(x, ref_mean)), "deg"),
        "rom_error": Metric(float(np.ptp(x) - np.ptp(ref_mean)), "deg"),
        "r_best_lag": Metric(float(r_lag), "1"),
        "best_lag_pct": Metric(float(lag), "% cycle"),
    }
    if ref_sd is not None:
        out["within_sd_band"] = Metric(float(inside_band_pct(x, ref_mean - ref_sd, ref_mean + ref_sd)), "% cycle")
    return out


def _angle_metrics_1d(x: np.ndarray, ref_mean: np.ndarray, ref_sd: np.ndarray | None) -> dict[str, Metric]:
    """:func:`mmbio.analysis.kinematics.angle_metrics` on one (101,) curve in degrees."""
    from mmbio.analysis.kinematics import angle_metrics
    from mmbio.gait.cycles import Curve

    x = np.asarray(x, dtype=float)
    curve = Curve(pct=np.linspace(0.0, 100.0, x.size), cycles=x[None, :], units="deg")
    return angle_metrics(curve, ref_mean, ref_sd)


def kinematics_metric_fn() -> MetricFn:
    """``mmbio.analysis.kinematics.angle_metrics`` (the trial's function) on one curve, else a basic fallback."""
    try:
        import mmbio.analysis.kinematics  # noqa: F401
    except ImportError:
        return _basic_angle_metrics
    return _angle_metrics_1d


@lru_cache(maxsize=64)
def emg_metric_fn(cycle_time_s: float) -> MetricFn:
    """:func:`mmbio.analysis.emg.activation_metrics` with a fixed stride time (s); human EMG has no silent level."""
    from mmbio.analysis.emg import activation_metrics

    def fn(x: np.ndarray, ref_mean: np.ndarray, ref_sd: np.ndarray | None) -> dict[str, Metric]:
        return activation_metrics(x, ref_mean, cycle_time_s=cycle_time_s, silent_level=None)

    return fn


def _stance(cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(vertical, ap) stance curves (101,) of a gait-cycle (2, 101) GRF pair, cut at its own toe-off."""
    from mmbio.analysis.grf import cycle_to_stance, stance_end_pct

    v, ap = cycle[0], cycle[1]
    pct = np.linspace(0.0, 100.0, v.size)
    to = stance_end_pct(v, pct)
    if to is None:
        return None
    return cycle_to_stance(v, pct, to), cycle_to_stance(ap, pct, to)


def grf_stance_metrics(x: np.ndarray, ref_mean: np.ndarray, ref_sd: np.ndarray | None) -> dict[str, Metric]:
    """r and RMSE (BW) of the stance curves, as :func:`mmbio.analysis.grf.compare_grf` computes them.

    x, ref_mean: (2, 101) gait-cycle [vertical, ap] in BW; each is cut to its own stance (toe-off where
    the vertical force, after its maximum, falls below 0.05 BW). Keys ``vertical.r``, ``vertical.rmse_bw``,
    ``ap.r``, ``ap.rmse_bw``.
    """
    from mmbio.analysis.stats import pearson_r, rmse

    a, b = _stance(np.asarray(x, dtype=float)), _stance(np.asarray(ref_mean, dtype=float))
    if a is None or b is None:
        why = "no stance phase in the human curve"
        return {f"{v}.{k}": Metric.na(u, why) for v in ("vertical", "ap") for k, u in (("r", "1"), ("rmse_bw", "BW"))}
    out = {}
    for i, v in enumerate(("vertical", "ap")):
        out[f"{v}.r"] = Metric(float(pearson_r(a[i], b[i])), "1")
        out[f"{v}.rmse_bw"] = Metric(float(rmse(a[i], b[i])), "BW")
    return out


def reference_cycle_time(reference: str, condition: str) -> float:
    """The reference's stride time (s) from its scalars (mean over sides), else the activity's default."""
    from mmbio.reference.registry import load_scalars

    try:
        sc = load_scalars(reference, condition)
    except UnknownReferenceError:
        sc = None
    if sc is not None and len(sc):
        st = sc[sc.variable == "stride_time"]["mean"].to_numpy(dtype=float)
        st = st[np.isfinite(st)]
        if st.size:
            return float(st.mean())
    act = activity(reference, condition)
    return DEFAULT_CYCLE_TIME_S[act[0] if act else "walking"]


# --------------------------------------------------------------------------------------------- result


GRF_VARIABLES: dict[str, str] = {"vertical": "vertical", "grf_vertical": "vertical", "ap": "ap", "grf_ap": "ap"}


def _set(m: Metric, c: Ceiling, key: str) -> None:
    if key in c.values:
        m.ceiling = c.values[key]
        m.ceiling_note = c.metric_note(key)
    else:
        m.ceiling = None
        m.ceiling_note = c.note if not c.values else f"no human-vs-human value for this metric ({c.note})"


def apply_ceilings(
    result: ValidationResult, reference: str, condition: str, *, cycle_time_s: float | None = None
) -> ValidationResult:
    """Fill ``ceiling`` / ``ceiling_note`` of the comparison metrics of ``result`` (in place; returned).

    Domains ``kinematics`` (metric function :func:`kinematics_metric_fn`), ``grf`` (``vertical`` / ``ap``
    ``r`` and ``rmse_bw`` on stance curves: :func:`grf_stance_metrics`) and ``emg``
    (:func:`emg_metric_fn`; ``cycle_time_s`` sets the ±100 ms lag window, default the reference's own
    stride time). Only metrics with :func:`wants_ceiling` are touched.
    """
    condition = str(condition)
    ct = float(cycle_time_s) if cycle_time_s is not None else reference_cycle_time(reference, condition)
    ct = round(ct, 3)
    for domain in ("kinematics", "grf", "emg"):
        for side_word, variables in result.metrics.get(domain, {}).items():
            side = SIDE_CODE.get(side_word, side_word)
            for variable, metrics in variables.items():
                names = [n for n in metrics if wants_ceiling(n)]
                if not names:
                    continue
                if domain == "grf":
                    which = GRF_VARIABLES.get(variable)
                    if which is None:
                        continue
                    c = _ceiling(reference, condition, "grf", ("grf_vertical", "grf_ap"), side, grf_stance_metrics)
                    for n in names:
                        _set(metrics[n], c, f"{which}.{n}")
                    continue
                fn = kinematics_metric_fn() if domain == "kinematics" else emg_metric_fn(ct)
                c = _ceiling(reference, condition, DOMAIN_QUANTITY[domain], (variable,), side, fn)
                for n in names:
                    _set(metrics[n], c, n)
    return result


def clear_cache() -> None:
    """Forget cached ceilings (after the reference data changed)."""
    _ceiling.cache_clear()
