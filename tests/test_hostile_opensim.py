"""Hostile-input matrix for the OpenSim text readers and the YAML protocol loader.

Every bad file is generated here (from a synthetic gait trial, or from the real Hamner files where marked
``shared``) and run through the ``mmbio`` CLI in a child process under memory, CPU and time caps
(:mod:`tests.hostile`): the promise is exit 2, one line naming the file and the problem, no traceback, no result.
Cheaper variations of the same classes run in-process below the CLI matrix.
"""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hostile import assert_bad_input, run_cli

from mmbio.errors import DataFileError
from mmbio.io.opensim import (
    read_opensim_grf,
    read_opensim_trial,
    read_storage,
    read_trc,
    write_storage,
)
from mmbio.io.opensim_table import BLOCK_BYTES
from mmbio.io.yaml_safe import load_yaml, loads_yaml
from mmbio.report.protocol import load_protocol, parse_protocol

# --------------------------------------------------------------------------------------------------
# a synthetic walking trial: coordinates (deg, 100 Hz), GRF per foot (500 Hz), EMG, activations
# --------------------------------------------------------------------------------------------------

STRIDE, STANCE = 1.1, 0.66


def _stance(t: np.ndarray, starts: np.ndarray) -> np.ndarray:
    tau = (t[:, None] - starts[None, :]) / STANCE
    f = 700 * (1.2 * np.sin(np.pi * tau) - 0.2 * np.sin(3 * np.pi * tau))
    return np.where((tau >= 0) & (tau <= 1), f, 0.0).sum(axis=1)


def gait(d: Path) -> dict[str, Path]:
    """kin.mot, grf.mot, emg.sto, act.sto of ≈ 3 strides of symmetric walking; validates cleanly via the CLI."""
    t = np.round(np.arange(0.0, 3.6, 0.01), 6)
    ph = (t % STRIDE) / STRIDE
    knee = 5 + 15 * np.exp(-(((ph - 0.15) / 0.07) ** 2)) + 60 * np.exp(-(((ph - 0.72) / 0.1) ** 2))
    hip = 30 * np.cos(2 * np.pi * ph)
    ankle = 10 * np.sin(2 * np.pi * ph)
    half = int(STRIDE / 2 / 0.01)
    kin = pd.DataFrame(
        {
            "time": t,
            "pelvis_tilt": -10 + 2 * np.sin(4 * np.pi * ph),
            "pelvis_tx": 1.2 * t,
            "hip_flexion_r": hip,
            "knee_angle_r": knee,
            "ankle_angle_r": ankle,
            "hip_flexion_l": np.roll(hip, half),
            "knee_angle_l": np.roll(knee, half),
            "ankle_angle_l": np.roll(ankle, half),
        }
    )
    tg = np.round(np.arange(0.0, 3.6, 0.002), 6)
    hs_r = np.arange(0.2, 3.6, STRIDE)
    fr, fl = _stance(tg, hs_r), _stance(tg, hs_r + STRIDE / 2)
    cols = {"time": tg}
    for s, f, z in (("r", fr, 0.1), ("l", fl, -0.1)):
        cols |= {f"ground_force_{s}_vx": 0.1 * f, f"ground_force_{s}_vy": f, f"ground_force_{s}_vz": 0 * f}
        cols |= {f"ground_force_{s}_px": 0.3 + 0 * f, f"ground_force_{s}_py": 0 * f, f"ground_force_{s}_pz": z + 0 * f}
        cols[f"ground_torque_{s}_y"] = 0 * f
    emg = pd.DataFrame({"time": tg, "soleus": fr / fr.max(), "tibialis_anterior": fl / fl.max()})
    act = pd.DataFrame({"time": tg, "soleus_r": fr / fr.max(), "tibialis_anterior_r": fl / fl.max()})
    return {
        "kin": write_storage(d / "kin.mot", kin, in_degrees=True, name="kin"),
        "grf": write_storage(d / "grf.mot", pd.DataFrame(cols), in_degrees=False, name="grf"),
        "emg": write_storage(d / "emg.sto", emg, in_degrees=False, name="emg"),
        "act": write_storage(d / "act.sto", act, in_degrees=False, name="act"),
    }


