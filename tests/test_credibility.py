"""Credibility checks of a simulated trial (mmbio.analysis.credibility): bands, statuses and n/a, on inputs whose
answers are worked out by hand here."""

from __future__ import annotations

import numpy as np
import pytest

from mmbio.analysis.credibility import assess_credibility, human_metabolic_power, load_bands
from mmbio.trial import Events, GroundReaction, Subject, Trial


def _trial(mass: float = 80.0, peak_bw: float = 1.1) -> Trial:
    t = np.linspace(0, 1, 1001)
    fz = np.clip(np.sin(np.pi * t / 0.6), 0, None) * peak_bw * mass * 9.81
    force = np.zeros((t.size, 3))
    force[:, 2] = fz
    g = GroundReaction(time=t, force=force, cop=np.zeros((t.size, 3)), free_moment=np.zeros(t.size))
    return Trial(name="sim", source="test", kind="simulated", subject=Subject(mass_kg=mass, speed_m_s=1.25),
                 grf={"r": g}, events=Events(source="test"))  # fmt: skip


def _checks(inputs: dict, **kw) -> dict[str, dict]:
    _, checks, _, _ = assess_credibility(inputs, _trial(**kw))
    return {c["metric"].split(".")[2]: c for c in checks}


def test_ralston_gross_walking_power_by_hand() -> None:
    # Ralston 1958 at 1.25 m/s = 75 m/min: (29 + 0.0053 · 75²) cal/(kg·min) = 58.8125 · 4.184 / 60 = 4.1012 W/kg
    # gross, minus the 1.2 W/kg basal rate a muscles-only simulation does not count: 2.9012 W/kg net
    e, src = human_metabolic_power(1.25, running=False)
    assert e == pytest.approx(2.9012, abs=1e-4) and src == "ralston1958"
    e, src = human_metabolic_power(3.0, running=True)  # Margaria: net 4.2 J/(kg·m) · 3 m/s
    assert e == pytest.approx(12.6) and src == "margaria1963"


def test_bands_relative_to_external_force_com_height_and_joint_moment() -> None:
    inputs = {
        "residuals_applied": True,
        "residual_force_peak_n": 30.0,  # 3 % of 1000 N → pass (≤ 5 %) but fails OpenSim's absolute 25 N
        "residual_force_rms_n": 10.0,  # warn (≤ 15 N)
        "residual_moment_peak_nm": 18.0,  # 18 / (1.0 m · 1000 N) = 1.8 % → warn (≤ 2 %)
        "residual_moment_rms_nm": 10.0,
        "peak_external_force_n": 1000.0,
        "com_height_m": 1.0,
        "reserves": {"hip": {"peak_nm": 5.0, "rms_nm": 1.0, "peak_joint_moment_nm": 100.0},  # 5 %
                     "lumbar": {"peak_nm": 30.0, "rms_nm": 9.0, "peak_joint_moment_nm": 150.0}},  # 20 % → warn
        "joint_limit_max_deg": 0.0,
        "penetration_max_m": 0.025,  # 25 mm → fail (warn ≤ 20)
        "sliding_mean_m_s": 0.01,
        "metabolic_w_per_kg": 3.3,  # within 2.90 ± 25 %
        "speed_m_s": 1.25,
    }  # fmt: skip
    c = _checks(inputs)
    assert (
        c["residual_force_peak_pct"]["value"] == pytest.approx(3.0) and c["residual_force_peak_pct"]["status"] == "pass"
    )
    assert c["residual_force_peak"]["status"] == "fail"
    assert c["residual_force_rms"]["status"] == "warn"
    assert (
        c["residual_moment_peak_pct"]["value"] == pytest.approx(1.8)
        and c["residual_moment_peak_pct"]["status"] == "warn"
    )
    assert c["reserve_peak_pct"]["value"] == pytest.approx(20.0) and "lumbar" in c["reserve_peak_pct"]["what"]
    assert c["reserve_peak_pct"]["status"] == "warn"
    assert c["foot_penetration_max"]["value"] == pytest.approx(25.0) and c["foot_penetration_max"]["status"] == "fail"
    assert c["metabolic_power"]["status"] == "pass" and c["metabolic_power"]["source"] == "ralston1958"
    assert c["residual_force_peak_pct"]["source"] == "hicks2015"


