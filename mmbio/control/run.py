"""Roll out a checkpoint and turn the simulation into a Trial: the engine of ``mmbio validate checkpoint.pkl``.

:func:`run_checkpoint` loads a checkpoint (restricted unpickler, model-hash check), runs its controller for
``cycles`` gait cycles (plus one, since the simulation starts inside a stance and the first heel strike is
not seen), extracts the simulated :class:`~mmbio.trial.Trial` (angles, contact GRF, events, activations)
and, by default, solves static optimisation on the simulated kinematics and GRF, so that the report can put
the controller's activations, the minimum-effort solution and the EMG side by side on the same motion.

Kinds: ``'tracking'`` (:mod:`mmbio.control.tracking`, MuJoCo C), ``'open_loop'`` (an excitation table,
``mujoco.rollout``) and ``'policy'`` (a trained policy, rolled out in its own imitation environment by
:func:`mmbio.train.evaluate.rollout_policy`; needs the ``train`` extra).
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmbio.control.checkpoint import Checkpoint, load_checkpoint, make_checkpoint
from mmbio.errors import DataFileError, MmbioError
from mmbio.trial import GroundReaction, Trial

Progress = Callable[[float, float], None]
DEVICES = ("cpu", "gpu")


@dataclass
class CheckpointRun:
    """A checkpoint rolled out: its rollout, simulated Trial and the by-products.

    tracking: the :class:`~mmbio.control.tracking.TrackingResult` (tracking checkpoints). credibility: what the
    simulation measured for the credibility checks (:func:`mmbio.sim.credibility.credibility_inputs`). built_from:
    the reference datasets the controller's reference motion was built from (:func:`motion_sources`). static_opt: the
    :class:`~mmbio.control.static_opt.StaticOptResult` on the simulated motion, or None. wall_s: seconds per
    stage ('rollout', 'extract', 'static_opt'). notes: what the run did, for the report.
    """

    checkpoint: Checkpoint
    rollout: Any
    trial: Trial
    tracking: Any = None
    static_opt: Any = None
    wall_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    credibility: dict[str, Any] = field(default_factory=dict)
    built_from: list[str] = field(default_factory=list)

    @property
    def fell(self) -> bool:
        return bool(getattr(self.rollout, "diverged", False))


def grf_to_dict(grf: dict[str, GroundReaction]) -> dict[str, Any]:
    """Measured GRF per foot as plain data for a checkpoint (lab frame: N, m, N·m)."""
    return {
        s: {"time": g.time, "force": g.force, "cop": g.cop, "free_moment": np.asarray(g.free_moment, float)}
        for s, g in grf.items()
    }


def grf_from_dict(d: dict[str, Any]) -> dict[str, GroundReaction]:
    return {
        s: GroundReaction(time=v["time"], force=v["force"], cop=v["cop"], free_moment=v["free_moment"])
        for s, v in d.items()
    }


def tracking_checkpoint(
    motion: Any,
    settings: Any = None,
    *,
    grf: dict[str, GroundReaction] | None = None,
    grf_t0_s: float = 0.0,
    metadata: dict[str, Any] | None = None,
    root_correction: np.ndarray | None = None,
) -> Checkpoint:
    """A ``'tracking'`` checkpoint: the controller's settings and its reference motion (and, for the
    GRF-prescribed mode, the measured GRF with its clock offset). With ``settings.consistency_iterations > 0`` the
    reference's root-path correction (:func:`mmbio.control.consistency.root_correction`, ``(n, 3)`` m; computed on
    the motion's model when not given, tens of seconds) is stored too, so that a run does not recompute it."""
    from mmbio.control.tracking import TrackingSettings

    settings = settings or TrackingSettings()
    controller: dict[str, Any] = {"type": "contact_consistent_qp", "settings": settings.to_dict()}
    if settings.consistency_iterations > 0:
        if root_correction is None:
            from mmbio.control.consistency import root_correction as _consistent

            root_correction = _consistent(motion, motion.mj_model(), settings)
        controller["root_correction"] = np.asarray(root_correction, dtype=float)
    if settings.mode == "grf_prescribed":
        if not grf:
            raise MmbioError("tracking checkpoint: mode 'grf_prescribed' needs the measured GRF")
        controller["grf"] = grf_to_dict(grf)
        controller["grf_t0_s"] = float(grf_t0_s)
    return make_checkpoint(
        "tracking",
        controller,
        model=motion.model,
        variant=motion.variant,
        reference_motion=motion,
        config={"tracking": settings.to_dict()},
        metadata=metadata,
    )


