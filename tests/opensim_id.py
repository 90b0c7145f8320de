"""OpenSim inverse dynamics on an mmbio export, driven from the project's venv: find a Python that imports
``opensim``, run :mod:`tests.opensim_id_worker` under it, read the pelvis residuals back, and put mmbio's own
root residuals and MyoFullBody's inertias into OpenSim's ground frame for comparison."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from mmbio.io.axes import OPENSIM_TO_LAB
from mmbio.io.opensim import read_storage
from mmbio.models.registry import load_model
from mmbio.sim.extract import SimSignals, lab_rotation

WORKER = Path(__file__).with_name("opensim_id_worker.py")
#: The generic Rajagopal 2015 model (no muscles; Schreiber & Moissenet's marker set) in ../shared/reference.
RAJAGOPAL_OSIM = "schreiber2019/Rajagopal2015_SchreiberMoissenet2019.osim"
#: MyoFullBody bodies that move with the pelvis (no joint between them): OpenSim's pelvis.
PELVIS_BODIES = ("Full Body", "sacrum", "pelvis")
#: Leg bodies with the same name and frame in both models (MyoFullBody's legs were converted from Rajagopal's).
LEG_BODIES = ("femur", "tibia", "patella", "talus", "calcn", "toes")
PELVIS_FORCES = ("pelvis_tx_force", "pelvis_ty_force", "pelvis_tz_force")
#: OpenSim's pelvis rotation moments in the order of ground x, y, z (list about x, rotation about y, tilt about z).
PELVIS_MOMENTS = ("pelvis_list_moment", "pelvis_rotation_moment", "pelvis_tilt_moment")


def opensim_python() -> tuple[str | None, str]:
    """(a Python that imports ``opensim``, '') or (None, why not): this interpreter, else ``$MMBIO_OPENSIM_PYTHON``."""
    if importlib.util.find_spec("opensim") is not None:
        return sys.executable, ""
    env = os.environ.get("MMBIO_OPENSIM_PYTHON", "")
    if not env:
        return None, (
            "OpenSim is not importable here and MMBIO_OPENSIM_PYTHON is not set "
            "(pip install 'mmbio[opensim]', or point MMBIO_OPENSIM_PYTHON at a Python that imports opensim)"
        )
    try:
        probe = subprocess.run([env, "-c", "import opensim"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"MMBIO_OPENSIM_PYTHON={env} does not run: {e}"
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"MMBIO_OPENSIM_PYTHON={env} cannot import opensim: {last}"
    return env, ""


def run_id(python: str, setup: Path, model: Path, out: Path, **options: Any) -> dict[str, Any]:
    """Run the worker (``mass_kg=`` or ``inertias=``); returns ``{'id': Storage, 'com': (n, 3) m, 'info': …}``."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"setup": str(setup), "model": str(model), "out": str(out), **options}
    (out / "cfg.json").write_text(json.dumps(cfg))
    # cwd=out: OpenSim writes its opensim.log into the working directory
    proc = subprocess.run([python, str(WORKER), str(out / "cfg.json")], capture_output=True, text=True, cwd=out,
                          timeout=600)  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"OpenSim worker failed ({proc.returncode}): {proc.stderr[-3000:]}")
    com = json.loads((out / "com.json").read_text())
    return {"id": read_storage(out / "inverse_dynamics.sto"), "com": np.asarray(com["com"]),
            "info": json.loads((out / "worker.json").read_text())}  # fmt: skip


def pelvis_residuals(result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(forces (n, 3) N, moments (n, 3) N·m) of OpenSim's pelvis coordinates, ground x, y, z order."""
    st = result["id"]
    col = {c: st.data[:, j] for j, c in enumerate(st.columns)}
    return np.column_stack([col[c] for c in PELVIS_FORCES]), np.column_stack([col[c] for c in PELVIS_MOMENTS])


def rms_norm(v: np.ndarray) -> float:
    """√(mean over frames of |v|²) of (n, 3) vectors: a frame-independent RMS."""
    return float(np.sqrt(np.mean(np.sum(np.asarray(v) ** 2, axis=1))))


def to_ground(sig: SimSignals) -> np.ndarray:
    """(3, 3) MuJoCo world → OpenSim ground of the export: ``OPENSIM_TO_LAB.T @ lab_rotation(ψ)``."""
    return OPENSIM_TO_LAB.T @ lab_rotation(sig.heading_rad)


def mmbio_root_residuals(rollout: Any, sig: SimSignals) -> tuple[np.ndarray, np.ndarray]:
    """mmbio's root residuals in OpenSim ground: forces (n, 3) N and moments about the pelvis origin (n, 3) N·m.

    The free joint's rotational residuals are in its body's frame (MyoFullBody's ``Full Body``); they are rotated
    into the world with that body's orientation, then into ground.
    """
    c = to_ground(sig)
    m = load_model(rollout.model_name, rollout.variant).model
    d = mujoco.MjData(m)
    jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "root")
    body = int(m.jnt_bodyid[jid])
    res = sig.residuals.values
    moments = np.zeros((len(sig.time), 3))
    for i in range(len(sig.time)):
        d.qpos[:] = rollout.qpos[i]
        mujoco.mj_kinematics(m, d)
        moments[i] = c @ (d.xmat[body].reshape(3, 3) @ res[i, 3:])
    return res[:, :3] @ c.T, moments


def myofullbody_com(rollout: Any, sig: SimSignals) -> np.ndarray:
    """(n, 3) MyoFullBody's whole-body centre of mass in OpenSim ground (m)."""
    c = to_ground(sig)
    m = load_model(rollout.model_name, rollout.variant).model
    d = mujoco.MjData(m)
    out = np.zeros((len(sig.time), 3))
    for i in range(len(sig.time)):
        d.qpos[:] = rollout.qpos[i]
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        out[i] = c @ d.subtree_com[1]
    return out


def myofullbody_inertias(rollout: Any, sig: SimSignals, row: int = 0) -> dict[str, Any]:
    """MyoFullBody's mass, centre of mass and inertia per OpenSim body, in ground at frame ``row`` (the worker's
    ``inertias``): legs one to one, the pelvis with the sacrum, everything above (lumbar vertebrae, torso, head,
    arms) lumped into OpenSim's torso at that pose; OpenSim's arm bodies then get next to nothing."""
    c = to_ground(sig)
    m = load_model(rollout.model_name, rollout.variant).model
    d = mujoco.MjData(m)
    d.qpos[:] = rollout.qpos[row]
    mujoco.mj_kinematics(m, d)
    groups: dict[str, list[int]] = {}
    for i in range(1, m.nbody):
        name = m.body(i).name
        target = "pelvis" if name in PELVIS_BODIES else name if name.rsplit("_", 1)[0] in LEG_BODIES else "torso"
        groups.setdefault(target, []).append(i)
    bodies = {}
    for target, ids in groups.items():
        mass = m.body_mass[ids]
        x = d.xipos[ids] @ c.T
        com = (mass[:, None] * x).sum(0) / mass.sum()
        inertia = np.zeros((3, 3))
        for k, i in enumerate(ids):
            r = c @ d.ximat[i].reshape(3, 3)
            dx = x[k] - com
            inertia += r @ np.diag(m.body_inertia[i]) @ r.T + mass[k] * (dx @ dx * np.eye(3) - np.outer(dx, dx))
        bodies[target] = {"mass": float(mass.sum()), "com": com.tolist(), "inertia": inertia.tolist()}
    return {"row": int(row), "bodies": bodies}
