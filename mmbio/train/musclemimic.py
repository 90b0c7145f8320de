"""MuscleMimic (PyPI ``musclemimic`` 0.1.0) policy checkpoints: read one, rebuild its environment, roll it out.

A MuscleMimic run writes ``run/checkpoint_N/`` with Orbax (its ``OrbaxCheckpointManager``, metadata schema 2.2):
``train_state/`` (an Orbax PyTree: ``params`` with ``actor``, ``critic``, ``log_std``; ``opt_state``; ``step``;
``run_stats/RunningMeanStd_0/{mean, var, count}``), ``config/metadata`` (the resolved Hydra config, JSON) and
``metadata/metadata`` (JSON: step, update_number, global_timestep, schema_version, backend, env_name, …).

**Reading** (:func:`read_checkpoint`, needs ``orbax-checkpoint``, part of the ``train`` extra): the train state is
restored on the CPU as numpy arrays; only ``params`` and ``run_stats`` are used. The default actor (flax
``FullyConnectedNet``: ``Dense_i`` → ``LayerNorm_i`` → activation for each hidden layer, then ``Dense_{n}``) maps
layer by layer onto mmbio's Gaussian MLP (:mod:`mmbio.train.policy_numpy`, the same layer order): ``Dense_i.kernel``
(n_in, n_out) → ``layers[i].kernel``, ``LayerNorm_i.scale/bias`` → ``ln_scale/ln_bias``. The observation normaliser
is MuscleMimic's ``RunningMeanStd``: ``(x − mean)/√(var + 1e-8)``, no clipping, here frozen (MuscleMimic's own
evaluation keeps updating it by ~1/count per call; with a trained run's count that is below 1e-6). The gated-residual
actor (``use_residual``) and the mixture-of-experts actor (``use_moe``) are refused in one line, as are several seeds
in one checkpoint (``n_seeds > 1``). Every problem is one :class:`~mmbio.errors.DataFileError` naming the path.

**Environment** (:class:`MuscleMimicEnv`): MuscleMimic's ``MyoFullBody`` rebuilt from ``musclemimic-models``:
fingers removed (its 40 joints, 62 muscles and every tendon whose name contains a finger muscle's), 17 mimic sites at
body origins (``mmbio/models/data/musclemimic_myofullbody.yaml``), muscle ``ctrlrange`` [-1, 1], 2 ms × 5 substeps
(100 Hz policy) and, for ``MjxMyoFullBody`` (the training default), MJX's solver options (4 iterations, 8 line-search
iterations, no Euler damping). An action ``a`` becomes ``ctrl = clip(a, −1, 1)``; MuJoCo's muscle dynamics use
``clip(ctrl, 0, 1)``, so the effective excitation is ``clip(a, 0, 1)`` (what the rollout records as ``ctrl``), while
the observation's excitation is ``ctrl`` itself.

**Observation** (:meth:`MuscleMimicEnv.observation`, 2,418 values for the default config), in MuscleMimic's order:
root height and quaternion (5), the other joints' qpos (82), root qvel (6), the other joints' qvel (82), per muscle
in actuator order its length, velocity, force, excitation (``ctrl``) and activation (``act``) interleaved (5 × 354),
the four touch sensors in N (4) and the goal (469): the simulated mimic sites relative to ``pelvis_mimic`` (16 × 3
world-frame offsets, 16 rotation vectors of ``R_pelvisᵀ R_site``, 16 × 6 relative velocities), the reference's
look-ahead (``n_step_lookahead`` = 5 frames ``n_step_stride`` = 20 apart, clipped at the last frame; frame 0: site
offsets, frames 1–4: root position delta (3), root velocity delta (6), site offsets) and the motion phase
(step / trajectory length). As in MuscleMimic, the quantities MuJoCo derives from positions (site poses, body
velocities, muscle lengths and forces, touch) are those ``mj_step`` left, i.e. of the state at the start of the last
substep. ``len_obs_history > 1`` stacks past observations (zeros before the start; with ``split_goal`` only the
non-goal part is stacked and the goal appended).

**Reference motion**: MuscleMimic's trajectory ``.npz`` (``Trajectory.save``; its AMASS cache
``$MUSCLEMIMIC_CONVERTED_AMASS_PATH/MyoFullBody/<path>.npz``) at the control rate (100 Hz), with its mimic-site
kinematics (``site_xpos``, ``site_xmat`` and ``cvel``/``subtree_com`` by body or ``cvel_parent``/``subtree_com_root``).
Read without unpickling (:class:`~mmbio.io.npz_safe.NpzArchive`; the pickled ``metadata`` member is skipped).
The episode starts at frame 0 of trajectory 0 with the reference state (root moved to x = y = 0, as MuscleMimic does)
and ends at the trajectory's last frame or when the mean site deviation exceeds the config's validation threshold
(MuscleMimic's ``MeanRelativeSiteDeviationTerminalStateHandler``, its evaluation default).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import DataFileError

__all__ = [
    "MuscleMimicCheckpoint",
    "MuscleMimicEnv",
    "ReferenceTrajectory",
    "describe_folder",
    "is_musclemimic_checkpoint",
    "read_checkpoint",
    "read_trajectory",
    "rollout_musclemimic",
    "to_mmbio_checkpoint",
]

_MAX_JSON_BYTES = 8 * 2**20
_NORM_EPS = 1e-8  # MuscleMimic's RunningMeanStd: (x - mean) / sqrt(var + 1e-8)
ENV_NAMES = ("MjxMyoFullBody", "MyoFullBody")


@cache
def env_facts() -> dict[str, Any]:
    """The table ``mmbio/models/data/musclemimic_myofullbody.yaml``."""
    from mmbio.io.yaml_safe import loads_yaml

    text = resources.files("mmbio.models").joinpath("data/musclemimic_myofullbody.yaml").read_text()
    return loads_yaml(text, "musclemimic_myofullbody.yaml")


# --------------------------------------------------------------------------------------------------
# Recognising a checkpoint folder
# --------------------------------------------------------------------------------------------------


def is_musclemimic_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder laid out as a MuscleMimic (Orbax) checkpoint: ``train_state/`` beside
    ``config/`` or ``_CHECKPOINT_METADATA``."""
    p = Path(path)
    try:
        return p.is_dir() and (p / "train_state").is_dir() and ((p / "config").is_dir() or
                                                                (p / "_CHECKPOINT_METADATA").is_file())  # fmt: skip
    except OSError:
        return False


