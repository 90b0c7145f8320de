"""validate(static_opt=...): static-optimisation activations of the same kinematics beside the controller's.

A periodic simulated trial whose answers are known by construction: joint angles are the Schwartz free-speed
means, the controller's activations follow the Schwartz EMG shapes (rectus femoris displaced by 30 % of the
cycle), 5 strides of 1.1 s sampled at 1 kHz. The static optimisation is then the same activations (→ the same
numbers), a copy delayed by 33 ms = 3 samples of the cycle (→ lag +33 ms), half of them (→ twice the scale,
the same shape metrics) or a time window of them (→ only the cycles it covers).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from periodic_trial import ACTUATORS, T, activations, periodic_trial
from periodic_trial import activation_curve as muscle_curve

from mmbio.analysis.result import ValidationResult, tree_to_dict
from mmbio.analysis.stats import pearson_r
from mmbio.analysis.validate import validate
from mmbio.errors import MmbioError
from mmbio.reference.registry import reference_curve
from mmbio.trial import Channels, Trial

DELAY_S = 0.033  # 3 % of the 1.1 s cycle: exactly 3 of its 100 samples


def activation_curve(base: str) -> np.ndarray:
    """The controller's mean cycle (101,) of one actuator: 0.05 + 0.6 × the peak-normalised Schwartz EMG."""
    return muscle_curve(ACTUATORS[base])


@pytest.fixture(scope="module")
def trial() -> Trial:
    return periodic_trial()


def run(trial: Trial, static_opt: Channels | None = None, **kw) -> ValidationResult:
    return validate(trial, "schwartz2008:free", spm=False, static_opt=static_opt, **kw)


@pytest.fixture(scope="module")
def plain(trial: Trial) -> ValidationResult:
    return run(trial)


@pytest.fixture(scope="module")
def same(trial: Trial) -> ValidationResult:
    return run(trial, trial.activations, static_opt_source="the trial's own activations (test)")


def _json(x: object) -> str:
    return json.dumps(x, sort_keys=True, allow_nan=True)


# --------------------------------------------------------------------------------------------------


def test_identical_static_opt_gives_identical_metrics(same: ValidationResult) -> None:
    emg, so = same.metrics["emg"], same.metrics["emg_static_opt"]
    assert _json(tree_to_dict({"x": so})) == _json(tree_to_dict({"x": emg}))  # values, cycles, ceilings, reasons
    assert so["right"]["tibialis_anterior"]["r"].value > 0.99  # the shapes are the EMG's
    assert so["right"]["tibialis_anterior"]["r"].cycles.shape == (5,)
    assert so["right"]["tibialis_anterior"]["r"].ceiling is not None
    for side in ("right", "left"):
        red = same.metrics["redundancy"][side]
        assert _json(tree_to_dict({"d": {side: {"v": red["static_opt"]}}})) == _json(
            tree_to_dict({"d": {side: {"v": red["gap"]}}})
        )
        assert red["static_opt"]["activation_fidelity_rel"].available
    a = {(c.side, c.variable): c for c in same.curves if c.domain == "emg"}
    b = {(c.side, c.variable): c for c in same.curves if c.domain == "emg_static_opt"}
    assert set(a) == set(b) and len(a) == 10  # 5 Schwartz muscles × 2 sides
    for k, c in a.items():
        np.testing.assert_array_equal(b[k].trial_cycles, c.trial_cycles)
        np.testing.assert_array_equal(b[k].ref_mean, c.ref_mean)
    prov = same.provenance["static_opt"]
    assert prov["source"] == "the trial's own activations (test)" and prov["channels"] == 12 and prov["compared"]
    note = next(n for n in same.notes if n.startswith("static optimisation compared with the schwartz2008:free EMG"))
    assert "cycles compared: right 5 (trial 5), left 4 (trial 4)" in note and "the trial's own activations" in note


def test_without_static_opt_nothing_is_added_or_changed(plain: ValidationResult, same: ValidationResult) -> None:
    assert "emg_static_opt" not in plain.metrics
    assert all(set(v) == {"gap"} for v in plain.metrics["redundancy"].values())
    assert not any(c.domain == "emg_static_opt" for c in plain.curves)
    assert "static_opt" not in plain.provenance
    assert not any("static optimisation" in n for n in plain.notes)
    # adding a static optimisation changes none of the trial's own numbers
    with_so = tree_to_dict(same.metrics)
    for domain, sides in tree_to_dict(plain.metrics).items():
        for side, variables in sides.items():
            got = with_so[domain][side] if domain != "redundancy" else {"gap": with_so[domain][side]["gap"]}
            assert _json(got) == _json(variables), (domain, side)
    assert [n for n in same.notes if not n.startswith("static optimisation")] == plain.notes
    assert [(c.domain, c.side, c.variable) for c in same.curves if c.domain != "emg_static_opt"] == [
        (c.domain, c.side, c.variable) for c in plain.curves
    ]


