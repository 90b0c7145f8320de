"""Compiled MuJoCo models from ``musclemimic-models`` and their variants, with counts and a content hash.

Models and variants (:func:`list_models`):

* ``myofullbody`` / ``'nofingers'`` (**default**): MuscleMimic's training model. 354 muscles, nq 89, nv 88.
* ``myofullbody`` / ``'full'``: the XML as shipped. 416 muscles, nq 129, nv 128, 51 joint equalities,
  84.27 kg, timestep 0.001 s.
* ``myofullbody`` / ``'corrected'``: ``'nofingers'`` with the eight shoulder phantom bodies' rotational inertia
  lowered from 1 to 0.001 kg·m² (:mod:`mmbio.models.inertia_audit`; the data file
  ``myofullbody_inertia_corrections.yaml`` says why and what it changes). Not what MuscleMimic trains on: its
  policies are validated on ``'nofingers'``.
* ``bimanual`` / ``'nofingers'`` (**default**): MuscleMimic's bimanual training model, 64 muscles.
* ``bimanual`` / ``'full'``: MyoBimanualArm as shipped, 126 muscles, timestep 0.002 s.

**How the fingers are disabled** (reimplemented from MuscleMimic 0.1.0,
``musclemimic/environments/humanoids/myofullbody.py::MyoFullBody._apply_spec_changes`` with its
default ``disable_fingers=True``; ``bimanual.py`` does the same for MyoBimanualArm): on the
``mujoco.MjSpec``, (1) the 40 finger joints of :data:`FINGER_JOINTS` (thumb cmc/mp/ip, mcp2-5
flexion/abduction, pm2-5, md2-5, both hands) are **deleted**, which welds every finger segment to
its parent at the XML pose (the joint's reference value); (2) the 62 finger muscles of
:data:`FINGER_MUSCLES` (31 per hand: FDS2-5, FDP2-5, EDC2-5, EDM, EIP, EPL, EPB, FPL, APL, OP,
RI2-5, LU_RB2-5, UI_UB2-5; left names end in ``_left``) are deleted; (3) their tendons
(``<muscle>_tendon``, ``<muscle>_tendon_left``: MuscleMimic deletes every tendon whose name
contains a finger-muscle name, here we delete the tendons the deleted actuators pull on; both
rules select the same 62 tendons) are deleted. Nothing else changes: mass, collision geoms,
equality constraints, wrist muscles (FCR, FCU, ECRL, ECRB, ECU, PL, PQ) and sensors stay.

Not reproduced here, because they belong to MuscleMimic's *environment*, not to the model: its
control range of [-1, 1] on muscle actuators (mapped by its action handling), its physics
timestep of 0.002 s with 5 substeps (100 Hz control; the XML says 0.001 s and :class:`ModelInfo`
keeps the XML value), and its mimic tracking sites.

Compiled models are cached per (name, variant) and shared: treat ``ModelInfo.model`` as read-only
(``copy.copy(info.model)`` before changing options) and take a fresh ``MjData`` from
:meth:`ModelInfo.make_data` for each simulation.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import mujoco
import musclemimic_models
import numpy as np

from mmbio.errors import MmbioError
from mmbio.models import mujoco_warnings

mujoco_warnings.install()  # MuJoCo's warnings go to run notes, not to MUJOCO_LOG.TXT in the working folder

_HAND_JOINT_STEMS = (
    "cmc_flexion", "cmc_abduction", "mp_flexion", "ip_flexion",
    "mcp2_flexion", "mcp2_abduction", "mcp3_flexion", "mcp3_abduction",
    "mcp4_flexion", "mcp4_abduction", "mcp5_flexion", "mcp5_abduction",
    "md2_flexion", "md3_flexion", "md4_flexion", "md5_flexion",
    "pm2_flexion", "pm3_flexion", "pm4_flexion", "pm5_flexion",
)  # fmt: skip
_HAND_MUSCLES = (
    "FDS2", "FDS3", "FDS4", "FDS5", "FDP2", "FDP3", "FDP4", "FDP5",
    "EDC2", "EDC3", "EDC4", "EDC5", "EDM", "EIP", "EPL", "EPB", "FPL", "APL", "OP",
    "RI2", "RI3", "RI4", "RI5", "LU_RB2", "LU_RB3", "LU_RB4", "LU_RB5", "UI_UB2", "UI_UB3", "UI_UB4", "UI_UB5",
)  # fmt: skip

#: Finger joints deleted by the ``'nofingers'`` variants (exact names, 20 per hand).
FINGER_JOINTS: tuple[str, ...] = tuple(f"{s}_{side}" for side in ("r", "l") for s in _HAND_JOINT_STEMS)
#: Finger muscles (actuators) deleted by the ``'nofingers'`` variants (exact names, 31 per hand).
FINGER_MUSCLES: tuple[str, ...] = _HAND_MUSCLES + tuple(f"{m}_left" for m in _HAND_MUSCLES)

#: (name, variant) → one-line description. The first variant of each model is its default.
VARIANTS: dict[str, dict[str, str]] = {
    "myofullbody": {
        "nofingers": "MuscleMimic training setup: 40 finger joints and 62 finger muscles (+ tendons) removed",
        "full": "MyoFullBody as shipped by musclemimic-models (416 muscles)",
        "corrected": "MuscleMimic training setup with the 8 shoulder phantom bodies' inertia 1 -> 0.001 kg m2 "
        "(mmbio/models/data/myofullbody_inertia_corrections.yaml; MyoHub/myo_sim issue 128)",
    },
    "bimanual": {
        "nofingers": "MuscleMimic training setup: 40 finger joints and 62 finger muscles (+ tendons) removed",
        "full": "MyoBimanualArm as shipped by musclemimic-models (126 muscles)",
    },
}
#: Variant used when ``variant=None``: what MuscleMimic trains with.
DEFAULT_VARIANT: dict[str, str] = {name: next(iter(v)) for name, v in VARIANTS.items()}


class UnknownModelError(MmbioError):
    """A model name or variant that :data:`VARIANTS` does not list."""


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """A compiled model and its counts.

    name, variant: registry keys (``'myofullbody'``, ``'nofingers'``).
    model: the compiled ``mujoco.MjModel`` (cached and shared: do not mutate).
    xml_path: the musclemimic-models XML it was built from.
    nq, nv: generalised position / velocity sizes. nu: actuators (all are muscles in these models).
    neq: equality constraints. n_joints: joints including the free root.
    mass_kg: total body mass (kg). timestep: XML physics timestep (s).
    compile_s: wall time of parsing + editing + compiling (s), measured once per process.
    notes: how the variant was built.
    """

    name: str
    variant: str
    model: mujoco.MjModel
    xml_path: Path
    nq: int
    nv: int
    nu: int
    neq: int
    n_joints: int
    mass_kg: float
    timestep: float
    compile_s: float
    notes: str

    def make_data(self) -> mujoco.MjData:
        """A fresh ``MjData`` at the model's reference configuration ``qpos0``."""
        return mujoco.MjData(self.model)

    @cached_property
    def hash(self) -> str:
        """:func:`model_hash` of :attr:`model` (hex sha256)."""
        return model_hash(self.model)

    def counts(self) -> dict[str, int | float]:
        """The counts as a plain dict (nq, nv, nu, neq, n_joints, mass_kg, timestep)."""
        return {
            "nq": self.nq,
            "nv": self.nv,
            "nu": self.nu,
            "neq": self.neq,
            "n_joints": self.n_joints,
            "mass_kg": self.mass_kg,
            "timestep": self.timestep,
        }

    def __repr__(self) -> str:
        return (
            f"ModelInfo({self.name}/{self.variant}: nq={self.nq} nv={self.nv} nu={self.nu} neq={self.neq} "
            f"joints={self.n_joints} mass={self.mass_kg:.2f} kg dt={self.timestep:g} s)"
        )


