"""Rollout ``.npz`` reading: mm-evalkit archives (built here, no real file needed) and mmbio's own rollouts.

The evalkit fixture is a kinematic replay of the synthesised 1.25 m/s walk on MyoFullBody nofingers written in
mm-evalkit's documented layout: qpos at 100 Hz, touch sensors from MuJoCo ``sensordata`` of each pose, and a
made-up activation pattern a(t) that depends on time and muscle, so that its alignment can be checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from mmbio.cli import main
from mmbio.errors import DataFileError
from mmbio.io.loader import load_trial
from mmbio.io.rollout_npz import (
    EVALKIT_DT,
    TOUCH_COLUMNS,
    archive_kind,
    format_episodes,
    list_episodes,
    read_rollout_npz,
)
from mmbio.models.registry import load_model
from mmbio.sim.extract import rollout_to_trial
from mmbio.sim.motion import Motion, synthesize_motion
from mmbio.sim.rollout_cpu import Rollout, replay

DT = 0.01


def activation(t: np.ndarray, n_muscles: int) -> np.ndarray:
    """(len(t), n_muscles) made-up activations in [0.1, 0.9], different per muscle and per 10 ms frame."""
    j = np.arange(n_muscles)
    return 0.5 + 0.4 * np.sin(2 * np.pi * (np.asarray(t)[:, None] / 1.1 + j[None, :] / n_muscles))


@pytest.fixture(scope="module")
def walk() -> tuple[Motion, np.ndarray]:
    return evalkit_walk()


def evalkit_walk() -> tuple[Motion, np.ndarray]:
    """(motion, touch (T, 4)): the synthesised walk and its touch sensors in mm-evalkit's column order."""
    motion = synthesize_motion(speed_m_s=1.25, n_cycles=2)
    m = load_model("myofullbody", "nofingers").model
    d = mujoco.MjData(m)
    adr = [m.sensor_adr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, s)] for s in TOUCH_COLUMNS]
    touch = np.empty((motion.n_frames, 4))
    for k in range(motion.n_frames):
        d.qpos[:], d.qvel[:] = motion.qpos[k], motion.qvel[k]
        mujoco.mj_forward(m, d)
        touch[k] = d.sensordata[adr]
    return motion, touch


def evalkit_arrays(
    walk: tuple[Motion, np.ndarray],
    phase: str | None,
    episodes: list[tuple[int, int]] | None = None,
) -> dict[str, np.ndarray]:
    """An mm-evalkit archive as a dict of arrays. episodes: (frames T, traj_length) per episode.

    ``phase``: activation_sample_phase to write (None: key absent, which means post_step). A post-step exporter
    samples ``data.act`` after ``env.step``, so its row k holds a(t_{k+1}); a pre-step one holds a(t_k).
    """
    motion, touch = walk
    m = load_model("myofullbody", "nofingers").model
    n_all = motion.n_frames
    episodes = episodes or [(n_all, n_all)]
    out: dict[str, np.ndarray] = {
        "n_episodes": np.array(len(episodes)),
        "dt": np.array(DT),
        "joint_names": np.array([m.joint(i).name for i in range(m.njnt)]),
    }
    if phase is not None:
        out["activation_sample_phase"] = np.array(phase)
    for i, (frames, length) in enumerate(episodes):
        ref = np.resize(motion.qpos, (length, m.nq))  # reference clip (frames repeat past the motion's end)
        t_state = np.arange(frames) * DT
        t_act = t_state if phase == "pre_step" else t_state + DT
        out |= {
            f"episode_{i}_traj_id": np.array(100 + i),
            f"episode_{i}_traj_length": np.array(length),
            f"episode_{i}_joint_positions": ref[:frames].copy(),
            f"episode_{i}_traj_qpos": ref,
            f"episode_{i}_muscle_activations": activation(t_act, m.na),
            f"episode_{i}_touch_observations": np.resize(touch, (length, 4))[:frames],
        }
    return out


def write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


