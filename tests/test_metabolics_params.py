"""Muscle masses for the Umberger energy model: the Rajagopal et al. (2016) fibre-length table and specific tension
(mmbio.sim.metabolics).

* The shipped table has the 80 lower-limb muscles of ``Rajagopal2015.osim`` with positive values, and spot values
  equal the published ones (read from opensim-org/opensim-models at commit 11a6203a).
* Every Rajagopal name is a MyoFullBody actuator (no exceptions), and exactly those 80 actuators take their mass
  from the table.
* Specific tension (issue 13): the mass ρ F_max l_opt / σ is the muscle's volume × ρ only with the σ the model's
  F_max were derived with. Rajagopal et al. (2016) used 60 N/cm²; at that σ their table gives the soleus and the
  gastrocnemii the volumes measured by MRI (Fukunaga et al. 1992, J Orthop Res 10:928–934: soleus 489, medial
  gastrocnemius 245, lateral 140 cm³, 12 subjects) within 15 %, and at Umberger's 0.25 MPa more than twice them.
* Mass plausibility. Literature: whole-body MRI of 468 adults gives men 33.0 kg of skeletal muscle, 38.4 % of body
  mass (Janssen et al. 2000, J Appl Physiol 89:81–88), i.e. ≈ 32 kg for MyoFullBody's 84.3 kg; about half or a bit more
  of it lies in the lower body (hips included), ≈ 16–19 kg for both legs. Rajagopal's 40 muscles per leg omit a
  few small ones (popliteus, gemelli, obturators, quadratus femoris, pectineus, foot intrinsics), so the plausible
  band for their summed mass is taken as 12–22 kg. The table removes the length-range excess (legs 44.7 → 34.5 kg
  at σ = 0.25 MPa) and Rajagopal's σ the rest (34.5 → 14.4 kg, inside the band).
"""

from __future__ import annotations

import csv
from functools import cache

import numpy as np
import pytest

from mmbio.errors import MmbioError
from mmbio.models.registry import load_model
from mmbio.sim import metabolics as met

LITERATURE_LEG_MUSCLE_KG = (12.0, 22.0)  # both legs, 84 kg man: see the module docstring
FUKUNAGA1992_VOLUME_CM3 = {"soleus_r": 489.0, "gasmed_r": 245.0, "gaslat_r": 140.0}  # MRI, mean of 12 subjects


@cache
def _params(fibre_lengths: str, specific_tensions: str = "model") -> met.MuscleParameters:
    return met.muscle_parameters(load_model().model, fibre_lengths=fibre_lengths, specific_tensions=specific_tensions)


def _leg_mask(p: met.MuscleParameters) -> np.ndarray:
    return np.array([met.published_muscle(n) is not None for n in p.names])


def test_table_has_80_muscles_with_positive_values() -> None:
    with met.RAJAGOPAL_TABLE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 80
    names = [r["muscle"] for r in rows]
    assert len(set(names)) == 80
    assert sum(n.endswith("_r") for n in names) == 40 and sum(n.endswith("_l") for n in names) == 40
    for r in rows:
        for col in ("max_isometric_force_n", "optimal_fiber_length_m", "tendon_slack_length_m",
                    "max_contraction_velocity_lopt_s"):  # fmt: skip
            assert float(r[col]) > 0, (r["muscle"], col)
        assert 0.0 <= float(r["pennation_angle_rad"]) < 0.5, r["muscle"]  # glmin2 has 0 (published value)
    table = met.rajagopal_muscle_table()
    for stem in {n[:-2] for n in names}:  # the source file is left/right symmetric
        assert table[f"{stem}_r"].optimal_fiber_length_m == table[f"{stem}_l"].optimal_fiber_length_m


@pytest.mark.parametrize(
    ("name", "f_max", "l_opt", "l_slack", "pennation"),
    [  # as written in Rajagopal2015.osim (opensim-org/opensim-models @ 11a6203a)
        ("soleus_r", 6194.84262295082, 0.044, 0.276755872375976, 0.38142888),
        ("vaslat_l", 5148.76721311476, 0.0994, 0.220601284834603, 0.25286729),
        ("glmax3_r", 947.754098360656, 0.167, 0.0697166058843707, 0.38241613),
    ],
)
def test_spot_values_equal_published(name: str, f_max: float, l_opt: float, l_slack: float, pennation: float) -> None:
    row = met.rajagopal_muscle_table()[name]
    assert row.max_isometric_force_n == f_max
    assert row.optimal_fiber_length_m == l_opt
    assert row.tendon_slack_length_m == l_slack
    assert row.pennation_angle_rad == pennation
    assert row.max_contraction_velocity_lopt_s == 10.0  # <defaults> of the .osim file


