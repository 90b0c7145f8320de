"""Several episodes (or rollouts) of one policy validated together: one pooled trial, per-episode metrics, spread.

* :func:`pool_trials` puts the episodes end to end on one clock, each followed by one all-NaN sample and a
  1 s gap, so that every analysis pools their cycles and none spans two episodes: a heel-strike window or a
  stance that reaches across a gap contains the NaN sample and is dropped by the existing rules
  (:func:`mmbio.gait.cycles.segment`, :func:`~mmbio.gait.cycles.force_stances`). The pooled trial's
  ``subject.extra['episodes']`` lists each episode's label and time span on the pooled clock.
* :func:`flat_metrics` and :func:`episode_spread` turn per-episode results into a tidy table (one row per
  episode × metric) and the spread of each metric across episodes (n, mean, SD, min, max; NaN values are
  n/a and not counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.analysis.result import MetricTree, ValidationResult, walk
from mmbio.errors import MmbioError
from mmbio.trial import SIDES, Channels, Events, GroundReaction, Trial

__all__ = [
    "GAP_S",
    "KEY_METRICS",
    "cycle_counts",
    "episode_spread",
    "flat_metrics",
    "pool_trials",
    "validate_episodes",
    "write_episodes_csv",
]

GAP_S = 1.0
"""Time (s) between the end of one episode and the start of the next on the pooled clock."""


#: (label, metric path with ``{side}``) of the few numbers shown per episode on the report's episodes page
KEY_METRICS: tuple[tuple[str, str], ...] = (
    ("kinematic fidelity", "redundancy.{side}.gap.kinematic_fidelity"),
    ("activation fidelity", "redundancy.{side}.gap.activation_fidelity"),
    ("redundancy gap", "redundancy.{side}.gap.gap"),
    ("vertical GRF r", "grf.{side}.vertical.r"),
    ("GRF 1st peak", "grf.{side}.vertical.first_peak_bw"),
)


def cycle_counts(curves: Sequence[Any]) -> dict[str, int]:
    """Gait cycles per side (``'right'``/``'left'``) behind a result's joint-angle curves (the most any angle has)."""
    out = {"right": 0, "left": 0}
    for c in curves:
        if c.domain == "kinematics" and c.side in out:
            out[c.side] = max(out[c.side], int(np.asarray(c.trial_cycles).shape[0]))
    return out


