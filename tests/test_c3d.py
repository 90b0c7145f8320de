"""mmbio.io.c3d against every Schreiber & Moissenet (2019) C3D file in ../shared (walking and static), plus bad-file
handling."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from mmbio.errors import DataFileError
from mmbio.io.c3d import read_c3d, read_c3d_plate_corners
from mmbio.trial import Trial

pytestmark = pytest.mark.shared

EMG_NAMES = [
    "tibialis_anterior_r",
    "soleus_r",
    "gastrocnemius_medialis_r",
    "vastus_medialis_r",
    "rectus_femoris_r",
    "semitendinosus_r",
    "gluteus_maximus_r",
    "gluteus_medius_r",
]
# README of ../shared/reference: peak vertical force across subjects.
README_PEAK_BW = {"C4": 1.15, "C5": 1.27}


@pytest.fixture(scope="module")
def files(shared: Path) -> list[Path]:
    """The walking trials (C4 and C5) of every subject present: one of each per subject folder."""
    fs = sorted((shared / "schreiber2019").glob("*/*_C[45]_*.c3d"))
    subjects = sorted({f.parent.name for f in fs})
    if not subjects:
        pytest.skip("no Schreiber walking trials in ../shared/reference/schreiber2019")
    for s in subjects:
        for cond in ("C4", "C5"):
            n = sum(1 for f in fs if f.parent.name == s and f"_{cond}_" in f.name)
            assert n == 1, f"{s}: expected one {cond} trial, found {n}"
    return fs


@pytest.fixture(scope="module")
def static_files(shared: Path) -> list[Path]:
    fs = sorted((shared / "schreiber2019").glob("*/*_ST.c3d"))
    if not fs:
        pytest.skip("no Schreiber static trials in ../shared/reference/schreiber2019")
    return fs


@pytest.fixture(scope="module")
def trials(files: list[Path]) -> dict[str, Trial]:
    return {f.stem: read_c3d(f) for f in files}


@pytest.fixture(scope="module")
def one(files: list[Path]) -> Path:
    return files[0]


def test_peak_vertical_grf_matches_readme(trials: dict[str, Trial]) -> None:
    """Per-file peak (max over both feet) in BW; across-subject means vs the README within 2 %."""
    peaks: dict[str, list[float]] = {"C4": [], "C5": []}
    for name, t in trials.items():
        r, lft = (float(np.nanmax(t.grf[s].vertical)) / t.subject.weight_n for s in "rl")
        cond = name.split("_")[1]
        print(f"{name}: mass {t.subject.mass_kg:.1f} kg, peak Fz right {r:.3f} BW, left {lft:.3f} BW")
        assert 0.9 < r < 1.7 and 0.9 < lft < 1.7
        peaks[cond].append(max(r, lft))
    for cond, vals in peaks.items():
        mean = float(np.mean(vals))
        print(f"{cond}: mean of per-file peaks {mean:.3f} BW (README {README_PEAK_BW[cond]})")
        assert len(vals) == len(trials) // 2  # one trial per subject and condition
        assert mean == pytest.approx(README_PEAK_BW[cond], rel=0.02)


def test_emg_channels(trials: dict[str, Trial]) -> None:
    for t in trials.values():
        assert t.emg is not None
        assert t.emg.names == EMG_NAMES
        assert set(t.emg.units) == {"V"}
        assert t.emg.rate == pytest.approx(1500.0)
        assert 1e-5 < np.nanmax(np.abs(t.emg.values)) < 0.05  # raw surface EMG, volts


def test_events_sorted_within_trial(trials: dict[str, Trial]) -> None:
    for t in trials.values():
        assert t.events.source == "c3d"
        t_end = t.markers.time[-1]
        for d in (t.events.heel_strike, t.events.toe_off):
            for s in "rl":
                assert d[s].size >= 1
                assert np.all(np.diff(d[s]) > 0)
                assert d[s][0] >= 0 and d[s][-1] <= t_end
        # the first foot to load a plate strikes at (about) the start of that load
        for s in "rl":
            onset = t.grf[s].time[np.flatnonzero(t.grf[s].vertical > 20)[0]]
            assert np.min(np.abs(t.events.heel_strike[s] - onset)) < 0.03


def test_x_is_forward_and_speed(trials: dict[str, Trial]) -> None:
    for t in trials.values():
        for heel in ("R_FCC", "L_FCC"):
            x = t.markers[heel][:, 0]
            assert x[-1] - x[0] > 0.8
        pelvis = t.markers["R_IPS"]
        assert np.nanmean(np.diff(pelvis[:, 0])) > 0
        assert 0.6 < t.subject.speed_m_s < 2.5  # C4 self-selected speeds go down to 0.74 m/s
        assert any("about z" in n for n in t.notes)
        # right foot is to the right (−y) of the left foot; the ground pushes each foot medially
        assert np.nanmean(t.markers["R_FCC"][:, 1]) < np.nanmean(t.markers["L_FCC"][:, 1])
        for s, sign in (("r", 1), ("l", -1)):
            g = t.grf[s]
            on = g.vertical > 20
            assert sign * np.mean(g.force[on, 1]) > 0
            # braking (−x) in the first half of stance, propulsion (+x) in the second
            idx = np.flatnonzero(on)
            mid = (idx[0] + idx[-1]) // 2
            assert g.force[idx[0] : mid, 0].mean() < 0 < g.force[mid : idx[-1], 0].mean()


def test_forces_and_cop(trials: dict[str, Trial], files: list[Path]) -> None:
    for f in files:
        t = trials[f.stem]
        corners = read_c3d_plate_corners(f)
        assert len(corners) == len(t.plates) == 2
        for g, c in zip(t.plates, corners, strict=True):
            assert np.nanmin(g.vertical) > -5.0
            on = g.vertical >= 20
            assert on.any() and np.isfinite(g.cop[on]).all() and np.isnan(g.cop[~on]).all()
            lo, hi = c[:, :2].min(axis=0) - 0.005, c[:, :2].max(axis=0) + 0.005
            assert np.all((g.cop[on, :2] >= lo) & (g.cop[on, :2] <= hi))
            assert np.allclose(g.cop[on, 2], c[0, 2])
        for s in "rl":
            assert np.nanmin(t.grf[s].vertical) > -5.0
            assert t.grf[s].time.size == t.plates[0].time.size


def test_plates_agree_with_ezc3d(one: Path, trials: dict[str, Trial]) -> None:
    """Independent check of the TYPE 2 maths against ezc3d's own force-platform module."""
    import ezc3d

    t = trials[one.stem]
    c = ezc3d.c3d(str(one), extract_forceplat_data=True)
    rot = np.diag([-1.0, -1.0, 1.0]) if any("by 180°" in n for n in t.notes) else np.eye(3)
    for g, pf in zip(t.plates, c["data"]["platform"], strict=True):
        assert pf["unit_moment"] == "Nmm" and pf["unit_position"] == "mm"
        np.testing.assert_allclose(g.force, pf["force"].T @ rot.T, atol=1e-6)
        on = g.vertical >= 20
        np.testing.assert_allclose(g.cop[on], (pf["center_of_pressure"].T @ rot.T)[on] / 1000, atol=1e-9)
        np.testing.assert_allclose(g.free_moment[on], pf["Tz"][2, on] / 1000, atol=1e-6)


