"""Frames and pelvis orientation between OpenSim, MuJoCo (MyoFullBody) and clinical angles. Pure numpy.

Axes: OpenSim ground (x forward, y up, z right) → MuJoCo world (z up; MyoFullBody faces −y, its left is
+x) is ``v_m = C @ v_os`` with :data:`OPENSIM_TO_MUJOCO`. A body rotation maps as ``R_m = C R_os Cᵀ``.

OpenSim's ``ground_pelvis`` joint rotates about z (tilt), then x (list), then y (rotation), in the body
frame: ``R_os = Rz(tilt) · Rx(list) · Ry(rotation)``. At zero angles the pelvis faces OpenSim +x, which
is MuJoCo −y: the identity quaternion of the free joint.

Clinical pelvis angles (deg, :data:`mmbio.trial.CLINICAL_ANGLES`, the same signs as
:data:`mmbio.io.opensim.OPENSIM_TO_CLINICAL`): ``pelvis_tilt = −tilt_os`` (anterior +),
``pelvis_obliquity = −list_os`` (right side up +), ``pelvis_rotation = +rotation_os`` (right side
forward +). They are Euler angles of the pelvis in a walking frame whose forward is MuJoCo −y; a
motion along another heading needs the heading removed first.

Quaternions are MuJoCo's (w, x, y, z), scalar first, unit norm.
"""

from __future__ import annotations

import numpy as np

from mmbio.errors import MmbioError

__all__ = [
    "OPENSIM_TO_MUJOCO",
    "PELVIS_CLINICAL_SIGNS",
    "mat_from_quat",
    "opensim_pelvis_from_matrix",
    "pelvis_angles_from_quat",
    "pelvis_matrix_from_opensim",
    "pelvis_quat_from_opensim",
    "quat_from_mat",
    "quat_from_pelvis_angles",
]

#: OpenSim ground (x forward, y up, z right) → MuJoCo MyoFullBody world (x left, y backward, z up).
#: Rows: x_m = −z_os, y_m = −x_os, z_m = y_os. Checks: OpenSim forward +x becomes −y (the model's
#: facing direction), up +y becomes +z, right +z becomes −x (the model's right).
OPENSIM_TO_MUJOCO: np.ndarray = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
OPENSIM_TO_MUJOCO.setflags(write=False)

#: Clinical pelvis angle = sign × OpenSim coordinate, for (tilt, list, rotation).
PELVIS_CLINICAL_SIGNS: np.ndarray = np.array([-1.0, -1.0, 1.0])
PELVIS_CLINICAL_SIGNS.setflags(write=False)


def _as_1d(a: np.ndarray | float) -> np.ndarray:
    return np.atleast_1d(np.asarray(a, dtype=float))


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle`` (T,) rad about coordinate axis 0, 1 or 2."""
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros((*angle.shape, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[..., axis, axis] = 1.0
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r


def pelvis_matrix_from_opensim(tilt: np.ndarray, list_: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(T, 3, 3) pelvis rotation in the MuJoCo world from OpenSim tilt, list, rotation (T,) rad."""
    t, li, ro = np.broadcast_arrays(_as_1d(tilt), _as_1d(list_), _as_1d(rotation))
    r_os = _rot(2, t) @ _rot(0, li) @ _rot(1, ro)
    c = OPENSIM_TO_MUJOCO
    return c @ r_os @ c.T


def opensim_pelvis_from_matrix(r_m: np.ndarray) -> np.ndarray:
    """(T, 3) OpenSim (tilt, list, rotation) in rad from (T, 3, 3) MuJoCo-world pelvis rotations.

    Inverse of :func:`pelvis_matrix_from_opensim` for |list| < 90°.
    """
    r_m = np.asarray(r_m, dtype=float).reshape(-1, 3, 3)
    c = OPENSIM_TO_MUJOCO
    r = c.T @ r_m @ c
    # Rz(a) Rx(b) Ry(c): row 2 = (−cos b sin c, sin b, cos b cos c); column 1 = (−sin a cos b, cos a cos b, sin b)
    b = np.arcsin(np.clip(r[:, 2, 1], -1.0, 1.0))
    cc = np.arctan2(-r[:, 2, 0], r[:, 2, 2])
    a = np.arctan2(-r[:, 0, 1], r[:, 1, 1])
    return np.column_stack([a, b, cc])


