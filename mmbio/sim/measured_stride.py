"""A periodic one-stride reference motion of MyoFullBody from measured inverse kinematics and force plates.

:func:`stride_from_opensim` turns an overground OpenSim IK trial of a Rajagopal-family model (the Rajagopal 2016
walk: ``coordinates.sto`` + ``grf_walk.mot``) into one closed stride with a stance plan per foot, which the
tracking controller (:mod:`mmbio.control.tracking`) loops like the synthesised walk
(:func:`mmbio.sim.synthesis.synthesize_motion`). What it does, in order (every step and its cost goes into
``Motion.notes``):

1. **Events and clock.** Heel strikes and toe offs of each foot from its own vertical force (threshold
   20 N, :func:`mmbio.gait.events.contact_intervals`, as :func:`~mmbio.gait.events.detect_events`). The stride period T is the time between two consecutive
   right heel strikes; 0 % of the stride is the right heel strike.
2. **Window.** The IK rarely holds a heel-strike-to-heel-strike stride (the Rajagopal walk: IK 0.45–1.80 s,
   right heel strikes 0.267 and 1.4115 s), but a stride is periodic: any window of length T inside the IK
   covers every phase once. Candidate windows ``[a, a + T]`` start on the frame grid anchored at a right
   heel strike and keep ``edge_margin_s`` from both ends of the IK (filter edge effects); the chosen one has
   the smallest end-to-start mismatch ``sqrt(mean(Δq² + (τ Δq̇)²))`` over the moving joints and pelvis angles
   (deg, τ = :data:`VELOCITY_WEIGHT_S`: a velocity jump smoothed by the tracking controller's 10 Hz reference
   low-pass moves the position by about Δq̇ × 50 ms). A window shorter than T (e.g. 0.48–1.61 s, 98.7 % of
   the Rajagopal stride) would leave the missing 1.3 % as mismatch: 3.1° and velocity jumps up to 92 °/s there,
   against ≤ 1.5° and ≤ 16 °/s for a full-period window.
3. **Frames.** The window is resampled (cubic spline of the 1 kHz IK) onto ``N = round(T · rate_hz)``
   frames at ``rate_hz`` (100 Hz: the rate the imitation environment and the synthesised walk use), so the
   stride's clock is scaled by ``N / (T · rate_hz)`` (Rajagopal: 1.1445 s → 1.14 s, −0.4 %; noted).
4. **Closure.** The end-to-start mismatch of every moving joint, of the three pelvis angles and of the
   lateral and vertical pelvis position is spread linearly over the stride (``q(t) − Δq · t / T``), so the
   last frame equals the first; the forward pelvis translation is carried on as a per-stride advance (the
   stride length, measured: speed = advance / stride time). Each spread is noted per joint.
5. **Phase.** The frames are rotated so that frame 0 is the right heel strike (the closed stride is periodic:
   exact, with the advance added to the frames moved to the end).
6. **Stance plan.** Per foot, the measured contact (vertical force above the threshold) mapped onto the
   stride's clock, wrapping: right stance from 0 % to its toe off; left stance from its heel strike (≈ 50 %)
   through 100 % to its toe off in the next stride. The mean over the observed complete contacts of each foot.
7. **Foot–floor consistency** (``foot_lock=True``). The IK of another body replayed on MyoFullBody does not
   keep its feet on the floor: Rajagopal's mtp and subtalar are locked and the toes sink 2–5 cm at push-off; the
   stance feet float up to ≈ 7 cm, slide, and the swing heel lands ≈ 60 ms after the measured heel strike. The
   foot lock of the synthesised walk (:func:`mmbio.sim.synthesis._foot_lock`) corrects the stride with the
   measured stance plan: loaded foot parts on the floor without slip, swing foot clear, leg joints kept inside
   the ranges the tracking controller tracks (0.05 rad margin). Unlike the synthesised walk, whose root path the
   lock builds, the measured stride's whole-body centre of mass carries the measured ground reaction: replayed on
   MyoFullBody (10 Hz low-pass, as the tracking controller does) the IK gives a total GRF within ≈ 0.05 BW of the
   force plates. So the lock may change the COM's acceleration by only :data:`COM_ACC_SD_M` per frame²
   (``root_smooth='com'``) and the pelvis orientation only smoothly (:data:`PELVIS_CORRECTION_SMOOTH_SD_DEG`): with
   the lock's defaults for the synthesised walk the corrected stride asked for 1.5–2.1 BW at heel strike, braking
   where the plates show propulsion, and trunk angular accelerations of 40 rad/s² (3.0 rad/s² RMS in the IK), and
   the tracking controller fell behind the reference by ≈ 4 cm per step. Before the lock the root is lowered once
   so that the stance feet sit on the floor (median height); after it the whole motion is shifted once so that no
   foot point is below the floor (no per-frame placement: sub-millimetre steps in the pelvis height are metres per
   second squared). The sizes of all corrections and the total GRF the result implies, against the plates, are
   noted.

Limits: the arms hold a relaxed posture (:mod:`mmbio.sim.arm_posture`; Rajagopal's arm coordinates do not map
onto the MoBL shoulder and ``qpos0`` puts the humeri inside the thorax); one measured
stride of one subject, made periodic; left and right strides are not separately timed (one left heel strike);
the stride's stance (66 % of the stride, as the plates show) is longer than the ≈ 60 % of typical adult walking.
The foot lock changes the measured joint angles (Rajagopal walk, clinical angles, max / RMS): hip flexion 7 / 3°,
hip rotation 13 / 5°, knee 10 / 4°, ankle 25 / 8° (a constant +4° included), and adds subtalar (18 / 5°) and mtp
(27 / 10°) motion the IK does not have (Rajagopal locks both); the toes push off at MyoFullBody's mtp limit
(±30°, humans reach ≈ 50°), which the tracking simulation then exceeds by ≈ 3°.
"""

