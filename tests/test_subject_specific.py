"""Subject-specific validation (issue 16 §6): one subject of a reference as the reference (``NAME:COND/SUBJECT``), its
ceiling from the other subjects, and ``mmbio track`` from a subject's own C3D to a validated tracking simulation.

The registry and ceiling tests read the shipped tables only; the pipeline test needs ``../shared`` (Schreiber C3D).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmbio.analysis.ceiling import clear_cache, human_ceiling_detail, kinematics_metric_fn
from mmbio.errors import MmbioError, UnknownReferenceError
from mmbio.reference.registry import (
    find_subject_reference,
    load_scalars,
    load_subject_curves_wide,
    parse_spec,
    reference_curve,
    reference_subjects,
)
from mmbio.trial import Events


def _rows(var: str, side: str, quantity: str = "joint_angle") -> tuple[list[str], np.ndarray]:
    wide = load_subject_curves_wide("schreiber2019", "c4")
    sel = wide[(wide.variable == var) & (wide.side == side) & (wide.quantity == quantity)]
    return list(sel.unit_id), sel[[f"p{i}" for i in range(101)]].to_numpy(float)


def test_subject_reference_is_that_subjects_curve() -> None:
    ids, vals = _rows("knee_flexion", "r")
    subj = ids[1]
    assert parse_spec(f"schreiber2019:c4/{subj}") == ("schreiber2019", f"c4/{subj}")
    rc = reference_curve("schreiber2019", f"c4/{subj}", "knee_flexion", "r", quantity="joint_angle")
    np.testing.assert_allclose(rc.mean, vals[1])
    assert rc.sd is None and rc.n_subjects == 1 and rc.source == f"schreiber2019:c4/{subj}"
    # the EMG is that subject's too, and the scalars stay the condition's (population bands)
    e_ids, e_vals = _rows("soleus", "r", "emg")
    emg = reference_curve("schreiber2019", f"c4/{e_ids[0]}", "soleus", "r", quantity="emg")
    np.testing.assert_allclose(emg.mean, e_vals[0])
    pop = load_scalars("schreiber2019", "c4")
    assert load_scalars("schreiber2019", f"c4/{subj}").equals(pop)
    assert subj in reference_subjects("schreiber2019", "c4")


def test_bad_subject_specs_are_one_line_errors() -> None:
    with pytest.raises(UnknownReferenceError, match="no subject 'nobody'; choose from: 2014001"):
        parse_spec("schreiber2019:c4/nobody")
    with pytest.raises(UnknownReferenceError, match="no per-subject curves"):
        parse_spec("schwartz2008:free/1")  # a published mean ± SD has no subjects
    for empty in ("schreiber2019:c4/", "schreiber2019:c4/-"):
        with pytest.raises(UnknownReferenceError, match="no subject after '/'"):
            parse_spec(empty)
    with pytest.raises(UnknownReferenceError, match="unknown condition 'c9'"):
        parse_spec("schreiber2019:c9/2014001")


def test_subject_ceiling_is_the_other_subjects_against_this_one() -> None:
    """The ceiling of a subject-specific reference: each other subject's mean cycle against this subject's (no SD),
    the median over them; recomputed here with numpy."""
    clear_cache()
    ids, vals = _rows("knee_flexion", "r")
    k = 0
    c = human_ceiling_detail("schreiber2019", f"c4/{ids[k]}", "kinematics", "knee_flexion", "r",
                             kinematics_metric_fn())  # fmt: skip
    others = [i for i in range(len(ids)) if i != k]
    r = [np.corrcoef(vals[i], vals[k])[0, 1] for i in others]
    rmse = [np.sqrt(np.mean((vals[i] - vals[k]) ** 2)) for i in others]
    assert c.kind == "subjects" and c.n["r"] == len(ids) - 1 == 8
    assert c.values["r"] == pytest.approx(np.median(r), abs=1e-9)
    assert c.values["rmse"] == pytest.approx(np.median(rmse), abs=1e-9)
    assert ids[k] not in c.unit_ids and "subject-specific" in c.note
    # the population reference keeps its leave-one-subject-out ceiling
    pop = human_ceiling_detail("schreiber2019", "c4", "kinematics", "knee_flexion", "r", kinematics_metric_fn())
    assert pop.n["r"] == len(ids) and pop.values["r"] != c.values["r"]


def test_file_names_find_their_subject() -> None:
    assert find_subject_reference("2014001_C4_05.c3d") == "schreiber2019:c4/2014001"
    assert find_subject_reference("/data/2015043_C5_05.c3d") == "schreiber2019:c5/2015043"
    assert find_subject_reference("markers_walk.trc") is None
    assert find_subject_reference("2014001_ST.c3d") is None  # no condition in the name


def test_stride_events_from_trial_events() -> None:
    """A walkway trial: two right heel strikes, one complete contact per foot (the answer by hand)."""
    from mmbio.sim.measured_stride import stride_events_from_trial

    ev = Events(heel_strike={"r": [0.05, 1.01], "l": [0.53, 1.50]}, toe_off={"r": [0.66], "l": [0.14, 1.13]},
                source="c3d")  # fmt: skip
    se = stride_events_from_trial(ev)
    assert se.t0 == pytest.approx(0.05) and se.period == pytest.approx(0.96)
    assert se.contacts == {"r": [(0.05, 0.66)], "l": [(0.53, 1.13)]}
    assert se.stance["r"] == pytest.approx((0.0, 0.61 / 0.96 * 100))
    assert se.stance["l"] == pytest.approx((0.48 / 0.96 * 100, 0.60 / 0.96 * 100))
    with pytest.raises(MmbioError, match="1 right heel strike"):
        stride_events_from_trial(Events(heel_strike={"r": [0.1], "l": [0.6]}, toe_off={"r": [0.7], "l": [0.2]}))


def test_track_a_subjects_own_c3d_and_validate_against_that_subject(shared: Path, tmp_path: Path) -> None:
    """A Schreiber subject's own C3D (scaled marker IK, its events) → one periodic stride → the tracking controller →
    ``mmbio validate`` compares it with that subject's curves and EMG by default and says so; its kinematics are
    flagged as by construction. The stride also drives the trainer's imitation environment."""
    from mmbio.cli import main
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.sim.motion import Motion

    trial = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[0]  # the data decide which subject
    subject = trial.name.split("_")[0]
    static = trial.with_name(f"{subject}_ST.c3d")
    ckpt, stride = tmp_path / "subj.pkl", tmp_path / "stride.npz"
    assert main(["track", str(trial), "--static", str(static), "-o", str(ckpt), "--motion", str(stride)]) == 0
    meta = load_checkpoint(ckpt).metadata
    assert meta["reference"] == f"schreiber2019:c4/{subject}" and meta["subject"] == subject
    motion = Motion.load(stride)
    # periodic, one stride of the trial's own clock: right heel strike to right heel strike from the C3D events
    from mmbio.io.loader import load_trial

    hs = load_trial(trial).events.heel_strike["r"]
    assert motion.duration == pytest.approx(hs[1] - hs[0], abs=0.011)
    speed = -(motion.qpos[-1, 1] - motion.qpos[0, 1]) / motion.duration
    assert 0.8 < speed < 1.8  # self-selected adult walking (C4)
    assert motion.stance["r"][0] and not motion.stance["r"][-2]  # heel strike at frame 0, swing before the end

    out = tmp_path / "v"
    assert main(["validate", str(ckpt), "--output", str(out), "--no-pdf", "--no-spm", "--cycles", "2"]) in (0, 1)
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["reference"]["condition"] == f"c4/{subject}" and doc["reference"]["subject"] == subject
    assert "SUBJECT-SPECIFIC" in doc["reference"]["description"]
    assert f"subject {subject}'s own trial" in doc["trial"]["by_construction"]
    soleus = doc["emg"]["right"]["soleus"]["r"]
    assert np.isfinite(soleus["value"]) and "subject-specific: the other 8 subjects" in soleus["ceiling"]["note"]
    knee = doc["kinematics"]["right"]["knee_flexion"]["r"]
    assert knee["value"] > 0.5  # tracked its own subject's knee (shape); the number is reported, not tuned

    # the trainer's imitation environment takes the same stride (mmbio train --motion stride.npz)
    jax = pytest.importorskip("jax")
    from mmbio.train.config import EnvConfig
    from mmbio.train.imitation_env import ImitationEnv

    assert motion.variant == "corrected"  # mmbio track's default model
    env = ImitationEnv(EnvConfig(model="myofullbody", variant=motion.variant), motion, 1)
    assert env.loop and env.period == motion.n_frames - 1
    state, _ = env.reset(jax.random.key(0))
    _, obs2, reward, *_ = env.step(state, np.full((1, env.mj_model.nu), 0.05, np.float32))
    assert np.all(np.isfinite(np.asarray(obs2))) and np.isfinite(float(reward[0]))


