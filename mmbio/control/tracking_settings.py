"""Settings of the contact-consistent muscle tracking controller (:mod:`mmbio.control.tracking`).

They are stored in checkpoints, so every field is checked for type and range when the settings are built
(a NaN friction coefficient, a negative cutoff or ten million substeps from a file are refused with the field
named, before anything is simulated).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from mmbio.errors import MmbioError

__all__ = ["MODES", "PLANNERS", "RESERVES", "ROOT_RESIDUALS", "SETTING_RANGES", "TrackingSettings"]

MODES = ("contact", "grf_prescribed")
ACTUATIONS = ("muscles", "torques")
ROOT_RESIDUALS = ("applied", "none")
PLANNERS = ("two_qp", "muscle_aware", "muscle_mpc")
RESERVES = ("applied", "none")

#: Allowed closed range of each numeric setting (units as in :class:`TrackingSettings`); a frequency or
#: tolerance whose lower end is 0 must be > 0 where marked ``open_low``.
SETTING_RANGES: dict[str, tuple[float, float]] = {
    "joint_hz": (0.0, 200.0),
    "root_pos_hz": (0.0, 200.0),
    "root_rot_hz": (0.0, 200.0),
    "damping": (0.0, 100.0),
    "w_joint": (0.0, 1e9),
    "w_upper": (0.0, 1e9),
    "w_root_pos": (0.0, 1e9),
    "w_root_rot": (0.0, 1e9),
    "w_slip": (0.0, 1e9),
    "w_foot": (0.0, 1e9),
    "foot_hz": (0.0, 200.0),
    "slip_kv": (0.0, 1e5),
    "w_force": (0.0, 1e9),
    "w_residual": (0.0, 1e9),
    "w_residual_moment": (0.0, 1e9),
    "mu": (0.0, 10.0),
    "contact_height_m": (0.0, 0.2),
    "unload_m": (0.0, 0.5),
    "touchdown_m": (0.0, 0.2),
    "release_m": (0.0, 0.2),
    "reserve_weight": (0.0, 1e9),
    "reference_cutoff_hz": (0.0, 1000.0),
    "root_cutoff_hz": (0.0, 1000.0),
    "substeps": (1, 1000),
    "osqp_eps": (0.0, 1.0),
    "phase_rate": (0.0, 1000.0),
    "consistency_iterations": (0, 20),
    "w_free_moment": (0.0, 1e9),
    "mpc_stages": (2, 20),
    "mpc_stage_s": (0.001, 0.1),
    "placement_kp": (0.0, 10.0),
    "placement_kd": (0.0, 5.0),
    "placement_tau_s": (0.0, 10.0),
    "placement_clip_deg": (0.0, 45.0),
    "physics_dt": (0.0, 0.01),
}
_OPEN_LOW = {
    "joint_hz",
    "root_pos_hz",
    "root_rot_hz",
    "damping",
    "foot_hz",
    "reference_cutoff_hz",
    "osqp_eps",
    "placement_tau_s",
}


@dataclass(frozen=True)
class TrackingSettings:
    """Tracking-controller parameters (all plain numbers: they are stored in checkpoints).

    mode: ``'contact'`` (MuJoCo contacts, GRF simulated) or ``'grf_prescribed'`` (floor off, measured GRF
    applied). joint_hz / root_pos_hz / root_rot_hz: PD bandwidth ω/2π (Hz) of the desired accelerations
    (K_p = ω², K_d = 2 ζ ω). damping: ζ. w_joint, w_root_pos, w_root_rot: tracking weights per (rad/s²)² or
    (m/s²)². w_slip: no-slip weight per (m/s²)². slip_kv: contact-point velocity feedback (1/s).
    w_force: weight per N² of pyramid coefficient. w_residual: weight per N² (N·m)² of root residual in
    QP 1. mu: friction coefficient of the pyramid. contact_height_m: contact-point height (m) below which a
    point may carry force. unload_m: reference lift (m) over which a lifting point's force cap ramps from
    one body weight to 0 (0: cut at once, the default; 10–20 mm raised the residuals here). touchdown_m: early
    touchdown (m): a point that touches the floor in the simulation while its reference point is descending and
    less than this high is in contact (0: off, the default: such a contact is then an unplanned impact; the
    measured Rajagopal stride, whose reference heel hovers ≈ 2 cm above the floor for ≈ 0.1 s before touchdown,
    needs it: see ``checkpoints/build.py``). release_m: gradual release (m): a touching point whose reference point
    is rising keeps its no-slip rows and force cap scaled by ``1 − height / release_m`` as the simulation lifts it,
    so a toe off does not switch the planned accelerations in one step (0: off, the default: the point stays fully
    pinned until it is ``contact_height_m`` high, then is free). reference_cutoff_hz: zero-lag low-pass of the reference (Fourier taper from half
    this frequency to it; Butterworth for non-periodic references). root_cutoff_hz: a lower cutoff for the root
    (pelvis) path alone (periodic references; 0: none): the foot-locked synthesised walk places the pelvis frame
    by frame, with kinks at heel strike that would be demanded as vertical-force spikes; 5–8 Hz lowered the root
    residuals on one stride but made the 3-cycle demo asymmetric (a split left stance), so it is off by default).
    reserve_weight: reserve cost per (N·m)² relative to Σ a². substeps: physics
    steps per control step (excitations and applied forces held). osqp_eps: solver tolerance. actuation:
    ``'muscles'``, or ``'torques'`` (diagnostic: ideal joint torques from QP 1, muscles passive — it separates
    what the contact/acceleration layer achieves from what the muscles can deliver).

    **Balance without root help** (issue 14; all off by default, so stored checkpoints are unchanged):
    root_residual: ``'applied'`` (the root residual of QP 2 acts on the simulation, as in OpenSim's RRA/CMC) or
    ``'none'`` (no force ever acts on the root: QP 1 prices its residual ×10⁴ and what remains is reported as
    planned, never applied; a muscles-only controller then has to balance with its contacts).
    phase_rate: the reference clock follows the pelvis (1/s; 0: off): the reference time lags or leads the
    simulation's clock so that the reference pelvis stays level, along the direction of travel, with the
    simulated one, ``dτ/dt = 1 − phase_rate · e / v`` with e the reference pelvis's lead (m) and v its speed (a
    body that walks 5 % slower than its reference would otherwise be pulled forward by the root PD until it falls).
    consistency_iterations: before tracking, correct a periodic reference's root path for dynamic consistency
    (:func:`mmbio.control.consistency.root_correction`; 0: off): the root residual force that contacts cannot
    supply, folded by phase, moves the reference pelvis by the periodic displacement whose acceleration is
    ``−F/m`` (a centimetre or two of lateral sway).
    planner: ``'two_qp'`` (accelerations and contacts, then muscles and reserves: the default) or
    ``'muscle_aware'`` (one QP with the activations reachable in one step as unknowns, so that the plan is one the
    muscles can deliver; reserves are priced ×1000; :mod:`mmbio.control.muscle_qp`; 10× slower) or
    ``'muscle_mpc'`` (the same over a receding horizon: ``mpc_stages`` stages, the first one control step, the
    others ``mpc_stage_s`` s each, linked by activation dynamics; :mod:`mmbio.control.muscle_mpc`; ≈ 15× slower
    than ``'muscle_aware'``). reserves: ``'applied'`` (the reserve torques act on the simulation) or ``'none'``
    (planned and reported as planned, never applied: the muscles alone actuate the joints).
    w_free_moment: weight per (N·m)² of each foot's planned ground moment about the vertical through the centroid of
    its contact points (QP 1, two-QP planner; 0: off), a diagnostic of the stance feet's twist: the root-free demo's
    right foot takes a free moment of 23 N·m RMS (peak 49 N·m; walking humans: a few N·m), which its hip rotators
    must transmit. The stride needs it: at 100 the free moments fall to 4 N·m RMS but the reserves rise ten-fold
    (33 → 313 N·m RMS) and the teacher falls at 2 s (``benchmarks/muscles_only_road.py --part free-moment``).
    placement_kp (m per m), placement_kd (s), placement_tau_s (s), placement_clip_deg (deg): lateral foot placement
    (:mod:`mmbio.control.placement`; off while k_p = k_d = 0): the swing hip's adduction reference is shifted so that
    the heel moves sideways by ``k_p e + k_d ė`` (e: the pelvis's lateral offset from the reference), at most
    ± clip, relaxing with τ in stance (SIMBICON's swing rule, Yin et al. 2007).
    physics_dt: the physics step (s) :func:`~mmbio.control.tracking.track` simulates with (0: the model's own, 1 ms
    for MyoFullBody; the muscles-only teacher runs at the training environment's 2 ms).
    """

    mode: str = "contact"
    joint_hz: float = 6.0
    root_pos_hz: float = 2.0
    root_rot_hz: float = 4.0
    damping: float = 1.0
    w_joint: float = 1.0
    w_upper: float = 10.0
    w_root_pos: float = 10.0
    w_root_rot: float = 1.0
    w_slip: float = 3.0
    w_foot: float = 0.0
    foot_hz: float = 6.0
    slip_kv: float = 5.0
    w_force: float = 1e-7
    w_residual: float = 1e-2
    w_residual_moment: float = 0.03
    mu: float = 0.9
    contact_height_m: float = 0.006
    unload_m: float = 0.0
    touchdown_m: float = 0.0
    release_m: float = 0.0
    reserve_weight: float = 1.0
    reference_cutoff_hz: float = 10.0
    root_cutoff_hz: float = 0.0
    substeps: int = 1
    osqp_eps: float = 1e-4
    actuation: str = "muscles"
    root_residual: str = "applied"
    phase_rate: float = 0.0
    consistency_iterations: int = 0
    planner: str = "two_qp"
    w_free_moment: float = 0.0
    mpc_stages: int = 6
    mpc_stage_s: float = 0.01
    reserves: str = "applied"
    placement_kp: float = 0.0
    placement_kd: float = 0.0
    placement_tau_s: float = 0.15
    placement_clip_deg: float = 14.0
    physics_dt: float = 0.0

    @property
    def placement(self) -> bool:
        """Lateral foot placement is on (k_p or k_d > 0)."""
        return self.placement_kp > 0 or self.placement_kd > 0

    def __post_init__(self) -> None:
        for name, choices in (("mode", MODES), ("actuation", ACTUATIONS), ("root_residual", ROOT_RESIDUALS),
                              ("planner", PLANNERS), ("reserves", RESERVES)):  # fmt: skip
            v = getattr(self, name)
            if type(v) is not str or v not in choices:
                raise MmbioError(f"tracking setting {name} must be one of {', '.join(choices)}, got {_show(v)}")
        for name, (lo, hi) in SETTING_RANGES.items():
            v = getattr(self, name)
            integer = name in ("substeps", "consistency_iterations", "mpc_stages")
            if isinstance(v, bool) or not isinstance(v, numbers.Integral if integer else numbers.Real):
                kind = "an integer" if integer else "a number"
                raise MmbioError(f"tracking setting {name} must be {kind}, got {_show(v)}")
            low_ok = v > lo if name in _OPEN_LOW else v >= lo
            if not (math.isfinite(v) and low_ok and v <= hi):
                low = f"> {lo:g}" if name in _OPEN_LOW else f">= {lo:g}"
                raise MmbioError(f"tracking setting {name} = {_show(v)} is out of range (must be {low} and <= {hi:g})")
        if self.planner != "two_qp" and (self.mode != "contact" or self.actuation != "muscles"):
            raise MmbioError(f"tracking: planner {self.planner!r} plans muscles on simulated contacts (mode 'contact', "
                             "actuation 'muscles')")  # fmt: skip
        if self.actuation == "torques" and self.reserves == "none":
            raise MmbioError("tracking: actuation 'torques' applies its joint torques as reserves; reserves 'none' "
                             "would apply none")  # fmt: skip
        if self.placement and self.mode != "contact":
            raise MmbioError("tracking: foot placement steers simulated contacts (mode 'contact')")
        if self.mode == "grf_prescribed" and self.root_residual == "none":
            raise MmbioError("tracking: mode 'grf_prescribed' needs its root residual (the measured loads and the "
                             "model's inertia disagree); root_residual 'none' is for mode 'contact'")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> TrackingSettings:
        """Settings from :meth:`to_dict` output; a non-dict, an unknown key or a bad value raises MmbioError."""
        if not isinstance(d, dict):
            raise MmbioError(f"tracking settings must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted((k for k in d if k not in known), key=str)
        if unknown:
            raise MmbioError(f"tracking: unknown settings {', '.join(_show(k) for k in unknown[:5])}")
        return cls(**d)


def _show(v: object) -> str:
    """A short repr of a value from a file, for a message."""
    s = repr(v) if isinstance(v, (str, int, float, bool, type(None))) else f"a {type(v).__name__}"
    return s if len(s) <= 40 else s[:39] + "…"
