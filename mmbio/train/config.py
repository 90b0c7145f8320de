"""Training configs: frozen dataclasses, named presets, dotted CLI overrides and a plain-dict round trip.

A :class:`TrainConfig` nests :class:`PPOConfig` (``ppo``) and :class:`EnvConfig` (``env``, which nests
:class:`RewardConfig` and :class:`TerminationConfig`). Every config is immutable; change one with
:func:`apply_overrides`::

    cfg = apply_overrides(get_config("default"), ["ppo.lr=3e-4", "env.control_hz=50", "ppo.actor_hidden=256,256"])

Values given as strings are coerced from the field's annotated type: ``int`` (``"2048"``, ``"1e6"``,
``"100_000"``), ``float``, ``bool`` (``true/false/yes/no/on/off/1/0``), ``str`` and tuples of ints,
floats or strings (``"256,256"``, ``"(256, 256)"``, ``"[256,256]"``, ``""`` or ``"()"`` for empty).
An unknown key, a section given a value, a value that does not parse or one that fails a field's check
is a :class:`ConfigError` (an :class:`~mmbio.errors.MmbioError`) naming the key; an unknown key lists the
valid keys at its level.

:func:`to_dict` gives nested plain values (tuples as lists) for a checkpoint's ``config``;
:func:`from_dict` rebuilds the config (missing keys take defaults, unknown keys are refused).

This module imports neither JAX nor numpy.
"""

from __future__ import annotations

import difflib
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

from mmbio.errors import MmbioError

__all__ = [
    "ACTION_MAPPINGS",
    "ACTIVATIONS",
    "ALGOS",
    "ENV_MODELS",
    "PRESETS",
    "ConfigError",
    "DistillConfig",
    "EnvConfig",
    "PPOConfig",
    "RewardConfig",
    "TerminationConfig",
    "TrainConfig",
    "apply_overrides",
    "from_dict",
    "get_config",
    "to_dict",
]

#: Hidden-layer activations the actor/critic (and the numpy evaluator) support.
ACTIVATIONS: tuple[str, ...] = ("silu", "tanh", "relu", "elu", "gelu")
#: Maps from the policy's unbounded Gaussian sample to a muscle excitation in [0, 1].
ACTION_MAPPINGS: tuple[str, ...] = ("clip", "sigmoid")
#: Models an environment can be built for (registry names, see :mod:`mmbio.models.registry`).
ENV_MODELS: tuple[str, ...] = ("myofullbody", "bimanual")
#: Simulation backends an environment may use.
ENV_BACKENDS: tuple[str, ...] = ("mujoco", "warp")
#: what a policy's action is: the excitations sent to the muscles, or the activations wanted at the end of the
#: control step (the environment sends the excitation that reaches them, :mod:`mmbio.sim.activation_dynamics`)
ENV_ACTIONS: tuple[str, ...] = ("excitation", "activation")
ALGOS: tuple[str, ...] = ("ppo", "distill")

C = TypeVar("C")


class ConfigError(MmbioError):
    """A bad training config: unknown key, unparsable value, a value outside its range, unknown preset."""


def _show(value: Any) -> str:
    """A short repr of a (possibly hostile) value for a message."""
    s = repr(value)
    return s if len(s) <= 48 else s[:47] + "…"


def _check(ok: bool, key: str, value: Any, what: str) -> None:
    if not ok:
        raise ConfigError(f"config {key}={_show(value)}: {what}")


#: Upper bounds that keep a config (from the CLI or from a checkpoint file) within what a machine can hold:
#: worlds, rollout length, layers and their widths, horizon, look-ahead, rates.
MAX_ENVS = 1 << 20
MAX_STEPS = 100_000
MAX_LAYERS, MAX_WIDTH = 64, 65_536
MAX_TOTAL_ENV_STEPS = 10**13
MAX_CONTROL_HZ = 10_000
MAX_HORIZON = 10_000_000
MAX_DEVICES = 65_536


