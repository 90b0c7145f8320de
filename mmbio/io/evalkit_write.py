"""Writing mm-evalkit rollout archives from mmbio rollouts, so mm-evalkit can evaluate mmbio's controllers and policies.

The layout is the one :mod:`mmbio.io.rollout_npz` reads (see its docstring): top level ``n_episodes``, ``dt``
(0.01 s), ``joint_names`` (model order, ``'root'`` first), ``activation_sample_phase``; per episode ``traj_id``,
``traj_length``, ``joint_positions`` (T, nq), ``traj_qpos`` (traj_length, nq), ``muscle_activations`` (T, na)
and ``touch_observations`` (T, 4): the MuJoCo touch sensors ``r_foot, r_toes, l_foot, l_toes`` in N, evaluated
here on every recorded state (``mj_forward`` with the state's activations, excitations and applied forces, so the
contact forces are the simulated ones).

Timing. A rollout is written at mm-evalkit's 100 Hz: its record rate must be an integer multiple of 100 Hz
(every k-th record is kept). ``phase='pre_step'`` (the default) writes row k = state k and its activation;
``'post_step'`` writes what a post-step exporter records (MuscleMimic's default): activation row k is the
activation of state k + 1, so the last state, whose successor was not recorded, is left out.

What the format cannot carry: velocities (a reader differentiates the positions) and forces applied besides the
muscles (a tracking controller's root residual and reserves). Contact forces recomputed from an archive therefore
differ from the simulated ones for such a controller (the demo's right vertical GRF r against Schwartz: 0.765 from
its archive, 0.678 from its own rollout); a policy's archive lacks only the velocities.

Only MyoFullBody ``nofingers`` (the model mm-evalkit evaluates) and mmbio's ``corrected`` variant of it (the same
joints and muscles; only the eight shoulder phantom bodies' inertia differs, :mod:`mmbio.models.inertia_audit`) can
be written; the touch sensors are evaluated on the rollout's own model. The format has no field for the variant, so
an archive of a ``corrected`` rollout reads back as ``nofingers``. Another model is refused in one line. Episodes
that diverged are written up to the divergence with ``traj_length`` the length they were meant to run
(``target_s``), which mm-evalkit reads as an early termination.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.io.atomic import atomic_path
from mmbio.io.rollout_npz import EVALKIT_DT, TOUCH_COLUMNS
from mmbio.sim.rollout_data import Rollout

__all__ = ["evalkit_arrays", "write_evalkit_archive"]

_MODEL, _VARIANT = "myofullbody", "nofingers"
#: Variants with the archive's layout (same joints and muscles as ``nofingers``)
_LAYOUT_VARIANTS = ("nofingers", "corrected")
_PHASES = ("pre_step", "post_step")


def _stride(r: Rollout, i: int) -> int:
    """Records per 10 ms frame of rollout ``i`` (its record rate must be a multiple of 100 Hz)."""
    hz = r.record_hz
    if not np.isfinite(hz) and r.n_frames > 1:
        hz = 1.0 / float(np.median(np.diff(r.time)))
    k = hz * EVALKIT_DT
    if not np.isfinite(k) or k < 1 - 1e-6 or abs(k - round(k)) > 1e-6:
        raise MmbioError(f"rollout {i}: recorded at {hz:g} Hz; mm-evalkit needs a multiple of {1 / EVALKIT_DT:g} Hz")
    return round(k)


def _evaluate(model: mujoco.MjModel, r: Rollout, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """At the recorded states ``rows``: touch sensors (len(rows), 4) in N (columns :data:`TOUCH_COLUMNS`), the
    muscles' generalised force on every hinge joint (len(rows), n_hinge) in N·m (``qfrc_actuator``), hinge names."""
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SENSOR, n) for n in TOUCH_COLUMNS]
    if min(ids) < 0:
        raise MmbioError(f"the model lacks the touch sensors {', '.join(TOUCH_COLUMNS)}")
    adr = [int(model.sensor_adr[i]) for i in ids]
    hinges = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    dofs = [int(model.jnt_dofadr[j]) for j in hinges]
    d = mujoco.MjData(model)
    touch = np.empty((len(rows), len(adr)))
    qfrc = np.empty((len(rows), len(dofs)))
    for j, k in enumerate(rows):
        d.qpos[:], d.qvel[:] = r.qpos[k], r.qvel[k]
        d.act[:] = r.act[k]
        d.ctrl[:] = r.ctrl[k] if r.ctrl.shape[1] == model.nu else 0.0
        d.qfrc_applied[:] = 0.0 if r.qfrc_applied is None else r.qfrc_applied[k]
        mujoco.mj_forward(model, d)
        touch[j] = d.sensordata[adr]
        qfrc[j] = d.qfrc_actuator[dofs]
    return touch, qfrc, [model.joint(j).name for j in hinges]


