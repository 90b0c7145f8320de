"""validate(activation_sources={...}): several named activation sources beside the trial's own, vs the same EMG.

A periodic simulated trial whose answers are derived here without mmbio's metric code: joint angles are the Schwartz
free-speed means, the trial's ("controller's") activations are 0.05 + 0.6 × the peak-normalised Schwartz EMG of each
muscle (rectus femoris displaced by 30 % of the cycle), 5 strides of 1.1 s at 1 kHz, so one gait cycle's 101 points
are samples of the curves themselves. The sources:

* ``policy``: the trial's own activations → r = corrcoef(curve, EMG), the trial's numbers;
* ``teacher``: the same delayed by 33 ms = 3 of the cycle's 100 samples → r = corrcoef(curve rolled by 3, EMG);
* ``static optimisation``: half of them → the same r (r ignores a gain);
* a source whose channels are no muscle of the model nor of the EMG → n/a with the reason, never a number.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from periodic_trial import ACTUATORS, T, activation_curve, activations, emg, periodic_trial

from mmbio.analysis.activation_sources import ActivationSource, source_key
from mmbio.analysis.result import ValidationResult, tree_to_dict
from mmbio.analysis.validate import validate
from mmbio.errors import MmbioError
from mmbio.trial import Channels, Trial

MUSCLES = sorted(set(ACTUATORS.values()))  # the 5 Schwartz EMG muscles compared
DELAY_SAMPLES = 3  # of the cycle's 100: 33 ms at 1.1 s
controller_curve = activation_curve


def delayed(c: np.ndarray, k: int = DELAY_SAMPLES) -> np.ndarray:
    """A mean cycle delayed by ``k`` of its 100 samples (the 101st repeats the first)."""
    r = np.roll(c[:100], k)
    return np.r_[r, r[0]]


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def trial() -> Trial:
    return periodic_trial()


def sources(trial: Trial) -> dict[str, Channels | ActivationSource]:
    t = trial.activations.time
    return {
        "policy": ActivationSource(trial.activations, "the trial's own activations (test)"),
        "teacher": activations(t, delay_s=DELAY_SAMPLES * T / 100),
        "static optimisation": ActivationSource(activations(t, gain=0.5), "half the trial's activations (test)"),
    }


@pytest.fixture(scope="module")
def three(trial: Trial) -> ValidationResult:
    return validate(trial, "schwartz2008:free", spm=False, activation_sources=sources(trial))


EXPECTED_R = {  # source → muscle → r of its mean cycle against the EMG, derived from the curves alone
    "policy": {m: corr(controller_curve(m), emg(m)) for m in MUSCLES},
    "teacher": {m: corr(delayed(controller_curve(m)), emg(m)) for m in MUSCLES},
    "static optimisation": {m: corr(controller_curve(m), emg(m)) for m in MUSCLES},
}


# --------------------------------------------------------------------------------------------------


def test_keys() -> None:
    assert source_key("teacher") == "teacher"
    assert source_key("Teacher (CMC, 2 kHz)") == "teacher_cmc_2_khz"
    assert source_key("static optimisation") == "static_opt"  # the key of the former static_opt= argument
    assert source_key("static optimisation of the policy's motion") == "static_optimisation_of_the_policy_s_motion"


def test_each_source_against_the_emg(three: ValidationResult) -> None:
    """Per muscle r of every source equals the r derived from its curves; the trial's own numbers are unchanged."""
    for side in ("right", "left"):
        for name, key in (("policy", "policy"), ("teacher", "teacher"), ("static optimisation", "static_opt")):
            got = three.metrics[f"emg_{key}"][side]
            assert set(MUSCLES) <= set(got)
            for m in MUSCLES:
                assert got[m]["r"].value == pytest.approx(EXPECTED_R[name][m], abs=1e-9), (side, name, m)
                assert got[m]["r"].cycles.shape == ((5,) if side == "right" else (4,))
        for m in MUSCLES:
            assert three.metrics["emg"][side][m]["r"].value == pytest.approx(EXPECTED_R["policy"][m], abs=1e-9)
        # the teacher is 33 ms late: where the trial's own activation is in time, its best lag finds that back
        in_time = [m for m in MUSCLES if three.metrics["emg"][side][m]["best_lag_ms"].value == 0.0]
        assert "tibialis_anterior" in in_time
        for m in in_time:
            assert three.metrics["emg_teacher"][side][m]["best_lag_ms"].value == pytest.approx(33.0, abs=1e-6)
        # half the activations: twice the scale
        so, own = three.metrics["emg_static_opt"][side], three.metrics["emg"][side]
        assert so["tibialis_anterior"]["scale"].value == pytest.approx(2 * own["tibialis_anterior"]["scale"].value)
    # the teacher is worse than the policy on every muscle whose EMG is not flat around the shift
    assert EXPECTED_R["teacher"]["tibialis_anterior"] < EXPECTED_R["policy"]["tibialis_anterior"] - 0.01


