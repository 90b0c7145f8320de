"""Validation protocols, the PDF report and its tables, on a synthetic ValidationResult."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mmbio
from mmbio.analysis.result import CurvePair, Metric, ValidationResult
from mmbio.errors import MmbioError
from mmbio.report.protocol import evaluate, list_protocols, load_protocol, parse_protocol

PCT = np.linspace(0.0, 100.0, 101)


def _g(p: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-(((p - mu) / sd) ** 2))


REF_ANGLES = {
    "pelvis_tilt": 11.0 + 1.5 * np.sin(4 * np.pi * PCT / 100),
    "hip_flexion": 12.0 + 22.0 * np.cos(2 * np.pi * (PCT - 90) / 100),
    "hip_adduction": 4.0 * np.sin(2 * np.pi * (PCT + 5) / 100) * (PCT < 60) - 4.0 * _g(PCT, 75, 10),
    "knee_flexion": 4.0 + 14.0 * _g(PCT, 15, 7) + 56.0 * _g(PCT, 72, 11),
    "ankle_dorsiflexion": -6.0 * _g(PCT, 6, 4) + 11.0 * _g(PCT, 45, 12) - 17.0 * _g(PCT, 63, 5),
}


def _stance_vertical(p: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * p / 100) ** 0.5 * (0.86 + 0.36 * _g(p, 23, 10) + 0.33 * _g(p, 78, 10))


def _emg_ref(muscle: str) -> np.ndarray:
    bursts = {
        "tibialis_anterior": [(2, 6, 1.0), (65, 12, 0.6), (98, 4, 0.8)],
        "soleus": [(40, 12, 1.0)],
        "gastrocnemius_medialis": [(45, 10, 1.0)],
        "vastus_lateralis": [(8, 7, 1.0), (96, 4, 0.5)],
        "rectus_femoris": [(10, 6, 0.6), (58, 6, 1.0)],
        "biceps_femoris": [(2, 8, 1.0), (92, 6, 0.8)],
        "medial_hamstrings": [(3, 8, 1.0), (90, 7, 0.9)],
        "gluteus_maximus": [(6, 8, 1.0)],
    }[muscle]
    return 0.05 + sum(a * _g(PCT, mu, sd) for mu, sd, a in bursts)


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def synthetic_result(*, n_cycles: int = 8, seed: int = 3) -> ValidationResult:
    """A realistic walking result: 5 joint angles and GRF on both sides, 8 muscles, redundancy, synergies."""
    rng = np.random.default_rng(seed)
    res = ValidationResult(
        trial={
            "name": "sim_walk_03",
            "source": "/data/simulations/myofullbody/run_2025_03/sim_walk_03_rollout.npz",
            "kind": "simulated",
            "events_source": "contact",
            "n_cycles": n_cycles,
            "subject": {"mass": {"value": 72.5, "units": "kg"}, "speed": {"value": 1.25, "units": "m/s"}},
            "notes": ["contact events from foot-floor contact forces > 20 N"],
        },
        reference={
            "name": "schwartz2008",
            "condition": "free",
            "citation": "Schwartz M.H., Rozumalski A., Trost J.P. (2008) The effect of walking speed on the gait of "
            "typically developing children. J Biomech 41(8):1639-1650",
            "n_subjects": 83,
            "sign_conventions": {"knee_flexion": "flexion +", "ankle_dorsiflexion": "dorsiflexion +"},
        },
        provenance={"mmbio_version": mmbio.__version__},
    )
    ref_sd = 4.5
    for side, shift in (("right", 0.0), ("left", 2.0)):
        for var, ref in REF_ANGLES.items():
            base = np.interp((PCT - shift) % 100, PCT, ref) * 1.05 + (3.0 if var == "hip_flexion" else 1.0)
            cycles = base + rng.normal(0, 1.5, (n_cycles, 1)) + rng.normal(0, 0.6, (n_cycles, 101))
            mean = cycles.mean(0)
            spm = (
                [(62.0, 71.0)] if var == "knee_flexion" and side == "right" else ([] if var == "knee_flexion" else None)
            )
            res.curves.append(
                CurvePair(
                    "kinematics",
                    side,
                    var,
                    "deg",
                    PCT,
                    mean,
                    cycles.std(0, ddof=1),
                    cycles,
                    ref,
                    np.full(101, ref_sd),
                    toe_off_pct=60.5 + shift / 2,
                    ref_toe_off_pct=59.0,
                    spm=spm,
                )
            )
            r = _r(mean, ref)
            res.add(
                "kinematics",
                side,
                var,
                {
                    "r": Metric(r, "1", cycles=np.array([_r(c, ref) for c in cycles]), ceiling=0.93),
                    "rmse": Metric(float(np.sqrt(np.mean((mean - ref) ** 2))), "deg", ceiling=4.8),
                    "rom_error": Metric(float(np.ptp(mean) - np.ptp(ref)), "deg"),
                    "peak_max_timing_error": Metric(float(PCT[np.argmax(mean)] - PCT[np.argmax(ref)]), "% cycle"),
                    "best_lag": Metric(shift, "% cycle"),
                    "within_sd_band": Metric(float(np.mean(np.abs(mean - ref) <= ref_sd)), "1"),
                },
            )
        v_ref = _stance_vertical(PCT)
        st = v_ref * (1.04 if side == "right" else 0.97) + rng.normal(0, 0.02, (6, 101))
        st[:, 0] = st[:, -1] = 0.0
        vm = st.mean(0)
        ap_ref = -0.21 * np.sin(2 * np.pi * PCT / 100) * np.sin(np.pi * PCT / 100) ** 0.3
        ap = ap_ref * 1.1 + rng.normal(0, 0.01, (6, 101))
        res.curves.append(
            CurvePair(
                "grf", side, "vertical", "BW", PCT, vm, st.std(0, ddof=1), st, v_ref, np.full(101, 0.06), basis="stance"
            )
        )
        res.curves.append(
            CurvePair(
                "grf",
                side,
                "ap",
                "BW",
                PCT,
                ap.mean(0),
                ap.std(0, ddof=1),
                ap,
                ap_ref,
                np.full(101, 0.03),
                basis="stance",
            )
        )
        i1, i2 = int(np.argmax(vm[:51])), 50 + int(np.argmax(vm[50:]))
        iv = i1 + int(np.argmin(vm[i1 : i2 + 1]))
        res.add(
            "grf",
            side,
            "vertical",
            {
                "first_peak_bw": Metric(float(vm[i1]), "BW", ceiling=None),
                "first_peak_pct_stance": Metric(float(PCT[i1]), "% stance"),
                "valley_bw": Metric(float(vm[iv]), "BW"),
                "valley_pct_stance": Metric(float(PCT[iv]), "% stance"),
                "second_peak_bw": Metric(float(vm[i2]), "BW"),
                "second_peak_pct_stance": Metric(float(PCT[i2]), "% stance"),
                "double_peak": Metric(1.0, "bool"),
                "loading_rate_bw_s": Metric(9.8, "BW/s"),
                "impulse_bw_s": Metric(0.52, "BW·s"),
                "stance_time_s": Metric(0.64 if side == "right" else 0.66, "s"),
                "r": Metric(_r(vm, v_ref), "1", ceiling=0.97),
                "rmse_bw": Metric(float(np.sqrt(np.mean((vm - v_ref) ** 2))), "BW"),
            },
        )
        apm = ap.mean(0)
        res.add(
            "grf",
            side,
            "ap",
            {
                "braking_peak_bw": Metric(float(apm.min()), "BW"),
                "propulsion_peak_bw": Metric(float(apm.max()), "BW"),
            },
        )
    muscles = [
        "tibialis_anterior",
        "soleus",
        "gastrocnemius_medialis",
        "vastus_lateralis",
        "rectus_femoris",
        "biceps_femoris",
        "medial_hamstrings",
        "gluteus_maximus",
    ]
    for side in ("right", "left"):
        for k, mus in enumerate(muscles if side == "right" else muscles[:3]):
            ref = _emg_ref(mus)
            lag = 4 + k % 3
            act = np.roll(ref, -lag) * (0.3 + 0.05 * k) + rng.normal(0, 0.01, 101).clip(0)
            if mus == "rectus_femoris":
                act = act * 0 + 0.001  # silent: r undefined
            cyc = act + rng.normal(0, 0.01, (n_cycles, 101))
            res.curves.append(CurvePair("emg", side, mus, "1", PCT, act, None, cyc, ref, 0.25 * ref, toe_off_pct=60.5))
            if mus == "rectus_femoris":
                res.add(
                    "emg",
                    side,
                    mus,
                    {
                        "r": Metric.na("1", "silent: the activation never exceeds 5 % of its peak"),
                        "silent": Metric(1.0, "bool"),
                    },
                )
                continue
            scale = float(np.dot(act, ref) / np.dot(act, act))
            res.add(
                "emg",
                side,
                mus,
                {
                    "r": Metric(_r(act, ref), "1", ceiling=0.78),
                    "r_best_lag": Metric(_r(np.roll(act, lag), ref), "1"),
                    "best_lag_ms": Metric(lag * 11.0, "ms"),
                    "scale": Metric(scale, "1"),
                    "scaled_rmse": Metric(float(np.sqrt(np.mean((scale * act - ref) ** 2))), "1"),
                    "silent": Metric(0.0, "bool"),
                },
            )
    res.add("emg", "right", "gluteus_medius", {"r": Metric.na("1", "the reference has no EMG for gluteus_medius")})
    res.add(
        "redundancy",
        "right",
        "gap",
        {
            "kinematic_fidelity": Metric(0.97, "1"),
            "activation_fidelity": Metric(0.71, "1"),
            "gap": Metric(0.26, "1"),
            "gap_rel": Metric(0.27, "1"),
        },
    )
    res.add(
        "synergies",
        "right",
        "all",
        {
            "n_synergies_trial": Metric(3, "count"),
            "n_synergies_emg": Metric(4, "count"),
            "similarity": Metric(0.82, "1"),
        },
    )
    res.notes.append("SPM over the cycle needs at least 3 reference cycles per subject; shown for knee flexion only")
    return res


# --------------------------------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------------------------------


def _hand_made() -> ValidationResult:
    res = ValidationResult(trial={"name": "t"}, reference={"name": "schwartz2008", "condition": "free"})
    res.add("kinematics", "right", "knee_flexion", {"r": Metric(0.95, "1", ceiling=0.9), "rmse": Metric(12.0, "deg")})
    res.add("kinematics", "left", "knee_flexion", {"r": Metric(0.7, "1"), "rmse": Metric(4.0, "deg")})
    res.add("kinematics", "right", "hip_flexion", {"r": Metric(0.5, "1")})
    res.add("grf", "right", "vertical", {"double_peak": Metric(1.0, "bool"), "first_peak_bw": Metric(1.3, "BW")})
    res.add("grf", "left", "vertical", {"double_peak": Metric(0.0, "bool"), "first_peak_bw": Metric(1.0, "BW")})
    res.add("emg", "right", "soleus", {"r": Metric.na("1", "silent signal")})
    return res


def _proto(checks: list[dict]) -> object:
    return parse_protocol({"name": "t", "reference": "schwartz2008:free", "checks": checks}, source="t.yaml")


def test_statuses_pass_warn_fail_and_wildcards() -> None:
    res = _hand_made()
    checks = evaluate(
        res,
        _proto(
            [
                {
                    "metric": "kinematics.*.knee_flexion.r",
                    "pass": {"op": ">=", "value": 0.9},
                    "warn": {"op": ">=", "value": 0.6},
                },
                {"metric": "kinematics.right.*.r", "pass": {"op": ">=", "value": 0.9}},
            ]
        ),
    )
    got = {c["metric"]: c["status"] for c in checks}
    assert got == {
        "kinematics.right.knee_flexion.r": "pass",
        "kinematics.left.knee_flexion.r": "warn",
        "kinematics.right.hip_flexion.r": "fail",
    }
    assert len(checks) == 4  # right knee r is matched by both checks
    assert checks[0]["ceiling"] == pytest.approx(0.9) and checks[0]["units"] == "1"
    assert "≥ 0.9" in checks[0]["rule"] and "warn" in checks[0]["rule"]
    assert res.checks is checks and res.protocol["name"] == "t" and res.passed is False


def test_bool_within_between_and_na() -> None:
    res = _hand_made()
    checks = evaluate(
        res,
        _proto(
            [
                {"metric": "grf.*.vertical.double_peak", "pass": {"op": "==", "value": 1}},
                {
                    "metric": "grf.*.vertical.first_peak_bw",
                    "pass": {"op": "within", "value": 0.15, "of": 1.1},
                    "warn": {"op": "between", "value": [0.9, 1.4]},
                },
                {"metric": "emg.*.*.r", "pass": {"op": ">=", "value": 0.5}, "required": False},
                {"metric": "emg.*.*.r", "pass": {"op": ">=", "value": 0.5}},
                {"metric": "synergies.*.*.similarity", "pass": {"op": ">=", "value": 0.5}, "required": False},
                {"metric": "kinematics.*.ankle_dorsiflexion.r", "pass": {"op": ">=", "value": 0.5}},
            ]
        ),
    )
    st = [(c["metric"], c["status"]) for c in checks]
    assert st[:4] == [
        ("grf.right.vertical.double_peak", "pass"),
        ("grf.left.vertical.double_peak", "fail"),
        ("grf.right.vertical.first_peak_bw", "warn"),
        ("grf.left.vertical.first_peak_bw", "pass"),
    ]
    assert checks[4]["status"] == "n/a" and checks[4]["value"] is None and checks[4]["reason"] == "silent signal"
    assert checks[5]["status"] == "n/a" and checks[5]["reason"] == "silent signal"  # n/a is n/a, even required
    assert checks[6]["status"] == "n/a" and checks[6]["metric"] == "synergies.*.*.similarity"
    assert checks[7]["status"] == "fail" and "no such metric" in checks[7]["reason"]
    json.dumps(res.to_json_dict(), allow_nan=False)


def test_within_metric_path() -> None:
    res = _hand_made()
    res.add("grf", "reference", "vertical", {"first_peak_bw": Metric(1.2, "BW")})
    checks = evaluate(
        res,
        _proto(
            [
                {
                    "metric": "grf.right.vertical.first_peak_bw",
                    "pass": {"op": "within", "value": 0.15, "of": "grf.reference.vertical.first_peak_bw"},
                }
            ]
        ),
    )
    assert checks[0]["status"] == "pass"


def test_within_pi_is_the_reference_spread_at_the_band_condition() -> None:
    """mean ± t(n−1, (1+c)/2)·SD·√(1+1/n) of the reference scalar at ``band_condition``, side first, then 'both'.

    Hamner grf_vertical_max at 2 m/s, right: 2.0263 ± 0.1377 BW, n 5 (scalars.csv) → t(4, 0.975) = 2.7764:
    half-width 2.7764 × 0.1377 × √1.2 = 0.4188 → 1.6075–2.4451 BW. Left 2.0127 ± 0.1788: 95 % 1.469–2.557,
    99 % (t(4, 0.995) = 4.6041) 1.111–2.915 BW, so 1.45 BW warns.
    """
    res = ValidationResult(
        trial={"name": "t"}, reference={"name": "hamner2013_run", "condition": "3", "band_condition": "2"}
    )
    res.add("grf", "right", "vertical", {"active_peak_bw": Metric(1.62, "BW"), "stance_time_s": Metric.na("s", "x")})
    res.add("grf", "left", "vertical", {"active_peak_bw": Metric(1.45, "BW")})
    proto = _proto(
        [
            {
                "metric": "grf.*.vertical.active_peak_bw",
                "pass": {"op": "within_pi", "value": 0.95, "of": "grf_vertical_max"},
                "warn": {"op": "within_pi", "value": 0.99, "of": "grf_vertical_max"},
            },
            {
                "metric": "grf.right.vertical.stance_time_s",
                "pass": {"op": "within_pi", "value": 0.95, "of": "stance_time"},
            },
            {
                "metric": "grf.right.vertical.active_peak_bw",
                "pass": {"op": "within_pi", "value": 0.95, "of": "nothing"},
            },
        ]
    )
    checks = evaluate(res, proto)
    assert [c["status"] for c in checks] == ["pass", "warn", "n/a", "n/a"]
    assert "1.607–2.445 (95 % PI of hamner2013_run:2 grf_vertical_max 2.026 ± 0.1377 SD, t, n 5)" in checks[0]["rule"]
    assert checks[2]["reason"] == "x"  # the value is n/a: the check is n/a with the value's reason, never fail
    assert checks[3]["reason"] == "hamner2013_run:2 has no nothing scalar to set a band"
    assert res.passed is True and any("2 required check(s) n/a" in n for n in res.notes)
    for bad, msg in (
        ({"op": "within_pi", "value": 2, "of": "grf_vertical_max"}, "coverage value between 0 and 1"),
        ({"op": "within_pi", "value": 0.95, "of": "grf.*.vertical.x"}, "name of a reference scalar"),
    ):
        with pytest.raises(MmbioError, match=msg):
            _proto([{"metric": "grf.*.vertical.active_peak_bw", "pass": bad}])


def test_shipped_protocol_bands_follow_the_reference() -> None:
    """No threshold of a speed-dependent GRF metric is a number in the shipped protocols."""
    for name, metrics in (
        ("running", ("active_peak_bw", "stance_time_s")),
        ("walking", ("first_peak_bw", "second_peak_bw")),
    ):
        for c in load_protocol(name).checks:
            if c.metric.split(".")[-1] in metrics:
                assert c.pass_rule.op == "within_pi" and c.warn_rule is not None and c.warn_rule.op == "within_pi"


def test_unknown_protocol_lists_choices() -> None:
    with pytest.raises(MmbioError, match=r"unknown validation protocol 'sprinting'.*running.*walking"):
        load_protocol("sprinting")


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\nchecks:\n  - metric: a.b.c.d\n    pass: {op: '>=', value: 1\n", encoding="utf-8")
    with pytest.raises(MmbioError, match=r"bad\.yaml: invalid YAML at line \d+"):
        load_protocol(p)
    p.write_text("name: bad\nchecks:\n  - metric: a.b.c.d\n    pass: {op: '~', value: 1}\n", encoding="utf-8")
    with pytest.raises(MmbioError, match=r"bad\.yaml: check 1 .* unknown op"):
        load_protocol(p)


def test_protocol_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "custom.yaml").write_text(
        "name: custom\nreference: hamner2013_run:3\nchecks:\n  - metric: grf.*.vertical.r\n    pass: {op: '>=', value: 0.9}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MMBIO_VALIDATION_DIR", str(tmp_path))
    assert list_protocols() == ["custom"]
    assert load_protocol("custom").checks[0].pass_rule.value == 0.9
    with pytest.raises(MmbioError, match="choose from: custom"):
        load_protocol("walking")


def test_figures_alone() -> None:
    from matplotlib.figure import Figure

    from mmbio.report import figures as F

    res = synthetic_result(n_cycles=3)
    kin = [c for c in res.curves if c.domain == "kinematics"][:4]
    figs = [
        F.joint_angle_figure(kin),
        F.grf_figure([c for c in res.curves if c.domain == "grf"], res.metrics["grf"]),
        F.emg_figure([c for c in res.curves if c.domain == "emg"], res.metrics["emg"]),
        F.redundancy_figure(
            res.metrics["kinematics"], res.metrics["emg"], {s: v["gap"] for s, v in res.metrics["redundancy"].items()}
        ),
        F.synergy_figure(res.metrics["synergies"]),
        F.grf_figure([], None),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    assert F.spm_clusters(None) is None and F.spm_clusters({"clusters": [(1, 5, 0.01)]}) == [(1.0, 5.0)]
    from mmbio.analysis.spm import SPMResult

    assert F.spm_clusters(SPMResult(ran=False, reason="spm1d not installed")) is None
    assert F.spm_clusters(SPMResult(clusters=[(10.0, 20.0, 0.01)], ran=True)) == [(10.0, 20.0)]


def test_shipped_protocols() -> None:
    from mmbio.reference.registry import parse_spec

    assert {"walking", "running"} <= set(list_protocols())
    for name in ("walking", "running"):
        p = load_protocol(name)
        parse_spec(p.reference)  # names a real reference dataset and condition
        assert p.checks and p.description
    walking = load_protocol("walking")
    assert any(c.metric == "grf.*.vertical.double_peak" for c in walking.checks)
    assert not any("double_peak" in c.metric for c in load_protocol("running").checks)


# --------------------------------------------------------------------------------------------------
# report and tables
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ValidationResult]:
    res = synthetic_result()
    evaluate(res, load_protocol("walking"))
    path = tmp_path_factory.mktemp("rep") / "report.pdf"
    mp = pytest.MonkeyPatch()
    mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
    try:
        from mmbio.report.pdf import write_report

        write_report(res, path, seed=7)
    finally:
        mp.undo()
    return path, res


def _n_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_pdf_pages_and_footer(report: tuple[Path, ValidationResult]) -> None:
    path, _ = report
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    n = _n_pages(data)
    # scorecard (1–2), joint angles (1), GRF (1), EMG (1), redundancy, synergies, notes (1–2)
    assert 7 <= n <= 10
    assert b"mmbio" in data and b"/CreationDate (D:20231114" in data
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed: page texts not checked")
    for i in range(1, n + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(i), "-l", str(i), "-layout", str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"mmbio {mmbio.__version__}" in text, f"page {i} lacks the footer"
        assert f"page {i} of {n}" in text and "seed: 7" in text and "protocol: walking" in text
        assert "schwartz2008:free" in text
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True).stdout
    assert "Validation scorecard" in first and "PASS" in first and "Knee flexion" in first
    info = (
        subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout if shutil.which("pdfinfo") else ""
    )
    if info:
        assert re.search(r"Author:\s+mmbio", info) and "A4" in info


def test_report_without_protocol_and_sparse(tmp_path: Path) -> None:
    from mmbio.report.pdf import write_report

    res = _hand_made()  # no curves, no protocol, n/a metrics
    p = write_report(res, tmp_path / "r.pdf")
    assert 2 <= _n_pages(p.read_bytes()) <= 5


def test_curves_csv_and_metrics_json(tmp_path: Path, report: tuple[Path, ValidationResult]) -> None:
    from mmbio.report.pdf import CURVES_COLUMNS, write_curves_csv, write_metrics_json

    _, res = report
    p = write_curves_csv(res, tmp_path / "curves.csv")
    with p.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert (
        tuple(rows[0])
        == CURVES_COLUMNS
        == ("domain", "side", "variable", "basis", "units", "pct", "trial_mean", "trial_sd", "ref_mean", "ref_sd")
    )
    assert len(rows) == 101 * len(res.curves)
    knee = [r for r in rows if r["variable"] == "knee_flexion" and r["side"] == "right"]
    assert len(knee) == 101 and knee[0]["basis"] == "gait cycle" and knee[0]["units"] == "deg"
    assert {r["trial_sd"] for r in rows if r["domain"] == "emg"} == {""}  # no SD → empty, not 0
    j = write_metrics_json(res, tmp_path / "metrics.json")
    doc = json.loads(j.read_text(encoding="utf-8"))
    assert doc["emg"]["right"]["rectus_femoris"]["r"]["value"] is None
    assert doc["protocol"]["name"] == "walking" and doc["protocol"]["checks"]