def resolve(name: str = "myofullbody", variant: str | None = None) -> tuple[str, str]:
    """Validated ``(name, variant)``; ``variant=None`` gives :data:`DEFAULT_VARIANT`.

    Raises :class:`UnknownModelError` (one line listing the choices) for an unknown name or variant.
    """
    key = str(name).strip().lower()
    if key not in VARIANTS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of: {', '.join(VARIANTS)}")
    if variant is None:
        return key, DEFAULT_VARIANT[key]
    v = str(variant).strip().lower()
    if v not in VARIANTS[key]:
        raise UnknownModelError(
            f"unknown variant {variant!r} of model {key!r}; choose one of: {', '.join(VARIANTS[key])}"
        )
    return key, v


def _remove_fingers(spec: mujoco.MjSpec) -> None:
    """Delete finger joints, finger muscles and the tendons those muscles pull on (in place)."""
    joints = set(FINGER_JOINTS)
    for j in [j for j in spec.joints if j.name in joints]:
        spec.delete(j)
    muscles = set(FINGER_MUSCLES)
    doomed = [a for a in spec.actuators if a.name in muscles]
    tendons = {a.target for a in doomed if a.trntype == mujoco.mjtTrn.mjTRN_TENDON}
    for a in doomed:
        spec.delete(a)
    for t in [t for t in spec.tendons if t.name in tendons]:
        spec.delete(t)


@cache
def _spec(name: str, variant: str) -> mujoco.MjSpec:
    if variant == "corrected":  # 'nofingers' (parsed and edited once) with the inertia corrections
        from mmbio.models.inertia_audit import apply_inertia_corrections

        spec = _spec(name, "nofingers").copy()
        apply_inertia_corrections(spec, name)
        return spec
    spec = mujoco.MjSpec.from_file(str(Path(musclemimic_models.get_xml_path(name))))
    if variant == "nofingers":
        _remove_fingers(spec)
    return spec


def model_spec(name: str = "myofullbody", variant: str | None = None) -> mujoco.MjSpec:
    """A fresh, editable :class:`mujoco.MjSpec` of ``name``/``variant`` (a copy of one parsed once per process:
    removing the fingers costs ≈ 1.2 s, a copy ≈ 5 ms). Raises :class:`UnknownModelError` as :func:`resolve`."""
    return _spec(*resolve(name, variant)).copy()


