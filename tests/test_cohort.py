"""Cohort validation on Dask (issue 17 §1): inputs from paths, folders, globs and manifests; a bad input is an error
row; a rerun resumes; a worker that dies is retried; the cohort table and PDF.

The orchestration tests use small stand-in tasks on a real ``distributed.LocalCluster`` (the scheduling, retries and
resume are Dask's and mmbio's, not the task's); the end-to-end test validates real Schreiber trials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mmbio.cohort import OPTIONS_FILE, CohortItem, cohort_items, is_cohort, run_cohort
from mmbio.errors import MmbioError

pytest.importorskip("distributed")


def test_inputs_from_paths_globs_manifests_and_folders(tmp_path: Path) -> None:
    for n in ("a.c3d", "b.c3d", "notes.txt"):
        (tmp_path / n).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.c3d").write_text("x")
    assert not is_cohort([str(tmp_path / "a.c3d")]) and is_cohort([str(tmp_path / "a.c3d"), str(tmp_path / "b.c3d")])
    items, training = cohort_items([str(tmp_path)])  # a folder: its trial files, sorted; .txt ignored
    assert [i.name for i in items] == ["a", "b"] and not training
    items, _ = cohort_items([str(tmp_path / "**" / "a.c3d")])  # a glob; equal stems get distinct folders
    assert [i.name for i in items] == ["a", "a-2"]
    m = tmp_path / "cohort.csv"
    m.write_text("input,mass,static,name\na.c3d,67,st.c3d,s1\nsub/a.c3d,,,\n")
    items, _ = cohort_items([str(m)])
    assert items[0] == CohortItem(str(tmp_path / "a.c3d"), "s1", ("--mass", "67", "--static", str(tmp_path / "st.c3d")))
    assert items[1].name == "a" and items[1].extra == ()
    m.write_text("input,weight\na.c3d,3\n")
    with pytest.raises(MmbioError, match=r"unknown manifest column.*weight"):
        cohort_items([str(m)])
    with pytest.raises(MmbioError, match="matches no file"):
        cohort_items([str(tmp_path / "*.trc")])
    run = tmp_path / "run"
    run.mkdir()
    for u in (20, 3, 100):
        (run / f"checkpoint_{u:06d}.pkl").write_text("x")
    (run / "latest.pkl").write_text("x")
    items, training = cohort_items([str(run)])  # a training run: its checkpoints in update order
    assert training and [i.update for i in items] == [3, 20, 100]


def _ok(item: CohortItem, out: str, common: list[str]) -> dict[str, Any]:
    """Stand-in task: writes a finished output folder like mmbio validate (metrics.json + mmbio-run.json)."""
    if "bad" in item.path:
        return {"name": item.name, "input": item.path, "update": None, "status": "error", "exit": 2,
                "error": f"{item.path}: not a trial", "wall_s": 0.0, "skipped": False, "worker_pid": os.getpid(),
                "options": [*common, *item.extra]}  # fmt: skip
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "metrics.json").write_text(json.dumps({"protocol": {"passed": True}}))
    (Path(out) / "mmbio-run.json").write_text(json.dumps({"input": item.path, "finished": "now"}))
    (Path(out) / OPTIONS_FILE).write_text(json.dumps({"options": [*common, *item.extra]}))
    return {"name": item.name, "input": item.path, "update": None, "status": "pass", "exit": 0, "error": "",
            "wall_s": 0.0, "skipped": False, "worker_pid": os.getpid(), "options": [*common, *item.extra]}  # fmt: skip


def _dies_once(item: CohortItem, out: str, common: list[str]) -> dict[str, Any]:
    """Stand-in task whose worker process dies the first time it runs (a segfault, the OOM killer)."""
    marker = Path(out + ".attempted")
    if not marker.exists():
        marker.write_text("1")
        os._exit(1)
    return _ok(item, out, common)


def _always_dies(item: CohortItem, out: str, common: list[str]) -> dict[str, Any]:
    os._exit(1)


def test_bad_input_is_a_row_and_a_rerun_resumes(tmp_path: Path) -> None:
    items = [CohortItem(f"/data/t{i}.c3d", f"t{i}") for i in range(3)] + [CohortItem("/data/bad.c3d", "bad")]
    seen: list[tuple[int, int, int, int]] = []
    res = run_cohort(items, tmp_path, ["--no-pdf"], workers=2, runner=_ok, progress=lambda *a: seen.append(a))
    assert [r["status"] for r in res.rows] == ["pass", "pass", "pass", "error"]
    assert res.rows[3]["error"] == "/data/bad.c3d: not a trial"
    assert seen[-1] == (4, 1, 0, 4)  # done, could not be validated, running, total
    again = run_cohort(items, tmp_path, ["--no-pdf"], workers=2, runner=_ok)
    assert [r["skipped"] for r in again.rows] == [True, True, True, False]  # finished inputs kept, the error retried
    changed = run_cohort(items[:1], tmp_path, ["--no-pdf", "--cycles", "5"], workers=1, runner=_ok)
    assert not changed.rows[0]["skipped"]  # other options: validated again, never mixed with the old results


def test_a_worker_that_dies_is_retried_and_one_that_always_dies_is_an_error_row(tmp_path: Path) -> None:
    res = run_cohort([CohortItem("/data/x.c3d", "x")], tmp_path, [], workers=1, runner=_dies_once)
    assert res.rows[0]["status"] == "pass" and (tmp_path / "x.attempted").exists()
    res = run_cohort([CohortItem("/data/y.c3d", "y"), CohortItem("/data/z.c3d", "z")], tmp_path / "b", [],
                     workers=2, runner=lambda it, o, c: _always_dies(it, o, c) if it.name == "y" else _ok(it, o, c))  # fmt: skip
    y, z = res.rows
    assert y["status"] == "error" and "KilledWorker" in y["error"] and z["status"] == "pass"


def test_cohort_of_real_trials_end_to_end(shared: Path, tmp_path: Path) -> None:
    """Two Schreiber trials (scaled IK via the manifest's static column) and one missing file on a local cluster:
    per-input folders, cohort.csv with a row per input × metric and an error row, cohort.json, cohort.pdf; a rerun
    resumes both finished trials."""
    import pandas as pd

    from mmbio.cli import main

    trials = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[:2]
    man = tmp_path / "m.csv"
    man.write_text("input,static\n" + "".join(f"{t},{t.with_name(t.name.split('_')[0] + '_ST.c3d')}\n" for t in trials)
                   + f"{tmp_path / 'missing.c3d'},\n")  # fmt: skip
    out = tmp_path / "out"
    args = ["validate", str(man), "-r", "schwartz2008:free", "--no-spm", "--output", str(out), "--workers", "2"]
    assert main(args) == 1  # the adults fail the children's protocol; one input could not be validated
    tab = pd.read_csv(out / "cohort.csv")
    names = [t.stem for t in trials]
    assert set(tab.name) == {*names, "missing"}
    knee = tab[(tab.domain == "kinematics") & (tab.variable == "knee_flexion") & (tab.side == "right")
               & (tab.metric == "r")]  # fmt: skip
    assert len(knee) == 2 and (knee.value > 0.9).all()  # scaled-IK knees of healthy adults
    for n in names:  # the same numbers as the input's own metrics.json
        doc = json.loads((out / n / "metrics.json").read_text())
        want = doc["kinematics"]["right"]["knee_flexion"]["r"]["value"]
        assert knee[knee.name == n].value.iloc[0] == pytest.approx(want)
        assert (out / n / "report.pdf").is_file()
    err = tab[tab.name == "missing"]
    assert len(err) == 1 and err.status.iloc[0] == "error" and "no such file" in err.error.iloc[0]
    assert (out / "cohort.pdf").stat().st_size > 10_000
    rows = json.loads((out / "cohort.json").read_text())["inputs"]
    assert [r["status"] for r in rows][2] == "error"
    assert main(args) == 1
    rows = json.loads((out / "cohort.json").read_text())["inputs"]
    assert [r["skipped"] for r in rows] == [True, True, False]


def test_a_training_run_folder_gives_the_gap_over_updates(tmp_path: Path) -> None:
    """A folder of checkpoint_<update>.pkl: each validated (here an untrained MyoFullBody policy that falls, and the
    demo tracking controller standing in for a later checkpoint); the table carries the update number, the fall is a
    row with its reason, the walking checkpoint has its redundancy gap, and the PDF is written."""
    import shutil

    import pandas as pd

    jax = pytest.importorskip("jax")
    from mmbio.cli import main
    from mmbio.control.checkpoint import save_checkpoint
    from mmbio.sim.motion import synthesize_motion
    from mmbio.train.config import get_config
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.networks import init_actor_critic, make_policy_checkpoint
    from mmbio.train.ppo import normaliser_init
    from mmbio.train.vecenv import plain_obs_layout

    run = tmp_path / "run"
    run.mkdir()
    cfg = get_config("smoke", ["env.model=myofullbody", "env.lookahead_steps=1", "ppo.n_envs=1"])
    walk = synthesize_motion(speed_m_s=1.25, n_cycles=1)
    env = ImitationEnv(cfg.env, walk, n_envs=1)
    params = init_actor_critic(jax.random.key(0), env.obs_size, env.action_size, cfg.ppo)
    ckpt = make_policy_checkpoint(params, normaliser_init(env.obs_size), cfg, reference_motion=walk,
                                  metadata={"obs_layout": plain_obs_layout(env)})  # fmt: skip
    save_checkpoint(ckpt, run / "checkpoint_000010.pkl")
    shutil.copy(
        Path(__file__).resolve().parents[1] / "checkpoints" / "tracking_walk.pkl", run / "checkpoint_000020.pkl"
    )
    out = tmp_path / "out"
    args = [
        "validate",
        str(run),
        "--output",
        str(out),
        "--cycles",
        "1",
        "--no-static-opt",
        "--no-spm",
        "--workers",
        "2",
    ]
    assert main(args) == 1
    tab = pd.read_csv(out / "cohort.csv")
    assert sorted(set(tab["update"])) == [10, 20]
    fell = tab[tab["update"] == 10]
    assert len(fell) == 1 and fell.error.iloc[0].startswith("fell at")
    gap = tab[(tab["update"] == 20) & (tab.domain == "redundancy") & (tab.variable == "gap") & (tab.metric == "gap")]
    assert len(gap) >= 1 and gap.value.notna().all()
    doc = json.loads((out / "cohort.json").read_text())
    assert doc["training_run"] is True
    assert [r["status"] for r in doc["inputs"]] == ["fail", "fail"]  # a fall never passes; the demo fails credibility
    assert (out / "cohort.pdf").stat().st_size > 10_000


def test_resume_after_the_cohort_is_killed_loses_nothing(shared: Path, tmp_path: Path) -> None:
    """``mmbio validate`` of a cohort killed (SIGKILL, the whole process group: the CLI and its Dask workers) once an
    input has finished; the rerun keeps what was finished and completes the rest."""
    import signal
    import subprocess
    import sys
    import time

    trials = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[:3]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mmbio", "validate", *map(str, trials), "-r", "schwartz2008:free", "--no-spm",
           "--no-pdf", "--output", str(out), "--workers", "1"]  # fmt: skip
    from mmbio.cohort import OPTIONS_FILE

    def finished(stem: str) -> bool:  # what a resumed cohort skips: a finished manifest and the options file
        try:
            run = json.loads((out / stem / "mmbio-run.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(run.get("finished")) and (out / stem / OPTIONS_FILE).is_file()

    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and p.poll() is None:
            if any(finished(t.stem) for t in trials):
                break
            time.sleep(0.5)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    # an input killed between its metrics and its options file is validated again (not finished), as it should be
    done_before = {t.stem for t in trials if finished(t.stem)}
    assert done_before, "no input finished before the kill"
    from mmbio.cli import main

    assert main(cmd[3:]) == 1  # the adults fail the children's protocol
    rows = {r["name"]: r for r in json.loads((out / "cohort.json").read_text())["inputs"]}
    assert all(rows[n]["skipped"] for n in done_before)
    assert all(r["status"] in ("pass", "fail") for r in rows.values()) and len(rows) == 3


def test_an_existing_dask_cluster_by_address(tmp_path: Path) -> None:
    """``--scheduler ADDRESS``: the inputs run on a cluster the user started (here a LocalCluster in this process)."""
    from distributed import LocalCluster

    items = [CohortItem(f"/data/t{i}.c3d", f"t{i}") for i in range(3)]
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        res = run_cohort(items, tmp_path, [], scheduler=cluster.scheduler_address, runner=_ok)
    assert [r["status"] for r in res.rows] == ["pass"] * 3
    assert {r["worker_pid"] for r in res.rows} == {os.getpid()}  # ran in that cluster's (in-process) worker


def test_hostile_manifests_are_one_line_and_bad_row_options_are_error_rows(tmp_path: Path, monkeypatch) -> None:
    """A manifest with more fields than its header, over the row bound, or not text: one line. A row whose option
    validate refuses (mass 'nan', 'abc') is that input's error row with validate's own message, never a crash."""
    import mmbio.cohort as cohort

    m = tmp_path / "m.csv"
    m.write_text("input\na.c3d,surplus\n")
    with pytest.raises(MmbioError, match="line 2 has more fields than the header"):
        cohort_items([str(m)])
    m.write_bytes(b"input\n\xff\xfe\x00bad\n")
    with pytest.raises(MmbioError, match="cannot read the manifest"):
        cohort_items([str(m)])
    monkeypatch.setattr(cohort, "MAX_MANIFEST_ROWS", 3)
    m.write_text("input\n" + "a.c3d\n" * 4)
    with pytest.raises(MmbioError, match="4 rows; a cohort manifest holds at most 3"):
        cohort_items([str(m)])
    monkeypatch.setattr(cohort, "MAX_MANIFEST_BYTES", 10)
    with pytest.raises(MmbioError, match="split it"):
        cohort_items([str(m)])
    for mass in ("nan", "abc"):
        row = cohort.validate_one(CohortItem(str(tmp_path / "t.c3d"), "t", ("--mass", mass)), str(tmp_path / mass), [])
        assert row["status"] == "error" and row["exit"] == 2 and "--mass" in row["error"]
