"""The inertia audit, MyoFullBody's 'corrected' variant and the yaw budget of a motion against force plates."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import mujoco
import numpy as np
import pytest

from mmbio.errors import MmbioError
from mmbio.models.inertia_audit import apply_inertia_corrections, audit_inertia, inertia_corrections
from mmbio.models.registry import load_model, model_spec
from mmbio.sim.angular_momentum import yaw_budget
from mmbio.sim.motion import Motion

PHANTOMS = {f"{b}_{s}" for s in "rl" for b in ("clavphant", "scapphant", "humphant", "humphant1")}


def test_stock_myofullbody_phantoms_hold_most_of_the_vertical_inertia() -> None:
    audit = audit_inertia(load_model("myofullbody", "nofingers").model)
    flagged = {f.body: f for f in audit.findings}
    assert PHANTOMS <= set(flagged)
    for b in PHANTOMS:  # 1 g with 1 kg·m²: a radius of gyration of sqrt(1000) m
        assert flagged[b].mass_kg == pytest.approx(0.001)
        assert flagged[b].gyration_m == pytest.approx(np.sqrt(1000.0))
    # 8 phantom bodies × 1 kg·m² about every axis (+ the 1 g thorax scaffold's 0.05–0.08)
    assert 8.0 < audit.flagged_kg_m2[2] < 8.1
    assert audit.flagged_share[2] > 0.85
    assert "about the vertical" in audit.summary() and "\n" not in audit.summary()


def test_corrected_variant_changes_only_the_phantom_inertia() -> None:
    stock, fixed = load_model("myofullbody", "nofingers"), load_model("myofullbody", "corrected")
    assert (fixed.nq, fixed.nv, fixed.nu, fixed.neq) == (stock.nq, stock.nv, stock.nu, stock.neq)
    assert fixed.mass_kg == pytest.approx(stock.mass_kg, abs=1e-9)
    assert fixed.hash != stock.hash
    value = inertia_corrections()["inertia_kg_m2"]
    changed = np.flatnonzero(np.any(fixed.model.body_inertia != stock.model.body_inertia, axis=1))
    assert {fixed.model.body(int(b)).name for b in changed} == PHANTOMS
    assert np.allclose(fixed.model.body_inertia[changed], value)
    audit = audit_inertia(fixed.model)
    # what is left about the vertical: the phantoms' 8 × 0.001 and the 1 g thorax scaffold's (left as shipped)
    assert audit.flagged_kg_m2[2] < 0.1 and audit.whole_body_kg_m2[2] < 1.1


def test_corrections_refuse_a_model_that_no_longer_has_the_stock_value() -> None:
    spec = model_spec("myofullbody", "nofingers")
    spec.body("humphant_l").inertia = [0.5, 0.5, 0.5]
    with pytest.raises(MmbioError) as err:
        apply_inertia_corrections(spec)
    assert "humphant_l" in str(err.value) and "\n" not in str(err.value)
    for bad in (0.0, float("nan"), -1.0, float("inf")):
        with pytest.raises(MmbioError, match="max_gyration_m"):
            audit_inertia(load_model().model, max_gyration_m=bad)


def test_yaw_budget_of_a_pure_spin_is_the_audited_inertia_times_the_acceleration() -> None:
    """The whole model at qpos0 spun about the vertical through its root with angle ½ α t², no horizontal plate force
    and no free moment: the free moment it needs is I_zz α, I_zz the composite inertia about the vertical through the
    centre of mass (computed independently by the audit; the COM's orbit adds linear, not angular, momentum)."""
    info = load_model("myofullbody", "corrected")
    m = info.model
    rate, n, alpha = 100.0, 60, 2.0
    t = np.arange(n) / rate
    qpos = np.tile(m.qpos0, (n, 1))
    for k, th in enumerate(0.5 * alpha * t**2):
        qpos[k, 3:7] = [np.cos(th / 2), 0.0, 0.0, np.sin(th / 2)]
    qvel = np.zeros((n, m.nv))
    for k in range(n):
        a, b = max(k - 1, 0), min(k + 1, n - 1)
        mujoco.mj_differentiatePos(m, qvel[k], (b - a) / rate, qpos[a], qpos[b])
    motion = Motion(qpos=qpos, qvel=qvel, rate_hz=rate, model="myofullbody", variant="corrected")
    weight = info.mass_kg * 9.81
    plate = SimpleNamespace(time=t, force=np.tile([0.0, 0.0, weight], (n, 1)), cop=np.zeros((n, 3)),
                            free_moment=np.zeros(n))  # fmt: skip
    yb = yaw_budget(motion, {"r": plate})
    izz = audit_inertia(m).whole_body_kg_m2[2]
    assert np.allclose(yb.free_moment_needed, izz * alpha, rtol=2e-3)
    assert np.allclose(yb.plate_force_moment, 0.0) and yb.mass_scale == pytest.approx(1.0, rel=1e-3)
    for bad_mass in (float("nan"), 0.0, -80.0):
        with pytest.raises(MmbioError, match="subject mass"):
            yaw_budget(motion, {"r": plate}, subject_mass_kg=bad_mass)
    with pytest.raises(MmbioError, match="cover"):
        yaw_budget(motion, {"r": SimpleNamespace(time=t + 10, force=plate.force, cop=plate.cop,
                                                 free_moment=plate.free_moment)})  # fmt: skip


def test_measured_walk_needs_a_human_free_moment_only_on_the_corrected_model(shared: Path) -> None:
    """The Rajagopal walk: the plates measured 3.9 N·m RMS of free moment. On stock MyoFullBody the retargeted motion
    needs 26 N·m RMS to turn its trunk; with the phantom inertia corrected, 4.2 N·m."""
    from mmbio.io.opensim import read_opensim_grf, read_storage
    from mmbio.sim.motion import motion_from_opensim

    ref = shared / "rajagopal2016_walk"
    grf = read_opensim_grf(ref / "grf_walk.mot")
    t0 = float(read_storage(ref / "coordinates.sto").time[0])
    rms = {}
    for v in ("nofingers", "corrected"):
        motion = motion_from_opensim(ref / "coordinates.sto", variant=v, floor="global")
        rms[v] = yaw_budget(motion, grf, t0_s=t0).rms()
    measured = rms["nofingers"]["free_moment_measured"]
    assert 3.0 < measured < 5.0
    assert rms["corrected"]["free_moment_measured"] == pytest.approx(measured)
    assert rms["nofingers"]["free_moment_needed"] > 5 * measured
    assert rms["corrected"]["free_moment_needed"] < 1.5 * measured
    assert rms["corrected"]["excess"] < rms["nofingers"]["excess"] / 5


def test_every_simulated_trial_says_which_inertia_its_model_carries() -> None:
    """The note :func:`mmbio.sim.extract.rollout_to_trial` adds: the stock model's points at the upstream data bug,
    the corrected model's says what was changed (the committed demos run on ``corrected``)."""
    from types import SimpleNamespace

    from mmbio.sim.extract import _inertia_note

    notes = {
        v: _inertia_note(SimpleNamespace(model_name="myofullbody", variant=v), None) for v in ("nofingers", "corrected")
    }
    assert len(notes["nofingers"]) == len(notes["corrected"]) == 1
    assert "myo_sim issue 128" in notes["nofingers"][0] and "(89.5 %)" in notes["nofingers"][0]
    assert "the 'corrected' variant" in notes["corrected"][0] and "issue 128" not in notes["corrected"][0]
    assert "(6.6 %)" in notes["corrected"][0]  # the 1 g thorax scaffold is left as shipped, and still flagged