def edit(src: Path, dst: Path, fn: Callable[[list[str]], list[str]]) -> Path:
    """``dst`` = ``src`` with its lines (header, names, rows; without line ends) passed through ``fn``."""
    dst.write_text("\n".join(fn(src.read_text().splitlines())) + "\n", encoding="utf-8", newline="\n")
    return dst


def body(lines: list[str]) -> int:
    """Index of the first data row."""
    return lines.index("endheader") + 2


def set_cell(lines: list[str], row: int, column: str, value: str) -> list[str]:
    """Data row ``row`` (0-based), cell ``column``, replaced by the text ``value``."""
    i0 = body(lines)
    j = lines[i0 - 1].split("\t").index(column)
    cells = lines[i0 + row].split("\t")
    cells[j] = value
    lines[i0 + row] = "\t".join(cells)
    return lines


def map_column(lines: list[str], column: str, fn: Callable[[float], float]) -> list[str]:
    i0 = body(lines)
    j = lines[i0 - 1].split("\t").index(column)
    for i in range(i0, len(lines)):
        cells = lines[i].split("\t")
        cells[j] = repr(fn(float(cells[j])))
        lines[i] = "\t".join(cells)
    return lines


def validate(tmp_path: Path, kin: Path, *extra: str, env: dict[str, str] | None = None):
    argv = ["validate", str(kin), *extra, "--mass", "72.7", "--output", str(tmp_path / "out"), "--no-spm", "--no-pdf"]
    return run_cli(argv, cwd=tmp_path, env=env)


@pytest.fixture
def trial(tmp_path: Path) -> dict[str, Path]:
    return gait(tmp_path)


ROT = ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l", "ankle_angle_l")

# --------------------------------------------------------------------------------------------------
# the CLI matrix (each case is one child process)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "inf", "1e308"])
def test_non_finite_or_absurd_joint_angle_is_refused_with_column_and_time(tmp_path, trial, bad: str) -> None:
    mot = edit(trial["kin"], tmp_path / "bad.mot", lambda ls: set_cell(ls, 150, "knee_angle_r", bad))
    res = validate(tmp_path, mot, "--grf", str(trial["grf"]))
    assert_bad_input(res, names=mot.name, mentions="knee_angle_r")
    assert "t = 1.5 s" in res.stderr


def test_radians_in_a_degree_file_are_refused_with_the_header_fix(tmp_path, trial) -> None:
    def to_rad(ls: list[str]) -> list[str]:
        for c in (*ROT, "pelvis_tilt"):
            ls = map_column(ls, c, math.radians)
        return ls

    mot = edit(trial["kin"], tmp_path / "rad.mot", to_rad)
    assert "inDegrees=yes" in mot.read_text()
    res = validate(tmp_path, mot, "--grf", str(trial["grf"]))
    assert_bad_input(res, names=mot.name, mentions="set inDegrees=no")


def test_degrees_in_a_radian_file_are_refused_with_the_header_fix(tmp_path, trial) -> None:
    mot = edit(
        trial["kin"], tmp_path / "deg.mot", lambda ls: [ln.replace("inDegrees=yes", "inDegrees=no") for ln in ls]
    )
    res = validate(tmp_path, mot, "--grf", str(trial["grf"]))
    assert_bad_input(res, names=mot.name, mentions="set inDegrees=yes")


def test_time_in_milliseconds_is_refused(tmp_path, trial) -> None:
    mot = edit(trial["kin"], tmp_path / "ms.mot", lambda ls: map_column(ls, "time", lambda x: round(1000 * x, 6)))
    res = validate(tmp_path, mot)
    assert_bad_input(res, names=mot.name, mentions="milliseconds")