from __future__ import annotations

from inspect import Parameter, signature
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.interpolate import CubicSpline

from mmbio.errors import MmbioError
from mmbio.models.anatomy import coupled_qpos, joint_couplings
from mmbio.sim.arm_posture import relax_arms
from mmbio.sim.foot_geometry import GRAVITY, SIDES, _foot_kinematics, _load_model, _root_adr
from mmbio.sim.frames import pelvis_angles_from_quat, quat_from_pelvis_angles
from mmbio.sim.rollout_cpu import finite_difference_qvel

if TYPE_CHECKING:
    from mmbio.sim.motion import Motion

__all__ = [
    "StrideEvents",
    "implied_grf",
    "stride_events",
    "stride_events_from_trial",
    "stride_from_c3d",
    "stride_from_opensim",
]

PathArg = str | PathLike[str]

#: Weight (s) of the velocity mismatch against the position mismatch when choosing the window (step 2).
VELOCITY_WEIGHT_S = 0.05
#: Prior SD (m per frame²: 0.1 m/s² at 100 Hz, 0.01 BW of total ground reaction) of the second difference of the
#: foot lock's change of the whole-body centre of mass: the measured COM acceleration (the GRF) is kept.
COM_ACC_SD_M = 1e-5
#: Prior SD (deg per frame²) of the second difference of the foot lock's joint corrections (the synthesised walk's).
JOINT_CORRECTION_SMOOTH_SD_DEG = 0.3
#: Prior SD (deg per frame², ≈ 3.5 rad/s² at 100 Hz) of the second difference of the foot lock's pelvis-rotation
#: correction: the trunk follows the pelvis, and the IK's trunk turns at ≈ 3 rad/s² RMS.
PELVIS_CORRECTION_SMOOTH_SD_DEG = 0.02
#: Joint-range margin (rad) of the foot lock: the tracking controller moves its reference this far inside
#: every limited hinge (:meth:`mmbio.control.reference.LoopedReference._inside_limits`).
RANGE_MARGIN_RAD = 0.05
#: Low-pass (Hz) of the COM acceleration when the implied GRF is compared with the plates (the tracking
#: controller's reference cutoff).
GRF_CHECK_CUTOFF_HZ = 10.0