#: folder names of ../shared/reference whose data became a reference dataset of another name
_FOLDER_ALIASES = {"santuz2020": "santuz2020_emg"}


def motion_sources(motion: Any) -> list[str]:
    """Reference datasets a motion was built from, read from its ``source`` and ``notes`` (a synthesised walk says
    ``from schwartz2008:free``; a motion from a file names the dataset's folder): validating the motion against
    one of them scores it against its own source."""
    from mmbio.reference.registry import list_references

    if motion is None:
        return []
    text = " ".join([str(getattr(motion, "source", ""))] + [str(n) for n in getattr(motion, "notes", [])])
    names = [r.name for r in list_references(include_auxiliary=True)]
    found = [n for n in names if re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9])", text)]
    found += [alias for folder, alias in _FOLDER_ALIASES.items() if folder in text and alias not in found]
    return sorted(set(found))


def _cycle_s(motion: Any) -> float:
    """Stride time of a reference motion (s): its duration when periodic, else from its right stance plan."""
    stance = getattr(motion, "stance", None)
    if stance and "r" in stance:
        on = np.flatnonzero(np.diff(np.asarray(stance["r"], int)) == 1) + 1
        if len(on) >= 2:
            return float(np.median(np.diff(on)) / motion.rate_hz)
        n = int(np.count_nonzero(stance["r"]))
        if n and motion.duration > 0:
            return float(motion.duration)
    return float(motion.duration)