@pytest.mark.parametrize(("key", "flag"), [("grf", "--grf"), ("emg", "--emg")])
def test_a_file_shifted_in_time_by_1000_s_is_refused(tmp_path, trial, key: str, flag: str) -> None:
    f = trial[key]
    shifted = edit(f, tmp_path / f"shifted{f.suffix}", lambda ls: map_column(ls, "time", lambda x: x + 1000.0))
    args = [flag, str(shifted)] + (["--grf", str(trial["grf"])] if key != "grf" else [])
    res = validate(tmp_path, trial["kin"], *args)
    assert_bad_input(res, names=shifted.name, mentions="do not overlap")


def test_nan_force_is_refused(tmp_path, trial) -> None:
    grf = edit(trial["grf"], tmp_path / "nan_grf.mot", lambda ls: set_cell(ls, 400, "ground_force_r_vy", "NaN"))
    res = validate(tmp_path, trial["kin"], "--grf", str(grf))
    assert_bad_input(res, names=grf.name, mentions="ground_force_r_vy")


def test_activations_in_percent_are_refused(tmp_path, trial) -> None:
    act = edit(trial["act"], tmp_path / "pct.sto", lambda ls: map_column(ls, "soleus_r", lambda x: 100 * x))
    res = validate(tmp_path, trial["kin"], "--grf", str(trial["grf"]), "--activations", str(act))
    assert_bad_input(res, names=act.name, mentions="activation")


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path, trial) -> None:
    big = edit(trial["kin"], tmp_path / "big.mot", lambda ls: [*ls, "# padding " + "x" * 1_500_000])
    res = validate(tmp_path, big, env={"MMBIO_MAX_TEXT_MB": "1"})
    assert_bad_input(res, names=big.name, mentions="MMBIO_MAX_TEXT_MB")


def test_header_that_never_ends_is_refused(tmp_path) -> None:
    f = tmp_path / "endless.mot"
    f.write_text("endless\n" + "version=1\n" * 200_000, encoding="utf-8")
    assert_bad_input(validate(tmp_path, f), names=f.name, mentions="endheader")