class StrideEvents:
    """The measured gait events that define one stride's clock (s, on the force plates' time base).

    heel_strike_r: the right heel strike at 0 % (``t0``) and the next (``t0 + period``). stance: per side
    (start %, duration %) of the stance on the stride's clock (start modulo 100). contacts: per side the
    observed complete contacts (heel strike, toe off) in s that the plan averages.
    """

    def __init__(self, t0: float, period: float, stance: dict[str, tuple[float, float]],
                 contacts: dict[str, list[tuple[float, float]]]) -> None:  # fmt: skip
        self.t0, self.period, self.stance, self.contacts = float(t0), float(period), stance, contacts

    def phase(self, t: np.ndarray | float) -> np.ndarray:
        """% of the stride (0–100) at time(s) t."""
        return np.mod((np.asarray(t, dtype=float) - self.t0) / self.period, 1.0) * 100.0

    def in_stance(self, side: str, pct: np.ndarray) -> np.ndarray:
        start, dur = self.stance[side]
        return np.mod(np.asarray(pct) - start, 100.0) < dur

    def __repr__(self) -> str:
        st = ", ".join(f"{s} {a:.1f} %+{d:.1f} %" for s, (a, d) in self.stance.items())
        return f"StrideEvents(t0={self.t0:.4f} s, period={self.period:.4f} s, stance {st})"


def stride_events(grf: dict[str, Any], *, threshold_n: float = 20.0, near_s: float | None = None) -> StrideEvents:
    """The stride clock and stance plan from measured GRF per foot (``{'r': GroundReaction, 'l': ...}``).

    The stride: two consecutive right heel strikes (the pair whose middle is nearest ``near_s``, default the
    first pair). Stance per side: mean duration over the complete contacts (heel strike and toe off observed);
    its start: the heel strike of the contact nearest the stride, as % of the stride modulo 100.
    """
    from mmbio.gait.events import contact_intervals

    contacts: dict[str, list[tuple[float, float]]] = {}
    hs_r = np.empty(0)
    for s in SIDES:
        if s not in grf:
            raise MmbioError(f"stride: no GRF for foot {s!r}")
        g = grf[s]
        iv = contact_intervals(g.time, np.asarray(g.force, dtype=float)[:, 2], threshold_n=threshold_n)
        contacts[s] = [(float(a), float(b)) for a, b in iv if a is not None and b is not None]
        if s == "r":  # every observed heel strike, the last contact's too (its toe off may be cut off)
            hs_r = np.array(sorted(float(a) for a, _ in iv if a is not None))
    if hs_r.size < 2:
        raise MmbioError("stride: the GRF holds fewer than two right heel strikes (no stride period)")
    return _stride_plan(hs_r, contacts, near_s, "the GRF")


def _stride_plan(
    hs_r: np.ndarray, contacts: dict[str, list[tuple[float, float]]], near_s: float | None, where: str
) -> StrideEvents:
    """The stride (two consecutive right heel strikes ``hs_r``, the pair whose middle is nearest ``near_s``) and each
    side's stance: mean duration over its complete ``contacts``, start at the contact nearest the stride's middle, as %
    of the stride modulo 100. ``where`` names the source in the error of a foot without a complete contact."""
    mids = 0.5 * (hs_r[:-1] + hs_r[1:])
    k = 0 if near_s is None else int(np.argmin(np.abs(mids - near_s)))
    t0, period = float(hs_r[k]), float(hs_r[k + 1] - hs_r[k])
    stance = {}
    for s in SIDES:
        if not contacts[s]:
            raise MmbioError(f"stride: no complete contact (heel strike then toe off) of foot {s!r} in {where}")
        dur = float(np.mean([b - a for a, b in contacts[s]])) / period * 100.0
        near = min(contacts[s], key=lambda c: abs(c[0] - (t0 + 0.5 * period)))
        start = float(np.mod((near[0] - t0) / period, 1.0) * 100.0)
        if s == "r" and min(start, 100.0 - start) < 1e-6:
            start = 0.0
        stance[s] = (start, dur)
    return StrideEvents(t0, period, stance, contacts)


