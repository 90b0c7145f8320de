"""``mmbio compare``: ranking, paired Wilcoxon/Holm tests and RSA on inputs whose differences are known.

The inputs are the periodic simulated trial (tests/periodic_trial.py) and variants of it: activations delayed by
0.15 s (every muscle's r with the EMG changes; the muscle × muscle similarities do not, a common delay being a shift
of every pattern), activations scaled by 0.5 (r and similarities unchanged: both divide amplitude out), joint angles
offset by +5° (r unchanged, RMSE up by 5°). So the ranks, the p-values (exact: 8 joint angles all worse give
p = 2/2⁸) and the RSA have answers derived here, with scipy.stats.wilcoxon as the oracle where ties make the exact
p tedious by hand. The CLI runs end to end on small mm-evalkit archives (tests/test_rollout_npz.py's replay).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from periodic_trial import activation_curve, activations, emg, periodic_trial
from scipy.stats import wilcoxon

from mmbio.analysis.compare import compare, holm, paired_wilcoxon, rsa_permutation_p, rsa_score, rsm
from mmbio.analysis.validate import validate
from mmbio.cli import main
from mmbio.errors import MmbioError
from mmbio.trial import Channels

REF = "schwartz2008:free"


def offset_angles(trial, deg: float):
    a = trial.angles
    return trial.replace(angles=Channels(a.time, a.values + deg, list(a.names), list(a.units)))


@pytest.fixture(scope="module")
def results() -> dict:
    t = periodic_trial()
    variants = {
        "base": t,
        "delayed": t.replace(activations=activations(t.activations.time, delay_s=0.15)),
        "scaled": t.replace(activations=activations(t.activations.time, gain=0.5)),
        "offset": offset_angles(t, 5.0),
    }
    return {k: validate(v, REF, spm=False) for k, v in variants.items()}


@pytest.fixture(scope="module")
def cmp(results):
    return compare(results)


def emg_r(result) -> dict[str, float]:
    """Item → activation–EMG r read straight from a validation result (the oracle's input)."""
    out = {}
    for side, muscles in result.metrics["emg"].items():
        for m, ms in muscles.items():
            if math.isfinite(ms["r"].value):
                out[f"{side}.{m}"] = ms["r"].value
    return out


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04: 3 × 0.01, max(0.03, 2 × 0.03), max(0.06, 1 × 0.04); NaN is not counted
    np.testing.assert_allclose(holm([0.04, 0.01, np.nan, 0.03]), [0.06, 0.03, np.nan, 0.06])
    assert holm([0.6, 0.5])[1] == 1.0  # capped at 1


def test_paired_wilcoxon_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=12), rng.normal(size=12) + 0.8
    a[2] = np.nan  # unmeasured: the pair is dropped, not counted as 0
    b[5] = a[5]  # a zero difference: dropped by the test
    row = paired_wilcoxon(a, b)
    keep = np.isfinite(a)
    ref = wilcoxon(a[keep], b[keep], zero_method="wilcox")
    assert (row["n"], row["n_nonzero"]) == (11, 10)
    assert row["p"] == pytest.approx(ref.pvalue, rel=1e-12) and row["W"] == ref.statistic
    d = (a - b)[keep & (a != b)]
    ranks = np.argsort(np.argsort(np.abs(d))) + 1.0
    assert row["effect"] == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    small = paired_wilcoxon(np.arange(4.0), np.arange(4.0) + 1)
    assert small["p"] == pytest.approx(2 / 2**4) and small["note"].startswith("underpowered: 4 non-zero")
    assert paired_wilcoxon(np.ones(3), np.ones(3))["note"] == "every difference is 0"


def test_ranking_of_known_variants(cmp, results) -> None:
    s, r = cmp.scores, cmp.ranks
    # r ignores amplitude: scaled activations tie with the base; the delay lowers the mean r
    assert s["emg_r"]["scaled"]["value"] == pytest.approx(s["emg_r"]["base"]["value"], abs=1e-12)
    drop = s["emg_r"]["base"]["value"] - s["emg_r"]["delayed"]["value"]
    assert drop == pytest.approx(
        np.mean(list(emg_r(results["base"]).values())) - np.mean(list(emg_r(results["delayed"]).values()))
    )
    assert drop == pytest.approx(0.475, abs=0.005)  # rectus femoris gains 0.45, the other four lose 0.55–1.0
    assert r["emg_r"] == {"base": 2.0, "delayed": 4.0, "scaled": 2.0, "offset": 2.0}
    assert s["emg_r"]["base"]["n"] == 10  # 5 muscles × 2 sides
    # the +5° offset: r unchanged (all tie), RMSE up by 5°
    assert set(r["kinematic_r"].values()) == {2.5}
    assert s["kinematic_rmse"]["offset"]["value"] - s["kinematic_rmse"]["base"]["value"] == pytest.approx(5.0, abs=0.05)
    assert r["kinematic_rmse"]["offset"] == 4.0
    # redundancy gap = K − A over the shared items
    k, a = s["kinematic_r"]["delayed"]["value"], s["emg_r"]["delayed"]["value"]
    assert s["gap"]["delayed"]["value"] == pytest.approx(k - a) and r["gap"]["delayed"] == 4.0
    # no GRF in any input: n/a with the reason, never 0, and not in the overall rank
    assert all(math.isnan(v["value"]) for v in s["grf_r"].values())
    assert s["grf_r"]["base"]["reason"] == "no GRF component of the reference in the input"
    assert cmp.overall_criteria == ["kinematic_r", "emg_r", "gap"]
    assert cmp.overall["base"]["mean_rank"] == pytest.approx((2.5 + 2 + 2) / 3)
    assert [cmp.overall[k]["rank"] for k in ("base", "delayed", "scaled", "offset")] == [2.0, 4.0, 2.0, 2.0]
    assert cmp.order()[-1] == "delayed"
    assert any("overall rank without GRF shape" in n for n in cmp.notes)