def run_checkpoint(
    path: str,
    *,
    cycles: int = 3,
    seed: int = 0,
    device: str = "cpu",
    progress: Progress | None = None,
    static_opt: bool = True,
    duration_s: float | None = None,
    motion: str | None = None,
) -> CheckpointRun:
    """Load ``path``, roll it out for ``cycles`` gait cycles (or ``duration_s``), extract the Trial.

    ``path`` may also be a MuscleMimic ``checkpoint_N`` folder (:mod:`mmbio.train.musclemimic`): its policy is
    rolled out in MuscleMimic's environment rebuilt by mmbio, tracking ``motion`` (a MuscleMimic trajectory
    ``.npz``; default: the cached motion its config names).

    Raises :class:`~mmbio.errors.DataFileError` (bad file) or :class:`~mmbio.errors.MmbioError` (an option
    the checkpoint cannot honour). A controller that falls is not an error: the run is flagged, the Trial
    holds what was simulated up to the fall and its notes say so.
    """
    from mmbio.sim.extract import rollout_to_trial

    if device not in DEVICES:
        raise MmbioError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if not 1 <= cycles <= 50:
        raise MmbioError(f"--cycles must be an integer in [1, 50], got {cycles}")
    if duration_s is not None and not 0 < duration_s <= 600:
        raise MmbioError(f"duration_s must lie in (0, 600] s, got {duration_s}")
    from pathlib import Path

    from mmbio.models.mujoco_warnings import drain

    musclemimic = Path(path).is_dir()
    if musclemimic:
        from mmbio.train.musclemimic import to_mmbio_checkpoint

        if device == "gpu":
            raise MmbioError(f"{path}: MuscleMimic checkpoints are rolled out with MuJoCo C (--device cpu)")
        ckpt = to_mmbio_checkpoint(path, motion)
    elif motion is not None:
        raise MmbioError(f"{path}: --motion is for MuscleMimic checkpoints (an mmbio checkpoint carries its motion)")
    else:
        ckpt = load_checkpoint(path)
    drain()  # warnings of earlier work in this process are not this run's
    motion = ckpt.motion()
    notes: list[str] = [f"checkpoint {path}: {ckpt.kind} controller for {ckpt.model}/{ckpt.variant}, mmbio "
                        f"{ckpt.mmbio_version}, created {ckpt.created}"]  # fmt: skip
    if musclemimic:
        notes = [f"checkpoint {path}: MuscleMimic policy for {ckpt.model}/{ckpt.variant}"] + ckpt.metadata["notes"]
    wall: dict[str, float] = {}
    tracking = None
    t0 = _time.perf_counter()
    if ckpt.kind == "tracking":
        from mmbio.control.tracking import TrackingSettings, track

        if device == "gpu":
            raise MmbioError(
                f"{path}: the tracking controller solves two QPs per physics step on the CPU; --device gpu "
                "applies to policy checkpoints"
            )
        if motion is None:
            raise DataFileError(path, "tracking checkpoint without a reference motion")
        c = ckpt.controller
        try:
            settings = TrackingSettings.from_dict(dict(c.get("settings", {})))
        except (MmbioError, TypeError) as e:
            raise DataFileError(path, f"tracking settings: {e}") from None
        dur = duration_s if duration_s is not None else (cycles + 1) * _cycle_s(motion) + 0.05
        grf = grf_from_dict(c["grf"]) if "grf" in c else None
        stored = c.get("root_correction")
        roll, tracking = track(
            motion, duration_s=dur, settings=settings, grf=grf, grf_t0_s=float(c.get("grf_t0_s", 0.0)),
            progress=progress, root_correction=None if stored is None else np.asarray(stored, float),
        )  # fmt: skip
        notes += [n for n in tracking.notes]
    elif ckpt.kind == "open_loop":
        from mmbio.sim.controller import OpenLoopController
        from mmbio.sim.rollout_cpu import rollout

        c = ckpt.controller
        try:
            ctl = OpenLoopController(np.asarray(c["excitations"]), float(c["rate_hz"]))
        except KeyError as e:
            raise DataFileError(path, f"open-loop checkpoint lacks {e}") from None
        dur = duration_s if duration_s is not None else ctl.excitations.shape[0] / ctl.rate_hz
        q0 = None if motion is None else motion.qpos[0]
        v0 = None if motion is None else motion.qvel[0]
        if device == "gpu":
            roll = _rollout_gpu(ckpt, ctl, dur, q0, v0, seed, path)
        else:
            roll = rollout(ckpt.model, ctl, duration_s=dur, initial_qpos=q0, initial_qvel=v0, seed=seed,
                           variant=ckpt.variant)  # fmt: skip
        if progress is not None:
            progress(dur, dur)
        _flag_fall(roll)
    elif ckpt.kind == "policy":
        from mmbio.train.evaluate import rollout_policy

        if motion is None:
            raise DataFileError(path, "policy checkpoint without its reference motion")
        if device == "gpu":
            _require_cuda(path)
        dur = duration_s if duration_s is not None else (cycles + 1) * _cycle_s(motion) + 0.05
        if musclemimic:
            from mmbio.train.musclemimic import rollout_musclemimic

            roll = rollout_musclemimic(ckpt, path, duration_s=dur, seed=seed)
        else:
            backend = "warp" if device == "gpu" else "mujoco"
            roll = rollout_policy(ckpt, path, duration_s=dur, seed=seed, backend=backend)
        if progress is not None:
            progress(roll.duration_s, dur)
    else:  # pragma: no cover - load_checkpoint refuses unknown kinds
        raise DataFileError(path, f"cannot roll out a {ckpt.kind!r} checkpoint")
    wall["rollout"] = _time.perf_counter() - t0
    t1 = _time.perf_counter()
    prescribed = tracking is not None and tracking.mode == "grf_prescribed"
    trial = rollout_to_trial(roll, name=f"{ckpt.kind} controller ({path})", grf_source="none" if prescribed else None)
    wall["extract"] = _time.perf_counter() - t1
    if prescribed:
        from mmbio.gait.events import detect_events

        trial.grf = _prescribed_grf(ckpt, roll)
        trial.events = detect_events(trial.grf)
        trial.notes.insert(0, "GRF prescribed: measured GRF applied as external loads, floor contact off (CMC parity)")
    if roll.diverged:
        trial.notes.insert(0, f"FELL at {roll.diverged_at_s:.2f} s: {roll.reason}")
    trial.notes += notes + [f"MuJoCo warned: {w}" for w in drain()]
    from mmbio.sim.credibility import credibility_inputs

    t3 = _time.perf_counter()
    cred = credibility_inputs(roll, trial, tracking=tracking, controller=f"{ckpt.kind} controller")
    if prescribed:
        for k in ("penetration_max_m", "sliding_mean_m_s"):
            cred.pop(k, None)
        cred["na"] = {k: "GRF prescribed: floor contact off" for k in ("foot_penetration_max", "foot_sliding_mean")}
    wall["credibility"] = _time.perf_counter() - t3
    so = None
    if static_opt and trial.grf and not roll.diverged:
        t2 = _time.perf_counter()
        so = _static_opt_on(roll, trial)
        wall["static_opt"] = _time.perf_counter() - t2
        trial.notes.append("static optimisation on the simulated motion and GRF: " + so.summary())
    return CheckpointRun(checkpoint=ckpt, rollout=roll, trial=trial, tracking=tracking, static_opt=so, wall_s=wall,
                         notes=notes, credibility=cred, built_from=motion_sources(motion))  # fmt: skip


