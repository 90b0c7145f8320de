"""mm-evalkit-compatible numbers beside mmbio's: ``mmbio validate ARCHIVE --compat mm-evalkit``.

mm-evalkit 0.1.0 (the MuscleMimic authors' evaluation kit) reads the same rollout archive with other rules. This
module re-implements those rules (it never imports or runs mm-evalkit) so that a user can reproduce the numbers a
paper's mm-evalkit table reports and see, number by number, why mmbio's differs. The rules (mm-evalkit
``workflows/gait``: ``cycles``, ``policy_data``, ``activation``, ``numerics``, ``kinetics_data``):

* **Episodes.** Every episode is used that ran to its end, ``T ≥ traj_length − 1``; the others count 0 cycles.
  Cycles of all episodes are pooled (mmbio validates one episode unless ``--episode all``).
* **Contact.** A foot is down where its touch sensors (``r_foot + r_toes``, ``l_foot + l_toes``; either one)
  read above 0.05. A heel strike is the first 10 ms frame that reads contact: the contact began during the
  step before it, so it lies 0–10 ms after the contact force's own onset (mmbio interpolates the contact force's
  20 N crossing between frames).
* **Cycles** (right foot only, for every joint and muscle, left ones included). The right contact is debounced
  (gaps shorter than 8 frames inside the episode closed, contacts shorter than 8 frames removed); heel strikes are
  its rising edges; frame 0 is a cycle start when the right foot is already down there (the start-up cycle
  mmbio, which needs a heel strike, does not count); the last frame is a cycle end when the foot is in the air
  and 60–150 frames have passed since the last start. A cycle lasts 60–150 frames with ≥ 8 frames of swing; of
  more than ``round(traj_length / 100)`` (≥ 1) cycles, those closest to 100 frames are kept. A cycle whose
  activation rows are not all finite is dropped (a ``post_step`` archive has none for state 0, so a cycle
  starting at frame 0 goes).
* **Time normalisation.** A cycle ``[start, end)`` is the frames start … end − 1 (the next heel strike's frame
  is not in it), stretched linearly onto 100 samples: sample 99 is the frame before the heel strike, not 100 %.
  mmbio uses 101 samples from heel strike to heel strike (0–100 %).
* **Profiles.** Joint angles are ``qpos × 180/π`` of the hinge joints (MyoFullBody's leg joints: sign +1, gain 1,
  as mmbio's clinical angles); activations are ``data.act`` on the state timeline (``post_step`` rows moved one
  state later, state 0 NaN). The profile is the mean over every kept cycle (without a motion list there are no
  subjects to average first).
* **Scores.** Pearson r and RMSE of a profile against a 100-sample reference over the finite pairs.
* **Vertical GRF** (embedded-kinetics block only): per foot the force sensors' sum divided by
  ``model_mass_kg × 9.80665`` (the touch sensors, which measure the normal force inside the sensor zones only).
  mm-evalkit cuts it on the windows of Gait120 force-plate references; mmbio compares it sample by sample with
  its own contact-force GRF of the same states.

What needs mm-evalkit's human data (Gait120 / Wang joint angles, EMG, force plates, inverse dynamics) is n/a here
with that reason: mmbio scores the same profiles against its own reference instead (``rule`` columns), which
separates the effect of mm-evalkit's rules from the effect of its data. Shapes: touch (T, 4) N; qpos (T, nq) rad;
act (T, na) 0–1; profiles (100,). Imports no JAX.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.analysis.result import ValidationResult
from mmbio.trial import Trial

__all__ = [
    "EVALKIT",
    "EvalkitArchive",
    "EvalkitEpisode",
    "align_activation",
    "attach_compat",
    "compat_block",
    "debounce",
    "evalkit_cycles",
    "format_compat",
    "heel_strike_frames",
    "normalise_cycle",
    "read_evalkit_archive",
]

EVALKIT = "mm-evalkit 0.1.0"
DT = 0.01
TOUCH_THRESHOLD = 0.05
DEBOUNCE_FRAMES = 8
MIN_SWING_FRAMES = 8
CYCLE_FRAMES = (60, 150)
TARGET_FRAMES = 100
N_SAMPLES = 100
G = 9.80665
#: mm-evalkit's joint channels (Gait120 and Wang) → mmbio (side, clinical variable)
JOINTS: dict[str, tuple[str, str]] = {
    f"{j}_{s}": (w, v)
    for s, w in (("r", "right"), ("l", "left"))
    for j, v in (
        ("hip_flexion", "hip_flexion"),
        ("hip_adduction", "hip_adduction"),
        ("hip_rotation", "hip_rotation"),
        ("knee_angle", "knee_flexion"),
        ("ankle_angle", "ankle_dorsiflexion"),
    )
}
#: the actuators mm-evalkit compares with EMG: Gait120's 11 and Wang's semimembranosus (right side only)
MUSCLES = ("vaslat_r", "recfem_r", "vasmed_r", "tibant_r", "bflh_r", "semiten_r", "semimem_r", "gasmed_r",
           "gaslat_r", "soleus_r", "perlong_r", "perbrev_r")  # fmt: skip
FOOT_COLUMNS = {"r": (0, 1), "l": (2, 3)}
HUMAN_NA = (
    "mm-evalkit scores profiles against Gait120 or Wang human data (joint angles, EMG, force plates, inverse "
    "dynamics), which mmbio does not ship"
)
_LAG_PAIRING_S = 0.1


# ---------------------------------------------------------------------------------------------- the rules


def foot_contact(touch: np.ndarray, side: str) -> np.ndarray:
    """(T,) bool: the foot's toe or heel touch sensor reads above :data:`TOUCH_THRESHOLD`. touch: (T, 4) N."""
    a, b = FOOT_COLUMNS[side]
    return (touch[:, a] > TOUCH_THRESHOLD) | (touch[:, b] > TOUCH_THRESHOLD)