def test_paired_tests_have_the_derived_p_values(cmp, results) -> None:
    rows = {(t["family"], t["a"], t["b"]): t for t in cmp.tests}
    # joint-angle RMSE: 8 angles all worse with the offset → exact two-sided p = 2/2⁸; the 3 other pairs differ by
    # nothing (no p), so Holm multiplies by the 3 finite p-values
    for a in ("base", "delayed", "scaled"):
        t = rows[("kinematic_rmse", a, "offset")]
        assert (t["n"], t["n_nonzero"]) == (8, 8)
        assert t["p"] == pytest.approx(2 / 2**8) and t["p_holm"] == pytest.approx(3 * 2 / 2**8)
        assert t["better"] == a and t["effect"] == -1.0
    assert math.isnan(rows[("kinematic_rmse", "base", "delayed")]["p"])
    # activation–EMG r: oracle scipy on the r values read from the results, Holm over the 3 pairs with the delay
    ra, rd = emg_r(results["base"]), emg_r(results["delayed"])
    p0 = wilcoxon([ra[k] for k in ra], [rd[k] for k in ra]).pvalue
    t = rows[("emg_r", "base", "delayed")]
    assert t["n"] == 10 and t["p"] == pytest.approx(p0, rel=1e-12)
    assert t["p_holm"] == pytest.approx(min(1.0, 3 * p0)) and t["p_holm"] < 0.05
    assert t["better"] == "base" and t["median_diff"] > 0.5
    assert rows[("emg_r", "delayed", "scaled")]["better"] == "scaled"
    assert rows[("emg_r", "base", "scaled")]["note"] == "every difference is 0"
    # GRF: nothing to pair
    assert rows[("grf_r", "base", "delayed")]["note"] == "no item with a value in both"


def test_rsa_of_known_variants(cmp) -> None:
    for side in ("right", "left"):
        r = cmp.rsa[side]
        assert len(r.muscles) == 5
        # scaling changes no correlation; a common delay shifts every pattern alike (up to interpolation)
        assert r.between[("base", "scaled")] == pytest.approx(1.0, abs=1e-12)
        assert r.between[("base", "delayed")] > 0.99
        assert r.vs_reference["delayed"]["spearman"] == pytest.approx(r.vs_reference["base"]["spearman"], abs=0.01)
        # independently: the RSMs of the Schwartz EMG and of the activation curves the trial was made from
        ref = rsm(np.array([emg(m) for m in r.muscles]))
        own = rsm(np.array([activation_curve(m) for m in r.muscles]))
        np.testing.assert_allclose(r.rsm["EMG reference"], ref, atol=1e-6)
        np.testing.assert_allclose(r.rsm["base"], own, atol=2e-3)
        v = r.vs_reference["base"]
        assert v["spearman"] == pytest.approx(rsa_score(own, ref)[0], abs=1e-9)
        assert v["permutations"] == 120 and 1 / 120 <= v["p_perm"] <= 1.0  # 5! muscle orders
    assert cmp.scores["rsa"]["base"]["value"] == pytest.approx(
        np.mean([cmp.rsa[s].vs_reference["base"]["spearman"] for s in ("right", "left")])
    )


def test_rsa_permutation_p_exact() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 30))
    m = rsm(x)
    p, n = rsa_permutation_p(m, m)
    assert n == 24 and p == pytest.approx(1 / 24)  # only the identity matches a generic matrix perfectly
    m2 = m.copy()
    m2[1, 0] = m2[0, 1] = np.nan
    assert math.isnan(rsa_permutation_p(m2, m)[0])


