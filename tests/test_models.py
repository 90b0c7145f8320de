"""Model registry and anatomy maps against the compiled MuJoCo models (musclemimic-models 1.0.6)."""

from __future__ import annotations

import dataclasses

import mujoco
import musclemimic_models
import numpy as np
import pytest

from mmbio.errors import MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.models import (
    COUPLED_JOINTS,
    EMG_ACTUATORS,
    FOOT_GEOMS,
    JOINT_MAP,
    check_anatomy,
    clinical_joint_angles,
    coupled_qpos,
    coupled_qvel,
    list_models,
    load_model,
    model_hash,
    registry,
)
from mmbio.models.registry import FINGER_JOINTS, FINGER_MUSCLES, ModelInfo


@pytest.fixture(scope="module")
def full() -> ModelInfo:
    return load_model("myofullbody", "full")


@pytest.fixture(scope="module")
def nofingers() -> ModelInfo:
    return load_model("myofullbody", "nofingers")


def test_full_counts(full: ModelInfo) -> None:
    assert (full.nq, full.nv, full.nu, full.neq) == (129, 128, 416, 51)
    assert full.n_joints == 123
    assert full.mass_kg == pytest.approx(84.27, abs=0.01)
    assert full.timestep == pytest.approx(0.001)
    assert full.model.ntendon == 424


def test_nofingers_counts(nofingers: ModelInfo, full: ModelInfo) -> None:
    assert nofingers.nu == 354 and len(FINGER_MUSCLES) == 62
    assert (nofingers.nq, nofingers.nv) == (129 - 40, 128 - 40) and len(FINGER_JOINTS) == 40
    assert nofingers.neq == 51
    assert nofingers.model.ntendon == 424 - 62
    assert nofingers.mass_kg == pytest.approx(full.mass_kg, rel=1e-12)  # finger bodies stay, welded
    assert nofingers.timestep == pytest.approx(0.001)
    names = {nofingers.model.actuator(i).name for i in range(nofingers.nu)}
    assert not names & set(FINGER_MUSCLES)
    assert {"FCR", "ECRL", "PQ", "FCU_left", "soleus_r"} <= names  # wrist and leg muscles kept


def test_default_variant_is_musclemimic_training_setup(nofingers: ModelInfo) -> None:
    assert load_model() is nofingers
    assert load_model("myofullbody") is nofingers


def test_bimanual_counts() -> None:
    info = load_model("bimanual", "full")
    assert info.nu == 126 and info.nq == 76
    assert load_model("bimanual", "nofingers").nu == 126 - 62


def test_cache_shares_model_but_data_is_fresh(full: ModelInfo) -> None:
    assert load_model("myofullbody", "full") is full
    d1, d2 = full.make_data(), full.make_data()
    d1.qpos[7] = 0.5
    assert d2.qpos[7] == full.model.qpos0[7]


def test_list_models() -> None:
    rows = {(n, v): c for n, v, c in list_models()}
    assert rows[("myofullbody", "full")]["nu"] == 416
    assert rows[("myofullbody", "nofingers")]["nu"] == 354
    assert rows[("bimanual", "full")]["nu"] == 126


@pytest.mark.parametrize(
    ("name", "variant", "needle"),
    [("myobody", None, "myofullbody, bimanual"), ("myofullbody", "nohands", "nofingers, full")],
)
def test_unknown_model_or_variant(name: str, variant: str | None, needle: str) -> None:
    with pytest.raises(MmbioError) as err:
        load_model(name, variant)
    msg = str(err.value)
    assert "\n" not in msg and needle in msg


def test_model_hash(full: ModelInfo, nofingers: ModelInfo) -> None:
    assert full.hash == model_hash(full.model) == model_hash(full)
    # an independent compile of the shipped XML gives the same fingerprint
    assert model_hash(musclemimic_models.load("myofullbody")[0]) == full.hash
    assert nofingers.hash != full.hash
    # a second, uncached compile of the edited spec gives the same fingerprint
    assert model_hash(registry._compile.__wrapped__("myofullbody", "nofingers").model) == nofingers.hash
    assert load_model("bimanual", "full").hash not in (full.hash, nofingers.hash)
    changed = mujoco.MjModel.from_xml_path(str(full.xml_path))
    changed.body_mass[5] *= 1.01
    assert model_hash(changed) != full.hash