def stride_events_from_trial(events: Any, *, near_s: float | None = None) -> StrideEvents:
    """The stride clock and stance plan from a trial's own gait events (:class:`mmbio.trial.Events`, s).

    For trials whose force plates see one contact per foot (a lab walkway): two consecutive right heel strikes
    (the pair whose middle is nearest ``near_s``) give the stride; each foot's complete contacts (a heel strike
    followed by a toe off before the next heel strike, :func:`mmbio.gait.cycles.stance_windows`) give its stance,
    as :func:`stride_events`.
    """
    from mmbio.gait.cycles import stance_windows

    contacts = {s: stance_windows(events.heel_strike[s], events.toe_off[s]) for s in SIDES}
    hs_r = np.asarray(events.heel_strike["r"], dtype=float)
    if hs_r.size < 2:
        raise MmbioError(
            f"stride: the trial's events ({events.source}) hold {hs_r.size} right heel strike(s); a stride needs two"
        )
    return _stride_plan(hs_r, contacts, near_s, f"the events ({events.source})")


def stride_from_c3d(
    trial_path: PathArg,
    *,
    static: PathArg | None = None,
    mass_kg: float | None = None,
    marker_set: str | None = None,
    model: str = "myofullbody",
    variant: str | None = None,
    rate_hz: float = 100.0,
    window_start_s: float | None = None,
    edge_margin_s: float = 0.05,
    foot_lock: bool = True,
    lock_options: dict[str, Any] | None = None,
) -> Motion:
    """One periodic stride of a subject's own lab trial (C3D/TRC markers + its gait events) on MyoFullBody.

    mmbio's marker IK (:func:`mmbio.sim.ik.marker_ik`; scaled to ``static``, the subject's standing trial, when
    given) replaces the OpenSim IK of :func:`stride_from_opensim`; the stride clock and the stance plan come from
    the trial's events (the C3D's Foot Strike / Foot Off, else those detected from its force plates), because a
    walkway's plates see one contact per foot, not a whole stride. Steps 2-7 of the module docs follow. The IK
    runs on the scaled model, the stride on MyoFullBody's own (unscaled) body: joint angles carry over, segment
    lengths do not (the foot lock keeps the feet on the floor). ``Motion.notes`` say all of it; ``Motion.source``
    names the trial file (so validating against the dataset it came from is flagged as by construction).
    """
    from mmbio.io.loader import load_trial
    from mmbio.sim.ik import marker_ik

    notes: list[str] = []
    trial = load_trial(trial_path)
    t_mk = trial.markers.time if trial.markers is not None and trial.markers.time.size else None
    try:  # the events first: a trial without a stride fails before the scaling and the IK
        ev = stride_events_from_trial(trial.events, near_s=None if t_mk is None else 0.5 * (t_mk[0] + t_mk[-1]))
    except MmbioError as e:
        raise MmbioError(f"{trial_path}: {e}") from None
    scaled = None
    if static is not None:
        from mmbio.sim.scaling import scale_for_subject

        scaled = scale_for_subject(static, marker_set, mass_kg, model=model, variant=variant)
        notes += [f"scaling: {n}" for n in scaled.notes]
    ik = marker_ik(trial_path, model=model, variant=variant, marker_set=marker_set, scaled=scaled)
    notes.append(f"IK: {ik.summary()}")
    notes += [f"IK: {n}" for n in ik.notes]
    na = sorted(j for j, v in ik.na.items() if np.any(v))
    if na:
        raise MmbioError(f"stride: {trial_path}: the IK leaves joints n/a on some frames ({', '.join(na[:6])}); "
                         "a stride needs every joint on every frame")  # fmt: skip
    src = ik.motion
    model, variant = src.model, src.variant
    m = _load_model(model, variant)
    t_src = np.asarray(ik.time, dtype=float)
    notes.append(f"events: the trial's ({trial.events.source})")
    return _periodic_stride(
        m, src, t_src, ev, notes, model=model, variant=variant, rate_hz=rate_hz, window_start_s=window_start_s,
        edge_margin_s=edge_margin_s, foot_lock=foot_lock, lock_options=lock_options,
        source=f"{trial_path} (mmbio marker IK{' scaled to ' + str(static) if static else ''})", grf=None,
    )  # fmt: skip