def describe_folder(path: str | os.PathLike[str]) -> str:
    """One line saying why a folder is not a MuscleMimic checkpoint (or which checkpoint of a run to pass)."""
    p = Path(path)
    try:
        subs = sorted(d.name for d in p.iterdir() if d.is_dir() and d.name.startswith("checkpoint_"))
    except OSError as e:
        return f"is a folder that cannot be listed ({e.strerror or e})"
    if subs:
        latest = max(subs, key=lambda s: int(s.split("_")[-1]) if s.split("_")[-1].isdigit() else -1)
        return (f"is a MuscleMimic run folder ({len(subs)} checkpoints); pass one checkpoint, e.g. "
                f"{p / latest}")  # fmt: skip
    return ("is a folder; mmbio takes a trial file (.c3d, .mot/.sto, .npz), an mmbio checkpoint (.pkl) or a "
            "MuscleMimic checkpoint_N folder, and this is not a MuscleMimic checkpoint (no train_state/ beside config/ "
            "or _CHECKPOINT_METADATA)")  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Reading the checkpoint
# --------------------------------------------------------------------------------------------------


@dataclass
class MuscleMimicCheckpoint:
    """A MuscleMimic checkpoint as read by :func:`read_checkpoint`.

    path: the ``checkpoint_N`` folder. config: its resolved config (``config/metadata``). metadata: its
    ``metadata/metadata`` (``{}`` when absent). controller: the policy as an mmbio ``'policy'`` controller dict
    (:mod:`mmbio.train.policy_numpy` layout; the normaliser without clipping). obs_size, action_size: the actor's.
    """

    path: Path
    config: dict[str, Any]
    metadata: dict[str, Any]
    controller: dict[str, Any]
    obs_size: int
    action_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def experiment(self) -> dict[str, Any]:
        return self.config.get("experiment", {}) if isinstance(self.config.get("experiment"), dict) else {}


