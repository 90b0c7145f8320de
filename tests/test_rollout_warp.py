"""MuJoCo Warp backend against MuJoCo C, on Warp's CPU device (no GPU needed).

Skipped when ``mujoco_warp``/``warp`` are not installed (``pip install 'mmbio[gpu]'``). First run compiles
Warp kernels (≈ 25 s for the bimanual arm, ≈ 8 s more for MyoFullBody on 2 cores; cached in ~/.cache/warp).

Tolerances (float32 Warp vs float64 C): float32 round-off is ε ≈ 1.2e-7 per operation, and positions of
order 1 accumulate at most ≈ N·ε ≈ 2.4e-5 over N = 200 steps; we allow qpos 1e-4 (measured ≤ 1.2e-5).
Velocities pass through the constraint solver, whose float32 solve of stiff equality/contact rows amplifies
round-off: measured ≤ 1.2e-3 rad/s on |qvel| up to 13 rad/s; we allow 1e-2 (< 0.1 % of the range).
Activations follow a first-order filter of the excitation: ≤ 3e-7 open loop; with a feedback controller the
state error feeds back into the excitation (here gain ≈ 12 on qpos): measured ≤ 1.1e-5, allowed 1e-4.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mmbio.errors import MmbioError
from mmbio.models.registry import load_model
from mmbio.sim.controller import CallableController, ConstantController
from mmbio.sim.rollout_cpu import rollout
from mmbio.sim.rollout_warp import rollout_warp, warp_available

needs_warp = pytest.mark.skipif(
    not warp_available(), reason="mujoco_warp/warp not installed (pip install 'mmbio[gpu]')"
)
TOL = {"qpos": 1e-4, "qvel": 1e-2, "act": 1e-4}


def _close(warp_run, cpu_run) -> None:
    assert warp_run.n_frames == cpu_run.n_frames and not warp_run.diverged
    for name, tol in TOL.items():
        err = np.abs(getattr(warp_run, name) - getattr(cpu_run, name)).max()
        assert err < tol, f"{name}: max |warp − C| = {err:.3g} ≥ {tol:g}"


def test_missing_warp_gives_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)  # import now raises ImportError
    with pytest.raises(MmbioError, match=r"mmbio\[gpu\]"):
        rollout_warp("bimanual", ConstantController(0.1), 2, 0.01)


@pytest.fixture(scope="module")
def arm():
    return load_model("bimanual", "full")


@needs_warp
def test_bimanual_parity_open_and_closed_loop(arm) -> None:
    nu = arm.model.nu
    q = np.tile(arm.model.qpos0, (3, 1))
    q[1, 0] += 0.1
    for ctl in (
        ConstantController(0.3),
        CallableController(lambda obs: 0.5 + 0.5 * np.sin(5 * obs[..., :1]) * np.ones(nu)),
    ):
        runs = rollout_warp(arm, ctl, 3, 0.4, initial_qpos=q, device="cpu")  # 200 steps of 2 ms
        assert runs[0].notes["backend"] == "mujoco_warp" and runs[0].notes["precision"] == "float32"
        for i, w in enumerate(runs):
            _close(w, rollout(arm, ctl, duration_s=0.4, initial_qpos=q[i]))


@needs_warp
def test_bad_world_is_flagged_and_reset_without_touching_others(arm) -> None:
    v = np.zeros((3, arm.model.nv))
    v[1, 5] = np.nan
    runs = rollout_warp(arm, ConstantController(0.2), 3, 0.1, initial_qvel=v, device="cpu")
    assert runs[1].diverged and runs[1].reason == "non-finite qvel" and runs[1].n_frames == 0
    ref = rollout(arm, ConstantController(0.2), duration_s=0.1)
    for i in (0, 2):
        _close(runs[i], ref)


@needs_warp
def test_reset_worlds(arm) -> None:
    from mmbio.sim.rollout_warp import WarpBackend

    be = WarpBackend(arm, 2, device="cpu")
    be.step(np.full(arm.model.nu, 0.5), 5)
    moved = be.state()
    be.reset_worlds(np.array([False, True]))
    st = be.state()
    np.testing.assert_array_equal(st.qpos[0], moved.qpos[0])
    np.testing.assert_allclose(st.qpos[1], arm.model.qpos0, atol=1e-6)
    assert st.time[1] == 0.0 and np.all(st.act[1] == 0) and st.time[0] > 0


@needs_warp
def test_myofullbody_parity_njmax_512() -> None:
    body = load_model("myofullbody", "full")
    runs = rollout_warp(body, ConstantController(0.1), 2, 0.2, device="cpu", njmax=512)  # 200 steps of 1 ms
    assert runs[0].notes["njmax"] == 512
    ref = rollout(body, ConstantController(0.1), duration_s=0.2)
    for w in runs:
        _close(w, ref)
