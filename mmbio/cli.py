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

def _cmd_validate(args: argparse.Namespace) -> int:
    from mmbio.analysis.ceiling import activity
    from mmbio.analysis.validate import validate
    from mmbio.io.loader import load_trial
    from mmbio.reference.registry import parse_spec
    from mmbio.report.pdf import write_curves_csv, write_metrics_json, write_report
    from mmbio.report.protocol import load_protocol

    trial = load_trial(
        args.trial,
        grf=args.grf,
        emg=args.emg,
        activations=args.activations,
        mass_kg=args.mass,
        speed_m_s=args.speed,
        episode=args.episode,
    )
    protocol = None if args.protocol == "none" else args.protocol
    reference = args.reference
    if reference is None:
        reference = load_protocol(protocol or "walking").reference
    name, condition = parse_spec(reference)
    if args.protocol is None:
        act = activity(name, condition)
        protocol = "running" if act and act[0] == "running" else "walking"
    result = validate(
        trial,
        f"{name}:{condition}",
        emg_reference=args.emg_reference,
        protocol=protocol,
        spm=not args.no_spm,
        seed=args.seed,
    )
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_metrics_json(result, out / "metrics.json")
    write_curves_csv(result, out / "curves.csv")
    if not args.no_pdf:
        write_report(result, out / "report.pdf", seed=args.seed)
    doc = json.loads((out / "metrics.json").read_text())
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(format_table(doc))
        written = ["metrics.json", "curves.csv"] + ([] if args.no_pdf else ["report.pdf"])
        print(f"\nwrote {', '.join(str(out / w) for w in written)}")
    return 1 if result.passed is False else 0


def _fmt(q: dict | None, spec: str = ".3f") -> str:
    if not q or q.get("value") is None:
        return "n/a"
    return format(q["value"], spec)


def format_table(doc: dict) -> str:
    """Human-readable summary of a metrics.json document: key metrics and the protocol verdict."""
    t = doc["trial"]
    ref = doc["reference"]
    lines = [f"mmbio {doc['provenance']['mmbio_version']}: {t['source']} vs {ref['name']}:{ref['condition']}", ""]
    kin = doc.get("kinematics", {})
    rows = [(s, v, m) for s, vs in kin.items() for v, m in vs.items() if m.get("r", {}).get("value") is not None]
    if rows:
        lines.append(f"{'side':<6} {'joint angle':<22} {'r':>7} {'RMSE deg':>9} {'ceiling r':>10}")
        for side, var, m in rows:
            ceil = m["r"].get("ceiling", {}).get("value")
            c = "n/a" if ceil is None else f"{ceil:.3f}"
            lines.append(f"{side:<6} {var:<22} {_fmt(m['r']):>7} {_fmt(m['rmse'], '.1f'):>9} {c:>10}")
    else:
        lines.append("(no joint angles compared)")
    grf = doc.get("grf", {})
    if grf:
        lines += ["", f"{'side':<6} {'vertical GRF':<24} {'trial':>7} {'ref':>7}"]
        for side, vs in grf.items():
            v, r = vs.get("vertical", {}), vs.get("vertical_reference", {})
            for k in ("first_peak_bw", "valley_bw", "second_peak_bw", "active_peak_bw", "stance_time_s", "double_peak"):
                if k in v and (v[k].get("value") is not None or k != "active_peak_bw"):
                    lines.append(f"{side:<6} {k:<24} {_fmt(v[k]):>7} {_fmt(r.get(k)):>7}")
    emg = doc.get("emg", {})
    rows = [(s, mu, m) for s, ms in emg.items() for mu, m in ms.items() if m.get("r", {}).get("value") is not None]
    if rows:
        lines += ["", f"{'side':<6} {'muscle vs EMG':<24} {'r':>7} {'lag ms':>7} {'ceiling r':>10}"]
        for side, mu, m in rows:
            ceil = m["r"].get("ceiling", {}).get("value")
            c = "n/a" if ceil is None else f"{ceil:.3f}"
            lines.append(f"{side:<6} {mu:<24} {_fmt(m['r']):>7} {_fmt(m.get('best_lag_ms'), '.0f'):>7} {c:>10}")
    proto = doc.get("protocol")
    if proto:
        counts: dict[str, int] = {}
        for c in proto["checks"]:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        verdict = "PASS" if proto["passed"] else "FAIL"
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        lines += ["", f"protocol {proto['name']}: {verdict} ({summary})"]
        lines += [
            f"  fail: {c['metric']} = {_fmt({'value': c.get('value')})} ({c.get('rule', '')})"
            for c in proto["checks"]
            if c["status"] == "fail"
        ]
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

    trial = load_trial(
        args.trial, grf=args.grf, emg=args.emg, activations=args.activations, mass_kg=args.mass, episode=args.episode
    )
    if Path(args.trial).suffix.lower() == ".npz":
        from mmbio.io.rollout_npz import archive_kind, format_episodes

        if archive_kind(args.trial) == "evalkit":
            print(format_episodes(args.trial) + "\n")
    print(trial.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mmbio",
        description="Does a muscle-driven humanoid move like a human? Compare gait trials with experimental references.",
    )
    p.add_argument("--version", action="version", version=f"mmbio {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser(
        "validate",
        help="compare a trial with a reference: report.pdf, metrics.json, curves.csv",
        description="Compare a trial with an experimental reference and judge it against a validation protocol. "
        "Exit status: 0 protocol passed, 1 protocol failed, 2 bad input.",
    )
    v.add_argument("trial", help="C3D file, OpenSim .mot/.sto of joint angles, or rollout .npz (mmbio or mm-evalkit)")
    v.add_argument("--reference", "-r", help="NAME[:CONDITION] (default: the protocol's reference)")
    v.add_argument("--protocol", "-p", help="validation protocol name or YAML file (default: walking or running "
                   "by the reference); 'none' for no checks")
    v.add_argument("--emg-reference", help="NAME[:CONDITION] for activation/EMG (default: --reference if it has EMG)")
    v.add_argument("--output", "-o", default="mmbio-out", help="output directory (default mmbio-out)")
    v.add_argument("--format", choices=("human", "json"), default="human", help="what to print (default human)")
    v.add_argument("--no-spm", action="store_true", help="skip SPM (statistical parametric mapping)")
    v.add_argument("--no-pdf", action="store_true", help="write metrics.json and curves.csv only")
    v.add_argument("--seed", type=int, default=0, help="seed of the synergy NMF restarts (default 0)")
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
    p.add_argument("--activations", help="OpenSim .sto with simulated muscle activations (e.g. written by mmbio)")
    p.add_argument("--mass", type=float, help="body mass in kg (needed for body-weight units when the file has none)")
    p.add_argument(
        "--episode",
        type=int,
        metavar="N",
        help="episode of an mm-evalkit rollout .npz (default: the longest complete one; the trial notes say which)",
    )


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
