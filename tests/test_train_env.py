"""The imitation environment: layout, reward at the reference, termination, bad motions, backend parity, learning."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from mmbio.errors import MmbioError  # noqa: E402
from mmbio.sim.motion import Motion, synthesize_motion  # noqa: E402
from mmbio.train.config import EnvConfig, RewardConfig, TerminationConfig, get_config  # noqa: E402
from mmbio.train.imitation_env import ImitationEnv  # noqa: E402
from mmbio.train.networks import actor_mean, map_action  # noqa: E402
from mmbio.train.ppo import deterministic_policy, evaluate, make_trainer, normalise  # noqa: E402
from mmbio.train.references import bimanual_reference  # noqa: E402

ARM_REWARD = RewardConfig(
    qpos_w=0.5, qvel_w=0.5, root_pos_w=0.0, root_vel_w=0.0, site_pos_w=2.0, site_quat_w=0.2, site_vel_w=0.5
)


def arm_reference(n_frames: int = 201) -> Motion:
    """The package's default bimanual reference (both arms raised and bent by sinusoidal excitations)."""
    return bimanual_reference(n_frames)


def arm_cfg(**kw) -> EnvConfig:
    base = dict(model="bimanual", touch_obs=False, lookahead_steps=1, lookahead_stride=1, horizon=50, reward=ARM_REWARD,
                termination=TerminationConfig(mean_site_deviation=0.05))  # fmt: skip
    base.update(kw)
    return EnvConfig(**base)


@pytest.fixture(scope="module")
def arm_motion() -> Motion:
    return arm_reference()


@pytest.fixture(scope="module")
def walk() -> Motion:
    return synthesize_motion(speed_m_s=1.25, n_cycles=1)


@pytest.fixture(scope="module")
def body_env(walk: Motion) -> ImitationEnv:
    return ImitationEnv(EnvConfig(model="myofullbody", lookahead_steps=2, lookahead_stride=10), walk, 2)


# --------------------------------------------------------------------------------------------------
# Layout, shapes, reward at the reference
# --------------------------------------------------------------------------------------------------


def _check_layout(env: ImitationEnv) -> None:
    layout = env.obs_layout()
    start = 0
    for sl in layout.values():
        assert sl.start == start and sl.stop > sl.start
        start = sl.stop
    assert start == env.obs_size


def test_arm_shapes_layout_and_reward_at_reference(arm_motion: Motion) -> None:
    env = ImitationEnv(arm_cfg(), arm_motion, 3)
    _check_layout(env)
    lay = env.obs_layout()
    m = env.mj_model
    assert not env.free_root and not env.loop
    assert "root_height" not in lay and "touch" not in lay
    assert lay["joint_qpos"].stop - lay["joint_qpos"].start == m.nq
    assert lay["muscle_act"].stop - lay["muscle_act"].start == m.na == env.action_size == 64
    assert lay["target0_sites"].stop - lay["target0_sites"].start == 3 * 10
    state, obs = env.reset(jax.random.key(0))
    assert obs.shape == (3, env.obs_size) and bool(jnp.all(jnp.isfinite(obs)))
    assert all(leaf.shape[0] == 3 for leaf in jax.tree_util.tree_leaves(state))
    np.testing.assert_allclose(obs[:, lay["joint_qpos"]], env.ref_qpos[state.frame], atol=1e-6)
    np.testing.assert_allclose(obs[:, lay["muscle_act"]], 0.0)
    # zero error at the reference state → every kernel is exp(0) = 1 → the reward is Σ w (no root terms: fixed base)
    err = env.errors(state.phys, state.frame)
    for k in ("site_pos", "site_quat", "qpos", "qvel"):
        np.testing.assert_allclose(err[k], 0.0, atol=1e-6)
    total = sum(env.reward_terms(err).values())
    assert env.max_reward == pytest.approx(0.5 + 0.5 + 2.0 + 0.2 + 0.5)
    np.testing.assert_allclose(total, env.max_reward, rtol=1e-5)
    s2, obs2, reward, done, truncated, info = jax.jit(env.step)(state, jnp.full((3, env.action_size), 0.2))
    assert obs2.shape == (3, env.obs_size) and reward.shape == done.shape == truncated.shape == (3,)
    assert done.dtype == truncated.dtype == jnp.bool_
    assert bool(jnp.all((reward > 0) & (reward <= env.max_reward + 1e-6)))
    assert set(info) >= {"site_dist", "qpos_err", "effort", "physics_failed"}
    np.testing.assert_array_equal(s2.frame, state.frame + 1)
    # effort term: Σa²/n is subtracted
    env_e = ImitationEnv(arm_cfg(reward=dataclasses.replace(ARM_REWARD, activation_energy=1.0)), arm_motion, 3)
    r_e = jax.jit(env_e.step)(state, jnp.full((3, env.action_size), 0.2))[2]
    np.testing.assert_allclose(r_e, reward - info["effort"], rtol=1e-5, atol=1e-6)


