"""CPU rollouts on MuJoCo C: timing, recording, open-loop/closed-loop parity, batches, divergence, files."""

from __future__ import annotations

import numpy as np
import pytest

from mmbio.errors import MmbioError
from mmbio.models.registry import load_model
from mmbio.sim import rollout_cpu
from mmbio.sim.controller import (
    CallableController,
    ConstantController,
    OpenLoopController,
    ZeroController,
    observation,
    observation_size,
)
from mmbio.sim.rollout_cpu import Rollout, replay, rollout, rollout_batch


@pytest.fixture(scope="module")
def body():
    return load_model("myofullbody", "full")


@pytest.fixture(scope="module")
def arm():
    return load_model("bimanual", "full")


def _same(a: Rollout, b: Rollout, atol: float = 1e-10) -> None:
    assert a.n_frames == b.n_frames
    np.testing.assert_allclose(a.time, b.time, atol=1e-12)
    for name in ("qpos", "qvel", "act", "ctrl"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=atol, err_msg=name)
    assert (a.diverged, a.diverged_at_s, a.reason) == (b.diverged, b.diverged_at_s, b.reason)


def _all_finite(r: Rollout) -> bool:
    return all(np.all(np.isfinite(getattr(r, k))) for k in ("time", "qpos", "qvel", "act", "ctrl"))


def test_zero_excitation_myofullbody(body) -> None:
    r = rollout(body, ZeroController(), duration_s=0.2)
    assert not r.diverged and r.reason == "" and r.diverged_at_s is None
    assert r.model_name == "myofullbody" and r.variant == "full"
    assert r.qpos.shape == (21, body.model.nq) and r.act.shape == (21, body.model.na)
    np.testing.assert_allclose(np.diff(r.time), 0.01, atol=1e-12)
    assert r.time[0] == 0.0 and r.time[-1] == pytest.approx(0.2)
    assert _all_finite(r)
    np.testing.assert_array_equal(r.qpos[0], body.model.key_qpos[0])  # keyframe start
    assert np.abs(r.act).max() < 1e-9 and np.abs(r.ctrl).max() == 0.0
    assert r.physics_dt == body.model.opt.timestep and r.control_dt == pytest.approx(0.01)
    assert r.record_hz == pytest.approx(100.0)


def test_default_variant_runs() -> None:
    r = rollout("myofullbody", ConstantController(0.05), duration_s=0.05)
    assert r.variant == "nofingers" and r.ctrl.shape[1] == 354 and not r.diverged


def test_record_and_control_rates(arm) -> None:
    t = np.arange(20)
    table = np.tile(((t % 2) * 0.8)[:, None], (1, arm.model.nu))  # alternating 0 / 0.8 at 50 Hz
    r = rollout(arm, OpenLoopController(table, 50.0), duration_s=0.2, control_hz=50, record_hz=250)
    assert r.n_frames == 51
    np.testing.assert_allclose(np.diff(r.time), 0.004, atol=1e-12)
    # zero-order hold: each control value lasts 0.02 s = 5 records
    np.testing.assert_array_equal(r.ctrl[:10, 0], [0] * 5 + [0.8] * 5)
    assert r.act[-1].max() > 0.1  # muscles activated


def test_bad_rates_and_names(arm) -> None:
    with pytest.raises(MmbioError, match="multiple"):
        rollout(arm, ZeroController(), duration_s=0.1, control_hz=300)  # 1/300 s is not k·0.002 s
    with pytest.raises(MmbioError):
        rollout("no_such_model", ZeroController(), duration_s=0.1)
    with pytest.raises(MmbioError, match="shape"):
        rollout(arm, ZeroController(), duration_s=0.1, initial_qpos=np.zeros(3))
    with pytest.raises(MmbioError, match="shape"):
        rollout(arm, CallableController(lambda o: np.zeros(3)), duration_s=0.1)


