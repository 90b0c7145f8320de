"""The optional embedded-kinetics block of an mm-evalkit rollout archive: read, checked, used.

Layout (as mm-evalkit 0.1.0 validates it; all top-level keys present or none):

* top level: ``kinetics_sample_phase`` (must be ``'post_step'``: row k was sampled after policy step k, i.e. at
  state k + 1), ``generalized_actuator_force_joint_names`` (n_j,) with ``generalized_actuator_force_units`` (N·m
  for hinges), ``force_sensor_names`` (n_s,) with ``force_sensor_units`` (N), ``model_mass_kg`` (> 0);
* per episode: ``generalized_actuator_forces`` (T, n_j) — MuJoCo's actuator generalised force per joint, i.e. the
  muscles' joint moments; ``force_sensor_values`` (T, n_s) — the foot force sensors ``r_foot, r_toes, l_foot,
  l_toes`` among them; ``kinetics_reference_steps`` (T,) increasing reference-frame indices.

How mmbio uses it (:func:`kinetics_notes`): ``model_mass_kg`` is the body mass when none is given (so BW units
need no ``--mass``); the foot sensors are compared with mmbio's contact-force GRF of the same states (vertical
peak ratio and r per foot: mm-evalkit's GRF is the sensors ÷ body weight); the sagittal hip, knee and ankle
moments' peaks (N·m/kg, mm-evalkit's sign: knee flipped) are summarised. Rows whose count is neither the
episode's frame count T nor T − 1 cannot be placed on its clock: the block is then noted and not used. Every malformed field is one
:class:`~mmbio.errors.DataFileError` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmbio.io.npz_safe import NpzArchive
from mmbio.trial import Trial

__all__ = [
    "TOP_FIELDS",
    "EmbeddedKinetics",
    "KineticsHeader",
    "kinetics_notes",
    "read_kinetics",
    "read_kinetics_header",
]

TOP_FIELDS = (
    "kinetics_sample_phase",
    "generalized_actuator_force_joint_names",
    "generalized_actuator_force_units",
    "force_sensor_names",
    "force_sensor_units",
    "model_mass_kg",
)
EPISODE_FIELDS = ("generalized_actuator_forces", "force_sensor_values", "kinetics_reference_steps")
FOOT_SENSORS = {"r": ("r_foot", "r_toes"), "l": ("l_foot", "l_toes")}
SAGITTAL = ("hip_flexion", "knee_angle", "ankle_angle")
_TORQUE_UNITS = {"nm", "n_m", "n*m", "n·m"}
_FORCE_UNITS = {"n", "newtons"}
_MAX_NAMES = 1000


@dataclass(frozen=True)
class EmbeddedKinetics:
    """One episode's block. torque: (T, n_j) N·m; sensors: (T, n_s) N; row k belongs to state k + 1."""

    mass_kg: float
    joint_names: list[str]
    torque: np.ndarray
    sensor_names: list[str]
    sensors: np.ndarray
    aligned: bool
    frames: int


def _names(ar: NpzArchive, key: str) -> list[str]:
    h = ar.header(key)
    if len(h.shape) != 1 or not 0 < h.shape[0] <= _MAX_NAMES:
        raise ar.fail(key, f"must be a vector of 1 to {_MAX_NAMES} names, got shape {h.shape}")
    names = ar.str_vector(key, h.shape[0], max_chars=256)
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ar.fail(key, "names must be non-empty and unique")
    return names


@dataclass(frozen=True)
class KineticsHeader:
    """The block's top-level fields, checked: model mass (kg), joint names (n_j), sensor names (n_s)."""

    mass_kg: float
    joint_names: list[str]
    sensor_names: list[str]


def read_kinetics_header(ar: NpzArchive) -> KineticsHeader | None:
    """The block's top-level fields, checked (None when the archive has no block)."""
    present = [k for k in TOP_FIELDS if k in ar.keys]
    if not present:
        return None
    missing = [k for k in TOP_FIELDS if k not in ar.keys]
    if missing:
        raise ar.fail(missing[0], f"missing: the embedded-kinetics block is partial (has {', '.join(present)})")
    phase = ar.str_scalar("kinetics_sample_phase", max_chars=64)
    if phase != "post_step":
        raise ar.fail("kinetics_sample_phase", f"must be 'post_step' (as mm-evalkit requires), got {phase!r}")
    joints = _names(ar, "generalized_actuator_force_joint_names")
    j_units = ar.str_vector("generalized_actuator_force_units", len(joints), max_chars=64)
    sensors = _names(ar, "force_sensor_names")
    s_units = ar.str_vector("force_sensor_units", len(sensors), max_chars=64)
    mass = ar.float_scalar("model_mass_kg", 1.0, 1000.0)
    for side, names in FOOT_SENSORS.items():
        for n in names:
            if n not in sensors:
                raise ar.fail("force_sensor_names", f"lacks the {side} foot sensor {n!r}")
            if s_units[sensors.index(n)].strip().casefold() not in _FORCE_UNITS:
                raise ar.fail("force_sensor_units", f"{n}: must be N, got {s_units[sensors.index(n)]!r}")
    for j, u in zip(joints, j_units, strict=True):
        if j.startswith(SAGITTAL) and u.strip().casefold() not in _TORQUE_UNITS:
            raise ar.fail("generalized_actuator_force_units", f"{j}: must be Nm, got {u!r}")
    return KineticsHeader(mass, joints, sensors)


