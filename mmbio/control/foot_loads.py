"""Feet and ground loads for static optimisation and the tracking controller: the foot contact points, measured GRF
resampled onto a motion's clock and turned into MuJoCo loads at the centre of pressure, and the resultant (force,
COP, free moment) of estimated point forces. Lab frame: x forward, y left, z up; MuJoCo world: z up
(:data:`mmbio.io.axes.MUJOCO_MYOFULLBODY_TO_LAB`)."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.trial import SIDES, GroundReaction

#: Vertical force (N) below which a foot's measured GRF is not applied (its COP is undefined); also the
#: estimated GRF's threshold for a defined COP.
GRF_MIN_FORCE_N = 20.0


@dataclass(frozen=True)
class FootPoints:
    """The foot contact spheres (:func:`mmbio.sim.motion._contact_points`: heel, metatarsal heads, toes per side)
    as flat arrays: side (n,) 'r'/'l', body (n,) ids, local (n, 3) sphere centres in the body frame (m),
    radius (n,) m."""

    side: tuple[str, ...]
    body: np.ndarray
    local: np.ndarray
    radius: np.ndarray

    @classmethod
    def of(cls, m: mujoco.MjModel) -> FootPoints:
        from mmbio.sim.motion import _contact_points

        pts = [(s, b, c, r) for s, parts in _contact_points(m).items() for part in parts for b, c, r in part]
        return cls(
            side=tuple(p[0] for p in pts),
            body=np.array([p[1] for p in pts], dtype=int),
            local=np.array([p[2] for p in pts], dtype=float).reshape(-1, 3),
            radius=np.array([p[3] for p in pts], dtype=float),
        )

    @classmethod
    def empty(cls) -> FootPoints:
        return cls((), np.zeros(0, dtype=int), np.zeros((0, 3)), np.zeros(0))

    def __len__(self) -> int:
        return len(self.body)

    def of_side(self, side: str) -> np.ndarray:
        """Indices (k,) of the side's (``'r'``/``'l'``) points."""
        return np.flatnonzero(np.array(self.side) == side)

    def centres(self, d: mujoco.MjData) -> np.ndarray:
        """Sphere centres (n, 3) m, world frame, from ``d``'s kinematics."""
        rot = d.xmat[self.body].reshape(-1, 3, 3)
        return d.xpos[self.body] + np.einsum("jab,jb->ja", rot, self.local)

    def lowest(self, d: mujoco.MjData) -> np.ndarray:
        """The spheres' lowest points (n, 3) m, world frame: the contact points."""
        p = self.centres(d)
        p[:, 2] -= self.radius
        return p


def cop_loads(
    d: mujoco.MjData, feet: dict[str, tuple[int, int]], per_side: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    k: int,
) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """Frame ``k`` of measured GRF as MuJoCo loads: per loaded foot (body, force (3,) N, free moment about z (3,)
    N·m, COP (3,) m), applied to ``toes`` when the COP lies ahead of the mtp joint, else to ``calcn``.

    d: kinematics of the frame. feet: side → (calcn, toes) body ids. per_side: side → (force (T, 3), COP (T, 3),
    free moment (T,)) in the MuJoCo world (:func:`grf_on_time`).
    """
    out = []
    for s, (f, cop, fm) in per_side.items():
        if not f[k].any():
            continue
        calcn, toes = feet[s]
        fwd = d.xpos[toes] - d.xpos[calcn]
        body = toes if float(np.dot(cop[k] - d.xpos[toes], fwd)) > 0 else calcn
        out.append((body, f[k], np.array([0.0, 0.0, fm[k]]), cop[k]))
    return out


def grf_on_time(grf: dict[str, GroundReaction], t: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per side (force (T, 3) N, COP (T, 3) m, free moment (T,)) in the MuJoCo world on the motion clock."""
    lab_to_mj = MUJOCO_MYOFULLBODY_TO_LAB.T
    out = {}
    for side, g in grf.items():
        if side not in SIDES:
            raise MmbioError(
                f"static optimisation: GRF key {side!r} is not a foot ('r'/'l'); assign plates to feet first"
            )
        if t[0] < g.time[0] - 1e-9 or t[-1] > g.time[-1] + 1e-9:
            raise MmbioError(
                f"static optimisation: motion time {t[0]:.3f}..{t[-1]:.3f} s outside the GRF's "
                f"{g.time[0]:.3f}..{g.time[-1]:.3f} s (check t0_s)"
            )
        f = np.column_stack([np.interp(t, g.time, g.force[:, k]) for k in range(3)])
        cop_lab = np.nan_to_num(g.cop, nan=0.0)
        cop = np.column_stack([np.interp(t, g.time, cop_lab[:, k]) for k in range(3)])
        fm = np.interp(t, g.time, np.asarray(g.free_moment, dtype=float))
        f_mj, cop_mj = f @ lab_to_mj.T, cop @ lab_to_mj.T
        cop_mj[:, 2] = 0.0  # on the floor (motion_from_opensim puts the stance foot at z = 0)
        unloaded = f[:, 2] < GRF_MIN_FORCE_N
        f_mj[unloaded] = 0.0
        fm[unloaded] = 0.0
        out[side] = (f_mj, cop_mj, fm)
    return out


def foot_bodies(m: mujoco.MjModel, side: str) -> tuple[int, int]:
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"{b}_{side}") for b in ("calcn", "toes")]
    if min(ids) < 0:
        raise MmbioError(f"static optimisation: the model has no calcn_{side}/toes_{side} bodies for the GRF")
    return ids[0], ids[1]


def foot_grf(f_pts: np.ndarray, pts: np.ndarray, floor_z: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Resultant of point forces f_pts (k, 3) N at points pts (k, 3) m (world): force (3,) N, centre of
    pressure (3,) m on the floor plane z = floor_z (NaN below :data:`GRF_MIN_FORCE_N`) and the free moment
    about the vertical through it (N·m). Exact: the horizontal moment about the COP vanishes."""
    f = f_pts.sum(axis=0)
    if f[2] < GRF_MIN_FORCE_N:
        return f, np.full(3, np.nan), 0.0
    h = pts[:, 2] - floor_z
    cop = np.array(
        [
            (pts[:, 0] @ f_pts[:, 2] - h @ f_pts[:, 0]) / f[2],
            (pts[:, 1] @ f_pts[:, 2] - h @ f_pts[:, 1]) / f[2],
            floor_z,
        ]
    )
    r = pts - cop
    tz = float(np.sum(r[:, 0] * f_pts[:, 1] - r[:, 1] * f_pts[:, 0]))
    return f, cop, tz