def test_binary_garbage_is_refused(tmp_path) -> None:
    f = tmp_path / "garbage.mot"
    f.write_bytes(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    assert_bad_input(validate(tmp_path, f), names=f.name, mentions="binary")


def test_non_utf8_bytes_in_a_cell_are_refused(tmp_path, trial) -> None:
    f = tmp_path / "latin.mot"
    raw = trial["kin"].read_bytes()
    i = raw.index(b"\n", raw.index(b"endheader") + 40) + 1  # start of the 2nd data row
    f.write_bytes(raw[:i] + b"\xff\xfe" + raw[i + 1 :])
    assert_bad_input(validate(tmp_path, f), names=f.name, mentions="non-numeric")


@pytest.mark.parametrize(
    ("case", "needle"),
    [("short_row", "expected 9"), ("every_row_one_more", "more values")],
)
def test_ragged_rows_are_refused(tmp_path, trial, case: str, needle: str) -> None:
    def rag(ls: list[str]) -> list[str]:
        i0 = body(ls)
        if case == "short_row":
            ls[i0 + 200] = ls[i0 + 200].rsplit("\t", 1)[0]
        else:  # pandas would take the first column as an index and shift every value: a silently wrong table
            ls[i0:] = [ln + "\t0" for ln in ls[i0:]]
        return ls

    mot = edit(trial["kin"], tmp_path / f"{case}.mot", rag)
    assert_bad_input(validate(tmp_path, mot), names=mot.name, mentions=needle)


def test_duplicate_column_names_are_refused(tmp_path, trial) -> None:
    mot = edit(
        trial["kin"], tmp_path / "dup.mot", lambda ls: [ln.replace("ankle_angle_l", "knee_angle_r") for ln in ls]
    )
    assert_bad_input(validate(tmp_path, mot), names=mot.name, mentions="duplicate column names: knee_angle_r")


def test_time_that_goes_backwards_is_refused(tmp_path, trial) -> None:
    def swap(ls: list[str]) -> list[str]:  # (a repeated time: in-process below)
        i = body(ls) + 100
        ls[i], ls[i + 1] = ls[i + 1], ls[i]
        return ls

    mot = edit(trial["kin"], tmp_path / "backwards.mot", swap)
    assert_bad_input(validate(tmp_path, mot), names=mot.name, mentions="strictly increasing at data row")


def test_a_single_row_is_refused(tmp_path, trial) -> None:
    mot = edit(
        trial["kin"], tmp_path / "one.mot", lambda ls: [ln.replace("nRows=360", "nRows=1") for ln in ls[: body(ls) + 1]]
    )
    assert_bad_input(validate(tmp_path, mot), names=mot.name, mentions="only one data row")


def test_escape_codes_in_a_column_name_are_refused_and_not_echoed(tmp_path, trial) -> None:
    mot = edit(
        trial["kin"], tmp_path / "esc.mot", lambda ls: [ln.replace("\tpelvis_tx", "\tpelvis_tx\x1b[2J") for ln in ls]
    )
    res = validate(tmp_path, mot)
    assert_bad_input(res, names=mot.name, mentions="control characters")
    assert "\x1b" not in res.stderr and "\x1b" not in res.stdout


def test_too_many_columns_are_refused(tmp_path) -> None:
    f = tmp_path / "wide.mot"
    names = "\t".join(f"c{j}" for j in range(30_000))
    f.write_text(f"wide\nendheader\ntime\t{names}\n", encoding="utf-8")
    assert_bad_input(validate(tmp_path, f), names=f.name, mentions="column names, above")


BOMB = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    + ["name: bomb", "reference: schwartz2008:free", "description: *a8", "checks:"]
    + ["  - metric: kinematics.*.knee_flexion.r", "    pass: {op: '>=', value: 0.9}", ""]
)
CHECK = "checks:\n  - metric: kinematics.*.knee_flexion.r\n    pass: {op: '>=', value: 0.9}\n"


@pytest.mark.parametrize(
    ("case", "text", "needle"),
    [
        ("bomb", BOMB, "MMBIO_MAX_YAML_NODES"),
        ("deep", "name: deep\nvariables: {x: " + "[" * 5000 + "]" * 5000 + "}\n" + CHECK, "nesting deeper than"),
        ("nan", CHECK.replace("0.9", ".nan"), "check 1 (kinematics.*.knee_flexion.r) pass: value must be a finite"),
        ("type", CHECK + "    required: 'no'\n", "'required' must be true or false"),
        ("dupkey", CHECK + "    pass: {op: '>=', value: 0.1}\n", "duplicate key 'pass'"),
    ],
)
def test_hostile_protocol_yaml_is_one_line(tmp_path, trial, case: str, text: str, needle: str) -> None:
    p = tmp_path / f"{case}.yaml"
    p.write_text(text, encoding="utf-8")
    assert len(BOMB) < 700
    res = validate(tmp_path, trial["kin"], "--grf", str(trial["grf"]), "--protocol", str(p))
    assert_bad_input(res, names=p.name, mentions=needle)


HAMNER = ("hamner2013_run", "subject01")


@pytest.mark.shared
@pytest.mark.parametrize("case", ["nan_knee", "radians_as_degrees"])
def test_real_hamner_file_made_bad_is_refused(shared: Path, tmp_path: Path, case: str) -> None:
    src = shared.joinpath(*HAMNER)
    ik, grf = src / "Run_3_ik.mot", src / "Run_3_grf.mot"
    if case == "nan_knee":  # inside the analysed cycles: it used to change r from 0.9945 to 0.9954, silently
        mot = edit(ik, tmp_path / "Run_3_nan.mot", lambda ls: set_cell(ls, 150, "knee_angle_r", "nan"))
        needle = "knee_angle_r"
    else:  # SIMM header (degrees) over radian values: it used to give RMSE 55° and a FAIL without a note

        def to_rad(ls: list[str]) -> list[str]:
            names = ls[body(ls) - 1].split("\t")
            for c in names[1:]:
                if c not in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
                    ls = map_column(ls, c, math.radians)
            return ls

        mot = edit(ik, tmp_path / "Run_3_rad.mot", to_rad)
        needle = "inDegrees=no"
    res = validate(tmp_path, mot, "--grf", str(grf), "--reference", "hamner2013_run:3")
    assert_bad_input(res, names=mot.name, mentions=needle)


