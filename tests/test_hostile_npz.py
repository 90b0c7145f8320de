"""Hostile ``.npz`` archives through the CLI: every reader of rollouts, motions and mm-evalkit archives must answer a
damaged or crafted archive with mmbio's promise (exit 2, one stderr line naming the file, no traceback, no code run,
bounded time and memory: ``tests/hostile.py``).

Every archive is generated here from valid base archives written by mmbio's own writers (:meth:`Motion.save`,
:meth:`Rollout.save`) or in mm-evalkit's layout (as ``tests/test_rollout_npz.py`` builds it), then damaged: cut,
bombed, members overlapped, duplicated or re-compressed, ``.npy`` headers hand-crafted (huge, negative or code
shapes, object and structured dtypes, 4 GB header lengths), declared counts and metadata made absurd. The cases
cover the reader classes (zip container, ``.npy`` header, declared counts, typed metadata, values) of
:mod:`mmbio.io.npz_safe`, :meth:`Motion.load`, :meth:`Rollout.load` and :mod:`mmbio.io.rollout_npz`, through
``mmbio info``, ``mmbio validate`` and ``mmbio train --motion``. A few in-process checks follow (no subprocess).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hostile import CANARY_NAME, assert_bad_input, assert_no_canary, run_cli

from mmbio.errors import DataFileError
from mmbio.io.npz_safe import NpzArchive
from mmbio.io.rollout_npz import archive_kind, list_episodes, read_rollout_npz
from mmbio.models.registry import load_model
from mmbio.sim.motion import Motion
from mmbio.sim.rollout_cpu import Rollout, replay

Members = dict[str, bytes]

# ---------------------------------------------------------------------------------------------- archive crafting


def npy(a: np.ndarray) -> bytes:
    """``a`` as ``.npy`` bytes (numpy's writer)."""
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()


def npy_header(descr: object, shape: object, *, fortran: object = False, text: str | None = None) -> bytes:
    """A hand-made version 1.0 ``.npy`` header (``text``: the header literal itself, verbatim)."""
    h = text if text is not None else repr({"descr": descr, "fortran_order": fortran, "shape": shape})
    raw = h.encode("latin1")
    raw += b" " * (63 - (10 + len(raw)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw


def members_of(path: Path) -> Members:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_zip(path: Path, members: Members | list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", method) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name, which is what some cases want
        for name, data in items:
            z.writestr(name, data)
    return path


@dataclass
class Entry:
    """One member of :func:`raw_zip`: ``data`` as stored, ``size`` its declared uncompressed size."""

    name: str
    data: bytes
    size: int
    crc: int
    method: int = zipfile.ZIP_STORED
    flags: int = 0
    same_as: int | None = None  # central entry pointing at the local header of entry ``same_as``


def stored(name: str, data: bytes) -> Entry:
    return Entry(name, data, len(data), zlib.crc32(data))


def raw_zip(entries: list[Entry]) -> bytes:
    """A zip written by hand, so that its directory can lie (sizes, flags, methods, shared data)."""
    out, central, offsets = bytearray(), bytearray(), []
    for e in entries:
        name = e.name.encode()
        if e.same_as is None:
            offsets.append(len(out))
            out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21, e.crc, len(e.data), e.size,
                               len(name), 0) + name + e.data  # fmt: skip
        else:
            offsets.append(offsets[e.same_as])
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, e.flags, e.method, 0, 0x21, e.crc, len(e.data),
                               e.size, len(name), 0, 0, 0, 0, 0, offsets[-1]) + name  # fmt: skip
    n = len(entries)
    return bytes(out + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), 0))


def zip_bomb_member(name: str, mib: int) -> Entry:
    """A deflated ``.npy`` member of ``mib`` MiB of zeros that is ≈ 1000 times smaller (1 MiB blocks, each ending
    in a full flush so that the compressed block can be repeated); a correct CRC, so a naive reader inflates it."""
    hdr = npy_header("|u1", (mib * (1 << 20) - 128,))
    assert len(hdr) == 128
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(hdr + bytes((1 << 20) - 128)) + first.flush(zlib.Z_FULL_FLUSH)
    rest = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = rest.compress(bytes(1 << 20)) + rest.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(hdr + bytes((1 << 20) - 128))
    zeros = bytes(1 << 20)
    for _ in range(mib - 1):
        crc = zlib.crc32(zeros, crc)
    data = head + block * (mib - 1) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return Entry(name, data, mib << 20, crc, method=zipfile.ZIP_DEFLATED)


