"""A periodic simulated trial whose answers are known: Schwartz free-speed joint angles and activations shaped like
the Schwartz EMG (0.05 + 0.6 × the peak-normalised envelope; rectus femoris shifted by 30 % of the cycle), 5 strides of
1.1 s at 1 kHz, left half a cycle after right. Shared by the static-optimisation and activation-source tests."""

from __future__ import annotations

import numpy as np

from mmbio.reference.registry import reference_curve
from mmbio.trial import Channels, Events, Subject, Trial

PCT = np.linspace(0.0, 100.0, 101)
T, N_STRIDES, RATE = 1.1, 5, 1000.0
#: model actuator base names → Schwartz EMG muscle (semitendinosus and semimembranosus make the medial hamstrings)
ACTUATORS = {
    "tibant": "tibialis_anterior",
    "gasmed": "gastrocnemius_medialis",
    "recfem": "rectus_femoris",
    "bflh": "biceps_femoris",
    "semiten": "medial_hamstrings",
    "semimem": "medial_hamstrings",
}
ANGLES = ("hip_flexion", "knee_flexion", "ankle_dorsiflexion", "pelvis_tilt")


def periodic(curve: np.ndarray) -> np.ndarray:
    """``curve`` (101,) with its last sample set to its first."""
    c = np.asarray(curve, dtype=float).copy()
    c[-1] = c[0]
    return c


def emg(muscle: str) -> np.ndarray:
    """The reference EMG mean cycle (101,) of one Schwartz muscle."""
    return reference_curve("schwartz2008", "free", muscle, "both").mean


def activation_curve(muscle: str) -> np.ndarray:
    """The trial's mean activation cycle (101,) of one EMG muscle."""
    e = emg(muscle)
    c = 0.05 + 0.6 * e / e.max()
    if muscle == "rectus_femoris":
        c = np.interp((PCT - 30.0) % 100.0, PCT, c)
    return periodic(c)


def phase(t: np.ndarray, side: str, delay_s: float = 0.0) -> np.ndarray:
    """Percent of the cycle at times ``t`` (s) for ``side``, delayed by ``delay_s``."""
    t0 = 0.0 if side == "r" else T / 2
    return ((t - delay_s - t0) % T) / T * 100.0


def activations(t: np.ndarray, delay_s: float = 0.0, gain: float = 1.0) -> Channels:
    """Activation channels ``<base>_<side>`` at times ``t``, delayed by ``delay_s`` and scaled by ``gain``."""
    names, cols = [], []
    for side in ("r", "l"):
        for base, muscle in ACTUATORS.items():
            names.append(f"{base}_{side}")
            cols.append(gain * np.interp(phase(t, side, delay_s), PCT, activation_curve(muscle)))
    return Channels(t, np.column_stack(cols), names, "1")


def periodic_trial() -> Trial:
    """The trial (angles, activations, file events)."""
    t = np.arange(0.0, T * N_STRIDES + 0.2, 1.0 / RATE)
    names, cols = [], []
    for side in ("r", "l"):
        for a in ANGLES:
            names.append(f"{a}_{side}")
            cols.append(np.interp(phase(t, side), PCT, periodic(reference_curve("schwartz2008", "free", a, side).mean)))
    hs = np.arange(N_STRIDES + 1) * T
    ev = Events({"r": hs, "l": hs + T / 2}, {"r": hs + 0.62 * T, "l": hs + 0.12 * T}, source="file")
    return Trial(
        name="periodic sim",
        kind="simulated",
        subject=Subject(mass_kg=70.0),
        angles=Channels(t, np.column_stack(cols), names, "deg"),
        activations=activations(t),
        events=ev,
    )
