"""Rollout ``.npz`` files: mmbio's own :class:`~mmbio.sim.rollout_cpu.Rollout` files and mm-evalkit archives.

Two layouts are recognised by their keys (:func:`archive_kind`):

* **mmbio** (key ``meta`` with format ``mmbio.rollout/1``, written by :meth:`Rollout.save`; a
  ``mmbio.motion/1`` file of :meth:`mmbio.sim.motion.Motion.save` is accepted by :func:`npz_to_trial`).
* **mm-evalkit** (key ``n_episodes``): the rollout archive that the MuscleMimic authors' evaluation kit reads
  for gait validation, one or more episodes of the MyoFullBody ``nofingers`` training model. Layout (checked
  here with the same rules as mm-evalkit's own archive validation, plus the model's sizes):

  - top level: ``n_episodes`` (int ≥ 1), ``dt`` (must be 0.01 s, the policy step), ``joint_names`` (the 83
    joint names of the model in model order, ``'root'`` first), optional ``activation_sample_phase``
    (``'pre_step'`` | ``'post_step'``; absent means ``'post_step'``), optional embedded-kinetics block
    (``kinetics_sample_phase`` …: noted, not read);
  - per episode ``i``: ``episode_{i}_traj_id`` and ``_traj_length`` (int scalars), ``_joint_positions``
    (T, nq = 89) qpos in rad / m, ``_traj_qpos`` (traj_length, 89) reference qpos, ``_muscle_activations``
    (T, na = 354) MuJoCo ``data.act`` in model actuator order, ``_touch_observations`` (T, 4) touch
    sensors ``r_foot, r_toes, l_foot, l_toes`` (mm-evalkit's contact detector: columns 0, 1 right, 2, 3 left).

How an evalkit episode becomes a :class:`Rollout` (:func:`read_rollout_npz`):

* **Episode.** ``episode=None`` takes the longest *complete* episode (mm-evalkit's success rule: T ≥
  traj_length − 1; ties: the lowest index), or the longest episode when none is complete. The choice, the
  ``traj_id`` and ``'terminated early at frame T of traj_length'`` go into ``notes``.
* **Timeline.** Row k of ``joint_positions`` is the state at t = k·dt. ``pre_step`` activation row k belongs
  to state k. ``post_step`` row k was sampled after the step, i.e. belongs to state k + 1: activations are
  shifted by one, the first state (no activation) is dropped and the last activation row (no state) is
  discarded, so the rollout has T − 1 frames from t = dt. ``time`` keeps mm-evalkit's frame clock (t/dt is
  the frame number in the archive).
* **qvel** is not exported by mm-evalkit: finite differences of qpos at dt with ``mj_differentiatePos``
  (central inside, one-sided at both ends; quaternion-aware for the free root), computed on all T frames
  before any frame is dropped. It smooths impacts; joint moments built from it are approximate.
* **ctrl** (excitations) is not exported: ``ctrl`` has 0 columns, which
  :func:`~mmbio.sim.extract.rollout_to_trial` reads as "no excitations" (and so no metabolics).
* ``physics_dt`` is MuscleMimic's environment timestep, 0.002 s (the model XML says 0.001 s); contact forces
  are evaluated with it. Ground reaction forces come from MuJoCo contact forces of the recorded states
  (:mod:`mmbio.sim.extract`); mm-evalkit's touch sensors are only summarised in the notes.

Every structural problem (unreadable file, missing key, dt ≠ 0.01, widths that do not match the model,
non-finite values in the selected episode) raises :class:`~mmbio.errors.DataFileError` whose one-line
message names the file and the key. Shapes of all episodes are read from the ``.npy`` headers (no data
loaded); values are checked for the selected episode only. Pickled object arrays are refused, never
unpickled.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmbio.errors import DataFileError
from mmbio.sim.rollout_cpu import Rollout, finite_difference_qvel
from mmbio.trial import Trial

__all__ = [
    "EVALKIT_DT",
    "EVALKIT_PHYSICS_DT",
    "TOUCH_COLUMNS",
    "EpisodeInfo",
    "archive_kind",
    "format_episodes",
    "list_episodes",
    "npz_to_trial",
    "read_rollout_npz",
]

EVALKIT_DT = 0.01
"""mm-evalkit's record/policy step (s); archives with another ``dt`` are refused, as mm-evalkit does."""
EVALKIT_PHYSICS_DT = 0.002
"""MuscleMimic's physics timestep (s): 5 substeps per 0.01 s policy step."""
TOUCH_COLUMNS = ("r_foot", "r_toes", "l_foot", "l_toes")
"""Column order of ``episode_{i}_touch_observations`` (mm-evalkit ``get_feet_contacts``)."""
EVALKIT_TOUCH_THRESHOLD = 0.05
"""Touch-sensor value above which mm-evalkit counts a foot in contact."""