@cache
def _compile(name: str, variant: str) -> ModelInfo:
    xml = Path(musclemimic_models.get_xml_path(name))
    t0 = time.perf_counter()
    model = _spec(name, variant).compile()
    dt = time.perf_counter() - t0
    return ModelInfo(
        name=name,
        variant=variant,
        model=model,
        xml_path=xml,
        nq=int(model.nq),
        nv=int(model.nv),
        nu=int(model.nu),
        neq=int(model.neq),
        n_joints=int(model.njnt),
        mass_kg=float(np.sum(model.body_mass)),
        timestep=float(model.opt.timestep),
        compile_s=dt,
        notes=VARIANTS[name][variant],
    )


def load_model(name: str = "myofullbody", variant: str | None = None) -> ModelInfo:
    """The compiled model ``name``/``variant``, compiled once per process and then cached.

    First-call cost (2-core CPU, MuJoCo 4.0): myofullbody full ≈ 0.36 s, nofingers ≈ 1.15 s
    (``MjSpec.delete`` costs ~5 ms per element, 164 deletions), bimanual full ≈ 0.29 s, nofingers ≈ 0.62 s.

    ``variant=None`` is the model's default (MuscleMimic's training setup, ``'nofingers'``).
    Raises :class:`UnknownModelError` for an unknown name or variant.
    """
    return _compile(*resolve(name, variant))


def list_models() -> list[tuple[str, str, dict[str, int | float]]]:
    """Every ``(name, variant, counts)`` of the registry, defaults first (compiles each once)."""
    return [(n, v, load_model(n, v).counts()) for n, variants in VARIANTS.items() for v in variants]


#: MjModel fields hashed by :func:`model_hash`: sizes, options, kinematic tree, inertia, joints,
#: contact geometry, equality constraints, tendons, actuators (muscle parameters) and the names blob.
MODEL_HASH_FIELDS: tuple[str, ...] = (
    "nq", "nv", "nu", "na", "nbody", "njnt", "ngeom", "nsite", "ntendon", "neq", "nsensor",
    "opt.timestep", "opt.integrator", "opt.gravity", "opt.cone",
    "body_parentid", "body_pos", "body_quat", "body_ipos", "body_iquat", "body_mass", "body_inertia",
    "jnt_type", "jnt_bodyid", "jnt_qposadr", "jnt_pos", "jnt_axis", "jnt_range", "jnt_limited", "jnt_stiffness",
    "qpos0", "qpos_spring", "dof_damping", "dof_armature", "dof_frictionloss",
    "geom_type", "geom_bodyid", "geom_size", "geom_pos", "geom_quat", "geom_contype", "geom_conaffinity",
    "geom_friction", "geom_solref", "geom_solimp", "geom_margin",
    "site_bodyid", "site_pos",
    "eq_type", "eq_obj1id", "eq_obj2id", "eq_data", "eq_active0", "eq_solref", "eq_solimp",
    "tendon_adr", "tendon_num", "tendon_stiffness", "tendon_damping", "tendon_lengthspring",
    "wrap_type", "wrap_objid", "wrap_prm",
    "actuator_trntype", "actuator_dyntype", "actuator_gaintype", "actuator_biastype", "actuator_trnid",
    "actuator_gear", "actuator_dynprm", "actuator_gainprm", "actuator_biasprm", "actuator_ctrlrange",
    "actuator_forcerange", "actuator_lengthrange",
    "sensor_type", "sensor_objid",
    "names",
)  # fmt: skip


def _canonical_bytes(value: object) -> bytes:
    """Bytes of a field: integers exactly, floats rounded to ~9 significant digits (2⁻³⁰ relative)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    a = np.asarray(value)
    if a.dtype.kind == "f":
        mant, expo = np.frexp(a.astype(np.float64))
        a = np.ldexp(np.round(mant * 2.0**30) / 2.0**30, expo)
        a = np.where(a == 0.0, 0.0, a)  # −0.0 → 0.0
        return np.ascontiguousarray(a, dtype="<f8").tobytes()
    return np.ascontiguousarray(a, dtype="<i8").tobytes()


def model_hash(model: mujoco.MjModel | ModelInfo) -> str:
    """Hex sha256 of a compiled model's :data:`MODEL_HASH_FIELDS` (a fingerprint for checkpoints).

    Identical across loads of the same XML and variant in one environment; different between
    variants (and whenever geometry, inertia, joints, constraints or muscle parameters differ).
    Floats are rounded to ~9 significant digits so that ulp-level compiler noise does not change
    it; a newer MuJoCo that compiles meshes or muscle length ranges differently may still change it.
    Fields that the installed MuJoCo does not have are skipped.
    """
    m = model.model if isinstance(model, ModelInfo) else model
    h = hashlib.sha256()
    for field in MODEL_HASH_FIELDS:
        obj: object = m
        try:
            for part in field.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        h.update(field.encode())
        h.update(_canonical_bytes(obj))
    return h.hexdigest()
