"""Static optimisation (mmbio.control.static_opt): QP against an independent solver; the Rajagopal walk."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

pytest.importorskip("osqp")

from mmbio.control.static_opt import StaticOptimiser, static_optimisation
from mmbio.errors import MmbioError
from mmbio.io.opensim import read_opensim_grf, read_storage
from mmbio.sim.motion import motion_from_opensim

OK = ("solved", "solved inaccurate")


@pytest.fixture(scope="module")
def walk(shared: Path):
    ref = shared / "rajagopal2016_walk"
    if not (ref / "coordinates.sto").is_file():
        pytest.skip(f"{ref} lacks coordinates.sto")
    # 'global' floor: the per-frame root shift adds ±30 m/s² vertical accelerations (unusable for ID)
    motion = motion_from_opensim(ref / "coordinates.sto", floor="global")
    grf = read_opensim_grf(ref / "grf_walk.mot")
    t0 = float(read_storage(ref / "coordinates.sto").time[0])
    return motion, grf, t0


@pytest.fixture(scope="module")
def optimiser(walk):
    return StaticOptimiser(walk[0].mj_model(), eps=1e-9, max_iter=20000)


def test_qp_matches_bounded_least_squares(walk, optimiser) -> None:
    """The QP on a real frame equals scipy's exact bounded least squares (reserves/residuals eliminated).

    Reserves and root residuals cover every independent row, so r, s = b − A a and the QP is
    min ‖a‖² + w‖b − A a‖² over 0 ≤ a ≤ 1. b is generated from known interior activations a*.
    """
    from scipy.optimize import lsq_linear

    motion = walk[0]
    opt = optimiser
    i = 60
    qvi = motion.qvel[:, opt.indep_dofs]
    qai = np.gradient(qvi, 1.0 / motion.rate_hz, axis=0)
    a_mat, _, gain, bias = opt.frame_terms(motion.qpos[i], qvi[i], qai[i], [])
    d = opt.data  # gain and bias reproduce MuJoCo's actuator_force at an intermediate activation
    d.act[opt._act_adr] = 0.3
    d.ctrl[opt.muscles] = 0.3
    mujoco.mj_fwdActuation(opt.model, d)
    np.testing.assert_allclose(d.actuator_force[opt.muscles], 0.3 * gain + bias, rtol=1e-10, atol=1e-8)
    assert np.all(gain <= 0)  # MuJoCo's tension sign
    rng = np.random.default_rng(0)
    a_star = rng.uniform(0.05, 0.6, opt.n_mus)
    b = a_mat @ a_star + rng.normal(0.0, 5.0, opt.n_ind)
    x, status, _ = opt.solve(a_mat, b)
    assert status == "solved"
    # rows of a_mat: root (6) then reserves; weights in the same order
    w = np.r_[np.full(6, 1e-2), np.ones(opt.n_res)]
    c = np.vstack([np.eye(opt.n_mus), np.sqrt(w)[:, None] * a_mat])
    d = np.r_[np.zeros(opt.n_mus), np.sqrt(w) * b]
    ref = lsq_linear(c, d, bounds=(0.0, 1.0), method="bvls", tol=1e-12).x
    a = x[: opt.n_mus]
    assert np.max(np.abs(a - ref)) < 1e-4
    assert 0 < np.sum((ref > 1e-6) & (ref < 1 - 1e-6)) < opt.n_mus  # some bounds active, some interior
    r, s = x[opt.n_mus : opt.n_mus + opt.n_res], x[opt.n_mus + opt.n_res :]
    np.testing.assert_allclose(np.r_[s, r], b - a_mat @ a, atol=1e-4)


def test_rajagopal_walk_with_measured_grf(walk, optimiser) -> None:
    """Late stance → early swing of the right leg: bounds, residuals ≈ 0.07 BW, plantarflexors active in stance."""
    motion, grf, t0 = walk
    t_grf = grf["r"].time
    loaded = grf["r"].force[:, 2] > 20.0
    offs = t_grf[1:][loaded[:-1] & ~loaded[1:]]
    toe_off = float(offs[(offs > t0 + 0.15) & (offs < t0 + motion.duration - 0.15)][0])
    k_off = round((toe_off - t0) * motion.rate_hz)
    res = static_optimisation(motion, grf=grf, t0_s=t0, frames=slice(k_off - 12, k_off + 12), optimiser=optimiser)
    assert res.activations.shape == (24, optimiser.n_mus)
    assert all(s in OK for s in res.status), res.status
    assert res.activations.min() >= 0.0 and res.activations.max() <= 1.0
    print(res.summary())
    assert 0.0 < res.residual_force_rms_bw < 0.15  # ARCHITECTURE: ≈ 0.07 BW
    plantar = [res.muscle_names.index(n) for n in ("soleus_r", "gasmed_r", "gaslat_r")]
    late_stance = res.activations[2:10, plantar].mean()
    early_swing = res.activations[14:22, plantar].mean()
    assert late_stance > 0.1 and late_stance > 3 * early_swing


def test_no_grf_mode_and_bad_input(walk, optimiser) -> None:
    motion, grf, _ = walk
    res = static_optimisation(motion, frames=slice(60, 64), optimiser=optimiser)
    assert not res.grf_applied and "root residuals absorb weight" in res.notes[0]
    assert res.residual_force_rms_bw > 0.8  # the weight is on the root
    with pytest.raises(MmbioError, match="exponent 2"):
        StaticOptimiser(motion.mj_model(), exponent=3)
    with pytest.raises(MmbioError, match="outside the GRF"):
        static_optimisation(motion, grf=grf, t0_s=100.0, frames=slice(0, 3), optimiser=optimiser)
