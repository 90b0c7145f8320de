"""The contact-consistent muscle tracking controller, the checkpoint runner and `mmbio validate checkpoint.pkl`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from mmbio.cli import main
from mmbio.control.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from mmbio.control.tracking import (
    LoopedReference,
    TrackingSettings,
    activation_bounds,
    excitation_for,
    track,
)
from mmbio.errors import MmbioError
from mmbio.sim.extract import extract_signals
from mmbio.sim.motion import synthesize_motion

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "checkpoints" / "tracking_walk.pkl"


@pytest.fixture(scope="module")
def walk():
    return synthesize_motion(speed_m_s=1.25, n_cycles=1)


def test_looped_reference_is_continuous_and_carries_the_stride_on(walk) -> None:
    m = copy.deepcopy(walk.mj_model())
    ref = LoopedReference(walk, m, duration_s=3.0)
    period = ref.period
    assert period == pytest.approx(walk.duration)
    eps = 1e-6
    q0, v0, _ = ref.at(period - eps)
    q1, v1, _ = ref.at(period + eps)
    # across the loop point: joints and root height continuous, root advanced along −y by nothing extra
    np.testing.assert_allclose(q1[2:], q0[2:], atol=1e-4)
    np.testing.assert_allclose(v1, v0, atol=1e-2)
    # one stride later the pelvis has moved one stride length (speed × stride time) forward (−y)
    qa, _, _ = ref.at(0.2)
    qb, _, _ = ref.at(0.2 + period)
    assert qb[1] - qa[1] == pytest.approx(-1.25 * period, rel=1e-6)
    np.testing.assert_allclose(qb[7:], qa[7:], atol=1e-9)
    # the velocity is the derivative of the position (tangent space, joints)
    h = 1e-4
    qm, _, _ = ref.at(0.5 - h)
    qp, _, _ = ref.at(0.5 + h)
    _, v, _ = ref.at(0.5)
    fd = np.zeros(m.nv)
    mujoco.mj_differentiatePos(m, fd, 2 * h, qm, qp)
    np.testing.assert_allclose(fd[6:], v[6:], atol=1e-3)


def test_non_periodic_short_reference_without_a_cycle_is_refused(walk) -> None:
    m = walk.mj_model()
    half = type(walk)(qpos=walk.qpos[:40], qvel=walk.qvel[:40], rate_hz=walk.rate_hz, model=walk.model,
                      variant=walk.variant)  # fmt: skip
    with pytest.raises(MmbioError, match="no complete gait cycle to loop"):
        LoopedReference(half, m, duration_s=2.0)


def test_excitation_reaches_the_planned_activation_in_one_mujoco_step(walk) -> None:
    """Independent check against MuJoCo's own muscle dynamics: set ctrl = excitation_for(a, a⁺) and step."""
    m = copy.deepcopy(walk.mj_model())
    m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    d = mujoco.MjData(m)
    rng = np.random.default_rng(0)
    a = rng.uniform(0.0, 1.0, m.na)
    tau_a, tau_d = m.actuator_dynprm[:, 0], m.actuator_dynprm[:, 1]
    lo, hi = activation_bounds(a, tau_a, tau_d, m.opt.timestep)
    assert np.all(lo <= a) and np.all(a <= hi) and np.all(hi - lo > 0)
    target = lo + rng.uniform(0.0, 1.0, m.na) * (hi - lo)
    d.qpos[:] = walk.qpos[0]
    d.act[:] = a
    d.ctrl[:] = excitation_for(a, target, tau_a, tau_d, m.opt.timestep)
    mujoco.mj_step(m, d)
    np.testing.assert_allclose(d.act, target, atol=1e-9)
    # the bounds are the extremes: full excitation reaches hi, none reaches lo
    for u, want in ((1.0, hi), (0.0, lo)):
        d.act[:] = a
        d.ctrl[:] = u
        mujoco.mj_step(m, d)
        np.testing.assert_allclose(d.act, want, atol=1e-9)


