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

Loading treats the file as hostile (threat model in ``docs/security.md``): :mod:`mmbio.control.plain_pickle` scans
the opcode stream before unpickling, resolves numpy's array references to mmbio's own inert stand-ins (no numpy
global is ever imported or called for the file) and rebuilds arrays from checked dtype, shape and bytes; then
every field is checked for type, range and size (:func:`validate_checkpoint`): the reference motion, the
controller of each kind (tracking settings, measured GRF, excitation tables, policy network and normaliser,
training config) and the model sizes. Every problem is one :class:`~mmbio.errors.DataFileError` line that
names the file and the field.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mmbio import __version__, limits
from mmbio.control.checkpoint_fields import (
    FORMAT_VERSION,
    KINDS,
    Checker,
    check_checkpoint_dict,
    check_model_sizes,
    check_motion_dict,
)
from mmbio.control.plain_pickle import ALLOWED_GLOBALS, load_plain
from mmbio.errors import DataFileError, MmbioError
from mmbio.io.atomic import atomic_path
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
    "validate_checkpoint",
]

PathArg = str | PathLike[str]

#: Format tag written into every checkpoint; the number after the slash is the format version.
CHECKPOINT_FORMAT = f"mmbio.checkpoint/{FORMAT_VERSION}"

_REQUIRED = ("format", "kind", "model", "variant", "model_hash", "mmbio_version", "controller")
_OPTIONAL = ("created", "reference_motion", "config", "metadata")
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
    """Inverse of :func:`motion_to_dict`; raises :class:`CheckpointError` when a field is missing or malformed
    (types, shapes, finite values, rate: :func:`mmbio.control.checkpoint_fields.check_motion_dict`)."""
    check_motion_dict(d, Checker(CheckpointError))
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
    validate_checkpoint(ckpt.to_dict())
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


def validate_checkpoint(d: dict[str, Any], fail: Any = CheckpointError) -> None:
    """Check every field of a checkpoint dict (:mod:`mmbio.control.checkpoint_fields`); ``fail(message)`` builds
    the exception (:class:`CheckpointError` when writing, a :class:`DataFileError` naming the file when reading)."""
    check_checkpoint_dict(d, fail)


# --------------------------------------------------------------------------------------------------
# Save / load
# --------------------------------------------------------------------------------------------------


def save_checkpoint(ckpt: Checkpoint, path: PathArg) -> Path:
    """Validate ``ckpt`` and write it atomically (:func:`mmbio.io.atomic.atomic_path`) as a protocol-5 pickle.

    Raises :class:`CheckpointError` before writing anything when a value is not plain data or a key,
    the format tag or the kind is wrong. Numpy scalars are stored as Python scalars. Returns the path.
    """
    d = _plain(ckpt.to_dict(), "checkpoint")
    assert isinstance(d, dict)
    validate_checkpoint(d)
    payload = pickle.dumps(d, protocol=5)
    p = Path(path)
    with atomic_path(p) as tmp:
        tmp.write_bytes(payload)
    return p


def load_checkpoint(path: PathArg, *, expected_model: ModelInfo | None = None, check_model: bool = True) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` without trusting it (see the module docs).

    Every problem is a one-line :class:`~mmbio.errors.DataFileError` naming the file: a missing, oversized,
    truncated or corrupted file; an opcode, reference or value a checkpoint may not hold; a field of the wrong
    type, range or size; a newer format version; a model mismatch.

    Model check: the checkpoint's ``model_hash`` is compared with ``expected_model.hash`` or, when
    ``expected_model`` is ``None``, with the hash of the registry model named in the checkpoint, and its
    arrays with the model's sizes; ``check_model=False`` skips both (to inspect a foreign checkpoint).
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise DataFileError(p, "is a directory, not a checkpoint file (mmbio checkpoints are single .pkl files)")
        size = p.stat().st_size
        limits.check_size(p, size, "MAX_CHECKPOINT_MB", "checkpoint file")
        raw = p.read_bytes()
    except OSError as e:
        raise DataFileError(p, f"cannot read checkpoint: {e.strerror or e}") from None
    if not raw:
        raise DataFileError(p, "empty file, not an mmbio checkpoint")
    obj = load_plain(raw, p)
    validate_checkpoint(obj, lambda msg: DataFileError(p, msg))
    ckpt = Checkpoint(**obj)
    if check_model:
        _check_model(ckpt, p, expected_model)
    return ckpt


def _check_model(ckpt: Checkpoint, path: Path, expected: ModelInfo | None) -> None:
    """Refuse a checkpoint whose model hash (or name/variant) differs from this mmbio's model, or whose arrays do
    not fit the model's sizes."""
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
    check_model_sizes(ckpt.to_dict(), expected.nq, expected.nv, expected.nu, lambda msg: DataFileError(path, msg))
