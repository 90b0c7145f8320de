"""Distillation of the tracking controller (behaviour cloning + DAgger, assistance), PPO fine-tuning from a given
policy (anchor, critic warm-up), and their refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from mmbio.errors import DataFileError, MmbioError  # noqa: E402
from mmbio.train.config import get_config  # noqa: E402
from mmbio.train.ppo import deterministic_policy, evaluate, make_trainer  # noqa: E402
from mmbio.train.toy_env import PointMassTrackingEnv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "checkpoints" / "tracking_walk.pkl"

#: a short MyoFullBody distillation: 2 worlds, 2 iterations of 150 control steps (0.6 s of labelled walking)
_SHORT = [
    f"distill.teacher={DEMO}",
    "distill.iterations=2",
    "distill.steps_per_iter=150",
    "distill.episode_s=0.3",
    "distill.epochs=30",
    "distill.minibatch=64",
    "distill.eval_s=0.6",
    "distill.label=activation",
    "distill.assist_end=1.0",
    "env.random_start=false",
    "ppo.actor_hidden=64,64",
    "ppo.critic_hidden=64,64",
    "ppo.n_steps=75",
    "ppo.n_minibatches=2",
]


def _params_norm(path: Path):
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.ppo import ObsNormaliser

    c = load_checkpoint(path).controller
    z = c["obs_normalizer"]
    params = jax.tree_util.tree_map(jnp.asarray, dict(c["params"]))
    return params, ObsNormaliser(jnp.asarray(z["mean"], jnp.float32), jnp.asarray(z["var"], jnp.float32),
                                 jnp.asarray(z["count"], jnp.float32))  # fmt: skip


@pytest.fixture(scope="module")
def walk_env():
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.teacher import load_teacher_checkpoint

    cfg = get_config("distill_walk", _SHORT)
    teacher = load_teacher_checkpoint(DEMO)
    motion = teacher.motion()
    return cfg, ImitationEnv(cfg.env, motion, n_envs=cfg.ppo.n_envs), teacher, motion


@pytest.fixture(scope="module")
def distilled(walk_env, tmp_path_factory):
    from mmbio.train.distill import distill

    cfg, env, teacher, motion = walk_env
    out = tmp_path_factory.mktemp("distill") / "run"
    res = distill(cfg, env, teacher, out, log=None, reference_motion=motion)
    return out, res


def test_distilled_student_tracks_better_than_ppo_from_scratch_on_the_same_budget(walk_env, distilled) -> None:
    """Same environment, same number of environment steps (300): the distilled student's mean action stays closer to
    the reference than PPO's after those steps, over the time both are up."""
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.distill import test_student

    cfg, env, _teacher, _motion = walk_env
    out, res = distilled
    assert [int(r["iteration"]) for r in res.history] == [0, 1]
    assert res.history[0]["beta"] == 1.0 and res.history[1]["beta"] == 0.5
    assert res.history[0]["alpha"] == 1.0 and res.history[1]["alpha"] == 1.0
    assert res.history[1]["samples"] > res.history[0]["samples"] > 100
    assert res.history[1]["student_action_frac"] > 0.2  # DAgger: the student drove part of the time
    assert res.history[-1]["labels_per_s"] > 5
    student = res.history[-1]
    mine = test_student(env, *_params_norm(out / "latest.pkl"), cfg, cfg.distill.eval_s)
    assert mine.up_s == student["test_up_s"]  # the checkpoint holds the student that was tested
    # PPO from scratch on the same budget: 2 worlds × 75 steps × 2 updates = 300 environment steps
    ppo_cfg = get_config("distill_walk", [*_SHORT, "algo=ppo", "ppo.total_env_steps=300"])
    trainer = make_trainer(ppo_cfg, env)
    state, _ = trainer.run(trainer.init(jax.random.key(0)), 2)
    scratch = test_student(env, state.params, state.norm, ppo_cfg, cfg.distill.eval_s)
    print(f"distilled student: up {student['test_up_s']:.2f} s, site distance {student['test_site_dist_m']:.3f} m; "
          f"PPO from scratch: up {scratch.up_s:.2f} s, site distance {scratch.site_dist_m:.3f} m")  # fmt: skip
    # Tracking over the time both are up. Time up alone does not separate them on the corrected model: PPO's
    # untrained policy co-contracts and stands stiffly for the 0.6 s, 0.29 m from the reference on average, while the
    # student follows the stride at 0.14 m and falls at 0.5 s (on the stock model PPO's fell at 0.33 s, the student's
    # at 0.5 s)
    n = min(len(mine.site_dist_trace), len(scratch.site_dist_trace))
    assert n >= 0.4 * env.cfg.control_hz  # compared over at least 0.4 s
    assert np.mean(mine.site_dist_trace[:n]) < 0.8 * np.mean(scratch.site_dist_trace[:n])
    # the checkpoint is an ordinary training checkpoint of the policy (validate / PPO can take it)
    ck = load_checkpoint(out / "latest.pkl")
    assert ck.kind == "policy" and ck.metadata["distill"]["iteration"] == 1
    assert ck.controller["architecture"]["obs_size"] == env.obs_size
    assert ck.metadata["obs_layout"]["phase"][1] == env.obs_size