def read_kinetics(
    ar: NpzArchive, episode: int, frames: int, header: KineticsHeader | None = None
) -> EmbeddedKinetics | None:
    """Episode ``episode``'s embedded kinetics (None when the archive has no block); ``frames`` = its T;
    ``header``: :func:`read_kinetics_header` of ``ar`` when already read (several episodes)."""
    top = header if header is not None else read_kinetics_header(ar)
    if top is None:
        return None
    mass, joints, sensors = top.mass_kg, top.joint_names, top.sensor_names
    p = f"episode_{episode}"
    ar.require(*(f"{p}_{f}" for f in EPISODE_FIELDS), what="the embedded-kinetics block")
    rows = ar.header(f"{p}_generalized_actuator_forces").shape
    if len(rows) != 2 or rows[1] != len(joints):
        raise ar.fail(f"{p}_generalized_actuator_forces", f"must be (T, {len(joints)}), got shape {rows}")
    n = rows[0]
    torque = ar.float_array(f"{p}_generalized_actuator_forces", (n, len(joints)))
    values = ar.float_array(f"{p}_force_sensor_values", (n, len(sensors)))
    steps = ar.array(f"{p}_kinetics_reference_steps", kinds="iu", shape=(n,))
    if n > 1 and np.any(np.diff(steps.astype(np.int64)) <= 0):
        raise ar.fail(f"{p}_kinetics_reference_steps", "must increase strictly")
    # row k is state k + 1: an exporter that stops at the last state has one row fewer than the frames
    return EmbeddedKinetics(mass, joints, torque, sensors, values, aligned=n in (frames, frames - 1), frames=frames)


def kinetics_notes(kin: EmbeddedKinetics, trial: Trial, dt: float) -> tuple[list[str], dict[str, object]]:
    """(notes, summary) comparing the block with mmbio's own contact-force GRF of the same states (module doc)."""
    head = (f"embedded kinetics (post_step): model mass {kin.mass_kg:.1f} kg, {len(kin.joint_names)} joint "
            f"moments, {len(kin.sensor_names)} force sensors")  # fmt: skip
    if not kin.aligned:
        why = f"{kin.torque.shape[0]} rows for {kin.frames} frames: not on the episode's clock, not used"
        return [f"{head}; {why}"], {"used": False, "reason": why}
    t_row = (np.arange(kin.torque.shape[0]) + 1) * dt  # post_step: row k belongs to state k + 1
    bw = kin.mass_kg * 9.80665
    summary: dict[str, object] = {"used": True, "model_mass_kg": kin.mass_kg}
    parts = []
    for s, names in FOOT_SENSORS.items():
        fz = kin.sensors[:, [kin.sensor_names.index(n) for n in names]].sum(axis=1)
        g = trial.grf.get(s)
        if g is None:
            continue
        own = np.interp(t_row, g.time, g.force[:, 2], left=np.nan, right=np.nan)
        ok = np.isfinite(own)
        if ok.sum() < 3 or np.ptp(fz[ok]) == 0 or np.ptp(own[ok]) == 0:
            continue
        r = float(np.corrcoef(fz[ok], own[ok])[0, 1])
        ratio = float(fz[ok].max() / own[ok].max()) if own[ok].max() > 0 else float("nan")
        summary[f"foot_sensor_{s}"] = {"peak_bw": float(fz.max() / bw), "peak_ratio_to_contact_grf": ratio, "r": r}
        parts.append(f"{s} foot sensors peak {fz.max() / bw:.2f} BW = {ratio:.3f} x mmbio's contact GRF, r {r:.3f}")
    peaks = []
    for j in (f"{b}_{s}" for b in SAGITTAL for s in ("r", "l")):
        if j in kin.joint_names:
            m = kin.torque[:, kin.joint_names.index(j)] / kin.mass_kg * (-1.0 if j.startswith("knee") else 1.0)
            summary[f"moment_{j}_nm_per_kg"] = {"max": float(m.max()), "min": float(m.min())}
            peaks.append(f"{j} {m.min():+.2f}..{m.max():+.2f}")
    notes = [head]
    if parts:
        notes.append("embedded foot force sensors vs contact GRF (mm-evalkit's GRF is the sensors / BW): "
                     + "; ".join(parts))  # fmt: skip
    if peaks:
        notes.append(
            "embedded muscle joint moments, N*m/kg (knee sign flipped as mm-evalkit does): " + ", ".join(peaks)
        )
    return notes, summary
