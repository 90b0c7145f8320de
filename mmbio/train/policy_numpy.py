"""Evaluate an exported policy with numpy only (no JAX): what ``mmbio validate`` uses to roll a policy out.

:func:`numpy_policy` reads a checkpoint's ``controller`` as written by
:func:`mmbio.train.networks.export_policy`::

    controller = {
        "architecture": {"type": "gaussian_mlp", "obs_size": n_obs, "action_size": n_act,
                         "actor_hidden": [...], "critic_hidden": [...], "activation": "silu",
                         "layer_norm": True, "layer_norm_eps": 1e-5, "layer_order": "dense-layernorm-activation"},
        "params": {"actor": MLP, "log_std": (n_act,), ["critic": MLP]},
        "obs_normalizer": {"enabled": True, "mean": (n_obs,), "var": (n_obs,), "count": float,
                           "eps": 1e-8, "clip": 10.0},
        "action_mapping": {"kind": "clip" | "sigmoid", "low": 0.0, "high": 1.0},
    }

where an MLP is ``{"layers": [{"kernel": (n_in, n_out), "bias": (n_out,), "ln_scale": (n_out,),
"ln_bias": (n_out,)}, ...], "out": {"kernel": (n_in, n_out), "bias": (n_out,)}}`` (no ``ln_*`` keys
without LayerNorm). The forward pass, in float64:

* ``x = clip((obs - mean) / sqrt(var + eps), -clip, clip)`` (skipped when the normaliser is disabled);
* per hidden layer ``x = act(LayerNorm(x @ kernel + bias))`` with
  ``LayerNorm(y) = (y - mean(y)) / sqrt(var(y) + layer_norm_eps) * ln_scale + ln_bias`` (biased variance);
* ``mean = x @ out.kernel + out.bias``: the Gaussian mean in the unbounded action space;
* excitation ``= clip(mean, low, high)`` (``'clip'``) or ``low + (high - low) * sigmoid(mean)`` (``'sigmoid'``).

The normaliser is frozen: evaluating never changes its statistics.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.special import expit

from mmbio.errors import MmbioError

__all__ = ["ACTIVATIONS_NP", "NumpyPolicy", "PolicyFormatError", "map_action_np", "numpy_policy"]


class PolicyFormatError(MmbioError):
    """A policy controller dict that lacks a key or whose arrays have inconsistent shapes."""


def _gelu(x: np.ndarray) -> np.ndarray:
    """tanh-approximate GELU (``jax.nn.gelu``'s default)."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


#: Activation name → numpy implementation (the same functions as :mod:`mmbio.train.networks` uses in JAX).
ACTIVATIONS_NP: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "silu": lambda x: x * expit(x),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "gelu": _gelu,
}


