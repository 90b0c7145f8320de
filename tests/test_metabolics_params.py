"""Muscle masses for the Umberger energy model: the Rajagopal et al. (2016) fibre-length table (mmbio.sim.metabolics).

* The shipped table has the 80 lower-limb muscles of ``Rajagopal2015.osim`` with positive values, and spot values
  equal the published ones (read from opensim-org/opensim-models at commit 11a6203a).
* Every Rajagopal name is a MyoFullBody actuator (no exceptions), and exactly those 80 actuators take their mass
  from the table.
* Mass plausibility. Literature: whole-body MRI of 468 adults gives men 33.0 kg of skeletal muscle, 38.4 % of body
  mass (Janssen et al. 2000, J Appl Physiol 89:81–88), i.e. ≈ 32 kg for MyoFullBody's 84.3 kg; about half or a bit more
  of it lies in the lower body (hips included), ≈ 16–19 kg for both legs. Rajagopal's 40 muscles per leg omit a
  few small ones (popliteus, gemelli, obturators, quadratus femoris, pectineus, foot intrinsics), so the plausible
  band for their summed mass is taken as 12–22 kg.
  The table removes the length-range excess (legs 44.7 → 34.5 kg), but at Umberger's specific tension
  σ = 0.25 MPa the legs still weigh ≈ 2× the literature: the models' F_max follow from MRI volumes with a specific
  tension near 0.6 MPa, and ``ρ F_max l_opt / σ`` with σ = 0.6 MPa gives ≈ 14 kg, inside the band. That remaining
  gap is σ, not fibre length (σ = 0.25 MPa is kept: OpenSim's Umberger2010 probe uses it, so numbers stay
  comparable with OpenSim metabolic analyses).
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
MODEL_SPECIFIC_TENSION_PA = 0.6e6  # the tension implied by the models' force/volume relation (module docstring)


@cache
def _params(fibre_lengths: str) -> met.MuscleParameters:
    return met.muscle_parameters(load_model().model, fibre_lengths=fibre_lengths)


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
    new, old = _params("rajagopal2016"), _params("mujoco")
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


def test_leg_muscle_mass_plausible_at_the_models_specific_tension() -> None:
    p = _params("rajagopal2016")
    leg = _leg_mask(p)
    legs_kg = float(np.sum(met.muscle_mass(p.f_max[leg], p.l_opt_mass[leg]))) * met.SPECIFIC_TENSION_PA
    legs_kg /= MODEL_SPECIFIC_TENSION_PA
    lo, hi = LITERATURE_LEG_MUSCLE_KG
    assert lo <= legs_kg <= hi, legs_kg
