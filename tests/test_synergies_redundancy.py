"""NMF muscle synergies and the redundancy gap, against answers derived by hand or planted in the data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmbio.analysis.redundancy import gap_table, inputs_from_tree, redundancy_gap
from mmbio.analysis.result import Metric
from mmbio.analysis.synergies import (
    compare_synergies,
    nmf,
    synergies_for_vaf,
    synergy_matrix,
    synergy_similarity,
    vaf,
)
from mmbio.errors import MmbioError


def planted(seed: int = 7, m: int = 8, k: int = 3, n_cycles: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X = W0 H0: three synergies, each led by its own block of muscles, bursts at 10/40/70 % of cycle."""
    rng = np.random.default_rng(seed)
    W0 = 0.1 * rng.uniform(0, 1, (m, k))
    for j, blk in enumerate([(0, 1, 2), (3, 4, 5), (5, 6, 7)]):
        W0[list(blk), j] += rng.uniform(0.6, 1.0, len(blk))
    ph = np.arange(100 * n_cycles) % 100
    bursts = np.array([np.exp(-0.5 * (((ph - c + 50) % 100 - 50) / 7) ** 2) for c in (10, 40, 70)])
    H0 = bursts * rng.uniform(0.7, 1.3, (k, n_cycles)).repeat(100, axis=1)
    return W0 @ H0, W0, H0


def test_vaf_by_hand() -> None:
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    W = np.array([[1.0], [2.0]])
    H = np.array([[1.0, 2.0]])
    # residual [[0,0],[1,0]] → 1 − 1/30
    assert vaf(X, W, H) == pytest.approx(1 - 1 / 30)
    assert math.isnan(vaf(np.zeros((2, 2)), W, H))


def test_nmf_recovers_planted_synergies() -> None:
    X, W0, _ = planted()
    W, H, v = nmf(X, 3, seed=0)
    assert W.shape == (8, 3) and H.shape == (3, 500)
    assert v >= 0.99
    assert np.all(W >= 0) and np.all(H >= 0)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)
    sim, per = synergy_similarity(W, W0)
    assert sim >= 0.95 and per.shape == (3,)
    assert v == pytest.approx(vaf(X, W, H))


def test_nmf_is_deterministic_for_a_seed() -> None:
    X, _, _ = planted()
    a = nmf(X, 2, seed=3, n_restarts=2)
    b = nmf(X, 2, seed=3, n_restarts=2)
    np.testing.assert_array_equal(a[0], b[0])


def test_synergies_for_vaf_picks_planted_k() -> None:
    X, W0, _ = planted()
    assert nmf(X, 2)[2] < 0.9  # the planted structure really needs 3
    k, W, _, v = synergies_for_vaf(X, 0.9)
    assert k == 3 and v >= 0.9
    assert synergy_similarity(W, W0)[0] >= 0.95


def test_nmf_rejects_bad_input() -> None:
    with pytest.raises(MmbioError):
        nmf(-np.ones((3, 10)), 1)
    with pytest.raises(MmbioError):
        nmf(np.ones((3, 10)), 4)
    with pytest.raises(MmbioError):
        nmf(np.full((3, 10), np.nan), 1)


def test_similarity_pairs_columns_optimally() -> None:
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    sim, per = synergy_similarity(W, W[:, ::-1] * 3.0)  # permuted and scaled: identical directions
    assert sim == pytest.approx(1.0)
    np.testing.assert_allclose(per, [1.0, 1.0])
    sim, per = synergy_similarity(W[:, :1], np.array([[0.0], [0.0], [1.0]]))
    assert sim == pytest.approx(0.0)
    # different k: only min(k1, k2) pairs count; [1,1,0]/√2 against e1 is 1/√2
    sim, per = synergy_similarity(np.array([[1.0], [1.0], [0.0]]), W)
    assert per.shape == (1,) and sim == pytest.approx(1 / np.sqrt(2))