def _require_cuda(path: str) -> None:
    """A clear error unless MuJoCo Warp is installed and Warp sees a CUDA device."""
    from mmbio.sim.rollout_warp import warp_available

    if not warp_available():
        raise MmbioError(f"{path}: --device gpu needs MuJoCo Warp: pip install 'mmbio[gpu]'")
    import warp as wp

    wp.init()
    if not wp.is_cuda_available():
        raise MmbioError(f"{path}: --device gpu: Warp finds no CUDA device on this machine (use --device cpu)")


def _rollout_gpu(ckpt: Checkpoint, ctl: Any, dur: float, q0: Any, v0: Any, seed: int, path: str) -> Any:
    """One world on MuJoCo Warp's CUDA device; a clear error when Warp or a GPU is missing."""
    from mmbio.sim.rollout_warp import rollout_warp

    _require_cuda(path)
    return rollout_warp(ckpt.model, ctl, 1, dur, initial_qpos=q0, initial_qvel=v0, seed=seed, device="cuda:0",
                        variant=ckpt.variant)[0]  # fmt: skip


def _flag_fall(roll: Any) -> None:
    """Cut and flag a rollout whose root falls below :data:`~mmbio.control.tracking.FALL_HEIGHT_FRACTION` of its
    starting height (a controller without its own fall detection)."""
    from mmbio.control.tracking import FALL_HEIGHT_FRACTION

    if roll.diverged or len(roll.time) < 2:
        return
    z = roll.qpos[:, 2]
    low = np.flatnonzero(z < FALL_HEIGHT_FRACTION * z[0])
    if low.size:
        k = int(low[0])
        roll.diverged, roll.diverged_at_s = True, float(roll.time[k])
        roll.reason = f"fell: root {z[k]:.2f} m high, below {FALL_HEIGHT_FRACTION:.0%} of its start {z[0]:.2f} m"


def _prescribed_grf(ckpt: Checkpoint, roll: Any) -> dict[str, GroundReaction]:
    """The measured GRF that was applied, on the rollout clock and span, per foot (lab frame)."""
    c = ckpt.controller
    t0 = float(c.get("grf_t0_s", 0.0))
    t_end = float(roll.time[-1])
    out = {}
    for s, g in grf_from_dict(c["grf"]).items():
        t = np.asarray(g.time, float) - t0
        keep = (t >= -1e-9) & (t <= t_end + 1e-9)
        fm = None if g.free_moment is None else np.asarray(g.free_moment)[keep]
        out[s] = GroundReaction(time=t[keep], force=np.asarray(g.force)[keep], cop=np.asarray(g.cop)[keep],
                                free_moment=fm)  # fmt: skip
    return out


def _static_opt_on(roll: Any, trial: Trial, model: Any = None, joint_limits: bool = True) -> Any:
    """Static optimisation of the simulated motion with the simulated (or prescribed) GRF applied (``model``: the
    MjModel to solve on, default the rollout's model as compiled by the registry; ``joint_limits``: the model's
    limits may push, as they did in the simulation)."""
    from mmbio.control.static_opt import static_optimisation
    from mmbio.io.axes import rotate_about_z
    from mmbio.sim.extract import heading
    from mmbio.sim.motion import Motion

    rate = float(roll.record_hz)
    motion = Motion(qpos=roll.qpos, qvel=roll.qvel, rate_hz=rate, model=roll.model_name, variant=roll.variant,
                    source="simulated")  # fmt: skip
    # the Trial's lab frame is rotated by the heading ψ; static optimisation expects MUJOCO_MYOFULLBODY_TO_LAB only
    rz = rotate_about_z(heading(roll.qpos[:, :2])).T  # row vectors: v · Rz(ψ)ᵀ = Rz(ψ) v
    grf = {}
    for s, g in trial.grf.items():
        f = np.asarray(g.force, float) @ rz
        cop = np.nan_to_num(np.asarray(g.cop, float)) @ rz
        grf[s] = GroundReaction(time=g.time, force=f, cop=cop, free_moment=g.free_moment)
    t = np.asarray(roll.time, float)
    inside = (t >= max(g.time[0] for g in grf.values())) & (t <= min(g.time[-1] for g in grf.values()))
    idx = np.flatnonzero(inside)
    # the simulation's joint limits acted on this motion: limit forces are unknowns here, not work for the reserves
    return static_optimisation(
        motion, grf=grf, t0_s=0.0, frames=slice(int(idx[0]), int(idx[-1]) + 1), model=model, joint_limits=joint_limits
    )


__all__ = [
    "DEVICES",
    "CheckpointRun",
    "grf_from_dict",
    "grf_to_dict",
    "motion_sources",
    "run_checkpoint",
    "tracking_checkpoint",
]