# --------------------------------------------------------------------------------------------------
# in-process: more of the same classes, cheaply
# --------------------------------------------------------------------------------------------------


def test_the_synthetic_trial_reads_cleanly(trial) -> None:
    tr = read_opensim_trial(trial["kin"], trial["grf"], trial["emg"], activations=trial["act"], mass_kg=70)
    assert not any("cover" in n for n in tr.notes)
    assert tr.events.heel_strike["r"].size >= 3


def test_partial_overlap_is_a_note(tmp_path, trial) -> None:
    cut = edit(
        trial["grf"],
        tmp_path / "half.mot",
        lambda ls: [ln.replace("nRows=1800", "nRows=900") for ln in ls[: body(ls) + 900]],
    )
    tr = read_opensim_trial(trial["kin"], cut, mass_kg=70)
    assert any("half.mot: the ground reaction forces cover 0–1.798 s, 50 % of the kinematics" in n for n in tr.notes)


@pytest.mark.shared
def test_real_grf_shifted_by_1000_s_is_refused(shared: Path, tmp_path: Path) -> None:
    src = shared.joinpath(*HAMNER)
    grf = edit(src / "Run_3_grf.mot", tmp_path / "g.mot", lambda ls: map_column(ls, "time", lambda x: x + 1000))
    with pytest.raises(DataFileError, match=r"g\.mot: the ground reaction forces cover 1000\.05–1004\.79 s"):
        read_opensim_trial(src / "Run_3_ik.mot", grf)


@pytest.mark.shared
def test_rajagopal_patella_columns_in_degrees_still_read(shared: Path) -> None:
    d = shared / "rajagopal2016_walk"
    tr = read_opensim_trial(d / "coordinates.sto", d / "grf_walk.mot", d / "electromyography.sto", mass_kg=85.3)
    assert sum("already in degrees" in n for n in tr.notes) == 2
    assert not any("cover" in n for n in tr.notes)  # GRF and EMG span the kinematics


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda ls: set_cell(ls, 10, "pelvis_tx", "-inf"), "'pelvis_tx': -inf"),
        (lambda ls: set_cell(ls, 3, "time", "nan"), "time is not a finite number at data row 4"),
        (lambda ls: set_cell(ls, 5, "hip_flexion_r", "1_0"), "non-numeric value '1_0' in data row 6"),
        (lambda ls: set_cell(ls, 5, "hip_flexion_r", "NULL"), "non-numeric value 'NULL'"),
        (lambda ls: set_cell(ls, 5, "hip_flexion_r", "400"), "outside -360…360"),
        (lambda ls: [*ls[: body(ls) - 1], "time\tknee_angle_r"], "nRows=360 but the file has 0 data rows"),
        (lambda ls: [ln.replace("nRows=360", "nRows=" + "9" * 5000) for ln in ls], "is not an integer"),
        (lambda ls: [ls[0] + "\x00", *ls[1:]], "binary data"),
        (lambda ls: [ls[0], "a" * 3_000_000, *ls[1:]], "line 2 is longer than 1.0 MiB"),
        (lambda ls: [ln.replace("nRows=360", "nRows=361") for ln in ls[:200] + ls[199:]], "strictly increasing"),
        (lambda ls: [*ls[: body(ls) - 1], "time\t" + "k" * 2000, *ls[body(ls) :]], "characters, above"),
    ],
)
def test_read_storage_and_trial_refusals(tmp_path, trial, mutate, needle: str) -> None:
    f = edit(trial["kin"], tmp_path / "x.mot", mutate)
    with pytest.raises(DataFileError, match=None) as e:
        read_opensim_trial(f)
    assert needle in str(e.value) and str(f) in str(e.value)


