"""The checkpoint format: one self-describing, versioned ``checkpoint.pkl`` for any controller.

A checkpoint is a pickle (protocol 5) of one plain ``dict`` holding only dicts, lists, tuples, ``str``,
``int``, ``float``, ``bool``, ``None``, ``bytes`` and numeric/bool numpy arrays. Top-level keys
(the fields of :class:`Checkpoint`):

* ``format``: ``"mmbio.checkpoint/1"`` (:data:`CHECKPOINT_FORMAT`); a newer version is refused.
* ``kind``: one of :data:`KINDS` (``'policy'``, ``'tracking'``, ``'open_loop'``).
* ``model``, ``variant``, ``model_hash``: the registry model and :func:`mmbio.models.registry.model_hash`
  of the model it was made for; loading refuses a checkpoint whose hash differs from this mmbio's model.
* ``mmbio_version``, ``created`` (ISO 8601 or ``None``).
* ``controller``: for a policy, ``architecture`` (layer sizes, activation, layer-norm flag …), ``params``
  (nested dict of arrays), the frozen observation normaliser (mean/var/count) and the action mapping;
  for a model-based controller its parameters as plain dicts/arrays.
* ``reference_motion``: :func:`motion_to_dict` of a :class:`~mmbio.sim.motion.Motion`, or ``None``.
* ``config``: the resolved training/controller config (nested plain values). ``metadata``: free-form.

Loading never executes code from the file: :class:`_RestrictedUnpickler` resolves only the globals of
:data:`ALLOWED_GLOBALS` (what numpy needs to rebuild arrays and scalars) and refuses every other
reference before anything is called.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mmbio import __version__
from mmbio.errors import DataFileError, MmbioError
from mmbio.models.registry import ModelInfo, load_model, model_hash, resolve
from mmbio.sim.motion import Motion

__all__ = [
    "ALLOWED_GLOBALS",
    "CHECKPOINT_FORMAT",
    "KINDS",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "make_checkpoint",
    "motion_from_dict",
    "motion_to_dict",
    "save_checkpoint",
]

PathArg = str | PathLike[str]

#: Format tag written into every checkpoint; the number after the slash is the format version.
CHECKPOINT_FORMAT = "mmbio.checkpoint/1"
FORMAT_VERSION = 1
_FORMAT_RE = re.compile(r"^mmbio\.checkpoint/(\d+)$")

#: Controller kinds a checkpoint may hold.
KINDS: tuple[str, ...] = ("policy", "tracking", "open_loop")

#: The only ``(module, name)`` globals a checkpoint file may reference: numpy's array and scalar
#: reconstructors under both the numpy 2 (``numpy._core``) and numpy 1 (``numpy.core``) module names.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
    }
)

_REQUIRED = ("format", "kind", "model", "variant", "model_hash", "mmbio_version", "controller")
_OPTIONAL = ("created", "reference_motion", "config", "metadata")
_POLICY_KEYS = ("architecture", "params")
_ARRAY_KINDS = "biufc"  # bool, signed/unsigned int, float, complex
_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))
_MAX_DEPTH = 64
_ALLOWED_TEXT = "dicts, lists, tuples, str, int, float, bool, None, bytes and numpy arrays of numeric or bool dtype"


class CheckpointError(MmbioError):
    """A checkpoint that cannot be written: a value that is not plain data, a missing key, an unknown kind."""


@dataclass
class Checkpoint:
    """One controller with everything needed to roll it out and to check it belongs to this model.

    kind: one of :data:`KINDS`. model, variant: registry keys. model_hash: hex sha256 of the model
    (:func:`~mmbio.models.registry.model_hash`). controller: the controller's data (see module docs).
    reference_motion: :func:`motion_to_dict` output or ``None``. config: resolved config (plain values).
    metadata: free-form plain values. format, mmbio_version, created: filled by :func:`make_checkpoint`.
    """

    kind: str
    model: str
    variant: str
    model_hash: str
    controller: dict[str, Any]
    format: str = CHECKPOINT_FORMAT
    mmbio_version: str = __version__
    created: str | None = None
    reference_motion: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The plain dict that is pickled (keys = field names)."""
        return {k: getattr(self, k) for k in (*_REQUIRED, *_OPTIONAL)}

    def motion(self) -> Motion | None:
        """The reference motion as a :class:`~mmbio.sim.motion.Motion` (``None`` when there is none)."""
        return None if self.reference_motion is None else motion_from_dict(self.reference_motion)

    def __repr__(self) -> str:
        return (
            f"Checkpoint({self.kind!r} for {self.model}/{self.variant} {self.model_hash[:8]}, "
            f"format {self.format}, mmbio {self.mmbio_version}, controller keys {sorted(self.controller)})"
        )


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def motion_to_dict(motion: Motion) -> dict[str, Any]:
    """A :class:`~mmbio.sim.motion.Motion` as plain data (all its fields)."""
    return {
        "qpos": np.asarray(motion.qpos, dtype=np.float64),
        "qvel": np.asarray(motion.qvel, dtype=np.float64),
        "rate_hz": float(motion.rate_hz),
        "model": str(motion.model),
        "variant": motion.variant,
        "source": str(motion.source),
        "notes": [str(n) for n in motion.notes],
        "stance": None if motion.stance is None else {str(s): np.asarray(v, bool) for s, v in motion.stance.items()},
        "qpos_index": {str(k): (int(v[0]), int(v[1])) for k, v in motion.qpos_index.items()},
    }