def test_summary_in_metrics_json(tmp_path: Path, three: ValidationResult) -> None:
    """metrics.json: one entry per named source with per-muscle r, median r and the gap relative to the ceiling."""
    from mmbio.report.pdf import write_metrics_json

    doc = json.loads(write_metrics_json(three, tmp_path / "metrics.json").read_text(encoding="utf-8"))
    block = doc["activation_sources"]
    assert block["emg_reference"] == "schwartz2008:free"
    assert list(block["sources"]) == ["policy", "teacher", "static optimisation"]
    assert block["trial"]["label"] == "trial activations" and block["trial"]["domain"] == "emg"
    ceilings = {m: three.metrics["emg"]["right"][m]["r"].ceiling for m in MUSCLES}
    assert all(c is not None and 0 < c <= 1 for c in ceilings.values())
    for name, entry in block["sources"].items():
        key = source_key(name)
        assert entry["key"] == key and entry["domain"] == f"emg_{key}" and entry["redundancy"] == key
        assert entry["compared"] is True and "reason" not in entry
        for side in ("right", "left"):
            col = entry["sides"][side]
            r = EXPECTED_R[name]
            assert {m: col["r"][m] for m in MUSCLES} == pytest.approx(r, abs=1e-9)
            others = [v for m, v in col["r"].items() if m not in MUSCLES]
            assert all(v is None for v in others)  # muscles without a channel: n/a, with the reason
            assert set(col.get("reasons", {})) == {m for m, v in col["r"].items() if v is None}
            assert col["median_r"] == {"value": pytest.approx(float(np.median(list(r.values()))), abs=1e-9),
                                       "units": "1", "n": 5}  # fmt: skip
            # the redundancy gap relative to the human ceiling: K_rel − Σ r / Σ ceiling (ratio of means)
            k_rel = block["kinematics"][side]["kinematic_fidelity_rel"]["value"]
            a_rel = sum(r.values()) / sum(ceilings.values())
            assert col["activation_fidelity_rel"]["value"] == pytest.approx(a_rel, abs=1e-9)
            assert col["gap_rel"]["value"] == pytest.approx(k_rel - a_rel, abs=1e-9)
            assert col["gap"]["value"] == pytest.approx(
                doc["redundancy"][side]["gap"]["kinematic_fidelity"]["value"] - np.mean(list(r.values())), abs=1e-9
            )
            assert doc["redundancy"][side][key]["gap_rel"]["value"] == col["gap_rel"]["value"]
    # the policy is the trial's own activations: the trial's column, number for number
    assert block["sources"]["policy"]["sides"] == block["trial"]["sides"]
    # the human ceiling column: the ceilings of the r metrics and their median
    hc = block["human_ceiling"]["sides"]["right"]
    assert hc["r"] == pytest.approx(ceilings)  # the compared muscles only (not semitendinosus: no EMG, no r)
    assert hc["median_r"]["value"] == pytest.approx(float(np.median(list(hc["r"].values()))))
    prov = doc["provenance"]["activation_sources"]
    assert prov["policy"]["source"] == "the trial's own activations (test)" and prov["teacher"]["source"] == "not given"
    assert prov["teacher"]["channels"] == 12 and prov["teacher"]["compared"] is True
    assert doc["provenance"]["static_opt"]["source"] == "half the trial's activations (test)"  # former layout kept


def test_static_opt_argument_is_the_named_source(trial: Trial, three: ValidationResult) -> None:
    """static_opt= (the former argument) and activation_sources={"static optimisation": ...} give the same keys."""
    half = activations(trial.activations.time, gain=0.5)
    old = validate(trial, "schwartz2008:free", spm=False, static_opt=half)
    assert tree_to_dict({"x": old.metrics["emg_static_opt"]}) == tree_to_dict({"x": three.metrics["emg_static_opt"]})
    for side in ("right", "left"):
        assert set(old.metrics["redundancy"][side]) == {"gap", "static_opt"}
        a, b = old.metrics["redundancy"][side]["static_opt"], three.metrics["redundancy"][side]["static_opt"]
        assert {k: m.value for k, m in a.items()} == {k: m.value for k, m in b.items()}
    assert list(old.activation_sources["sources"]) == ["static optimisation"]
    with pytest.raises(MmbioError, match="static optimisation is given twice"):
        validate(
            trial, "schwartz2008:free", spm=False, static_opt=half, activation_sources={"static optimisation": half}
        )


