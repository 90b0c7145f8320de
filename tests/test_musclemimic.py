"""MuscleMimic checkpoints: the Orbax reader, the rebuilt environment's observation and the imported policy against
MuscleMimic's own (fixture written by MuscleMimic 0.1.0, ``tests/data/musclemimic/make_fixture.py``), the end-to-end
validation of a checkpoint folder, and hostile checkpoint folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("orbax.checkpoint", reason="MuscleMimic checkpoints need the train extra (orbax-checkpoint)")

import mujoco

from mmbio.errors import DataFileError
from mmbio.train import musclemimic as mm

DATA = Path(__file__).parent / "data" / "musclemimic"
CKPT = DATA / "run" / "checkpoint_3"
TRAJ = DATA / "walk_traj.npz"
#: muscles whose tendon paths MuJoCo 3.4 (MuscleMimic's pin) and 4.0 wrap differently at these states
ENGINE_DIFFERENT = {"TMAJ", "TMAJ_left", "LAT2", "LAT2_left"}
N_STATE = 5 + 82 + 6 + 82 + 1770 + 4


@pytest.fixture(scope="module")
def setup():
    ck = mm.read_checkpoint(CKPT)
    s = mm.EnvSettings.from_config(ck.config, ck.path)
    ref = mm.read_trajectory(TRAJ, mm.MuscleMimicEnv(s).model, s.sites)
    return ck, mm.MuscleMimicEnv(s, ref), np.load(DATA / "parity.npz")


def _data_as_musclemimic(env, p, k, *, engine_outputs: bool):
    """MjData as MuscleMimic's was when it built observation k: derived quantities of the state at the start of the
    last substep, integrated qpos/qvel/act; ``engine_outputs``: muscle and touch values from MuscleMimic's MuJoCo."""
    d = mujoco.MjData(env.model)
    d.qpos[:], d.qvel[:], d.act[:] = p["pre_qpos"][k], p["pre_qvel"][k], p["pre_act"][k]
    d.qacc_warmstart[:], d.ctrl[:] = p["pre_warm"][k], p["ctrl"][k]
    mujoco.mj_forward(env.model, d)
    d.qpos[:], d.qvel[:], d.act[:] = p["post_qpos"][k], p["post_qvel"][k], p["post_act"][k]
    if engine_outputs:
        d.actuator_length[:], d.actuator_velocity[:], d.actuator_force[:] = (
            p["mj_length"][k], p["mj_velocity"][k], p["mj_force"][k])  # fmt: skip
        d.sensordata[env.touch] = p["mj_touch"][k]
    return d


def test_checkpoint_read_and_sizes(setup):
    ck, env, _p = setup
    assert (ck.obs_size, ck.action_size) == (2418, 354) == (env.obs_size, env.model.nu)
    arch = ck.controller["architecture"]
    assert arch["actor_hidden"] == [32, 32] and arch["activation"] == "silu" and arch["layer_norm"]
    assert "clip" not in ck.controller["obs_normalizer"] and ck.controller["obs_normalizer"]["eps"] == 1e-8
    assert env.s.timestep == 0.002 and env.s.n_substeps == 5
    assert env.model.opt.iterations == 4 and env.model.opt.ls_iterations == 8
    assert (env.s.lookahead, env.s.stride, env.s.concise, env.goal_size) == (5, 20, True, 469)


def test_observation_parity_with_musclemimic(setup):
    """Every one of the 2,418 values equals MuscleMimic's observation to 1e-5 (on MuscleMimic's MuJoCo outputs)."""
    _ck, env, p = setup
    err = max(
        float(np.abs(env.observation(_data_as_musclemimic(env, p, k, engine_outputs=True), int(p["traj_step"][k]),
                                     reset=k == 0) - p["obs"][k]).max())
        for k in range(len(p["obs"]))
    )  # fmt: skip
    assert err < 1e-5, err


