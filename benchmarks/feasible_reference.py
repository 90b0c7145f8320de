"""Issue 14 §1, fourth pass: can a change of the measured stride's posture make it muscle-feasible for MyoFullBody?

The third pass (``benchmarks/muscles_only_road.py --part feasibility``) found that no activation pattern
reproduces the root-free demo's walked motion: static optimisation with free activations still needs reserves on
hip rotation, trunk axial rotation and the toes, the directions that hold the pelvis' yaw in stance. Human walkers
choose a foot progression angle, and the trunk counter-rotates against the pelvis; both change those moments
and the muscles' capacity for them. Here each variant of the Rajagopal (2016) stride is built exactly as the
root-free demo is (``checkpoints/build.py --root-free``: :func:`~mmbio.sim.measured_stride.stride_from_opensim`
with its foot lock, the root path corrected for dynamic consistency, the demo's settings), after a change of the
IK itself (constant offsets or scaled curves of named OpenSim coordinates, degrees), and measured:

* **SO reserves**: static optimisation with free activations (no activation dynamics) of the teacher's walked
  motion, one cycle (``run_checkpoint(..., static_opt=True)``): the reserve RMS per dof on the yaw and toe dofs
  and the sum over all dofs. 0 would mean some activation pattern reproduces the motion.
* **teacher**: the root-free tracking teacher with its reserves (reserve weight 100, 2 ms physics, 3 s asked):
  seconds up and its reserve RMS on the same dofs;
* **muscles only**: the teacher's excitations alone (its reserves not applied), seconds up.

Usage: ``python benchmarks/feasible_reference.py [--variant NAME ...] [--seconds 3]``. Results:
benchmarks/RESULTS.md, "Muscles only: a feasible stride? (fourth pass)".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checkpoints"))
import build as demo_build
import muscles_only_road as road

from mmbio.control.checkpoint import save_checkpoint
from mmbio.control.run import run_checkpoint, tracking_checkpoint
from mmbio.io.opensim import read_storage
from mmbio.io.opensim_write import write_storage
from mmbio.sim.measured_stride import stride_from_opensim

SHOWN = ["hip_rotation_r", "hip_rotation_l", "axial_rotation", "mtp_angle_r", "mtp_angle_l"]
#: name → {OpenSim coordinate: ("+", degrees) constant offset | ("*", factor) scale about the IK's own mean}
VARIANTS: dict[str, dict[str, tuple[str, float]]] = {
    "as measured (the demo)": {},
    "toes out 10° (hip rotation −10° both)": {"hip_rotation_r": ("+", -10.0), "hip_rotation_l": ("+", -10.0)},
    "toes in 10° (hip rotation +10° both)": {"hip_rotation_r": ("+", 10.0), "hip_rotation_l": ("+", 10.0)},
    "no trunk rotation on the pelvis (lumbar rotation × 0)": {"lumbar_rotation": ("*", 0.0)},
    "trunk counter-rotation × 2": {"lumbar_rotation": ("*", 2.0)},
    "pelvis rotation × 0.5": {"pelvis_rotation": ("*", 0.5)},
}


def changed_ik(src: Path, change: dict[str, tuple[str, float]], dest: Path) -> None:
    """Write ``src`` (an OpenSim ``.sto``, degrees or radians as its header says) with ``change`` applied."""
    sto = read_storage(src)
    data = np.array(sto.data, dtype=float)
    for coord, (op, val) in change.items():
        cols = [i for i, lab in enumerate(sto.columns) if lab == coord or lab.endswith(f"/{coord}/value")]
        if len(cols) != 1:
            raise SystemExit(f"{src}: coordinate {coord} not found once in the labels")
        c = cols[0]
        if op == "+":
            data[:, c] += val if sto.in_degrees else np.radians(val)
        else:
            mean = data[:, c].mean()
            data[:, c] = mean + val * (data[:, c] - mean)
    write_storage(dest, dataclasses.replace(sto, data=data), in_degrees=sto.in_degrees)


def rms_of(names: list[str], values: np.ndarray, wanted: list[str]) -> list[float]:
    v = np.asarray(values, float)
    r = np.sqrt(np.mean(v**2, axis=0))
    return [float(r[names.index(n)]) if n in names else float("nan") for n in wanted]


def measure(name: str, change: dict[str, tuple[str, float]], seconds: float, work: Path) -> str:
    t0 = time.perf_counter()
    ref = demo_build.SHARED / "rajagopal2016_walk"
    ik = ref / "coordinates.sto"
    if change:
        ik = work / "coordinates.sto"
        changed_ik(ref / "coordinates.sto", change, ik)
    motion = stride_from_opensim(ik, ref / "grf_walk.mot", variant="nofingers")
    ck = tracking_checkpoint(motion, demo_build.ROOT_FREE_SETTINGS, metadata={"description": name})
    path = save_checkpoint(ck, work / "variant.pkl")
    r = run_checkpoint(str(path), cycles=1, static_opt=True)
    so = r.static_opt
    if so is None:  # the teacher fell (or diverged) inside the cycle: no walked cycle to optimise
        why = f"n/a: the teacher fell at {r.rollout.time[-1]:.2f} s" if r.fell else "n/a: no simulated GRF"
        so_rms, so_all, at_full = [float("nan")] * len(SHOWN), why, why
    else:
        so_rms = rms_of(list(so.reserve_names), so.reserves, SHOWN)
        so_all = f"{np.sqrt(np.mean(np.sum(np.asarray(so.reserves, float) ** 2, axis=1))):.1f}"
        at_full = f"{np.mean(np.sum(np.asarray(so.activations) > 0.99, axis=1)):.1f}"
    # the teacher at 2 ms with reserve weight 100, as the third pass, and its excitations alone
    su = road.Setup(ck)
    _, teach = road.run(su, seconds, road.scaled(1.0))
    t_rms = rms_of(list(teach.reserve_names), teach.reserves, SHOWN)
    _, alone = road.run(su, seconds, road.scaled(0.0))
    cells = " | ".join(f"{a:.1f} / {b:.1f}" for a, b in zip(so_rms, t_rms, strict=True))
    return (
        f"| {name} | {cells} | {so_all} | {at_full} | {road.up_s(teach):.2f} | {road.up_s(alone):.2f} | "
        f"{time.perf_counter() - t0:.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="repeatable; default all")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds asked of the teacher runs (default 3)")
    args = ap.parse_args()
    print(
        "\n| variant | "
        + " | ".join(f"{n} SO / teacher RMS N·m" for n in SHOWN)
        + " | SO reserves, all dofs, RMS N·m | muscles at a=1 (SO) | teacher up s | muscles only up s | wall s |"
    )
    print("|---|" + "---:|" * (len(SHOWN) + 5))
    for name in args.variant or list(VARIANTS):
        with tempfile.TemporaryDirectory() as d:
            print(measure(name, VARIANTS[name], args.seconds, Path(d)), flush=True)


if __name__ == "__main__":
    main()