@pytest.mark.parametrize("variant", ["full", "nofingers"])
def test_every_mapped_name_exists(variant: str) -> None:
    assert check_anatomy(load_model("myofullbody", variant)) == []


def test_anatomy_names_listed(full: ModelInfo) -> None:
    m = full.model
    assert EMG_ACTUATORS("r")["gluteus_maximus"] == ["glmax1_r", "glmax2_r", "glmax3_r"]
    assert EMG_ACTUATORS("l")["tibialis_anterior"] == ["tibant_l"]
    with pytest.raises(MmbioError):
        EMG_ACTUATORS("x")
    for side in "rl":
        for g in FOOT_GEOMS[side]:
            assert m.geom(g).contype[0] != 0
        assert m.geom(f"{side}_foot").contype[0] == 0  # visual mesh, no contact
        assert len(COUPLED_JOINTS[side]) == 7


def test_check_anatomy_reports_problems(full: ModelInfo) -> None:
    assert check_anatomy(load_model("bimanual", "full"))  # no leg maps for the arm model
    spec = mujoco.MjSpec.from_file(str(full.xml_path))
    spec.delete(spec.actuator("soleus_r"))
    spec.geom("r_foot_col1").contype = 0
    broken = dataclasses.replace(full, model=spec.compile())
    problems = check_anatomy(broken)
    assert any("soleus_r" in p for p in problems)
    assert any("r_foot_col1" in p and "collide" in p for p in problems)


def _lab_displacement(info: ModelInfo, joint: str, value: float, body: str) -> np.ndarray:
    """Lab-frame (forward, left, up) displacement of ``body`` when ``joint`` moves by ``value`` rad."""
    m, d = info.model, info.make_data()
    mujoco.mj_kinematics(m, d)
    p0 = d.xpos[m.body(body).id].copy()
    d.qpos[m.joint(joint).qposadr[0]] += value
    mujoco.mj_kinematics(m, d)
    return MUJOCO_MYOFULLBODY_TO_LAB @ (d.xpos[m.body(body).id] - p0)


def test_signs_by_displacement(full: ModelInfo) -> None:
    """Independent of the axis check: positive clinical angles move distal bodies the clinical way."""
    fwd, left, up = 0, 1, 2

    def move(clinical: str, body: str) -> np.ndarray:
        joint, sign = JOINT_MAP[clinical]
        return _lab_displacement(full, joint, sign * 0.3, body)

    assert move("hip_flexion_r", "tibia_r")[fwd] > 0.1
    assert move("hip_adduction_r", "tibia_r")[left] > 0.1  # medial for the right leg
    assert move("hip_adduction_l", "tibia_l")[left] < -0.1
    assert move("knee_flexion_r", "talus_r")[fwd] < -0.1
    assert move("ankle_dorsiflexion_l", "toes_l")[up] > 0.02
    assert move("lumbar_extension", "head")[fwd] < -0.1
    assert move("lumbar_bending", "head")[left] > 0.1
    assert move("lumbar_rotation", "humerus_r")[fwd] > 0.03  # right shoulder forward = turn to the left
    # mtp: extension lifts the toe collision sphere in front of the joint (mtp_angle itself lowers it)
    m, d = full.model, full.make_data()
    g = m.geom("r_bofoot_col1").id
    mujoco.mj_kinematics(m, d)
    z0 = d.geom_xpos[g][2]
    d.qpos[m.joint("mtp_angle_r").qposadr[0]] = JOINT_MAP["mtp_extension_r"][1] * 0.3
    mujoco.mj_kinematics(m, d)
    assert d.geom_xpos[g][2] - z0 > 0.005
    knee = m.joint("knee_angle_r")
    assert knee.range[0] == 0.0 and knee.range[1] > 2.0  # flexion positive


