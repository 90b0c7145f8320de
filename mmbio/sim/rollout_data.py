"""The :class:`Rollout` container: a simulated trajectory at the record rate, and its ``.npz`` file.

Rollouts are produced by :mod:`mmbio.sim.rollout_cpu` (MuJoCo C), :mod:`mmbio.sim.rollout_warp` (MuJoCo Warp),
the tracking controller and mm-evalkit archives (:mod:`mmbio.io.rollout_npz`); :meth:`Rollout.save` writes one to a
compressed ``.npz`` (arrays ``time``, ``qpos``, ``qvel``, ``act``, ``ctrl``, optional ``qfrc_applied``, and JSON
``meta`` with format ``mmbio.rollout/1``) and :meth:`Rollout.load` reads it back.

Threat model / what is checked. A rollout file is untrusted input. :meth:`Rollout.load` reads it through
:class:`mmbio.io.npz_safe.NpzArchive` (zip structure and bombs, ``.npy`` headers, dtype allowlist, declared sizes
against :mod:`mmbio.limits`, bounded reads; pickles are refused, never loaded) and trusts nothing it did not check:
``meta`` must be a JSON object with format ``mmbio.rollout/1`` and typed fields (``model_name`` and ``variant``
short strings; ``diverged`` a bool; ``diverged_at_s``, ``physics_dt``, ``control_dt`` finite and in range; ``reason`` a
bounded string; ``notes`` an object whose ``record_hz``, when present, is a rate in [1, 100,000] Hz); array shapes
are checked on the headers before any data is read (``time`` (T,) with T ≤ ``MAX_FRAMES``, every other array
(T, k), ``qfrc_applied`` as wide as ``qvel``, ``nq ≥ nv``); values must be finite and within ±10⁹, ``time``
strictly increasing with steps of 10 µs to 1 s. The registry model's sizes are checked where a rollout becomes a trial
(:func:`mmbio.io.rollout_npz.npz_to_trial`): a rollout may come from any MuJoCo model.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.npz_safe import MAX_RATE_HZ, MIN_RATE_HZ, Meta, NpzArchive
from mmbio.limits import check_count

__all__ = ["Rollout"]

_FORMAT = "mmbio.rollout/1"
_ARRAYS = ("time", "qpos", "qvel", "act", "ctrl")
_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]{1,256}\Z")  # a model or variant name: one printable line
_MAX_TEXT = 100_000
_MAX_TIME_S = 1e9  # s: diverged_at_s


@dataclass
class Rollout:
    """A simulated trajectory sampled at the record rate.

    Attributes:
        model_name: registry name of the model (e.g. ``"myofullbody"``) or the MJCF model name.
        variant: model variant (e.g. ``"full"``, ``"nofingers"``) or None.
        time: (T,) s, record times from 0 at ``1/record_hz`` spacing.
        qpos: (T, nq) generalised positions. qvel: (T, nv). act: (T, na) muscle activations.
        ctrl: (T, nu) excitations in [0, 1] held over the physics step that starts at ``time[k]`` (the last
            record repeats the last applied excitation).
        diverged: True when the simulation diverged; the arrays then stop at the last good record.
        diverged_at_s: time (s) at which divergence was detected, or None.
        reason: why it diverged ("" when it did not).
        physics_dt: physics timestep (s). control_dt: control interval (s).
        notes: JSON-serialisable provenance (backend, seed, limits …).
        qfrc_applied: optional (T, nv) generalised forces applied besides the muscles (a tracking
            controller's reserves and root residuals), held like ``ctrl``; extraction applies them again so
            that the contact forces it recomputes are the simulated ones.
    """

    model_name: str
    variant: str | None
    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    act: np.ndarray
    ctrl: np.ndarray
    diverged: bool = False
    diverged_at_s: float | None = None
    reason: str = ""
    physics_dt: float = 0.0
    control_dt: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    qfrc_applied: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.time)
        for name in ("qpos", "qvel", "act", "ctrl", "qfrc_applied"):
            arr = getattr(self, name)
            if arr is None and name == "qfrc_applied":
                continue
            if arr.ndim != 2 or arr.shape[0] != n:
                raise MmbioError(f"Rollout.{name} must be (T={n}, k), got shape {arr.shape}")

    @property
    def n_frames(self) -> int:
        """Number of records T."""
        return len(self.time)

    @property
    def record_hz(self) -> float:
        """Record rate (Hz), from ``notes`` (set by every constructor in this module)."""
        return float(self.notes.get("record_hz", float("nan")))

    @property
    def duration_s(self) -> float:
        """Time of the last record (s); 0 for an empty rollout."""
        return float(self.time[-1]) if len(self.time) else 0.0

    def __repr__(self) -> str:
        status = f"DIVERGED at {self.diverged_at_s:.3f} s: {self.reason}" if self.diverged else "ok"
        return (
            f"Rollout({self.model_name!r}, variant={self.variant!r}, {self.n_frames} frames over "
            f"{self.duration_s:.3f} s, nq={self.qpos.shape[1]}, nu={self.ctrl.shape[1]}, {status})"
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a compressed ``.npz`` (arrays + JSON metadata); returns the path written."""
        path = Path(path)
        meta = {
            "format": _FORMAT,
            "model_name": self.model_name,
            "variant": self.variant,
            "diverged": bool(self.diverged),
            "diverged_at_s": self.diverged_at_s,
            "reason": self.reason,
            "physics_dt": self.physics_dt,
            "control_dt": self.control_dt,
            "notes": self.notes,
        }
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                time=self.time,
                qpos=self.qpos,
                qvel=self.qvel,
                act=self.act,
                ctrl=self.ctrl,
                meta=np.array(json.dumps(meta)),
                **({} if self.qfrc_applied is None else {"qfrc_applied": self.qfrc_applied}),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Rollout:
        """Read a file written by :meth:`save` (checks: module docstring).

        Raises:
            DataFileError: anything wrong with the file, one line naming it (and the key).
        """
        with NpzArchive(path) as ar:
            ar.require("meta", what="an mmbio rollout file")
            meta = Meta(ar.path, ar.json_dict("meta"))
            fmt = meta.text("format", default=None, max_chars=64)
            if fmt != _FORMAT:
                raise DataFileError(ar.path, f"unknown rollout format {fmt!r} (expected {_FORMAT!r})")
            fields: dict[str, Any] = {
                "model_name": meta.text("model_name", pattern=_NAME_RE),
                "variant": meta.text("variant", default=None, none_ok=True, pattern=_NAME_RE),
                "diverged": meta.flag("diverged", default=False),
                "diverged_at_s": meta.number("diverged_at_s", 0.0, _MAX_TIME_S, default=None, none_ok=True),
                "reason": meta.text("reason", default="", max_chars=_MAX_TEXT),
                "physics_dt": meta.number("physics_dt", 0.0, 1.0, default=0.0),
                "control_dt": meta.number("control_dt", 0.0, 10.0, default=0.0),
                "notes": meta.mapping("notes", default={}),
            }
            notes = Meta(ar.path, fields["notes"], prefix="notes.")
            notes.number("record_hz", MIN_RATE_HZ, MAX_RATE_HZ, default=None)
            notes.text("backend", default=None, max_chars=256)
            fields |= _read_arrays(ar)
        return cls(**fields)


def _read_arrays(ar: NpzArchive) -> dict[str, np.ndarray]:
    """The arrays of a rollout file: shapes from the headers first, then finite values, increasing times."""
    keys = [*_ARRAYS, *(["qfrc_applied"] if "qfrc_applied" in ar.keys else [])]
    ar.require(*keys, what="an mmbio rollout file")
    heads = {k: ar.header(k) for k in keys}
    t_shape = heads["time"].shape
    if len(t_shape) != 1:
        raise ar.fail("time", f"must be a vector (T,), got shape {t_shape}")
    n = t_shape[0]
    check_count(ar.path, n, "MAX_FRAMES", "frames of key 'time'")
    for k in keys[1:]:
        s = heads[k].shape
        if len(s) != 2 or s[0] != n:
            raise ar.fail(k, f"must be (T, k) with T = {n} frames of 'time', got shape {s}")
    nq, nv = heads["qpos"].shape[1], heads["qvel"].shape[1]
    if nq < 1:
        raise ar.fail("qpos", "has no columns")
    if nv > nq:
        raise ar.fail("qvel", f"has {nv} columns, more than qpos's {nq} (nv ≤ nq for every MuJoCo model)")
    if "qfrc_applied" in heads and heads["qfrc_applied"].shape[1] != nv:
        raise ar.fail("qfrc_applied", f"has {heads['qfrc_applied'].shape[1]} columns, qvel has {nv}")
    out = {k: ar.float_array(k, heads[k].shape) for k in keys}
    t = out["time"]  # finite and within ±1e9 s (float_array): the differences cannot overflow
    if n > 1:
        step = np.diff(t)
        bad = ~((step >= 1.0 / MAX_RATE_HZ) & (step <= 1.0 / MIN_RATE_HZ))
        if bad.any():
            k = int(np.argmax(bad))
            raise ar.fail(
                "time",
                f"must increase by 10 µs to 1 s per frame; frame {k} → {k + 1} steps {step[k]:.3g} s",
            )
    return out
