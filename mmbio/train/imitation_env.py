"""Motion imitation environment for the muscle-driven models (MyoFullBody, bimanual arm), pure JAX around MuJoCo.

:class:`ImitationEnv` follows :mod:`mmbio.train.vecenv`: ``reset(key) -> (state, obs)``, ``step(state,
action) -> (state, obs, reward, done, truncated, info)``, every state leaf with a leading ``n_envs``
axis, no auto-reset. The action is the muscles' excitations, or with ``env.action = 'activation'`` the
activations wanted at the end of the control step (:meth:`ImitationEnv.excitation`). Everything but the physics
is jitted JAX; the physics is one small function (:meth:`ImitationEnv.physics`) with two backends:

``'mujoco'`` (default, CPU)
    ``jax.pure_callback`` into MuJoCo C: per world ``mj_step`` × ``n_substeps`` then ``mj_forward`` on a
    persistent ``MjData`` (float64 inside; the state is stored in JAX float32 between control steps).
``'warp'`` (GPU; testable on CPU with a few worlds)
    ``warp.jax_callable`` around ``mujoco_warp.step`` × ``n_substeps`` then ``mujoco_warp.forward``
    (path 2 of ``docs/train_backend_probe.md``), state copied in and out. ``njmax`` = ``max(512, 4·nv)``
    constraint rows and 128 contacts per world.

Both carry the same state (qpos, qvel, act, qacc_warmstart) and return the same kinematics at the new
state. Timing: control at ``cfg.control_hz`` (100 Hz) over ``cfg.n_substeps`` physics steps of
``cfg.physics_dt`` (0.002 s → 5 substeps); the model's own timestep is replaced by ``physics_dt``.

Reference. A :class:`~mmbio.sim.motion.Motion` of the env's model (name, variant, nq/nv checked; a
mismatch is an :class:`~mmbio.errors.MmbioError` naming both), resampled to ``control_hz``. Tables of
qpos, qvel and the tracked bodies' positions and orientations (MuJoCo kinematics) are JAX constants.
A periodic motion (last frame = first frame but for the root's horizontal translation, as
``synthesize_motion`` makes) *loops*: frame ``k`` is frame ``k mod P`` (``P = T - 1``) with the root
carried on by ``(k // P)`` × the per-cycle root advance; episodes then end only at ``horizon``. A
non-periodic motion truncates when its last frame is reached.

Tracked bodies (positions relative to the *anchor* body, in the world frame; orientations relative to
the anchor's): MyoFullBody: pelvis (anchor), femurs, tibias, calcanei, toes, humeri, radii, lunates
(hands), head. Bimanual: thorax (anchor), humeri, ulnas, radii, lunates, third metacarpals.

Observation (``obs_layout()`` gives name → slice; root entries only for a free-root model):
``root_height`` (1, m), ``root_rot6d`` (6: first two columns of the root rotation matrix),
``root_linvel`` (3, m/s, root frame), ``root_angvel`` (3, rad/s, root frame), ``joint_qpos``
(nq − 7 or nq), ``joint_qvel`` (nv − 6 or nv); with ``cfg.muscle_obs``: ``muscle_length`` (nu, m),
``muscle_velocity`` (nu, m/s), ``muscle_force`` (nu, force / peak isometric force), ``muscle_act`` (na);
with ``cfg.touch_obs`` and touch sensors in the model: ``touch`` (n, N / body weight);
per lookahead target ``i`` (frames ``k+1+i·stride``, ``i < lookahead_steps``): ``target{i}_qpos``
(joint qpos reference − current), ``target{i}_sites`` (reference − current anchor-relative body
positions, m), and for a free root ``target{i}_root`` (reference − current root position, m, world);
``phase`` (2: sin, cos of 2π·(k mod P)/P, P = cycle length or T − 1).

Reward after each step (state at reference frame k): DeepMimic kernels ``w · exp(−α · err)`` with
``(w, α)`` from :class:`~mmbio.train.config.RewardConfig`: ``site_pos`` (mean over bodies of the squared
distance of anchor-relative positions, m²), ``site_quat`` (mean squared rotation angle of the
anchor-relative orientations, rad²), ``site_vel`` (the same for their finite-difference velocities over
the control step, (m/s)²), ``qpos``/``qvel`` (mean over joint dofs of the squared error), ``root_pos``
(squared root position error, m²) and ``root_vel`` (mean over the 6 root dofs, free root only). So the
reward lies in (0, ``max_reward``] with ``max_reward`` = Σ of the applicable weights, reached at zero
error. Effort costs subtracted: ``activation_energy · mean(act²)``, ``action_rate · mean(Δexc²)`` and
``metabolic · Ė/m_body``: whole-body muscle metabolic power in W/kg (Umberger 2010 with MuJoCo's own fibre
states, :func:`mmbio.sim.metabolics.umberger_rates` in ``jax.numpy``, the same formula as the validation's
numpy path; excitation = the step's action, activation/length/velocity at the step's end; fast-twitch
fraction 0.5; no basal rate). ``info['metabolic_w_per_kg']`` carries it whatever the weight, so every
run logs ``env/metabolic_w_per_kg`` and the effort–fidelity trade-off can be studied from the logs.

Termination (``done``): mean anchor-relative site distance > ``mean_site_deviation`` (when
``site_check``), root position error > ``root_deviation``, root orientation error > ``root_orientation``,
root height < ``min_root_height`` (when > 0). A world whose physics failed (non-finite state, MuJoCo
divergence warning, Warp constraint overflow) returns NaN observations so the trainer resets and counts
it. ``truncated``: ``horizon`` steps or the end of a non-periodic reference. Reference-state
initialisation: reset at a uniformly random reference frame (``random_start``; else frame 0) with the
reference qpos/qvel and zero activations.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.models.registry import load_model
from mmbio.sim import metabolics as met
from mmbio.sim.activation_dynamics import MuscleDynamics
from mmbio.train.config import EnvConfig
from mmbio.train.sharding import host_side

__all__ = ["TRACKED_BODIES", "ImitationEnv", "ImitationState", "PhysicsOut"]

#: Tracked bodies per model: (anchor body, other bodies). Positions are anchor-relative.
TRACKED_BODIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "myofullbody": (
        "pelvis",
        (
            "femur_r", "femur_l", "tibia_r", "tibia_l", "calcn_r", "calcn_l", "toes_r", "toes_l",
            "humerus_r", "humerus_l", "radius_r", "radius_l", "lunate_r", "lunate_l", "head",
        ),
    ),
    "bimanual": (
        "thorax",
        ("humerus_r", "humerus_l", "ulna_r", "ulna_l", "radius_r", "radius_l", "lunate_r", "lunate_l",
         "thirdmc_r", "thirdmc_l"),
    ),
}  # fmt: skip

TOUCH_NAMES: tuple[str, ...] = ("r_foot", "r_toes", "l_foot", "l_toes")
_NCONMAX = 128
_GRAVITY = 9.81


class PhysicsOut(NamedTuple):
    """What :meth:`ImitationEnv.physics` returns for ``N`` worlds (float32 unless noted).

    qpos ``(N, nq)``, qvel ``(N, nv)``, act ``(N, na)``, warm ``(N, nv)`` (qacc warm start): the new state.
    xpos ``(N, B, 3)`` (m, world) and xquat ``(N, B, 4)`` of the anchor + tracked bodies; alen, avel,
    afrc ``(N, nu)``: actuator length (m), velocity (m/s), force (N); touch ``(N, n_touch)`` (N);
    ok ``(N,)`` bool: the physics stayed valid.
    """

    qpos: jax.Array
    qvel: jax.Array
    act: jax.Array
    warm: jax.Array
    xpos: jax.Array
    xquat: jax.Array
    alen: jax.Array
    avel: jax.Array
    afrc: jax.Array
    touch: jax.Array
    ok: jax.Array


class ImitationState(NamedTuple):
    """Env state; every leaf has a leading ``n_envs`` axis.

    phys: :class:`PhysicsOut` of the current state; frame ``(N,)`` int32: reference frame (control steps,
    unbounded for looped references); t ``(N,)`` int32: steps in the episode; prev_exc ``(N, nu)``:
    the last excitation sent to the actuators (with ``env.action = 'activation'``, the one computed from the
    action).
    """

    phys: PhysicsOut
    frame: jax.Array
    t: jax.Array
    prev_exc: jax.Array


# --------------------------------------------------------------------------------------------------
# Quaternion helpers (w, x, y, z), batched over leading axes
# --------------------------------------------------------------------------------------------------


def _qconj(q: jax.Array) -> jax.Array:
    return q * jnp.array([1.0, -1.0, -1.0, -1.0], q.dtype)


def _qmul(a: jax.Array, b: jax.Array) -> jax.Array:
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return jnp.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def _qangle(q: jax.Array) -> jax.Array:
    """Rotation angle (rad) of unit quaternion(s) ``q``, in [0, π]."""
    v = jnp.linalg.norm(q[..., 1:], axis=-1)
    return 2.0 * jnp.arctan2(v, jnp.abs(q[..., 0]))


def _qmat(q: jax.Array) -> jax.Array:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions ``(..., 4)``."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    r = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(row, axis=-1) for row in r], axis=-2)


# --------------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------------


class _MujocoHost:
    """Host side of the ``'mujoco'`` backend: per-world ``mj_step``/``mj_forward`` in float64, the worlds split
    over ``n_threads`` threads (MuJoCo releases the GIL while it steps: ≈ 2× on 2 cores), one MjData each.
    Each world is reset and stepped on its own, so the result does not depend on the thread count."""

    def __init__(
        self, m: mujoco.MjModel, body_ids: np.ndarray, touch_adr: np.ndarray, n_sub: int, n_threads: int | None = None
    ) -> None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        self.m, self.n_sub = m, n_sub
        self.body_ids, self.touch_adr = body_ids, touch_adr
        self.n_threads = max(1, int(n_threads or min(os.cpu_count() or 1, 8)))
        self.datas = [mujoco.MjData(m) for _ in range(self.n_threads)]
        self.pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None

    def outputs(self, d: mujoco.MjData) -> tuple[np.ndarray, ...]:
        return (
            d.xpos[self.body_ids],
            d.xquat[self.body_ids],
            d.actuator_length,
            d.actuator_velocity,
            d.actuator_force,
            d.sensordata[self.touch_adr],
        )

    def _worlds(self, d: mujoco.MjData, idx: range, inp: tuple[np.ndarray, ...], out: list[np.ndarray],
                ok: np.ndarray) -> None:  # fmt: skip
        m = self.m
        qpos, qvel, act, warm, ctrl = inp
        for i in idx:
            mujoco.mj_resetData(m, d)
            d.qpos[:], d.qvel[:], d.act[:], d.qacc_warmstart[:], d.ctrl[:] = qpos[i], qvel[i], act[i], warm[i], ctrl[i]
            if np.all(np.isfinite(qpos[i])) and np.all(np.isfinite(qvel[i])):
                mujoco.mj_step(m, d, nstep=self.n_sub)
                ok[i] = d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0
                out[3][i] = d.qacc_warmstart
                mujoco.mj_forward(m, d)
            else:
                ok[i] = False
                out[3][i] = np.nan
            out[0][i], out[1][i], out[2][i] = d.qpos, d.qvel, d.act
            for k, v in enumerate(self.outputs(d)):
                out[4 + k][i] = v

    def __call__(self, qpos: Any, qvel: Any, act: Any, warm: Any, ctrl: Any) -> tuple[np.ndarray, ...]:
        m = self.m
        inp = tuple(np.asarray(x, np.float64) for x in (qpos, qvel, act, warm, ctrl))
        n = inp[0].shape[0]
        nb, nt = len(self.body_ids), len(self.touch_adr)
        out = [
            np.empty((n, m.nq)), np.empty((n, m.nv)), np.empty((n, m.na)), np.empty((n, m.nv)),
            np.empty((n, nb, 3)), np.empty((n, nb, 4)), np.empty((n, m.nu)), np.empty((n, m.nu)),
            np.empty((n, m.nu)), np.empty((n, nt)),
        ]  # fmt: skip
        ok = np.ones(n, bool)
        k = min(self.n_threads, n)
        if self.pool is None or k <= 1:
            self._worlds(self.datas[0], range(n), inp, out, ok)
        else:
            bounds = np.linspace(0, n, k + 1).astype(int)
            jobs = [self.pool.submit(self._worlds, self.datas[j], range(bounds[j], bounds[j + 1]), inp, out, ok)
                    for j in range(k)]  # fmt: skip
            for job in jobs:
                job.result()
        return (*(o.astype(np.float32) for o in out), ok)


def _make_warp_physics(m: mujoco.MjModel, n_envs: int, body_ids: np.ndarray, touch_adr: np.ndarray, n_sub: int) -> Any:
    """``physics(qpos, qvel, act, warm, ctrl) -> PhysicsOut`` via ``wp.jax_callable(mujoco_warp.step)``."""
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MmbioError(f"backend 'warp' needs mujoco-warp and warp-lang ({exc}); pip install 'mmbio[gpu]'") from exc
    wp.config.quiet = True  # no per-kernel load lines on stdout
    wp.init()
    njmax = max(512, 4 * m.nv)
    dev = wp.get_preferred_device()
    with wp.ScopedDevice(dev):
        wm = mjw.put_model(m)
        wd = mjw.make_data(m, nworld=n_envs, nconmax=_NCONMAX, njmax=njmax)
    W, nq, nv, na, nu, nb = n_envs, m.nq, m.nv, m.na, m.nu, m.nbody
    f2 = wp.array2d(dtype=wp.float32)
    v3 = wp.array2d(dtype=wp.vec3)
    q4 = wp.array2d(dtype=wp.quat)

    def env_step(qpos, qvel, act, warm, ctrl, qpos_o, qvel_o, act_o, warm_o, xpos_o, xquat_o, alen_o, avel_o, afrc_o,
                 sens_o, nefc_o):  # type: ignore[no-untyped-def]  # fmt: skip
        wp.copy(wd.qpos, qpos)
        wp.copy(wd.qvel, qvel)
        wp.copy(wd.act, act)
        wp.copy(wd.qacc_warmstart, warm)
        wp.copy(wd.ctrl, ctrl)
        wd.time.zero_()
        for _ in range(n_sub):
            mjw.step(wm, wd)
        wp.copy(warm_o, wd.qacc_warmstart)
        wp.copy(nefc_o, wd.nefc)
        mjw.forward(wm, wd)
        wp.copy(qpos_o, wd.qpos)
        wp.copy(qvel_o, wd.qvel)
        wp.copy(act_o, wd.act)
        wp.copy(xpos_o, wd.xpos)
        wp.copy(xquat_o, wd.xquat)
        wp.copy(alen_o, wd.actuator_length)
        wp.copy(avel_o, wd.actuator_velocity)
        wp.copy(afrc_o, wd.actuator_force)
        if m.nsensordata:
            wp.copy(sens_o, wd.sensordata)

    # Warp reads the argument types from __annotations__ (set here: this module uses postponed annotations)
    env_step.__annotations__ = {
        "qpos": f2, "qvel": f2, "act": f2, "warm": f2, "ctrl": f2, "qpos_o": f2, "qvel_o": f2, "act_o": f2,
        "warm_o": f2, "xpos_o": v3, "xquat_o": q4, "alen_o": f2, "avel_o": f2, "afrc_o": f2, "sens_o": f2,
        "nefc_o": wp.array(dtype=wp.int32), "return": None,
    }  # fmt: skip
    nsens = max(m.nsensordata, 1)
    dims = {
        "qpos_o": (W, nq), "qvel_o": (W, nv), "act_o": (W, na), "warm_o": (W, nv), "xpos_o": (W, nb),
        "xquat_o": (W, nb), "alen_o": (W, nu), "avel_o": (W, nu), "afrc_o": (W, nu), "sens_o": (W, nsens),
        "nefc_o": (W,),
    }  # fmt: skip
    graph = wp.JaxCallableGraphMode.WARP if dev.is_cuda else wp.JaxCallableGraphMode.NONE
    jstep = wp.jax_callable(env_step, num_outputs=len(dims), graph_mode=graph, output_dims=dims)
    bids, tadr = jnp.asarray(body_ids), jnp.asarray(touch_adr, jnp.int32)

    def physics(qpos: jax.Array, qvel: jax.Array, act: jax.Array, warm: jax.Array, ctrl: jax.Array) -> PhysicsOut:
        q, v, a, w, xp, xq, al, av, af, sens, nefc = jstep(qpos, qvel, act, warm, ctrl)
        ok = jnp.all(jnp.isfinite(q), axis=-1) & jnp.all(jnp.isfinite(v), axis=-1) & (nefc <= njmax)
        return PhysicsOut(q, v, a, w, xp[:, bids], xq[:, bids], al, av, af, sens[:, tadr], ok)

    physics.njmax = njmax  # type: ignore[attr-defined]
    return physics


# --------------------------------------------------------------------------------------------------
# The environment
# --------------------------------------------------------------------------------------------------


def _resample(qpos: np.ndarray, qvel: np.ndarray, rate: float, hz: float, quat_cols: list[int]) -> tuple:
    """Linear resampling of ``qpos (T, nq)``/``qvel (T, nv)`` from ``rate`` to ``hz`` (quaternions renormalised)."""
    t_src = np.arange(len(qpos)) / rate
    t = np.arange(math.floor(t_src[-1] * hz + 1e-9) + 1) / hz
    q = np.stack([np.interp(t, t_src, c) for c in qpos.T], axis=1)
    v = np.stack([np.interp(t, t_src, c) for c in qvel.T], axis=1)
    for a in quat_cols:
        q[:, a : a + 4] /= np.linalg.norm(q[:, a : a + 4], axis=1, keepdims=True)
    return q, v


class ImitationEnv:
    """``n_envs`` worlds imitating ``motion`` with model ``cfg.model`` (see the module docs).

    Args:
        cfg: the environment config (model, variant, timing, horizon, lookahead, reward, termination).
        motion: a :class:`~mmbio.sim.motion.Motion` of ``cfg.model``/``cfg.variant``.
        n_envs: worlds.
        backend: ``'mujoco'`` or ``'warp'``; default ``cfg.backend``.
        loop: loop the reference (``None``: when the motion is periodic, see the module docs).

    Raises:
        MmbioError: the motion belongs to another model, is too short, or the backend is unknown.
    """

    def __init__(
        self, cfg: EnvConfig, motion: Any, n_envs: int, backend: str | None = None, loop: bool | None = None
    ) -> None:
        self.cfg, self.n_envs = cfg, int(n_envs)
        self.backend = backend or cfg.backend
        if self.backend not in ("mujoco", "warp"):
            raise MmbioError(f"unknown backend {self.backend!r}; choose 'mujoco' or 'warp'")
        info = load_model(cfg.model, cfg.variant or None)
        mot_info = load_model(motion.model, motion.variant or None)
        if (info.name, info.variant) != (mot_info.name, mot_info.variant) or (
            motion.qpos.shape[1],
            motion.qvel.shape[1],
        ) != (info.nq, info.nv):
            raise MmbioError(
                f"the motion is for model {motion.model!r} ({mot_info.variant}; nq={motion.qpos.shape[1]}, "
                f"nv={motion.qvel.shape[1]}) but the environment simulates {info.name!r} ({info.variant}; "
                f"nq={info.nq}, nv={info.nv})"
            )
        m = copy.deepcopy(info.model)
        m.opt.timestep = cfg.physics_dt
        self.mj_model = m
        self.n_sub = cfg.n_substeps
        self.free_root = bool(m.njnt > 0 and m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE)
        self.rq, self.rv = (7, 6) if self.free_root else (0, 0)
        anchor, bodies = TRACKED_BODIES[info.name]
        self.body_names = (anchor, *bodies)
        self.body_ids = np.array([mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in self.body_names])
        touch = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, s) for s in TOUCH_NAMES] if cfg.touch_obs else []
        self.touch_adr = np.array([m.sensor_adr[s] for s in touch if s >= 0], dtype=np.int64)
        self.fmax = np.maximum(np.abs(m.actuator_gainprm[:, 2]), 1.0).astype(np.float32)
        #: the muscles' activation dynamics when the action is a wanted activation (``cfg.action``), else None
        self.muscle_dynamics = MuscleDynamics.of(m, 1.0 / cfg.control_hz) if cfg.action == "activation" else None
        self.mass = float(np.sum(m.body_mass))
        self.weight = self.mass * _GRAVITY
        self._init_metabolics(m)

        # --- reference at control rate ----------------------------------------------------------------
        quat_cols = [
            int(m.jnt_qposadr[j]) + (3 if m.jnt_type[j] == 0 else 0) for j in range(m.njnt) if m.jnt_type[j] < 2
        ]
        qpos, qvel = np.asarray(motion.qpos, float), np.asarray(motion.qvel, float)
        if abs(float(motion.rate_hz) - cfg.control_hz) > 1e-9:
            qpos, qvel = _resample(qpos, qvel, float(motion.rate_hz), float(cfg.control_hz), quat_cols)
        T = len(qpos)
        if T < 3:
            raise MmbioError(f"the reference has {T} frames at {cfg.control_hz} Hz; need at least 3")
        closure = np.abs(qpos[-1, 2:] - qpos[0, 2:]).max() if self.free_root else np.abs(qpos[-1] - qpos[0]).max()
        self.loop = bool(closure < 1e-3) if loop is None else bool(loop)
        self.period = T - 1
        self.advance = np.zeros(3, np.float32)
        if self.loop and self.free_root:
            self.advance[:2] = qpos[-1, :2] - qpos[0, :2]
        n_tab = self.period if self.loop else T
        qpos, qvel = qpos[:n_tab], qvel[:n_tab]
        tab = self._kinematics(qpos, qvel)
        self.ref_qpos = jnp.asarray(qpos, jnp.float32)
        self.ref_qvel = jnp.asarray(qvel, jnp.float32)
        self.ref_init = PhysicsOut(
            self.ref_qpos, self.ref_qvel, jnp.zeros((n_tab, m.na), jnp.float32), jnp.zeros((n_tab, m.nv), jnp.float32),
            *(jnp.asarray(x, jnp.float32) for x in tab), jnp.ones(n_tab, bool),
        )  # fmt: skip
        self.ref_rel, self.ref_relq = self._relative(self.ref_init.xpos, self.ref_init.xquat)
        self.n_frames = T

        # --- physics --------------------------------------------------------------------------------
        if self.backend == "mujoco":
            host = _MujocoHost(m, self.body_ids, self.touch_adr, self.n_sub)
            n, nb, nt = self.n_envs, len(self.body_ids), len(self.touch_adr)
            f = jnp.float32
            shapes = PhysicsOut(
                *(jax.ShapeDtypeStruct(s, f) for s in [(n, m.nq), (n, m.nv), (n, m.na), (n, m.nv), (n, nb, 3),
                                                        (n, nb, 4), (n, m.nu), (n, m.nu), (n, m.nu), (n, nt)]),
                jax.ShapeDtypeStruct((n,), jnp.bool_),
            )  # fmt: skip

            def physics(qpos: jax.Array, qvel: jax.Array, act: jax.Array, warm: jax.Array, ctrl: jax.Array):
                # on several devices the callback takes every world at once: gathered before, split after
                args = host_side((qpos, qvel, act, warm, ctrl))
                out = jax.pure_callback(host, shapes, *args, vmap_method="sequential")
                return PhysicsOut(*host_side(tuple(out)))

            self._physics = physics
        else:
            self._physics = _make_warp_physics(m, self.n_envs, self.body_ids, self.touch_adr, self.n_sub)
        self._layout = self._make_layout()
        self.obs_size = self._layout["phase"].stop
        self.action_size = m.nu

    # -- metabolics ------------------------------------------------------------------------------------
    def _init_metabolics(self, m: mujoco.MjModel) -> None:
        """Muscle constants (float32) for :meth:`metabolic_power`: the muscle actuators and their activation slots."""
        mus = [i for i in range(m.nu) if m.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_MUSCLE]
        self.muscle_ids = np.array(mus, dtype=np.int64)
        self.muscle_act_adr = np.array([m.actuator_actadr[i] for i in mus], dtype=np.int64)
        if not mus or np.any(self.muscle_act_adr < 0):
            self.met_params = None
            return
        p = met.muscle_parameters(m)
        arrays = {
            f.name: getattr(p, f.name) for f in dataclasses.fields(p) if isinstance(getattr(p, f.name), np.ndarray)
        }
        self.met_params = dataclasses.replace(p, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})

    def metabolic_power(self, exc: jax.Array, act: jax.Array, alen: jax.Array, avel: jax.Array) -> jax.Array:
        """Whole-body muscle metabolic power ``(N,)`` in W per kg of body mass (Umberger 2010, module docs).

        ``exc (N, nu)``: excitation in [0, 1]; ``act (N, na)``: activation; ``alen``/``avel (N, nu)``: actuator
        length (m) and velocity (m/s). Zero for a model without muscles.
        """
        p = self.met_params
        if p is None:
            return jnp.zeros(exc.shape[0], jnp.float32)
        mi, ai = self.muscle_ids, self.muscle_act_adr
        u = jnp.clip(exc[:, mi], 0.0, 1.0)
        a = jnp.clip(act[:, ai], 0.0, 1.0)
        am, sl, w = met.umberger_rates(u, a, alen[:, mi], avel[:, mi], p, jnp.float32(0.5), xp=jnp)
        return jnp.sum((am + sl + w) * p.mass, axis=-1) / self.mass

    # -- reference helpers ---------------------------------------------------------------------------
    def _kinematics(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, ...]:
        """MuJoCo C forward at each reference frame with zero activation: xpos, xquat, alen, avel, afrc, touch."""
        m = self.mj_model
        d = mujoco.MjData(m)
        host = _MujocoHost(m, self.body_ids, self.touch_adr, 0)
        outs: list[list[np.ndarray]] = [[] for _ in range(6)]
        for q, v in zip(qpos, qvel, strict=True):
            d.qpos[:], d.qvel[:], d.act[:] = q, v, 0.0
            mujoco.mj_forward(m, d)
            for k, x in enumerate(host.outputs(d)):
                outs[k].append(np.array(x))
        return tuple(np.stack(o) for o in outs)

    def _relative(self, xpos: jax.Array, xquat: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Anchor-relative positions ``(..., B-1, 3)`` (world frame) and orientations ``(..., B-1, 4)``."""
        rel = xpos[..., 1:, :] - xpos[..., :1, :]
        relq = _qmul(_qconj(xquat[..., :1, :]), xquat[..., 1:, :])
        return rel, relq

    def _ref_index(self, frame: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Table row and number of completed cycles for reference frames ``frame``."""
        if self.loop:
            return frame % self.period, frame // self.period
        return jnp.minimum(frame, self.n_frames - 1), jnp.zeros_like(frame)

    def ref_qpos_at(self, frame: jax.Array) -> jax.Array:
        """Reference qpos ``(..., nq)`` at frames ``frame`` (root carried on across loops)."""
        row, cyc = self._ref_index(frame)
        q = self.ref_qpos[row]
        if self.free_root and self.loop:
            q = q.at[..., :3].add(cyc[..., None].astype(jnp.float32) * jnp.asarray(self.advance))
        return q

    # -- layout ---------------------------------------------------------------------------------------
    def _make_layout(self) -> dict[str, slice]:
        m, cfg = self.mj_model, self.cfg
        sizes: list[tuple[str, int]] = []
        if self.free_root:
            sizes += [("root_height", 1), ("root_rot6d", 6), ("root_linvel", 3), ("root_angvel", 3)]
        sizes += [("joint_qpos", m.nq - self.rq), ("joint_qvel", m.nv - self.rv)]
        if cfg.muscle_obs:
            sizes += [("muscle_length", m.nu), ("muscle_velocity", m.nu), ("muscle_force", m.nu), ("muscle_act", m.na)]
        if len(self.touch_adr):
            sizes.append(("touch", len(self.touch_adr)))
        nb = len(self.body_ids) - 1
        for i in range(cfg.lookahead_steps):
            sizes += [(f"target{i}_qpos", m.nq - self.rq), (f"target{i}_sites", 3 * nb)]
            if self.free_root:
                sizes.append((f"target{i}_root", 3))
        sizes.append(("phase", 2))
        layout, start = {}, 0
        for name, size in sizes:
            layout[name] = slice(start, start + size)
            start += size
        return layout

    def obs_layout(self) -> dict[str, slice]:
        """Observation entries in order: name → slice of the ``obs_size`` features (see the module docs)."""
        return dict(self._layout)

    @property
    def max_reward(self) -> float:
        """Largest per-step reward (zero tracking error, no effort): Σ of the applicable kernel weights."""
        r = self.cfg.reward
        w = r.site_pos_w + r.site_quat_w + r.site_vel_w + r.qpos_w + r.qvel_w
        return float(w + (r.root_pos_w + r.root_vel_w if self.free_root else 0.0))

    # -- physics ---------------------------------------------------------------------------------------
    def physics(self, qpos: jax.Array, qvel: jax.Array, act: jax.Array, warm: jax.Array, ctrl: jax.Array) -> PhysicsOut:
        """``n_substeps`` physics steps of every world from (qpos, qvel, act, warm) under ``ctrl (N, nu)``.

        Returns the new state and its kinematics (:class:`PhysicsOut`); failed worlds have ``ok`` false.
        """
        return self._physics(qpos, qvel, act, warm, ctrl)

    # -- observation ------------------------------------------------------------------------------------
    def _obs(self, s: ImitationState) -> jax.Array:
        p, cfg = s.phys, self.cfg
        parts = []
        if self.free_root:
            rot = _qmat(p.qpos[:, 3:7])
            parts += [
                p.qpos[:, 2:3],
                rot[:, :, 0],
                rot[:, :, 1],
                jnp.einsum("nji,nj->ni", rot, p.qvel[:, :3]),
                p.qvel[:, 3:6],
            ]
        parts += [p.qpos[:, self.rq :], p.qvel[:, self.rv :]]
        if cfg.muscle_obs:
            parts += [p.alen, p.avel, p.afrc / jnp.asarray(self.fmax), p.act]
        if len(self.touch_adr):
            parts.append(p.touch / self.weight)
        rel, _ = self._relative(p.xpos, p.xquat)
        for i in range(cfg.lookahead_steps):
            f = s.frame + 1 + i * cfg.lookahead_stride
            q_ref = self.ref_qpos_at(f)
            rel_ref = self.ref_rel[self._ref_index(f)[0]]
            parts += [q_ref[:, self.rq :] - p.qpos[:, self.rq :], (rel_ref - rel).reshape(rel.shape[0], -1)]
            if self.free_root:
                parts.append(q_ref[:, :3] - p.qpos[:, :3])
        ph = 2.0 * jnp.pi * (s.frame % self.period).astype(jnp.float32) / self.period
        parts.append(jnp.stack([jnp.sin(ph), jnp.cos(ph)], axis=-1))
        obs = jnp.concatenate(parts, axis=-1).astype(jnp.float32)
        return jnp.where(p.ok[:, None], obs, jnp.nan)

    # -- vecenv API ---------------------------------------------------------------------------------------
    def reset(self, key: jax.Array) -> tuple[ImitationState, jax.Array]:
        """Reference-state initialisation at random frames (``random_start``) with zero activations."""
        n = self.n_envs
        hi = self.period if self.loop else self.n_frames - 1
        frame = jax.random.randint(key, (n,), 0, hi) if self.cfg.random_start else jnp.zeros(n, jnp.int32)
        frame = frame.astype(jnp.int32)
        phys = jax.tree_util.tree_map(lambda x: x[frame], self.ref_init)
        s = ImitationState(phys, frame, jnp.zeros(n, jnp.int32), jnp.zeros((n, self.mj_model.nu), jnp.float32))
        return s, self._obs(s)

    def errors(self, phys: PhysicsOut, frame: jax.Array, prev: PhysicsOut | None = None) -> dict[str, jax.Array]:
        """Tracking errors ``(N,)`` of ``phys`` against reference frame ``frame`` (``prev``: the state one step before,
        for site velocities). Keys: site_pos (m²), site_dist (m, mean distance), site_quat (rad²), site_vel
        ((m/s)²), qpos, qvel, root_pos (m²), root_dist (m), root_angle (rad), root_vel."""
        rq, rv = self.rq, self.rv
        row, _ = self._ref_index(frame)
        q_ref, v_ref = self.ref_qpos_at(frame), self.ref_qvel[row]
        rel, relq = self._relative(phys.xpos, phys.xquat)
        rel_ref, relq_ref = self.ref_rel[row], self.ref_relq[row]
        d2 = jnp.sum(jnp.square(rel - rel_ref), axis=-1)
        err = {
            "site_pos": jnp.mean(d2, axis=-1),
            "site_dist": jnp.mean(jnp.sqrt(d2 + 1e-12), axis=-1),
            "site_quat": jnp.mean(jnp.square(_qangle(_qmul(_qconj(relq_ref), relq))), axis=-1),
            "qpos": jnp.mean(jnp.square(phys.qpos[:, rq:] - q_ref[:, rq:]), axis=-1),
            "qvel": jnp.mean(jnp.square(phys.qvel[:, rv:] - v_ref[:, rv:]), axis=-1),
        }
        if prev is not None:
            rel0, _ = self._relative(prev.xpos, prev.xquat)
            rel_ref0 = self.ref_rel[self._ref_index(frame - 1)[0]]
            hz = float(self.cfg.control_hz)
            dv = (rel - rel0) * hz - (rel_ref - rel_ref0) * hz
            err["site_vel"] = jnp.mean(jnp.sum(jnp.square(dv), axis=-1), axis=-1)
        else:
            err["site_vel"] = jnp.zeros_like(err["qpos"])
        z = jnp.zeros_like(err["qpos"])
        if self.free_root:
            dp = phys.qpos[:, :3] - q_ref[:, :3]
            err["root_pos"] = jnp.sum(jnp.square(dp), axis=-1)
            err["root_dist"] = jnp.sqrt(err["root_pos"] + 1e-12)
            err["root_angle"] = _qangle(_qmul(_qconj(q_ref[:, 3:7]), phys.qpos[:, 3:7]))
            err["root_vel"] = jnp.mean(jnp.square(phys.qvel[:, :6] - v_ref[:, :6]), axis=-1)
        else:
            err.update(root_pos=z, root_dist=z, root_angle=z, root_vel=z)
        return err

    def reward_terms(self, err: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """DeepMimic kernels ``w · exp(−α · err)`` per term ``(N,)`` (root terms only for a free root)."""
        r = self.cfg.reward
        names = ["site_pos", "site_quat", "site_vel", "qpos", "qvel"] + (
            ["root_pos", "root_vel"] if self.free_root else []
        )
        return {k: getattr(r, f"{k}_w") * jnp.exp(-getattr(r, f"{k}_exp") * err[k]) for k in names}

    def terminated(self, phys: PhysicsOut, err: dict[str, jax.Array]) -> jax.Array:
        """``(N,)`` bool: the worlds that strayed (the termination rules of the module docs) given their
        :meth:`errors`."""
        tc = self.cfg.termination
        done = jnp.zeros(phys.qpos.shape[0], bool)
        if tc.site_check:
            done |= err["site_dist"] > tc.mean_site_deviation
        if self.free_root:
            done |= (err["root_dist"] > tc.root_deviation) | (err["root_angle"] > tc.root_orientation)
            if tc.min_root_height > 0:
                done |= phys.qpos[:, 2] < tc.min_root_height
        return done

    def observe(self, phys: PhysicsOut, frame: jax.Array) -> jax.Array:
        """Observations ``(N, obs_size)`` of worlds in state ``phys`` at reference frames ``frame`` (the
        observation of :meth:`step`; ``prev_exc`` and the step count do not enter it)."""
        n = phys.qpos.shape[0]
        s = ImitationState(phys, frame, jnp.zeros(n, jnp.int32), jnp.zeros((n, self.mj_model.nu), jnp.float32))
        return self._obs(s)

    def excitation(self, action: Any, act: Any, xp: Any = np) -> Any:
        """The excitations ``(N, nu)`` in [0, 1] sent for ``action`` ``(N, nu)`` at activations ``act`` ``(N, na)``
        (``xp``: numpy or jax.numpy): the action itself (clipped), or with ``env.action = 'activation'`` the
        excitations reaching the wanted activations (:class:`~mmbio.sim.activation_dynamics.MuscleDynamics`)."""
        if self.muscle_dynamics is None:
            return xp.clip(action, 0.0, 1.0)
        return self.muscle_dynamics.excitations(action, act, xp)

    def step(
        self, s: ImitationState, action: jax.Array
    ) -> tuple[ImitationState, jax.Array, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One control step with ``action (N, nu)`` (clipped to [0, 1]): excitations, or with ``env.action =
        'activation'`` the activations wanted at the step's end (:meth:`excitation`)."""
        cfg = self.cfg
        p0 = s.phys
        exc = self.excitation(action, p0.act, jnp).astype(jnp.float32)
        phys = self.physics(p0.qpos, p0.qvel, p0.act, p0.warm, exc)
        frame, t = s.frame + 1, s.t + 1
        ns = ImitationState(phys, frame, t, exc)
        err = self.errors(phys, frame, p0)
        terms = self.reward_terms(err)
        effort = jnp.mean(jnp.square(phys.act), axis=-1)
        rate = jnp.mean(jnp.square(exc - s.prev_exc), axis=-1)
        metab = self.metabolic_power(exc, phys.act, phys.alen, phys.avel)
        rc = cfg.reward
        reward = sum(terms.values()) - rc.activation_energy * effort - rc.action_rate * rate - rc.metabolic * metab
        done = self.terminated(phys, err)
        truncated = t >= cfg.horizon
        if not self.loop:
            truncated |= frame >= self.n_frames - 1
        truncated &= ~done
        info = {
            "site_dist": err["site_dist"],
            "qpos_err": jnp.sqrt(err["qpos"]),
            "effort": effort,
            "metabolic_w_per_kg": metab,
            "physics_failed": (~phys.ok).astype(jnp.float32),
        }
        if self.free_root:
            info["root_dist"] = err["root_dist"]
        return ns, self._obs(ns), reward.astype(jnp.float32), done, truncated, info