def _read_json(path: Path, what: str, owner: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise DataFileError(owner, f"MuscleMimic checkpoint without its {what} ({path.relative_to(owner)} missing)")
        return {}
    try:
        size = path.stat().st_size
        if size > _MAX_JSON_BYTES:
            raise DataFileError(owner, f"{what} ({path.name}) is {size:,} bytes, more than a config can be")
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataFileError(owner, f"{what} ({path.relative_to(owner)}) is not readable JSON: {str(e)[:120]}") from None
    if not isinstance(doc, dict):
        raise DataFileError(owner, f"{what} ({path.relative_to(owner)}) is not a JSON object")
    return doc


def _restore_tree(path: Path) -> Any:
    """The Orbax PyTree at ``path/train_state`` as nested dicts of numpy arrays (on the CPU)."""
    ts = path / "train_state"
    if not ts.is_dir():
        raise DataFileError(path, "MuscleMimic checkpoint without train_state/ (the policy's parameters)")
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        raise DataFileError(path, "MuscleMimic checkpoints need orbax-checkpoint: pip install 'mmbio[train]'") from None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ocp.StandardCheckpointer().restore(ts.resolve())
        import jax

        tree = jax.tree.map(np.asarray, tree)
    except DataFileError:
        raise
    except Exception as e:  # Orbax/TensorStore raise many types for a damaged store
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataFileError(path, f"train_state cannot be restored (truncated or damaged Orbax store?): "
                                  f"{type(e).__name__}: {msg}") from None  # fmt: skip
    return tree


def _arr(tree: Any, keys: tuple[str, ...], path: Path, ndim: int) -> np.ndarray:
    node = tree
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            raise DataFileError(path, f"train_state lacks {'/'.join(keys)}")
        node = node[k]
    try:
        a = np.asarray(node, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataFileError(path, f"train_state {'/'.join(keys)} is not a numeric array") from None
    if a.ndim != ndim:
        raise DataFileError(path, f"train_state {'/'.join(keys)} has shape {a.shape}, expected {ndim} dimensions")
    if not np.isfinite(a).all():
        raise DataFileError(path, f"train_state {'/'.join(keys)} holds {int((~np.isfinite(a)).sum())} NaN/inf values")
    return a


def _refuse_variant(path: Path, exp: dict[str, Any], actor: dict[str, Any]) -> None:
    if exp.get("use_moe") or any("expert" in k or "moe" in k.lower() for k in actor):
        raise DataFileError(path, "MuscleMimic mixture-of-experts actor (use_moe) is not supported by mmbio; "
                                  "only the default MLP actor can be imported")  # fmt: skip
    if exp.get("use_residual") or any(k.startswith(("block", "tail", "output")) for k in actor):
        raise DataFileError(path, "MuscleMimic gated-residual actor (use_residual) is not supported by mmbio; "
                                  "only the default MLP actor can be imported")  # fmt: skip
    unknown = sorted(k for k in actor if not k.startswith(("Dense_", "LayerNorm_")))
    if unknown:
        raise DataFileError(path, f"unknown MuscleMimic actor layers {unknown[:3]} (not the default MLP)")


def read_checkpoint(path: str | os.PathLike[str]) -> MuscleMimicCheckpoint:
    """Read a MuscleMimic ``checkpoint_N`` folder (see the module docs); one-line DataFileError for any problem."""
    p = Path(path)
    if not is_musclemimic_checkpoint(p):
        raise DataFileError(p, describe_folder(p) if p.is_dir() else "no such MuscleMimic checkpoint folder")
    config = _read_json(p / "config" / "metadata", "config", p, required=True)
    metadata = _read_json(p / "metadata" / "metadata", "metadata", p, required=False)
    exp = config.get("experiment")
    if not isinstance(exp, dict):
        raise DataFileError(p, "config has no 'experiment' section (not a MuscleMimic run config)")
    env_name = str((exp.get("env_params") or {}).get("env_name", ""))
    if env_name not in ENV_NAMES:
        raise DataFileError(p, f"MuscleMimic environment {env_name!r:.40} is not supported by mmbio (only "
                               f"{' / '.join(ENV_NAMES)}, the full-body walker)")  # fmt: skip
    n_seeds = exp.get("n_seeds", 1)
    if n_seeds not in (None, 1):
        raise DataFileError(p, f"checkpoint holds {n_seeds} seeds (n_seeds > 1); mmbio imports single-seed runs")
    tree = _restore_tree(p)
    params = tree.get("params") if isinstance(tree, dict) else None
    if not isinstance(params, dict) or not isinstance(params.get("actor"), dict):
        raise DataFileError(p, "train_state lacks params/actor (not a MuscleMimic PPO train state)")
    actor = params["actor"]
    _refuse_variant(p, exp, actor)
    n_dense = sum(1 for k in actor if k.startswith("Dense_"))
    if n_dense < 1 or sorted(actor) != sorted([f"Dense_{i}" for i in range(n_dense)] +
                                              [k for k in actor if k.startswith("LayerNorm_")]):  # fmt: skip
        raise DataFileError(p, f"actor layers {sorted(actor)[:6]} are not Dense_0 … Dense_n")
    layer_norm = any(k.startswith("LayerNorm_") for k in actor)
    layers = []
    for i in range(n_dense - 1):
        layer = {"kernel": _arr(params, ("actor", f"Dense_{i}", "kernel"), p, 2),
                 "bias": _arr(params, ("actor", f"Dense_{i}", "bias"), p, 1)}  # fmt: skip
        if layer_norm:
            layer["ln_scale"] = _arr(params, ("actor", f"LayerNorm_{i}", "scale"), p, 1)
            layer["ln_bias"] = _arr(params, ("actor", f"LayerNorm_{i}", "bias"), p, 1)
        layers.append(layer)
    out = {"kernel": _arr(params, ("actor", f"Dense_{n_dense - 1}", "kernel"), p, 2),
           "bias": _arr(params, ("actor", f"Dense_{n_dense - 1}", "bias"), p, 1)}  # fmt: skip
    log_std = _arr(params, ("log_std",), p, 1)
    shapes = [(l_["kernel"].shape, l_["bias"].shape) for l_ in layers] + [(out["kernel"].shape, out["bias"].shape)]
    for i, (k, b) in enumerate(shapes):
        if b != (k[1],):
            raise DataFileError(p, f"actor Dense_{i}: kernel {k} and bias {b} do not match")
        if i and shapes[i - 1][0][1] != k[0]:
            raise DataFileError(p, f"actor Dense_{i - 1} → Dense_{i}: sizes {shapes[i - 1][0]} → {k} do not chain")
        if i < len(layers) and layer_norm and layers[i]["ln_scale"].shape != b:
            raise DataFileError(p, f"actor LayerNorm_{i} has {layers[i]['ln_scale'].shape}, the layer outputs {b}")
    n_obs, n_act = shapes[0][0][0], shapes[-1][0][1]
    if log_std.shape != (n_act,):
        raise DataFileError(p, f"log_std has shape {log_std.shape}, the actor outputs {n_act}")
    stats = (tree.get("run_stats") or {}).get("RunningMeanStd_0") if isinstance(tree.get("run_stats"), dict) else None
    if not isinstance(stats, dict):
        raise DataFileError(p, "train_state lacks run_stats/RunningMeanStd_0 (the observation normaliser)")
    mean = _arr(tree, ("run_stats", "RunningMeanStd_0", "mean"), p, 1)
    var = _arr(tree, ("run_stats", "RunningMeanStd_0", "var"), p, 1)
    count = float(_arr(tree, ("run_stats", "RunningMeanStd_0", "count"), p, 0))
    if mean.shape != (n_obs,) or var.shape != (n_obs,):
        raise DataFileError(p, f"run_stats mean/var have shapes {mean.shape}/{var.shape}, the actor takes {n_obs}")
    if np.any(var < 0):
        raise DataFileError(p, "run_stats var has negative entries")
    activation = str(exp.get("activation", "tanh"))
    from mmbio.train.policy_numpy import ACTIVATIONS_NP, numpy_policy

    if activation not in ACTIVATIONS_NP:
        raise DataFileError(
            p, f"activation {activation!r:.40} is not one mmbio evaluates ({', '.join(ACTIVATIONS_NP)})"
        )
    eps = float(exp.get("layernorm_eps", 1e-5))
    controller = {
        "architecture": {"type": "gaussian_mlp", "obs_size": n_obs, "action_size": n_act,
                         "actor_hidden": [int(k[1]) for k, _ in shapes[:-1]], "activation": activation,
                         "layer_norm": layer_norm, "layer_norm_eps": eps, "layer_order": "dense-layernorm-activation",
                         "log_std": "state-independent"},
        "params": {"actor": {"layers": layers, "out": out}, "log_std": log_std},
        "obs_normalizer": {"enabled": True, "mean": mean, "var": var, "count": count, "eps": _NORM_EPS},
        "action_mapping": {"kind": "clip", "low": 0.0, "high": 1.0},
        "framework": "MuscleMimic 0.1.0 (flax ActorCritic), imported by mmbio.train.musclemimic",
    }  # fmt: skip
    try:
        numpy_policy(controller)
    except Exception as e:  # any inconsistency is the file's
        raise DataFileError(p, f"policy: {e}") from None
    notes = [f"MuscleMimic checkpoint {p.name}: step {metadata.get('step', '?')}, "
             f"{metadata.get('global_timestep', '?')} environment steps, schema {metadata.get('schema_version', '?')}, "
             f"actor {' → '.join(str(s) for s in [n_obs, *controller['architecture']['actor_hidden'], n_act])} "
             f"({activation}{', LayerNorm' if layer_norm else ''}), normaliser count {count:.3g}"]  # fmt: skip
    return MuscleMimicCheckpoint(path=p, config=config, metadata=metadata, controller=controller, obs_size=n_obs,
                                 action_size=n_act, notes=notes)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Reference trajectory
# --------------------------------------------------------------------------------------------------


@dataclass
class ReferenceTrajectory:
    """Trajectory 0 of a MuscleMimic trajectory file, in the environment model's joint order.

    qpos (T, nq), qvel (T, nv); site_xpos (T, S, 3), site_xmat (T, S, 3, 3), site_cvel (T, S, 6) (the parent body's
    ``cvel``), root_com (T, 3) (``subtree_com`` of the root body) for the environment's S mimic sites in
    ``sites_for_mimic`` order; rate_hz; path; notes.
    """

    qpos: np.ndarray
    qvel: np.ndarray
    site_xpos: np.ndarray
    site_xmat: np.ndarray
    site_cvel: np.ndarray
    root_com: np.ndarray
    rate_hz: float
    path: Path
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.qpos.shape[0])


def read_trajectory(path: str | os.PathLike[str], model: mujoco.MjModel, sites: list[str],
                    control_hz: float = 100.0) -> ReferenceTrajectory:  # fmt: skip
    """Read a MuscleMimic trajectory ``.npz`` for ``model`` (see the module docs); DataFileError on any problem."""
    from mmbio.io.npz_safe import NpzArchive

    p = Path(path)
    with NpzArchive(p) as ar:
        ar.require("qpos", "qvel", "joint_names", "frequency", "split_points", "site_names", "site_xpos", "site_xmat",
                   what="a MuscleMimic trajectory (Trajectory.save) with its mimic-site kinematics")  # fmt: skip
        hz = ar.float_scalar("frequency", 1.0, 100_000.0)
        if abs(hz - control_hz) > 1e-6:
            raise DataFileError(p, f"trajectory at {hz:g} Hz; MuscleMimic policies act at {control_hz:g} Hz and read "
                                   "the reference at that rate: resample it with MuscleMimic (its AMASS cache is "
                                   "already at the control rate)")  # fmt: skip
        split = ar.array("split_points", kinds="iu", shape=(None,)).astype(np.int64)
        if split.size < 2 or split[0] != 0 or np.any(np.diff(split) < 1):
            raise ar.fail("split_points", f"must start at 0 and increase, got {split[:5].tolist()}")
        n_total = int(split[-1])
        jn = ar.header("joint_names").shape
        names = ar.str_vector("joint_names", jn[0] if len(jn) == 1 else -1, 200)
        qpos_all = ar.float_array("qpos", (n_total, None))
        qvel_all = ar.float_array("qvel", (n_total, None))
        sn = ar.header("site_names").shape
        site_names = ar.str_vector("site_names", sn[0] if len(sn) == 1 else -1, 200)
        ns = len(site_names)
        site_xpos = ar.float_array("site_xpos", (n_total, ns, 3))
        site_xmat = ar.float_array("site_xmat", (n_total, ns, 9))
        missing = [s for s in sites if s not in site_names]
        if missing:
            raise DataFileError(p, f"trajectory lacks mimic sites {missing[:3]} (written for another environment?)")
        sidx = np.array([site_names.index(s) for s in sites])
        sbody = model.site_bodyid[[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, s) for s in sites]]
        root = model.body_rootid[sbody]
        sparse = "cvel_parent" in ar.keys and ar.header("cvel_parent").size > 0
        if sparse:
            cvel = ar.float_array("cvel_parent", (n_total, ns, 6))[:, sidx]
            com = ar.float_array("subtree_com_root", (n_total, 3))
        else:
            ar.require("cvel", "subtree_com", "body_names", what="a trajectory with body velocities")
            bn = ar.header("body_names").shape
            body_names = ar.str_vector("body_names", bn[0] if len(bn) == 1 else -1, 200)
            nb = len(body_names)
            want = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(b)) for b in sbody]
            want_root = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(b)) for b in root]
            lost = [b for b in want + want_root if b not in body_names]
            if lost:
                raise DataFileError(p, f"trajectory lacks bodies {lost[:3]} that carry mimic sites")
            cvel = ar.float_array("cvel", (n_total, nb, 6))[:, [body_names.index(b) for b in want]]
            com_all = ar.float_array("subtree_com", (n_total, nb, 3))
            com = com_all[:, body_names.index(want_root[0])]
    model_joints = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(model.njnt)]
    lost = [j for j in model_joints if j not in names]
    if lost:
        raise DataFileError(p, f"trajectory lacks {len(lost)} joints of the model ({', '.join(lost[:3])} …)")
    widths = {"free": (7, 6), "ball": (4, 3)}
    qadr, vadr, i_q, i_v = {}, {}, 0, 0
    jtype = {n: model.jnt_type[model_joints.index(n)] if n in model_joints else None for n in names}
    for n in names:  # the file's layout follows its own joint list (joints absent from the model are skipped)
        t = jtype[n]
        wq, wv = (
            widths["free"]
            if t == mujoco.mjtJoint.mjJNT_FREE
            else widths["ball"]
            if t == mujoco.mjtJoint.mjJNT_BALL
            else (1, 1)
        )
        qadr[n], vadr[n] = (i_q, wq), (i_v, wv)
        i_q, i_v = i_q + wq, i_v + wv
    if i_q != qpos_all.shape[1] or i_v != qvel_all.shape[1]:
        raise DataFileError(p, f"qpos/qvel widths {qpos_all.shape[1]}/{qvel_all.shape[1]} do not fit its "
                               f"{len(names)} joints ({i_q}/{i_v})")  # fmt: skip
    qcols = np.concatenate([np.arange(qadr[n][0], qadr[n][0] + qadr[n][1]) for n in model_joints])
    vcols = np.concatenate([np.arange(vadr[n][0], vadr[n][0] + vadr[n][1]) for n in model_joints])
    a, b = int(split[0]), int(split[1])
    notes = [f"reference motion {p.name}: trajectory 0 of {split.size - 1}, {b - a} frames at {hz:g} Hz"]
    return ReferenceTrajectory(qpos=qpos_all[a:b][:, qcols], qvel=qvel_all[a:b][:, vcols], site_xpos=site_xpos[a:b, sidx],
                               site_xmat=site_xmat[a:b, sidx].reshape(b - a, len(sites), 3, 3), site_cvel=cvel[a:b],
                               root_com=com[a:b], rate_hz=hz, path=p, notes=notes)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------