def test_source_off_the_trials_clock_is_refused(trial: Trial) -> None:
    a = trial.activations
    later = Channels(a.time + 100.0, a.values, a.names, a.units)
    with pytest.raises(MmbioError) as err:
        validate(trial, "schwartz2008:free", spm=False, activation_sources={"policy": a, "teacher": later})
    msg = str(err.value)
    assert msg.startswith("activation source 'teacher': time 100.000–105.699 s is not on the trial's clock")
    assert "\n" not in msg
    longer = Channels(np.r_[a.time, a.time[-1] + 1.0], np.r_[a.values, a.values[-1:]], a.names, a.units)
    with pytest.raises(MmbioError, match=r"^activation source 'long': time 0\.000–6\.699 s is not on"):
        validate(trial, "schwartz2008:free", spm=False, activation_sources={"long": longer})
    for bad, match in (
        ({"gap": a}, "'gap' is reserved"),
        ({"Teacher": a, "teacher": a}, "'Teacher' and 'teacher' share the key 'teacher'"),
        ({"teacher": a.values}, "'teacher' must be Channels or ActivationSource, not ndarray"),
    ):
        with pytest.raises(MmbioError, match=match):
            validate(trial, "schwartz2008:free", spm=False, activation_sources=bad)  # type: ignore[arg-type]


def test_part_of_the_clock_and_unmapped_muscles(trial: Trial) -> None:
    """A source over part of the trial compares the cycles it covers; one that maps to no muscle is n/a."""
    a = trial.activations
    part = a.window(T - 0.01, 3 * T + 0.01)  # right cycles 2 and 3, left cycle 2
    odd = Channels(a.time, a.values[:, :4], ["foo_r", "bar_r", "foo_l", "bar_l"], "1")
    res = validate(trial, "schwartz2008:free", spm=False, activation_sources={"part": part, "odd": odd},
                   protocol="walking")  # fmt: skip
    r = res.metrics["emg_part"]["right"]["tibialis_anterior"]["r"]
    own = res.metrics["emg"]["right"]["tibialis_anterior"]["r"]
    np.testing.assert_allclose(r.cycles, own.cycles[1:3], rtol=0, atol=1e-12)
    assert any(n.startswith("part compared with") and "right 2 (trial 5), left 1 (trial 4)" in n for n in res.notes)
    entry = res.activation_sources["sources"]["odd"]
    assert entry["compared"] is False and entry["sides"] == {}
    assert entry["reason"].startswith("none of its 4 channel(s) maps to a muscle of the schwartz2008:free EMG")
    assert "emg_odd" not in res.metrics
    assert all("odd" not in v for v in res.metrics["redundancy"].values())
    # sources are comparisons, not the trial: the protocol judges none of them, so none can fail it
    assert not any(c["metric"].startswith(("emg_", "redundancy")) for c in res.checks)