# ---------------------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("phase", ["pre_step", "post_step", None])
def test_evalkit_episode_reads_back(walk, phase: str | None, tmp_path: Path) -> None:
    motion = walk[0]
    p = write(tmp_path / "roll.npz", evalkit_arrays(walk, phase))
    assert archive_kind(p) == "evalkit"
    r = read_rollout_npz(p)
    T = motion.n_frames
    first = 0 if phase == "pre_step" else 1  # post_step (declared or legacy default): state 0 has no activation
    assert r.n_frames == T  # every state is kept, whatever the export phase
    np.testing.assert_array_equal(r.qpos, motion.qpos)
    np.testing.assert_allclose(r.time, np.arange(T) * EVALKIT_DT, atol=1e-12)
    assert r.notes["act_first_frame"] == first
    # every state from the first recorded one carries the activation of its own time
    np.testing.assert_allclose(r.act[first:], activation(r.time[first:], 354), atol=1e-12)
    np.testing.assert_array_equal(r.act[0], r.act[first])  # state 0 of a post-step export: state 1's, held
    assert r.ctrl.shape == (r.n_frames, 0)
    assert (r.model_name, r.variant, r.physics_dt, r.record_hz) == ("myofullbody", "nofingers", 0.002, 100.0)
    assert r.notes["traj_id"] == 100 and not r.notes["terminated_early"]
    assert r.notes["activation_sample_phase"] == (phase or "post_step")
    # qvel: interior frames are the mean of the two one-step differences (mj_differentiatePos)
    m = load_model("myofullbody", "nofingers").model
    k = 50
    back, fwd = np.empty(m.nv), np.empty(m.nv)
    mujoco.mj_differentiatePos(m, back, DT, motion.qpos[k - 1], motion.qpos[k])
    mujoco.mj_differentiatePos(m, fwd, DT, motion.qpos[k], motion.qpos[k + 1])
    np.testing.assert_allclose(r.qvel[k], 0.5 * (back + fwd), atol=1e-12)
    np.testing.assert_allclose(r.qvel[1:-1], motion.qvel[1:-1], atol=0.05)  # the motion's own qvel


def test_episode_selection(walk, tmp_path: Path) -> None:
    n = walk[0].n_frames  # 211
    # ep0 complete but short; ep1 the longest but terminated early; ep2 complete (T = traj_length - 1) and longer
    p = write(tmp_path / "three.npz", evalkit_arrays(walk, "pre_step", [(100, 100), (n, 300), (n - 11, n - 10)]))
    eps = list_episodes(p)
    assert [(e.index, e.traj_id, e.frames, e.traj_length, e.complete) for e in eps] == [
        (0, 100, 100, 100, True),
        (1, 101, n, 300, False),
        (2, 102, n - 11, n - 10, True),
    ]
    r = read_rollout_npz(p)
    assert r.notes["episode"] == 2 and "longest complete" in r.notes["episode_selection"]
    r1 = read_rollout_npz(p, episode=1)
    assert r1.notes["terminated_early"] and r1.notes["messages"][0] == f"terminated early at frame {n} of 300"
    assert r1.n_frames == n
    assert "<- default" in format_episodes(p).splitlines()[4]
    with pytest.raises(DataFileError, match=r"episode 3 is not in the archive \(it holds 3"):
        read_rollout_npz(p, episode=3)
    # none complete: the longest, said so
    p = write(tmp_path / "none.npz", evalkit_arrays(walk, "pre_step", [(50, 300), (80, 300)]))
    r = read_rollout_npz(p)
    assert r.notes["episode"] == 1 and "no episode of 2 ran to completion" in r.notes["episode_selection"]


def _drop(key: str):
    return lambda a: {k: v for k, v in a.items() if k != key}


def _set(key: str, value):
    return lambda a: a | {key: value(a[key]) if callable(value) else value}


