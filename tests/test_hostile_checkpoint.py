"""Hostile checkpoints through the CLI: every case exits 2 with one line naming the file, no traceback, within the
harness's time and memory caps, and no payload runs code (issue 12, section 1).

Every file is generated here from the committed demo checkpoint (trusted: our own file) or from raw opcodes.
The cases run concurrently in child processes (module fixture), each test then checks its own result.
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hostile import CANARY_NAME, CliResult, assert_bad_input, assert_no_canary, run_cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "checkpoints" / "tracking_walk.pkl"


def _demo() -> dict[str, Any]:
    return pickle.loads(DEMO.read_bytes())  # our own committed file: trusted


def _dump(d: Any, protocol: int = 5) -> bytes:
    return pickle.dumps(d, protocol=protocol)


def _with(change: Callable[[dict[str, Any]], None]) -> bytes:
    d = copy.deepcopy(_demo())
    change(d)
    return _dump(d)


class _Run:
    """``os.system('touch <canary>')`` when unpickled by a plain unpickler."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.target}",))


class _Eval:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, (f"open({self.target!r}, 'w').close()",))


class _Obj:
    pass


def _g(m: bytes, n: bytes) -> bytes:
    return b"c%s\n%s\n" % (m, n)


def _u(s: bytes) -> bytes:
    return b"X" + struct.pack("<I", len(s)) + s


def _segfault(proto: int) -> bytes:
    """The issue's 111-byte file: an object-dtype array over file bytes, then used as a shape."""
    dt = _g(b"numpy", b"dtype") + _u(b"O") + b"\x85R"
    f = _g(b"numpy", b"ndarray") + b"K\x01\x85" + dt + b"C\x08" + b"A" * 8 + b"\x87R"
    return (
        bytes([0x80, proto])
        + _g(b"numpy._core.multiarray", b"_reconstruct")
        + _g(b"numpy", b"ndarray")
        + f
        + (b"C\x01b\x87R.")
    )


def _dag(levels: int) -> Any:
    x: Any = [1.0]
    for _ in range(levels):
        x = [x, x]
    return x


def _nested(depth: int) -> bytes:
    """``depth`` + 1 lists inside each other, written as raw opcodes (pickle itself would hit its recursion limit)."""
    return b"\x80\x05" + b"(" * depth + b"]" + b"l" * depth + b"."


def _cycle() -> bytes:
    d = _demo()
    loop: list[Any] = []
    loop.append(loop)
    d["metadata"] = {"loop": loop}
    return _dump(d)


def _lying_shape() -> bytes:
    """metadata['a']: a float array record that claims shape (2**33,) over the 8 bytes of one float."""
    marker = np.full(1, 7.0)
    base = _demo()
    base["metadata"] = {"a": marker}
    blob = bytearray(_dump(base))
    j = blob.index(b"K\x01\x85", blob.index(marker.tobytes()))  # BININT1 1, TUPLE1: the shape (1,)
    blob[j : j + 3] = b"\x8a\x05\x00\x00\x00\x00\x02\x85"  # LONG1 2**33, TUPLE1
    return bytes(blob)


def _persistent_id() -> bytes:
    return b"\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94Q."


def _next_buffer() -> bytes:
    return b"\x80\x05\x97."


def _huge_int() -> bytes:
    d = _demo()
    d["metadata"] = {"n": 10**5000}
    return _dump(d)


