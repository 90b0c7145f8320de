"""Subject scaling from a static trial (mmbio.sim.scaling): factors recovered from synthetic static markers of a
known scaled model, marker placement, the other-subject warning, and the Schreiber 2014001 static trial against the
OpenSim Scale tool's factors (skipped without ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.models.registry import load_model
from mmbio.sim.frames import mat_from_quat, opensim_pelvis_from_matrix
from mmbio.sim.ik import MarkerIK, marker_ik, marker_sets
from mmbio.sim.scaling import scale_factors, scale_for_subject, scale_model
from mmbio.trial import Markers

ISB = "isb_schreiber2019"
SCHREIBER = Path(__file__).resolve().parents[2] / "shared" / "reference" / "schreiber2019"
#: uniform per-body factors of the synthetic subject (same-body marker pairs then scale exactly)
KNOWN = {"femur_r": 1.10, "patella_r": 1.10, "tibia_r": 0.92, "talus_r": 0.92, "calcn_r": 1.05, "toes_r": 1.05}


def _static(factors: dict[str, np.ndarray], frames: int = 1) -> Markers:
    """Markers of the ISB set on the model scaled by ``factors``, standing at qpos0 (offsets scaled with bodies)."""
    m = scale_model(factors)
    ms = marker_sets()[ISB]
    off = ms.offsets * np.array([factors.get(b, np.ones(3)) for b in ms.bodies])
    ik = MarkerIK(m, np.array([m.body(b).id for b in ms.bodies]), off, locked=ms.locked)
    p = ik.positions(ik.constrain(m.qpos0.copy())) @ MUJOCO_MYOFULLBODY_TO_LAB.T
    return Markers(np.arange(frames) / 100.0, np.repeat(p[None], frames, axis=0), list(ms.markers))


def test_factors_recovered_and_markers_placed() -> None:
    known = {b: np.full(3, f) for b, f in KNOWN.items()}
    st = _static(known)
    ratios, factors, _ = scale_factors(st, ISB)
    for name, f in (("r_thigh_length", 1.10), ("r_thigh_breadth", 1.10), ("r_tibia_length", 0.92),
                    ("r_tibia_breadth", 0.92), ("r_foot_length", 1.05), ("r_foot_width", 1.05),
                    ("l_thigh_length", 1.0), ("l_tibia_length", 1.0), ("pelvis_width", 1.0)):  # fmt: skip
        assert ratios[name] == pytest.approx(f, abs=1e-9), name
    np.testing.assert_allclose(factors["femur_r"], 1.10, atol=1e-9)
    np.testing.assert_allclose(factors["patella_r"], 1.10, atol=1e-9)  # group: takes the femur's factors
    np.testing.assert_allclose(factors["toes_r"], 1.05, atol=1e-9)
    np.testing.assert_allclose(factors["capitate_r"], factors["radius_r"], atol=1e-12)  # nearest mapped ancestor
    sm = scale_for_subject(st, ISB, mass_kg=70.0)
    assert float(np.sum(sm.model.body_mass)) == pytest.approx(70.0, rel=1e-6)
    m0 = load_model("myofullbody").model
    # tibia origin (knee) in the femur frame: the femur's length factor applies
    np.testing.assert_allclose(sm.model.body_pos[m0.body("tibia_r").id], 1.10 * m0.body_pos[m0.body("tibia_r").id])
    # the static trial itself (one frame: allowed) on the scaled, placed model: markers matched
    res = marker_ik(st, scaled=sm)
    assert res.motion.n_frames == 1
    assert float(np.nanmax(res.marker_error_m)) < 2e-3
    assert any("model scaled" in n for n in res.notes)
    assert not any("another subject" in n for n in res.notes)
    # a trial 15 % larger than the static: warned
    big = Markers(st.time, st.positions * 1.15, st.names)
    assert any("another subject" in n for n in marker_ik(big, scaled=sm).notes)


@pytest.mark.skipif(not (SCHREIBER / "2014001" / "2014001_ST.c3d").exists(), reason="../shared schreiber2019 absent")
def test_schreiber_2014001_static_matches_opensim_scale() -> None:
    sm = scale_for_subject(SCHREIBER / "2014001" / "2014001_ST.c3d", mass_kg=67.0)  # the static C3D has no SUBJECT
    # OpenSim ScaleTool factors of the published model (zmp-opensim 2014001_scaleSet.xml)
    np.testing.assert_allclose(sm.factors["pelvis"], [1.0588, 0.9027, 0.9723], atol=2e-3)
    np.testing.assert_allclose(sm.factors["femur_r"], [1.2009, 0.9385, 1.2009], atol=2e-3)
    np.testing.assert_allclose(sm.factors["tibia_l"], [0.9664, 0.9364, 0.9664], atol=2e-3)
    np.testing.assert_allclose(sm.factors["thorax"], [1.1040, 0.9713, 1.3044], atol=2e-3)
    assert float(np.sum(sm.model.body_mass)) == pytest.approx(67.0, rel=1e-6)
    # static pose: pelvis tilt within 3° of OpenSim's (-10.4°; unscaled mmbio: +21.3°)
    tilt = float(np.degrees(opensim_pelvis_from_matrix(mat_from_quat(sm.static_qpos[None, 3:7])))[0, 0])
    assert abs(tilt - (-10.4)) < 3.0


def test_cli_static(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_ik import _write_trc

    from mmbio.cli import main

    st = _static({b: np.full(3, f) for b, f in KNOWN.items()}, frames=3)
    trc = _write_trc(tmp_path / "static.trc", st)
    assert main(["ik", str(trc), "--static", str(trc), "--mass", "70", "-o", str(tmp_path / "s.mot")]) == 0
    out = capsys.readouterr().out
    assert "model scaled to static.trc" in out and "markers placed" in out