def test_delayed_static_opt_shows_the_delay(trial: Trial, same: ValidationResult) -> None:
    res = run(trial, activations(trial.activations.time, delay_s=DELAY_S))
    e = reference_curve("schwartz2008", "free", "tibialis_anterior", "both").mean
    for side in ("right", "left"):
        ctrl = res.metrics["emg"][side]["tibialis_anterior"]
        so = res.metrics["emg_static_opt"][side]["tibialis_anterior"]
        assert ctrl["best_lag_ms"].value == 0.0
        assert so["best_lag_ms"].value == pytest.approx(1e3 * DELAY_S, abs=1e-6)  # positive: later than the EMG
        np.testing.assert_allclose(so["best_lag_ms"].cycles, 33.0, atol=1e-6)
        # shifted back by the lag it is the controller's curve again
        assert so["r_best_lag"].value == pytest.approx(ctrl["r_best_lag"].value, abs=1e-9)
        # r of the delayed cycle: the controller's curve rolled by 3 of its 100 samples
        c = activation_curve("tibant")
        rolled = np.r_[np.roll(c[:100], 3), np.roll(c[:100], 3)[0]]
        assert so["r"].value == pytest.approx(float(pearson_r(rolled, e)), abs=1e-9)
        assert so["r"].value < ctrl["r"].value - 0.01
    # the redundancy gap with the delayed solution: same kinematics, lower activation fidelity
    for side in ("right", "left"):
        gap, sog = res.metrics["redundancy"][side]["gap"], res.metrics["redundancy"][side]["static_opt"]
        assert sog["kinematic_fidelity"].value == gap["kinematic_fidelity"].value
        assert sog["activation_fidelity"].value < gap["activation_fidelity"].value
        assert sog["gap_rel"].value > gap["gap_rel"].value
        assert gap["gap"].value == pytest.approx(gap["kinematic_fidelity"].value - gap["activation_fidelity"].value)
        assert sog["gap"].value == pytest.approx(sog["kinematic_fidelity"].value - sog["activation_fidelity"].value)


def test_scaled_static_opt_only_changes_the_scale(trial: Trial, same: ValidationResult) -> None:
    res = run(trial, activations(trial.activations.time, gain=0.5))
    for side in ("right", "left"):
        for mus, so in res.metrics["emg_static_opt"][side].items():
            ctrl = same.metrics["emg"][side][mus]
            if not ctrl["r"].available:  # muscles without Schwartz EMG: n/a in both
                assert not so["r"].available and so["r"].reason == ctrl["r"].reason
                continue
            assert so["scale"].value == pytest.approx(2 * ctrl["scale"].value, rel=1e-12)
            for name in ("r", "r_best_lag", "best_lag_ms", "scaled_rmse", "onoff_agreement", "silent"):
                assert so[name].value == pytest.approx(ctrl[name].value, rel=1e-9, abs=1e-12), (side, mus, name)


def test_static_opt_over_part_of_the_trial(trial: Trial, same: ValidationResult) -> None:
    """Only the cycles the static optimisation covers, on the trial's own heel strikes."""
    so = trial.activations.window(T - 0.01, 3 * T + 0.01)  # right cycles 2 and 3, left cycle 2
    res = run(trial, so)
    r = res.metrics["emg_static_opt"]["right"]["gastrocnemius_medialis"]["r"]
    full = same.metrics["emg"]["right"]["gastrocnemius_medialis"]["r"]
    np.testing.assert_allclose(r.cycles, full.cycles[1:3], rtol=0, atol=1e-12)
    assert res.metrics["emg_static_opt"]["left"]["gastrocnemius_medialis"]["r"].cycles.shape == (1,)
    assert any("cycles compared: right 2 (trial 5), left 1 (trial 4)" in n for n in res.notes)


def test_static_opt_on_another_clock_is_refused(trial: Trial) -> None:
    """Off the trial's clock is refused, naming the source (issue 14 §5; it used to be n/a with a note)."""
    a = trial.activations
    with pytest.raises(MmbioError, match=r"^activation source 'static optimisation': time 100\.000.*trial's clock"):
        run(trial, Channels(a.time + 100.0, a.values, a.names, a.units))
    with pytest.raises(MmbioError, match="static_opt must be Channels"):
        run(trial, a.values)  # type: ignore[arg-type]


def test_static_opt_without_trial_activations(trial: Trial) -> None:
    """Kinematics only (e.g. a measured trial without EMG): the static optimisation is still compared."""
    res = run(trial.replace(activations=None), trial.activations)
    assert "emg" not in res.metrics and "emg_static_opt" in res.metrics
    assert res.reference["emg"]["name"] == "schwartz2008"
    assert {k for v in res.metrics["redundancy"].values() for k in v} == {"static_opt"}
    # the reference without EMG: said, never invented
    res = validate(trial.replace(activations=None), "hamner2013_run:3", spm=False, static_opt=trial.activations)
    assert "emg_static_opt" not in res.metrics
    assert any(n.startswith("static optimisation not compared: hamner2013_run:3 has no EMG") for n in res.notes)


def test_report_tables_and_pages(tmp_path: Path, same: ValidationResult) -> None:
    from mmbio.report.pdf import write_curves_csv, write_metrics_json, write_report

    doc = json.loads(write_metrics_json(same, tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert doc["emg_static_opt"]["right"]["tibialis_anterior"]["r"] == doc["emg"]["right"]["tibialis_anterior"]["r"]
    assert set(doc["redundancy"]["left"]) == {"gap", "static_opt"}
    assert doc["provenance"]["static_opt"]["channels"] == 12
    with write_curves_csv(same, tmp_path / "curves.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    so_rows = [r for r in rows if r["domain"] == "emg_static_opt"]
    assert len(so_rows) == 101 * 10
    emg_rows = [r for r in rows if r["domain"] == "emg"]
    assert [r["trial_mean"] for r in so_rows] == [r["trial_mean"] for r in emg_rows]
    pdf = write_report(same, tmp_path / "report.pdf")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed: page texts not checked")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    emg_page = next(p for p in pages if "Activation vs EMG" in p and "static opt.: r =" in p)
    assert "static optimisation of the same kinematics" in emg_page
    red = next(p for p in pages if "Redundancy gap, controller vs static optimisation" in p)
    assert "human ceiling" in red and "Same kinematics, different muscles" in red
