"""Training configs: presets, dotted overrides with type coercion, clear errors, plain-dict round trip."""

from __future__ import annotations

import math
import pickle

import pytest

from mmbio.errors import MmbioError
from mmbio.train.config import (
    PRESETS,
    ConfigError,
    EnvConfig,
    PPOConfig,
    TrainConfig,
    apply_overrides,
    from_dict,
    get_config,
    to_dict,
)


def test_presets_build_and_are_frozen() -> None:
    for name in PRESETS:
        cfg = get_config(name)
        assert isinstance(cfg, TrainConfig) and cfg.name == name
        assert cfg.ppo.n_epochs == 1  # one epoch per batch everywhere (MuscleMimic)
        assert cfg.ppo.batch_size % cfg.ppo.n_minibatches == 0
    mm = get_config("musclemimic")
    assert (mm.ppo.n_envs, mm.ppo.n_steps, mm.ppo.n_minibatches) == (8192, 20, 128)
    assert math.isclose(math.exp(mm.ppo.init_log_std), 3.0)
    assert get_config("bimanual").env.model == "bimanual"
    with pytest.raises(AttributeError):
        mm.ppo.lr = 1.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"unknown config preset 'nope'.*default"):
        get_config("nope")


def test_overrides_and_coercion() -> None:
    cfg = apply_overrides(
        get_config("default"),
        [
            "ppo.lr=3e-4",
            "env.control_hz=50",
            "ppo.n_envs=1e3",
            "ppo.n_minibatches=10",
            "ppo.total_env_steps=100_000",
            "ppo.actor_hidden=(256, 128)",
            "ppo.critic_hidden=[64]",
            "ppo.anneal_lr=off",
            "ppo.normalise_obs=True",
            "ppo.activation=tanh",
            "env.reward.site_pos_w=2",
            "env.termination.site_check=no",
            "env.variant=full",
            "name=run7",
        ],
    )
    assert cfg.ppo.lr == 3e-4 and isinstance(cfg.ppo.lr, float)
    assert cfg.env.control_hz == 50 and cfg.env.n_substeps == 10
    assert cfg.ppo.n_envs == 1000 and isinstance(cfg.ppo.n_envs, int)
    assert cfg.ppo.total_env_steps == 100_000
    assert cfg.ppo.actor_hidden == (256, 128) and cfg.ppo.critic_hidden == (64,)
    assert cfg.ppo.anneal_lr is False and cfg.ppo.normalise_obs is True
    assert cfg.ppo.activation == "tanh"
    assert cfg.env.reward.site_pos_w == 2.0 and isinstance(cfg.env.reward.site_pos_w, float)
    assert cfg.env.termination.site_check is False
    assert (cfg.env.variant, cfg.name) == ("full", "run7")
    # a mapping of plain values works too, and the original is untouched
    cfg2 = apply_overrides(cfg, {"ppo.gamma": 0.95, "ppo.actor_hidden": [32, 32]})
    assert cfg2.ppo.gamma == 0.95 and cfg2.ppo.actor_hidden == (32, 32) and cfg.ppo.gamma == 0.99
    assert apply_overrides(cfg, []) is cfg
    # overrides are applied together, so interdependent values can change at once
    small = apply_overrides(get_config("default"), ["ppo.n_envs=6", "ppo.n_steps=5", "ppo.n_minibatches=3"])
    assert small.ppo.minibatch_size == 10