def test_open_loop_equals_python_loop(body, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    table = rng.uniform(0, 0.3, size=(40, body.model.nu))
    ctl = OpenLoopController(table, 100.0)
    fast = rollout(body, ctl, duration_s=0.3, open_loop=True)
    slow = rollout(body, ctl, duration_s=0.3, open_loop=False)
    assert fast.notes["backend"] == "mujoco.rollout" and slow.notes["backend"] == "mj_step"
    _same(fast, slow)
    # several mujoco.rollout chunks: the solver warm start is carried across them
    monkeypatch.setattr(rollout_cpu, "_CHUNK_STEPS", 70)
    _same(
        rollout(body, ctl, duration_s=0.3, open_loop=True, record_hz=200, control_hz=50),
        rollout(body, ctl, duration_s=0.3, open_loop=False, record_hz=200, control_hz=50),
    )


def test_observation(body) -> None:
    d = body.make_data()
    obs = observation(body.model, d)
    assert obs.shape == (observation_size(body.model),) == (body.model.nq - 2 + body.model.nv + body.model.na,)


def test_batch_matches_single(arm) -> None:
    m = arm.model
    q = np.tile(m.qpos0, (3, 1))
    q[1, 0] += 0.1
    q[2, 3] -= 0.1
    ctl = ConstantController(0.2)
    batch = rollout_batch(arm, ctl, 3, duration_s=0.1, initial_qpos=q, n_threads=2)
    for i in range(3):
        _same(batch[i], rollout(arm, ctl, duration_s=0.1, initial_qpos=q[i]))

    def policy(obs: np.ndarray) -> np.ndarray:  # closed loop, batched or not
        return 0.5 + 0.5 * np.tanh(obs[..., :1] * np.ones(m.nu))

    closed = rollout_batch(arm, CallableController(policy), 3, duration_s=0.1, initial_qpos=q, n_threads=2)
    for i in range(3):
        _same(closed[i], rollout(arm, CallableController(policy), duration_s=0.1, initial_qpos=q[i]))
        assert closed[i].notes["backend"] == "mj_step" and closed[i].notes["index"] == i


@pytest.mark.parametrize("open_loop", [True, False])
def test_absurd_initial_velocity_is_flagged(body, open_loop) -> None:
    nv = body.model.nv
    r = rollout(body, ZeroController(), duration_s=0.1, initial_qvel=np.full(nv, 1e6), open_loop=open_loop)
    assert r.diverged and "qvel" in r.reason and r.diverged_at_s == 0.0 and r.n_frames == 0
    # 300 rad/s everywhere passes the first check and blows up in the first step (MuJoCo auto-resets)
    r = rollout(body, ZeroController(), duration_s=0.1, initial_qvel=np.full(nv, 300.0), open_loop=open_loop)
    assert r.diverged and "mjWARN_BADQACC" in r.reason
    assert r.diverged_at_s == pytest.approx(0.01) and r.n_frames == 1 and _all_finite(r)
    assert "DIVERGED" in repr(r)


@pytest.mark.parametrize("open_loop", [True, False])
def test_nan_initial_state_is_flagged(body, open_loop) -> None:
    q = body.model.key_qpos[0].copy()
    q[10] = np.nan
    r = rollout(body, ConstantController(0.1), duration_s=0.1, initial_qpos=q, open_loop=open_loop)
    assert r.diverged and r.reason == "non-finite qpos" and r.n_frames == 0


def test_divergence_mid_run_cuts_identically(body) -> None:
    # a tight velocity bound turns the (collapsing) passive body into a mid-run "divergence"
    kw = dict(duration_s=0.5, qvel_limit=3.0)
    fast = rollout(body, ZeroController(), open_loop=True, **kw)
    slow = rollout(body, ZeroController(), open_loop=False, **kw)
    _same(fast, slow)
    assert fast.diverged and 0.0 < fast.diverged_at_s < 0.5 and "qvel" in fast.reason
    assert fast.time[-1] < fast.diverged_at_s and np.abs(fast.qvel).max() <= 3.0
    assert fast.n_frames == round(fast.diverged_at_s / 0.01)  # cut at the last checked state


def test_non_finite_controller_output(arm) -> None:
    calls = {"n": 0}

    def fn(obs: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        return np.full(arm.model.nu, np.nan if calls["n"] > 5 else 0.1)

    r = rollout(arm, CallableController(fn), duration_s=0.2)
    assert r.diverged and "non-finite excitations" in r.reason
    assert r.diverged_at_s == pytest.approx(0.05) and r.n_frames == 5 and _all_finite(r)


def test_batch_member_divergence_is_isolated(body) -> None:
    v = np.zeros((2, body.model.nv))
    v[1] = 300.0
    ctl = CallableController(lambda obs: np.full((len(obs), body.model.nu), 0.05))
    out = rollout_batch(body, ctl, 2, duration_s=0.05, initial_qvel=v, n_threads=2)
    assert not out[0].diverged and out[1].diverged and "BADQACC" in out[1].reason
    _same(out[0], rollout(body, ConstantController(0.05), duration_s=0.05))


def test_bimanual_runs(arm) -> None:
    r = rollout(arm, ConstantController(0.3), duration_s=0.2)
    assert not r.diverged and _all_finite(r) and r.qpos.shape == (21, 76) and r.ctrl.shape == (21, 126)
    assert np.all(np.diff(r.act[:, 0]) > 0)  # activation rises toward the excitation


def test_save_load_round_trip(arm, tmp_path) -> None:
    r = rollout(arm, ConstantController(0.3), duration_s=0.1)
    back = Rollout.load(r.save(tmp_path / "r.npz"))
    _same(back, r, atol=0)
    assert back.notes == r.notes and back.physics_dt == r.physics_dt and back.model_name == "bimanual"
    bad = rollout(arm, ZeroController(), duration_s=0.1, initial_qvel=np.full(76, 1e6))
    back = Rollout.load(bad.save(tmp_path / "bad.npz"))
    assert back.diverged and back.reason == bad.reason and back.diverged_at_s == 0.0 and back.n_frames == 0
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MmbioError):
        Rollout.load(tmp_path / "junk.npz")


def test_replay(arm) -> None:
    m = arm.model
    t = np.arange(50) / 100.0
    q = np.tile(m.qpos0, (50, 1))
    q[:, 0] += 0.2 * np.sin(2 * np.pi * t)
    r = replay(arm, q, rate_hz=100.0)
    assert r.n_frames == 50 and np.all(r.act == 0) and np.all(r.ctrl == 0) and r.notes["backend"] == "replay"
    expected = 0.2 * 2 * np.pi * np.cos(2 * np.pi * t)
    np.testing.assert_allclose(r.qvel[1:-1, 0], expected[1:-1], atol=0.01)
    with pytest.raises(MmbioError, match="nq"):
        replay(arm, q[:, :10])
    with pytest.raises(MmbioError):
        replay(arm, q, np.zeros((50, 3)))
