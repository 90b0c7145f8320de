"""``mmbio validate A B C …`` on a cohort (:mod:`mmbio.cohort`): the thin shell that runs it, shows progress and
writes ``cohort.csv``, ``cohort.json`` and ``cohort.pdf`` beside the inputs' own folders.

Exit status: 0 no input failed (an input whose controller stayed up without a gait cycle is n/a, not a fail), 1 some
failed its protocol or credibility or could not be validated, 2 bad
cohort input (nothing validated), 130 interrupted (finished inputs are kept: rerun to resume).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmbio.errors import MmbioError, printable

__all__ = ["cmd_cohort", "common_args"]

#: flags of ``mmbio validate`` passed to every input unchanged: (attribute, flag, takes a value)
_PASS: tuple[tuple[str, str, bool], ...] = (
    ("reference", "--reference", True),
    ("protocol", "--protocol", True),
    ("emg_reference", "--emg-reference", True),
    ("seed", "--seed", True),
    ("cycles", "--cycles", True),
    ("device", "--device", True),
    ("motion", "--motion", True),
    ("grf", "--grf", True),
    ("emg", "--emg", True),
    ("activations", "--activations", True),
    ("mass", "--mass", True),
    ("speed", "--speed", True),
    ("static", "--static", True),
    ("episode", "--episode", True),
    ("motion_list", "--motion-list", True),
    ("compat", "--compat", True),
    ("no_spm", "--no-spm", False),
    ("no_pdf", "--no-pdf", False),
    ("no_static_opt", "--no-static-opt", False),
    ("no_ik", "--no-ik", False),
)


def common_args(args: argparse.Namespace) -> list[str]:
    """The ``mmbio validate`` arguments every input of the cohort gets (its options, not its inputs/output)."""
    out: list[str] = []
    for attr, flag, value in _PASS:
        v = getattr(args, attr, None)
        if value and v is not None and not (attr == "device" and v == "cpu") and not (attr == "seed" and v == 0):
            out += [flag, str(v)]
        elif not value and v:
            out.append(flag)
    return out


class _CohortProgress:
    """``cohort [#####.....] 12/50 finished (1 could not be validated), 2 running, 35 s`` on stderr."""

    def __init__(self, width: int = 30) -> None:
        from mmbio.cli import _StderrLine

        self.line = _StderrLine()
        self.width = width

    def __call__(self, done: int, failed: int, running: int, total: int) -> None:
        n = int(self.width * done / total) if total else self.width
        bad = f" ({failed} could not be validated)" if failed else ""
        self.line.draw(f"cohort [{'#' * n}{'.' * (self.width - n)}] {done}/{total} finished{bad}, {running} running, "
                       f"{self.line._time() - self.line.t0:.0f} s")  # fmt: skip

    def close(self) -> None:
        self.line.close()


def cmd_cohort(args: argparse.Namespace) -> int:
    from mmbio.cohort import cohort_items, run_cohort
    from mmbio.report.cohort_report import cohort_table, write_cohort_pdf

    items, training = cohort_items(args.trial)
    if not items:
        raise MmbioError("no inputs to validate")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise MmbioError(f"{printable(out)}: the cohort's output must be a folder")
    progress = _CohortProgress()
    try:
        res = run_cohort(items, out, common_args(args), workers=args.workers, scheduler=args.scheduler,
                         progress=progress, training_run=training)  # fmt: skip
    finally:
        progress.close()
    table = cohort_table(res.rows, out)
    from mmbio.io.atomic import atomic_path

    with atomic_path(out / "cohort.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "cohort.json") as tmp:
        tmp.write_text(json.dumps({"inputs": res.rows, "training_run": training, "options": common_args(args)},
                                  indent=1, default=str))  # fmt: skip
    written = ["cohort.csv", "cohort.json"]
    if not args.no_pdf:
        write_cohort_pdf(res.rows, table, out, out / "cohort.pdf", training_run=training)
        written.append("cohort.pdf")
    n = len(res.rows)
    err = [r for r in res.rows if r["status"] == "error"]
    fail = [r for r in res.rows if r["status"] == "fail"]
    na = [r for r in res.rows if r["status"] == "n/a"]
    skipped = sum(bool(r.get("skipped")) for r in res.rows)
    print(f"cohort: {n} inputs, {n - len(err) - len(fail) - len(na)} pass, {len(fail)} fail, "
          + (f"{len(na)} n/a (no gait cycle), " if na else "") + f"{len(err)} could not be validated"
          + (f" ({skipped} resumed from an earlier run)" if skipped else ""))  # fmt: skip
    for r in err:
        print(f"  error: {printable(r['name'])}: {printable(r.get('error') or '', 300)}", file=sys.stderr)
    print(f"wrote {', '.join(printable(out / w) for w in written)} and one folder per input")
    if err and len(err) == n:
        return 2
    return 1 if err or fail else 0
