"""End-to-end bad input for the validation: one cycle, a flat channel, NaN, unmatched muscles, a variable
the reference lacks — explicit n/a entries in metrics.json and on the scorecard, never a crash or a number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmbio.analysis.validate import validate
from mmbio.errors import NoGaitCycleError
from mmbio.reference.registry import reference_curve
from mmbio.report.pdf import write_metrics_json, write_report
from mmbio.trial import Channels, Events, Subject, Trial


def one_cycle_trial() -> Trial:
    """1.5 strides of right-leg data: exactly one complete right cycle (0.2–1.3 s)."""
    t = np.arange(0.0, 1.8, 0.01)
    phase = np.clip((t - 0.2) / 1.1, 0, 1) * 100
    knee = reference_curve("schwartz2008", "free", "knee_flexion", "both")
    hip = reference_curve("schwartz2008", "free", "hip_flexion", "both")
    ta = reference_curve("schwartz2008", "free", "tibialis_anterior", "both")
    gaps = np.interp(phase, hip.pct, hip.mean)
    gaps[(t > 0.5) & (t < 0.6)] = np.nan  # a NaN gap inside the only hip cycle
    angles = Channels(
        t,
        np.column_stack([np.interp(phase, knee.pct, knee.mean), gaps, np.full_like(t, 3.0)]),
        ["knee_flexion_r", "hip_flexion_r", "subtalar_inversion_r"],  # subtalar: flat, and absent in Schwartz
        "deg",
    )
    act = Channels(
        t,
        np.column_stack([np.interp(phase, ta.pct, ta.mean), np.zeros_like(t), 0.3 + 0 * t]),
        ["tibialis_anterior_r", "soleus_r", "mystery_muscle_r"],  # soleus silent; an unknown muscle
        "1",
    )
    ev = Events({"r": np.array([0.2, 1.3]), "l": np.array([0.75])}, {"r": np.array([0.86]), "l": np.empty(0)}, "file")
    return Trial(
        name="bad",
        source="synthetic",
        kind="simulated",
        subject=Subject("x", 70.0),
        angles=angles,
        activations=act,
        events=ev,
    )


def test_bad_input_gives_explicit_not_available_entries(tmp_path: Path) -> None:
    res = validate(one_cycle_trial(), "schwartz2008:free", protocol="walking", spm=True)
    knee = res.get("kinematics.right.knee_flexion.r")
    assert knee.available and knee.value > 0.99  # one clean cycle still compares
    hip = res.get("kinematics.right.hip_flexion.r")
    assert not hip.available and "dropped for NaN samples in hip_flexion_r" in hip.reason  # no number from a gap
    sub = res.get("kinematics.right.subtalar_inversion.r")
    assert not sub.available and "reference has no subtalar_inversion" in sub.reason
    assert res.get("emg.right.soleus.r") is None or not res.get("emg.right.soleus.r").available
    ta = res.get("emg.right.tibialis_anterior.r")
    assert ta.available and ta.value > 0.99
    assert any("mystery_muscle" in n for n in res.notes)
    # GRF: none in the trial → required GRF checks fail or are n/a, never invented
    assert all(c["value"] is None for c in res.checks if c["metric"].startswith("grf"))
    assert res.passed is False
    # SPM with one cycle: not run, and it says why
    curves = [c for c in res.curves if c.domain == "kinematics" and c.spm is not None]
    assert curves and all(not c.spm.ran and c.spm.reason for c in curves)

    write_metrics_json(res, tmp_path / "metrics.json")
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["kinematics"]["right"]["hip_flexion"]["r"]["value"] is None
    assert doc["kinematics"]["right"]["hip_flexion"]["r"]["reason"]
    write_report(res, tmp_path / "report.pdf")
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_trial_without_any_cycle_is_a_clear_error() -> None:
    tr = one_cycle_trial()
    tr.events = Events(source="none")
    with pytest.raises(NoGaitCycleError, match="synthetic: no complete gait cycle"):
        validate(tr, "schwartz2008:free", spm=False)


def test_silent_activation_is_flagged_and_has_no_r() -> None:
    res = validate(one_cycle_trial(), "schwartz2008:free", emg_reference="santuz2020_emg", spm=False)
    r = res.get("emg.right.soleus.r")
    assert not r.available and "flat signal: r undefined" in r.reason
    assert res.get("emg.right.soleus.silent").value == 1.0


def test_diverged_simulation_is_flagged_first() -> None:
    tr = one_cycle_trial()
    tr.notes = ["DIVERGED", "diverged at 1.400 s: mjWARN_BADQACC"]
    res = validate(tr, "schwartz2008:free", spm=False)
    assert res.trial["diverged"] is True
    assert res.notes[0].startswith("SIMULATION DIVERGED") and "1.400 s" in res.notes[0]