def _rotvec(r: np.ndarray) -> np.ndarray:
    """Rotation vectors of rotation matrices ``r`` (N, 3, 3) (scipy's convention)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(r).as_rotvec()


def _relative_sites(xpos: np.ndarray, xmat: np.ndarray, cvel: np.ndarray, com: np.ndarray) -> tuple[np.ndarray, ...]:
    """MuscleMimic's site quantities relative to site 0: offsets (S-1, 3) in the world frame, rotation vectors of
    ``R0ᵀ Ri`` (S-1, 3), relative velocities (S-1, 6) [angular, linear].

    xpos (S, 3), xmat (S, 3, 3), cvel (S, 6) of each site's body ([angular, linear] at the root's subtree com),
    com (3,) the root subtree's centre of mass."""
    lin = cvel[:, 3:] - np.cross(xpos - com, cvel[:, :3])  # site velocity in the world frame
    ang = cvel[:, :3]
    rel = np.einsum("ki,nkj->nij", xmat[0], xmat[1:])  # R0ᵀ Ri
    rpos = xpos[1:] - xpos[0]
    rlin = (xmat[0] @ (lin[0] - lin[1:]).T).T
    rang = np.einsum("nkj,nk->nj", rel, ang[1:]) - ang[0]
    return rpos, _rotvec(rel), np.hstack([rang, rlin])


