"""mm-evalkit archives written by mmbio, read back by mmbio: one simulation exported pre-step and post-step.

The simulation is the demo tracking controller walking MyoFullBody (``corrected``, the ``nofingers`` layout mm-evalkit
evaluates) for 1.5 s (recorded at 100 Hz,
activations from MuJoCo's activation dynamics), taken from its last record before its first right heel strike, so
that strike lies in frame 0, the case a post-step export used to lose (state 0 dropped: one heel strike and one
cycle fewer than the pre-step export).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mmbio.cli import main
from mmbio.errors import MmbioError
from mmbio.gait.cycles import channel_curve
from mmbio.io.evalkit_write import evalkit_arrays, write_evalkit_archive
from mmbio.io.loader import load_trial
from mmbio.io.rollout_npz import read_rollout_npz
from mmbio.sim.extract import rollout_to_trial

DEMO = Path(__file__).resolve().parents[1] / "checkpoints" / "tracking_walk.pkl"


@pytest.fixture(scope="module")
def sim(demo_run_1p5s):
    """(rollout, trial) of the demo controller, 1.5 s, from its last record before its first right heel strike: that
    strike then lies in the first 10 ms frame, the case a post-step export used to lose."""
    run = demo_run_1p5s
    r = run.rollout
    assert not r.diverged and r.record_hz == 100.0
    k = int(run.trial.events.heel_strike["r"][0] * r.record_hz)  # 5 (0.051 s) on the corrected model
    cut = dataclasses.replace(
        r, time=r.time[k:] - r.time[k], qpos=r.qpos[k:], qvel=r.qvel[k:], act=r.act[k:], ctrl=r.ctrl[k:],
        qfrc_applied=None if r.qfrc_applied is None else r.qfrc_applied[k:],
    )  # fmt: skip
    trial = rollout_to_trial(cut)
    assert trial.events.heel_strike["r"][0] < 0.01
    return cut, trial


@pytest.fixture(scope="module")
def exported(sim, tmp_path_factory):
    d = tmp_path_factory.mktemp("evalkit")
    roll = sim[0]
    return {ph: write_evalkit_archive(roll, d / f"{ph}.npz", phase=ph) for ph in ("pre_step", "post_step")}


def test_archive_reads_back_as_the_simulation(sim, exported) -> None:
    roll = sim[0]
    T = roll.n_frames
    pre, post = (read_rollout_npz(exported[ph]) for ph in ("pre_step", "post_step"))
    assert pre.n_frames == T and post.n_frames == T - 1  # a post-step exporter never sees the last successor
    for r in (pre, post):
        np.testing.assert_array_equal(r.qpos, roll.qpos[: r.n_frames])
        # every state from the first recorded activation carries its own simulated activation
        k0 = r.notes["act_first_frame"]
        np.testing.assert_allclose(r.act[k0:], roll.act[k0 : r.n_frames], atol=1e-12)
    assert (pre.notes["act_first_frame"], post.notes["act_first_frame"]) == (0, 1)


def test_touch_sensors_are_the_simulated_contact_forces(sim) -> None:
    roll = sim[0]
    a = evalkit_arrays([roll])
    touch = a["episode_0_touch_observations"]  # (T, 4) r_foot r_toes l_foot l_toes, N
    assert touch.shape == (roll.n_frames, 4) and touch.min() >= 0.0
    # the sum per foot equals extraction's touch channels of the same states
    np.testing.assert_allclose(touch[:, 0] + touch[:, 1], trial_touch(roll, "r"), rtol=1e-9, atol=1e-6)
    # standing on both feet at some point carries about body weight (84 kg model; touch reads below the contact
    # force, mm-evalkit's 0.785 x)
    total = touch.sum(axis=1)
    assert 0.5 * 84 * 9.81 < np.median(total) < 1.2 * 84 * 9.81


def trial_touch(roll, side: str) -> np.ndarray:
    from mmbio.sim.extract import extract_signals

    sig = extract_signals(roll)
    return sig.touch[f"touch_{side}"]


def test_pre_and_post_step_exports_give_the_same_cycles(sim, exported) -> None:
    trials = {ph: load_trial(p) for ph, p in exported.items()}
    own = sim[1]
    for t in trials.values():
        assert t.angles.time[0] == 0.0
        for s in ("r", "l"):
            # the simulation's own heel strikes (post-step: up to its one-frame-shorter end) within 1 ms: the
            # archive has no qvel (finite differences) nor the controller's applied forces, so the contact forces
            # it gives differ a little from the simulated ones
            hs, ref = t.events.heel_strike[s], own.events.heel_strike[s]
            np.testing.assert_allclose(hs, ref[: len(hs)], atol=1e-3)
    # the strike a dropped state 0 used to lose: in the first 10 ms frame, in both exports
    assert trials["pre_step"].events.heel_strike["r"][0] < 0.01
    np.testing.assert_array_equal(
        trials["pre_step"].events.heel_strike["r"], trials["post_step"].events.heel_strike["r"]
    )
    cyc = {ph: channel_curve(t, "activations", "soleus_r") for ph, t in trials.items()}
    assert cyc["pre_step"].cycles.shape == cyc["post_step"].cycles.shape == (1, 101)
    # identical but for the first sample, where the post-step export holds frame 1's activation back
    np.testing.assert_allclose(cyc["pre_step"].cycles[:, 1:], cyc["post_step"].cycles[:, 1:], atol=1e-12)
    assert any("not recorded" in n for n in trials["post_step"].notes)


def test_writer_refusals(sim, tmp_path: Path) -> None:
    roll = sim[0]
    assert roll.variant == "corrected"  # the demo: same layout as nofingers, written
    with pytest.raises(MmbioError, match="mm-evalkit evaluates myofullbody/nofingers only"):
        evalkit_arrays([dataclasses.replace(roll, variant="full")])
    odd = dataclasses.replace(roll, notes={**roll.notes, "record_hz": 150.0})
    with pytest.raises(MmbioError, match="recorded at 150 Hz; mm-evalkit needs a multiple of 100 Hz"):
        evalkit_arrays([odd])
    with pytest.raises(MmbioError, match="phase must be one of"):
        evalkit_arrays([roll], phase="during")
    with pytest.raises(MmbioError, match="traj_ids: 2 values for 1 rollouts"):
        evalkit_arrays([roll], traj_ids=[1, 2])
    assert not list(tmp_path.iterdir())


def test_cli_export_then_validate(sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = sim[0].save(tmp_path / "roll.npz")
    out = tmp_path / "ek.npz"
    assert main(["export", str(src), "--output", str(out), "--phase", "post_step"]) == 0
    span = (sim[0].n_frames - 1) / 100  # post-step: the last state is not written (1.44 s of the cut 1.5 s)
    assert f"mm-evalkit archive, 1 episode of {span:.2f} s (ok), activations post_step" in capsys.readouterr().out
    trial = load_trial(out)
    # the same angles (deg) but for the heading, estimated from a trajectory one frame shorter
    np.testing.assert_allclose(trial.angles.values, rollout_to_trial(sim[0]).angles.values[:-1], atol=0.02)
    assert main(["export", str(tmp_path / "none.npz"), "--output", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    osim = tmp_path / "osim"
    assert main(["export", str(src), "--format", "opensim", "--model", "m.osim", "--output", str(osim)]) == 0
    assert "opensim-cmd run-tool" in capsys.readouterr().out
    assert "<model_file>m.osim</model_file>" in (osim / "id_setup.xml").read_text()
    assert (osim / "coordinates.mot").read_text().count("pelvis_tx") == 1


def test_embedded_kinetics_round_trip(sim, tmp_path: Path) -> None:
    roll = sim[0]
    a = evalkit_arrays([roll], phase="post_step", kinetics=True)
    T = len(a["episode_0_joint_positions"])
    sensors = a["episode_0_force_sensor_values"]
    assert sensors.shape == (T, 4)  # post-step: the row after each written state
    np.testing.assert_array_equal(sensors[:-1], a["episode_0_touch_observations"][1:])
    p = tmp_path / "k.npz"
    np.savez(p, **a)
    trial = load_trial(p)
    assert trial.subject.mass_kg == pytest.approx(float(a["model_mass_kg"]))
    assert any("from the archive's model_mass_kg" in n for n in trial.notes)
    k = trial.subject.extra["embedded_kinetics"]
    assert k["used"] and k["foot_sensor_r"]["r"] > 0.9 and k["foot_sensor_l"]["r"] > 0.9
    # the touch sensors read a little below the contact force at the peaks (mm-evalkit's GRF uses them)
    assert 0.7 < k["foot_sensor_r"]["peak_ratio_to_contact_grf"] < 1.05
    # walking's ankle moment is plantarflexor (negative), about 1.5-2 N*m/kg at push-off
    assert -2.5 < k["moment_ankle_angle_r_nm_per_kg"]["min"] < -1.0
    assert load_trial(p, mass_kg=70.0).subject.mass_kg == 70.0  # a given mass wins


def test_embedded_kinetics_faults(sim, tmp_path: Path) -> None:
    from mmbio.errors import DataFileError

    good = evalkit_arrays([sim[0]], phase="post_step", kinetics=True)

    def bad(**edit) -> str:
        a = {k: v for k, v in good.items() if edit.get(k, 0) is not None}
        a |= {k: v for k, v in edit.items() if v is not None}
        p = tmp_path / "bad.npz"
        np.savez(p, **a)
        with pytest.raises(DataFileError) as e:
            load_trial(p)
        return str(e.value)

    assert "the embedded-kinetics block is partial" in bad(model_mass_kg=None)
    assert "must be 'post_step'" in bad(kinetics_sample_phase=np.array("pre_step"))
    assert "must be N, got 'kN'" in bad(force_sensor_units=np.array(["kN", "N", "N", "N"]))
    assert "lacks the l foot sensor 'l_toes'" in bad(force_sensor_names=np.array(["r_foot", "r_toes", "l_foot", "x"]))
    steps = good["episode_0_kinetics_reference_steps"].copy()
    steps[5] = steps[4]
    assert "must increase strictly" in bad(episode_0_kinetics_reference_steps=steps)
    nan = good["episode_0_generalized_actuator_forces"].copy()
    nan[3, 2] = np.nan
    assert "non-finite" in bad(episode_0_generalized_actuator_forces=nan)
    # rows that cannot be placed on the episode's clock: noted, not used
    short = {k: (v[:10] if k.startswith("episode_0_") and k.split("episode_0_")[1] in (
        "generalized_actuator_forces", "force_sensor_values", "kinetics_reference_steps") else v)
        for k, v in good.items()}  # fmt: skip
    p = tmp_path / "short.npz"
    np.savez(p, **short)
    trial = load_trial(p)
    assert trial.subject.extra["embedded_kinetics"]["used"] is False
    assert any("not on the episode's clock, not used" in n for n in trial.notes)