def evalkit_arrays(
    rollouts: Sequence[Rollout],
    *,
    phase: str = "pre_step",
    traj_ids: Sequence[int] | None = None,
    traj_qpos: Sequence[np.ndarray] | None = None,
    target_s: Sequence[float] | None = None,
    kinetics: bool = False,
) -> dict[str, np.ndarray]:
    """The arrays of an mm-evalkit archive holding ``rollouts`` as episodes 0, 1, … (module doc).

    kinetics: also write the embedded-kinetics block (:mod:`mmbio.io.evalkit_kinetics`; ``post_step``: row k is
    state k + 1 of the written states, so it has one row fewer than a pre-step episode): every hinge joint's
    muscle generalised force (N·m), the touch sensors as the force sensors (N), the model mass, and reference
    steps 1, 2, … (the episode's own motion is its reference).

    traj_ids: one per rollout (default 0, 1, …). traj_qpos: per rollout the reference qpos (n, nq) at 100 Hz
    (default: the rollout's own states, i.e. the motion it made). target_s: per rollout the duration (s) it was
    meant to run; a shorter rollout is then an early termination (default: its own duration).
    """
    from mmbio.models.registry import load_model

    if phase not in _PHASES:
        raise MmbioError(f"phase must be one of {', '.join(_PHASES)}, got {phase!r}")
    if not rollouts:
        raise MmbioError("no rollout to write")
    n = len(rollouts)
    for what, seq in (("traj_ids", traj_ids), ("traj_qpos", traj_qpos), ("target_s", target_s)):
        if seq is not None and len(seq) != n:
            raise MmbioError(f"{what}: {len(seq)} values for {n} rollouts")
    model = load_model(_MODEL, _VARIANT).model
    out: dict[str, np.ndarray] = {
        "n_episodes": np.array(n),
        "dt": np.array(EVALKIT_DT),
        "joint_names": np.array([model.joint(i).name for i in range(model.njnt)]),
        "activation_sample_phase": np.array(phase),
    }
    for i, r in enumerate(rollouts):
        if r.model_name != _MODEL or r.variant not in _LAYOUT_VARIANTS:
            raise MmbioError(
                f"rollout {i}: model {r.model_name}/{r.variant}; mm-evalkit evaluates {_MODEL}/{_VARIANT} only "
                f"(or mmbio's {_MODEL}/corrected, the same layout)"
            )
        if r.qpos.shape[1] != model.nq or r.act.shape[1] != model.na:
            raise MmbioError(f"rollout {i}: qpos/act widths {r.qpos.shape[1]}/{r.act.shape[1]} are not the model's")
        rows = np.arange(0, r.n_frames, _stride(r, i))
        if phase == "post_step":
            states, acts = rows[:-1], rows[1:]
        elif kinetics:  # a kinetics row k is state k + 1 and mm-evalkit wants one per written state: the last
            states = acts = rows[:-1]  # recorded state has no successor, so it is not written
        else:
            states, acts = rows, rows
        if len(states) < 2:
            raise MmbioError(f"rollout {i}: {r.n_frames} record(s) give fewer than 2 frames at 100 Hz")
        qpos = r.qpos[states]
        # default reference: the motion made; with kinetics every recorded state, so that the reference steps of
        # the kinetics rows (state k + 1 of written state k) stay inside it, as mm-evalkit requires
        own = r.qpos[rows] if kinetics else qpos
        ref = own if traj_qpos is None else np.asarray(traj_qpos[i], float)
        if ref.ndim != 2 or ref.shape[1] != model.nq:
            raise MmbioError(f"traj_qpos {i}: shape {ref.shape}; needs (n, {model.nq})")
        length = len(ref)
        if target_s is not None:
            length = max(length, round(float(target_s[i]) / EVALKIT_DT))
            ref = np.resize(ref, (length, model.nq)) if len(ref) < length else ref
        if len(states) > length:
            raise MmbioError(f"rollout {i}: {len(states)} frames, longer than its reference ({length})")
        p = f"episode_{i}"
        touch, qfrc, hinges = _evaluate(load_model(_MODEL, r.variant).model, r, rows)
        kept = slice(0, len(states))  # rows[:len(states)] are the written states
        out |= {
            f"{p}_traj_id": np.array(int(traj_ids[i]) if traj_ids is not None else i),
            f"{p}_traj_length": np.array(length),
            f"{p}_joint_positions": qpos,
            f"{p}_traj_qpos": ref,
            f"{p}_muscle_activations": r.act[acts],
            f"{p}_touch_observations": touch[kept],
        }
        if kinetics:  # post_step rows: the states after each written one that the rollout recorded
            nxt = slice(1, min(len(states) + 1, len(rows)))
            out |= {
                f"{p}_generalized_actuator_forces": qfrc[nxt],
                f"{p}_force_sensor_values": touch[nxt],
                f"{p}_kinetics_reference_steps": np.arange(1, 1 + len(touch[nxt])),
            }
            out |= {
                "kinetics_sample_phase": np.array("post_step"),
                "generalized_actuator_force_joint_names": np.array(hinges),
                "generalized_actuator_force_units": np.array(["Nm"] * len(hinges)),
                "force_sensor_names": np.array(TOUCH_COLUMNS),
                "force_sensor_units": np.array(["N"] * len(TOUCH_COLUMNS)),
                "model_mass_kg": np.array(float(np.sum(model.body_mass))),
            }
    return out


def write_evalkit_archive(
    rollouts: Rollout | Sequence[Rollout],
    path: str | os.PathLike[str],
    **kwargs: object,
) -> Path:
    """Write ``rollouts`` (one or several) as an mm-evalkit archive ``.npz``; returns the path. Keyword arguments:
    :func:`evalkit_arrays`. The file is written atomically and reads back with
    :func:`mmbio.io.rollout_npz.read_rollout_npz`."""
    rs = [rollouts] if isinstance(rollouts, Rollout) else list(rollouts)
    arrays = evalkit_arrays(rs, **kwargs)  # type: ignore[arg-type]
    p = Path(path)
    with atomic_path(p) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, **arrays)
    return p