def motion_from_dict(d: dict[str, Any]) -> Motion:
    """Inverse of :func:`motion_to_dict`; raises :class:`CheckpointError` when ``qpos``/``qvel`` are missing."""
    missing = [k for k in ("qpos", "qvel", "rate_hz") if k not in d]
    if missing:
        raise CheckpointError(f"reference motion lacks {', '.join(missing)}")
    return Motion(
        qpos=d["qpos"],
        qvel=d["qvel"],
        rate_hz=float(d["rate_hz"]),
        model=str(d.get("model", "myofullbody")),
        variant=d.get("variant"),
        source=str(d.get("source", "")),
        notes=list(d.get("notes", [])),
        stance=d.get("stance"),
        qpos_index={k: tuple(v) for k, v in (d.get("qpos_index") or {}).items()},
    )


def make_checkpoint(
    kind: str,
    controller: dict[str, Any],
    *,
    model: str = "myofullbody",
    variant: str | None = None,
    reference_motion: Motion | dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Checkpoint:
    """A :class:`Checkpoint` for the registry model ``model``/``variant``, with its hash, version and timestamp."""
    name, var = resolve(model, variant)
    ref = motion_to_dict(reference_motion) if isinstance(reference_motion, Motion) else reference_motion
    ckpt = Checkpoint(
        kind=kind,
        model=name,
        variant=var,
        model_hash=model_hash(load_model(name, var)),
        controller=controller,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        reference_motion=ref,
        config=dict(config or {}),
        metadata=dict(metadata or {}),
    )
    _check_fields(ckpt.to_dict(), CheckpointError)
    return ckpt


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _plain(value: object, where: str, depth: int = 0) -> object:
    """A copy of ``value`` with numpy scalars as Python scalars; raises :class:`CheckpointError` on anything else."""
    if depth > _MAX_DEPTH:
        raise CheckpointError(f"checkpoint value at {where} is nested more than {_MAX_DEPTH} levels deep")
    t = type(value)
    if t in _PLAIN_SCALARS:
        return value
    if t is np.ndarray:
        if value.dtype.kind not in _ARRAY_KINDS or value.dtype.fields is not None:  # type: ignore[attr-defined]
            raise CheckpointError(
                f"checkpoint value at {where} is a numpy array of dtype {value.dtype}; only numeric and bool "  # type: ignore[attr-defined]
                "arrays are allowed (object arrays could carry code)"
            )
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        return value.item()
    if t is dict:
        out = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) not in (str, int):
                raise CheckpointError(
                    f"checkpoint dict key {k!r} at {where} is a {_describe(k)}; keys must be str or int"
                )
            out[k] = _plain(v, f"{where}[{k!r}]", depth + 1)
        return out
    if t in (list, tuple):
        return t(_plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))  # type: ignore[attr-defined]
    raise CheckpointError(
        f"checkpoint value at {where} is a {_describe(value)}; a checkpoint holds only {_ALLOWED_TEXT}"
    )


