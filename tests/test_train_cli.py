"""`mmbio train`: presets and overrides, checkpoints that resume and go straight into `mmbio validate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("jax")

from mmbio.cli import main
from mmbio.control.checkpoint import load_checkpoint

ARM = ["env.model=bimanual", "env.touch_obs=false", "env.lookahead_steps=1"]


def test_train_resume_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--config", "smoke", *ARM, "--updates", "2", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bimanual on mujoco, 16 worlds" in text and "update 2/2" in text and "steps/s" in text
    # the environment's metabolic power is logged whatever its reward weight: above the 15.2 kg × 1 W/kg floor of
    # the arm's muscles over its 16.5 kg (0.92 W/kg); the untrained policy (std 1 around 0.5) excites every muscle
    # heavily, measured 77-81 W/kg, near the 123 W/kg that activation heat alone costs at full excitation
    # (1.5 × (128 · 0.5 + 25) W/kg of muscle × 15.2/16.5)
    metab = [float(x.split("metabolic ")[1].split()[0]) for x in text.splitlines() if "metabolic " in x]
    assert len(metab) == 2 and all(20 < v < 250 for v in metab)
    ck = load_checkpoint(out / "latest.pkl")
    assert (
        ck.kind == "policy" and ck.config["env"]["model"] == "bimanual" and ck.metadata["training_state"]["update"] == 2
    )
    assert ck.metadata["obs_layout"]["phase"][1] == ck.controller["architecture"]["obs_size"]
    assert main(["train", "--config", "smoke", *ARM, "--updates", "3", "--resume", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "resumed from" in text and "update 3/3" in text
    assert load_checkpoint(out / "latest.pkl").metadata["training_state"]["update"] == 3
    assert main(["info", str(out / "latest.pkl")]) == 0
    assert "'policy' for bimanual" in capsys.readouterr().out


def test_unknown_config_key_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", "smoke", "ppo.lrr=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ppo.lrr" in err[0] and "did you mean ppo.lr" in err[0]
    assert main(["train", "--config", "nope"]) == 2
    assert "unknown config preset" in capsys.readouterr().err


def test_validate_hook_keeps_metrics_beside_the_checkpoint(tmp_path: Path, capsys) -> None:
    """MyoFullBody, one update of an untrained policy: it falls, and the metrics.json beside the checkpoint says so."""
    out = tmp_path / "walk"
    args = ["train", "--config", "smoke", "env.model=myofullbody", "env.lookahead_steps=1", "ppo.n_envs=4",
            "ppo.n_minibatches=2", "--updates", "1", "--validate", "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    doc = json.loads((out / "checkpoint_000001.metrics.json").read_text())
    assert doc["fell"] is True and doc["trial"]["controller"]["kind"] == "policy"
