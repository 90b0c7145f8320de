"""Default reference motions for the imitation trainer, one per model, built by mmbio's own code (no files).

* ``myofullbody``: one stride of the synthesised 1.25 m/s walk (:func:`mmbio.sim.motion.synthesize_motion`,
  Schwartz 2008 curves, foot-locked), periodic, so the environment loops it.
* ``bimanual``: both arms raised and bent by 0.5 Hz sinusoidal excitations of the shoulder flexors/abductors
  (DELT1, DELT2, SUPSP) and elbow flexors (BIClong, BICshort, BRA), the other muscles at 0.05, simulated with
  MuJoCo C at 2 ms after 0.5 s of settling and sampled at 100 Hz (2 s by default). Passive or random muscles
  let the arms fall, so tracking it needs control — a small task the CPU tests train on.
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.models.registry import load_model
from mmbio.sim.motion import Motion, synthesize_motion

__all__ = ["bimanual_reference", "default_motion"]

_ARM_GROUPS = {("DELT1", "DELT2", "SUPSP"): (0.45, 0.25, 0.0), ("BIClong", "BICshort", "BRA"): (0.35, 0.3, 1.5)}


def bimanual_reference(n_frames: int = 201, rate_hz: float = 100.0) -> Motion:
    """The bimanual arm motion described in the module docs: ``n_frames`` frames at ``rate_hz``."""
    m = copy.deepcopy(load_model("bimanual").model)
    m.opt.timestep = 0.002
    sub = round(1.0 / (rate_hz * m.opt.timestep))
    d = mujoco.MjData(m)
    base = [m.actuator(i).name.split("_")[0] for i in range(m.nu)]
    settle = round(0.5 * rate_hz)
    qs, vs = [], []
    for k in range(n_frames + settle):
        if k >= settle:
            qs.append(d.qpos.copy())
            vs.append(d.qvel.copy())
        t = max(k - settle, 0) / rate_hz
        u = np.full(m.nu, 0.05)
        for names, (mean, amp, phase) in _ARM_GROUPS.items():
            for i, b in enumerate(base):
                if b in names:
                    u[i] = mean + amp * np.sin(2 * np.pi * 0.5 * t + phase)
        d.ctrl[:] = u
        mujoco.mj_step(m, d, nstep=sub)
    info = load_model("bimanual")
    return Motion(np.array(qs), np.array(vs), rate_hz=rate_hz, model="bimanual", variant=info.variant,
                  source="bimanual sinusoidal reach (mmbio.train.references)")  # fmt: skip


def default_motion(model: str) -> Motion:
    """The default reference motion of ``model`` (see the module docs)."""
    if model == "myofullbody":
        return synthesize_motion(speed_m_s=1.25, gait="walk", n_cycles=1)
    if model == "bimanual":
        return bimanual_reference()
    raise MmbioError(f"no default reference motion for model {model!r}; pass one with --motion FILE.npz")
