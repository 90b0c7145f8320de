"""Multi-device training (issue 17 §2): the worlds split over 2 forced CPU devices, and over 2 processes with
``jax.distributed``, give the same PPO updates as 1 device with the same seed, to float tolerance.

JAX fixes its device count when it starts, so the 2-device runs are subprocesses with
``XLA_FLAGS=--xla_force_host_platform_device_count=2``; the 1-device reference runs here (this process has one
CPU device, or ``ppo.devices=1`` picks one). Tolerance rtol 1e-5, atol 1e-6: the only difference is the order of
float32 sums across devices (gradients, loss means, statistics); measured differences are ~1e-8 on the parameters.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from mmbio.control.checkpoint import load_checkpoint  # noqa: E402
from mmbio.errors import MmbioError  # noqa: E402
from mmbio.train.config import ConfigError, get_config  # noqa: E402
from mmbio.train.driver import train  # noqa: E402
from mmbio.train.ppo import make_trainer  # noqa: E402
from mmbio.train.sharding import initialize_distributed, resolve_devices  # noqa: E402
from mmbio.train.toy_env import PointMassTrackingEnv  # noqa: E402

N_ENVS = 8
OVR = [f"ppo.n_envs={N_ENVS}", "ppo.n_steps=8", "ppo.n_minibatches=2", "ppo.actor_hidden=16,16",
       "ppo.critic_hidden=16,16", "checkpoint_every=1", "log_every=1"]  # fmt: skip
RTOL, ATOL = 1e-5, 1e-6

# runs with 2 forced CPU devices: the driver (2 updates, a checkpoint after each), then the refusals
TWO_DEVICES = """
import json, shutil, sys
import jax
from mmbio.train.config import ConfigError, get_config
from mmbio.train.driver import train
from mmbio.train.ppo import make_trainer
from mmbio.train.toy_env import PointMassTrackingEnv

out, ovr, one_run = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
assert len(jax.devices()) == 2, jax.devices()
cfg = get_config("smoke", ovr)  # ppo.devices=0: both devices
lines = []
res = train(cfg, PointMassTrackingEnv(n_envs=cfg.ppo.n_envs), out + "/run", n_updates=2, log=lines.append)
s = res.state
layout = {
    "obs_spec": list(s.obs.sharding.spec),
    "obs_shard_rows": int(s.obs.addressable_shards[0].data.shape[0]),
    "env_pos_spec": list(s.env_state.pos.sharding.spec),
    "params_replicated": all(x.sharding.is_fully_replicated for x in jax.tree_util.tree_leaves(s.params)),
    "opt_replicated": all(x.sharding.is_fully_replicated for x in jax.tree_util.tree_leaves(s.opt_state)),
}
refused = {}
for name, devices, n in (("odd_worlds", 0, 9), ("too_many", 4, 8)):
    c = get_config("smoke", [*ovr, f"ppo.n_envs={n}", "ppo.n_minibatches=1"])
    try:
        make_trainer(c, PointMassTrackingEnv(n_envs=n), devices=devices)
        refused[name] = None
    except ConfigError as e:
        refused[name] = str(e)
# the 1-device run's checkpoint resumes here on 2 devices
shutil.copytree(one_run, out + "/from_one")
again = train(cfg, PointMassTrackingEnv(n_envs=cfg.ppo.n_envs), out + "/from_one", n_updates=3, resume=True, log=None)
resumed = {"update": int(again.state.update), "obs_spec": list(again.state.obs.sharding.spec),
           "params_replicated": all(x.sharding.is_fully_replicated for x in jax.tree_util.tree_leaves(again.state.params))}
json.dump({"layout": layout, "refused": refused, "lines": lines, "history": res.history, "resumed": resumed},
          open(out + "/two.json", "w"))
"""

# one of two processes (1 CPU device each) joined by jax.distributed: the driver, 2 updates into its own folder
PROCESS = """
import json, sys
from mmbio.train.sharding import initialize_distributed
assert initialize_distributed()
import jax
from mmbio.train.config import get_config
from mmbio.train.driver import train
from mmbio.train.toy_env import PointMassTrackingEnv

out, ovr = sys.argv[1], json.loads(sys.argv[2])
assert (jax.process_count(), len(jax.devices()), len(jax.local_devices())) == (2, 2, 1)
cfg = get_config("smoke", ovr)
res = train(cfg, PointMassTrackingEnv(n_envs=cfg.ppo.n_envs), out, n_updates=2, log=None)
json.dump({"history": res.history}, open(out + "/history.json", "w"))
"""


def _env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMBIO_", "JAX_"))}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or bool(np.isclose(a, b, rtol=RTOL, atol=ATOL))


def _assert_same_history(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.keys() == w.keys()
        bad = {k: (g[k], w[k]) for k in w if not _same(g[k], w[k])}
        assert not bad, f"update {i + 1}: {bad}"


def _leaves(run: Path, update: int) -> list[np.ndarray]:
    """The training state after ``update`` updates (parameters with the critic, Adam moments, observation and
    return statistics, PRNG key, counter) from the run's checkpoint."""
    return list(load_checkpoint(run / f"checkpoint_{update:06d}.pkl").metadata["training_state"]["leaves"])


