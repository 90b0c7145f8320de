"""What the input hardening of issue 12 costs: this revision against a baseline revision, timed interleaved.

Two measurements, each run in a fresh child process per revision (the baseline from a ``git worktree`` of
``--baseline``, put first on ``PYTHONPATH`` so that its ``mmbio`` is imported), alternating A B A B … so that the
machine's noise hits both alike:

* ``validate``: the whole ``mmbio validate <Schreiber C3D> --no-spm --protocol none`` in one process (read,
  analysis, PDF, files), timed inside the child from before ``main()`` to its return (imports excluded);
* ``checkpoint``: ``load_checkpoint(checkpoints/tracking_walk.pkl)`` (opcode scan, stand-ins, field checks, model
  hash check): ``cold`` is the first load in the process (what ``mmbio info``/``validate`` pay: it compiles the
  model for the hash check), ``warm`` the median of 20 further loads (the model cached).

Prints a table (median over the repetitions, each revision) and the ratio this / baseline; the target is ≤ 1.05.

    python benchmarks/hardening_overhead.py [--baseline e108712] [--reps 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
C3D = ROOT.parent / "shared" / "reference" / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
DEMO = ROOT / "checkpoints" / "tracking_walk.pkl"

CHILD = r"""
import json, statistics, sys, tempfile, time, warnings
warnings.simplefilter("ignore")
what, c3d, demo = sys.argv[1:4]
import mmbio, mmbio.cli
assert mmbio.__file__.startswith(sys.argv[4]), (mmbio.__file__, sys.argv[4])
if what == "validate":
    import contextlib, io
    out = tempfile.mkdtemp()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = mmbio.cli.main(["validate", c3d, "--output", out + "/o", "--no-spm", "--protocol", "none"])
    dt = time.perf_counter() - t0
    assert rc == 0, rc
else:
    from mmbio.control.checkpoint import load_checkpoint
    t0 = time.perf_counter(); load_checkpoint(demo); cold = time.perf_counter() - t0
    ts = []
    for _ in range(20):
        t0 = time.perf_counter(); load_checkpoint(demo); ts.append(time.perf_counter() - t0)
    dt = {"cold": cold, "warm": statistics.median(ts)}
print(json.dumps({"s": dt}))
"""


def _child(what: str, tree: Path) -> float | dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(C3D), str(DEMO), str(tree / "mmbio")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    if p.returncode != 0:
        raise SystemExit(f"{what} on {tree} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])["s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="e108712", help="git revision before the hardening (default e108712)")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    if not C3D.is_file():
        raise SystemExit(f"{C3D}: needs ../shared/reference")
    base = Path(tempfile.mkdtemp(prefix="mmbio-baseline-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline], check=True,
                   capture_output=True)  # fmt: skip
    try:
        rows = []
        for what in ("validate", "checkpoint"):
            times: dict[str, dict[str, list[float]]] = {"baseline": {}, "this": {}}
            for _ in range(args.reps):
                for rev, tree in (("baseline", base), ("this", ROOT)):
                    got = _child(what, tree)
                    for k, v in got.items() if isinstance(got, dict) else [(what, got)]:
                        times[rev].setdefault(k, []).append(v)
            for k in times["this"]:
                b, t = statistics.median(times["baseline"][k]), statistics.median(times["this"][k])
                name = k if k == what else f"{what} {k}"
                rows.append((name, b, t, t / b, min(times["baseline"][k]), min(times["this"][k])))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"baseline {args.baseline} vs this {head.stdout.strip()} (+ uncommitted), {args.reps} interleaved reps")
    print(f"{'measurement':<17} {'baseline s':>11} {'this s':>9} {'ratio':>7} {'min base':>9} {'min this':>9}")
    for what, b, t, r, mb, mt in rows:
        print(f"{what:<17} {b:>11.4f} {t:>9.4f} {r:>7.3f} {mb:>9.4f} {mt:>9.4f}")


if __name__ == "__main__":
    main()
