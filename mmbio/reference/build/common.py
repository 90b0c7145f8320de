"""Shared pieces of the reference builders: table containers, deterministic CSV/YAML writing, cycle helpers.

* :class:`DatasetBuild` collects what one builder produces (curve, scalar and per-subject rows, extra tables,
  provenance) and :func:`write_dataset` writes it under ``<out>/<name>/`` deterministically (:func:`fmt`: 5
  significant digits, at most 4 decimals).
* :func:`mean_sd`, :func:`scalar_mean_sd`, :func:`resample_cycle`: statistics and 101-point resampling.
* Trial helpers for the datasets read through :class:`mmbio.trial.Trial` (Hamner, Rajagopal, Schreiber):
  :func:`angle_cycles`, :func:`grf_cycles`, :func:`stance_ok`, :func:`cycle_toe_off` and
  :class:`SubjectStack` (per-subject mean cycles → across-subject mean ± SD and ``subjects.csv``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mmbio.errors import MmbioError
from mmbio.reference.registry import (
    CURVE_COLUMNS,
    SCALAR_COLUMNS,
    SUBJECT_ID_COLUMNS,
    SUBJECT_PCT_COLUMNS,
)

N_POINTS = 101
PCT = np.arange(N_POINTS, dtype=float)
MIN_CYCLES_FOR_SD = 3
SIG_DIGITS = 5
MAX_DECIMALS = 4
BUILD_COMMAND = "python -m mmbio.reference.build --shared ../shared/reference --out reference_data"
#: quantity → variables written to subjects.csv (``None``: all). Lumbar angles and the medio-lateral GRF
#: are left out to keep the tables small: no validation metric uses them.
SUBJECT_VARIABLES: dict[str, frozenset[str] | None] = {
    "joint_angle": frozenset(
        {
            "pelvis_tilt",
            "pelvis_obliquity",
            "pelvis_rotation",
            "hip_flexion",
            "hip_adduction",
            "hip_rotation",
            "knee_flexion",
            "ankle_dorsiflexion",
        }
    ),
    "grf": frozenset({"grf_vertical", "grf_ap"}),
    "emg": None,
}

# --------------------------------------------------------------------------------------------------
# table containers and deterministic writing
# --------------------------------------------------------------------------------------------------


@dataclass
class DatasetBuild:
    """What one builder produces: curve rows, scalar rows and the provenance mapping."""

    name: str
    curves: list[dict[str, object]] = field(default_factory=list)
    scalars: list[dict[str, object]] = field(default_factory=list)
    provenance: dict[str, object] = field(default_factory=dict)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    subjects: list[dict[str, object]] = field(default_factory=list)

    def add_curve(
        self,
        condition: str,
        quantity: str,
        variable: str,
        side: str,
        units: str,
        mean: np.ndarray,
        sd: np.ndarray | None,
        n_subjects: int | None,
        n_cycles: int | None,
    ) -> None:
        """Append one (101,) mean curve (and SD or ``None``) as 101 rows."""
        mean = np.asarray(mean, dtype=float)
        if mean.shape != (N_POINTS,):
            raise MmbioError(f"{self.name}: {condition}/{variable}/{side}: mean has shape {mean.shape}, not (101,)")
        sdv = np.full(N_POINTS, np.nan) if sd is None else np.asarray(sd, dtype=float)
        if n_cycles is not None and n_cycles < MIN_CYCLES_FOR_SD and (n_subjects or 0) < MIN_CYCLES_FOR_SD:
            sdv = np.full(N_POINTS, np.nan)
        for i in range(N_POINTS):
            self.curves.append(
                {
                    "condition": condition,
                    "quantity": quantity,
                    "variable": variable,
                    "side": side,
                    "units": units,
                    "pct": i,
                    "mean": mean[i],
                    "sd": sdv[i],
                    "n_subjects": n_subjects,
                    "n_cycles": n_cycles,
                }
            )

    def add_subject_curve(
        self,
        condition: str,
        unit_id: str,
        unit_kind: str,
        quantity: str,
        variable: str,
        side: str,
        units: str,
        values: np.ndarray,
    ) -> None:
        """Append one (101,) curve of one subject (its mean cycle) or one cycle to ``subjects.csv``.

        Skipped when the quantity/variable is not in :data:`SUBJECT_VARIABLES`.
        """
        if quantity not in SUBJECT_VARIABLES:
            return
        keep = SUBJECT_VARIABLES[quantity]
        if keep is not None and variable not in keep:
            return
        v = np.asarray(values, dtype=float)
        if v.shape != (N_POINTS,):
            raise MmbioError(f"{self.name}: {condition}/{unit_id}/{variable}: curve has shape {v.shape}, not (101,)")
        row: dict[str, object] = {
            "condition": condition,
            "unit_id": unit_id,
            "unit_kind": unit_kind,
            "quantity": quantity,
            "variable": variable,
            "side": side,
            "units": units,
        }
        row.update(zip(SUBJECT_PCT_COLUMNS, v, strict=True))
        self.subjects.append(row)

    def add_scalar(
        self, condition: str, variable: str, side: str, units: str, mean: float, sd: float | None, n: int | None
    ) -> None:
        self.scalars.append(
            {
                "condition": condition,
                "variable": variable,
                "side": side,
                "units": units,
                "mean": mean,
                "sd": np.nan if sd is None else sd,
                "n": n,
            }
        )


def fmt(v: object) -> str:
    """Deterministic CSV cell: floats to 5 significant digits but at most 4 decimals, NaN/None empty, no ``-0``."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return ""
        if f == int(f) and abs(f) < 1e15:
            return str(int(f))
        if abs(f) < 10 ** (SIG_DIGITS - MAX_DECIMALS - 1):
            f = round(f, MAX_DECIMALS)  # small values: absolute resolution 1e-4 is plenty
        s = f"{f:.{SIG_DIGITS}g}"
        if float(s) == 0.0:
            return "0"
        return s
    return str(v)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([fmt(r.get(c)) for c in columns])
    path.write_text(buf.getvalue(), encoding="utf-8")


