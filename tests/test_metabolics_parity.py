"""The Umberger energy model (mmbio.sim.metabolics) against OpenSim 4.6 and against hand-computed values.

* Parity with OpenSim: ``tests/data/opensim_umberger_parity.csv`` holds OpenSim 4.6's
  ``Umberger2010MuscleMetabolicsProbe`` outputs on 48 muscle states of the Rajagopal walk (rigid-tendon
  ``Millard2012EquilibriumMuscle``\\ s with the Rajagopal et al. 2016 parameters), chosen to cover every branch:
  shortening and lengthening at l̃ ≤ 1 and > 1, the 1 W/kg heat floor, excitation above and below activation, zero
  excitation. It was recorded by ``benchmarks/opensim_metabolics.py --fixture`` (OpenSim itself is not needed here).
  Each probe term (activation/maintenance, shortening/lengthening, work, total with and without the floor) for
  Umberger 2010 as published, and the total under OpenSim 4.6's default options (Bhargava recruitment, negative
  work with α_L = 4 α_ST, no negative total), must equal mmbio's :func:`umberger_fibre_rates` to round-off, and the
  probe's muscle mass mmbio's :func:`muscle_mass`.
* Hand-computed states (Umberger et al. 2003; Umberger 2010; Bhargava et al. 2004), independent of the fixture.
* mmbio's MuJoCo path (:func:`umberger_rates`) is the energy model on MuJoCo's fibre states and curves; the
  ``jax.numpy`` evaluation equals numpy's with Bhargava recruitment too.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from mmbio.sim import metabolics as met

FIXTURE = Path(__file__).parent / "data" / "opensim_umberger_parity.csv"
CASES = ("shortening_short", "shortening_long", "lengthening_short", "lengthening_long", "floor", "u_gt_a",
         "u_lt_a", "zero_excitation")  # fmt: skip


def _rows() -> list[dict[str, str]]:
    with FIXTURE.open(newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _arrays() -> dict[str, np.ndarray]:
    rows = _rows()
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k not in ("case", "muscle", "frame")}


def test_fixture_covers_every_branch() -> None:
    rows = _rows()
    assert {r["case"] for r in rows} == set(CASES)
    x = _arrays()
    assert np.any(x["published_total_w"] > x["published_nofloor_w"] + 1e-9)  # the floor binds somewhere
    assert np.any((x["fibre_velocity_m_s"] > 0) & (x["published_work_w"] == 0.0))  # 2010: no negative work


def test_energy_model_equals_opensim_probe() -> None:
    x = _arrays()
    args = (x["excitation"], x["activation"], x["l_norm"], x["fibre_velocity_m_s"], x["l_opt_m"], x["f_iso"],
            x["f_active_n"], x["mass_kg"], x["v_max_lopt_s"], np.full(len(x["mass_kg"]), 0.5))  # fmt: skip
    m = x["mass_kg"]
    np.testing.assert_allclose(met.muscle_mass(x["f_max_n"], x["l_opt_m"]), m, rtol=1e-12)
    am, sl, w = met.umberger_fibre_rates(*args, min_heat_rate=False)
    tol = {"rtol": 1e-10, "atol": 1e-10}
    np.testing.assert_allclose(am * m, x["published_am_w"], **tol)
    np.testing.assert_allclose(sl * m, x["published_sl_w"], **tol)
    np.testing.assert_allclose(w * m, x["published_work_w"], **tol)
    np.testing.assert_allclose((am + sl + w) * m, x["published_nofloor_w"], **tol)
    am, sl, w = met.umberger_fibre_rates(*args)
    np.testing.assert_allclose((am + sl + w) * m, x["published_total_w"], **tol)
    am, sl, w = met.umberger_fibre_rates(*args, variant="2003", recruitment="bhargava2004")
    np.testing.assert_allclose((am + sl + w) * m, x["default46_total_w"], **tol)
    # OpenSim 4.6's defaults are not the published model: the two differ on these states
    assert not np.allclose(x["default46_total_w"], x["published_total_w"], rtol=0.05)


def test_hand_computed_states() -> None:
    """Umberger (2003, 2010) term by term for one muscle: f_FT 0.4, v_max 12 l_opt/s, S 1.5, mass 0.5 kg."""
    l_opt, mass, v_max, f_ft = 0.08, 0.5, 12.0, 0.4
    a_st, a_ft = 100 / (v_max / 2.5), 153 / v_max  # 20.83, 12.75 W/kg per l_opt/s

    def rates(u, a, l_n, v, f_iso, f_act, **kw):
        r = met.umberger_fibre_rates(np.array([u]), np.array([a]), np.array([l_n]), np.array([v]), l_opt,
                                     np.array([f_iso]), np.array([f_act]), mass, v_max, f_ft, **kw)  # fmt: skip
        return [float(t[0]) for t in r]

    # 1. shortening at l̃ 0.9, u 0.6 > a 0.5: A = u; v̄ = −0.24/0.08 = −3 l_opt/s
    am, sl, w = rates(0.6, 0.5, 0.9, -0.24, 0.95, 400.0)
    assert am == pytest.approx(1.5 * 0.6**0.6 * (128 * 0.4 + 25))
    assert sl == pytest.approx(1.5 * 0.6**2 * (a_st * 3 * 0.6 + a_ft * 3 * 0.4))
    assert w == pytest.approx(400.0 * 0.24 / mass)
    # 2. lengthening at l̃ 1.2 (F_iso 0.7), u 0.2 < a 0.4: A = 0.3; heat scaled by (0.4 + 0.6 F_iso) and F_iso
    am, sl, w = rates(0.2, 0.4, 1.2, 0.16, 0.7, 300.0)
    assert am == pytest.approx(1.5 * 0.3**0.6 * 76.2 * (0.4 + 0.6 * 0.7))
    assert sl == pytest.approx(1.5 * 0.3 * 0.3 * a_st * 2.0 * 0.7)  # α_L = 0.3 α_ST (2010)
    assert w == 0.0  # negative work not counted (2010)
    am3, sl3, w3 = rates(0.2, 0.4, 1.2, 0.16, 0.7, 300.0, variant="2003")  # α_L = 4 α_ST, negative work counted
    assert sl3 == pytest.approx(1.5 * 0.3 * 4.0 * a_st * 2.0 * 0.7) and w3 == pytest.approx(-300.0 * 0.16 / mass)
    assert am3 + sl3 + w3 > 0
    assert sum(rates(0.2, 0.4, 1.2, 0.16, 0.7, 1000.0, variant="2003")) == pytest.approx(0.0)  # no negative total
    # 3. the slow-twitch shortening heat is capped at 100 W/kg: v̄ = −8 l_opt/s → α_ST · 8 = 166.7 → 100
    _, sl, _ = rates(1.0, 1.0, 1.0, -0.64, 1.0, 0.0)
    assert sl == pytest.approx(1.5 * (100 * 0.6 + a_ft * 8 * 0.4))
    # 4. idle muscle: the 1 W/kg floor on the heat, no floor when switched off
    assert sum(rates(0.0, 0.0, 1.0, 0.0, 1.0, 0.0)) == pytest.approx(1.0)
    assert sum(rates(0.0, 0.0, 1.0, 0.0, 1.0, 0.0, min_heat_rate=False)) == 0.0
    # 5. Bhargava et al. (2004) recruitment: fast-twitch share f = (1−r)(1−cos πu/2) / [r sin πu/2 + (1−r)(1−cos πu/2)]
    u = 0.1
    r = 1 - f_ft
    f_eff = (
        f_ft
        * (1 - math.cos(math.pi * u / 2))
        / (r * math.sin(math.pi * u / 2) + f_ft * (1 - math.cos(math.pi * u / 2)))
    )
    am, _, _ = rates(u, u, 1.0, 0.0, 1.0, 0.0, recruitment="bhargava2004")
    assert f_eff == pytest.approx(0.0499, abs=1e-4)  # at 10 % excitation almost only slow fibres are active
    assert am == pytest.approx(1.5 * u**0.6 * (128 * f_eff + 25))
    am, _, _ = rates(0.0, 0.5, 1.0, 0.0, 1.0, 0.0, recruitment="bhargava2004")
    assert am == pytest.approx(1.5 * 0.25**0.6 * 25)  # u = 0: all slow twitch (OpenSim's convention)
    with pytest.raises(met.MmbioError):
        rates(0.1, 0.1, 1.0, 0.0, 1.0, 0.0, recruitment="henneman")


def test_mujoco_path_is_the_energy_model_on_mujoco_states() -> None:
    from mmbio.models.registry import load_model

    p = met.muscle_parameters(load_model().model)
    rng = np.random.default_rng(13)
    n, k = 50, len(p.names)
    u, a = rng.uniform(0, 1, (n, k)), rng.uniform(0, 1, (n, k))
    length = rng.uniform(p.lengthrange[:, 0], p.lengthrange[:, 1], (n, k))
    vel = rng.uniform(-1, 1, (n, k)) * p.l_opt * p.v_max
    f_ft = np.full(k, 0.5)
    l_n = met.normalized_fibre_length(length, p)
    f_iso = met.force_length(l_n, p.lmin, p.lmax)
    f_ce = met.active_fibre_force(a, length, vel, p)
    for kw in ({}, {"variant": "2003", "recruitment": "bhargava2004"}):
        got = met.umberger_rates(u, a, length, vel, p, f_ft, **kw)
        want = met.umberger_fibre_rates(u, a, l_n, vel, p.l_opt, f_iso, f_ce, p.mass, p.v_max, f_ft, **kw)
        for g, w_ in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w_)
    tot = met.umberger_power(u, a, length, vel, p, recruitment="bhargava2004").total_w
    assert tot.mean() < met.umberger_power(u, a, length, vel, p).total_w.mean()  # fewer fast fibres below u = 1


def test_jax_path_equals_numpy_with_recruitment() -> None:
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(3)
    k = 7
    x = [rng.uniform(0, 1, (4, k)), rng.uniform(0, 1, (4, k)), rng.uniform(0.5, 1.5, (4, k)),
         rng.uniform(-0.5, 0.5, (4, k))]  # fmt: skip
    x[0][0, 0] = 0.0  # zero excitation: the recruitment model's special case
    per = [np.full(k, 0.1), rng.uniform(0.2, 1, (4, k)), rng.uniform(0, 2000, (4, k)), np.full(k, 0.4),
           np.full(k, 10.0), np.full(k, 0.5)]  # fmt: skip
    args = (*x[:4], per[0], per[1], per[2], per[3], per[4], per[5])
    want = met.umberger_fibre_rates(*args, variant="2003", recruitment="bhargava2004")
    got = met.umberger_fibre_rates(*(jnp.asarray(v, jnp.float32) for v in args), variant="2003",
                                   recruitment="bhargava2004", xp=jnp)  # fmt: skip
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-4, atol=1e-3)