def with_meta(members: Members, edit: Callable[[dict], object] | None = None, *, text: str | None = None) -> Members:
    """``members`` with the JSON in ``meta.npy`` edited (``edit`` returns the new value) or replaced by ``text``."""
    meta = json.loads(str(np.load(io.BytesIO(members["meta.npy"]))))
    new = text if text is not None else json.dumps(edit(meta))  # type: ignore[misc]
    return members | {"meta.npy": npy(np.array(new))}


def with_array(members: Members, key: str, edit: Callable[[np.ndarray], np.ndarray]) -> Members:
    return members | {f"{key}.npy": npy(edit(np.load(io.BytesIO(members[f"{key}.npy"]))))}


class _Payload:
    """Unpickling this creates the canary file in the current directory (it must never happen)."""

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (CANARY_NAME, "w"))


# ---------------------------------------------------------------------------------------------- valid bases


@dataclass
class Bases:
    motion: Members
    rollout: Members
    evalkit: Members


def make_bases(tmp: Path) -> Bases:
    """Small valid archives: a MyoFullBody nofingers motion (Motion.save), its replay (Rollout.save) and a
    one-episode mm-evalkit archive of the same poses."""
    m = load_model("myofullbody", "nofingers").model
    t = 40
    qpos = np.tile(m.qpos0, (t, 1))
    qpos[:, 1] = -0.0125 * np.arange(t)  # walking along -y at 1.25 m/s
    stance = {"r": np.arange(t) % 20 < 12, "l": (np.arange(t) + 10) % 20 < 12}
    index = {m.joint(j).name: (int(m.jnt_qposadr[j]), {0: 7, 1: 4}.get(int(m.jnt_type[j]), 1)) for j in range(m.njnt)}
    motion = Motion(qpos=qpos, qvel=np.zeros((t, m.nv)), rate_hz=100.0, model="myofullbody", variant="nofingers",
                    source="test pose", notes=["made by tests/test_hostile_npz.py"], stance=stance, qpos_index=index)  # fmt: skip
    rollout = replay("myofullbody", qpos, variant="nofingers")
    evalkit = {
        "n_episodes": np.array(1),
        "dt": np.array(0.01),
        "joint_names": np.array([m.joint(i).name for i in range(m.njnt)]),
        "activation_sample_phase": np.array("pre_step"),
        "episode_0_traj_id": np.array(7),
        "episode_0_traj_length": np.array(t),
        "episode_0_joint_positions": qpos,
        "episode_0_traj_qpos": qpos,
        "episode_0_muscle_activations": np.full((t, m.na), 0.5),
        "episode_0_touch_observations": np.zeros((t, 4)),
    }
    return Bases(
        motion=members_of(motion.save(tmp / "base_motion.npz")),
        rollout=members_of(rollout.save(tmp / "base_rollout.npz")),
        evalkit={f"{k}.npy": npy(v) for k, v in evalkit.items()},
    )


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Bases:
    return make_bases(tmp_path_factory.mktemp("bases"))


# ---------------------------------------------------------------------------------------------- the matrix

Build = Callable[[Bases, Path], Path]


def _z(members: Members, method: int = zipfile.ZIP_DEFLATED) -> Build:
    return lambda b, p: write_zip(p, members, method)


def _bytes(make: Callable[[Bases], bytes]) -> Build:
    def build(b: Bases, p: Path) -> Path:
        p.write_bytes(make(b))
        return p

    return build


def _members(make: Callable[[Bases], Members | list[tuple[str, bytes]]], method: int = zipfile.ZIP_DEFLATED) -> Build:
    return lambda b, p: write_zip(p, make(b), method)