def _set_motion(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d["reference_motion"][key] = value

    return change


def _set_setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d["controller"]["settings"][key] = value

    return change


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d[key] = value

    return change


def _open_loop(ex: np.ndarray, rate: Any = 100.0) -> bytes:
    d = _demo()
    d.update(kind="open_loop", controller={"excitations": ex, "rate_hz": rate})
    return _dump(d)


def _policy(**arch: Any) -> bytes:
    rng = np.random.default_rng(0)
    n_obs, n_act = 8, 354
    ctl = {
        "architecture": {"type": "gaussian_mlp", "activation": "silu", "layer_norm": False, **arch},
        "params": {
            "actor": {"layers": [], "out": {"kernel": rng.standard_normal((n_obs, n_act)), "bias": np.zeros(n_act)}},
            "log_std": np.zeros(n_act),
        },
    }
    d = _demo()
    d.update(kind="policy", controller=ctl, config={"ppo": {"n_envs": 10**12}})
    return _dump(d)


# name → (bytes builder taking the canary path, words the message must contain)
CASES: dict[str, tuple[Callable[[str], bytes], str]] = {
    "segfault_object_array_p2": (lambda c: _segfault(2), "protocol 2"),
    "segfault_object_array_p3": (lambda c: _segfault(3), "dtype 'O'"),
    "memo_index_bomb": (lambda c: b"\x80\x03}r\x00\x00\x00\x08.", "memo index"),
    "shared_refs_40_levels": (lambda c: _dump({**_demo(), "metadata": {"m": _dag(40)}}), "expands to more than"),
    "nested_100000_levels": (lambda c: _nested(100_000), "nested more than"),
    "reference_cycle": (lambda c: _cycle(), "reference cycle"),
    "os_system": (lambda c: _dump({**_demo(), "metadata": {"x": [_Run(c)]}}), "system"),
    "eval": (lambda c: _dump({**_demo(), "metadata": {"x": _Eval(c)}}), "eval"),
    "newobj_instance": (lambda c: _dump({**_demo(), "metadata": {"x": _Obj()}}), "opcode"),
    "numpy_load_global": (lambda c: _dump({**_demo(), "metadata": {"f": np.load}}), "numpy.load"),
    "object_dtype_array": (lambda c: _dump({**_demo(), "metadata": {"o": np.array([1, None])}}), "not allowed"),
    "array_shape_2_33": (lambda c: _lying_shape(), "needs 68,719,476,736 bytes"),
    "persistent_id": (lambda c: _persistent_id(), "opcode"),
    "out_of_band_buffer": (lambda c: _next_buffer(), "opcode"),
    "integer_5000_digits": (lambda c: _huge_int(), "bits"),
    "format_tag_5000_digits": (lambda c: _with(_set("format", "mmbio.checkpoint/" + "9" * 5000)), "format tag"),
    "string_2M_chars": (lambda c: _dump({**_demo(), "metadata": {"s": "x" * 2_000_000}}), "MAX_STRING_CHARS"),
    "rate_hz_1e-6": (lambda c: _with(_set_motion("rate_hz", 1e-6)), "reference_motion.rate_hz"),
    "rate_hz_as_text": (lambda c: _with(_set_motion("rate_hz", "100")), "reference_motion.rate_hz"),
    "qpos_as_list": (lambda c: _with(_set_motion("qpos", [[0.0] * 89] * 3)), "reference_motion.qpos"),
    "qpos_nan": (lambda c: _with(lambda d: d["reference_motion"]["qpos"].__setitem__((0, 0), math.nan)), "NaN"),
    "friction_nan": (lambda c: _with(_set_setting("mu", math.nan)), "mu"),
    "negative_cutoff": (lambda c: _with(_set_setting("reference_cutoff_hz", -5.0)), "reference_cutoff_hz"),
    "substeps_1e7": (lambda c: _with(_set_setting("substeps", 10**7)), "substeps"),
    "settings_as_list": (lambda c: _with(lambda d: d["controller"].__setitem__("settings", [1, 2])), "settings"),
    "controller_as_text": (lambda c: _with(_set("controller", "hello")), "controller"),
    "metadata_as_list": (lambda c: _with(_set("metadata", [1])), "metadata"),
    "open_loop_nan": (lambda c: _open_loop(np.full((5, 354), math.nan)), "controller.excitations"),
    "open_loop_rate_0": (lambda c: _open_loop(np.zeros((5, 354)), 0.0), "controller.rate_hz"),
    "policy_sizes_mismatch": (lambda c: _policy(obs_size=99), "obs_size"),
    "truncated": (lambda c: DEMO.read_bytes()[:5000], "checkpoint"),
    "trailing_bytes": (lambda c: DEMO.read_bytes() + b"junk", "after the end"),
    "empty": (lambda c: b"", "empty"),
    "text_not_pickle": (lambda c: b"hello, I am not a pickle\n", "checkpoint"),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[CliResult, Path, Path]]:
    root = tmp_path_factory.mktemp("hostile_ckpt")

    def one(name: str) -> tuple[str, tuple[CliResult, Path, Path]]:
        case = root / name
        case.mkdir()
        canary = case / CANARY_NAME
        build, _ = CASES[name]
        f = case / f"{name}.pkl"
        f.write_bytes(build(str(canary)))
        use_info = list(CASES).index(name) % 2  # half through `info`, half through `validate`
        argv = ["info", str(f)] if use_info else ["validate", str(f), "--output", str(case / "out"), "--no-pdf"]
        return name, (run_cli(argv, case), f, case)

    with ThreadPoolExecutor(max_workers=3) as ex:
        return dict(ex.map(one, CASES))


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_checkpoint(results: dict[str, tuple[CliResult, Path, Path]], name: str) -> None:
    res, f, case = results[name]
    assert_bad_input(res, names=f.name, mentions=CASES[name][1])
    assert_no_canary(case)
    assert not (case / "out").exists() or not any((case / "out").iterdir()), "nothing that looks like a result"


def test_the_plain_unpickler_would_have_run_the_payload(tmp_path: Path) -> None:
    """The os.system case is a real attack: an ordinary unpickler runs it (so the refusal above means something)."""
    canary = tmp_path / CANARY_NAME
    pickle.loads(_dump({"x": _Run(str(canary))}))
    assert canary.exists()


def test_demo_checkpoint_still_loads_and_is_unchanged() -> None:
    """The committed checkpoint (numpy-pickled arrays) reads through the stand-ins to the same values."""
    from mmbio.control.checkpoint import load_checkpoint

    ck = load_checkpoint(DEMO)
    plain = _demo()
    np.testing.assert_array_equal(ck.reference_motion["qpos"], plain["reference_motion"]["qpos"])
    assert ck.reference_motion["qpos"].flags.writeable and ck.controller == plain["controller"]
