"""EMG linear envelopes, amplitude normalisation and the Santuz 100-stance + 100-swing time base.

Pipeline of :func:`envelope` (every filter a Butterworth in second-order sections, zero-lag by default):

1. gaps: non-finite samples (NaN, ±inf) in runs of at most ``settings.max_gap_s`` (50 ms by default)
   are filled by linear interpolation (nearest value at the ends); a longer run raises
   :class:`~mmbio.errors.MmbioError` (``long_gap='raise'``, the default) or makes that whole channel
   NaN (``long_gap='nan'``) so the other channels can still be used. A channel is never filtered
   with a gap in it: one NaN would spread over the whole channel through the filters.
2. DC removal: the channel mean is subtracted.
3. optional notch (off by default), then band-pass (or high-pass when the upper edge is ``None``).
4. full-wave rectification (``abs``).
5. low-pass (6 Hz by default).
6. optional clipping of the small negative ripple at 0, minimum subtraction and amplitude
   normalisation (``'peak'``, ``'mean'`` or ``'none'``), all per channel over the whole record.

Zero-lag filtering runs each filter forwards and backwards (``scipy.signal.sosfiltfilt``), so the
magnitude response is squared: an order-``N`` low-pass at ``f`` Hz is −6 dB (not −3 dB) at ``f``
and rolls off like order ``2N``. Cut-offs are used as given, without a correction for the second
pass, which is what most EMG papers (and :meth:`EnvelopeSettings.santuz2020`) do.

Negative ripple: a low-pass of a rectified signal is not guaranteed non-negative. The zero-lag
4th-order Butterworth impulse response has negative side lobes of 13.4 % of its peak (whatever the
cut-off), so an isolated spike next to silence gives an envelope dip of −13 % of that spike's
envelope peak; the worst case over all non-negative inputs (a linear program over the impulse
response) is −29 % of the envelope maximum. Real EMG, a dense noise carrier, gives far less.
The low-pass pads the rectified signal by even (mirror) extension so that the padding itself is
non-negative. With ``clip_negative=True`` negative values are set to 0.

Start-up transient: a zero-lag filter has no past (or future) at the ends of a record, so the envelope's
first and last samples are shaped by the padding, not by measured EMG. Both filters are padded with
:data:`PAD_LOWPASS_PERIODS` periods of the low-pass cut-off (≈ 170 ms at 6 Hz) of *mirrored* (even) signal
instead of scipy's default few samples of odd extension (which reflects about the first sample and so adds
a step of 2·x[0]). Measured on white noise at 1,500 Hz with the default settings, the envelope of a record
that starts mid-signal against the envelope of the same signal with 1 s of history (mean over 200
records of |difference| / envelope): 5.6 % at the first sample, 3.5 % at 25 ms, 1.7 % at 50 ms, 1 % from
75 ms on (scipy's default padding: 24 %, 8 %, 2.4 % and up to 4 % at 75–100 ms); with the amplitude rising
at the start (±80 %, 1 Hz) 9 %, 3.8 %, 2.5 %, 1.4 % — what padding cannot remove: the history is not in the
record. :func:`startup_transient_s` is that span (:data:`STARTUP_LOWPASS_PERIODS` / cut-off: 83 ms at 6 Hz,
25 ms at Santuz's 20 Hz); gait cycles that begin or end inside it are marked in the notes by
:func:`mmbio.analysis.emg.compare_emg`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

import numpy as np
from scipy import signal

from mmbio.errors import MmbioError
from mmbio.gait.cycles import normalise
from mmbio.trial import Channels

Normalisation = Literal["peak", "mean", "none"]

#: Unit string of an amplitude-normalised envelope.
NORMALISED_UNITS: dict[str, str] = {"peak": "fraction of max", "mean": "fraction of mean"}

#: Highest usable band-pass upper edge, as a fraction of the Nyquist frequency.
MAX_NYQUIST_FRACTION = 0.95
#: Mirror padding of the zero-lag low-pass, in periods of its cut-off (1 / lowpass_hz).
PAD_LOWPASS_PERIODS = 1.0
#: Span at each end of a record where the envelope is still shaped by the filter's edge, in periods of the
#: low-pass cut-off (module doc: 0.5 / 6 Hz = 83 ms).
STARTUP_LOWPASS_PERIODS = 0.5


@dataclass(frozen=True)
class EnvelopeSettings:
    """Settings of the EMG envelope pipeline (see the module docstring for the order of steps).

    band_hz: band-pass edges in Hz; upper ``None`` → high-pass only; ``None`` → no band-pass.
        An upper edge at or above ``0.95 × Nyquist`` is lowered to that value with a warning.
    order: Butterworth order of each band-pass edge and of the notch design (scipy ``N``).
    notch_hz: mains frequency to notch out (50 or 60), ``None`` (default) for no notch; ``notch_q``
        its quality factor. Harmonics are not notched.
    lowpass_hz, lowpass_order: the envelope low-pass (Hz, Butterworth order).
    zero_lag: forward-backward filtering (``sosfiltfilt``); ``False`` → causal ``sosfilt`` (lags).
    demean: subtract the channel mean first.
    clip_negative: set the envelope's negative ripple to 0.
    subtract_min: subtract each channel's minimum (after clipping) before normalising.
    normalisation: ``'peak'`` (÷ maximum), ``'mean'`` (÷ mean) or ``'none'`` (keep the input units).
    max_gap_s: longest run of non-finite samples that is interpolated, s.
    long_gap: what a longer run does: ``'raise'`` an :class:`MmbioError` or make the channel ``'nan'``.
    """

    band_hz: tuple[float, float | None] | None = (20.0, 450.0)
    order: int = 4
    notch_hz: float | None = None
    notch_q: float = 30.0
    lowpass_hz: float = 6.0
    lowpass_order: int = 4
    zero_lag: bool = True
    demean: bool = True
    clip_negative: bool = False
    subtract_min: bool = False
    normalisation: Normalisation = "none"
    max_gap_s: float = 0.05
    long_gap: Literal["raise", "nan"] = "raise"

    def __post_init__(self) -> None:
        if self.normalisation not in ("peak", "mean", "none"):
            raise MmbioError(
                f"EnvelopeSettings: normalisation must be 'peak', 'mean' or 'none', not {self.normalisation!r}"
            )
        if self.long_gap not in ("raise", "nan"):
            raise MmbioError(f"EnvelopeSettings: long_gap must be 'raise' or 'nan', not {self.long_gap!r}")
        if self.order < 1 or self.lowpass_order < 1:
            raise MmbioError("EnvelopeSettings: filter orders must be >= 1")
        if self.lowpass_hz <= 0:
            raise MmbioError(f"EnvelopeSettings: lowpass_hz must be > 0, not {self.lowpass_hz}")
        if self.band_hz is not None:
            lo, hi = self.band_hz
            if lo <= 0 or (hi is not None and hi <= lo):
                raise MmbioError(f"EnvelopeSettings: band_hz must be 0 < low < high, not {self.band_hz}")
        if self.max_gap_s < 0:
            raise MmbioError("EnvelopeSettings: max_gap_s must be >= 0")

    @classmethod
    def santuz2020(cls) -> EnvelopeSettings:
        """Santuz et al. (2020) iScience 23:100796 (R package musclesyneRgies, ``filtEMG``).

        Demean; 4th-order Butterworth zero-lag high-pass at 50 Hz; full-wave rectification;
        4th-order zero-lag low-pass at 20 Hz; negative values clipped; minimum subtracted; each
        muscle divided by its maximum over the whole trial. Reproduces the authors' published
        envelopes of trial ID0012_TW_01 with r > 0.9999 for all 13 muscles.
        """
        return cls(
            band_hz=(50.0, None),
            order=4,
            lowpass_hz=20.0,
            lowpass_order=4,
            clip_negative=True,
            subtract_min=True,
            normalisation="peak",
        )

    def with_(self, **changes: object) -> EnvelopeSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index runs where the 1-D boolean ``mask`` is True."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _fill_gaps(x: np.ndarray, rate_hz: float, settings: EnvelopeSettings, notes: list[str]) -> np.ndarray:
    """Fill short non-finite runs of (n, k) ``x`` in place; returns the (k,) mask of channels to set NaN."""
    bad_channels = np.zeros(x.shape[1], dtype=bool)
    bad = ~np.isfinite(x)
    if not bad.any():
        return bad_channels
    max_len = int(np.floor(settings.max_gap_s * rate_hz + 1e-9))
    idx = np.arange(x.shape[0])
    for j in np.flatnonzero(bad.any(axis=0)):
        m = bad[:, j]
        longest = max(b - a for a, b in _runs(m))
        if longest > max_len or m.all():
            msg = (
                f"channel {j}: gap of {longest} non-finite samples ({longest / rate_hz * 1e3:.0f} ms) is longer "
                f"than max_gap_s={settings.max_gap_s * 1e3:.0f} ms"
            )
            if settings.long_gap == "raise":
                raise MmbioError(f"envelope: {msg}; fix the gap, crop the record or use long_gap='nan'")
            notes.append(f"{msg}: channel set to NaN")
            bad_channels[j] = True
            x[:, j] = 0.0
            continue
        x[m, j] = np.interp(idx[m], idx[~m], x[~m, j])
        notes.append(f"channel {j}: {int(m.sum())} non-finite samples interpolated (runs <= {max_len} samples)")
    return bad_channels


def _filt(
    sos: np.ndarray, x: np.ndarray, zero_lag: bool, padtype: str = "odd", padlen: int | None = None
) -> np.ndarray:
    """Filter (k, n) ``x`` along its last axis (the contiguous one: no copies inside scipy)."""
    if zero_lag:
        return signal.sosfiltfilt(sos, x, axis=-1, padtype=padtype, padlen=padlen)
    return signal.sosfilt(sos, x, axis=-1)


def startup_transient_s(settings: EnvelopeSettings | None = None) -> float:
    """Span (s) at each end of a record where the envelope still carries the filter's edge (module doc)."""
    s = settings or EnvelopeSettings()
    return STARTUP_LOWPASS_PERIODS / s.lowpass_hz


