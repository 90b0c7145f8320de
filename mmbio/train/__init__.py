"""GPU imitation training for muscle-driven humanoids (PPO in pure JAX).

Modules (only :mod:`~mmbio.train.ppo`, :mod:`~mmbio.train.networks`, :mod:`~mmbio.train.vecenv` and
:mod:`~mmbio.train.toy_env` import JAX; install the ``train`` extra for them):

* :mod:`mmbio.train.config`: frozen dataclass configs, presets, dotted overrides, plain-dict round trip.
* :mod:`mmbio.train.vecenv`: the functional, batched environment interface the trainer drives.
* :mod:`mmbio.train.networks`: LayerNorm MLP actor (Gaussian, state-independent log-std) and critic;
  export to a checkpoint's ``controller``.
* :mod:`mmbio.train.policy_numpy`: the numpy-only evaluator of an exported policy (no JAX needed).
* :mod:`mmbio.train.ppo`: observation normaliser, GAE, PPO loss and the jitted rollout + update loop.
* :mod:`mmbio.train.toy_env`: a small pure-JAX muscle-like tracking task (smoke tests, examples).

This package ``__init__`` imports nothing, so ``mmbio.train.policy_numpy`` and ``mmbio.train.config``
work on machines without JAX.
"""
