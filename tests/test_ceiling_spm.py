"""Per-subject reference tables, the human ceiling (leave-one-out / cross-dataset) and SPM over the cycle."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from mmbio.analysis import ceiling as ce
from mmbio.analysis import spm
from mmbio.analysis.result import Metric, ValidationResult
from mmbio.reference import registry as reg

PCT = np.linspace(0.0, 100.0, 101)
SUBJECT_SETS = {  # dataset → (conditions, unit kind, units per condition)
    "hamner2013_run": (("2", "3", "4", "5"), "subject", 5),
    "schreiber2019": (("c4", "c5"), "subject", 3),
    "santuz2020_emg": (("treadmill",), "cycle", 3),
}


def _rmse_r(x: np.ndarray, m: np.ndarray, sd: np.ndarray | None) -> dict[str, Metric]:
    from mmbio.analysis.stats import inside_band_pct, pearson_r, rmse

    out = {"r": Metric(float(pearson_r(x, m)), "1"), "rmse": Metric(float(rmse(x, m)), "deg")}
    if sd is not None:
        out["within_sd_band"] = Metric(float(inside_band_pct(x, m - sd, m + sd)), "% cycle")
    return out


# ------------------------------------------------------------------------------ subjects tables


@pytest.mark.parametrize("name", sorted(SUBJECT_SETS))
def test_subject_tables_have_the_columns_and_units(name: str) -> None:
    conds, kind, n = SUBJECT_SETS[name]
    wide = reg.load_subject_curves_wide(name)
    assert tuple(wide.columns) == reg.SUBJECT_ID_COLUMNS + reg.SUBJECT_PCT_COLUMNS
    for cond in conds:
        df = reg.load_subject_curves(name, cond)
        assert tuple(df.columns) == reg.SUBJECT_COLUMNS
        assert set(df.unit_kind) == {kind}
        assert df.unit_id.nunique() == n
        assert df.value.notna().all()
        per_curve = df.groupby(["unit_id", "quantity", "variable", "side"]).pct.agg(["size", "min", "max"])
        assert (per_curve["size"] == 101).all() and (per_curve["min"] == 0).all() and (per_curve["max"] == 100).all()
    if kind == "cycle":
        assert sorted(set(wide.unit_id)) == ["cycle1", "cycle2", "cycle3"]


@pytest.mark.parametrize("name", sorted(SUBJECT_SETS))
def test_subject_means_reproduce_the_published_curves(name: str) -> None:
    wide = reg.load_subject_curves_wide(name)
    curves = reg.load_curves(name)
    for (cond, qty, var, side), g in wide.groupby(["condition", "quantity", "variable", "side"]):
        mean = g[list(reg.SUBJECT_PCT_COLUMNS)].to_numpy(float).mean(axis=0)
        ref = curves[
            (curves.condition == cond) & (curves.quantity == qty) & (curves.variable == var) & (curves.side == side)
        ]
        ref_mean = ref.sort_values("pct")["mean"].to_numpy(float)
        np.testing.assert_allclose(mean, ref_mean, atol=2e-3 * max(1.0, float(np.abs(ref_mean).max())))


def test_datasets_without_subjects_give_an_empty_frame() -> None:
    for name, cond in (("schwartz2008", "free"), ("rajagopal2016_walk", "free")):
        df = reg.load_subject_curves(name, cond)
        assert df.empty and tuple(df.columns) == reg.SUBJECT_COLUMNS
        assert not (reg.data_dir() / name / "subjects.csv").exists()
        assert reg.subject_curves(name, cond, "knee_flexion", "r") is None


def test_subject_tables_are_small() -> None:
    sizes = [(reg.data_dir() / n / "subjects.csv").stat().st_size for n in SUBJECT_SETS]
    assert sum(sizes) < 1.0e6


@pytest.mark.shared
def test_rebuilt_subject_tables_are_byte_identical(shared: Path, tmp_path: Path) -> None:
    from mmbio.reference.build import build

    for name in SUBJECT_SETS:
        date = yaml.safe_load((reg.data_dir() / name / "provenance.yaml").read_text())["build"]["date"]
        (folder,) = build(shared, tmp_path, [name], date)
        committed = reg.data_dir() / name / "subjects.csv"
        assert (folder / "subjects.csv").read_bytes() == committed.read_bytes(), f"{name}/subjects.csv differs: rebuild"
        for f in ("curves.csv", "scalars.csv"):  # adding subjects.csv changed nothing else
            assert (folder / f).read_bytes() == (reg.data_dir() / name / f).read_bytes(), f"{name}/{f}"


# ------------------------------------------------------------------------------ leave-one-out on hand-made units


def test_identical_units_reach_r_one_and_rmse_zero() -> None:
    base = 30 * np.sin(2 * np.pi * PCT / 100)
    c = ce.leave_one_out(np.tile(base, (3, 1)), _rmse_r)
    assert c.values["r"] == pytest.approx(1.0)
    assert c.values["rmse"] == pytest.approx(0.0, abs=1e-12)


def test_offset_units_give_the_derived_rmse() -> None:
    # units base + (0, 3, 6): unit 0 vs mean(3, 6) → 4.5; unit 1 vs mean(0, 6) → 0; unit 2 vs mean(0, 3) → 4.5
    base = 30 * np.sin(2 * np.pi * PCT / 100)
    c = ce.leave_one_out(base + np.array([0.0, 3.0, 6.0])[:, None], _rmse_r)
    assert c.values["rmse"] == pytest.approx(3.0)
    assert c.ranges["rmse"] == pytest.approx((0.0, 4.5))
    assert c.values["r"] == pytest.approx(1.0)  # an offset does not change r
    # SD of the 2 others is |a − b| / √2 = 3 / √2 ≈ 2.12 for units 0 and 2 (offset 4.5 → outside),
    # 6 / √2 ≈ 4.24 for unit 1 (offset 0 → inside everywhere)
    assert c.values["within_sd_band"] == pytest.approx(100.0 / 3)


def test_signed_metrics_average_their_magnitude() -> None:
    def fn(x: np.ndarray, m: np.ndarray, sd: np.ndarray | None) -> dict[str, Metric]:
        return {"rom_error": Metric(float(np.ptp(x) - np.ptp(m)), "deg")}

    base = np.sin(2 * np.pi * PCT / 100)
    c = ce.leave_one_out(np.stack([base * 10, base * 12, base * 14]), fn)
    # rom errors 20 − 26 = −6, 24 − 24 = 0, 28 − 22 = +6 → mean |·| = 4
    assert c.values["rom_error"] == pytest.approx(4.0)
    assert "mean of |value|" in c.metric_note("rom_error")


# ------------------------------------------------------------------------------ real ceilings


def test_hamner_knee_flexion_ceiling() -> None:
    vals, note = ce.human_ceiling("hamner2013_run", "3", "kinematics", "knee_flexion", "r", ce.kinematics_metric_fn())
    assert vals is not None
    assert note == "leave-one-out over 5 subjects of hamner2013_run:3"
    assert vals["r"] > 0.95
    assert 1.0 < vals["rmse"] < 10.0


def test_schreiber_soleus_emg_ceiling_is_positive() -> None:
    vals, note = ce.human_ceiling("schreiber2019", "c4", "emg", "soleus", "r", ce.emg_metric_fn(1.1))
    assert vals is not None and "leave-one-out over 3 subjects of schreiber2019:c4" in note
    assert vals["r"] > 0.5


def test_santuz_cycles_are_a_within_subject_upper_bound() -> None:
    vals, note = ce.human_ceiling("santuz2020_emg", "treadmill", "emg", "tibialis_anterior", "r", ce.emg_metric_fn(1.1))
    assert vals is not None and "3 cycles of one subject" in note and "upper bound" in note


def test_schwartz_cross_dataset_ceilings_name_the_datasets() -> None:
    _, note = ce.human_ceiling("schwartz2008", "free", "kinematics", "knee_flexion", "both", ce.kinematics_metric_fn())
    assert note.startswith("cross-dataset:") and "rajagopal2016_walk:free" in note
    vals, note = ce.human_ceiling("schwartz2008", "free", "emg", "tibialis_anterior", "r", ce.emg_metric_fn(1.1))
    assert vals is not None and vals["r"] > 0.5
    for ds in ("rajagopal2016_walk:free", "schreiber2019:c4 (3 subjects)", "santuz2020_emg:treadmill"):
        assert ds in note
    assert "hamner" not in note  # running never stands in for walking
    c = ce._ceiling("schwartz2008", "free", "grf", ("grf_vertical", "grf_ap"), "r", ce.grf_stance_metrics)
    assert "schreiber2019:c4" in c.note and "rajagopal2016_walk:free" in c.note
    assert c.values["vertical.r"] > 0.8


def test_no_human_data_gives_none_with_the_reason() -> None:
    vals, note = ce.human_ceiling("schwartz2008", "slow", "kinematics", "knee_flexion", "r", ce.kinematics_metric_fn())
    assert vals is None and note == "no human-vs-human data for knee_flexion in schwartz2008:slow"
    vals, note = ce.human_ceiling(
        "hamner2013_run", "3", "kinematics", "lumbar_extension", "r", ce.kinematics_metric_fn()
    )
    assert vals is None and "no human-vs-human data for lumbar_extension" in note


def test_every_reference_condition_has_an_activity() -> None:
    for ds in reg.list_references():
        for cond in ds.conditions:
            assert ce.activity(ds.name, cond) is not None, (ds.name, cond)


def _fake_result() -> ValidationResult:
    """A result with the metric names of the kinematics, GRF and EMG modules (values irrelevant)."""
    from mmbio.analysis.emg import METRIC_UNITS as EMG_UNITS
    from mmbio.analysis.kinematics import ANGLE_METRIC_UNITS

    res = ValidationResult(trial={}, reference={})
    angles = ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation", "hip_flexion", "hip_adduction", "hip_rotation")
    for side in ("right", "left"):
        for v in (*angles, "knee_flexion", "ankle_dorsiflexion", "lumbar_extension"):
            res.add("kinematics", side, v, {k: Metric(0.5, u) for k, u in ANGLE_METRIC_UNITS.items()})
        for v in ("vertical", "ap"):
            res.add(
                "grf", side, v, {"r": Metric(0.9, "1"), "rmse_bw": Metric(0.1, "BW"), "double_peak": Metric(1, "bool")}
            )
    muscles = ("tibialis_anterior", "soleus", "gastrocnemius_medialis", "vastus_medialis", "rectus_femoris")
    for v in (*muscles, "semitendinosus", "gluteus_maximus", "gluteus_medius", "vastus_lateralis", "biceps_femoris"):
        res.add("emg", "right", v, {k: Metric(0.5, u) for k, u in EMG_UNITS.items()})
    return res


@pytest.mark.parametrize(
    ("reference", "condition"), [("hamner2013_run", "3"), ("schreiber2019", "c4"), ("schwartz2008", "free")]
)
def test_apply_ceilings_fills_comparison_metrics_fast(reference: str, condition: str) -> None:
    res = _fake_result()
    ce.clear_cache()
    t0 = time.perf_counter()
    ce.apply_ceilings(res, reference, condition)
    assert time.perf_counter() - t0 < 5.0
    grf = res.get("grf.right.vertical.r")
    assert grf is not None and grf.ceiling is not None and grf.ceiling > 0.8 and grf.ceiling_note
    assert res.get("grf.right.vertical.double_peak").ceiling is None
    assert not res.get("grf.right.vertical.double_peak").ceiling_note
    if reference != "schreiber2019":  # schreiber has no joint angles
        knee = res.get("kinematics.left.knee_flexion.r")
        assert knee.ceiling is not None and knee.ceiling > 0.9
        assert res.get("kinematics.left.knee_flexion.rom").ceiling is None  # a trial value, not a comparison
        assert res.get("kinematics.left.knee_flexion.rmse").ceiling > 0
    lumbar = res.get("kinematics.right.lumbar_extension.r")
    assert lumbar.ceiling is None and "no human-vs-human data" in lumbar.ceiling_note
    if reference != "hamner2013_run":  # no EMG in Hamner
        sol = res.get("emg.right.tibialis_anterior.r")
        assert sol.ceiling is not None and sol.ceiling > 0
        assert res.get("emg.right.tibialis_anterior.best_lag_ms").ceiling >= 0
        assert res.get("emg.right.tibialis_anterior.silent").ceiling is None
        assert res.get("emg.right.tibialis_anterior.scale").ceiling is None
    d = grf.to_dict()
    assert d["ceiling"]["value"] == pytest.approx(grf.ceiling) and d["ceiling"]["note"]


# ------------------------------------------------------------------------------ SPM


def _cycles(shift: float, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    ref = 20 * np.sin(2 * np.pi * PCT / 100)
    noise = 6 * gaussian_filter1d(rng.normal(size=(12, 101)), 4, axis=1)
    cyc = ref + noise
    cyc[:, 30:61] += shift
    return cyc, ref


def test_spm_reports_why_it_did_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    cyc, ref = _cycles(10.0)
    r = spm.spm_one_sample(cyc[:2], ref)
    assert not r.ran and "needs >= 3 cycles" in r.reason and "not run" in r.summary
    assert r.to_dict() == {"ran": False, "alpha": 0.05, "n": 2, "reason": r.reason}
    monkeypatch.setattr(spm, "_spm1d", lambda: (None, spm.NOT_INSTALLED))
    r = spm.spm_one_sample(cyc, ref)
    assert not r.ran and r.reason == spm.NOT_INSTALLED
    assert not spm.spm_available()
    r = spm.spm_one_sample(np.tile(ref, (4, 1)), ref)
    assert not r.ran and "do not vary" in r.reason


needs_spm1d = pytest.mark.skipif(not spm.spm_available(), reason="optional spm1d not installed (pip install spm1d)")


@needs_spm1d
def test_spm_finds_a_shift_in_30_to_60_percent() -> None:
    cyc, ref = _cycles(10.0)
    r = spm.spm_one_sample(cyc, ref)
    assert r.ran and r.n == 12 and r.t is not None and r.t.shape == (101,)
    assert len(r.clusters) == 1 and r.signs == [1]
    a, b, p = r.clusters[0]
    assert 27 <= a <= 31 and 59 <= b <= 63 and p < 0.05
    # independent check: the t curve is the one-sample t of the differences
    d = cyc - ref
    t = d.mean(0) / (d.std(0, ddof=1) / np.sqrt(d.shape[0]))
    np.testing.assert_allclose(r.t, t, rtol=1e-6)
    assert np.all(np.abs(t[32:59]) > r.threshold) and np.all(np.abs(t[:25]) < r.threshold)


@needs_spm1d
def test_spm_without_a_shift_finds_nothing() -> None:
    cyc, ref = _cycles(0.0)
    r = spm.spm_one_sample(cyc, ref)
    assert r.ran and r.clusters == [] and "no significant difference" in r.summary