def test_muscle_only_simulations_have_zero_residuals_and_missing_inputs_are_na() -> None:
    c = _checks({"residuals_applied": False, "peak_external_force_n": 900.0, "com_height_m": 0.9, "speed_m_s": 1.25})
    assert c["residual_force_peak"]["value"] == 0.0 and c["residual_force_peak"]["status"] == "pass"
    assert "muscles only" in c["residual_force_peak"]["what"]
    assert c["reserve_peak_pct"]["value"] == 0.0
    for key in ("foot_penetration_max", "foot_sliding_mean", "joint_limit_excess", "metabolic_power"):
        assert c[key]["status"] == "n/a" and c[key]["value"] is None and c[key]["reason"], key  # never a fail
    note = "root-free tracking (root_residual 'none'): no force acted on the pelvis"
    c = _checks({"residuals_applied": False, "residuals_note": note, "reserves": {}, "speed_m_s": 1.25})
    assert c["residual_moment_rms"]["value"] == 0.0 and note in c["residual_moment_rms"]["what"]
    assert "muscles only" not in c["residual_force_peak"]["what"]
    c = _checks({"na": {"foot_penetration_max": "GRF prescribed: floor contact off"}})
    assert c["foot_penetration_max"]["status"] == "n/a" and "floor contact off" in c["foot_penetration_max"]["reason"]


@pytest.mark.shared
def test_largest_vertical_grf_against_the_human_spread() -> None:
    """1.1 BW sits inside the Schreiber adults' between-subject spread of the largest vertical GRF; 2.0 BW does not."""
    from mmbio.reference.registry import load_scalars

    s = load_scalars("schreiber2019")
    row = s[(s.variable == "grf_vertical_max") & (s.condition == "c4")]
    mu, sd = float(row["mean"].mean()), float(np.sqrt(np.mean(row["sd"] ** 2)))
    ok = _checks({"speed_m_s": 1.25}, peak_bw=mu)["grf_vertical_max"]
    assert ok["status"] == "pass" and ok["value"] == pytest.approx(mu, abs=2e-3) and "schreiber2019:c4" in ok["rule"]
    high = _checks({"speed_m_s": 1.25}, peak_bw=mu + 4 * sd)["grf_vertical_max"]
    assert high["status"] == "fail"


def test_every_band_names_a_known_source() -> None:
    bands, sources = load_bands()
    assert {"hicks2015", "opensim_best_practices", "ralston1958", "mmbio"} <= set(sources)
    for b in bands:
        assert b.source in sources or b.human or b.human_model, b.id


def test_a_motion_scored_against_its_own_source_says_so() -> None:
    """A walk synthesised from schwartz2008 and validated against schwartz2008 is flagged 'by construction' first;
    the same trial against another reference is not."""
    from mmbio.analysis.validate import validate
    from mmbio.control.run import motion_sources
    from mmbio.sim.extract import rollout_to_trial
    from mmbio.sim.motion import synthesize_motion

    motion = synthesize_motion(speed_m_s=1.25, n_cycles=2)
    assert motion_sources(motion) == ["schwartz2008"]
    trial = rollout_to_trial(motion)
    own = validate(trial, "schwartz2008:free", spm=False, built_from=motion_sources(motion))
    assert (
        own.notes[0].startswith("KINEMATIC FIDELITY BY CONSTRUCTION") and "schwartz2008" in own.trial["by_construction"]
    )
    assert own.get("kinematics.right.knee_flexion.r").value > 0.95  # high, and now read for what it is
    other = validate(trial, "hamner2013_run:2", spm=False, built_from=motion_sources(motion))
    assert "by_construction" not in other.trial
    # a simulated trial without the simulation's own figures: credibility assessed, its inputs n/a, never failed
    assert own.credible is not False and own.credibility is not None
    statuses = {c["metric"].split(".")[2]: c["status"] for c in own.credibility["checks"]}
    assert statuses["residual_force_peak"] == "n/a" and statuses["metabolic_power"] == "n/a"


