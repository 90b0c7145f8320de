"""OpenSim I/O: storage tables, TRC, frame conversion, clinical angle mapping, GRF, EMG and trials.

Synthetic files test each rule; the real Rajagopal (overground walking) and Hamner (treadmill
running) files test the numbers that the reference README lists.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB, OPENSIM_TO_LAB, is_rotation, rotate_about_z, to_lab
from mmbio.io.opensim import (
    Storage,
    coordinates_to_angles,
    read_opensim_emg,
    read_opensim_grf,
    read_opensim_trial,
    read_storage,
    read_trc,
    write_opensim_trial,
    write_storage,
)
from mmbio.trial import GRAVITY

# ------------------------------------------------------------------------------------------------
# axes
# ------------------------------------------------------------------------------------------------


def test_axes_are_proper_rotations_with_the_documented_physical_meaning() -> None:
    for c in (OPENSIM_TO_LAB, MUJOCO_MYOFULLBODY_TO_LAB, rotate_about_z(0.3)):
        assert is_rotation(c)
    # OpenSim: vertical y → lab z; right z → lab −y (right of the subject); forward unchanged
    np.testing.assert_array_equal(OPENSIM_TO_LAB @ [0, 1, 0], [0, 0, 1])
    np.testing.assert_array_equal(OPENSIM_TO_LAB @ [0, 0, 1], [0, -1, 0])
    np.testing.assert_array_equal(OPENSIM_TO_LAB @ [1, 0, 0], [1, 0, 0])
    # MyoFullBody faces −y with its left along +x
    np.testing.assert_array_equal(MUJOCO_MYOFULLBODY_TO_LAB @ [0, -1, 0], [1, 0, 0])
    np.testing.assert_array_equal(MUJOCO_MYOFULLBODY_TO_LAB @ [1, 0, 0], [0, 1, 0])
    np.testing.assert_array_equal(MUJOCO_MYOFULLBODY_TO_LAB @ [0, 0, 1], [0, 0, 1])
    np.testing.assert_allclose(rotate_about_z(np.pi) @ [1, 1, 1], [-1, -1, 1], atol=1e-12)
    np.testing.assert_allclose(rotate_about_z(np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_to_lab_rotates_rows_keeps_nan_and_rejects_bad_input() -> None:
    v = np.array([[0.0, 700.0, 0.0], [np.nan, np.nan, np.nan], [1.0, 2.0, 3.0]])
    out = to_lab(v, OPENSIM_TO_LAB)
    np.testing.assert_array_equal(out[0], [0, 0, 700])
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[2], [1, -3, 2])
    with pytest.raises(MmbioError):
        to_lab(v, np.diag([1.0, 1.0, -1.0]))  # a reflection is not a frame change
    with pytest.raises(MmbioError):
        to_lab(np.zeros((4, 2)), OPENSIM_TO_LAB)


# ------------------------------------------------------------------------------------------------
# storage files: synthetic
# ------------------------------------------------------------------------------------------------

SIMM_MOT = (
    "Run_1\nnRows=3\nnColumns=3\n\n# SIMM Motion File Header:\nname Run_1\ndatacolumns 3\ndatarows 3\n"
    "otherdata 1\nrange 0.000000 0.020000\nendheader\n"
    "time\tknee_angle_r\tpelvis_tx\n0.00\t-10.5\t1.0\n0.01\t-60.0\t1.0\n0.02\t-5.0\t1.0\n"
)


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_read_simm_header_without_indegrees(tmp_path: Path) -> None:
    s = read_storage(_write(tmp_path / "a.mot", SIMM_MOT))
    assert s.name == "Run_1"
    assert s.columns == ["time", "knee_angle_r", "pelvis_tx"]
    assert s.header["datarows"] == "3" and s.header["range"] == "0.000000 0.020000"
    assert s.in_degrees is None
    np.testing.assert_array_equal(s.data[:, 1], [-10.5, -60.0, -5.0])
    assert list(s.to_frame().index) == [0.0, 0.01, 0.02]


def test_read_opensim4_header_crlf_spaces_and_indegrees(tmp_path: Path) -> None:
    text = (
        "Coordinates\r\nversion=1\r\nnRows=2\r\nnColumns=3\r\ninDegrees=yes\r\nendheader\r\n"
        "time  \thip_flexion_r\t knee_angle_r \r\n  0.0   1.5\t2.5\r\n0.1\t 3  4 \r\n\r\n"
    )
    s = read_storage(_write(tmp_path / "b.sto", text))
    assert s.in_degrees is True and s.name == "Coordinates"
    assert s.columns == ["time", "hip_flexion_r", "knee_angle_r"]
    np.testing.assert_array_equal(s.data, [[0.0, 1.5, 2.5], [0.1, 3.0, 4.0]])


def test_old_analysis_comment_sets_degrees_and_declared_column_mismatch_only_warns(tmp_path: Path) -> None:
    text = "Results\nversion=1\nnRows=1\nnColumns=9\nAngles are in degrees.\nendheader\ntime\tx\n0\t1\n"
    s = read_storage(_write(tmp_path / "c.sto", text))
    assert s.in_degrees is True
    assert any("nColumns=9" in w for w in s.warnings)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x\nversion=1\nnRows=3\nendheader\ntime\ta\n0\t1\n0.1\t2\n", "nRows=3"),  # truncated
        ("x\nversion=1\nendheader\ntime\ta\n0\t1\n0.1\tabc\n", "non-numeric value 'abc'"),
        ("x\nversion=1\nendheader\ntime\ta\tb\n0\t1\t2\n0.1\t2\n", "has 2 values, expected 3"),
        ("x\nversion=1\nendheader\ntime\ta\n0\t1\n0.1\t2\t3\n", "more values"),
        ("x\nversion=1\nendheader\ntime\ta\n0\t1\n0\t2\n", "strictly increasing"),
        ("x\nversion=1\nendheader\ntime\ta\ta\n0\t1\t2\n", "duplicate column names: a"),
        ("x\nversion=1\nendheader\nframe\ta\n0\t1\n", "first column must be 'time'"),
        ("x\nversion=1\nnRows=2\n0\t1\n", "no 'endheader'"),
        ("x\nname x\ndatarows 4\nendheader\ntime\ta\n0\t1\n", "datarows=4"),
        ("x\nversion=1\nnRows=two\nendheader\ntime\ta\n0\t1\n", "not an integer"),
    ],
)
def test_read_storage_errors_name_file_and_problem(tmp_path: Path, text: str, fragment: str) -> None:
    p = _write(tmp_path / "bad.sto", text)
    with pytest.raises(DataFileError) as e:
        read_storage(p)
    assert str(p) in str(e.value)
    assert fragment in e.value.problem


def test_missing_file() -> None:
    with pytest.raises(DataFileError, match="no such file"):
        read_storage("/nonexistent/dir/x.sto")
    with pytest.raises(DataFileError, match="no such file"):
        read_trc("/nonexistent/dir/x.trc")


def test_write_storage_from_frame_with_time_column_and_bad_names(tmp_path: Path) -> None:
    df = pd.DataFrame({"time": [0.0, 0.5], "a b": [1.0, np.nan]})
    s = read_storage(write_storage(tmp_path / "f.sto", df, in_degrees=False, name="hello"))
    assert s.name == "hello" and s.columns == ["time", "a b"] and s.in_degrees is False
    assert np.isnan(s.data[1, 1])
    with pytest.raises(MmbioError):
        write_storage(tmp_path / "g.sto", pd.DataFrame({"a\tb": [1.0]}, index=[0.0]), in_degrees=True)
    with pytest.raises(MmbioError):
        write_storage(tmp_path / "h.sto", pd.DataFrame({"a": [1.0, 2.0]}, index=[1.0, 0.0]), in_degrees=True)


_NAMES = st.text(alphabet=string.ascii_letters + string.digits + "_/.-", min_size=1, max_size=10).filter(
    lambda s: s != "time"
)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], np.ndarray]:
    k = draw(st.integers(0, 5))
    names = draw(st.lists(_NAMES, min_size=k, max_size=k, unique=True))
    times = draw(st.lists(st.floats(-1e9, 1e9, allow_nan=False), max_size=12, unique=True).map(sorted))
    vals = draw(hnp.arrays(np.float64, (len(times), k), elements=st.floats(allow_nan=False, allow_infinity=False)))
    return names, np.column_stack([np.asarray(times, dtype=float).reshape(-1, 1), vals])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_tables(), in_degrees=st.booleans())
def test_write_read_storage_round_trip(table: tuple[list[str], np.ndarray], in_degrees: bool) -> None:
    names, data = table
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.sto"
        write_storage(p, Storage("tbl", {}, ["time", *names], data), in_degrees=in_degrees)
        s = read_storage(p)
    assert s.columns == ["time", *names]
    assert s.in_degrees is in_degrees and s.name == "tbl"
    assert s.data.shape == data.shape
    np.testing.assert_array_equal(s.data, data)


_VALID = (
    "walk\nversion=1\nnRows=4\nnColumns=3\ninDegrees=no\nendheader\ntime\ta\tb\n"
    "0\t1.5\t-2\n0.01\t1e-3\t4\n0.02\t7\t8.25\n0.03\t9\t10\n"
)


@settings(max_examples=150, deadline=None)
@given(
    cut=st.integers(0, len(_VALID)),
    start=st.integers(0, len(_VALID)),
    junk=st.binary(max_size=12) | st.text(alphabet='\t\n\r =.-e0123456789#nanNAxyz"', max_size=12).map(str.encode),
    mode=st.sampled_from(["truncate", "replace", "insert"]),
)
def test_read_storage_on_damaged_files_parses_or_raises_datafileerror(cut: int, start: int, junk: bytes, mode: str):
    raw = _VALID.encode()
    if mode == "truncate":
        raw = raw[:cut]
    elif mode == "replace":
        raw = raw[:start] + junk + raw[start + len(junk) :]
    else:
        raw = raw[:start] + junk + raw[start:]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.sto"
        p.write_bytes(raw)
        try:
            s = read_storage(p)
        except DataFileError as e:
            assert e.path == str(p)
        else:
            assert s.data.shape[1] == len(s.columns) and s.columns[0] == "time"


# ------------------------------------------------------------------------------------------------
# coordinates → clinical angles: synthetic
# ------------------------------------------------------------------------------------------------


def _coords_file(path: Path, cols: dict[str, np.ndarray], t: np.ndarray, in_degrees: bool) -> Path:
    return write_storage(path, pd.DataFrame(cols, index=t), in_degrees=in_degrees, name="ik")


def _knee_curve(t: np.ndarray) -> np.ndarray:
    """Clinical knee flexion of a walking-like cycle, deg: ~5° in stance, 65° peak in swing."""
    ph = (t % 1.0) / 1.0
    return 5 + 15 * np.exp(-(((ph - 0.15) / 0.07) ** 2)) + 60 * np.exp(-(((ph - 0.72) / 0.1) ** 2))


def test_knee_sign_auto_detection_and_override(tmp_path: Path) -> None:
    t = np.arange(0, 3, 0.01)
    knee = _knee_curve(t)
    p = _coords_file(tmp_path / "g2392.mot", {"knee_angle_r": -knee, "knee_angle_l": -np.roll(knee, 50)}, t, True)
    notes: list[str] = []
    angles, _ = coordinates_to_angles(read_storage(p), notes=notes)
    np.testing.assert_allclose(angles["knee_flexion_r"], knee)
    assert any("auto-detected as -1" in n for n in notes)
    angles, _ = coordinates_to_angles(read_storage(p), knee_sign=1)
    np.testing.assert_allclose(angles["knee_flexion_r"], -knee)
    p2 = _coords_file(tmp_path / "raj.sto", {"knee_angle_r": np.radians(knee)}, t, False)
    notes = []
    angles, _ = coordinates_to_angles(read_storage(p2), notes=notes)
    np.testing.assert_allclose(angles["knee_flexion_r"], knee)
    assert any("auto-detected as +1" in n for n in notes)


def test_clinical_signs_paths_speed_columns_and_patella_trap(tmp_path: Path) -> None:
    t = np.arange(0, 1, 0.01)
    cols = {
        "/jointset/ground_pelvis/pelvis_tilt/value": np.full(t.size, np.radians(-10.0)),  # OpenSim −10 = anterior
        "/jointset/ground_pelvis/pelvis_tilt/speed": np.zeros(t.size),
        "/jointset/ground_pelvis/pelvis_list/value": np.full(t.size, np.radians(2.0)),
        "/jointset/ground_pelvis/pelvis_rotation/value": np.full(t.size, np.radians(3.0)),
        "/jointset/ground_pelvis/pelvis_tx/value": 1.3 * t,
        "/jointset/hip_r/hip_flexion_r/value": np.full(t.size, np.radians(20.0)),
        "/jointset/back/lumbar_bending/value": np.full(t.size, np.radians(4.0)),
        "/jointset/patellofemoral_r/knee_angle_r_beta/value": np.linspace(2, 70, t.size),  # degrees!
    }
    p = _coords_file(tmp_path / "c.sto", cols, t, False)
    notes: list[str] = []
    angles, extra = coordinates_to_angles(read_storage(p), notes=notes)
    assert angles["pelvis_tilt"][0] == pytest.approx(10.0)  # anterior tilt +
    assert angles["pelvis_obliquity"][0] == pytest.approx(-2.0)  # OpenSim list + = right side down
    assert angles["pelvis_rotation"][0] == pytest.approx(3.0)
    assert angles["hip_flexion_r"][0] == pytest.approx(20.0)
    assert angles["lumbar_bending"][0] == pytest.approx(-4.0)  # OpenSim bending + = to the right
    assert set(angles.units) == {"deg"}
    assert extra["knee_angle_r_beta"].max() == pytest.approx(70.0)  # not converted a second time
    np.testing.assert_allclose(extra["pelvis_tx"], 1.3 * t)  # translations stay in m
    assert any("knee_angle_r_beta" in n and "already in degrees" in n for n in notes)
    trial = read_opensim_trial(p)
    assert trial.subject.speed_m_s == pytest.approx(1.3)
    assert np.isnan(trial.subject.mass_kg) and any("no body mass" in n for n in trial.notes)


def test_unknown_columns_strict_and_lenient(tmp_path: Path) -> None:
    t = np.arange(0, 1, 0.1)
    p = _coords_file(tmp_path / "u.mot", {"hip_flexion_r": t, "arm_flex_r": t, "foo_angle": t}, t, True)
    with pytest.raises(DataFileError, match="unknown coordinate columns: foo_angle"):
        read_opensim_trial(p, strict=True)
    trial = read_opensim_trial(p)
    assert trial.angles is not None and trial.angles.names == ["hip_flexion_r"]
    assert any("foo_angle" in n for n in trial.notes)


# ------------------------------------------------------------------------------------------------
# GRF, TRC, EMG: synthetic
# ------------------------------------------------------------------------------------------------


def _grf_table(prefixes: tuple[str, str], style: str) -> tuple[pd.DataFrame, np.ndarray]:
    t = np.arange(0, 1, 0.01)
    fy = np.clip(800 * np.sin(2 * np.pi * t), 0, None)
    cols = {}
    pattern = {
        "suffix": "ground_{kind}_{pre}_{c}",
        "prefix": "{pre}_ground_{kind}_{c}",
        "plate": "{pre}ground_{kind}_{c}",
    }
    for i, pre in enumerate(prefixes):
        f = fy if i == 0 else fy[::-1]
        z = 0.1 if i == 0 else -0.1  # first set on the right (OpenSim z right)
        block = {"vx": 0.1 * f, "vy": f, "vz": 0.0 * f, "px": t, "py": 0 * t, "pz": z + 0 * t}
        for c, v in block.items():
            cols[pattern[style].format(kind="force", pre=pre, c=c)] = v
        cols[pattern[style].format(kind="torque", pre=pre, c="y")] = 0.5 + 0 * t
    return pd.DataFrame(cols, index=t), fy


@pytest.mark.parametrize(("prefixes", "style"), [(("r", "l"), "suffix"), (("R", "L"), "prefix"), (("", "1_"), "plate")])
def test_grf_naming_styles_frame_and_cop_threshold(tmp_path: Path, prefixes: tuple[str, str], style: str) -> None:
    df, fy = _grf_table(prefixes, style)
    p = write_storage(tmp_path / "grf.mot", df, in_degrees=False)
    notes: list[str] = []
    g = read_opensim_grf(p, notes=notes)
    assert set(g) == {"r", "l"}
    np.testing.assert_allclose(g["r"].vertical, fy)  # OpenSim y → lab z
    np.testing.assert_allclose(g["r"].force[:, 0], 0.1 * fy)
    np.testing.assert_allclose(g["r"].free_moment, 0.5)
    loaded = fy >= 20
    assert np.isnan(g["r"].cop[~loaded]).all() and np.isfinite(g["r"].cop[loaded]).all()
    np.testing.assert_allclose(g["r"].cop[loaded, 1], -0.1)  # OpenSim z = +0.1 (right) → lab y = −0.1
    if style == "plate":
        assert any("assigned to right/left" in n for n in notes)


def test_grf_without_force_columns(tmp_path: Path) -> None:
    p = write_storage(tmp_path / "x.mot", pd.DataFrame({"a": [1.0]}, index=[0.0]), in_degrees=False)
    with pytest.raises(DataFileError, match="no ground_force"):
        read_opensim_grf(p)


TRC = (
    "PathFileType\t4\t(X/Y/Z)\tx.trc\n"
    "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
    "100.0\t\t100.0\t\t3\t\t2\t\t{units}\t100.0\t1\t3\n"
    "Frame#\tTime\tA\t\t\tB\t\t\n"
    "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n"
    "1\t0.00\t100\t1000\t50\t1\t2\t3\n"
    "2\t0.01\t110\t1000\t50\t\t\t\n"
    "3\t0.02\t120\t1000\t50\t1\t2\t3\t\n"
)


def test_trc_units_gaps_and_frame(tmp_path: Path) -> None:
    m = read_trc(_write(tmp_path / "mm.trc", TRC.format(units="mm")))
    assert m.names == ["A", "B"] and m.positions.shape == (3, 2, 3)
    np.testing.assert_allclose(m["A"][0], [0.1, -0.05, 1.0])  # Y-up mm → Z-up m; OpenSim z right → −y
    assert np.isnan(m["B"][1]).all() and not np.isnan(m["B"][2]).any()  # a gap is NaN, not 0
    m2 = read_trc(_write(tmp_path / "m.trc", TRC.format(units="m")))
    np.testing.assert_allclose(m2["A"][0], [100, -50, 1000])
    with pytest.raises(DataFileError, match="NumFrames=3"):
        read_trc(_write(tmp_path / "cut.trc", TRC.format(units="mm").rsplit("\n", 2)[0] + "\n"))


def test_emg_names_and_sides(tmp_path: Path) -> None:
    df = pd.DataFrame({"soleus": [0.1, 0.2], "L_TA": [0.3, 0.4], "mystery": [0.0, 1.0]}, index=[0.0, 0.01])
    p = write_storage(tmp_path / "emg.sto", df, in_degrees=False)
    notes: list[str] = []
    ch = read_opensim_emg(p, notes=notes)
    assert ch.names == ["soleus_r", "tibialis_anterior_l", "mystery_r"]
    assert set(ch.units) == {"fraction of max"}
    assert any("mystery" in n for n in notes)


# ------------------------------------------------------------------------------------------------
# real data: Rajagopal 2016 overground walking
# ------------------------------------------------------------------------------------------------

RAJ_MASS = 85.3


@pytest.fixture(scope="module")
def raj(shared: Path) -> Path:
    return shared / "rajagopal2016_walk"


@pytest.fixture(scope="module")
def raj_trial(raj: Path):
    return read_opensim_trial(
        raj / "coordinates.sto", raj / "grf_walk.mot", raj / "electromyography.sto", mass_kg=RAJ_MASS
    )


@pytest.mark.shared
def test_rajagopal_storage_header(raj: Path) -> None:
    s = read_storage(raj / "coordinates.sto")
    # the header declares nColumns=40, but the names line and all 1350 rows have 32 columns
    assert s.data.shape == (1350, 32) and len(s.columns) == 32
    assert s.header["nColumns"] == "40" and any("nColumns=40" in w for w in s.warnings)
    assert s.in_degrees is False and s.header["version"] == "3"
    assert s.columns[1] == "/jointset/ground_pelvis/pelvis_tilt/value"


@pytest.mark.shared
def test_rajagopal_grf_reads(raj: Path) -> None:
    """Reads the 2 kHz GRF file (its speed is measured in benchmarks/, not asserted here)."""
    grf = read_opensim_grf(raj / "grf_walk.mot")
    assert set(grf) == {"r", "l"} and grf["r"].time.size > 4000


@pytest.mark.shared
def test_rajagopal_angles(raj_trial) -> None:
    a = raj_trial.angles
    assert a is not None and set(a.units) == {"deg"}
    assert not any(n.startswith(("arm_", "elbow", "pro_sup", "knee_angle")) for n in a.names)
    assert any("auto-detected as +1" in n for n in raj_trial.notes)
    assert sum("already in degrees" in n for n in raj_trial.notes) == 2  # both patella columns
    swing = (a.time > 1.05) & (a.time < 1.40)  # right swing: toe-off 1.024 s, heel strike 1.4115 s
    peak = a["knee_flexion_r"][swing].max()
    assert 60 <= peak <= 75  # measured 72.2°
    assert a["knee_flexion_r"].min() > -5  # no hyperextension: the sign is right
    assert np.ptp(a["hip_flexion_r"]) == pytest.approx(44, abs=5)
    assert raj_trial.subject.speed_m_s == pytest.approx(1.25, abs=0.05)


@pytest.mark.shared
def test_rajagopal_pelvis_and_trunk_signs_agree_with_markers(raj: Path, raj_trial) -> None:
    m = read_trc(raj / "markers_walk.trc")
    a = raj_trial.angles
    assert m.positions.shape == (238, 41, 3) and not np.isnan(m.positions).any()
    ok = (m.time > a.time[0]) & (m.time < a.time[-1])

    def ang(name: str) -> np.ndarray:
        return np.interp(m.time[ok], a.time, a[name])

    def tilt(v: np.ndarray) -> np.ndarray:  # elevation of a vector, deg
        return np.degrees(np.arctan2(v[:, 2], np.linalg.norm(v[:, :2], axis=1)))

    def corr(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.corrcoef(x, y)[0, 1])

    ra, la, rp, lp = (m[n][ok] for n in ("R.ASIS", "L.ASIS", "R.PSIS", "L.PSIS"))
    rs, ls = m["R.Shoulder"][ok], m["L.Shoulder"][ok]
    assert np.mean(ra[:, 1] - la[:, 1]) < 0 and np.mean(ra[:, 2]) > 0.8  # lab y left, z up, in m
    assert np.median(np.gradient(m["S2"][ok, 0], m.time[ok])) == pytest.approx(1.25, abs=0.1)  # x forward
    anterior = tilt((rp + lp) / 2 - (ra + la) / 2)  # ASIS below PSIS = anterior tilt
    assert corr(ang("pelvis_tilt"), anterior) > 0.9
    assert corr(ang("pelvis_obliquity"), tilt(ra - la)) > 0.5  # right side up +
    right_fwd = np.degrees(np.arctan2((ra - la)[:, 0], -(ra - la)[:, 1]))
    assert corr(ang("pelvis_rotation"), right_fwd) > 0.8  # right side forward +
    shoulders_fwd = np.degrees(np.arctan2((rs - ls)[:, 0], -(rs - ls)[:, 1]))
    assert corr(ang("pelvis_rotation") + ang("lumbar_rotation"), shoulders_fwd) > 0.95  # trunk to the left +
    assert corr(ang("lumbar_bending"), tilt(rs - ls) - tilt(ra - la)) > 0.5  # bending to the left +


def _stance(g, t_from: float) -> tuple[float, float]:
    on = g.vertical >= 20
    up = np.flatnonzero(~on[:-1] & on[1:]) + 1
    down = np.flatnonzero(on[:-1] & ~on[1:]) + 1
    hs = g.time[up[g.time[up] >= t_from][0]]
    return float(hs), float(g.time[down[g.time[down] > hs][0]])


@pytest.mark.shared
def test_rajagopal_grf_matches_readme(raj_trial) -> None:
    g = raj_trial.grf["r"]
    bw = RAJ_MASS * GRAVITY
    hs, to = _stance(g, 0.0)
    assert hs == pytest.approx(0.267, abs=0.002)
    assert to - hs == pytest.approx(0.757, abs=0.003)
    assert _stance(g, hs + 0.1)[0] == pytest.approx(1.4115, abs=0.002)
    m = (g.time >= hs) & (g.time < to)
    pct = (g.time[m] - hs) / (to - hs)
    fz = g.vertical[m] / bw
    assert fz[pct < 0.5].max() == pytest.approx(1.10, rel=0.02)  # measured 1.095
    assert fz[pct >= 0.5].max() == pytest.approx(1.13, rel=0.02)  # measured 1.126
    assert fz[(pct > 0.3) & (pct < 0.7)].min() == pytest.approx(0.72, rel=0.03)
    # axes: vertical is lab z and positive; the COP moves forward (+x) over stance; the right foot is right of the left
    assert g.vertical.min() > -1 and np.nanmax(g.vertical) > 0.9 * bw
    cop_x = g.cop[m, 0]
    assert cop_x[-50] - cop_x[50] > 0.15 and np.corrcoef(pct, cop_x)[0, 1] > 0.9
    assert np.nanmean(g.cop[:, 1]) < np.nanmean(raj_trial.grf["l"].cop[:, 1])
    assert np.isnan(g.cop[g.vertical < 20]).all()
    ev = raj_trial.events
    if ev:  # from mmbio.gait.events, which times events at its 10 N release level: ~10 ms before the 20 N crossing
        np.testing.assert_allclose(ev.heel_strike["r"][:2], [0.267, 1.4115], atol=0.015)


@pytest.mark.shared
def test_rajagopal_emg(raj_trial) -> None:
    e = raj_trial.emg
    assert e is not None and len(e) == 10
    assert {"soleus_r", "tibialis_anterior_r", "vastus_medialis_r", "medial_hamstrings_r"} <= set(e.names)
    assert e.rate == pytest.approx(2000) and np.nanmax(e.values) <= 1.0 + 1e-9


@pytest.mark.shared
def test_rajagopal_write_read_round_trip(raj_trial, tmp_path: Path) -> None:
    paths = write_opensim_trial(raj_trial, tmp_path)
    assert set(paths) == {"coordinates", "grf", "emg", "external_loads", "id_setup"}
    assert read_storage(paths["coordinates"]).in_degrees is True
    back = read_opensim_trial(paths["coordinates"], paths["grf"], paths["emg"], mass_kg=RAJ_MASS)
    a, b = raj_trial.angles, back.angles
    assert b.names == a.names
    np.testing.assert_allclose(b.values, a.values, atol=1e-9)
    # the pelvis translation goes out and comes back (lab frame: forward x ≈ 1.25 m/s, pelvis ≈ 0.95 m up)
    p, q = raj_trial.pelvis_position, back.pelvis_position
    assert p is not None and q is not None and q.names == ["pelvis_x", "pelvis_y", "pelvis_z"]
    np.testing.assert_allclose(q.values, p.values, atol=1e-9)
    assert np.polyfit(p.time, p["pelvis_x"], 1)[0] == pytest.approx(1.25, abs=0.1)
    assert 0.85 < np.mean(p["pelvis_z"]) < 1.05
    for s in ("r", "l"):
        np.testing.assert_allclose(back.grf[s].force, raj_trial.grf[s].force, atol=1e-9)
        np.testing.assert_allclose(back.grf[s].cop, raj_trial.grf[s].cop, atol=1e-9)  # NaN where unloaded
        np.testing.assert_allclose(back.grf[s].free_moment, raj_trial.grf[s].free_moment, atol=1e-9)
    assert back.emg.names == raj_trial.emg.names
    np.testing.assert_array_equal(back.emg.values, raj_trial.emg.values)


# ------------------------------------------------------------------------------------------------
# real data: Hamner 2013 treadmill running
# ------------------------------------------------------------------------------------------------


def _treadmill_mass(trial, t0: float, t1: float) -> float:
    """Body mass (kg) estimated as the mean total vertical force over whole strides / g.

    Valid for steady treadmill running (no net vertical acceleration over whole strides); the Hamner
    files carry no subject mass.
    """
    g_r, g_l = trial.grf["r"], trial.grf["l"]
    m = (g_r.time >= t0) & (g_r.time < t1)
    return float(np.mean(g_r.vertical[m] + g_l.vertical[m]) / GRAVITY)


@pytest.mark.shared
def test_hamner_simm_header_knee_sign_and_pelvis_tilt(shared: Path) -> None:
    p = shared / "hamner2013_run" / "subject01" / "Run_2_ik.mot"
    s = read_storage(p)
    assert s.name == "Run_20002" and s.header["datarows"] == "547" and s.header["nRows"] == "547"
    assert s.in_degrees is None and s.data.shape == (547, 24)
    for subject in ("01", "02", "03", "04", "08"):
        tr = read_opensim_trial(shared / "hamner2013_run" / f"subject{subject}" / "Run_3_ik.mot")
        assert any("auto-detected as -1" in n for n in tr.notes), subject
        assert tr.angles["knee_flexion_r"].max() > 60 and tr.angles["knee_flexion_r"].min() > -10
        assert np.isnan(tr.subject.speed_m_s) and any("treadmill" in n for n in tr.notes)
    tr = read_opensim_trial(p, speed_m_s=2.0)
    assert tr.subject.speed_m_s == 2.0
    assert 8 < np.mean(tr.angles["pelvis_tilt"]) < 18  # OpenSim pelvis_tilt ≈ −12.5: anterior tilt +


# README: peak vertical GRF 1.85–2.25 BW at 2 m/s, 2.37–2.80 BW at 5 m/s
_HAMNER_RANGES = {2: (1.85, 2.25), 5: (2.37, 2.80)}


@pytest.mark.shared
@pytest.mark.parametrize("subject", ["01", "02", "03"])
def test_hamner_peak_vertical_grf_in_readme_range(shared: Path, subject: str) -> None:
    d = shared / "hamner2013_run" / f"subject{subject}"
    times = json.loads((d / "gait_times.json").read_text())
    for speed, (lo, hi) in _HAMNER_RANGES.items():
        tr = read_opensim_trial(d / f"Run_{speed}_ik.mot", d / f"Run_{speed}_grf.mot", speed_m_s=float(speed))
        c = times[f"run{speed}"]
        t0, t1 = c["cycle1"]["initialTime"], c["cycle3"]["finalTime"]
        mass = _treadmill_mass(tr, t0, t1)
        assert 55 < mass < 95
        for g in tr.grf.values():
            assert np.nanmax(g.vertical) > 0 and g.vertical.min() > -5  # vertical is lab z, positive
        m = (tr.grf["r"].time >= t0) & (tr.grf["r"].time < t1)
        peak = max(float(g.vertical[m].max()) for g in tr.grf.values()) / (mass * GRAVITY)
        assert lo - 0.01 <= peak <= hi + 0.01, (subject, speed, peak)


def test_trc_round_trip(tmp_path) -> None:
    """write_trc (lab frame, m) reads back through read_trc in the lab frame, gaps included, whatever the units."""
    from mmbio.io.opensim import read_trc, write_trc
    from mmbio.trial import Markers

    pos = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3) / 10.0
    pos[1, 2] = np.nan
    mk = Markers(np.array([0.0, 0.01]), pos, ["A", "B", "C"])
    for units in ("m", "mm"):
        back = read_trc(write_trc(tmp_path / f"x_{units}.trc", mk, units=units))
        np.testing.assert_allclose(back.positions, pos, atol=1e-6)
        assert back.names == ["A", "B", "C"] and np.isnan(back.positions[1, 2]).all()
    with pytest.raises(MmbioError, match="units must be one of"):
        write_trc(tmp_path / "y.trc", mk, units="in")