def stride_from_opensim(
    coordinates_path: PathArg,
    grf_path: PathArg,
    *,
    model: str = "myofullbody",
    variant: str | None = None,
    rate_hz: float = 100.0,
    threshold_n: float = 20.0,
    window_start_s: float | None = None,
    edge_margin_s: float = 0.05,
    foot_lock: bool = True,
    lock_options: dict[str, Any] | None = None,
) -> Motion:
    """One periodic stride of a measured walk (OpenSim IK + force plates) on MyoFullBody; see the module docs.

    coordinates_path: OpenSim IK coordinates (``.sto``/``.mot``) of a Rajagopal-family model; grf_path: the
    trial's ``.mot`` GRF with one force per foot (:func:`mmbio.io.opensim.read_opensim_grf`), on the same time
    base. rate_hz: frames per second of the result (the stride gets ``round(T · rate_hz)`` frames and its clock is
    scaled to fit, noted). window_start_s: force the window's start (nearest frame-grid point); default: the
    smallest end-to-start mismatch. foot_lock: correct the stride so that the feet follow the measured stance plan
    (default). lock_options: overrides of any keyword option of :func:`mmbio.sim.synthesis._foot_lock`
    (``smooth_sd_deg``, ``root_rot_smooth_sd_deg``, ``root_acc_sd_m``, ``root_smooth``, ``range_margin_rad``,
    ``swing_clearance_m``, ``swing_ramp``, ``foot_flat_stance``, ``heel_slip_sd_m``, ``iterations``).

    Returns a :class:`~mmbio.sim.motion.Motion` of ``N + 1`` frames (the last is the first advanced by one stride
    length), ``stance`` per side from the measured GRF, 0 % = right heel strike.

    Raises:
        MmbioError: no stride period in the GRF, an IK window shorter than a stride, a bad option.
        DataFileError: an unreadable file.
    """
    from mmbio.io.opensim import read_opensim_grf
    from mmbio.sim.motion import motion_from_opensim

    if not (np.isfinite(rate_hz) and 10.0 <= rate_hz <= 1000.0):
        raise MmbioError(f"stride: rate_hz must lie in [10, 1000], got {rate_hz}")
    notes: list[str] = []
    grf = read_opensim_grf(grf_path)
    # the IK at its own rate (no resampling), one global vertical placement; its time base
    from mmbio.io.opensim import read_storage

    t_ik = np.asarray(read_storage(coordinates_path).time, dtype=float)
    if t_ik.size < 4:
        raise MmbioError(f"{coordinates_path}: fewer than 4 IK frames")
    ik_rate = 1.0 / float(np.median(np.diff(t_ik)))
    src = motion_from_opensim(coordinates_path, model=model, variant=variant, rate_hz=ik_rate, floor="global")
    model, variant = src.model, src.variant
    m = _load_model(model, variant)
    notes += [f"IK: {n}" for n in src.notes]
    t_src = t_ik[0] + src.time
    ev = stride_events(grf, threshold_n=threshold_n, near_s=0.5 * (t_src[0] + t_src[-1]))
    notes.append(f"events: vertical GRF > {threshold_n:g} N per foot")
    return _periodic_stride(
        m, src, t_src, ev, notes, model=model, variant=variant, rate_hz=rate_hz, window_start_s=window_start_s,
        edge_margin_s=edge_margin_s, foot_lock=foot_lock, lock_options=lock_options,
        source=f"{Path(coordinates_path).name} + {Path(grf_path).name}", grf=grf,
    )  # fmt: skip


