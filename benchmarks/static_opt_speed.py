"""Static optimisation speed on MyoFullBody: frames/s on one core for 100 frames of the Rajagopal walk.

Modes: measured GRF applied at the COP; no external loads; GRF estimated (contact forces as unknowns,
``floor_z_m='auto'``); GRF estimated with exponent 3 (sequential QP).

Usage: ``python benchmarks/static_opt_speed.py [path/to/rajagopal2016_walk]`` (default
``../shared/reference/rajagopal2016_walk``). Pin one core with ``taskset -c 0`` and
``OMP_NUM_THREADS=1``. Target (issue 5): ≥ 100 frames/s. Prints a table with the osqp version.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from mmbio.control.static_opt import StaticOptimiser, static_optimisation  # noqa: E402
from mmbio.io.opensim import read_opensim_grf, read_storage  # noqa: E402
from mmbio.sim.motion import motion_from_opensim  # noqa: E402

N_FRAMES = 100


def main(ref: Path) -> None:
    motion = motion_from_opensim(ref / "coordinates.sto", floor="global")
    grf = read_opensim_grf(ref / "grf_walk.mot")
    t0 = float(read_storage(ref / "coordinates.sto").time[0])
    frames = slice(10, 10 + N_FRAMES)
    t = time.perf_counter()
    opt = StaticOptimiser(motion.mj_model())
    setup_s = time.perf_counter() - t
    opt_c = StaticOptimiser(motion.mj_model(), contacts=True)
    opt_c3 = StaticOptimiser(motion.mj_model(), contacts=True, exponent=3)
    rows = []
    modes = (
        ("measured GRF", grf, opt, {}),
        ("no external loads", None, opt, {"contacts": False}),
        ("GRF estimated", None, opt_c, {}),
        ("GRF estim., p = 3", None, opt_c3, {}),
    )
    for label, g, o, kw in modes:
        static_optimisation(motion, grf=g, t0_s=t0, frames=slice(0, 3), optimiser=o, **kw)  # warm-up
        t = time.perf_counter()
        res = static_optimisation(motion, grf=g, t0_s=t0, frames=frames, optimiser=o, **kw)
        wall = time.perf_counter() - t
        bad = sum(s not in ("solved", "solved inaccurate") for s in res.status)
        qps = float(np.mean(res.sqp_iterations)) if res.sqp_iterations is not None else 1.0
        rows.append((label, N_FRAMES / wall, 1000 * wall / N_FRAMES, 1000 * float(np.mean(res.solve_time_s)),
                     res.residual_force_rms_bw, res.residual_moment_rms_nm, bad, qps))  # fmt: skip
    print(f"static optimisation, MyoFullBody ({opt.n_mus} muscles, {opt.n_ind} independent dofs), {N_FRAMES} frames")
    print(f"osqp {opt.osqp_version}, mujoco {mujoco.__version__}, python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}; setup {setup_s:.2f} s (once)")  # fmt: skip
    print(
        f"{'mode':<18} {'frames/s':>9} {'ms/frame':>9} {'osqp ms':>8} {'resid F (BW)':>13} {'resid M (N·m)':>14} "
        f"{'unsolved':>9} {'QPs/frame':>10}"
    )
    for r in rows:
        print(f"{r[0]:<18} {r[1]:>9.1f} {r[2]:>9.2f} {r[3]:>8.2f} {r[4]:>13.3f} {r[5]:>14.1f} {r[6]:>9d} {r[7]:>10.1f}")
    print("target: >= 100 frames/s on one core")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "rajagopal2016_walk"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