def test_unknown_key_names_it_and_lists_valid_keys() -> None:
    cfg = get_config("default")
    with pytest.raises(ConfigError) as e:
        apply_overrides(cfg, ["ppo.lrr=1e-3"])
    msg = str(e.value)
    assert "'ppo.lrr'" in msg and "did you mean ppo.lr" in msg
    assert "valid keys under 'ppo'" in msg and "n_minibatches" in msg and "init_log_std" in msg
    assert isinstance(e.value, MmbioError)
    with pytest.raises(
        ConfigError, match=r"unknown config key 'foo'; valid keys at the top level: name, algo, ppo, env, distill"
    ):
        apply_overrides(cfg, ["foo=1"])
    with pytest.raises(ConfigError, match=r"'env.reward.nope'.*valid keys under 'env.reward': qpos_w"):
        apply_overrides(cfg, ["env.reward.nope=1"])
    with pytest.raises(ConfigError, match="'ppo' is a section"):
        apply_overrides(cfg, ["ppo=3"])
    with pytest.raises(ConfigError, match=r"'ppo\.lr' is a value, not a section"):
        apply_overrides(cfg, ["ppo.lr.x=3"])
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        apply_overrides(cfg, ["ppo.lr"])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("ppo.lr=fast", r"ppo.lr='fast': expected a number"),
        ("ppo.n_envs=12.5", r"ppo.n_envs='12.5': expected an integer"),
        ("ppo.anneal_lr=maybe", r"ppo.anneal_lr='maybe': expected a bool"),
        ("ppo.actor_hidden=64,,64", "empty item"),
        ("ppo.actor_hidden=64,x", r"actor_hidden\[1\]='x': expected an integer"),
        ("ppo.lr=-1", r"ppo.lr=-1.0: must be a finite number > 0"),
        ("ppo.lr=nan", "must be a finite number"),
        ("ppo.gamma=1.5", "must lie in"),
        ("ppo.n_minibatches=7", "must divide the batch"),
        ("ppo.activation=swish", "choose one of"),
        ("ppo.action_mapping=tanh", "choose one of"),
        ("env.model=humanoid", r"env.model='humanoid': choose one of \('myofullbody', 'bimanual'\)"),
        ("env.control_hz=33", "whole number"),
        ("env.physics_dt=0", r"must lie in \[1e-5, 0.1\] s"),
        ("ppo.n_envs=10000000000", r"ppo.n_envs=10000000000: must be an integer in \[1, 1,048,576\]"),
        ("ppo.actor_hidden=8589934592", "at most 64 layers of 1 to 65,536 units"),
        ("ppo.seed=-1", r"ppo.seed=-1: must be an integer in \[0, 2\*\*63\)"),
        ("env.lookahead_steps=1000000000", r"env.lookahead_steps=1000000000: must be an integer in \[0, 1,000\]"),
        ("env.horizon=0", "must be an integer in"),
        ("checkpoint_every=-1", r"must be in \[1, 1e9\]"),
        ("ppo.lr=" + "9" * 5000, r"ppo.lr=inf: must be a finite number|ppo.lr='9999"),
    ],
)
def test_bad_values(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        apply_overrides(get_config("default"), [override])


def test_round_trip_plain_values() -> None:
    cfg = get_config("bimanual", ["ppo.actor_hidden=128,64", "env.reward.qvel_w=0.25", "ppo.seed=7"])
    d = to_dict(cfg)
    # plain values only: dicts, lists, str, int, float, bool (what a checkpoint's config holds)

    def walk(v: object) -> None:
        if isinstance(v, dict):
            assert all(isinstance(k, str) for k in v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert type(v) in (str, int, float, bool), (v, type(v))

    walk(d)
    assert d["ppo"]["actor_hidden"] == [128, 64] and d["env"]["reward"]["qvel_w"] == 0.25
    assert from_dict(pickle.loads(pickle.dumps(d))) == cfg
    assert from_dict(to_dict(cfg.ppo), PPOConfig) == cfg.ppo
    # keys missing from an older config take their defaults; unknown keys are refused
    old = to_dict(cfg)
    del old["ppo"]["normalise_rewards"], old["env"]["termination"]
    back = from_dict(old)
    assert back.ppo.normalise_rewards is True and back.env.termination == EnvConfig().termination
    old["ppo"]["mystery"] = 1
    with pytest.raises(ConfigError, match=r"unknown config key 'ppo\.mystery'"):
        from_dict(old)
    with pytest.raises(ConfigError, match="must be a mapping"):
        from_dict({"ppo": 3})
