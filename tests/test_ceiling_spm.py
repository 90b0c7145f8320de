"""Per-subject reference tables, the human ceiling (leave-one-out / cross-dataset) and SPM over the cycle."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import yaml

from mmbio.analysis import ceiling as ce
from mmbio.analysis import spm
from mmbio.analysis.result import Metric, ValidationResult
from mmbio.reference import registry as reg

PCT = np.linspace(0.0, 100.0, 101)
#: dataset → conditions. Every subjects.csv holds subjects (never cycles of one person); how many follows the
#: data (provenance n_subjects), not a number pinned here.
SUBJECT_SETS = {
    "hamner2013_run": ("2", "3", "4", "5"),
    "schreiber2019": ("c4", "c5"),
    "santuz2020_emg": ("treadmill",),
}
needs_rdata = pytest.mark.skipif(
    importlib.util.find_spec("rdata") is None, reason="optional rdata not installed (pip install rdata or '.[dev]')"
)


def n_subjects(name: str, condition: str) -> int:
    return int(reg.get_reference(name).n_subjects[condition])


def _rmse_r(x: np.ndarray, m: np.ndarray, sd: np.ndarray | None) -> dict[str, Metric]:
    from mmbio.analysis.stats import inside_band_pct, pearson_r, rmse

    out = {"r": Metric(float(pearson_r(x, m)), "1"), "rmse": Metric(float(rmse(x, m)), "deg")}
    if sd is not None:
        out["within_sd_band"] = Metric(float(inside_band_pct(x, m - sd, m + sd)), "% cycle")
    return out


# ------------------------------------------------------------------------------ subjects tables


@pytest.mark.parametrize("name", sorted(SUBJECT_SETS))
def test_subject_tables_have_the_columns_and_units(name: str) -> None:
    wide = reg.load_subject_curves_wide(name)
    assert tuple(wide.columns) == reg.SUBJECT_ID_COLUMNS + reg.SUBJECT_PCT_COLUMNS
    for cond in SUBJECT_SETS[name]:
        df = reg.load_subject_curves(name, cond)
        assert tuple(df.columns) == reg.SUBJECT_COLUMNS
        assert set(df.unit_kind) == {"subject"}  # between humans: never the cycles of one person
        assert df.unit_id.nunique() == n_subjects(name, cond) >= 5
        assert df.value.notna().all()
        per_curve = df.groupby(["unit_id", "quantity", "variable", "side"]).pct.agg(["size", "min", "max"])
        assert (per_curve["size"] == 101).all() and (per_curve["min"] == 0).all() and (per_curve["max"] == 100).all()


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


# The rebuilt subject tables (subjects.csv, with curves.csv and scalars.csv) are compared byte for byte with the
# committed ones by tests/test_reference.py::test_rebuild_reproduces_committed_tables (every csv of each dataset).


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
    assert c.values["rmse"] == pytest.approx(4.5)  # the ceiling is the median over the units
    assert c.means["rmse"] == pytest.approx(3.0)  # the mean is kept beside it
    assert c.ranges["rmse"] == pytest.approx((0.0, 4.5))
    assert c.values["r"] == pytest.approx(1.0)  # an offset does not change r
    # SD of the 2 others is |a − b| / √2 = 3 / √2 ≈ 2.12 for units 0 and 2 (offset 4.5 → outside),
    # 6 / √2 ≈ 4.24 for unit 1 (offset 0 → inside everywhere)
    assert c.values["within_sd_band"] == pytest.approx(0.0)
    assert c.means["within_sd_band"] == pytest.approx(100.0 / 3)
    note = c.metric_note("rmse")
    assert "median of 3 (mean 3)" in note and "to 4.5 over 3" in note and "outlier" not in note


def test_signed_metrics_average_their_magnitude() -> None:
    def fn(x: np.ndarray, m: np.ndarray, sd: np.ndarray | None) -> dict[str, Metric]:
        return {"rom_error": Metric(float(np.ptp(x) - np.ptp(m)), "deg")}

    base = np.sin(2 * np.pi * PCT / 100)
    c = ce.leave_one_out(np.stack([base * 10, base * 12, base * 14]), fn)
    # rom errors 20 − 26 = −6, 24 − 24 = 0, 28 − 22 = +6 → |·| = 6, 0, 6: median 6, mean 4
    assert c.values["rom_error"] == pytest.approx(6.0)
    assert c.means["rom_error"] == pytest.approx(4.0)
    assert "of |value|" in c.metric_note("rom_error")


def test_one_odd_unit_is_named_and_does_not_set_the_ceiling() -> None:
    # four units agree, one is a different shape (it also blurs the others' leave-one-out mean): the median
    # stays high, the mean drops, the odd one is named
    base = np.sin(2 * np.pi * PCT / 100)
    rng = np.random.default_rng(0)
    units = np.stack([base + 0.02 * rng.normal(size=101) for _ in range(4)] + [np.cos(2 * np.pi * PCT / 100)])
    c = ce.leave_one_out(units, _rmse_r, "test", ids=("a", "b", "c", "d", "odd"))
    assert c.values["r"] > 0.9 and c.means["r"] < c.values["r"] - 0.1
    assert [u for u, _ in c.outliers["r"]] == ["odd"]
    assert "outlier: odd" in c.metric_note("r")


def test_outliers_need_a_material_deviation_and_enough_units() -> None:
    assert ce.outlier_units(np.array([0.995, 0.996, 0.994, 0.995, 0.98]), "abcde") == ()  # tight cluster: no news
    assert ce.outlier_units(np.array([0.87, 0.77, 0.36, 0.75, 0.07]), "abcde") == (("e", 0.07),)
    assert ce.outlier_units(np.array([0.9, 0.9, 0.1]), "abc") == ()  # too few units to call one odd
    assert ce.outlier_units(np.array([0.5, 0.5, 0.5, 0.5, 0.1]), "abcde") == ()  # MAD 0: undefined


# ------------------------------------------------------------------------------ real ceilings


def test_hamner_knee_flexion_ceiling() -> None:
    vals, note = ce.human_ceiling("hamner2013_run", "3", "kinematics", "knee_flexion", "r", ce.kinematics_metric_fn())
    assert vals is not None
    assert note == "leave-one-out over 5 subjects of hamner2013_run:3"
    assert vals["r"] > 0.95
    assert 1.0 < vals["rmse"] < 10.0


def test_hamner_ceiling_is_the_median_and_names_the_odd_runner() -> None:
    """Subject01's pelvis tilt at 3 m/s (r 0.07 against the other four) no longer drags the ceiling down."""
    c = ce.human_ceiling_detail("hamner2013_run", "3", "kinematics", "pelvis_tilt", "r", ce.kinematics_metric_fn())
    assert c.kind == "subjects" and c.n["r"] == 5
    assert c.values["r"] == pytest.approx(0.751, abs=0.002)  # median over the 5 held-out runners
    assert c.means["r"] == pytest.approx(0.565, abs=0.002)  # the mean the issue complained about
    assert c.ranges["r"][0] == pytest.approx(0.074, abs=0.002)
    assert c.outliers["r"] == ((("subject01", pytest.approx(0.074, abs=0.002)),))
    note = c.metric_note("r")
    assert "median of 5 (mean 0.565)" in note and "outlier: subject01 0.0744" in note
    # the sagittal joints have no odd runner: median and mean agree
    k = ce.human_ceiling_detail("hamner2013_run", "3", "kinematics", "knee_flexion", "r", ce.kinematics_metric_fn())
    assert abs(k.values["r"] - k.means["r"]) < 0.01 and "r" not in k.outliers