def test_shared_items_only_and_different_references(results) -> None:
    t = periodic_trial()
    keep = [i for i, n in enumerate(t.activations.names) if not n.startswith("tibant")]
    acts = t.activations
    fewer = t.replace(activations=Channels(acts.time, acts.values[:, keep], [acts.names[i] for i in keep], "1"))
    c = compare({"base": results["base"], "fewer": validate(fewer, REF, spm=False)})
    assert c.scores["emg_r"]["base"]["n"] == 8 and "right.tibialis_anterior" not in c.shared["emg_r"]
    assert c.scores["emg_r"]["base"]["value"] == pytest.approx(
        np.mean([emg_r(results["base"])[k] for k in c.shared["emg_r"]])
    )
    assert any("scored on the 8 muscles every input has" in n for n in c.notes)
    # validated against different references: not ranked, not tested, said so
    slow = validate(t, "schwartz2008:slow", spm=False)
    d = compare({"free": results["base"], "slow": slow})
    assert d.ranks["kinematic_r"] == {"free": None, "slow": None}
    assert "different references" in d.scores["kinematic_r"]["free"]["reason"]
    assert all(math.isnan(r["p"]) for r in d.tests if r["family"] == "kinematic_r")
    assert any(n.startswith("joint-angle r: inputs validated against different references") for n in d.notes)
    with pytest.raises(MmbioError, match="at least 2 inputs"):
        compare({"one": slow})


def test_no_activations_is_na_never_zero(results) -> None:
    t = periodic_trial().replace(activations=None)
    c = compare({"base": results["base"], "kinematics only": validate(t, REF, spm=False)})
    s = c.scores
    for key in ("emg_r", "gap", "rsa"):
        assert math.isnan(s[key]["kinematics only"]["value"]) and c.ranks[key]["kinematics only"] is None
        assert s[key]["kinematics only"]["reason"]
    doc = json.loads(json.dumps(c.to_json_dict(), allow_nan=False))
    row = next(r for r in doc["ranking"] if r["label"] == "kinematics only")
    assert row["scores"]["emg_r"]["value"] is None and row["scores"]["emg_r"]["rank"] is None
    assert c.overall_criteria == ["kinematic_r"]


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    from test_rollout_npz import evalkit_arrays, evalkit_walk, write

    d = tmp_path_factory.mktemp("compare")
    walk = evalkit_walk()
    a = evalkit_arrays(walk, "pre_step")
    n = walk[0].n_frames
    two = evalkit_arrays(walk, "pre_step", [(n, n), (n, n)])  # the same episode twice: pooled
    return {"a": write(d / "a.npz", a), "two": write(d / "two.npz", two)}


def test_cli_end_to_end(archives, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    code = main(["compare", str(archives["a"]), str(archives["two"]), "--labels", "one episode,pooled", "-o", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "2 inputs vs schwartz2008:free" in text and "wrote" in text
    assert {p.name for p in out.iterdir()} >= {"compare.csv", "tests.csv", "compare.json", "report.pdf"}
    doc = json.loads((out / "compare.json").read_text())
    kinds = {i["label"]: i["kind"] for i in doc["inputs"]}
    assert kinds == {"one episode": "archive", "pooled": "archive (2 episodes pooled)"}
    cycles = {i["label"]: i["cycles"]["right"] for i in doc["inputs"]}
    assert cycles["pooled"] == 2 * cycles["one episode"] > 0  # no cycle spans the two episodes
    # the same motion twice: identical mean cycles, so every criterion ties and no test finds a difference
    for row in doc["ranking"]:
        assert row["rank"] == 1.5
    a, b = ({r["label"]: r for r in doc["ranking"]}[k]["scores"] for k in ("one episode", "pooled"))
    assert a["kinematic_r"]["value"] == pytest.approx(b["kinematic_r"]["value"], abs=1e-9)
    assert not any(t["significant"] for t in doc["tests"])
    with (out / "compare.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 6 and {r["criterion"] for r in rows} >= {"kinematic_r", "grf_r", "emg_r", "gap", "rsa"}
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    # the folder holds these inputs' results: other inputs are refused before any work
    assert main(["compare", str(archives["two"]), str(archives["a"]), "-o", str(out)]) == 2
    assert "holds the results of another input" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["compare", "{a}", "no/such/file.c3d"], "no/such/file.c3d: no such file"),
        (["compare", "{a}"], "compare needs at least 2 inputs, got 1"),
        (["compare", "{a}", "{a}"], "given twice"),
        (["compare", "{a}", "{two}", "--labels", "x"], "--labels: 2 distinct non-empty names needed"),
        (["compare", "{a}", "{two}", "--reference", "nosuchref"], "nosuchref"),
    ],
)
def test_cli_bad_input_is_one_line(archives, tmp_path: Path, capsys, argv: list[str], needle: str) -> None:
    out = tmp_path / "never"
    args = [x.format(a=archives["a"], two=archives["two"]) for x in argv] + ["-o", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmbio: error: ") and err.strip().count("\n") == 0 and needle in err
    assert not out.exists()  # refused before any work