def test_clinical_joint_angles(full: ModelInfo) -> None:
    q = np.tile(full.model.qpos0, (4, 1))
    q[:, full.model.joint("lat_bending").qposadr[0]] = 0.1
    q[:, full.model.joint("knee_angle_l").qposadr[0]] = np.linspace(0, 1, 4)
    ang = clinical_joint_angles(full.model, q)
    assert set(ang) == set(JOINT_MAP)
    # lat_bending −1 sign, and the trunk bends 1.86 × the joint (its vertebrae follow it)
    np.testing.assert_allclose(ang["lumbar_bending"], -np.rad2deg(0.1) * 1.864, rtol=2e-3)
    np.testing.assert_allclose(ang["knee_flexion_l"], np.rad2deg(np.linspace(0, 1, 4)))
    with pytest.raises(MmbioError):
        clinical_joint_angles(full.model, q[:, :-1])


def _equality_residuals(info: ModelInfo, qpos: np.ndarray, qvel: np.ndarray) -> tuple[float, float]:
    m, d = info.model, info.make_data()
    d.qpos[:], d.qvel[:] = qpos, qvel
    mujoco.mj_forward(m, d)
    rows = d.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert rows.sum() == m.neq
    return float(np.abs(d.efc_pos[rows]).max()), float(np.abs(d.efc_vel[rows]).max())


@pytest.mark.parametrize("variant", ["full", "nofingers"])
def test_coupled_qpos_satisfies_equalities(variant: str) -> None:
    info = load_model("myofullbody", variant)
    m = info.model
    rng = np.random.default_rng(1)
    q = np.tile(m.qpos0, (3, 1))
    for joint, hi in [("knee_angle_r", 2.0), ("knee_angle_l", 1.2), ("flex_extension", 0.5), ("lat_bending", 0.3),
                      ("axial_rotation", 0.4), ("shoulder_elv_r", 1.0), ("elv_angle_l", 1.0)]:  # fmt: skip
        q[:, m.joint(joint).qposadr[0]] = rng.uniform(0.05, hi, 3)
    v = rng.normal(size=(3, m.nv))
    assert _equality_residuals(info, q[0], v[0])[0] > 1e-2  # uncoupled: violated
    qc = coupled_qpos(m, q)
    vc = coupled_qvel(m, qc, v)
    assert qc.shape == q.shape
    for t in range(3):
        pos, vel = _equality_residuals(info, qc[t], vc[t])
        assert pos < 1e-12 and vel < 1e-12
    np.testing.assert_array_equal(coupled_qpos(m, q[2]), qc[2])  # (nq,) works too
    knee = m.joint("knee_angle_r").qposadr[0]
    np.testing.assert_array_equal(qc[:, knee], q[:, knee])  # independent joints untouched
    with pytest.raises(MmbioError):
        coupled_qpos(m, q[:, :10])


def test_lumbar_gain_matches_the_vertebra_couplings() -> None:
    """The thorax turns relative to the pelvis by the joint plus its coupled vertebrae: gain = 1 + Σ linear
    coefficients of the four L1–L5 couplings of that joint (the Abs_r3 abdominal joint is not in the chain)."""
    from mmbio.models.anatomy import JOINT_MAP, joint_couplings, joint_gain
    from mmbio.models.registry import load_model

    m = load_model("myofullbody").model
    for clinical, tag in (("lumbar_extension", "_FE"), ("lumbar_bending", "_LB"), ("lumbar_rotation", "_AR")):
        joint = JOINT_MAP[clinical][0]
        coefs = [
            c.coef[1] for c in joint_couplings(m) if c.name.endswith("←" + joint) and c.name.split("←")[0].endswith(tag)
        ]
        assert len(coefs) == 4
        assert joint_gain(m, clinical) == pytest.approx(1 + sum(coefs), rel=2e-3)
    assert joint_gain(m, "knee_flexion_r") == 1.0
