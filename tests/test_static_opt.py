"""Static optimisation (mmbio.control.static_opt): QP against an independent solver; the Rajagopal walk; estimated
contact forces (Rajagopal walk against its force plates, a synthesized walk); exponents other than 2 (KKT conditions)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

pytest.importorskip("osqp")

from mmbio.control.static_opt import StaticOptimiser, static_optimisation
from mmbio.errors import MmbioError
from mmbio.sim.motion import synthesize_motion

OK = ("solved", "solved inaccurate")


@pytest.fixture(scope="module")
def walk(rajagopal_walk):
    return rajagopal_walk


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
    res = static_optimisation(motion, frames=slice(60, 64), optimiser=optimiser, contacts=False)
    assert not res.grf_applied and not res.contacts_estimated and "root residuals absorb weight" in res.notes[0]
    assert res.residual_force_rms_bw > 0.8  # the weight is on the root
    with pytest.raises(MmbioError, match="no estimated GRF"):
        res.estimated_grf()
    with pytest.raises(MmbioError, match="contacts=True"):  # estimated contacts (the default) need contact unknowns
        static_optimisation(motion, frames=slice(60, 64), optimiser=optimiser)
    with pytest.raises(MmbioError, match="exponent"):
        StaticOptimiser(motion.mj_model(), exponent=0.5)
    with pytest.raises(MmbioError, match="outside the GRF"):
        static_optimisation(motion, grf=grf, t0_s=100.0, frames=slice(0, 3), optimiser=optimiser)


# --------------------------------------------------------------------------------------------------
# estimated contact forces (grf=None, contacts=True)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def contact_optimiser(walk):
    return StaticOptimiser(walk[0].mj_model(), contacts=True)


@pytest.fixture(scope="module")
def walk_contacts(walk, contact_optimiser):
    """The whole Rajagopal walk (135 frames, ≈ 1.5 s) with estimated contacts, floor found automatically."""
    motion, _, t0 = walk
    return static_optimisation(motion, t0_s=t0, optimiser=contact_optimiser)


def test_estimated_grf_matches_force_plates(walk, walk_contacts, contact_optimiser) -> None:
    """Rajagopal walk without its GRF: the estimated GRF follows the force plates, root residuals nearly vanish.

    Measured (MyoFullBody nofingers, defaults: 1 cm / 1 m/s activity, μ 0.8): vertical r = 0.995 (right) /
    0.996 (left), RMS error 0.043 / 0.039 BW; forward r = 0.945 / 0.909; COP (both feet loaded > 200 N) 1 cm
    off on average (SD 2.4 cm forward, 1.1 cm lateral); mean total vertical force 0.987 BW against the
    plates' 0.994 BW (the trial is not a whole number of strides); root residual force RMS 0.007 BW and
    moment RMS 9.8 N·m over the trial (measured GRF applied: 0.056 BW, 38.8 N·m; no external loads: 1.01 BW).
    """
    motion, grf, t0 = walk
    res = walk_contacts
    assert all(s in OK for s in res.status), res.status
    assert res.contacts_estimated and not res.grf_applied
    assert any(n.startswith("GRF estimated") for n in res.notes)
    # 'global' floor: the lowest foot point over the whole trial (the toes sinking at push-off) is at
    # z = 0, so the flat stance foot rests ≈ 5 cm higher; floor_z_m='auto' finds it
    assert 0.03 < res.floor_z_m < 0.07
    bw = res.mass_kg * 9.81
    est = res.estimated_grf()
    assert set(est) == {"r", "l"}
    total_est = np.zeros(len(res.time))
    total_meas = np.zeros(len(res.time))
    for side, g in est.items():
        np.testing.assert_allclose(g.time, res.time + t0)
        meas = np.column_stack([np.interp(g.time, grf[side].time, grf[side].force[:, k]) for k in range(3)])
        r_vert = np.corrcoef(meas[:, 2], g.force[:, 2])[0, 1]
        r_fwd = np.corrcoef(meas[:, 0], g.force[:, 0])[0, 1]
        rmse = np.sqrt(np.mean((meas[:, 2] - g.force[:, 2]) ** 2)) / bw
        print(f"{side}: vertical r {r_vert:.3f}, RMS error {rmse:.3f} BW; forward r {r_fwd:.3f}")
        assert r_vert > 0.98 and rmse < 0.08
        assert r_fwd > 0.85  # braking then propulsion, lab x forward
        # centre of pressure where both feet carry > 200 N
        loaded = (meas[:, 2] > 200.0) & (g.force[:, 2] > 200.0)
        cop_meas = np.column_stack(
            [np.interp(g.time, grf[side].time, np.nan_to_num(grf[side].cop[:, k])) for k in (0, 1)]
        )
        err = g.cop[loaded, :2] - cop_meas[loaded]
        assert loaded.sum() > 50 and np.all(np.abs(err.mean(axis=0)) < 0.03) and np.all(err.std(axis=0) < 0.04)
        assert np.all(np.isnan(g.cop[g.force[:, 2] < 20.0]))  # COP undefined when unloaded
        # swing: no measured load for ±3 frames → no estimated load at all (points inactive, β ≤ 0)
        unloaded = np.convolve(meas[:, 2] < 1.0, np.ones(7), mode="same") == 7
        assert unloaded.sum() > 25
        assert np.all(g.force[unloaded] == 0.0) and not res.contact_active[side][unloaded].any()
        total_est += g.force[:, 2]
        total_meas += meas[:, 2]
    assert abs(total_est.mean() - total_meas.mean()) / bw < 0.02
    assert abs(total_est.mean() / bw - 1.0) < 0.03
    print(res.summary())
    assert res.residual_force_rms_bw < 0.03 and res.residual_moment_rms_nm < 20.0
    # the weight leaves the root residuals: same frames with measured GRF / without any load
    frames = slice(40, 60)
    with_grf = static_optimisation(motion, grf=grf, t0_s=t0, frames=frames, optimiser=contact_optimiser)
    no_load = static_optimisation(motion, frames=frames, contacts=False, optimiser=contact_optimiser)
    est_part = np.sqrt(np.mean(np.sum(res.residuals[frames, :3] ** 2, axis=1))) / bw
    print(f"frames 40-59: residual force RMS {est_part:.3f} BW estimated contacts, "
          f"{with_grf.residual_force_rms_bw:.3f} measured GRF, {no_load.residual_force_rms_bw:.3f} no loads")  # fmt: skip
    assert no_load.residual_force_rms_bw > 0.9
    assert est_part < 0.2 * with_grf.residual_force_rms_bw < 0.2 * no_load.residual_force_rms_bw


@pytest.fixture(scope="module")
def synth_walk():
    """Synthesized 1.25 m/s walk (2 strides), one stride solved (from mid-stride 1 to mid-stride 2, so that no
    acceleration is a one-sided difference), with estimated contacts and without any external load."""
    motion = synthesize_motion(speed_m_s=1.25, n_cycles=2)
    n = (motion.n_frames - 1) // 2  # frames per stride
    frames = slice(n // 2, n // 2 + n)
    opt = StaticOptimiser(motion.mj_model(), contacts=True)
    res = static_optimisation(motion, frames=frames, optimiser=opt)
    bare = static_optimisation(motion, frames=frames, optimiser=opt, contacts=False)
    return motion, frames, res, bare


def test_estimated_grf_synthesized_walk(synth_walk) -> None:
    """A periodic synthesized walk: weight carried by the stance foot, nothing on the swing foot.

    The synthesized kinematics are not dynamically consistent everywhere (centre-of-mass accelerations of
    20–30 m/s² around double support and ≈ 90 m/s² at the stride join, from the foot-lock corrections), so
    residuals stay large in those frames; in single support the root residual force drops from ≈ 1 BW
    (no loads) to a median ≈ 0.2 BW. Over the stride the momentum balance is exact: mean(Σ F_z + residual_z)
    = BW (measured 1.0003); the floor cannot pull, so Σ F_z alone averages a little more (1.10 BW).
    """
    motion, frames, res, bare = synth_walk
    assert all(s in OK for s in res.status), res.status
    assert abs(res.floor_z_m) < 0.002  # the synthesized stance foot is on z = 0
    bw = res.mass_kg * 9.81
    fz = {s: res.grf_force[s][:, 2] for s in ("r", "l")}
    total = fz["r"] + fz["l"]
    assert abs(np.mean(total + res.residuals[:, 2]) / bw - 1.0) < 0.01
    assert 1.0 < np.mean(total) / bw < 1.15 and np.mean(res.residuals[:, 2]) < 0.0
    stance = {s: motion.stance[s][frames] for s in ("r", "l")}
    single = stance["r"] ^ stance["l"]
    f_res = np.linalg.norm(res.residuals[:, :3], axis=1) / bw
    f_bare = np.linalg.norm(bare.residuals[:, :3], axis=1) / bw
    print(f"single support: median residual force {np.median(f_res[single]):.3f} BW with contacts, "
          f"{np.median(f_bare[single]):.3f} BW without")  # fmt: skip
    assert np.median(f_res[single]) < 0.3 and np.median(f_bare[single]) > 0.8
    for s in ("r", "l"):
        st = stance[s].astype(int)
        # planned swing, 4 frames from its ends (the synthesized toe lingers ≈ 7 mm above the floor, slowly, for
        # 2 frames after the planned toe off: within contact_height_m, so still a contact)
        swing = np.convolve(1 - st, np.ones(9), mode="same") == 9
        assert swing.sum() > 25 and np.all(res.grf_force[s][swing] == 0.0)
        # central half of this foot's single support (heel off and the stride join hold the spikes)
        ss = np.flatnonzero(stance[s] & single)
        mid = ss[len(ss) // 4 : 3 * len(ss) // 4]
        assert len(mid) > 10 and np.all(fz[s][mid] > 0.6 * bw)


# --------------------------------------------------------------------------------------------------
# exponents other than 2
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [3.0, 1.5, 2.0])
def test_exponent_kkt(walk, p: float) -> None:
    """min Σ a^p + w_r Σ r² + w_s Σ s² + w_β Σ β² (estimated contacts, a stance frame): the KKT conditions.

    The problem is convex, so KKT is sufficient. With λ the multipliers of the equality rows, stationarity in
    the free reserves and residuals gives λ = 2 w r (joint rows) and 2 w_s s (root rows); in a, with the box
    [0, 1]: a = clip((max(Aᵀλ, 0) / p)^(1/(p−1)), 0, 1); in β ≥ 0 (active points): g = 2 w_β β − Cᵀλ ≥ 0 and
    g · β = 0. p = 2 is one QP (the former answer), other p sequential QPs.
    """
    motion = walk[0]
    opt = StaticOptimiser(motion.mj_model(), exponent=p, contacts=True, eps=1e-9)
    qvi = motion.qvel[:, opt.indep_dofs]
    qai = np.gradient(qvi, 1.0 / motion.rate_hz, axis=0)
    floor = 0.05  # the 'global' motion's floor (see test_estimated_grf_matches_force_plates)
    nm, nr = opt.n_mus, opt.n_res
    for i in (60, 61):  # left stance, consecutive frames (the second starts from the first's model)
        a_mat, b, _, _ = opt.frame_terms(motion.qpos[i], qvi[i], qai[i], [])
        c_mat, pts, vel = opt.contact_terms()
        active = (pts[:, 2] - floor <= 0.01) & (np.linalg.norm(vel, axis=1) < 1.0)
        assert 4 <= active.sum() < opt.n_points
        x, status, _ = opt.solve(a_mat, b, c_mat, active)
        assert status == "solved"
        assert opt.last_sqp_iterations == 1 if p == 2 else 2 <= opt.last_sqp_iterations < opt.sqp_max_iter
        a, r, s, beta = x[:nm], x[nm : nm + nr], x[nm + nr : nm + nr + 6], x[nm + nr + 6 :]
        np.testing.assert_allclose(a_mat @ a + np.r_[s, r] + c_mat @ beta, b, atol=1e-5 * np.abs(b).max())
        lam = np.r_[2e-2 * s, 2.0 * r]
        a_kkt = np.clip((np.maximum(a_mat.T @ lam, 0.0) / p) ** (1.0 / (p - 1.0)), 0.0, 1.0)
        print(f"p={p} frame {i}: {opt.last_sqp_iterations} QPs, max |a − a_KKT| {np.abs(a - a_kkt).max():.1e}")
        assert np.abs(a - a_kkt).max() < 1e-4
        assert 0 < np.sum((a > 1e-3) & (a < 1 - 1e-3)) < nm  # not a trivial point
        on = np.repeat(active, 4)
        assert np.all(beta[~on] == 0.0) and np.all(beta >= 0.0) and beta.sum() > 300.0
        g = 2e-6 * beta - c_mat.T @ lam  # per N of β
        scale = np.abs(c_mat.T @ lam).max()
        assert np.all(g[on] > -1e-4 * scale)
        assert np.all(np.abs(g[on & (beta > 1.0)]) < 1e-4 * scale)


def test_joint_limit_forces_take_only_what_a_limit_can_push() -> None:
    """``joint_limits=True``: a toe 1° past MyoFullBody's −30° mtp limit that needs 60 N·m more than its four
    muscles give gets it from the limit (the reserve then 0: a reserve costs 10⁴× more per (N·m)²); the same
    toe needing −60 N·m (pulling further past the limit) cannot use the limit and keeps the reserve it has
    without limits; inside the range nothing changes. Derived from the QP's structure, not from a run."""
    from mmbio.models.registry import load_model

    m = load_model("myofullbody", "nofingers").model
    plain, limited = StaticOptimiser(m), StaticOptimiser(m, joint_limits=True)
    assert limited.n_lim > 20 and plain.n_lim == 0
    j = m.joint("mtp_angle_r").id
    q = m.qpos0.copy()
    q[int(m.jnt_qposadr[j])] = m.jnt_range[j][0] - np.radians(1.0)
    zero = np.zeros(plain.n_ind)
    a_mat, b, _, _ = plain.frame_terms(q, zero, zero, [])
    col = 6 + plain.reserve_names.index("mtp_angle_r")
    res_col = col - 6
    lim_col = list(limited.limit_res).index(res_col)
    side = limited.limit_side(q)
    assert side[lim_col] == 1 and np.count_nonzero(side) >= 1
    for extra, helped in ((60.0, True), (-60.0, False)):
        bb = b.copy()
        bb[col] += extra
        x0, st0, _ = plain.solve(a_mat, bb)
        x1, st1, _ = limited.solve(a_mat, bb, limits=side)
        assert st0 in OK and st1 in OK
        r0 = x0[plain.n_mus + res_col]
        r1 = x1[limited.n_mus + res_col]
        lam = x1[len(x1) - limited.n_lim :][lim_col]
        if helped:
            # the limit takes the reserve's share and, being cheaper than activation, some of the toe
            # muscles' too (their four give < 10 N·m)
            assert r0 > 40.0 and abs(r1) < 0.01 * r0 and r0 - 0.1 <= lam <= r0 + 10.0
        else:
            assert r0 < -40.0 and lam == 0.0 and r1 == pytest.approx(r0, rel=1e-3)
    # inside the range the toe's limit is closed; with every limit closed the solution is the plain one
    q[int(m.jnt_qposadr[j])] = 0.0
    assert limited.limit_side(q)[lim_col] == 0
    a_mat, b, _, _ = plain.frame_terms(q, zero, zero, [])
    x0, _, _ = plain.solve(a_mat, b)
    x1, _, _ = limited.solve(a_mat, b, limits=np.zeros(limited.n_lim, int))
    np.testing.assert_allclose(x1[: len(x0)], x0, atol=1e-3)
    assert not np.any(x1[len(x0) :])
    with pytest.raises(MmbioError, match="joint_limits=False"):
        plain.solve(a_mat, b, limits=np.ones(3, int))
    walk = synthesize_motion(n_cycles=1)
    with pytest.raises(MmbioError, match="joint_limits differs from the given optimiser's"):
        static_optimisation(walk, contacts=False, optimiser=limited, frames=slice(0, 3))
