"""The worlds over several JAX devices: a 1-D mesh, per-world and replicated shardings, multi-process start-up.

The trainer (:func:`mmbio.train.ppo.make_trainer`) runs on ``ppo.devices`` devices (0: every device JAX sees).
With more than one it builds a 1-D :class:`~jax.sharding.Mesh` over them with the axis ``'worlds'``:

* every array with a leading ``n_envs`` axis (the environment state, the observations, the episode sums) is
  sharded along it, ``NamedSharding(mesh, P('worlds'))``: each device holds and steps ``n_envs / devices``
  worlds; the rollout buffers ``(n_steps, n_envs, ...)`` are sharded along their world axis;
* the network parameters, the optimiser state, the observation and return statistics, the PRNG key and the
  update counter are replicated, ``NamedSharding(mesh, P())``;
* each minibatch is sharded along its rows, so every device computes the gradient of its rows and the compiler
  sums them across devices (an all-reduce) before the Adam step that every device applies to its copy.

Nothing else changes: the update is one ``jax.jit`` program, and jit's result does not depend on how its inputs
are laid out, so 1 and N devices compute the same update, up to the order of floating-point sums across devices
(``tests/test_train_multidevice.py``). That includes the random numbers (``jax_threefry_partitionable``, JAX's
default, draws the same values for a sharded array) and the minibatch shuffle, which is global: a minibatch
gathers rows from every device's worlds: the compiler all-gathers the rollout buffers once per update, so every
device briefly holds the whole batch (a device-local shuffle would avoid that, but then the update would depend on
the device count).

Environments. A pure-JAX environment (:mod:`mmbio.train.toy_env`, the imitation environment's arithmetic) is
partitioned by the compiler along the world axis. The MuJoCo-C host physics (``env.backend='mujoco'``,
``jax.pure_callback``) runs on the host for all worlds at once: :func:`host_side` replicates the worlds' arrays on
every device (an all-gather) before the call, which then runs once, and its results are split again after it;
correct, but its physics does not get faster with devices. The MuJoCo Warp backend holds its worlds on one
GPU and cannot be sharded: ``ppo.devices=0`` means one device for it, and ``ppo.devices`` > 1 is refused.

Several processes (hosts). :func:`initialize_distributed` (called by ``mmbio train``) calls
``jax.distributed.initialize`` when ``MMBIO_COORDINATOR`` (``host:port`` of process 0), ``MMBIO_NUM_PROCESSES`` and
``MMBIO_PROCESS_ID`` are set; ``jax.devices()`` then lists every process's devices and the mesh spans them. Every
process runs the same command and writes the same checkpoints into its own ``--output`` (give each its own folder:
a folder is locked by the run in it). Tested (``tests/test_train_multidevice.py``): two processes on one machine,
one CPU device each (gloo collectives), the toy environment, the driver writing byte-identical checkpoints with the
1-device updates; resuming them was checked by hand. Not tested: separate hosts, GPUs, and the MuJoCo-C host physics
across processes (its callback would run in process 0 alone).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mmbio.errors import MmbioError
from mmbio.train.config import ConfigError

__all__ = [
    "AXIS",
    "constrain_worlds",
    "host_side",
    "initialize_distributed",
    "on_mesh",
    "replicated",
    "resolve_devices",
    "world_mesh",
    "world_shardings",
]

#: The mesh axis the worlds are split along.
AXIS = "worlds"


def _shardable(env: Any) -> bool:
    """Whether ``env``'s worlds can be split over devices (not the MuJoCo Warp backend, which holds one GPU's)."""
    return getattr(env, "backend", None) != "warp"


def resolve_devices(devices: int, n_envs: int, env: Any = None) -> list[Any]:
    """The devices a run of ``n_envs`` worlds uses for ``ppo.devices=devices`` (0: every device JAX sees).

    Raises :class:`~mmbio.train.config.ConfigError` (one line) when more devices are asked for than JAX sees,
    when ``n_envs`` does not divide by the device count, or when ``env`` cannot be sharded and ``devices`` > 1.
    """
    have = jax.devices()
    if devices == 0 and not _shardable(env):
        return have[:1]
    want = len(have) if devices == 0 else int(devices)
    if want > 1 and not _shardable(env):
        raise ConfigError(
            f"config ppo.devices={devices}: the {getattr(env, 'backend', '?')!r} backend holds its worlds on one "
            "device and cannot be sharded; set ppo.devices=1"
        )
    if want > len(have):
        raise ConfigError(
            f"config ppo.devices={devices}: JAX sees {len(have)} {have[0].platform} device"
            f"{'' if len(have) == 1 else 's'}"
        )
    if n_envs % want:
        said = "every device JAX sees" if devices == 0 else "as set"
        raise ConfigError(
            f"config ppo.n_envs={n_envs} does not divide by the {want} devices (ppo.devices={devices}: {said}); "
            "choose n_envs a multiple of the device count or set ppo.devices"
        )
    return have[:want]


def world_mesh(devices: list[Any]) -> Mesh | None:
    """A 1-D mesh with axis ``'worlds'`` over ``devices``; None for one device (the plain single-device path)."""
    if len(devices) <= 1:
        return None
    return Mesh(np.asarray(devices, dtype=object), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, P())


def _spec(shape: tuple[int, ...], n_envs: int, axis: int, n_dev: int) -> P:
    if len(shape) > axis and shape[axis] == n_envs and n_envs % n_dev == 0:
        return P(*([None] * axis), AXIS)
    return P()


def world_shardings(tree: Any, mesh: Mesh, n_envs: int, axis: int = 0) -> Any:
    """For each leaf of ``tree`` (arrays or ``ShapeDtypeStruct``): split along ``axis`` when that axis has
    ``n_envs`` entries, else replicated."""
    n_dev = mesh.devices.size
    return jax.tree_util.tree_map(lambda a: NamedSharding(mesh, _spec(tuple(a.shape), n_envs, axis, n_dev)), tree)


def constrain_worlds(tree: Any, mesh: Mesh | None, n_rows: int, axis: int = 0) -> Any:
    """Inside jit: leaves whose ``axis`` has ``n_rows`` entries (and ``n_rows`` divides by the device count) are
    split along it over ``mesh``; other leaves are left to the compiler. Identity without a mesh."""
    if mesh is None:
        return tree
    n_dev = mesh.devices.size

    def one(a: Any) -> Any:
        spec = _spec(tuple(a.shape), n_rows, axis, n_dev)
        return jax.lax.with_sharding_constraint(a, NamedSharding(mesh, spec)) if spec != P() else a

    return jax.tree_util.tree_map(one, tree)


_MESH: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar("mmbio_world_mesh", default=None)


@contextlib.contextmanager
def _tracing_on(mesh: Mesh | None) -> Iterator[None]:
    token = _MESH.set(mesh)
    try:
        yield
    finally:
        _MESH.reset(token)


def on_mesh(fn: Callable[..., Any], mesh: Mesh | None) -> Callable[..., Any]:
    """``fn`` traced with ``mesh`` as the worlds' mesh (what :func:`host_side` sees); ``fn`` itself without a mesh."""
    if mesh is None:
        return fn

    def traced(*args: Any) -> Any:
        with _tracing_on(mesh):
            return fn(*args)

    return traced


