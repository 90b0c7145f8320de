"""Build the demo checkpoint ``checkpoints/tracking_walk.pkl``: the contact-consistent muscle tracking controller
(:mod:`mmbio.control.tracking`) on MyoFullBody (no fingers, ``'corrected'``: the eight shoulder phantom bodies'
32-m radius of gyration lowered, :mod:`mmbio.models.inertia_audit`) along one *measured* adult stride, looped: the
Rajagopal et al. (2016) overground walk (OpenSim IK ``coordinates.sto`` and force plates ``grf_walk.mot``,
Apache-2.0), made periodic with a stance plan from the plates by
:func:`mmbio.sim.measured_stride.stride_from_opensim` (its notes say what was done: window, closure per joint, clock, foot-lock corrections, the GRF the result implies against the
plates). The validation references (``schwartz2008:free``, ``schreiber2019:c4``) are then independent of the
motion's source.

Controller settings: the defaults plus ``touchdown_m = 0.02`` and ``release_m = 0.006``. On this stride the default
settings walk 3 cycles but drift: the reference's heel, retargeted onto MyoFullBody, hovers ≈ 2 cm above the floor
for ≈ 0.1 s before touchdown, the simulated heel lands ≈ 50 ms early, that contact is unplanned (the controller
only pins a point the reference has on the floor), the foot slaps (ankle error 20–40°) and each touchdown brakes
the body: the pelvis fell behind the reference by up to 8 cm over 4.6 s. ``touchdown_m`` plans such an early
contact (a point on the floor in the simulation while its reference point is descending and below ``touchdown_m``): the
pelvis then stays within ≈ 2 cm of the reference. ``release_m`` lets a toe that the reference lifts off go
gradually over its first 6 mm instead of in one step, which put 300–700 N·m spikes into the lumbar and hip
reserves at each toe off (lumbar reserve RMS 82 → 56 N·m, hip flexion 45 → 24 N·m; spikes of 250–470 N·m
remain). Neither is a default: on the synthesised walk each alone changed a 2.4 s run little, together they
destabilise it after 2.5 s. Since the arms hold a relaxed posture instead of ``qpos0`` (which put the humeri
inside the thorax), 0.03 m let one toe-off in the fourth cycle sink 19 mm into the floor (residual peak 2.3 kN at
4.39 s); over 4.6 s, touchdown_m 0.02 gave a root residual of 0.046 BW RMS (peak 149 N), 0.025 and 0.03 the same
toe-off failure, 0.035 0.049 BW (peak 179 N): the controller is that sensitive to this
setting. (These settings were chosen on the stock ``'nofingers'`` model; on ``'corrected'``, the committed demo
since issue 14's seventh pass, they walk the validation's 4.6 s with a root residual of 0.030 BW RMS, against 0.046
on stock, ``benchmarks/RESULTS.md``.) Limits (measured with qpos0 arms and 0.03 m): the gait holds ≈ 5 s (4
cycles); beyond, the pelvis pitches forward and falls behind the reference (≈ 12 cm, residual force 0.2 BW RMS by
8 s; it did not fall).

``python checkpoints/build.py --root-free`` builds ``checkpoints/tracking_walk_rootfree.pkl``: the same stride and
controller with no force ever on the pelvis (``root_residual='none'``), the reference's root path corrected for
dynamic consistency (4 iterations, stored in the checkpoint; ≈ 3 min), joint and trunk weights of 100 and root
weights of 1000 (issue 14 §1; ``benchmarks/RESULTS.md``, "A root-free teacher, second pass" and "Sixth pass": on
the stock model root weights of 100 held the pelvis, whose trunk carried the phantoms' 8 kg·m²). It walks on its
contacts and muscles plus reserves; ``mmbio validate`` shows the comparison with the demo.

``python checkpoints/build.py --muscles-only`` builds ``checkpoints/tracking_walk_muscles.pkl``: the root-free
teacher with nothing but its muscles (issue 14 §1): no root residual and no reserve torque ever applied, the
receding-horizon muscle planner (6 stages, 20 ms; ``mmbio.control.muscle_mpc``), lateral foot placement
(``mmbio.control.placement``) and the training environment's 2 ms physics step, with the root-free checkpoint's root
correction (recomputed, ≈ 3 min). Its stride holds the subtalar joints at 0, as the IK does (Rajagopal's model
locks them): the foot lock's subtalar corrections rolled it over its stance foot at 6.4 s; without them it walks
8.35 s, seven gait cycles, at 1.25 m/s (``benchmarks/RESULTS.md``, "Eleventh pass", "Twelfth pass"). It is the
distillation teacher that needs no assistance, and at ≈ 0.2–0.35 s per control step it is slow (``mmbio validate``
of it takes ≈ 5 min).

``python checkpoints/build.py --synthesized`` builds the previous demo instead: one stride of the synthesised
1.25 m/s walk (:func:`mmbio.sim.motion.synthesize_motion`, Schwartz 2008 free-speed curves, foot-locked) with the
default settings, needing no ``../shared``; it is scored against its own source by ``schwartz2008:free``.

``--variant nofingers --out PATH`` builds either on the stock model (MuscleMimic's, root weights 100 when root-free)
for comparison.

Run from the repository root: ``python checkpoints/build.py`` (≈ 10 s; reads ``../shared/reference`` or
``$MMBIO_SHARED_REFERENCE``). ``tests/test_tracking.py`` checks that a rebuild reproduces the committed motion.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from mmbio.control.checkpoint import save_checkpoint
from mmbio.control.run import tracking_checkpoint
from mmbio.control.tracking_settings import TrackingSettings
from mmbio.sim.measured_stride import stride_from_opensim
from mmbio.sim.motion import Motion, synthesize_motion

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "checkpoints" / "tracking_walk.pkl"
SHARED = Path(os.environ.get("MMBIO_SHARED_REFERENCE", REPO.parent / "shared" / "reference"))
SPEED_M_S = 1.25  # the synthesised walk's
#: The demo's controller settings (see the module docstring for why the two early-touchdown/release settings).
MEASURED_SETTINGS = TrackingSettings(touchdown_m=0.02, release_m=0.006)
ROOT_FREE_OUT = REPO / "checkpoints" / "tracking_walk_rootfree.pkl"
#: The root-free variant's settings (``--root-free``)
ROOT_FREE_SETTINGS = replace(
    MEASURED_SETTINGS, root_residual="none", consistency_iterations=4, root_pos_hz=2.0, w_root_pos=100.0,
    root_rot_hz=5.0, w_root_rot=100.0, w_joint=100.0, w_upper=100.0,
)  # fmt: skip
#: ``--root-free --variant corrected``: without the stock model's 8 kg·m² of phantom inertia on the trunk the pelvis
#: drifts sideways and turns away at root weights of 100 (even ideal torques fall at 4.3 s); 1000 holds it
#: (benchmarks/RESULTS.md, "Sixth pass")
ROOT_FREE_CORRECTED_SETTINGS = replace(ROOT_FREE_SETTINGS, w_root_pos=1000.0, w_root_rot=1000.0)
#: ``--root-free`` settings per variant
ROOT_FREE_BY_VARIANT = {"nofingers": ROOT_FREE_SETTINGS, "corrected": ROOT_FREE_CORRECTED_SETTINGS}
MUSCLES_ONLY_OUT = REPO / "checkpoints" / "tracking_walk_muscles.pkl"
#: ``--muscles-only``: the root-free corrected teacher with nothing but its muscles: no reserve applied, the
#: receding-horizon planner (6 stages, 20 ms), lateral foot placement, at the training environment's 2 ms physics
#: step (benchmarks/RESULTS.md, issue 14 "Tenth pass" and "Eleventh pass")
MUSCLES_ONLY_SETTINGS = replace(
    ROOT_FREE_CORRECTED_SETTINGS, planner="muscle_mpc", mpc_stages=6, mpc_stage_s=0.02, reserves="none",
    reserve_weight=1.0, placement_kp=1.0, placement_kd=0.5, placement_tau_s=0.15, physics_dt=0.002,
)  # fmt: skip


#: ``--muscles-only``: why its stride holds the subtalar joints at 0 (benchmarks/RESULTS.md, "Twelfth pass")
MUSCLES_ONLY_HELD_WHY = (
    "as in the IK: Rajagopal's model locks them; the foot lock's subtalar corrections, -6 deg in stance and a "
    "+15 deg spike at toe off, rolled the muscles-only teacher over its stance foot"
)

#: The committed demos' MyoFullBody variant
VARIANT = "corrected"


def measured_motion(shared: Path = SHARED, variant: str = VARIANT) -> Motion:
    """The demo's reference: one periodic stride of the Rajagopal walk on MyoFullBody (no fingers; ``variant``
    ``'corrected'``, the default: with the shoulder phantom bodies' inertia corrected,
    :mod:`mmbio.models.inertia_audit`; ``'nofingers'``: the stock model)."""
    ref = shared / "rajagopal2016_walk"
    return stride_from_opensim(ref / "coordinates.sto", ref / "grf_walk.mot", variant=variant)


def build(out: Path = OUT, *, synthesized: bool = False, shared: Path = SHARED, root_free: bool = False,
          variant: str = VARIANT, muscles_only: bool = False) -> Path:  # fmt: skip
    if synthesized:
        motion = synthesize_motion(speed_m_s=SPEED_M_S, gait="walk", n_cycles=1)
        ckpt = tracking_checkpoint(
            motion,
            metadata={
                "description": "contact-consistent muscle tracking of a synthesised 1.25 m/s walk (one stride, "
                "looped; Schwartz 2008 free-speed curves)",
                "built_by": "checkpoints/build.py --synthesized",
                "speed_m_s": SPEED_M_S,
            },
        )
        return save_checkpoint(ckpt, out)
    motion = measured_motion(shared, variant)
    speed = -(motion.qpos[-1, 1] - motion.qpos[0, 1]) / motion.duration
    if muscles_only:
        from mmbio.control.consistency import root_correction

        # the root-free teacher's correction (computed with its two-QP planner, ≈ 3 min; the MPC would take hours)
        corr = root_correction(motion, motion.mj_model(), ROOT_FREE_CORRECTED_SETTINGS)
        held = motion.with_joints_held([f"subtalar_angle_{side}" for side in "rl"], why=MUSCLES_ONLY_HELD_WHY)
        ckpt = tracking_checkpoint(
            held, MUSCLES_ONLY_SETTINGS, root_correction=corr,
            metadata={
                "description": f"muscles only: contact-consistent muscle tracking of a measured adult walk at "
                f"{speed:.2f} m/s (one stride of the Rajagopal 2016 overground walk, looped) with no root residual "
                "and no reserve applied: a receding-horizon muscle plan and lateral foot placement",
                "built_by": "checkpoints/build.py --muscles-only", "speed_m_s": round(float(speed), 3),
                "source": "Rajagopal et al. (2016) IEEE TBME 63:2068-2079, OpenSim example3DWalking (Apache-2.0)",
            },
        )  # fmt: skip
        return save_checkpoint(ckpt, out)
    ckpt = tracking_checkpoint(
        motion,
        ROOT_FREE_BY_VARIANT[variant] if root_free else MEASURED_SETTINGS,
        metadata={
            "description": f"demo: contact-consistent muscle tracking of a measured adult walk at {speed:.2f} m/s "
            "(one stride of the Rajagopal 2016 overground walk, IK + force plates, made periodic, looped)"
            + ("; no root residual: the pelvis is carried by the contacts alone" if root_free else ""),
            "built_by": "checkpoints/build.py"
            + (" --root-free" if root_free else "")
            + (f" --variant {variant}" if variant != VARIANT else ""),
            "speed_m_s": round(float(speed), 3),
            "source": "Rajagopal et al. (2016) IEEE TBME 63:2068-2079, OpenSim example3DWalking (Apache-2.0)",
        },
    )
    return save_checkpoint(ckpt, out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="default: checkpoints/tracking_walk.pkl (or …_rootfree.pkl)")
    ap.add_argument("--synthesized", action="store_true", help="the previous demo: the synthesised 1.25 m/s walk")
    ap.add_argument("--root-free", action="store_true", help="the same stride with no root residual")
    ap.add_argument("--muscles-only", action="store_true",
                    help="the same stride with no root residual and no reserve: muscles alone")  # fmt: skip
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared reference data folder")
    ap.add_argument(
        "--variant",
        default=VARIANT,
        choices=sorted(ROOT_FREE_BY_VARIANT),
        help="MyoFullBody variant of the measured stride (default corrected: shoulder phantom inertia fixed; "
        "nofingers: the stock model)",
    )
    a = ap.parse_args()
    if a.synthesized and (a.root_free or a.muscles_only or a.variant != VARIANT):
        ap.error("--root-free, --muscles-only and --variant apply to the measured stride")
    if a.muscles_only and (a.root_free or a.variant != VARIANT):
        ap.error(f"--muscles-only is the root-free teacher on {VARIANT} with nothing but its muscles")
    if a.variant != VARIANT and a.out is None:
        ap.error(f"--variant {a.variant} needs --out (the committed checkpoints are on {VARIANT})")
    out = a.out or (MUSCLES_ONLY_OUT if a.muscles_only else ROOT_FREE_OUT if a.root_free else OUT)
    print(build(out, synthesized=a.synthesized, shared=a.shared, root_free=a.root_free, variant=a.variant,
                muscles_only=a.muscles_only))  # fmt: skip