def test_stance_durations(trials: dict[str, Trial]) -> None:
    """Each foot gets one plate contact of plausible length (≈0.45 s at 2.2 m/s up to ≈0.95 s at 0.75 m/s)."""
    for name, t in trials.items():
        for s in "rl":
            dur = np.count_nonzero(t.grf[s].vertical > 20) / t.grf[s].rate
            print(f"{name} {s}: stance on plates {dur:.3f} s")
            assert 0.4 < dur < 1.0
        assert not any("not assigned" in n for n in t.notes)


def test_subject(trials: dict[str, Trial]) -> None:
    for t in trials.values():
        assert 50 < t.subject.mass_kg < 100 and 1.5 < t.subject.height_m < 2.0
        assert {"age", "gender", "R_legLength", "L_legLength"} <= set(t.subject.extra)
        assert t.kind == "measured" and t.name == Path(t.source).stem


def test_static_trials(static_files: list[Path], files: list[Path]) -> None:
    """Static standing trials: the walking trials' 52 ISB markers, no plates loaded, no gait events, no crash."""
    walking = read_c3d(files[0])
    for f in static_files:
        t = read_c3d(f)
        assert t.markers is not None and set(t.markers.names) == set(walking.markers.names), f.name
        assert all(t.events.heel_strike[s].size == 0 for s in "rl"), f.name
        assert any("progression unknown" in n for n in t.notes), f.name