def test_an_activation_action_is_reached_by_mujocos_own_muscle_dynamics(arm_motion: Motion) -> None:
    """``env.action = 'activation'`` at one physics step per control step: whatever activation is asked, MuJoCo's own
    activation dynamics end the step at it when it is reachable, else at the nearest reachable one (bounds from full
    and zero excitation, stepped by MuJoCo itself); the jitted step and the host worlds send the same excitation."""
    from mmbio.train.host_worlds import HostWorlds, start_state

    env = ImitationEnv(arm_cfg(action="activation", control_hz=500, random_start=False), arm_motion, 1)
    m = env.mj_model
    assert env.n_sub == 1 and m.nu == m.na and env.muscle_dynamics is not None
    rng = np.random.default_rng(3)
    q, v = start_state(env, 0, 0.0, rng)
    a0 = rng.uniform(0.05, 0.95, m.na)
    # MuJoCo's reach from a0: one step at full and at zero excitation
    import mujoco

    reach = []
    for u in (0.0, 1.0):
        d = mujoco.MjData(m)
        d.qpos[:], d.qvel[:], d.act[:], d.ctrl[:] = q, v, a0, u
        mujoco.mj_step(m, d)
        reach.append(d.act.copy())
    lo, hi = reach
    inside = lo + rng.uniform(0.1, 0.9, m.na) * (hi - lo)
    wanted = np.where(np.arange(m.na) % 3 == 0, rng.uniform(0.0, 1.0, m.na), inside)  # every third one anywhere
    w = HostWorlds(env, 1)
    w.reset(0, 0, q, v, a0)
    w.step(0, wanted, np.zeros(m.nv))
    got = w.datas[0].act[m.actuator_actadr]
    np.testing.assert_allclose(got, np.clip(wanted, lo, hi), atol=1e-9)
    assert np.sum(np.abs(wanted - inside) > 0) > 5 and np.all((got >= lo - 1e-12) & (got <= hi + 1e-12))
    s, _ = env.reset(jax.random.key(0))
    phys = s.phys._replace(qpos=jnp.asarray(q[None], jnp.float32), qvel=jnp.asarray(v[None], jnp.float32),
                           act=jnp.asarray(a0[None], jnp.float32))  # fmt: skip
    s2, *_ = env.step(s._replace(phys=phys), jnp.asarray(wanted[None], jnp.float32))
    np.testing.assert_allclose(np.asarray(s2.prev_exc[0]), w.datas[0].ctrl, atol=1e-5)
    np.testing.assert_allclose(np.asarray(s2.phys.act[0]), w.datas[0].act, atol=1e-5)
    # the default action is the excitation itself
    plain = ImitationEnv(arm_cfg(control_hz=500), arm_motion, 1)
    assert plain.muscle_dynamics is None
    np.testing.assert_array_equal(plain.excitation(np.array([[-0.5, 0.3, 1.7]]), None), [[0.0, 0.3, 1.0]])


def test_arm_episode_ends_at_reference_end(arm_motion: Motion) -> None:
    env = ImitationEnv(arm_cfg(horizon=1000, random_start=False), arm_motion, 1)
    state, _ = env.reset(jax.random.key(0))
    frame = jnp.array([env.n_frames - 2], jnp.int32)
    state = state._replace(frame=frame, phys=jax.tree_util.tree_map(lambda x: x[frame], env.ref_init))
    _, _, _, done, truncated, _ = env.step(state, jnp.full((1, env.action_size), 0.1))
    assert bool(truncated[0]) and not bool(done[0])


def test_nan_world_shows_in_obs(arm_motion: Motion) -> None:
    env = ImitationEnv(arm_cfg(), arm_motion, 2)
    state, _ = env.reset(jax.random.key(0))
    phys = state.phys._replace(qpos=state.phys.qpos.at[1, 0].set(jnp.nan))
    _, obs, _, _, _, info = env.step(state._replace(phys=phys), jnp.zeros((2, env.action_size)))
    assert bool(jnp.all(jnp.isfinite(obs[0]))) and not bool(jnp.any(jnp.isfinite(obs[1])))
    np.testing.assert_array_equal(info["physics_failed"], [0.0, 1.0])


