"""Actor and critic in plain JAX: LayerNorm MLPs, a Gaussian policy with a state-independent log-std.

Parameters are a nested dict (a JAX pytree) whose layout is also the exported checkpoint layout::

    {"actor":  {"layers": [{"kernel": (n_in, h), "bias": (h,), "ln_scale": (h,), "ln_bias": (h,)}, ...],
                "out": {"kernel": (h, n_act), "bias": (n_act,)}},
     "log_std": (n_act,),
     "critic": {"layers": [...], "out": {"kernel": (h, 1), "bias": (1,)}}}

Hidden layer: ``act(LayerNorm(x @ kernel + bias))`` (``ln_*`` absent without LayerNorm); output layer
linear. Initialisation (the CleanRL/MuscleMimic convention): orthogonal kernels with gain √2 for hidden
layers, 0.01 for the actor's output (near-zero initial mean) and 1 for the critic's output; zero
biases; LayerNorm scale 1, bias 0; ``log_std`` filled with ``init_log_std``.

The policy samples ``a ~ N(mean(obs), exp(log_std)²)`` in an unbounded space; log-probabilities and the
entropy are those of this Gaussian. The environment receives excitations ``map_action(a)`` in [0, 1]:
``'clip'`` (``clip(a, 0, 1)``, MuscleMimic's effective mapping) or ``'sigmoid'``.

:func:`export_policy` turns parameters and the frozen observation normaliser into the plain-numpy
``controller`` of a ``'policy'`` checkpoint; :mod:`mmbio.train.policy_numpy` evaluates it without JAX.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mmbio.train.config import PPOConfig, TrainConfig

__all__ = [
    "ACTIVATIONS_JAX",
    "NORMALISER_EPS",
    "Params",
    "actor_mean",
    "critic_value",
    "export_policy",
    "gaussian_entropy",
    "gaussian_log_prob",
    "init_actor_critic",
    "init_mlp",
    "make_policy_checkpoint",
    "map_action",
    "mlp_apply",
]

Params = dict[str, Any]

#: Activation name → JAX function (mirrored by :data:`mmbio.train.policy_numpy.ACTIVATIONS_NP`).
ACTIVATIONS_JAX: dict[str, Callable[[jax.Array], jax.Array]] = {
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=True),
}

_LOG_2PI = math.log(2.0 * math.pi)

#: Variance floor of the observation normaliser: ``(obs - mean) / sqrt(var + NORMALISER_EPS)``.
NORMALISER_EPS = 1e-8


def _ppo(config: PPOConfig | TrainConfig) -> PPOConfig:
    return config.ppo if isinstance(config, TrainConfig) else config


def init_mlp(
    key: jax.Array, n_in: int, hidden: tuple[int, ...], n_out: int, *, layer_norm: bool, out_gain: float
) -> Params:
    """Parameters of an MLP ``n_in → hidden… → n_out`` (see the module docs for the init)."""
    keys = jax.random.split(key, len(hidden) + 1)
    hidden_init = jax.nn.initializers.orthogonal(math.sqrt(2.0))
    layers = []
    for k, (a, b) in zip(keys[:-1], itertools.pairwise((n_in, *hidden)), strict=True):
        layer = {"kernel": hidden_init(k, (a, b), jnp.float32), "bias": jnp.zeros(b, jnp.float32)}
        if layer_norm:
            layer["ln_scale"] = jnp.ones(b, jnp.float32)
            layer["ln_bias"] = jnp.zeros(b, jnp.float32)
        layers.append(layer)
    last = hidden[-1] if hidden else n_in
    out = {
        "kernel": jax.nn.initializers.orthogonal(out_gain)(keys[-1], (last, n_out), jnp.float32),
        "bias": jnp.zeros(n_out, jnp.float32),
    }
    return {"layers": layers, "out": out}


def mlp_apply(p: Params, x: jax.Array, activation: str, layer_norm_eps: float) -> jax.Array:
    """MLP forward pass: ``x`` ``(..., n_in)`` → ``(..., n_out)``; LayerNorm where the layer has ``ln_scale``."""
    act = ACTIVATIONS_JAX[activation]
    for layer in p["layers"]:
        x = x @ layer["kernel"] + layer["bias"]
        if "ln_scale" in layer:
            mu = jnp.mean(x, axis=-1, keepdims=True)
            var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
            x = (x - mu) * jax.lax.rsqrt(var + layer_norm_eps) * layer["ln_scale"] + layer["ln_bias"]
        x = act(x)
    return x @ p["out"]["kernel"] + p["out"]["bias"]


def init_actor_critic(key: jax.Array, obs_size: int, action_size: int, config: PPOConfig | TrainConfig) -> Params:
    """Actor, log-std and critic parameters for ``obs_size`` inputs and ``action_size`` muscles."""
    cfg = _ppo(config)
    ka, kc = jax.random.split(key)
    return {
        "actor": init_mlp(ka, obs_size, cfg.actor_hidden, action_size, layer_norm=cfg.layer_norm, out_gain=0.01),
        "log_std": jnp.full(action_size, cfg.init_log_std, jnp.float32),
        "critic": init_mlp(kc, obs_size, cfg.critic_hidden, 1, layer_norm=cfg.layer_norm, out_gain=1.0),
    }


def actor_mean(params: Params, obs: jax.Array, config: PPOConfig | TrainConfig) -> jax.Array:
    """Gaussian mean ``(..., n_act)`` for normalised observations ``obs`` ``(..., n_obs)``."""
    cfg = _ppo(config)
    return mlp_apply(params["actor"], obs, cfg.activation, cfg.layer_norm_eps)


def critic_value(params: Params, obs: jax.Array, config: PPOConfig | TrainConfig) -> jax.Array:
    """State value ``(...,)`` for normalised observations ``obs`` ``(..., n_obs)``."""
    cfg = _ppo(config)
    return mlp_apply(params["critic"], obs, cfg.activation, cfg.layer_norm_eps)[..., 0]


def gaussian_log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Log-density ``(...,)`` of ``action`` ``(..., n_act)`` under the diagonal Gaussian (summed over muscles)."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy (nats, scalar) of the diagonal Gaussian with ``log_std`` ``(n_act,)``: Σ log σ + ½ log(2πe)."""
    return jnp.sum(log_std + 0.5 * (_LOG_2PI + 1.0))