def test_tracking_walks_on_contacts_with_small_root_residuals(walk) -> None:
    roll, res = track(walk, duration_s=0.6)
    assert not res.fell and not roll.diverged
    assert res.unsolved == 0
    assert res.residual_force_rms_bw < 0.1  # the target
    assert np.mean(list(res.tracking_rmse_deg.values())) < 3.0
    weight = res.mass_kg * 9.81
    assert np.mean(res.contact_plan[:, :, 2].sum(1)) / weight == pytest.approx(1.0, abs=0.15)
    # the simulated contact forces (recomputed from the recorded states and applied forces) carry the body
    assert roll.qfrc_applied is not None and roll.qfrc_applied.shape == (roll.n_frames, roll.qvel.shape[1])
    sig = extract_signals(roll)
    fz = sig.grf["r"].force[:, 2] + sig.grf["l"].force[:, 2]
    assert np.mean(fz) / weight == pytest.approx(1.0, abs=0.1)
    assert res.real_time_factor > 0


def test_settings_round_trip_and_unknown_keys() -> None:
    s = TrackingSettings(joint_hz=5.0)
    assert TrackingSettings.from_dict(s.to_dict()) == s
    with pytest.raises(MmbioError, match="unknown settings"):
        TrackingSettings.from_dict({"joint_hz": 5.0, "gain": 1})
    with pytest.raises(MmbioError, match="mode"):
        TrackingSettings(mode="ideal")


def _demo_builder():
    """checkpoints/build.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_build", REPO / "checkpoints" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.shared
def test_demo_checkpoint_loads_and_rebuilds_to_the_same_motion(shared: Path) -> None:
    """The demo tracks one measured stride of the Rajagopal walk (checkpoints/build.py), with its settings."""
    build = _demo_builder()
    ckpt = load_checkpoint(DEMO)  # includes the model-hash check
    assert ckpt.kind == "tracking" and ckpt.model == "myofullbody" and ckpt.variant == build.VARIANT == "corrected"
    assert DEMO.stat().st_size < 20e6
    motion = ckpt.motion()
    assert motion.stance is not None and motion.source.startswith("one periodic stride of coordinates.sto")
    np.testing.assert_allclose(motion.qpos, build.measured_motion(shared).qpos, atol=1e-7)
    settings = TrackingSettings.from_dict(ckpt.controller["settings"])
    assert settings == build.MEASURED_SETTINGS == TrackingSettings(touchdown_m=0.02, release_m=0.006)


def test_the_root_free_demo_is_the_demo_without_root_help() -> None:
    """`python checkpoints/build.py --root-free`: the demo's stride with no root residual, its correction stored."""
    build = _demo_builder()
    ckpt = load_checkpoint(REPO / "checkpoints" / "tracking_walk_rootfree.pkl")
    demo = load_checkpoint(DEMO)
    np.testing.assert_array_equal(ckpt.motion().qpos, demo.motion().qpos)
    settings = TrackingSettings.from_dict(ckpt.controller["settings"])
    assert ckpt.variant == demo.variant == "corrected"
    assert settings == build.ROOT_FREE_CORRECTED_SETTINGS and settings.root_residual == "none"
    assert settings.w_root_pos == settings.w_root_rot == 1000.0  # on the corrected model 100 lets the pelvis drift
    corr = ckpt.controller["root_correction"]
    assert corr.shape == (64, 3) and 0.005 < np.abs(corr).max() < 0.03  # 10 mm measured (14 on the stock model)
    roll, res = track(ckpt.motion(), duration_s=0.2, settings=settings, root_correction=corr)
    assert not res.fell and np.abs(roll.qfrc_applied[:, :6]).max() == 0.0


def test_the_muscles_only_teacher_is_the_root_free_demo_with_nothing_but_muscles() -> None:
    """`python checkpoints/build.py --muscles-only`: the root-free demo's stride with its subtalar joints held at 0 and
    its correction, no reserve applied, the receding-horizon planner and foot placement at 2 ms; its first 40 ms apply
    no generalised force at all."""
    build = _demo_builder()
    ckpt = load_checkpoint(REPO / "checkpoints" / "tracking_walk_muscles.pkl")
    free = load_checkpoint(REPO / "checkpoints" / "tracking_walk_rootfree.pkl")
    mo = ckpt.motion()
    m = mo.mj_model()
    sub = [int(m.jnt_qposadr[m.joint(f"subtalar_angle_{s}").id]) for s in "rl"]
    assert np.all(mo.qpos[:, sub] == 0) and np.abs(free.motion().qpos[:, sub]).max() > np.radians(10)
    np.testing.assert_array_equal(np.delete(mo.qpos, sub, axis=1), np.delete(free.motion().qpos, sub, axis=1))
    assert "held at 0 deg" in mo.notes[-1]
    np.testing.assert_array_equal(ckpt.controller["root_correction"], free.controller["root_correction"])
    settings = TrackingSettings.from_dict(ckpt.controller["settings"])
    assert settings == build.MUSCLES_ONLY_SETTINGS
    assert (settings.reserves, settings.root_residual, settings.planner) == ("none", "none", "muscle_mpc")
    assert settings.placement and settings.physics_dt == 0.002
    roll, res = track(ckpt.motion(), duration_s=0.04, settings=settings, root_correction=ckpt.controller[
        "root_correction"], record_every=1)  # fmt: skip
    assert roll.physics_dt == 0.002 and len(res.time) == 20 and not res.fell
    assert np.abs(roll.qfrc_applied).max() == 0.0 and res.unsolved == 0
    assert any(n.startswith("lateral foot placement") for n in res.notes)