def heel_strike_frames(contact: np.ndarray) -> np.ndarray:
    """Frames i ≥ 1 where ``contact`` turns on (no contact at i − 1, contact at i)."""
    c = np.asarray(contact, dtype=bool)
    return np.flatnonzero(~c[:-1] & c[1:]) + 1


def _runs(c: np.ndarray) -> list[tuple[bool, int, int]]:
    """Runs of equal values as (value, start, end exclusive)."""
    if c.size == 0:
        return []
    edges = np.flatnonzero(c[1:] != c[:-1]) + 1
    starts = np.r_[0, edges]
    ends = np.r_[edges, c.size]
    return [(bool(c[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def debounce(contact: np.ndarray, frames: int = DEBOUNCE_FRAMES) -> np.ndarray:
    """(T,) bool: gaps shorter than ``frames`` that touch neither end closed, then contacts shorter than it removed."""
    c = np.asarray(contact, dtype=bool).copy()
    n = c.size
    for on, s, e in _runs(c):
        if not on and e - s < frames and s > 0 and e < n:
            c[s:e] = True
    for on, s, e in _runs(c):
        if on and e - s < frames:
            c[s:e] = False
    return c


def evalkit_cycles(right_contact: np.ndarray, traj_length: int) -> list[tuple[int, int]]:
    """mm-evalkit's right-foot cycles ``(start, end)`` in frames (end exclusive, the next start) of one episode.

    right_contact: (T,) bool per 10 ms frame. See the module doc for the rule."""
    n = len(right_contact)
    if n < 2:
        return []
    clean = debounce(right_contact)
    bounds = [int(i) for i in heel_strike_frames(clean)]
    if clean[0]:
        bounds = [0, *bounds]
    lo, hi = CYCLE_FRAMES
    if bounds and not clean[-1] and lo <= (n - 1) - bounds[-1] <= hi:
        bounds.append(n - 1)
    bounds = sorted(set(bounds))
    cycles = [
        (s, e)
        for s, e in itertools.pairwise(bounds)
        if lo <= e - s <= hi and int(np.sum(~clean[s:e])) >= MIN_SWING_FRAMES
    ]
    expected = max(1, round(traj_length / 100))
    if len(cycles) > expected:
        cycles = sorted(sorted(cycles, key=lambda c: abs(c[1] - c[0] - TARGET_FRAMES))[:expected])
    return cycles


def align_activation(act: np.ndarray, phase: str) -> np.ndarray:
    """(T, na) activations on the state timeline: ``post_step`` row k is state k + 1's, so state 0 is NaN."""
    a = np.asarray(act, dtype=float)
    if phase == "pre_step":
        return a.copy()
    out = np.full(a.shape, np.nan)
    out[1:] = a[:-1]
    return out


def normalise_cycle(x: np.ndarray, start: int, end: int, n: int = N_SAMPLES) -> np.ndarray:
    """Frames ``start … end − 1`` of x (T, …) stretched linearly onto ``n`` samples → (n, …)."""
    seg = np.asarray(x[start:end], dtype=float)
    pos = np.linspace(0.0, len(seg) - 1, n)
    i0 = np.minimum(np.floor(pos).astype(int), len(seg) - 2)
    w = (pos - i0).reshape((-1,) + (1,) * (seg.ndim - 1))
    return seg[i0] * (1.0 - w) + seg[i0 + 1] * w


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the finite pairs (NaN below 2 pairs or for a flat signal), as mm-evalkit scores."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return float("nan")
    da, db = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = float(np.linalg.norm(da) * np.linalg.norm(db))
    return float("nan") if den == 0.0 else float(np.clip(np.dot(da, db) / den, -1.0, 1.0))


def rms_diff(a: np.ndarray, b: np.ndarray) -> float:
    """RMSE over the finite pairs (NaN when none)."""
    d = np.asarray(a, float).ravel() - np.asarray(b, float).ravel()
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d * d))) if d.size else float("nan")


# ---------------------------------------------------------------------------------------------- the archive


@dataclass
class EvalkitEpisode:
    """One episode as mm-evalkit sees it. heel_strikes: frames per side ('r', 'l'), from the raw contact;
    detected: the right-foot cycles of the cycle rule; cycles: those kept (complete activation)."""

    index: int
    traj_id: int
    frames: int
    traj_length: int
    heel_strikes: dict[str, np.ndarray]
    detected: list[tuple[int, int]] = field(default_factory=list)
    cycles: list[tuple[int, int]] = field(default_factory=list)
    right_down_at_start: bool = False

    @property
    def complete(self) -> bool:
        return self.frames >= self.traj_length - 1


@dataclass
class EvalkitArchive:
    """An archive read with mm-evalkit's rules. joints: channel → (100,) deg; muscles: actuator → (100,);
    grf: side → (T_k,) vertical sensor force in BW per kinetics row of the first used episode, with its frames."""

    path: Path
    phase: str
    episodes: list[EvalkitEpisode]
    joints: dict[str, np.ndarray]
    muscles: dict[str, np.ndarray]
    actuators: list[str]
    mass_kg: float | None
    grf: dict[int, dict[str, np.ndarray]]

    @property
    def cycles(self) -> list[tuple[int, int, int]]:
        """Every kept cycle as (episode, start, end)."""
        return [(e.index, s, t) for e in self.episodes for s, t in e.cycles]


def read_evalkit_archive(path: str | os.PathLike[str]) -> EvalkitArchive:
    """Read an mm-evalkit archive (checked as :mod:`mmbio.io.rollout_npz` checks it) and apply mm-evalkit's rules."""
    from mmbio.io.evalkit_kinetics import read_kinetics_header
    from mmbio.io.npz_safe import NpzArchive
    from mmbio.io.rollout_npz import _finite, _structure

    p = Path(path)
    sums: dict[str, Any] = {}
    n_cycles = 0
    episodes: list[EvalkitEpisode] = []
    grf: dict[int, dict[str, np.ndarray]] = {}
    mass = None
    with NpzArchive(p) as ar:
        model, phase, infos = _structure(ar)
        actuators = [model.actuator(i).name for i in range(model.nu)]
        qadr = {j: int(model.jnt_qposadr[model.joint(j).id]) for j in JOINTS}
        header = read_kinetics_header(ar)  # checked as mmbio reads the block (partial, units, foot sensors)
        if header is not None:
            mass, names = header.mass_kg, header.sensor_names
        for info in infos:
            pre = f"episode_{info.index}"
            touch = _finite(ar, f"{pre}_touch_observations")
            ep = EvalkitEpisode(
                info.index,
                info.traj_id,
                info.frames,
                info.traj_length,
                {s: heel_strike_frames(foot_contact(touch, s)) for s in FOOT_COLUMNS},
            )
            episodes.append(ep)
            if not ep.complete:
                continue
            right = foot_contact(touch, "r")
            ep.right_down_at_start = bool(debounce(right)[0])
            ep.detected = evalkit_cycles(right, info.traj_length)
            act = align_activation(_finite(ar, f"{pre}_muscle_activations"), phase)
            ep.cycles = [(s, e) for s, e in ep.detected if e - s >= 2 and np.isfinite(act[s:e]).all()]
            if not ep.cycles:
                continue
            deg = np.degrees(_finite(ar, f"{pre}_joint_positions")[:, list(qadr.values())])
            for s, e in ep.cycles:
                for key, x in (("q", deg), ("a", act)):
                    c = normalise_cycle(x, s, e)
                    sums[key] = c if key not in sums else sums[key] + c
                n_cycles += 1
            if header is not None:
                vals = _finite(ar, f"{pre}_force_sensor_values")
                grf[info.index] = {
                    side: vals[:, [names.index(n) for n in cols]].sum(axis=1) / (mass * G)
                    for side, cols in (("r", ("r_foot", "r_toes")), ("l", ("l_foot", "l_toes")))
                }
    joints = {j: sums["q"][:, i] / n_cycles for i, j in enumerate(JOINTS)} if n_cycles else {}
    muscles = {a: sums["a"][:, i] / n_cycles for i, a in enumerate(actuators)} if n_cycles else {}
    return EvalkitArchive(p, phase, episodes, joints, muscles, actuators, mass, grf)


# ---------------------------------------------------------------------------------------------- mmbio beside it


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _metric(result: ValidationResult, path: str) -> float | None:
    m = result.get(path)
    return None if m is None else _num(m.value)


def _curve(result: ValidationResult, domain: str, side: str, variable: str) -> Any:
    return next((c for c in result.curves if (c.domain, c.side, c.variable) == (domain, side, variable)), None)


def _on_100(pct: np.ndarray, y: np.ndarray | None) -> np.ndarray | None:
    """A 0–100 % curve at mm-evalkit's 100 samples (its sample i is i/99 of its cycle)."""
    return None if y is None else np.interp(np.linspace(0.0, 100.0, N_SAMPLES), pct, y)


def _lags(theirs_s: np.ndarray, mine_s: np.ndarray) -> list[float]:
    """mm-evalkit's event times minus the nearest of mmbio's (ms), pairs within 0.1 s."""
    out = []
    for x in theirs_s:
        if mine_s.size:
            d = float(x - mine_s[np.argmin(np.abs(mine_s - x))])
            if abs(d) <= _LAG_PAIRING_S:
                out.append(d * 1000.0)
    return out


def _events(ek: EvalkitArchive, trials: dict[int, Trial]) -> dict[str, Any]:
    """Heel strikes per side: how many each tool finds, and mm-evalkit's frame times minus mmbio's contact-force
    times (ms; paired within 0.1 s): over its raw heel strikes and, right side, over its cycle starts."""
    out: dict[str, Any] = {}
    for s, word in (("r", "right"), ("l", "left")):
        lags, starts, n_ek, n_mm = [], [], 0, 0
        for e in ek.episodes:
            t = trials.get(e.index)
            if t is None:
                continue
            mine = t.events.heel_strike[s]
            n_ek, n_mm = n_ek + e.heel_strikes[s].size, n_mm + mine.size
            lags += _lags(e.heel_strikes[s] * DT, mine)
            if s == "r":
                starts += _lags(np.array([c[0] for c in e.cycles], float) * DT, mine)
        a, b = np.asarray(lags), np.asarray(starts)
        out[word] = {
            "mm_evalkit": n_ek,
            "mmbio": n_mm,
            "paired": int(a.size),
            "lag_ms_median": _num(np.median(a)) if a.size else None,
            "lag_ms_min": _num(a.min()) if a.size else None,
            "lag_ms_max": _num(a.max()) if a.size else None,
            "lag_ms": [round(x, 3) for x in lags],
        }
        if s == "r":
            out[word]["cycle_start_lag_ms"] = [round(x, 3) for x in starts]
            out[word]["cycle_start_lag_ms_median"] = _num(np.median(b)) if b.size else None
    return out


def _cycle_reason(ek: EvalkitArchive, mmbio_n: int | None) -> str:
    parts = []
    if any(e.right_down_at_start and e.detected and e.detected[0][0] == 0 for e in ek.episodes):
        parts.append(
            "it counts a start-up cycle from frame 0 (the right foot is already down; mmbio needs a heel strike)"
        )
    dropped = [(e.index, c) for e in ek.episodes for c in e.detected if c not in e.cycles]
    if dropped:
        parts.append(f"it drops {len(dropped)} cycle(s) without activation for every frame (post_step state 0)")
    if any(e.detected and e.detected[-1][1] == e.frames - 1 and e.frames - 1 not in e.heel_strikes["r"]
           for e in ek.episodes):  # fmt: skip
        parts.append("it ends a cycle at the last frame, the foot still in the air")
    if any(not e.complete for e in ek.episodes):
        parts.append("it uses no cycle of an episode that ended early")
    if not parts:
        parts.append("same cycles: right heel strike to right heel strike")
    return "; ".join(parts)


def compat_block(path: str | os.PathLike[str], result: ValidationResult, trials: dict[int, Trial]) -> dict[str, Any]:
    """metrics.json ``compat['mm-evalkit']``: mm-evalkit's numbers for the archive beside mmbio's, with reasons.

    trials: the episodes mmbio validated, by index (their heel strikes are compared frame by frame)."""
    ek = read_evalkit_archive(path)
    used = [e.index for e in ek.episodes if e.cycles]
    mm_cyc = next((c.trial_cycles.shape[0] for c in result.curves if c.domain == "kinematics" and c.side == "right"), 0)
    lengths = np.array([e - s for _, s, e in ek.cycles], dtype=float) * DT
    mm_hs = np.concatenate([t.events.heel_strike["r"] for t in trials.values()] or [np.empty(0)])
    mm_len = np.concatenate([np.diff(t.events.heel_strike["r"]) for t in trials.values()] or [np.empty(0)])
    rows: list[dict[str, Any]] = []

    def row(number: str, mine: Any, theirs: Any, units: str, reason: str) -> None:
        rows.append({"number": number, "mmbio": mine, "mm_evalkit": theirs, "units": units, "reason": reason})

    events = _events(ek, trials)
    row("right gait cycles", mm_cyc, len(ek.cycles), "", _cycle_reason(ek, mm_cyc))
    row("cycle duration (mean)", _num(mm_len.mean()) if mm_len.size else None,
        _num(lengths.mean()) if lengths.size else None, "s",
        "mm-evalkit's cycles start and end on whole 10 ms frames")  # fmt: skip
    for word in ("right", "left"):
        ev = events[word]
        extra = ev["mm_evalkit"] - ev["mmbio"]
        row(f"{word} heel strike: mm-evalkit − mmbio (median)", 0.0 if ev["paired"] else None,
            ev["lag_ms_median"], "ms",
            f"touch > {TOUCH_THRESHOLD} N seen on whole 10 ms frames: a contact that begins between frames counts "
            f"at the next one (up to a frame late); a light touch below mmbio's 20 N contact-force threshold starts "
            f"contact earlier (range {_fmt(ev['lag_ms_min'])}..{_fmt(ev['lag_ms_max'])} ms over {ev['paired']} "
            f"pairs)" + (f"; {extra} more brief touch(es) counted as heel strikes (debounced out of its cycles)"
                         if extra > 0 else ""))  # fmt: skip
    row("samples per cycle", 101, N_SAMPLES, "",
        "mm-evalkit stretches frames start..end−1 (the next heel strike left out) onto 100 samples; mmbio "
        "samples heel strike to heel strike, 0–100 %")  # fmt: skip

    joints: dict[str, Any] = {}
    for ch, (word, var) in JOINTS.items():
        c = _curve(result, "kinematics", word, var)
        prof = ek.joints.get(ch)
        base = f"kinematics.{word}.{var}"
        d: dict[str, Any] = {"mmbio": {k: _metric(result, f"{base}.{k}") for k in ("r", "rmse", "rom")}}
        d["mm_evalkit_profile_rom"] = _num(np.ptp(prof)) if prof is not None else None
        if prof is None or c is None:
            d["reason"] = "no mm-evalkit cycle" if prof is None else "mmbio has no curve for it"
        elif word == "left":
            d["reason"] = ("mm-evalkit cuts left joints on the right foot's cycles, mmbio's reference on the left "
                           "foot's: r and RMSE against that reference would measure the half-cycle shift")  # fmt: skip
        else:
            ref = _on_100(c.pct, c.ref_mean)
            d["rule"] = {
                "r": _num(pearson(prof, ref)) if ref is not None else None,
                "rmse": _num(rms_diff(prof, ref)) if ref is not None else None,
            }
            d["curves_r"] = _num(pearson(prof, _on_100(c.pct, c.trial_mean)))
        d["human"] = {"r": None, "rmse": None, "reason": HUMAN_NA}
        joints[ch] = d
    right = [v for v in joints.values() if "rule" in v and v["rule"]["r"] is not None]
    if right:
        row("right joint-angle r (median of " + str(len(right)) + ")",
            _num(np.median([v["mmbio"]["r"] for v in right if v["mmbio"]["r"] is not None])),
            _num(np.median([v["rule"]["r"] for v in right])), "",
            "both against mmbio's reference: mm-evalkit's cycles and 100-sample normalisation; "
            f"mean curves agree to r ≥ {_fmt(min(v['curves_r'] for v in right), '.3f')}")  # fmt: skip

    muscles = _muscles(ek, result)
    scored = [v for v in muscles.values() if v.get("rule", {}).get("r") is not None]
    if scored:
        row(f"right activation–EMG r (median of {len(scored)})",
            _num(np.median([v["mmbio"]["r"] for v in scored if v["mmbio"]["r"] is not None])),
            _num(np.median([v["rule"]["r"] for v in scored])), "",
            "both against mmbio's EMG reference; mm-evalkit's cycles, its state-timeline activation (post_step: "
            "state 0 NaN) and 100 samples")  # fmt: skip
    grf = _grf(ek, result, trials)
    for word in ("right", "left"):
        g = grf.get(word)
        if g:
            row(f"{word} vertical GRF peak", g["mmbio_peak_bw"], g["mm_evalkit_peak_bw"], "BW",
                f"mm-evalkit: foot touch sensors ÷ (model mass × {G}); they read {_fmt(g['impulse_ratio'], '.3f')}× "
                f"the contact force over the episode (peak {_fmt(g['peak_ratio'], '.3f')}×, r "
                f"{_fmt(g['r'], '.3f')}); mmbio: MuJoCo contact forces ÷ body weight")  # fmt: skip
    if not grf:
        row("vertical GRF", None, None, "BW", "n/a: mm-evalkit reads GRF only from an embedded-kinetics block, "
            "which this archive lacks")  # fmt: skip
    for what in ("joint-angle RMSE, r vs human", "activation–EMG r, RSA vs human", "moment, GRF RMSE vs plates"):
        row(what, None, None, "", "n/a: " + HUMAN_NA)
    return {
        "tool": EVALKIT,
        "how": "mm-evalkit's rules re-implemented by mmbio (mmbio.analysis.evalkit_compat); mm-evalkit not run",
        "archive": ek.path.name,
        "activation_sample_phase": ek.phase,
        "episodes": [
            {
                "episode": e.index,
                "traj_id": e.traj_id,
                "frames": e.frames,
                "traj_length": e.traj_length,
                "complete": e.complete,
                "cycles": [list(c) for c in e.cycles],
                "dropped_cycles": [list(c) for c in e.detected if c not in e.cycles],
                "heel_strike_frames": {s: e.heel_strikes[s].tolist() for s in FOOT_COLUMNS},
                "mmbio_validated": e.index in trials,
            }
            for e in ek.episodes
        ],
        "episodes_used": used,
        "mmbio_right_heel_strikes_s": [float(x) for x in mm_hs],
        "heel_strikes": events,
        "rows": rows,
        "joints": joints,
        "muscles": muscles,
        "grf": grf,
    }


def _muscles(ek: EvalkitArchive, result: ValidationResult) -> dict[str, Any]:
    """mmbio's right-side activation–EMG r beside mm-evalkit's rule on the same actuators and the same EMG reference."""
    from mmbio.analysis.muscles import EMG_TO_MODEL

    out: dict[str, Any] = {}
    for c in result.curves:
        if c.domain != "emg" or c.side != "right" or c.variable not in EMG_TO_MODEL:
            continue
        acts = [f"{b}_r" for b in EMG_TO_MODEL[c.variable]]
        d: dict[str, Any] = {"actuators": acts, "mmbio": {"r": _metric(result, f"emg.right.{c.variable}.r")}}
        if not ek.muscles or any(a not in ek.muscles for a in acts):
            d["reason"] = "no mm-evalkit cycle" if not ek.muscles else "actuator missing"
        else:
            prof = np.mean([ek.muscles[a] for a in acts], axis=0)
            ref = _on_100(c.pct, c.ref_mean)
            d["rule"] = {"r": _num(pearson(prof, ref)) if ref is not None else None}
            d["curves_r"] = _num(pearson(prof, _on_100(c.pct, c.trial_mean)))
            if len(acts) > 1:
                d["note"] = "mmbio averages " + ", ".join(acts) + "; mm-evalkit reads one of them per dataset"
        d["human"] = {"r": None, "reason": HUMAN_NA}
        out[c.variable] = d
    return out


def _grf(ek: EvalkitArchive, result: ValidationResult, trials: dict[int, Trial]) -> dict[str, Any]:
    """Per foot: the embedded sensors ÷ BW (mm-evalkit) against mmbio's contact GRF of the same states."""
    out: dict[str, Any] = {}
    for s, word in (("r", "right"), ("l", "left")):
        fz_ek, fz_mm = [], []
        mass = None
        for i, g in ek.grf.items():
            t = trials.get(i)
            if t is None or t.grf.get(s) is None:
                continue
            mass = t.subject.mass_kg
            row_t = (np.arange(g[s].size) + 1) * DT  # post_step: kinetics row k is state k + 1
            own = np.interp(row_t, t.grf[s].time, t.grf[s].force[:, 2], left=np.nan, right=np.nan)
            fz_ek.append(g[s])
            fz_mm.append(own)
        if not fz_ek or ek.mass_kg is None:
            continue
        a, b = np.concatenate(fz_ek) * ek.mass_kg * G, np.concatenate(fz_mm)
        ok = np.isfinite(b)
        bw_mm = (mass if mass and math.isfinite(mass) else ek.mass_kg) * G
        out[word] = {
            "mm_evalkit_peak_bw": _num(a[ok].max() / (ek.mass_kg * G)),
            "mmbio_peak_bw": _num(b[ok].max() / bw_mm),
            "peak_ratio": _num(a[ok].max() / b[ok].max()) if b[ok].max() > 0 else None,
            "impulse_ratio": _num(a[ok].sum() / b[ok].sum()) if b[ok].sum() > 0 else None,
            "r": _num(pearson(a[ok], b[ok])),
            "model_mass_kg": ek.mass_kg,
        }
    return out


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _cell(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int | np.integer):
        return str(v)
    return f"{float(v):.3g}"


def format_compat(doc: dict[str, Any]) -> str:
    """Text summary of a metrics.json ``compat['mm-evalkit']`` block (empty without one)."""
    c = (doc.get("compat") or {}).get("mm-evalkit")
    if not c:
        return ""
    lines = [f"{c['tool']} rules beside mmbio's ({c['how'].split(';')[0]}):"]
    w = max(len(r["number"]) for r in c["rows"])
    for r in c["rows"]:
        vals = f"mmbio {_cell(r['mmbio']):>7}  mm-evalkit {_cell(r['mm_evalkit']):>7} {r['units']:<3}"
        lines.append(f"  {r['number']:<{w}}  {vals}  {r['reason']}")
    return "\n".join(lines)


def attach_compat(
    result: ValidationResult,
    path: str | os.PathLike[str],
    trial: Trial,
    episode: int | str | None,
    episodes: list[tuple[Any, Trial]],
) -> None:
    """Set ``result.compat['mm-evalkit']`` for a validated mm-evalkit archive (``mmbio validate --compat``).

    episode: ``--episode`` (None, an index, or ``'all'`` with ``episodes`` = [(EpisodeInfo, Trial)])."""
    from mmbio.errors import DataFileError
    from mmbio.io.rollout_npz import _choose, archive_kind, list_episodes

    p = Path(path)
    if p.suffix.lower() != ".npz" or not p.is_file() or archive_kind(p) != "evalkit":
        raise DataFileError(p, "--compat mm-evalkit needs an mm-evalkit rollout archive (.npz with n_episodes)")
    if episodes:
        trials = {info.index: t for info, t in episodes}
    else:
        chosen, _ = _choose(p, list_episodes(p), None if episode is None else int(episode))
        trials = {chosen.index: trial}
    result.compat = {"mm-evalkit": compat_block(p, result, trials)}