# ------------------------------------------------------------------------------------------ bad input


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.c3d"
    with pytest.raises(DataFileError, match="not found") as e:
        read_c3d(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("content", [b"", b"hello\n", bytes(range(256)) * 8])
def test_not_a_c3d(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "garbage.c3d"
    p.write_bytes(content)
    with pytest.raises(DataFileError) as e:
        read_c3d(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("keep", [600, 5200, 200_000, -100])
def test_truncated(tmp_path: Path, one: Path, keep: int) -> None:
    data = one.read_bytes()
    p = tmp_path / "truncated.c3d"
    p.write_bytes(data[:keep])
    with pytest.raises(DataFileError) as e:
        read_c3d(p)
    assert str(p) in str(e.value)


def test_mismatched_rates(tmp_path: Path, one: Path) -> None:
    data = bytearray(one.read_bytes())
    data[20:24] = struct.pack("<f", 50.0)  # header frame rate 100 → 50 Hz: analog 750 Hz ≠ ANALOG:RATE 1500
    p = tmp_path / "rates.c3d"
    p.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="rate") as e:
        read_c3d(p)
    assert str(p) in str(e.value)


def test_nan_analog_stays_nan(tmp_path: Path, one: Path) -> None:
    import ezc3d

    c = ezc3d.c3d(str(one))
    a = c["data"]["analogs"]
    a[0, 10, 600:630] = np.nan  # Fz of plate 1, during a stance
    c["data"]["analogs"] = a
    p = tmp_path / "nan.c3d"
    c.write(str(p))
    t = read_c3d(p)
    assert np.isnan(t.plates[0].vertical[600:630]).all()
    for s in "rl":
        assert np.isnan(t.grf[s].vertical[600:630]).all()
        assert np.isfinite(t.grf[s].vertical[:600]).all()
    assert any("NaN" in n for n in t.notes)


def test_unsupported_plate_type(tmp_path: Path, one: Path) -> None:
    import ezc3d

    c = ezc3d.c3d(str(one))
    c["parameters"]["FORCE_PLATFORM"]["TYPE"]["value"] = np.array([3, 2])
    p = tmp_path / "type3.c3d"
    c.write(str(p))
    with pytest.raises(DataFileError, match="TYPE 3") as e:
        read_c3d(p)
    assert str(p) in str(e.value)


def test_events_detected_when_absent(tmp_path: Path, one: Path, trials: dict[str, Trial]) -> None:
    pytest.importorskip("mmbio.gait.events")
    import ezc3d

    c = ezc3d.c3d(str(one))
    del c["parameters"]["EVENT"]
    p = tmp_path / "noevents.c3d"
    c.write(str(p))
    t = read_c3d(p)
    ref = trials[one.stem].events
    assert t.events.source == "grf"
    for s in "rl":
        hs = t.events.heel_strike[s]
        assert hs.size >= 1
        assert np.min(np.abs(ref.heel_strike[s][:, None] - hs[None])) < 0.02