def _dt(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if t.size > 1 else 0.01


def _with_gap(t: np.ndarray, shift: float, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Times shifted by ``shift`` plus one NaN sample one step after the end; each array gets a NaN row."""
    tt = np.append(t + shift, t[-1] + shift + _dt(t))
    out = [tt]
    for a in arrays:
        pad = np.full((1, *a.shape[1:]), np.nan)
        out.append(np.concatenate([a, pad]))
    return tuple(out)


def _pool_channels(chs: Sequence[Channels | None], shifts: Sequence[float], what: str) -> Channels:
    if any(c is None for c in chs):
        raise MmbioError(f"pool_trials: {what} present in some episodes only")
    names = chs[0].names  # type: ignore[union-attr]
    if any(c.names != names for c in chs):  # type: ignore[union-attr]
        raise MmbioError(f"pool_trials: the episodes' {what} channels differ")
    parts = [_with_gap(c.time, s, c.values) for c, s in zip(chs, shifts, strict=True)]  # type: ignore[union-attr]
    return Channels(
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        list(names),
        list(chs[0].units),  # type: ignore[union-attr]
    )


def pool_trials(trials: Sequence[Trial], labels: Sequence[str] | None = None, gap_s: float = GAP_S) -> Trial:
    """One trial holding ``trials`` end to end (module doc). labels: one per trial (default ``episode i``).

    The trials must have the same kind, channels and feet, and the same subject mass (NaN for all or equal
    within 1 g); the pooled subject speed is the duration-weighted mean. Markers are not pooled.
    """
    if not trials:
        raise MmbioError("pool_trials: no trial")
    labels = list(labels) if labels is not None else [f"episode {i}" for i in range(len(trials))]
    if len(labels) != len(trials):
        raise MmbioError(f"pool_trials: {len(labels)} labels for {len(trials)} trials")
    first = trials[0]
    kinds = {t.kind for t in trials}
    if len(kinds) > 1:
        raise MmbioError(f"pool_trials: the episodes mix kinds {sorted(kinds)}")
    masses = np.array([t.subject.mass_kg for t in trials], float)
    if not (np.all(np.isnan(masses)) or (np.all(np.isfinite(masses)) and np.ptp(masses) < 1e-3)):
        raise MmbioError(f"pool_trials: the episodes have different body masses {masses.tolist()} kg")
    starts, shifts, spans, t_next = [], [], [], 0.0
    for t in trials:
        t0, t1 = _span(t)
        shifts.append(t_next - t0)
        starts.append(t_next)
        spans.append((t_next, t_next + t1 - t0))
        t_next = t_next + (t1 - t0) + gap_s
    grf: dict[str, GroundReaction] = {}
    for s in SIDES:
        have = [s in t.grf for t in trials]
        if any(have) and not all(have):
            raise MmbioError(f"pool_trials: the {s} GRF is present in some episodes only")
        if all(have):
            parts = [_with_gap(t.grf[s].time, sh, t.grf[s].force, t.grf[s].cop, t.grf[s].free_moment)
                     for t, sh in zip(trials, shifts, strict=True)]  # fmt: skip
            grf[s] = GroundReaction(*(np.concatenate([p[k] for p in parts]) for k in range(4)))
    events = Events(
        {
            s: np.concatenate([t.events.heel_strike[s] + sh for t, sh in zip(trials, shifts, strict=True)])
            for s in SIDES
        },
        {s: np.concatenate([t.events.toe_off[s] + sh for t, sh in zip(trials, shifts, strict=True)]) for s in SIDES},
        first.events.source,
    )
    dur = np.array([b - a for a, b in spans])
    speeds = np.array([t.subject.speed_m_s for t in trials], float)
    ok = np.isfinite(speeds)
    speed = float(np.sum(speeds[ok] * dur[ok]) / np.sum(dur[ok])) if ok.any() else math.nan
    subject = replace(
        first.subject,
        speed_m_s=speed,
        extra={**first.subject.extra, "episodes": [
            {"label": lab, "t0_s": a, "t1_s": b} for lab, (a, b) in zip(labels, spans, strict=True)
        ]},
    )  # fmt: skip
    notes = [f"{len(trials)} episodes pooled end to end ({gap_s:g} s apart; no cycle spans two): {', '.join(labels)}"]
    for lab, t in zip(labels, trials, strict=True):
        notes += [f"{lab}: {n}" for n in t.notes]
    if any(t.markers is not None for t in trials):
        raise MmbioError("pool_trials: episodes with markers are not pooled (validate them one by one)")
    # every channel group of the trial container (angles, EMG, activations, …), each episode followed by its gap
    channels = {
        f.name: _pool_channels([getattr(t, f.name) for t in trials], shifts, f.name)
        for f in fields(Trial)
        if any(isinstance(getattr(t, f.name), Channels) for t in trials)
    }
    return Trial(
        name=f"{first.name.rsplit(' episode', 1)[0]} ({len(trials)} episodes pooled)",
        source=first.source,
        kind=first.kind,
        subject=subject,
        grf=grf,
        events=events,
        notes=notes,
        **channels,  # type: ignore[arg-type]
    )


def _span(t: Trial) -> tuple[float, float]:
    """First and last sample time of a trial's signals (s)."""
    times = [c.time for c in (t.angles, t.emg, t.activations) if c is not None]
    times += [g.time for g in t.grf.values()]
    if not times:
        raise MmbioError(f"pool_trials: {t.name or 'a trial'} has no signal")
    return min(float(x[0]) for x in times), max(float(x[-1]) for x in times)


def flat_metrics(tree: MetricTree) -> dict[str, tuple[float, str]]:
    """``{'domain.side.variable.metric': (value, units)}`` of a result's metric tree (n/a values are NaN)."""
    out: dict[str, tuple[float, str]] = {}
    for d, s, v, n, m in walk(tree):
        val = m.value
        out[f"{d}.{s}.{v}.{n}"] = (float(val) if val is not None and np.isfinite(val) else math.nan, str(m.units))
    return out


def episode_spread(rows: Sequence[dict[str, tuple[float, str]]]) -> dict[str, dict[str, Any]]:
    """Per metric across episodes: ``{'n', 'mean', 'sd', 'min', 'max', 'units'}`` (NaN = n/a, not counted;
    ``sd`` is the sample SD, None with fewer than 2 values)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    out: dict[str, dict[str, Any]] = {}
    for k in keys:
        vals = np.array([r[k][0] for r in rows if k in r], float)
        units = next(r[k][1] for r in rows if k in r)
        v = vals[np.isfinite(vals)]
        if v.size == 0:
            continue
        out[k] = {
            "n": int(v.size),
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            "min": float(v.min()),
            "max": float(v.max()),
            "units": units,
        }
    return out


def validate_episodes(
    pooled: ValidationResult,
    episodes: Sequence[tuple[Any, Trial]],
    reference: str,
    *,
    emg_reference: str | None = None,
    protocol: str | None = None,
    seed: int | None = 0,
    motions: Sequence[str] | None = None,
) -> list[dict[str, tuple[float, str]]]:
    """Validate each episode alone (as the pooled validation, without SPM) and set ``pooled.episodes``.

    episodes: ``(info, trial)`` with ``info`` an :class:`~mmbio.io.rollout_npz.EpisodeInfo` (index, traj_id,
    frames, traj_length, complete). ``pooled.episodes`` = ``{"count", "pooled_cycles", "episodes": [per episode:
    what it is, its cycles per side, protocol and credibility verdicts, the :data:`KEY_METRICS`], "spread":
    :func:`episode_spread`}``. Returns every episode's :func:`flat_metrics` (for :func:`write_episodes_csv`).

    motions: the motion list the episodes' ``traj_id`` index (:mod:`mmbio.io.motion_lists`): each episode gets its
    ``motion``, ``subject`` and ``trial``, and ``pooled.episodes['subjects']`` lists the episodes of each subject.
    """
    from mmbio.analysis.validate import validate

    labels = _motion_labels([info for info, _ in episodes], motions)  # a wrong list fails before any work
    keys = {p.format(side=s) for _, p in KEY_METRICS for s in ("right", "left")}
    rows, table = [], []
    for info, t in episodes:
        r = validate(t, reference, emg_reference=emg_reference, protocol=protocol, spm=False, seed=seed)
        flat = flat_metrics(r.metrics)
        rows.append(flat)
        table.append({
            "episode": info.index, "traj_id": info.traj_id, "frames": info.frames, "traj_length": info.traj_length,
            "complete": info.complete, "cycles": cycle_counts(r.curves), "passed": r.passed, "credible": r.credible,
            "key": {k: (None if math.isnan(v) else v) for k, (v, _) in flat.items() if k in keys},
        })  # fmt: skip
    subjects: dict[str, list[int]] = {}
    for row, label in zip(table, labels, strict=True):
        if label:
            row |= label
            subjects.setdefault(label["subject"] or "unknown", []).append(row["episode"])
    pooled.episodes = {
        "count": len(table),
        **({"subjects": subjects} if motions is not None else {}),
        "pooled_cycles": cycle_counts(pooled.curves),
        "episodes": table,
        "spread": episode_spread(rows),
    }
    return rows


def _motion_labels(infos: Sequence[Any], motions: Sequence[str] | None) -> list[dict[str, Any]]:
    """Per episode ``{'motion', 'subject', 'trial'}`` from its traj_id (``{}`` each without a motion list)."""
    if motions is None:
        return [{} for _ in infos]
    from mmbio.io.motion_lists import motion_identity

    out = []
    for info in infos:
        i = info.traj_id
        if not 0 <= i < len(motions):
            raise MmbioError(f"episode {info.index}: traj_id {i} is outside the motion list ({len(motions)} "
                             "motions): is it the list the policy was evaluated with?")  # fmt: skip
        subject, trial = motion_identity(motions[i])
        out.append({"motion": motions[i], "subject": subject, "trial": trial})
    return out


def write_episodes_csv(result: ValidationResult, rows: Sequence[dict[str, tuple[float, str]]], path: Any) -> Path:
    """Tidy table, one row per episode × metric: ``episode, traj_id, metric, value, units`` (empty value = n/a)."""
    import csv

    from mmbio.io.atomic import atomic_path

    eps = (result.episodes or {}).get("episodes") or []
    if len(eps) != len(rows):
        raise MmbioError(f"write_episodes_csv: {len(rows)} metric rows for {len(eps)} episodes")
    p = Path(path)
    with atomic_path(p) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["episode", "traj_id", "metric", "value", "units"])
        for ep, row in zip(eps, rows, strict=True):
            w.writerows(
                [ep["episode"], ep["traj_id"], k, "" if math.isnan(v) else f"{v:.6g}", u] for k, (v, u) in row.items()
            )
    return p