def test_non_utf8_header_is_read_as_latin1(tmp_path, trial) -> None:
    raw = trial["kin"].read_bytes().replace(b"kin\n", b"kin \xb0C\n", 1)
    f = tmp_path / "latin1.mot"
    f.write_bytes(raw)
    assert read_storage(f).name == "kin °C"


def test_large_file_parses_in_memory_proportional_to_its_array(tmp_path: Path) -> None:
    """Peak Python-traced memory ≤ the array + a few blocks (the old reader held ≈ 8 × the file)."""
    rng = np.random.default_rng(0)
    vals = "\t".join(f"{v:.8f}" for v in rng.normal(0, 30, 20))
    rows = "".join(f"{i * 0.001:.3f}\t{vals}\n" for i in range(150_000))  # ≈ 27 MB: several blocks
    f = tmp_path / "big.mot"
    f.write_text(
        "big\nversion=1\ninDegrees=yes\nendheader\ntime\t" + "\t".join(f"c{j}" for j in range(20)) + "\n" + rows
    )
    del rows
    size = f.stat().st_size
    assert size > 3 * BLOCK_BYTES
    tracemalloc.start()
    s = read_storage(f)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert s.data.shape == (150_000, 21) and s.data[-1, 0] == pytest.approx(149.999)
    assert peak < s.data.nbytes + 4 * BLOCK_BYTES, (peak / 2**20, size / 2**20)


TRC = (
    "PathFileType\t4\t(X/Y/Z)\tx.trc\n"
    "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
    "100.0\t100.0\t3\t{n}\tmm\t100.0\t1\t3\n"
    "Frame#\tTime\tA\t\t\tB\t\t\n"
    "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n"
    "1\t0.00\t100\t1000\t50\t1\t2\t3\n"
    "2\t{t}\t110\t1000\t{v}\t\t\t\n"
    "3\t0.02\t120\t1000\t50\t1\t2\t3\t\n"
)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"v": "inf"}, "marker 'A' has inf mm at t = 0.01 s"),
        ({"v": "1e300"}, "not a position in a lab"),
        ({"t": "nan"}, "time is missing or not a finite number in frame row 2"),
        ({"t": "0.00"}, "strictly increasing"),
        ({"n": "1e400"}, "not numbers"),
        ({"v": "abc"}, "non-numeric value 'abc' in frame row 2"),
    ],
)
def test_trc_refusals(tmp_path: Path, fields: dict[str, str], needle: str) -> None:
    f = tmp_path / "m.trc"
    f.write_text(TRC.format(**({"n": "2", "t": "0.01", "v": "50"} | fields)), encoding="utf-8")
    with pytest.raises(DataFileError) as e:
        read_trc(f)
    assert needle in str(e.value)


