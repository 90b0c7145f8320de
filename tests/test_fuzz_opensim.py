"""Fuzzing, in-process, of the OpenSim text readers and the bounded YAML loader: whatever the mutation, only an
:class:`~mmbio.errors.MmbioError` may escape (a traceback of any other class is a bug at the parsing boundary).

Mutations of generated files: header lines replaced or inserted, numbers replaced by nan / inf / huge values /
garbage, rows truncated, duplicated or dropped, columns dropped, bytes flipped; YAML: tokens of the language
(anchors, aliases, merges, tags, flow brackets, special floats) spliced into a protocol. Bounded and reproducible:
``derandomize=True``, fixed ``max_examples``; the module runs in ≈ 15 s on 2 cores.
"""

from __future__ import annotations

import os
import string
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmbio.errors import MmbioError
from mmbio.io.opensim import read_opensim_trial, read_storage, read_trc, write_storage
from mmbio.io.yaml_safe import loads_yaml
from mmbio.report.protocol import parse_protocol

#: Examples per test; a longer campaign: ``MMBIO_FUZZ_EXAMPLES=20000 MMBIO_FUZZ_RANDOM=1 pytest tests/test_fuzz_opensim.py``.
EXAMPLES = int(os.environ.get("MMBIO_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("MMBIO_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small walking trial: kin.mot (deg, 100 Hz, 2.4 s), grf.mot and emg.sto (250 Hz), m.trc."""
    d = tmp_path_factory.mktemp("fuzz")
    t = np.round(np.arange(0, 2.4, 0.01), 6)
    ph = (t % 1.1) / 1.1
    knee = 5 + 60 * np.exp(-(((ph - 0.72) / 0.1) ** 2))
    kin = {"time": t, "pelvis_tilt": -10 + 0 * t, "pelvis_tx": 1.2 * t, "hip_flexion_r": 30 * np.cos(2 * np.pi * ph)}
    kin |= {"knee_angle_r": knee, "knee_angle_l": np.roll(knee, 55), "knee_angle_r_beta": knee / 2}
    tg = np.round(np.arange(0, 2.4, 0.004), 6)

    def stance(t0: float) -> np.ndarray:
        x = (tg - t0) / 0.66
        return np.where((x > 0) & (x < 1), 800 * np.sin(np.pi * x), 0.0)

    fr, fl = stance(0.1) + stance(1.2), stance(0.65) + stance(1.75)
    grf = {"time": tg}
    for s, f in (("r", fr), ("l", fl)):
        grf |= {f"ground_force_{s}_v{c}": v for c, v in zip("xyz", (0.1 * f, f, 0 * f), strict=True)}
        grf |= {f"ground_force_{s}_p{c}": v for c, v in zip("xyz", (0.5 + 0 * f, 0 * f, 0.1 + 0 * f), strict=True)}
        grf[f"ground_torque_{s}_y"] = 0 * f
    trc = (
        "PathFileType\t4\t(X/Y/Z)\tx.trc\n"
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
        "100.0\t100.0\t4\t2\tmm\t100.0\t1\t4\nFrame#\tTime\tA\t\t\tB\t\t\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n"
        "1\t0.00\t100\t1000\t50\t1\t2\t3\n2\t0.01\t110\t1000\t50\t\t\t\n"
        "3\t0.02\t120\t1000\t50\t1\t2\t3\t\n4\t0.03\t130\t1000\t50\t1\t2\t3\n"
    )
    (d / "m.trc").write_text(trc)
    return {
        "kin": write_storage(d / "kin.mot", pd.DataFrame(kin), in_degrees=True, name="kin"),
        "grf": write_storage(d / "grf.mot", pd.DataFrame(grf), in_degrees=False, name="grf"),
        "emg": write_storage(d / "emg.sto", pd.DataFrame({"time": tg, "soleus": fr / 800}), in_degrees=False),
        "trc": d / "m.trc",
        "dir": d,
    }


NUMBERS = st.sampled_from(
    ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e999", "1e-320", "0", "-0", "1e", "--1"]
) | st.floats(allow_nan=True, allow_infinity=True).map(repr)
GARBAGE = st.sampled_from(
    ["", "abc", "NULL", "NA", "1_0", "0x10", '"3"', "#", "\t", " ", "\x1b[2J", "é", "\ufeff", "1,5", "+", ".", "e5"]
) | st.text(alphabet=string.printable + "\x00\x85\u2028é°", max_size=6)
HEADER_LINES = st.sampled_from(
    [
        "endheader",
        "inDegrees=yes",
        "inDegrees=no",
        "inDegrees=maybe",
        "nRows=3",
        "nRows=-1",
        "nRows=99999999999999999999",
        "nColumns=x",
        "datarows 5",
        "datacolumns 2",
        "name x",
        "range 0 1",
        "version=3",
        "Angles are in radians.",
        "# comment",
        "",
        "time\tknee_angle_r",
        "time\ttime",
    ]
)

OP = st.one_of(
    st.tuples(st.just("cell"), st.integers(0, 10_000), st.integers(0, 30), NUMBERS | GARBAGE),
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), HEADER_LINES | GARBAGE),
    st.tuples(st.just("header"), st.integers(0, 8), HEADER_LINES),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.integers(0, 200)),
    st.tuples(st.just("drop_column"), st.integers(0, 30)),
    st.tuples(st.just("duplicate"), st.integers(0, 10_000), st.integers(0, 10_000)),
    st.tuples(st.just("flip"), st.integers(0, 10**7), st.integers(0, 255)),
    st.tuples(st.just("cut_file"), st.integers(0, 10**7)),
    st.tuples(st.just("no_row_count")),  # so that dropped or added rows reach the row checks
)


def mutate(raw: bytes, ops: list[tuple]) -> bytes:
    lines = raw.split(b"\n")
    for op in ops:
        kind, *a = op
        if not lines:
            lines = [b""]
        i = a[0] % len(lines) if a and isinstance(a[0], int) else 0
        if kind == "cell":
            cells = lines[i].split(b"\t")
            cells[a[1] % len(cells)] = a[2].encode("utf-8", "surrogatepass")
            lines[i] = b"\t".join(cells)
        elif kind == "delete":
            del lines[i]
        elif kind == "insert":
            lines.insert(i, a[1].encode("utf-8", "surrogatepass"))
        elif kind == "header":
            lines[a[0] % min(len(lines), 8)] = a[1].encode()
        elif kind == "truncate":
            lines[i] = lines[i][: a[1]]
        elif kind == "drop_column":
            lines = [b"\t".join(c for j, c in enumerate(ln.split(b"\t")) if j != a[0]) for ln in lines]
        elif kind == "duplicate":
            lines.insert(i, lines[a[1] % len(lines)])
        elif kind == "flip":
            b = bytearray(b"\n".join(lines))
            if b:
                b[a[0] % len(b)] = a[1]
            lines = bytes(b).split(b"\n")
        elif kind == "no_row_count":
            lines = [ln for ln in lines if not ln.startswith((b"nRows", b"datarows"))]
        elif kind == "cut_file":
            b = b"\n".join(lines)
            lines = b[: a[0] % (len(b) + 1)].split(b"\n")
    return b"\n".join(lines)


def _only_mmbio_errors(fn, *args, **kwargs):
    """Call ``fn``: MmbioError is fine, any other exception (or a warning that a CLI run would print) fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return fn(*args, **kwargs)
        except MmbioError:
            return None


@FUZZ
@given(target=st.sampled_from(["kin", "grf", "emg"]), ops=st.lists(OP, min_size=1, max_size=4))
def test_fuzz_opensim_trial(files: dict[str, Path], target: str, ops: list[tuple]) -> None:
    bad = files["dir"] / f"bad_{files[target].name}"
    bad.write_bytes(mutate(files[target].read_bytes(), ops))
    paths = {k: files[k] for k in ("kin", "grf", "emg")} | {target: bad}
    trial = _only_mmbio_errors(read_opensim_trial, paths["kin"], paths["grf"], paths["emg"], mass_kg=70.0)
    if trial is not None:  # what is accepted is finite where it is used
        assert np.isfinite(trial.angles.values).all() and np.isfinite(trial.angles.time).all()
        assert all(np.isfinite(g.force).all() for g in trial.grf.values())
        assert trial.emg is None or np.isfinite(trial.emg.values).all()


@FUZZ
@given(ops=st.lists(OP, min_size=1, max_size=6))
def test_fuzz_read_storage(files: dict[str, Path], ops: list[tuple]) -> None:
    bad = files["dir"] / "bad_table.sto"
    bad.write_bytes(mutate(files["grf"].read_bytes(), ops))
    s = _only_mmbio_errors(read_storage, bad)
    if s is not None:
        assert s.data.ndim == 2 and s.data.shape[1] == len(s.columns) and s.columns[0] == "time"
        assert np.isfinite(s.time).all() and (np.diff(s.time) > 0).all()
        assert all(c.isprintable() for c in s.columns) and s.name.isprintable()


@FUZZ
@given(ops=st.lists(OP, min_size=1, max_size=4))
def test_fuzz_read_trc(files: dict[str, Path], ops: list[tuple]) -> None:
    bad = files["dir"] / "bad.trc"
    bad.write_bytes(mutate(files["trc"].read_bytes(), ops))
    m = _only_mmbio_errors(read_trc, bad)
    if m is not None:
        assert np.isfinite(m.time).all()
        assert not np.isinf(m.positions).any()


PROTOCOL = """name: fuzz
description: >
  a protocol to mutate
reference: schwartz2008:free
variables:
  sides: [right, left]
  kinematics: [hip_flexion, knee_flexion]
checks:
  - metric: kinematics.*.knee_flexion.r
    pass: &rule {op: '>=', value: 0.9}
    warn: {op: '>=', value: 0.8}
  - metric: kinematics.*.hip_flexion.r
    pass: *rule
  - metric: grf.*.vertical.first_peak_bw
    pass: {op: within, value: 0.15, of: grf.*.vertical_reference.first_peak_bw}
    required: false
  - metric: grf.*.vertical.stance_time_s
    pass: {op: between, value: [0.5, 0.8]}
    label: stance
"""
YAML_TOKENS = st.sampled_from(
    [
        "&a ",
        "*a",
        "*rule",
        "<<: *rule\n",
        "[",
        "]",
        "{",
        "}",
        "- ",
        ": ",
        ",",
        "!!int ",
        "!!float ",
        "!!binary ",
        "!!timestamp ",
        "!!python/object:os.system ",
        "!!set ",
        ".nan",
        ".inf",
        "1e999",
        "9" * 50,
        "0x1F",
        "2001-02-30",
        "yes",
        "~",
        "'",
        '"',
        "\t",
        "\n",
        "  ",
        "%YAML 1.1\n",
        "---\n",
        "? ",
        "|\n",
        "\x00",
        "\ufeff",
        "op",
        "value",
        "required",
    ]
)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(PROTOCOL)), st.integers(0, 3), YAML_TOKENS), min_size=1, max_size=5))
def test_fuzz_protocol_yaml(edits: list[tuple[int, int, str]]) -> None:
    text = PROTOCOL
    for pos, cut, token in edits:
        text = text[:pos] + token + text[pos + cut :]

    def load() -> object:
        return parse_protocol(loads_yaml(text, "p.yaml"), source="p.yaml")

    _only_mmbio_errors(load)


LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
TREE = st.recursive(
    LEAF,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(
    doc=st.fixed_dictionaries(
        {
            "checks": st.lists(
                st.fixed_dictionaries({"metric": TREE, "pass": TREE}, optional={"warn": TREE}), max_size=3
            )
        },
        optional={"name": TREE, "reference": TREE, "variables": TREE, "description": TREE},
    )
)
def test_fuzz_protocol_structure(doc: dict) -> None:
    _only_mmbio_errors(parse_protocol, doc, "p.yaml")
