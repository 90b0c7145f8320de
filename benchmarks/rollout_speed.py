"""Rollout throughput against raw ``mj_step`` (issue 4, Speed): physics steps per second, same process.

Rows (all on the same model, from the same initial state, ``--seconds`` of simulated time each):

* raw mj_step, 1 thread: a bare Python loop of ``mj_step`` with no recording (the reference);
* rollout, closed loop (Python ``mj_step`` loop, controller queried at 100 Hz, states recorded at 100 Hz);
* rollout, open loop (``mujoco.rollout`` in C, recording at 100 Hz);
* + extract: the same closed-loop rollout plus ``mmbio.sim.extract.extract_signals(rollout)`` (or ``extract``)
  when that module exists;
* rollout_batch on 1 and 2 threads (open loop; n = 2 × threads trajectories) against raw mj_step on as many threads;
* Warp on its CPU device with a few worlds (if mujoco_warp is installed; kernels compiled before timing).

Run: ``python benchmarks/rollout_speed.py [--model myofullbody --variant full --seconds 2 --warp-worlds 4]``.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import mujoco
import numpy as np

from mmbio.models.registry import load_model
from mmbio.sim.controller import CallableController, ConstantController
from mmbio.sim.rollout_cpu import initial_state, rollout, rollout_batch


def raw_steps_per_s(model: mujoco.MjModel, n_steps: int, n_threads: int = 1) -> float:
    """Bare ``mj_step`` loops, one ``MjData`` per thread, 0.1 constant excitation."""
    q0, v0, a0 = initial_state(model)
    datas = []
    for _ in range(n_threads):
        d = mujoco.MjData(model)
        d.qpos[:], d.qvel[:], d.act[:], d.ctrl[:] = q0, v0, a0, 0.1
        datas.append(d)

    def run(d: mujoco.MjData) -> None:
        for _ in range(n_steps):
            mujoco.mj_step(model, d)

    t = time.perf_counter()
    threads = [threading.Thread(target=run, args=(d,)) for d in datas]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return n_threads * n_steps / (time.perf_counter() - t)


def timed(fn, n_steps: int) -> float:
    t = time.perf_counter()
    fn()
    return n_steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="myofullbody")
    ap.add_argument("--variant", default="full")
    ap.add_argument("--seconds", type=float, default=2.0, help="simulated seconds per measurement")
    ap.add_argument("--warp-worlds", type=int, default=4)
    ap.add_argument("--warp-seconds", type=float, default=0.2)
    args = ap.parse_args()

    info = load_model(args.model, args.variant)
    m = info.model
    n = round(args.seconds / m.opt.timestep)
    nu = m.nu
    print(
        f"{info.name}/{info.variant}: nq {m.nq}, nu {nu}, timestep {m.opt.timestep} s, {n} steps per run, "
        f"mujoco {mujoco.__version__}, {os.cpu_count()} CPUs"
    )

    rows: list[tuple[str, float, float]] = []  # label, steps/s, reference steps/s
    raw1 = raw_steps_per_s(m, n)
    rows.append(("raw mj_step, 1 thread", raw1, raw1))
    closed = CallableController(lambda obs: np.full(nu, 0.1))
    const = ConstantController(0.1)
    kw = dict(duration_s=args.seconds, control_hz=100, record_hz=100)
    rows.append(("rollout closed loop (mj_step), rec 100 Hz", timed(lambda: rollout(info, closed, **kw), n), raw1))
    rows.append(("rollout open loop (mujoco.rollout), rec 100 Hz", timed(lambda: rollout(info, const, **kw), n), raw1))
    try:
        from mmbio.sim import extract as extract_mod
    except ImportError:
        extract_mod = None
    extract = getattr(extract_mod, "extract", None) or getattr(extract_mod, "extract_signals", None)
    if extract is None:
        print("mmbio.sim.extract has no extract()/extract_signals(): extraction not included")
    if extract is not None:

        def with_extract() -> None:
            extract(rollout(info, closed, **kw))

        try:
            rows.append(("rollout closed loop + extract()", timed(with_extract, n), raw1))
        except Exception as exc:  # extraction is another module's work in progress: report, don't hide
            print(f"extract(rollout) failed: {type(exc).__name__}: {exc}")

    for threads in (1, 2):
        raw = raw1 if threads == 1 else raw_steps_per_s(m, n, threads)
        if threads > 1:
            rows.append((f"raw mj_step, {threads} threads", raw, raw))
        nb = 2 * threads
        sps = timed(lambda nb=nb, threads=threads: rollout_batch(info, const, nb, n_threads=threads, **kw), nb * n)
        rows.append((f"rollout_batch open loop, {threads} thread(s), n={nb}", sps, raw))
        sps = timed(lambda nb=nb, threads=threads: rollout_batch(info, closed, nb, n_threads=threads, **kw), nb * n)
        rows.append((f"rollout_batch closed loop, {threads} thread(s), n={nb}", sps, raw))

    try:
        from mmbio.sim.rollout_warp import WarpBackend, rollout_warp, warp_available
    except ImportError:
        warp_available = None
    if args.warp_worlds > 0 and warp_available is not None and warp_available():
        import warp as wp

        wp.config.quiet = True
        nw = args.warp_worlds
        be = WarpBackend(m, nw, njmax=512 if m.nv > 100 else None, device="cpu")
        t = time.perf_counter()
        be.step(np.full(nu, 0.1), 1)
        be.synchronize()
        print(f"warp: first step (kernel load/compile) {time.perf_counter() - t:.1f} s")
        nwarp = round(args.warp_seconds / m.opt.timestep)
        sps = timed(lambda: rollout_warp(m, const, nw, args.warp_seconds, backend=be), nw * nwarp)
        rows.append((f"rollout_warp, Warp CPU device, {nw} worlds", sps, raw1))
    else:
        print("Warp row skipped (mujoco_warp not installed or --warp-worlds 0)")

    print(f"\n{'':50s} {'steps/s':>10s} {'× raw':>7s}")
    for label, sps, ref in rows:
        print(f"{label:50s} {sps:10.0f} {sps / ref:7.2f}")
    print("(× raw: against raw mj_step on the same number of threads)")


if __name__ == "__main__":
    main()