@pytest.mark.shared
def test_loading_rate_against_the_adults_spread() -> None:
    """The result's loading rate (worst foot) is judged against Schreiber's between-subject loading rate."""
    from mmbio.analysis.result import Metric
    from mmbio.reference.registry import load_scalars

    s = load_scalars("schreiber2019")
    row = s[(s.variable == "grf_vertical_loading_rate") & (s.condition == "c4")]
    mu = float(row["mean"].mean())
    assert 3 < mu < 15  # adults walking at their own speed: single-digit BW/s
    grf = {"right": {"vertical": {"loading_rate_bw_s": Metric(mu, "BW/s")}},
           "left": {"vertical": {"loading_rate_bw_s": Metric(4 * mu, "BW/s")}}}  # fmt: skip
    _, checks, _, _ = assess_credibility({"speed_m_s": 1.1}, _trial(), grf_metrics=grf)
    c = {x["metric"].split(".")[2]: x for x in checks}["grf_loading_rate"]
    assert c["value"] == pytest.approx(4 * mu) and "left" in c["what"] and c["status"] == "fail"


def test_free_moment_peak_is_one_sided_against_the_adults_spread() -> None:
    """Free moment peak (N·m/kg) over the frames where the foot carries ≥ 10 % BW, against Schreiber 2019's per-stance
    peaks: only a value above mean + 2 SD fails to pass; 0 passes; a spike under a light foot is not counted."""
    from mmbio.reference.registry import load_scalars

    s = load_scalars("schreiber2019")
    rows = s[(s.variable == "free_moment_peak") & (s.condition == "c4")]
    mu, sd = float(rows["mean"].mean()), float(np.sqrt(np.mean(rows["sd"] ** 2)))
    assert 0.01 < mu < 0.1 and 0 < sd < mu  # a few N·m in adults of 50-80 kg
    mass = 80.0
    for tz_nm, expect in ((0.0, "pass"), (mass * mu, "pass"), (mass * (mu + 2.5 * sd), "warn"), (mass * 1.0, "fail")):
        trial = _trial(mass)
        g = trial.grf["r"]
        fm = np.where(g.vertical >= 0.1 * mass * 9.81, tz_nm, 0.0)
        fm[1] = 500.0  # 1 ms after contact: the foot carries < 10 % BW, ignored
        trial.grf["r"] = GroundReaction(time=g.time, force=g.force, cop=g.cop, free_moment=fm)
        _, checks, _, _ = assess_credibility({"speed_m_s": 1.1}, trial)
        c = {k["metric"].split(".")[2]: k for k in checks}["free_moment_peak"]
        assert c["value"] == pytest.approx(tz_nm / mass) and c["status"] == expect, (tz_nm, c)
        assert "mean + 2 SD" in c["rule"] and c["what"].endswith("(right foot)")


def test_a_bands_file_with_an_unknown_human_bound_is_refused_in_one_line(tmp_path) -> None:
    from mmbio.analysis.credibility import _bands_file
    from mmbio.errors import DataFileError

    text = _bands_file().read_text().replace("human_bound: upper", "human_bound: lower")
    p = tmp_path / "bands.yaml"
    p.write_text(text)
    with pytest.raises(DataFileError) as err:
        load_bands(p)
    msg = str(err.value)
    assert "\n" not in msg and "free_moment_peak" in msg and "human_bound" in msg and "bands.yaml" in msg