def test_the_synthesized_demo_builder_is_kept(tmp_path: Path, walk) -> None:
    """`python checkpoints/build.py --synthesized`: the previous demo (synthesised walk, default settings)."""
    ckpt = load_checkpoint(_demo_builder().build(tmp_path / "synth.pkl", synthesized=True))
    np.testing.assert_allclose(ckpt.motion().qpos, walk.qpos, atol=1e-9)
    assert TrackingSettings.from_dict(ckpt.controller["settings"]) == TrackingSettings()


def test_validate_checkpoint_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["validate", str(DEMO), "--cycles", "1", "--no-spm", "--output", str(out), "--format", "json",
                 "--reference", "schwartz2008:free"])  # fmt: skip
    assert code in (0, 1)  # the protocol verdict; the run itself worked
    doc = json.loads(capsys.readouterr().out)
    ctl = doc["trial"]["controller"]
    assert ctl["kind"] == "tracking" and ctl["fell"] is False and ctl["mode"] == "MuJoCo contacts"
    assert ctl["root_residual_force_rms"]["value"] < 0.1 and ctl["root_residual"] == "applied"
    assert doc["kinematics"]["right"]["knee_flexion"]["r"]["value"] > 0.9
    assert doc["trial"]["heel_strikes"]["right"] >= 2
    # static optimisation of the same simulated motion is compared with the same EMG
    assert "emg_static_opt" in doc and doc["redundancy"]["right"]["static_opt"]
    # the simulation's joint limits held part of this motion: static optimisation says it gave them their force
    assert any(n.startswith("static optimisation on the simulated motion") and "joint-limit forces RMS mtp_angle" in n
               for n in doc["trial"]["notes"])  # fmt: skip
    assert (out / "report.pdf").stat().st_size > 10_000 and (out / "curves.csv").exists()
    # 127 unmapped trunk/leg muscles per side: the notes name a few and give the true count, once
    cut = [n for n in doc["notes"] if n.endswith(" in all)")]
    assert cut and all(int(n.rsplit("(", 1)[1].split()[0]) == 127 for n in cut)
    # the simulation's own credibility (Hicks 2015), with its own verdict: the demo leans on its root residual
    # (peak ≈ 160 N against the OpenSim checklist's 10-25 N) and on reserves larger than the joints' net moments;
    # it pushes off with the toes at MyoFullBody's mtp limit (±30°, humans reach ≈ 50°): ≈ 3° beyond it, a warning
    cred = doc["credibility"]
    checks = {c["metric"].split(".")[2]: c for c in cred["checks"]}
    assert cred["passed"] is False and code == 1
    assert checks["residual_force_peak"]["status"] == "fail" and checks["residual_force_peak"]["value"] > 25
    assert checks["residual_force_peak"]["source"] == "opensim_best_practices" and "hicks2015" in cred["sources"]
    assert checks["reserve_peak_pct"]["status"] == "fail" and checks["joint_limit_excess"]["value"] < 5
    assert 0.8 < doc["provenance"]["credibility_inputs"]["com_height_m"] < 1.1  # MyoFullBody's COM, walking
    assert checks["metabolic_power"]["value"] > 3 * 2.9  # far above a human's ≈ 2.9 W/kg net at 1.25 m/s
    # its stance foot twists the ground ≈ 9× harder than adults' feet (0.30 against 0.03 N·m/kg over 3 cycles; 0.67
    # on the stock model, whose trunk carries the shoulder phantoms' 8 kg·m²); the notes say which model it ran on
    assert checks["free_moment_peak"]["status"] == "fail" and checks["free_moment_peak"]["value"] > 0.15
    assert any(n.startswith("model inertia audit: ") and "the 'corrected' variant" in n for n in doc["trial"]["notes"])
    # scored against its own source (a walk synthesised from schwartz2008, validated against it): said first
    from mmbio.control.run import motion_sources

    own = "schwartz2008" in motion_sources(load_checkpoint(DEMO).motion())
    assert ("by_construction" in doc["trial"]) == own
    assert doc["notes"][0].startswith("KINEMATIC FIDELITY BY CONSTRUCTION") == own


