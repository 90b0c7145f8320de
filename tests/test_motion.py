"""Reference motions on MyoFullBody: frames, OpenSim replay, synthesis, quality figures."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from mmbio.errors import MmbioError
from mmbio.io.opensim import coordinate_degrees, read_storage
from mmbio.models.anatomy import coupled_qpos, joint_gain
from mmbio.sim import frames
from mmbio.sim.motion import Motion, _foot_kinematics, motion_from_opensim, motion_quality, synthesize_motion

# --------------------------------------------------------------------------------------------------
# frames


def test_pelvis_angles_round_trip() -> None:
    rng = np.random.default_rng(4)
    a = rng.uniform(-40.0, 40.0, size=(500, 3))
    q = frames.quat_from_pelvis_angles(a)
    assert q.shape == (500, 4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(frames.pelvis_angles_from_quat(q), a, atol=1e-9)
    np.testing.assert_allclose(frames.pelvis_angles_from_quat(-q), a, atol=1e-9)  # q and −q: same rotation
    r = frames.mat_from_quat(q)
    np.testing.assert_allclose(frames.quat_from_mat(r), q, atol=1e-12)


def test_pelvis_frames_match_mujoco_and_signs() -> None:
    tilt, lst, rot = np.radians([[12.0], [-7.0], [25.0]])
    q = frames.pelvis_quat_from_opensim(tilt, lst, rot)[0]
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, q)
    np.testing.assert_allclose(r.reshape(3, 3), frames.pelvis_matrix_from_opensim(tilt, lst, rot)[0], atol=1e-12)
    np.testing.assert_allclose(frames.pelvis_quat_from_opensim(0.0, 0.0, 0.0), [[1.0, 0, 0, 0]])
    fwd, right = np.array([0.0, -1.0, 0.0]), np.array([-1.0, 0.0, 0.0])  # the model faces −y; its right is −x
    mat = frames.mat_from_quat(frames.quat_from_pelvis_angles([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]]))
    assert (mat[0] @ fwd)[2] < -0.1  # anterior tilt: the front goes down
    assert (mat[1] @ right)[2] > 0.1  # obliquity +: right side up
    assert (mat[2] @ right) @ fwd > 0.1  # rotation +: right side forward
    np.testing.assert_allclose(frames.OPENSIM_TO_MUJOCO @ [1.0, 0, 0], fwd)


# --------------------------------------------------------------------------------------------------
# OpenSim IK → motion


@pytest.fixture(scope="module")
def rajagopal(shared: Path) -> tuple[Motion, Path]:
    path = shared / "rajagopal2016_walk" / "coordinates.sto"
    return motion_from_opensim(path), path


def test_rajagopal_joints_reproduce_ik(rajagopal: tuple[Motion, Path]) -> None:
    motion, path = rajagopal
    src = coordinate_degrees(read_storage(path))
    t = src.index.to_numpy()[0] + motion.time
    assert motion.rate_hz == 100 and motion.qpos.shape == (motion.n_frames, motion.mj_model().nq)
    assert motion.variant == "nofingers"  # the registry default (MuscleMimic training setup)
    for joint in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle"):
        for s in "rl":
            ref = np.radians(np.interp(t, src.index.to_numpy(), src[f"{joint}_{s}"].to_numpy()))
            got = motion.qpos_of(f"{joint}_{s}")
            assert np.corrcoef(ref, got)[0, 1] > 0.999
            assert np.max(np.abs(ref - got)) < np.radians(0.5)
    ext = np.radians(np.interp(t, src.index.to_numpy(), src["lumbar_extension"].to_numpy()))
    # the clinical lumbar angle is the trunk's rotation relative to the pelvis: joint × gain (vertebrae follow)
    gain = joint_gain(motion.mj_model(), "lumbar_extension")
    np.testing.assert_allclose(motion.qpos_of("flex_extension") * gain, ext, atol=np.radians(0.5))
    pel = frames.pelvis_angles_from_quat(motion.qpos_of("root")[:, 3:7])
    for j, (c, sign) in enumerate((("pelvis_tilt", -1), ("pelvis_list", -1), ("pelvis_rotation", 1))):
        ref = sign * np.interp(t, src.index.to_numpy(), src[c].to_numpy())
        assert np.max(np.abs(pel[:, j] - ref)) < 0.1


def test_rajagopal_walks_along_minus_y_on_the_floor(rajagopal: tuple[Motion, Path]) -> None:
    motion, _ = rajagopal
    root = motion.qpos_of("root")
    vy = np.polyfit(motion.time, root[:, 1], 1)[0]
    assert -1.30 < vy < -1.20  # 1.25 m/s along −y
    assert np.ptp(root[:, 0]) < 0.15
    fk = _foot_kinematics(motion.mj_model(), motion.qpos)
    lowest = min(fk.low[s][:, 2].min() for s in "rl")
    assert abs(lowest) < 0.002
    q = motion_quality(motion)
    assert q["penetration_max_m"] < 0.002
    assert q["joint_limit_max_deg"] < 1.0


def test_rajagopal_coupled_joints_and_qvel(rajagopal: tuple[Motion, Path]) -> None:
    motion, _ = rajagopal
    m = motion.mj_model()
    np.testing.assert_allclose(coupled_qpos(m, motion.qpos), motion.qpos, atol=1e-12)
    d = mujoco.MjData(m)
    d.qpos[:] = motion.qpos[60]
    mujoco.mj_forward(m, d)
    eq_rows = d.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert eq_rows.any() and np.max(np.abs(d.efc_pos[eq_rows])) < 1e-9
    # qvel follows MuJoCo's convention: integrating frame i−1 with qvel[i] over 2 dt lands on frame i+1
    dt = 1.0 / motion.rate_hz
    for i in (10, 50, 100):
        q = motion.qpos[i - 1].copy()
        mujoco.mj_integratePos(m, q, motion.qvel[i], 2 * dt)
        np.testing.assert_allclose(q, motion.qpos[i + 1], atol=1e-9)


def test_hamner_knee_flexion_positive(shared: Path) -> None:
    motion = motion_from_opensim(shared / "hamner2013_run" / "subject01" / "Run_3_ik.mot")
    for s in "rl":
        knee = np.degrees(motion.qpos_of(f"knee_angle_{s}"))
        assert knee.max() > 80 and knee.min() > -1
    assert any("knee sign auto-detected as -1" in n for n in motion.notes)
    assert any("treadmill" in n for n in motion.notes)


def test_motion_save_load(tmp_path: Path) -> None:
    m = synthesize_motion(n_cycles=1)
    p = m.save(tmp_path / "walk.npz")
    back = Motion.load(p)
    np.testing.assert_array_equal(back.qpos, m.qpos)
    np.testing.assert_array_equal(back.qvel, m.qvel)
    assert back.stance is not None and np.array_equal(back.stance["r"], m.stance["r"])  # type: ignore[index]
    assert (back.model, back.variant, back.rate_hz, back.notes) == (m.model, m.variant, m.rate_hz, m.notes)
    np.testing.assert_array_equal(back.qpos_of("knee_angle_l"), m.qpos_of("knee_angle_l"))


# --------------------------------------------------------------------------------------------------
# synthesis


@pytest.fixture(scope="module")
def walk() -> Motion:
    return synthesize_motion(speed_m_s=1.25, gait="walk", n_cycles=3)


def test_synthesized_walk_is_periodic_at_speed(walk: Motion) -> None:
    root = walk.qpos_of("root")
    first, last = walk.qpos[0].copy(), walk.qpos[-1].copy()
    first[1] = last[1] = 0.0
    np.testing.assert_allclose(last, first, atol=1e-9)
    np.testing.assert_allclose(walk.qvel[-1], walk.qvel[0], atol=1e-6)
    speed = (root[0, 1] - root[-1, 1]) / walk.duration
    assert abs(speed - 1.25) / 1.25 < 0.02
    knee = np.degrees(walk.qpos_of("knee_angle_r"))
    assert 50 < knee.max() < 70  # Schwartz free-speed swing peak


def test_synthesized_walk_quality(walk: Motion) -> None:
    q = motion_quality(walk)
    assert q["stance_source"] == "planned"
    assert q["penetration_max_m"] < 0.002
    assert q["floating_max_m"] < 0.01
    assert q["sliding_mean_m_s"] < 0.05
    assert q["joint_limit_max_deg"] < 3.0
    assert q["unsupported_max_m"] < 1e-6  # walking: always a foot on the floor


def test_synthesized_walk_feet_follow_planned_stance(walk: Motion) -> None:
    """Foot lock: loaded foot on the floor through the planned stance, swing foot clear of it."""
    from mmbio.sim.motion import SWING_CLEARANCE_M, SWING_RAMP

    assert walk.stance is not None
    low = _foot_kinematics(walk.mj_model(), walk.qpos).points[:, :, 2]
    n_cycle = (walk.n_frames - 1) // 3
    for s, cols in (("r", slice(0, 5)), ("l", slice(5, 10))):
        foot = low[:, cols].min(axis=1)
        assert np.all(foot[walk.stance[s]] < 1e-3)  # stance: on the floor up to toe off
        phase = ((np.arange(walk.n_frames) % n_cycle) / n_cycle * 100.0 + (0.0 if s == "r" else 50.0)) % 100.0
        toe_off = 100.0 * (1.0 - (~walk.stance[s][:n_cycle]).sum() / n_cycle)
        sigma = (phase - toe_off) / (100.0 - toe_off)
        mid = ~walk.stance[s] & (sigma >= SWING_RAMP) & (sigma <= 1.0 - SWING_RAMP)
        assert mid.any() and foot[mid].min() > SWING_CLEARANCE_M - 5e-4


def test_synthesized_walk_corrections_are_small(walk: Motion) -> None:
    """The foot lock changes the normative joint curves by a few degrees only (ankle/mtp: more)."""
    from mmbio.models.anatomy import clinical_joint_angles

    raw = synthesize_motion(speed_m_s=1.25, gait="walk", n_cycles=1, foot_lock=False)
    m = walk.mj_model()
    a = clinical_joint_angles(m, raw.qpos)
    b = clinical_joint_angles(m, walk.qpos[: raw.n_frames])
    limits = {"hip_flexion": 8.0, "hip_adduction": 4.0, "hip_rotation": 7.0, "knee_flexion": 8.0,
              "ankle_dorsiflexion": 15.0}  # fmt: skip
    for s in "rl":
        for j, lim in limits.items():
            assert np.max(np.abs(b[f"{j}_{s}"] - a[f"{j}_{s}"])) < lim, (j, s)
    q = motion_quality(raw)  # the uncorrected motion: the stance foot slides
    assert q["sliding_mean_m_s"] > 0.1


def test_synthesized_run_has_flight_and_no_penetration() -> None:
    run = synthesize_motion(speed_m_s=3.0, gait="run", n_cycles=2)
    q = motion_quality(run)
    assert q["penetration_max_m"] < 0.005
    assert q["unsupported_max_m"] > 0.005  # flight phases
    assert np.degrees(run.qpos_of("knee_angle_r")).max() > 80
    speed = (run.qpos[0, 1] - run.qpos[-1, 1]) / run.duration
    assert abs(speed - 3.0) < 0.06


def test_bad_input() -> None:
    with pytest.raises(MmbioError):
        synthesize_motion(gait="hop")  # type: ignore[arg-type]
    with pytest.raises(MmbioError):
        synthesize_motion(model="no_such_model")
    with pytest.raises(MmbioError):
        Motion(qpos=np.zeros((3, 5)), qvel=np.zeros((2, 4)))


@pytest.mark.parametrize(
    "bad",
    [{"swing_clearance_m": -0.01}, {"swing_clearance_m": float("nan")}, {"swing_ramp": 0.0},
     {"foot_flat_stance": 0.9}, {"foot_flat_stance": float("inf")}, {"heel_slip_sd_m": 0.0},
     {"swing_ramp": "0.1"}, {"iterations": 0}, {"iterations": 10**9}, {"iterations": 2.5}],
)  # fmt: skip
def test_foot_lock_refuses_bad_options(walk: Motion, bad: dict[str, float]) -> None:
    from mmbio.sim.synthesis import _foot_lock

    n = 8
    phase = {"r": np.linspace(0, 90, n), "l": np.linspace(50, 140, n) % 100}
    with pytest.raises(MmbioError, match=f"foot lock: {next(iter(bad))} must lie in"):
        _foot_lock(walk.mj_model(), walk.qpos[:n], phase, 60.0, 0.0, 100.0, [], **bad)


# --------------------------------------------------------------------------------------------------
# per-frame floor placement


def test_rajagopal_per_frame_floor(rajagopal: tuple[Motion, Path]) -> None:
    """Default floor='per_frame': the stance foot meets the floor in every frame; the shift is root-z only."""
    motion, path = rajagopal
    glob = motion_from_opensim(path, floor="global")
    m = motion.mj_model()
    both = lambda q: np.minimum(*(_foot_kinematics(m, q).low[s][:, 2] for s in "rl"))  # noqa: E731
    raw = both(glob.qpos)
    assert raw.max() > 0.04  # the global placement leaves both feet floating (≈ 5 cm)
    low = both(motion.qpos)
    assert low.max() < 0.005  # never both feet more than 5 mm above the floor
    assert low.min() > -0.001  # penetration < 1 mm
    diff = motion.qpos - glob.qpos
    diff[:, 2] = 0.0
    np.testing.assert_array_equal(diff, 0.0)  # joint angles, root x/y and orientation unchanged
    shift = motion.qpos[:, 2] - glob.qpos[:, 2]
    note = next(n for n in motion.notes if n.startswith("per-frame floor"))
    assert "RMS" in note and "0 flight frames" in note
    assert np.std(shift) < 0.03 and np.sqrt(np.mean(shift**2)) < 0.055
    jerk = lambda x: np.abs(np.diff(x, 2))  # noqa: E731
    assert jerk(shift).max() <= jerk(raw).max() + 1e-9  # no rougher than the lowest-point signal itself


def test_hamner_treadmill_per_frame_floor_and_belt(shared: Path) -> None:
    path = shared / "hamner2013_run" / "subject01" / "Run_3_ik.mot"
    motion = motion_from_opensim(path, belt_speed_m_s=3.0)
    root = motion.qpos_of("root")
    assert abs(-np.polyfit(motion.time, root[:, 1], 1)[0] - 3.0) < 0.02  # 3 m/s along −y
    assert np.ptp(root[:, 0]) < 0.15
    assert any("treadmill belt" in n for n in motion.notes)
    fk = _foot_kinematics(motion.mj_model(), motion.qpos)
    low = np.minimum(fk.low["r"][:, 2], fk.low["l"][:, 2])
    assert low.min() > -0.001
    up = low > 0.01  # flight: both feet clear of the floor
    assert 0.15 < up.mean() < 0.5
    note = next(n for n in motion.notes if n.startswith("per-frame floor"))
    n_flight = int(note.split(" flight frames")[0].split()[-1])
    assert n_flight > 50
    assert low.max() > 0.03  # the flight arc is kept, not flattened onto the floor


def test_joints_held_at_a_value_change_only_those_columns() -> None:

    walk = synthesize_motion(speed_m_s=1.25, n_cycles=1)
    held = walk.with_joints_held(["subtalar_angle_r", "subtalar_angle_l"], why="as the IK's model locks them")
    m = walk.mj_model()
    cols = [int(m.jnt_qposadr[m.joint(f"subtalar_angle_{s}").id]) for s in "rl"]
    dofs = [int(m.jnt_dofadr[m.joint(f"subtalar_angle_{s}").id]) for s in "rl"]
    assert np.abs(walk.qpos[:, cols]).max() > np.radians(1)  # the synthesised walk moves them
    assert np.all(held.qpos[:, cols] == 0) and np.all(held.qvel[:, dofs] == 0)
    keep = np.setdiff1d(np.arange(m.nq), cols)
    np.testing.assert_array_equal(held.qpos[:, keep], walk.qpos[:, keep])
    np.testing.assert_array_equal(np.delete(held.qvel, dofs, axis=1), np.delete(walk.qvel, dofs, axis=1))
    assert held.notes[-1] == "subtalar_angle_r, subtalar_angle_l held at 0 deg (as the IK's model locks them)"
    assert walk.notes[-1] != held.notes[-1]  # the original is untouched
    with pytest.raises(MmbioError, match="cannot hold 'root'"):
        walk.with_joints_held(["root"])
    with pytest.raises(MmbioError, match="cannot hold 'no_such'"):
        walk.with_joints_held(["no_such"])