def envelope(
    values: np.ndarray | Sequence[float],
    rate_hz: float,
    settings: EnvelopeSettings | None = None,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Linear envelope of raw EMG.

    values: (n,) or (n, k) raw EMG, any unit (V, mV, µV), uniformly sampled at ``rate_hz`` Hz.
    Returns an array of the same shape, float64: in the input unit when ``normalisation='none'``,
    else a dimensionless fraction. ``notes`` (if given) receives one line per adjustment made
    (band edge lowered, gaps filled, channel set to NaN). Raises :class:`MmbioError` for a record
    too short to filter or a gap longer than ``settings.max_gap_s`` (with ``long_gap='raise'``).
    """
    s = settings or EnvelopeSettings()
    notes = [] if notes is None else notes
    x = np.array(values, dtype=np.float64)  # a copy: gaps are filled in place
    one_d = x.ndim == 1
    if one_d:
        x = x[:, None]
    if x.ndim != 2:
        raise MmbioError(f"envelope: values must be (n,) or (n, k), got shape {x.shape}")
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise MmbioError(f"envelope: rate_hz must be a positive number, not {rate_hz}")
    nyq = rate_hz / 2.0
    if s.lowpass_hz >= nyq:
        raise MmbioError(f"envelope: low-pass {s.lowpass_hz} Hz is not below Nyquist ({nyq:g} Hz at {rate_hz:g} Hz)")

    sos_list: list[np.ndarray] = []
    if s.notch_hz is not None:
        if s.notch_hz >= nyq:
            raise MmbioError(f"envelope: notch {s.notch_hz} Hz is not below Nyquist ({nyq:g} Hz)")
        b, a = signal.iirnotch(s.notch_hz, s.notch_q, fs=rate_hz)
        sos_list.append(signal.tf2sos(b, a))
    if s.band_hz is not None:
        lo, hi = s.band_hz
        top = MAX_NYQUIST_FRACTION * nyq
        if lo >= (top if hi is None else min(hi, top)):
            raise MmbioError(f"envelope: band-pass lower edge {lo:g} Hz is too high for {rate_hz:g} Hz sampling")
        if hi is not None and hi >= top:
            msg = f"band-pass upper edge {hi:g} Hz lowered to {top:g} Hz (0.95 × Nyquist at {rate_hz:g} Hz)"
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
            hi = top
        if hi is None:
            sos_list.append(signal.butter(s.order, lo, "highpass", fs=rate_hz, output="sos"))
        else:
            sos_list.append(signal.butter(s.order, (lo, hi), "bandpass", fs=rate_hz, output="sos"))
    sos_lp = signal.butter(s.lowpass_order, s.lowpass_hz, "lowpass", fs=rate_hz, output="sos")

    n = x.shape[0]
    need = 3 * (2 * max([len(sos_lp), *(len(q) for q in sos_list)]) + 1)  # sosfiltfilt's default pad length
    if s.zero_lag and n <= need:
        raise MmbioError(f"envelope: {n} samples are too few for zero-lag filtering (need > {need})")

    nan_channels = _fill_gaps(x, rate_hz, s, notes)

    xt = np.ascontiguousarray(x.T)  # (k, n): filter along the contiguous axis
    # mirror padding, one low-pass period long (module doc: start-up transient); even, so that the padding
    # adds no step (odd padding reflects about the first sample and adds 2·x[0]: +19 % envelope at the edge)
    pad = min(n - 1, max(need, int(np.ceil(PAD_LOWPASS_PERIODS * rate_hz / s.lowpass_hz))))
    if s.demean:
        xt -= xt.mean(axis=1, keepdims=True)
    if sos_list:
        xt = _filt(np.vstack(sos_list), xt, s.zero_lag, padtype="even", padlen=pad)
    np.abs(xt, out=xt)
    xt = _filt(sos_lp, xt, s.zero_lag, padtype="even", padlen=pad)  # even: a rectified signal's padding stays >= 0
    if s.clip_negative:
        np.maximum(xt, 0.0, out=xt)
    if s.subtract_min:
        xt -= xt.min(axis=1, keepdims=True)
    out = np.ascontiguousarray(xt.T)
    out[:, nan_channels] = np.nan
    if s.normalisation != "none":
        out = normalise_amplitude(out, s.normalisation, axis=0)
    return out[:, 0] if one_d else out


def normalise_amplitude(x: np.ndarray, method: Normalisation = "peak", axis: int = 0) -> np.ndarray:
    """Divide each channel by its peak (``'peak'``) or mean (``'mean'``) along ``axis``; ``'none'`` copies.

    x: any shape, channels along the other axes (default: (n,) or (n, k), time along axis 0).
    NaN samples are ignored when finding the peak/mean. A channel that is flat (max == min), all NaN,
    or whose peak/mean is not positive has no meaningful scale: it comes back all NaN, with no
    division warning (never a fake number).
    """
    x = np.asarray(x, dtype=np.float64)
    if method == "none":
        return x.copy()
    if method not in ("peak", "mean"):
        raise MmbioError(f"normalise_amplitude: method must be 'peak', 'mean' or 'none', not {method!r}")
    if x.size == 0:
        return x.copy()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        hi = np.nanmax(x, axis=axis, keepdims=True)
        lo = np.nanmin(x, axis=axis, keepdims=True)
        scale = hi if method == "peak" else np.nanmean(x, axis=axis, keepdims=True)
    ok = np.isfinite(scale) & (scale > 0) & (hi > lo)
    out = np.full(np.broadcast_shapes(x.shape, scale.shape), np.nan)
    np.divide(x, scale, out=out, where=np.broadcast_to(ok, out.shape))
    return out


def _name_channels(text: str, names: Sequence[str]) -> str:
    """Replace ``channel <j>`` in a message of :func:`envelope` by the channel's name."""
    return re.sub(r"channel (\d+)", lambda m: f"channel {names[int(m.group(1))]!r}", text)


def envelope_channels(
    ch: Channels, settings: EnvelopeSettings | None = None, notes: list[str] | None = None
) -> Channels:
    """:func:`envelope` of every channel of ``ch`` (raw EMG in V, uniformly sampled).

    Returns Channels on the same time base and names; units unchanged when ``normalisation='none'``,
    else ``'fraction of max'`` / ``'fraction of mean'``. Raises :class:`MmbioError` when the time
    steps are not uniform (more than 1 % from the median step).
    """
    s = settings or EnvelopeSettings()
    if ch.time.size < 2:
        raise MmbioError("envelope_channels: need at least 2 samples")
    dt = np.diff(ch.time)
    med = float(np.median(dt))
    if np.any(np.abs(dt - med) > 0.01 * med):
        raise MmbioError("envelope_channels: time steps are not uniform; resample the EMG first")
    own: list[str] = []
    try:
        env = envelope(ch.values, 1.0 / med, s, own)
    except MmbioError as e:
        raise MmbioError(_name_channels(str(e), ch.names)) from None
    if notes is not None:
        notes.extend(_name_channels(n, ch.names) for n in own)
    units = list(ch.units) if s.normalisation == "none" else [NORMALISED_UNITS[s.normalisation]] * len(ch.names)
    return Channels(ch.time.copy(), env, list(ch.names), units)


# --- the Santuz 100-stance + 100-swing time base ------------------------------------------------


def _ss_phase(stance_fraction: float, n_stance: int, n_swing: int) -> tuple[np.ndarray, np.ndarray]:
    """Cycle phase (0–1) of each stance and each swing point of the stance/swing base."""
    s = float(stance_fraction)
    if not 0.0 < s < 1.0:
        raise MmbioError(f"stance_fraction must be in (0, 1), not {stance_fraction}")
    return np.linspace(0.0, s, n_stance), np.linspace(s, 1.0, n_swing)


def stance_swing_to_cycle(
    env_200: np.ndarray,
    stance_fraction: float,
    n_points: int = 101,
    n_stance: int = 100,
) -> np.ndarray:
    """Put a curve on the Santuz stance/swing base onto 0–100 % of the gait cycle.

    env_200: (n_stance + n_swing,) or (…, k) — by default 200 points: points 1–100 span stance from
    touchdown to the sample before lift-off, points 101–200 swing from lift-off to the sample before
    the next touchdown (musclesyneRgies ``normEMG``). ``stance_fraction`` = (lift-off − touchdown) /
    (next touchdown − touchdown). Point 100 (end of stance) and point 101 (start of swing) are one
    raw sample apart and are both placed at ``100 × stance_fraction`` %, where their mean is used.
    Returns (n_points,) or (n_points, k) over ``np.linspace(0, 100, n_points)`` %.
    """
    e = np.asarray(env_200, dtype=np.float64)
    n_swing = e.shape[0] - n_stance
    if n_swing < 2 or n_stance < 2:
        raise MmbioError(
            f"stance_swing_to_cycle: {e.shape[0]} points cannot hold {n_stance} stance + >= 2 swing points"
        )
    ph_st, ph_sw = _ss_phase(stance_fraction, n_stance, n_swing)
    xp = np.concatenate((ph_st, ph_sw[1:]))
    mid = 0.5 * (e[n_stance - 1] + e[n_stance])
    fp = np.concatenate((e[: n_stance - 1], mid[None], e[n_stance + 1 :]), axis=0)
    xq = np.linspace(0.0, 1.0, n_points)
    if fp.ndim == 1:
        return np.interp(xq, xp, fp)
    flat = fp.reshape(fp.shape[0], -1)
    out = np.column_stack([np.interp(xq, xp, flat[:, j]) for j in range(flat.shape[1])])
    return out.reshape((n_points, *fp.shape[1:]))


def cycle_to_stance_swing(
    curve: np.ndarray,
    stance_fraction: float,
    n_stance: int = 100,
    n_swing: int = 100,
) -> np.ndarray:
    """Inverse of :func:`stance_swing_to_cycle`: (p,) or (p, k) over 0–100 % of cycle → (n_stance + n_swing, …)."""
    c = np.asarray(curve, dtype=np.float64)
    ph_st, ph_sw = _ss_phase(stance_fraction, n_stance, n_swing)
    xq = np.concatenate((ph_st, ph_sw))
    xp = np.linspace(0.0, 1.0, c.shape[0])
    if c.ndim == 1:
        return np.interp(xq, xp, c)
    flat = c.reshape(c.shape[0], -1)
    out = np.column_stack([np.interp(xq, xp, flat[:, j]) for j in range(flat.shape[1])])
    return out.reshape((xq.size, *c.shape[1:]))


def stance_swing_cycles(
    time: np.ndarray,
    values: np.ndarray,
    touchdowns: np.ndarray,
    liftoffs: np.ndarray,
    n_stance: int = 100,
    n_swing: int = 100,
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """Cut a continuous signal into cycles on the Santuz stance/swing base.

    time: (n,) s, uniform; values: (n,) or (n, k); touchdowns, liftoffs: event times in s of one foot.
    For each touchdown with a lift-off and a next touchdown inside the record, stance runs from the
    first sample at or after touchdown to the last sample before lift-off, swing from the first
    sample at or after lift-off to the last before the next touchdown (as musclesyneRgies
    ``normEMG``), each linearly resampled to ``n_stance`` / ``n_swing`` points.
    Returns cycles (m, n_stance + n_swing) or (m, n_stance + n_swing, k), and the (touchdown,
    lift-off, next touchdown) times of each.
    """
    t = np.asarray(time, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    td = np.sort(np.asarray(touchdowns, dtype=np.float64))
    lo = np.sort(np.asarray(liftoffs, dtype=np.float64))
    eps = 1e-6 * float(np.median(np.diff(t)))
    out, kept = [], []
    for a, b in pairwise(td):
        inside = lo[(lo > a) & (lo < b)]
        if not inside.size or a < t[0] - eps or b > t[-1] + eps:
            continue
        i0 = int(np.searchsorted(t, a - eps))
        i1 = int(np.searchsorted(t, inside[0] - eps))
        i2 = int(np.searchsorted(t, b - eps))
        if i1 - i0 < 2 or i2 - i1 < 2:
            continue
        st = normalise(t, v, t[i0], t[i1 - 1], n_stance)
        sw = normalise(t, v, t[i1], t[i2 - 1], n_swing)
        out.append(np.concatenate((st, sw), axis=0))
        kept.append((float(a), float(inside[0]), float(b)))
    if not out:
        shape = (0, n_stance + n_swing, *v.shape[1:])
        return np.empty(shape), kept
    return np.array(out), kept