def test_schreiber_emg_ceilings_are_leave_one_subject_out() -> None:
    n = n_subjects("schreiber2019", "c4")
    vals, note = ce.human_ceiling("schreiber2019", "c4", "emg", "soleus", "r", ce.emg_metric_fn(1.1))
    assert vals is not None and note == f"leave-one-out over {n} subjects of schreiber2019:c4"
    assert vals["r"] > 0.5
    fn = ce.emg_metric_fn(round(ce.reference_cycle_time("schreiber2019", "c4"), 3))
    muscles = ("tibialis_anterior", "soleus", "gastrocnemius_medialis", "vastus_medialis", "rectus_femoris")
    cs = {m: ce.human_ceiling_detail("schreiber2019", "c4", "emg", m, "r", fn) for m in muscles}
    assert all(c.n["r"] == n for c in cs.values())
    # 9 subjects (C4): medians 0.84 TA, 0.86 soleus, 0.94 gastrocnemius medialis, 0.90 vastus medialis, 0.81 RF
    assert cs["gastrocnemius_medialis"].values["r"] == pytest.approx(0.94, abs=0.02)
    assert 0.75 < cs["tibialis_anterior"].values["r"] < 0.9 < cs["gastrocnemius_medialis"].values["r"]
    # subject 2015035's soleus / vastus medialis channels look swapped (provenance): named, not the ceiling
    assert "2015035" in [u for u, _ in cs["soleus"].outliers["r"]]
    assert cs["soleus"].ranges["r"][0] < 0 < 0.8 < cs["soleus"].values["r"]


