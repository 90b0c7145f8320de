"""Several episodes validated together: pooled cycles (none spanning two episodes), per-episode metrics, spread.

The episodes are windows of the periodic simulated trial (tests/periodic_trial.py: right heel strikes every 1.1 s
from 0, left half a cycle later), so the cycle counts are known: a window [0, 5.7] s holds 5 right cycles, [0, 2.5] s
2, [1.0, 4.0] s 2 (1.1–2.2, 2.2–3.3). A cycle across the gap between two episodes would add one.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from periodic_trial import periodic_trial

from mmbio.analysis.episodes import GAP_S, episode_spread, flat_metrics, pool_trials, validate_episodes
from mmbio.analysis.validate import validate
from mmbio.errors import MmbioError
from mmbio.io.rollout_npz import EpisodeInfo
from mmbio.report.episodes_figure import episodes_figure
from mmbio.trial import Events, Trial

REF = "schwartz2008:free"


def window(trial: Trial, t0: float, t1: float) -> Trial:
    """The part of ``trial`` in [t0, t1] s (events inside it)."""
    ev = trial.events

    def inside(x: np.ndarray) -> np.ndarray:
        return x[(x >= t0) & (x <= t1)]

    hs = {s: inside(ev.heel_strike[s]) for s in "rl"}
    to = {s: inside(ev.toe_off[s]) for s in "rl"}
    return trial.replace(
        angles=trial.angles.window(t0, t1),
        activations=trial.activations.window(t0, t1),
        events=Events(hs, to, ev.source),
        notes=[],
    )


@pytest.fixture(scope="module")
def parts() -> list[Trial]:
    full = periodic_trial()
    return [window(full, 0.0, 5.7), window(full, 0.0, 2.5), window(full, 1.0, 4.0)]


def n_cycles(result, side: str = "right") -> int:
    return max(c.trial_cycles.shape[0] for c in result.curves if c.domain == "kinematics" and c.side == side)


def test_pooled_cycles_are_the_episodes_cycles(parts) -> None:
    alone = [n_cycles(validate(p, REF, spm=False)) for p in parts]
    assert alone == [5, 2, 2]
    pooled = pool_trials(parts, ["a", "b", "c"])
    res = validate(pooled, REF, spm=False)
    assert n_cycles(res) == 9  # no cycle spans two episodes
    # identical strides pool to the same mean curve as one episode
    one = validate(parts[0], REF, spm=False)
    assert res.get("kinematics.right.knee_flexion.r").value == pytest.approx(
        one.get("kinematics.right.knee_flexion.r").value, abs=1e-9
    )
    spans = pooled.subject.extra["episodes"]
    assert [e["label"] for e in spans] == ["a", "b", "c"]
    assert spans[1]["t0_s"] == pytest.approx(spans[0]["t1_s"] + GAP_S)
    assert spans[2]["t1_s"] - spans[2]["t0_s"] == pytest.approx(3.0)
    assert pooled.notes[0].startswith("3 episodes pooled end to end")


def test_pool_refusals(parts) -> None:
    heavy = parts[1].replace(subject=parts[1].subject.__class__(mass_kg=80.0))
    with pytest.raises(MmbioError, match="different body masses"):
        pool_trials([parts[0], heavy])
    with pytest.raises(MmbioError, match="mix kinds"):
        pool_trials([parts[0], parts[1].replace(kind="measured")])
    with pytest.raises(MmbioError, match="activations present in some episodes only"):
        pool_trials([parts[0], parts[1].replace(activations=None)])
    with pytest.raises(MmbioError, match="2 labels for 3 trials"):
        pool_trials(parts, ["a", "b"])


def test_per_episode_metrics_and_spread(parts, tmp_path: Path) -> None:
    pooled = validate(pool_trials(parts), REF, protocol="walking", spm=False)
    infos = [EpisodeInfo(i, 10 + i, 100, 120 if i == 1 else 100) for i in range(3)]
    rows = validate_episodes(pooled, list(zip(infos, parts, strict=True)), REF, protocol="walking")
    ep = pooled.episodes
    assert ep["count"] == 3 and ep["pooled_cycles"]["right"] == 9
    assert [e["cycles"]["right"] for e in ep["episodes"]] == [5, 2, 2]
    assert [e["complete"] for e in ep["episodes"]] == [True, False, True]
    r_knee = [row["kinematics.right.knee_flexion.r"][0] for row in rows]
    spread = ep["spread"]["kinematics.right.knee_flexion.r"]
    assert spread["n"] == 3 and spread["mean"] == pytest.approx(np.mean(r_knee))
    assert spread["sd"] == pytest.approx(np.std(r_knee, ddof=1))
    assert "grf.right.vertical.r" not in ep["episodes"][0]["key"]  # no GRF in these trials: not a key number
    json.dumps(pooled.to_json_dict(), allow_nan=False)  # metrics.json stays strict JSON
    # a metric that is n/a in every episode has no spread; one value has no SD
    assert episode_spread([{"x": (np.nan, "1")}, {"x": (np.nan, "1")}]) == {}
    assert episode_spread([{"x": (0.5, "1")}])["x"]["sd"] is None
    fig = episodes_figure(pooled)
    assert "3 episodes validated together" in [t.get_text() for t in fig.texts]


def test_flat_metrics_keys(parts) -> None:
    flat = flat_metrics(validate(parts[1], REF, spm=False).metrics)
    v, u = flat["kinematics.right.knee_flexion.rmse"]
    assert u == "deg" and v == pytest.approx(0.0, abs=0.05)  # the reference mean curve, resampled


def test_cli_validate_all_episodes(tmp_path: Path) -> None:
    """``--episode all`` on an mm-evalkit archive: pooled outputs, episodes.csv, the spread in metrics.json."""
    from test_rollout_npz import evalkit_arrays, evalkit_walk, write

    from mmbio.cli import main

    walk = evalkit_walk()
    n = walk[0].n_frames
    p = write(tmp_path / "three.npz", evalkit_arrays(walk, "post_step", [(n, n), (n, n), (120, n)]))
    out = tmp_path / "out"
    args = ["validate", str(p), "--episode", "all", "--reference", REF, "--no-pdf", "--no-spm", "--output", str(out)]
    assert main(args) in (0, 1)
    doc = json.loads((out / "metrics.json").read_text())
    ep = doc["episodes"]
    assert ep["count"] == 3 and [e["episode"] for e in ep["episodes"]] == [0, 1, 2]
    per = [e["cycles"]["right"] for e in ep["episodes"]]
    assert ep["pooled_cycles"]["right"] == sum(per) and per[2] < per[0] == per[1]  # episode 2 stops early
    with (out / "episodes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["episode"] for r in rows} == {"0", "1", "2"}
    knee = [float(r["value"]) for r in rows if r["metric"] == "kinematics.right.knee_flexion.r" and r["value"]]
    assert ep["spread"]["kinematics.right.knee_flexion.r"]["n"] == len(knee) == 2  # an n/a episode is not counted
    assert ep["spread"]["kinematics.right.knee_flexion.r"]["mean"] == pytest.approx(np.mean(knee), abs=1e-5)
    with pytest.raises(SystemExit) as e:  # --episode takes an index or 'all'
        main([*args[:3], "nope", *args[4:]])
    assert e.value.code == 2


def test_motion_lists(tmp_path: Path) -> None:
    from mmbio.io.motion_lists import motion_identity, motion_list

    m = motion_list("GAIT120_TESTING_SUBJECTS")  # subjects 51-60 and 111-120, trials 1-5, subjects outer
    assert len(m) == 100
    assert motion_identity(m[7]) == ("S052", 3)  # (52 - 51) * 5 + (3 - 1)
    assert m[99].startswith("Gait120_EMG/Gait120_111_to_120/S120/") and motion_identity(m[99]) == ("S120", 5)
    assert [motion_identity(x) for x in motion_list("GAIT120_TESTING")[:2]] == [("S051", 5), ("S052", 5)]
    f = tmp_path / "list.txt"
    f.write_text("# my motions\nKIT/S007/walk/Trial02/a\n\nother/path\n")
    assert [motion_identity(x) for x in motion_list(str(f))] == [("S007", 2), (None, None)]
    with pytest.raises(MmbioError, match="neither a file nor a known motion set"):
        motion_list("GAIT999")


def test_episodes_labelled_by_motion_list(parts) -> None:
    pooled = validate(pool_trials(parts[:2]), REF, spm=False)
    infos = [EpisodeInfo(0, 7, 100, 100), EpisodeInfo(1, 9, 100, 100)]
    motions = [f"set/S{i:03d}/Trial{1 + i % 2:02d}" for i in range(10)]
    validate_episodes(pooled, list(zip(infos, parts[:2], strict=True)), REF, motions=motions)
    eps = pooled.episodes["episodes"]
    assert [(e["subject"], e["trial"]) for e in eps] == [("S007", 2), ("S009", 2)]
    assert pooled.episodes["subjects"] == {"S007": [0], "S009": [1]}
    with pytest.raises(MmbioError, match="episode 0: traj_id 7 is outside the motion list"):
        validate_episodes(pooled, list(zip(infos, parts[:2], strict=True)), REF, motions=motions[:5])
