"""The command line: help, bad input → one line + exit 2, validate on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmbio.cli import main


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mmbio", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_help_lists_subcommands() -> None:
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("validate", "reference", "info"):
        assert cmd in r.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["validate", "no/such/file.c3d"], "no/such/file.c3d: no such file"),
        (["info", "missing.mot"], "missing.mot: no such file"),
        (["reference", "show", "nosuchref"], "nosuchref"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmbio: error: ") and needle in lines[0], r.stderr


def test_unsupported_suffix_names_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "trial.xyz"
    f.write_text("hello")
    assert main(["validate", str(f), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "trial.xyz: unsupported trial format .xyz" in err


def test_garbage_c3d_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "broken.c3d"
    f.write_bytes(b"\x00\x01garbage" * 10)
    r = run("validate", str(f), "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "broken.c3d" in r.stderr


def test_reference_list_works_without_shared(tmp_path: Path) -> None:
    env_free = run("reference", "list", cwd=tmp_path)
    assert env_free.returncode == 0, env_free.stderr
    for name in ("schwartz2008", "rajagopal2016_walk", "hamner2013_run", "schreiber2019", "santuz2020_emg"):
        assert name in env_free.stdout


def test_validate_schreiber_c3d_writes_report(shared: Path, tmp_path: Path) -> None:
    c3d = shared / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
    out = tmp_path / "out"
    code = main(["validate", str(c3d), "--reference", "schreiber2019:c4", "--output", str(out), "--no-spm"])
    assert code in (0, 1)  # 1 = the protocol failed, which is a verdict, not an error
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["schema"] == "mmbio.metrics/1"
    g = doc["grf"]["right"]["vertical"]
    assert g["first_peak_bw"]["units"] == "BW"
    assert 1.0 < g["first_peak_bw"]["value"] < 1.3
    assert 0.5 < g["valley_bw"]["value"] < g["first_peak_bw"]["value"]
    assert 0.5 < g["stance_time_s"]["value"] < 0.8
    assert g["double_peak"]["value"] == 1.0
    assert (out / "report.pdf").stat().st_size > 10_000
    assert (out / "curves.csv").read_text().startswith("domain,side,variable")
    assert doc["protocol"]["name"] == "walking"


def test_validate_rajagopal_json_matches_readme(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = shared / "rajagopal2016_walk"
    code = main(
        [
            "validate",
            str(d / "coordinates.sto"),
            "--grf",
            str(d / "grf_walk.mot"),
            "--mass",
            "85.3",
            "--reference",
            "schwartz2008:free",
            "--output",
            str(tmp_path),
            "--format",
            "json",
            "--no-pdf",
            "--no-spm",
        ]
    )
    assert code in (0, 1)
    doc = json.loads(capsys.readouterr().out)
    g = doc["grf"]["right"]["vertical"]
    # README: right-foot peaks 1.10 and 1.13 BW, valley 0.72 BW, stance ≈ 0.757 s
    assert g["first_peak_bw"]["value"] == pytest.approx(1.10, rel=0.02)
    assert g["second_peak_bw"]["value"] == pytest.approx(1.13, rel=0.02)
    assert g["valley_bw"]["value"] == pytest.approx(0.72, rel=0.03)
    assert g["stance_time_s"]["value"] == pytest.approx(0.757, abs=0.01)
    # README trap: the IK covers 0.45-1.80 s, so no complete gait cycle of joint angles exists:
    # every joint-angle metric is explicitly not available, with the reason; nothing is invented
    knee = doc["kinematics"]["right"]["knee_flexion"]["r"]
    assert knee["value"] is None and "no complete right gait cycle" in knee["reason"]