def test_distillation_resumes_without_losing_data(walk_env, distilled, tmp_path) -> None:
    import shutil

    from mmbio.train.distill import distill

    cfg, env, teacher, motion = walk_env
    out, _ = distilled
    run = tmp_path / "run"
    shutil.copytree(out, run)
    (run / "latest.pkl").write_bytes((run / "checkpoint_000001.pkl").read_bytes())  # as if killed in iteration 2
    (run / "data_000001.npz").unlink()
    before = (run / "data_000000.npz").read_bytes()
    lines: list[str] = []
    res = distill(cfg, env, teacher, run, resume=True, log=lines.append, reference_motion=motion)
    assert "after iteration 0" in lines[0]
    assert [int(r["iteration"]) for r in res.history] == [0, 1]
    assert (run / "data_000000.npz").read_bytes() == before
    with np.load(run / "data_000000.npz") as z0, np.load(run / "data_000001.npz") as z1:
        assert res.history[1]["samples"] == len(z0["obs"]) + len(z1["obs"])
    with pytest.raises(MmbioError, match="finished its 2 iterations"):
        distill(cfg, env, teacher, run, resume=True, log=None, reference_motion=motion)


def test_a_teacher_that_falls_while_labelling_is_dropped_and_counted(walk_env) -> None:
    """Teacher driving with none of its help applied (α = 0) from starts with 0.1 rad of joint noise falls within
    ≈ 0.25 s: each such episode is dropped whole, counted, and the world restarts. (From the reference start it
    walks these 0.7 s on the corrected model; on the stock model it fell within ≈ 0.3 s.)"""
    import dataclasses

    from mmbio.train.distill import _collect, _student_fns
    from mmbio.train.host_worlds import HostWorlds
    from mmbio.train.teacher_pool import TeacherPool

    cfg, env, teacher_ckpt, _motion = walk_env
    cfg = dataclasses.replace(cfg, distill=dataclasses.replace(cfg.distill, episode_s=2.0, steps_per_iter=700,
                                                               start_noise_rad=0.1))  # fmt: skip
    teachers = TeacherPool(teacher_ckpt, env.mj_model, env.n_sub, 5.0, env.n_envs)
    o, y, _side, c = _collect(env, HostWorlds(env, env.n_envs), teachers, None, None, cfg, beta=1.0, alpha=0.0, seed=3,
                       mean_fn=_student_fns(cfg)[0])  # fmt: skip
    assert c["teacher_falls"] >= 2 and c["falls"] == c["teacher_falls"] == c["episodes"]
    assert c["dropped"] > 0 and len(o) == len(y) == c["steps"] - c["dropped"]
    assert c["ep_len_sum"] / c["episodes"] < 0.5  # seconds per episode