def test_every_rajagopal_muscle_is_a_myofullbody_actuator() -> None:
    p = _params("rajagopal2016")
    missing = sorted(set(met.rajagopal_muscle_table()) - set(p.names))
    assert missing == []  # no documented exceptions: all 80 names exist in MyoFullBody
    used = {n for n, s in zip(p.names, p.mass_source, strict=True) if s == met.MASS_SOURCE_RAJAGOPAL}
    assert used == set(met.rajagopal_muscle_table())
    assert met.published_muscle("Ps_L1_VB_r") is None and met.published_muscle("DELT1_left") is None


def test_table_changes_only_the_mass_of_leg_muscles() -> None:
    new, old = _params("rajagopal2016", "umberger2003"), _params("mujoco", "umberger2003")
    leg = _leg_mask(new)
    assert leg.sum() == 80
    np.testing.assert_array_equal(new.l_opt, old.l_opt)  # fibre states stay MuJoCo's
    np.testing.assert_array_equal(new.f_max, old.f_max)
    np.testing.assert_array_equal(new.mass[~leg], old.mass[~leg])
    assert set(old.mass_source) == {met.MASS_SOURCE_MUJOCO}
    k = new.names.index("glmax3_r")
    assert new.l_opt_mass[k] == 0.167 and old.l_opt_mass[k] == pytest.approx(old.l_opt[k])
    assert new.mass[k] == pytest.approx(met.muscle_mass(new.f_max[k], 0.167))
    assert new.mass[leg].sum() < old.mass[leg].sum() - 8.0  # 44.7 → 34.5 kg
    with pytest.raises(MmbioError):
        met.muscle_parameters(load_model().model, fibre_lengths="bogus")


def test_rajagopal_specific_tension_reproduces_mri_volumes() -> None:
    table = met.rajagopal_muscle_table()
    for name, measured in FUKUNAGA1992_VOLUME_CM3.items():
        row = table[name]
        volume = row.max_isometric_force_n * row.optimal_fiber_length_m * 1e6  # N·m → cm³ per Pa of σ
        assert volume / met.RAJAGOPAL_SPECIFIC_TENSION_PA == pytest.approx(measured, rel=0.15), name
        assert volume / met.SPECIFIC_TENSION_PA > 2.0 * measured, name  # Umberger's σ: more than twice the muscle


def test_specific_tension_per_muscle() -> None:
    new, old = _params("rajagopal2016"), _params("rajagopal2016", "umberger2003")
    leg = _leg_mask(new)
    assert new.specific_tension is not None and old.specific_tension is not None
    np.testing.assert_array_equal(new.specific_tension[leg], met.RAJAGOPAL_SPECIFIC_TENSION_PA)
    np.testing.assert_array_equal(new.specific_tension[~leg], met.SPECIFIC_TENSION_PA)  # no source value for these
    np.testing.assert_array_equal(old.specific_tension, met.SPECIFIC_TENSION_PA)
    np.testing.assert_allclose(new.mass, met.muscle_mass(new.f_max, new.l_opt_mass, new.specific_tension))
    np.testing.assert_allclose(new.mass[leg], old.mass[leg] * 0.25 / 0.60)
    np.testing.assert_array_equal(new.mass[~leg], old.mass[~leg])
    assert old.mass.sum() == pytest.approx(59.5, abs=0.1) and new.mass.sum() == pytest.approx(39.4, abs=0.1)
    with pytest.raises(MmbioError):
        met.muscle_parameters(load_model().model, specific_tensions="bogus")


def test_leg_muscle_mass_plausible() -> None:
    p = _params("rajagopal2016")
    leg = _leg_mask(p)
    lo, hi = LITERATURE_LEG_MUSCLE_KG
    assert lo <= float(np.sum(p.mass[leg])) <= hi
    old = _params("rajagopal2016", "umberger2003")
    assert float(np.sum(old.mass[leg])) > hi  # σ = 0.25 MPa: 34.5 kg
