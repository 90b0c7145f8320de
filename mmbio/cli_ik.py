"""``mmbio ik TRIAL.c3d|.trc``: marker inverse kinematics on MyoFullBody (:mod:`mmbio.sim.ik`).

Writes the joint angles as an OpenSim ``.mot`` (``--output``, default ``<trial>_ik.mot``) and, with ``--motion``,
the :class:`~mmbio.sim.motion.Motion` as ``.npz`` (for ``mmbio train --motion`` / the tracking controller). Prints
the marker error, the speed and the notes (n/a joints and why, gaps, registered markers). Bad input (names matching
no marker set, wrong units, an unreadable file) is one line naming the file, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_ik_parser", "cmd_ik"]


def add_ik_parser(sub: Any) -> None:
    """Register ``ik`` on the subparsers ``sub`` of :func:`mmbio.cli.build_parser`."""
    from mmbio.cli import _float_in
    from mmbio.sim.ik import MAX_GAP_S

    p = sub.add_parser(
        "ik",
        help="marker inverse kinematics on MyoFullBody: TRC/C3D markers -> OpenSim .mot (and a Motion .npz)",
        description="Weighted marker least squares per frame (joint ranges and MyoFullBody's joint equalities "
        "held, warm start, gaps skipped per frame) with the marker set matching the file's names "
        "(mmbio/models/data/marker_sets.yaml). With --static, MyoFullBody is scaled to the subject's static trial and "
        "its markers placed there first (OpenSim Scale tool; mmbio.sim.scaling); else unscaled. "
        "Exit status: 0 done, 2 bad input.",
    )
    p.add_argument("trial", help=".trc (OpenSim convention, Units header honoured) or .c3d with marker trajectories")
    p.add_argument("--model", default="myofullbody", help="registry model (default myofullbody)")
    p.add_argument("--variant", help="model variant (default: the registry's default, nofingers)")
    p.add_argument("--marker-set", help="marker set name (default: the one matching most marker names)")
    p.add_argument("--output", "-o", help="output .mot (default: <trial stem>_ik.mot in the working folder)")
    p.add_argument("--motion", help="also write the Motion as .npz here")
    p.add_argument("--static", help="static trial (.c3d/.trc) of the same subject: scale the model and place markers")
    p.add_argument("--mass", type=_float_in(20.0, 300.0, "kg"), help="subject mass for --static (default: its C3D)")
    p.add_argument(
        "--no-register", action="store_true", help="use the table's offsets for cluster markers too (no per-trial fit)"
    )
    p.add_argument(
        "--max-gap",
        type=_float_in(0.0, 3600.0, "s"),
        default=MAX_GAP_S,
        help=f"gaps longer than this are named in the notes (s, default {MAX_GAP_S:g})",
    )
    p.set_defaults(func=cmd_ik)


def cmd_ik(args: argparse.Namespace) -> int:
    from mmbio.sim.ik import marker_ik, write_ik_mot

    scaled = None
    if args.static:
        from mmbio.sim.scaling import scale_for_subject

        scaled = scale_for_subject(args.static, args.marker_set, args.mass, model=args.model, variant=args.variant)
        for note in scaled.notes:
            print(f"  - {note}")
    res = marker_ik(
        args.trial,
        model=args.model,
        variant=args.variant,
        marker_set=args.marker_set,
        register=not args.no_register,
        max_gap_s=args.max_gap,
        scaled=scaled,
    )
    out = Path(args.output) if args.output else Path(f"{Path(args.trial).stem}_ik.mot")
    write_ik_mot(res, out)
    print(res.summary())
    for note in res.notes:
        print(f"  - {note}")
    print(f"wrote {out}")
    if args.motion:
        res.motion.save(args.motion)
        print(f"wrote {args.motion}")
    return 0
