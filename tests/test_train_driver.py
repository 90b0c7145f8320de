"""The training driver: periodic atomic checkpoints with the full training state, resume, refusal of mismatches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from mmbio.control.checkpoint import load_checkpoint  # noqa: E402
from mmbio.errors import MmbioError  # noqa: E402
from mmbio.train.config import get_config  # noqa: E402
from mmbio.train.driver import progress_line, train  # noqa: E402
from mmbio.train.policy_numpy import numpy_policy  # noqa: E402
from mmbio.train.ppo import make_trainer  # noqa: E402
from mmbio.train.toy_env import PointMassTrackingEnv  # noqa: E402

OVR = ["ppo.n_envs=16", "ppo.n_steps=16", "ppo.n_minibatches=2", "checkpoint_every=2", "log_every=1"]


@pytest.fixture(scope="module")
def env() -> PointMassTrackingEnv:
    return PointMassTrackingEnv(n_envs=16)


def test_checkpoints_resume_and_policy(tmp_path: Path, env: PointMassTrackingEnv) -> None:
    cfg = get_config("smoke", OVR)
    lines: list[str] = []
    ticks: list[tuple] = []
    first = train(cfg, env, tmp_path, n_updates=4, log=lines.append, progress=lambda *a: ticks.append(a))
    assert [p.name for p in first.checkpoints] == ["checkpoint_000002.pkl", "checkpoint_000004.pkl"]
    assert len(first.history) == 4 and len(lines) == 4 and "steps/s" in lines[-1] and "return" in lines[-1]
    # the progress callback (the CLI's bar) runs once per chunk with the chunk's metrics
    assert [(t[0], t[1]) for t in ticks] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert ticks[-1][2]["episode_return"] == pytest.approx(first.history[-1]["episode_return"], nan_ok=True)
    assert all(t[3] > 0 for t in ticks)
    latest = load_checkpoint(tmp_path / "latest.pkl")
    assert latest.kind == "policy" and latest.metadata["training_state"]["update"] == 4
    assert latest.config["ppo"]["n_envs"] == 16  # the resolved config travels with the checkpoint
    # the exported policy acts exactly like the trainer's deterministic policy (numpy, no JAX)
    pol = numpy_policy(latest.controller)
    _, obs = env.reset(jax.random.key(3))
    from mmbio.train.ppo import deterministic_policy

    want = np.asarray(deterministic_policy(first.state.params, first.state.norm, cfg)(obs, jax.random.key(0)))
    np.testing.assert_allclose(pol.excitation(np.asarray(obs)), want, atol=1e-5)

    # resume: continues at update 4 with the saved parameters and optimiser, up to 6
    lines.clear()
    second = train(cfg, env, tmp_path, n_updates=6, resume=True, log=lines.append)
    assert lines[0].startswith("resumed from") and "update 4" in lines[0]
    assert len(second.history) == 2 and int(second.state.update) == 6
    trainer = make_trainer(cfg, env)
    from mmbio.train.driver import load_training_state

    restored = load_training_state(tmp_path / "checkpoint_000004.pkl", trainer, trainer.init(jax.random.key(9)), cfg)
    for a, b in zip(
        jax.tree_util.tree_leaves(restored.params), jax.tree_util.tree_leaves(first.state.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(restored.update) == 4


def test_resume_refuses_another_network(tmp_path: Path, env: PointMassTrackingEnv) -> None:
    train(get_config("smoke", OVR), env, tmp_path, n_updates=2, log=None)
    other = get_config("smoke", [*OVR, "ppo.actor_hidden=16,16"])
    with pytest.raises(MmbioError, match="actor_hidden"):
        train(other, env, tmp_path, n_updates=4, resume=True, log=None)
    with pytest.raises(MmbioError, match="nothing to resume"):
        train(get_config("smoke", OVR), env, tmp_path / "empty", resume=True, log=None)


def test_progress_line() -> None:
    m = {"episode_return": 24.1, "episode_length": 88.4, "n_episodes": 10.0, "n_done": 5.0}
    line = progress_line(100, 400, m, 1234.4, elapsed_s=60.0, width=24)
    # a quarter done in 60 s → 180 s to go
    assert line == (
        "train [######..................] 100/400 updates  1,234 steps/s  return 24.1  length 88  termination 50%  "
        "ETA 3 min"
    )
    assert progress_line(0, 400, {}, 0.0, elapsed_s=1.0).endswith("return n/a  length n/a  termination n/a  ETA n/a")
    assert progress_line(390, 400, m, 1.0, elapsed_s=39.0).endswith("ETA 1 s")