def test_schreiber_grf_ceilings_are_leave_one_subject_out() -> None:
    n = n_subjects("schreiber2019", "c4")
    for cond in ("c4", "c5"):
        for side in ("r", "l"):
            c = ce._ceiling("schreiber2019", cond, "grf", ("grf_vertical", "grf_ap"), side, ce.grf_stance_metrics)
            assert c.kind == "subjects" and c.n["vertical.r"] == n, (cond, side)
            assert 0.94 < c.values["vertical.r"] < 0.99 and c.values["ap.r"] > 0.98, (cond, side)
            assert 0.05 < c.values["vertical.rmse_bw"] < 0.12, (cond, side)


def test_santuz_ceiling_is_between_subjects_and_below_the_old_within_subject_one() -> None:
    """Issue 13: the Santuz ceiling came from 3 cycles of one subject (mean r 0.884); now 15 subjects."""
    n = n_subjects("santuz2020_emg", "treadmill")
    assert n == 15
    fn = ce.emg_metric_fn(round(ce.reference_cycle_time("santuz2020_emg", "treadmill"), 3))
    prov = yaml.safe_load((reg.data_dir() / "santuz2020_emg" / "provenance.yaml").read_text())
    within = prov["within_subject_r"]["per_muscle"]  # reported there, never a ceiling
    medians, means = {}, {}
    for m in within:
        c = ce.human_ceiling_detail("santuz2020_emg", "treadmill", "emg", m, "r", fn)
        assert c.kind == "subjects" and c.note == f"leave-one-out over {n} subjects of santuz2020_emg:treadmill"
        assert "cycles" not in c.note
        medians[m], means[m] = c.values["r"], c.means["r"]
    assert np.mean(list(within.values())) == pytest.approx(0.884, abs=0.001)  # the old ceiling
    assert np.mean(list(means.values())) == pytest.approx(0.785, abs=0.005)  # mean over subjects, then muscles
    assert np.mean(list(medians.values())) == pytest.approx(0.803, abs=0.005)  # the ceiling: medians
    assert np.mean(list(medians.values())) < np.mean(list(within.values())) - 0.07
    # peroneus longus: 0.919 within one subject, 0.62-0.63 between subjects
    assert within["peroneus_longus"] == pytest.approx(0.919, abs=0.001)
    assert means["peroneus_longus"] == pytest.approx(0.622, abs=0.01)
    assert medians["peroneus_longus"] == pytest.approx(0.631, abs=0.01)
    assert min(medians, key=medians.get) == "peroneus_longus"
    # the largest drops: peroneus longus and tensor fasciae latae (0.97 → 0.72), far beyond the median's bias
    assert within["tensor_fasciae_latae"] - medians["tensor_fasciae_latae"] > 0.2
    assert within["peroneus_longus"] - medians["peroneus_longus"] > 0.25


