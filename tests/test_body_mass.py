"""Body mass from a treadmill's force (whole strides of both feet) — and no estimate where steps miss the plates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmbio.gait.body_mass import estimate_body_mass, with_estimated_mass
from mmbio.io.loader import load_trial
from mmbio.trial import GRAVITY

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("speed", ["2", "5"])
def test_hamner_mass_from_the_mean_vertical_force(shared: Path, speed: str) -> None:
    """Within 1.5 kg of the mean total force over the 3 cycles that gait_times.json names (the reference build's
    own estimate), for every shared runner; the window is whole force strides of one foot."""
    for d in sorted((shared / "hamner2013_run").glob("subject*")):
        tr = load_trial(d / f"Run_{speed}_ik.mot", grf=d / f"Run_{speed}_grf.mot")
        c = json.loads((d / "gait_times.json").read_text())[f"run{speed}"]
        g_r, g_l = tr.grf["r"], tr.grf["l"]
        m = (g_r.time >= c["cycle1"]["initialTime"]) & (g_r.time < c["cycle3"]["finalTime"])
        expected = float(np.mean(g_r.vertical[m] + g_l.vertical[m]) / GRAVITY)
        est = estimate_body_mass(tr)
        assert est.available and est.mass_kg == pytest.approx(expected, abs=1.5), d.name
        assert est.n_strides >= 4 and "whole strides" in est.method
        assert not np.isfinite(tr.subject.mass_kg)
        same, used = with_estimated_mass(tr)
        assert used is not None and same.subject.mass_kg == est.mass_kg and same is not tr


def test_overground_trials_get_no_estimate(shared: Path) -> None:
    tr = load_trial(shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d")
    tr.subject.mass_kg = float("nan")
    est = estimate_body_mass(tr)
    assert not est.available and "overground" in est.reason
    assert with_estimated_mass(tr) == (tr, None)
    d = shared / "rajagopal2016_walk"
    assert not estimate_body_mass(load_trial(d / "coordinates.sto", grf=d / "grf_walk.mot")).available
