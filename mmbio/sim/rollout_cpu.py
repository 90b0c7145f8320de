"""CPU rollouts on MuJoCo C: a controller drives the muscles, states are recorded at a fixed rate.

Timing. Physics runs at ``physics_dt`` (the model's timestep unless given). The controller is queried every
``control_dt = 1/control_hz`` and its excitations are held (zero-order hold) over the physics substeps of that
interval. States are recorded every ``1/record_hz``, from t = 0 to t = ``duration_s`` inclusive. Both
intervals must be whole multiples of ``physics_dt``.

Two paths give the same states (to round-off, see ``tests/test_rollout.py``):

* open loop (the controller offers ``plan``, e.g. :class:`~mmbio.sim.controller.OpenLoopController`): all
  controls are computed first and the physics runs in C through ``mujoco.rollout``, in time chunks;
* closed loop: a Python loop of ``mj_step`` (the GIL is released inside ``mj_step``, so batches run in threads).

Divergence. After every control interval the state is checked: a MuJoCo warning (``data.warning`` counters,
e.g. ``mjWARN_BADQACC``: MuJoCo then resets the state to qpos0, which would otherwise look finite), a non-finite
qpos/qvel/act, or any ``|qvel|`` above ``qvel_limit`` (default :data:`QVEL_LIMIT` = 1e3 rad/s or m/s: the
fastest human joint motions stay below ~50 rad/s). The rollout then stops; the returned trajectory ends at the
last record at or before the last state that passed the check, with ``diverged=True``, ``diverged_at_s`` (the
end of the control interval in which it was detected) and a ``reason``. A non-finite excitation from the
controller counts as divergence too. Nothing non-finite is ever returned.

The :class:`Rollout` container and its ``.npz`` file live in :mod:`mmbio.sim.rollout_data` (imported here too).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import mujoco
import mujoco.rollout
import numpy as np

from mmbio.errors import MmbioError
from mmbio.sim.controller import Controller, OpenLoop, clip_excitations, observation
from mmbio.sim.rollout_data import Rollout  # re-exported: imported from here across mmbio and the tests

__all__ = [
    "QVEL_LIMIT",
    "Rollout",
    "initial_state",
    "replay",
    "resolve_model",
    "rollout",
    "rollout_batch",
    "state_problem",
]

QVEL_LIMIT = 1e3
"""Default bound on ``|qvel|`` (rad/s for hinges, m/s for slides) above which a rollout counts as diverged."""

_CHUNK_STEPS = 2000  # physics steps per mujoco.rollout call on the open-loop path (≈ 11 MB of states for MyoFullBody)

Observe = Callable[[mujoco.MjModel, mujoco.MjData], np.ndarray]


# ---------------------------------------------------------------------------------------------- helpers


def resolve_model(
    model: Any, variant: str | None = None, model_name: str | None = None
) -> tuple[mujoco.MjModel, str, str | None]:
    """Accept a registry name, a registry ``ModelInfo`` (has ``.model``) or an ``MjModel``.

    Returns:
        (MjModel, name, variant). A name goes through :func:`mmbio.models.registry.load_model` (``variant=None``
        is the registry's default, MuscleMimic's ``"nofingers"``); without that module, ``musclemimic_models.load``.

    Raises:
        MmbioError: unknown model name.
    """
    if isinstance(model, mujoco.MjModel):
        name = model_name or model.names.split(b"\0", 1)[0].decode() or "unknown"
        return model, name, variant
    if hasattr(model, "model") and isinstance(model.model, mujoco.MjModel):
        return (
            model.model,
            model_name or str(getattr(model, "name", "unknown")),
            getattr(model, "variant", variant),
        )
    if isinstance(model, str):
        try:
            from mmbio.models.registry import load_model  # written alongside; optional here
        except ImportError:
            load_model = None
        if load_model is not None:
            info = load_model(model, variant)
            return info.model, model_name or info.name, info.variant
        import musclemimic_models as mm

        if model not in mm.REGISTRY:
            raise MmbioError(f"unknown model {model!r}; known: {', '.join(sorted(mm.REGISTRY))}")
        if variant not in (None, "full"):
            raise MmbioError(f"model variant {variant!r} needs mmbio.models.registry")
        mjm, _ = mm.load(model)
        return mjm, model_name or model, variant
    raise MmbioError(f"expected a model name, ModelInfo or mujoco.MjModel, got {type(model).__name__}")


@dataclass(frozen=True)
class _Timing:
    physics_dt: float
    n_sub: int  # physics steps per control interval
    rec_stride: int  # physics steps per record
    n_steps: int  # physics steps in the rollout
    n_ctrl: int  # control intervals (the last may be shorter)
    n_rec: int  # records, t = 0 … duration inclusive

    @property
    def control_dt(self) -> float:
        return self.n_sub * self.physics_dt

    @property
    def record_hz(self) -> float:
        return 1.0 / (self.rec_stride * self.physics_dt)


def _multiple(interval: float, dt: float, what: str) -> int:
    k = round(interval / dt)
    if k < 1 or abs(k * dt - interval) > 1e-9 * max(1.0, interval):
        raise MmbioError(f"{what} interval {interval:g} s is not a whole multiple of the physics step {dt:g} s")
    return int(k)


def _timing(
    model: mujoco.MjModel, duration_s: float, control_hz: float, record_hz: float, physics_dt: float | None
) -> _Timing:
    dt = float(model.opt.timestep if physics_dt is None else physics_dt)
    if not dt > 0:
        raise MmbioError(f"physics_dt must be positive, got {dt}")
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise MmbioError(f"duration_s must be positive and finite, got {duration_s}")
    if not (control_hz > 0 and record_hz > 0):
        raise MmbioError(f"control_hz and record_hz must be positive, got {control_hz}, {record_hz}")
    n_sub = _multiple(1.0 / control_hz, dt, "control")
    rec_stride = _multiple(1.0 / record_hz, dt, "record")
    n_steps = _multiple(duration_s, dt, "duration")
    return _Timing(dt, n_sub, rec_stride, n_steps, -(-n_steps // n_sub), n_steps // rec_stride + 1)


def _with_timestep(model: mujoco.MjModel, dt: float) -> mujoco.MjModel:
    """``model`` itself when its timestep is ``dt``, else a copy with that timestep (the caller's is untouched)."""
    if model.opt.timestep == dt:
        return model
    model = copy.deepcopy(model)
    model.opt.timestep = dt
    return model


def initial_state(
    model: mujoco.MjModel,
    n: int | None = None,
    qpos: np.ndarray | None = None,
    qvel: np.ndarray | None = None,
    act: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Initial (qpos, qvel, act): given values, else keyframe 0 when the model has one, else qpos0 / 0.

    Args:
        n: None for one state ((nq,), (nv,), (na,)) or a batch size (arrays (n, ·); a single state is tiled).

    Raises:
        MmbioError: wrong shapes.
    """
    if model.nkey > 0:
        q0, v0, a0 = model.key_qpos[0].copy(), model.key_qvel[0].copy(), model.key_act[0].copy()
    else:
        q0, v0, a0 = model.qpos0.copy(), np.zeros(model.nv), np.zeros(model.na)
    out = []
    for name, given, default, size in (
        ("qpos", qpos, q0, model.nq),
        ("qvel", qvel, v0, model.nv),
        ("act", act, a0, model.na),
    ):
        arr = default if given is None else np.asarray(given, dtype=np.float64)
        if n is None:
            if arr.shape != (size,):
                raise MmbioError(f"initial {name} must have shape ({size},) for this model, got {arr.shape}")
        else:
            if arr.shape == (size,):
                arr = np.tile(arr, (n, 1))
            if arr.shape != (n, size):
                raise MmbioError(f"initial {name} must have shape ({size},) or ({n}, {size}), got {arr.shape}")
        out.append(np.array(arr, dtype=np.float64))
    return out[0], out[1], out[2]


def _set_state(data: mujoco.MjData, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray) -> None:
    data.time = 0.0
    data.qpos[:] = qpos
    data.qvel[:] = qvel
    data.act[:] = act
    data.ctrl[:] = 0.0


def state_problem(qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, qvel_limit: float = QVEL_LIMIT) -> str:
    """Why a state is not acceptable ("" when it is): non-finite values or ``|qvel| > qvel_limit``."""
    for name, arr in (("qpos", qpos), ("qvel", qvel), ("act", act)):
        if not np.all(np.isfinite(arr)):
            return f"non-finite {name}"
    vmax = float(np.max(np.abs(qvel))) if qvel.size else 0.0
    if vmax > qvel_limit:
        return f"|qvel| reached {vmax:.3g} > limit {qvel_limit:g}"
    return ""


def _warning_problem(data: mujoco.MjData) -> str:
    hits = [
        f"{mujoco.mjtWarning(i).name} (×{w.number}, info {w.lastinfo})"
        for i, w in enumerate(data.warning)
        if w.number > 0
    ]
    return ("MuJoCo warning: " + ", ".join(hits)) if hits else ""


def _problem(data: mujoco.MjData, qvel_limit: float) -> str:
    return _warning_problem(data) or state_problem(data.qpos, data.qvel, data.act, qvel_limit)


def _seed_controller(controller: Controller, seed: int) -> None:
    seeder = getattr(controller, "seed", None)
    if callable(seeder):
        seeder(seed)


class _Recorder:
    """Preallocated record buffers; ``cut(step)`` keeps records at physics steps ≤ step."""

    def __init__(self, model: mujoco.MjModel, timing: _Timing) -> None:
        n = timing.n_rec
        self.timing = timing
        self.qpos = np.empty((n, model.nq))
        self.qvel = np.empty((n, model.nv))
        self.act = np.empty((n, model.na))
        self.ctrl = np.empty((n, model.nu))
        self.k = 0

    def add(self, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, ctrl: np.ndarray) -> None:
        k = self.k
        self.qpos[k], self.qvel[k], self.act[k], self.ctrl[k] = qpos, qvel, act, ctrl
        self.k = k + 1

    def add_many(self, qpos: np.ndarray, qvel: np.ndarray, act: np.ndarray, ctrl: np.ndarray) -> None:
        k, m = self.k, len(qpos)
        self.qpos[k : k + m], self.qvel[k : k + m], self.act[k : k + m], self.ctrl[k : k + m] = qpos, qvel, act, ctrl
        self.k = k + m

    def cut(self, last_good_step: int) -> None:
        self.k = min(self.k, max(last_good_step, -1) // self.timing.rec_stride + 1)

    def build(
        self, name: str, variant: str | None, diverged_at_step: int | None, reason: str, notes: dict[str, Any]
    ) -> Rollout:
        t = self.timing
        k = self.k
        time = np.arange(k) * (t.rec_stride * t.physics_dt)
        arrays = {
            "qpos": self.qpos[:k].copy(),
            "qvel": self.qvel[:k].copy(),
            "act": self.act[:k].copy(),
            "ctrl": self.ctrl[:k].copy(),
        }
        # belt and braces: whatever happened, never return a non-finite record
        finite = np.all(np.isfinite(np.hstack([arrays["qpos"], arrays["qvel"], arrays["act"], arrays["ctrl"]])), axis=1)
        if not finite.all():
            k = int(np.argmin(finite))
            time = time[:k]
            arrays = {key: a[:k] for key, a in arrays.items()}
            if diverged_at_step is None:
                diverged_at_step = k * t.rec_stride
                reason = "non-finite record"
        notes = {**notes, "record_hz": t.record_hz, "qvel_limit": notes.get("qvel_limit", QVEL_LIMIT)}
        return Rollout(
            model_name=name,
            variant=variant,
            time=time,
            diverged=diverged_at_step is not None,
            diverged_at_s=None if diverged_at_step is None else diverged_at_step * t.physics_dt,
            reason=reason,
            physics_dt=t.physics_dt,
            control_dt=t.control_dt,
            notes=notes,
            **arrays,
        )


# ---------------------------------------------------------------------------------------------- closed loop


class _Episode:
    """One closed-loop trajectory stepped interval by interval (shared by ``rollout`` and ``rollout_batch``)."""

    def __init__(
        self, model: mujoco.MjModel, timing: _Timing, q0: np.ndarray, v0: np.ndarray, a0: np.ndarray, qvel_limit: float
    ) -> None:
        self.m, self.t, self.qvel_limit = model, timing, qvel_limit
        self.d = mujoco.MjData(model)
        _set_state(self.d, q0, v0, a0)
        mujoco.mj_forward(model, self.d)
        self.rec = _Recorder(model, timing)
        self.c = 0  # next control interval
        self.done = False
        self.failed_at: int | None = None  # physics step at which divergence was detected
        self.reason = ""
        self.last_u = np.zeros(model.nu)

    def check(self) -> bool:
        """Check the state at the start of interval ``c``; on failure cut and finish. Returns ok."""
        if self.done:
            return False
        problem = _problem(self.d, self.qvel_limit)
        if problem:
            j = min(self.c * self.t.n_sub, self.t.n_steps)
            self.fail(j, max(0, (self.c - 1) * self.t.n_sub), problem)
            return False
        if self.c >= self.t.n_ctrl:  # final state at t = duration
            if self.t.n_steps % self.t.rec_stride == 0:
                self.rec.add(self.d.qpos, self.d.qvel, self.d.act, self.last_u)
            self.done = True
            return False
        return True

    def fail(self, detected_step: int, last_good_step: int, reason: str) -> None:
        self.rec.cut(last_good_step)
        self.failed_at, self.reason, self.done = detected_step, reason, True

    def apply(self, u: np.ndarray) -> None:
        """Hold excitations ``u`` (nu,) over interval ``c``, recording on the way."""
        if not np.all(np.isfinite(u)):
            j = self.c * self.t.n_sub
            self.fail(j, j - 1, "controller returned non-finite excitations")  # no record at j: its ctrl is bad
            return
        m, d, t = self.m, self.d, self.t
        d.ctrl[:] = u
        self.last_u = u
        j0 = self.c * t.n_sub
        for j in range(j0, min(j0 + t.n_sub, t.n_steps)):
            if j % t.rec_stride == 0:
                self.rec.add(d.qpos, d.qvel, d.act, u)
            mujoco.mj_step(m, d)
        self.c += 1


def _closed_loop(
    model: mujoco.MjModel,
    controller: Controller,
    timing: _Timing,
    q0: np.ndarray,
    v0: np.ndarray,
    a0: np.ndarray,
    qvel_limit: float,
    observe: Observe,
) -> _Episode:
    ep = _Episode(model, timing, q0, v0, a0, qvel_limit)
    controller.reset(model, ep.d)
    while ep.check():
        u = clip_excitations(controller(observe(model, ep.d)), model.nu)
        ep.apply(u)
    return ep


# ---------------------------------------------------------------------------------------------- open loop


def _plan(controller: OpenLoop, model: mujoco.MjModel, timing: _Timing) -> tuple[np.ndarray, int | None]:
    """Clipped (n_ctrl, nu) plan and the first control interval with a non-finite excitation (or None)."""
    plan = np.asarray(controller.plan(model.nu, timing.n_ctrl, timing.control_dt), dtype=np.float64)
    if plan.shape != (timing.n_ctrl, model.nu):
        raise MmbioError(f"controller plan has shape {plan.shape}, expected {(timing.n_ctrl, model.nu)}")
    bad = ~np.all(np.isfinite(plan), axis=1)
    return np.clip(plan, 0.0, 1.0), (int(np.argmax(bad)) if bad.any() else None)


def _open_loop(
    model: mujoco.MjModel,
    plan: np.ndarray,
    bad_ctrl: int | None,
    timing: _Timing,
    q0: np.ndarray,
    v0: np.ndarray,
    a0: np.ndarray,
    qvel_limit: float,
    data: mujoco.MjData | None = None,
) -> _Episode:
    """Run a precomputed plan through ``mujoco.rollout`` in chunks; same checks and records as the closed loop."""
    t = timing
    if data is None:
        data = mujoco.MjData(model)
        _set_state(data, q0, v0, a0)
        mujoco.mj_forward(model, data)
    ep = _Episode.__new__(_Episode)  # same bookkeeping as the closed loop, own stepping
    ep.m, ep.t, ep.qvel_limit, ep.d = model, t, qvel_limit, data
    ep.rec, ep.c, ep.done, ep.failed_at, ep.reason = _Recorder(model, t), 0, False, None, ""
    d = data
    problem = _problem(d, qvel_limit)
    if problem:
        ep.fail(0, 0, problem)
        return ep

    n_steps = t.n_steps if bad_ctrl is None else bad_ctrl * t.n_sub
    nq, nv, na = model.nq, model.nv, model.na
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS.value
    o_q = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_TIME.value)
    o_v, o_a = o_q + nq, o_q + nq + nv
    state = np.empty(mujoco.mj_stateSize(model, full))
    mujoco.mj_getState(model, d, state, full)
    ep.rec.add(d.qpos, d.qvel, d.act, plan[0])

    step_ctrl_index = np.minimum(np.arange(n_steps) // t.n_sub, t.n_ctrl - 1)
    lcm = t.n_sub * t.rec_stride // math.gcd(t.n_sub, t.rec_stride)
    chunk = lcm * max(1, _CHUNK_STEPS // lcm)
    runner = mujoco.rollout.Rollout(nthread=0)
    try:
        for start in range(0, n_steps, chunk):
            ns = min(chunk, n_steps - start)
            ctrl = plan[step_ctrl_index[start : start + ns]][None]
            states, _ = runner.rollout(model, d, state[None], ctrl, initial_warmstart=d.qacc_warmstart.copy()[None])
            s = states[0]
            steps = start + 1 + np.arange(ns)  # physics step count after each output row
            # MuJoCo stops mujoco.rollout at a warning and repeats the last state (after an auto-reset: time 0)
            warn = _warning_problem(d)
            fail_step, reason = None, ""
            if warn:
                mismatch = np.abs(s[:, 0] - steps * t.physics_dt) > 0.5 * t.physics_dt
                if not mismatch.any():  # warning in the very last step, no reset
                    fail_step = start + ns
                else:
                    first = int(np.argmax(mismatch))
                    stalled = first > 0 and s[first, 0] == s[first - 1, 0]
                    # stall: row first-1 was the warning step; auto-reset (time → 0): row first was
                    fail_step = start + first + (0 if stalled else 1)
                reason = warn
            # state checks at control boundaries, as in the closed loop
            bnd = np.flatnonzero((steps % t.n_sub == 0) | (steps == t.n_steps))
            for i in bnd:
                if fail_step is not None and steps[i] >= fail_step:
                    break
                problem = state_problem(s[i, o_q:o_v], s[i, o_v:o_a], s[i, o_a : o_a + na], qvel_limit)
                if problem:
                    fail_step, reason = int(steps[i]), problem
                    break
            limit = ns if fail_step is None else fail_step - start
            rec = np.flatnonzero(steps[:limit] % t.rec_stride == 0)
            if rec.size:
                ctrl_idx = np.minimum(steps[rec] // t.n_sub, t.n_ctrl - 1)
                ep.rec.add_many(s[rec, o_q:o_v], s[rec, o_v:o_a], s[rec, o_a : o_a + na], plan[ctrl_idx])
            if fail_step is not None:
                detected = min(-(-fail_step // t.n_sub) * t.n_sub, t.n_steps)
                ep.fail(detected, ((detected - 1) // t.n_sub) * t.n_sub, reason)
                return ep
            state = s[-1].copy()
    finally:
        runner.close()
    if bad_ctrl is not None:
        j = bad_ctrl * t.n_sub
        ep.fail(j, j - 1, "controller returned non-finite excitations")
    ep.done = True
    return ep


# ---------------------------------------------------------------------------------------------- public API


def _notes(backend: str, seed: int, qvel_limit: float, **extra: Any) -> dict[str, Any]:
    return {
        "backend": backend,
        "mujoco": mujoco.__version__,
        "seed": int(seed),
        "qvel_limit": float(qvel_limit),
        **extra,
    }


def _is_open_loop(controller: Controller, open_loop: bool | None) -> bool:
    has_plan = isinstance(controller, OpenLoop)
    if open_loop and not has_plan:
        raise MmbioError(f"{type(controller).__name__} has no plan(); it cannot run open loop")
    return has_plan if open_loop is None else bool(open_loop)


def rollout(
    model: Any,
    controller: Controller,
    *,
    duration_s: float,
    initial_qpos: np.ndarray | None = None,
    initial_qvel: np.ndarray | None = None,
    initial_act: np.ndarray | None = None,
    control_hz: float = 100.0,
    record_hz: float = 100.0,
    physics_dt: float | None = None,
    seed: int = 0,
    qvel_limit: float = QVEL_LIMIT,
    observe: Observe = observation,
    open_loop: bool | None = None,
    variant: str | None = None,
    model_name: str | None = None,
) -> Rollout:
    """Simulate one trajectory on MuJoCo C.

    Args:
        model: registry name (``"myofullbody"``), a registry ``ModelInfo`` or an ``mujoco.MjModel``.
        controller: see :mod:`mmbio.sim.controller`; excitations are clipped to [0, 1].
        duration_s: simulated time (s), a multiple of ``physics_dt``.
        initial_qpos: (nq,); initial_qvel: (nv,); initial_act: (na,). Default: keyframe 0 if any, else qpos0/0.
        control_hz, record_hz: control and record rates (Hz); their intervals must be multiples of physics_dt.
        physics_dt: physics timestep (s); default the model's (a copy of the model is changed otherwise).
        seed: passed to ``controller.seed`` when the controller has one; stored in ``notes``.
        qvel_limit: divergence bound on ``|qvel|``.
        observe: ``observe(model, data) -> (n_obs,)`` for closed-loop controllers.
        open_loop: None = use ``mujoco.rollout`` when the controller has ``plan``; False forces the Python loop.

    Returns:
        A :class:`Rollout`; check ``.diverged`` (a diverged rollout is cut at its last good record).
    """
    mjm, name, variant = resolve_model(model, variant, model_name)
    timing = _timing(mjm, duration_s, control_hz, record_hz, physics_dt)
    mjm = _with_timestep(mjm, timing.physics_dt)
    q0, v0, a0 = initial_state(mjm, None, initial_qpos, initial_qvel, initial_act)
    _seed_controller(controller, seed)
    if _is_open_loop(controller, open_loop):
        data = mujoco.MjData(mjm)
        _set_state(data, q0, v0, a0)
        mujoco.mj_forward(mjm, data)
        controller.reset(mjm, data)
        plan, bad = _plan(controller, mjm, timing)
        ep = _open_loop(mjm, plan, bad, timing, q0, v0, a0, qvel_limit, data=data)
        backend = "mujoco.rollout"
    else:
        ep = _closed_loop(mjm, controller, timing, q0, v0, a0, qvel_limit, observe)
        backend = "mj_step"
    return ep.rec.build(name, variant, ep.failed_at, ep.reason, _notes(backend, seed, qvel_limit))


def rollout_batch(
    model: Any,
    controller: Controller,
    n: int,
    *,
    duration_s: float,
    initial_qpos: np.ndarray | None = None,
    initial_qvel: np.ndarray | None = None,
    initial_act: np.ndarray | None = None,
    control_hz: float = 100.0,
    record_hz: float = 100.0,
    physics_dt: float | None = None,
    seed: int = 0,
    n_threads: int | None = None,
    qvel_limit: float = QVEL_LIMIT,
    observe: Observe = observation,
    open_loop: bool | None = None,
    variant: str | None = None,
    model_name: str | None = None,
) -> list[Rollout]:
    """Simulate ``n`` trajectories from (possibly) different initial states on ``n_threads`` threads.

    Initial states are (n, ·) arrays or single states tiled ``n`` times. Open-loop controllers: the plan is
    computed once and each trajectory runs ``mujoco.rollout`` (GIL released) on its own ``MjData`` in a thread
    pool — this keeps the solver warm start across time chunks, so every trajectory equals :func:`rollout`
    from the same state. Closed-loop controllers: all trajectories advance in lockstep; at every control step the
    controller gets the batch ``(n_alive, n_obs)`` of the trajectories still running and returns
    ``(n_alive, nu)``; their physics substeps run in the thread pool. A diverging trajectory is flagged and cut and
    does not affect the others. ``controller.reset`` gets the first trajectory's data.

    Returns:
        ``n`` :class:`Rollout`, in order.
    """
    if n < 1:
        raise MmbioError(f"rollout_batch needs n ≥ 1, got {n}")
    mjm, name, variant = resolve_model(model, variant, model_name)
    timing = _timing(mjm, duration_s, control_hz, record_hz, physics_dt)
    mjm = _with_timestep(mjm, timing.physics_dt)
    q0, v0, a0 = initial_state(mjm, n, initial_qpos, initial_qvel, initial_act)
    n_threads = max(1, min(n, n_threads or os.cpu_count() or 1))
    _seed_controller(controller, seed)
    notes = _notes("", seed, qvel_limit, n_threads=n_threads, batch=n)

    if _is_open_loop(controller, open_loop):
        d0 = mujoco.MjData(mjm)
        _set_state(d0, q0[0], v0[0], a0[0])
        mujoco.mj_forward(mjm, d0)
        controller.reset(mjm, d0)
        plan, bad = _plan(controller, mjm, timing)

        def one(i: int) -> _Episode:
            return _open_loop(mjm, plan, bad, timing, q0[i], v0[i], a0[i], qvel_limit)

        with ThreadPoolExecutor(n_threads) as pool:
            episodes = list(pool.map(one, range(n)))
        notes["backend"] = "mujoco.rollout"
    else:
        episodes = [_Episode(mjm, timing, q0[i], v0[i], a0[i], qvel_limit) for i in range(n)]
        controller.reset(mjm, episodes[0].d)
        with ThreadPoolExecutor(n_threads) as pool:
            while True:
                alive = [ep for ep in episodes if not ep.done and ep.check()]
                if not alive:
                    break
                obs = np.stack([observe(mjm, ep.d) for ep in alive])
                u = clip_excitations(controller(obs), mjm.nu, len(alive))
                list(pool.map(lambda pair: pair[0].apply(pair[1]), zip(alive, u, strict=True)))
        notes["backend"] = "mj_step"
    return [
        ep.rec.build(name, variant, ep.failed_at, ep.reason, {**notes, "index": i}) for i, ep in enumerate(episodes)
    ]


def replay(
    model: Any,
    qpos: np.ndarray,
    qvel: np.ndarray | None = None,
    *,
    rate_hz: float = 100.0,
    variant: str | None = None,
    model_name: str | None = None,
) -> Rollout:
    """Pack a kinematic trajectory as a :class:`Rollout` (no physics; act and ctrl are 0).

    Args:
        qpos: (T, nq) at ``rate_hz``. qvel: (T, nv); default: finite differences of qpos
            (``mj_differentiatePos``, central inside, one-sided at the ends).

    Raises:
        MmbioError: shapes that do not match the model, or non-finite values.
    """
    mjm, name, variant = resolve_model(model, variant, model_name)
    qpos = np.asarray(qpos, dtype=np.float64)
    if qpos.ndim != 2 or qpos.shape[1] != mjm.nq or len(qpos) == 0:
        raise MmbioError(f"replay: qpos must be (T, nq={mjm.nq}), got shape {qpos.shape}")
    if not rate_hz > 0:
        raise MmbioError(f"replay: rate_hz must be positive, got {rate_hz}")
    n = len(qpos)
    dt = 1.0 / rate_hz
    if qvel is None:
        qvel = finite_difference_qvel(mjm, qpos, dt, scheme="mean_of_steps")
    qvel = np.asarray(qvel, dtype=np.float64)
    if qvel.shape != (n, mjm.nv):
        raise MmbioError(f"replay: qvel must be (T={n}, nv={mjm.nv}), got shape {qvel.shape}")
    if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
        raise MmbioError("replay: qpos/qvel contain NaN or inf")
    return Rollout(
        model_name=name,
        variant=variant,
        time=np.arange(n) * dt,
        qpos=qpos.copy(),
        qvel=qvel.copy(),
        act=np.zeros((n, mjm.na)),
        ctrl=np.zeros((n, mjm.nu)),
        physics_dt=float(mjm.opt.timestep),
        control_dt=dt,
        notes={"backend": "replay", "record_hz": float(rate_hz)},
    )


def finite_difference_qvel(
    model: mujoco.MjModel,
    qpos: np.ndarray,
    dt: float,
    period_shift: np.ndarray | None = None,
    *,
    scheme: str = "central",
) -> np.ndarray:
    """(T, nv) velocities of a (T, nq) qpos trajectory sampled every ``dt`` s (``mj_differentiatePos``,
    quaternion-aware), one-sided at the ends.

    scheme: ``'central'`` — the difference from frame i−1 to i+1 over 2·dt (integrating frame i−1 with it
    over 2·dt lands exactly on frame i+1); ``'mean_of_steps'`` — the mean of the one-step differences
    i−1 → i and i → i+1. They agree for every coordinate but the free joint's rotation.
    period_shift: (nq,) for a periodic motion, the qpos change over the motion (root translation); the ends
    then use the wrapped neighbours ``qpos[-2] − shift`` and ``qpos[1] + shift``.
    """
    if scheme not in ("central", "mean_of_steps"):
        raise MmbioError(f"finite_difference_qvel: unknown scheme {scheme!r}")
    t = len(qpos)
    v = np.zeros((t, model.nv))
    if t < 2:
        return v
    periodic = period_shift is not None and t >= 3
    ext = np.vstack([qpos[-2] - period_shift, qpos, qpos[1] + period_shift]) if periodic else np.asarray(qpos)
    off = 1 if periodic else 0  # index of frame i in ext is i + off
    if scheme == "central":
        for i in range(t):
            a, b = (i, i + 2) if periodic else (max(i - 1, 0), min(i + 1, t - 1))
            mujoco.mj_differentiatePos(model, v[i], (b - a) * dt, ext[a], ext[b])
        return v
    steps = np.empty((len(ext) - 1, model.nv))
    for k in range(len(ext) - 1):
        mujoco.mj_differentiatePos(model, steps[k], dt, ext[k], ext[k + 1])
    if periodic:
        return 0.5 * (steps[off - 1 : off - 1 + t] + steps[off : off + t])
    v[0], v[-1] = steps[0], steps[-1]
    v[1:-1] = 0.5 * (steps[:-1] + steps[1:])
    return v