def _check_loaded(value: object, path: PathArg, where: str = "checkpoint", depth: int = 0) -> None:
    """Refuse anything in a loaded checkpoint that is not plain data (object arrays in particular)."""
    if depth > _MAX_DEPTH:
        raise DataFileError(path, f"{where} is nested more than {_MAX_DEPTH} levels deep")
    t = type(value)
    if t in _PLAIN_SCALARS:
        return
    if t is np.ndarray or isinstance(value, np.generic):
        dt = value.dtype  # type: ignore[attr-defined]
        if dt.kind not in _ARRAY_KINDS or dt.fields is not None:
            raise DataFileError(
                path, f"refusing to load: {where} is a numpy value of dtype {dt}, which a checkpoint may not contain"
            )
        return
    if t is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) not in (str, int):
                raise DataFileError(path, f"refusing to load: {where} has a key of type {_describe(k)}")
            _check_loaded(v, path, f"{where}[{k!r}]", depth + 1)
        return
    if t in (list, tuple):
        for i, v in enumerate(value):  # type: ignore[attr-defined]
            _check_loaded(v, path, f"{where}[{i}]", depth + 1)
        return
    raise DataFileError(path, f"refusing to load: {where} is a {_describe(value)}, which a checkpoint may not contain")


def _check_fields(d: dict[str, Any], fail: Any) -> None:
    """Keys, format tag, kind and field types of a checkpoint dict; ``fail(message)`` builds the exception."""
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise fail(f"not a complete mmbio checkpoint: missing {', '.join(missing)}")
    unknown = sorted(set(d) - set(_REQUIRED) - set(_OPTIONAL), key=str)
    if unknown:
        raise fail(f"unknown checkpoint keys {', '.join(map(str, unknown))}")
    fmt = d["format"]
    m = _FORMAT_RE.match(fmt) if isinstance(fmt, str) else None
    if m is None:
        raise fail(f"not an mmbio checkpoint: format tag {fmt!r}, expected {CHECKPOINT_FORMAT!r}")
    if int(m.group(1)) > FORMAT_VERSION:
        raise fail(
            f"checkpoint format {fmt!r} is newer than this mmbio ({__version__}) reads ({CHECKPOINT_FORMAT!r}); "
            "upgrade mmbio"
        )
    if d["kind"] not in KINDS:
        raise fail(f"unknown checkpoint kind {d['kind']!r}; expected one of: {', '.join(KINDS)}")
    for key in ("model", "variant", "model_hash", "mmbio_version"):
        if not isinstance(d[key], str) or not d[key]:
            raise fail(f"checkpoint {key} must be a non-empty string, got {d[key]!r}")
    if d.get("created") is not None and not isinstance(d["created"], str):
        raise fail(f"checkpoint created must be an ISO 8601 string or None, got {d['created']!r}")
    for key in ("controller", "config", "metadata"):
        if key in d and not isinstance(d[key], dict):
            raise fail(f"checkpoint {key} must be a dict, got {_describe(d[key])}")
    ref = d.get("reference_motion")
    if ref is not None:
        if not isinstance(ref, dict) or any(k not in ref for k in ("qpos", "qvel", "rate_hz")):
            raise fail("checkpoint reference_motion must be a dict with qpos, qvel and rate_hz (or None)")
    if d["kind"] == "policy":
        lacking = [k for k in _POLICY_KEYS if k not in d["controller"]]
        if lacking:
            raise fail(f"policy checkpoint: controller lacks {', '.join(lacking)}")


