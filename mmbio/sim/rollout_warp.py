"""GPU rollouts on MuJoCo Warp: many worlds stepped together, same semantics as :mod:`mmbio.sim.rollout_cpu`.

``mujoco_warp`` and ``warp`` are imported inside the functions (``pip install 'mmbio[gpu]'``); nothing else in
mmbio needs them. They also run on Warp's CPU device (about 10× slower than MuJoCo C per world; the first
step compiles kernels for tens of seconds, cached afterwards under ``~/.cache/warp``), which is how the parity
test runs without a GPU.

MuJoCo Warp computes in float32 (MuJoCo C in float64) and has no auto-reset: an unstable world turns NaN.
Divergence is checked per world after every control interval, like the CPU backend: non-finite qpos/qvel/act,
``|qvel| > qvel_limit``, more constraint rows than ``njmax`` (``nefc > njmax``: rows were dropped) or more
contacts than the contact buffer holds (shared by all worlds, so every running world is flagged). A flagged
world is cut at its last good record and reset to its initial state (:meth:`WarpBackend.reset_worlds`) so its
NaNs and contacts cannot spill into the shared buffers of the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.sim.controller import Controller, OpenLoop, clip_excitations, observation_from_state
from mmbio.sim.rollout_cpu import (
    QVEL_LIMIT,
    Rollout,
    _Recorder,
    _seed_controller,
    _set_state,
    _timing,
    _with_timestep,
    initial_state,
    resolve_model,
)

__all__ = ["WarpBackend", "WarpState", "default_njmax", "rollout_warp", "warp_available"]


def _import_warp() -> tuple[Any, Any]:
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError as exc:
        raise MmbioError(
            f"the Warp backend needs mujoco-warp and warp-lang ({exc}); install them with pip install 'mmbio[gpu]'"
        ) from exc
    return wp, mjw


def warp_available() -> bool:
    """True when ``mujoco_warp`` and ``warp`` import."""
    try:
        _import_warp()
    except MmbioError:
        return False
    return True


def default_njmax(model: mujoco.MjModel) -> int:
    """Constraint rows per world: ``max(256, 4·nv)`` (512 for MyoFullBody full: 51 equality rows, joint limits and
    foot contacts fit; mujoco_warp's own default, sized for contacts only, is too small for this model)."""
    return max(256, 4 * model.nv)


DEFAULT_NCONMAX = 128
"""Contacts per world (the buffer is shared: ``naconmax = nconmax · nworld``); a lying MyoFullBody has < 64."""


class WarpState(NamedTuple):
    """Host copy of the batched state (float64). time: (nworld,) s; qpos (nworld, nq); qvel (nworld, nv);
    act (nworld, na); nefc (nworld,) constraint rows used; nacon: contacts in the shared buffer."""

    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    act: np.ndarray
    nefc: np.ndarray
    nacon: int


class WarpBackend:
    """``nworld`` copies of one model on a Warp device.

    Args:
        model: registry name, ``ModelInfo`` or ``mujoco.MjModel``.
        nworld: number of worlds.
        njmax: constraint rows per world (default :func:`default_njmax`; pass ≥ 512 for MyoFullBody).
        nconmax: contacts per world (default :data:`DEFAULT_NCONMAX`).
        device: Warp device (``"cpu"``, ``"cuda:0"``); default Warp's preferred device.
        physics_dt: physics timestep (s); default the model's.

    On CUDA the ``n_substeps`` loop of :meth:`step` is captured once as a CUDA graph per ``n_substeps``.
    """

    def __init__(
        self,
        model: Any,
        nworld: int,
        *,
        njmax: int | None = None,
        nconmax: int | None = None,
        device: str | None = None,
        physics_dt: float | None = None,
        variant: str | None = None,
    ) -> None:
        if nworld < 1:
            raise MmbioError(f"nworld must be ≥ 1, got {nworld}")
        wp, mjw = _import_warp()
        mjm, self.model_name, self.variant = resolve_model(model, variant)
        if physics_dt is not None:
            mjm = _with_timestep(mjm, float(physics_dt))
        self.mjm = mjm
        self.nworld = int(nworld)
        self.njmax = int(njmax or default_njmax(mjm))
        self.nconmax = int(nconmax or DEFAULT_NCONMAX)
        self._wp, self._mjw = wp, mjw
        self.device = wp.get_device(device)
        with wp.ScopedDevice(self.device):
            self.m = mjw.put_model(mjm)
            self.d = mjw.make_data(mjm, nworld=self.nworld, nconmax=self.nconmax, njmax=self.njmax)
        self.naconmax = int(self.d.naconmax)
        self._graphs: dict[int, Any] = {}
        q0, v0, a0 = initial_state(mjm, self.nworld)
        self._init = (q0, v0, a0)
        self.reset(q0, v0, a0)

    # -- state ---------------------------------------------------------------------------------------------
    def _assign(self, name: str, value: np.ndarray, mask: np.ndarray | None = None) -> None:
        arr = getattr(self.d, name)
        if mask is None:
            host = np.broadcast_to(value, arr.shape)
        else:
            host = arr.numpy()
            host[mask] = value
        arr.assign(np.ascontiguousarray(host, dtype=np.float32))

    def reset(self, qpos: np.ndarray, qvel: np.ndarray | None = None, act: np.ndarray | None = None) -> None:
        """Reset every world (time 0, zero ctrl and warm start) to qpos (nq,)/(nworld, nq), qvel, act.

        These become the worlds' initial states for :meth:`reset_worlds`.
        """
        q0, v0, a0 = initial_state(self.mjm, self.nworld, qpos, qvel, act)
        self._init = (q0, v0, a0)
        with self._wp.ScopedDevice(self.device):
            self._mjw.reset_data(self.m, self.d)
            self._assign("qpos", q0)
            self._assign("qvel", v0)
            self._assign("act", a0)

    def reset_worlds(
        self,
        mask: np.ndarray,
        qpos: np.ndarray | None = None,
        qvel: np.ndarray | None = None,
        act: np.ndarray | None = None,
    ) -> None:
        """Reset only the worlds where ``mask`` (nworld,) is True: to the given states ((k, ·) for the k masked
        worlds, or one (·,) state) or else to their initial states. The other worlds are untouched."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.nworld,):
            raise MmbioError(f"reset_worlds: mask must be ({self.nworld},), got {mask.shape}")
        if not mask.any():
            return
        q0, v0, a0 = self._init
        wp = self._wp
        with wp.ScopedDevice(self.device):
            self._mjw.reset_data(self.m, self.d, reset=wp.array(mask, dtype=bool))
            self._assign("qpos", q0[mask] if qpos is None else qpos, mask)
            self._assign("qvel", v0[mask] if qvel is None else qvel, mask)
            self._assign("act", a0[mask] if act is None else act, mask)

    def state(self) -> WarpState:
        """Copy the state to the host (float64 arrays)."""
        d = self.d
        return WarpState(
            time=d.time.numpy().astype(np.float64),
            qpos=d.qpos.numpy().astype(np.float64),
            qvel=d.qvel.numpy().astype(np.float64),
            act=d.act.numpy().astype(np.float64),
            nefc=d.nefc.numpy().astype(np.int64),
            nacon=int(d.nacon.numpy()[0]),
        )

    # -- stepping ------------------------------------------------------------------------------------------
    def step(self, ctrl: np.ndarray, n_substeps: int = 1) -> None:
        """Hold excitations ``ctrl`` ((nworld, nu) or (nu,), clipped to [0, 1]) over ``n_substeps`` physics steps."""
        ctrl = np.clip(np.asarray(ctrl, dtype=np.float64), 0.0, 1.0)
        self._assign("ctrl", np.broadcast_to(ctrl, (self.nworld, self.mjm.nu)))
        wp, mjw = self._wp, self._mjw
        with wp.ScopedDevice(self.device):
            if not self.device.is_cuda:
                for _ in range(n_substeps):
                    mjw.step(self.m, self.d)
                return
            graph = self._graphs.get(n_substeps)
            if graph is None:
                graph = self._capture(n_substeps)
            wp.capture_launch(graph)

    def _capture(self, n_substeps: int) -> Any:
        wp, mjw = self._wp, self._mjw
        if not self._graphs:  # kernels must be compiled before capture: one throw-away step, state restored
            saved = {k: wp.clone(getattr(self.d, k)) for k in ("time", "qpos", "qvel", "act", "qacc_warmstart")}
            mjw.step(self.m, self.d)
            for k, v in saved.items():
                wp.copy(getattr(self.d, k), v)
        with wp.ScopedCapture() as capture:
            for _ in range(n_substeps):
                mjw.step(self.m, self.d)
        self._graphs[n_substeps] = capture.graph
        return capture.graph

    def synchronize(self) -> None:
        """Wait for the device (for timing)."""
        self._wp.synchronize_device(self.device)


@dataclass
class _World:
    rec: _Recorder
    failed_at: int | None = None
    reason: str = ""


def _problems(st: WarpState, qvel_limit: float, njmax: int, naconmax: int) -> list[str]:
    """Per-world reason ("" when fine)."""
    out = []
    contact_overflow = st.nacon > naconmax
    for w in range(len(st.time)):
        if not np.all(np.isfinite(st.qpos[w])):
            out.append("non-finite qpos")
        elif not np.all(np.isfinite(st.qvel[w])):
            out.append("non-finite qvel")
        elif not np.all(np.isfinite(st.act[w])):
            out.append("non-finite act")
        elif st.qvel.shape[1] and np.max(np.abs(st.qvel[w])) > qvel_limit:
            out.append(f"|qvel| reached {np.max(np.abs(st.qvel[w])):.3g} > limit {qvel_limit:g}")
        elif st.nefc[w] > njmax:
            out.append(f"constraint overflow: nefc {st.nefc[w]} > njmax {njmax}")
        elif contact_overflow:
            out.append(f"contact buffer overflow: nacon {st.nacon} > naconmax {naconmax}")
        else:
            out.append("")
    return out


def rollout_warp(
    model: Any,
    controller: Controller,
    nworld: int,
    duration_s: float,
    *,
    initial_qpos: np.ndarray | None = None,
    initial_qvel: np.ndarray | None = None,
    initial_act: np.ndarray | None = None,
    control_hz: float = 100.0,
    record_hz: float = 100.0,
    physics_dt: float | None = None,
    seed: int = 0,
    njmax: int | None = None,
    nconmax: int | None = None,
    device: str | None = None,
    qvel_limit: float = QVEL_LIMIT,
    observe: Any = observation_from_state,
    variant: str | None = None,
    model_name: str | None = None,
    backend: WarpBackend | None = None,
) -> list[Rollout]:
    """Simulate ``nworld`` trajectories on MuJoCo Warp; same timing, records and divergence rules as
    :func:`mmbio.sim.rollout_cpu.rollout`.

    The controller sees all worlds at once: ``observe(model, qpos, qvel, act)`` with (nworld, ·) arrays
    (default :func:`~mmbio.sim.controller.observation_from_state`) → ``controller(obs (nworld, n_obs))`` →
    (nworld, nu). Worlds that diverged were reset to their initial state, so the batch keeps its shape and
    stays finite; their excitations are ignored. Open-loop controllers (``plan``) are not queried per step.
    ``controller.reset`` gets a host ``MjData`` holding world 0's initial state.

    Args:
        initial_qpos: (nq,) or (nworld, nq); likewise initial_qvel, initial_act. Default keyframe 0 / qpos0.
        njmax, nconmax, device: see :class:`WarpBackend`. backend: reuse an existing backend (its kernels and
            CUDA graphs); it is reset here.

    Returns:
        ``nworld`` :class:`Rollout` (states converted from float32 to float64).
    """
    mjm, name, variant = resolve_model(model, variant, model_name)
    timing = _timing(mjm, duration_s, control_hz, record_hz, physics_dt)
    mjm = _with_timestep(mjm, timing.physics_dt)
    if backend is None:
        backend = WarpBackend(mjm, nworld, njmax=njmax, nconmax=nconmax, device=device)
        backend.model_name, backend.variant = name, variant
    elif backend.nworld != nworld or backend.mjm.opt.timestep != timing.physics_dt:
        raise MmbioError("rollout_warp: the given backend has another nworld or physics timestep")
    q0, v0, a0 = initial_state(mjm, nworld, initial_qpos, initial_qvel, initial_act)
    backend.reset(q0, v0, a0)

    host = mujoco.MjData(mjm)
    _set_state(host, q0[0], v0[0], a0[0])
    mujoco.mj_forward(mjm, host)
    _seed_controller(controller, seed)
    controller.reset(mjm, host)
    plan = None
    if isinstance(controller, OpenLoop):
        plan = np.asarray(controller.plan(mjm.nu, timing.n_ctrl, timing.control_dt), dtype=np.float64)
        if plan.shape != (timing.n_ctrl, mjm.nu):
            raise MmbioError(f"controller plan has shape {plan.shape}, expected {(timing.n_ctrl, mjm.nu)}")
        plan = np.clip(plan, 0.0, 1.0)

    t = timing
    worlds = [_World(_Recorder(mjm, t)) for _ in range(nworld)]
    alive = np.ones(nworld, dtype=bool)
    last_u = np.zeros((nworld, mjm.nu))

    def fail(w: int, detected: int, last_good: int, reason: str) -> None:
        worlds[w].rec.cut(last_good)
        worlds[w].failed_at, worlds[w].reason = detected, reason
        alive[w] = False

    def record(st: WarpState, u: np.ndarray) -> None:
        for w in np.flatnonzero(alive):
            worlds[w].rec.add(st.qpos[w], st.qvel[w], st.act[w], u[w])

    for c in range(t.n_ctrl + 1):
        j = min(c * t.n_sub, t.n_steps)
        st = backend.state()
        newly = np.zeros(nworld, dtype=bool)
        for w, problem in enumerate(_problems(st, qvel_limit, backend.njmax, backend.naconmax)):
            if problem and alive[w]:
                fail(w, j, max(0, (c - 1) * t.n_sub), problem)
                newly[w] = True
        if newly.any():
            backend.reset_worlds(newly)
        if c == t.n_ctrl or not alive.any():
            if c == t.n_ctrl and t.n_steps % t.rec_stride == 0:
                record(st, last_u)
            break
        if plan is not None:
            u = np.tile(plan[c], (nworld, 1))
        else:
            u = clip_excitations(controller(observe(mjm, st.qpos, st.qvel, st.act)), mjm.nu, nworld).copy()
        bad = alive & ~np.all(np.isfinite(u), axis=1)
        for w in np.flatnonzero(bad):
            fail(w, j, j - 1, "controller returned non-finite excitations")
        if bad.any():
            backend.reset_worlds(bad)
        u[~alive] = 0.0
        last_u = u
        # split the interval at record points
        end = min(j + t.n_sub, t.n_steps)
        k = j
        while k < end:
            if k % t.rec_stride == 0:
                record(st if k == j else backend.state(), u)
            nxt = min(end, (k // t.rec_stride + 1) * t.rec_stride)
            backend.step(u, nxt - k)
            k = nxt

    import mujoco_warp

    notes = {
        "backend": "mujoco_warp",
        "device": str(backend.device),
        "mujoco_warp": getattr(mujoco_warp, "__version__", "unknown"),
        "warp": backend._wp.__version__,
        "njmax": backend.njmax,
        "nconmax": backend.nconmax,
        "nworld": nworld,
        "seed": int(seed),
        "qvel_limit": float(qvel_limit),
        "precision": "float32",
    }
    return [w.rec.build(name, variant, w.failed_at, w.reason, {**notes, "index": i}) for i, w in enumerate(worlds)]