def _periodic_stride(
    m: Any,
    src: Motion,
    t_src: np.ndarray,
    ev: StrideEvents,
    notes: list[str],
    *,
    model: str,
    variant: str | None,
    rate_hz: float,
    window_start_s: float | None,
    edge_margin_s: float,
    foot_lock: bool,
    lock_options: dict[str, Any] | None,
    source: str,
    grf: dict[str, Any] | None,
) -> Motion:
    """Steps 2-7 of the module docs on a MyoFullBody motion ``src`` with time base ``t_src`` (s, the events' clock).

    grf: per-foot ground reaction on the same clock for the implied-vs-measured total GRF check (both feet over the
    whole window), or None when the plates do not cover the stride (noted).
    """
    from mmbio.sim.motion import Motion
    from mmbio.sim.synthesis import _foot_lock

    if not (np.isfinite(rate_hz) and 10.0 <= rate_hz <= 1000.0):
        raise MmbioError(f"stride: rate_hz must lie in [10, 1000], got {rate_hz}")
    period = ev.period
    notes.append(
        f"events: right heel strikes {ev.t0:.4f} and "
        f"{ev.t0 + period:.4f} s: stride {period:.4f} s; contacts r "
        + ", ".join(f"{a:.4f}-{b:.4f}" for a, b in ev.contacts["r"]) + " s, l "
        + ", ".join(f"{a:.4f}-{b:.4f}" for a, b in ev.contacts["l"]) + " s"
    )  # fmt: skip
    n = max(round(period * rate_hz), 8)
    if t_src[-1] - t_src[0] - 2 * edge_margin_s < period:
        raise MmbioError(
            f"stride: the IK covers {t_src[0]:.3f}-{t_src[-1]:.3f} s, shorter than one stride ({period:.3f} s) "
            f"plus {edge_margin_s:g} s margins"
        )

    # --- what is interpolated: moving independent joints (rad), pelvis angles (deg), root position (m) ---------
    root = _root_adr(m)
    dep = {c.dep for c in joint_couplings(m)}
    names = {int(m.jnt_qposadr[j]): m.joint(j).name for j in range(m.njnt) if int(m.jnt_type[j]) in (2, 3)}
    moving = [a for a in sorted(names) if a not in dep and np.ptp(src.qpos[:, a]) > 1e-9]
    nj = len(moving)
    pel = pelvis_angles_from_quat(src.qpos[:, root + 3 : root + 7])
    tab = np.column_stack([np.degrees(src.qpos[:, moving]), pel, src.qpos[:, root : root + 3]])
    spl = CubicSpline(t_src, tab, axis=0)
    dspl = spl.derivative()
    labels = [names[a] for a in moving] + ["pelvis_tilt", "pelvis_obliquity", "pelvis_rotation"]

    # --- window: one full period on the frame grid anchored at the right heel strike ----------------------
    step = period / n
    lo_k = int(np.ceil((t_src[0] + edge_margin_s - ev.t0) / step - 1e-9))
    hi_k = int(np.floor((t_src[-1] - edge_margin_s - period - ev.t0) / step + 1e-9))
    starts = ev.t0 + np.arange(lo_k, hi_k + 1) * step
    if window_start_s is not None:
        starts = starts[[int(np.argmin(np.abs(starts - window_start_s)))]]
    costs = []
    for a in starts:
        dq = (spl(a + period) - spl(a))[: nj + 3]
        dv = (dspl(a + period) - dspl(a))[: nj + 3]
        costs.append(float(np.sqrt(np.mean(dq**2 + (VELOCITY_WEIGHT_S * dv) ** 2))))
    a = float(starts[int(np.argmin(costs))])
    tk = a + np.arange(n + 1) * step
    v = spl(tk)
    dq = v[-1] - v[0]
    dv = (dspl(a + period) - dspl(a))[: nj + 3]
    notes.append(
        f"window {a:.4f}-{a + period:.4f} s of the IK ({t_src[0]:.3f}-{t_src[-1]:.3f} s): one full stride, chosen "
        f"among {len(starts)} starts on the frame grid (>= {edge_margin_s:g} s from the IK ends) for the smallest "
        f"end-to-start mismatch (cost {min(costs):.2f} deg; velocity jumps up to {np.abs(dv).max():.0f} deg/s)"
    )

    # --- closure: spread the end-to-start mismatch linearly; forward translation carried on -----------------
    ramp = np.arange(n + 1) / n
    spread = [*range(nj + 3), nj + 3, nj + 5]  # joints, pelvis angles, root x (lateral) and z
    v[:, spread] -= ramp[:, None] * dq[None, spread]
    notes.append(
        "closure: end-to-start mismatch spread linearly over the stride (deg): "
        + ", ".join(f"{lb} {dq[i]:+.2f}" for i, lb in enumerate(labels))
        + f"; pelvis lateral {1e3 * dq[nj + 3]:+.1f} mm, vertical {1e3 * dq[nj + 5]:+.1f} mm"
    )
    q = np.tile(m.qpos0, (n + 1, 1))
    q[:, moving] = np.radians(v[:, :nj])
    q[:, root + 3 : root + 7] = quat_from_pelvis_angles(v[:, nj : nj + 3])
    q[:, root : root + 3] = v[:, nj + 3 :]
    q, arm_note = relax_arms(m, q)
    if arm_note:
        notes.append(arm_note)
    q = coupled_qpos(m, q)
    advance = float(q[-1, root + 1] - q[0, root + 1])
    t_motion = n / rate_hz
    speed = -advance / t_motion
    notes.append(
        f"stride resampled onto {n} frames at {rate_hz:g} Hz: its clock scaled by {t_motion / period:.4f} "
        f"({period:.4f} s -> {t_motion:.3f} s); forward advance {-advance:.3f} m per stride (measured pelvis), "
        f"speed {speed:.3f} m/s"
    )

    # --- phase: frame 0 = right heel strike --------------------------------------------------------------
    ph = ev.phase(tk[:-1])
    j0 = int(np.argmin(np.minimum(ph, 100.0 - ph)))
    order = (np.arange(n) + j0) % n
    qq = q[:-1][order]
    qq[np.arange(n) + j0 >= n, root + 1] += advance
    qq = np.vstack([qq, qq[:1]])
    qq[-1, root + 1] += advance
    qq[:, root] -= qq[0, root]
    qq[:, root + 1] -= qq[0, root + 1]
    pct = np.mod(ph[order] - ph[j0], 100.0)  # exact grid: frame k at k / n of the stride
    pct = np.r_[pct, 0.0]
    stance = {s: ev.in_stance(s, pct) for s in SIDES}
    phase = {s: np.mod(pct - ev.stance[s][0], 100.0) for s in SIDES}
    toe_off = {s: ev.stance[s][1] for s in SIDES}
    notes.append(
        f"frames rotated to start at the right heel strike (IK time {tk[j0]:.4f} s; the window's seam, where the "
        f"closure joins its end to its start, is at frame {(n - j0) % n}); stance plan: "
        + "; ".join(
            f"{s} heel strike at {ev.stance[s][0]:.1f} %, stance {ev.stance[s][1]:.1f} % of the stride "
            f"({len(ev.contacts[s])} contact{'s' if len(ev.contacts[s]) != 1 else ''})"
            for s in SIDES
        )
    )

    # --- vertical placement and foot lock ----------------------------------------------------------------
    fk = _foot_kinematics(m, qq)
    h_st = np.concatenate([fk.low[s][stance[s], 2] for s in SIDES])
    qq[:, root + 2] -= float(np.median(h_st))
    notes.append(f"root lowered by {float(np.median(h_st)):+.4f} m: median stance-foot height at z = 0")
    shift = np.zeros(m.nq)
    shift[root + 1] = advance
    if foot_lock:
        # every keyword option of the lock, with the lock's defaults except where the measured stride sets its own
        opts = {k: p.default for k, p in signature(_foot_lock).parameters.items() if p.kind is Parameter.KEYWORD_ONLY}
        opts.update(
            smooth_sd_deg=JOINT_CORRECTION_SMOOTH_SD_DEG, root_rot_smooth_sd_deg=PELVIS_CORRECTION_SMOOTH_SD_DEG,
            root_acc_sd_m=COM_ACC_SD_M, root_smooth="com", range_margin_rad=RANGE_MARGIN_RAD,
        )  # fmt: skip
        unknown = set(lock_options or {}) - set(opts)
        if unknown:
            raise MmbioError(f"stride: unknown foot-lock options {sorted(unknown)}")
        opts.update(lock_options or {})
        before = qq.copy()
        lock_notes: list[str] = []
        cyc = _foot_lock(m, qq[:-1], {s: phase[s][:-1] for s in SIDES}, toe_off, advance, rate_hz, lock_notes,
                         **opts)  # fmt: skip
        k = np.arange(n + 1)
        qq = cyc[k % n]
        qq[:, root + 1] += advance * (k // n)
        d_root = qq[:, root : root + 3] - before[:, root : root + 3]
        notes += lock_notes
        notes.append(
            "foot lock options: "
            + ", ".join(f"{k_}={v_!r}" for k_, v_ in opts.items())
            + f"; root correction mean {np.round(1e3 * d_root.mean(0), 1).tolist()} mm (x, y, z), "
            f"peak-to-peak {np.round(1e3 * np.ptp(d_root, 0), 1).tolist()} mm"
        )
    fk = _foot_kinematics(m, qq)
    low = min(float(fk.low[s][:, 2].min()) for s in SIDES)
    qq[:, root + 2] -= low
    notes.append(f"root shifted by {-low:+.4f} m (one shift): no foot point below the floor")
    qvel = finite_difference_qvel(m, qq, 1.0 / rate_hz, period_shift=shift)
    motion = Motion(
        qpos=qq,
        qvel=qvel,
        rate_hz=float(rate_hz),
        model=model,
        variant=variant,
        source=f"one periodic stride of {source} ({-advance / t_motion:.2f} m/s)",
        notes=notes,
        stance=stance,
        qpos_index=src.qpos_index,
    )
    if grf is None:
        notes.append("total GRF implied by the stride not compared with force plates: they do not cover both feet over "
                     "the whole stride")  # fmt: skip
        return motion
    # the total ground reaction the stride implies (its COM acceleration), against the plates on the same clock
    meas = measured_total_grf(grf, ev, a, pct[:-1])
    imp = implied_grf(motion)
    diff = np.sqrt(np.mean((imp - meas) ** 2, axis=0))
    notes.append(
        f"total GRF implied by the stride's COM acceleration ({GRF_CHECK_CUTOFF_HZ:g} Hz low-pass) against the force "
        f"plates over the window (BW = their mean vertical force): RMS difference {diff[0]:.3f} BW fore-aft, "
        f"{diff[1]:.3f} BW vertical; vertical {imp[:, 1].min():.2f}-{imp[:, 1].max():.2f} BW "
        f"(plates {meas[:, 1].min():.2f}-{meas[:, 1].max():.2f})"
    )
    return motion


def measured_total_grf(grf: dict[str, Any], ev: StrideEvents, start_s: float, pct: np.ndarray) -> np.ndarray:
    """(n, 2) measured total (both feet) fore-aft and vertical force, BW, at stride phases ``pct`` (%) taken from
    the window ``[start_s, start_s + period]`` (BW: the window's mean total vertical force, a whole stride)."""
    t = np.asarray(grf["r"].time, dtype=float)
    tot = sum(np.asarray(grf[s].force, dtype=float) for s in SIDES)
    tt = start_s + np.mod(ev.t0 + np.asarray(pct) / 100.0 * ev.period - start_s, ev.period)
    win = (t >= start_s) & (t <= start_s + ev.period)
    bw = float(np.mean(tot[win, 2]))
    return np.column_stack([np.interp(tt, t, tot[:, 0]), np.interp(tt, t, tot[:, 2])]) / bw


def implied_grf(motion: Motion, cutoff_hz: float = GRF_CHECK_CUTOFF_HZ) -> np.ndarray:
    """(n, 2) total ground reaction, forward (−y) and vertical, in body weights, that a one-stride periodic motion
    (``n + 1`` frames, the last the first advanced) implies: ``m (g + c̈)`` from its whole-body centre of mass,
    periodic second differences low-passed at ``cutoff_hz`` (raised-cosine taper over the last octave)."""
    import mujoco

    m = motion.mj_model()
    d = mujoco.MjData(m)
    q = motion.qpos[:-1]
    n = len(q)
    com = np.empty((n, 3))
    for i in range(n):
        d.qpos[:] = q[i]
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        com[i] = d.subtree_com[0]
    root = _root_adr(m)
    adv = motion.qpos[-1, root : root + 3] - motion.qpos[0, root : root + 3]
    ext = np.vstack([com[-1] - adv, com, com[0] + adv])
    acc = (ext[:-2] - 2 * ext[1:-1] + ext[2:]) * motion.rate_hz**2
    f = np.fft.rfftfreq(n, 1.0 / motion.rate_hz)
    w = 0.5 - 0.5 * np.cos(np.pi * np.clip((cutoff_hz - f) / (cutoff_hz / 2), 0.0, 1.0))
    acc = np.fft.irfft(np.fft.rfft(acc, axis=0) * w[:, None], n=n, axis=0)
    return np.column_stack([-acc[:, 1] / GRAVITY, 1.0 + acc[:, 2] / GRAVITY])
