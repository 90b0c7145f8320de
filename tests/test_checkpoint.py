"""The checkpoint format: round trip, a restricted unpickler that runs nothing, clear errors on bad files."""

from __future__ import annotations

import itertools
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbio.control.checkpoint import (
    ALLOWED_GLOBALS,
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from mmbio.errors import DataFileError
from mmbio.models.registry import load_model
from mmbio.sim.motion import synthesize_motion


@pytest.fixture(scope="module")
def policy() -> Checkpoint:
    """A realistic policy checkpoint: MLP params, frozen normaliser, config and a reference motion."""
    from mmbio.train.config import get_config, to_dict

    info = load_model("myofullbody")
    rng = np.random.default_rng(0)
    n_obs, hidden, nu = 40, [64, 32], info.nu
    sizes = [n_obs, *hidden, nu]
    layers = [
        {
            "kernel": rng.standard_normal((a, b)).astype(np.float32),
            "bias": np.zeros(b, np.float32),
            "ln_scale": np.ones(b, np.float32),
            "ln_bias": np.zeros(b, np.float32),
        }
        for a, b in itertools.pairwise(sizes[:-1])
    ]
    out = {"kernel": rng.standard_normal((hidden[-1], nu)).astype(np.float32), "bias": np.zeros(nu, np.float32)}
    params = {"actor": {"layers": layers, "out": out}, "log_std": np.full(nu, -0.5, np.float32)}
    controller = {
        "architecture": {
            "type": "gaussian_mlp",
            "obs_size": n_obs,
            "action_size": nu,
            "actor_hidden": hidden,
            "activation": "tanh",
            "layer_norm": True,
        },
        "params": params,
        "obs_normalizer": {"mean": rng.standard_normal(n_obs), "var": rng.random(n_obs) + 0.1, "count": 1.5e7},
        "action_mapping": {"kind": "clip", "low": 0.0, "high": 1.0},
        "obs_mask": rng.random(n_obs) > 0.5,
        "step_counts": np.arange(5, dtype=np.int64),
    }
    config = to_dict(get_config("smoke"))
    config["ppo"]["gamma"] = np.float64(0.99)
    return make_checkpoint(
        "policy",
        controller,
        reference_motion=synthesize_motion(n_cycles=1),
        config=config,
        metadata={"note": "test", "blob": b"\x00\x01"},
    )


def _assert_equal(a: Any, b: Any) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_equal(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_equal(x, y)
    else:
        assert a == b


def _payload(policy: Checkpoint, **changes: Any) -> dict[str, Any]:
    d = policy.to_dict()
    d.update(changes)
    return d


def _write(path: Path, obj: Any) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=5))
    return path


def test_round_trip(policy: Checkpoint, tmp_path: Path) -> None:
    p = save_checkpoint(policy, tmp_path / "checkpoint.pkl")
    assert [f.name for f in tmp_path.iterdir()] == ["checkpoint.pkl"]  # no temp file left behind
    back = load_checkpoint(p)
    assert back.format == CHECKPOINT_FORMAT and back.kind == "policy"
    assert back.model == "myofullbody" and back.variant == "nofingers"
    assert back.model_hash == load_model("myofullbody").hash
    assert back.created is not None and back.created.startswith("20")
    _assert_equal(back.controller, policy.controller)
    _assert_equal(back.reference_motion, policy.reference_motion)
    _assert_equal(back.metadata, policy.metadata)
    assert back.controller["params"]["actor"]["layers"][0]["kernel"].dtype == np.float32
    assert back.controller["obs_mask"].dtype == bool and back.controller["step_counts"].dtype == np.int64
    assert back.config["ppo"]["gamma"] == 0.99 and type(back.config["ppo"]["gamma"]) is float  # numpy scalar: float
    motion = back.motion()
    assert motion is not None and motion.n_frames == policy.reference_motion["qpos"].shape[0]
    np.testing.assert_array_equal(motion.qpos, policy.reference_motion["qpos"])
    assert motion.stance is not None and set(motion.stance) == {"r", "l"}
    # a second save over the first replaces it atomically and reads back the same
    save_checkpoint(back, p)
    _assert_equal(load_checkpoint(p).controller, policy.controller)


class _SystemCall:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.target}",))


class _EvalCall:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, (f"open({str(self.target)!r}, 'w').close()",))


@pytest.mark.parametrize("attack", [_SystemCall, _EvalCall])
def test_malicious_pickle_is_refused_without_running(policy: Checkpoint, tmp_path: Path, attack: type) -> None:
    target = tmp_path / "pwned"
    evil = attack(target)
    # the payload hides deep inside an otherwise valid checkpoint
    d = _payload(policy, metadata={"x": [1, {"y": evil}]})
    p = _write(tmp_path / "evil.pkl", d)
    with pytest.raises(
        DataFileError, match=r"refusing to load: the file references (posix|nt|builtins)\.(system|eval), which"
    ):
        load_checkpoint(p)
    assert not target.exists()
    # the same pickle really would run code with the ordinary unpickler (proves the test is meaningful)
    pickle.loads(p.read_bytes())
    assert target.exists()


def test_other_globals_refused(policy: Checkpoint, tmp_path: Path) -> None:
    p = _write(tmp_path / "dc.pkl", policy)  # the dataclass itself, not its dict
    with pytest.raises(DataFileError, match=r"pickle opcode NEWOBJ at byte \d+ is not allowed"):  # refused unread
        load_checkpoint(p)
    p = _write(tmp_path / "np.pkl", _payload(policy, metadata={"f": np.load}))
    with pytest.raises(DataFileError, match=r"numpy\.load"):
        load_checkpoint(p)
    assert ("numpy", "ndarray") in ALLOWED_GLOBALS and all(m.startswith("numpy") for m, _ in ALLOWED_GLOBALS)


