"""mm-evalkit-compatible numbers (``mmbio validate ARCHIVE --compat mm-evalkit``, mmbio.analysis.evalkit_compat).

Everywhere: mm-evalkit's rules on made-up contact sequences whose answers are worked out by hand (a start-up cycle
is counted, the last frame before the next heel strike is sample 99, a post-step archive loses the cycle that
starts at frame 0), and the CLI on the synthesised-walk archive of test_rollout_npz (heel strikes up to one frame
late). Where mm-evalkit 0.1.0 imports (this interpreter, or the python named by MMBIO_EVALKIT_PYTHON; CI has
neither and skips): mm-evalkit's own functions, run on archives mmbio's writer produced from the demo controller,
validate those archives and find the same heel strikes, cycles and profiles as mmbio's re-implementation.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmbio.analysis.evalkit_compat import (
    align_activation,
    debounce,
    evalkit_cycles,
    heel_strike_frames,
    normalise_cycle,
    read_evalkit_archive,
)
from mmbio.cli import main

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "checkpoints" / "tracking_walk.pkl"


def walk_contact(n: int, *, down_at_start: bool) -> np.ndarray:
    """(n,) right-foot contact: 60 frames down, 40 up, repeating; heel strikes at 100, 200, … (and at 0 when the
    foot is already down at frame 0, which is not a heel strike: nothing precedes it)."""
    k = np.arange(n) % 100
    c = k < 60
    if not down_at_start:
        c[:40] = False  # swing first: heel strikes at 40, 100, 200, …
    return c


def test_heel_strikes_and_debounce() -> None:
    c = np.zeros(40, bool)
    c[5:20] = True  # contact 5..19 with a 3-frame gap 10..12 and a 2-frame touch at 30..31
    c[10:13] = False
    c[30:32] = True
    assert heel_strike_frames(c).tolist() == [5, 13, 30]
    clean = debounce(c)
    assert clean[5:20].all() and not clean[30:32].any()  # gap closed, brief touch removed
    assert heel_strike_frames(clean).tolist() == [5]
    # a short gap at the very start is not closed (it is how the episode began)
    s = np.r_[np.zeros(3, bool), np.ones(20, bool)]
    assert not debounce(s)[:3].any()


def test_startup_cycle_is_counted() -> None:
    c = walk_contact(250, down_at_start=True)
    # heel strikes at 100 and 200; frame 0 starts a cycle because the foot is down there
    assert heel_strike_frames(c).tolist() == [100, 200]
    assert evalkit_cycles(c, traj_length=250) == [(0, 100), (100, 200)]
    # mmbio needs a heel strike at each end: one cycle (100, 200)
    # starting in swing: no start-up cycle, frame 0 is no boundary
    s = walk_contact(250, down_at_start=False)
    assert evalkit_cycles(s, traj_length=250)[0][0] == 40


def test_cycle_rule_limits() -> None:
    c = walk_contact(300, down_at_start=True)
    # the last frame closes a cycle when the foot is up and 60-150 frames passed: frame 299 is in swing (k = 99)
    assert evalkit_cycles(c, traj_length=300) == [(0, 100), (100, 200), (200, 299)]
    # more cycles than round(traj_length / 100): the ones closest to 100 frames are kept (in time order)
    assert evalkit_cycles(c, traj_length=200) == [(0, 100), (100, 200)]
    # a 50-frame interval is too short for a cycle
    short = c.copy()
    short[150:160] = True  # contact 150..159 adds a heel strike at 150 (its gap before is 40 frames: not closed)
    cyc = evalkit_cycles(short, traj_length=300)
    assert (100, 150) not in cyc and (150, 200) not in cyc and (0, 100) in cyc


def test_time_normalisation_leaves_the_next_heel_strike_out() -> None:
    x = np.arange(30, dtype=float)[:, None] * np.array([[1.0, 2.0]])
    y = normalise_cycle(x, 10, 20)
    assert y.shape == (100, 2)
    assert y[0, 0] == 10.0 and y[-1, 0] == pytest.approx(19.0)  # frame end − 1, not the heel strike at 20
    np.testing.assert_allclose(y[:, 0], np.linspace(10, 19, 100), atol=1e-12)
    np.testing.assert_allclose(y[:, 1], 2 * y[:, 0])


def test_post_step_activation_loses_state_zero() -> None:
    a = np.arange(12, dtype=float).reshape(6, 2)
    post = align_activation(a, "post_step")
    assert np.isnan(post[0]).all()
    np.testing.assert_array_equal(post[1:], a[:-1])
    np.testing.assert_array_equal(align_activation(a, "pre_step"), a)


@pytest.fixture(scope="module")
def synth_archive(tmp_path_factory) -> tuple[Path, np.ndarray]:
    from test_rollout_npz import evalkit_arrays, evalkit_walk

    walk = evalkit_walk()
    p = tmp_path_factory.mktemp("ek") / "walk.npz"
    np.savez(p, **evalkit_arrays(walk, "pre_step"))
    return p, walk[1]


def test_cli_compat_on_synthesised_walk(synth_archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, touch = synth_archive
    out = tmp_path / "out"
    main(["validate", str(path), "-o", str(out), "--no-pdf", "--no-spm", "--compat", "mm-evalkit"])
    text = capsys.readouterr().out
    assert "mm-evalkit 0.1.0 rules beside mmbio's" in text and "right gait cycles" in text
    c = json.loads((out / "metrics.json").read_text())["compat"]["mm-evalkit"]
    # independently: the right foot's raw heel strikes are the frames where a right sensor first reads > 0.05
    right = (touch[:, 0] > 0.05) | (touch[:, 1] > 0.05)
    expected = [i for i in range(1, len(right)) if right[i] and not right[i - 1]]
    assert c["episodes"][0]["heel_strike_frames"]["r"] == expected
    # a start-up cycle exactly when the right foot is down at frame 0
    starts = [s for s, _ in c["episodes"][0]["cycles"]]
    assert (0 in starts) == bool(right[0])
    rows = {r["number"]: r for r in c["rows"]}
    n_mm = rows["right gait cycles"]["mmbio"]
    assert rows["right gait cycles"]["mm_evalkit"] == n_mm + (1 if 0 in starts else 0)
    # mm-evalkit's heel strike is on the first whole frame with contact: 0-10 ms after mmbio's interpolated one
    lag = c["heel_strikes"]["right"]
    assert lag["paired"] >= 2 and 0.0 <= lag["lag_ms_median"] <= 10.0
    # joint profiles from the same states: the two mean curves agree closely
    knee = c["joints"]["knee_angle_r"]
    assert knee["curves_r"] > 0.95 and knee["rule"]["r"] is not None
    assert "rule" not in c["joints"]["knee_angle_l"]
    assert "half-cycle" in c["joints"]["knee_angle_l"]["reason"]
    # no kinetics block in this archive: mm-evalkit has no GRF for it
    assert c["grf"] == {} and "n/a" in rows["vertical GRF"]["reason"]
    assert all(r["mm_evalkit"] is None for r in c["rows"] if "vs human" in r["number"])


def test_compat_refuses_other_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmbio.sim.motion import synthesize_motion

    p = tmp_path / "motion.npz"
    synthesize_motion(speed_m_s=1.25, n_cycles=2).save(p)  # an mmbio motion file, not an mm-evalkit archive
    assert main(["validate", str(p), "-o", str(tmp_path / "o"), "--no-pdf", "--no-spm", "--compat", "mm-evalkit"]) != 0
    assert "--compat mm-evalkit needs an mm-evalkit rollout archive" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- mm-evalkit itself


def _evalkit_python() -> str | None:
    if importlib.util.find_spec("mm_evalkit") is not None:
        return sys.executable
    return os.environ.get("MMBIO_EVALKIT_PYTHON") or None


EVALKIT_PY = _evalkit_python()
needs_evalkit = pytest.mark.skipif(
    EVALKIT_PY is None, reason="mm-evalkit 0.1.0 is not importable here and MMBIO_EVALKIT_PYTHON is not set"
)


@pytest.fixture(scope="module")
def demo_archives(tmp_path_factory) -> dict[str, Path]:
    """The demo controller, 2 s, written by mmbio's writer pre-step, post-step and with the kinetics block."""
    from mmbio.control.run import run_checkpoint
    from mmbio.io.evalkit_write import write_evalkit_archive

    run = run_checkpoint(str(DEMO), duration_s=2.0, static_opt=False)
    d = tmp_path_factory.mktemp("demo")
    return {
        "pre_step": write_evalkit_archive(run.rollout, d / "pre.npz", phase="pre_step"),
        "post_step": write_evalkit_archive(run.rollout, d / "post.npz", phase="post_step"),
        "kinetics": write_evalkit_archive(run.rollout, d / "kin.npz", phase="pre_step", kinetics=True),
    }


