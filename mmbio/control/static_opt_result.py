"""The result of static optimisation (:func:`mmbio.control.static_opt.static_optimisation`): activations, reserves,
root residuals, estimated GRF, and the one-line summary the reports quote."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmbio.errors import MmbioError
from mmbio.sim.foot_geometry import GRAVITY
from mmbio.trial import Channels, GroundReaction


@dataclass
class StaticOptResult:
    """Static optimisation of one motion.

    time: (T,) s (motion clock, frame 0 at 0). activations: (T, n_mus) in [0, 1], columns ``muscle_names``
    (actuator names). reserves: (T, n_res) N·m (N for slide dofs), columns ``reserve_names`` (joint names
    of the independent non-root dofs). residuals: (T, 6) root residual forces (N, world) and moments (N·m,
    root frame), columns :data:`mmbio.control.static_opt.RESIDUAL_NAMES`. muscle_force: (T, n_mus) tension (N, ≥ 0 pulling),
    passive included. solve_time_s: (T,) wall time of each frame's osqp solve(s). status: (T,) osqp
    status strings. mass_kg: body mass for the BW normalisation. grf_applied: whether measured GRF was
    applied. contacts_estimated: whether the GRF was a decision variable. grf_force / grf_cop /
    grf_free_moment: estimated GRF per foot ``'r'``/``'l'`` (empty without estimated contacts): force
    (T, 3) N, ground on foot, lab frame (x forward, y left, z up); centre of pressure (T, 3) m on the floor
    plane, lab frame, NaN below :data:`mmbio.control.foot_loads.GRF_MIN_FORCE_N`; free moment about the vertical (T,) N·m.
    contact_active: per foot (T, n_points) bool, the points allowed to push (order of
    ``mmbio.sim.motion._contact_points``: heel, forefoot, hallux). floor_z_m: floor height used (m, world
    z). t0_s: motion frame 0 on the trial clock (added by :meth:`estimated_grf`). sqp_iterations: (T,)
    QPs per frame (1 for exponent 2). limit_forces: (T, n_res) joint-limit forces on the reserve dofs (N·m or N,
    columns ``reserve_names``; 0 away from the limits) with ``joint_limits=True``, else None.
    """

    time: np.ndarray
    activations: np.ndarray
    muscle_names: list[str]
    reserves: np.ndarray
    reserve_names: list[str]
    residuals: np.ndarray
    muscle_force: np.ndarray
    solve_time_s: np.ndarray
    status: list[str]
    mass_kg: float
    grf_applied: bool
    notes: list[str] = field(default_factory=list)
    contacts_estimated: bool = False
    grf_force: dict[str, np.ndarray] = field(default_factory=dict)
    grf_cop: dict[str, np.ndarray] = field(default_factory=dict)
    grf_free_moment: dict[str, np.ndarray] = field(default_factory=dict)
    contact_active: dict[str, np.ndarray] = field(default_factory=dict)
    floor_z_m: float = 0.0
    t0_s: float = 0.0
    exponent: float = 2.0
    sqp_iterations: np.ndarray | None = None
    limit_forces: np.ndarray | None = None

    @property
    def residual_force_rms_bw(self) -> float:
        """RMS (over frames) of the root residual force magnitude, in body weights."""
        return float(np.sqrt(np.mean(np.sum(self.residuals[:, :3] ** 2, axis=1))) / (self.mass_kg * GRAVITY))

    @property
    def residual_moment_rms_nm(self) -> float:
        """RMS (over frames) of the root residual moment magnitude, N·m."""
        return float(np.sqrt(np.mean(np.sum(self.residuals[:, 3:] ** 2, axis=1))))

    @property
    def reserve_max_abs(self) -> dict[str, float]:
        """Largest |reserve| per independent dof (N·m or N)."""
        return {n: float(v) for n, v in zip(self.reserve_names, np.abs(self.reserves).max(axis=0), strict=True)}

    def activation_channels(self) -> Channels:
        """Activations as :class:`~mmbio.trial.Channels` (unit ``'1'``) on the trial clock (time ``time + t0_s``),
        ready for ``validate(activation_sources=...)``."""
        t = self.time + self.t0_s
        return Channels(t, self.activations, list(self.muscle_names), ["1"] * len(self.muscle_names))

    def estimated_grf(self) -> dict[str, GroundReaction]:
        """The estimated GRF per foot as :class:`~mmbio.trial.GroundReaction` (lab frame, time ``time + t0_s``)."""
        if not self.contacts_estimated:
            raise MmbioError("static optimisation: no estimated GRF (run with grf=None, contacts=True)")
        return {
            s: GroundReaction(self.time + self.t0_s, self.grf_force[s], self.grf_cop[s], self.grf_free_moment[s])
            for s in self.grf_force
        }

    def summary(self) -> str:
        """One line: residual force (BW) and moment RMS, largest reserve, joint-limit forces (when solved with them),
        solve time, failures."""
        worst = max(self.reserve_max_abs.items(), key=lambda kv: kv[1]) if self.reserve_names else ("-", 0.0)
        bad = sum(s not in ("solved", "solved inaccurate") for s in self.status)
        if self.grf_applied:
            mode = "measured GRF"
        elif self.contacts_estimated:
            mode = "estimated contact forces"
        else:
            mode = "no external loads"
        if self.exponent != 2:
            mode += f", exponent {self.exponent:g}"
        limits = ""
        if self.limit_forces is not None:  # joint_limits=True: what the limits took instead of the reserves
            lr = np.sqrt(np.mean(self.limit_forces**2, axis=0))
            top = [j for j in np.argsort(-lr)[:4] if lr[j] > 0.05]
            limits = "; joint-limit forces " + (
                "RMS " + ", ".join(f"{self.reserve_names[j]} {lr[j]:.1f}" for j in top) + " N·m" if top else "none"
            )
        return (
            f"static optimisation ({mode}): "
            f"root residual force RMS {self.residual_force_rms_bw:.3f} BW, moment RMS "
            f"{self.residual_moment_rms_nm:.1f} N·m; largest reserve {worst[1]:.1f} ({worst[0]}){limits}; "
            f"{1000 * float(np.mean(self.solve_time_s)):.2f} ms/frame (osqp); {bad} unsolved frames"
        )
