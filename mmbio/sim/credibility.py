"""The numbers the credibility checks need, measured on a simulation (:mod:`mmbio.analysis.credibility` judges them).

:func:`credibility_inputs` reads a :class:`~mmbio.sim.rollout_data.Rollout` (with its applied reserves/residuals,
``qfrc_applied``, when a tracking controller produced it), the simulated :class:`~mmbio.trial.Trial` (its GRF) and,
for the tracking controller, its :class:`~mmbio.control.tracking.TrackingResult`:

* root residuals: peak and RMS of the residual force (N) and moment (N·m) the controller applied; a policy or an
  open-loop table has none (``residuals_applied=False``);
* the peak external force: largest magnitude of the summed contact GRF of both feet (N);
* COM height: mean height of the whole-body centre of mass above the floor (m), every 10th recorded frame;
* reserves: per reserve joint its peak and RMS torque (N·m) and the peak *net* moment at that joint (N·m) =
  muscles (``qfrc_actuator``, from the recorded activations through MuJoCo's muscle model) + the reserve, at every
  recorded frame;
* foot-floor contact and joint ranges of the simulated motion (:func:`mmbio.sim.motion.motion_quality`):
  deepest penetration (m), mean sliding speed in stance (m/s; stance = the foot's simulated vertical GRF above
  20 N, not a height threshold, which counts a foot skimming the floor in swing), largest joint-range excursion
  (deg) and its joint;
* muscle metabolic power (W/kg, Umberger 2010, :func:`mmbio.sim.extract.extract_signals`) and the speed (m/s).

Everything is plain floats / dicts (metrics.json-ready). A quantity that cannot be measured is left out (the
check is then n/a with a reason).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

__all__ = ["credibility_inputs"]


def _frames(n: int, stride: int) -> np.ndarray:
    return np.arange(0, n, max(stride, 1))


#: why a root-free tracking run's residual checks read 0 (``credibility_inputs``, the scorecard's detail)
ROOT_FREE_NOTE = "root-free tracking (root_residual 'none'): no force acted on the pelvis, residuals 0 by construction"


def credibility_inputs(rollout: Any, trial: Any, *, tracking: Any = None, controller: str = "") -> dict[str, Any]:
    """Credibility inputs of a simulated run (see the module docs); keys of
    :data:`mmbio.analysis.credibility.INPUT_KEYS`."""
    from mmbio.models.registry import load_model
    from mmbio.sim.motion import Motion, motion_quality

    info = load_model(rollout.model_name, rollout.variant)
    m, d = info.model, mujoco.MjData(info.model)
    qpos, qvel = np.asarray(rollout.qpos, float), np.asarray(rollout.qvel, float)
    n = qpos.shape[0]
    out: dict[str, Any] = {"source": controller or "simulation", "speed_m_s": float(trial.subject.speed_m_s)}

    # root residuals (the tracking controller applies them; forward simulations of muscles have none, and neither
    # does a root-free tracking run: root_residual 'none')
    if tracking is not None and tracking.root_residual == "none":
        out["residuals_applied"] = False
        out["residuals_note"] = ROOT_FREE_NOTE
    elif tracking is not None and np.size(tracking.residuals):
        r = np.asarray(tracking.residuals, float)
        f, mo = np.linalg.norm(r[:, :3], axis=1), np.linalg.norm(r[:, 3:], axis=1)
        out.update(
            residuals_applied=True,
            residual_force_peak_n=float(f.max()),
            residual_force_rms_n=float(np.sqrt(np.mean(f**2))),
            residual_moment_peak_nm=float(mo.max()),
            residual_moment_rms_nm=float(np.sqrt(np.mean(mo**2))),
        )
    else:
        out["residuals_applied"] = False

    # peak external force: the summed GRF of both feet
    grf = getattr(trial, "grf", None) or {}
    if grf:
        forces = [np.nan_to_num(np.asarray(g.force, float)) for g in grf.values()]
        k = min(len(f) for f in forces)
        total = np.sum([f[:k] for f in forces], axis=0)
        if total.size:
            out["peak_external_force_n"] = float(np.max(np.linalg.norm(total, axis=1)))

    # COM height above the floor (z = 0)
    z = []
    for k in _frames(n, 10):
        d.qpos[:] = qpos[k]
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        z.append(d.subtree_com[0, 2])
    if z:
        out["com_height_m"] = float(np.mean(z))

    # reserves against the net joint moment (muscles + reserve) at the same joint
    if tracking is not None and np.size(tracking.reserves) and rollout.act is not None and rollout.act.size:
        res = np.asarray(tracking.reserves, float)
        names = list(tracking.reserve_names)
        dofs = [int(m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)]) for j in names]
        rt = np.asarray(tracking.time, float)
        ks = _frames(n, 1)
        act_tau = np.empty((ks.size, len(dofs)))
        for i, k in enumerate(ks):
            d.qpos[:], d.qvel[:] = qpos[k], qvel[k]
            d.act[:] = rollout.act[k]
            d.ctrl[:] = rollout.ctrl[k] if rollout.ctrl is not None and rollout.ctrl.shape[1] == m.nu else 0.0
            mujoco.mj_forward(m, d)
            act_tau[i] = d.qfrc_actuator[dofs]
        # the reserve applied at the same instants (the controller's record is on its own clock)
        res_k = np.stack([np.interp(np.asarray(rollout.time)[ks], rt, res[:, j]) for j in range(len(dofs))], axis=1)
        net = act_tau + res_k
        out["reserves"] = {
            name: {
                "peak_nm": float(np.max(np.abs(res[:, j]))),
                "rms_nm": float(np.sqrt(np.mean(res[:, j] ** 2))),
                "peak_joint_moment_nm": float(np.max(np.abs(net[:, j]))),
            }
            for j, name in enumerate(names)
        }
    elif tracking is None:
        out["reserves"] = None

    # foot-floor contact and joint ranges of the simulated motion
    rate = 1.0 / float(np.median(np.diff(rollout.time))) if n > 1 else float("nan")
    if n > 2 and np.isfinite(rate):
        t = np.asarray(rollout.time, float)
        stance = None
        if grf and all(side in grf for side in ("r", "l")):
            stance = {
                side: np.interp(t, np.asarray(g.time, float), np.nan_to_num(np.asarray(g.vertical, float))) > 20.0
                for side, g in grf.items()
                if side in ("r", "l")
            }
        motion = Motion(qpos=qpos, qvel=qvel, rate_hz=rate, model=rollout.model_name, variant=rollout.variant,
                        source="simulated", stance=stance)  # fmt: skip
        q = motion_quality(motion)
        out["penetration_max_m"] = float(q["penetration_max_m"])
        out["sliding_mean_m_s"] = float(q["sliding_mean_m_s"])
        limits = q.get("joint_limits") or {}
        hinge = {j: v for j, v in limits.items() if v.get("units") == "deg"}
        out["joint_limit_max_deg"] = float(max((v["max_excess"] for v in hinge.values()), default=0.0))
        if hinge:
            out["joint_limit_worst"] = max(hinge, key=lambda j: hinge[j]["max_excess"])

    # muscle metabolic power
    try:
        from mmbio.sim.extract import extract_signals

        sig = extract_signals(rollout, model_info=info, mass_kg=float(trial.subject.mass_kg))
        if sig.metabolic_w_per_kg is not None:
            out["metabolic_w_per_kg"] = float(np.mean(sig.metabolic_w_per_kg.values))
    except (ValueError, KeyError):  # a rollout without muscle states: the check is n/a
        pass
    return out