def test_teachers_in_two_processes_label_exactly_what_one_process_labels(walk_env) -> None:
    """The same collection (2 worlds, DAgger with a student driving half the steps, random phases and joint noise so
    that episodes end and restart) with the teachers in one worker and in two: the same samples and counters. Not
    bit for bit: one process holding both teachers lays memory out differently, rounding differs at 1e-14 and the
    walk amplifies it within an episode (≈ 0.004 at most over these 25-step episodes on the 2-core VM); a teacher
    mixed up between worlds would differ by tenths."""
    import dataclasses

    from mmbio.train.distill import _collect, _student_fns
    from mmbio.train.host_worlds import HostWorlds
    from mmbio.train.teacher_pool import TeacherPool

    cfg, env, teacher_ckpt, _motion = walk_env
    cfg = dataclasses.replace(cfg, distill=dataclasses.replace(cfg.distill, episode_s=0.05, steps_per_iter=120,
                                                               start_noise_rad=0.05))  # fmt: skip
    mean_fn = _student_fns(cfg)[0]
    trainer = make_trainer(cfg, env)
    s0 = trainer.init(jax.random.key(1))
    runs = []
    for workers in (1, 2):
        with TeacherPool(teacher_ckpt, env.mj_model, env.n_sub, 5.0, env.n_envs, workers=workers) as pool:
            assert pool.workers == workers
            runs.append(_collect(env, HostWorlds(env, env.n_envs), pool, s0.params, s0.norm, cfg, beta=0.5, alpha=1.0,
                                 seed=5, mean_fn=mean_fn))  # fmt: skip
    (o1, y1, s1, c1), (o2, y2, s2, c2) = runs
    assert len(o1) > 100 and c1["episodes"] >= 2 and 0 < c1["student_actions"] < c1["steps"]
    assert o1.shape == o2.shape and y1.shape == y2.shape
    np.testing.assert_allclose(o1, o2, atol=0.03)
    np.testing.assert_allclose(y1, y2, atol=0.03)
    assert np.mean(s1 != s2) < 0.01  # label sides flip only where a label sits at a bound to rounding
    timing = ("label_s", "labels_per_s")
    assert {k: v for k, v in c1.items() if k not in timing} == {k: v for k, v in c2.items() if k not in timing}


def test_a_teacher_worker_that_dies_stops_the_run_in_one_line(walk_env) -> None:
    from mmbio.train.host_worlds import start_state
    from mmbio.train.teacher_pool import TeacherPool

    _cfg, env, teacher_ckpt, _motion = walk_env
    with TeacherPool(teacher_ckpt, env.mj_model, env.n_sub, 2.0, 2, workers=2) as pool:
        q, v = start_state(env, 0, 0.0, np.random.default_rng(0))
        acts = pool.start_activation([(0, 0.0, q, v), (1, 0.0, q, v)])
        assert set(acts) == {0, 1} and all(a.shape == (env.mj_model.na,) for a in acts.values())
        pool._procs[1].kill()
        with pytest.raises(MmbioError, match=r"teacher worker 2 of 2 died") as e:
            pool.label([(0, 0.0, q, v, acts[0]), (1, 0.0, q, v, acts[1])])
        assert "\n" not in str(e.value)
    with pytest.raises(MmbioError, match="at least one world"):
        TeacherPool(teacher_ckpt, env.mj_model, env.n_sub, 2.0, 0)


def test_ctrl_c_during_collection_stops_the_teacher_workers(walk_env, tmp_path) -> None:
    import multiprocessing

    from mmbio.errors import Interrupted
    from mmbio.train.distill import distill

    cfg, env, teacher, motion = walk_env
    assert cfg.distill.workers == 2  # the preset's

    def progress(i: int, total: int, row: dict) -> None:
        if row.get("collected", 0) >= 4:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="no iteration had finished"):
        distill(cfg, env, teacher, tmp_path / "run", log=None, progress=progress, reference_motion=motion)
    assert not [p for p in multiprocessing.active_children() if p.name == "mmbio-teacher"]
    assert not (tmp_path / "run").exists()  # nothing was written: the new folder is removed