def run_evalkit(archive: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{archive.stem}.json"
    proc = subprocess.run([EVALKIT_PY, str(HERE / "evalkit_worker.py"), str(archive), str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


@needs_evalkit
@pytest.mark.parametrize("kind", ["pre_step", "post_step", "kinetics"])
def test_evalkit_reads_mmbio_archives_and_agrees(demo_archives, kind: str, tmp_path: Path) -> None:
    path = demo_archives[kind]
    ek = run_evalkit(path, tmp_path)  # raises inside mm-evalkit when its archive validation fails
    assert ek["n_episodes"] == 1
    mine = read_evalkit_archive(path)
    # heel strikes (frames) and cycles: identical integers
    assert mine.episodes[0].heel_strikes["r"].tolist() == ek["heel_strikes"][0]["r"]
    assert mine.episodes[0].heel_strikes["l"].tolist() == ek["heel_strikes"][0]["l"]
    assert [list(c) for c in mine.episodes[0].cycles] == ek["gait_indexes"][0]
    assert len(ek["gait_indexes"][0]) >= 1
    # profiles: the same linear interpolation of the same frames (interp1d there, weights here): equal to
    # floating-point rounding; 1e-9 deg / 1e-9 activation is far below any reported digit
    prof = np.array(ek["avg_joint_gaits"])
    for i, j in enumerate(ek["joint_names"]):
        np.testing.assert_allclose(mine.joints[j], prof[i], atol=1e-9, rtol=0)
    act = np.array(ek["avg_muscle_gaits"])
    for i, m in enumerate(ek["muscle_names"]):
        np.testing.assert_allclose(mine.muscles[m], act[i], atol=1e-9, rtol=0)


@needs_evalkit
@pytest.mark.parametrize("phase", ["pre_step", "post_step"])
def test_startup_cycle_as_evalkit_counts_it(phase: str, tmp_path: Path) -> None:
    """The synthesised walk starts with the right foot down: mm-evalkit counts the start-up cycle from frame 0
    pre-step and drops it post-step (state 0 has no activation); mmbio's rules find the same cycles."""
    from test_rollout_npz import evalkit_arrays, evalkit_walk

    p = tmp_path / f"synth_{phase}.npz"
    np.savez(p, **evalkit_arrays(evalkit_walk(), phase))
    ek = run_evalkit(p, tmp_path)
    mine = read_evalkit_archive(p)
    assert [list(c) for c in mine.episodes[0].cycles] == ek["gait_indexes"][0]
    starts = [g[0] for g in ek["gait_indexes"][0]]
    assert (0 in starts) == (phase == "pre_step")
    np.testing.assert_allclose(mine.joints["knee_angle_r"], np.array(ek["avg_joint_gaits"])[3], atol=1e-9, rtol=0)


def test_compat_reads_the_kinetics_block_as_mmbio_checks_it(synth_archive, tmp_path: Path) -> None:
    """A partial embedded-kinetics block (mass without sensor names) is one clear error, not a traceback."""
    from mmbio.analysis.evalkit_compat import read_evalkit_archive
    from mmbio.errors import DataFileError

    with np.load(synth_archive[0]) as z:
        arrays = {k: z[k] for k in z.files}
    p = tmp_path / "partial.npz"
    np.savez(p, **arrays, model_mass_kg=np.array(84.0))
    with pytest.raises(DataFileError, match="the embedded-kinetics block is partial"):
        read_evalkit_archive(p)
