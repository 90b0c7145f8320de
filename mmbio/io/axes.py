"""Explicit frame conversions into the mmbio lab frame (x forward, y left, z up; right-handed).

Every conversion is a named 3×3 proper rotation ``C`` (``C @ C.T = I``, ``det C = +1``) used as
``v_lab = C @ v_src``; :func:`to_lab` applies it to an (n, 3) array of row vectors. Each matrix's
docstring states the physical check it passes (and ``tests/test_opensim_io.py`` tests it).
"""

from __future__ import annotations

import numpy as np

from mmbio.errors import MmbioError

#: OpenSim ground frame (x forward, **y up**, z right) → lab (x forward, y left, z up).
#: Rows: x_lab = x_os, y_lab = −z_os, z_lab = y_os.
#: Physical checks: the vertical OpenSim y (0, 1, 0) becomes lab z (0, 0, 1) (body weight stays
#: positive up); OpenSim's right z (0, 0, 1) becomes lab −y (right is −left); forward x is unchanged.
#: The same matrix converts TRC marker files recorded in the OpenSim convention (Y up).
OPENSIM_TO_LAB: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
OPENSIM_TO_LAB.setflags(write=False)

#: MuJoCo MyoFullBody world (Z up, the model faces −y, its left is +x) → lab.
#: Rows: x_lab = −y_mj, y_lab = x_mj, z_lab = z_mj (a +90° rotation about the vertical).
#: Physical checks: the model's facing direction −y_mj (0, −1, 0) becomes lab forward x (1, 0, 0);
#: its left +x_mj becomes lab y; up stays up.
MUJOCO_MYOFULLBODY_TO_LAB: np.ndarray = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
MUJOCO_MYOFULLBODY_TO_LAB.setflags(write=False)


def rotate_about_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` rad about the vertical lab z (counter-clockwise seen from above).

    Physical check: ``rotate_about_z(pi)`` turns a walk along −x into a walk along +x and swaps left
    and right lateral directions (y → −y) while leaving vertical forces untouched.
    """
    c, s = float(np.cos(angle)), float(np.sin(angle))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def is_rotation(c: np.ndarray, atol: float = 1e-9) -> bool:
    """True when ``c`` is a proper 3×3 rotation (orthonormal, determinant +1)."""
    c = np.asarray(c, dtype=float)
    return c.shape == (3, 3) and np.allclose(c @ c.T, np.eye(3), atol=atol) and abs(np.linalg.det(c) - 1) < atol


def to_lab(vectors: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Rotate row vectors into the lab frame: ``out[i] = c @ vectors[i]``.

    vectors: (n, 3) (or (3,)), any unit; c: (3, 3) proper rotation. Returns a new array of the same
    shape; NaN entries stay NaN (only in the rows that contain them).
    """
    v = np.asarray(vectors, dtype=float)
    c = np.asarray(c, dtype=float)
    if not is_rotation(c):
        raise MmbioError(f"to_lab: not a proper 3×3 rotation matrix: {c.tolist()}")
    if v.shape[-1:] != (3,):
        raise MmbioError(f"to_lab: vectors must have shape (n, 3), got {v.shape}")
    return v @ c.T