def test_distillation_refusals(walk_env, tmp_path) -> None:
    from mmbio.control.checkpoint import save_checkpoint
    from mmbio.train.driver import load_init_policy
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.teacher import load_teacher_checkpoint

    cfg, env, _teacher, motion = walk_env
    # a policy checkpoint is no teacher
    from mmbio.train.networks import make_policy_checkpoint

    trainer = make_trainer(cfg, env)
    s0 = trainer.init(jax.random.key(0))
    pol = save_checkpoint(make_policy_checkpoint(s0.params, s0.norm, cfg, reference_motion=motion), tmp_path / "p.pkl")
    with pytest.raises(DataFileError, match="must be a 'tracking' checkpoint"):
        load_teacher_checkpoint(pol)
    # a student of another observation layout cannot start a run
    other_cfg = get_config("distill_walk", [*_SHORT, "env.lookahead_steps=2"])
    other_env = ImitationEnv(other_cfg.env, motion, n_envs=other_cfg.ppo.n_envs)
    with pytest.raises(MmbioError, match=r"policy sizes|observation layout"):
        load_init_policy(pol, other_cfg, other_env)
    wide = get_config("distill_walk", [*_SHORT, "ppo.actor_hidden=32"])
    with pytest.raises(MmbioError, match="actor_hidden"):
        load_init_policy(pol, wide, env)


