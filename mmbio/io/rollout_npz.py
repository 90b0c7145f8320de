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
    (``kinetics_sample_phase`` …: :mod:`mmbio.io.evalkit_kinetics`; its model mass gives body weight, its foot
    sensors and joint moments are compared with mmbio's in the trial notes);
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
  shifted by one and the last activation row (no state) is discarded. Every state is kept (dropping state 0
  lost the first heel strike and a whole cycle): state 0 alone has no recorded activation, so
  ``notes['act_first_frame'] = 1`` and its row of ``act`` holds state 1's activation, held back one 10 ms frame
  (for the physics, and for the first cycle's first sample; the trial notes say so), so the pre- and post-step
  exports of one simulation give the same events and cycles. ``time`` is mm-evalkit's frame clock (t/dt is the
  frame number in the archive).
* **qvel** is not exported by mm-evalkit: finite differences of qpos at dt with ``mj_differentiatePos``
  (central inside, one-sided at both ends; quaternion-aware for the free root), computed on all T frames
  before any frame is dropped. It smooths impacts; joint moments built from it are approximate.
* **ctrl** (excitations) is not exported: ``ctrl`` has 0 columns, which
  :func:`~mmbio.sim.extract.rollout_to_trial` reads as "no excitations" (and so no metabolics).
* ``physics_dt`` is MuscleMimic's environment timestep, 0.002 s (the model XML says 0.001 s); contact forces
  are evaluated with it. Ground reaction forces come from MuJoCo contact forces of the recorded states
  (:mod:`mmbio.sim.extract`); mm-evalkit's touch sensors are only summarised in the notes.

Threat model / what is checked. The archive is untrusted input. It is read through
:class:`mmbio.io.npz_safe.NpzArchive` (zip structure, member count and sizes, zip bombs, ``.npy`` headers and
dtypes, declared sizes against :mod:`mmbio.limits`, bounded reads; pickled object arrays are refused, never
unpickled). Here, before any loop or allocation that a value from the file sizes: ``n_episodes`` is an integer in
[1, ``MAX_EPISODES``] and its keys are looked up one by one (a loop that stops at the first missing key, so its
length is bounded by the archive's members); ``traj_length`` is in [1, ``MAX_FRAMES``]; ``dt`` is 0.01;
``joint_names`` has exactly the model's joint count (checked on the header before its data is read); every
episode array has the shape the model implies (from the headers, no data loaded); the selected episode's values
are finite (within ±10⁹) with a unit root quaternion. An mmbio rollout file is read by :meth:`Rollout.load
<mmbio.sim.rollout_data.Rollout.load>` (typed metadata, consistent widths, increasing times) and, on its way to a
trial, checked against its registry model's sizes; a motion file by :meth:`Motion.load
<mmbio.sim.motion.Motion.load>`. Every problem is one :class:`~mmbio.errors.DataFileError` whose one-line message
names the file and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.evalkit_kinetics import EmbeddedKinetics, kinetics_notes, read_kinetics, read_kinetics_header
from mmbio.io.npz_safe import NpzArchive
from mmbio.limits import check_count
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
    "npz_episode_trials",
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
_EPISODE_KEY = re.compile(r"episode_(0|[1-9][0-9]{0,8})_(" + "|".join(_EPISODE_FIELDS) + ")")
_LAYOUT = "a complete mm-evalkit rollout archive"
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


def archive_kind(path: str | os.PathLike[str]) -> ArchiveKind:
    """``'mmbio'`` (key ``meta``) or ``'evalkit'`` (key ``n_episodes``); DataFileError otherwise."""
    with NpzArchive(path) as ar:
        return _kind(ar)


def _kind(ar: NpzArchive) -> ArchiveKind:
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


def _structure(ar: NpzArchive) -> tuple[Any, str, list[EpisodeInfo]]:
    """(model, activation_sample_phase, episodes) of an evalkit archive, all checked on scalars and headers.

    Counts, keys and scalars come first: an absurd archive is refused before the model is compiled."""
    phase, scalars = _check_top(ar)
    model = _model()
    _check_joint_names(ar, model)
    return model, phase, _check_episodes(ar, scalars, model)


def _check_top(ar: NpzArchive) -> tuple[str, list[tuple[int, int]]]:
    """Top-level keys, then every episode's keys and scalars; returns (activation_sample_phase,
    [(traj_id, traj_length)] per episode)."""
    ar.require("n_episodes", "dt", "joint_names", what=_LAYOUT)
    n = ar.int_scalar("n_episodes", lo=1)
    check_count(ar.path, n, "MAX_EPISODES", "key 'n_episodes'")
    dt = ar.float_scalar("dt")
    if not np.isclose(dt, EVALKIT_DT):
        raise ar.fail("dt", f"must be {EVALKIT_DT} s (mm-evalkit's policy step), got {dt!r}")
    phase = "post_step"
    if "activation_sample_phase" in ar.keys:
        phase = ar.str_scalar("activation_sample_phase", max_chars=64)
        if phase not in _PHASES:
            raise ar.fail("activation_sample_phase", f"must be one of {', '.join(_PHASES)}, got {phase!r}")
    _require_episodes(ar, n)
    scalars = []
    for i in range(n):
        traj_id = ar.int_scalar(f"episode_{i}_traj_id")
        length = ar.int_scalar(f"episode_{i}_traj_length", lo=1)
        check_count(ar.path, length, "MAX_FRAMES", f"key 'episode_{i}_traj_length'")
        scalars.append((traj_id, length))
    return phase, scalars


def _check_joint_names(ar: NpzArchive, model: Any) -> None:
    names = ar.str_vector("joint_names", model.njnt, max_chars=256)
    expected = [model.joint(i).name for i in range(model.njnt)]
    if names != expected:
        diff = next((i for i, (a, b) in enumerate(zip(names, expected, strict=False)) if a != b), None)
        where = (
            f"{len(names)} names, the model has {len(expected)}"
            if diff is None
            else f"name {diff} is {names[diff]!r}, the model's is {expected[diff]!r}"
        )
        raise ar.fail("joint_names", f"do not match MyoFullBody {_VARIANT} ({where})")


def _require_episodes(ar: NpzArchive, n: int) -> None:
    """Every episode key of ``n`` episodes is present. Looked up one by one: the loop stops at the first missing
    key, so it runs at most once per member of the archive whatever ``n`` declares; the number of missing keys
    is counted from the keys that are there."""
    for i in range(n):
        for f in _EPISODE_FIELDS:
            key = f"episode_{i}_{f}"
            if key not in ar.keys:
                present = sum(1 for k in ar.keys if (m := _EPISODE_KEY.fullmatch(k)) and int(m.group(1)) < n)
                rest = n * len(_EPISODE_FIELDS) - present - 1
                more = f" (and {rest:,} more)" if rest > 0 else ""
                raise ar.fail(key, f"missing{more}; not {_LAYOUT}")


def _check_episodes(ar: NpzArchive, scalars: list[tuple[int, int]], model: Any) -> list[EpisodeInfo]:
    """Shapes (from the headers, no data read) of every episode's arrays against the model and traj_length."""
    out = []
    for i, (traj_id, length) in enumerate(scalars):
        p = f"episode_{i}"
        shapes = {}
        for f, width, what in (
            ("joint_positions", model.nq, f"nq = {model.nq}"),
            ("traj_qpos", model.nq, f"nq = {model.nq}"),
            ("muscle_activations", model.na, f"{model.na} muscles"),
            ("touch_observations", len(TOUCH_COLUMNS), f"touch sensors {', '.join(TOUCH_COLUMNS)}"),
        ):
            key = f"{p}_{f}"
            h = ar.header(key)
            shape, dtype = h.shape, h.dtype
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


def _finite(ar: NpzArchive, key: str) -> np.ndarray:
    return ar.float_array(key, ar.header(key).shape)


# ---------------------------------------------------------------------------------------------- public API


def list_episodes(path: str | os.PathLike[str]) -> list[EpisodeInfo]:
    """The episodes of an mm-evalkit archive (structure validated, no data loaded)."""
    with NpzArchive(path) as ar:
        if _kind(ar) != "evalkit":
            raise DataFileError(ar.path, "not an mm-evalkit archive (no key 'n_episodes')")
        return _structure(ar)[2]


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
    with NpzArchive(p) as ar:
        if _kind(ar) == "evalkit":
            return _read_evalkit(ar, episode)
    if episode not in (None, 0):
        raise DataFileError(p, f"an mmbio rollout file holds one rollout; episode {episode} does not exist")
    return Rollout.load(p)


def _read_evalkit(
    ar: NpzArchive, episode: int | None, structure: tuple[Any, str, list[EpisodeInfo]] | None = None
) -> Rollout:
    """One episode as a Rollout (module doc); ``structure``: :func:`_structure` of ``ar`` when already checked."""
    model, phase, episodes = structure if structure is not None else _structure(ar)
    n = len(episodes)
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
    keep = np.arange(T)
    if phase == "pre_step":
        act, act_first = raw_act, 0
    else:  # post_step: row k belongs to state k + 1; state 0's activation was not recorded
        act, act_first = np.vstack([raw_act[:1], raw_act[:-1]]), 1
    if T < 2 + act_first:
        raise ar.fail(f"{pre}_joint_positions", f"only {T} frame(s) ({phase} activations); need at least 2 states")

    messages = [f"mm-evalkit archive {ar.path.name}: episode {ep.index} of {n} (traj_id {ep.traj_id}; {why})"]
    if not ep.complete:
        messages.insert(0, f"terminated early at frame {ep.frames} of {ep.traj_length}")
    if phase == "post_step":
        src = "declared" if "activation_sample_phase" in ar.keys else "no activation_sample_phase key: legacy default"
        messages.append(
            f"activations post_step ({src}): row k is the state k+1 activation; every state kept, state 0's "
            "activation (not recorded) is state 1's held back one frame"
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
        "act_first_frame": act_first,
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
    with NpzArchive(p) as ar:
        kind = _kind(ar)
        if kind == "evalkit":
            r = _read_evalkit(ar, episode)
            kin = read_kinetics(ar, r.notes["episode"], r.notes["frames"])
        else:
            fmt = ar.json_dict("meta").get("format")
    if kind == "evalkit":
        return _evalkit_trial(p, r, kin, mass_kg)
    if episode not in (None, 0):
        what = "motion" if fmt == "mmbio.motion/1" else "rollout"
        raise DataFileError(p, f"an mmbio {what} file holds one {what}; episode {episode} does not exist")
    if fmt == "mmbio.motion/1":
        from mmbio.sim.motion import Motion

        return rollout_to_trial(Motion.load(p), mass_kg=mass_kg, name=p.stem)
    r = Rollout.load(p)
    _check_model_sizes(p, r)
    return rollout_to_trial(r, mass_kg=mass_kg, name=p.stem)


def npz_episode_trials(
    path: str | os.PathLike[str], *, mass_kg: float | None = None
) -> list[tuple[EpisodeInfo, Trial]]:
    """Every episode of an mm-evalkit archive as ``(info, trial)``, in archive order (see :func:`npz_to_trial`).

    An episode too short for a trial (fewer than 2 states) raises, naming it: validate the others with
    ``--episode N``.
    """

    p = Path(path)
    with NpzArchive(p) as ar:
        if _kind(ar) != "evalkit":
            raise DataFileError(p, "holds one rollout (not an mm-evalkit archive): all its episodes is that one")
        structure = _structure(ar)  # checked once for all the episodes
        episodes = structure[2]
        header = read_kinetics_header(ar)
        read = [(_read_evalkit(ar, e.index, structure), read_kinetics(ar, e.index, e.frames, header) if header else None)
                for e in episodes]  # fmt: skip
    return [(e, _evalkit_trial(p, r, kin, mass_kg)) for e, (r, kin) in zip(episodes, read, strict=True)]


def _evalkit_trial(p: Path, r: Rollout, kin: EmbeddedKinetics | None, mass_kg: float | None) -> Trial:
    """The trial of one evalkit episode: the rollout's messages first; the embedded kinetics' model mass when no
    mass is given, and its comparison with mmbio's contact GRF in the notes and ``subject.extra``."""
    from mmbio.sim.extract import rollout_to_trial

    i = r.notes["episode"]
    mass = mass_kg if mass_kg is not None or kin is None else kin.mass_kg
    try:
        trial = rollout_to_trial(r, mass_kg=mass, name=f"{p.stem} episode {i}")
    except MmbioError as exc:
        raise DataFileError(p, f"episode {i}: {exc}") from None
    extra = list(r.notes["messages"])
    if kin is not None:
        notes, summary = kinetics_notes(kin, trial, EVALKIT_DT)
        if mass_kg is None:
            notes.insert(1, f"body mass {kin.mass_kg:.1f} kg from the archive's model_mass_kg")
        extra += notes
        trial.subject.extra["embedded_kinetics"] = summary
    trial.notes = extra + trial.notes
    return trial


def _check_model_sizes(path: Path, r: Rollout) -> None:
    """An mmbio rollout on its way to a trial: its registry model exists and has the rollout's widths."""
    from mmbio.models.registry import load_model

    try:
        m = load_model(r.model_name, r.variant).model
    except MmbioError as exc:
        raise DataFileError(path, f"key 'meta': model_name/variant: {exc}") from None
    if r.n_frames < 2:
        why = f" (the rollout diverged: {r.reason})" if r.diverged else ""
        raise DataFileError(path, f"holds {r.n_frames} frame(s){why}; a trial needs at least 2")
    widths = {"qpos": m.nq, "qvel": m.nv, "act": m.na, "ctrl": m.nu, "qfrc_applied": m.nv}
    for key, want in widths.items():
        arr = getattr(r, key)
        if arr is None or arr.shape[1] == want or (key == "ctrl" and arr.shape[1] == 0):
            continue
        raise DataFileError(
            path, f"key {key!r}: has {arr.shape[1]} columns; model {r.model_name!r} ({r.variant}) needs {want}"
        )