@dataclass
class EnvSettings:
    """What a MuscleMimic config says about its environment (defaults: MyoFullBody's)."""

    env_name: str = "MjxMyoFullBody"
    timestep: float = 0.002
    n_substeps: int = 5
    joint_pos: bool = True
    joint_vel: bool = True
    muscle: tuple[bool, bool, bool, bool, bool] = (False, False, False, False, False)  # length, vel, force, exc, act
    touch: bool = True
    sites: list[str] = field(default_factory=list)
    lookahead: int = 1
    stride: int = 1
    phase: bool = True
    concise: bool = False
    sim_site_rpos: bool = True
    history: int = 1
    split_goal: bool = False
    deviation_threshold: float = 0.5

    @classmethod
    def from_config(cls, config: dict[str, Any], path: Path) -> EnvSettings:
        exp = config.get("experiment", {})
        ep = exp.get("env_params") or {}
        gp = ep.get("goal_params") or {}
        facts = env_facts()
        if ep.get("goal_type", "GoalTrajMimic") != "GoalTrajMimic":
            raise DataFileError(path, f"goal type {ep.get('goal_type')!r:.40} is not supported (only GoalTrajMimic)")
        if ep.get("disable_fingers", True) is not True:
            raise DataFileError(path, "checkpoint trained with fingers (disable_fingers: false); mmbio supports the "
                                      "default MyoFullBody without fingers")  # fmt: skip
        if (ep.get("control_type") or "DefaultControl") != "DefaultControl" or (ep.get("control_params") or {}).get(
            "apply_mode", "direct") != "direct":  # fmt: skip
            raise DataFileError(path, "only MuscleMimic's DefaultControl in 'direct' mode is supported")
        for k in ("terrain_type", "domain_randomization_type"):
            if ep.get(k) not in (None, "StaticTerrain", "NoDomainRandomization"):
                raise DataFileError(path, f"{k} {ep.get(k)!r:.40} is not supported (flat floor, no randomisation)")
        sites = list(gp.get("sites_for_mimic") or list(facts["mimic_sites"].values()))
        unknown = [s for s in sites if s not in facts["mimic_sites"].values()]
        if unknown:
            raise DataFileError(path, f"unknown mimic sites {unknown[:3]} in goal_params.sites_for_mimic")
        val = (exp.get("validation") or {}).get("terminal_state_params") or {}
        s = cls(
            env_name=str(ep.get("env_name", "MjxMyoFullBody")),
            timestep=float(ep.get("timestep", facts["timestep_s"])),
            n_substeps=int(ep.get("n_substeps", facts["n_substeps"])),
            joint_pos=bool(ep.get("enable_joint_pos_observations", True)),
            joint_vel=bool(ep.get("enable_joint_vel_observations", True)),
            muscle=tuple(bool(ep.get(f"enable_muscle_{q}_observations", False))
                         for q in ("length", "velocity", "force", "excitation", "activation")),  # type: ignore[arg-type]
            touch=bool(ep.get("enable_touch_sensor_observations", True)),
            sites=sites,
            lookahead=int(gp.get("n_step_lookahead", 1)),
            stride=int(gp.get("n_step_stride", 1)),
            phase=bool(gp.get("enable_motion_phase", True)),
            concise=bool(gp.get("use_concise_lookahead", False)),
            sim_site_rpos=bool(gp.get("enable_mimic_site_rpos_observations", True)),
            history=int(exp.get("len_obs_history", 1) or 1),
            split_goal=bool(exp.get("split_goal", False)),
            deviation_threshold=float(val.get("mean_site_deviation_threshold", 0.5)),
        )  # fmt: skip
        if not (0 < s.timestep <= 0.05 and 1 <= s.n_substeps <= 100 and s.lookahead >= 1 and s.stride >= 1
                and 1 <= s.history <= 64):  # fmt: skip
            raise DataFileError(path, "env timing or goal settings out of range in the config")
        return s