def test_myofullbody_layout_loop_and_termination(body_env: ImitationEnv, walk: Motion) -> None:
    env = body_env
    _check_layout(env)
    lay = env.obs_layout()
    m = env.mj_model
    assert env.free_root and env.loop and env.period == walk.n_frames - 1
    assert env.n_sub == 5 and m.opt.timestep == 0.002
    assert lay["joint_qpos"].stop - lay["joint_qpos"].start == m.nq - 7
    assert lay["joint_qvel"].stop - lay["joint_qvel"].start == m.nv - 6
    assert lay["touch"].stop - lay["touch"].start == 4
    assert "target1_root" in lay and lay["phase"].stop == env.obs_size
    # looping: one cycle later the root has advanced by the stride, the rest repeats
    q0, q1 = env.ref_qpos_at(jnp.array(3)), env.ref_qpos_at(jnp.array(3 + env.period))
    np.testing.assert_allclose(q1[:2] - q0[:2], walk.qpos[-1, :2] - walk.qpos[0, :2], atol=1e-5)
    np.testing.assert_allclose(q1[2:], q0[2:], atol=1e-6)
    state, obs = env.reset(jax.random.key(3))
    np.testing.assert_allclose(obs[:, lay["root_height"]][:, 0], env.ref_qpos[state.frame, 2], atol=1e-6)
    err = env.errors(state.phys, state.frame)
    np.testing.assert_allclose(sum(env.reward_terms(err).values()), env.max_reward, rtol=1e-5)
    assert env.max_reward == pytest.approx(sum(getattr(RewardConfig(), f"{k}_w") for k in
                                               ("qpos", "qvel", "root_pos", "root_vel", "site_pos", "site_quat", "site_vel")))  # fmt: skip
    # world 1: pelvis (free root) moved 2 m sideways → root drift > 1 m → done; world 0 untouched → not done
    phys = state.phys._replace(qpos=state.phys.qpos.at[1, 0].add(2.0))
    _, obs2, _reward, done, truncated, info = env.step(state._replace(phys=phys), jnp.full((2, m.nu), 0.05))
    assert bool(jnp.all(jnp.isfinite(obs2)))
    np.testing.assert_array_equal(done, [False, True])
    assert float(info["root_dist"][1]) > 1.9 and float(info["site_dist"][0]) < 0.05
    assert not bool(jnp.any(truncated))


def test_metabolic_cost_is_the_validation_formula(body_env: ImitationEnv, walk: Motion) -> None:
    """The env's jax.numpy metabolic power equals mmbio.sim.metabolics' numpy path on the same states, and the
    configured weight is what comes off the reward."""
    from mmbio.sim import metabolics as met

    env = body_env
    m = env.mj_model
    p64 = met.muscle_parameters(m)
    assert len(p64.names) == m.nu == m.na  # every MyoFullBody actuator is a muscle
    state, _ = env.reset(jax.random.key(5))
    # zero excitation from zero activation: no activation heat, no work, only Umberger's 1 W/kg-of-muscle floor →
    # the whole body spends Σ muscle mass (kg) × 1 W/kg / body mass
    _, _, _, _, _, info0 = env.step(state, jnp.zeros((2, m.nu)))
    floor = float(np.sum(p64.mass)) / float(np.sum(m.body_mass))
    assert 0.4 < floor < 0.6  # 39.4 kg of muscle in an 84 kg body (mmbio.sim.metabolics docs)
    np.testing.assert_allclose(info0["metabolic_w_per_kg"], floor, rtol=1e-5)
    exc = jax.random.uniform(jax.random.key(6), (2, m.nu), maxval=0.6)
    s1, _, r, _, _, info = env.step(state, exc)
    s2, _, _, _, _, info2 = env.step(s1, exc * 0.5)
    for s_, u, got in ((s1, exc, info["metabolic_w_per_kg"]), (s2, exc * 0.5, info2["metabolic_w_per_kg"])):
        ph = s_.phys
        ref = met.umberger_power(np.asarray(u), np.asarray(ph.act), np.asarray(ph.alen), np.asarray(ph.avel), p64)
        want = ref.total_w / float(np.sum(m.body_mass))
        np.testing.assert_allclose(got, want, rtol=2e-4)
        assert bool(np.all(want > 2 * floor))  # activity costs well above the floor
    cfg_w = dataclasses.replace(env.cfg, reward=dataclasses.replace(env.cfg.reward, metabolic=0.05))
    env_w = ImitationEnv(cfg_w, walk, 2)
    r_w = env_w.step(state, exc)[2]
    np.testing.assert_allclose(r_w, r - 0.05 * info["metabolic_w_per_kg"], rtol=1e-5, atol=1e-6)


