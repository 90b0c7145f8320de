"""Cohort validation throughput (issue 17 §1): N Schreiber trials (the shared C4 and C5 trials, repeated to N) on a
Dask LocalCluster with 1 and with 2 workers, against the same inputs validated one after another in this process
(the baseline: ``mmbio.cli.main`` in a plain loop, no Dask).

Every input: ``mmbio validate TRIAL --static <id>_ST.c3d -r schwartz2008:free --no-spm`` (scaled marker IK, GRF,
EMG), with ``--no-pdf`` unless ``--pdf``. Prints trials/s, s per trial, the ratio to the baseline and the per-trial
overhead of the Dask path (cluster start included: ``wall / N`` − baseline s per trial).

Usage: ``python benchmarks/cohort_throughput.py [../shared/reference] [--n 50] [--pdf]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmbio.cli import main  # noqa: E402


def manifest(shared: Path, n: int, folder: Path) -> Path:
    trials = sorted(shared.glob("schreiber2019/*/*_C[45]_*.c3d"))
    rows = ["input,static,name"]
    for i in range(n):
        t = trials[i % len(trials)]
        rows.append(f"{t},{t.with_name(t.name.split('_')[0] + '_ST.c3d')},{i:03d}_{t.stem}")
    m = folder / "cohort.csv"
    m.write_text("\n".join(rows) + "\n")
    return m


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shared", nargs="?", type=Path, default=ROOT.parent / "shared" / "reference")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--pdf", action="store_true")
    a = ap.parse_args()
    opts = ["-r", "schwartz2008:free", "--no-spm"] + ([] if a.pdf else ["--no-pdf"])
    tmp = Path(tempfile.mkdtemp(prefix="mmbio_cohort_bench_"))
    man = manifest(a.shared, a.n, tmp)
    rows = [r.split(",") for r in man.read_text().splitlines()[1:]]
    results = []
    # baseline: one after another in this process
    t0 = time.perf_counter()
    for trial, static, name in rows:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            main(["validate", trial, "--static", static, "--output", str(tmp / "seq" / name), *opts])
    base = time.perf_counter() - t0
    results.append(("sequential, this process (baseline)", base))
    for w in (1, 2):
        out = tmp / f"dask{w}"
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["validate", str(man), "--output", str(out), "--workers", str(w), *opts])
        results.append((f"Dask LocalCluster, {w} worker{'s' if w > 1 else ''}", time.perf_counter() - t0))
    print(f"\n{a.n} Schreiber trials (scaled IK, GRF, EMG; {'with' if a.pdf else 'no'} PDF)\n")
    print("| run | wall s | trials/s | s per trial | throughput vs baseline | Δ s per trial vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, wall in results:
        print(f"| {label} | {wall:.1f} | {a.n / wall:.2f} | {wall / a.n:.2f} | {base / wall:.2f}× | "
              f"{(wall - base) / a.n:+.2f} |")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main_()