def test_grf_cop_is_judged_only_while_loaded(tmp_path, trial) -> None:
    def cop(ls: list[str]) -> list[str]:
        ls = set_cell(ls, 0, "ground_force_r_pz", "inf")  # unloaded (t = 0): ignored, NaN in the result
        return set_cell(ls, 400, "ground_force_r_px", "1200")  # loaded: a COP in mm

    grf = edit(trial["grf"], tmp_path / "cop.mot", cop)
    with pytest.raises(DataFileError, match=r"'ground_force_r_px': 1200\.0 at t = 0\.8 s .* \(mm\?\)"):
        read_opensim_grf(grf)
    ok = edit(trial["grf"], tmp_path / "cop_ok.mot", lambda ls: set_cell(ls, 0, "ground_force_r_pz", "inf"))
    assert np.isnan(read_opensim_grf(ok)["r"].cop[0]).all()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: &a [*a]\n", "alias *a is used inside its own anchor"),
        ("x: 2001-02-30\n", None),  # dates stay strings
        ("x: !!timestamp 2001-02-30\n", "tag '!!timestamp' is not allowed"),
        ("x: !!python/object:os.system ls\n", "tag '!!python/object:os.system' is not allowed"),
        ("x: !!bool maybe\n", "'maybe' is not a bool"),
        ("x: !!int " + "9" * 5000 + "\n", "cannot read int"),
        ("x: 1\nx: 2\n", "duplicate key 'x'"),
        ("a: &a " + "x" * 100_000 + "\nb: [" + ", ".join(["*a"] * 200) + "]\n", "characters"),
        ("x: \x00\n", "invalid YAML"),
        ("- [a\n", "invalid YAML at line 2"),
        ("a: 1\n---\nb: 2\n", "found another document"),
    ],
)
def test_yaml_loader_limits(text: str, needle: str | None) -> None:
    if needle is None:
        assert loads_yaml(text, "t.yaml") == {"x": "2001-02-30"}
        return
    with pytest.raises(DataFileError) as e:
        loads_yaml(text, "t.yaml")
    assert needle in str(e.value) and str(e.value).startswith("t.yaml: ")


def test_yaml_file_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "p.yaml"
    p.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(DataFileError, match=r"p\.yaml: not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_yaml(p)
    p.write_text("x: " + "y" * 3000 + "\n")
    monkeypatch.setenv("MMBIO_MAX_YAML_KB", "2")
    with pytest.raises(DataFileError, match="MMBIO_MAX_YAML_KB"):
        load_yaml(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(DataFileError, match="must be a mapping"):
        load_yaml(p)


RULE = {"metric": "kinematics.*.knee_flexion.r", "pass": {"op": ">=", "value": 0.9}}


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"checks": [RULE], "nmae": "typo"}, "unknown key 'nmae'"),
        ({"checks": [RULE | {"requried": False}]}, "check 1: unknown key 'requried'"),
        ({"checks": [RULE | {"pass": {"op": ">=", "value": 1e300}}]}, "value must be a finite number within ±1e+06"),
        ({"checks": [RULE | {"pass": {"op": ">=", "value": 10**400}}]}, "value must be a finite number"),
        ({"checks": [RULE | {"pass": {"op": ">=", "value": True}}]}, "value must be a finite number"),
        ({"checks": [RULE | {"pass": {"op": "between", "value": [2, 1]}}]}, "lo ≤ hi"),
        ({"checks": [RULE | {"pass": {"op": ">=", "value": 1, "of": 2}}]}, "'of' is for the 'within' op only"),
        ({"checks": [RULE | {"pass": {"op": ["x"], "value": 1}}]}, "unknown op ['x']"),
        ({"checks": [RULE | {"metric": ["a"]}]}, "'checks[1].metric' must be a string"),
        ({"checks": [RULE | {"metric": "a..b.c"}]}, "metric must be domain.side.variable.name"),
        ({"checks": [RULE | {"label": "x" * 300}]}, "'checks[1].label' is 300 characters long"),
        ({"checks": [RULE], "name": 7}, "'name' must be a string"),
        ({"checks": [RULE], "variables": {"x": {"y": 1}}}, "'variables.x' must be a string, a number or a list"),
        ({"checks": [RULE], "variables": {"x": [float("nan")]}}, "'variables.x'"),
    ],
)
def test_protocol_fields_are_checked(doc: dict, needle: str) -> None:
    with pytest.raises(DataFileError) as e:
        parse_protocol(doc, source="p.yaml")
    assert str(e.value).startswith("p.yaml: ") and needle in str(e.value), str(e.value)


def test_shipped_protocols_still_load() -> None:
    for name in ("walking", "running", "emg"):
        assert load_protocol(name).checks
