"""A policy checkpoint goes straight into `mmbio validate`: rolled out in its own imitation environment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from mmbio.cli import main  # noqa: E402
from mmbio.control.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from mmbio.sim.motion import synthesize_motion  # noqa: E402
from mmbio.train.config import get_config  # noqa: E402
from mmbio.train.imitation_env import ImitationEnv  # noqa: E402
from mmbio.train.networks import init_actor_critic, make_policy_checkpoint  # noqa: E402
from mmbio.train.ppo import normaliser_init  # noqa: E402
from mmbio.train.vecenv import plain_obs_layout  # noqa: E402


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained MyoFullBody walking policy (as `mmbio train` would save it, layout included)."""
    cfg = get_config("smoke", ["env.model=myofullbody", "env.lookahead_steps=1", "ppo.n_envs=1"])
    walk = synthesize_motion(speed_m_s=1.25, n_cycles=1)
    env = ImitationEnv(cfg.env, walk, n_envs=1)
    params = init_actor_critic(jax.random.key(0), env.obs_size, env.action_size, cfg.ppo)
    layout = plain_obs_layout(env)
    ckpt = make_policy_checkpoint(params, normaliser_init(env.obs_size), cfg, reference_motion=walk,
                                  metadata={"obs_layout": layout})  # fmt: skip
    return save_checkpoint(ckpt, tmp_path_factory.mktemp("pol") / "untrained.pkl")


def test_an_untrained_policy_falls_and_the_report_says_so(untrained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    code = main(["validate", str(untrained), "--output", str(out), "--no-spm"])
    err = capsys.readouterr().err
    assert code == 1 and "fell at" in err
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["fell"] is True and doc["metrics"] == {}
    ctl = doc["trial"]["controller"]
    assert ctl["kind"] == "policy" and 0 < ctl["fell_at"]["value"] < 2.0
    assert (out / "report.pdf").is_file()


def test_a_policy_from_another_observation_layout_is_refused(untrained: Path, tmp_path: Path, capsys) -> None:
    ckpt = load_checkpoint(untrained)
    layout = dict(ckpt.metadata["obs_layout"])
    layout["phase"] = [layout["phase"][0], layout["phase"][1] + 2]
    ckpt.metadata = {**ckpt.metadata, "obs_layout": layout}
    p = save_checkpoint(ckpt, tmp_path / "other.pkl")
    assert main(["validate", str(p), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "different observation layout" in err and "phase" in err and len(err.splitlines()) == 1
    assert np.isfinite(layout["phase"][1])
