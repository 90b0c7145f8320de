"""``mmbio track TRIAL``: a tracking-controller checkpoint from a subject's own measured walk.

The trial's motion is made one periodic stride (:mod:`mmbio.sim.measured_stride`): a C3D through mmbio's marker
IK (scaled to ``--static``) with the trial's own gait events, or an OpenSim IK ``.mot``/``.sto`` with its ``--grf``.
The contact-consistent muscle tracking controller (:mod:`mmbio.control.tracking`) then loops it; ``mmbio validate
OUT.pkl`` rolls it out. When the file name says which subject of a shipped reference it is (``2014001_C4_05.c3d`` →
``schreiber2019:c4/2014001``) or ``--reference`` names one, the checkpoint records it, and ``mmbio validate`` compares
the simulation with *that subject's* curves and EMG by default (subject-specific; its kinematics are flagged as by
construction). ``--motion`` also writes the stride for ``mmbio train --motion`` (the imitation environment).
The model is MyoFullBody's ``'corrected'`` variant (the shoulder phantom bodies' inertia lowered,
:mod:`mmbio.models.inertia_audit`), as for the committed demos; ``--variant nofingers`` tracks on the stock model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_track_parser", "cmd_track"]

#: Controller settings for a measured stride (checkpoints/build.py explains both; the demo uses them).
MEASURED_TOUCHDOWN_M = 0.02
MEASURED_RELEASE_M = 0.006


def add_track_parser(sub: Any) -> None:
    """Register ``track`` on the subparsers ``sub`` of :func:`mmbio.cli.build_parser`."""
    from mmbio.cli import _float_in

    p = sub.add_parser(
        "track",
        help="a muscle tracking-controller checkpoint from a measured walk (C3D markers and events, or OpenSim IK + GRF)",
        description="One periodic stride of the trial on MyoFullBody (marker IK with the trial's events, or OpenSim "
        "IK with force plates), tracked by the contact-consistent muscle tracking controller; the checkpoint goes "
        "to mmbio validate. A file named after a subject of a shipped reference (2014001_C4_05.c3d) is validated "
        "against that subject by default. Exit status: 0 written, 2 bad input.",
    )
    p.add_argument("trial", help=".c3d with markers and gait events, or an OpenSim IK .mot/.sto (with --grf)")
    p.add_argument("--output", "-o", required=True, help="checkpoint .pkl to write")
    p.add_argument("--static", help="the subject's static trial (.c3d/.trc): scale the IK model, place markers")
    p.add_argument("--mass", type=_float_in(20.0, 300.0, "kg"), help="subject mass for --static (default: its C3D)")
    p.add_argument("--grf", help="OpenSim IK input: the trial's force plates (.mot), one force per foot")
    p.add_argument(
        "--reference",
        "-r",
        help="NAME:COND/SUBJECT the trial belongs to (default: from the file name, when it names a shipped subject)",
    )
    p.add_argument("--motion", help="also write the periodic stride (Motion .npz) for mmbio train --motion")
    p.add_argument(
        "--variant",
        choices=["corrected", "nofingers"],
        default="corrected",
        help="MyoFullBody variant (default corrected: the shoulder phantoms' inertia lowered; nofingers: as shipped)",
    )
    p.add_argument(
        "--touchdown",
        type=_float_in(0.0, 0.1, "m"),
        default=MEASURED_TOUCHDOWN_M,
        help=f"plan a contact when the reference foot is this low (m, default {MEASURED_TOUCHDOWN_M:g})",
    )
    p.add_argument(
        "--release",
        type=_float_in(0.0, 0.05, "m"),
        default=MEASURED_RELEASE_M,
        help=f"release a lifting toe over this height (m, default {MEASURED_RELEASE_M:g})",
    )
    p.set_defaults(func=cmd_track)


def cmd_track(args: argparse.Namespace) -> int:
    from mmbio.control.checkpoint import save_checkpoint
    from mmbio.control.run import tracking_checkpoint
    from mmbio.control.tracking_settings import TrackingSettings
    from mmbio.errors import DataFileError, MmbioError
    from mmbio.reference.registry import find_subject_reference, parse_spec, split_condition

    trial = Path(args.trial)
    if not trial.is_file():
        raise DataFileError(args.trial, "no such file")
    if args.reference:
        parse_spec(args.reference)  # an unknown dataset, condition or subject fails before the IK
    suffix = trial.suffix.lower()
    if suffix in (".mot", ".sto"):
        if not args.grf:
            raise MmbioError(f"{args.trial}: an OpenSim IK file needs --grf (the trial's force plates, .mot)")
        from mmbio.sim.measured_stride import stride_from_opensim

        motion = stride_from_opensim(trial, args.grf, variant=args.variant)
    elif suffix == ".trc":
        raise DataFileError(args.trial, "a .trc holds markers but no gait events or force plates; mmbio track needs "
                            "a .c3d with Foot Strike/Foot Off events, or an OpenSim IK .mot/.sto with --grf")  # fmt: skip
    elif suffix == ".c3d":
        if args.grf:
            raise MmbioError(f"{args.trial}: --grf is for OpenSim IK input; a {suffix} trial has its own events")
        from mmbio.sim.measured_stride import stride_from_c3d

        motion = stride_from_c3d(trial, static=args.static, mass_kg=args.mass, variant=args.variant)
    else:
        raise DataFileError(args.trial, "not a .c3d, .mot or .sto file")
    ref = args.reference or find_subject_reference(trial.name)
    meta: dict[str, Any] = {"built_by": "mmbio track", "source_trial": trial.name}
    if ref:
        name, cond = parse_spec(ref)  # an unknown dataset, condition or subject: one line, exit 2
        base, subject = split_condition(cond)
        ref = f"{name}:{cond}"
        meta["reference"] = ref
        if subject is not None:
            meta["subject"] = subject
            # named in the motion, so that validating against this dataset is flagged as by construction
            motion.notes.append(f"built from {name} subject {subject} ({base}): {trial.name}")
    speed = -(motion.qpos[-1, 1] - motion.qpos[0, 1]) / motion.duration
    meta["speed_m_s"] = round(float(speed), 3)
    meta["description"] = (
        f"contact-consistent muscle tracking of one measured stride of {trial.name} at {speed:.2f} m/s, looped"
        + (f" (subject {meta['subject']} of {ref.split(':')[0]})" if "subject" in meta else "")
    )
    settings = TrackingSettings(touchdown_m=args.touchdown, release_m=args.release)
    ckpt = tracking_checkpoint(motion, settings, metadata=meta)
    out = save_checkpoint(ckpt, args.output)
    print(f"stride: {motion.n_frames - 1} frames at {motion.rate_hz:g} Hz, {speed:.2f} m/s ({motion.source})")
    for note in motion.notes:
        print(f"  - {note}")
    if args.motion:
        motion.save(args.motion)
        print(f"wrote {args.motion}")
    print(f"wrote {out}" + (f"; mmbio validate compares it with {ref} by default" if ref else ""))
    return 0
