"""One periodic stride of the measured Rajagopal walk (mmbio.sim.measured_stride): closure, advance, stance plan
from the force plates, foot–floor quality and the ground reaction the stride implies (the demo's reference)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mmbio.gait.events import detect_events
from mmbio.io.opensim import read_opensim_grf, read_storage
from mmbio.sim.measured_stride import implied_grf, measured_total_grf, stride_events, stride_from_opensim
from mmbio.sim.motion import Motion, motion_quality

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def walk(shared: Path) -> tuple[Motion, Path]:
    ref = shared / "rajagopal2016_walk"
    if not (ref / "coordinates.sto").is_file():
        pytest.skip(f"{ref} lacks coordinates.sto")
    return stride_from_opensim(ref / "coordinates.sto", ref / "grf_walk.mot"), ref


def _note(motion: Motion, pattern: str) -> re.Match[str]:
    for n in motion.notes:
        if (hit := re.search(pattern, n)) is not None:
            return hit
    raise AssertionError(f"no note matches {pattern!r}")


def test_stride_is_periodic_and_advances_one_measured_stride(walk: tuple[Motion, Path]) -> None:
    motion, ref = walk
    q, n = motion.qpos, motion.n_frames - 1
    assert motion.rate_hz == 100.0 and n == 114  # round(1.1444 s × 100 Hz)
    # closed: the last frame is the first advanced along −y (exactly: the stride is rotated, not re-fitted)
    last = q[-1].copy()
    last[1] = q[0, 1]
    np.testing.assert_allclose(last, q[0], atol=1e-12)
    np.testing.assert_allclose(motion.qvel[-1], motion.qvel[0], atol=1e-9)
    # continuous at the closure's seam: the frame-to-frame step of every hinge changes there by < 0.6° (a velocity
    # jump < 60 °/s; measured ≤ 0.32°, the ankle's own turn), as anywhere inside a stride
    seam = int(_note(motion, r"seam, where the closure joins its end to its start, is at frame (\d+)")[1])
    m = motion.mj_model()
    hinges = [int(m.jnt_qposadr[j]) for j in range(m.njnt) if m.jnt_type[j] == 3]
    d2 = np.degrees(q[seam - 1, hinges] - 2 * q[seam, hinges] + q[seam + 1, hinges])
    assert 0 < seam < n and np.abs(d2).max() < 0.6
    # the closure spread at most 1.5° on any joint (and says so per joint)
    spread = _note(motion, r"spread linearly over the stride \(deg\): (.*); pelvis lateral")[1]
    values = [float(v) for v in re.findall(r" ([+-]\d+\.\d+)", spread)]
    assert len(values) == 16 and max(map(abs, values)) < 1.5
    # forward advance = the pelvis displacement over the window (pelvis_tx, OpenSim x forward → MuJoCo −y)
    a, b = (float(x) for x in _note(motion, r"window (\d\.\d+)-(\d\.\d+) s of the IK").groups())
    st = read_storage(ref / "coordinates.sto")
    tx = st.column("/jointset/ground_pelvis/pelvis_tx/value")
    stride_length = float(np.interp(b, st.time, tx) - np.interp(a, st.time, tx))
    assert q[0, 1] - q[-1, 1] == pytest.approx(stride_length, abs=1e-3)
    assert stride_length == pytest.approx(1.435, abs=0.01)
    speed = stride_length / motion.duration
    assert speed == pytest.approx(1.25, abs=0.02)  # the README's ≈ 1.25 m/s


def test_stance_plan_matches_the_force_plates(walk: tuple[Motion, Path]) -> None:
    motion, ref = walk
    grf = read_opensim_grf(ref / "grf_walk.mot")
    ev = detect_events(grf)  # 20 N, each foot its own plate signal
    period = ev.heel_strike["r"][1] - ev.heel_strike["r"][0]
    assert period == pytest.approx(1.1444, abs=1e-3)  # right heel strikes 0.267 and 1.4115 s
    n = motion.n_frames - 1
    st = {s: motion.stance[s][:-1] for s in "rl"}
    # right heel strike at frame 0; right stance fraction = the measured 0.757 s of 1.1444 s (66.1 %), ±1 frame
    assert st["r"][0] and not st["r"][-1]
    stance_r = (ev.toe_off["r"][0] - ev.heel_strike["r"][0]) / period
    assert abs(st["r"].mean() - stance_r) <= 1 / n and 0.6 < st["r"].mean() < 0.7
    # left heel strike at (0.8355 − 0.2668) / 1.1444 = 49.7 % of the stride, its stance wraps into the next stride
    hs_l = int(np.flatnonzero(st["l"] & ~np.roll(st["l"], 1))[0])
    assert abs(hs_l / n - (ev.heel_strike["l"][0] - ev.heel_strike["r"][0]) / period) <= 1 / n
    stance_l = (ev.toe_off["l"][0] - ev.heel_strike["l"][0]) / period
    assert abs(st["l"].mean() - stance_l) <= 1 / n and st["l"][0]
    # walking: always a foot on the plates; double support ≈ 16 % twice per stride
    assert np.all(st["r"] | st["l"]) and 0.25 < np.mean(st["r"] & st["l"]) < 0.4
    plan = stride_events(grf)
    assert plan.stance["r"] == (0.0, pytest.approx(100 * stance_r, abs=0.05))  # mean of the two right stances


def test_feet_on_the_floor_and_the_ground_reaction_kept(walk: tuple[Motion, Path]) -> None:
    motion, ref = walk
    q = motion_quality(motion)
    assert q["stance_source"] == "planned"
    assert q["penetration_max_m"] < 1e-6  # one global shift puts the lowest point on the floor
    assert q["floating_max_m"] < 0.002 and q["sliding_mean_m_s"] < 0.01  # IK replayed: 6.8 cm and 0.41 m/s
    assert q["joint_limit_max_deg"] < 0.1
    # the COM of the corrected stride implies the plates' total ground reaction (the IK alone: 0.05 / 0.03 BW RMS)
    grf = read_opensim_grf(ref / "grf_walk.mot")
    a = float(_note(motion, r"window (\d\.\d+)-")[1])
    n = motion.n_frames - 1
    meas = measured_total_grf(grf, stride_events(grf), a, np.arange(n) / n * 100.0)
    imp = implied_grf(motion)
    rms = np.sqrt(np.mean((imp - meas) ** 2, axis=0))
    assert rms[0] < 0.06 and rms[1] < 0.06  # fore-aft, vertical (BW)
    assert 0.6 < imp[:, 1].min() < 0.8 and 1.1 < imp[:, 1].max() < 1.35  # double hump, no heel-strike spike