def _nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[7, 3] = np.nan
    return a


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_drop("dt"), "key 'dt': missing"),
        (_drop("n_episodes"), "neither an mmbio rollout"),
        (_drop("episode_0_touch_observations"), "key 'episode_0_touch_observations': missing"),
        (_set("dt", np.array(0.02)), "key 'dt': must be 0.01 s"),
        (_set("n_episodes", np.array(2)), "key 'episode_1_traj_id': missing"),
        (_set("n_episodes", np.array(1.5)), "key 'n_episodes': must be an integer"),
        (_set("joint_names", lambda a: a[::-1]), "key 'joint_names': do not match"),
        (_set("activation_sample_phase", np.array("after")), "key 'activation_sample_phase': must be one of"),
        (_set("episode_0_joint_positions", lambda a: a[:, :88]), "key 'episode_0_joint_positions': has 88 columns"),
        (_set("episode_0_traj_qpos", lambda a: a[:, :88]), "key 'episode_0_traj_qpos': has 88 columns"),
        (_set("episode_0_muscle_activations", lambda a: a[:, :353]), "'episode_0_muscle_activations': has 353"),
        (_set("episode_0_touch_observations", lambda a: a[:, :2]), "'episode_0_touch_observations': has 2 col"),
        (_set("episode_0_muscle_activations", lambda a: a[:-3]), "has 208 frames, joint_positions has 211"),
        (_set("episode_0_traj_length", np.array(150)), "'episode_0_traj_qpos': has 211 frames, traj_length says 150"),
        (_set("episode_0_muscle_activations", _nan), "'episode_0_muscle_activations': 1 non-finite values (first at frame 7"),
        (_set("episode_0_joint_positions", _nan), "'episode_0_joint_positions': 1 non-finite"),
        (_set("episode_0_joint_positions", lambda a: a * 57.3), "root quaternion (columns 3:7) has norm"),
        (_set("episode_0_traj_id", np.array([1, 2])), "'episode_0_traj_id': must be an integer scalar"),
    ],
)  # fmt: skip
def test_malformed_archive_names_file_and_key(walk, edit, needle: str, tmp_path: Path) -> None:
    p = write(tmp_path / "bad.npz", edit(evalkit_arrays(walk, "post_step")))
    with pytest.raises(DataFileError) as ei:
        read_rollout_npz(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: ") and needle in msg and "\n" not in msg


def test_truncated_and_pickled_archives(walk, tmp_path: Path) -> None:
    good = write(tmp_path / "good.npz", evalkit_arrays(walk, "pre_step"))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataFileError, match=r"not a readable \.npz archive"):
        read_rollout_npz(cut)
    a = evalkit_arrays(walk, "pre_step") | {
        "joint_names": np.array(list(evalkit_arrays(walk, None)["joint_names"]), dtype=object)
    }
    with pytest.raises(DataFileError, match="'joint_names': stored as a pickled object array"):
        read_rollout_npz(write(tmp_path / "pickled.npz", a))
    with pytest.raises(DataFileError, match="no such file"):
        read_rollout_npz(tmp_path / "absent.npz")


# ---------------------------------------------------------------------------------------------- trials and CLI


def test_load_trial_of_evalkit_episode(walk, tmp_path: Path) -> None:
    p = write(tmp_path / "walk.npz", evalkit_arrays(walk, "post_step"))
    trial = load_trial(p)
    assert trial.kind == "simulated" and trial.name == "walk episode 0"
    assert trial.notes[0].startswith("mm-evalkit archive walk.npz: episode 0 of 1 (traj_id 100")
    assert any("touch sensors" in n and "contact forces" in n for n in trial.notes)
    assert set(trial.grf) == {"r", "l"} and trial.activations is not None
    assert trial.angles.time[0] == 0.0  # state 0 is kept: kinematics, GRF and events start at frame 0
    assert trial.activations.time[0] == 0.0  # its activation was not recorded: state 1's, held back and said so
    np.testing.assert_array_equal(trial.activations.values[0], trial.activations.values[1])
    assert any("activation of the first 1 state(s) not recorded" in n for n in trial.notes)
    mot = tmp_path / "x.mot"
    mot.write_text("")
    with pytest.raises(DataFileError, match=r"--episode is for rollout \.npz"):
        load_trial(mot, episode=0)


def test_cli_validate_evalkit_archive(walk, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = walk[0].n_frames
    p = write(tmp_path / "two.npz", evalkit_arrays(walk, "pre_step", [(60, 300), (n, n)]))
    out = tmp_path / "out"
    args = ["validate", str(p), "--reference", "schwartz2008:free", "--no-pdf", "--no-spm", "--output", str(out)]
    assert main(args) in (0, 1)
    doc = json.loads((out / "metrics.json").read_text())
    assert "episode 1 of 2" in json.dumps(doc)
    assert main([*args, "--episode", "5"]) == 2
    assert "episode 5 is not in the archive" in capsys.readouterr().err
    assert main(["info", str(p), "--episode", "1"]) == 0
    assert "<- default" in capsys.readouterr().out


def test_mmbio_rollout_npz_through_load_trial(walk, tmp_path: Path) -> None:
    motion = walk[0]
    r = replay("myofullbody", motion.qpos[:120], variant="nofingers")
    p = r.save(tmp_path / "replay.npz")
    assert archive_kind(p) == "mmbio"
    back = read_rollout_npz(p)
    assert isinstance(back, Rollout)
    np.testing.assert_array_equal(back.qpos, r.qpos)
    trial = load_trial(p)
    assert trial.kind == "simulated" and trial.name == "replay"
    direct = rollout_to_trial(r)
    np.testing.assert_array_equal(trial.angles.values, direct.angles.values)
    with pytest.raises(DataFileError, match="holds one rollout"):
        read_rollout_npz(p, episode=1)
    # a Motion file goes through the same door
    mp = motion.save(tmp_path / "motion.npz")
    assert load_trial(mp).angles.time.size == motion.n_frames
