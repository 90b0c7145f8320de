"""Write the MuscleMimic fixture of mmbio's MuscleMimic-checkpoint tests with MuscleMimic's own code.

Run in a separate environment that has ``musclemimic`` 0.1.0 (it pins mujoco 3.4, jax 0.7.2, flax 0.12.0)::

    python -m venv /work/venv-mm && /work/venv-mm/bin/pip install musclemimic==0.1.0
    /work/venv-mm/bin/python tests/data/musclemimic/make_fixture.py WALK_QPOS.npz tests/data/musclemimic

``WALK_QPOS.npz`` holds ``qpos`` (T, 89), ``qvel`` (T, 88) at 100 Hz of the MyoFullBody ``nofingers`` model and its
``joint_names`` (mmbio's synthesised one-stride walk, exported with ``mmbio.sim.motion.synthesize_motion``). It writes:

* ``run/checkpoint_3/``: a checkpoint written by MuscleMimic's ``OrbaxCheckpointManager`` (schema 2.2): the
  ``conf_fullbody.yaml`` config with a small actor/critic (2 × 32 units, so the fixture stays small), the
  ``ActorCritic`` of ``musclemimic.algorithms`` initialised by flax, the output layer scaled up ×60 so that the
  untrained policy's actions cover MuscleMimic's [-1, 1] action range (a fresh network's are ~0.01), an optax
  Adam state, and observation statistics ``run_stats`` (mean/var/count) measured on the observations of a
  reference replay, as training would accumulate them.
* ``walk_traj.npz``: the reference motion in MuscleMimic's trajectory format (``Trajectory.save``), extended with
  the mimic sites' kinematics by MuscleMimic's ``extend_motion`` (the pipeline that writes its AMASS cache).
* ``parity.npz``: a rollout of that policy (deterministic: the Gaussian's mode) in MuscleMimic's CPU environment
  (``MyoFullBody`` with the MJX model options of ``MjxMyoFullBody``: 2 ms × 5 substeps, 4 solver iterations, 8
  line-search iterations, no Euler damping; ``--use_mujoco`` evaluation uses the same): per control step the
  observation MuscleMimic built, the action its network returned (``network.apply``, the Gaussian's mode) with the
  statistics carried along as its evaluation does (each call also updates ``run_stats``, by ~1/count) and with the
  checkpoint's statistics (``action_frozen``: the frozen normaliser mmbio uses), and the MuJoCo state the observation was built from: ``mj_step`` leaves
  the derived quantities (site poses, body velocities, muscle lengths/forces, touch sensors) of the state at the
  start of its last substep, so the state is recorded in two parts, ``pre_*`` (qpos, qvel, act, qacc_warmstart at
  the start of the last substep) and ``post_*`` (qpos, qvel, act after it), plus ``ctrl``, the trajectory step and
  the MuJoCo outputs the observation read (``mj_length``, ``mj_velocity``, ``mj_force`` per muscle, ``mj_touch``):
  MuJoCo 3.4 and 4.0 wrap a few tendons differently (TMAJ, LAT2: lengths differ by ~1.5 cm), so the parity test
  checks mmbio's observation builder on MuscleMimic's own MuJoCo outputs and MuJoCo 4's outputs separately.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import musclemimic
import numpy as np
import optax
from loco_mujoco.smpl.retargeting import extend_motion
from loco_mujoco.trajectory import Trajectory, TrajectoryData, TrajectoryInfo, TrajectoryModel
from musclemimic.algorithms.common.checkpoint_manager import CheckpointMetadata, OrbaxCheckpointManager
from musclemimic.algorithms.common.networks import ActorCritic
from musclemimic.environments.humanoids.myofullbody import MyoFullBody
from omegaconf import OmegaConf

STEP = 3
N_STEPS = 40  # control steps recorded (0.4 s)
HIDDEN = [32, 32]
OUT_SCALE = 60.0
MJX_OPTIONS = dict(iterations=4, ls_iterations=8, disableflags=mujoco.mjtDisableBit.mjDSBL_EULERDAMP)


def main(walk: str, out_dir: str) -> None:
    out = Path(out_dir).resolve()
    src = np.load(walk)
    conf_path = Path(musclemimic.__file__).parent.parent / "fullbody" / "conf_fullbody.yaml"
    cfg = OmegaConf.load(conf_path)
    cfg.pop("defaults", None)
    cfg.experiment.actor_hidden_layers = HIDDEN
    cfg.experiment.critic_hidden_layers = HIDDEN
    cfg.experiment.env_params.num_envs = 4
    cfg.experiment.num_envs = 4
    env_params = OmegaConf.to_container(cfg.experiment.env_params, resolve=True)
    env_params.pop("env_name")
    for k in ("num_envs", "mjx_backend"):  # MuJoCo C (no CUDA here); the MJX model options are passed below
        env_params.pop(k)

    # --- the reference in MuscleMimic's trajectory format, extended with site kinematics by MuscleMimic
    probe = MyoFullBody(**env_params, model_option_conf=dict(MJX_OPTIONS),
                        th_params={"random_start": False, "fixed_start_conf": (0, 0)})  # fmt: skip
    m = probe._model
    names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(m.njnt)]
    assert names == [str(n) for n in src["joint_names"]], "joint order differs from mmbio's export"
    info = TrajectoryInfo(joint_names=names, model=TrajectoryModel(njnt=m.njnt, jnt_type=jnp.array(m.jnt_type)),
                          frequency=float(src["rate_hz"]))  # fmt: skip
    qpos, qvel = jnp.asarray(src["qpos"]), jnp.asarray(src["qvel"])
    data = TrajectoryData(qpos=qpos, qvel=qvel, split_points=jnp.array([0, qpos.shape[0]]))
    # the retargeting cache is written by an environment without goal (sites and model as in training)
    ext_params = {"disable_fingers": True, "model_option_conf": dict(MJX_OPTIONS)}
    traj = extend_motion("MyoFullBody", ext_params, Trajectory(info=info, data=data))
    traj_path = out / "walk_traj.npz"
    traj.save(str(traj_path))

    # --- the environment of a MuscleMimic evaluation, reference from frame 0
    env = MyoFullBody(**env_params, model_option_conf=dict(MJX_OPTIONS),
                      th_params={"random_start": False, "fixed_start_conf": (0, 0)})  # fmt: skip
    env.load_trajectory(traj_path=str(traj_path), warn=False)
    env.th.to_numpy()
    n_obs = env.info.observation_space.shape[0]
    n_act = env.info.action_space.shape[0]

    # --- observation statistics from a reference replay (what training's running normaliser accumulates)
    obs0 = env.reset()
    replay = [obs0]
    d = env._data
    for k in range(1, min(120, env.th.len_trajectory(0))):
        td = env.th.traj.data.get(0, k, np)
        d.qpos[:] = td.qpos
        d.qpos[:2] -= env.th.traj.data.get(0, 0, np).qpos[:2]
        d.qvel[:] = td.qvel
        mujoco.mj_forward(env._model, d)
        env._additional_carry = env._additional_carry.replace(
            traj_state=env._additional_carry.traj_state.replace(subtraj_step_no=k)
        )
        o, env._additional_carry = env._create_observation(env._model, d, env._additional_carry)
        replay.append(np.asarray(o))
    replay = np.array(replay)
    count = 1.0e9  # a trained run's count: 8192 worlds × 20 steps per update × ~6,000 updates
    mean = replay.mean(axis=0)
    var = replay.var(axis=0) + 1e-2 * (1.0 + np.abs(mean))  # a trained run has seen more spread than one replay

    # --- the network of a MuscleMimic run, initialised by flax
    net = ActorCritic(action_dim=n_act, activation=cfg.experiment.activation, init_std=cfg.experiment.ppo_config.init_std,
                      learnable_std=True, hidden_layer_dims=tuple(HIDDEN), critic_hidden_layer_dims=tuple(HIDDEN),
                      use_layernorm=True, layernorm_eps=cfg.experiment.layernorm_eps)  # fmt: skip
    variables = net.init(jax.random.key(7), jnp.zeros((1, n_obs)))
    params = jax.tree.map(lambda x: x, variables["params"])
    out_layer = sorted(k for k in params["actor"] if k.startswith("Dense_"))[-1]
    params["actor"][out_layer]["kernel"] = params["actor"][out_layer]["kernel"] * OUT_SCALE
    params["actor"][out_layer]["bias"] = params["actor"][out_layer]["bias"] + 0.3
    run_stats = {"RunningMeanStd_0": {"mean": jnp.asarray(mean, jnp.float32), "var": jnp.asarray(var, jnp.float32),
                                      "count": jnp.asarray(count, jnp.float32)}}  # fmt: skip

    @jax.jit
    def act_mm(stats, o):  # MuscleMimic's evaluation: apply with run_stats mutable, the Gaussian's mode
        (pi, _), upd = net.apply({"params": params, "run_stats": stats}, o[None], mutable=["run_stats"])
        return jnp.reshape(pi.mode(), (-1,)), upd["run_stats"]  # its RunningMeanStd squeezes a batch of one

    # the policy's own observations join the statistics (a trained run's statistics cover what its policy sees;
    # MuscleMimic's evaluation keeps updating them, which drifts visibly only on observations far outside them)
    seen = [replay]
    for _pass in range(2):
        obs = env.reset()
        rows = []
        for _k in range(N_STEPS):
            rows.append(np.asarray(obs, np.float64))
            obs, _r, _ab, done, _i = env.step(np.asarray(act_mm(run_stats, jnp.asarray(obs, jnp.float32))[0])[None])
            if done:
                break
        seen.append(np.array(rows))
        allobs = np.concatenate(seen)
        mean = allobs.mean(axis=0)
        var = allobs.var(axis=0) + 1e-2 * (1.0 + np.abs(mean))
        run_stats = {"RunningMeanStd_0": {"mean": jnp.asarray(mean, jnp.float32), "var": jnp.asarray(var, jnp.float32),
                                          "count": jnp.asarray(count, jnp.float32)}}  # fmt: skip

    opt_state = optax.adam(4e-4).init(params)
    train_state = types.SimpleNamespace(params=params, opt_state=opt_state, step=jnp.asarray(STEP), run_stats=run_stats)

    ckpt_dir = out / "run"
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    mgr = OrbaxCheckpointManager(str(ckpt_dir), max_to_keep=2, async_save=False)
    meta = CheckpointMetadata(step=STEP, update_number=STEP, global_timestep=STEP * 80, target_global_timestep=2048,
                              learning_rate=4e-4, num_envs=4, num_steps=20, num_minibatches=4, update_epochs=1,
                              backend="warp", env_name="MjxMyoFullBody")  # fmt: skip
    mgr.save_checkpoint(STEP, types.SimpleNamespace(config=cfg), types.SimpleNamespace(train_state=train_state), meta)
    mgr.close()

    # --- roll the policy out in MuscleMimic's environment, recording what each observation was built from
    rec: dict[str, list] = {k: [] for k in ("obs", "action", "action_frozen", "pre_qpos", "pre_qvel", "pre_act",
                                            "pre_warm", "post_qpos", "post_qvel", "post_act", "ctrl", "traj_step",
                                            "mj_length", "mj_velocity", "mj_force", "mj_touch")}  # fmt: skip
    real_step = mujoco.mj_step
    last_pre: dict[str, np.ndarray] = {}

    def recording_step(model, data_, nstep=1):
        if nstep > 1:
            real_step(model, data_, nstep - 1)
        last_pre.update(qpos=data_.qpos.copy(), qvel=data_.qvel.copy(), act=data_.act.copy(),
                        warm=data_.qacc_warmstart.copy())  # fmt: skip
        real_step(model, data_, 1)

    mujoco.mj_step = recording_step

    obs = env.reset()
    d = env._data
    state = {"pre": dict(qpos=d.qpos.copy(), qvel=d.qvel.copy(), act=d.act.copy(), warm=d.qacc_warmstart.copy())}
    stats = run_stats
    for _k in range(N_STEPS):
        a, stats = act_mm(stats, jnp.asarray(obs, jnp.float32))
        rec["obs"].append(np.asarray(obs, np.float64))
        rec["action"].append(np.asarray(a, np.float64))
        rec["action_frozen"].append(np.asarray(act_mm(run_stats, jnp.asarray(obs, jnp.float32))[0], np.float64))
        p = state["pre"]
        rec["pre_qpos"].append(p["qpos"])
        rec["pre_qvel"].append(p["qvel"])
        rec["pre_act"].append(p["act"])
        rec["pre_warm"].append(p["warm"])
        rec["post_qpos"].append(d.qpos.copy())
        rec["post_qvel"].append(d.qvel.copy())
        rec["post_act"].append(d.act.copy())
        rec["ctrl"].append(d.ctrl.copy())
        rec["traj_step"].append(int(env._additional_carry.traj_state.subtraj_step_no))
        rec["mj_length"].append(d.actuator_length.copy())  # what MuJoCo 3.4 computed (the observation's source)
        rec["mj_velocity"].append(d.actuator_velocity.copy())
        rec["mj_force"].append(d.actuator_force.copy())
        rec["mj_touch"].append(
            d.sensordata[
                [env._model.sensor_adr[env._model.sensor(n).id] for n in ("r_foot", "r_toes", "l_foot", "l_toes")]
            ].copy()
        )
        obs, _r, _absorbing, done, _info = env.step(np.asarray(a, np.float64)[None])
        d = env._data
        state["pre"] = dict(last_pre)
        if done:
            break
    mujoco.mj_step = real_step
    np.savez_compressed(out / "parity.npz", **{k: np.array(v) for k, v in rec.items()},
                        versions=np.array(json.dumps({"mujoco": mujoco.__version__, "jax": jax.__version__,
                                                      "musclemimic": "0.1.0"})))  # fmt: skip
    print(
        f"wrote {ckpt_dir}/checkpoint_{STEP}, {traj_path.name}, parity.npz ({len(rec['obs'])} steps, obs {n_obs}, "
        f"actions {n_act}; action range {np.min(rec['action']):.2f}..{np.max(rec['action']):.2f})"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