@cache
def _compile(mjx_options: bool, timestep: float) -> mujoco.MjModel:
    import musclemimic_models

    from mmbio.models.registry import FINGER_JOINTS, FINGER_MUSCLES

    facts = env_facts()
    spec = mujoco.MjSpec.from_file(str(musclemimic_models.get_xml_path("myofullbody")))
    for j in [j for j in spec.joints if j.name in set(FINGER_JOINTS)]:
        spec.delete(j)
    for a in [a for a in spec.actuators if a.name in set(FINGER_MUSCLES)]:
        spec.delete(a)
    for t in [t for t in spec.tendons if any(m in t.name for m in FINGER_MUSCLES)]:  # MuscleMimic's substring rule
        spec.delete(t)
    for body, site in facts["mimic_sites"].items():
        spec.body(body).add_site(name=site, group=4, type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.075, 0.05, 0.025],
                                 rgba=[1.0, 0.0, 0.0, 0.5], pos=[0.0, 0.0, 0.0])  # fmt: skip
    for a in spec.actuators:
        if a.dyntype == mujoco.mjtDyn.mjDYN_MUSCLE:
            a.ctrlrange = [-1.0, 1.0]
            a.ctrllimited = True
    m = spec.compile()
    m.opt.timestep = timestep
    if mjx_options:
        opt = facts["mjx_model_options"]
        m.opt.iterations = int(opt["iterations"])
        m.opt.ls_iterations = int(opt["ls_iterations"])
        if opt.get("disable_euler_damping"):
            m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)
    return m