def quat_from_mat(r: np.ndarray) -> np.ndarray:
    """(T, 4) unit quaternions (w, x, y, z), w ≥ 0, from (T, 3, 3) rotation matrices."""
    r = np.asarray(r, dtype=float).reshape(-1, 3, 3)
    m00, m11, m22 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
    q = np.empty((r.shape[0], 4))
    # Shepperd: pick the largest of (w, x, y, z) to divide by
    cand = np.column_stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22])
    k = np.argmax(cand, axis=1)
    s = 2.0 * np.sqrt(np.maximum(cand[np.arange(r.shape[0]), k], 1e-300))
    w = k == 0
    q[w] = np.column_stack(
        [s[w] / 4, (r[w, 2, 1] - r[w, 1, 2]) / s[w], (r[w, 0, 2] - r[w, 2, 0]) / s[w], (r[w, 1, 0] - r[w, 0, 1]) / s[w]]
    )
    x = k == 1
    q[x] = np.column_stack(
        [(r[x, 2, 1] - r[x, 1, 2]) / s[x], s[x] / 4, (r[x, 0, 1] + r[x, 1, 0]) / s[x], (r[x, 0, 2] + r[x, 2, 0]) / s[x]]
    )
    y = k == 2
    q[y] = np.column_stack(
        [(r[y, 0, 2] - r[y, 2, 0]) / s[y], (r[y, 0, 1] + r[y, 1, 0]) / s[y], s[y] / 4, (r[y, 1, 2] + r[y, 2, 1]) / s[y]]
    )
    z = k == 3
    q[z] = np.column_stack(
        [(r[z, 1, 0] - r[z, 0, 1]) / s[z], (r[z, 0, 2] + r[z, 2, 0]) / s[z], (r[z, 1, 2] + r[z, 2, 1]) / s[z], s[z] / 4]
    )
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def mat_from_quat(quat: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices from (T, 4) quaternions (w, x, y, z); normalised first."""
    q = np.asarray(quat, dtype=float).reshape(-1, 4)
    n = np.linalg.norm(q, axis=1, keepdims=True)
    if np.any(n < 1e-12):
        raise MmbioError("mat_from_quat: zero quaternion")
    w, x, y, z = (q / n).T
    return np.stack(
        [
            np.column_stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]),
            np.column_stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]),
            np.column_stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]),
        ],
        axis=1,
    )


def pelvis_quat_from_opensim(tilt: np.ndarray, list_: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(T, 4) free-joint quaternion (w, x, y, z) in the MuJoCo world from OpenSim pelvis angles (T,) rad."""
    return quat_from_mat(pelvis_matrix_from_opensim(tilt, list_, rotation))


def pelvis_angles_from_quat(quat: np.ndarray) -> np.ndarray:
    """(T, 3) clinical (pelvis_tilt, pelvis_obliquity, pelvis_rotation) in deg from (T, 4) quaternions."""
    return np.degrees(opensim_pelvis_from_matrix(mat_from_quat(quat))) * PELVIS_CLINICAL_SIGNS


def quat_from_pelvis_angles(angles_deg: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions from (T, 3) clinical (pelvis_tilt, pelvis_obliquity, pelvis_rotation) in deg."""
    a = np.asarray(angles_deg, dtype=float).reshape(-1, 3)
    os_rad = np.radians(a * PELVIS_CLINICAL_SIGNS)
    return pelvis_quat_from_opensim(os_rad[:, 0], os_rad[:, 1], os_rad[:, 2])