def test_object_arrays_refused(policy: Checkpoint, tmp_path: Path) -> None:
    obj = np.array([1, "a", None], dtype=object)
    p = _write(tmp_path / "obj.pkl", _payload(policy, metadata={"o": obj}))
    with pytest.raises(DataFileError, match=r"array dtype 'O8?' is not allowed"):
        load_checkpoint(p)
    bad = Checkpoint(**{**policy.to_dict(), "metadata": {"o": obj}})
    with pytest.raises(CheckpointError, match="object arrays"):
        save_checkpoint(bad, tmp_path / "never.pkl")
    assert not (tmp_path / "never.pkl").exists()


def test_truncated_and_corrupted(policy: Checkpoint, tmp_path: Path) -> None:
    p = save_checkpoint(policy, tmp_path / "good.pkl")
    raw = p.read_bytes()
    for n in (0, 1, 20, len(raw) // 2, len(raw) - 1):
        cut = tmp_path / f"cut{n}.pkl"
        cut.write_bytes(raw[:n])
        with pytest.raises(DataFileError) as e:
            load_checkpoint(cut)
        assert str(e.value).startswith(str(cut)) and "\n" not in str(e.value)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"this is not a pickle at all\n")
    with pytest.raises(DataFileError, match="corrupted"):
        load_checkpoint(junk)
    trailing = tmp_path / "trailing.pkl"
    trailing.write_bytes(raw + b"xx")
    with pytest.raises(DataFileError, match="bytes after the end"):
        load_checkpoint(trailing)
    with pytest.raises(DataFileError, match="cannot read"):
        load_checkpoint(tmp_path / "missing.pkl")


def test_model_mismatch_refused(policy: Checkpoint, tmp_path: Path) -> None:
    other = "0123456789abcdef" * 4
    p = _write(tmp_path / "other.pkl", _payload(policy, model_hash=other))
    with pytest.raises(
        DataFileError,
        match=r"checkpoint is for myofullbody/nofingers 01234567, this mmbio has myofullbody/nofingers [0-9a-f]{8}",
    ):
        load_checkpoint(p)
    assert load_checkpoint(p, check_model=False).model_hash == other
    good = save_checkpoint(policy, tmp_path / "good.pkl")
    with pytest.raises(
        DataFileError, match=r"checkpoint is for myofullbody/nofingers .* this mmbio has myofullbody/full"
    ):
        load_checkpoint(good, expected_model=load_model("myofullbody", "full"))
    assert load_checkpoint(good, expected_model=load_model("myofullbody")).kind == "policy"
    unknown = _write(tmp_path / "unknown_model.pkl", _payload(policy, model="robot"))
    with pytest.raises(DataFileError, match="robot/nofingers, which this mmbio lacks"):
        load_checkpoint(unknown)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "magic"}, "unknown checkpoint kind 'magic'"),
        ({"format": "something/1"}, "not an mmbio checkpoint: format tag"),
        ({"format": "mmbio.checkpoint/2"}, "newer than this mmbio"),
        ({"controller": {"params": {}}}, "controller: a policy checkpoint lacks architecture"),
        ({"extra": 1}, "unknown checkpoint keys 'extra'"),
        ({"reference_motion": {"qpos": np.zeros((2, 3))}}, "reference_motion: lacks qvel"),
    ],
)
def test_bad_fields(policy: Checkpoint, tmp_path: Path, change: dict[str, Any], message: str) -> None:
    p = _write(tmp_path / "bad.pkl", _payload(policy, **change))
    with pytest.raises(DataFileError, match=message):
        load_checkpoint(p)


def test_missing_key_and_not_a_dict(policy: Checkpoint, tmp_path: Path) -> None:
    d = _payload(policy)
    del d["model_hash"]
    with pytest.raises(DataFileError, match="missing model_hash"):
        load_checkpoint(_write(tmp_path / "missing.pkl", d))
    with pytest.raises(DataFileError, match="holds a list, not a dict"):
        load_checkpoint(_write(tmp_path / "list.pkl", [1, 2]))  # the pickle holds a list, not a dict


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (lambda x: x, "function"),
        (object(), "object"),
        (Path("/tmp"), "PosixPath|WindowsPath"),
        ({1.5: "float key"}, "keys must be str or int"),
        (np.ma.masked_array([1.0]), "MaskedArray"),
    ],
)
def test_save_refuses_non_plain(policy: Checkpoint, tmp_path: Path, value: Any, what: str) -> None:
    bad = Checkpoint(**{**policy.to_dict(), "config": {"nested": [{"v": value}]}})
    target = tmp_path / "checkpoint.pkl"
    with pytest.raises(CheckpointError, match=what):
        save_checkpoint(bad, target)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temp file


def test_save_refuses_bad_kind(policy: Checkpoint, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="unknown checkpoint kind"):
        save_checkpoint(Checkpoint(**{**policy.to_dict(), "kind": "magic"}), tmp_path / "c.pkl")
    with pytest.raises(CheckpointError, match="unknown checkpoint kind"):
        make_checkpoint("magic", {})
    nu = load_model("myofullbody", "full").nu
    ok = make_checkpoint("open_loop", {"excitations": np.zeros((3, nu), np.float32), "rate_hz": 100}, variant="full")
    assert load_checkpoint(save_checkpoint(ok, tmp_path / "ol.pkl")).variant == "full"
    narrow = make_checkpoint("open_loop", {"excitations": np.zeros((3, 4), np.float32), "rate_hz": 100}, variant="full")
    with pytest.raises(DataFileError, match=r"controller\.excitations: has 4 columns, the model has 416 muscles"):
        load_checkpoint(save_checkpoint(narrow, tmp_path / "narrow.pkl"))
