"""Reference datasets: the committed tables in reference_data/ and their reproducible build."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mmbio.errors import UnknownReferenceError
from mmbio.reference import registry as reg
from mmbio.reference.registry import (
    CURVE_COLUMNS,
    QUANTITIES,
    SCALAR_COLUMNS,
    format_reference_list,
    format_reference_show,
    get_reference,
    list_references,
    load_curves,
    load_scalars,
    load_table,
    parse_spec,
    reference_curve,
    vertical_grf_peaks,
)

FIVE = {"schwartz2008", "rajagopal2016_walk", "hamner2013_run", "schreiber2019", "santuz2020_emg"}
REPO = Path(__file__).resolve().parents[1]
#: SYNS.RData (santuz2020_emg's source) needs the optional build-time package rdata (the dev extra)
needs_rdata = pytest.mark.skipif(
    importlib.util.find_spec("rdata") is None, reason="optional rdata not installed (pip install rdata or '.[dev]')"
)


def scalar(name: str, condition: str, variable: str, side: str = "both") -> pd.Series:
    sc = load_scalars(name, condition)
    row = sc[(sc.variable == variable) & (sc.side == side)]
    assert len(row) == 1, (name, condition, variable, side)
    return row.iloc[0]


# ---------------------------------------------------------------------------------------- registry


def test_list_references_gives_the_five_datasets_with_citation_and_licence() -> None:
    refs = list_references()
    assert {r.name for r in refs} == FIVE
    for r in refs:
        assert r.citation and r.licence and r.title
        assert r.conditions
        assert r.default_condition in r.conditions
        assert set(r.n_subjects) == set(r.conditions)
    assert "emg_timing" in {r.name for r in list_references(include_auxiliary=True)}


def test_conditions_are_the_fixed_names() -> None:
    assert get_reference("schwartz2008").conditions == ["very_slow", "slow", "free", "fast", "very_fast"]
    assert get_reference("hamner2013_run").conditions == ["2", "3", "4", "5"]
    assert get_reference("schreiber2019").conditions == ["c4", "c5"]
    assert get_reference("rajagopal2016_walk").conditions == ["free"]
    assert get_reference("santuz2020_emg").conditions == ["treadmill"]


@pytest.mark.parametrize("name", sorted(FIVE))
def test_curve_tables_have_the_exact_format(name: str) -> None:
    df = load_curves(name)
    assert tuple(df.columns) == CURVE_COLUMNS
    assert set(df.quantity) <= set(QUANTITIES)
    assert set(df.side) <= {"r", "l", "both"}
    assert set(df.condition) == set(get_reference(name).conditions)
    assert not df.variable.str.endswith(("_r", "_l")).any()
    assert df.units.notna().all() and (df.units != "").all()
    for key, g in df.groupby(["condition", "quantity", "variable", "side"]):
        assert len(g) == 101, key
        assert np.array_equal(g.pct.to_numpy(), np.arange(101)), key
        assert np.isfinite(g["mean"].to_numpy(dtype=float)).all(), key
        assert g.units.nunique() == 1, key
        sd = g["sd"].to_numpy(dtype=float)
        assert (sd[np.isfinite(sd)] >= 0).all(), key
        nc, ns = g.n_cycles.iloc[0], g.n_subjects.iloc[0]
        if np.isfinite(nc) and nc < 3 and ns < 3:
            assert np.isnan(sd).all(), f"{key}: SD with fewer than 3 cycles"
    units = dict(zip(df.quantity, df.units, strict=False))
    assert units.get("joint_angle", "deg") == "deg"
    assert units.get("grf", "BW") == "BW"
    assert units.get("emg", "fraction of max") == "fraction of max"


@pytest.mark.parametrize("name", sorted(FIVE))
def test_scalar_tables_and_provenance(name: str) -> None:
    ds = get_reference(name)
    sc = load_scalars(name)
    if len(sc):
        assert tuple(sc.columns) == SCALAR_COLUMNS
    prov = yaml.safe_load((ds.path / "provenance.yaml").read_text())
    for key in (
        "name",
        "title",
        "citation",
        "licence",
        "conditions",
        "units",
        "sign_conventions",
        "sources",
        "processing",
        "build",
        "n_subjects",
        "n_cycles",
    ):
        assert key in prov, key
    for src in prov["sources"]:
        assert len(src["sha256"]) == 64 and not src["path"].startswith("/")
    assert "python -m mmbio.reference.build" in prov["build"]["command"]


def test_reference_data_is_compact_and_holds_no_raw_files() -> None:
    root = reg.data_dir()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".csv", ".yaml", ".md"}
    # ≈ 3.04 MB with Schreiber's IK joint angles (8 angles per side, 0.01°; issue 16 §5), 2.7 MB before them with the
    # per-subject tables of 15 Santuz and 9 Schreiber subjects (was 2.5 MB with 1 and 3)
    assert sum(p.stat().st_size for p in files) < 3.2e6


def test_parse_spec_defaults_and_errors() -> None:
    assert parse_spec("schwartz2008") == ("schwartz2008", "free")
    assert parse_spec("schwartz2008:very_fast") == ("schwartz2008", "very_fast")
    assert parse_spec("hamner2013_run") == ("hamner2013_run", "3")
    assert parse_spec("schreiber2019") == ("schreiber2019", "c4")
    assert parse_spec("rajagopal2016_walk") == ("rajagopal2016_walk", "free")
    assert parse_spec("santuz2020_emg") == ("santuz2020_emg", "treadmill")
    with pytest.raises(UnknownReferenceError, match=r"choose from: .*schwartz2008") as e:
        parse_spec("nope")
    assert "\n" not in str(e.value)
    with pytest.raises(UnknownReferenceError, match="very_slow, slow, free, fast, very_fast") as e:
        parse_spec("schwartz2008:medium")
    assert "\n" not in str(e.value)
    with pytest.raises(UnknownReferenceError):
        load_curves("hamner2013_run", "6")


def test_reference_curve() -> None:
    c = reference_curve("schwartz2008", "free", "knee_flexion", "r")  # falls back to 'both'
    assert c.side == "both" and c.quantity == "joint_angle" and c.units == "deg"
    assert c.pct.shape == c.mean.shape == (101,) and c.sd is not None and c.n_subjects == 82
    assert c.n_cycles is None
    m = reference_curve("schwartz2008", None, "knee_flexion", quantity="joint_moment")
    assert m.units == "N*m/kg" and m.source == "schwartz2008:free"
    r = reference_curve("rajagopal2016_walk", "free", "knee_flexion", "l")
    assert r.sd is None and r.n_cycles == 1 and r.lower is None
    h = reference_curve("hamner2013_run", "4", "grf_vertical", "l")
    assert h.n_subjects == 5 and h.n_cycles == 15 and h.sd is not None
    with pytest.raises(UnknownReferenceError, match="no variable 'elbow_flexion'"):
        reference_curve("hamner2013_run", "4", "elbow_flexion")
    with pytest.raises(UnknownReferenceError):
        reference_curve("santuz2020_emg", "treadmill", "soleus", "l")


def test_emg_timing_windows() -> None:
    w = load_table("emg_timing", "windows.csv")
    assert list(w.columns) == ["muscle", "description", "canonical", "window", "on_pct", "off_pct"]
    assert ((w.on_pct >= 0) & (w.off_pct <= 100) & (w.on_pct < w.off_pct)).all()
    ta = w[w.canonical == "tibialis_anterior"]
    assert set(zip(ta.on_pct, ta.off_pct, strict=True)) == {(0, 13), (56, 100)}


def test_format_functions() -> None:
    text = format_reference_list()
    for n in FIVE:
        assert n in text
    show = format_reference_show("schwartz2008", "free")
    assert "Schwartz" in show and "knee_flexion" in show and "grf_vertical" in show and "CC-BY-SA" in show
    assert "peaks" in format_reference_show("schwartz2008:free")
    assert "santuz2020_emg:treadmill" in format_reference_show("santuz2020_emg")


def test_data_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(reg.data_dir() / "santuz2020_emg", tmp_path / "santuz2020_emg")
    monkeypatch.setenv(reg.ENV_VAR, str(tmp_path))
    assert [d.name for d in list_references()] == ["santuz2020_emg"]
    with pytest.raises(UnknownReferenceError, match="choose from: santuz2020_emg"):
        get_reference("schwartz2008")


# ------------------------------------------------------------------ published / README magnitudes


def test_schwartz_free_knee_flexion_in_swing() -> None:
    c = reference_curve("schwartz2008", "free", "knee_flexion")
    peak = c.mean[60:].max()  # swing
    assert 57.0 < peak < 60.5  # mean curve: slightly below the mean of per-subject peaks
    s = scalar("schwartz2008", "free", "knee_flexion_max_swing")
    assert s["mean"] == pytest.approx(60.5, abs=0.05) and s["sd"] == pytest.approx(4.8, abs=0.05) and s.n == 82


def test_schwartz_free_vertical_grf_peaks() -> None:
    published = {
        "grf_vertical_peak1": (1.135, 0.111),
        "grf_vertical_valley": (0.778, 0.070),
        "grf_vertical_peak2": (1.097, 0.089),
    }
    for var, (m, s) in published.items():
        row = scalar("schwartz2008", "free", var)
        assert row["mean"] == pytest.approx(m, abs=0.001) and row["sd"] == pytest.approx(s, abs=0.001)
        assert row.units == "BW"
    p = vertical_grf_peaks(reference_curve("schwartz2008", "free", "grf_vertical").mean)
    assert p["peak1"] == pytest.approx(1.135, abs=0.06) and p["peak1"] <= 1.135
    assert p["peak2"] == pytest.approx(1.097, abs=0.04) and p["peak2"] <= 1.097
    assert p["valley"] == pytest.approx(0.778, abs=0.03) and p["valley"] >= 0.778
    assert scalar("schwartz2008", "free", "toe_off_pct")["mean"] == pytest.approx(59, abs=0.5)


def test_schwartz_signs() -> None:
    ap = reference_curve("schwartz2008", "free", "grf_ap").mean
    assert ap[5:15].min() < -0.1 and ap[45:55].max() > 0.1  # braking then propulsion
    ankle = reference_curve("schwartz2008", "free", "ankle_dorsiflexion", quantity="joint_moment").mean
    assert ankle[40:55].min() < -1.0  # plantarflexor moment negative in the angle's (dorsiflexion +) sign
    assert reference_curve("schwartz2008", "free", "hip_flexion").mean[90] > 30


def test_rajagopal_grf_matches_readme() -> None:
    p = vertical_grf_peaks(reference_curve("rajagopal2016_walk", "free", "grf_vertical", "r").mean)
    assert p["peak1"] == pytest.approx(1.10, abs=0.02)
    assert p["peak2"] == pytest.approx(1.13, abs=0.02)
    assert p["valley"] == pytest.approx(0.72, abs=0.02)
    assert len({v for v in load_curves("rajagopal2016_walk").query("quantity == 'emg'").variable}) == 10


def test_hamner_peak_vertical_grf_within_readme_ranges() -> None:
    ranges = {"2": (1.85, 2.25), "5": (2.37, 2.80)}
    for speed, (lo, hi) in ranges.items():
        for side in ("r", "l"):
            assert lo <= scalar("hamner2013_run", speed, "grf_vertical_max", side)["mean"] <= hi
    peaks = [scalar("hamner2013_run", v, "grf_vertical_max", "r")["mean"] for v in ("2", "3", "4", "5")]
    assert peaks == sorted(peaks)
    mass = [scalar("hamner2013_run", v, "body_mass_estimated")["mean"] for v in ("2", "3", "4", "5")]
    assert max(mass) - min(mass) < 1.0


def test_schreiber_peak_vertical_force_near_readme() -> None:
    n = get_reference("schreiber2019").n_subjects
    for cond, expected in (("c4", 1.15), ("c5", 1.27)):
        vals = [scalar("schreiber2019", cond, "grf_vertical_max", s)["mean"] for s in ("r", "l")]
        assert np.mean(vals) == pytest.approx(expected, abs=0.07)
        # every subject has a stance fully on a plate per side: the scalars are means over all subjects
        assert {int(scalar("schreiber2019", cond, "grf_vertical_max", s).n) for s in ("r", "l")} == {n[cond]}
    emg = load_curves("schreiber2019", "c4").query("quantity == 'emg'")
    assert emg.variable.nunique() == 8 and set(emg.side) == {"r"}
    # joint angles from mmbio's marker IK (issue 16 §5): every subject, one cycle per side and trial
    ang = load_curves("schreiber2019", "c4").query("quantity == 'joint_angle'")
    assert set(ang.side) == {"r", "l"} and set(ang.n_cycles) == {n["c4"]}


def test_schreiber_is_a_between_subject_reference() -> None:
    prov = yaml.safe_load((reg.data_dir() / "schreiber2019" / "provenance.yaml").read_text())
    subjects = prov["subjects"]
    assert len(subjects) == len(set(subjects)) >= 9
    for cond in ("c4", "c5"):
        df = load_curves("schreiber2019", cond)
        assert set(df.n_subjects) == {len(subjects)}, cond  # every curve averages every subject
        emg = df[df.quantity == "emg"]
        assert set(emg.n_cycles) == {len(subjects)}  # one right cycle per subject and trial
        sub = reg.load_subject_curves("schreiber2019", cond)
        assert set(sub.unit_kind) == {"subject"} and sorted(set(sub.unit_id)) == subjects
    # C4 is slower than C5, and the fast walkers load more
    assert scalar("schreiber2019", "c4", "speed")["mean"] < scalar("schreiber2019", "c5", "speed")["mean"]
    assert (
        scalar("schreiber2019", "c4", "toe_off_pct", "r")["mean"]
        > scalar("schreiber2019", "c5", "toe_off_pct", "r")["mean"]
    )


def test_santuz_is_a_between_subject_reference() -> None:
    df = load_curves("santuz2020_emg", "treadmill")
    prov = yaml.safe_load((reg.data_dir() / "santuz2020_emg" / "provenance.yaml").read_text())
    n = len(prov["subjects"])
    assert n == 15 and prov["n_subjects"]["treadmill"] == n
    assert df.variable.nunique() == 13 and set(df.side) == {"r"}
    assert set(df.n_subjects) == {n} and set(df.n_cycles) == {n}  # one cycle per subject
    assert df["mean"].between(0.0, 1.0).all() and df["sd"].notna().all()
    sub = reg.load_subject_curves("santuz2020_emg", "treadmill")
    assert set(sub.unit_kind) == {"subject"} and sub.unit_id.nunique() == n
    peaks = sub.groupby(["unit_id", "variable"]).value.max()
    np.testing.assert_allclose(peaks.to_numpy(), 1.0, atol=1e-4)  # each subject's curve divided by its own peak
    # the stance fraction is an assumption (ID0012's measured duty factor), and says so
    sf = prov["stance_fraction"]
    assert sf["value"] == pytest.approx(0.637, abs=0.002) and "ASSUMPTION" in sf["source"]
    assert scalar("santuz2020_emg", "treadmill", "toe_off_pct", "r")["mean"] == pytest.approx(
        100 * sf["value"], abs=0.01
    )
    # the old one-subject number is reported, flagged as not a ceiling, and is far above the between-subject one
    within, between = prov["within_subject_r"], prov["between_subject_r"]
    assert "NOT a ceiling" in within["note"]
    assert within["mean"] == pytest.approx(0.884, abs=0.001)  # the former 'ceiling' (3 cycles of ID0012)
    assert between["mean"] == pytest.approx(0.785, abs=0.005)
    assert within["per_muscle"]["peroneus_longus"] == pytest.approx(0.919, abs=0.001)
    assert between["per_muscle"]["peroneus_longus"] == pytest.approx(0.62, abs=0.01)


def test_santuz_envelopes_have_the_known_timing() -> None:
    """Walking EMG landmarks on the between-subject mean (0–100 % of the gait cycle, heel strike = 0)."""

    def peak_pct(m: str) -> int:
        return int(np.argmax(reference_curve("santuz2020_emg", "treadmill", m, "r").mean))

    assert 35 <= peak_pct("soleus") <= 55 and 35 <= peak_pct("gastrocnemius_medialis") <= 55  # push-off
    assert peak_pct("tibialis_anterior") <= 10 or peak_pct("tibialis_anterior") >= 55  # heel strike / swing
    assert peak_pct("vastus_lateralis") <= 20  # loading response
    assert peak_pct("semitendinosus") >= 80 or peak_pct("semitendinosus") <= 5  # terminal swing


# ------------------------------------------------------------------------- rebuild from ../shared


def _rebuild(shared: Path, out: Path, name: str) -> Path:
    from mmbio.reference.build import build

    committed = yaml.safe_load((reg.data_dir() / name / "provenance.yaml").read_text())
    (folder,) = build(shared, out, [name], committed["build"]["date"])
    return folder


REBUILT = [pytest.param(n, marks=needs_rdata) if n == "santuz2020_emg" else n for n in sorted(FIVE | {"emg_timing"})]


@pytest.mark.shared
@pytest.mark.parametrize("name", REBUILT)
def test_rebuild_reproduces_committed_tables(shared: Path, tmp_path: Path, name: str) -> None:
    folder = _rebuild(shared, tmp_path, name)
    committed = reg.data_dir() / name
    files = sorted(p.name for p in committed.iterdir() if p.suffix == ".csv")
    assert files == sorted(p.name for p in folder.iterdir() if p.suffix == ".csv")
    for f in files:
        assert (folder / f).read_bytes() == (committed / f).read_bytes(), f"{name}/{f} differs: rebuild reference_data"
    new = yaml.safe_load((folder / "provenance.yaml").read_text())
    old = yaml.safe_load((committed / "provenance.yaml").read_text())
    new.pop("build"), old.pop("build")
    assert new == old


@pytest.mark.shared
@needs_rdata
def test_build_is_deterministic(shared: Path, tmp_path: Path) -> None:
    a = _rebuild(shared, tmp_path / "a", "santuz2020_emg")
    b = _rebuild(shared, tmp_path / "b", "santuz2020_emg")
    for f in sorted(p.name for p in a.iterdir()):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    from mmbio.reference.build import build

    (c,) = build(shared, tmp_path / "c", ["emg_timing"])
    (d,) = build(shared, tmp_path / "d", ["emg_timing"])
    assert (c / "windows.csv").read_bytes() == (d / "windows.csv").read_bytes()
    assert (c / "provenance.yaml").read_bytes() == (d / "provenance.yaml").read_bytes()


@pytest.mark.shared
def test_schreiber_uses_every_subject_folder(shared: Path) -> None:
    """The builder follows the data: every subject folder with a walking trial, no pinned list."""
    from mmbio.reference.build import schreiber_subjects

    folders = sorted(d.name for d in (shared / "schreiber2019").iterdir() if any(d.glob("*_C[45]_*.c3d")))
    assert schreiber_subjects(shared) == folders
    prov = yaml.safe_load((reg.data_dir() / "schreiber2019" / "provenance.yaml").read_text())
    assert prov["subjects"] == folders, "the shared data changed: rebuild reference_data"
    used = {Path(s["path"]).parts[1] for s in prov["sources"]}  # schreiber2019/<id>/[opensim_ik/]file
    assert used == set(folders)


@pytest.mark.shared
@needs_rdata
def test_santuz_subjects_follow_syns(shared: Path) -> None:
    from mmbio.reference.build.santuz import SANTUZ_MUSCLES, read_syns

    syns = read_syns(shared / "santuz2020" / "SYNS.RData")
    prov = yaml.safe_load((reg.data_dir() / "santuz2020_emg" / "provenance.yaml").read_text())
    assert list(syns) == prov["subjects"]
    assert all(v.shape == (len(SANTUZ_MUSCLES), 200) for v in syns.values())


def test_santuz_builder_names_the_missing_optional_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mmbio.errors import MmbioError
    from mmbio.reference.build.santuz import read_syns

    monkeypatch.setitem(sys.modules, "rdata", None)  # import rdata now raises ImportError
    with pytest.raises(MmbioError, match="optional package 'rdata'"):
        read_syns(tmp_path / "SYNS.RData")


def test_rdata_stays_a_build_time_dependency() -> None:
    """Importing the package, the analysis side and even the builders never imports rdata."""
    code = (
        "import sys, mmbio, mmbio.analysis.validate, mmbio.analysis.ceiling, mmbio.reference.build, mmbio.cli; "
        "print('rdata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr


def test_build_package_keeps_the_old_import_paths() -> None:
    import mmbio.reference.build as b

    for name in ("build", "main", "BUILDERS", "DatasetBuild", "hamner_peak_vertical", "fmt", "write_dataset"):
        assert hasattr(b, name), name
    assert set(b.BUILDERS) == FIVE | {"emg_timing"}
    out = subprocess.run(
        [sys.executable, "-m", "mmbio.reference.build", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0 and "--shared" in out.stdout


@pytest.mark.shared
def test_hamner_per_subject_peaks_within_readme_ranges(shared: Path) -> None:
    from mmbio.reference.build import hamner_peak_vertical

    for speed, (lo, hi) in {"2": (1.85, 2.25), "5": (2.37, 2.80)}.items():
        peaks = hamner_peak_vertical(shared, speed)
        assert len(peaks) == 5
        assert lo <= np.mean(list(peaks.values())) <= hi
        for subj, p in peaks.items():
            # the body weight is estimated from the GRF (masses are not in the files): allow 3 %
            assert 0.97 * lo <= p <= 1.03 * hi, (speed, subj, p)