def _sort_key(order: dict[str, int]) -> Callable[[dict[str, object]], tuple]:
    def key(r: dict[str, object]) -> tuple:
        return (order.get(str(r["condition"]), 99), str(r["condition"]))

    return key


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_entries(shared: Path, paths: Iterable[Path]) -> list[dict[str, str]]:
    """``[{path (relative to shared/reference), sha256}]`` for the source files used."""
    return [{"path": p.relative_to(shared).as_posix(), "sha256": sha256(p)} for p in sorted(paths)]


def _clean(obj: object) -> object:
    """Plain YAML-safe Python objects (numpy scalars → float/int, rounded floats)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if not math.isfinite(f) else float(fmt(f))
    return obj


def write_dataset(out: Path, b: DatasetBuild, date: str | None) -> Path:
    """Write ``curves.csv``, ``scalars.csv`` (if any), extra tables and ``provenance.yaml`` under ``out/name``."""
    import mmbio

    d = out / b.name
    d.mkdir(parents=True, exist_ok=True)
    conds = list(b.provenance.get("conditions", {}))  # type: ignore[arg-type]
    order = {c: i for i, c in enumerate(conds)}
    if b.curves:
        rows = sorted(b.curves, key=_sort_key(order))  # stable: keeps the builder's variable order
        write_csv(d / "curves.csv", CURVE_COLUMNS, rows)
    if b.scalars:
        rows = sorted(b.scalars, key=_sort_key(order))
        write_csv(d / "scalars.csv", SCALAR_COLUMNS, rows)
    if b.subjects:
        rows = sorted(b.subjects, key=_sort_key(order))
        write_csv(d / "subjects.csv", (*SUBJECT_ID_COLUMNS, *SUBJECT_PCT_COLUMNS), rows)
    for fname, df in b.extra_tables.items():
        write_csv(d / fname, list(df.columns), df.to_dict("records"))
    prov = dict(b.provenance)
    prov["build"] = {
        "command": f"{BUILD_COMMAND} --only {b.name}" + (f" --date {date}" if date else ""),
        "mmbio_version": mmbio.__version__,
        "date": date,
    }
    text = yaml.safe_dump(_clean(prov), sort_keys=False, allow_unicode=True, width=110)
    (d / "provenance.yaml").write_text(text, encoding="utf-8")
    return d


# --------------------------------------------------------------------------------------------------
# helpers shared by the builders
# --------------------------------------------------------------------------------------------------


def mean_sd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and SD (ddof=1) over axis 0 of (k, p); SD ``None`` when k < 3."""
    x = np.asarray(x, dtype=float)
    m = np.mean(x, axis=0)
    return m, (np.std(x, axis=0, ddof=1) if x.shape[0] >= MIN_CYCLES_FOR_SD else None)