def test_cycles_of_one_subject_are_never_a_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference whose subjects.csv held cycles of one person falls back to other humans (cross-dataset)."""
    real = ce._subject_stack

    def as_cycles(name: str, *args: object):  # santuz2020_emg's units relabelled as cycles of one subject
        out = real(name, *args)
        return (out[0], out[1], "cycle") if out is not None and name == "santuz2020_emg" else out

    monkeypatch.setattr(ce, "_subject_stack", as_cycles)
    ce.clear_cache()
    try:
        c = ce.human_ceiling_detail("santuz2020_emg", "treadmill", "emg", "soleus", "r", ce.emg_metric_fn(1.1))
    finally:
        ce.clear_cache()
    assert c.kind == "cross" and c.note.startswith("cross-dataset:")
    assert "schreiber2019:c4" in c.note and "cycles of one subject are within-subject and not used" in c.note
    assert not any(u.startswith("santuz2020_emg") for u in c.unit_ids)


def test_schwartz_cross_dataset_ceilings_name_the_datasets() -> None:
    _, note = ce.human_ceiling("schwartz2008", "free", "kinematics", "knee_flexion", "both", ce.kinematics_metric_fn())
    assert note.startswith("cross-dataset:") and "rajagopal2016_walk:free" in note
    vals, note = ce.human_ceiling("schwartz2008", "free", "emg", "tibialis_anterior", "r", ce.emg_metric_fn(1.1))
    assert vals is not None and vals["r"] > 0.5
    n_sch, n_san = n_subjects("schreiber2019", "c4"), n_subjects("santuz2020_emg", "treadmill")
    for ds in (
        "rajagopal2016_walk:free",
        f"schreiber2019:c4 ({n_sch} subjects)",
        f"santuz2020_emg:treadmill ({n_san} subjects)",
    ):
        assert ds in note
    assert "hamner" not in note  # running never stands in for walking
    c = ce._ceiling("schwartz2008", "free", "grf", ("grf_vertical", "grf_ap"), "r", ce.grf_stance_metrics)
    assert "schreiber2019:c4" in c.note and "rajagopal2016_walk:free" in c.note
    assert c.values["vertical.r"] > 0.8 and c.n["vertical.r"] == n_sch + 1


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
def test_apply_ceilings_fills_comparison_metrics(reference: str, condition: str) -> None:
    res = _fake_result()
    ce.clear_cache()
    ce.apply_ceilings(res, reference, condition)
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


def test_cross_dataset_ceiling_pairs_pelvis_frames_only_on_offset_free_metrics() -> None:
    """Schwartz's children are measured in a clinical pelvis, the IK datasets (Rajagopal, Schreiber) in the model's:
    for pelvis tilt and hip flexion only r, lags, timing and range cross over; the knee keeps every metric."""
    from mmbio.analysis.ceiling import clear_cache, human_ceiling_detail, kinematics_metric_fn

    clear_cache()
    fn = kinematics_metric_fn()
    hip = human_ceiling_detail("schwartz2008", "free", "kinematics", "hip_flexion", "r", fn)
    knee = human_ceiling_detail("schwartz2008", "free", "kinematics", "knee_flexion", "r", fn)
    assert hip.kind == "cross" and "r" in hip.values and "rom_error" in hip.values
    assert "rmse" not in hip.values and "within_sd_band" not in hip.values
    assert "shape and range only: model-frame pelvis" in hip.note
    assert "rmse" in knee.values and "shape and range only" not in knee.note
    assert hip.n["r"] == knee.n["r"]  # the same human units, fewer metrics
    # a dataset in the model frame keeps its leave-one-subject-out offsets (its own frame)
    own = human_ceiling_detail("schreiber2019", "c4", "kinematics", "hip_flexion", "r", fn)
    assert own.kind == "subjects" and "rmse" in own.values
