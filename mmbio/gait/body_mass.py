"""Body mass from the force itself, for a trial that holds whole strides of both feet (treadmill, simulation).

Over whole strides of steady gait the body's vertical momentum returns to its start, so the mean of the
*total* vertical ground reaction force equals body weight: ``m = mean(Fz_r + Fz_l) / g``. That needs every
contact of both feet inside the averaged window on a force-measuring surface. An overground trial fails
this (steps off the plates carry no force: Rajagopal, Schreiber), so the estimate is offered only when

* both feet have force data and at least :data:`MIN_STRIDES` whole strides of one foot (force heel strike
  to force heel strike, :func:`~mmbio.gait.cycles.force_stances`), and
* each of those strides holds exactly one force contact of the other foot (no missed or crossed step),
* with no NaN force in the window.

The window is the longest run of consecutive such strides of either foot (force heel strike to force heel
strike). A
value from this estimate is an *estimate*: :class:`MassEstimate` carries the method and window, and the
validation flags it ``estimated`` in the trial summary and the notes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from mmbio.gait.cycles import force_stances
from mmbio.trial import GRAVITY, SIDE_WORD, SIDES, Trial

#: Fewest whole strides of one foot over which the mean vertical force is taken.
MIN_STRIDES = 2
#: Plausible adult or simulated body mass (kg); an estimate outside is refused.
MASS_RANGE_KG = (20.0, 300.0)


@dataclass(frozen=True)
class MassEstimate:
    """A body-mass estimate (kg) or, when ``mass_kg`` is NaN, the reason there is none."""

    mass_kg: float
    t_start: float = float("nan")
    t_end: float = float("nan")
    n_strides: int = 0
    side: str = ""
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(np.isfinite(self.mass_kg))

    @property
    def method(self) -> str:
        """One line: how the value was obtained."""
        return (
            f"mean total vertical GRF over {self.n_strides} whole strides of the {SIDE_WORD[self.side]} "
            f"foot ({self.t_start:.3f}-{self.t_end:.3f} s, every step of both feet on force data) / g"
        )


def estimate_body_mass(trial: Trial) -> MassEstimate:
    """Body mass (kg) from the mean total vertical GRF over whole strides of both feet (module doc)."""
    if not all(s in trial.grf for s in SIDES):
        return MassEstimate(float("nan"), reason="the trial has no force data for both feet")
    st = {s: force_stances(trial, s) for s in SIDES}
    best: tuple[int, float, float, str] = (0, 0.0, 0.0, "")
    for s in SIDES:
        other = "l" if s == "r" else "r"
        ons = np.array([a for a, _ in st[s]])
        other_ons = np.array([a for a, _ in st[other]])
        ok = [int(np.sum((other_ons >= a) & (other_ons < b))) == 1 for a, b in itertools.pairwise(ons)]
        i = 0
        while i < len(ok):  # the longest run of consecutive strides without a missed or extra step
            if not ok[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(ok) and ok[j + 1]:
                j += 1
            best = max(best, (j - i + 1, float(ons[i]), float(ons[j + 1]), s), key=lambda b: b[0])
            i = j + 1
    n, t0, t1, side = best
    if n < MIN_STRIDES:
        return MassEstimate(
            float("nan"),
            reason=f"fewer than {MIN_STRIDES} consecutive whole strides with every step of both feet on force data "
            "(overground trials miss steps off the plates)",
        )
    g_r, g_l = trial.grf["r"], trial.grf["l"]
    m = (g_r.time >= t0) & (g_r.time < t1)
    fz = g_r.vertical[m] + np.interp(g_r.time[m], g_l.time, g_l.vertical, left=np.nan, right=np.nan)
    if fz.size < 10 or not np.all(np.isfinite(fz)):
        return MassEstimate(float("nan"), reason="force data missing (NaN) inside the strides")
    mass = float(np.mean(fz) / GRAVITY)
    if not MASS_RANGE_KG[0] <= mass <= MASS_RANGE_KG[1]:
        return MassEstimate(
            float("nan"), reason=f"the mean vertical force gives {mass:.1f} kg, outside {MASS_RANGE_KG} kg"
        )
    return MassEstimate(mass, float(t0), float(t1), n, side)


def with_estimated_mass(trial: Trial) -> tuple[Trial, MassEstimate | None]:
    """``trial`` itself when its body mass is known or cannot be estimated; else a copy carrying the estimate.

    Returns the trial to analyse and the estimate used (``None`` when none was used). The caller flags the
    estimate (``estimated`` in the trial summary, a note): every value in BW then rests on it.
    """
    m = float(trial.subject.mass_kg)
    if (np.isfinite(m) and m > 0) or not trial.grf:
        return trial, None
    est = estimate_body_mass(trial)
    if not est.available:
        return trial, None
    return trial.replace(subject=replace(trial.subject, mass_kg=est.mass_kg)), est
