"""Fuzzing of the ``.npz`` readers in process (hypothesis, derandomized, bounded): whatever a damaged archive holds,
only :class:`~mmbio.errors.MmbioError` may come out of :meth:`Motion.load`, :meth:`Rollout.load`,
:func:`read_rollout_npz`, :func:`list_episodes`, :func:`archive_kind` and :func:`npz_to_trial` (warnings count as
failures too: the CLI's one-line promise has no room for them).

Mutations of small valid archives (a motion, a rollout and a one-episode mm-evalkit archive): bytes flipped and the
archive cut; members dropped, duplicated, renamed, cut or given hand-made ``.npy`` headers (dtypes, shapes, orders,
versions, lengths); scalars and arrays replaced by values of other types, shapes and dtypes; the JSON ``meta``
mutated field by field or replaced by any JSON or text.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmbio.errors import MmbioError
from mmbio.io.rollout_npz import archive_kind, list_episodes, npz_to_trial, read_rollout_npz
from mmbio.models.registry import load_model
from mmbio.sim.motion import Motion
from mmbio.sim.rollout_cpu import Rollout, replay

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KINDS = ("motion", "rollout", "evalkit")
READERS = (archive_kind, Motion.load, Rollout.load, read_rollout_npz, list_episodes)


def npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()


@cache
def bases() -> dict[str, dict[str, bytes]]:
    """Members (name → ``.npy`` bytes) of the three valid base archives (12 frames of MyoFullBody nofingers)."""
    m = load_model("myofullbody", "nofingers").model
    t = 12
    qpos = np.tile(m.qpos0, (t, 1))
    qpos[:, 1] = -0.0125 * np.arange(t)
    stance = {"r": np.arange(t) < 7, "l": np.arange(t) >= 5}
    motion = Motion(qpos=qpos, qvel=np.zeros((t, m.nv)), rate_hz=100.0, model="myofullbody", variant="nofingers",
                    source="fuzz", notes=["a note"], stance=stance)  # fmt: skip
    out = {}
    for kind, obj in (("motion", motion), ("rollout", replay("myofullbody", qpos, variant="nofingers"))):
        out[kind] = _members_of_saved(obj)
    evalkit = {
        "n_episodes": np.array(1),
        "dt": np.array(0.01),
        "joint_names": np.array([m.joint(i).name for i in range(m.njnt)]),
        "activation_sample_phase": np.array("post_step"),
        "episode_0_traj_id": np.array(3),
        "episode_0_traj_length": np.array(t),
        "episode_0_joint_positions": qpos,
        "episode_0_traj_qpos": qpos,
        "episode_0_muscle_activations": np.full((t, m.na), 0.25),
        "episode_0_touch_observations": np.zeros((t, 4)),
    }
    out["evalkit"] = {f"{k}.npy": npy(v) for k, v in evalkit.items()}
    return out


def _members_of_saved(obj: Motion | Rollout) -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = obj.save(Path(d) / "x.npz")
        with zipfile.ZipFile(p) as z:
            return {n: z.read(n) for n in z.namelist()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def zip_bytes(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are wanted here
        for name, data in members:
            z.writestr(name, data)
    return b.getvalue()


def read_all(path: Path, data: bytes, *, trial: bool = False) -> None:
    """Every reader on ``data``: only MmbioError may escape, and no warning."""
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reader in (*READERS, npz_to_trial) if trial else READERS:
            try:
                reader(path)
            except MmbioError:
                pass


# ---------------------------------------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
descrs = st.sampled_from(
    ["<f8", ">f8", "<f4", "<f2", "<i8", "|u1", "|b1", "<U5", "|S3", "|O", "<c16", "<M8[ns]", "|V8", "<U0", "f8,i4",
     "<U99999999999", "O", "<f8\x00", "a", ""]
) | st.text(max_size=8) | st.lists(st.tuples(st.text(max_size=3), st.sampled_from(["<f8", "|O"])), max_size=2)  # fmt: skip
dims = st.integers(min_value=-3, max_value=30) | st.sampled_from([89, 88, 354, 4, 12, 10**6, 10**11, 2**63, 10**40])
shapes = st.lists(dims, max_size=3).map(tuple) | st.sampled_from([None, "(1,2)", [3], (1.5,), (True, 2)])


@st.composite
def npy_members(draw: st.DrawFn) -> bytes:
    """A ``.npy`` member with a hand-made header (any descr, shape, order, version, length) and some data."""
    d = {"descr": draw(descrs), "fortran_order": draw(st.sampled_from([False, True, 0, "yes"])), "shape": draw(shapes)}
    if draw(st.booleans()):
        d[draw(st.sampled_from(["extra", "descr", "shape"]))] = draw(json_values)
    text = repr(d) if draw(st.integers(0, 9)) else draw(st.text(max_size=60))
    raw = text.encode("utf8", "replace")
    version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (0, 9), (4, 0)]))
    size = struct.pack("<H" if version == (1, 0) else "<I", min(len(raw), 0xFFFF))
    if draw(st.integers(0, 9)) == 0:
        size = struct.pack("<I", draw(st.integers(0, 2**32 - 1)))
    data = draw(st.binary(max_size=64)) if draw(st.booleans()) else bytes(draw(st.integers(0, 12)) * 712)
    return b"\x93NUMPY" + bytes(version) + size + raw + data


def values_for(base: np.ndarray) -> st.SearchStrategy[np.ndarray]:
    """Arrays that a key could wrongly hold instead of ``base``: other dtypes, shapes, strings, non-finite and huge
    values, and ``base`` itself with one value or all of them changed (so that the shape checks pass)."""
    x = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e9, 1.1e9, -1e300, 0.0, -1.0, 1e-300])

    def poke(args: tuple[float, int]) -> np.ndarray:
        a = np.array(base, dtype=float) if base.dtype.kind in "biuf" else np.zeros(base.shape)
        if a.size:
            a.flat[args[1] % a.size] = args[0]
        return a

    return st.one_of(
        st.tuples(x, st.integers(0, 10**6)).map(poke),
        x.map(lambda v: np.full(base.shape, v)),
        st.integers(-(2**63), 2**63 - 1).map(np.array),
        st.floats(allow_nan=True, allow_infinity=True).map(np.array),
        st.text(max_size=10).map(np.array),
        st.booleans().map(np.array),
        st.lists(st.floats(allow_nan=True), min_size=0, max_size=12).map(np.array),
        st.sampled_from([(12, 89), (12, 88), (11, 89), (12, 354), (12, 4), (0, 89), (12,), (2, 2, 2)]).map(
            lambda s: np.full(s, 0.1)
        ),
        st.sampled_from([np.int8, np.uint64, np.float16, np.bool_]).map(lambda t: np.zeros((12, 89), dtype=t)),
    )


# ---------------------------------------------------------------------------------------------- tests


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    deflate=st.booleans(),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6),
    cut=st.none() | st.floats(0, 1),
)
def test_flipped_and_cut_bytes(workdir: Path, kind: str, deflate: bool, flips, cut) -> None:
    data = bytearray(zip_bytes(list(bases()[kind].items()), zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED))
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    if cut is not None:
        data = data[: int(cut * len(data))]
    read_all(workdir / "flip.npz", bytes(data))


@settings(FUZZ, max_examples=120)
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255), st.booleans()), min_size=1, max_size=4),
)
def test_npy_bytes_flipped(workdir: Path, kind: str, data: st.DataObject, flips) -> None:
    """Bytes of one member flipped, mostly in its ``.npy`` header, in a well-formed zip (CRC of the new bytes)."""
    members = dict(bases()[kind])
    name = data.draw(st.sampled_from(sorted(members)))
    blob = bytearray(members[name])
    for at, xor, in_header in flips:
        blob[at % (min(len(blob), 140) if in_header else len(blob))] ^= xor
    members[name] = bytes(blob)
    read_all(workdir / "npy.npz", zip_bytes(list(members.items())))


@settings(FUZZ, max_examples=80)
@given(
    kind=st.sampled_from(KINDS),
    ops=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 99), st.data()), min_size=1, max_size=3),
)
def test_members_dropped_duplicated_renamed_or_crafted(workdir: Path, kind: str, ops) -> None:
    members = list(bases()[kind].items())
    for op, k, data in ops:
        if not members:
            break
        i = k % len(members)
        name, blob = members[i]
        if op == 0:
            del members[i]
        elif op == 1:
            members.append((name, data.draw(npy_members())))
        elif op == 2:
            members[i] = (
                data.draw(st.sampled_from(["x.npy", "qpos", "meta.npy", "stance_q.npy", "dir/qpos.npy"])),
                blob,
            )
        elif op == 3:
            members[i] = (name, blob[: data.draw(st.integers(0, len(blob)))])
        elif op == 4:
            members[i] = (name, data.draw(npy_members()))
        else:
            members[i] = (name, blob + data.draw(st.binary(min_size=1, max_size=16)))
    read_all(workdir / "members.npz", zip_bytes(members))  # fmt: skip


@settings(FUZZ, max_examples=100)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_values_of_other_types_and_shapes(workdir: Path, kind: str, data: st.DataObject) -> None:
    members = dict(bases()[kind])
    names = sorted(n for n in members if n != "meta.npy")  # meta: test_meta_mutated
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        members[name] = npy(data.draw(values_for(np.load(io.BytesIO(members[name])))))
    read_all(workdir / "values.npz", zip_bytes(list(members.items())))


@settings(FUZZ, max_examples=100)
@given(
    kind=st.sampled_from(("motion", "rollout")),
    edits=st.lists(
        st.tuples(st.sampled_from(["drop", "set", "set_note"]), st.text(max_size=3), json_values), max_size=4
    ),
    replace=st.one_of(*[st.none()] * 4, json_values.map(json.dumps), st.text(max_size=40)),
)
def test_meta_mutated(workdir: Path, kind: str, edits, replace) -> None:
    members = dict(bases()[kind])
    meta = json.loads(str(np.load(io.BytesIO(members["meta.npy"]))))
    fields = sorted(meta)
    for op, salt, value in edits:
        key = fields[len(salt) % len(fields)]
        if op == "drop":
            meta.pop(key, None)
        elif op == "set":
            meta[key] = value
        else:
            meta["notes"] = {"record_hz": value, "backend": value} if kind == "rollout" else [value]
    members["meta.npy"] = npy(np.array(replace if replace is not None else json.dumps(meta)))
    read_all(workdir / "meta.npz", zip_bytes(list(members.items())), trial=not edits and replace is None)


@settings(FUZZ, max_examples=40)
@given(
    kind=st.sampled_from(("motion", "rollout")),
    key=st.sampled_from(["rate_hz", "physics_dt", "control_dt", "diverged_at_s", "record_hz"]),
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20),
)
def test_numbers_that_later_stages_trust(workdir: Path, kind: str, key: str, value: float) -> None:
    """A number in meta that the readers accept must also get through the trial extraction without a crash."""
    members = dict(bases()[kind])
    meta = json.loads(str(np.load(io.BytesIO(members["meta.npy"]))))
    if key == "record_hz" and kind == "rollout":
        meta["notes"]["record_hz"] = value
    else:
        meta[key] = value
    members["meta.npy"] = npy(np.array(json.dumps(meta)))
    read_all(workdir / "numbers.npz", zip_bytes(list(members.items())), trial=True)


@settings(FUZZ, max_examples=30)
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    pokes=st.lists(
        st.tuples(st.floats(-1e9, 1e9) | st.sampled_from([0.0, 1e9, -1e9, 1e-9]), st.integers(0, 10**6)),
        min_size=1,
        max_size=3,
    ),
)
def test_accepted_values_get_through_the_trial(workdir: Path, kind: str, data: st.DataObject, pokes) -> None:
    """Values the readers accept (finite, within ±1e9, shapes consistent) must not crash the trial extraction."""
    members = dict(bases()[kind])
    arrays = {"motion": ["qpos", "qvel"], "rollout": ["qpos", "qvel", "act", "ctrl", "time"],
              "evalkit": ["episode_0_joint_positions", "episode_0_muscle_activations", "episode_0_touch_observations"]}  # fmt: skip
    name = data.draw(st.sampled_from(arrays[kind])) + ".npy"
    a = np.load(io.BytesIO(members[name])).astype(float)
    for value, at in pokes:
        a.flat[at % a.size] = value
    members[name] = npy(a)
    read_all(workdir / "accepted.npz", zip_bytes(list(members.items())), trial=True)