def host_side(tree: Any) -> Any:
    """Inside a trainer's program on several devices: ``tree`` replicated on every device (for a host callback that
    takes all worlds at once, before and after it: the compiler then gathers and splits the worlds explicitly instead
    of falling back to a full rematerialisation, with a warning). The identity elsewhere (one device, evaluation)."""
    mesh = _MESH.get()
    if mesh is None:
        return tree
    return jax.tree_util.tree_map(lambda a: jax.lax.with_sharding_constraint(a, replicated(mesh)), tree)


def initialize_distributed(environ: dict[str, str] | None = None) -> bool:
    """``jax.distributed.initialize`` from ``MMBIO_COORDINATOR`` (``host:port`` of process 0),
    ``MMBIO_NUM_PROCESSES`` and ``MMBIO_PROCESS_ID``; nothing when ``MMBIO_COORDINATOR`` is unset. Returns whether
    it initialised. Call it before JAX runs anything. A missing or malformed variable is an
    :class:`~mmbio.errors.MmbioError` naming it."""
    env = os.environ if environ is None else environ
    addr = env.get("MMBIO_COORDINATOR", "").strip()
    if not addr:
        return False
    vals = {}
    for k in ("MMBIO_NUM_PROCESSES", "MMBIO_PROCESS_ID"):
        raw = env.get(k, "").strip()
        try:
            vals[k] = int(raw)
        except ValueError:
            raise MmbioError(f"MMBIO_COORDINATOR is set, so {k} must be an integer, got {raw!r}") from None
    n, i = vals["MMBIO_NUM_PROCESSES"], vals["MMBIO_PROCESS_ID"]
    if n < 1 or not 0 <= i < n:
        raise MmbioError(f"MMBIO_PROCESS_ID={i} must lie in [0, MMBIO_NUM_PROCESSES={n})")
    try:
        jax.distributed.initialize(coordinator_address=addr, num_processes=n, process_id=i)
    except Exception as e:  # JAX raises RuntimeError or XlaRuntimeError; one line for the CLI
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise MmbioError(
            f"jax.distributed.initialize (MMBIO_COORDINATOR={addr}, process {i} of {n}) failed: {first}"
        ) from None
    return True