def test_report_pages_with_three_sources(tmp_path: Path, three: ValidationResult) -> None:
    """The EMG pages draw every source (tagged A, B, C) and the redundancy page has one column per activation set."""
    from mmbio.report import figures as F
    from mmbio.report.pdf import build_pages, write_report

    sections = [s for s, _ in build_pages(three)]
    assert sections.count("Redundancy gap") == 1 and "Activation vs EMG" in sections
    fig = F.redundancy_figure(
        three.metrics["kinematics"],
        three.metrics["emg"],
        {s: v["gap"] for s, v in three.metrics["redundancy"].items()},
        sources=[F.SourceView("teacher", three.metrics["emg_teacher"],
                              gap={s: v["teacher"] for s, v in three.metrics["redundancy"].items()})],
    )  # fmt: skip
    g, h = (three.metrics["redundancy"]["right"][k]["gap"].value for k in ("gap", "teacher"))
    assert fig.texts[0].get_text().startswith(f"Redundancy gap, controller vs teacher: {g:.2f} vs {h:.2f} (R)")
    pdf = write_report(three, tmp_path / "report.pdf")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed: page texts not checked")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    emg_page = next(p for p in pages if "Activation vs EMG" in p and "fitted scale" in p)
    assert "A: policy" in emg_page and "B: teacher" in emg_page and "C: static optimisation" in emg_page
    ta = EXPECTED_R["teacher"]["tibialis_anterior"]
    assert f"A 1.00 · B {ta:.2f} · C 1.00" in emg_page  # the tibialis anterior panels
    red = next(p for p in pages if "Redundancy gap: the controller and 3 activation sources vs EMG" in p)
    for word in ("controller", "policy", "teacher", "static", "human", "ceiling", "median", "gap_rel"):
        assert word in red, word
    # the teacher's row of the numbers table: its median r and relative gap, both sides
    med = float(np.median(list(EXPECTED_R["teacher"].values())))
    gap_rel = [
        three.activation_sources["sources"]["teacher"]["sides"][s]["gap_rel"]["value"] for s in ("right", "left")
    ]
    row = next(line for line in red.splitlines() if line.strip().startswith("teacher ") and " / " in line)
    assert f"{med:.2f} / {med:.2f}" in row and f"{gap_rel[0]:.2f} / {gap_rel[1]:.2f}" in row


def test_static_optimisation_activations_are_on_the_trial_clock() -> None:
    """StaticOptResult.activation_channels() adds t0_s (motion frame 0 on the trial clock), as estimated_grf() does."""
    from mmbio.control.static_opt import StaticOptResult

    t = np.arange(4) / 100.0
    so = StaticOptResult(time=t, activations=np.full((4, 2), 0.1), muscle_names=["tibant_r", "soleus_r"],
                         reserves=np.zeros((4, 0)), reserve_names=[], residuals=np.zeros((4, 6)),
                         muscle_force=np.zeros((4, 2)), solve_time_s=np.zeros(4), status=["solved"] * 4, mass_kg=70.0,
                         grf_applied=False, t0_s=0.45)  # fmt: skip
    ch = so.activation_channels()
    np.testing.assert_allclose(ch.time, 0.45 + t)
    assert ch.names == ["tibant_r", "soleus_r"] and ch.units == ["1", "1"]


def test_cli_sources_from_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mmbio validate ... --source NAME=FILE.sto``: a source read from the same file as the trial's own
    activations gets exactly the trial's numbers, under its own key, with its file in the provenance; a malformed,
    repeated or missing source is one line, exit 2."""
    from test_hostile_opensim import gait

    from mmbio.cli import main

    f = gait(tmp_path)
    base = ["validate", str(f["kin"]), "--grf", str(f["grf"]), "--activations", str(f["act"]), "--mass", "72.7",
            "--no-spm", "--no-pdf"]  # fmt: skip
    out = tmp_path / "o"
    assert main([*base, "--source", f"teacher={f['act']}", "--output", str(out)]) in (0, 1)
    doc = json.loads((out / "metrics.json").read_text())
    own, teacher = doc["activation_sources"]["trial"], doc["activation_sources"]["sources"]["teacher"]
    r_own, r_teacher = own["sides"]["right"]["r"], teacher["sides"]["right"]["r"]
    assert r_own["soleus"] is not None and r_teacher == r_own
    assert doc["emg_teacher"]["right"]["soleus"]["r"]["value"] == doc["emg"]["right"]["soleus"]["r"]["value"]
    assert doc["provenance"]["activation_sources"]["teacher"]["source"] == "activations read from act.sto (--source)"
    capsys.readouterr()
    bad = {
        "teacher": "expected NAME=FILE.sto",
        f"={f['act']}": "expected NAME=FILE.sto",
        f"a={tmp_path / 'none.sto'}": "no such file (--source a)",
        f"a={f['act']} --source a={f['act']}": "named twice",
        f"Teacher={f['act']} --source teacher={f['act']}": "share the key 'teacher'",
    }
    for i, (spec, message) in enumerate(bad.items()):
        argv = [*base, "--output", str(tmp_path / f"bad{i}")]
        for s in spec.split(" --source "):
            argv += ["--source", s]
        assert main(argv) == 2, spec
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (spec, err)
    cohort = ["validate", str(f["kin"]), str(f["kin"]), "--source", f"t={f['act']}", "--output", str(tmp_path / "c")]
    assert main(cohort) == 2
    assert "does not apply to a cohort" in capsys.readouterr().err
