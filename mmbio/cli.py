"""The ``mmbio`` command: a thin shell over the library.

Expected bad input (a missing or broken file, an unknown reference, no gait cycle) prints one line
``mmbio: error: <file>: <problem>`` on stderr and exits with status 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mmbio import __version__
from mmbio.errors import MmbioError

EXIT_BAD_INPUT = 2

METRICS_SCHEMA = "mmbio.metrics/1"


def _cmd_validate(args: argparse.Namespace) -> int:
    from mmbio.analysis.basic import compare
    from mmbio.io.loader import load_trial
    from mmbio.reference.registry import get_reference, load_curves, parse_spec

    trial = load_trial(args.trial, grf=args.grf, emg=args.emg, mass_kg=args.mass, speed_m_s=args.speed)
    name, condition = parse_spec(args.reference)
    ref = get_reference(name)
    curves = load_curves(name, condition)
    result = compare(trial, curves)
    sub = trial.subject
    doc = {
        "schema": METRICS_SCHEMA,
        "mmbio_version": __version__,
        "trial": {
            "name": trial.name,
            "source": trial.source,
            "kind": trial.kind,
            "events_source": trial.events.source,
            "subject": {
                "mass": {"value": _finite(sub.mass_kg), "units": "kg"},
                "height": {"value": _finite(sub.height_m), "units": "m"},
                "speed": {"value": _finite(sub.speed_m_s), "units": "m/s"},
            },
            "notes": list(trial.notes),
        },
        "reference": {"name": name, "condition": condition, "citation": ref.citation},
        **result.to_json_dict(),
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(format_table(doc))
        print(f"\nwrote {out / 'metrics.json'}")
    return 0


def _finite(x: float) -> float | None:
    return float(x) if x == x and abs(x) != float("inf") else None


def _fmt(q: dict | None, spec: str = ".3f") -> str:
    if not q or q.get("value") is None:
        return "n/a"
    return format(q["value"], spec)


def format_table(doc: dict) -> str:
    """Human-readable table of a metrics.json document."""
    t = doc["trial"]
    lines = [
        f"mmbio {doc['mmbio_version']}: {t['source']} vs {doc['reference']['name']}:{doc['reference']['condition']}",
        "",
        f"{'side':<6} {'joint angle':<22} {'r':>7} {'RMSE deg':>9} {'cycles':>7}",
    ]
    for side, joints in doc["kinematics"].items():
        for var, m in joints.items():
            lines.append(f"{side:<6} {var:<22} {_fmt(m['r']):>7} {_fmt(m['rmse'], '.1f'):>9} {m['n_cycles']:>7}")
    if not doc["kinematics"]:
        lines.append("(no joint angles compared)")
    lines += ["", f"{'side':<6} {'vertical GRF':<22} {'trial':>7} {'ref':>7}"]
    for side, g in doc["grf"].items():
        ref = g.get("reference", {})
        for k in ("first_peak_bw", "valley_bw", "second_peak_bw"):
            lines.append(f"{side:<6} {k:<22} {_fmt(g[k]):>7} {_fmt(ref.get(k)):>7}")
        lines.append(f"{side:<6} {'stance_time_s':<22} {_fmt(g['stance_time_s']):>7} {'':>7}")
    if not doc["grf"]:
        lines.append("(no GRF compared)")
    lines += [f"note: {n}" for n in doc.get("notes", [])]
    return "\n".join(lines)


def _cmd_reference(args: argparse.Namespace) -> int:
    from mmbio.reference.registry import format_reference_list, format_reference_show, parse_spec

    if args.ref_cmd == "list":
        print(format_reference_list())
    else:
        name, condition = parse_spec(args.spec)
        print(format_reference_show(name, condition))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from mmbio.io.loader import load_trial

    trial = load_trial(args.trial, grf=args.grf, emg=args.emg, mass_kg=args.mass)
    print(trial.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mmbio",
        description="Does a muscle-driven humanoid move like a human? Compare gait trials with experimental references.",
    )
    p.add_argument("--version", action="version", version=f"mmbio {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("validate", help="compare a trial with a reference dataset and write metrics.json")
    v.add_argument("trial", help="C3D file, or OpenSim .mot/.sto of joint angles")
    v.add_argument("--reference", "-r", default="schwartz2008:free", help="NAME[:CONDITION] (default schwartz2008:free)")
    v.add_argument("--output", "-o", default="mmbio-out", help="output directory (default mmbio-out)")
    v.add_argument("--format", choices=("human", "json"), default="human", help="what to print (default human)")
    _trial_options(v)
    v.add_argument("--speed", type=float, help="walking/running speed in m/s when the file has none")
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("reference", help="list or show the experimental reference datasets")
    rs = r.add_subparsers(dest="ref_cmd", required=True, metavar="ACTION")
    rs.add_parser("list", help="the available datasets with citation and conditions")
    show = rs.add_parser("show", help="provenance and variables of one dataset")
    show.add_argument("spec", metavar="NAME[:CONDITION]")
    r.set_defaults(func=_cmd_reference)

    i = sub.add_parser("info", help="what a trial file holds (channels, rates, events, subject)")
    i.add_argument("trial")
    _trial_options(i)
    i.set_defaults(func=_cmd_info)
    return p


def _trial_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grf", help="OpenSim .mot/.sto with the ground reaction forces (OpenSim trials)")
    p.add_argument("--emg", help="OpenSim .sto with EMG envelopes (OpenSim trials)")
    p.add_argument("--mass", type=float, help="body mass in kg (needed for body-weight units when the file has none)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MmbioError as e:
        print(f"mmbio: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