class MuscleMimicEnv:
    """MuscleMimic's MyoFullBody environment for one checkpoint (see the module docs).

    ``model``: the MjModel (treat as read-only). ``obs_size``: the observation length (with history).
    """

    def __init__(self, settings: EnvSettings, ref: ReferenceTrajectory | None = None) -> None:
        self.s = settings
        self.model = _compile(settings.env_name.startswith("Mjx"), settings.timestep)
        m = self.model
        if m.na != m.nu:
            raise AssertionError("MuscleMimic indexes data.act by actuator id: every actuator must be a muscle")
        self.ref = ref
        facts = env_facts()
        root = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, facts["root_joint"])
        self.root_q = np.arange(m.jnt_qposadr[root], m.jnt_qposadr[root] + 7)
        self.root_v = np.arange(m.jnt_dofadr[root], m.jnt_dofadr[root] + 6)
        others = [j for j in range(m.njnt) if j != root]
        qw = {int(mujoco.mjtJoint.mjJNT_FREE): 7, int(mujoco.mjtJoint.mjJNT_BALL): 4}
        vw = {int(mujoco.mjtJoint.mjJNT_FREE): 6, int(mujoco.mjtJoint.mjJNT_BALL): 3}
        self.joint_q = np.concatenate([np.arange(m.jnt_qposadr[j], m.jnt_qposadr[j] + qw.get(int(m.jnt_type[j]), 1))
                                       for j in others])  # fmt: skip
        self.joint_v = np.concatenate([np.arange(m.jnt_dofadr[j], m.jnt_dofadr[j] + vw.get(int(m.jnt_type[j]), 1))
                                       for j in others])  # fmt: skip
        self.touch = np.array([m.sensor_adr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, n)]
                               for n in facts["touch_sensors"]])  # fmt: skip
        self.site_ids = np.array([mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, n) for n in settings.sites])
        self.site_body = m.site_bodyid[self.site_ids]
        self.site_root = m.body_rootid[self.site_body]
        self.goal_size = self._goal_size()
        self._history: np.ndarray | None = None

    # ---- sizes
    def _goal_size(self) -> int:
        n = len(self.s.sites) - 1
        if self.s.concise:
            traj = 3 * n + (3 + 6 + 3 * n) * (self.s.lookahead - 1)
        else:
            traj = (self.model.nq - 2 + self.model.nv + 12 * n) * self.s.lookahead
        return traj + int(self.s.phase) + (12 if self.s.sim_site_rpos else 9) * n

    @property
    def obs_size(self) -> int:
        base = self._state_size() + self.goal_size
        if self.s.history <= 1:
            return base
        return self._state_size() * self.s.history + self.goal_size if self.s.split_goal else base * self.s.history

    def _state_size(self) -> int:
        m = self.model
        n = (5 + len(self.joint_q)) * self.s.joint_pos + (6 + len(self.joint_v)) * self.s.joint_vel
        return n + m.nu * sum(self.s.muscle) + 4 * self.s.touch

    # ---- observation
    def _ref_sites(self, k: int) -> tuple[np.ndarray, ...]:
        r = self.ref
        assert r is not None
        return _relative_sites(r.site_xpos[k], r.site_xmat[k], r.site_cvel[k], r.root_com[k])

    def goal(self, data: mujoco.MjData, step: int) -> np.ndarray:
        """The goal part of the observation at trajectory frame ``step``."""
        r = self.ref
        assert r is not None
        last = r.n_frames - 1
        frames = [min(max(step + i * self.s.stride, 0), last) for i in range(self.s.lookahead)]
        parts: list[np.ndarray] = []
        if self.s.concise:
            root_p0, root_v0 = r.qpos[step, self.root_q[:3]], r.qvel[step, self.root_v]
            parts.append(self._ref_sites(frames[0])[0].ravel())
            for f in frames[1:]:
                parts += [r.qpos[f, self.root_q[:3]] - root_p0, r.qvel[f, self.root_v] - root_v0,
                          self._ref_sites(f)[0].ravel()]  # fmt: skip
        else:
            qi = np.concatenate([self.root_q[2:], self.joint_q])
            qs, vs, ps, angs, vels = [], [], [], [], []
            for f in frames:
                rp, ra, rv = self._ref_sites(f)
                qs.append(r.qpos[f, qi])
                vs.append(r.qvel[f, np.concatenate([self.root_v, self.joint_v])])
                ps.append(rp.ravel())
                angs.append(ra.ravel())
                vels.append(rv.ravel())
            parts = [np.concatenate(qs), np.concatenate(vs), np.concatenate(ps), np.concatenate(angs),
                     np.concatenate(vels)]  # fmt: skip
        sp, sa, sv = _relative_sites(data.site_xpos[self.site_ids], data.site_xmat[self.site_ids].reshape(-1, 3, 3),
                                     data.cvel[self.site_body], data.subtree_com[self.site_root[0]])  # fmt: skip
        out = ([sp.ravel()] if self.s.sim_site_rpos else []) + [sa.ravel(), sv.ravel(), *parts]
        if self.s.phase:
            out.append(np.array([step / max(r.n_frames, 1)]))
        return np.concatenate(out)

    def state_observation(self, data: mujoco.MjData) -> np.ndarray:
        """The non-goal part of the observation (root, joints, muscles, touch) from ``data``."""
        parts = []
        if self.s.joint_pos:
            parts += [data.qpos[self.root_q[2:]], data.qpos[self.joint_q]]
        if self.s.joint_vel:
            parts += [data.qvel[self.root_v], data.qvel[self.joint_v]]
        if any(self.s.muscle):
            cols = [data.actuator_length, data.actuator_velocity, data.actuator_force, data.ctrl, data.act]
            parts.append(np.stack([c for c, on in zip(cols, self.s.muscle, strict=True) if on], axis=1).ravel())
        if self.s.touch:
            parts.append(data.sensordata[self.touch])
        return np.concatenate(parts).astype(np.float64)

    def base_observation(self, data: mujoco.MjData, step: int) -> np.ndarray:
        """One observation without history: ``(n_state + n_goal,)``."""
        return np.concatenate([self.state_observation(data), self.goal(data, step)])

    def observation(self, data: mujoco.MjData, step: int, *, reset: bool = False) -> np.ndarray:
        """The policy's observation ``(obs_size,)``; ``reset``: the first of an episode (history zero-filled)."""
        o = self.base_observation(data, step)
        if self.s.history <= 1:
            return o
        n_state = self._state_size()
        item = o[:n_state] if self.s.split_goal else o
        if reset or self._history is None:
            self._history = np.zeros((self.s.history, item.size))
        self._history = np.roll(self._history, -1, axis=0)
        self._history[-1] = item
        flat = self._history.ravel()
        return np.concatenate([flat, o[n_state:]]) if self.s.split_goal else flat

    # ---- episode
    def reset(self, data: mujoco.MjData) -> np.ndarray:
        """Start at reference frame 0 (root at x = y = 0), forward, first observation."""
        r = self.ref
        assert r is not None
        mujoco.mj_resetData(self.model, data)
        data.qpos[:] = r.qpos[0]
        data.qpos[self.root_q[:2]] = 0.0
        data.qvel[:] = r.qvel[0]
        mujoco.mj_forward(self.model, data)
        return self.observation(data, 0, reset=True)

    def step(self, data: mujoco.MjData, action: np.ndarray, step: int) -> np.ndarray:
        """Apply ``action`` for one control step; observation at trajectory frame ``step + 1`` (clipped)."""
        data.ctrl[:] = np.clip(action, -1.0, 1.0)
        mujoco.mj_step(self.model, data, self.s.n_substeps)
        assert self.ref is not None
        return self.observation(data, min(step + 1, self.ref.n_frames - 1))

    def site_deviation(self, data: mujoco.MjData, step: int) -> float:
        """Mean distance (m) between simulated and reference mimic-site offsets from the reference site."""
        sp = data.site_xpos[self.site_ids[1:]] - data.site_xpos[self.site_ids[0]]
        return float(np.mean(np.linalg.norm(sp - self._ref_sites(step)[0], axis=1)))


# --------------------------------------------------------------------------------------------------
# Checkpoint → mmbio, rollout
# --------------------------------------------------------------------------------------------------


def _motion_hint(mm: MuscleMimicCheckpoint) -> tuple[Path | None, str]:
    """The cached trajectory the config names (when it names one path and the cache holds it) and a hint."""
    tf = (mm.experiment.get("task_factory") or {}).get("params") or {}
    amass = tf.get("amass_dataset_conf") or {}
    rel = amass.get("rel_dataset_path")
    rels = [rel] if isinstance(rel, str) else [str(r) for r in rel or []]
    root = os.environ.get("MUSCLEMIMIC_CONVERTED_AMASS_PATH") or os.environ.get("CONVERTED_AMASS_PATH")
    if len(rels) == 1 and root:
        cand = Path(root) / "MyoFullBody" / f"{rels[0]}.npz"
        if cand.is_file():
            return cand, ""
    what = (f"motion {rels[0]}" if len(rels) == 1 else f"{len(rels)} motions" if rels else
            f"dataset group {amass.get('dataset_group')}" if amass.get("dataset_group") else "a custom dataset")  # fmt: skip
    where = (f" (MuscleMimic caches it as $MUSCLEMIMIC_CONVERTED_AMASS_PATH/MyoFullBody/{rels[0]}.npz)"
             if len(rels) == 1 else "")  # fmt: skip
    return (
        None,
        f"the policy was trained on {what}; pass the reference with --motion TRAJ.npz (a MuscleMimic "
        f"trajectory file at 100 Hz, e.g. from its AMASS cache){where}",
    )