def _truncated(b: Bases) -> bytes:
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in b.motion.items():
            z.writestr(n, d)
    return whole.getvalue()[: len(whole.getvalue()) // 2]


def _overlap(b: Bases) -> bytes:
    entries = [stored(n, d) for n, d in b.motion.items()]
    k = [e.name for e in entries].index("qpos.npy")
    return raw_zip([*entries, Entry("qpos_again.npy", entries[k].data, entries[k].size, entries[k].crc, same_as=k)])


def _flag(b: Bases, name: str, **change: int) -> bytes:
    entries = [stored(n, d) for n, d in b.motion.items()]
    for e in entries:
        if e.name == name:
            for k, v in change.items():
                setattr(e, k, v)
    return raw_zip(entries)


def _crc(b: Bases) -> bytes:
    data = bytearray(raw_zip([stored(n, d) for n, d in b.motion.items()]))
    at = data.index(b"qpos.npy") + 8 + 128 + 4000  # inside qpos's float data
    data[at] ^= 0x40
    return bytes(data)


def _short_entry(b: Bases) -> bytes:
    entries = [stored(n, d) for n, d in b.motion.items() if n != "qpos.npy"]
    return raw_zip([*entries, stored("qpos.npy", b.motion["qpos.npy"][:-800])])


def _bomb(b: Bases) -> bytes:
    return raw_zip([*(stored(n, d) for n, d in b.motion.items() if n != "qpos.npy"), zip_bomb_member("qpos.npy", 1400)])


def _long_header(b: Bases) -> Members:
    head = b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFF_FFF0) + b"{" + b" " * 4000
    return b.motion | {"qpos.npy": head}


def _header(b: Bases, key: str, head: bytes, data: bytes = b"") -> Members:
    return b.motion | {f"{key}.npy": head + data}


def _missing_keys(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("model_name",)}