# --------------------------------------------------------------------------------------------------
# Save / load
# --------------------------------------------------------------------------------------------------


def save_checkpoint(ckpt: Checkpoint, path: PathArg) -> Path:
    """Validate ``ckpt`` and write it atomically (temp file + ``os.replace``) as a protocol-5 pickle.

    Raises :class:`CheckpointError` before writing anything when a value is not plain data or a key,
    the format tag or the kind is wrong. Numpy scalars are stored as Python scalars. Returns the path.
    """
    d = _plain(ckpt.to_dict(), "checkpoint")
    assert isinstance(d, dict)
    _check_fields(d, CheckpointError)
    payload = pickle.dumps(d, protocol=5)
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED_GLOBALS`; any other global is refused before it is imported or called."""

    def __init__(self, file: io.BufferedIOBase, path: PathArg) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise DataFileError(
            self._path, f"refusing to load: the file references {module}.{name}, which a checkpoint may not contain"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise DataFileError(
            self._path, "refusing to load: the file uses persistent ids, which a checkpoint may not contain"
        )


def load_checkpoint(path: PathArg, *, expected_model: ModelInfo | None = None, check_model: bool = True) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` without executing anything from the file.

    Every problem is a one-line :class:`~mmbio.errors.DataFileError`: a missing, truncated or corrupted
    file; a reference to any global outside :data:`ALLOWED_GLOBALS`; object arrays or other non-plain
    values; a missing key, wrong format tag, newer format version or unknown kind; a model mismatch.

    Model check: the checkpoint's ``model_hash`` is compared with ``expected_model.hash`` or, when
    ``expected_model`` is ``None``, with the hash of the registry model named in the checkpoint;
    ``check_model=False`` skips it (to inspect a foreign checkpoint).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataFileError(p, f"cannot read checkpoint: {e.strerror or e}") from None
    if not raw:
        raise DataFileError(p, "empty file, not an mmbio checkpoint")
    buf = io.BytesIO(raw)
    try:
        obj = _RestrictedUnpickler(buf, p).load()
    except DataFileError:
        raise
    except EOFError:
        raise DataFileError(p, "truncated checkpoint (the pickle ends early)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError,
            MemoryError, RecursionError, UnicodeDecodeError) as e:  # fmt: skip
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataFileError(p, f"corrupted or truncated checkpoint ({type(e).__name__}: {msg})") from None
    if buf.tell() != len(raw):
        raise DataFileError(p, f"corrupted checkpoint: {len(raw) - buf.tell()} bytes after the end of the pickle")
    if type(obj) is not dict:
        raise DataFileError(p, f"not an mmbio checkpoint: the pickle holds a {_describe(obj)}, not a dict")
    _check_loaded(obj, p)
    _check_fields(obj, lambda msg: DataFileError(p, msg))
    ckpt = Checkpoint(**obj)
    if check_model:
        _check_model(ckpt, p, expected_model)
    return ckpt


def _check_model(ckpt: Checkpoint, path: Path, expected: ModelInfo | None) -> None:
    """Refuse a checkpoint whose model hash (or name/variant) differs from this mmbio's model."""
    if expected is None:
        try:
            expected = load_model(ckpt.model, ckpt.variant)
        except MmbioError as e:
            raise DataFileError(
                path, f"checkpoint is for model {ckpt.model}/{ckpt.variant}, which this mmbio lacks: {e}"
            ) from None
    if ckpt.model_hash != expected.hash or (ckpt.model, ckpt.variant) != (expected.name, expected.variant):
        raise DataFileError(
            path,
            f"checkpoint is for {ckpt.model}/{ckpt.variant} {ckpt.model_hash[:8]}, this mmbio has "
            f"{expected.name}/{expected.variant} {expected.hash[:8]} (another model or model version; "
            "retrain or re-export the controller for this model)",
        )