def test_synergy_matrix_normalises_and_concatenates() -> None:
    c = np.tile(np.linspace(0, 1, 101), (2, 1)) * np.array([[2.0], [2.0]])
    X = synergy_matrix({"a": c, "b": -c}, ["a", "b"])
    assert X.shape == (2, 200)
    assert X[0].max() == pytest.approx(1.0) and np.all(X[1] == 0)  # negative → clipped → all 0 stays 0


def test_compare_synergies_same_matrix() -> None:
    X, _, _ = planted()
    m = compare_synergies(X, X, [f"m{i}" for i in range(8)], seed=0)
    assert m["n_synergies_trial"].value == m["n_synergies_emg"].value == 3
    assert m["similarity"].value == pytest.approx(1.0)
    assert m["similarity_min"].value == pytest.approx(1.0)
    one = compare_synergies(X[:1], X[:1], ["m0"])
    assert not one["similarity"].available and "2 muscles" in one["similarity"].reason


# --- redundancy gap -----------------------------------------------------------------------------

KIN = {"hip_flexion": 0.9, "knee_flexion": 0.95, "ankle_dorsiflexion": 0.85}
ACT = {"soleus": 0.6, "tibialis_anterior": float("nan"), "rectus_femoris": 0.2}
KIN_C = {"hip_flexion": 1.0, "knee_flexion": 1.0, "ankle_dorsiflexion": 0.8}
ACT_C = {"soleus": 0.8, "tibialis_anterior": 0.9, "rectus_femoris": 0.4}


def test_redundancy_gap_hand_numbers() -> None:
    g = redundancy_gap(KIN, ACT, KIN_C, ACT_C)
    assert g["kinematic_fidelity"].value == pytest.approx(0.9)
    assert g["activation_fidelity"].value == pytest.approx(0.4)  # NaN left out, not 0
    assert g["n_muscles"].value == 2 and g["n_muscles_na"].value == 1
    assert g["n_joints"].value == 3 and g["n_joints_na"].value == 0
    assert g["gap"].value == pytest.approx(0.5)
    # ratio of means over variables with r and ceiling: 2.7/2.8 and 0.8/1.2
    assert g["kinematic_fidelity_rel"].value == pytest.approx(2.7 / 2.8)
    assert g["activation_fidelity_rel"].value == pytest.approx(0.8 / 1.2)
    assert g["gap_rel"].value == pytest.approx(2.7 / 2.8 - 0.8 / 1.2)
    assert all(m.units == "1" for k, m in g.items() if not k.startswith("n_"))


def test_redundancy_gap_scalar_and_missing_ceiling() -> None:
    g = redundancy_gap(KIN, ACT, 0.95, None)
    assert g["kinematic_fidelity_rel"].value == pytest.approx(0.9 / 0.95)
    assert not g["activation_fidelity_rel"].available
    assert not g["gap_rel"].available and "ceiling" in g["gap_rel"].reason
    assert g["gap"].available
    none = redundancy_gap(KIN, {"soleus": float("nan")})
    assert not none["activation_fidelity"].available and not none["gap"].available
    assert "no muscles r available" in none["gap"].reason


def test_redundancy_gap_accepts_metrics_and_tree() -> None:
    tree = {
        "kinematics": {"right": {j: {"r": Metric(v, "1", ceiling=KIN_C[j])} for j, v in KIN.items()}},
        "emg": {"right": {m: {"r": Metric(v, "1", ceiling=ACT_C[m])} for m, v in ACT.items()}},
    }
    args = inputs_from_tree(tree, "right")
    g = redundancy_gap(*args)
    assert g["gap_rel"].value == pytest.approx(2.7 / 2.8 - 0.8 / 1.2)


def test_gap_table() -> None:
    t = gap_table(KIN, ACT, KIN_C, ACT_C)
    assert list(t.columns) == ["name", "kind", "r", "ceiling", "relative"]
    assert len(t) == 6 and (t.kind == "joint").sum() == 3
    row = t[t.name == "rectus_femoris"].iloc[0]
    assert row.relative == pytest.approx(0.5)
    assert math.isnan(t[t.name == "tibialis_anterior"].iloc[0].relative)
