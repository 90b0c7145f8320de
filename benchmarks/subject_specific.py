"""Subject-specific validation on every shared Schreiber subject (issue 16 §6).

For each ``<id>/<id>_<COND>_*.c3d`` (C4 by default): ``mmbio track`` (scaled marker IK to ``<id>_ST.c3d``, one
periodic stride from the trial's events, the muscle tracking controller) and ``mmbio validate`` of the checkpoint
against *that subject's* curves and EMG (``schreiber2019:c4/<id>``, the checkpoint's default). Prints one row per
subject: did it stay up, speed, root residual RMS (BW), lumbar/hip reserves, kinematic r (knee, ankle; by
construction: its own subject), activation–EMG r (median over the 8 muscles) against the ceiling of the other 8
subjects, and the redundancy gap. Wall time per subject is printed beside (the 2-core CI-like VM).

Usage: ``python benchmarks/subject_specific.py [../shared/reference] [--cond C4] [--cycles 3] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmbio.cli import main  # noqa: E402


def _v(doc: dict, *keys: str) -> float:
    x = doc
    for k in keys:
        if not isinstance(x, dict) or k not in x:
            return float("nan")
        x = x[k]
    return float(x) if isinstance(x, int | float) and x is not None else float("nan")


def row(doc: dict) -> dict[str, float]:
    emg = doc.get("emg", {}).get("right", {})
    r = [_v(m, "r", "value") for m in emg.values()]
    c = [_v(m, "r", "ceiling", "value") for m in emg.values()]
    cred = {c_["metric"].split(".")[2]: c_ for c_ in (doc.get("credibility") or {}).get("checks", [])}
    gap = _v(doc, "redundancy", "right", "gap", "gap", "value")
    return {
        "fell": float(bool(doc["trial"].get("fell"))),
        "residual_rms_n": float(cred.get("residual_force_rms", {}).get("value") or np.nan),
        "reserve_peak_pct": float(cred.get("reserve_peak_pct", {}).get("value") or np.nan),
        "knee_r": _v(doc, "kinematics", "right", "knee_flexion", "r", "value"),
        "ankle_r": _v(doc, "kinematics", "right", "ankle_dorsiflexion", "r", "value"),
        "hip_r": _v(doc, "kinematics", "right", "hip_flexion", "r", "value"),
        "emg_r_median": float(np.nanmedian(r)) if r else float("nan"),
        "emg_ceiling_median": float(np.nanmedian(c)) if c else float("nan"),
        "gap": gap,
        "metabolic_w_kg": float(cred.get("metabolic_power", {}).get("value") or np.nan),
    }


def run(shared: Path, cond: str, cycles: int, out: Path) -> list[tuple[str, dict[str, float], float, float]]:
    rows = []
    for trial in sorted(shared.glob(f"schreiber2019/*/*_{cond}_*.c3d")):
        sid = trial.name.split("_")[0]
        static = trial.with_name(f"{sid}_ST.c3d")
        ck = out / f"{sid}.pkl"
        t0 = time.perf_counter()
        args = ["track", str(trial), "-o", str(ck)] + (["--static", str(static)] if static.is_file() else [])
        if main(args) != 0:
            print(f"{sid}: mmbio track failed", file=sys.stderr)
            continue
        t1 = time.perf_counter()
        vout = out / sid
        main(["validate", str(ck), "--output", str(vout), "--no-pdf", "--no-spm", "--cycles", str(cycles)])
        t2 = time.perf_counter()
        doc = json.loads((vout / "metrics.json").read_text())
        rows.append((sid, row(doc), t1 - t0, t2 - t1))
    return rows


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shared", nargs="?", type=Path, default=ROOT.parent / "shared" / "reference")
    ap.add_argument("--cond", default="C4")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/mmbio_subject_specific"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = run(a.shared, a.cond, a.cycles, a.out)
    keys = list(rows[0][1]) if rows else []
    print("\n| subject | " + " | ".join(keys) + " | track s | validate s |")
    print("|---|" + "---:|" * (len(keys) + 2))
    for sid, r, tt, tv in rows:
        print(f"| {sid} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + f" | {tt:.1f} | {tv:.1f} |")
    if rows:
        med = {k: float(np.nanmedian([r[k] for _, r, _, _ in rows])) for k in keys}
        print("| median | " + " | ".join(f"{med[k]:.3g}" for k in keys) + " | | |")


if __name__ == "__main__":
    main_()