def test_observation_parity_mujoco4(setup):
    """Recomputed by this MuJoCo (4.x): identical but for the muscles whose tendon wrapping MuJoCo 4 changed and the
    touch sensors, which a 4-iteration contact solve leaves version-dependent."""
    _ck, env, p = setup
    names = [mujoco.mj_id2name(env.model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(env.model.nu)]
    keep = np.array([n not in ENGINE_DIFFERENT for n in names])
    for k in range(len(p["obs"])):
        o = env.observation(_data_as_musclemimic(env, p, k, engine_outputs=False), int(p["traj_step"][k]), reset=k == 0)
        e = np.abs(o - p["obs"][k])
        assert e[:175].max() < 1e-9 and e[N_STATE:].max() < 1e-5
        mus = e[175:1945].reshape(354, 5)
        assert mus[keep][:, [0, 1, 3, 4]].max() < 1e-5  # lengths, velocities, excitations, activations
        assert mus[:, 1].max() < 1e-5 and mus[:, 3:].max() == 0.0
        assert e[1945:1949].max() < 1.0  # touch, N


def test_action_parity_with_musclemimic(setup):
    """The imported numpy policy's Gaussian mean equals MuscleMimic's network on the recorded observations."""
    from mmbio.train.policy_numpy import numpy_policy

    ck, _env, p = setup
    pol = numpy_policy(ck.controller)
    assert np.abs(pol(p["obs"]) - p["action_frozen"]).max() < 1e-5
    assert np.abs(pol(p["obs"]) - p["action"]).max() < 1e-5  # MuscleMimic's evaluation (statistics updated)


def test_closed_loop_follows_musclemimic(setup):
    """mmbio's rollout of the policy in the rebuilt environment starts where MuscleMimic's does and stays close
    (0.1 s later within 0.01 rad / m: MuscleMimic runs MuJoCo 3.4, mmbio 4.x, whose tendon wrapping and
    4-iteration contact solve differ slightly)."""
    ck, env, p = setup
    from mmbio.train.policy_numpy import numpy_policy

    pol = numpy_policy(ck.controller)
    d = mujoco.MjData(env.model)
    obs = env.reset(d)
    assert np.abs(obs[:175] - p["obs"][0][:175]).max() < 1e-9
    for k in range(10):
        obs = env.step(d, pol(obs), k)
    assert np.abs(d.qpos - p["post_qpos"][10]).max() < 1e-2


def test_validate_checkpoint_folder(tmp_path):
    from mmbio.cli import main

    out = tmp_path / "out"
    rc = main(["validate", str(CKPT), "--motion", str(TRAJ), "--no-pdf", "--no-spm", "--no-static-opt",
               "-o", str(out)])  # fmt: skip
    assert rc in (0, 1)
    assert (out / "metrics.json").is_file()
    doc = json.loads((out / "metrics.json").read_text())
    assert "MuscleMimic" in json.dumps(doc)


def test_missing_motion_is_one_line(capsys):
    from mmbio.cli import main

    assert main(["validate", str(CKPT), "--no-pdf", "-o", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--motion" in err and "KIT_KINESIS_TRAINING_MOTIONS" in err


def test_folders_that_are_not_checkpoints(tmp_path, capsys):
    from mmbio.cli import main

    assert main(["validate", str(DATA / "run")]) == 2
    assert "checkpoint_3" in capsys.readouterr().err
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a MuscleMimic checkpoint" in err and "\n" not in err.strip()


def _copy(tmp_path) -> Path:
    dst = tmp_path / "checkpoint_3"
    shutil.copytree(CKPT, dst)
    return dst


def _rewrite_config(ck: Path, edit) -> None:
    f = ck / "config" / "metadata"
    cfg = json.loads(f.read_text())
    edit(cfg["experiment"])
    f.write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda ck: shutil.rmtree(ck / "train_state" / "ocdbt.process_0"), "train_state cannot be restored"),
        (
            lambda ck: [
                f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])
                for f in (ck / "train_state").rglob("*")
                if f.is_file() and f.parent.name == "d"
            ],
            "train_state cannot be restored",
        ),
        (lambda ck: (ck / "config" / "metadata").write_text("{not json"), "not readable JSON"),
        (lambda ck: (ck / "config" / "metadata").unlink(), "without its config"),
        (lambda ck: _rewrite_config(ck, lambda e: e.update(use_moe=True)), "mixture-of-experts"),
        (lambda ck: _rewrite_config(ck, lambda e: e.update(use_residual=True)), "gated-residual"),
        (lambda ck: _rewrite_config(ck, lambda e: e.update(n_seeds=4)), "seeds"),
        (
            lambda ck: _rewrite_config(ck, lambda e: e["env_params"].update(env_name="MjxMyoBimanualArm")),
            "not supported",
        ),
    ],
)
def test_hostile_checkpoint_folders(tmp_path, damage, needle):
    ck = _copy(tmp_path)
    damage(ck)
    with pytest.raises(DataFileError) as ei:
        mm.read_checkpoint(ck)
    msg = str(ei.value)
    assert needle in msg and str(ck) in msg and "\n" not in msg


def test_hostile_params(tmp_path, monkeypatch):
    """NaN weights, shapes that do not chain and a normaliser of the wrong size: one line naming the problem."""
    real = mm._restore_tree

    def cases(mutate):
        def fake(path):
            tree = real(path)
            mutate(tree)
            return tree

        return fake

    def nan(t):
        k = np.array(t["params"]["actor"]["Dense_1"]["kernel"])
        k[0, 0] = np.nan
        t["params"]["actor"]["Dense_1"]["kernel"] = k

    def chain(t):
        t["params"]["actor"]["Dense_1"]["kernel"] = np.zeros((31, 32))

    def stats(t):
        t["run_stats"]["RunningMeanStd_0"]["mean"] = np.zeros(10)

    def unknown(t):
        t["params"]["actor"]["Attention_0"] = {"kernel": np.zeros((2, 2))}

    for mutate, needle in ((nan, "NaN"), (chain, "do not chain"), (stats, "run_stats mean/var"),
                           (unknown, "unknown MuscleMimic actor layers")):  # fmt: skip
        monkeypatch.setattr(mm, "_restore_tree", cases(mutate))
        with pytest.raises(DataFileError, match=needle) as ei:
            mm.read_checkpoint(CKPT)
        assert "\n" not in str(ei.value) and str(CKPT) in str(ei.value)


def test_trajectory_at_another_rate(tmp_path):
    bad = tmp_path / "traj.npz"
    with np.load(TRAJ, allow_pickle=True) as z:
        d = {k: z[k] for k in z.files}
    d["frequency"] = np.array(30.0)
    np.savez(bad, **d)
    env = mm.MuscleMimicEnv(mm.EnvSettings(sites=list(mm.env_facts()["mimic_sites"].values())))
    with pytest.raises(DataFileError, match="30 Hz"):
        mm.read_trajectory(bad, env.model, env.s.sites)


def test_cli_info_of_a_musclemimic_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    from mmbio.cli import main

    assert main(["info", str(CKPT)]) == 0
    out = capsys.readouterr().out
    assert "policy with 2418 observations and 354 actions" in out and "schema_version: 2.2" in out