#: id → (command, build, substring the message must mention, extra environment)
CASES: dict[str, tuple[str, Build, str, dict[str, str]]] = {
    # zip container
    "truncated": ("info", _bytes(_truncated), "not a readable .npz archive", {}),
    "not_a_zip": ("validate", _bytes(lambda b: b"just some text, no zip\n" * 50), "not a readable .npz", {}),
    "zip_bomb": ("info", _bytes(_bomb), "zip bomb", {}),
    "overlapping_members": ("validate", _bytes(_overlap), "overlaps", {}),
    "too_many_members": (
        "info",
        _members(lambda b: {**b.motion, **{f"junk{i}.npy": b"" for i in range(40)}}),
        "MAX_NPZ_MEMBERS",
        {"MMBIO_MAX_NPZ_MEMBERS": "30"},
    ),
    "duplicate_member": (
        "train",
        _members(lambda b: [*b.motion.items(), ("qpos.npy", npy(np.zeros((2, 2))))]),
        "appears twice",
        {},
    ),
    "bzip2_member": ("info", _members(lambda b: b.motion, zipfile.ZIP_BZIP2), "compression method 12", {}),
    "encrypted_member": ("info", _bytes(lambda b: _flag(b, "meta.npy", flags=1)), "encrypted", {}),
    "bad_crc": ("validate", _bytes(_crc), "CRC", {}),
    "entry_shorter_than_header": ("info", _bytes(_short_entry), "the zip entry holds", {}),
    # .npy headers
    "huge_shape": ("info", _members(lambda b: _header(b, "qpos", npy_header("<f8", (10**11,)))), "MAX_ARRAY_MB", {}),
    "pickled_object_array": (
        "validate",
        _members(lambda b: _header(b, "qpos", npy_header("|O", (1,)), pickle.dumps(np.array([_Payload()])))),
        "pickled object array",
        {},
    ),
    "code_in_header": (
        "train",
        _members(lambda b: _header(b, "qpos", npy_header(None, None, text=f"__import__('os').mknod('{CANARY_NAME}')"))),
        "not a Python literal",
        {},
    ),
    "structured_dtype": (
        "info",
        _members(lambda b: _header(b, "qpos", npy_header([("x", "<f8")], (2,)), bytes(16))),
        "dtype",
        {},
    ),
    "header_length_4gb": ("info", _members(_long_header), "header of", {}),
    "negative_shape": (
        "validate",
        _members(lambda b: _header(b, "qpos", npy_header("<f8", (-1, 89)))),
        "non-negative",
        {},
    ),
    # declared counts
    "n_episodes_1e9": (
        "info",
        _members(lambda b: b.evalkit | {"n_episodes.npy": npy(np.array(10**9))}),
        "MAX_EPISODES",
        {},
    ),
    "n_episodes_more_than_stored": (
        "validate",
        _members(lambda b: b.evalkit | {"n_episodes.npy": npy(np.array(7))}),
        "'episode_1_traj_id': missing (and 35 more)",
        {},
    ),
    "traj_length_1e12": (
        "info",
        _members(lambda b: b.evalkit | {"episode_0_traj_length.npy": npy(np.array(10**12))}),
        "MAX_FRAMES",
        {},
    ),
    # typed metadata
    "motion_rate_1e-6": ("train", _members(lambda b: with_meta(b.motion, lambda m: m | {"rate_hz": 1e-6})), "rate_hz", {}),
    "motion_rate_nan": (
        "validate",
        _members(lambda b: with_meta(b.motion, lambda m: m | {"rate_hz": float("nan")})),
        "rate_hz",
        {},
    ),
    "motion_without_rate": (
        "train",
        _members(lambda b: with_meta(b.motion, lambda m: {k: v for k, v in m.items() if k != "rate_hz"})),
        "'rate_hz' is missing",
        {},
    ),
    "rollout_without_model_name": (
        "info",
        _members(lambda b: with_meta(b.rollout, _missing_keys)),
        "'model_name' is missing",
        {},
    ),
    "meta_is_a_list": ("validate", _members(lambda b: with_meta(b.rollout, lambda m: [1, 2])), "JSON object", {}),
    "meta_nested_200k_deep": (
        "info",
        _members(lambda b: with_meta(b.rollout, text="[" * 200_000 + "]" * 200_000)),
        "not valid JSON",
        {},
    ),
    "rollout_unknown_model": (
        "validate",
        _members(lambda b: with_meta(b.rollout, lambda m: m | {"model_name": "hal9000"})),
        "hal9000",
        {},
    ),
    # values
    "motion_wrong_nq": ("train", _members(lambda b: with_array(b.motion, "qpos", lambda a: a[:, :80])), "nq = 89", {}),
    "motion_nan": (
        "validate",
        _members(lambda b: with_array(b.motion, "qvel", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 99, np.nan, a))),
        "non-finite",
        {},
    ),
    "rollout_time_backwards": (
        "validate",
        _members(lambda b: with_array(b.rollout, "time", lambda a: a[::-1].copy())),
        "time",
        {},
    ),
}  # fmt: skip


def argv(command: str, path: Path, out: Path) -> list[str]:
    if command == "info":
        return ["info", str(path)]
    if command == "validate":
        return ["validate", str(path), "--output", str(out), "--no-spm", "--no-pdf"]
    return ["train", "--config", "smoke", "--motion", str(path), "--output", str(out), "--updates", "1"]


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_archive(case: str, bases: Bases, tmp_path: Path) -> None:
    command, build, mentions, env = CASES[case]
    if command == "train":
        pytest.importorskip("jax")
    npz = build(bases, tmp_path / f"{case}.npz")
    res = run_cli(argv(command, npz, tmp_path / "out"), cwd=tmp_path, env=env)
    assert_bad_input(res, names=npz.name, mentions=mentions)
    assert_no_canary(tmp_path)


# ---------------------------------------------------------------------------------------------- in process


def test_bases_are_valid(bases: Bases, tmp_path: Path) -> None:
    """The hostile cases differ from archives that load (so each refusal is the damage's doing)."""
    motion = Motion.load(write_zip(tmp_path / "m.npz", bases.motion))
    assert motion.n_frames == 40 and set(motion.stance or {}) == {"r", "l"} and motion.qpos_index
    rollout = Rollout.load(write_zip(tmp_path / "r.npz", bases.rollout))
    assert rollout.n_frames == 40 and rollout.model_name == "myofullbody"
    ek = write_zip(tmp_path / "e.npz", bases.evalkit)
    assert archive_kind(ek) == "evalkit" and list_episodes(ek)[0].frames == 40
    assert read_rollout_npz(ek).n_frames == 40