def test_a_controller_that_falls_gets_a_fall_report(tmp_path: Path, walk, capsys: pytest.CaptureFixture[str]) -> None:
    """Zero excitation from the first frame of the walk: the model collapses; no gait metric is invented."""
    nu = walk.mj_model().nu
    ckpt = make_checkpoint("open_loop", {"excitations": np.zeros((100, nu)), "rate_hz": 100.0},
                           reference_motion=walk)  # fmt: skip
    path = save_checkpoint(ckpt, tmp_path / "limp.pkl")
    out = tmp_path / "out"
    code = main(["validate", str(path), "--output", str(out), "--no-spm"])
    err = capsys.readouterr().err
    assert code == 1
    assert "fell at" in err and "limp.pkl" in err
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["fell"] is True and doc["metrics"] == {}
    assert doc["trial"]["controller"]["fell_at"]["value"] < 1.0
    assert (out / "report.pdf").stat().st_size > 5_000


def test_a_controller_that_stays_up_without_a_gait_cycle_is_na_not_a_fail(
    tmp_path: Path, walk, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.1 s of zero excitation from the walk's first frame: the model has not yet fallen and no foot has struck
    twice. Its gait metrics are n/a (exit 0, one line saying why), not a fail and not bad input; a cohort counts it
    n/a with the reason in its table."""
    import pandas as pd

    nu = walk.mj_model().nu
    ckpt = make_checkpoint("open_loop", {"excitations": np.zeros((10, nu)), "rate_hz": 100.0},
                           reference_motion=walk)  # fmt: skip
    path = save_checkpoint(ckpt, tmp_path / "brief.pkl")
    out = tmp_path / "out"
    assert main(["validate", str(path), "--output", str(out), "--no-spm"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mmbio:")]
    assert len(err) == 1 and "brief.pkl" in err[0] and "no complete gait cycle in 0.10 s" in err[0]
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["fell"] is False and doc["no_gait_cycle"] is True and doc["metrics"] == {}
    assert "n/a" in doc["notes"][0] and "fell_at" not in doc["trial"]["controller"]
    assert doc["trial"]["controller"]["simulated"]["value"] == pytest.approx(0.1)
    assert (out / "report.pdf").stat().st_size > 5_000
    cohort = tmp_path / "cohort"
    assert main(["validate", str(path), str(path), "--output", str(cohort), "--no-pdf", "--no-spm"]) == 0
    rows = json.loads((cohort / "cohort.json").read_text())["inputs"]
    assert [r["status"] for r in rows] == ["n/a", "n/a"]
    tab = pd.read_csv(cohort / "cohort.csv")
    assert len(tab) == 2 and tab.error.str.contains("no complete gait cycle").all()
    assert "0 pass, 0 fail, 2 n/a (no gait cycle)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x80\x05\x95", "truncated"), (b"", "empty file")],
)
def test_validate_refuses_broken_checkpoints(tmp_path: Path, capsys, content: bytes, message: str) -> None:
    p = tmp_path / "bad.pkl"
    p.write_bytes(content)
    assert main(["validate", str(p), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.pkl" in err[0] and message in err[0]


def test_policy_checkpoint_without_its_motion_is_refused(tmp_path: Path, capsys) -> None:
    n_obs, n_act = 8, 354
    out = {"kernel": np.zeros((n_obs, n_act)), "bias": np.zeros(n_act)}
    ctl = {"architecture": {"activation": "silu", "layer_norm": False},
           "params": {"actor": {"layers": [], "out": out}, "log_std": np.zeros(n_act)}}  # fmt: skip
    p = save_checkpoint(make_checkpoint("policy", ctl), tmp_path / "pol.pkl")  # a valid policy, no motion
    assert main(["validate", str(p), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "reference motion" in err and "pol.pkl" in err


def test_tracking_on_gpu_is_refused(capsys, tmp_path: Path) -> None:
    assert main(["validate", str(DEMO), "--device", "gpu", "--output", str(tmp_path / "o")]) == 2
    assert "CPU" in capsys.readouterr().err


def test_grf_prescribed_mode_on_the_rajagopal_walk(rajagopal_walk, tmp_path: Path) -> None:
    """OpenSim-CMC parity: floor contact off, the measured GRF applied at the COP; the root residuals then measure
    how well kinematics, GRF and the model's inertia agree (static optimisation on this trial: ≈ 0.06 BW)."""
    from mmbio.control.run import run_checkpoint, tracking_checkpoint

    motion, grf, t0 = rajagopal_walk
    ckpt = tracking_checkpoint(motion, TrackingSettings(mode="grf_prescribed"), grf=grf, grf_t0_s=t0)
    path = save_checkpoint(ckpt, tmp_path / "cmc.pkl")
    run = run_checkpoint(str(path), duration_s=0.6, static_opt=False)
    tr = run.tracking
    assert not run.fell and tr.mode == "grf_prescribed" and tr.unsolved == 0
    assert tr.residual_force_rms_bw < 0.05
    assert np.mean(list(tr.tracking_rmse_deg.values())) < 1.0
    assert run.trial.notes[0].startswith("GRF prescribed")
    # the Trial's GRF is the measured one that was applied, on the rollout clock
    g = run.trial.grf["r"]
    assert g.time[0] == pytest.approx(0.0, abs=0.01) and g.time[-1] <= 0.6 + 1e-6
    src = grf["r"]
    keep = (src.time >= t0) & (src.time <= t0 + 0.6)
    assert g.force[:, 2].max() == pytest.approx(src.force[keep, 2].max(), rel=1e-9)


def test_open_loop_on_gpu_without_a_gpu_is_refused(tmp_path: Path, walk, capsys) -> None:
    nu = walk.mj_model().nu
    ckpt = make_checkpoint("open_loop", {"excitations": np.zeros((10, nu)), "rate_hz": 100.0})
    p = save_checkpoint(ckpt, tmp_path / "ol.pkl")
    import warp as wp

    wp.init()
    if wp.is_cuda_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["validate", str(p), "--device", "gpu", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "ol.pkl" in err


def test_info_describes_a_checkpoint(capsys) -> None:
    assert main(["info", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "'tracking'" in out and "myofullbody/corrected" in out and "1.26 m/s" in out and "settings" in out


def test_free_moment_rows_are_each_foots_twist_about_its_centroid(walk) -> None:
    """``w_free_moment``: the QP row of a foot's moment about the vertical through its points' centroid. Two right-foot
    points 0.1 m either side of the centroid along x, pushing ±y (one unit of the +y edge ahead, of the −y edge
    behind): (0.1 x̂ × μ ŷ)_z + (−0.1 x̂ × −μ ŷ)_z = 0.2 μ N·m; the left foot's row sees none of it. The QP with its
    two extra rows tracks as before."""
    from mmbio.control.tracking import LoopedReference, TrackingController

    settings = TrackingSettings(w_free_moment=1.0)
    model = walk.mj_model()
    ctl = TrackingController(model, LoopedReference(walk, model, 0.2), settings)
    side = np.array(ctl.points.side)
    pts = [np.zeros(3) for _ in side]
    right = np.flatnonzero(side == "r")
    pts[right[0]], pts[right[1]] = np.array([0.1, 0.0, 0.0]), np.array([-0.1, 0.0, 0.0])
    beta = np.zeros(ctl.n_beta)
    beta[4 * right[0] + 2] = 1.0  # edge (0, μ, 1)
    beta[4 * right[1] + 3] = 1.0  # edge (0, −μ, 1)
    rows = ctl._free_moment_rows([(p, True) for p in pts])
    assert rows @ beta == pytest.approx([0.2 * settings.mu, 0.0])
    _, res = track(walk, duration_s=0.1, settings=settings)
    assert res.unsolved == 0 and not res.fell