def test_reference_without_a_subject_is_the_others_mean_and_sd() -> None:
    """``COND/-SUBJECT``: mean and SD (ddof 1) of the other subjects' curves; its ceiling leave-one-out over them."""
    clear_cache()
    ids, vals = _rows("hip_flexion", "l")
    k = 2
    others = np.delete(vals, k, axis=0)
    rc = reference_curve("schreiber2019", f"c4/-{ids[k]}", "hip_flexion", "l", quantity="joint_angle")
    np.testing.assert_allclose(rc.mean, others.mean(axis=0))
    np.testing.assert_allclose(rc.sd, others.std(axis=0, ddof=1))
    assert rc.n_subjects == len(ids) - 1
    c = human_ceiling_detail("schreiber2019", f"c4/-{ids[k]}", "kinematics", "hip_flexion", "l",
                             kinematics_metric_fn())  # fmt: skip
    assert c.kind == "subjects" and c.n["r"] == len(ids) - 1 and ids[k] not in c.unit_ids
    assert f"subject {ids[k]}, the trial's own, left out" in c.note
    with pytest.raises(UnknownReferenceError, match="no subject '-nobody'"):
        parse_spec("schreiber2019:c4/-nobody")


def test_measured_trial_is_never_scored_against_its_own_subject(shared: Path, tmp_path: Path) -> None:
    """A Schreiber C3D validated against schreiber2019 is compared with the other subjects only (the notes say so);
    asking for its own subject explicitly is kept."""
    from mmbio.cli import main

    trial = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[-1]
    sid = trial.name.split("_")[0]
    out = tmp_path / "v"
    args = ["validate", str(trial), "-r", "schreiber2019:c4", "--no-pdf", "--no-spm", "--output", str(out)]
    assert main(args) in (0, 1)
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["reference"]["condition"] == f"c4/-{sid}" and doc["reference"]["left_out_subject"] == sid
    assert any(f"without subject {sid}" in n for n in doc["trial"]["notes"])
    emg = doc["emg"]["right"]["soleus"]["r"]
    assert f"subject {sid}, the trial's own, left out" in emg["ceiling"]["note"]


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("2014001/2014001_ST.c3d", [], "0 right heel strike"),  # a static trial: no gait events
        ("2014001/2014001_C4_05.c3d", ["-r", "schreiber2019:c4/nobody"], "no subject 'nobody'"),
        ("../rajagopal2016_walk/markers_walk.trc", [], "no gait events or force plates"),
        ("../rajagopal2016_walk/coordinates.sto", [], "needs --grf"),
        ("nowhere.c3d", [], "no such file"),
    ],
)
def test_track_bad_input_is_one_line(shared: Path, tmp_path: Path, capsys, name: str, extra: list[str],
                                     message: str) -> None:  # fmt: skip
    from mmbio.cli import main

    path = shared / "schreiber2019" / name
    assert main(["track", str(path), "-o", str(tmp_path / "x.pkl"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not (tmp_path / "x.pkl").exists()


def test_compare_flags_a_measured_input_of_a_reference_subject(shared: Path, tmp_path: Path) -> None:
    """``mmbio compare`` ranks every input on one reference, so it cannot leave each input's subject out: it says so."""
    from mmbio.cli import main

    trials = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[:2]
    out = tmp_path / "c"
    assert main(["compare", *map(str, trials), "-r", "schreiber2019:c4", "--output", str(out)]) == 0
    doc = json.loads((out / "compare.json").read_text())
    for t, inp in zip(trials, doc["inputs"], strict=True):
        sid = t.name.split("_")[0]
        assert inp["reference"] == "schreiber2019:c4"
        assert any(f"its subject {sid} is one of the reference's subjects" in f for f in inp["flags"])
