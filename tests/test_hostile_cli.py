"""CLI misuse, output folders, interrupts and MuJoCo's log file (issue 12, section 3).

Bad options are refused before any work with one line and exit 2; results are written as one complete set,
atomically, into a folder that holds one input's results and that one run at a time may write; Ctrl-C leaves
the previous results (validate) or saves the last update (train); names with control characters are escaped.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import time
from pathlib import Path

import pytest
from hostile import assert_bad_input, run_cli

from mmbio.cli import main
from mmbio.io.atomic import FolderLock

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "checkpoints" / "tracking_walk.pkl"


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("mmbio: error: ") and err[0].isprintable(), err
    return err[0]


def _exit(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse refusals
        return int(e.code or 0)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["validate", str(DEMO), "--seed", "-1"], "--seed: must be an integer in [0,"),
        (["validate", str(DEMO), "--seed", "1e99"], "--seed: expected an integer"),
        (["validate", str(DEMO), "--cycles", "0"], "--cycles: must be an integer in [1, 50]"),
        (["validate", str(DEMO), "--cycles", "1000000000"], "--cycles"),
        (["validate", "x.c3d", "--mass", "-70"], "--mass: must be a number in [1, 1000] kg"),
        (["validate", "x.c3d", "--mass", "0"], "--mass"),
        (["validate", "x.c3d", "--mass", "nan"], "--mass"),
        (["validate", "x.c3d", "--mass", "inf"], "--mass"),
        (["validate", "x.c3d", "--speed", "-1"], "--speed: must be a number in [0.01, 20] m/s"),
        (["validate", "x.npz", "--episode", "-1"], "--episode"),
        (["train", "--updates", "-1"], "--updates: must be an integer in [1,"),
        (["train", "--updates", "0"], "--updates"),
        (["validate"], "the following arguments are required: trial"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_options_one_line_before_any_work(argv: list[str], words: str, capsys: pytest.CaptureFixture) -> None:
    assert _exit(argv) == 2
    assert words in _one_line_error(capsys)


def test_output_is_checked_before_the_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out, words in [
        (afile, "exists and is not a folder"),
        (afile / "sub", "cannot create the output folder"),
        (Path("/proc/mmbio-x"), "pseudo-filesystem"),
    ]:
        t0 = time.perf_counter()
        assert main(["validate", str(DEMO), "--output", str(out)]) == 2
        assert words in _one_line_error(capsys)
        assert time.perf_counter() - t0 < 30  # refused before the rollout (minutes), not after
    assert afile.read_text() == "mine"


def test_a_folder_another_run_is_writing_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    with FolderLock(out):
        assert main(["validate", str(DEMO), "--output", str(out)]) == 2
    assert "another mmbio validation is writing into this folder" in _one_line_error(capsys)


@pytest.mark.shared
def test_one_input_per_folder_complete_sets_and_no_stale_files(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
    b = shared / "schreiber2019" / "2014004" / "2014004_C4_02.c3d"
    out = tmp_path / "out"
    base = ["--output", str(out), "--no-spm", "--reference", "schreiber2019:c4", "--protocol", "none"]
    assert main(["validate", str(a), *base]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "curves.csv",
        "metrics.json",
        "mmbio-run.json",
        "report.pdf",
    ]
    record = json.loads((out / "mmbio-run.json").read_text())
    assert record["input"] == str(a.resolve()) and record["files"] == ["metrics.json", "curves.csv", "report.pdf"]
    capsys.readouterr()
    # another trial into the same folder: refused before the work, the first trial's results untouched
    before = (out / "metrics.json").read_bytes()
    assert main(["validate", str(b), *base]) == 2
    assert "holds the results of another input" in _one_line_error(capsys)
    assert (out / "metrics.json").read_bytes() == before
    # the same trial again with --no-pdf: the stale report.pdf goes, the record lists what is there
    assert main(["validate", str(a), *base, "--no-pdf"]) == 0
    assert not (out / "report.pdf").exists()
    assert json.loads((out / "mmbio-run.json").read_text())["files"] == ["metrics.json", "curves.csv"]
    # --overwrite lets the other trial take the folder
    assert main(["validate", str(b), *base, "--no-pdf", "--overwrite"]) == 0
    assert json.loads((out / "mmbio-run.json").read_text())["input"] == str(b.resolve())
    assert not list(out.glob(".*mmbio-tmp"))  # no temporary file left behind
    # results of an older mmbio (no record) are not clobbered silently
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text("{}")
    assert main(["validate", str(a), "--output", str(old), "--no-pdf"]) == 2
    assert "already holds metrics.json" in _one_line_error(capsys)


@pytest.mark.shared
def test_a_failing_write_leaves_the_previous_set(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk while the PDF is written: exit 2 naming the file, the previous results intact, no temp files."""
    import mmbio.report.pdf as pdf

    a = shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
    out = tmp_path / "out"
    base = ["validate", str(a), "--output", str(out), "--no-spm", "--reference", "schreiber2019:c4"]
    assert main([*base, "--no-pdf"]) == 1 or (out / "metrics.json").is_file()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}

    class _Full:
        def __init__(self, path: object, **kw: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pdf, "PdfPages", _Full)
    capsys.readouterr()
    assert main(base) == 2
    line = _one_line_error(capsys)
    assert "report.pdf" in line and "No space left on device" in line
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert after == before
    assert not list(out.glob(".*mmbio-tmp"))