_MODEL, _VARIANT = "myofullbody", "nofingers"
_EPISODE_FIELDS = ("traj_id", "traj_length", "joint_positions", "traj_qpos", "muscle_activations", "touch_observations")
_KINETICS_KEY = "kinetics_sample_phase"
_PHASES = ("pre_step", "post_step")
_CONTACT_NOTE = (
    "mm-evalkit detects foot contact from the touch sensors (r/l foot and toes, threshold 0.05); "
    "mmbio's GRF and gait events come from MuJoCo contact forces of the recorded states"
)

ArchiveKind = Literal["mmbio", "evalkit"]


@dataclass(frozen=True)
class EpisodeInfo:
    """One episode of an mm-evalkit archive: index, ``traj_id``, recorded frames T, reference ``traj_length``."""

    index: int
    traj_id: int
    frames: int
    traj_length: int

    @property
    def complete(self) -> bool:
        """mm-evalkit's success rule: the policy ran (almost) to the end of its reference, T ≥ traj_length − 1."""
        return self.frames >= self.traj_length - 1


# ---------------------------------------------------------------------------------------------- archive access


class _Archive:
    """Lazy ``.npz`` access: shapes from the ``.npy`` headers, arrays on demand, errors as DataFileError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise DataFileError(path, "no such file")
        try:
            self._zip = zipfile.ZipFile(path)
            self.keys = {n.removesuffix(".npy") for n in self._zip.namelist() if n.endswith(".npy")}
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise DataFileError(path, f"not a readable .npz archive ({exc})") from None
        self._headers: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail(self, key: str, problem: str) -> DataFileError:
        return DataFileError(self.path, f"key {key!r}: {problem}")

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self.keys]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise self.fail(missing[0], f"missing{more}; not a complete mm-evalkit rollout archive")

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """(shape, dtype) of ``key`` without reading its data."""
        if key not in self._headers:
            try:
                with self._zip.open(f"{key}.npy") as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        a = self.array(key)
                        shape, dtype = a.shape, a.dtype
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise self.fail(key, f"unreadable ({exc})") from None
            self._headers[key] = (tuple(int(s) for s in shape), np.dtype(dtype))
        return self._headers[key]

    def array(self, key: str) -> np.ndarray:
        """The array ``key`` (object arrays are refused: mmbio does not unpickle)."""
        try:
            with self._zip.open(f"{key}.npy") as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                raise self.fail(key, "stored as a pickled object array; mmbio does not unpickle "
                                     "(save names as a string array)") from None  # fmt: skip
            raise self.fail(key, f"unreadable ({exc})") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise self.fail(key, f"unreadable ({exc})") from None

    def int_scalar(self, key: str) -> int:
        a = self.array(key)
        v = a.item() if a.size == 1 else None
        if (
            isinstance(v, bool | np.bool_)
            or not isinstance(v, int | float | np.integer | np.floating)
            or not np.isfinite(v)
            or int(v) != v
        ):
            raise self.fail(key, f"must be an integer scalar, got {v if a.size == 1 else f'shape {a.shape}'!r}")
        return int(v)

    def str_scalar(self, key: str) -> str:
        a = self.array(key)
        v = a.item() if a.size == 1 else None
        if not isinstance(v, str):
            raise self.fail(key, f"must be a string scalar, got {v if a.size == 1 else f'shape {a.shape}'!r}")
        return v


def archive_kind(path: str | os.PathLike[str]) -> ArchiveKind:
    """``'mmbio'`` (key ``meta``) or ``'evalkit'`` (key ``n_episodes``); DataFileError otherwise."""
    with _Archive(Path(path)) as ar:
        return _kind(ar)


def _kind(ar: _Archive) -> ArchiveKind:
    if "n_episodes" in ar.keys:
        return "evalkit"
    if "meta" in ar.keys:
        return "mmbio"
    raise DataFileError(
        ar.path,
        "neither an mmbio rollout (key 'meta') nor an mm-evalkit rollout archive (key 'n_episodes'); "
        f"keys: {', '.join(sorted(ar.keys)[:8]) or '(none)'}",
    )


# ---------------------------------------------------------------------------------------------- evalkit checks


def _model() -> Any:
    from mmbio.models.registry import load_model

    return load_model(_MODEL, _VARIANT).model


def _check_top(ar: _Archive, model: Any) -> tuple[int, str]:
    """Validate the top-level keys; returns (n_episodes, activation_sample_phase)."""
    ar.require("n_episodes", "dt", "joint_names")
    n = ar.int_scalar("n_episodes")
    if n < 1:
        raise ar.fail("n_episodes", f"must be ≥ 1, got {n}")
    dt_arr = ar.array("dt")
    if dt_arr.size != 1 or dt_arr.dtype.kind not in "iuf":
        raise ar.fail("dt", f"must be a number, got shape {dt_arr.shape} dtype {dt_arr.dtype}")
    dt = float(dt_arr.item())
    if not (np.isfinite(dt) and np.isclose(dt, EVALKIT_DT)):
        raise ar.fail("dt", f"must be {EVALKIT_DT} s (mm-evalkit's policy step), got {dt!r}")
    names_arr = ar.array("joint_names")
    if names_arr.ndim != 1 or names_arr.dtype.kind not in "US":
        raise ar.fail(
            "joint_names", f"must be a vector of strings, got shape {names_arr.shape} dtype {names_arr.dtype}"
        )
    names = [str(s) for s in names_arr.astype(str).tolist()]
    expected = [model.joint(i).name for i in range(model.njnt)]
    if names != expected:
        diff = next((i for i, (a, b) in enumerate(zip(names, expected, strict=False)) if a != b), None)
        where = (
            f"{len(names)} names, the model has {len(expected)}"
            if diff is None
            else f"name {diff} is {names[diff]!r}, the model's is {expected[diff]!r}"
        )
        raise ar.fail("joint_names", f"do not match MyoFullBody {_VARIANT} ({where})")
    phase = "post_step"
    if "activation_sample_phase" in ar.keys:
        phase = ar.str_scalar("activation_sample_phase")
        if phase not in _PHASES:
            raise ar.fail("activation_sample_phase", f"must be one of {', '.join(_PHASES)}, got {phase!r}")
    return n, phase


def _check_episodes(ar: _Archive, n: int, model: Any) -> list[EpisodeInfo]:
    """Keys and shapes (from headers) of every episode."""
    ar.require(*(f"episode_{i}_{f}" for i in range(n) for f in _EPISODE_FIELDS))
    out = []
    for i in range(n):
        p = f"episode_{i}"
        traj_id = ar.int_scalar(f"{p}_traj_id")
        length = ar.int_scalar(f"{p}_traj_length")
        if length < 1:
            raise ar.fail(f"{p}_traj_length", f"must be positive, got {length}")
        shapes = {}
        for f, width, what in (
            ("joint_positions", model.nq, f"nq = {model.nq}"),
            ("traj_qpos", model.nq, f"nq = {model.nq}"),
            ("muscle_activations", model.na, f"{model.na} muscles"),
            ("touch_observations", len(TOUCH_COLUMNS), f"touch sensors {', '.join(TOUCH_COLUMNS)}"),
        ):
            key = f"{p}_{f}"
            shape, dtype = ar.header(key)
            if len(shape) != 2 or dtype.kind not in "iuf":
                raise ar.fail(key, f"must be a 2-D numeric array, got shape {shape} dtype {dtype}")
            if shape[1] != width:
                raise ar.fail(key, f"has {shape[1]} columns; MyoFullBody {_VARIANT} needs {width} ({what})")
            shapes[f] = shape
        frames = shapes["joint_positions"][0]
        for f in ("muscle_activations", "touch_observations"):
            if shapes[f][0] != frames:
                raise ar.fail(f"{p}_{f}", f"has {shapes[f][0]} frames, joint_positions has {frames}")
        if shapes["traj_qpos"][0] != length:
            raise ar.fail(f"{p}_traj_qpos", f"has {shapes['traj_qpos'][0]} frames, traj_length says {length}")
        if not 0 < frames <= length:
            raise ar.fail(f"{p}_joint_positions", f"has {frames} frames; must be in [1, traj_length = {length}]")
        out.append(EpisodeInfo(i, traj_id, frames, length))
    return out


def _choose(path: Path, episodes: list[EpisodeInfo], episode: int | None) -> tuple[EpisodeInfo, str]:
    n = len(episodes)
    if episode is not None:
        if not 0 <= episode < n:
            raise DataFileError(path, f"episode {episode} is not in the archive (it holds {n}: 0 to {n - 1})")
        return episodes[episode], "requested"
    complete = [e for e in episodes if e.complete]
    pool = complete or episodes
    best = max(pool, key=lambda e: (e.frames, -e.index))
    if n == 1:
        return best, "the only episode"
    if complete:
        return best, f"default: the longest complete episode ({len(complete)} of {n} complete)"
    return best, f"default: no episode of {n} ran to completion, the longest one"


def _finite(ar: _Archive, key: str) -> np.ndarray:
    a = np.asarray(ar.array(key), dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ar.fail(key, f"{int(bad.sum())} non-finite values (first at frame {r}, column {c})")
    return a


# ---------------------------------------------------------------------------------------------- public API


def list_episodes(path: str | os.PathLike[str]) -> list[EpisodeInfo]:
    """The episodes of an mm-evalkit archive (structure validated, no data loaded)."""
    with _Archive(Path(path)) as ar:
        if _kind(ar) != "evalkit":
            raise DataFileError(ar.path, "not an mm-evalkit archive (no key 'n_episodes')")
        model = _model()
        n, _ = _check_top(ar, model)
        return _check_episodes(ar, n, model)


def format_episodes(path: str | os.PathLike[str]) -> str:
    """A small table of the episodes of an mm-evalkit archive (for ``mmbio info``)."""
    eps = list_episodes(path)
    default, _ = _choose(Path(path), eps, None)
    lines = [
        f"mm-evalkit archive: {len(eps)} episode(s)",
        f"{'episode':>7} {'traj_id':>7} {'frames':>7} {'of':>7}  status",
    ]
    for e in eps:
        status = "complete" if e.complete else "terminated early"
        mark = "  <- default" if e.index == default.index else ""
        lines.append(f"{e.index:>7} {e.traj_id:>7} {e.frames:>7} {e.traj_length:>7}  {status}{mark}")
    return "\n".join(lines)


def read_rollout_npz(path: str | os.PathLike[str], *, episode: int | None = None) -> Rollout:
    """A :class:`Rollout` from an mmbio rollout file or one episode of an mm-evalkit archive (module doc).

    Args:
        episode: mm-evalkit episode index; None = the longest complete episode. An mmbio file holds one
            rollout: only None or 0.

    Raises:
        DataFileError: unreadable file, unknown layout, missing key, wrong dt, widths that do not match
            MyoFullBody nofingers, non-finite values, an episode that is not there (one line, names the key).
    """
    p = Path(path)
    with _Archive(p) as ar:
        if _kind(ar) == "evalkit":
            return _read_evalkit(ar, episode)
    if episode not in (None, 0):
        raise DataFileError(p, f"an mmbio rollout file holds one rollout; episode {episode} does not exist")
    return Rollout.load(p)


def _read_evalkit(ar: _Archive, episode: int | None) -> Rollout:
    model = _model()
    n, phase = _check_top(ar, model)
    episodes = _check_episodes(ar, n, model)
    ep, why = _choose(ar.path, episodes, episode)
    pre = f"episode_{ep.index}"
    qpos = _finite(ar, f"{pre}_joint_positions")
    raw_act = _finite(ar, f"{pre}_muscle_activations")
    touch = _finite(ar, f"{pre}_touch_observations")
    _finite(ar, f"{pre}_traj_qpos")
    qadr = int(model.jnt_qposadr[0])
    norm = np.linalg.norm(qpos[:, qadr + 3 : qadr + 7], axis=1)
    if np.any(np.abs(norm - 1.0) > 1e-3):
        k = int(np.argmax(np.abs(norm - 1.0) > 1e-3))
        raise ar.fail(f"{pre}_joint_positions", f"root quaternion (columns 3:7) has norm {norm[k]:.4g} at frame {k}")

    T = ep.frames
    qvel = finite_difference_qvel(model, qpos, EVALKIT_DT, scheme="mean_of_steps")
    if phase == "pre_step":
        keep, act = np.arange(T), raw_act
    else:  # post_step: row k belongs to state k + 1
        keep, act = np.arange(1, T), raw_act[:-1]
    if len(keep) < 2:
        raise ar.fail(f"{pre}_joint_positions", f"only {T} frame(s) ({phase} activations); need at least 2 states")

    messages = [f"mm-evalkit archive {ar.path.name}: episode {ep.index} of {n} (traj_id {ep.traj_id}; {why})"]
    if not ep.complete:
        messages.insert(0, f"terminated early at frame {ep.frames} of {ep.traj_length}")
    if phase == "post_step":
        src = "declared" if "activation_sample_phase" in ar.keys else "no activation_sample_phase key: legacy default"
        messages.append(
            f"activations post_step ({src}): row k is the state k+1 activation; first state dropped, "
            f"{len(keep)} frames from t = {EVALKIT_DT:g} s"
        )
    lo, hi = float(act.min()), float(act.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        messages.append(f"muscle_activations outside [0, 1]: min {lo:.3g}, max {hi:.3g} (are these activations?)")
    on = touch[keep] > EVALKIT_TOUCH_THRESHOLD
    duty = {s: 100.0 * float(np.mean(on[:, c0] | on[:, c0 + 1])) for s, c0 in (("right", 0), ("left", 2))}
    messages.append(
        "mm-evalkit touch sensors > 0.05: right foot in contact "
        f"{duty['right']:.0f} % of frames, left {duty['left']:.0f} % (not used by mmbio)"
    )
    if _KINETICS_KEY in ar.keys:
        messages.append("embedded kinetics block present (not read by mmbio)")
    messages.append(_CONTACT_NOTE)
    notes = {
        "backend": "mm-evalkit",
        "record_hz": 1.0 / EVALKIT_DT,
        "source_file": str(ar.path),
        "episode": ep.index,
        "n_episodes": n,
        "episode_selection": why,
        "traj_id": ep.traj_id,
        "traj_length": ep.traj_length,
        "frames": ep.frames,
        "terminated_early": not ep.complete,
        "activation_sample_phase": phase,
        "qvel": "finite differences of qpos (mj_differentiatePos; central inside, one-sided at the ends)",
        "ctrl": "not recorded by mm-evalkit (0 columns)",
        "messages": messages,
    }
    return Rollout(
        model_name=_MODEL,
        variant=_VARIANT,
        time=keep * EVALKIT_DT,
        qpos=qpos[keep],
        qvel=qvel[keep],
        act=np.ascontiguousarray(act),
        ctrl=np.zeros((len(keep), 0)),
        physics_dt=EVALKIT_PHYSICS_DT,
        control_dt=EVALKIT_DT,
        notes=notes,
    )


def npz_to_trial(path: str | os.PathLike[str], *, episode: int | None = None, mass_kg: float | None = None) -> Trial:
    """A simulated :class:`Trial` from a rollout ``.npz`` (mmbio rollout or motion, or an mm-evalkit episode).

    Goes through :func:`mmbio.sim.extract.rollout_to_trial` (GRF from MuJoCo contact forces). For an
    mm-evalkit episode the trial notes start with the rollout's messages (episode, early termination,
    activation timing, touch-sensor vs contact-force note).
    """
    from mmbio.sim.extract import rollout_to_trial

    p = Path(path)
    with _Archive(p) as ar:
        kind = _kind(ar)
        fmt = ""
        if kind == "mmbio":
            try:
                fmt = str(json.loads(str(ar.array("meta").item())).get("format", ""))
            except (ValueError, AttributeError):
                fmt = ""
    if fmt == "mmbio.motion/1":
        from mmbio.sim.motion import Motion

        if episode not in (None, 0):
            raise DataFileError(p, f"an mmbio motion file holds one motion; episode {episode} does not exist")
        return rollout_to_trial(Motion.load(p), mass_kg=mass_kg, name=p.stem)
    r = read_rollout_npz(p, episode=episode)
    if r.notes.get("backend") != "mm-evalkit":
        return rollout_to_trial(r, mass_kg=mass_kg, name=p.stem)
    trial = rollout_to_trial(r, mass_kg=mass_kg, name=f"{p.stem} episode {r.notes['episode']}")
    trial.notes = list(r.notes["messages"]) + trial.notes
    return trial