def test_reward_scores_the_tracking_controllers_walk_high(demo_run_1p5s) -> None:
    """Cross-check of the reward, frame indexing and looping against an independent controller: the demo tracking
    checkpoint's muscle-driven walk (issue 5; 1.5° joint RMSE), scored frame by frame by the environment built on
    the same reference, earns ≥ 85 % of the maximum step reward; the same walk half a stride out of phase earns
    far less."""
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.imitation_env import PhysicsOut

    motion = load_checkpoint("checkpoints/tracking_walk.pkl").motion()
    roll = demo_run_1p5s.rollout  # 1.5 s: one stride (1.14 s) and part of the next, looped reference
    env = ImitationEnv(EnvConfig(model="myofullbody", variant=motion.variant), motion, 1)
    assert env.loop and env.period == motion.n_frames - 1
    every = round(1.0 / (float(roll.time[1] - roll.time[0]) * env.cfg.control_hz))
    q, v = roll.qpos[::every], roll.qvel[::every]
    n = len(q)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    nq0 = jnp.zeros((n, env.mj_model.nv), jnp.float32)
    phys = PhysicsOut(f32(q), f32(v), jnp.zeros((n, env.mj_model.na)), nq0, *map(f32, env._kinematics(q, v)),
                      jnp.ones(n, bool))  # fmt: skip
    prev = jax.tree_util.tree_map(lambda x: jnp.concatenate([x[:1], x[:-1]]), phys)

    def mean_reward(offset: int) -> float:
        frame = jnp.arange(n, dtype=jnp.int32) + offset
        return float(jnp.mean(sum(env.reward_terms(env.errors(phys, frame, prev)).values())[1:]))

    in_phase = mean_reward(0)  # measured 1.02 of 1.11
    out_of_phase = mean_reward(env.period // 2)  # root 0.7 m behind, legs swapped
    print(
        f"tracking controller scored by the env: {in_phase:.3f} in phase, {out_of_phase:.3f} half a stride off, max {env.max_reward:.2f}"
    )
    assert in_phase > 0.85 * env.max_reward
    assert out_of_phase < 0.5 * in_phase


def test_motion_for_another_model_refused(walk: Motion, arm_motion: Motion) -> None:
    with pytest.raises(MmbioError, match=r"myofullbody.*bimanual"):
        ImitationEnv(arm_cfg(), walk, 2)
    with pytest.raises(MmbioError, match=r"bimanual.*myofullbody"):
        ImitationEnv(EnvConfig(model="myofullbody"), arm_motion, 2)
    bad = Motion(walk.qpos[:, :-1], walk.qvel, model="myofullbody")
    with pytest.raises(MmbioError, match="nq=88"):
        ImitationEnv(EnvConfig(model="myofullbody"), bad, 2)


# --------------------------------------------------------------------------------------------------
# Backend parity: MuJoCo C (float64) vs MuJoCo Warp (float32, CPU device here)
# --------------------------------------------------------------------------------------------------


def test_backend_parity_mujoco_vs_warp(arm_motion: Motion) -> None:
    pytest.importorskip("mujoco_warp")
    pytest.importorskip("warp")
    cfg = arm_cfg()
    env_c = ImitationEnv(cfg, arm_motion, 2, backend="mujoco")
    env_w = ImitationEnv(cfg, arm_motion, 2, backend="warp")  # cold Warp kernel cache: ~30 s compile
    state, _ = env_c.reset(jax.random.key(0))
    step_c, step_w = jax.jit(env_c.step), jax.jit(env_w.step)
    sc = sw = state
    for k in range(10):
        u = jax.random.uniform(jax.random.key(10 + k), (2, env_c.action_size))
        sc, _oc, rc, dc, _, _ = step_c(sc, u)
        sw, _ow, rw, dw, _, _ = step_w(sw, u)
        pc, pw = sc.phys, sw.phys
        # Measured (first step / after 10): qpos 3e-6 / 4e-6 rad, qvel 1.1e-3 / 3e-5 rad/s (|qvel| ≤ 3; float32 qacc
        # ~1e3 over 10 ms), act 6e-8, muscle length 2e-7 m, body positions 4e-7 m, force 0.025 N of 1300 N.
        np.testing.assert_allclose(pw.qpos, pc.qpos, atol=5e-5)
        np.testing.assert_allclose(pw.qvel, pc.qvel, atol=1e-2)
        np.testing.assert_allclose(pw.act, pc.act, atol=1e-6)
        np.testing.assert_allclose(pw.alen, pc.alen, atol=2e-6)
        np.testing.assert_allclose(pw.xpos, pc.xpos, atol=2e-5)
        np.testing.assert_allclose(pw.afrc, pc.afrc, atol=1e-4 * float(jnp.abs(pc.afrc).max()) + 1e-3)
        np.testing.assert_allclose(rw, rc, atol=2e-3)
        np.testing.assert_array_equal(dw, dc)
        assert bool(jnp.all(pw.ok))


# --------------------------------------------------------------------------------------------------
# Learning: PPO on the bimanual arm tracking the 2 s reference (MuJoCo C backend)
# --------------------------------------------------------------------------------------------------


def test_ppo_learns_arm_tracking(arm_motion: Motion) -> None:
    """PPO (clip mapping, init std 0.2) beats random, relaxed and untrained policies by a wide margin.

    The wall time (the issue asks for under 5 minutes) is printed, not asserted: these machines are shared and
    noisy; benchmarks/RESULTS.md records it per machine.

    Evaluated with the *stochastic* policy PPO optimises: with the 'clip' mapping the clipped Gaussian's mean
    excitation exceeds clip(mean), so the deterministic policy under-activates early in training.
    """
    tc = get_config(
        "smoke",
        ["ppo.n_envs=32", "ppo.n_steps=32", "ppo.n_minibatches=4", "ppo.actor_hidden=128,128",
         "ppo.critic_hidden=128,128", "ppo.init_log_std=-1.6", "ppo.lr=1e-3", "ppo.total_env_steps=98304"],
    )  # fmt: skip
    env = ImitationEnv(arm_cfg(), arm_motion, tc.ppo.n_envs)
    best = env.max_reward * env.cfg.horizon
    key, n_eval = jax.random.key(1), 200
    act = env.action_size

    def stochastic(params, norm):
        def policy(obs: jax.Array, k: jax.Array) -> jax.Array:
            mu = actor_mean(params, normalise(norm, obs, tc.ppo.obs_clip), tc.ppo)
            return map_action(mu + jnp.exp(params["log_std"]) * jax.random.normal(k, mu.shape), tc.ppo.action_mapping)

        return policy

    t0 = time.perf_counter()
    trainer = make_trainer(tc, env)
    s0 = trainer.init(jax.random.key(0))
    baselines = {
        "uniform": evaluate(env, lambda o, k: jax.random.uniform(k, (o.shape[0], act)), key, n_eval),
        "relaxed": evaluate(env, lambda o, k: jnp.zeros((o.shape[0], act)), key, n_eval),
        "untrained": evaluate(env, stochastic(s0.params, s0.norm), key, n_eval),
        "untrained_det": evaluate(env, deterministic_policy(s0.params, s0.norm, tc), key, n_eval),
    }
    baseline = max(b["episode_return"] for b in baselines.values())
    threshold = baseline + 0.25 * (best - baseline)
    state, metrics = trainer.train(jax.random.key(0))
    jax.block_until_ready(state.params)
    final = evaluate(env, stochastic(state.params, state.norm), key, n_eval)
    det = evaluate(env, deterministic_policy(state.params, state.norm, tc), key, n_eval)
    wall = time.perf_counter() - t0
    print(
        f"arm tracking: stochastic return {final['episode_return']:.1f} (length {final['episode_length']:.1f}), "
        f"deterministic {det['episode_return']:.1f}, max {best:.0f}; baselines "
        + ", ".join(f"{k} {v['episode_return']:.1f}" for k, v in baselines.items())
        + f"; threshold {threshold:.1f}; {trainer.n_updates} updates, {wall:.0f} s with compile and evaluation"
    )
    assert baseline < 0.4 * best
    assert final["n_nonfinite"] == 0
    assert final["episode_return"] > threshold
    # evaluate() also averages the step info: the trained arm stays nearer the reference than random excitation,
    # and its metabolic power sits above the 0.92 W/kg resting floor (15.2 kg of muscle in a 16.5 kg model)
    assert final["info/site_dist"] < baselines["uniform"]["info/site_dist"]
    assert 0.92 < final["info/metabolic_w_per_kg"] < baselines["uniform"]["info/metabolic_w_per_kg"]
    ret = np.asarray(metrics["episode_return"])
    assert np.nanmean(ret[-10:]) > np.nanmean(ret[:10]) + 20