# --------------------------------------------------------------------------------------------------
# The configs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters and the actor/critic architecture.

    Batch: each update collects ``n_steps`` control steps from each of ``n_envs`` worlds
    (``n_envs * n_steps`` transitions), splits them into ``n_minibatches`` shuffled minibatches and
    takes one Adam step per minibatch, ``n_epochs`` times (1 by default: MuscleMimic found more epochs
    destabilise muscle control). ``n_envs * n_steps`` must be divisible by ``n_minibatches``.

    Optimiser: Adam (``lr``, ``adam_eps``) after global-norm gradient clipping (``max_grad_norm``);
    with ``anneal_lr`` the learning rate falls linearly to ``lr * min_lr_ratio`` over the run.

    Loss: clipped surrogate (``clip_eps``) + ``vf_coef`` × clipped value loss (``vf_clip``; 0 disables
    value clipping) − ``ent_coef`` × entropy. GAE with ``gamma`` and ``gae_lambda``; advantages are
    normalised per minibatch when ``normalise_advantages``.

    Policy: Gaussian with LayerNorm-MLP mean (``actor_hidden``) and a learnable state-independent
    log-std initialised to ``init_log_std``; critic: LayerNorm MLP (``critic_hidden``).
    ``layer_norm_eps``: LayerNorm epsilon. The sample ``a`` maps to excitations by ``action_mapping``:
    ``'clip'`` (``clip(a, 0, 1)``; what MuscleMimic effectively does: its muscle ``ctrlrange`` is
    [-1, 1] and MuJoCo's muscle dynamics clamp the control to [0, 1]) or ``'sigmoid'`` (``1/(1+e^-a)``).

    Observations are normalised by a running mean/variance (``normalise_obs``), updated from every
    rollout, frozen at evaluation and clipped to ±``obs_clip`` after normalisation. With
    ``normalise_rewards`` the rewards the learner sees are divided by the running standard deviation
    of the discounted return (MuscleMimic's ``normalize_env``; it keeps ``vf_clip`` meaningful);
    logged episode returns stay in the environment's units.

    ``total_env_steps``: transitions over the whole run (the number of updates is
    ``total_env_steps // (n_envs * n_steps)``). ``seed``: PRNG seed.

    Devices: ``devices`` JAX devices share the worlds (:mod:`mmbio.train.sharding`): each holds ``n_envs / devices``
    of them and steps them, and the update is data-parallel (each device's gradient over its part of every
    minibatch, summed across devices), so the update is the same as on one device, to float rounding. ``0`` (the
    default) uses every device JAX sees (every local GPU; one CPU device unless
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``; every process's devices after
    ``jax.distributed.initialize``), but one device for an environment that cannot be sharded (the ``'warp'``
    backend). ``n_envs`` must divide by the device count; the run is refused otherwise. Set it like any key:
    ``mmbio train ppo.devices=2``. A checkpoint resumes on any device count.

    Fine-tuning a given policy (e.g. a distilled one, :mod:`mmbio.train.distill`): ``init_from`` names a
    ``'policy'`` checkpoint of the same network and observation layout whose actor, critic (when it has one),
    log-std and observation statistics start the run. ``anchor_coef`` × mean squared difference between the
    actor's mean and that initial policy's mean (on the minibatch's observations) is added to the loss, its
    weight falling linearly to 0 over ``anchor_updates`` updates (a regulariser toward the distilled policy that
    decays). For the first ``critic_warmup_updates`` updates only the critic learns (the actor's loss is
    zeroed): the value function catches up with a policy it has never seen. ``freeze_obs_norm`` keeps the
    observation statistics as they start (the given policy's): otherwise the rollouts keep updating them, which
    changes what the given actor does before any gradient step (measured on the distilled walking student: 51,200
    steps of PPO at lr 10⁻⁶ moved the means by 0.23 sd (median, 2.5 at the 95th percentile) and cut its time up
    from the reference start from 0.93 to 0.79 s, with the actor's weights moved by ≤ 10⁻⁴).
    """

    lr: float = 3e-4
    anneal_lr: bool = True
    min_lr_ratio: float = 0.1
    adam_eps: float = 1e-5
    max_grad_norm: float = 1.0
    n_envs: int = 2048
    n_steps: int = 20
    n_minibatches: int = 32
    n_epochs: int = 1
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_clip: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    normalise_advantages: bool = True
    init_log_std: float = 0.0
    actor_hidden: tuple[int, ...] = (512, 512, 512)
    critic_hidden: tuple[int, ...] = (512, 512, 512)
    activation: str = "silu"
    layer_norm: bool = True
    layer_norm_eps: float = 1e-5
    action_mapping: str = "clip"
    normalise_obs: bool = True
    obs_clip: float = 10.0
    normalise_rewards: bool = True
    total_env_steps: int = 100_000_000
    seed: int = 0
    init_from: str = ""
    anchor_coef: float = 0.0
    anchor_updates: int = 0
    critic_warmup_updates: int = 0
    freeze_obs_norm: bool = False
    devices: int = 0

    def __post_init__(self) -> None:
        for k in ("lr", "adam_eps", "max_grad_norm", "layer_norm_eps", "obs_clip"):
            v = getattr(self, k)
            _check(math.isfinite(v) and v > 0, f"ppo.{k}", v, "must be a finite number > 0")
        for k, hi in (("n_envs", MAX_ENVS), ("n_steps", MAX_STEPS), ("n_minibatches", MAX_ENVS * MAX_STEPS),
                      ("n_epochs", 1000), ("total_env_steps", MAX_TOTAL_ENV_STEPS)):  # fmt: skip
            _check(1 <= getattr(self, k) <= hi, f"ppo.{k}", getattr(self, k), f"must be an integer in [1, {hi:,}]")
        _check(0 <= self.seed < 2**63, "ppo.seed", self.seed, "must be an integer in [0, 2**63)")
        for k in ("gamma", "gae_lambda", "min_lr_ratio"):
            v = getattr(self, k)
            _check(0.0 <= v <= 1.0, f"ppo.{k}", v, "must lie in [0, 1]")
        for k in ("clip_eps", "vf_clip", "vf_coef", "ent_coef"):
            v = getattr(self, k)
            _check(math.isfinite(v) and v >= 0, f"ppo.{k}", v, "must be a finite number >= 0")
        _check(math.isfinite(self.init_log_std), "ppo.init_log_std", self.init_log_std, "must be finite")
        _check(math.isfinite(self.anchor_coef) and self.anchor_coef >= 0, "ppo.anchor_coef", self.anchor_coef,
               "must be a finite number >= 0")  # fmt: skip
        for k in ("anchor_updates", "critic_warmup_updates"):
            _check(0 <= getattr(self, k) <= 10**9, f"ppo.{k}", getattr(self, k), "must be an integer in [0, 1e9]")
        _check(len(self.init_from) <= 4096, "ppo.init_from", self.init_from, "is too long")
        _check(0 <= self.devices <= MAX_DEVICES, "ppo.devices", self.devices,
               f"must be an integer in [0, {MAX_DEVICES:,}] (0: every device JAX sees)")  # fmt: skip
        _check(self.devices == 0 or self.n_envs % self.devices == 0, "ppo.devices", self.devices,
               f"must divide ppo.n_envs={self.n_envs} (each device holds n_envs / devices worlds)")  # fmt: skip
        for k in ("actor_hidden", "critic_hidden"):
            v = getattr(self, k)
            _check(
                len(v) <= MAX_LAYERS and all(1 <= h <= MAX_WIDTH for h in v),
                f"ppo.{k}",
                v,
                f"at most {MAX_LAYERS} layers of 1 to {MAX_WIDTH:,} units",
            )
        _check(self.activation in ACTIVATIONS, "ppo.activation", self.activation, f"choose one of {ACTIVATIONS}")
        _check(
            self.action_mapping in ACTION_MAPPINGS,
            "ppo.action_mapping",
            self.action_mapping,
            f"choose one of {ACTION_MAPPINGS}",
        )
        _check(
            (self.n_envs * self.n_steps) % self.n_minibatches == 0,
            "ppo.n_minibatches",
            self.n_minibatches,
            f"must divide the batch n_envs * n_steps = {self.n_envs} * {self.n_steps} = {self.n_envs * self.n_steps}",
        )
        _check(
            self.total_env_steps >= self.n_envs * self.n_steps,
            "ppo.total_env_steps",
            self.total_env_steps,
            f"must be at least one batch (n_envs * n_steps = {self.n_envs * self.n_steps})",
        )

    @property
    def batch_size(self) -> int:
        """Transitions per update: ``n_envs * n_steps``."""
        return self.n_envs * self.n_steps

    @property
    def minibatch_size(self) -> int:
        """Transitions per gradient step: ``batch_size // n_minibatches``."""
        return self.batch_size // self.n_minibatches

    @property
    def n_updates(self) -> int:
        """Rollout + update iterations in the run: ``total_env_steps // batch_size``."""
        return self.total_env_steps // self.batch_size


@dataclass(frozen=True)
class RewardConfig:
    """Imitation reward weights (``*_w``) and exponential sharpness (``*_exp``, per squared unit).

    Each term is ``w * exp(-exp * mean squared error)`` of: joint positions (``qpos``, rad²), joint
    velocities (``qvel``), root position (``root_pos``, m²) and velocity (``root_vel``), mimic-site
    relative positions (``site_pos``, m²), orientations (``site_quat``) and velocities (``site_vel``).
    Costs: ``action_rate`` × squared excitation change per step, ``activation_energy`` × mean squared
    activation, and ``metabolic`` × whole-body muscle metabolic power in W per kg of body mass (Umberger
    2010, :mod:`mmbio.sim.metabolics`; walking at 1.3 m/s costs about 3–4 W/kg, so 0.05 takes 0.15–0.2 off
    a step reward of at most 1.2). Defaults are MuscleMimic's full-body values (no effort cost).
    """

    qpos_w: float = 0.1
    qvel_w: float = 0.1
    root_pos_w: float = 0.1
    root_vel_w: float = 0.1
    site_pos_w: float = 0.6
    site_quat_w: float = 0.01
    site_vel_w: float = 0.1
    qpos_exp: float = 10.0
    qvel_exp: float = 2.0
    root_pos_exp: float = 10.0
    root_vel_exp: float = 10.0
    site_pos_exp: float = 100.0
    site_quat_exp: float = 10.0
    site_vel_exp: float = 0.1
    action_rate: float = 0.0
    activation_energy: float = 0.0
    metabolic: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            _check(math.isfinite(v) and v >= 0, f"env.reward.{f.name}", v, "must be a finite number >= 0")


@dataclass(frozen=True)
class TerminationConfig:
    """Early termination (an episode ends with ``done``, no bootstrap) when the character strays.

    ``mean_site_deviation`` (m): mean distance of the mimic sites from the reference (checked when
    ``site_check``). ``root_deviation`` (m): root position error. ``root_orientation`` (rad): root
    orientation error. ``min_root_height`` (m): root below this height ends the episode (0 disables).
    Defaults are MuscleMimic's full-body values.
    """

    mean_site_deviation: float = 1.0
    root_deviation: float = 1.0
    root_orientation: float = 1.0
    min_root_height: float = 0.0
    site_check: bool = True

    def __post_init__(self) -> None:
        for k in ("mean_site_deviation", "root_deviation", "root_orientation"):
            v = getattr(self, k)
            _check(v > 0, f"env.termination.{k}", v, "must be > 0 (inf disables it)")
        _check(self.min_root_height >= 0, "env.termination.min_root_height", self.min_root_height, "must be >= 0")


@dataclass(frozen=True)
class EnvConfig:
    """What the imitation environment needs (the environment itself is built elsewhere).

    ``model``/``variant``: registry model (``'myofullbody'`` or ``'bimanual'``) and variant (``''`` =
    the registry default, MuscleMimic's ``'nofingers'``). ``backend``: ``'mujoco'`` (MuJoCo C through
    ``jax.pure_callback``; the default, for CPU) or ``'warp'`` (MuJoCo Warp as a JAX op; set it for GPU runs),
    see :mod:`mmbio.train.imitation_env`. ``motion``: reference motion (file or dataset name; ``''`` = none chosen yet).
    ``control_hz`` (Hz): policy rate; ``physics_dt`` (s): physics step, so ``n_substeps =
    1 / (control_hz * physics_dt)`` must be an integer (100 Hz, 2 ms → 5). ``horizon``: control steps
    before an episode is truncated (bootstrapped). ``random_start``: start episodes at a random
    reference frame. ``lookahead_steps``/``lookahead_stride``: future reference frames in the goal
    observation and their spacing (control steps). ``muscle_obs``/``touch_obs``: include muscle
    lengths, velocities, forces, activations and foot-contact sensors in the observation. ``action``:
    ``'excitation'`` (MuscleMimic's: the policy's action is the muscles' excitation) or ``'activation'`` (the
    action is the activation each muscle should reach by the end of the control step; the environment sends the
    excitation that one Euler step of activation dynamics over the control interval predicts reaches it, clipped
    to [0, 1], so a muscle still rises and falls no faster than its time constants allow; exact at one physics
    step per control step). The distillation teacher's planned activations are actions of the second kind.
    """

    model: str = "myofullbody"
    variant: str = ""
    backend: str = "mujoco"
    motion: str = ""
    control_hz: int = 100
    physics_dt: float = 0.002
    horizon: int = 1000
    random_start: bool = True
    lookahead_steps: int = 5
    lookahead_stride: int = 20
    muscle_obs: bool = True
    touch_obs: bool = True
    action: str = "excitation"
    reward: RewardConfig = field(default_factory=RewardConfig)
    termination: TerminationConfig = field(default_factory=TerminationConfig)

    def __post_init__(self) -> None:
        _check(self.model in ENV_MODELS, "env.model", self.model, f"choose one of {ENV_MODELS}")
        _check(self.backend in ENV_BACKENDS, "env.backend", self.backend, f"choose one of {ENV_BACKENDS}")
        _check(self.action in ENV_ACTIONS, "env.action", self.action, f"choose one of {ENV_ACTIONS}")
        _check(
            1 <= self.control_hz <= MAX_CONTROL_HZ,
            "env.control_hz",
            self.control_hz,
            f"must be an integer in [1, {MAX_CONTROL_HZ:,}] (Hz)",
        )
        _check(
            math.isfinite(self.physics_dt) and 1e-5 <= self.physics_dt <= 0.1,
            "env.physics_dt",
            self.physics_dt,
            "must lie in [1e-5, 0.1] s",
        )
        sub = 1.0 / (self.control_hz * self.physics_dt)
        _check(
            sub >= 1 - 1e-9 and abs(sub - round(sub)) < 1e-6,
            "env.control_hz",
            self.control_hz,
            f"1 / (control_hz * physics_dt) = {sub:g} physics steps per control step must be a whole number >= 1",
        )
        for k, lo, hi in (("horizon", 1, MAX_HORIZON), ("lookahead_steps", 0, 1000), ("lookahead_stride", 1, 100_000)):
            v = getattr(self, k)
            _check(lo <= v <= hi, f"env.{k}", v, f"must be an integer in [{lo}, {hi:,}]")
        for k in ("model", "variant", "backend", "motion"):
            _check(len(getattr(self, k)) <= 4096, f"env.{k}", getattr(self, k), "is too long")

    @property
    def n_substeps(self) -> int:
        """Physics steps per control step: ``round(1 / (control_hz * physics_dt))``."""
        return round(1.0 / (self.control_hz * self.physics_dt))


@dataclass(frozen=True)
class DistillConfig:
    """Distillation of a teacher controller into the policy (``algo='distill'``, :mod:`mmbio.train.distill`).

    ``teacher``: a ``'tracking'`` checkpoint (the contact-consistent muscle tracking controller); its reference
    motion becomes the environment's. Iteration 0 is behaviour cloning (the teacher drives, ``beta0`` = 1);
    iteration ``i`` is DAgger: each control step the teacher's action is executed with probability
    ``β_i = beta0 · beta_decay^i``, the student's mean action otherwise, and the teacher labels every visited
    state; the data are aggregated (the newest ``max_samples`` kept) and the student is refitted (``epochs``
    passes, minibatches of ``minibatch``, Adam at ``lr``, mean squared excitation error).

    Assistance (Yu, Turk & Liu 2018): the teacher's root residual and reserve torques, scaled by ``α``, act on
    the simulation while data are collected; ``α`` falls linearly from ``assist_start`` (iteration 0) to
    ``assist_end`` (last iteration). The shipped policy is evaluated with ``α = 0``.

    ``steps_per_iter``: control steps collected per iteration over all worlds (``ppo.n_envs`` worlds);
    ``episode_s`` (s): longest episode; ``start_noise_rad`` (rad): uniform joint-angle noise at episode starts
    (random reference phase is ``env.random_start``); ``eval_s`` (s): the mean-action test after each iteration
    (from the reference start, no assistance). ``label``: what the student learns to output, the teacher's
    excitation or its planned activation (see :mod:`mmbio.train.distill`; with ``env.action = 'activation'`` the
    planned activation is the teacher's own action, and the only label allowed). ``teacher_follows_assist``: the
    teacher's residual and reserves cost ``1 / max(α, min_help)²`` times more as the assistance ``α`` falls.
    ``action_noise``: Gaussian noise (sd, action units) added to the teacher's action when it drives, not to its
    label (DART, Laskey et al. 2017: the teacher shows how it recovers from the errors a student will make),
    except on muscles it switches off (:func:`mmbio.train.distill.label_sides`).
    ``workers``: processes labelling in parallel (:class:`~mmbio.train.teacher_pool.TeacherPool`; capped at
    ``ppo.n_envs``, one teacher per world): each teacher gets the same calls in the same order whatever the
    number of workers; the samples agree to floating-point rounding, which the walk amplifies within an episode.
    """

    teacher: str = ""
    iterations: int = 8
    steps_per_iter: int = 2000
    episode_s: float = 4.0
    beta0: float = 1.0
    beta_decay: float = 0.5
    assist_start: float = 1.0
    assist_end: float = 0.0
    epochs: int = 20
    minibatch: int = 256
    lr: float = 1e-3
    max_samples: int = 200_000
    start_noise_rad: float = 0.0
    action_noise: float = 0.0
    eval_s: float = 10.0
    label: str = "excitation"
    teacher_follows_assist: bool = False
    min_help: float = 0.01
    workers: int = 1

    def __post_init__(self) -> None:
        _check(self.label in ("excitation", "activation"), "distill.label", self.label,
               "choose 'excitation' or 'activation'")  # fmt: skip
        for k, lo, hi in (("iterations", 1, 10_000), ("steps_per_iter", 1, 10**8), ("epochs", 1, 10_000),
                          ("minibatch", 1, 10**6), ("max_samples", 1, 10**8), ("workers", 1, 1024)):  # fmt: skip
            _check(
                lo <= getattr(self, k) <= hi, f"distill.{k}", getattr(self, k), f"must be an integer in [{lo}, {hi:,}]"
            )
        _check(math.isfinite(self.min_help) and 1e-4 <= self.min_help <= 1.0, "distill.min_help", self.min_help,
               "must lie in [1e-4, 1]")  # fmt: skip
        for k in ("beta0", "beta_decay", "assist_start", "assist_end"):
            v = getattr(self, k)
            _check(math.isfinite(v) and 0.0 <= v <= 1.0, f"distill.{k}", v, "must lie in [0, 1]")
        for k, hi in (("episode_s", 3600.0), ("eval_s", 3600.0), ("lr", 1.0), ("start_noise_rad", 1.0),
                      ("action_noise", 1.0)):  # fmt: skip
            v = getattr(self, k)
            zero_ok = k in ("start_noise_rad", "action_noise")
            _check(math.isfinite(v) and 0.0 <= v <= hi and (v > 0 or zero_ok), f"distill.{k}", v,
                   f"must lie in [0, {hi:g}]" if zero_ok else f"must lie in (0, {hi:g}]")  # fmt: skip
        _check(len(self.teacher) <= 4096, "distill.teacher", self.teacher, "is too long")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: ``ppo`` (algorithm), ``env`` (environment), bookkeeping.

    ``name``: preset or run name. ``algo``: ``'ppo'`` (:mod:`mmbio.train.ppo`) or ``'distill'`` (behaviour
    cloning + DAgger from a teacher controller, :mod:`mmbio.train.distill`; its checkpoints continue under PPO
    with ``ppo.init_from``). ``log_every``/``checkpoint_every``: updates between log lines and
    between checkpoints (a checkpoint is also written at the end and when the run is interrupted). A training run
    refuses ``checkpoint_every=0`` (stored configs of older runs may hold it: it meant "only at the end").
    """

    name: str = "default"
    algo: str = "ppo"
    ppo: PPOConfig = field(default_factory=PPOConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    log_every: int = 10
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        _check(1 <= self.log_every <= 10**9, "log_every", self.log_every, "must be an integer in [1, 1e9]")
        _check(0 <= self.checkpoint_every <= 10**9, "checkpoint_every", self.checkpoint_every, "must be in [1, 1e9]")
        _check(len(self.name) <= 256, "name", self.name, "is too long")
        _check(self.algo in ALGOS, "algo", self.algo, f"choose one of {ALGOS}")
        _check(self.algo != "distill" or self.env.action != "activation" or self.distill.label == "activation",
               "distill.label", self.distill.label,
               "must be 'activation' with env.action=activation (the action is the teacher's planned activation)")  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------------

_LOG3 = math.log(3.0)

#: Named configs for :func:`get_config`: preset name → (description, factory).
PRESETS: dict[str, tuple[str, typing.Callable[[], TrainConfig]]] = {
    "default": ("full-body imitation, 3×512 LayerNorm MLPs, 2048 worlds", lambda: TrainConfig(name="default")),
    "musclemimic": (
        "MuscleMimic's full-body PPO hyper-parameters (8192 worlds, 20-step rollouts, 128 minibatches, "
        "init std 3, 16×1024 SiLU LayerNorm MLPs; Adam here, MuscleMimic uses Muon)",
        lambda: TrainConfig(
            name="musclemimic",
            ppo=PPOConfig(
                lr=4e-4,
                n_envs=8192,
                n_steps=20,
                n_minibatches=128,
                init_log_std=_LOG3,
                actor_hidden=(1024,) * 16,
                critic_hidden=(1024,) * 16,
                total_env_steps=2_048_000_000,
            ),
        ),
    ),
    "bimanual": (
        "MuscleMimic's bimanual PPO hyper-parameters (8192 worlds, 10-step rollouts, init std 0.2, 4×1024 MLPs)",
        lambda: TrainConfig(
            name="bimanual",
            ppo=PPOConfig(
                lr=4e-4,
                anneal_lr=False,
                n_envs=8192,
                n_steps=10,
                n_minibatches=32,
                init_log_std=math.log(0.2),
                actor_hidden=(1024,) * 4,
                critic_hidden=(1024,) * 4,
                total_env_steps=2_048_000_000,
            ),
            env=EnvConfig(
                model="bimanual",
                lookahead_steps=1,
                muscle_obs=True,
                touch_obs=False,
                reward=RewardConfig(
                    qpos_w=0.5,
                    qvel_w=0.5,
                    root_pos_w=0.0,
                    root_vel_w=0.0,
                    site_pos_w=2.0,
                    site_quat_w=0.2,
                    site_vel_w=0.5,
                ),
                termination=TerminationConfig(mean_site_deviation=0.05),
            ),
        ),
    ),
    "distill_walk": (
        "distil the tracking demo (checkpoints/tracking_walk.pkl) into a 3×256 policy at 500 Hz: behaviour cloning "
        "then DAgger with the teacher's residual/reserves annealed to zero, planned-activation labels (≈ 14 min, 2 cores)",
        lambda: TrainConfig(
            name="distill_walk",
            algo="distill",
            ppo=PPOConfig(
                n_envs=2,
                n_steps=64,
                n_minibatches=4,
                actor_hidden=(256, 256, 256),
                critic_hidden=(256, 256, 256),
                init_log_std=math.log(0.05),
                total_env_steps=2_000_000,
            ),
            env=EnvConfig(variant="corrected", control_hz=500, lookahead_stride=100, horizon=5000),
            distill=DistillConfig(
                teacher="checkpoints/tracking_walk.pkl",
                iterations=8,
                steps_per_iter=4000,
                episode_s=4.0,
                label="activation",
                teacher_follows_assist=True,
                min_help=0.1,
                workers=2,  # one teacher process per world: 1.6× the labels per second on 2 cores
            ),  # the best of the runs in benchmarks/RESULTS.md (issue 14)
            log_every=1,
            checkpoint_every=1,
        ),
    ),
    "smoke": (
        "a seconds-long CPU run: 16 worlds, 2×32 MLPs, 4096 env steps",
        lambda: TrainConfig(
            name="smoke",
            ppo=PPOConfig(
                n_envs=16,
                n_steps=16,
                n_minibatches=4,
                actor_hidden=(32, 32),
                critic_hidden=(32, 32),
                total_env_steps=4096,
            ),
            log_every=1,
            checkpoint_every=1000,
        ),
    ),
}


def get_config(name: str = "default", overrides: Iterable[str] | Mapping[str, Any] = ()) -> TrainConfig:
    """The preset ``name`` (see :data:`PRESETS`) with ``overrides`` applied (see :func:`apply_overrides`)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown config preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return apply_overrides(PRESETS[name][1](), overrides)


# --------------------------------------------------------------------------------------------------
# Coercion and overrides
# --------------------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce_scalar(tp: type, value: Any, key: str) -> Any:
    """``value`` (a string from the CLI or a plain value) as ``tp`` (int, float, bool or str)."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"config {key}={_show(value)}: expected a bool (true/false, yes/no, on/off, 1/0)")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"config {key}={_show(value)}: expected an integer, got a bool")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            s = value.strip()
            try:
                return int(s)
            except ValueError:
                pass
            try:
                f = float(s)
            except ValueError:
                f = math.nan
            if math.isfinite(f) and f.is_integer():
                return int(f)
        raise ConfigError(f"config {key}={_show(value)}: expected an integer")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config {key}={_show(value)}: expected a number, got a bool")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"config {key}={_show(value)}: expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config {key}={_show(value)}: expected a string")
    raise ConfigError(f"config {key}: fields of type {tp!r} cannot be set")  # pragma: no cover


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """``value`` as the annotated type ``tp`` (scalars and ``tuple[X, ...]``)."""
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        item = args[0]
        if isinstance(value, str):
            s = value.strip()
            if s[:1] in "([" and s[-1:] in ")]":
                s = s[1:-1]
            parts = [p.strip() for p in s.split(",")]
            if parts and parts[-1] == "":
                parts = parts[:-1]  # "256," and "" are fine
            if any(p == "" for p in parts):
                raise ConfigError(f"config {key}={_show(value)}: empty item in a comma-separated list")
            items = [p.strip("'\"") if item is str else p for p in parts]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise ConfigError(f"config {key}={_show(value)}: expected a comma-separated list")
        return tuple(_coerce_scalar(item, v, f"{key}[{i}]") for i, v in enumerate(items))
    return _coerce_scalar(tp, value, key)


def _field_names(klass: type) -> list[str]:
    return [f.name for f in fields(klass)]


def _unknown(name: str, prefix: str, klass: type) -> ConfigError:
    here = f"under {prefix!r}" if prefix else "at the top level"
    valid = _field_names(klass)
    close = difflib.get_close_matches(name, valid, n=1)
    full = f"{prefix}.{name}" if prefix else name
    hint = f" (did you mean {prefix + '.' if prefix else ''}{close[0]}?)" if close else ""
    return ConfigError(f"unknown config key {full!r}{hint}; valid keys {here}: {', '.join(valid)}")


def _set(klass: type, data: dict[str, Any], path: list[str], value: Any, prefix: str = "") -> None:
    """Set the dotted ``path`` in ``data`` (a :func:`to_dict` of a ``klass``) to ``value`` coerced to its type."""
    name, rest = path[0], path[1:]
    if name not in _field_names(klass):
        raise _unknown(name, prefix, klass)
    key = f"{prefix}.{name}" if prefix else name
    tp = _hints(klass)[name]
    if isinstance(tp, type) and is_dataclass(tp):
        if not rest:
            raise ConfigError(
                f"config key {key!r} is a section, not a value; set one of its keys: {', '.join(_field_names(tp))}"
            )
        _set(tp, data[name], rest, value, key)
        return
    if rest:
        raise ConfigError(f"config key {key!r} is a value, not a section (it has no key {'.'.join(rest)!r})")
    data[name] = _coerce(tp, value, key)


def _parse_items(overrides: Iterable[str] | Mapping[str, Any]) -> list[tuple[str, Any]]:
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    if isinstance(overrides, str):
        overrides = [overrides]
    items = []
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"config override {item!r} is not KEY=VALUE (e.g. ppo.lr=3e-4)")
        items.append((key.strip(), value.strip()))
    return items


def apply_overrides(cfg: C, overrides: Iterable[str] | Mapping[str, Any]) -> C:
    """A copy of ``cfg`` with each ``"dotted.key=value"`` (or ``{dotted.key: value}``) applied.

    All overrides are applied before the config's checks run, so interdependent values (``ppo.n_envs``
    and ``ppo.n_minibatches``) can change together. Raises :class:`ConfigError` for a malformed item,
    an unknown key (listing the valid keys at that level), a value that does not parse as the field's
    type or a result that fails a field's check.
    """
    items = _parse_items(overrides)
    if not items:
        return cfg
    data = to_dict(cfg)
    for key, value in items:
        _set(type(cfg), data, key.split("."), value)
    return from_dict(data, type(cfg))


# --------------------------------------------------------------------------------------------------
# Plain-dict round trip
# --------------------------------------------------------------------------------------------------


def to_dict(cfg: Any) -> dict[str, Any]:
    """``cfg`` as nested plain values (dicts, lists, str, int, float, bool) for a checkpoint's ``config``."""

    def plain(v: Any) -> Any:
        if is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def from_dict(d: Mapping[str, Any], cls: type[C] = TrainConfig) -> C:  # type: ignore[assignment]
    """Rebuild a ``cls`` config from :func:`to_dict` output.

    Keys absent from ``d`` take their defaults (so configs saved by an older mmbio still load); an
    unknown key or a bad value is a :class:`ConfigError` naming its dotted key.
    """

    def build(klass: type, data: Any, prefix: str) -> Any:
        if not isinstance(data, Mapping):
            raise ConfigError(f"config section {prefix or 'top level'!r} must be a mapping, got {type(data).__name__}")
        hints = _hints(klass)
        names = _field_names(klass)
        kwargs = {}
        for k, v in data.items():
            if k not in names:
                raise _unknown(str(k), prefix, klass)
            key = f"{prefix}.{k}" if prefix else str(k)
            tp = hints[k]
            kwargs[k] = build(tp, v, key) if isinstance(tp, type) and is_dataclass(tp) else _coerce(tp, v, key)
        return klass(**kwargs)

    return build(cls, d, "")
