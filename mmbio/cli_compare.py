"""``mmbio compare A B [C …]``: several policies (checkpoints, rollout archives, trials) ranked on one reference.

Every input is checked before any work (a missing file is one line, exit 2), then validated on its own
(checkpoints rolled out first; an mm-evalkit archive with several episodes pools them), then compared
(:mod:`mmbio.analysis.compare`). Writes ``compare.csv`` (the ranking), ``tests.csv`` (paired tests),
``compare.json`` (everything) and ``report.pdf`` into ``--output``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from mmbio.errors import DataFileError, MmbioError, printable

__all__ = ["add_compare_parser", "cmd_compare"]

DEFAULT_OUTPUT = "mmbio-compare"
MAX_INPUTS = 12


def add_compare_parser(sub: Any) -> None:
    """Register ``compare`` on the subparsers ``sub`` of :func:`mmbio.cli.build_parser`."""
    from mmbio.cli import MASS_RANGE_KG, MAX_CYCLES, MAX_SEED, _float_in, _int_in

    c = sub.add_parser(
        "compare",
        help="rank several policies/trials on one reference: report.pdf, compare.csv, tests.csv, compare.json",
        description="Validate every input against the same reference and rank them on kinematic fidelity, GRF "
        "shape, activation-EMG r and the redundancy gap, with paired Wilcoxon tests over joints and muscles "
        "(Holm-corrected) and representational similarity (RSA) of the activation patterns. Exit status: 0 "
        "compared, 2 bad input, 130 interrupted.",
    )
    c.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="2 or more: checkpoint .pkl or MuscleMimic checkpoint_N folder (rolled out), rollout .npz (mmbio or "
        "mm-evalkit; several episodes are pooled), C3D or OpenSim .mot trial",
    )
    c.add_argument(
        "--reference", "-r", default="schwartz2008:free", help="NAME[:CONDITION] (default schwartz2008:free)"
    )
    c.add_argument("--emg-reference", help="NAME[:CONDITION] for activation/EMG (default: --reference if it has EMG)")
    c.add_argument("--labels", help="comma-separated names of the inputs in the report (default: their file names)")
    c.add_argument("--output", "-o", default=DEFAULT_OUTPUT, help=f"output folder (default {DEFAULT_OUTPUT})")
    c.add_argument("--overwrite", action="store_true", help="replace results of other inputs in the output folder")
    c.add_argument("--no-pdf", action="store_true", help="write the tables only")
    c.add_argument("--format", choices=("human", "json"), default="human", help="what to print (default human)")
    c.add_argument("--seed", type=_int_in(0, MAX_SEED), default=0, help="rollout and NMF seed (default 0)")
    c.add_argument("--cycles", type=_int_in(1, MAX_CYCLES), default=3, help="checkpoints: gait cycles (default 3)")
    c.add_argument("--motion", metavar="TRAJ.npz", help="MuscleMimic checkpoints: the reference motion they track")
    c.add_argument("--mass", type=_float_in(*MASS_RANGE_KG, "kg"), help="body mass in kg for inputs without one")
    c.set_defaults(func=cmd_compare)


def _labels(paths: list[str], given: str | None) -> list[str]:
    if given is not None:
        labels = [s.strip() for s in given.split(",")]
        if len(labels) != len(paths) or not all(labels) or len(set(labels)) != len(labels):
            raise MmbioError(f"--labels: {len(paths)} distinct non-empty names needed, got {printable(given, 200)!r}")
        return labels
    ps = [Path(p) for p in paths]
    labels = [p.stem if not p.name.startswith("checkpoint_") else f"{p.parent.name}/{p.name}" for p in ps]
    if len(set(labels)) < len(labels):  # same names in different folders: say which folder
        labels = [f"{p.parent.name}/{lab}" if labels.count(lab) > 1 else lab for p, lab in zip(ps, labels, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


def _check_inputs(paths: list[str]) -> None:
    from mmbio.cli import _check_input

    if len(paths) < 2:
        raise MmbioError(f"compare needs at least 2 inputs, got {len(paths)}")
    if len(paths) > MAX_INPUTS:
        raise MmbioError(f"compare takes at most {MAX_INPUTS} inputs, got {len(paths)}")
    seen: set[str] = set()
    for p in paths:
        _check_input(p)
        key = str(Path(p).resolve())
        if key in seen:
            raise DataFileError(p, "given twice")
        seen.add(key)


def _load(path: str, args: argparse.Namespace) -> tuple[str, Any, Any]:
    """``(kind, trial, run or None)`` of one input (kind: checkpoint, archive, archive (N episodes pooled), trial)."""
    from mmbio.cli import _is_checkpoint, _ProgressBar
    from mmbio.io.loader import load_trial

    if _is_checkpoint(path):
        from mmbio.control.run import run_checkpoint

        bar = _ProgressBar(label=f"rollout {Path(path).name[:24]}")
        try:
            run = run_checkpoint(path, cycles=args.cycles, seed=args.seed, progress=bar, static_opt=False,
                                 motion=args.motion)  # fmt: skip
        finally:
            bar.close()
        return "checkpoint", run.trial, run
    if Path(path).suffix.lower() == ".npz":
        from mmbio.io.rollout_npz import archive_kind, list_episodes

        if archive_kind(path) == "evalkit" and len(list_episodes(path)) > 1:
            from mmbio.analysis.episodes import pool_trials
            from mmbio.io.rollout_npz import npz_episode_trials

            eps = npz_episode_trials(path, mass_kg=args.mass)
            trial = pool_trials([t for _, t in eps], [f"episode {e.index}" for e, _ in eps])
            return f"archive ({len(eps)} episodes pooled)", trial, None
        return "archive", load_trial(path, mass_kg=args.mass), None
    trial = load_trial(path, mass_kg=args.mass)
    if trial.markers is not None and trial.angles is None:  # a C3D without angles: marker IK, as validate does
        from mmbio.cli import _with_ik

        trial = _with_ik(trial, path, None)
    return "trial", trial, None


def _validate(path: str, trial: Any, run: Any, args: argparse.Namespace) -> Any:
    from mmbio.analysis.result import ValidationResult
    from mmbio.analysis.validate import trial_summary, validate
    from mmbio.cli import _has_cycle
    from mmbio.reference.registry import parse_spec

    name, cond = parse_spec(args.reference)
    if run is not None and run.fell and not _has_cycle(trial):
        # a controller that fell before one gait cycle: every criterion n/a, said so
        res = ValidationResult(trial=trial_summary(trial), reference={"name": name, "condition": cond})
        res.trial["fell"] = True
        res.trial["no_cycle"] = (f"the controller fell at {run.rollout.diverged_at_s:.2f} s ({run.rollout.reason}) "
                                 "before completing a gait cycle")  # fmt: skip
        return res
    res = validate(
        trial,
        f"{name}:{cond}",
        emg_reference=args.emg_reference,
        protocol=None,
        spm=False,
        seed=args.seed,
        simulation=run.credibility if run is not None else None,
        built_from=run.built_from if run is not None else (),
    )
    # a measured trial of one of the reference's own subjects: ranked on the common reference (as every input must
    # be), so it is scored partly against its own curves; said as a flag (validate alone leaves the subject out)
    from mmbio.cli import own_reference_subject

    sid = own_reference_subject(trial, path, name, cond)
    if sid is not None:
        res.trial["own_subject_in_reference"] = sid
    return res


def cmd_compare(args: argparse.Namespace) -> int:
    """The ``compare`` command (see the module docs)."""
    from mmbio import __version__
    from mmbio.analysis.compare import compare
    from mmbio.provenance import git_revision
    from mmbio.reference.registry import get_reference, parse_spec
    from mmbio.report.compare_report import (
        write_compare_csv,
        write_compare_json,
        write_compare_report,
        write_tests_csv,
    )
    from mmbio.report.output_dir import OutputDir

    paths = list(args.inputs)
    _check_inputs(paths)
    labels = _labels(paths, args.labels)
    name, _ = parse_spec(args.reference)
    get_reference(name)  # an unknown reference fails before any rollout
    if args.emg_reference:
        get_reference(parse_spec(args.emg_reference)[0])
    source = ";".join(str(Path(p).resolve()) for p in paths)
    with OutputDir(args.output, source=source, command="compare", overwrite=args.overwrite) as od:
        results, kinds = {}, {}
        for lab, p in zip(labels, paths, strict=True):
            print(f"mmbio compare: validating {printable(lab)} ({printable(p, 200)})", file=sys.stderr, flush=True)
            kind, trial, run = _load(p, args)
            results[lab] = _validate(p, trial, run, args)
            kinds[lab] = kind
        c = compare(results, kinds=kinds, paths=dict(zip(labels, paths, strict=True)), seed=args.seed)
        prov = {"provenance": {"mmbio_version": __version__, "git_revision": git_revision(), "seed": args.seed,
                               "reference": args.reference, "emg_reference": args.emg_reference,
                               "inputs": [str(Path(p)) for p in paths]}}  # fmt: skip
        write_compare_csv(c, od.stage("compare.csv"))
        write_tests_csv(c, od.stage("tests.csv"))
        write_compare_json(c, od.stage("compare.json"), prov)
        if not args.no_pdf:
            write_compare_report(c, od.stage("report.pdf"), seed=args.seed)
        doc = json.loads(od.stage("compare.json").read_text(encoding="utf-8"))
        written = od.commit()
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(format_ranking(c))
        print(f"\nwrote {', '.join(printable(p) for p in written)}")
    return 0


def format_ranking(c: Any) -> str:
    """The ranking as text: one line per input in rank order, every criterion's value (rank); reasons below."""
    from mmbio.analysis.compare import CRITERIA

    w = max(10, *(len(lab) for lab in c.labels))
    head = f"{'rank':>4}  {'input':<{w}}" + "".join(f"  {cr.label[:18]:>18}" for cr in CRITERIA)
    lines = [f"{len(c.labels)} inputs vs {c.inputs[0]['reference']}", head]
    reasons: list[str] = []
    for lab in c.order():
        o = c.overall[lab]
        rk = "—" if o["rank"] is None else f"{o['rank']:g}"
        cells = []
        for cr in CRITERIA:
            s, r = c.scores[cr.key][lab], c.ranks[cr.key][lab]
            if r is None or not math.isfinite(s["value"]):
                cells.append("n/a")
                reasons.append(f"  {lab}: {cr.label} n/a: {s['reason']}")
            else:
                cells.append(f"{s['value']:.3f} ({r:g})")
        lines.append(f"{rk:>4}  {lab:<{w}}" + "".join(f"  {x:>18}" for x in cells))
    sig = [t for t in c.tests if t.get("better")]
    lines.append("")
    lines.append("paired Wilcoxon tests (Holm), significant: " + (
        "; ".join(f"{t['label']}: {t['better']} better than {t['b'] if t['better'] == t['a'] else t['a']} "
                  f"(p_Holm {t['p_holm']:.3g}, n {t['n_nonzero']})" for t in sig) or "none"))  # fmt: skip
    neg = [t for t in c.tests if t["significant"] and t.get("negligible")]
    if neg:
        lines.append("significant but negligible (median difference below the family's threshold): " + "; ".join(
            f"{t['label']}: {t['a']} vs {t['b']} (median A−B {t['median_diff']:.2g})" for t in neg))  # fmt: skip
    if reasons:
        lines += ["", "n/a:", *dict.fromkeys(reasons)]
    if c.notes:
        lines += ["", "notes:", *(f"  {printable(n, 300)}" for n in c.notes)]
    return "\n".join(lines)