def test_cli_distillation_needs_a_teacher(tmp_path, capsys) -> None:
    from mmbio.cli import main

    code = main(["train", "--config", "distill_walk", "distill.teacher=", "--output", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0 and "needs a teacher" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------------------------------
# PPO from a given policy
# --------------------------------------------------------------------------------------------------

_TOY = ["ppo.n_envs=16", "ppo.n_steps=16", "ppo.n_minibatches=2", "ppo.actor_hidden=32,32", "ppo.critic_hidden=32,32"]


def test_ppo_from_a_given_policy_warms_the_critic_then_anchors_the_actor() -> None:
    """Critic warm-up keeps the given actor (and log-std) exactly; afterwards the anchor term is active and decays."""
    cfg = get_config("smoke", [*_TOY, "ppo.critic_warmup_updates=2", "ppo.anchor_coef=1.0", "ppo.anchor_updates=4"])
    env = PointMassTrackingEnv(n_envs=cfg.ppo.n_envs)
    donor = make_trainer(cfg, env).init(jax.random.key(7))
    given = (jax.device_get(donor.params), (np.full(env.obs_size, 0.5), np.full(env.obs_size, 2.0), np.asarray(10.0)))
    trainer = make_trainer(cfg, env, given)
    s0 = trainer.init(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(s0.params["actor"]["out"]["kernel"]),
                                  np.asarray(donor.params["actor"]["out"]["kernel"]))  # fmt: skip
    np.testing.assert_allclose(np.asarray(s0.norm.mean), 0.5)
    s2, m2 = trainer.run(s0, 2)
    np.testing.assert_array_equal(np.asarray(s2.params["actor"]["out"]["kernel"]),
                                  np.asarray(donor.params["actor"]["out"]["kernel"]))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(s2.params["log_std"]), np.asarray(donor.params["log_std"]))
    assert not np.array_equal(np.asarray(s2.params["critic"]["out"]["kernel"]),
                              np.asarray(donor.params["critic"]["out"]["kernel"]))  # fmt: skip
    s6, m6 = trainer.run(s2, 4)
    w = np.asarray(m6["anchor_weight"])
    np.testing.assert_allclose(w, [1.0, 0.75, 0.5, 0.25])
    assert not np.array_equal(np.asarray(s6.params["actor"]["out"]["kernel"]),
                              np.asarray(donor.params["actor"]["out"]["kernel"]))  # fmt: skip
    assert float(np.asarray(m6["anchor_loss"])[-1]) > 0.0
    assert np.all(np.asarray(m2["anchor_weight"]) == 1.0)
    ret = evaluate(env, deterministic_policy(s6.params, s6.norm, cfg), jax.random.key(1), 2 * env.horizon)
    assert np.isfinite(ret["episode_return"])
    assert jnp.all(jnp.isfinite(s6.params["log_std"]))


def test_frozen_observation_statistics_stay_those_of_the_given_policy() -> None:
    """``ppo.freeze_obs_norm``: the given policy's statistics are kept bit for bit through PPO updates (its actor
    sees the inputs it was trained on); without it the rollouts move them."""
    moved = {}
    for freeze in (True, False):
        cfg = get_config("smoke", [*_TOY, f"ppo.freeze_obs_norm={freeze}"])
        env = PointMassTrackingEnv(n_envs=cfg.ppo.n_envs)
        given_stats = (np.full(env.obs_size, 0.5), np.full(env.obs_size, 2.0), np.asarray(10.0))
        donor = make_trainer(cfg, env).init(jax.random.key(7))
        trainer = make_trainer(cfg, env, (jax.device_get(donor.params), given_stats))
        s3, _ = trainer.run(trainer.init(jax.random.key(0)), 3)
        moved[freeze] = float(np.max(np.abs(np.asarray(s3.norm.mean) - 0.5)))
        if freeze:
            np.testing.assert_array_equal(np.asarray(s3.norm.var), 2.0)
            assert float(s3.norm.count) == 10.0
    assert moved[True] == 0.0
    assert moved[False] > 0.01


# --------------------------------------------------------------------------------------------------
# the walk test
# --------------------------------------------------------------------------------------------------


def test_heel_strikes_count_landings_after_a_swing_and_ignore_bounces() -> None:
    from mmbio.train.walk_test import heel_strikes

    hz = 500
    t = np.arange(0, 3, 1 / hz)
    f = np.where((t % 1.0) < 0.6, 600.0, 0.0)  # 60 % stance per 1 s cycle, on the floor at t = 0: landings at 1, 2 s
    assert heel_strikes(f, hz) == 2
    f[(t > 1.001) & (t < 1.01)] = 0.0  # a 9 ms bounce after the landing at 1 s
    assert heel_strikes(f, hz) == 2
    assert heel_strikes(np.zeros(100), hz) == 0


def test_walk_test_of_the_short_student_says_it_does_not_walk(distilled) -> None:
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.train.walk_test import StartResult, WalkTest, walk_test

    out, res = distilled
    t = walk_test(load_checkpoint(out / "latest.pkl"), seconds=0.6, n_perturbed=2, need=2, min_cycles=1)
    assert len(t.starts) == 3 and t.starts[0].frame == 0 and t.starts[0].noise_rad == 0.0
    assert t.starts[0].up_s == pytest.approx(res.history[-1]["test_up_s"])  # same rollout as the distillation's test
    assert 1.1 < t.reference_speed_m_s < 1.4
    assert not t.walks and "does not walk" in t.summary()
    good = StartResult(0, 0.0, 10.0, 10.0, False, {"r": 8, "l": 9}, t.reference_speed_m_s * 1.05)
    slow = dataclasses_replace(good, speed_m_s=t.reference_speed_m_s * 0.8)
    assert WalkTest([good, good, slow], t.reference_speed_m_s, need=1, min_cycles=8).walks
    assert not WalkTest([good, slow, slow], t.reference_speed_m_s, need=1, min_cycles=8).walks
    assert not WalkTest([slow, good, good], t.reference_speed_m_s, need=1, min_cycles=8).walks


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


@pytest.mark.parametrize(
    "override, words",
    [
        ("distill.lr=nan", "distill.lr"),
        ("distill.iterations=0", "distill.iterations"),
        ("distill.steps_per_iter=1e12", "distill.steps_per_iter"),
        ("distill.label=torque", "distill.label"),
        ("distill.assist_end=1.5", "distill.assist_end"),
        ("distill.min_help=0", "distill.min_help"),
        ("distill.workers=0", "distill.workers"),
        ("env.action=torque", "env.action"),
        ("distill.action_noise=-0.01", "distill.action_noise"),
        ("ppo.anchor_coef=-1", "ppo.anchor_coef"),
        ("ppo.critic_warmup_updates=-3", "ppo.critic_warmup_updates"),
        ("algo=sac", "algo"),
    ],
)
def test_distillation_settings_out_of_range_are_one_line_errors(override: str, words: str) -> None:
    from mmbio.train.config import ConfigError

    with pytest.raises(ConfigError) as e:
        get_config("distill_walk", [override])
    assert words in str(e.value) and "\n" not in str(e.value)


def test_an_activation_action_needs_activation_labels() -> None:
    from mmbio.train.config import ConfigError

    with pytest.raises(ConfigError) as e:
        get_config("distill_walk", ["env.action=activation", "distill.label=excitation"])
    assert "distill.label" in str(e.value) and "env.action=activation" in str(e.value) and "\n" not in str(e.value)
    assert get_config("distill_walk", ["env.action=activation"]).env.action == "activation"


def test_the_teachers_planned_activation_as_an_action_sends_its_own_excitation(walk_env) -> None:
    """What lets a student copy the teacher: its label (the activation it plans one control step ahead), sent as an
    ``env.action = 'activation'`` action, is the excitation the teacher itself sends (500 Hz, one physics step per
    control step). Sent as an excitation instead, it is not (the muscles would lag behind the plan)."""
    from mmbio.sim.activation_dynamics import MuscleDynamics
    from mmbio.train.host_worlds import start_state
    from mmbio.train.teacher import Teacher

    _cfg, env, teacher_ckpt, _motion = walk_env
    assert env.n_sub == 1
    t = Teacher(teacher_ckpt, env.mj_model, env.n_sub, 2.0)
    q, v = start_state(env, 0, 0.0, np.random.default_rng(0))
    act = t.start_activation(0.0, q, v)
    md = MuscleDynamics.of(env.mj_model, 1.0 / env.cfg.control_hz)
    for _ in range(2):
        ctrl, _qfrc, info = t.label(0.0, q, v, act)
        np.testing.assert_allclose(md.excitations(info["activation_target"], act), ctrl, atol=1e-12)
        assert np.mean(np.abs(np.clip(info["activation_target"], 0, 1) - ctrl)) > 0.01
        act = np.clip(act + 0.05, 0.0, 1.0)  # another activation state


def test_with_activation_actions_the_teacher_drives_with_its_plan_and_dart_noise_perturbs_only_the_drive(
    walk_env,
) -> None:
    """``env.action = 'activation'``, the teacher driving (β = 1), one physics step per control step: the activation
    observed after each step is the label of the step before (the teacher's plan, reached exactly); with
    ``action_noise`` it is the label plus noise of that size on the muscles not switched off (label sides 0), and the
    label itself on those switched off (side −1), while the labels stay the teacher's."""
    import dataclasses

    from mmbio.train.distill import _collect, _student_fns
    from mmbio.train.host_worlds import HostWorlds
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.teacher_pool import TeacherPool
    from mmbio.train.vecenv import plain_obs_layout

    cfg, env0, teacher_ckpt, motion = walk_env
    env = ImitationEnv(dataclasses.replace(env0.cfg, action="activation"), motion, n_envs=1)
    a0, a1 = plain_obs_layout(env)["muscle_act"]
    md = env.muscle_dynamics
    gaps, sides = [], []
    for noise in (0.0, 0.02):
        c = dataclasses.replace(cfg, env=env.cfg, distill=dataclasses.replace(
            cfg.distill, steps_per_iter=30, episode_s=1.0, action_noise=noise))  # fmt: skip
        with TeacherPool(teacher_ckpt, env.mj_model, env.n_sub, 2.0, 1) as pool:
            o, y, side, counts = _collect(env, HostWorlds(env, 1), pool, None, None, c, beta=1.0, alpha=1.0, seed=3,
                                          mean_fn=_student_fns(c)[0])  # fmt: skip
        assert len(o) == len(side) == 30 and counts["student_actions"] == 0 and np.all(np.isfinite(y))
        gaps.append(o[1:, a0:a1][:, md.act_adr] - y[:-1][:, md.muscles])
        sides.append(side[:-1][:, md.muscles])
    np.testing.assert_allclose(gaps[0], 0.0, atol=1e-5)
    off, inside = sides[1] < 0, sides[1] == 0
    assert 0.3 < off.mean() < 0.95 and inside.mean() > 0.03  # most muscles are switched off
    np.testing.assert_allclose(gaps[1][off], 0.0, atol=1e-5)
    sd = float(np.std(gaps[1][inside]))
    assert 0.015 < sd < 0.025, sd  # the noise of sd 0.02 (clipped at the reachable range)


def test_label_sides_are_the_ends_mujoco_reaches_and_the_loss_is_one_sided_there(walk_env) -> None:
    """Sides of activation labels against MuJoCo's own reach (one step at zero and at full excitation from the same
    activations); excitation labels at 0 and 1; the fit's loss ignores errors beyond an end and counts those short of
    it."""
    import dataclasses

    import mujoco

    from mmbio.train.distill import _student_fns, label_sides
    from mmbio.train.imitation_env import ImitationEnv

    cfg, env0, _teacher, motion = walk_env
    env = ImitationEnv(dataclasses.replace(env0.cfg, action="activation"), motion, n_envs=1)
    m = env.mj_model
    rng = np.random.default_rng(4)
    a = rng.uniform(0.0, 1.0, m.na)
    reach = []
    for u in (0.0, 1.0):
        d = mujoco.MjData(m)
        d.qpos[:] = motion.qpos[0]
        d.act[:], d.ctrl[:] = a, u
        mujoco.mj_step(m, d)
        reach.append(d.act[m.actuator_actadr].copy())
    lo, hi = reach
    label = np.where(np.arange(m.nu) % 3 == 0, lo - 0.01, np.where(np.arange(m.nu) % 3 == 1, hi, (lo + hi) / 2))
    want = np.where(np.arange(m.nu) % 3 == 0, -1, np.where(np.arange(m.nu) % 3 == 1, 1, 0))
    np.testing.assert_array_equal(label_sides(env, label, a), want)
    np.testing.assert_array_equal(label_sides(env0, np.array([0.0, 0.5, 1.0, -0.2]), np.zeros(4)), [-1, 0, 1, -1])
    # the loss: a network whose mean is 0.5 everywhere (zero weights, bias 0.5) against labels 0.7 / 0.3
    params = {"actor": {"layers": [], "out": {"kernel": jnp.zeros((2, 4)), "bias": jnp.full(4, 0.5)}}}
    cfg_obs = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, normalise_obs=False))
    _, loss = _student_fns(cfg_obs)
    lab = jnp.asarray([[0.7, 0.7, 0.3, 0.3, 1.0, -1.0, -1.0, 1.0]])  # labels, then sides
    got = float(loss(params["actor"], params, None, jnp.zeros((1, 2)), lab))
    # side +1 at 0.7 (short of it by 0.2: counts), side -1 at 0.7 (beyond: ignored), -1 at 0.3 (above: counts),
    # +1 at 0.3 (beyond: ignored)
    assert got == pytest.approx((0.2**2 + 0.2**2) / 4)


def test_build_policy_refuses_a_missing_policy_in_one_line(tmp_path) -> None:
    """``checkpoints/build_policy.py --finetuned`` (a policy fine-tuned elsewhere) on a file that is not there: one
    line naming it, exit 2, no traceback."""
    import subprocess
    import sys

    missing = tmp_path / "walk_gpu.pkl"
    r = subprocess.run([sys.executable, str(REPO / "checkpoints" / "build_policy.py"), "--finetuned", str(missing)],
                       capture_output=True, text=True, cwd=REPO, timeout=300)  # fmt: skip
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("build_policy:")]
    assert len(lines) == 1 and str(missing) in lines[0] and "cannot read checkpoint" in lines[0]
