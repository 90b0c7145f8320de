"""Does a policy walk? Its mean action rolled out on MuJoCo C from the reference start and from perturbed starts.

The test of issue 14 for a shipped walking policy: each start runs up to ``seconds`` with no help of any kind
(no root residual, no reserve torques: the policy's excitations only) and ends early when the imitation
environment's termination rules fire (a fall). Per start: seconds up, gait cycles per side (heel strikes from the
foot touch sensors: force rising through 20 N after at least 0.1 s below it, so a bouncing foot is one
strike; cycles = strikes − 1), mean forward speed (root
displacement along the reference's direction of travel over the time up, m/s). Perturbed starts: a random
reference phase and uniform joint-angle noise (``noise_rad``) on the hinge joints, activations zero.

A policy *walks* when every start of :func:`walks` holds: the reference start and at least ``need`` of the
perturbed ones stay up the whole time with ≥ ``min_cycles`` cycles per side at the reference speed ± 10 %.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["StartResult", "WalkTest", "heel_strikes", "walk_test"]

_HS_N = 20.0
_SWING_S = 0.1


def heel_strikes(force: np.ndarray, rate_hz: float) -> int:
    """Heel strikes in a foot's vertical force ``(T,)`` (N) sampled at ``rate_hz``: rises through 20 N after at
    least 0.1 s below it (a foot on the floor at the start is no strike; a bounce is none)."""
    on = np.asarray(force, float) > _HS_N
    n, off_since, was = 0, None, bool(on[0]) if len(on) else False
    for k in range(1, len(on)):
        if on[k] and not was and off_since is not None and (k - off_since) / rate_hz >= _SWING_S:
            n += 1
        if not on[k] and was:
            off_since = k
        was = bool(on[k])
    return n


@dataclasses.dataclass
class StartResult:
    """One start: ``frame`` (reference frame), ``noise_rad``, seconds ``up_s`` of ``asked_s``, ``fell``,
    ``cycles`` per side (``{'r': n, 'l': n}``), ``speed_m_s`` (mean forward speed while up)."""

    frame: int
    noise_rad: float
    up_s: float
    asked_s: float
    fell: bool
    cycles: dict[str, int]
    speed_m_s: float


@dataclasses.dataclass
class WalkTest:
    """Every start's result, the reference speed (m/s) and the verdict rule's parameters."""

    starts: list[StartResult]
    reference_speed_m_s: float
    need: int
    min_cycles: int

    def ok(self, r: StartResult) -> bool:
        """The start stayed up the whole time, with enough cycles per side, at the reference speed ± 10 %."""
        speed_ok = abs(r.speed_m_s - self.reference_speed_m_s) <= 0.1 * self.reference_speed_m_s
        return (not r.fell) and min(r.cycles.values()) >= self.min_cycles and speed_ok

    @property
    def walks(self) -> bool:
        """The reference start and at least ``need`` perturbed starts are :meth:`ok`."""
        if not self.starts:
            return False
        return self.ok(self.starts[0]) and sum(self.ok(r) for r in self.starts[1:]) >= self.need

    def summary(self) -> str:
        lines = [f"walk test: reference speed {self.reference_speed_m_s:.2f} m/s; verdict "
                 f"{'WALKS' if self.walks else 'does not walk'}"]  # fmt: skip
        for k, r in enumerate(self.starts):
            what = "reference start" if k == 0 else f"perturbed start {k}"
            state = f"fell at {r.up_s:.2f} s" if r.fell else f"up {r.up_s:.1f} s"
            lines.append(f"  {what} (frame {r.frame}, noise {np.degrees(r.noise_rad):.1f} deg): {state}, cycles "
                         f"r {r.cycles['r']} / l {r.cycles['l']}, speed {r.speed_m_s:.2f} m/s")  # fmt: skip
        return "\n".join(lines)


def walk_test(
    ckpt: Any,
    *,
    seconds: float = 10.0,
    n_perturbed: int = 10,
    noise_rad: float = 0.05,
    need: int = 8,
    min_cycles: int = 8,
    seed: int = 0,
) -> WalkTest:
    """Run the walk test on a loaded ``'policy'`` checkpoint (module docs)."""
    from mmbio.errors import MmbioError
    from mmbio.train.config import from_dict
    from mmbio.train.host_worlds import HostWorlds, start_state
    from mmbio.train.imitation_env import ImitationEnv
    from mmbio.train.policy_numpy import numpy_policy

    motion = ckpt.motion()
    if ckpt.kind != "policy" or motion is None:
        raise MmbioError("the walk test needs a 'policy' checkpoint with its reference motion")
    cfg = from_dict(ckpt.config)
    env = ImitationEnv(dataclasses.replace(cfg.env, backend="mujoco"), motion, n_envs=1)
    policy = numpy_policy(ckpt.controller)
    hz = env.cfg.control_hz
    q_end, q0 = np.asarray(motion.qpos[-1]), np.asarray(motion.qpos[0])
    travel = (q_end[:2] - q0[:2]) / max(float(motion.duration), 1e-9)
    ref_speed = float(np.linalg.norm(travel))
    direction = travel / max(ref_speed, 1e-9)
    rng = np.random.default_rng(seed)
    hi = env.period if env.loop else env.n_frames - 1
    starts = [(0, 0.0)] + [(int(rng.integers(0, hi)), float(noise_rad)) for _ in range(n_perturbed)]
    worlds = HostWorlds(env, 1)
    feet = {"r": 0, "l": 2} if len(env.touch_adr) >= 4 else {}  # r_foot, l_foot in TOUCH_NAMES order
    out = []
    for frame, noise in starts:
        q, v = start_state(env, frame, noise, rng)
        run = worlds.run_alone(frame, q, v, np.zeros(env.mj_model.na), seconds,
                               lambda obs, _d, _t: (policy.excitation(np.asarray(obs, np.float64))[0], None))  # fmt: skip
        speed = float(np.dot(run.travel, direction) / max(run.up_s, 1e-9))
        cycles = {s: max(heel_strikes(run.touch[:, i], hz) - 1, 0) for s, i in feet.items()} or {"r": 0, "l": 0}
        out.append(StartResult(frame, noise, run.up_s, seconds, run.fell, cycles, speed))
    return WalkTest(out, ref_speed, need, min_cycles)