@pytest.fixture(scope="module")
def one_device(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The 1-device reference: a driver run of 2 updates with a checkpoint after each."""
    run = tmp_path_factory.mktemp("one") / "run"
    res = train(get_config("smoke", [*OVR, "ppo.devices=1"]), PointMassTrackingEnv(n_envs=N_ENVS), run, n_updates=2,
                log=None)  # fmt: skip
    assert make_trainer(get_config("smoke", OVR), PointMassTrackingEnv(n_envs=N_ENVS), devices=1).mesh is None
    return {"run": run, "history": res.history}


def test_two_devices_give_the_same_update(one_device: dict, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", TWO_DEVICES, str(tmp_path), json.dumps(OVR), str(one_device["run"])],
                          env=_env(2), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "two.json").read_text())
    # the worlds are split (4 per device), the network and optimiser replicated
    assert doc["layout"] == {"obs_spec": ["worlds"], "obs_shard_rows": N_ENVS // 2, "env_pos_spec": ["worlds"],
                             "params_replicated": True, "opt_replicated": True}  # fmt: skip
    assert doc["lines"][0] == "worlds split over 2 cpu devices, 4 each" and len(doc["lines"]) == 3
    # the same first and second update: the whole training state, and every metric of both updates
    for update in (1, 2):
        one, two = _leaves(one_device["run"], update), _leaves(tmp_path / "run", update)
        assert [a.shape for a in one] == [b.shape for b in two]
        for i, (a, b) in enumerate(zip(two, one, strict=True)):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"update {update}, state array {i}")
        assert max(float(np.max(np.abs(a.astype(float) - b))) for a, b in zip(two, one, strict=True)) < 1e-6
    _assert_same_history(doc["history"], one_device["history"])
    # a checkpoint resumes on another device count: the 1-device run's on 2 devices, the 2-device run's on 1
    assert doc["resumed"] == {"update": 3, "obs_spec": ["worlds"], "params_replicated": True}
    cfg = get_config("smoke", OVR)
    res = train(cfg, PointMassTrackingEnv(n_envs=N_ENVS), tmp_path / "run", n_updates=3, resume=True, log=None)
    assert int(res.state.update) == 3 and len(res.history) == 1
    # n_envs not a multiple of the device count, more devices than JAX sees: one line each
    odd, many = doc["refused"]["odd_worlds"], doc["refused"]["too_many"]
    assert odd == (
        "config ppo.n_envs=9 does not divide by the 2 devices (ppo.devices=0: every device JAX sees); choose n_envs a "
        "multiple of the device count or set ppo.devices"
    )
    assert many == "config ppo.devices=4: JAX sees 2 cpu devices"


def test_two_processes_with_jax_distributed(one_device: dict, tmp_path: Path) -> None:
    """Two local processes, one CPU device each, joined by jax.distributed (gloo collectives): one mesh over both;
    each process writes the same checkpoints into its own folder."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for i in range(2):
        env = {**_env(1), "MMBIO_COORDINATOR": f"127.0.0.1:{port}", "MMBIO_NUM_PROCESSES": "2",
               "MMBIO_PROCESS_ID": str(i)}  # fmt: skip
        out = tmp_path / f"p{i}"
        procs.append(subprocess.Popen([sys.executable, "-c", PROCESS, str(out), json.dumps(OVR)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    errs = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=300)
            errs.append(err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(e[-2000:] for e in errs)
    for i in range(2):
        _assert_same_history(json.loads((tmp_path / f"p{i}" / "history.json").read_text())["history"],
                             one_device["history"])  # fmt: skip
    a, b = ((tmp_path / f"p{i}" / "checkpoint_000002.pkl").read_bytes() for i in range(2))
    assert a == b


def test_refusals_without_a_second_device() -> None:
    # an explicit device count must divide the worlds: refused when the config is built, one line
    with pytest.raises(ConfigError) as e:
        get_config("smoke", ["ppo.n_envs=15", "ppo.n_minibatches=5", "ppo.devices=2"])
    assert str(e.value) == (
        "config ppo.devices=2: must divide ppo.n_envs=15 (each device holds n_envs / devices worlds)"
    )
    # MuJoCo Warp holds its worlds on one device: 0 means one device for it, more is refused
    warp = type("WarpEnv", (), {"backend": "warp"})()
    assert len(resolve_devices(0, 16, warp)) == 1
    with pytest.raises(ConfigError, match=r"'warp' backend holds its worlds on one device .* set ppo.devices=1$"):
        resolve_devices(2, 16, warp)
    # jax.distributed only when asked for, and its variables checked
    assert initialize_distributed({}) is False
    with pytest.raises(MmbioError, match="MMBIO_PROCESS_ID must be an integer"):
        initialize_distributed({"MMBIO_COORDINATOR": "h:1", "MMBIO_NUM_PROCESSES": "2", "MMBIO_PROCESS_ID": "x"})
    with pytest.raises(MmbioError, match=r"MMBIO_PROCESS_ID=2 must lie in \[0, MMBIO_NUM_PROCESSES=2\)"):
        initialize_distributed({"MMBIO_COORDINATOR": "h:1", "MMBIO_NUM_PROCESSES": "2", "MMBIO_PROCESS_ID": "2"})
