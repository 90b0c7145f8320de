"""Muscle metabolic power: Umberger et al. (2003) with Umberger's (2010) lengthening modification.

Model (per muscle, rates per kg of muscle, W/kg; Umberger, Gerritsen & Martin 2003, *A model of human
muscle energy expenditure*, Comput. Methods Biomech. Biomed. Eng. 6(2):99–111; the 2010 variant is
Umberger 2010, *Stance and swing phase costs in human walking*, J. R. Soc. Interface 7:1329–1340,
as implemented by OpenSim's ``Umberger2010MuscleMetabolicsProbe``)::

    Ė = max(ḣ_AM + ḣ_SL, 1.0) + ẇ_CE                                   (W/kg muscle)
    A = u            if u > a else (u + a) / 2                          (u excitation, a activation)
    ḣ_AM = S · A^0.6 · (128 f_FT + 25)                                 (l̃ ≤ 1)
         = S · A^0.6 · (128 f_FT + 25) · (0.4 + 0.6 F_iso(l̃))          (l̃ > 1)
    v̄ = v_CE / l_opt  (l_opt/s, v < 0 shortening),  V_FT = v_max,  V_ST = v_max / 2.5
    α_ST = 100 / V_ST,  α_FT = 153 / V_FT
    ḣ_SL = S · A² · [min(−α_ST v̄, 100) (1 − f_FT) − α_FT v̄ f_FT]       (v̄ ≤ 0, shortening)
         = S · A · α_L v̄,  α_L = 0.3 α_ST (2010) or 4 α_ST (2003)      (v̄ > 0, lengthening)
    ḣ_SL ← ḣ_SL · F_iso(l̃)                                             (l̃ > 1)
    ẇ_CE = −F_CE v_CE / m  for v < 0; for v > 0 zero (2010) or −F_CE v_CE / m (2003)

with S = 1.5 (aerobic activity, Umberger 2003), f_FT the fast-twitch fraction (default 0.5 for every
muscle: MyoFullBody carries no fibre-type data), F_iso the active force–length factor and F_CE the active
fibre force. The floor of 1.0 W/kg on the heat rate is Umberger (2003, p. 104); when the total would
still be negative (eccentric work in the 2003 variant) the heat is raised so that Ė ≥ 0 (OpenSim's
``forbid_negative_total_power``).

Muscle mass (Umberger 2003): ``m = ρ · PCSA · l_opt`` with ``PCSA = F_max / σ`` and muscle density
ρ = 1059.7 kg/m³ (no pennation term, as in OpenSim's ``Umberger2010MuscleMetabolicsProbe``). The formula inverts
the way a model turned anatomy into force, so **σ must be the specific tension the model's F_max were derived
with** — otherwise ρ · F_max · l_opt / σ is not the muscle's volume times ρ:

* **Which l_opt goes into the mass**: MuJoCo's ``l_opt`` (below) comes from the musculotendon length range and,
  with a rigid tendon, absorbs tendon length — it overestimates long-tendon muscles (MyoFullBody: glmax3 0.408 m,
  vaslat 0.173 m, recfem 0.171 m against 0.167, 0.0994 and 0.0759 m in Rajagopal et al. 2016). :func:`muscle_parameters`
  therefore takes, by default, the **published optimal fibre length** of the Rajagopal et al. (2016) model for the
  80 MyoFullBody leg muscles that carry its names (``tibant_r``, ``soleus_l``, … — all 80 match; table
  :func:`rajagopal_muscle_table`, file ``mmbio/models/data/rajagopal2016_muscles.csv``) and keeps the MuJoCo-derived
  length for the others (trunk, arms), recording the choice per muscle in ``MuscleParameters.mass_source``.
* **Which σ** (issue 13): Rajagopal et al. (2016) computed F_max from MRI muscle volumes with a specific tension of
  60 N/cm² (:data:`RAJAGOPAL_SPECIFIC_TENSION_PA`); their table reproduces independent MRI volumes at that σ
  (soleus 454, medial/lateral gastrocnemius 265/154 cm³ against 489/245/140 cm³ measured by Fukunaga et al. 1992,
  J Orthop Res 10:928–934) and is 2.2–2.7× too voluminous at Umberger's σ = 0.25 MPa, the value OpenSim's probe
  defaults to (Umberger et al. 2003 derived it for a model whose F_max used that σ). Uchida et al. (2016, PLoS ONE
  11:e0150378) likewise set a muscle-specific σ of 0.5–1.5 MPa for the lower-limb muscles of their model. So the
  80 Rajagopal muscles use σ = 0.6 MPa (``specific_tensions='model'``, the default) and the other 274 keep
  0.25 MPa: mmbio has no source value for the trunk (Christophy et al. 2012) and arm (MoBL-ARMS) models, and 154
  of them have a MuJoCo-derived l_opt that implies a negative tendon slack length, so their masses are not
  physical either (``benchmarks/RESULTS.md``, issue 13). ``specific_tensions='umberger2003'`` gives 0.25 MPa for
  every muscle (OpenSim's default, mmbio's behaviour before issue 13).

Result for MyoFullBody: 59.5 → 39.4 kg of muscle (legs 34.5 → 14.4 kg, inside the 12–22 kg that whole-body MRI
implies for both legs of an 84 kg man, Janssen et al. 2000; the other 274 muscles 25.0 kg). F_max stays MuJoCo's
(the force the simulated muscle actually produces). Only the **mass** uses the table: the fibre *states* (l̃,
v̄ = v/l_opt) stay MuJoCo's, since they are what the simulated muscle's force is computed from. Rajagopal's
pennation angles are carried in the table but not used (MuJoCo's muscle has none and the Umberger mass has no
pennation term).

Parity with OpenSim 4.6 (``benchmarks/opensim_metabolics.py``): on identical fibre states the energy model
(:func:`umberger_fibre_rates`) equals the probe to round-off for every muscle, term and option
(``tests/test_metabolics_parity.py``); mmbio's full path differs only through MuJoCo's force–length–velocity
curves. ``recruitment='bhargava2004'`` reproduces the probe's ``use_Bhargava_recruitment_model`` (the fast-twitch
share of the active fibres grows with excitation: f = (1−r)(1−cos(πu/2)) / [r sin(πu/2) + (1−r)(1−cos(πu/2))],
r the slow-twitch fraction, f = 0 at u = 0), and ``variant='2003'`` its ``include_negative_mechanical_work``:
together they are OpenSim 4.6's default options (Uchida et al. 2016), while mmbio's default is Umberger (2010)
as published.

MuJoCo's muscle (``mju_muscleGain``/``mju_muscleBias``) has a **rigid tendon and no pennation**: the
musculotendon length ``L`` (``actuator_length``) maps linearly onto a normalised fibre length
``l̃ = r0 + (L − L_min)/l_opt`` with ``l_opt = (L_max − L_min)/(r1 − r0)`` from the actuator's
``lengthrange`` (L_min, L_max) and operating ``range`` (r0, r1) in ``gainprm[0:2]``; the fibre velocity is the
musculotendon velocity. These are the fibre states MuJoCo itself uses for force, so the energy model sees
exactly the simulated muscle, but fibre length/velocity of a compliant-tendon model (OpenSim) would
differ — a documented approximation. The active fibre force is ``F_max · a · FL(l̃) · FV(ṽ)``, with MuJoCo's
piecewise-quadratic curves reproduced here in numpy (parity with ``mujoco.mju_muscleGain`` is tested).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.errors import MmbioError

SPECIFIC_TENSION_PA = 0.25e6  #: σ, Umberger et al. 2003 (OpenSim's default ``specific_tension``)
#: σ with which Rajagopal et al. (2016) turned MRI muscle volumes into F_max (60 N/cm²; module docs)
RAJAGOPAL_SPECIFIC_TENSION_PA = 0.60e6
MUSCLE_DENSITY_KG_M3 = 1059.7  #: ρ, Umberger et al. 2003 (Mendez & Keys 1960)
AEROBIC_FACTOR = 1.5  #: S for primarily aerobic activity (walking), Umberger et al. 2003
MIN_HEAT_RATE_W_KG = 1.0  #: per-muscle floor on ḣ_AM + ḣ_SL, Umberger et al. 2003 p. 104
MAX_SLOW_SHORTENING_W_KG = 100.0  #: cap of the slow-twitch shortening heat, Umberger et al. 2003
_MINVAL = 1e-15

#: Rajagopal et al. (2016) lower-limb muscle parameters (80 muscles), shipped with mmbio (see its README.md).
RAJAGOPAL_TABLE = Path(__file__).resolve().parents[1] / "models" / "data" / "rajagopal2016_muscles.csv"
#: ``MuscleParameters.mass_source`` values.
MASS_SOURCE_RAJAGOPAL = "rajagopal2016"
MASS_SOURCE_MUJOCO = "mujoco_lengthrange"
FIBRE_LENGTH_SOURCES = ("rajagopal2016", "mujoco")
#: ``muscle_parameters(specific_tensions=...)`` choices: ``'model'`` (each muscle's source-model σ where mmbio knows
#: it, Umberger's elsewhere) or ``'umberger2003'`` (0.25 MPa for every muscle, OpenSim's default).
SPECIFIC_TENSION_SOURCES = ("model", "umberger2003")
#: ``umberger_*(recruitment=...)`` choices: ``'fixed'`` (Umberger 2010 as published) or ``'bhargava2004'``.
RECRUITMENT_MODELS = ("fixed", "bhargava2004")


@dataclass(frozen=True)
class PublishedMuscle:
    """One row of the Rajagopal et al. (2016) table (OpenSim ``Millard2012EquilibriumMuscle`` properties)."""

    name: str
    max_isometric_force_n: float
    optimal_fiber_length_m: float
    tendon_slack_length_m: float
    pennation_angle_rad: float
    max_contraction_velocity_lopt_s: float


@cache
def rajagopal_muscle_table() -> dict[str, PublishedMuscle]:
    """The 80 lower-limb muscles of Rajagopal et al. (2016), keyed by name (``soleus_r``, ``glmax1_l``, …).

    Read from ``mmbio/models/data/rajagopal2016_muscles.csv`` (values copied from the public OpenSim model
    ``Rajagopal2015.osim``; provenance in that folder's README.md). Cached: treat as read-only.
    """
    if not RAJAGOPAL_TABLE.is_file():
        raise MmbioError(f"rajagopal_muscle_table: {RAJAGOPAL_TABLE} is missing (broken install?)")
    out: dict[str, PublishedMuscle] = {}
    with RAJAGOPAL_TABLE.open(newline="") as f:
        for row in csv.DictReader(f):
            name = row["muscle"].strip()
            out[name] = PublishedMuscle(
                name=name,
                max_isometric_force_n=float(row["max_isometric_force_n"]),
                optimal_fiber_length_m=float(row["optimal_fiber_length_m"]),
                tendon_slack_length_m=float(row["tendon_slack_length_m"]),
                pennation_angle_rad=float(row["pennation_angle_rad"]),
                max_contraction_velocity_lopt_s=float(row["max_contraction_velocity_lopt_s"]),
            )
    return out


def _side_split(name: str) -> tuple[str, str] | None:
    """``'soleus_r'`` → ``('soleus', 'r')``; ``None`` for names without an ``_r``/``_l`` suffix."""
    stem, sep, side = name.rpartition("_")
    return (stem, side) if sep and stem and side in ("r", "l") else None


def published_muscle(name: str) -> PublishedMuscle | None:
    """The Rajagopal (2016) row for a MyoFullBody actuator name, or ``None`` (trunk, arm, … muscles).

    Matched on the name's stem and side suffix (``soleus`` + ``r``); MyoFullBody's 80 leg actuators carry
    Rajagopal's names exactly, so every leg muscle matches and nothing else does.
    """
    split = _side_split(name)
    if split is None:
        return None
    table = rajagopal_muscle_table()
    stem, side = split
    return table.get(f"{stem}_{side}")


@dataclass(frozen=True)
class MuscleParameters:
    """Per-muscle constants (all arrays (m,)).

    names: actuator names. f_max: N. l_opt: MuJoCo's optimal fibre length (from the length range), m — used
    for the fibre states. v_max: l_opt/s. lengthrange: (m, 2) musculotendon length range, m. op_range: (m, 2)
    normalised operating range. lmin, lmax, fpmax, fvmax: MuJoCo curve parameters. mass: kg
    (ρ F_max l_opt_mass / σ). l_opt_mass: (m,) the optimal fibre length the mass was computed from, m
    (``None`` = ``l_opt``). mass_source: per muscle, :data:`MASS_SOURCE_RAJAGOPAL` or
    :data:`MASS_SOURCE_MUJOCO` (``None`` when built by hand). specific_tension: (m,) the σ the mass was computed
    with, Pa (``None`` = :data:`SPECIFIC_TENSION_PA`).
    """

    names: list[str]
    f_max: np.ndarray
    l_opt: np.ndarray
    v_max: np.ndarray
    lengthrange: np.ndarray
    op_range: np.ndarray
    lmin: np.ndarray
    lmax: np.ndarray
    fpmax: np.ndarray
    fvmax: np.ndarray
    mass: np.ndarray
    l_opt_mass: np.ndarray | None = None
    mass_source: tuple[str, ...] | None = None
    specific_tension: np.ndarray | None = None

    @property
    def tendon_slack(self) -> np.ndarray:
        """(m,) rigid tendon length in m: ``L_min − r0 · l_opt``."""
        return self.lengthrange[:, 0] - self.op_range[:, 0] * self.l_opt


def muscle_mass(
    f_max: np.ndarray, l_opt: np.ndarray, specific_tension: np.ndarray | float = SPECIFIC_TENSION_PA
) -> np.ndarray:
    """Muscle mass in kg from max isometric force (N), optimal fibre length (m) and specific tension (Pa):
    ρ · F/σ · l_opt (OpenSim's ``Umberger2010MuscleMetabolicsProbe`` formula; σ defaults to its 0.25 MPa)."""
    sigma = np.asarray(specific_tension, float)
    return MUSCLE_DENSITY_KG_M3 * np.asarray(f_max, float) / sigma * np.asarray(l_opt, float)


def muscle_parameters(
    model: object, *, fibre_lengths: str = "rajagopal2016", specific_tensions: str = "model"
) -> MuscleParameters:
    """Constants of every muscle actuator (gain type muscle) of a compiled ``mujoco.MjModel``.

    ``fibre_lengths`` chooses the optimal fibre length behind each muscle's **mass**: ``'rajagopal2016'``
    (default) takes the published value for muscles named as in Rajagopal et al. (2016)
    (:func:`published_muscle`) and MuJoCo's length-range value for the rest; ``'mujoco'`` uses MuJoCo's value
    for every muscle (the behaviour before the table existed). ``mass_source`` records the choice per muscle.
    ``specific_tensions`` chooses σ in the mass: ``'model'`` (default) the σ with which the muscle's source model
    derived F_max from anatomy — :data:`RAJAGOPAL_SPECIFIC_TENSION_PA` for the muscles named as in Rajagopal et
    al. (2016), Umberger's :data:`SPECIFIC_TENSION_PA` for the others (no source value known to mmbio);
    ``'umberger2003'`` 0.25 MPa for every muscle (OpenSim's probe default; mmbio's behaviour before issue 13).
    The fibre states (``l_opt``) are MuJoCo's either way.
    """
    import mujoco

    if fibre_lengths not in FIBRE_LENGTH_SOURCES:
        raise MmbioError(
            f"muscle_parameters: fibre_lengths must be one of {FIBRE_LENGTH_SOURCES}, got {fibre_lengths!r}"
        )
    if specific_tensions not in SPECIFIC_TENSION_SOURCES:
        raise MmbioError(
            f"muscle_parameters: specific_tensions must be one of {SPECIFIC_TENSION_SOURCES}, got {specific_tensions!r}"
        )

    m = model
    idx = [i for i in range(m.nu) if m.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_MUSCLE]
    if not idx:
        raise MmbioError("muscle_parameters: the model has no muscle actuators")
    ix = np.array(idx)
    prm = np.asarray(m.actuator_gainprm)[ix]
    lr = np.asarray(m.actuator_lengthrange)[ix].copy()
    acc0 = np.asarray(m.actuator_acc0)[ix]
    rng = prm[:, 0:2].copy()
    f_max = np.where(prm[:, 2] < 0, prm[:, 3] / np.maximum(_MINVAL, acc0), prm[:, 2])
    l_opt = (lr[:, 1] - lr[:, 0]) / np.maximum(_MINVAL, rng[:, 1] - rng[:, 0])
    names = [m.actuator(i).name for i in idx]
    l_opt_mass = l_opt.copy()
    source = [MASS_SOURCE_MUJOCO] * len(names)
    sigma = np.full(len(names), SPECIFIC_TENSION_PA)
    for k, name in enumerate(names):
        row = published_muscle(name)
        if row is None:
            continue
        if fibre_lengths == "rajagopal2016":
            l_opt_mass[k] = row.optimal_fiber_length_m
            source[k] = MASS_SOURCE_RAJAGOPAL
        if specific_tensions == "model":
            sigma[k] = RAJAGOPAL_SPECIFIC_TENSION_PA
    return MuscleParameters(
        names=names,
        f_max=f_max,
        l_opt=l_opt,
        v_max=prm[:, 6].copy(),
        lengthrange=lr,
        op_range=rng,
        lmin=prm[:, 4].copy(),
        lmax=prm[:, 5].copy(),
        fpmax=prm[:, 7].copy(),
        fvmax=prm[:, 8].copy(),
        mass=muscle_mass(f_max, l_opt_mass, sigma),
        l_opt_mass=l_opt_mass,
        mass_source=tuple(source),
        specific_tension=sigma,
    )


def normalized_fibre_length(mt_length: np.ndarray, p: MuscleParameters) -> np.ndarray:
    """(T, m) normalised fibre length l̃ from (T, m) musculotendon length in m (rigid tendon)."""
    return p.op_range[:, 0] + (np.asarray(mt_length, float) - p.lengthrange[:, 0]) / np.maximum(_MINVAL, p.l_opt)


def force_length(l_norm: Any, lmin: Any, lmax: Any, xp: Any = np) -> Any:
    """MuJoCo's active force–length factor FL(l̃) ∈ [0, 1] (piecewise quadratic, 1 at l̃ = 1).

    ``xp``: the array module (``numpy``, or ``jax.numpy`` inside a jitted environment); same formula either way.
    """
    x = xp.asarray(l_norm)
    a = 0.5 * (lmin + 1.0)
    b = 0.5 * (1.0 + lmax)
    p1 = 0.5 * ((x - lmin) / xp.maximum(_MINVAL, a - lmin)) ** 2
    p2 = 1 - 0.5 * ((1 - x) / xp.maximum(_MINVAL, 1 - a)) ** 2
    p3 = 1 - 0.5 * ((x - 1) / xp.maximum(_MINVAL, b - 1)) ** 2
    p4 = 0.5 * ((lmax - x) / xp.maximum(_MINVAL, lmax - b)) ** 2
    inner = xp.where(x <= a, p1, xp.where(x <= 1.0, p2, xp.where(x <= b, p3, p4)))
    return xp.where((x >= lmin) & (x <= lmax), inner, 0.0)


def force_velocity(v_norm: Any, fvmax: Any, xp: Any = np) -> Any:
    """MuJoCo's force–velocity factor FV(ṽ), ṽ = v / (l_opt · v_max) (< 0 shortening); ``xp`` as in
    :func:`force_length`."""
    v = xp.asarray(v_norm)
    y = fvmax - 1.0
    return xp.where(
        v <= -1,
        0.0,
        xp.where(v <= 0, (v + 1) ** 2, xp.where(v <= y, fvmax - (y - v) ** 2 / xp.maximum(_MINVAL, y), fvmax)),
    )


def active_fibre_force(
    activation: np.ndarray, mt_length: np.ndarray, mt_velocity: np.ndarray, p: MuscleParameters
) -> np.ndarray:
    """(T, m) active fibre force F_max · a · FL · FV in N (tension positive)."""
    l_n = normalized_fibre_length(mt_length, p)
    v_n = np.asarray(mt_velocity, float) / np.maximum(_MINVAL, p.l_opt * p.v_max)
    return p.f_max * np.asarray(activation, float) * force_length(l_n, p.lmin, p.lmax) * force_velocity(v_n, p.fvmax)


@dataclass
class MetabolicPower:
    """Result of :func:`umberger_power`.

    per_muscle: (T, m) W. total_w: (T,) W (muscles, plus basal if requested). heat_am, heat_sl, work:
    (T, m) W, the three terms (heat floors applied to ``heat_sl``). names: m actuator names.
    """

    names: list[str]
    per_muscle: np.ndarray
    total_w: np.ndarray
    heat_am: np.ndarray
    heat_sl: np.ndarray
    work: np.ndarray


def umberger_power(
    excitation: np.ndarray,
    activation: np.ndarray,
    mt_length: np.ndarray,
    mt_velocity: np.ndarray,
    params: MuscleParameters,
    *,
    fast_twitch: float | Mapping[str, float] = 0.5,
    variant: str = "2010",
    aerobic_factor: float = AEROBIC_FACTOR,
    min_heat_rate: bool = True,
    recruitment: str = "fixed",
    basal_w: float = 0.0,
) -> MetabolicPower:
    """Metabolic power per muscle (W) from (T, m) excitation, activation [0, 1], musculotendon length (m)
    and velocity (m/s, < 0 shortening) in the order of ``params.names``.

    ``fast_twitch``: fraction of fast-twitch fibres (one value, or per actuator name, default 0.5).
    ``variant``: ``'2010'`` (lengthening heat 0.3 α_ST, negative work not counted) or ``'2003'`` (4 α_ST,
    negative work counted). ``recruitment``: ``'fixed'`` (as published) or ``'bhargava2004'`` (module docs).
    ``basal_w`` is added to ``total_w`` (e.g. 1.2 W/kg × body mass; default 0).
    """
    _check_options("umberger_power", variant, recruitment)
    u = np.clip(np.atleast_2d(np.asarray(excitation, float)), 0.0, 1.0)
    a = np.clip(np.atleast_2d(np.asarray(activation, float)), 0.0, 1.0)
    length = np.atleast_2d(np.asarray(mt_length, float))
    vel = np.atleast_2d(np.asarray(mt_velocity, float))
    k = len(params.names)
    for what, arr in (("excitation", u), ("activation", a), ("length", length), ("velocity", vel)):
        if arr.shape[1] != k:
            raise MmbioError(f"umberger_power: {what} has {arr.shape[1]} muscles, parameters have {k}")
    if isinstance(fast_twitch, Mapping):
        f_ft = np.array([float(fast_twitch.get(n, 0.5)) for n in params.names])
    else:
        f_ft = np.full(k, float(fast_twitch))
    am, sl, w = umberger_rates(
        u, a, length, vel, params, f_ft, variant=variant, aerobic_factor=aerobic_factor, min_heat_rate=min_heat_rate,
        recruitment=recruitment,
    )  # fmt: skip
    per = (am + sl + w) * params.mass
    return MetabolicPower(
        names=list(params.names),
        per_muscle=per,
        total_w=per.sum(axis=1) + basal_w,
        heat_am=am * params.mass,
        heat_sl=sl * params.mass,
        work=w * params.mass,
    )


def _check_options(where: str, variant: str, recruitment: str) -> None:
    if variant not in ("2003", "2010"):
        raise MmbioError(f"{where}: variant must be '2003' or '2010', got {variant!r}")
    if recruitment not in RECRUITMENT_MODELS:
        raise MmbioError(f"{where}: recruitment must be one of {RECRUITMENT_MODELS}, got {recruitment!r}")


def umberger_rates(
    u: Any,
    a: Any,
    length: Any,
    vel: Any,
    params: MuscleParameters,
    f_ft: Any,
    *,
    variant: str = "2010",
    aerobic_factor: float = AEROBIC_FACTOR,
    min_heat_rate: bool = True,
    recruitment: str = "fixed",
    xp: Any = np,
) -> tuple[Any, Any, Any]:
    """The Umberger terms per kg of muscle (W/kg), for arrays ``(..., m)`` already checked and clipped.

    ``u``/``a``: excitation and activation in [0, 1]; ``length``/``vel``: musculotendon length (m) and
    velocity (m/s, < 0 shortening); ``f_ft``: (m,) fast-twitch fractions. Returns ``(ḣ_AM, ḣ_SL, ẇ_CE)``
    with the heat floor and the no-negative-total rule applied to ``ḣ_SL`` (module docs). ``xp``: the array
    module — :func:`umberger_power` calls it with numpy, the training environment with ``jax.numpy``
    inside its jitted step, so both compute one formula (parity is tested). The fibre states are MuJoCo's
    (rigid tendon, MuJoCo's force–length–velocity curves); :func:`umberger_fibre_rates` is the energy model
    itself, for fibre states from elsewhere (an OpenSim muscle).
    """
    l_n = params.op_range[:, 0] + (length - params.lengthrange[:, 0]) / xp.maximum(_MINVAL, params.l_opt)
    f_iso = force_length(l_n, params.lmin, params.lmax, xp)
    v_n = vel / xp.maximum(_MINVAL, params.l_opt * params.v_max)
    f_ce = params.f_max * a * f_iso * force_velocity(v_n, params.fvmax, xp)
    return umberger_fibre_rates(
        u, a, l_n, vel, params.l_opt, f_iso, f_ce, params.mass, params.v_max, f_ft, variant=variant,
        aerobic_factor=aerobic_factor, min_heat_rate=min_heat_rate, recruitment=recruitment, xp=xp,
    )  # fmt: skip


def umberger_fibre_rates(
    u: Any,
    a: Any,
    l_norm: Any,
    fibre_velocity: Any,
    l_opt: Any,
    f_iso: Any,
    f_active: Any,
    mass: Any,
    v_max: Any,
    f_ft: Any,
    *,
    variant: str = "2010",
    aerobic_factor: float = AEROBIC_FACTOR,
    min_heat_rate: bool = True,
    recruitment: str = "fixed",
    xp: Any = np,
) -> tuple[Any, Any, Any]:
    """The Umberger energy model on given fibre states, per kg of muscle (W/kg): ``(ḣ_AM, ḣ_SL, ẇ_CE)``.

    Arrays ``(..., m)``: ``u``/``a`` excitation and activation; ``l_norm`` normalised fibre length l̃;
    ``fibre_velocity`` m/s (< 0 shortening); ``f_iso`` the active force–length factor at l̃; ``f_active`` the
    active fibre force in N (negative values count as 0). Per muscle ``(m,)``: ``l_opt`` m, ``mass`` kg, ``v_max``
    l_opt/s, ``f_ft`` fast-twitch fraction. Every term, floor and option follows OpenSim 4.6's
    ``Umberger2010MuscleMetabolicsProbe`` with ``use_Bhargava_recruitment_model`` = (``recruitment ==
    'bhargava2004'``), ``include_negative_mechanical_work`` = (``variant == '2003'``) and
    ``forbid_negative_total_power`` on; per-muscle parity with that probe is recorded in
    ``tests/data/opensim_umberger_parity.csv`` (``benchmarks/opensim_metabolics.py``).
    """
    _check_options("umberger_fibre_rates", variant, recruitment)
    s = aerobic_factor
    big_a = xp.where(u > a, u, 0.5 * (u + a))
    if recruitment == "bhargava2004":
        # orderly recruitment (Bhargava et al. 2004): the slow-twitch share of the active fibres at excitation u
        slow = (1.0 - f_ft) * xp.sin(0.5 * np.pi * u)
        fast = f_ft * (1.0 - xp.cos(0.5 * np.pi * u))
        f_ft = xp.where(u > 0, fast / xp.maximum(slow + fast, _MINVAL), 0.0)
    long_ = l_norm > 1.0
    h0 = 128.0 * f_ft + 25.0
    am = s * big_a**0.6 * h0 * xp.where(long_, 0.4 + 0.6 * f_iso, 1.0)

    v_bar = fibre_velocity / xp.maximum(_MINVAL, l_opt)
    v_st = v_max / 2.5
    alpha_st = 100.0 / v_st
    alpha_ft = 153.0 / v_max
    slow_heat = xp.minimum(-alpha_st * v_bar, MAX_SLOW_SHORTENING_W_KG) * (1 - f_ft)
    short = s * big_a**2 * (slow_heat - alpha_ft * v_bar * f_ft)
    alpha_l = (4.0 if variant == "2003" else 0.3) * alpha_st
    lengthen = s * big_a * alpha_l * v_bar
    sl = xp.where(v_bar <= 0, short, lengthen)
    sl = xp.where(long_, sl * f_iso, sl)

    w = -xp.maximum(f_active, 0.0) * fibre_velocity / mass
    if variant == "2010":
        w = xp.where(fibre_velocity <= 0, w, 0.0)
    heat = am + sl
    if min_heat_rate:
        sl = sl + xp.maximum(MIN_HEAT_RATE_W_KG - heat, 0.0)
        heat = am + sl
    sl = sl - xp.minimum(heat + w, 0.0)  # forbid negative total power: raise the heat
    return am, sl, w


def cost_of_transport(power_w_per_kg: np.ndarray | float, speed_m_s: float) -> float:
    """Cost of transport in J/(kg·m): mean whole-body metabolic power (W/kg) / speed (m/s)."""
    p = float(np.nanmean(np.asarray(power_w_per_kg, float)))
    if not np.isfinite(speed_m_s) or speed_m_s <= 0:
        raise MmbioError(f"cost_of_transport: speed must be positive, got {speed_m_s}")
    return p / float(speed_m_s)