def scalar_mean_sd(x: Sequence[float]) -> tuple[float, float | None]:
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), None
    return float(a.mean()), (float(a.std(ddof=1)) if a.size >= MIN_CYCLES_FOR_SD else None)


def resample_cycle(time: np.ndarray, values: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """(101,) linear resampling of ``values`` over ``[t0, t1]``; NaN outside the data."""
    tq = np.linspace(t0, t1, N_POINTS)
    return np.interp(tq, time, values, left=np.nan, right=np.nan)


# --------------------------------------------------------------------------------------------------
# helpers for trial-based datasets (Hamner, Rajagopal, Schreiber)
# --------------------------------------------------------------------------------------------------

GRF_AXES: tuple[tuple[str, int], ...] = (("grf_vertical", 2), ("grf_ap", 0), ("grf_ml", 1))
#: body-level angles whose clinical sign refers to the right side: negated for left-side cycles
IPSILATERAL_NEGATE_LEFT: frozenset[str] = frozenset({"pelvis_obliquity", "pelvis_rotation"})
GRF_SIGN_NOTE = (
    "ground on foot, lab frame x forward, y left, z up, in BW (N / (mass × 9.81)): grf_vertical up +, grf_ap "
    "anterior (propulsive) +, grf_ml to the subject's left + (for the right foot medial +, for the left foot lateral +)."
)
ANGLE_SIGN_NOTE = (
    "mmbio clinical signs (mmbio.trial.CLINICAL_ANGLES), converted from the OpenSim coordinates by "
    "mmbio.io.opensim (pelvis_tilt = -OpenSim pelvis_tilt (anterior +), pelvis_obliquity = -pelvis_list, knee "
    "flexion +). Body-level angles are given per side over that side's cycle, ipsilateral convention: for side l, "
    "pelvis_obliquity (left side up +) and pelvis_rotation (left side forward +) are the negatives of the "
    "right-referenced values; lumbar angles keep their lab-referenced signs (extension +, bending to the left +, "
    "rotation to the left +)."
)


def angle_cycles(trial: object, side: str, windows: Sequence[tuple[float, float]]) -> dict[str, np.ndarray]:
    """Angle name (no side suffix) → (k, 101) cycles of ``side`` over ``windows``; constant channels skipped."""
    ang = trial.angles  # type: ignore[attr-defined]
    out: dict[str, np.ndarray] = {}
    for n in ang.names:
        suffix = n[-2:]
        if suffix in ("_r", "_l"):
            if suffix != f"_{side}":
                continue
            base = n[:-2]
        else:
            base = n
        v = ang[n]
        if np.nanmax(v) - np.nanmin(v) < 1e-6:
            continue  # locked coordinate (Hamner subtalar/mtp)
        if side == "l" and base in IPSILATERAL_NEGATE_LEFT:
            v = -v
        out[base] = np.stack([resample_cycle(ang.time, v, a, b) for a, b in windows])
    return out


def grf_cycles(
    trial: object, side: str, windows: Sequence[tuple[float, float]], weight_n: float
) -> dict[str, np.ndarray]:
    """GRF variable → (k, 101) cycles of ``side`` in BW."""
    g = trial.grf[side]  # type: ignore[attr-defined]
    return {
        var: np.stack([resample_cycle(g.time, g.force[:, ax] / weight_n, a, b) for a, b in windows])
        for var, ax in GRF_AXES
    }


def stance_loading_rate(
    trial: object, side: str, stances: Sequence[tuple[float, float]], weight_n: float, *, running: bool
) -> float:
    """Vertical-GRF loading rate (BW/s) of the mean stance curve of ``stances`` (heel strike, toe off) of ``side``,
    exactly as :func:`mmbio.analysis.grf.vertical_profile` computes a trial's (20–80 % of the first or impact
    peak); NaN when it has none."""
    from mmbio.analysis.grf import vertical_profile

    g = trial.grf[side]  # type: ignore[attr-defined]
    if not stances:
        return float("nan")
    curves = np.stack([resample_cycle(g.time, g.force[:, 2] / weight_n, a, t) for a, t in stances])
    ts = float(np.mean([t - a for a, t in stances]))
    return float(vertical_profile(np.nanmean(curves, axis=0), ts, running=running)["loading_rate_bw_s"].value)


def stance_ok(trial: object, side: str, t0: float, t_off: float, weight_n: float, tol_s: float = 0.06) -> bool:
    """True when the foot's force shows the whole stance ``[t0, t_off]`` (loaded from heel strike to toe off)."""
    g = trial.grf[side]  # type: ignore[attr-defined]
    fz = g.vertical
    if t0 < g.time[0] or t_off > g.time[-1]:
        return False
    inside = (g.time >= t0 + tol_s) & (g.time <= t_off - tol_s)
    if not inside.any() or not np.all(np.isfinite(fz[inside])):
        return False
    return bool(np.min(fz[inside]) > 0.1 * weight_n and np.max(fz[inside]) > 0.5 * weight_n)


def cycle_toe_off(trial: object, side: str, a: float, b: float) -> float:
    to = trial.events.toe_off[side]  # type: ignore[attr-defined]
    inside = to[(to > a) & (to < b)]
    return float(inside[0]) if inside.size else float("nan")


class SubjectStack:
    """Collects per-subject mean cycles; returns across-subject mean ± SD (mean of each subject's mean)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str, str], list[np.ndarray]] = {}
        self.cycles: dict[tuple[str, str, str], int] = {}
        self.unit_ids: dict[tuple[str, str, str], list[str | None]] = {}

    def add(self, key: tuple[str, str, str], cycles: np.ndarray, subject: str | None = None) -> None:
        """key: (quantity, variable, side); cycles: (k, 101) of one subject (id ``subject``)."""
        cycles = np.asarray(cycles, dtype=float)
        if cycles.shape[0] == 0 or not np.all(np.isfinite(cycles)):
            return
        self.data.setdefault(key, []).append(cycles.mean(axis=0))
        self.unit_ids.setdefault(key, []).append(subject)
        self.cycles[key] = self.cycles.get(key, 0) + cycles.shape[0]

    def emit_subjects(self, b: DatasetBuild, condition: str, units: dict[str, str]) -> None:
        """Each subject's mean cycle to ``subjects.csv`` (curves whose subjects were all named)."""
        for key, means in self.data.items():
            ids = self.unit_ids[key]
            if len(means) < 2 or any(i is None for i in ids):
                continue
            qty, var, side = key
            for sid, m in zip(ids, means, strict=True):
                b.add_subject_curve(condition, str(sid), "subject", qty, var, side, units[qty], m)

    def emit(self, b: DatasetBuild, condition: str, units: dict[str, str]) -> None:
        for key, means in self.data.items():
            qty, var, side = key
            arr = np.stack(means)
            mean, sd = mean_sd(arr)
            b.add_curve(condition, qty, var, side, units[qty], mean, sd, arr.shape[0], self.cycles[key])
