"""Field checks of a checkpoint: type, range and size of every value that later code trusts.

:func:`check_checkpoint_dict` runs on every checkpoint that is written (:class:`CheckpointError` for a bug in the
writer) and read (:class:`~mmbio.errors.DataFileError` naming the file). A value from a file is trusted only after
it passed here: a reference motion sampled at 10⁻⁶ Hz (which made the rollout plan 19 GB), a NaN friction
coefficient, a negative filter cutoff, a 10⁹-cycle request, a policy whose layer sizes would ask for 64 GiB, or a
metadata field of the wrong type are refused with the field named, before anything is simulated or allocated.

Checked here: the top-level strings (bounded length, the format tag's version ≤ 4 digits); the reference motion
(``qpos``/``qvel`` finite float arrays with the same number of frames ≥ 2, ``rate_hz`` in
[:data:`MIN_RATE_HZ`, :data:`MAX_RATE_HZ`], notes, stance and index types); per kind: ``tracking`` (settings via
:class:`~mmbio.control.tracking_settings.TrackingSettings`, the measured GRF of the prescribed mode),
``open_loop`` (a finite excitation table and its rate), ``policy`` (the network rebuilt by the numpy evaluator,
whose shapes must chain, and the training config with its ranges); ``metadata['obs_layout']`` and
``metadata['training_state']`` where present. Model sizes (``nq``, ``nv``, ``nu``) are checked against the loaded
model by :func:`check_model_sizes`.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from mmbio import limits
from mmbio.errors import MmbioError
from mmbio.limits import MAX_RATE_HZ, MIN_RATE_HZ

__all__ = ["MAX_RATE_HZ", "MIN_RATE_HZ", "check_checkpoint_dict", "check_model_sizes"]

KINDS: tuple[str, ...] = ("policy", "tracking", "open_loop")
FORMAT_VERSION = 1
_FORMAT_RE = re.compile(r"^mmbio\.checkpoint/(\d{1,4})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
_HASH_RE = re.compile(r"^[0-9a-f]{8,128}$")
_REQUIRED = ("format", "kind", "model", "variant", "model_hash", "mmbio_version", "controller")
_OPTIONAL = ("created", "reference_motion", "config", "metadata")
_MAX_TEXT = 100_000  # characters of a free-text field (source, a note)
_MAX_NOTES = 10_000

Fail = Callable[[str], Exception]


def _show(v: object) -> str:
    s = repr(v) if isinstance(v, (str, numbers.Number, bool, type(None))) else f"a {type(v).__name__}"
    return s if len(s) <= 48 else s[:47] + "…"


class Checker:
    """Small typed accessors that raise ``fail('<field>: <problem>')``."""

    def __init__(self, fail: Fail) -> None:
        self.fail = fail

    def __call__(self, where: str, problem: str) -> Exception:
        return self.fail(f"{where}: {problem}")

    def mapping(self, v: object, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self(where, f"must be a dict, got {_show(v)}")
        return v

    def text(self, v: object, where: str, max_len: int = 64, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(v, str):
            raise self(where, f"must be a string, got {_show(v)}")
        if len(v) > max_len:
            raise self(where, f"is {len(v):,} characters long (at most {max_len:,})")
        if pattern is not None and not pattern.match(v):
            raise self(where, f"{_show(v)} is not a valid value")
        return v

    def number(self, v: object, where: str, lo: float, hi: float, *, integer: bool = False) -> float:
        ok_type = numbers.Integral if integer else numbers.Real
        if isinstance(v, bool) or not isinstance(v, ok_type):
            raise self(where, f"must be {'an integer' if integer else 'a number'}, got {_show(v)}")
        if not (math.isfinite(v) and lo <= v <= hi):
            raise self(where, f"{_show(v)} is out of range [{lo:g}, {hi:g}]")
        return v

    def array(
        self, v: object, where: str, *, ndim: int, kinds: str = "fiu", finite: bool = True, rows: int | None = None
    ) -> np.ndarray:
        if not isinstance(v, np.ndarray):
            raise self(where, f"must be a numpy array, got {_show(v)}")
        if v.ndim != ndim:
            raise self(where, f"has shape {v.shape}, expected {ndim} dimension{'s' if ndim != 1 else ''}")
        if v.dtype.kind not in kinds:
            raise self(where, f"has dtype {v.dtype}, expected {'/'.join(_KIND_NAMES[k] for k in kinds)}")
        if rows is not None and v.shape[0] != rows:
            raise self(where, f"has {v.shape[0]} rows, expected {rows}")
        if finite and v.dtype.kind in "fc" and not np.isfinite(v).all():
            raise self(where, "contains NaN or infinite values")
        return v


_KIND_NAMES = {"f": "float", "i": "int", "u": "unsigned int", "b": "bool", "c": "complex"}


def check_checkpoint_dict(d: Any, fail: Fail) -> None:
    """Check every field of a checkpoint dict; raise ``fail(message)`` at the first problem."""
    c = Checker(fail)
    if not isinstance(d, dict):
        raise fail(f"not an mmbio checkpoint: the pickle holds {_show(d)}, not a dict")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise fail(f"not a complete mmbio checkpoint: missing {', '.join(missing)}")
    unknown = sorted((k for k in d if k not in _REQUIRED + _OPTIONAL), key=str)
    if unknown:
        raise fail(f"unknown checkpoint keys {', '.join(_show(k) for k in unknown[:5])}")
    fmt = d["format"]
    m = _FORMAT_RE.match(fmt) if isinstance(fmt, str) and len(fmt) <= 64 else None
    if m is None:
        raise fail(f"not an mmbio checkpoint: format tag {_show(fmt)}, expected 'mmbio.checkpoint/{FORMAT_VERSION}'")
    if int(m.group(1)) > FORMAT_VERSION:
        raise fail(f"checkpoint format {fmt!r} is newer than this mmbio reads; upgrade mmbio")
    if d["kind"] not in KINDS:
        raise fail(f"unknown checkpoint kind {_show(d['kind'])}; expected one of: {', '.join(KINDS)}")
    c.text(d["model"], "model", pattern=_NAME_RE)
    c.text(d["variant"], "variant", pattern=_NAME_RE)
    c.text(d["model_hash"], "model_hash", 128, _HASH_RE)
    c.text(d["mmbio_version"], "mmbio_version", pattern=_NAME_RE)
    if d.get("created") is not None:
        c.text(d["created"], "created")
    controller = c.mapping(d["controller"], "controller")
    for key in ("config", "metadata"):
        if key in d:
            c.mapping(d[key], key)
    if d.get("reference_motion") is not None:
        check_motion_dict(d["reference_motion"], c)
    {"tracking": _tracking, "open_loop": _open_loop, "policy": _policy}[d["kind"]](controller, d, c)
    meta = d.get("metadata") or {}
    if "obs_layout" in meta:
        layout = c.mapping(meta["obs_layout"], "metadata.obs_layout")
        for k, v in layout.items():
            ok = isinstance(v, (list, tuple)) and len(v) == 2 and all(type(x) is int and 0 <= x <= 10**7 for x in v)
            if not isinstance(k, str) or not ok or v[0] > v[1]:
                raise c("metadata.obs_layout", f"entry {_show(k)} must be [start, stop] with 0 <= start <= stop")
    if "training_state" in meta:
        ts = c.mapping(meta["training_state"], "metadata.training_state")
        leaves = ts.get("leaves")
        if not isinstance(leaves, list) or not all(isinstance(x, np.ndarray) for x in leaves):
            raise c("metadata.training_state.leaves", "must be a list of numpy arrays")


def check_motion_dict(r: Any, c: Checker) -> int:
    """Check a :func:`~mmbio.control.checkpoint.motion_to_dict` record; returns its number of frames."""
    w = "reference_motion"
    r = c.mapping(r, w)
    for k in ("qpos", "qvel", "rate_hz"):
        if k not in r:
            raise c(w, f"lacks {k}")
    qpos = c.array(r["qpos"], f"{w}.qpos", ndim=2, kinds="f")
    c.array(r["qvel"], f"{w}.qvel", ndim=2, kinds="f", rows=qpos.shape[0])
    n = qpos.shape[0]
    if n < 2:
        raise c(f"{w}.qpos", f"has {n} frame(s); a reference motion needs at least 2")
    if n > limits.get("MAX_FRAMES"):
        raise c(f"{w}.qpos", f"has {n:,} frames (limit MAX_FRAMES {limits.get('MAX_FRAMES'):,})")
    c.number(r["rate_hz"], f"{w}.rate_hz", MIN_RATE_HZ, MAX_RATE_HZ)
    if "model" in r:
        c.text(r["model"], f"{w}.model", pattern=_NAME_RE)
    if r.get("variant") is not None:
        c.text(r["variant"], f"{w}.variant", pattern=_NAME_RE)
    if "source" in r:
        c.text(r["source"], f"{w}.source", _MAX_TEXT)
    notes = r.get("notes", [])
    if not isinstance(notes, list) or len(notes) > _MAX_NOTES:
        raise c(f"{w}.notes", f"must be a list of at most {_MAX_NOTES:,} strings")
    for i, note in enumerate(notes):
        c.text(note, f"{w}.notes[{i}]", _MAX_TEXT)
    stance = r.get("stance")
    if stance is not None:
        for side, v in c.mapping(stance, f"{w}.stance").items():
            if side not in ("r", "l"):
                raise c(f"{w}.stance", f"side {_show(side)} is not 'r' or 'l'")
            a = c.array(v, f"{w}.stance[{side!r}]", ndim=1, kinds="b")
            if a.shape[0] != n:
                raise c(f"{w}.stance[{side!r}]", f"has {a.shape[0]} frames, qpos has {n}")
    for k, v in c.mapping(r.get("qpos_index") or {}, f"{w}.qpos_index").items():
        ok = isinstance(v, (list, tuple)) and len(v) == 2 and all(type(x) is int for x in v)
        if not isinstance(k, str) or not ok or not (0 <= v[0] and 1 <= v[1] <= 7 and v[0] + v[1] <= qpos.shape[1]):
            raise c(f"{w}.qpos_index", f"entry {_show(k)} must be (address, size) within the {qpos.shape[1]} columns")
    return n


def _tracking(ctl: dict[str, Any], d: dict[str, Any], c: Checker) -> None:
    from mmbio.control.tracking_settings import TrackingSettings

    if d.get("reference_motion") is None:
        raise c("reference_motion", "a tracking checkpoint needs its reference motion")
    try:
        settings = TrackingSettings.from_dict(ctl.get("settings", {}))
    except MmbioError as e:
        raise c("controller.settings", str(e)) from None
    if ctl.get("root_correction") is not None:
        corr = c.array(ctl["root_correction"], "controller.root_correction", ndim=2, kinds="f")
        if corr.shape[1] != 3 or not 4 <= corr.shape[0] <= 4096 or np.abs(corr).max() > 1.0:
            raise c("controller.root_correction", "must be an (n ≥ 4, 3) table of root shifts under 1 m")
    if settings.mode == "grf_prescribed":
        grf = c.mapping(ctl.get("grf"), "controller.grf")
        if not grf:
            raise c("controller.grf", "the 'grf_prescribed' mode needs the measured GRF")
        for side, g in grf.items():
            w = f"controller.grf[{_show(side)}]"
            if side not in ("r", "l"):
                raise c("controller.grf", f"side {_show(side)} is not 'r' or 'l'")
            g = c.mapping(g, w)
            t = c.array(g.get("time"), f"{w}.time", ndim=1, kinds="f")
            n = t.shape[0]
            if n < 2 or not np.all(np.diff(t) > 0):
                raise c(f"{w}.time", "must hold at least 2 strictly increasing times")
            c.array(g.get("force"), f"{w}.force", ndim=2, kinds="f", rows=n)
            c.array(g.get("cop"), f"{w}.cop", ndim=2, kinds="f", rows=n, finite=False)
            if g.get("free_moment") is not None:
                c.array(g["free_moment"], f"{w}.free_moment", ndim=1, kinds="f", rows=n, finite=False)
            if g["force"].shape[1] != 3 or g["cop"].shape[1] != 3:
                raise c(w, "force and cop must have 3 columns")
        c.number(ctl.get("grf_t0_s", 0.0), "controller.grf_t0_s", -1e6, 1e6)


def _open_loop(ctl: dict[str, Any], d: dict[str, Any], c: Checker) -> None:
    for k in ("excitations", "rate_hz"):
        if k not in ctl:
            raise c("controller", f"an open-loop checkpoint lacks {k}")
    ex = c.array(ctl["excitations"], "controller.excitations", ndim=2, kinds="f")
    if ex.shape[0] < 1 or ex.shape[0] > limits.get("MAX_FRAMES"):
        raise c("controller.excitations", f"has {ex.shape[0]:,} rows (1 to MAX_FRAMES allowed)")
    c.number(ctl["rate_hz"], "controller.rate_hz", MIN_RATE_HZ, MAX_RATE_HZ)


def _policy(ctl: dict[str, Any], d: dict[str, Any], c: Checker) -> None:
    from mmbio.train.config import ConfigError, from_dict
    from mmbio.train.policy_numpy import numpy_policy

    for k in ("architecture", "params"):
        if k not in ctl:
            raise c("controller", f"a policy checkpoint lacks {k}")
    c.mapping(ctl["architecture"], "controller.architecture")
    c.mapping(ctl["params"], "controller.params")
    try:
        numpy_policy(ctl)
    except MmbioError as e:
        raise c("controller", str(e).removeprefix("policy controller: ")) from None
    if d.get("config"):
        try:
            from_dict(d["config"])
        except ConfigError as e:
            raise c("config", str(e)) from None


def check_model_sizes(d: dict[str, Any], nq: int, nv: int, nu: int, fail: Fail) -> None:
    """The checkpoint's arrays against the model it is rolled out on (generalised sizes, actuators)."""
    c = Checker(fail)
    r = d.get("reference_motion")
    if r is not None:
        if r["qpos"].shape[1] != nq or r["qvel"].shape[1] != nv:
            raise c(
                "reference_motion",
                f"qpos/qvel have {r['qpos'].shape[1]}/{r['qvel'].shape[1]} columns, the model has nq {nq} / nv {nv}",
            )
    ctl = d["controller"]
    if d["kind"] == "open_loop" and ctl["excitations"].shape[1] != nu:
        raise c("controller.excitations", f"has {ctl['excitations'].shape[1]} columns, the model has {nu} muscles")