def map_action_np(action: np.ndarray, kind: str = "clip", low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Unbounded policy action → excitation in ``[low, high]`` by ``'clip'`` or ``'sigmoid'``."""
    if kind == "clip":
        return np.clip(action, low, high)
    if kind == "sigmoid":
        return low + (high - low) * expit(action)
    raise PolicyFormatError(f"unknown action mapping {kind!r}; expected 'clip' or 'sigmoid'")


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise PolicyFormatError(f"policy controller: {where} lacks {key!r}")
    return d[key]


def _f64(a: Any, where: str, ndim: int) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu":
        raise PolicyFormatError(f"policy controller: {where} must be a numeric numpy array, got {type(a).__name__}")
    arr = np.asarray(a, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise PolicyFormatError(f"policy controller: {where} contains NaN or infinite values")
    if arr.ndim != ndim:
        raise PolicyFormatError(f"policy controller: {where} has shape {arr.shape}, expected {ndim} dimensions")
    return arr


def _num(d: Mapping[str, Any], key: str, default: float, where: str, lo: float, hi: float) -> float:
    """A finite number in [lo, hi] from a checkpoint dict (``default`` when absent)."""
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not lo <= v <= hi:
        raise PolicyFormatError(f"policy controller: {where}.{key} must be a number in [{lo:g}, {hi:g}], got {v!r:.40}")
    return float(v)


def _flag(d: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    v = d.get(key, default)
    if not isinstance(v, (bool, np.bool_)):
        raise PolicyFormatError(f"policy controller: {where}.{key} must be true or false, got {v!r:.40}")
    return bool(v)


def _section(d: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    v = _get(d, key, where)
    if not isinstance(v, Mapping):
        raise PolicyFormatError(f"policy controller: {where}.{key} must be a dict, got {type(v).__name__}")
    return v


class _MLP:
    """A numpy LayerNorm MLP read from an exported parameter dict (float64)."""

    def __init__(self, p: Mapping[str, Any], where: str, act: Callable, layer_norm: bool, eps: float) -> None:
        self.layers = []
        layers = _get(p, "layers", where)
        if not isinstance(layers, (list, tuple)):
            raise PolicyFormatError(f"policy controller: {where}.layers must be a list, got {type(layers).__name__}")
        for i, layer in enumerate(layers):
            w = f"{where}.layers[{i}]"
            k = _f64(_get(layer, "kernel", w), f"{w}.kernel", 2)
            b = _f64(_get(layer, "bias", w), f"{w}.bias", 1)
            ln = (
                (
                    _f64(_get(layer, "ln_scale", w), f"{w}.ln_scale", 1),
                    _f64(_get(layer, "ln_bias", w), f"{w}.ln_bias", 1),
                )
                if layer_norm
                else None
            )
            self.layers.append((k, b, ln))
        out = _section(p, "out", where)
        self.out = (
            _f64(_get(out, "kernel", f"{where}.out"), f"{where}.out.kernel", 2),
            _f64(_get(out, "bias", f"{where}.out"), f"{where}.out.bias", 1),
        )
        sizes = [k.shape for k, _, _ in self.layers] + [self.out[0].shape]
        for (_, n_out), (n_in, _) in itertools.pairwise(sizes):
            if n_out != n_in:
                raise PolicyFormatError(f"policy controller: {where} layer sizes do not chain: {sizes}")
        self.n_in = sizes[0][0]
        self.n_out = self.out[0].shape[1]
        self.act = act
        self.eps = eps

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for k, b, ln in self.layers:
            x = x @ k + b
            if ln is not None:
                mu = x.mean(axis=-1, keepdims=True)
                var = np.square(x - mu).mean(axis=-1, keepdims=True)
                x = (x - mu) / np.sqrt(var + self.eps) * ln[0] + ln[1]
            x = self.act(x)
        return x @ self.out[0] + self.out[1]


class NumpyPolicy:
    """A frozen exported policy: ``policy(obs)`` is the action mean, ``policy.excitation(obs)`` in [0, 1].

    obs: ``(B, n_obs)`` or ``(n_obs,)``; outputs ``(B, n_act)`` or ``(n_act,)`` float64.
    Attributes: ``obs_size``, ``action_size``, ``log_std`` ``(n_act,)``, ``action_mapping`` (kind, low, high),
    ``has_critic``.
    """

    def __init__(self, controller: Mapping[str, Any]) -> None:
        arch = _section(controller, "architecture", "controller")
        params = _section(controller, "params", "controller")
        act_name = arch.get("activation", "silu")
        if not isinstance(act_name, str) or act_name not in ACTIVATIONS_NP:
            raise PolicyFormatError(
                f"policy controller: unknown activation {act_name!r:.40}; known: {list(ACTIVATIONS_NP)}"
            )
        layer_norm = _flag(arch, "layer_norm", True, "architecture")
        eps = _num(arch, "layer_norm_eps", 1e-5, "architecture", 1e-12, 1.0)
        act = ACTIVATIONS_NP[act_name]
        self.actor = _MLP(_section(params, "actor", "params"), "params.actor", act, layer_norm, eps)
        self.critic = (
            _MLP(_section(params, "critic", "params"), "params.critic", act, layer_norm, eps)
            if "critic" in params
            else None
        )
        self.log_std = _f64(_get(params, "log_std", "params"), "params.log_std", 1)
        self.obs_size = self.actor.n_in
        self.action_size = self.actor.n_out
        if self.log_std.shape != (self.action_size,):
            raise PolicyFormatError(
                f"policy controller: log_std has shape {self.log_std.shape}, the actor outputs {self.action_size}"
            )
        for key, n in (("obs_size", self.obs_size), ("action_size", self.action_size)):
            if key in arch and _num(arch, key, 0, "architecture", 0, 1e9) != n:
                raise PolicyFormatError(f"policy controller: architecture {key}={arch[key]} but the actor has {n}")
        norm = controller.get("obs_normalizer", controller.get("obs_normaliser"))
        if norm is not None and not isinstance(norm, Mapping):
            raise PolicyFormatError(f"policy controller: obs_normalizer must be a dict, got {type(norm).__name__}")
        self.normalise = norm is not None and _flag(norm, "enabled", True, "obs_normalizer")
        if self.normalise:
            self.obs_mean = _f64(_get(norm, "mean", "obs_normalizer"), "obs_normalizer.mean", 1)
            var = _f64(_get(norm, "var", "obs_normalizer"), "obs_normalizer.var", 1)
            if self.obs_mean.shape != (self.obs_size,) or var.shape != (self.obs_size,):
                raise PolicyFormatError(
                    f"policy controller: normaliser mean/var shapes {self.obs_mean.shape}/{var.shape} "
                    f"do not match the actor's {self.obs_size} inputs"
                )
            if np.any(var < 0):
                raise PolicyFormatError("policy controller: obs_normalizer.var has negative entries")
            self.obs_std = np.sqrt(var + _num(norm, "eps", 1e-8, "obs_normalizer", 0.0, 1.0))
            self.obs_clip = _num(norm, "clip", np.inf, "obs_normalizer", 0.0, np.inf) if "clip" in norm else np.inf
            if not np.all(self.obs_std > 0):
                raise PolicyFormatError("policy controller: obs_normalizer.var + eps must be > 0")
        am = controller.get("action_mapping") or {"kind": "clip", "low": 0.0, "high": 1.0}
        if not isinstance(am, Mapping) or am.get("kind", "clip") not in ("clip", "sigmoid"):
            raise PolicyFormatError("policy controller: action_mapping must be a dict with kind 'clip' or 'sigmoid'")
        low = _num(am, "low", 0.0, "action_mapping", -1e6, 1e6)
        high = _num(am, "high", 1.0, "action_mapping", low, 1e6)
        self.action_mapping = (str(am.get("kind", "clip")), low, high)

    @property
    def has_critic(self) -> bool:
        """Whether the export includes the value network (:meth:`value` works)."""
        return self.critic is not None

    def normalised(self, obs: np.ndarray) -> np.ndarray:
        """The frozen normaliser applied to ``obs`` ``(..., n_obs)`` (float64)."""
        x = np.asarray(obs, dtype=np.float64)
        if x.shape[-1:] != (self.obs_size,):
            raise PolicyFormatError(f"observation has shape {x.shape}; the policy expects (..., {self.obs_size})")
        if not self.normalise:
            return x
        return np.clip((x - self.obs_mean) / self.obs_std, -self.obs_clip, self.obs_clip)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Action mean (unbounded space), ``(..., n_act)``."""
        return self.actor(self.normalised(obs))

    def excitation(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic muscle excitations: the action mapping applied to the mean, ``(..., n_act)`` in [0, 1]."""
        return map_action_np(self(obs), *self.action_mapping)

    def value(self, obs: np.ndarray) -> np.ndarray:
        """Critic value ``(...,)``; raises :class:`PolicyFormatError` when the export has no critic."""
        if self.critic is None:
            raise PolicyFormatError("policy controller was exported without its critic")
        return self.critic(self.normalised(obs))[..., 0]


def numpy_policy(controller: Mapping[str, Any]) -> NumpyPolicy:
    """A :class:`NumpyPolicy` for a checkpoint's ``controller`` (see the module docs for the layout)."""
    return NumpyPolicy(controller)