def map_action(action: jax.Array, kind: str = "clip") -> jax.Array:
    """Unbounded action → excitation in [0, 1]: ``'clip'`` (``clip(a, 0, 1)``) or ``'sigmoid'``."""
    if kind == "clip":
        return jnp.clip(action, 0.0, 1.0)
    if kind == "sigmoid":
        return jax.nn.sigmoid(action)
    raise ValueError(f"unknown action mapping {kind!r}")


def _to_numpy(tree: Any) -> Any:
    """A pytree of arrays as nested plain dicts/lists of numpy arrays."""
    if isinstance(tree, Mapping):
        return {str(k): _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_to_numpy(v) for v in tree]
    return np.asarray(jax.device_get(tree))


def export_policy(
    params: Params, obs_normaliser: Any, config: PPOConfig | TrainConfig, *, include_critic: bool = False
) -> dict[str, Any]:
    """The plain-numpy ``controller`` of a ``'policy'`` checkpoint (layout in :mod:`mmbio.train.policy_numpy`).

    params: from :func:`init_actor_critic` / training. obs_normaliser: an object with ``mean``, ``var``
    (``(n_obs,)``) and ``count`` (e.g. :class:`mmbio.train.ppo.ObsNormaliser`), or ``None`` for none.
    include_critic: also export the value network (not needed to act).
    """
    cfg = _ppo(config)
    p = _to_numpy(params)
    obs_size = int(
        p["actor"]["layers"][0]["kernel"].shape[0] if p["actor"]["layers"] else p["actor"]["out"]["kernel"].shape[0]
    )
    action_size = int(p["log_std"].shape[0])
    out_params = {"actor": p["actor"], "log_std": p["log_std"]}
    if include_critic:
        out_params["critic"] = p["critic"]
    if obs_normaliser is None or not cfg.normalise_obs:
        norm = {"enabled": False}
    else:
        norm = {
            "enabled": True,
            "mean": np.asarray(jax.device_get(obs_normaliser.mean), np.float64),
            "var": np.asarray(jax.device_get(obs_normaliser.var), np.float64),
            "count": float(np.asarray(jax.device_get(obs_normaliser.count))),
            "eps": NORMALISER_EPS,
            "clip": float(cfg.obs_clip),
        }
    return {
        "architecture": {
            "type": "gaussian_mlp",
            "obs_size": obs_size,
            "action_size": action_size,
            "actor_hidden": list(cfg.actor_hidden),
            "critic_hidden": list(cfg.critic_hidden),
            "activation": cfg.activation,
            "layer_norm": bool(cfg.layer_norm),
            "layer_norm_eps": float(cfg.layer_norm_eps),
            "layer_order": "dense-layernorm-activation",
            "log_std": "state-independent",
        },
        "params": out_params,
        "obs_normalizer": norm,
        "action_mapping": {"kind": cfg.action_mapping, "low": 0.0, "high": 1.0},
        "framework": "mmbio.train (JAX), numpy evaluator mmbio.train.policy_numpy",
    }


def make_policy_checkpoint(
    params: Params,
    obs_normaliser: Any,
    config: TrainConfig,
    *,
    reference_motion: Any = None,
    metadata: dict[str, Any] | None = None,
    include_critic: bool = False,
) -> Any:
    """A ``'policy'`` :class:`~mmbio.control.checkpoint.Checkpoint` for ``config.env``'s model, with the
    resolved config (:func:`~mmbio.train.config.to_dict`) saved in it."""
    from mmbio.control.checkpoint import make_checkpoint
    from mmbio.train.config import to_dict

    return make_checkpoint(
        "policy",
        export_policy(params, obs_normaliser, config, include_critic=include_critic),
        model=config.env.model,
        variant=config.env.variant or None,
        reference_motion=reference_motion,
        config=to_dict(config),
        metadata=metadata,
    )