def to_mmbio_checkpoint(path: str | os.PathLike[str], motion: str | os.PathLike[str] | None = None) -> Any:
    """Read a MuscleMimic checkpoint and its reference motion as an mmbio ``'policy'``
    :class:`~mmbio.control.checkpoint.Checkpoint` (``metadata['source'] == 'musclemimic'``; the reference motion
    is the trajectory's qpos/qvel, ``metadata['motion_path']`` its file)."""
    from mmbio.control.checkpoint import Checkpoint, motion_to_dict
    from mmbio.models.registry import load_model, model_hash
    from mmbio.sim.motion import Motion

    mm = read_checkpoint(path)
    if motion is None:
        found, hint = _motion_hint(mm)
        if found is None:
            raise DataFileError(path, hint)
        motion = found
    settings = EnvSettings.from_config(mm.config, Path(path))
    env = MuscleMimicEnv(settings)
    ref = read_trajectory(motion, env.model, settings.sites, 1.0 / (settings.timestep * settings.n_substeps))
    env = MuscleMimicEnv(settings, ref)
    if env.obs_size != mm.obs_size or env.model.nu != mm.action_size:
        raise DataFileError(path, f"policy takes {mm.obs_size} observations and gives {mm.action_size} actions; its "
                                  f"config's environment has {env.obs_size} and {env.model.nu}")  # fmt: skip
    info = load_model("myofullbody", "nofingers")
    ref_motion = Motion(qpos=ref.qpos, qvel=ref.qvel, rate_hz=ref.rate_hz, model="myofullbody", variant="nofingers",
                        source=f"MuscleMimic trajectory {Path(motion).name}", notes=list(ref.notes))  # fmt: skip
    return Checkpoint(kind="policy", model=info.name, variant=info.variant, model_hash=model_hash(info),
                      controller=mm.controller, mmbio_version="MuscleMimic 0.1.0 checkpoint",
                      created=None, reference_motion=motion_to_dict(ref_motion), config=mm.config,
                      metadata={"source": "musclemimic", "motion_path": str(motion), "notes": mm.notes + ref.notes,
                                "musclemimic_metadata": mm.metadata})  # fmt: skip


def rollout_musclemimic(ckpt: Any, path: str, *, duration_s: float, seed: int = 0) -> Any:
    """Roll the imported MuscleMimic policy out in its rebuilt environment (MuJoCo C, deterministic: the Gaussian's
    mean) for ``duration_s`` or to the reference's last frame; a :class:`~mmbio.sim.rollout_cpu.Rollout` at 100 Hz
    whose ``ctrl`` is the effective excitation ``clip(a, 0, 1)``. A mean site deviation above the config's
    validation threshold ends it as a fall (MuscleMimic's evaluation termination)."""
    from mmbio.sim.rollout_cpu import Rollout
    from mmbio.train.policy_numpy import numpy_policy

    settings = EnvSettings.from_config(ckpt.config, Path(path))
    env0 = MuscleMimicEnv(settings)
    ref = read_trajectory(ckpt.metadata["motion_path"], env0.model, settings.sites,
                          1.0 / (settings.timestep * settings.n_substeps))  # fmt: skip
    env = MuscleMimicEnv(settings, ref)
    policy = numpy_policy(ckpt.controller)
    hz = 1.0 / (settings.timestep * settings.n_substeps)
    n = max(1, min(round(duration_s * hz), ref.n_frames - 1))
    data = mujoco.MjData(env.model)
    obs = env.reset(data)
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("qpos", "qvel", "act", "ctrl")}
    fell_at, reason = None, ""
    for k in range(n):
        a = policy(obs)
        rec["qpos"].append(data.qpos.copy())
        rec["qvel"].append(data.qvel.copy())
        rec["act"].append(data.act.copy())
        rec["ctrl"].append(np.clip(a, 0.0, 1.0))
        obs = env.step(data, a, k)
        if not (np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all()):
            fell_at, reason = (k + 1) / hz, "the simulation diverged (non-finite state)"
            break
        dev = env.site_deviation(data, min(k + 1, ref.n_frames - 1))
        if dev > settings.deviation_threshold:
            fell_at = (k + 1) / hz
            reason = (f"fell: mean mimic-site deviation {dev:.2f} m above MuscleMimic's validation threshold "
                      f"{settings.deviation_threshold:g} m")  # fmt: skip
            break
    t = np.arange(len(rec["qpos"])) / hz
    return Rollout(
        model_name="myofullbody", variant="nofingers", time=t, qpos=np.array(rec["qpos"]), qvel=np.array(rec["qvel"]),
        act=np.array(rec["act"]), ctrl=np.array(rec["ctrl"]), diverged=fell_at is not None, diverged_at_s=fell_at,
        reason=reason, physics_dt=settings.timestep, control_dt=1.0 / hz,
        notes={"record_hz": hz, "backend": "MuscleMimic MyoFullBody environment rebuilt by mmbio (MuJoCo C)",
               "controller": "policy (MuscleMimic checkpoint)", "seed": seed, "reference": str(ref.path)},
    )  # fmt: skip