def test_member_count_is_checked_before_zipfile_parses(bases: Bases, tmp_path: Path, monkeypatch) -> None:
    p = write_zip(tmp_path / "many.npz", {**bases.motion, **{f"j{i}.npy": b"" for i in range(50)}})
    monkeypatch.setenv("MMBIO_MAX_NPZ_MEMBERS", "20")

    def no_zipfile(*a: object, **k: object) -> None:
        raise AssertionError("zipfile parsed a directory over the member limit")

    monkeypatch.setattr(zipfile, "ZipFile", no_zipfile)
    with pytest.raises(DataFileError, match="has more than 20 members"):
        NpzArchive(p)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(DataFileError, match="not a regular file"):
        Motion.load(fifo)


def test_layouts_numpy_writes_read_as_numpy_reads_them(tmp_path: Path) -> None:
    """Fortran order, big-endian, bytes, bools, 0-d and empty arrays, stored and deflated: as ``np.load`` gives."""
    arrays = {
        "f": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "be": np.arange(5, dtype=">i4"),
        "s": np.array([b"ab", b"c"]),
        "u": np.array(["héllo", "µ"]),
        "b": np.array([True, False, True]),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 7)),
        "h": np.arange(4, dtype=np.float16),
    }
    for name, writer in (("stored.npz", np.savez), ("deflated.npz", np.savez_compressed)):
        writer(tmp_path / name, **arrays)
        with NpzArchive(tmp_path / name) as ar, np.load(tmp_path / name) as ref:
            assert ar.keys == set(ref.files)
            for k in ref.files:
                got = ar.array(k, kinds="biufUS")
                assert got.dtype == ref[k].dtype and got.shape == ref[k].shape
                np.testing.assert_array_equal(got, ref[k])
    # a bool byte other than 0/1 reads as True (no 'True' that compares unequal to True)
    raw = bytearray(npy(np.array([True, False, True])))
    raw[-1] = 7
    write_zip(tmp_path / "b7.npz", {"b.npy": bytes(raw)})
    with NpzArchive(tmp_path / "b7.npz") as ar:
        b = ar.array("b")
        assert b.tolist() == [True, False, True] and b.view(np.uint8).max() == 1


def test_invalid_unicode_and_surrogates_are_refused(tmp_path: Path) -> None:
    bad = npy_header("<U1", (1,)) + struct.pack("<I", 0x110000)
    write_zip(tmp_path / "u.npz", {"s.npy": bad})
    with NpzArchive(tmp_path / "u.npz") as ar, pytest.raises(DataFileError, match="not valid unicode"):
        ar.str_scalar("s")
    write_zip(tmp_path / "j.npz", {"meta.npy": npy(np.array('{"source": "\\ud800"}'))})
    with NpzArchive(tmp_path / "j.npz") as ar, pytest.raises(DataFileError, match="not valid JSON"):
        ar.json_dict("meta")


def test_header_parsing_takes_linear_time(tmp_path: Path) -> None:
    """10 kB headers of digits in numpy's layout (a regular expression with nested repeats would take ages on them)
    are refused at once."""
    for body in ("1" * 9000, "1, " * 3000 + "1" * 900, "1," * 4500):
        text = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + body + "x), }"
        write_zip(tmp_path / "digits.npz", {"a.npy": npy_header(None, None, text=text)})
        t0 = time.perf_counter()
        with NpzArchive(tmp_path / "digits.npz") as ar, pytest.raises(DataFileError, match="not a Python literal"):
            ar.header("a")
        # a hang guard, not a benchmark: catastrophic backtracking on 9,000 digits would take far longer than this
        assert time.perf_counter() - t0 < 20.0


def test_free_form_notes_are_bounded_in_depth(bases: Bases, tmp_path: Path) -> None:
    deep: object = "leaf"
    for _ in range(100):
        deep = {"x": deep}
    p = write_zip(tmp_path / "deep.npz", with_meta(bases.rollout, lambda m: m | {"notes": deep}))
    with pytest.raises(DataFileError, match="'notes' is nested more than 64 deep"):
        Rollout.load(p)
