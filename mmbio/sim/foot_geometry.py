"""Model access and foot geometry shared by the motion builders (:mod:`mmbio.sim.motion`,
:mod:`mmbio.sim.synthesis`) and their quality figures: the compiled model, qpos addresses, the feet's collision
geoms, each geom's lowest world point per frame and the slip speed of a stance foot.

Conventions: MuJoCo world z up, the model walks along −y (:mod:`mmbio.sim.frames`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mmbio.errors import MmbioError
from mmbio.models.anatomy import FOOT_GEOMS
from mmbio.models.registry import load_model

GRAVITY = 9.81
SIDES = ("r", "l")

# --------------------------------------------------------------------------------------------------
# Model access (mmbio.models)
# --------------------------------------------------------------------------------------------------


def _load_model(name: str, variant: str | None) -> Any:
    """The compiled ``mujoco.MjModel`` from :func:`mmbio.models.registry.load_model` (cached; read-only)."""
    return load_model(name, variant).model


def _foot_geoms(model: Any) -> dict[str, list[int]]:
    """Collision geom ids per side (:data:`mmbio.models.anatomy.FOOT_GEOMS`)."""
    import mujoco

    out = {s: [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in FOOT_GEOMS[s]] for s in SIDES}
    for s in SIDES:
        if not out[s] or min(out[s]) < 0:
            raise MmbioError(f"model lacks foot geoms {FOOT_GEOMS[s]}")
    return out


def _qpos_index(model: Any) -> dict[str, tuple[int, int]]:
    """Joint name → (qpos address, size)."""
    sizes = {0: 7, 1: 4, 2: 1, 3: 1}
    return {model.joint(j).name: (int(model.jnt_qposadr[j]), sizes[int(model.jnt_type[j])]) for j in range(model.njnt)}


def _root_adr(model: Any) -> int:
    for j in range(model.njnt):
        if model.jnt_type[j] == 0:
            return int(model.jnt_qposadr[j])
    raise MmbioError("model has no free root joint")


# --------------------------------------------------------------------------------------------------
# Foot geometry
# --------------------------------------------------------------------------------------------------


def _lowest_points(types: np.ndarray, size: np.ndarray, pos: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """(..., G, 3) lowest world point of each geom. pos (..., G, 3), mat (..., G, 3, 3); types/size (G,), (G, 3)."""
    out = np.empty_like(pos)
    ez = np.array([0.0, 0.0, 1.0])
    for g, typ in enumerate(types):
        p, r, s = pos[..., g, :], mat[..., g, :, :], size[g]
        if typ == 2:  # sphere
            out[..., g, :] = p - s[0] * ez
        elif typ == 3:  # capsule along local z, half-length s[1]
            axis = r[..., :, 2]
            sign = np.sign(axis[..., 2:3])
            out[..., g, :] = p - sign * s[1] * axis - s[0] * ez
        elif typ == 4:  # ellipsoid: support point in −z
            m = r * s  # R diag(s)
            w = m[..., 2, :]  # (R diag s)ᵀ ez
            nrm = np.linalg.norm(w, axis=-1, keepdims=True)
            out[..., g, :] = p - np.einsum("...ij,...j->...i", m, w / nrm)
        elif typ == 6:  # box: lowest corner
            signs = -np.sign(r[..., 2, :])
            out[..., g, :] = p + np.einsum("...ij,...j->...i", r, signs * s)
        else:
            raise MmbioError(f"foot geom type {typ} not supported")
    return out


@dataclass
class _FootKin:
    """Per side: lowest point (T, 3) and its geom index; per geom: body poses for slip velocities."""

    low: dict[str, np.ndarray]
    geom: dict[str, np.ndarray]
    points: np.ndarray  # (T, G, 3) lowest point of each foot geom
    body_pos: np.ndarray  # (T, G, 3)
    body_mat: np.ndarray  # (T, G, 3, 3)
    side_cols: dict[str, np.ndarray]


def _foot_kinematics(model: Any, qpos: np.ndarray) -> _FootKin:
    """Foot-geom geometry per frame by ``mj_kinematics`` (one call per frame)."""
    import mujoco

    geoms = _foot_geoms(model)
    all_g = np.array([g for s in SIDES for g in geoms[s]])
    bodies = model.geom_bodyid[all_g]
    data = mujoco.MjData(model)
    t = qpos.shape[0]
    gpos = np.empty((t, all_g.size, 3))
    gmat = np.empty((t, all_g.size, 3, 3))
    bpos = np.empty((t, all_g.size, 3))
    bmat = np.empty((t, all_g.size, 3, 3))
    for i in range(t):
        data.qpos[:] = qpos[i]
        mujoco.mj_kinematics(model, data)
        gpos[i] = data.geom_xpos[all_g]
        gmat[i] = data.geom_xmat[all_g].reshape(-1, 3, 3)
        bpos[i] = data.xpos[bodies]
        bmat[i] = data.xmat[bodies].reshape(-1, 3, 3)
    pts = _lowest_points(model.geom_type[all_g], model.geom_size[all_g], gpos, gmat)
    low, which, cols = {}, {}, {}
    start = 0
    for s in SIDES:
        c = np.arange(start, start + len(geoms[s]))
        start += len(geoms[s])
        k = c[np.argmin(pts[:, c, 2], axis=1)]
        low[s] = pts[np.arange(t), k]
        which[s] = k
        cols[s] = c
    return _FootKin(low, which, pts, bpos, bmat, cols)


def _slip_speed(fk: _FootKin, side: str, rate_hz: float) -> np.ndarray:
    """(T−1,) horizontal speed (m/s) of the body-fixed point under the lowest point of a foot, frame i → i+1."""
    t = fk.points.shape[0]
    i = np.arange(t - 1)
    k = fk.geom[side][:-1]
    p = fk.low[side][:-1]
    local = np.einsum("tji,tj->ti", fk.body_mat[i, k], p - fk.body_pos[i, k])
    nxt = fk.body_pos[i + 1, k] + np.einsum("tij,tj->ti", fk.body_mat[i + 1, k], local)
    return np.linalg.norm((nxt - p)[:, :2], axis=1) * rate_hz