@pytest.mark.shared
def test_ctrl_c_during_validate(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mmbio.analysis.validate as v

    def interrupt(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(v, "validate", interrupt)
    out = tmp_path / "new"
    a = shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
    assert main(["validate", str(a), "--output", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mmbio: interrupted; no results were written for this run"]
    assert not out.exists()  # the folder this run created is removed again


def test_names_with_control_characters_are_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "two\nlines\x1b[2J.c3d"
    bad.write_bytes(b"not a c3d")
    res = run_cli(["info", str(bad)], tmp_path)
    assert_bad_input(res)
    assert "\\n" in res.stderr and "\\x1b" in res.stderr and "\x1b" not in res.stderr


def test_input_folder_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "checkpoint_5"
    run.mkdir()
    assert main(["validate", str(run), "--output", str(tmp_path / "o")]) == 2
    assert "is a folder; mmbio takes a trial file" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_mujoco_warnings_do_not_write_a_log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A diverging model: MuJoCo's warning is kept for the run's notes, no MUJOCO_LOG.TXT in the working folder."""
    import mujoco

    from mmbio.models import load_model
    from mmbio.models.mujoco_warnings import drain

    monkeypatch.chdir(tmp_path)
    info = load_model("bimanual")
    data = info.make_data()
    data.qpos[0] = math.nan
    drain()
    mujoco.mj_step(info.model, data)
    assert any("unstable" in w or "Nan" in w for w in drain())
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


# ------------------------------------------------------------------------------------------------- training

jax = pytest.importorskip("jax")


@pytest.fixture(scope="module")
def toy_env():
    from mmbio.train.toy_env import PointMassTrackingEnv

    return PointMassTrackingEnv(n_envs=16)


OVR = ["ppo.n_envs=16", "ppo.n_steps=16", "ppo.n_minibatches=2", "checkpoint_every=100", "log_every=1"]


def test_train_refusals_before_anything_is_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nothing = tmp_path / "nothing"
    assert main(["train", "--config", "smoke", "--resume", "--output", str(nothing)]) == 2
    assert "nothing to resume from" in _one_line_error(capsys)
    assert not nothing.exists()  # no empty folder left behind
    run = tmp_path / "run"
    run.mkdir()
    (run / "latest.pkl").write_bytes(b"x")
    assert main(["train", "--config", "smoke", "--output", str(run)]) == 2
    assert "already holds a training run" in _one_line_error(capsys)
    assert (run / "latest.pkl").read_bytes() == b"x"
    assert main(["train", "--config", "smoke", "checkpoint_every=0", "--output", str(tmp_path / "z")]) == 2
    assert "checkpoint_every=0" in _one_line_error(capsys)
    assert not (tmp_path / "z").exists()


def test_ctrl_c_saves_the_last_update_and_resume_continues(
    tmp_path: Path, toy_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmbio.control.checkpoint import load_checkpoint
    from mmbio.errors import Interrupted, MmbioError
    from mmbio.train import driver
    from mmbio.train.config import get_config

    cfg = get_config("smoke", OVR)
    real = driver.make_trainer
    calls = {"n": 0}

    def make(cfg: object, env: object) -> object:
        trainer = real(cfg, env)
        run = trainer.run

        def interrupting(state: object, n: int) -> object:
            calls["n"] += 1
            if calls["n"] == 4:  # Ctrl-C while the 4th update runs
                raise KeyboardInterrupt
            return run(state, n)

        return dataclasses.replace(trainer, run=interrupting)

    monkeypatch.setattr(driver, "make_trainer", make)
    (tmp_path / ".latest.pkl.dead.mmbio-tmp").write_bytes(b"torn")  # left by a kill -9
    with pytest.raises(Interrupted, match=r"progress saved in .*latest.pkl at update 3 of 10"):
        driver.train(cfg, toy_env, tmp_path, n_updates=10, log=None)
    assert not (tmp_path / ".latest.pkl.dead.mmbio-tmp").exists()
    assert load_checkpoint(tmp_path / "latest.pkl").metadata["training_state"]["update"] == 3
    monkeypatch.setattr(driver, "make_trainer", real)
    res = driver.train(cfg, toy_env, tmp_path, n_updates=5, resume=True, log=None)
    assert int(res.state.update) == 5
    with pytest.raises(MmbioError, match="at update 5 already"):
        driver.train(cfg, toy_env, tmp_path, n_updates=5, resume=True, log=None)


@pytest.mark.shared
def test_concurrent_runs_into_one_folder(shared: Path, tmp_path: Path) -> None:
    """Four runs at once into one folder: each exits 0 or is refused (exit 2, the lock named); the folder ends with
    one complete, readable set (the issue saw a corrupted report.pdf with every run exiting 0)."""
    from concurrent.futures import ThreadPoolExecutor

    a = shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
    out = tmp_path / "shared-out"
    argv = ["validate", str(a), "--output", str(out), "--no-spm", "--reference", "schreiber2019:c4"]
    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(lambda _: run_cli(argv, tmp_path), range(4)))
    codes = sorted(r.rc for r in results)
    assert set(codes) <= {0, 2} and 0 in codes, [r.describe() for r in results]
    for r in results:
        if r.rc == 2:
            assert_bad_input(r, mentions="another mmbio validation is writing into this folder")
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    json.loads((out / "metrics.json").read_text())
    assert json.loads((out / "mmbio-run.json").read_text())["files"] == ["metrics.json", "curves.csv", "report.pdf"]
    assert not list(out.glob(".*mmbio-tmp"))


def test_a_refused_run_leaves_the_winners_folder_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race CI hit: run B makes the folder, run A locks it first, B is refused. B must not remove the folder
    (with A's lock file) it made, or A's results have nowhere to go ("cannot write the results: No such file")."""
    from mmbio.report import output_dir
    from mmbio.report.output_dir import OutputDir

    out = tmp_path / "raced"
    held: list[FolderLock] = []
    real_acquire = FolderLock.acquire

    def a_wins_then_b_asks(self: FolderLock) -> FolderLock:
        if not held:  # A takes the lock between B's mkdir and B's lock
            held.append(real_acquire(FolderLock(self.folder, "validation")))
        return real_acquire(self)

    monkeypatch.setattr(output_dir.FolderLock, "acquire", a_wins_then_b_asks)
    b = OutputDir(out, source=str(tmp_path / "b.c3d"), command="validate")
    with pytest.raises(output_dir.OutputError, match="another mmbio validation is writing into this folder"):
        b.open()
    assert b._created and out.is_dir() and (out / ".mmbio.lock").is_file()
    monkeypatch.setattr(output_dir.FolderLock, "acquire", real_acquire)
    held[0].release()
    # A's own run, and a failed run that made its folder still cleans up under its own lock
    with OutputDir(out, source=str(tmp_path / "a.c3d"), command="validate") as a:
        a.stage("metrics.json").write_text("{}")
        a.commit()
    assert json.loads((out / "metrics.json").read_text()) == {}
    fresh = tmp_path / "made-then-failed"
    with pytest.raises(RuntimeError), OutputDir(fresh, source="x", command="validate"):
        raise RuntimeError("bad input found after the folder was made")
    assert not fresh.exists()


def test_a_lock_file_removed_under_a_waiting_run_is_not_trusted(tmp_path: Path) -> None:
    """A lock on a lock file that was unlinked meanwhile guards nothing: acquire opens the path again."""
    import os

    first = FolderLock(tmp_path).acquire()
    os.unlink(tmp_path / ".mmbio.lock")  # as a failed run's clean-up does, still holding its lock
    second = FolderLock(tmp_path).acquire()  # a fresh file: no conflict, and it is the file at the path now
    assert second._fd is not None and os.fstat(second._fd).st_ino == os.stat(tmp_path / ".mmbio.lock").st_ino
    first.release()
    second.release()


def test_a_refused_training_run_leaves_the_winners_run_folder(tmp_path: Path) -> None:
    """The training side of the same race: the folder this run made is locked by another run, so its clean-up
    keeps it (and the other run's lock file); unlocked and empty, it goes."""
    from mmbio.train.driver import check_run_dir, remove_if_empty

    out = tmp_path / "run"
    assert check_run_dir(out, resume=False) is True
    assert check_run_dir(out, resume=False) is False  # made a moment ago by another run: not ours to remove
    other = FolderLock(out, "training run").acquire()
    remove_if_empty(out)
    assert (out / ".mmbio.lock").is_file()
    other.release()
    remove_if_empty(out)
    assert not out.exists()
